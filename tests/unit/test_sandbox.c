/* runtime/sandbox: USER resolution, the seccomp policy, and real runs of
 * the Debian minbase rootfs' /bin/sh and of a static probe (built here
 * from tests/sandbox/probe.c) as root. Each run gets a fresh overlay over
 * one extracted rootfs, so the tests also prove that writes land in the
 * upper directory. */
#include "tests/unit/sb_test_sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/internal.h"
#include "runtime/sandbox/sandbox.h"

static char tmp[64];   /* scratch for the whole run */
static char lower[128];
static const char *upper; /* the last fresh_spec's upper directory */
static bool have_rootfs;

#define sh sb_test_sh

/* The base rootfs, extracted once per machine next to the cached tar and
 * shared read-only by every run as the bottom lower layer. */
static char base[256];

static int group_setup(void **state)
{
	const char *src = getenv("SB_SOURCE_DIR");
	const char *cache = "/var/cache/slimbuild";
	(void)state;
	if (!src)
		src = ".";
	sb_test_scratch(tmp, sizeof(tmp), "sbsandbox", lower, sizeof(lower));
	snprintf(base, sizeof(base), "%s/bookworm-minbase.d", cache);
	if (geteuid() != 0)
		return 0;
	if (access(base, F_OK) != 0)
		sh("bash -c 'source %s/tests/integration/lib.sh; trap - EXIT; tar=$(sb_base_rootfs_tar);"
		   "exec 9>%s/.bookworm.d.lock; flock 9; test -d %s && exit 0;"
		   "rm -rf %s.tmp; mkdir %s.tmp && tar -C %s.tmp -xf \"$tar\" && mv %s.tmp %s' >/dev/null",
		   src, cache, base, base, base, base, base, base);
	have_rootfs = access(base, F_OK) == 0;
	if (have_rootfs) {
		/* The test's own top layer: the probe, and a group file with a
		 * supplementary group for daemon and a group to ask for. */
		assert_int_equal(sh("cc -static -O2 -o %s/sbprobe %s/tests/sandbox/probe.c", lower, src), 0);
		assert_int_equal(sh("mkdir %s/etc && cp -p %s/etc/group %s/etc/group", lower, base, lower), 0);
		assert_int_equal(sh("echo 'sbtest:x:4242:daemon,bin' >> %s/etc/group", lower), 0);
		assert_int_equal(sh("echo 'sbother:x:4343:' >> %s/etc/group", lower), 0);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sb_test_rm_tree(tmp);
	return 0;
}

/* A spec over a fresh upper directory. */
static void fresh_spec(struct sb_sandbox_spec *spec)
{
	upper = sb_test_fresh_spec(spec, tmp, lower, base, 60);
}

/* Run spec with stdout and stderr captured into out; returns what
 * sb_sandbox_run returned. */
static int run_capture(struct sb_sandbox_spec *spec, struct sb_strbuf *out, struct sb_sandbox_result *res,
		       struct sb_error **err)
{
	int fd = memfd_create("out", MFD_CLOEXEC), rc;
	assert_true(fd >= 0);
	spec->stdout_fd = spec->stderr_fd = fd;
	rc = sb_sandbox_run(spec, res, err);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	sb_strbuf_reset(out);
	assert_int_equal(sb_read_fd(fd, "out", 1 << 20, out, NULL), 0);
	close(fd);
	return rc;
}

/* Run a shell script in a fresh overlay; asserts it exits 0 unless
 * want_rc says otherwise. */
static void run_sh(const char *script, struct sb_sandbox_spec *spec, int want_rc, struct sb_strbuf *out)
{
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct sb_error *err = NULL;
	int rc;
	spec->argv = argv;
	rc = run_capture(spec, out, NULL, &err);
	if (err)
		fail_msg("sandbox error: %s", err->msg);
	if (rc != want_rc)
		fail_msg("script exited %d (want %d): %s\noutput:\n%s", rc, want_rc, script, out->buf);
}

#define NEED_ROOTFS() SB_TEST_NEED(have_rootfs)

/* ------------------------------------------------------------ USER unit */

static void write_at(const char *root, const char *rel, const char *data)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", root, rel);
	assert_int_equal(sb_write_file_atomic(AT_FDCWD, p, data, strlen(data), 0644, NULL), 0);
}

