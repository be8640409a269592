/* sb_sandbox_run: the process tree, the sync socket and the worker's
 * last steps before exec. See sandbox.h for the shape. */
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/internal.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

enum { MSG_ERROR = 1, MSG_EXIT = 2, MSG_TRACE = 3, MSG_STARTED = 4 };

/* One datagram on a SOCK_SEQPACKET socket: never split, never merged. */
struct sync_msg {
	int32_t kind;
	int32_t code;   /* MSG_ERROR: errno; MSG_EXIT: 1 when the rootfs was copied */
	int32_t status; /* MSG_EXIT: wait status of the worker */
	char msg[2048];
};

void sb_sandbox_spec_init(struct sb_sandbox_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->stdin_fd = spec->stdout_fd = spec->stderr_fd = -1;
}

static void send_msg(int sock, int kind, int code, int status, const char *text)
{
	struct sync_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = kind;
	m.code = code;
	m.status = status;
	if (text)
		snprintf(m.msg, sizeof(m.msg), "%s", text);
	while (send(sock, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* In a child: report err to the caller and die. */
static __attribute__((noreturn)) void child_fail(int sock, struct sb_error *err)
{
	send_msg(sock, MSG_ERROR, err ? err->code : 0, 0, err ? err->msg : "sandbox setup failed");
	_exit(127);
}

static bool env_has(const char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; env && *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return true;
	return false;
}

static const char *env_get(char *const *env, const char *name)
{
	size_t n = strlen(name);
	for (; *env; env++)
		if (strncmp(*env, name, n) == 0 && (*env)[n] == '=')
			return *env + n + 1;
	return NULL;
}

/* The command's environment: spec->env plus PATH and HOME when missing. */
static char **make_env(const struct sb_sandbox_spec *spec, const struct sb_user *u)
{
	size_t n = 0, i = 0;
	char **env;
	while (spec->env && spec->env[n])
		n++;
	env = sb_xcalloc(n + 3, sizeof(*env));
	for (; i < n; i++)
		env[i] = sb_xstrdup(spec->env[i]);
	if (!env_has(spec->env, "PATH"))
		env[i++] = sb_xstrdup("PATH=" DEFAULT_PATH);
	if (!env_has(spec->env, "HOME"))
		env[i++] = sb_xasprintf("HOME=%s", u->home);
	return env;
}

static bool is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/* The executable for argv0, looked up as Go's exec.LookPath does, since
 * runc's messages are what users know. */
static char *look_path(const char *argv0, char *const *env, struct sb_error **err)
{
	const char *path = env_get(env, "PATH");
	if (strchr(argv0, '/')) {
		struct stat st;
		if (stat(argv0, &st) < 0)
			return sb_error_set(err, errno, "exec: \"%s\": stat %s", argv0, argv0), NULL;
		return sb_xstrdup(argv0);
	}
	for (const char *p = path ? path : ""; p;) {
		const char *colon = strchr(p, ':');
		size_t n = colon ? (size_t)(colon - p) : strlen(p);
		char *cand = sb_xasprintf("%.*s/%s", (int)n, n ? p : ".", argv0);
		if (is_executable(cand))
			return cand;
		free(cand);
		p = colon ? colon + 1 : NULL;
	}
	sb_error_setx(err, ENOENT, "exec: \"%s\": executable file not found in $PATH", argv0);
	return NULL;
}

/* stdin, stdout and stderr from the caller's fds (-1: /dev/null). Each is
 * first duplicated above 2 so that one dup2 cannot clobber another's
 * source. */
static int setup_stdio(const struct sb_sandbox_spec *spec, struct sb_error **err)
{
	int src[3] = { spec->stdin_fd, spec->stdout_fd, spec->stderr_fd };
	int high[3];
	for (int i = 0; i < 3; i++) {
		int fd = src[i] >= 0 ? src[i] : open("/dev/null", (i ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		if (fd < 0)
			return sb_error_set(err, errno, "open /dev/null");
		high[i] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (high[i] < 0)
			return sb_error_set(err, errno, "dup fd %d", fd);
	}
	for (int i = 0; i < 3; i++)
		if (dup2(high[i], i) < 0)
			return sb_error_set(err, errno, "dup2 %d", i);
	return 0;
}

/* Send kind with n descriptors (SCM_RIGHTS). */
static int send_fds(int sock, int kind, const int *fds, size_t n)
{
	struct sync_msg m;
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &m, sizeof(m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
			     .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
	struct cmsghdr *c;

	memset(&m, 0, sizeof(m));
	m.kind = kind;
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	while (sendmsg(sock, &mh, MSG_NOSIGNAL) < 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/* In the worker, after Docker's filter: load the tracer's filter and hand
 * the caller its descriptor and the root, then wait until the caller says
 * the tracer is attached. Nothing here may call what the filter could hand
 * to the tracer before it listens (see worker_own in seccomp.c). */
static int tracer_handoff(const struct sb_sandbox_tracer *t, int sock, struct sb_error **err)
{
	sb_autoclose int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	sb_autoclose int pidfd = -1;
	sb_autoclose int listener = -1;
	int32_t ack = -1;
	int fds[2];

	if (rootfd < 0)
		return sb_error_set(err, errno, "tracer: open /");
	if (t->kind == SB_SANDBOX_TRACE_PTRACE) {
		pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		if (pidfd < 0)
			return sb_error_set(err, errno, "tracer: pidfd_open");
	}
	if (sb_seccomp_load_tracer(t, &listener, err) < 0)
		return -1;
	fds[0] = t->kind == SB_SANDBOX_TRACE_PTRACE ? pidfd : listener;
	fds[1] = rootfd;
	if (send_fds(sock, MSG_TRACE, fds, 2) < 0)
		return sb_error_set(err, errno, "tracer: send descriptors");
	/* Only the worker reads this end: init and the helper only send. */
	for (;;) {
		ssize_t n = recv(sock, &ack, sizeof(ack), 0);
		if (n == (ssize_t)sizeof(ack))
			break;
		if (n < 0 && errno == EINTR)
			continue;
		_exit(127); /* the caller is gone */
	}
	if (ack != 0)
		_exit(127); /* the caller already holds the error */
	return 0;
}

/* The command's process, for sb_sandbox_run (forked by init) and for
 * sb_sandbox_exec (forked by its helper, exec set): the one place where a
 * sandboxed process gets its streams, credentials, capabilities,
 * no_new_privs, seccomp filters and tracer before exec. */
static __attribute__((noreturn)) void worker(const struct sb_sandbox_spec *spec, const struct sb_user *u,
					     char **env, int sock, bool exec)
{
	struct sb_error *err = NULL;
	uint64_t caps = sb_caps_docker_default();
	sb_autoclose int selffd = -1;
	sigset_t all;
	char *exe;

	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (setsid() < 0)
		sb_error_set(&err, errno, "setsid");
	umask(022); /* as runc starts every process */
	if (err || setup_stdio(spec, &err) < 0)
		child_fail(sock, err);
	/* Whatever the caller leaked without O_CLOEXEC stops at exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "close_range"), err));
	if (sb_caps_drop_bounding(caps, &err) < 0)
		child_fail(sock, err);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "keep capabilities"), err));
	if (setgroups(u->n_groups, u->groups) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "setgroups"), err));
	if (setresgid(u->gid, u->gid, u->gid) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "setgid %u", (unsigned)u->gid), err));
	if (setresuid(u->uid, u->uid, u->uid) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "setuid %u", (unsigned)u->uid), err));
	if (sb_caps_apply(caps, u->uid == 0, &err) < 0)
		child_fail(sock, err);
	/* An exec'd command dies with its helper (a timeout kills that).
	 * Set after the last credential change, which would clear it; the
	 * helper lives outside our PID namespace, so while it lives our
	 * parent pid reads 0. */
	if (exec && (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != 0))
		_exit(127);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "no_new_privs"), err));
	if (chdir(spec->cwd ? spec->cwd : "/") < 0)
		child_fail(sock, (sb_error_set(&err, errno, "chdir %s", spec->cwd), err));
	exe = look_path(spec->argv[0], env, &err);
	if (!exe)
		child_fail(sock, err);
	if (!exec && spec->started) {
		selffd = (int)syscall(SYS_pidfd_open, getpid(), 0);
		if (selffd < 0)
			child_fail(sock, (sb_error_set(&err, errno, "pidfd_open"), err));
	}
	/* Last: after it, only what Docker's profile allows. */
	if (sb_seccomp_load(caps, &err) < 0)
		child_fail(sock, err);
	if (spec->tracer && tracer_handoff(spec->tracer, sock, &err) < 0)
		child_fail(sock, err);
	/* sendmsg is never handed to a tracer before exec (see
	 * struct sb_sandbox_tracer). */
	if (selffd >= 0 && send_fds(sock, MSG_STARTED, &selffd, 1) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "send started"), err));
	execve(exe, (char *const *)spec->argv, env);
	sb_error_set(&err, errno, "exec: \"%s\"", spec->argv[0]);
	child_fail(sock, err);
}

/* PID 1 of the sandbox. */
static __attribute__((noreturn)) void init(const struct sb_sandbox_spec *spec, int sock)
{
	struct sb_error *err = NULL;
	struct sb_host_fds h;
	struct sb_mount_undo undo;
	struct sb_user u;
	const char *hn = spec->hostname ? spec->hostname : "buildkitsandbox";
	int rootfd, status = 0;
	bool copied = false;
	char **env;
	pid_t w;

	memset(&undo, 0, sizeof(undo));
	memset(&h, 0, sizeof(h));
	/* Init keeps every capability: make sure nothing in the sandbox
	 * can reach into it through /proc/1 (fd, root, mem) or ptrace,
	 * whatever the capability checks would say. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "set init undumpable"), err));
	if (spec->net == SB_NET_NONE && sb_net_loopback_up(&err) < 0)
		child_fail(sock, err);
	if (sethostname(hn, strlen(hn)) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "sethostname %s", hn), err));
	if (sb_mounts_enter_rootfs(spec, &copied, &err) < 0 || sb_mounts_prepare(spec, &h, &err) < 0 ||
	    sb_mounts_setup(spec, &h, &undo, &err) < 0)
		child_fail(sock, err);
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(sock, (sb_error_set(&err, errno, "open /"), err));
	if (sb_user_resolve(rootfd, spec->user, &u, &err) < 0)
		child_fail(sock, err);
	if (spec->cwd && sb_mkdir_in_root(spec->cwd, 0755, NULL, &err) < 0)
		child_fail(sock, (sb_error_wrap(&err, "create working directory"), err));
	env = make_env(spec, &u);

	w = fork();
	if (w < 0)
		child_fail(sock, (sb_error_set(&err, errno, "fork"), err));
	if (w == 0)
		worker(spec, &u, env, sock, false);
	/* Reap every orphan reparented to us until the worker exits; then
	 * leave, and the kernel kills what is left in the namespace. */
	for (;;) {
		pid_t r = waitpid(-1, &status, 0);
		if (r == w)
			break;
		if (r < 0 && errno != EINTR) {
			status = 0;
			break;
		}
	}
	sb_mounts_undo(&undo);
	send_msg(sock, MSG_EXIT, copied, status, NULL);
	_exit(0);
}

/* In the host PID namespace: unshare, then fork the sandbox's PID 1 (a
 * new PID namespace applies to children only). */
static __attribute__((noreturn)) void helper(const struct sb_sandbox_spec *spec, int sock, pid_t caller)
{
	struct sb_error *err = NULL;
	int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
	pid_t pid;

	/* Die with the caller: a killed build leaves no sandbox behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != caller)
		_exit(127);
	/* The caller's handlers are not ours to run, and a caller ignoring
	 * SIGCHLD would make the kernel reap the worker before init could
	 * read its status. */
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	if (spec->net == SB_NET_NONE)
		flags |= CLONE_NEWNET;
	if (unshare(flags) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "unshare namespaces"), err));
	pid = fork();
	if (pid < 0)
		child_fail(sock, (sb_error_set(&err, errno, "fork"), err));
	if (pid == 0) {
		/* The signal comes from an ancestor namespace, so it kills
		 * even a PID 1: killing the helper (the timeout) kills all. */
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		init(spec, sock);
	}
	close(sock);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	_exit(0);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Close every descriptor a message carried. */
static void close_rights(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* The worker's MSG_TRACE: hand its two descriptors to the tracer and tell
 * the worker whether to go on. */
static int tracer_attach(const struct sb_sandbox_tracer *t, int sock, struct msghdr *mh, struct sb_error **err)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	int fds[2] = { -1, -1 };
	int32_t ack = -1;
	int rc = -1;

	if (!t || (mh->msg_flags & MSG_CTRUNC) || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(fds))) {
		close_rights(mh);
		sb_error_setx(err, EPROTO, "sandbox: malformed tracer handoff");
	} else {
		memcpy(fds, CMSG_DATA(c), sizeof(fds));
		rc = t->attach(t->arg, fds[0], fds[1], err);
		if (rc < 0)
			sb_error_wrap(err, "sandbox: attach tracer");
		else
			ack = 0;
	}
	while (send(sock, &ack, sizeof(ack), MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
	return rc < 0 ? -1 : 0;
}

static int validate(const struct sb_sandbox_spec *spec, struct sb_error **err)
{
	if (!spec->rootfs || !*spec->rootfs)
		return sb_error_setx(err, EINVAL, "sandbox: no rootfs");
	if (!spec->argv || !spec->argv[0] || !*spec->argv[0])
		return sb_error_setx(err, EINVAL, "sandbox: no command");
	if (spec->cwd && spec->cwd[0] != '/')
		return sb_error_setx(err, EINVAL, "sandbox: working directory %s is not absolute", spec->cwd);
	if (spec->hostname && strlen(spec->hostname) > 64)
		return sb_error_setx(err, EINVAL, "sandbox: hostname too long");
	return 0;
}

/* The command's MSG_STARTED: hand its pidfd to spec->started. */
static void started(const struct sb_sandbox_spec *spec, struct msghdr *mh)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	int fd;

	if ((mh->msg_flags & MSG_CTRUNC) || !c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
	    c->cmsg_len != CMSG_LEN(sizeof(int)) || !spec->started) {
		close_rights(mh);
		return;
	}
	memcpy(&fd, CMSG_DATA(c), sizeof(fd));
	spec->started(spec->started_arg, fd);
}

/* The caller's side of both entry points: read the sync socket until every
 * sandbox process is gone (attaching the tracer, reporting the start,
 * collecting an error or the exit status), kill pid at the deadline, reap
 * pid. Returns as sb_sandbox_run does. */
static int supervise(const struct sb_sandbox_spec *spec, pid_t pid, int sock, struct sb_sandbox_result *res,
		     struct sb_error **err)
{
	struct sb_sandbox_result r = { -1, 0, false, false };
	struct sb_error *inner = NULL;
	int status = 0, ret = -1;
	bool exited = false;
	int64_t deadline = spec->timeout ? now_ms() + (int64_t)spec->timeout * 1000 : 0;

	for (;;) {
		struct pollfd pfd = { sock, POLLIN, 0 };
		struct sync_msg m;
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { &m, sizeof(m) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		int timeout = -1, n;
		ssize_t got;

		if (deadline) {
			int64_t left = deadline - now_ms();
			timeout = left > 0 ? (int)(left > INT32_MAX ? INT32_MAX : left) : 0;
		}
		n = poll(&pfd, 1, timeout);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sb_error_set(&inner, errno, "poll");
			kill(pid, SIGKILL);
			break;
		}
		if (n == 0) {
			kill(pid, SIGKILL);
			r.timed_out = true;
			break;
		}
		got = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break; /* every sandbox process is gone */
		if ((size_t)got != sizeof(m) || (m.kind != MSG_TRACE && m.kind != MSG_STARTED))
			close_rights(&mh);
		if ((size_t)got != sizeof(m))
			continue;
		m.msg[sizeof(m.msg) - 1] = '\0';
		if (m.kind == MSG_TRACE) {
			if (tracer_attach(spec->tracer, sock, &mh, inner ? NULL : &inner) < 0)
				kill(pid, SIGKILL);
		} else if (m.kind == MSG_STARTED)
			started(spec, &mh);
		else if (m.kind == MSG_ERROR && !inner)
			sb_error_setx(&inner, m.code, "%s", m.msg);
		else if (m.kind == MSG_EXIT) {
			exited = true;
			status = m.status;
			r.rootfs_copied = m.code == 1;
		}
	}
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	if (r.timed_out) {
		r.signal = SIGKILL;
		ret = 128 + SIGKILL;
	} else if (inner) {
		if (err && !*err) {
			*err = inner;
			inner = NULL;
		}
		goto out;
	} else if (!exited) {
		sb_error_setx(err, 0, "sandbox: init died without reporting");
		goto out;
	} else if (WIFSIGNALED(status)) {
		r.signal = WTERMSIG(status);
		ret = 128 + r.signal;
	} else {
		r.exit_code = WEXITSTATUS(status);
		ret = r.exit_code;
	}
	if (res)
		*res = r;
out:
	sb_error_free(inner);
	return ret;
}

int sb_sandbox_run(const struct sb_sandbox_spec *spec_in, struct sb_sandbox_result *res, struct sb_error **err)
{
	struct sb_sandbox_spec spec = *spec_in;
	struct sb_strbuf resolv = SB_STRBUF_INIT;
	int sv[2] = { -1, -1 }, ret = -1;
	pid_t pid;

	if (validate(&spec, err) < 0)
		return -1;
	/* The host's resolv.conf, read now: the sandbox cannot see it. */
	if (!spec.resolv_conf && sb_read_file(AT_FDCWD, "/etc/resolv.conf", 1 << 20, &resolv, NULL) == 0)
		spec.resolv_conf = resolv.buf;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		sb_error_set(err, errno, "socketpair");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		sb_error_set(err, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		close(sv[0]);
		helper(&spec, sv[1], getppid());
	}
	close(sv[1]);
	sv[1] = -1;
	ret = supervise(&spec, pid, sv[0], res, err);
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sb_strbuf_release(&resolv);
	return ret;
}

pid_t sb_pidfd_pid(int pidfd)
{
	struct sb_strbuf info = SB_STRBUF_INIT;
	char p[64];
	pid_t pid = -1;
	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", pidfd);
	if (sb_read_file(AT_FDCWD, p, 1 << 16, &info, NULL) == 0) {
		const char *l = strstr(info.buf, "\nPid:");
		if (l)
			pid = (pid_t)strtol(l + 5, NULL, 10);
	}
	sb_strbuf_release(&info);
	return pid;
}

/* sb_sandbox_exec's helper, in the host PID namespace: join the
 * sandbox's namespaces and root, then fork the command into its PID
 * namespace (setns applies to children only) and report its status, as
 * init does for sb_sandbox_run. */
static __attribute__((noreturn)) void exec_helper(const struct sb_sandbox_spec *spec, int pidfd, int sock,
						   pid_t caller)
{
	struct sb_error *err = NULL;
	struct sb_user u;
	int rootfd, status = 0;
	char root[64];
	char **env;
	pid_t target, w;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != caller)
		_exit(127);
	for (int s = 1; s < NSIG; s++)
		signal(s, SIG_DFL);
	target = sb_pidfd_pid(pidfd);
	if (target <= 0)
		child_fail(sock, (sb_error_setx(&err, ESRCH, "exec: the sandbox is gone"), err));
	/* The root is taken from /proc before setns and checked to belong
	 * to the pidfd's process afterwards (its pid may have been reused in
	 * between). The sandbox's root is not its mount namespace's root: it
	 * pivoted into the rootfs. */
	snprintf(root, sizeof(root), "/proc/%d/root", (int)target);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(sock, (sb_error_set(&err, errno, "exec: open %s", root), err));
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "exec: the sandbox is gone"), err));
	if (setns(pidfd, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		child_fail(sock, (sb_error_set(&err, errno, "exec: enter the sandbox's namespaces"), err));
	if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		child_fail(sock, (sb_error_set(&err, errno, "exec: enter the sandbox's root"), err));
	close(rootfd);
	rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		child_fail(sock, (sb_error_set(&err, errno, "open /"), err));
	if (sb_user_resolve(rootfd, spec->user, &u, &err) < 0)
		child_fail(sock, err);
	env = make_env(spec, &u);
	w = fork();
	if (w < 0)
		child_fail(sock, (sb_error_set(&err, errno, "fork"), err));
	if (w == 0)
		worker(spec, &u, env, sock, true);
	while (waitpid(w, &status, 0) < 0)
		if (errno != EINTR) {
			status = 0;
			break;
		}
	send_msg(sock, MSG_EXIT, 0, status, NULL);
	_exit(0);
}

int sb_sandbox_exec(int pidfd, const struct sb_sandbox_spec *spec_in, struct sb_sandbox_result *res,
		    struct sb_error **err)
{
	struct sb_sandbox_spec spec = *spec_in;
	int sv[2] = { -1, -1 }, ret;
	pid_t pid;

	spec.started = NULL;
	if (!spec.argv || !spec.argv[0] || !*spec.argv[0])
		return sb_error_setx(err, EINVAL, "sandbox: no command");
	if (spec.cwd && spec.cwd[0] != '/')
		return sb_error_setx(err, EINVAL, "sandbox: working directory %s is not absolute", spec.cwd);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return sb_error_set(err, errno, "socketpair");
	pid = fork();
	if (pid < 0) {
		sb_error_set(err, errno, "fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		exec_helper(&spec, pidfd, sv[1], getppid());
	}
	close(sv[1]);
	ret = supervise(&spec, pid, sv[0], res, err);
	close(sv[0]);
	return ret;
}
