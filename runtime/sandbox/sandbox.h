/* Running one process in a rootfs, isolated as `docker build` isolates a
 * RUN step: new mount, PID, IPC and UTS namespaces (and a new network
 * namespace for SB_NET_NONE), the rootfs as an overlay over lower layer
 * directories or a plain directory, pivot_root into it, a fresh /proc, a
 * minimal /dev, read-only /sys, injected /etc/resolv.conf and /etc/hosts,
 * Docker's masked and read-only paths, Docker's default capability set,
 * no_new_privs and a seccomp filter equivalent to Docker's default profile.
 *
 * Process tree (crun and bubblewrap are the models):
 *
 *   caller ── fork ──▶ helper (host PID namespace: unshare, fork, wait)
 *                        └─▶ init, PID 1 of the new namespace: mounts,
 *                            pivot_root, USER lookup, reaps orphans
 *                              └─▶ worker, PID 2: drops privileges, execs
 *
 * sb_sandbox_exec adds a process to a running sandbox, as `docker exec`:
 *
 *   caller ── fork ──▶ exec helper (host PID namespace: setns into the
 *                        │  sandbox's namespaces and root, fork, wait)
 *                        └─▶ worker, in the sandbox's PID namespace
 *
 * When the worker exits, init reports its status and exits; the kernel
 * then kills whatever the command left running in the namespace. Errors
 * met before exec (a mount that failed, chdir, an executable not found)
 * travel back over a socketpair as {errno, message} and are rebuilt as an
 * sb_error here. Must be called as root (CAP_SYS_ADMIN in the initial user
 * namespace). */
#ifndef SB_SANDBOX_H
#define SB_SANDBOX_H

#include <sys/types.h>

#include "runtime/core/error.h"

enum sb_sandbox_net {
	SB_NET_DEFAULT, /* the host's network namespace, as docker build without a bridge */
	SB_NET_HOST,    /* the same */
	SB_NET_NONE,    /* a new network namespace with only loopback, up */
};

enum sb_sandbox_mount_type {
	SB_MOUNT_BIND,  /* source: a host file or directory (bind, cache, secret) */
	SB_MOUNT_TMPFS, /* source unused */
};

enum sb_sandbox_mount_flags {
	SB_MOUNT_RDONLY = 1 << 0,
};

/* An extra mount for RUN --mount. target is an absolute path inside the
 * container; it is created (as a file or directory, matching the source)
 * when missing, and whatever was created for it is removed again after
 * the run, so a mount point leaves nothing in the upper directory. */
struct sb_sandbox_mount {
	enum sb_sandbox_mount_type type;
	const char *source;
	const char *target;
	unsigned flags;      /* enum sb_sandbox_mount_flags */
	uint64_t tmpfs_size; /* bytes; 0: the kernel's default */
};

enum sb_sandbox_flags {
	/* Copy the lower layers into upper_dir instead of mounting an
	 * overlay (what happens anyway when overlayfs is unavailable). */
	SB_SANDBOX_COPY_ROOTFS = 1 << 0,
};

enum sb_sandbox_trace_kind {
	SB_SANDBOX_TRACE_NOTIFY, /* a seccomp filter returning USER_NOTIF; the tracer gets its listener */
	SB_SANDBOX_TRACE_PTRACE, /* a seccomp filter returning TRACE; the tracer gets a pidfd to attach to */
};

/* A tracing hook (runtime/profile is its user). Just before exec, after
 * Docker's filter, the worker installs a second seccomp filter that hands
 * the listed syscalls (native numbers) to a tracer, or with `invert` every
 * syscall except those. Seccomp runs every filter and takes the action of
 * highest precedence, so what Docker's filter refuses (ERRNO) is refused
 * and never reaches the tracer. Other architectures (32-bit x86) are not
 * traced. With invert, the few syscalls the worker itself makes between
 * installing the filter and exec (sendmsg, recvfrom, sendto, close, exit,
 * exit_group) are always left out, or the worker would wait on a tracer
 * that does not yet exist.
 *
 * The worker then sends the caller a descriptor: the filter's listener
 * (NOTIFY) or a pidfd of itself (PTRACE), with an O_PATH descriptor of the
 * sandbox's root directory (the mount stays alive as long as it is open).
 * attach() runs on sb_sandbox_run's thread and owns both descriptors
 * from then on, whatever it returns; the worker waits until it has
 * returned, so a PTRACE tracer must have attached by then (a TRACE action
 * without a tracer fails the syscall with ENOSYS). A NOTIFY tracer must
 * answer every notification, or the command waits forever: execve is the
 * first. When attach fails, the sandbox is killed and sb_sandbox_run fails
 * with its error. */