static void test_user_resolve(void **state)
{
	char root[128];
	int rootfd;
	struct sb_user u;
	struct sb_error *err = NULL;
	(void)state;
	snprintf(root, sizeof(root), "%s/userroot", tmp);
	assert_int_equal(sb_mkdir_p(AT_FDCWD, root, 0755, NULL), 0);
	sh("mkdir -p %s/etc", root);
	write_at(root, "etc/passwd",
		 "# comment\nroot:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n"
		 "bob:x:1001:1001::/home/bob:/bin/sh\nbroken line\n");
	write_at(root, "etc/group", "root:x:0:\nalice:x:1000:\nwheel:x:10:alice,bob\nstaff:x:50:alice\n");
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);

	assert_int_equal(sb_user_resolve(rootfd, NULL, &u, &err), 0);
	assert_int_equal(u.uid, 0);
	assert_string_equal(u.home, "/root");
	sb_user_release(&u);

	assert_int_equal(sb_user_resolve(rootfd, "alice", &u, &err), 0);
	assert_int_equal(u.uid, 1000);
	assert_int_equal(u.gid, 1000);
	assert_string_equal(u.home, "/home/alice");
	assert_int_equal(u.n_groups, 3);
	assert_int_equal(u.groups[0], 1000);
	assert_int_equal(u.groups[1], 10);
	assert_int_equal(u.groups[2], 50);
	sb_user_release(&u);

	/* by uid finds the entry too */
	assert_int_equal(sb_user_resolve(rootfd, "1001", &u, &err), 0);
	assert_string_equal(u.home, "/home/bob");
	assert_int_equal(u.n_groups, 2);
	sb_user_release(&u);

	/* explicit group by name and by number */
	assert_int_equal(sb_user_resolve(rootfd, "alice:wheel", &u, &err), 0);
	assert_int_equal(u.gid, 10);
	assert_int_equal(u.n_groups, 1);
	sb_user_release(&u);
	assert_int_equal(sb_user_resolve(rootfd, "bob:777", &u, &err), 0);
	assert_int_equal(u.uid, 1001);
	assert_int_equal(u.gid, 777);
	sb_user_release(&u);

	/* numeric ids without entries, as Docker allows */
	assert_int_equal(sb_user_resolve(rootfd, "4000:5000", &u, &err), 0);
	assert_int_equal(u.uid, 4000);
	assert_int_equal(u.gid, 5000);
	assert_string_equal(u.home, "/");
	sb_user_release(&u);

	assert_int_equal(sb_user_resolve(rootfd, "nobody", &u, &err), -1);
	assert_string_equal(err->msg, "unable to find user nobody: no matching entries in passwd file");
	sb_error_free(err);
	err = NULL;
	assert_int_equal(sb_user_resolve(rootfd, "alice:nogroup", &u, &err), -1);
	assert_string_equal(err->msg, "unable to find group nogroup: no matching entries in group file");
	sb_error_free(err);
	err = NULL;
	assert_int_equal(sb_user_resolve(rootfd, "alice:", &u, &err), -1);
	sb_error_free(err);
	err = NULL;
	close(rootfd);
}

/* etc/passwd as a symlink climbing out of the rootfs is resolved inside
 * it: the host-side file it aims at is never read. */
static void test_user_symlink_stays_in_root(void **state)
{
	char root[128], p[256];
	int rootfd;
	struct sb_user u;
	struct sb_error *err = NULL;
	(void)state;
	snprintf(root, sizeof(root), "%s/evil/root", tmp);
	sh("mkdir -p %s/etc", root);
	write_at(tmp, "evil/passwd", "hostonly:x:4321:4321::/host:/bin/sh\n");
	snprintf(p, sizeof(p), "%s/etc/passwd", root);
	assert_int_equal(symlink("../../passwd", p), 0);
	snprintf(p, sizeof(p), "%s/etc/group", root);
	assert_int_equal(symlink("/../../../../../../etc/os-release", p), 0);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(sb_user_resolve(rootfd, "hostonly", &u, &err), -1);
	assert_non_null(strstr(err->msg, "unable to find user hostonly"));
	sb_error_free(err);
	err = NULL;
	/* etc/group climbs to the host's /etc/os-release; clamped at the
	 * root it names a missing file, which reads as an empty group file */
	assert_int_equal(sb_user_resolve(rootfd, "0", &u, &err), 0);
	assert_int_equal(u.n_groups, 1);
	sb_user_release(&u);
	close(rootfd);
}

static void test_seccomp_export(void **state)
{
	struct sb_error *err = NULL;
	struct stat st;
	int fd = memfd_create("bpf", MFD_CLOEXEC);
	(void)state;
	assert_int_equal(sb_seccomp_export(sb_caps_docker_default(), fd, &err), 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_size > 800); /* hundreds of 8-byte BPF instructions */
	close(fd);
}

static void test_spec_validation(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_error *err = NULL;
	const char *argv[] = { "true", NULL };
	(void)state;
	sb_sandbox_spec_init(&spec);
	spec.argv = argv;
	assert_int_equal(sb_sandbox_run(&spec, NULL, &err), -1);
	assert_string_equal(err->msg, "sandbox: no rootfs");
	sb_error_free(err);
	err = NULL;
	spec.rootfs = "/nonexistent";
	spec.cwd = "relative";
	assert_int_equal(sb_sandbox_run(&spec, NULL, &err), -1);
	sb_error_free(err);
}

