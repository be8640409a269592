/* runtime/profile: what a program in the sandbox uses.
 *
 * Two foundations live here: a tracer that records every path a sandboxed
 * program names and every syscall it makes, and the ELF closure of the
 * objects it executed or loaded, read from the files themselves.
 *
 * Paths are always absolute paths inside the container's rootfs ("/etc/
 * hosts"), symlink-free except for the last component of a symlink entry.
 *
 * --- Tracing ---
 *
 * The tracer hooks into the sandbox (struct sb_sandbox_tracer): just before
 * exec, the worker installs a second seccomp filter after Docker's. Two
 * tracers exist:
 *
 *  - "seccomp-notify" (the default): the filter returns USER_NOTIF; a
 *    supervisor thread in the caller receives each notification, reads the
 *    path arguments from the tracee's memory (process_vm_readv, then checks
 *    the notification is still valid: the tracee may have died and its pid
 *    been reused), resolves them, and answers CONTINUE, so the syscall then
 *    runs as if untraced. Every notification is answered, whatever goes
 *    wrong in the supervisor; a tracee that died meanwhile is skipped.
 *  - "ptrace" (the fallback where user notification is unavailable, or
 *    when asked): the filter returns TRACE; a tracer thread seizes the
 *    worker (PTRACE_O_TRACESECCOMP, following fork, vfork, clone and exec)
 *    and records at each seccomp stop. Group-stops are not kept: a stopped
 *    tracee is continued, so that tracing never hangs a program.
 *
 * Filters are inherited across fork, clone and exec, so every process and
 * thread of the command is traced.
 *
 * Path resolution: a relative path is taken against the tracee's working
 * directory (/proc/PID/cwd) or its dirfd (/proc/PID/fd/N), and AT_EMPTY_PATH
 * (or a NULL path to utimensat) names the dirfd itself. The kernel shows
 * those links relative to the sandbox's root, since the rootfs is the root
 * of the sandbox's mount namespace. The result is then walked component by
 * component from a descriptor of the sandbox's root (O_PATH|O_NOFOLLOW, one
 * component at a time, ".." taken lexically on the symlink-free prefix), so
 * that every symlink met is recorded with its target, /proc/self and
 * /proc/thread-self name the tracee rather than the supervisor, and magic
 * links such as /proc/self/fd/N and /dev/stdin resolve to the file behind
 * them. Paths are resolved before the syscall runs: "exists" means it
 * existed when the program asked.
 *
 * Which syscalls ran (the decision): a seccomp filter is fixed once loaded,
 * so it cannot stop notifying a syscall after its first use, and notifying
 * every read, write or futex would make a traced service far slower than
 * the 1.5x the project allows. So by default the filter hands the tracer
 * every syscall except a small hot set (read, write, mmap, futex, close,
 * epoll_wait, sendmsg, ... see sb_trace_hot_syscalls()), which is allowed
 * untraced. Every syscall outside the hot set is observed exactly (in
 * `syscalls`); the hot set is reported apart (in `assumed`) as allowed and
 * not observed: anything but a trivial program uses most of it, and a
 * seccomp profile made from a trace should allow it anyway.
 * SB_TRACE_EXACT_SYSCALLS hands over every syscall but the six the sandbox
 * itself needs before exec (sendmsg, recvfrom, sendto, close, exit,
 * exit_group: then `assumed`), at a cost on syscall-heavy programs. Syscalls Docker's filter refuses are
 * never seen: they did not run. Only the native architecture is traced.
 */
#ifndef SB_PROFILE_H
#define SB_PROFILE_H

#include "runtime/core/error.h"
#include "runtime/sandbox/sandbox.h"

enum sb_profile_path_flags {
	SB_PATH_EXISTS = 1 << 0,  /* found (at least once) */
	SB_PATH_MISSING = 1 << 1, /* looked up and not found (at least once) */
	SB_PATH_DIR = 1 << 2,     /* a directory */
	SB_PATH_SYMLINK = 1 << 3, /* a symlink met on the way; target holds its contents */
	SB_PATH_EXEC = 1 << 4,    /* named by execve or execveat */
	SB_PATH_ELF = 1 << 5,     /* closure: an ELF object read */
	SB_PATH_INTERP = 1 << 6,  /* closure: a PT_INTERP program interpreter, or a #! interpreter */
	SB_PATH_NEEDED = 1 << 7,  /* closure: found for a DT_NEEDED entry */
	SB_PATH_LISTED = 1 << 8,  /* a directory whose entries were read (getdents) */
};

struct sb_profile_path {
	char *path;     /* absolute inside the rootfs */
	char *target;   /* SB_PATH_SYMLINK: the link's contents; else NULL */
	unsigned flags; /* enum sb_profile_path_flags, or-ed over every use */
};

enum sb_trace_mode {
	SB_TRACE_AUTO,   /* user notification, else ptrace */
	SB_TRACE_NOTIFY, /* user notification only: fail where unavailable */
	SB_TRACE_PTRACE, /* ptrace only */
};

enum sb_trace_flags {
	/* Hand every syscall to the tracer: `assumed` stays empty. */
	SB_TRACE_EXACT_SYSCALLS = 1 << 0,
};

struct sb_trace_opts {
	enum sb_trace_mode mode;
	unsigned flags; /* enum sb_trace_flags */
};

#define SB_TRACE_MAX_SYSCALL 1024