struct sb_sandbox_tracer {
	enum sb_sandbox_trace_kind kind;
	const int *syscalls;
	size_t n_syscalls;
	bool invert;
	int (*attach)(void *arg, int fd, int rootfd, struct sb_error **err);
	void *arg;
};

struct sb_sandbox_spec {
	/* The root filesystem. With lower_dirs (topmost first, as overlayfs
	 * lists them), an overlay of lower_dirs with upper_dir and work_dir
	 * (empty, on the same filesystem as upper_dir) is mounted at rootfs,
	 * an existing directory; the mount only exists in the sandbox's own
	 * mount namespace. When overlayfs is unavailable (not in the kernel,
	 * or refusing the upper directory's filesystem) the lower dirs are
	 * copied, bottom first and with overlay whiteouts applied, into
	 * upper_dir, and the run writes into that whole tree:
	 * res->rootfs_copied then tells the caller to diff trees rather than
	 * read whiteouts from upper_dir. Without lower_dirs, rootfs is used
	 * as it is and writes land in it. */
	const char *rootfs;
	const char *const *lower_dirs; /* NULL-terminated, or NULL */
	const char *upper_dir;
	const char *work_dir;
	unsigned flags; /* enum sb_sandbox_flags */

	const char *const *argv; /* argv[0] is looked up in the env's PATH */
	const char *const *env;  /* "K=V", NULL-terminated; HOME and PATH are added when missing */
	const char *cwd;         /* absolute; created when missing, as Docker does; NULL: "/" */
	const char *user;        /* "name|uid[:group|gid]"; NULL or "": root */
	const char *hostname;    /* NULL: "buildkitsandbox" */
	enum sb_sandbox_net net;

	/* Contents of /etc/resolv.conf and /etc/hosts, bind-mounted over the
	 * rootfs' files so they never land in a layer. resolv_conf NULL: the
	 * host's. hosts NULL: localhost lines and the hostname. extra_hosts
	 * ("name:ip", as --add-host) are appended either way. */
	const char *resolv_conf;
	const char *hosts;
	const char *const *extra_hosts;

	const struct sb_sandbox_mount *mounts;
	size_t n_mounts;

	/* Standard streams; -1 is /dev/null. The caller keeps its fds. */
	int stdin_fd, stdout_fd, stderr_fd;
	/* Seconds before the whole sandbox is killed; 0: no limit. */
	unsigned timeout;
	/* NULL, or hand the command's syscalls to a tracer (see above). */
	const struct sb_sandbox_tracer *tracer;

	/* NULL, or called once the command is about to exec: every
	 * namespace and mount exists and any tracer is attached. pidfd is a
	 * pidfd (pidfd_open(2)) of the command's process, PID 2 of the
	 * sandbox, and the callee owns it: with it one can enter the
	 * sandbox's namespaces (setns(2) takes a pidfd), run a further
	 * command in it (sb_sandbox_exec), signal the command
	 * (pidfd_send_signal(2)) or poll for its exit (POLLIN). It runs on
	 * sb_sandbox_run's thread while the command runs on: the timeout is
	 * not watched until it returns, so a caller that must act while the
	 * command runs (probe it, stop it) does so here. When exec then
	 * fails the process exits and sb_sandbox_run fails as usual.
	 * Ignored by sb_sandbox_exec. */
	void (*started)(void *arg, int pidfd);
	void *started_arg;
};

/* A spec with every fd -1 and every field empty. */
void sb_sandbox_spec_init(struct sb_sandbox_spec *spec);