/* ------------------------------------------------------------ real runs */

static void test_namespaces(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	spec.hostname = "sbhost";
	/* $$ is 2: init is PID 1. /proc lists only the sandbox. */
	run_sh("echo pid=$$; echo host=$(hostname); echo procs=$(ls -d /proc/[0-9]* | wc -l);"
	       "echo init=$(cat /proc/1/comm)",
	       &spec, 0, &out);
	assert_non_null(strstr(out.buf, "pid=2\n"));
	assert_non_null(strstr(out.buf, "host=sbhost\n"));
	/* sh, its subshells for $(...) and ls: a handful, never the host's */
	assert_null(strstr(out.buf, "procs=1\n"));
	{
		const char *p = strstr(out.buf, "procs=");
		assert_non_null(p);
		assert_true(atoi(p + 6) < 8);
	}
	/* the host's IPC objects are not visible */
	fresh_spec(&spec);
	run_sh("test \"$(cat /proc/sysvipc/shm | wc -l)\" = 1", &spec, 0, &out);
	sb_strbuf_release(&out);
}

static void test_dev_proc_sys(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	run_sh("for n in null zero full random urandom tty; do stat -c \"%n %F %t:%T\" /dev/$n; done;"
	       "stat -c '%n %F' /dev/pts /dev/shm /dev/fd /dev/stdin /dev/stdout /dev/stderr /dev/ptmx;"
	       "test -c /dev/pts/ptmx; echo x > /dev/null; head -c 4 /dev/zero | wc -c;"
	       "echo x > /dev/full 2>/dev/null && echo full-wrote;"
	       "grep -E ' /sys ' /proc/mounts; touch /sys/x 2>/dev/null && echo sys-writable;"
	       "grep -E '^proc /proc ' /proc/mounts | cut -d' ' -f1-3; "
	       "test \"$(cat /proc/kcore | wc -c)\" = 0 && echo kcore-masked;"
	       "test \"$(cat /proc/keys | wc -c)\" = 0 && echo keys-masked;"
	       "grep -E ' /proc/sys ' /proc/mounts | grep -q '[ ,]ro[ ,]' && echo procsys-ro;"
	       "test -d /sys/firmware && test -z \"$(ls -A /sys/firmware)\" && echo firmware-masked;",
	       &spec, 0, &out);
	assert_non_null(strstr(out.buf, "/dev/null character special file 1:3\n"));
	assert_non_null(strstr(out.buf, "/dev/zero character special file 1:5\n"));
	assert_non_null(strstr(out.buf, "/dev/full character special file 1:7\n"));
	assert_non_null(strstr(out.buf, "/dev/random character special file 1:8\n"));
	assert_non_null(strstr(out.buf, "/dev/urandom character special file 1:9\n"));
	assert_non_null(strstr(out.buf, "/dev/tty character special file 5:0\n"));
	assert_non_null(strstr(out.buf, "/dev/pts directory\n"));
	assert_non_null(strstr(out.buf, "/dev/shm directory\n"));
	assert_non_null(strstr(out.buf, "/dev/fd symbolic link\n"));
	assert_non_null(strstr(out.buf, "/dev/ptmx symbolic link\n"));
	assert_non_null(strstr(out.buf, "\n4\n"));
	assert_null(strstr(out.buf, "full-wrote"));
	assert_non_null(strstr(out.buf, "sysfs /sys sysfs ro,"));
	assert_null(strstr(out.buf, "sys-writable"));
	assert_non_null(strstr(out.buf, "proc /proc proc\n"));
	assert_non_null(strstr(out.buf, "kcore-masked"));
	assert_non_null(strstr(out.buf, "keys-masked"));
	assert_non_null(strstr(out.buf, "procsys-ro"));
	assert_non_null(strstr(out.buf, "firmware-masked"));
	sb_strbuf_release(&out);
}

static void test_network_none(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	spec.net = SB_NET_NONE;
	run_sh("echo ifs=$(ls /sys/class/net); echo flags=$(cat /sys/class/net/lo/flags)", &spec, 0, &out);
	assert_non_null(strstr(out.buf, "ifs=lo\n"));
	assert_non_null(strstr(out.buf, "flags=0x9\n")); /* IFF_UP | IFF_LOOPBACK */
	/* default: the host's interfaces */
	fresh_spec(&spec);
	run_sh("ls /sys/class/net | wc -l", &spec, 0, &out);
	sb_strbuf_release(&out);
}

