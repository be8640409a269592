/* runtime/profile: the closure of a real traced run over the Debian
 * minbase rootfs (copied out and run again with chroot), metadata kept
 * exactly on a tree built here, --include globs, the Python and Node
 * rules on hand-made trees, and the honest dpkg status.d. */
#include "tests/unit/sb_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/copy.h"
#include "runtime/layer/layer.h"
#include "runtime/profile/closure.h"

static char tmp[64];
static const char *base = SB_TEST_BASE_ROOTFS;
static bool have_rootfs;
static int run_no;

#define sh sb_test_sh

static int group_setup(void **state)
{
	(void)state;
	sb_test_scratch(tmp, sizeof(tmp), "sbclosure", NULL, 0);
	have_rootfs = geteuid() == 0 && access(base, F_OK) == 0;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sb_test_rm_tree(tmp);
	return 0;
}

#define NEED_ROOTFS() SB_TEST_NEED(have_rootfs)

#define NEED_ROOT() SB_TEST_NEED(geteuid() == 0)

static char *fresh_dir(const char *what)
{
	char *p = sb_xasprintf("%s/%s%d", tmp, what, ++run_no);
	assert_int_equal(mkdir(p, 0755), 0);
	return p;
}

static void dump(const struct sb_closure *c)
{
	for (size_t i = 0; i < c->n; i++)
		print_message("  %s kind=%d reasons=%#x%s%s\n", c->v[i].path, (int)c->v[i].kind, c->v[i].reasons,
			      c->v[i].target ? " -> " : "", c->v[i].target ? c->v[i].target : "");
}

static void expect(const struct sb_closure *c, const char *path, enum sb_closure_kind kind, unsigned reasons,
		   const char *target)
{
	const struct sb_closure_entry *e = sb_closure_find(c, path);
	if (!e || e->kind != kind || (e->reasons & reasons) != reasons ||
	    (target && (!e->target || strcmp(e->target, target) != 0))) {
		dump(c);
		fail_msg("%s: want kind %d reasons %#x%s%s, have %s kind %d reasons %#x", path, (int)kind, reasons,
			 target ? " -> " : "", target ? target : "", e ? "entry" : "nothing", e ? (int)e->kind : -1,
			 e ? e->reasons : 0);
	}
}

static void expect_not(const struct sb_closure *c, const char *path)
{
	if (sb_closure_find(c, path)) {
		dump(c);
		fail_msg("%s: kept, should not be", path);
	}
}

/* Every entry's metadata in dest as in the rootfs. */
static void same_metadata(const char *root, const struct sb_closure *c, const char *dest)
{
	for (size_t i = 0; i < c->n; i++) {
		sb_autofree char *a = sb_xasprintf("%s%s", root, c->v[i].path);
		sb_autofree char *b = sb_xasprintf("%s%s", dest, c->v[i].path);
		struct stat sa, sb;
		assert_int_equal(lstat(a, &sa), 0);
		if (lstat(b, &sb) != 0)
			fail_msg("%s: not copied", c->v[i].path);
		if (sa.st_mode != sb.st_mode || sa.st_uid != sb.st_uid || sa.st_gid != sb.st_gid ||
		    (!S_ISDIR(sa.st_mode) && sa.st_size != sb.st_size) || sa.st_mtim.tv_sec != sb.st_mtim.tv_sec ||
		    sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec || sa.st_rdev != sb.st_rdev)
			fail_msg("%s: mode %o/%o owner %u:%u/%u:%u mtime %ld.%ld/%ld.%ld", c->v[i].path,
				 (unsigned)sa.st_mode, (unsigned)sb.st_mode, (unsigned)sa.st_uid, (unsigned)sa.st_gid,
				 (unsigned)sb.st_uid, (unsigned)sb.st_gid, (long)sa.st_mtim.tv_sec,
				 (long)sa.st_mtim.tv_nsec, (long)sb.st_mtim.tv_sec, (long)sb.st_mtim.tv_nsec);
		if (S_ISLNK(sa.st_mode)) {
			char ta[4096], tb[4096];
			ssize_t na = readlink(a, ta, sizeof(ta)), nb = readlink(b, tb, sizeof(tb));
			assert_true(na > 0);
			assert_int_equal(na, nb);
			assert_memory_equal(ta, tb, (size_t)na);
		}
	}
}

/* ---- a real run over minbase ---- */

