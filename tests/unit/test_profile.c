/* runtime/profile: the tracer (seccomp user notification and the ptrace
 * fallback) over real runs of the Debian minbase rootfs' shell and of a
 * static probe (tests/profile/trace_probe.c, built here with cc -static),
 * and the ELF closure against the rootfs' own loader as an oracle. */
#include "tests/unit/sb_test_sandbox.h"

#include <fcntl.h>
#include <ftw.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/profile.h"

static char tmp[64];
static char lower[128];
static const char *base = SB_TEST_BASE_ROOTFS;
static bool have_rootfs;

#define sh sb_test_sh

static int group_setup(void **state)
{
	const char *src = getenv("SB_SOURCE_DIR");
	(void)state;
	if (!src)
		src = ".";
	sb_test_scratch(tmp, sizeof(tmp), "sbprofile", lower, sizeof(lower));
	have_rootfs = geteuid() == 0 && access(base, F_OK) == 0;
	if (have_rootfs)
		assert_int_equal(sh("cc -static -pthread -O2 -o %s/trace_probe %s/tests/profile/trace_probe.c", lower,
				    src),
				 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sb_test_rm_tree(tmp);
	return 0;
}

#define NEED_ROOTFS() SB_TEST_NEED(have_rootfs)

/* A spec over a fresh overlay of the test layer and the minbase rootfs. */
static void fresh_spec(struct sb_sandbox_spec *spec)
{
	sb_test_fresh_spec(spec, tmp, lower, base, 120);
}

/* Run argv, traced when tr is non-NULL; output (stdout and stderr) in out.
 * Returns the exit code. */
static int run(const char *const *argv, const struct sb_trace_opts *opts, struct sb_trace_result *tr,
	       struct sb_strbuf *out)
{
	struct sb_sandbox_spec spec;
	struct sb_error *err = NULL;
	int fd = memfd_create("out", MFD_CLOEXEC), rc;
	assert_true(fd >= 0);
	fresh_spec(&spec);
	spec.argv = argv;
	spec.stdout_fd = spec.stderr_fd = fd;
	if (tr)
		rc = sb_trace_run(&spec, opts, NULL, tr, &err);
	else
		rc = sb_sandbox_run(&spec, NULL, &err);
	if (err)
		fail_msg("sandbox: %s", err->msg);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	sb_strbuf_reset(out);
	assert_int_equal(sb_read_fd(fd, "out", 1 << 20, out, NULL), 0);
	close(fd);
	return rc;
}

static void dump(const struct sb_trace_result *r)
{
	for (size_t i = 0; i < r->npaths; i++)
		print_message("  %s%s%s flags=%#x\n", r->paths[i].path, r->paths[i].target ? " -> " : "",
			      r->paths[i].target ? r->paths[i].target : "", r->paths[i].flags);
}

/* path was recorded with at least flags (and the symlink target, when
 * given). */
static void expect(const struct sb_trace_result *r, const char *path, unsigned flags, const char *target)
{
	const struct sb_profile_path *p = sb_trace_result_find(r, path);
	if (!p || (p->flags & flags) != flags || (target && (!p->target || strcmp(p->target, target) != 0))) {
		dump(r);
		fail_msg("%s: want flags %#x%s%s, have %s %#x", path, flags, target ? " -> " : "", target ? target : "",
			 p ? "flags" : "nothing", p ? p->flags : 0);
	}
}

static bool seen(const struct sb_trace_result *r, const char *name)
{
	return sb_trace_syscall_seen(r, seccomp_syscall_resolve_name(name));
}

static const char *force_ptrace_env = "SB_TRACE_FORCE_PTRACE";

static void shell_case(bool force_ptrace)
{
	static const char script[] = "cat /etc/os-release > /dev/null; ls /usr/share >/dev/null;"
				     " cd /etc && cat hostname; readlink /bin/sh; cat /nonexistent 2>/dev/null;"
				     " echo rc=$?";
	const char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct sb_strbuf plain = SB_STRBUF_INIT, traced = SB_STRBUF_INIT;
	struct sb_trace_result r;
	int rc_plain, rc_traced;

	rc_plain = run(argv, NULL, NULL, &plain);
	if (force_ptrace)
		setenv(force_ptrace_env, "1", 1);
	rc_traced = run(argv, NULL, &r, &traced);
	unsetenv(force_ptrace_env);
	/* tracing changes nothing the program sees */
	assert_int_equal(rc_plain, 0);
	assert_int_equal(rc_traced, rc_plain);
	assert_string_equal(traced.buf, plain.buf);
	assert_non_null(strstr(traced.buf, "dash\nrc=1\n"));
	assert_non_null(r.tracer);
	assert_string_equal(r.tracer, force_ptrace ? "ptrace" : "seccomp-notify");
	assert_true(r.rootfd >= 0);

	expect(&r, "/bin", SB_PATH_SYMLINK, "usr/bin");
	expect(&r, "/usr/bin/dash", SB_PATH_EXISTS | SB_PATH_EXEC, NULL);
	expect(&r, "/usr/bin/sh", SB_PATH_SYMLINK, "dash");
	expect(&r, "/usr/bin/cat", SB_PATH_EXISTS | SB_PATH_EXEC, NULL);
	expect(&r, "/usr/bin/readlink", SB_PATH_EXISTS | SB_PATH_EXEC, NULL);
	expect(&r, "/etc/os-release", SB_PATH_SYMLINK, "../usr/lib/os-release");
	expect(&r, "/usr/lib/os-release", SB_PATH_EXISTS, NULL);
	expect(&r, "/lib", SB_PATH_SYMLINK, "usr/lib");
	expect(&r, "/usr/lib/x86_64-linux-gnu/libc.so.6", SB_PATH_EXISTS, NULL);
	expect(&r, "/etc/ld.so.cache", SB_PATH_EXISTS, NULL);
	expect(&r, "/etc/hostname", SB_PATH_EXISTS, NULL); /* relative, after cd */
	expect(&r, "/etc", SB_PATH_EXISTS | SB_PATH_DIR, NULL);
	expect(&r, "/usr/share", SB_PATH_EXISTS | SB_PATH_DIR | SB_PATH_LISTED, NULL); /* ls */
	assert_false(sb_trace_result_find(&r, "/etc")->flags & SB_PATH_LISTED);   /* cd only */
	expect(&r, "/nonexistent", SB_PATH_MISSING, NULL);
	/* dash's PATH search */
	expect(&r, "/usr/local/bin/cat", SB_PATH_MISSING, NULL);
	assert_null(sb_trace_result_find(&r, "/usr/bin/ls/x"));

	assert_true(seen(&r, "execve"));
	assert_true(seen(&r, "openat"));
	assert_true(seen(&r, "readlink") || seen(&r, "readlinkat"));
	assert_false(seen(&r, "read")); /* the hot set is assumed, not seen */
	assert_true(sb_trace_syscall_seen(&(struct sb_trace_result){ .syscalls = { 0 } }, 0) == false);
	{
		int nr = seccomp_syscall_resolve_name("read");
		assert_true((r.assumed[nr / 64] >> (nr % 64)) & 1);
	}
	sb_trace_result_release(&r);
	sb_strbuf_release(&plain);
	sb_strbuf_release(&traced);
}

static void test_trace_shell_notify(void **state)
{
	(void)state;
	NEED_ROOTFS();
	shell_case(false);
}

static void test_trace_shell_ptrace(void **state)
{
	(void)state;
	NEED_ROOTFS();
	shell_case(true);
}

static void probe_case(enum sb_trace_mode mode, unsigned flags)
{
	const char *argv[] = { "/trace_probe", NULL };
	struct sb_trace_opts opts = { mode, flags };
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_trace_result r;
	int rc = run(argv, &opts, &r, &out);

	assert_int_equal(rc, 0);
	assert_string_equal(out.buf, "done\n");
	if (getenv("SB_TEST_DUMP"))
		dump(&r);
	assert_string_equal(r.tracer, mode == SB_TRACE_PTRACE ? "ptrace" : "seccomp-notify");
	expect(&r, "/trace_probe", SB_PATH_EXISTS | SB_PATH_EXEC, NULL);
	/* from two threads */
	expect(&r, "/etc/passwd", SB_PATH_EXISTS, NULL);
	expect(&r, "/etc/group", SB_PATH_EXISTS, NULL);
	/* from a child and a grandchild */
	expect(&r, "/etc/shells", SB_PATH_EXISTS, NULL);
	expect(&r, "/etc/issue.net", SB_PATH_EXISTS, NULL);
	/* relative to the cwd and to a dirfd; the dirfd itself */
	expect(&r, "/usr/share/base-files/motd", SB_PATH_EXISTS, NULL);
	expect(&r, "/usr/share/common-licenses/GPL-3", SB_PATH_EXISTS, NULL);
	expect(&r, "/usr/share/common-licenses", SB_PATH_EXISTS | SB_PATH_DIR, NULL);
	/* ".." after a symlinked directory is taken from where it led */
	expect(&r, "/etc/host.conf", SB_PATH_EXISTS, NULL);
	/* /proc/self/fd/N: the tracee's, leading to the file */
	expect(&r, "/etc/debian_version", SB_PATH_EXISTS, NULL);
	{
		bool hop = false;
		for (size_t i = 0; i < r.npaths; i++)
			hop |= strncmp(r.paths[i].path, "/proc/", 6) == 0 && strstr(r.paths[i].path, "/fd/") &&
			       r.paths[i].target && strcmp(r.paths[i].target, "/etc/debian_version") == 0;
		if (!hop)
			dump(&r);
		assert_true(hop);
	}
	expect(&r, "/nonexistent/file", SB_PATH_MISSING, NULL);
	expect(&r, "/run/probe.sock", SB_PATH_MISSING, NULL);
	assert_true(seen(&r, "connect"));
	assert_true(seen(&r, "socket"));
	assert_true(seen(&r, "clone") || seen(&r, "clone3"));
	if (flags & SB_TRACE_EXACT_SYSCALLS) {
		assert_true(seen(&r, "write"));
		assert_true(seen(&r, "mmap"));
	}
	assert_true(r.events > 0);
	sb_trace_result_release(&r);
	sb_strbuf_release(&out);
}

static void test_trace_probe_notify(void **state)
{
	(void)state;
	NEED_ROOTFS();
	probe_case(SB_TRACE_NOTIFY, 0);
}

static void test_trace_probe_ptrace(void **state)
{
	(void)state;
	NEED_ROOTFS();
	probe_case(SB_TRACE_PTRACE, 0);
}

static void test_trace_probe_exact(void **state)
{
	(void)state;
	NEED_ROOTFS();
	probe_case(SB_TRACE_NOTIFY, SB_TRACE_EXACT_SYSCALLS);
	probe_case(SB_TRACE_PTRACE, SB_TRACE_EXACT_SYSCALLS);
}

/* A setup failure after the tracer attached, and a command that fails,
 * still end cleanly. */
static void test_trace_exit_codes(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "kill -9 $$", NULL };
	const char *argv2[] = { "/bin/sh", "-c", "( sleep 0.2; cat /etc/passwd >/dev/null ) & exit 3", NULL };
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_trace_result r;
	(void)state;
	NEED_ROOTFS();
	assert_int_equal(run(argv, NULL, &r, &out), 128 + 9);
	sb_trace_result_release(&r);
	assert_int_equal(run(argv2, NULL, &r, &out), 3);
	sb_trace_result_release(&r);
	sb_strbuf_release(&out);
}