static void test_user_applied(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	const char *script = "echo id=$(id -u):$(id -g):$(id -G | tr ' ' ,); echo home=$HOME;"
			     "grep -E '^Cap(Eff|Prm|Bnd|Inh|Amb)' /proc/self/status | tr '\\t' ' ';"
			     "grep NoNewPrivs /proc/self/status | tr '\\t' ' '; grep -E '^Seccomp:' /proc/self/status | tr '\\t' ' '";
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	run_sh(script, &spec, 0, &out);
	assert_non_null(strstr(out.buf, "id=0:0:0\n"));
	assert_non_null(strstr(out.buf, "home=/root\n"));
	/* Docker's default set: 0x00000000a80425fb */
	assert_non_null(strstr(out.buf, "CapEff: 00000000a80425fb\n"));
	assert_non_null(strstr(out.buf, "CapPrm: 00000000a80425fb\n"));
	assert_non_null(strstr(out.buf, "CapBnd: 00000000a80425fb\n"));
	assert_non_null(strstr(out.buf, "CapInh: 0000000000000000\n"));
	assert_non_null(strstr(out.buf, "CapAmb: 0000000000000000\n"));
	assert_non_null(strstr(out.buf, "NoNewPrivs: 1\n"));
	assert_non_null(strstr(out.buf, "Seccomp: 2\n"));

	/* daemon (uid 1) is a member of sbtest (4242) in the test's group file */
	fresh_spec(&spec);
	spec.user = "daemon";
	run_sh(script, &spec, 0, &out);
	assert_non_null(strstr(out.buf, "id=1:1:1,4242\n"));
	assert_non_null(strstr(out.buf, "home=/usr/sbin\n"));
	assert_non_null(strstr(out.buf, "CapEff: 0000000000000000\n"));
	assert_non_null(strstr(out.buf, "CapBnd: 00000000a80425fb\n"));

	fresh_spec(&spec);
	spec.user = "bin:sbother";
	run_sh(script, &spec, 0, &out);
	assert_non_null(strstr(out.buf, "id=2:4343:4343\n"));

	fresh_spec(&spec);
	spec.user = "1234:5678";
	run_sh(script, &spec, 0, &out);
	assert_non_null(strstr(out.buf, "id=1234:5678:5678\n"));
	assert_non_null(strstr(out.buf, "home=/\n"));

	/* HOME from the env wins */
	fresh_spec(&spec);
	{
		const char *env[] = { "HOME=/elsewhere", "FOO=bar baz", NULL };
		spec.env = env;
		spec.user = "daemon";
		run_sh("echo home=$HOME foo=$FOO path=$PATH", &spec, 0, &out);
	}
	assert_non_null(strstr(out.buf, "home=/elsewhere foo=bar baz path=/usr/local/sbin:"));

	fresh_spec(&spec);
	{
		struct sb_error *err = NULL;
		const char *argv[] = { "/bin/true", NULL };
		spec.user = "nosuchuser";
		spec.argv = argv;
		assert_int_equal(run_capture(&spec, &out, NULL, &err), -1);
		assert_string_equal(err->msg, "unable to find user nosuchuser: no matching entries in passwd file");
		sb_error_free(err);
	}
	sb_strbuf_release(&out);
}

static void test_workdir_env(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	const char *env[] = { "A=1", "B=two words", "PATH=/bin:/usr/bin", NULL };
	char p[256];
	struct stat st;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	spec.cwd = "/srv/app/deep";
	spec.env = env;
	spec.user = "daemon";
	{
		/* stdin comes from the caller's fd */
		int in = memfd_create("in", MFD_CLOEXEC);
		assert_int_equal(sb_write_all(in, "from-stdin\n", 11, "in", NULL), 0);
		assert_int_equal(lseek(in, 0, SEEK_SET), 0);
		spec.stdin_fd = in;
		run_sh("pwd; echo \"$A|$B|$PATH\"; read line; echo \"$line\"; env | sort | tr '\\n' ' '", &spec, 0, &out);
		close(in);
	}
	assert_non_null(strstr(out.buf, "/srv/app/deep\n1|two words|/bin:/usr/bin\nfrom-stdin\n"));
	assert_non_null(strstr(out.buf, "HOME=/usr/sbin"));
	/* WORKDIR stays in the layer, as Docker creates it */
	snprintf(p, sizeof(p), "%s/srv/app/deep", upper);
	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	sb_strbuf_release(&out);
}

