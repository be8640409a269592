/* A static helper that runs inside the sandbox and tries what a hostile RUN
 * step would try, one syscall per subcommand. It prints "NAME: ok" when the
 * call succeeded and "NAME: ERRNO_NAME" when it failed, and exits 0 either
 * way: the test decides what is an escape. Built by test_sandbox.c with
 * `cc -static` and copied into the test rootfs as /sbprobe. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kexec.h>
#include <linux/sched.h>
#include <sys/socket.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *what, long rc)
{
	if (rc < 0)
		printf("%s: %s\n", what, strerrorname_np(errno));
	else
		printf("%s: ok\n", what);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";

	if (!strcmp(cmd, "hello")) {
		printf("hello from pid %d\n", (int)getpid());
	} else if (!strcmp(cmd, "ptrace")) {
		/* Attach to every process this one can see but itself. */
		DIR *d = opendir("/proc");
		struct dirent *e;
		int seen = 0;
		while (d && (e = readdir(d))) {
			int pid = atoi(e->d_name);
			char name[64];
			if (pid <= 0 || pid == getpid())
				continue;
			seen++;
			snprintf(name, sizeof(name), "ptrace %d", pid);
			/* SEIZE: ATTACH's permission checks without stopping
			 * the target, so a success leaves nothing hung */
			long rc = ptrace(PTRACE_SEIZE, pid, 0, 0);
			report(name, rc);
			if (rc == 0)
				ptrace(PTRACE_DETACH, pid, 0, 0);
		}
		printf("visible: %d\n", seen);
	} else if (!strcmp(cmd, "init_module")) {
		static char image[64];
		report("init_module", syscall(SYS_init_module, image, sizeof(image), ""));
		int fd = open("/sbprobe", O_RDONLY | O_CLOEXEC);
		report("finit_module", syscall(SYS_finit_module, fd, "", 0));
		report("delete_module", syscall(SYS_delete_module, "loop", O_NONBLOCK));
	} else if (!strcmp(cmd, "kexec")) {
		report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, KEXEC_ARCH_DEFAULT));
		report("kexec_file_load", syscall(SYS_kexec_file_load, -1, -1, 0, "", 0));
	} else if (!strcmp(cmd, "userns")) {
		report("unshare", unshare(CLONE_NEWUSER));
		/* clone with CLONE_NEWUSER straight, bypassing glibc */
		long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		report("clone", pid);
		/* a plain fork still works */
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid((pid_t)pid, NULL, 0);
		report("fork", pid);
	} else if (!strcmp(cmd, "mount")) {
		report("mount", mount("none", "/mnt", "tmpfs", 0, NULL));
		report("umount", umount2("/proc", MNT_DETACH));
		report("pivot_root", syscall(SYS_pivot_root, "/", "/"));
	} else if (!strcmp(cmd, "misc")) {
		report("personality", personality(ADDR_NO_RANDOMIZE));
		report("personality_query", personality(0xffffffff));
		report("bpf", syscall(SYS_bpf, 0, NULL, 0));
		report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
		report("keyctl", syscall(SYS_keyctl, 0, 0, 0, 0, 0));
		report("add_key", syscall(SYS_add_key, "user", "k", "v", 1, -1));
		report("acct", syscall(SYS_acct, NULL));
		report("swapoff", syscall(SYS_swapoff, "/nonexistent"));
		report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
		report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
		report("sethostname", syscall(SYS_sethostname, "x", 1));
		report("setns", syscall(SYS_setns, -1, 0));
		report("chroot", syscall(SYS_chroot, "/"));
		report("socket_vsock", socket(AF_VSOCK, SOCK_STREAM, 0));
		report("socket_inet", socket(AF_INET, SOCK_STREAM, 0));
		{
			/* clone3 hides its flags from seccomp: ENOSYS, so
			 * that libc falls back to the checked clone */
			struct clone_args ca;
			memset(&ca, 0, sizeof(ca));
			ca.exit_signal = SIGCHLD;
			long pid = syscall(SYS_clone3, &ca, sizeof(ca));
			if (pid == 0)
				_exit(0);
			if (pid > 0)
				waitpid((pid_t)pid, NULL, 0);
			report("clone3", pid);
		}
	} else {
		fprintf(stderr, "usage: sbprobe hello|ptrace|init_module|kexec|userns|mount|misc\n");
		return 2;
	}
	return 0;
}