static int count_sink(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	(void)data, (void)err;
	*(size_t *)ctx += len;
	return 0;
}

/* Trace argv over a fresh overlay of the minbase rootfs. */
static void trace(const char *const *argv, struct sb_trace_result *tr)
{
	static const char *lowers[2];
	sb_autofree char *upper = fresh_dir("upper"), *work = fresh_dir("work"), *merged = fresh_dir("merged");
	struct sb_sandbox_spec spec;
	struct sb_error *err = NULL;
	int fd = open("/dev/null", O_WRONLY | O_CLOEXEC), rc;

	lowers[0] = base;
	lowers[1] = NULL;
	sb_sandbox_spec_init(&spec);
	spec.rootfs = merged;
	spec.lower_dirs = lowers;
	spec.upper_dir = upper;
	spec.work_dir = work;
	spec.timeout = 120;
	spec.argv = argv;
	spec.stdout_fd = spec.stderr_fd = fd;
	rc = sb_trace_run(&spec, NULL, NULL, tr, &err);
	if (err)
		fail_msg("trace: %s", err->msg);
	assert_int_equal(rc, 0);
	close(fd);
}

static void test_closure_minbase_run(void **state)
{
	const char *argv[] = { "/bin/sh", "-c", "ls /etc >/dev/null; getent hosts localhost; date", NULL };
	struct sb_trace_result tr;
	struct sb_closure c;
	struct sb_error *err = NULL;
	sb_autofree char *dest = NULL, *out = NULL;
	struct sb_strbuf text = SB_STRBUF_INIT;
	int rootfd;
	(void)state;
	NEED_ROOTFS();

	trace(argv, &tr);
	rootfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	if (sb_closure_build(rootfd, &tr, NULL, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);

	expect(&c, "/bin", SB_CLOSURE_SYMLINK, SB_KEEP_TRACED, "usr/bin");
	expect(&c, "/usr/bin/ls", SB_CLOSURE_FILE, SB_KEEP_TRACED | SB_KEEP_ELF, NULL);
	expect(&c, "/usr/bin/date", SB_CLOSURE_FILE, SB_KEEP_TRACED | SB_KEEP_ELF, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/libselinux.so.1", SB_CLOSURE_FILE, SB_KEEP_ELF, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0", SB_CLOSURE_SYMLINK, SB_KEEP_ELF, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/libpcre2-8.so.0.11.2", SB_CLOSURE_FILE, SB_KEEP_ELF, NULL);
	/* the loader: mapped by the kernel, found by the ELF closure */
	expect(&c, "/lib64", SB_CLOSURE_SYMLINK, SB_KEEP_ELF, "usr/lib64");
	expect(&c, "/usr/lib64/ld-linux-x86-64.so.2", SB_CLOSURE_SYMLINK, SB_KEEP_ELF, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", SB_CLOSURE_FILE, SB_KEEP_ELF, NULL);
	/* always */
	expect(&c, "/etc/passwd", SB_CLOSURE_FILE, SB_KEEP_ALWAYS, NULL);
	expect(&c, "/etc/group", SB_CLOSURE_FILE, SB_KEEP_ALWAYS, NULL);
	expect(&c, "/etc/os-release", SB_CLOSURE_SYMLINK, SB_KEEP_ALWAYS, "../usr/lib/os-release");
	expect(&c, "/usr/lib/os-release", SB_CLOSURE_FILE, SB_KEEP_ALWAYS, NULL);
	expect(&c, "/tmp", SB_CLOSURE_DIR, SB_KEEP_ALWAYS, NULL);
	/* getent looked up a host: NSS */
	assert_true(c.evidence & SB_KEEP_NSS);
	expect(&c, "/usr/lib/x86_64-linux-gnu/libnss_files.so.2", SB_CLOSURE_FILE, SB_KEEP_NSS, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/libnss_dns.so.2", SB_CLOSURE_FILE, SB_KEEP_NSS, NULL);
	expect(&c, "/etc/nsswitch.conf", SB_CLOSURE_FILE, SB_KEEP_NSS | SB_KEEP_ALWAYS, NULL);
	/* date read /etc/localtime: the whole zoneinfo tree */
	assert_true(c.evidence & SB_KEEP_ZONEINFO);
	expect(&c, "/etc/localtime", SB_CLOSURE_SYMLINK, SB_KEEP_ZONEINFO, "/usr/share/zoneinfo/Etc/UTC");
	expect(&c, "/usr/share/zoneinfo/Etc/UTC", SB_CLOSURE_FILE, SB_KEEP_ZONEINFO, NULL);
	expect(&c, "/usr/share/zoneinfo/Europe/Paris", SB_CLOSURE_FILE, SB_KEEP_ZONEINFO, NULL);
	assert_false(c.evidence & (SB_KEEP_TLS | SB_KEEP_GCONV | SB_KEEP_PYTHON));
	/* directories: kept empty but for what was used */
	expect(&c, "/etc", SB_CLOSURE_DIR, SB_KEEP_TRACED | SB_KEEP_PARENT, NULL);
	expect(&c, "/usr", SB_CLOSURE_DIR, SB_KEEP_PARENT, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu", SB_CLOSURE_DIR, SB_KEEP_PARENT, NULL);
	expect_not(&c, "/usr/bin/apt");
	expect_not(&c, "/etc/shadow");
	expect_not(&c, "/etc/resolv.conf");
	expect_not(&c, "/dev/null");
	expect_not(&c, "/var/lib/dpkg/status");
	expect_not(&c, "/");
	for (size_t i = 1; i < c.n; i++)
		assert_true(strcmp(c.v[i - 1].path, c.v[i].path) < 0);
	print_message("closure of the run: %zu entries\n", c.n);
	assert_true(c.n < 2000);

	/* copied out, it is a root filesystem of its own */
	dest = fresh_dir("dest");
	if (sb_closure_copy(rootfd, &c, dest, &err) < 0)
		fail_msg("copy: %s", err->msg);
	same_metadata(base, &c, dest);
	out = sb_xasprintf("%s/out", tmp);
	assert_int_equal(sh("chroot %s /bin/sh -c 'ls /etc && date && getent passwd root' >%s 2>&1", dest, out), 0);
	assert_int_equal(sb_read_file(AT_FDCWD, out, 1 << 20, &text, NULL), 0);
	assert_non_null(strstr(text.buf, "passwd\n"));
	assert_non_null(strstr(text.buf, "UTC"));
	assert_non_null(strstr(text.buf, "root:x:0:0"));
	assert_null(strstr(text.buf, "shadow"));
	{
		struct stat st;
		sb_autofree char *t = sb_xasprintf("%s/tmp", dest);
		assert_int_equal(lstat(t, &st), 0);
		assert_int_equal(st.st_mode & 07777, 01777);
	}
	/* and it packs as a layer */
	{
		struct sb_layer_pack_opts o;
		struct sb_layer_result r;
		size_t bytes = 0;
		struct sb_layer_sink sink = { count_sink, &bytes };
		sb_layer_pack_opts_init(&o);
		if (sb_layer_pack_dir_to(dest, &o, &sink, &r, &err) < 0)
			fail_msg("pack: %s", err->msg);
		assert_int_equal(r.entries, c.n);
		assert_true(bytes > 0);
	}
	sb_strbuf_release(&text);
	sb_closure_release(&c);
	sb_trace_result_release(&tr);
	close(rootfd);
}

/* ---- metadata, includes ---- */

static void touch(const char *root, const char *rel, mode_t mode, const char *data)
{
	sb_autofree char *p = sb_xasprintf("%s/%s", root, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(sb_write_all(fd, data, strlen(data), p, NULL), 0);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void mkdirs(const char *root, const char *rel, mode_t mode)
{
	sb_autofree char *p = sb_xasprintf("%s/%s", root, rel);
	assert_int_equal(sb_mkdir_p(AT_FDCWD, p, 0755, NULL), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static void set_times(const char *root, const char *rel, time_t sec, long nsec)
{
	sb_autofree char *p = sb_xasprintf("%s/%s", root, rel);
	struct timespec ts[2] = { { sec, nsec }, { sec, nsec } };
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
}

static void test_closure_copy_metadata(void **state)
{
	sb_autofree char *root = fresh_dir("src"), *dest = fresh_dir("dest"), *dest2 = fresh_dir("dest2");
	const char *includes[] = { "/app/bin/*", "/app/a/h1", "/app/b/h2", "/app/share", "/app/**/*.conf",
				   "/nothing*" };
	struct sb_closure_opts o;
	struct sb_closure c;
	struct sb_error *err = NULL;
	char cap[64], cap2[64];
	ssize_t ncap;
	struct stat s1, s2;
	int rootfd;
	(void)state;
	NEED_ROOT();

	mkdirs(root, "app/bin", 0750);
	mkdirs(root, "app/a", 0700);
	mkdirs(root, "app/b", 0755);
	mkdirs(root, "app/c", 0755);
	mkdirs(root, "app/share/deep/er", 02775);
	mkdirs(root, "app/etc/x", 0755);
	mkdirs(root, "app/sticky", 01777);
	touch(root, "app/bin/suid", 04755, "#!/bin/false\n");
	touch(root, "app/bin/capped", 0755, "capped\n");
	touch(root, "app/a/h1", 0640, "linked\n");
	touch(root, "app/share/deep/er/file", 0444, "deep\n");
	touch(root, "app/etc/x/one.conf", 0644, "one\n");
	touch(root, "app/etc/two.conf", 0644, "two\n");
	touch(root, "app/etc/three.txt", 0644, "three\n");
	touch(root, "app/sticky/keep", 0600, "k\n");
	assert_int_equal(sh("cd %s/app && ln a/h1 b/h2 && ln a/h1 c/h3 && ln -s ../a/h1 bin/link && mkfifo bin/fifo &&"
			    " setcap cap_net_bind_service+ep bin/capped && chown -R 1234:2345 a b bin/suid &&"
			    " chown -h 7:8 bin/link",
			    root),
			 0);
	{
		sb_autofree char *t = sb_xasprintf("%s/app/share/deep", root);
		assert_int_equal(setxattr(t, "user.sb", "yes", 3, 0), 0);
	}
	set_times(root, "app/bin/link", 1000000000, 123);
	set_times(root, "app/a/h1", 1100000000, 456789);
	set_times(root, "app/share/deep", 1200000000, 1);
	set_times(root, "app", 1300000000, 0);
	{
		sb_autofree char *t = sb_xasprintf("%s/app/sticky", root);
		assert_int_equal(chmod(t, 01777), 0);
	}

	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	sb_closure_opts_init(&o);
	o.includes = includes;
	o.nincludes = SB_ARRAY_SIZE(includes);
	if (sb_closure_build(rootfd, NULL, &o, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);
	expect(&c, "/app", SB_CLOSURE_DIR, SB_KEEP_PARENT, NULL);
	expect(&c, "/app/bin/suid", SB_CLOSURE_FILE, SB_KEEP_INCLUDE, NULL);
	expect(&c, "/app/bin/link", SB_CLOSURE_SYMLINK, SB_KEEP_INCLUDE, "../a/h1");
	expect(&c, "/app/bin/fifo", SB_CLOSURE_OTHER, SB_KEEP_INCLUDE, NULL);
	expect(&c, "/app/share/deep/er/file", SB_CLOSURE_FILE, SB_KEEP_INCLUDE, NULL);
	expect(&c, "/app/etc/x/one.conf", SB_CLOSURE_FILE, SB_KEEP_INCLUDE, NULL);
	expect(&c, "/app/etc/two.conf", SB_CLOSURE_FILE, SB_KEEP_INCLUDE, NULL);
	expect(&c, "/app/etc/x", SB_CLOSURE_DIR, SB_KEEP_PARENT, NULL);
	expect_not(&c, "/app/etc/three.txt");
	expect_not(&c, "/app/c/h3");
	expect_not(&c, "/app/sticky/keep");
	assert_int_equal(c.nunresolved, 1);
	assert_string_equal(c.unresolved[0], "include /nothing*: no match");

	if (sb_closure_copy(rootfd, &c, dest, &err) < 0)
		fail_msg("copy: %s", err->msg);
	/* and the way the slim stage copies it: COPY --from=<stage>
	 * --parents of every entry that is no directory (they all hold one
	 * here: the copy makes them as copies of the source's) */
	{
		const char **srcs = sb_xcalloc(c.n + 1, sizeof(char *));
		struct sb_copy_spec cs;
		size_t n = 0;
		sb_autoclose int dfd = open(dest2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (size_t i = 0; i < c.n; i++)
			if (c.v[i].kind != SB_CLOSURE_DIR)
				srcs[n++] = c.v[i].path;
		memset(&cs, 0, sizeof(cs));
		cs.src_fd = rootfd;
		cs.srcs = srcs;
		cs.nsrcs = n;
		cs.dest = "/";
		cs.dst_fd = dfd;
		cs.parents = true;
		cs.unpack = -1;
		if (sb_copy_run(&cs, &err) < 0)
			fail_msg("COPY --parents: %s", err->msg);
		free(srcs);
	}
	for (int k = 0; k < 2; k++) {
		const char *d = k ? dest2 : dest;
		same_metadata(root, &c, d);
		{
			sb_autofree char *a = sb_xasprintf("%s/app/a/h1", d), *b = sb_xasprintf("%s/app/b/h2", d);
			assert_int_equal(stat(a, &s1), 0);
			assert_int_equal(stat(b, &s2), 0);
			assert_int_equal(s1.st_ino, s2.st_ino);
			assert_int_equal(s1.st_nlink, 2);
		}
		{
			sb_autofree char *a = sb_xasprintf("%s/app/bin/capped", root), *b = sb_xasprintf("%s/app/bin/capped", d);
			ncap = getxattr(a, "security.capability", cap, sizeof(cap));
			assert_true(ncap > 0);
			assert_int_equal(getxattr(b, "security.capability", cap2, sizeof(cap2)), ncap);
			assert_memory_equal(cap, cap2, (size_t)ncap);
		}
		{
			sb_autofree char *b = sb_xasprintf("%s/app/share/deep", d);
			char v[8];
			assert_int_equal(getxattr(b, "user.sb", v, sizeof(v)), 3);
			assert_memory_equal(v, "yes", 3);
		}
	}
	sb_closure_release(&c);

	/* a relative pattern is refused */
	{
		const char *bad[] = { "app/*" };
		o.includes = bad;
		o.nincludes = 1;
		assert_int_equal(sb_closure_build(rootfd, NULL, &o, &c, &err), -1);
		assert_int_equal(err->code, EINVAL);
		sb_error_free(err);
		err = NULL;
	}
	/* bounded */
	{
		const char *all[] = { "/app/**" };
		o.includes = all;
		o.nincludes = 1;
		o.max_entries = 5;
		assert_int_equal(sb_closure_build(rootfd, NULL, &o, &c, &err), -1);
		assert_int_equal(err->code, E2BIG);
		sb_error_free(err);
	}
	close(rootfd);
}

/* ---- language awareness ---- */

/* A trace result of paths that exist, as the tracer records them. */
static void fake_trace(struct sb_trace_result *tr, const char *const *paths, size_t n)
{
	memset(tr, 0, sizeof(*tr));
	tr->rootfd = -1;
	tr->paths = sb_xcalloc(n, sizeof(*tr->paths));
	tr->npaths = n;
	for (size_t i = 0; i < n; i++) {
		tr->paths[i].path = sb_xstrdup(paths[i]);
		tr->paths[i].flags = SB_PATH_EXISTS;
	}
}

static void test_closure_python(void **state)
{
	sb_autofree char *root = fresh_dir("py");
	const char *sp = "usr/lib/python3.11/site-packages";
	const char *traced[] = {
		"/usr/lib/python3.11/site-packages/pkg/sub/__pycache__/x.cpython-311.pyc",
		"/usr/lib/python3.11/site-packages/pkg/__pycache__/mod.cpython-311.pyc",
		"/usr/lib/python3.11/site-packages/six.py",
		"/usr/lib/python3.11/site-packages/Flask_Thing/api.py",
	};
	struct sb_trace_result tr;
	struct sb_closure c;
	struct sb_error *err = NULL;
	int rootfd;
	(void)state;

	mkdirs(root, "usr/lib/python3.11/site-packages/pkg/sub/__pycache__", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/pkg/__pycache__", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/pkg-1.0.dist-info", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/other-2.0.dist-info", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/six-1.16.0.dist-info", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/Flask_Thing", 0755);
	mkdirs(root, "usr/lib/python3.11/site-packages/flask_thing-0.1.dist-info", 0755);
	{
		static const char *const files[][2] = {
			{ "pkg/__init__.py", "" },
			{ "pkg/__pycache__/__init__.cpython-311.pyc", "" },
			{ "pkg/mod.py", "" },
			{ "pkg/__pycache__/mod.cpython-311.pyc", "" },
			{ "pkg/__pycache__/mod.cpython-312.pyc", "" },
			{ "pkg/__pycache__/model.cpython-311.pyc", "" },
			{ "pkg/other.py", "" },
			{ "pkg/sub/__init__.py", "" },
			{ "pkg/sub/x.py", "" },
			{ "pkg/sub/__pycache__/x.cpython-311.pyc", "" },
			{ "pkg-1.0.dist-info/METADATA", "Name: pkg\n" },
			{ "pkg-1.0.dist-info/top_level.txt", "pkg\n" },
			{ "pkg-1.0.dist-info/RECORD", "pkg/__init__.py,,\n" },
			{ "other-2.0.dist-info/top_level.txt", "other\n" },
			{ "six.py", "" },
			{ "six-1.16.0.dist-info/METADATA", "Name: six\n" },
			{ "six-1.16.0.dist-info/RECORD", "six.py,sha256=x,1\n__pycache__/six.cpython-311.pyc,,\n" },
			{ "Flask_Thing/__init__.py", "" },
			{ "Flask_Thing/api.py", "" },
			{ "flask_thing-0.1.dist-info/METADATA", "" },
		};
		for (size_t i = 0; i < SB_ARRAY_SIZE(files); i++) {
			sb_autofree char *rel = sb_xasprintf("%s/%s", sp, files[i][0]);
			touch(root, rel, 0644, files[i][1]);
		}
	}
	/* Node */
	mkdirs(root, "app/node_modules/a/lib", 0755);
	mkdirs(root, "app/node_modules/b", 0755);
	touch(root, "app/package.json", 0644, "{}");
	touch(root, "app/node_modules/a/package.json", 0644, "{}");
	touch(root, "app/node_modules/a/lib/package.json", 0644, "{}");
	touch(root, "app/node_modules/a/lib/x.js", 0644, "");
	touch(root, "app/node_modules/a/lib/y.js", 0644, "");
	touch(root, "app/node_modules/b/package.json", 0644, "{}");

	{
		const char *all[SB_ARRAY_SIZE(traced) + 1];
		memcpy(all, traced, sizeof(traced));
		all[SB_ARRAY_SIZE(traced)] = "/app/node_modules/a/lib/x.js";
		fake_trace(&tr, all, SB_ARRAY_SIZE(all));
	}
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	if (sb_closure_build(rootfd, &tr, NULL, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);
#define SP "/usr/lib/python3.11/site-packages/"
	expect(&c, SP "pkg/sub/x.py", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg/sub/__pycache__/x.cpython-311.pyc", SB_CLOSURE_FILE, SB_KEEP_TRACED, NULL);
	expect(&c, SP "pkg/sub/__init__.py", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg/__init__.py", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg/__pycache__/__init__.cpython-311.pyc", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg/mod.py", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg/__pycache__/mod.cpython-312.pyc", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect_not(&c, SP "pkg/__pycache__/model.cpython-311.pyc");
	expect_not(&c, SP "pkg/other.py");
	expect(&c, SP "pkg-1.0.dist-info", SB_CLOSURE_DIR, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg-1.0.dist-info/METADATA", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "pkg-1.0.dist-info/RECORD", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "six-1.16.0.dist-info/METADATA", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	/* by the normalised name alone */
	expect(&c, SP "flask_thing-0.1.dist-info/METADATA", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect(&c, SP "Flask_Thing/__init__.py", SB_CLOSURE_FILE, SB_KEEP_PYTHON, NULL);
	expect_not(&c, SP "other-2.0.dist-info/top_level.txt");
	expect_not(&c, SP "other-2.0.dist-info");
	/* site-packages itself is no package */
	expect(&c, "/usr/lib/python3.11/site-packages", SB_CLOSURE_DIR, SB_KEEP_PARENT, NULL);
	assert_true(c.evidence & SB_KEEP_PYTHON);
	/* Node: every package.json up the tree */
	expect(&c, "/app/node_modules/a/lib/package.json", SB_CLOSURE_FILE, SB_KEEP_NODE, NULL);
	expect(&c, "/app/node_modules/a/package.json", SB_CLOSURE_FILE, SB_KEEP_NODE, NULL);
	expect(&c, "/app/package.json", SB_CLOSURE_FILE, SB_KEEP_NODE, NULL);
	expect_not(&c, "/app/node_modules/b/package.json");
	expect_not(&c, "/app/node_modules/a/lib/y.js");
	assert_true(c.evidence & SB_KEEP_NODE);
#undef SP
	sb_closure_release(&c);
	sb_trace_result_release(&tr);
	close(rootfd);
}

/* TLS and gconv evidence on a hand-made tree. */
static void test_closure_tls_gconv(void **state)
{
	sb_autofree char *root = fresh_dir("tls");
	const char *traced[] = { "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache",
				 "/usr/lib/x86_64-linux-gnu/libssl.so.3" };
	struct sb_trace_result tr;
	struct sb_closure c;
	struct sb_error *err = NULL;
	int rootfd;
	(void)state;

	mkdirs(root, "etc/ssl/certs", 0755);
	mkdirs(root, "usr/lib/ssl", 0755);
	mkdirs(root, "usr/share/ca-certificates/mozilla", 0755);
	mkdirs(root, "usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d", 0755);
	touch(root, "etc/ssl/certs/ca-certificates.crt", 0644, "certs");
	touch(root, "etc/ssl/openssl.cnf", 0644, "cnf");
	touch(root, "usr/share/ca-certificates/mozilla/A.crt", 0644, "a");
	touch(root, "usr/lib/x86_64-linux-gnu/libssl.so.3", 0644, "not really");
	touch(root, "usr/lib/x86_64-linux-gnu/gconv/gconv-modules", 0644, "");
	touch(root, "usr/lib/x86_64-linux-gnu/gconv/gconv-modules.cache", 0644, "");
	touch(root, "usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d/gconv-modules-extra.conf", 0644, "");
	touch(root, "usr/lib/x86_64-linux-gnu/gconv/UTF-7.so", 0644, "");
	assert_int_equal(sh("cd %s && ln -s /etc/ssl/certs usr/lib/ssl/certs && ln -s ../../../etc/ssl/openssl.cnf "
			    "usr/lib/ssl/openssl.cnf && ln -s /usr/share/ca-certificates/mozilla/A.crt etc/ssl/certs/A.pem",
			    root),
			 0);
	fake_trace(&tr, traced, 2);
	rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	if (sb_closure_build(rootfd, &tr, NULL, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);
	assert_true(c.evidence & SB_KEEP_TLS);
	assert_true(c.evidence & SB_KEEP_GCONV);
	expect(&c, "/etc/ssl/certs/ca-certificates.crt", SB_CLOSURE_FILE, SB_KEEP_TLS, NULL);
	expect(&c, "/etc/ssl/openssl.cnf", SB_CLOSURE_FILE, SB_KEEP_TLS, NULL);
	expect(&c, "/usr/lib/ssl/certs", SB_CLOSURE_SYMLINK, SB_KEEP_TLS, "/etc/ssl/certs");
	expect(&c, "/usr/lib/ssl/openssl.cnf", SB_CLOSURE_SYMLINK, SB_KEEP_TLS, NULL);
	expect_not(&c, "/etc/ssl/certs/A.pem");
	expect_not(&c, "/usr/share/ca-certificates/mozilla/A.crt");
	expect(&c, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules", SB_CLOSURE_FILE, SB_KEEP_GCONV, NULL);
	expect(&c, "/usr/lib/x86_64-linux-gnu/gconv/gconv-modules.d/gconv-modules-extra.conf", SB_CLOSURE_FILE,
	       SB_KEEP_GCONV, NULL);
	expect_not(&c, "/usr/lib/x86_64-linux-gnu/gconv/UTF-7.so");
	sb_closure_release(&c);
	sb_trace_result_release(&tr);

	/* no evidence, none of it */
	fake_trace(&tr, NULL, 0);
	if (sb_closure_build(rootfd, &tr, NULL, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);
	assert_int_equal(c.evidence, 0);
	assert_int_equal(c.n, 0);
	sb_closure_release(&c);
	sb_trace_result_release(&tr);
	close(rootfd);
}

/* ---- dpkg ---- */

static void test_dpkg_status_d(void **state)
{
	static const char *const traced[] = { "/bin", "/usr/bin/ls" };
	struct sb_trace_result tr;
	struct sb_closure c;
	struct sb_error *err = NULL;
	struct sb_dpkg_counts counts;
	sb_autofree char *dest = NULL;
	struct sb_strbuf text = SB_STRBUF_INIT;
	int rootfd;
	(void)state;
	NEED_ROOTFS();

	fake_trace(&tr, traced, 2);
	tr.paths[0].flags |= SB_PATH_SYMLINK;
	tr.paths[0].target = sb_xstrdup("usr/bin");
	tr.paths[1].flags |= SB_PATH_EXEC;
	rootfd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	assert_true(rootfd >= 0);
	if (sb_closure_build(rootfd, &tr, NULL, &c, &err) < 0)
		fail_msg("closure: %s", err->msg);
	dest = fresh_dir("dpkg");
	if (sb_closure_copy(rootfd, &c, dest, &err) < 0)
		fail_msg("copy: %s", err->msg);
	if (sb_dpkg_write_status_d(rootfd, &c, dest, &counts, &err) < 0)
		fail_msg("dpkg: %s", err->msg);
	print_message("dpkg: %zu of %zu packages kept, %zu md5sums lines\n", counts.after, counts.before, counts.md5sums);
	assert_true(counts.before > 80);
	if (counts.after < 4 || counts.after >= 10)
		fail_msg("%zu of %zu packages kept", counts.after, counts.before);
	{
		static const char *const want[] = { "coreutils", "libc6", "libselinux1", "libpcre2-8-0", "base-files" };
		static const char *const not[] = { "apt", "dpkg", "bash", "tzdata", "coreutils.md5sums.md5sums" };
		for (size_t i = 0; i < SB_ARRAY_SIZE(want); i++) {
			sb_autofree char *p = sb_xasprintf("%s/var/lib/dpkg/status.d/%s", dest, want[i]);
			sb_autofree char *head = sb_xasprintf("Package: %s\n", want[i]);
			sb_strbuf_reset(&text);
			if (sb_read_file(AT_FDCWD, p, 1 << 20, &text, NULL) < 0)
				fail_msg("no status.d/%s", want[i]);
			if (strncmp(text.buf, head, strlen(head)) != 0)
				fail_msg("status.d/%s: %.80s", want[i], text.buf);
			assert_non_null(strstr(text.buf, "\nStatus: install ok installed\n"));
			assert_null(strstr(text.buf, "\n\n"));
		}
		for (size_t i = 0; i < SB_ARRAY_SIZE(not); i++) {
			sb_autofree char *p = sb_xasprintf("%s/var/lib/dpkg/status.d/%s", dest, not[i]);
			assert_int_equal(access(p, F_OK), -1);
		}
	}
	/* md5sums: only the kept files, and they match */
	{
		sb_autofree char *p = sb_xasprintf("%s/var/lib/dpkg/status.d/coreutils.md5sums", dest);
		sb_strbuf_reset(&text);
		assert_int_equal(sb_read_file(AT_FDCWD, p, 1 << 20, &text, NULL), 0);
		assert_non_null(strstr(text.buf, "  bin/ls\n"));
		assert_null(strstr(text.buf, "bin/cat"));
		assert_int_equal(strchr(text.buf, '\n') - text.buf + 1, (long)text.len);
	}
	assert_int_equal(sh("cd %s && for f in var/lib/dpkg/status.d/*.md5sums; do md5sum --quiet -c $f || exit 1; done",
			    dest),
			 0);
	{
		sb_autofree char *p = sb_xasprintf("%s/var/lib/dpkg/status.d/libc6.md5sums", dest);
		sb_strbuf_reset(&text);
		assert_int_equal(sb_read_file(AT_FDCWD, p, 1 << 20, &text, NULL), 0);
		assert_non_null(strstr(text.buf, "x86_64-linux-gnu/libc.so.6\n"));
		assert_null(strstr(text.buf, "libnss_dns"));
	}
	/* no full database; the directories above status.d as in the rootfs */
	{
		sb_autofree char *p = sb_xasprintf("%s/var/lib/dpkg/status", dest);
		sb_autofree char *a = sb_xasprintf("%s/var/lib/dpkg", base), *b = sb_xasprintf("%s/var/lib/dpkg", dest);
		struct stat sa, sb;
		assert_int_equal(access(p, F_OK), -1);
		assert_int_equal(stat(a, &sa), 0);
		assert_int_equal(stat(b, &sb), 0);
		assert_int_equal(sa.st_mode, sb.st_mode);
		assert_int_equal(sa.st_mtim.tv_sec, sb.st_mtim.tv_sec);
	}
	sb_strbuf_release(&text);
	sb_closure_release(&c);
	sb_trace_result_release(&tr);
	close(rootfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_closure_minbase_run),
		cmocka_unit_test(test_closure_copy_metadata),
		cmocka_unit_test(test_closure_python),
		cmocka_unit_test(test_closure_tls_gconv),
		cmocka_unit_test(test_dpkg_status_d),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