static void test_exit_and_signal(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_sandbox_result res;
	struct sb_error *err = NULL;
	const char *argv_exit[] = { "/bin/sh", "-c", "exit 42", NULL };
	const char *argv_sig[] = { "/bin/sh", "-c", "kill -TERM $$", NULL };
	const char *argv_sleep[] = { "sleep", "30", NULL };
	const char *argv_bg[] = { "/bin/sh", "-c", "sleep 1000 & sleep 1000 & echo started", NULL };
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	spec.argv = argv_exit;
	assert_int_equal(run_capture(&spec, &out, &res, &err), 42);
	assert_int_equal(res.exit_code, 42);
	assert_int_equal(res.signal, 0);

	/* a caller ignoring SIGCHLD still gets the status */
	fresh_spec(&spec);
	spec.argv = argv_exit;
	signal(SIGCHLD, SIG_IGN);
	assert_int_equal(run_capture(&spec, &out, &res, &err), 42);
	signal(SIGCHLD, SIG_DFL);

	fresh_spec(&spec);
	spec.argv = argv_sig;
	assert_int_equal(run_capture(&spec, &out, &res, &err), 128 + 15);
	assert_int_equal(res.exit_code, -1);
	assert_int_equal(res.signal, 15);

	fresh_spec(&spec);
	spec.argv = argv_sleep;
	spec.timeout = 1;
	{
		time_t t0 = time(NULL);
		assert_int_equal(run_capture(&spec, &out, &res, &err), 128 + 9);
		assert_true(res.timed_out);
		assert_true(time(NULL) - t0 < 10);
	}

	/* background processes die with the command, and the run returns */
	fresh_spec(&spec);
	spec.argv = argv_bg;
	{
		time_t t0 = time(NULL);
		assert_int_equal(run_capture(&spec, &out, &res, &err), 0);
		assert_true(time(NULL) - t0 < 10);
		assert_string_equal(out.buf, "started\n");
	}
	assert_null(err);
	sb_strbuf_release(&out);
}

static void test_orphans_reaped(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	/* The inner sh exits at once, orphaning its sleeps to PID 1, which
	 * must reap them: no process in state Z afterwards. */
	run_sh("sh -c 'sleep 0.1 & sleep 0.1 &'; sleep 0.6; cat /proc/[0-9]*/stat | awk '{print $3}' | sort | uniq -c",
	       &spec, 0, &out);
	assert_null(strstr(out.buf, " Z\n"));
	sb_strbuf_release(&out);
}

static void test_missing_executable(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	const char *argv1[] = { "nosuchcmd", "x", NULL };
	const char *argv2[] = { "/no/such/file", NULL };
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	spec.argv = argv1;
	assert_int_equal(run_capture(&spec, &out, NULL, &err), -1);
	assert_string_equal(err->msg, "exec: \"nosuchcmd\": executable file not found in $PATH");
	assert_int_equal(err->code, ENOENT);
	sb_error_free(err);
	err = NULL;

	fresh_spec(&spec);
	spec.argv = argv2;
	assert_int_equal(run_capture(&spec, &out, NULL, &err), -1);
	assert_string_equal(err->msg, "exec: \"/no/such/file\": stat /no/such/file: No such file or directory");
	sb_error_free(err);
	err = NULL;

	/* a setup error inside (the working directory is a file) */
	fresh_spec(&spec);
	spec.argv = argv1;
	spec.cwd = "/etc/passwd/sub";
	assert_int_equal(run_capture(&spec, &out, NULL, &err), -1);
	assert_non_null(strstr(err->msg, "create working directory: mkdir /etc/passwd"));
	sb_error_free(err);
	sb_strbuf_release(&out);
}

static void test_overlay_upper(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	char p[256];
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	run_sh("echo new > /newfile && echo changed >> /etc/debian_version && rm /etc/issue.net", &spec, 0, &out);
	snprintf(p, sizeof(p), "%s/newfile", upper);
	assert_int_equal(access(p, F_OK), 0);
	assert_int_equal(sh("test ! -e %s/newfile -a ! -e %s/newfile", lower, base), 0);
	assert_int_equal(sh("grep -q changed %s/etc/debian_version", upper), 0);
	assert_int_not_equal(sh("grep -q changed %s/etc/debian_version", base), 0);
	assert_int_equal(sh("test -c %s/etc/issue.net", upper), 0); /* whiteout */
	assert_int_equal(sh("test -f %s/etc/issue.net", base), 0);
	/* mount points and injected files leave nothing in the layer */
	assert_int_equal(sh("test ! -e %s/etc/hosts -a ! -e %s/etc/resolv.conf -a ! -e %s/proc -a ! -e %s/dev", upper,
			    upper, upper, upper),
			 0);
	sb_strbuf_release(&out);
}

static void test_plain_rootfs(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	char root[128];
	const char *argv[] = { "/sbprobe", "hello", NULL };
	(void)state;
	NEED_ROOTFS();
	/* A rootfs of one static binary: every mount point must be made,
	 * and removed again afterwards. */
	snprintf(root, sizeof(root), "%s/plain", tmp);
	assert_int_equal(mkdir(root, 0755), 0);
	assert_int_equal(sh("cp %s/sbprobe %s/", lower, root), 0);
	sb_sandbox_spec_init(&spec);
	spec.rootfs = root;
	spec.argv = argv;
	assert_int_equal(run_capture(&spec, &out, NULL, &err), 0);
	assert_null(err);
	assert_string_equal(out.buf, "hello from pid 2\n");
	assert_int_equal(sh("test \"$(ls -A %s)\" = sbprobe", root), 0);
	sb_strbuf_release(&out);
}

