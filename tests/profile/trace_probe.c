/* A static helper that test_profile.c runs traced in the sandbox: it names
 * files from several threads and processes and in every way a path can be
 * given (absolute, relative to the cwd, to a dirfd, through /proc/self/fd,
 * in a unix socket address), so that the test can check each was
 * recorded. Built with `cc -static -pthread` and copied into the test
 * rootfs as /trace_probe. Prints "done" and exits 0. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void *thread_open(void *arg)
{
	int fd = open((const char *)arg, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	return NULL;
}

int main(void)
{
	pthread_t a, b;
	struct sockaddr_un sa;
	struct stat st;
	char p[64];
	int fd, dfd, s, status;
	pid_t pid;

	/* threads */
	pthread_create(&a, NULL, thread_open, "/etc/passwd");
	pthread_create(&b, NULL, thread_open, "/etc/group");
	pthread_join(a, NULL);
	pthread_join(b, NULL);

	/* a child and a grandchild */
	pid = fork();
	if (pid == 0) {
		pid_t g = fork();
		if (g == 0) {
			thread_open("/etc/issue.net");
			_exit(0);
		}
		thread_open("/etc/shells");
		waitpid(g, NULL, 0);
		_exit(0);
	}
	waitpid(pid, &status, 0);

	/* relative to the cwd, and to a dirfd */
	if (chdir("/usr/share/base-files") == 0)
		thread_open("motd");
	dfd = open("/usr/share/common-licenses", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = openat(dfd, "GPL-3", O_RDONLY | O_CLOEXEC);
	close(fd);
	/* the dirfd itself, by AT_EMPTY_PATH */
	fstatat(dfd, "", &st, AT_EMPTY_PATH);
	/* relative with "..", through a symlinked directory */
	fd = openat(dfd, "../../../lib/x86_64-linux-gnu/../../../etc/host.conf", O_RDONLY | O_CLOEXEC);
	close(fd);
	close(dfd);

	/* /proc/self/fd/N */
	fd = open("/etc/debian_version", O_RDONLY | O_CLOEXEC);
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	close(open(p, O_RDONLY | O_CLOEXEC));
	close(fd);

	/* missing things */
	open("/nonexistent/file", O_RDONLY | O_CLOEXEC);
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "/run/probe.sock");
	connect(s, (struct sockaddr *)&sa, sizeof(sa));
	close(s);
	printf("done\n");
	return 0;
}
