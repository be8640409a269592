/* The tracer: which syscalls name paths and where, the supervisor of
 * seccomp user notifications, and the ptrace fallback. See profile.h for
 * the design. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pthread.h>
#include <seccomp.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/internal.h"

/* How a path argument treats its last component. */
enum how {
	FOLLOW,
	NOFOLLOW,
	AT_NOFOLLOW, /* follows unless AT_SYMLINK_NOFOLLOW is in the flags */
	AT_FOLLOW,   /* follows only with AT_SYMLINK_FOLLOW (linkat, name_to_handle_at) */
	OPEN,        /* follows unless O_NOFOLLOW, or O_CREAT|O_EXCL */
	OPENAT2,     /* the same, read from struct open_how */
	SOCKADDR,    /* an AF_UNIX socket path in a struct sockaddr (bind, connect) */
	INOTIFY,     /* follows unless IN_DONT_FOLLOW */
};

enum { EMPTY_PATH = 1 << 0, MUTATES = 1 << 1, EXEC = 1 << 2, LISTS = 1 << 3 };

struct sc_desc {
	const char *name;
	int8_t dirfd[2]; /* argument index, or -1 for AT_FDCWD */
	int8_t path[2];  /* argument index, or -1 for none */
	int8_t flags;    /* argument index of the flags, or -1 */
	uint8_t how[2];
	uint8_t traits; /* EMPTY_PATH: an empty path (with AT_EMPTY_PATH) names the dirfd */
};

#define P1(n, path, how) { n, { -1, -1 }, { path, -1 }, -1, { how, 0 }, 0 }
#define AT1(n, how) { n, { 0, -1 }, { 1, -1 }, -1, { how, 0 }, 0 }