static void test_hosts_resolv_mounts(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	const char *extra[] = { "myhost:10.1.2.3", NULL };
	char secret[256], cache[256];
	struct sb_sandbox_mount mounts[3];
	(void)state;
	NEED_ROOTFS();
	snprintf(secret, sizeof(secret), "%s/secret.txt", tmp);
	write_at(tmp, "secret.txt", "s3cr3t-value\n");
	snprintf(cache, sizeof(cache), "%s/cache", tmp);
	assert_int_equal(mkdir(cache, 0755), 0);
	memset(mounts, 0, sizeof(mounts));
	mounts[0] = (struct sb_sandbox_mount){ SB_MOUNT_BIND, secret, "/run/secrets/mysecret", SB_MOUNT_RDONLY, 0 };
	mounts[1] = (struct sb_sandbox_mount){ SB_MOUNT_BIND, cache, "/var/cache/mine", 0, 0 };
	mounts[2] = (struct sb_sandbox_mount){ SB_MOUNT_TMPFS, NULL, "/scratch", 0, 1 << 20 };
	fresh_spec(&spec);
	spec.extra_hosts = extra;
	spec.resolv_conf = "nameserver 192.0.2.53\n";
	spec.hostname = "box";
	spec.mounts = mounts;
	spec.n_mounts = 3;
	run_sh("cat /etc/hosts /etc/resolv.conf /run/secrets/mysecret;"
	       "echo x >> /run/secrets/mysecret 2>/dev/null && echo secret-writable;"
	       "echo cached > /var/cache/mine/f; echo t > /scratch/t; grep ' /scratch ' /proc/mounts | cut -d' ' -f3",
	       &spec, 0, &out);
	assert_non_null(strstr(out.buf, "127.0.0.1\tlocalhost box\n"));
	assert_non_null(strstr(out.buf, "10.1.2.3\tmyhost\n"));
	assert_non_null(strstr(out.buf, "nameserver 192.0.2.53\n"));
	assert_non_null(strstr(out.buf, "s3cr3t-value\n"));
	assert_null(strstr(out.buf, "secret-writable"));
	assert_non_null(strstr(out.buf, "tmpfs\n"));
	/* the cache mount wrote through to the host directory */
	assert_int_equal(sh("grep -q cached %s/f", cache), 0);
	/* the secret, its mount point, the tmpfs and the cache are in no
	 * layer, nor are /etc/hosts and /etc/resolv.conf */
	assert_int_equal(sh("test ! -e %s/run/secrets", upper), 0);
	assert_int_equal(sh("test ! -e %s/scratch -a ! -e %s/var/cache/mine", upper, upper), 0);
	assert_int_not_equal(sh("grep -rqs s3cr3t %s", upper), 0);
	assert_int_equal(sh("test ! -e %s/etc/hosts", upper), 0);
	sb_strbuf_release(&out);
}

/* Without overlayfs: the layers are copied into the upper directory with
 * whiteouts applied, and the run writes there. */
static void test_copy_fallback(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_sandbox_result res;
	struct sb_error *err = NULL;
	char top[256];
	const char *lowers[4];
	const char *argv[] = { "/bin/sh", "-c",
			       "test ! -e /etc/issue.net && ls /opt && test ! -e /opt/gone && cat /etc/motd-sb;"
			       "echo written > /newfile",
			       NULL };
	(void)state;
	NEED_ROOTFS();
	/* a top layer that deletes a file (whiteout), replaces a directory
	 * (opaque) and adds one */
	snprintf(top, sizeof(top), "%s/copytop", tmp);
	assert_int_equal(sh("mkdir -p %s/etc %s/opt && mknod %s/etc/issue.net c 0 0 && echo motd > %s/etc/motd-sb",
			    top, top, top, top),
			 0);
	assert_int_equal(sh("mkdir -p %s/copymid/opt/gone && touch %s/copymid/opt/gone/f", tmp, tmp), 0);
	assert_int_equal(sh("mkdir %s/opt/keep && setfattr -n trusted.overlay.opaque -v y %s/opt 2>/dev/null ||"
			    " python3 -c 'import os,sys; os.setxattr(sys.argv[1], \"trusted.overlay.opaque\", b\"y\")' %s/opt",
			    top, top, top),
			 0);
	fresh_spec(&spec);
	lowers[0] = top;
	snprintf(top + 128, 128, "%s/copymid", tmp);
	lowers[1] = top + 128;
	lowers[2] = base;
	lowers[3] = NULL;
	spec.lower_dirs = lowers;
	spec.flags = SB_SANDBOX_COPY_ROOTFS;
	spec.argv = argv;
	assert_int_equal(run_capture(&spec, &out, &res, &err), 0);
	assert_null(err);
	assert_true(res.rootfs_copied);
	assert_string_equal(out.buf, "keep\nmotd\n");
	assert_int_equal(sh("grep -q written %s/newfile && test -x %s/bin/sh", upper, upper), 0);
	assert_int_equal(sh("test ! -e %s/newfile", base), 0);
	sb_strbuf_release(&out);
}

