/* A seccomp filter equivalent to Docker's default profile
 * (moby profiles/seccomp/default_linux.go): default action ERRNO(EPERM),
 * an allow list, and rules that depend on the process' capabilities or
 * on arguments. Ported as data: each rule names syscalls, an optional
 * capability that must be held (includes) or must not be held (excludes),
 * and an optional argument condition. Syscalls libseccomp does not know on
 * this architecture are skipped, as Docker skips them. */
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>

#include "runtime/sandbox/internal.h"

#define CAPBIT(c) (UINT64_C(1) << (c))
#define NOCAP (-1)

/* Allowed whatever the capabilities. */
static const char *const allow_always[] = {
	"accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
	"chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
	"clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
	"clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
	"dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
	"epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
	"exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
	"fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchown", "fchown32", "fchownat", "fcntl",
	"fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr", "fsetxattr",
	"fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate", "ftruncate64",
	"futex", "futex_time64", "futex_waitv", "futimesat", "getcpu", "getcwd", "getdents",
	"getdents64", "getegid", "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups",
	"getgroups32", "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid",
	"getpriority", "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
	"get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
	"gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch", "inotify_init",
	"inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy", "io_getevents",
	"io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set", "io_setup", "io_submit",
	"io_uring_enter", "io_uring_register", "io_uring_setup", "ipc", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link",
	"linkat", "listen", "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr",
	"lstat", "lstat64", "madvise", "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir",
	"mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "mprotect",
	"mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
	"mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget", "msgrcv",
	"msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at", "nanosleep",
	"newfstatat", "_newselect", "open", "openat", "openat2", "pause", "pidfd_open",
	"pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
	"process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev", "pwritev2", "read",
	"readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom", "recvmmsg",
	"recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename", "renameat",
	"renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
	"rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
	"sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
	"sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
	"sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
	"semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
	"sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
	"setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
	"setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
	"set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
	"setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
	"signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice", "stat",
	"stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync", "sync_file_range",
	"syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create", "timer_delete", "timer_getoverrun",
	"timer_gettime", "timer_gettime64", "timer_settime", "timer_settime64", "timerfd_create",
	"timerfd_gettime", "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
	"truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
	"utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid", "waitpid",
	"write", "writev",
	/* Docker allows these from kernel 4.8, where ptrace can no longer
	 * bypass seccomp; who may be traced is then a matter of the PID
	 * namespace and CAP_SYS_PTRACE. */
	"process_vm_readv", "process_vm_writev", "ptrace",
#if defined(__x86_64__)
	"arch_prctl", "modify_ldt",
#elif defined(__aarch64__)
	"arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls",
#elif defined(__riscv)
	"riscv_flush_icache",
#endif
	NULL,
};

/* Allowed only to a process holding cap (Docker's "includes: caps"). */
struct cap_rule {
	int cap;
	const char *const names[24];
};

static const struct cap_rule cap_rules[] = {
	{ CAP_DAC_READ_SEARCH, { "open_by_handle_at" } },
	{ CAP_SYS_ADMIN,
	  { "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen", "fspick",
	    "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree", "perf_event_open",
	    "quotactl", "quotactl_fd", "setdomainname", "sethostname", "setns", "syslog", "umount",
	    "umount2", "unshare" } },
	{ CAP_SYS_BOOT, { "reboot" } },
	{ CAP_SYS_CHROOT, { "chroot" } },
	{ CAP_SYS_MODULE, { "delete_module", "init_module", "finit_module" } },
	{ CAP_SYS_PACCT, { "acct" } },
	{ CAP_SYS_PTRACE, { "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace" } },
	{ CAP_SYS_RAWIO, { "iopl", "ioperm" } },
	{ CAP_SYS_TIME, { "settimeofday", "stime", "clock_settime", "clock_settime64" } },
	{ CAP_SYS_TTY_CONFIG, { "vhangup" } },
	{ CAP_SYS_NICE, { "get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node" } },
	{ CAP_SYSLOG, { "syslog" } },
	{ CAP_BPF, { "bpf" } },
	{ CAP_PERFMON, { "perf_event_open" } },
};

/* libseccomp reports failures as negative errno values. */
static int scmp_check(int rc, struct sb_error **err, const char *what, const char *name)
{
	if (rc < 0)
		return sb_error_set(err, -rc, "seccomp: %s %s", what, name ? name : "");
	return 0;
}

static int allow(scmp_filter_ctx ctx, const char *name, unsigned n_args, const struct scmp_arg_cmp *args,
		 struct sb_error **err)
{
	int nr = seccomp_syscall_resolve_name(name);
	if (nr == __NR_SCMP_ERROR)
		return 0; /* unknown here: skipped, as Docker does */
	int rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, n_args, args);
	/* Some names appear in two of Docker's rules (ptrace: kernel >= 4.8
	 * and CAP_SYS_PTRACE); the second is a duplicate. */
	if (rc == -EEXIST)
		return 0;
	return scmp_check(rc, err, "allow", name);
}