struct sb_sandbox_result {
	int exit_code;  /* the exit code, or -1 when signalled */
	int signal;     /* the terminating signal, or 0 */
	bool timed_out; /* killed by the timeout (signal is SIGKILL) */
	bool rootfs_copied; /* upper_dir holds a copy of the whole rootfs */
};

/* Run spec->argv in a sandbox and wait for it. The sandbox is forked
 * (fork(), so it is safe from a threaded caller and runs concurrently with
 * other sandboxes over the same lower dirs); the caller's signal handlers
 * do not run in it. Returns the exit code, or
 * 128 + the signal number when the process was killed (as a shell reports
 * it), and fills res when non-NULL. Returns -1 with *err when the sandbox
 * could not be set up or the command could not be started (the message
 * then reads like runc's: `exec: "foo": executable file not found in
 * $PATH`). */
int sb_sandbox_run(const struct sb_sandbox_spec *spec, struct sb_sandbox_result *res, struct sb_error **err);

/* Run spec->argv inside a running sandbox, as `docker exec`: pidfd names
 * a process of it (the one spec.started hands over). A helper joins its
 * mount, PID, network, IPC and UTS namespaces and its root directory, and
 * forks the command into its PID namespace; the command then gets what
 * sb_sandbox_run's command gets, set up by the same code: spec->user
 * resolved through the sandbox's /etc/passwd, spec->env plus PATH and
 * HOME, spec->cwd (which must exist: it is not created), the standard
 * streams, Docker's capabilities, no_new_privs, Docker's seccomp filter
 * and spec->tracer. Of spec only argv, env, cwd, user, the std fds,
 * timeout and tracer are used. The command dies with the helper (the
 * timeout kills both) and with the sandbox; what it leaves running in
 * the background is reaped by the sandbox's init, as in Docker. Returns
 * as sb_sandbox_run does; fails (ESRCH) when the sandbox is gone. */
int sb_sandbox_exec(int pidfd, const struct sb_sandbox_spec *spec, struct sb_sandbox_result *res,
		    struct sb_error **err);

/* The pid, in the caller's PID namespace, of the process behind pidfd (the
 * "Pid:" line of its fdinfo); -1 once it has been reaped. */
pid_t sb_pidfd_pid(int pidfd);

/* Mount an overlay of lower_dirs (NULL-terminated, topmost first) at
 * target, an existing directory, in the caller's mount namespace: writable
 * with upper_dir and work_dir (empty, on one filesystem), read-only when
 * upper_dir is NULL (one lower dir is then bound read-only). The inodes
 * index is off so that concurrent mounts may share lower dirs. Returns 0,
 * 1 when overlayfs cannot be used here (missing, or refusing the upper
 * directory's filesystem), or -1 with *err. */
int sb_overlay_mount(const char *const *lower_dirs, const char *upper_dir, const char *work_dir,
		     const char *target, struct sb_error **err);

/* Copy lower_dirs (NULL-terminated, topmost first) into dest, an existing
 * empty directory, bottom first with overlay whiteouts applied: the tree
 * an overlay of them shows, for where overlayfs is unavailable. */
int sb_rootfs_flatten(const char *const *lower_dirs, const char *dest, struct sb_error **err);

/* --- USER resolution, exported for the executor and tests --- */

struct sb_user {
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups from /etc/group (owned) */
	size_t n_groups;
	char *home; /* from /etc/passwd; "/" when the user has no entry */
};

/* Resolve a Docker USER spec ("name|uid[:group|gid]") through rootfd's
 * etc/passwd and etc/group, read with openat2(RESOLVE_IN_ROOT) so that no
 * symlink leads out of the rootfs. A numeric uid or gid needs no entry, as
 * in Docker; a name without an entry is an error ("unable to find user
 * foo: no matching entries in passwd file"). Supplementary groups are the
 * groups listing the user by name, plus the primary gid. NULL or "" is
 * root. Free with sb_user_release(). */
int sb_user_resolve(int rootfd, const char *spec, struct sb_user *out, struct sb_error **err);
void sb_user_release(struct sb_user *u);

#endif