struct par_run {
	struct sb_sandbox_spec spec;
	const char *lowers[3];
	char upper[160], work[160], merged[160];
	int rc;
	struct sb_strbuf out;
};

static void *par_thread(void *arg)
{
	struct par_run *p = arg;
	struct sb_error *err = NULL;
	p->rc = run_capture(&p->spec, &p->out, NULL, &err);
	sb_error_free(err);
	return NULL;
}

/* Parallel stages: two sandboxes at once over the same lower layers,
 * started from two threads of one process. */
static void test_parallel(void **state)
{
	struct par_run runs[2];
	pthread_t th[2];
	const char *argv[] = { "/bin/sh", "-c", "echo $$ > /mine; sleep 0.5; cat /mine", NULL };
	(void)state;
	NEED_ROOTFS();
	for (int i = 0; i < 2; i++) {
		struct par_run *p = &runs[i];
		memset(p, 0, sizeof(*p));
		sb_strbuf_init(&p->out, 0);
		snprintf(p->upper, sizeof(p->upper), "%s/par-upper%d", tmp, i);
		snprintf(p->work, sizeof(p->work), "%s/par-work%d", tmp, i);
		snprintf(p->merged, sizeof(p->merged), "%s/par-merged%d", tmp, i);
		assert_int_equal(sh("mkdir %s %s %s", p->upper, p->work, p->merged), 0);
		p->lowers[0] = lower;
		p->lowers[1] = base;
		sb_sandbox_spec_init(&p->spec);
		p->spec.rootfs = p->merged;
		p->spec.lower_dirs = p->lowers;
		p->spec.upper_dir = p->upper;
		p->spec.work_dir = p->work;
		p->spec.argv = argv;
		p->spec.timeout = 60;
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, par_thread, &runs[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(runs[i].rc, 0);
		assert_string_equal(runs[i].out.buf, "2\n");
		assert_int_equal(sh("test \"$(cat %s/mine)\" = 2", runs[i].upper), 0);
		sb_strbuf_release(&runs[i].out);
	}
}

/* ------------------------------------------------------------ escapes */

/* Mount targets planted as symlinks to host paths resolve inside the
 * rootfs (every target is resolved after pivot_root): nothing is mounted
 * on, created in or written to the host directory they aim at. */
static void test_escape_symlinked_targets(void **state)
{
	static const char *const names[] = { "etc", "proc", "dev", "sys", "run" };
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	char root[128], outside[128], secret[256];
	const char *argv[] = { "/sbprobe", "hello", NULL };
	struct sb_sandbox_mount m = { SB_MOUNT_BIND, NULL, "/run/secrets/s", SB_MOUNT_RDONLY, 0 };
	(void)state;
	NEED_ROOTFS();
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	snprintf(secret, sizeof(secret), "%s/secret.txt", tmp);
	write_at(tmp, "secret.txt", "s\n");
	m.source = secret;
	for (size_t i = 0; i < SB_ARRAY_SIZE(names); i++) {
		struct sb_error *err = NULL;
		char link[256];
		snprintf(root, sizeof(root), "%s/symroot%zu", tmp, i);
		assert_int_equal(sh("mkdir -p %s %s && cp %s/sbprobe %s/", root, outside, lower, root), 0);
		snprintf(link, sizeof(link), "%s/%s", root, names[i]);
		assert_int_equal(symlink(outside, link), 0);
		sb_sandbox_spec_init(&spec);
		spec.rootfs = root;
		spec.argv = argv;
		spec.mounts = &m;
		spec.n_mounts = 1;
		/* the target does not exist inside the rootfs: the run fails */
		assert_int_equal(run_capture(&spec, &out, NULL, &err), -1);
		assert_non_null(err);
		sb_error_free(err);
		assert_int_equal(sh("test -z \"$(ls -A %s)\" && ! grep -qs ' %s' /proc/self/mountinfo", outside, outside), 0);
	}
	sb_strbuf_release(&out);
}

static void test_escape_proc(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	char host[256];
	(void)state;
	NEED_ROOTFS();
	gethostname(host, sizeof(host));
	fresh_spec(&spec);
	/* /proc/sys is read-only: the UTS namespace would contain this, but
	 * the write must not even happen. sysrq 'h' (help) would be harmless
	 * if the read-only bind failed. */
	run_sh("{ echo evil > /proc/sys/kernel/hostname && echo hostname-written;"
	       "test -e /proc/sysrq-trigger && { echo h > /proc/sysrq-trigger && echo sysrq-written; };"
	       "echo 1 > /proc/sys/vm/drop_caches && echo dropcaches-written;"
	       "echo '|/evil %p' > /proc/sys/kernel/core_pattern && echo corepattern-written;"
	       "echo evil > /sys/kernel/uevent_helper && echo uevent-written;"
	       "hostname evil && echo hostname-set; } 2>/dev/null; echo done",
	       &spec, 0, &out);
	assert_string_equal(out.buf, "done\n");
	assert_int_not_equal(sh("grep -q evil /proc/sys/kernel/core_pattern"), 0);
	{
		char now[256];
		gethostname(now, sizeof(now));
		assert_string_equal(now, host);
	}
	sb_strbuf_release(&out);
}

static void test_escape_syscalls(void **state)
{
	struct sb_sandbox_spec spec;
	struct sb_strbuf out = SB_STRBUF_INIT;
	(void)state;
	NEED_ROOTFS();
	fresh_spec(&spec);
	run_sh("mount -t tmpfs none /mnt 2>&1; echo mount-rc=$?; unshare -U true 2>&1; echo unshare-rc=$?;"
	       "/sbprobe mount; /sbprobe init_module; /sbprobe kexec; /sbprobe userns; /sbprobe misc;"
	       "sleep 5 & /sbprobe ptrace",
	       &spec, 0, &out);
	assert_null(strstr(out.buf, "mount-rc=0"));
	assert_null(strstr(out.buf, "unshare-rc=0"));
	assert_non_null(strstr(out.buf, "mount: EPERM\n"));
	assert_non_null(strstr(out.buf, "umount: EPERM\n"));
	assert_non_null(strstr(out.buf, "pivot_root: EPERM\n"));
	assert_non_null(strstr(out.buf, "init_module: EPERM\n"));
	assert_non_null(strstr(out.buf, "finit_module: EPERM\n"));
	assert_non_null(strstr(out.buf, "delete_module: EPERM\n"));
	assert_non_null(strstr(out.buf, "kexec_load: EPERM\n"));
	assert_non_null(strstr(out.buf, "kexec_file_load: EPERM\n"));
	assert_non_null(strstr(out.buf, "unshare: EPERM\n"));
	assert_non_null(strstr(out.buf, "clone: EPERM\n"));
	assert_non_null(strstr(out.buf, "fork: ok\n"));
	assert_non_null(strstr(out.buf, "personality: EPERM\n"));
	assert_non_null(strstr(out.buf, "personality_query: ok\n"));
	assert_non_null(strstr(out.buf, "bpf: EPERM\n"));
	assert_non_null(strstr(out.buf, "perf_event_open: EPERM\n"));
	assert_non_null(strstr(out.buf, "keyctl: EPERM\n"));
	assert_non_null(strstr(out.buf, "add_key: EPERM\n"));
	assert_non_null(strstr(out.buf, "acct: EPERM\n"));
	assert_non_null(strstr(out.buf, "swapoff: EPERM\n"));
	assert_non_null(strstr(out.buf, "reboot: EPERM\n"));
	assert_non_null(strstr(out.buf, "settimeofday: EPERM\n"));
	assert_non_null(strstr(out.buf, "sethostname: EPERM\n"));
	assert_non_null(strstr(out.buf, "setns: EPERM\n"));
	assert_non_null(strstr(out.buf, "chroot: ok\n")); /* CAP_SYS_CHROOT is in the default set */
	assert_non_null(strstr(out.buf, "socket_vsock: EPERM\n"));
	assert_non_null(strstr(out.buf, "socket_inet: ok\n"));
	assert_non_null(strstr(out.buf, "clone3: ENOSYS\n"));
	/* ptrace: only the sandbox's own processes are visible (init, sh,
	 * sleep); init, holding every capability, cannot be attached to */
	assert_non_null(strstr(out.buf, "ptrace 1: EPERM\n"));
	/* its own siblings it may trace, as in Docker */
	assert_non_null(strstr(out.buf, "ptrace 2: ok\n"));
	{
		const char *v = strstr(out.buf, "visible: ");
		assert_non_null(v);
		assert_true(atoi(v + 9) <= 3);
	}
	sb_strbuf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_resolve),
		cmocka_unit_test(test_user_symlink_stays_in_root),
		cmocka_unit_test(test_seccomp_export),
		cmocka_unit_test(test_spec_validation),
		cmocka_unit_test(test_namespaces),
		cmocka_unit_test(test_dev_proc_sys),
		cmocka_unit_test(test_network_none),
		cmocka_unit_test(test_user_applied),
		cmocka_unit_test(test_workdir_env),
		cmocka_unit_test(test_exit_and_signal),
		cmocka_unit_test(test_orphans_reaped),
		cmocka_unit_test(test_missing_executable),
		cmocka_unit_test(test_overlay_upper),
		cmocka_unit_test(test_plain_rootfs),
		cmocka_unit_test(test_copy_fallback),
		cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_hosts_resolv_mounts),
		cmocka_unit_test(test_escape_proc),
		cmocka_unit_test(test_escape_syscalls),
		cmocka_unit_test(test_escape_symlinked_targets),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