/* ------------------------------------------------------------ ELF closure */

static void expect_closure(const struct sb_elf_closure *c, const char *path, unsigned flags, const char *target)
{
	const struct sb_profile_path *p = NULL;
	for (size_t i = 0; i < c->npaths && !p; i++)
		if (strcmp(c->paths[i].path, path) == 0)
			p = &c->paths[i];
	if (!p || (p->flags & flags) != flags || (target && (!p->target || strcmp(p->target, target) != 0))) {
		for (size_t i = 0; i < c->npaths; i++)
			print_message("  %s%s%s flags=%#x\n", c->paths[i].path, c->paths[i].target ? " -> " : "",
				      c->paths[i].target ? c->paths[i].target : "", c->paths[i].flags);
		for (size_t i = 0; i < c->nunresolved; i++)
			print_message("  unresolved %s\n", c->unresolved[i]);
		fail_msg("%s: want flags %#x%s%s, have %s %#x", path, flags, target ? " -> " : "", target ? target : "",
			 p ? "flags" : "nothing", p ? p->flags : 0);
	}
}

/* The oracle: the rootfs' own loader lists what it loads (ldd, run in a
 * chroot: allowed in a test, never in the library), each resolved to its
 * real path. */
static void oracle(const char *bin, struct sb_strbuf *out)
{
	char cmd[1024];
	FILE *f;
	char line[4096];
	snprintf(cmd, sizeof(cmd),
		 "chroot %s sh -c 'for f in $(ldd %s | grep -o \"/[^ ]*\"); do readlink -f $f; done' | sort -u", base,
		 bin);
	f = popen(cmd, "r");
	assert_non_null(f);
	sb_strbuf_reset(out);
	while (fgets(line, sizeof(line), f))
		sb_strbuf_adds(out, line);
	assert_int_equal(pclose(f), 0);
}