struct sb_trace_result {
	struct sb_profile_path *paths; /* sorted by path, unique */
	size_t npaths;
	/* Bitmaps of native syscall numbers: seen running, and allowed
	 * untraced (the hot set; see the decision above). */
	uint64_t syscalls[SB_TRACE_MAX_SYSCALL / 64];
	uint64_t assumed[SB_TRACE_MAX_SYSCALL / 64];
	const char *tracer; /* "seccomp-notify", "ptrace", or NULL when nothing attached */
	uint64_t events;    /* notifications or seccomp stops handled */
	uint64_t dropped;   /* events whose tracee vanished before they were read */
	/* O_PATH descriptor of the traced sandbox's root, kept open (and with
	 * it the rootfs mount) for closures over exactly what the program saw;
	 * -1 when nothing attached. Closed by sb_trace_result_release(). */
	int rootfd;
};

/* A tracer for one sandbox run. The life cycle:
 *
 *	sb_trace_new(&opts, &t, err);
 *	spec.tracer = sb_trace_hook(t);
 *	sb_sandbox_run(&spec, &res, err);
 *	sb_trace_finish(t, &result, err);
 *	sb_trace_free(t);
 *
 * sb_trace_new fails (ENOSYS) with SB_TRACE_NOTIFY where the kernel cannot
 * notify, and SB_TRACE_AUTO then picks ptrace. The environment variable
 * SB_TRACE_FORCE_PTRACE=1 makes AUTO pick ptrace, to exercise the
 * fallback. One tracer serves one run. */
struct sb_trace;
int sb_trace_new(const struct sb_trace_opts *opts, struct sb_trace **out, struct sb_error **err);
/* The sandbox hook; owned by t, valid until sb_trace_free(). */
const struct sb_sandbox_tracer *sb_trace_hook(struct sb_trace *t);
/* After sb_sandbox_run has returned: stop the supervisor and move what it
 * recorded into res (initialised here; release it with
 * sb_trace_result_release). Fails when the supervisor met an error it
 * could not continue past; res is then still filled with what it had. */
int sb_trace_finish(struct sb_trace *t, struct sb_trace_result *res, struct sb_error **err);
void sb_trace_free(struct sb_trace *t);

/* sb_sandbox_run(spec) traced: the same return value and res, and the
 * trace in out. spec->tracer must be NULL. */
int sb_trace_run(const struct sb_sandbox_spec *spec, const struct sb_trace_opts *opts, struct sb_sandbox_result *res,
		 struct sb_trace_result *out, struct sb_error **err);

void sb_trace_result_release(struct sb_trace_result *res);
/* The entry for path, or NULL. */
const struct sb_profile_path *sb_trace_result_find(const struct sb_trace_result *res, const char *path);

static inline bool sb_trace_syscall_seen(const struct sb_trace_result *res, int nr)
{
	return nr >= 0 && nr < SB_TRACE_MAX_SYSCALL && (res->syscalls[nr / 64] >> (nr % 64)) & 1;
}

/* The hot set as native syscall numbers (unknown names skipped); *n gets
 * the count. Static storage. */
const int *sb_trace_hot_syscalls(size_t *n);

/* --- ELF closure --- */

struct sb_elf_closure_opts {
	const char *ld_library_path; /* the image's LD_LIBRARY_PATH, or NULL */
	const char *lib;             /* $LIB; NULL: "lib/x86_64-linux-gnu", as Debian's glibc */
	const char *platform;        /* $PLATFORM; NULL: "x86_64" */
};

struct sb_elf_closure {
	struct sb_profile_path *paths; /* sorted, unique: every object and every symlink hop to it */
	size_t npaths;
	char **unresolved; /* "OBJECT: NAME" for each DT_NEEDED found nowhere */
	size_t nunresolved;
};

/* The closure of the objects at paths (absolute inside the rootfs at
 * rootfd): each file itself, its #! interpreter, its PT_INTERP, and its
 * DT_NEEDED entries searched as glibc's loader searches (DT_RPATH of the
 * object and its loaders when it has no DT_RUNPATH, LD_LIBRARY_PATH,
 * DT_RUNPATH, the rootfs' /etc/ld.so.cache, then the default directories),
 * with $ORIGIN, $LIB and $PLATFORM expanded, recursively. Every file is
 * opened with openat2(RESOLVE_IN_ROOT) and nothing is run. Paths that are
 * not ELF files or scripts are returned as they are; a missing one is
 * flagged SB_PATH_MISSING. A malformed ELF file fails the whole call, its
 * path named in *err. */
int sb_elf_closure(int rootfd, const char *const *paths, size_t n, const struct sb_elf_closure_opts *opts,
		   struct sb_elf_closure *out, struct sb_error **err);
void sb_elf_closure_release(struct sb_elf_closure *c);

/* What the closure reads from one ELF file: exported for the fuzzer. */
struct sb_elf_info {
	uint8_t elf_class; /* ELFCLASS64 or ELFCLASS32 */
	uint16_t machine;
	char *interp; /* PT_INTERP, or NULL */
	char **needed;
	size_t nneeded;
	char *rpath, *runpath, *soname; /* or NULL */
};
/* Parse data[0..len) as ELF. Returns 1 with info filled, 0 when it is not
 * ELF at all (no magic), -1 with *err when it is malformed: every offset
 * and size is bounds-checked and every sum overflow-checked. */
int sb_elf_parse(const void *data, size_t len, struct sb_elf_info *info, struct sb_error **err);
void sb_elf_info_release(struct sb_elf_info *info);

/* glibc's /etc/ld.so.cache, new format ("glibc-ld.so.cache1.1"), alone or
 * after the old one. Entries for other ABIs than x86-64 libc6 are left
 * out. */
struct sb_ldcache {
	struct sb_ldcache_entry {
		char *name; /* soname */
		char *path; /* absolute */
		uint64_t hwcap;
	} *v;
	size_t n;
};
int sb_ldcache_parse(const void *data, size_t len, struct sb_ldcache *out, struct sb_error **err);
void sb_ldcache_release(struct sb_ldcache *c);

#endif