static int build(uint64_t caps, scmp_filter_ctx ctx, struct sb_error **err)
{
	bool sys_admin = caps & CAPBIT(CAP_SYS_ADMIN);
	int rc;

#if defined(__x86_64__)
	/* Docker's arch map: x86_64 with its x86 and x32 sub-architectures,
	 * so that a 32-bit binary meets the same policy rather than the
	 * default action on every call. */
	rc = seccomp_arch_add(ctx, SCMP_ARCH_X86);
	if (rc < 0 && rc != -EEXIST)
		return scmp_check(rc, err, "add architecture", "x86");
	rc = seccomp_arch_add(ctx, SCMP_ARCH_X32);
	if (rc < 0 && rc != -EEXIST)
		return scmp_check(rc, err, "add architecture", "x32");
#endif
	for (size_t i = 0; allow_always[i]; i++)
		if (allow(ctx, allow_always[i], 0, NULL, err) < 0)
			return -1;
	for (size_t i = 0; i < SB_ARRAY_SIZE(cap_rules); i++) {
		if (!(caps & CAPBIT(cap_rules[i].cap)))
			continue;
		for (size_t j = 0; j < SB_ARRAY_SIZE(cap_rules[i].names) && cap_rules[i].names[j]; j++)
			if (allow(ctx, cap_rules[i].names[j], 0, NULL, err) < 0)
				return -1;
	}

	/* socket: anything but AF_VSOCK, which reaches the host's hypervisor. */
	{
		struct scmp_arg_cmp a = { .arg = 0, .op = SCMP_CMP_NE, .datum_a = AF_VSOCK, .datum_b = 0 };
		if (allow(ctx, "socket", 1, &a, err) < 0)
			return -1;
	}
	/* personality: only the values Docker allows (PER_LINUX, PER_LINUX32,
	 * UNAME26, UNAME26|PER_LINUX32 and the 0xffffffff query); others
	 * would, for example, turn ASLR off (ADDR_NO_RANDOMIZE). */
	{
		static const uint32_t ok[] = { 0x0, 0x8, 0x20000, 0x20008, 0xffffffff };
		for (size_t i = 0; i < SB_ARRAY_SIZE(ok); i++) {
			struct scmp_arg_cmp a = { .arg = 0, .op = SCMP_CMP_EQ, .datum_a = ok[i], .datum_b = 0 };
			if (allow(ctx, "personality", 1, &a, err) < 0)
				return -1;
		}
	}
	if (!sys_admin) {
		/* clone without any namespace flag: threads and fork, but no
		 * new user namespace (the door to a root-like capability set)
		 * or any other namespace. */
		const uint64_t ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
				    CLONE_NEWNET | CLONE_NEWCGROUP;
#if defined(__s390__) || defined(__s390x__)
		struct scmp_arg_cmp a = SCMP_A1(SCMP_CMP_MASKED_EQ, ns, 0);
#else
		struct scmp_arg_cmp a = SCMP_A0(SCMP_CMP_MASKED_EQ, ns, 0);
#endif
		if (allow(ctx, "clone", 1, &a, err) < 0)
			return -1;
		/* clone3 passes its flags in memory seccomp cannot read: ENOSYS
		 * makes glibc fall back to clone, which is checked. */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), seccomp_syscall_resolve_name("clone3"), 0);
		if (scmp_check(rc, err, "rule", "clone3") < 0)
			return -1;
	}
	return 0;
}

static int with_filter(uint64_t caps, int fd, struct sb_error **err)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int ret = -1, rc;

	if (!ctx)
		return sb_error_set(err, ENOMEM, "seccomp_init");
	if (build(caps, ctx, err) < 0)
		goto out;
	rc = fd >= 0 ? seccomp_export_bpf(ctx, fd) : seccomp_load(ctx);
	if (scmp_check(rc, err, fd >= 0 ? "export" : "load", "filter") < 0)
		goto out;
	ret = 0;
out:
	seccomp_release(ctx);
	return ret;
}

int sb_seccomp_load(uint64_t caps, struct sb_error **err)
{
	return with_filter(caps, -1, err);
}

int sb_seccomp_export(uint64_t caps, int fd, struct sb_error **err)
{
	return with_filter(caps, fd, err);
}

/* What the worker itself calls between loading the tracer's filter and
 * exec: never handed to the tracer, which is not listening yet. */
static const char *const worker_own[] = { "sendmsg", "recvfrom", "sendto", "close", "exit", "exit_group" };

int sb_seccomp_load_tracer(const struct sb_sandbox_tracer *t, int *listener, struct sb_error **err)
{
	uint32_t hand = t->kind == SB_SANDBOX_TRACE_NOTIFY ? SCMP_ACT_NOTIFY : SCMP_ACT_TRACE(0);
	scmp_filter_ctx ctx = seccomp_init(t->invert ? hand : SCMP_ACT_ALLOW);
	int ret = -1, rc;

	*listener = -1;
	if (!ctx)
		return sb_error_set(err, ENOMEM, "seccomp_init");
	/* Other architectures meet Docker's filter alone. */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ALLOW);
	if (scmp_check(rc, err, "attribute", "badarch") < 0)
		goto out;
	for (size_t i = 0; i < t->n_syscalls; i++) {
		rc = seccomp_rule_add(ctx, t->invert ? SCMP_ACT_ALLOW : hand, t->syscalls[i], 0);
		if (rc == -EEXIST)
			continue;
		if (rc < 0) {
			sb_error_set(err, -rc, "seccomp: tracer rule for syscall %d", t->syscalls[i]);
			goto out;
		}
	}
	for (size_t i = 0; t->invert && i < SB_ARRAY_SIZE(worker_own); i++) {
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, seccomp_syscall_resolve_name(worker_own[i]), 0);
		if (rc < 0 && rc != -EEXIST && scmp_check(rc, err, "tracer rule", worker_own[i]) < 0)
			goto out;
	}
	rc = seccomp_load(ctx);
	if (scmp_check(rc, err, "load", "tracer filter") < 0)
		goto out;
	if (t->kind == SB_SANDBOX_TRACE_NOTIFY) {
		*listener = seccomp_notify_fd(ctx);
		if (*listener < 0) {
			sb_error_set(err, -*listener, "seccomp: notify fd");
			goto out;
		}
	}
	ret = 0;
out:
	seccomp_release(ctx);
	return ret;
}