static void test_elf_closure_vs_ldd(void **state)
{
	static const char *const bins[] = { "/usr/bin/ls", "/bin/bash", "/usr/bin/apt", "/usr/bin/gpgv",
					     "/usr/bin/tar", "/usr/bin/perl" };
	int rootfd;
	(void)state;
	NEED_ROOTFS();
	rootfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	for (size_t b = 0; b < SB_ARRAY_SIZE(bins); b++) {
		struct sb_elf_closure c;
		struct sb_error *err = NULL;
		struct sb_strbuf want = SB_STRBUF_INIT, have = SB_STRBUF_INIT;
		const char *one = bins[b];
		if (sb_elf_closure(rootfd, &one, 1, NULL, &c, &err) < 0)
			fail_msg("%s: %s", one, err->msg);
		oracle(one, &want);
		/* every ELF object but the program itself, sorted as paths are */
		for (size_t i = 0; i < c.npaths; i++)
			if ((c.paths[i].flags & (SB_PATH_NEEDED | SB_PATH_INTERP)) && !(c.paths[i].flags & SB_PATH_SYMLINK))
				sb_strbuf_addf(&have, "%s\n", c.paths[i].path);
		if (strcmp(have.buf, want.buf) != 0)
			fail_msg("%s: closure\n%swant (ldd)\n%s", one, have.buf, want.buf);
		assert_int_equal(c.nunresolved, 0);
		sb_elf_closure_release(&c);
		sb_strbuf_release(&want);
		sb_strbuf_release(&have);
	}
	{
		/* the hops: merged /usr, and the loader's own link */
		struct sb_elf_closure c;
		const char *ls = "/usr/bin/ls";
		assert_int_equal(sb_elf_closure(rootfd, &ls, 1, NULL, &c, NULL), 0);
		expect_closure(&c, "/usr/bin/ls", SB_PATH_ELF | SB_PATH_EXISTS, NULL);
		expect_closure(&c, "/lib64", SB_PATH_SYMLINK, "usr/lib64");
		expect_closure(&c, "/usr/lib64/ld-linux-x86-64.so.2", SB_PATH_SYMLINK,
			       "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
		expect_closure(&c, "/lib", SB_PATH_SYMLINK, "usr/lib");
		expect_closure(&c, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
			       SB_PATH_ELF | SB_PATH_INTERP | SB_PATH_EXISTS, NULL);
		expect_closure(&c, "/usr/lib/x86_64-linux-gnu/libselinux.so.1", SB_PATH_ELF | SB_PATH_NEEDED, NULL);
		expect_closure(&c, "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", SB_PATH_SYMLINK, NULL);
		expect_closure(&c, "/usr/lib/x86_64-linux-gnu/libc.so.6", SB_PATH_ELF | SB_PATH_NEEDED, NULL);
		sb_elf_closure_release(&c);
	}
	{
		/* a script: its interpreter and the interpreter's closure */
		struct sb_elf_closure c;
		const char *script = "/usr/bin/zcat";
		assert_int_equal(sb_elf_closure(rootfd, &script, 1, NULL, &c, NULL), 0);
		expect_closure(&c, "/usr/bin/zcat", SB_PATH_EXISTS, NULL);
		expect_closure(&c, "/usr/bin/dash", SB_PATH_ELF | SB_PATH_INTERP, NULL);
		expect_closure(&c, "/usr/lib/x86_64-linux-gnu/libc.so.6", SB_PATH_ELF, NULL);
		sb_elf_closure_release(&c);
	}
	close(rootfd);
}

static void test_ldcache(void **state)
{
	struct sb_strbuf data = SB_STRBUF_INIT;
	struct sb_ldcache c;
	char p[256];
	bool libc = false;
	(void)state;
	NEED_ROOTFS();
	snprintf(p, sizeof(p), "%s/etc/ld.so.cache", base);
	assert_int_equal(sb_read_file(AT_FDCWD, p, 16 << 20, &data, NULL), 0);
	assert_int_equal(sb_ldcache_parse(data.buf, data.len, &c, NULL), 0);
	assert_true(c.n > 10);
	for (size_t i = 0; i < c.n; i++)
		libc |= strcmp(c.v[i].name, "libc.so.6") == 0 && strcmp(c.v[i].path, "/lib/x86_64-linux-gnu/libc.so.6") == 0;
	assert_true(libc);
	sb_ldcache_release(&c);
	/* every truncation fails cleanly or parses fewer entries */
	for (size_t n = 0; n < data.len; n += 7) {
		struct sb_error *err = NULL;
		if (sb_ldcache_parse(data.buf, n, &c, &err) < 0)
			sb_error_free(err);
		else
			sb_ldcache_release(&c);
	}
	sb_strbuf_release(&data);
}

/* A hand-made tree: prog finds libfoo through $ORIGIN/../lib, reached
 * through a symlink to prog (the loader takes the executable's real path);
 * libfoo needs libbar, which only the loader's DT_RPATH reaches, and a
 * DT_RUNPATH does not pass on. */
static void origin_case(bool new_dtags)
{
	char root[256];
	struct sb_elf_closure c;
	struct sb_error *err = NULL;
	const char *prog = "/usr/local/bin/prog";
	int rootfd;

	snprintf(root, sizeof(root), "%s/origin-%d", tmp, new_dtags);
	assert_int_equal(sh("mkdir -p %s/app/bin %s/app/lib %s/usr/local/bin && cd %s &&"
			    " echo 'int bar(void){return 1;}' > bar.c && echo 'int bar(void); int foo(void){return bar();}' > foo.c &&"
			    " echo 'int foo(void); int main(void){return foo();}' > main.c &&"
			    " cc -shared -fPIC -o app/lib/libbar.so bar.c &&"
			    " cc -shared -fPIC -o app/lib/libfoo.so foo.c -Lapp/lib -lbar &&"
			    " cc -o app/bin/prog main.c -Lapp/lib -lfoo -Wl,%s -Wl,-rpath,'$ORIGIN/../lib' &&"
			    " ln -s ../../../app/bin/prog usr/local/bin/prog",
			    root, root, root, root, new_dtags ? "--enable-new-dtags" : "--disable-new-dtags"),
			 0);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	if (sb_elf_closure(rootfd, &prog, 1, NULL, &c, &err) < 0)
		fail_msg("%s", err->msg);
	expect_closure(&c, "/usr/local/bin/prog", SB_PATH_SYMLINK, "../../../app/bin/prog");
	expect_closure(&c, "/app/bin/prog", SB_PATH_ELF, NULL);
	expect_closure(&c, "/app/lib/libfoo.so", SB_PATH_ELF | SB_PATH_NEEDED, NULL);
	if (new_dtags) {
		bool bar_missing = false;
		for (size_t i = 0; i < c.nunresolved; i++)
			bar_missing |= strcmp(c.unresolved[i], "/app/lib/libfoo.so: libbar.so") == 0;
		assert_true(bar_missing);
	} else {
		expect_closure(&c, "/app/lib/libbar.so", SB_PATH_ELF | SB_PATH_NEEDED, NULL);
	}
	/* no libc or loader in this tree */
	assert_true(c.nunresolved >= 2);
	sb_elf_closure_release(&c);
	close(rootfd);
}

static void test_elf_origin(void **state)
{
	(void)state;
	if (system("cc --version >/dev/null 2>&1") != 0)
		skip();
	origin_case(true);
	origin_case(false);
}

static void test_elf_hostile(void **state)
{
	struct sb_strbuf ls = SB_STRBUF_INIT;
	struct sb_elf_info info;
	struct sb_elf_closure c;
	struct sb_error *err = NULL;
	char root[256], p[512];
	const char *bad = "/bin/bad";
	int rootfd, rc;
	(void)state;

	assert_int_equal(sb_read_file(AT_FDCWD, "/usr/bin/ls", 64 << 20, &ls, NULL), 0);
	assert_int_equal(sb_elf_parse(ls.buf, ls.len, &info, NULL), 1);
	assert_string_equal(info.interp, "/lib64/ld-linux-x86-64.so.2");
	assert_true(info.nneeded >= 2);
	sb_elf_info_release(&info);
	/* not ELF at all */
	assert_int_equal(sb_elf_parse("#!/bin/sh\n", 10, &info, NULL), 0);
	/* every truncation is refused or parsed, never read past */
	for (size_t n = 4; n < 4096 && n < ls.len; n++) {
		rc = sb_elf_parse(ls.buf, n, &info, &err);
		if (rc < 0) {
			assert_non_null(err);
			sb_error_free(err);
			err = NULL;
		} else {
			sb_elf_info_release(&info);
		}
	}
	/* a program header table pointing past the end */
	{
		unsigned char *d = sb_xmalloc(ls.len);
		memcpy(d, ls.buf, ls.len);
		memset(d + 32, 0xff, 8); /* e_phoff */
		assert_int_equal(sb_elf_parse(d, ls.len, &info, &err), -1);
		assert_non_null(strstr(err->msg, "program headers"));
		sb_error_free(err);
		err = NULL;
		free(d);
	}
	/* in a closure: the call fails naming the file */
	snprintf(root, sizeof(root), "%s/hostile", tmp);
	snprintf(p, sizeof(p), "%s/bin", root);
	assert_int_equal(sb_mkdir_p(AT_FDCWD, p, 0755, NULL), 0);
	snprintf(p, sizeof(p), "%s/bin/bad", root);
	assert_int_equal(sb_write_file_atomic(AT_FDCWD, p, ls.buf, 1000, 0755, NULL), 0);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	assert_int_equal(sb_elf_closure(rootfd, &bad, 1, NULL, &c, &err), -1);
	assert_non_null(strstr(err->msg, "/bin/bad"));
	assert_non_null(strstr(err->msg, "malformed ELF"));
	sb_error_free(err);
	close(rootfd);
	sb_strbuf_release(&ls);
}

/* The two together, as the profiler will use them: the closure of what a
 * traced run executed, over the root it ran in. */
static void test_trace_then_closure(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "ls / >/dev/null", NULL };
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_trace_result r;
	struct sb_elf_closure c;
	const char *execd[16];
	size_t n = 0;
	(void)state;
	NEED_ROOTFS();
	assert_int_equal(run(argv, NULL, &r, &out), 0);
	for (size_t i = 0; i < r.npaths && n < SB_ARRAY_SIZE(execd); i++)
		if (r.paths[i].flags & SB_PATH_EXEC)
			execd[n++] = r.paths[i].path;
	assert_true(n >= 2);
	assert_int_equal(sb_elf_closure(r.rootfd, execd, n, NULL, &c, NULL), 0);
	expect_closure(&c, "/usr/bin/ls", SB_PATH_ELF, NULL);
	expect_closure(&c, "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2", SB_PATH_ELF, NULL);
	/* the trace saw the loader open every library the closure found;
	 * the loader itself the kernel maps without a syscall, which is why
	 * the closure is needed */
	for (size_t i = 0; i < c.npaths; i++)
		if ((c.paths[i].flags & SB_PATH_NEEDED) && !(c.paths[i].flags & (SB_PATH_SYMLINK | SB_PATH_INTERP)))
			expect(&r, c.paths[i].path, SB_PATH_EXISTS, NULL);
	expect_closure(&c, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", SB_PATH_INTERP, NULL);
	assert_null(sb_trace_result_find(&r, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"));
	sb_elf_closure_release(&c);
	sb_trace_result_release(&r);
	sb_strbuf_release(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trace_shell_notify),
		cmocka_unit_test(test_trace_shell_ptrace),
		cmocka_unit_test(test_trace_probe_notify),
		cmocka_unit_test(test_trace_probe_ptrace),
		cmocka_unit_test(test_trace_probe_exact),
		cmocka_unit_test(test_trace_exit_codes),
		cmocka_unit_test(test_elf_closure_vs_ldd),
		cmocka_unit_test(test_ldcache),
		cmocka_unit_test(test_elf_origin),
		cmocka_unit_test(test_elf_hostile),
		cmocka_unit_test(test_trace_then_closure),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