static const struct sc_desc path_syscalls[] = {
	{ "open", { -1, -1 }, { 0, -1 }, 1, { OPEN, 0 }, 0 },
	{ "openat", { 0, -1 }, { 1, -1 }, 2, { OPEN, 0 }, 0 },
	{ "openat2", { 0, -1 }, { 1, -1 }, 2, { OPENAT2, 0 }, 0 },
	P1("creat", 0, FOLLOW),
	{ "execve", { -1, -1 }, { 0, -1 }, -1, { FOLLOW, 0 }, EXEC },
	{ "execveat", { 0, -1 }, { 1, -1 }, 4, { AT_NOFOLLOW, 0 }, EXEC | EMPTY_PATH },
	P1("stat", 0, FOLLOW),
	P1("lstat", 0, NOFOLLOW),
	{ "newfstatat", { 0, -1 }, { 1, -1 }, 3, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	{ "statx", { 0, -1 }, { 1, -1 }, 2, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	P1("statfs", 0, FOLLOW),
	P1("access", 0, FOLLOW),
	AT1("faccessat", FOLLOW),
	{ "faccessat2", { 0, -1 }, { 1, -1 }, 3, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	P1("readlink", 0, NOFOLLOW),
	{ "readlinkat", { 0, -1 }, { 1, -1 }, -1, { NOFOLLOW, 0 }, EMPTY_PATH },
	P1("chdir", 0, FOLLOW),
	P1("chroot", 0, FOLLOW),
	P1("mkdir", 0, NOFOLLOW),
	AT1("mkdirat", NOFOLLOW),
	P1("mknod", 0, NOFOLLOW),
	AT1("mknodat", NOFOLLOW),
	{ "rmdir", { -1, -1 }, { 0, -1 }, -1, { NOFOLLOW, 0 }, MUTATES },
	{ "unlink", { -1, -1 }, { 0, -1 }, -1, { NOFOLLOW, 0 }, MUTATES },
	{ "unlinkat", { 0, -1 }, { 1, -1 }, -1, { NOFOLLOW, 0 }, MUTATES },
	{ "rename", { -1, -1 }, { 0, 1 }, -1, { NOFOLLOW, NOFOLLOW }, MUTATES },
	{ "renameat", { 0, 2 }, { 1, 3 }, -1, { NOFOLLOW, NOFOLLOW }, MUTATES },
	{ "renameat2", { 0, 2 }, { 1, 3 }, -1, { NOFOLLOW, NOFOLLOW }, MUTATES },
	P1("symlink", 1, NOFOLLOW),
	{ "symlinkat", { 1, -1 }, { 2, -1 }, -1, { NOFOLLOW, 0 }, 0 },
	{ "link", { -1, -1 }, { 0, 1 }, -1, { NOFOLLOW, NOFOLLOW }, 0 },
	{ "linkat", { 0, 2 }, { 1, 3 }, 4, { AT_FOLLOW, NOFOLLOW }, EMPTY_PATH },
	P1("truncate", 0, FOLLOW),
	P1("utime", 0, FOLLOW),
	P1("utimes", 0, FOLLOW),
	AT1("futimesat", FOLLOW),
	/* a NULL path names the dirfd, as AT_EMPTY_PATH does */
	{ "utimensat", { 0, -1 }, { 1, -1 }, 3, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	P1("chmod", 0, FOLLOW),
	AT1("fchmodat", FOLLOW),
	{ "fchmodat2", { 0, -1 }, { 1, -1 }, 3, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	P1("chown", 0, FOLLOW),
	P1("lchown", 0, NOFOLLOW),
	{ "fchownat", { 0, -1 }, { 1, -1 }, 4, { AT_NOFOLLOW, 0 }, EMPTY_PATH },
	P1("getxattr", 0, FOLLOW),
	P1("lgetxattr", 0, NOFOLLOW),
	P1("setxattr", 0, FOLLOW),
	P1("lsetxattr", 0, NOFOLLOW),
	P1("listxattr", 0, FOLLOW),
	P1("llistxattr", 0, NOFOLLOW),
	P1("removexattr", 0, FOLLOW),
	P1("lremovexattr", 0, NOFOLLOW),
	{ "name_to_handle_at", { 0, -1 }, { 1, -1 }, 4, { AT_FOLLOW, 0 }, EMPTY_PATH },
	P1("bind", 1, SOCKADDR),
	P1("connect", 1, SOCKADDR),
	{ "inotify_add_watch", { -1, -1 }, { 1, -1 }, 2, { INOTIFY, 0 }, 0 },
	P1("uselib", 0, FOLLOW),
	P1("swapon", 0, FOLLOW),
	P1("acct", 0, FOLLOW),
	/* a listing names no path: the directory is the one its fd (arg 0)
	 * was opened on */
	{ "getdents64", { 0, -1 }, { -1, -1 }, -1, { NOFOLLOW, 0 }, LISTS },
	{ "getdents", { 0, -1 }, { -1, -1 }, -1, { NOFOLLOW, 0 }, LISTS },
};

/* Allowed untraced unless SB_TRACE_EXACT_SYSCALLS: the calls a busy
 * program makes most, none naming a path. */
static const char *const hot_names[] = {
	"read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "lseek", "mmap",
	"munmap", "mprotect", "mremap", "madvise", "brk", "futex", "close", "fstat",
	"rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "sched_yield", "nanosleep", "clock_nanosleep",
	"clock_gettime", "gettimeofday", "getpid", "gettid", "epoll_wait", "epoll_pwait", "epoll_pwait2",
	"epoll_ctl", "poll", "ppoll", "select", "pselect6", "recvfrom", "sendto", "recvmsg", "sendmsg",
	"recvmmsg", "sendmmsg", "fcntl", "sendfile", "exit", "exit_group", "restart_syscall",
};

static struct {
	pthread_once_t once;
	const struct sc_desc *by_nr[SB_TRACE_MAX_SYSCALL];
	int path_nrs[SB_ARRAY_SIZE(path_syscalls)];
	size_t n_path;
	int hot_nrs[SB_ARRAY_SIZE(hot_names)];
	size_t n_hot;
	uint32_t arch;
} tables = { PTHREAD_ONCE_INIT, { 0 }, { 0 }, 0, { 0 }, 0, 0 };

static void tables_init(void)
{
	tables.arch = seccomp_arch_native();
	for (size_t i = 0; i < SB_ARRAY_SIZE(path_syscalls); i++) {
		int nr = seccomp_syscall_resolve_name(path_syscalls[i].name);
		if (nr < 0 || nr >= SB_TRACE_MAX_SYSCALL)
			continue; /* not on this architecture */
		tables.by_nr[nr] = &path_syscalls[i];
		tables.path_nrs[tables.n_path++] = nr;
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(hot_names); i++) {
		int nr = seccomp_syscall_resolve_name(hot_names[i]);
		if (nr >= 0 && nr < SB_TRACE_MAX_SYSCALL)
			tables.hot_nrs[tables.n_hot++] = nr;
	}
}

const int *sb_trace_hot_syscalls(size_t *n)
{
	pthread_once(&tables.once, tables_init);
	*n = tables.n_hot;
	return tables.hot_nrs;
}

struct sb_trace {
	struct sb_trace_opts opts;
	enum sb_sandbox_trace_kind kind;
	struct sb_sandbox_tracer hook;
	pthread_t thread;
	bool started;
	int fd;      /* listener, or pidfd */
	int rootfd;  /* the sandbox's root */
	int stop_fd; /* eventfd: the notify supervisor stops */
	struct seccomp_notif *req;
	struct seccomp_notif_resp *resp;

	/* ptrace: the attach handshake between sb_sandbox_run's thread and
	 * the tracer thread, which must be the one to attach. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pid_t attach_pid;
	int attach_errno; /* -1 while pending */

	/* Written by the supervisor thread only, read after it is joined. */
	struct sb_pathmap map;
	struct sb_pathmap done; /* walks already made ("F/path", "N/path") that found their path */
	uint64_t syscalls[SB_TRACE_MAX_SYSCALL / 64];
	uint64_t events, dropped;
	struct sb_walk walk;
	pid_t cur_tid; /* the tracee of the event at hand (host tid) */
};

/* --- reading the tracee --- */

/* A NUL-terminated string at addr, read a page at a time so that a string
 * ending just before an unmapped page still reads. Returns its length, or
 * -1 (unreadable, or not terminated within size). */
static ssize_t read_str(pid_t pid, uint64_t addr, char *buf, size_t size)
{
	const size_t page = 4096;
	size_t got = 0;
	while (got + 1 < size) {
		size_t chunk = page - (size_t)((addr + got) % page);
		struct iovec local, remote;
		ssize_t n;
		char *nul;
		if (chunk > size - 1 - got)
			chunk = size - 1 - got;
		local = (struct iovec){ buf + got, chunk };
		remote = (struct iovec){ (void *)(uintptr_t)(addr + got), chunk };
		n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
		if (n <= 0)
			return -1;
		nul = memchr(buf + got, '\0', (size_t)n);
		if (nul)
			return nul - buf;
		got += (size_t)n;
	}
	return -1;
}

static bool read_mem(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	return process_vm_readv(pid, &local, 1, &remote, 1, 0) == (ssize_t)len;
}

/* readlink /proc/TID/NAME into out: the kernel shows it relative to the
 * tracee's mount namespace root, the rootfs. */
static bool proc_link(pid_t tid, const char *name, struct sb_strbuf *out)
{
	char p[64], buf[PATH_MAX + 1];
	ssize_t n;
	snprintf(p, sizeof(p), "/proc/%d/%s", (int)tid, name);
	n = readlink(p, buf, sizeof(buf) - 1);
	if (n <= 0 || buf[0] != '/')
		return false; /* gone, or a pipe, socket or anonymous inode */
	buf[n] = '\0';
	if (n > 10 && strcmp(buf + n - 10, " (deleted)") == 0)
		return false; /* no name left in the rootfs: unlinked, or a memfd */
	sb_strbuf_reset(out);
	return sb_strbuf_add(out, buf, (size_t)n) == 0;
}

static bool dirfd_link(pid_t tid, int dirfd, struct sb_strbuf *out)
{
	char name[32];
	if (dirfd == AT_FDCWD)
		return proc_link(tid, "cwd", out);
	if (dirfd < 0)
		return false;
	snprintf(name, sizeof(name), "fd/%d", dirfd);
	return proc_link(tid, name, out);
}

/* The tracee's pid and tid in the sandbox's PID namespace: the last
 * NStgid and NSpid fields of its status. */
static void want_ns_ids(struct sb_walk *w)
{
	struct sb_trace *t = w->arg;
	struct sb_strbuf st = SB_STRBUF_INIT;
	char p[64];
	snprintf(p, sizeof(p), "/proc/%d/status", (int)t->cur_tid);
	if (sb_read_file(AT_FDCWD, p, 1 << 16, &st, NULL) == 0) {
		const char *keys[2] = { "\nNStgid:", "\nNSpid:" };
		pid_t *dst[2] = { &w->ns_pid, &w->ns_tid };
		for (int i = 0; i < 2; i++) {
			const char *l = strstr(st.buf, keys[i]), *end, *last;
			if (!l)
				continue;
			l += strlen(keys[i]);
			end = strchr(l, '\n');
			if (!end)
				end = l + strlen(l);
			for (last = end; last > l && last[-1] != '\t' && last[-1] != ' '; last--)
				;
			*dst[i] = (pid_t)strtol(last, NULL, 10);
		}
	}
	sb_strbuf_release(&st);
}

/* --- one syscall --- */

struct event {
	pid_t tid; /* host tid */
	int nr;
	uint64_t args[6];
};

static unsigned nofollow_of(const struct sc_desc *d, int i, const struct event *ev, uint64_t openat2_flags)
{
	uint64_t f = d->flags >= 0 ? ev->args[d->flags] : 0;
	switch (d->how[i]) {
	case NOFOLLOW:
		return SB_WALK_NOFOLLOW;
	case AT_NOFOLLOW:
		return (f & AT_SYMLINK_NOFOLLOW) ? SB_WALK_NOFOLLOW : 0;
	case AT_FOLLOW:
		return (f & AT_SYMLINK_FOLLOW) ? 0 : SB_WALK_NOFOLLOW;
	case OPENAT2:
		f = openat2_flags;
		/* fall through */
	case OPEN:
		if ((f & O_NOFOLLOW) || ((f & O_CREAT) && (f & O_EXCL)))
			return SB_WALK_NOFOLLOW;
		return 0;
	case INOTIFY:
		return (f & IN_DONT_FOLLOW) ? SB_WALK_NOFOLLOW : 0;
	default:
		return 0;
	}
}

struct pending {
	struct sb_strbuf path; /* absolute, unresolved */
	unsigned walk_flags;
};

/* Turn argument i of the event into an absolute path. Returns false when
 * there is none to record (unreadable, an abstract socket, a bad fd: the
 * syscall itself will fail). */
static bool absolute_arg(const struct sc_desc *d, int i, const struct event *ev, struct pending *out)
{
	char buf[PATH_MAX + 1];
	uint64_t addr = ev->args[d->path[i]];
	int dirfd = d->dirfd[i] >= 0 ? (int)ev->args[d->dirfd[i]] : AT_FDCWD;
	uint64_t openat2_flags = 0;
	ssize_t len;

	if (d->how[i] == SOCKADDR) {
		struct sockaddr_un sa;
		size_t salen = (size_t)ev->args[2];
		memset(&sa, 0, sizeof(sa));
		if (salen <= offsetof(struct sockaddr_un, sun_path) || salen > sizeof(sa))
			return false;
		if (!read_mem(ev->tid, addr, &sa, salen) || sa.sun_family != AF_UNIX || !sa.sun_path[0])
			return false;
		len = (ssize_t)strnlen(sa.sun_path, sizeof(sa.sun_path));
		memcpy(buf, sa.sun_path, (size_t)len);
		buf[len] = '\0';
	} else if (!addr && strcmp(d->name, "utimensat") == 0) {
		len = 0;
		buf[0] = '\0';
	} else {
		len = read_str(ev->tid, addr, buf, sizeof(buf));
		if (len < 0)
			return false;
	}
	if (d->how[i] == OPENAT2) {
		uint64_t how[1];
		if (!read_mem(ev->tid, ev->args[2], how, sizeof(how)))
			return false;
		openat2_flags = how[0];
	}
	out->walk_flags = nofollow_of(d, i, ev, openat2_flags);
	if (len == 0) {
		uint64_t f = d->flags >= 0 ? ev->args[d->flags] : 0;
		bool empty_ok = (d->traits & EMPTY_PATH) &&
				((f & AT_EMPTY_PATH) || strcmp(d->name, "readlinkat") == 0 || !addr);
		if (!empty_ok)
			return false; /* ENOENT */
		/* The object behind the descriptor, not followed further:
		 * the link names it exactly. */
		out->walk_flags = SB_WALK_NOFOLLOW;
		return dirfd_link(ev->tid, dirfd, &out->path);
	}
	if (buf[0] == '/') {
		sb_strbuf_reset(&out->path);
		return sb_strbuf_add(&out->path, buf, (size_t)len) == 0;
	}
	if (!dirfd_link(ev->tid, dirfd, &out->path))
		return false;
	return sb_strbuf_addc(&out->path, '/') == 0 && sb_strbuf_add(&out->path, buf, (size_t)len) == 0;
}

/* Record one syscall. notify_fd >= 0: a notification with this id, which
 * is checked still valid after the tracee's memory and links are read. */
static void handle_event(struct sb_trace *t, const struct event *ev, int notify_fd, uint64_t id)
{
	const struct sc_desc *d;
	struct pending p[2] = { { SB_STRBUF_INIT, 0 }, { SB_STRBUF_INIT, 0 } };
	bool have[2] = { false, false };

	t->events++;
	if (ev->nr < 0 || ev->nr >= SB_TRACE_MAX_SYSCALL)
		return;
	t->syscalls[ev->nr / 64] |= UINT64_C(1) << (ev->nr % 64);
	d = tables.by_nr[ev->nr];
	if (!d)
		return;
	for (int i = 0; i < 2 && d->path[i] >= 0; i++) {
		sb_strbuf_init(&p[i].path, 2 * PATH_MAX + 2);
		have[i] = absolute_arg(d, i, ev, &p[i]);
	}
	if (d->traits & LISTS) {
		sb_strbuf_init(&p[0].path, 2 * PATH_MAX + 2);
		p[0].walk_flags = SB_WALK_NOFOLLOW;
		have[0] = dirfd_link(ev->tid, (int)ev->args[0], &p[0].path);
	}
	if (notify_fd >= 0 && seccomp_notify_id_valid(notify_fd, id) != 0) {
		/* The tracee died (or the syscall was interrupted) while we
		 * read it: what we read may belong to another process. */
		t->dropped++;
		goto out;
	}
	t->cur_tid = ev->tid;
	t->walk.ns_pid = t->walk.ns_tid = 0;
	for (int i = 0; i < 2; i++) {
		struct sb_strbuf key = SB_STRBUF_INIT;
		if (!have[i])
			continue;
		sb_strbuf_addc(&key, (d->traits & LISTS) ? 'L' : (p[i].walk_flags & SB_WALK_NOFOLLOW) ? 'N' : 'F');
		sb_strbuf_add(&key, p[i].path.buf, p[i].path.len);
		/* A path that resolved before resolves the same way until
		 * something is removed or renamed: creating only fills in
		 * what was missing, and misses are never remembered. Exec is
		 * recorded apart, on the entry itself. */
		if (!(d->traits & EXEC) && sb_pathmap_get(&t->done, key.buf)) {
			sb_strbuf_release(&key);
			continue;
		}
		if (sb_walk_path(&t->walk, p[i].path.buf, p[i].walk_flags,
				 (d->traits & EXEC) ? SB_PATH_EXEC : (d->traits & LISTS) ? SB_PATH_LISTED : 0, NULL) == 0)
			sb_pathmap_add(&t->done, key.buf, key.len, 0, NULL);
		sb_strbuf_release(&key);
	}
	if (d->traits & MUTATES) {
		sb_pathmap_release(&t->done);
		sb_pathmap_init(&t->done);
	}
out:
	sb_strbuf_release(&p[0].path);
	sb_strbuf_release(&p[1].path);
}

/* --- seccomp user notification --- */

static void *notify_main(void *arg)
{
	struct sb_trace *t = arg;
	bool stopping = false;

	for (;;) {
		struct pollfd pfd[2] = { { t->fd, POLLIN, 0 }, { t->stop_fd, POLLIN, 0 } };
		int n = poll(pfd, 2, stopping ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* nothing left after the stop, or poll failed */
		if (pfd[0].revents & POLLIN) {
			struct event ev;
			memset(t->req, 0, sizeof(*t->req));
			if (seccomp_notify_receive(t->fd, t->req) < 0) {
				/* the tracee went away between poll and receive */
				t->dropped++;
				continue;
			}
			ev.tid = (pid_t)t->req->pid;
			ev.nr = t->req->data.arch == tables.arch ? t->req->data.nr : -1;
			memcpy(ev.args, t->req->data.args, sizeof(ev.args));
			handle_event(t, &ev, t->fd, t->req->id);
			/* Always answered: CONTINUE lets the syscall run as if no
			 * filter had asked. ENOENT (the tracee is gone) is fine. */
			memset(t->resp, 0, sizeof(*t->resp));
			t->resp->id = t->req->id;
			t->resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
			seccomp_notify_respond(t->fd, t->resp);
			continue;
		}
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			break; /* no process uses the filter any more */
		if (pfd[1].revents & POLLIN)
			stopping = true;
	}
	return NULL;
}

/* --- ptrace --- */

static void attach_done(struct sb_trace *t, int e)
{
	pthread_mutex_lock(&t->lock);
	t->attach_errno = e;
	pthread_cond_signal(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void *ptrace_main(void *arg)
{
	struct sb_trace *t = arg;
	long opts = PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |
		    PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;

	if (ptrace(PTRACE_SEIZE, t->attach_pid, 0, opts) < 0) {
		attach_done(t, errno ? errno : EPERM);
		return NULL;
	}
	attach_done(t, 0);
	for (;;) {
		int st, sig, event;
		/* __WNOTHREAD: only this thread's tracees, never the caller's
		 * own children (sb_sandbox_run waits for its helper). */
		pid_t p = waitpid(-1, &st, __WALL | __WNOTHREAD);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break; /* ECHILD: every tracee is gone */
		}
		if (!WIFSTOPPED(st))
			continue; /* exited or killed */
		sig = WSTOPSIG(st);
		event = (unsigned)st >> 16;
		if (event == PTRACE_EVENT_SECCOMP) {
			struct __ptrace_syscall_info info;
			memset(&info, 0, sizeof(info));
			if (ptrace(PTRACE_GET_SYSCALL_INFO, p, sizeof(info), &info) > 0 &&
			    info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
				struct event ev;
				ev.tid = p;
				ev.nr = info.arch == tables.arch ? (int)info.seccomp.nr : -1;
				memcpy(ev.args, info.seccomp.args, sizeof(ev.args));
				handle_event(t, &ev, -1, 0);
			}
			sig = 0;
		} else if (event) {
			/* fork, vfork, clone, exec, or a PTRACE_EVENT_STOP: a new
			 * tracee's first stop or a group-stop, continued either way
			 * (see profile.h) */
			sig = 0;
		}
		ptrace(PTRACE_CONT, p, 0, sig);
	}
	return NULL;
}

/* --- the sandbox hook --- */

static int attach(void *arg, int fd, int rootfd, struct sb_error **err)
{
	struct sb_trace *t = arg;
	int rc;

	if (t->started) {
		close(fd);
		close(rootfd);
		return sb_error_setx(err, EBUSY, "tracer: already attached");
	}
	t->fd = fd;
	t->rootfd = rootfd;
	t->walk.rootfd = rootfd;
	if (t->kind == SB_SANDBOX_TRACE_NOTIFY) {
		rc = seccomp_notify_alloc(&t->req, &t->resp);
		if (rc < 0)
			return sb_error_set(err, -rc, "tracer: seccomp_notify_alloc");
		rc = pthread_create(&t->thread, NULL, notify_main, t);
		if (rc)
			return sb_error_set(err, rc, "tracer: start supervisor");
		t->started = true;
		return 0;
	}
	t->attach_pid = sb_pidfd_pid(fd);
	if (t->attach_pid <= 0)
		return sb_error_setx(err, ESRCH, "tracer: no pid behind the worker's pidfd");
	t->attach_errno = -1;
	rc = pthread_create(&t->thread, NULL, ptrace_main, t);
	if (rc)
		return sb_error_set(err, rc, "tracer: start ptrace thread");
	t->started = true;
	pthread_mutex_lock(&t->lock);
	while (t->attach_errno < 0)
		pthread_cond_wait(&t->cond, &t->lock);
	rc = t->attach_errno;
	pthread_mutex_unlock(&t->lock);
	if (rc)
		return sb_error_set(err, rc, "tracer: ptrace seize pid %d", (int)t->attach_pid);
	return 0;
}

/* Whether the kernel (and libseccomp) can do user notification with
 * CONTINUE: API level 6 (notify together with TSYNC) needs Linux 5.7, and
 * CONTINUE came in 5.5. */
static bool notify_available(void)
{
	const char *force = getenv("SB_TRACE_FORCE_PTRACE");
	if (force && *force && strcmp(force, "0") != 0)
		return false;
	return seccomp_api_get() >= 6;
}

int sb_trace_new(const struct sb_trace_opts *opts, struct sb_trace **out, struct sb_error **err)
{
	struct sb_trace *t;
	static const struct sb_trace_opts defaults = { SB_TRACE_AUTO, 0 };
	enum sb_sandbox_trace_kind kind;

	*out = NULL;
	if (!opts)
		opts = &defaults;
	pthread_once(&tables.once, tables_init);
	switch (opts->mode) {
	case SB_TRACE_NOTIFY:
		if (seccomp_api_get() < 6)
			return sb_error_setx(err, ENOSYS, "tracer: seccomp user notification is not available");
		kind = SB_SANDBOX_TRACE_NOTIFY;
		break;
	case SB_TRACE_PTRACE:
		kind = SB_SANDBOX_TRACE_PTRACE;
		break;
	default:
		kind = notify_available() ? SB_SANDBOX_TRACE_NOTIFY : SB_SANDBOX_TRACE_PTRACE;
		break;
	}
	t = sb_xcalloc(1, sizeof(*t));
	t->opts = *opts;
	t->kind = kind;
	t->fd = t->rootfd = -1;
	t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->stop_fd < 0) {
		sb_error_set(err, errno, "tracer: eventfd");
		free(t);
		return -1;
	}
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	sb_pathmap_init(&t->map);
	sb_pathmap_init(&t->done);
	t->walk = (struct sb_walk){ -1, &t->map, 0, 0, want_ns_ids, t };
	t->hook.kind = kind;
	if (opts->flags & SB_TRACE_EXACT_SYSCALLS) {
		t->hook.syscalls = NULL;
		t->hook.n_syscalls = 0;
		t->hook.invert = true;
	} else {
		/* every syscall but the hot set; the path syscalls are never
		 * in it */
		t->hook.syscalls = tables.hot_nrs;
		t->hook.n_syscalls = tables.n_hot;
		t->hook.invert = true;
	}
	t->hook.attach = attach;
	t->hook.arg = t;
	*out = t;
	return 0;
}

const struct sb_sandbox_tracer *sb_trace_hook(struct sb_trace *t)
{
	return &t->hook;
}

static void stop(struct sb_trace *t)
{
	uint64_t one = 1;
	if (!t->started)
		return;
	if (t->kind == SB_SANDBOX_TRACE_NOTIFY && write(t->stop_fd, &one, sizeof(one)) < 0) {
		/* an eventfd write cannot fail below its maximum count */
	}
	pthread_join(t->thread, NULL);
	t->started = false;
}

int sb_trace_finish(struct sb_trace *t, struct sb_trace_result *res, struct sb_error **err)
{
	bool attached = t->fd >= 0;

	memset(res, 0, sizeof(*res));
	res->rootfd = -1;
	stop(t);
	sb_pathmap_take(&t->map, &res->paths, &res->npaths);
	memcpy(res->syscalls, t->syscalls, sizeof(res->syscalls));
	if (!(t->opts.flags & SB_TRACE_EXACT_SYSCALLS)) {
		for (size_t i = 0; i < tables.n_hot; i++)
			res->assumed[tables.hot_nrs[i] / 64] |= UINT64_C(1) << (tables.hot_nrs[i] % 64);
	} else {
		/* what the sandbox never hands over (see struct sb_sandbox_tracer) */
		static const char *const own[] = { "sendmsg", "recvfrom", "sendto", "close", "exit", "exit_group" };
		for (size_t i = 0; i < SB_ARRAY_SIZE(own); i++) {
			int nr = seccomp_syscall_resolve_name(own[i]);
			if (nr >= 0 && nr < SB_TRACE_MAX_SYSCALL)
				res->assumed[nr / 64] |= UINT64_C(1) << (nr % 64);
		}
	}
	res->events = t->events;
	res->dropped = t->dropped;
	if (attached) {
		res->tracer = t->kind == SB_SANDBOX_TRACE_NOTIFY ? "seccomp-notify" : "ptrace";
		res->rootfd = t->rootfd;
		t->rootfd = -1;
	}
	(void)err;
	return 0;
}

void sb_trace_free(struct sb_trace *t)
{
	if (!t)
		return;
	stop(t);
	if (t->fd >= 0)
		close(t->fd);
	if (t->rootfd >= 0)
		close(t->rootfd);
	close(t->stop_fd);
	seccomp_notify_free(t->req, t->resp);
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	sb_pathmap_release(&t->map);
	sb_pathmap_release(&t->done);
	free(t);
}

int sb_trace_run(const struct sb_sandbox_spec *spec, const struct sb_trace_opts *opts, struct sb_sandbox_result *res,
		 struct sb_trace_result *out, struct sb_error **err)
{
	struct sb_sandbox_spec s = *spec;
	struct sb_trace *t = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	out->rootfd = -1;
	if (spec->tracer)
		return sb_error_setx(err, EINVAL, "trace: the spec already has a tracer");
	if (sb_trace_new(opts, &t, err) < 0)
		return -1;
	s.tracer = sb_trace_hook(t);
	rc = sb_sandbox_run(&s, res, err);
	if (sb_trace_finish(t, out, rc < 0 ? NULL : err) < 0)
		rc = -1;
	sb_trace_free(t);
	return rc;
}

void sb_trace_result_release(struct sb_trace_result *res)
{
	sb_profile_paths_free(res->paths, res->npaths);
	if (res->rootfd >= 0)
		close(res->rootfd);
	memset(res, 0, sizeof(*res));
	res->rootfd = -1;
}

const struct sb_profile_path *sb_trace_result_find(const struct sb_trace_result *res, const char *path)
{
	return sb_profile_paths_find(res->paths, res->npaths, path);
}
