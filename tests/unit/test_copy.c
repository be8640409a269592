#include "tests/unit/sb_test.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/match.h"

/* ---------------------------------------------------------------- helpers */

struct fx {
	char dir[64];
	int src, dst;
	pid_t server; /* the test's HTTP server, stopped by teardown */
};

/* Strings the tests build inline (paths in assertions), freed after the
 * group so that LeakSanitizer sees only the library's leaks. */
static char *kept[8192];
static size_t nkept;
static char *keep(char *p)
{
	assert_true(nkept < SB_ARRAY_SIZE(kept));
	kept[nkept++] = p;
	return p;
}
static int free_kept(void **state)
{
	(void)state;
	while (nkept)
		free(kept[--nkept]);
	return 0;
}
#define sb_xasprintf(...) keep((sb_xasprintf)(__VA_ARGS__))

static void sh(const char *fmt, ...) SB_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd = NULL;
	va_start(ap, fmt);
	assert_true(vasprintf(&cmd, fmt, ap) >= 0);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

static int setup(void **state)
{
	struct fx *f = sb_xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/sb-copy-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	sh("mkdir -p %s/src %s/dst", f->dir, f->dir);
	f->src = open(sb_xasprintf("%s/src", f->dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	f->dst = open(sb_xasprintf("%s/dst", f->dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(f->src >= 0 && f->dst >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	if (f->server > 0) {
		kill(f->server, SIGTERM);
		waitpid(f->server, NULL, 0);
	}
	close(f->src);
	close(f->dst);
	sh("rm -rf %s", f->dir);
	free(f);
	return 0;
}

static void spec_init(struct sb_copy_spec *s, struct fx *f, const char *const *srcs, size_t n, const char *dest)
{
	memset(s, 0, sizeof(*s));
	s->src_fd = f->src;
	s->src_is_context = true;
	s->srcs = srcs;
	s->nsrcs = n;
	s->dest = dest;
	s->dst_fd = f->dst;
	s->unpack = -1;
}

static void run_ok(const struct sb_copy_spec *s)
{
	struct sb_error *err = NULL;
	int r = sb_copy_run(s, &err);
	if (r < 0)
		fail_msg("copy failed: %s", err->msg);
}

static char *run_err(const struct sb_copy_spec *s)
{
	struct sb_error *err = NULL;
	char *msg;
	assert_int_equal(sb_copy_run(s, &err), -1);
	assert_non_null(err);
	msg = sb_xstrdup(err->msg);
	sb_error_free(err);
	return msg;
}

static struct stat lst(struct fx *f, const char *rel)
{
	struct stat st;
	if (fstatat(f->dst, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		fail_msg("missing %s", rel);
	return st;
}

static bool exists(struct fx *f, const char *rel)
{
	struct stat st;
	return fstatat(f->dst, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static char *content(struct fx *f, const char *rel)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	assert_int_equal(sb_read_file(f->dst, rel, 0, &sb, NULL), 0);
	return keep(sb_strbuf_detach(&sb, NULL));
}

static void write_src(struct fx *f, const char *rel, const char *data, mode_t mode)
{
	sh("mkdir -p \"$(dirname %s/src/%s)\"", f->dir, rel);
	assert_int_equal(sb_write_file_atomic(f->src, rel, data, strlen(data), mode, NULL), 0);
	assert_int_equal(fchmodat(f->src, rel, mode, 0), 0);
}

/* ---------------------------------------------------------------- matching */

static void test_go_match(void **state)
{
	static const struct {
		const char *pattern, *name;
		int want;
	} cases[] = {
		/* from Go's path/filepath match_test.go */
		{ "abc", "abc", 1 },      { "*", "abc", 1 },          { "*c", "abc", 1 },
		{ "a*", "a", 1 },         { "a*", "abc", 1 },         { "a*", "ab/c", 0 },
		{ "a*/b", "abc/b", 1 },   { "a*/b", "a/c/b", 0 },     { "a*b*c*d*e*/f", "axbxcxdxe/f", 1 },
		{ "a*b*c*d*e*/f", "axbxcxdxexxx/f", 1 }, { "a*b*c*d*e*/f", "axbxcxdxe/xxx/f", 0 },
		{ "ab[c]", "abc", 1 },    { "ab[b-d]", "abc", 1 },    { "ab[e-g]", "abc", 0 },
		{ "ab[^c]", "abc", 0 },   { "ab[^b-d]", "abc", 0 },   { "ab[^e-g]", "abc", 1 },
		{ "a\\*b", "a*b", 1 },    { "a\\*b", "ab", 0 },       { "a?b", "a☺b", 1 },
		{ "a[^a]b", "a☺b", 1 },   { "a???b", "a☺b", 0 },      { "a[^a][^a][^a]b", "a☺b", 0 },
		{ "[a-ζ]*", "α", 1 },     { "*[a-ζ]", "A", 0 },       { "a?b", "a/b", 0 },
		{ "a*b", "a/b", 0 },      { "[\\]a]", "]", 1 },       { "[\\-]", "-", 1 },
		{ "[x\\-]", "x", 1 },     { "[x\\-]", "-", 1 },       { "[x\\-]", "z", 0 },
		{ "[\\-x]", "x", 1 },     { "[\\-x]", "a", 0 },       { "[]a]", "]", -1 },
		{ "[-]", "-", -1 },       { "[x-]", "x", -1 },        { "[a-b-c]", "a", -1 },
		{ "[", "a", -1 },         { "[^", "a", -1 },          { "[^bc", "a", -1 },
		{ "a[", "a", -1 },        { "a[", "ab", -1 },         { "a[", "x", -1 },
		{ "a/b[", "x", -1 },      { "*x", "xxx", 1 },
	};
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(cases); i++) {
		int got = sb_go_match(cases[i].pattern, cases[i].name);
		if (got != cases[i].want)
			fail_msg("Match(%s, %s) = %d, want %d", cases[i].pattern, cases[i].name, got, cases[i].want);
	}
	assert_true(sb_has_wildcards("a*"));
	assert_true(sb_has_wildcards("[ab]"));
	assert_false(sb_has_wildcards("a\\*"));
	assert_false(sb_has_wildcards("plain/path"));
}

static bool ign(const char *text, const char *path)
{
	struct sb_ignore *ig = NULL;
	struct sb_error *err = NULL;
	bool r;
	if (sb_ignore_parse(text, &ig, &err) < 0)
		fail_msg("parse: %s", err->msg);
	r = sb_ignore_match(ig, path);
	sb_ignore_free(ig);
	return r;
}

static void test_ignore_patterns(void **state)
{
	static const struct {
		const char *pattern, *path;
		bool want;
	} cases[] = {
		/* moby/patternmatcher TestMatches */
		{ "**", "file", true },          { "**", "file/", true },           { "**/", "file", true },
		{ "**/", "file/", true },        { "**", "/", true },               { "**/", "/", true },
		{ "**", "dir/file", true },      { "**/", "dir/file", true },       { "**", "dir/file/", true },
		{ "**/", "dir/file/", true },    { "**/**", "dir/file", true },     { "**/**", "dir/file/", true },
		{ "dir/**", "dir/file", true },  { "dir/**", "dir/file/", true },   { "dir/**", "dir/dir2/file", true },
		{ "dir/**", "dir/dir2/file/", true }, { "**/dir", "dir", true },    { "**/dir", "dir/file", true },
		{ "**/dir2/*", "dir/dir2/file", true }, { "**/dir2/*", "dir/dir2/file/", true },
		{ "**/dir2/**", "dir/dir2/dir3/file", true }, { "**/dir2/**", "dir/dir2/dir3/file/", true },
		{ "**file", "file", true },      { "**file", "dir/file", true },    { "**/file", "dir/file", true },
		{ "**file", "dir/dir/file", true }, { "**/file", "dir/dir/file", true },
		{ "**/file*", "dir/dir/file", true }, { "**/file*", "dir/dir/file.txt", true },
		{ "**/file*txt", "dir/dir/file.txt", true }, { "**/file*.txt", "dir/dir/file.txt", true },
		{ "**/file*.txt*", "dir/dir/file.txt", true }, { "**/**/*.txt", "dir/dir/file.txt", true },
		{ "**/**/*.txt2", "dir/dir/file.txt", false }, { "**/*.txt", "file.txt", true },
		{ "**/**/*.txt", "file.txt", true }, { "a**/*.txt", "a/file.txt", true },
		{ "a**/*.txt", "a/dir/file.txt", true }, { "a**/*.txt", "a/dir/dir/file.txt", true },
		{ "a/*.txt", "a/dir/file.txt", false }, { "a/*.txt", "a/file.txt", true },
		{ "a/*.txt**", "a/file.txt", true }, { "a[b-d]e", "ae", false }, { "a[b-d]e", "ace", true },
		{ "a[b-d]e", "aae", false },     { "a[^b-d]e", "aze", true },       { ".*", ".foo", true },
		{ ".*", "foo", false },          { "abc.def", "abcdef", false },    { "abc.def", "abc.def", true },
		{ "abc.def", "abcZdef", false }, { "abc?def", "abcZdef", true },    { "abc?def", "abcdef", false },
		{ "a\\\\", "a\\", true },        { "**/foo/bar", "foo/bar", true }, { "**/foo/bar", "dir/foo/bar", true },
		{ "**/foo/bar", "dir/dir2/foo/bar", true }, { "abc/**", "abc", false }, { "abc/**", "abc/def", true },
		{ "abc/**", "abc/def/ghi", true }, { "**/.foo", ".foo", true },     { "**/.foo", "bar.foo", false },
		{ "a(b)c/def", "a(b)c/def", true }, { "a(b)c/def", "a(b)c/xyz", false }, { "a.|)$(}+{bc", "a.|)$(}+{bc", true },
		{ "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
		{ "dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true },
		/* parents match (MatchesOrParentMatches), cleaning, anchoring */
		{ "dir", "dir/sub/file", true }, { "/dir", "dir/file", true },      { "./dir/", "dir/file", true },
		{ "dir/../other", "other", true }, { "*.md", "docs/x.md", false },  { "*/*.md", "docs/x.md", true },
		{ "# comment", "# comment", false }, { "  spaced  ", "spaced", true },
	};
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(cases); i++) {
		if (ign(cases[i].pattern, cases[i].path) != cases[i].want)
			fail_msg("pattern %s on %s: want %d", cases[i].pattern, cases[i].path, cases[i].want);
	}
	/* exceptions, in order */
	assert_true(ign("*.go\n!keep.go\n", "a.go"));
	assert_false(ign("*.go\n!keep.go\n", "keep.go"));
	assert_true(ign("!keep.go\n*.go\n", "keep.go"));
	assert_false(ign("docs\n!docs/README.md\n", "docs/README.md"));
	assert_true(ign("docs\n!docs/README.md\n", "docs/other.md"));
	assert_false(ign("**/*.log\n!important/*.log\n", "important/x.log"));
	assert_false(sb_ignore_match(NULL, "anything"));
	/* a bad pattern is an error */
	{
		struct sb_ignore *ig = NULL;
		struct sb_error *err = NULL;
		assert_int_equal(sb_ignore_parse("[\n", &ig, &err), -1);
		assert_non_null(strstr(err->msg, "syntax error in pattern"));
		sb_error_free(err);
		err = NULL;
		assert_int_equal(sb_ignore_parse("!\n", &ig, &err), -1);
		sb_error_free(err);
	}
}

static void test_ignore_load(void **state)
{
	struct fx *f = *state;
	struct sb_ignore *ig = NULL;
	struct sb_error *err = NULL;

	assert_int_equal(sb_ignore_load(f->src, "Dockerfile", &ig, &err), 0);
	assert_null(ig);
	write_src(f, ".dockerignore", "a\n", 0644);
	assert_int_equal(sb_ignore_load(f->src, "Dockerfile", &ig, &err), 0);
	assert_true(sb_ignore_match(ig, "a"));
	assert_false(sb_ignore_match(ig, "b"));
	sb_ignore_free(ig);
	/* <Dockerfile>.dockerignore wins */
	write_src(f, "build.Dockerfile.dockerignore", "b\n", 0644);
	assert_int_equal(sb_ignore_load(f->src, "sub/build.Dockerfile", &ig, &err), 0);
	assert_false(sb_ignore_match(ig, "a"));
	assert_true(sb_ignore_match(ig, "b"));
	sb_ignore_free(ig);
}

static void test_chmod_parse(void **state)
{
	struct sb_chmod m;
	struct sb_error *err = NULL;
	(void)state;
	assert_int_equal(sb_chmod_parse("755", &m, &err), 0);
	assert_int_equal(sb_chmod_apply(&m, 0600, false), 0755);
	assert_int_equal(sb_chmod_parse("u+x,g-w", &m, &err), 0);
	assert_int_equal(sb_chmod_apply(&m, 0664, false), 0744);
	sb_chmod_release(&m);
	assert_int_equal(sb_chmod_parse("a=rX", &m, &err), 0);
	assert_int_equal(sb_chmod_apply(&m, 0600, false), 0444);
	assert_int_equal(sb_chmod_apply(&m, 0700, true), 0555);
	assert_int_equal(sb_chmod_apply(&m, 0700, false), 0555);
	sb_chmod_release(&m);
	assert_int_equal(sb_chmod_parse("go=u", &m, &err), 0);
	assert_int_equal(sb_chmod_apply(&m, 0640, false), 0666);
	sb_chmod_release(&m);
	assert_int_equal(sb_chmod_parse("+x", &m, &err), 0);
	assert_int_equal(sb_chmod_apply(&m, 0644, false), 0755);
	sb_chmod_release(&m);
	assert_int_equal(sb_chmod_parse("8", &m, &err), -1);
	assert_non_null(strstr(err->msg, "octal"));
	sb_error_free(err);
	err = NULL;
	assert_int_equal(sb_chmod_parse("010000", &m, &err), -1);
	sb_error_free(err);
	err = NULL;
	assert_int_equal(sb_chmod_parse("u*x", &m, &err), -1);
	sb_error_free(err);
}

static void test_url_helpers(void **state)
{
	(void)state;
	assert_string_equal(keep(sb_url_file_name("https://example.com/a/b/file.tar.gz?x=1#f")), "file.tar.gz");
	assert_string_equal(keep(sb_url_file_name("https://example.com/")), "__unnamed__");
	assert_string_equal(keep(sb_url_file_name("https://example.com")), "__unnamed__");
	assert_string_equal(keep(sb_url_file_name("http://h/dir/")), "dir");
	assert_true(sb_is_url("HTTPS://x"));
	assert_false(sb_is_url("ftp://x"));
	assert_true(sb_is_git_url("https://github.com/moby/buildkit.git#v0.10.1"));
	assert_true(sb_is_git_url("git@github.com:moby/buildkit.git"));
	assert_false(sb_is_git_url("https://example.com/file.tar"));
}

/* ---------------------------------------------------------------- copies */

static void test_copy_file(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "a.txt" };
	struct sb_copy_spec s;
	struct timespec ts[2] = { { 1000000, 0 }, { 1234567, 500 } };
	struct stat st;

	write_src(f, "a.txt", "hello", 0640);
	assert_int_equal(fchownat(f->src, "a.txt", 1234, 4321, 0), 0);
	assert_int_equal(utimensat(f->src, "a.txt", ts, 0), 0);

	/* to a new name, parents created 0755 */
	spec_init(&s, f, srcs, 1, "/deep/er/b.txt");
	run_ok(&s);
	st = lst(f, "deep/er/b.txt");
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, 0); /* context files become 0:0 */
	assert_int_equal(st.st_gid, 0);
	assert_int_equal(st.st_mtim.tv_sec, 1234567);
	assert_string_equal(content(f, "deep/er/b.txt"), "hello");
	assert_int_equal(lst(f, "deep").st_mode & 07777, 0755);
	assert_int_equal(lst(f, "deep/er").st_mode & 07777, 0755);

	/* to an existing directory: inside it */
	spec_init(&s, f, srcs, 1, "/deep");
	run_ok(&s);
	assert_string_equal(content(f, "deep/a.txt"), "hello");

	/* a trailing slash makes a directory */
	spec_init(&s, f, srcs, 1, "newdir/");
	s.workdir = "/wd";
	run_ok(&s);
	assert_string_equal(content(f, "wd/newdir/a.txt"), "hello");

	/* "." is the workdir */
	spec_init(&s, f, srcs, 1, ".");
	s.workdir = "/w2";
	run_ok(&s);
	assert_string_equal(content(f, "w2/a.txt"), "hello");

	/* --from keeps owners */
	spec_init(&s, f, srcs, 1, "/from.txt");
	s.src_is_context = false;
	run_ok(&s);
	st = lst(f, "from.txt");
	assert_int_equal(st.st_uid, 1234);
	assert_int_equal(st.st_gid, 4321);

	/* overwrite an existing file */
	write_src(f, "a.txt", "second", 0600);
	spec_init(&s, f, srcs, 1, "/from.txt");
	run_ok(&s);
	assert_string_equal(content(f, "from.txt"), "second");
}

static void test_copy_dir(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "d" };
	struct sb_copy_spec s;
	struct stat st;
	struct timespec ts[2] = { { 5000, 0 }, { 5000, 0 } };

	write_src(f, "d/x", "x", 0644);
	write_src(f, "d/sub/y", "y", 0755);
	sh("chmod 0700 %s/src/d/sub", f->dir);
	assert_int_equal(symlinkat("../x", f->src, "d/sub/link"), 0);
	assert_int_equal(linkat(f->src, "d/x", f->src, "d/x-hard", 0), 0);
	assert_int_equal(setxattr(sb_xasprintf("%s/src/d/x", f->dir), "user.test", "v", 1, 0) == 0 || errno == ENOTSUP, 1);
	assert_int_equal(utimensat(f->src, "d/sub", ts, AT_SYMLINK_NOFOLLOW), 0);

	spec_init(&s, f, srcs, 1, "/out");
	run_ok(&s);
	/* the contents, not the directory */
	assert_false(exists(f, "out/d"));
	assert_string_equal(content(f, "out/x"), "x");
	assert_string_equal(content(f, "out/sub/y"), "y");
	assert_int_equal(lst(f, "out/sub/y").st_mode & 07777, 0755);
	st = lst(f, "out/sub");
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(st.st_mtim.tv_sec, 5000);
	/* the destination itself: 0755, made by MkdirAll */
	assert_int_equal(lst(f, "out").st_mode & 07777, 0755);
	/* symlinks stay symlinks */
	{
		char target[64];
		ssize_t n = readlinkat(f->dst, "out/sub/link", target, sizeof(target) - 1);
		assert_true(n > 0);
		target[n] = '\0';
		assert_string_equal(target, "../x");
	}
	/* hard links stay links */
	assert_int_equal(lst(f, "out/x").st_ino, lst(f, "out/x-hard").st_ino);
	{
		char v[8];
		ssize_t n = getxattr(sb_xasprintf("%s/dst/out/x", f->dir), "user.test", v, sizeof(v));
		if (n >= 0) {
			assert_int_equal(n, 1);
			assert_int_equal(v[0], 'v');
		}
	}
}

static void test_copy_chown_chmod(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "d" };
	struct sb_copy_spec s;
	struct stat st;

	write_src(f, "d/x", "x", 0600);
	sh("mkdir -p %s/dst/etc && printf 'root:x:0:0::/root:/bin/sh\\napp:x:1001:1002::/home/app:/bin/sh\\n' > %s/dst/etc/passwd",
	   f->dir, f->dir);
	sh("printf 'root:x:0:\\nstaff:x:50:\\n' > %s/dst/etc/group", f->dir);

	spec_init(&s, f, srcs, 1, "/a/b/");
	s.chown = "app";
	s.chmod = "0751";
	run_ok(&s);
	st = lst(f, "a/b/x");
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 1002); /* the user's primary group */
	assert_int_equal(st.st_mode & 07777, 0751);
	/* created parents get the --chown owner */
	assert_int_equal(lst(f, "a").st_uid, 1001);
	assert_int_equal(lst(f, "a/b").st_gid, 1002);

	spec_init(&s, f, srcs, 1, "/n/");
	s.chown = "42";
	run_ok(&s);
	st = lst(f, "n/x");
	assert_int_equal(st.st_uid, 42);
	assert_int_equal(st.st_gid, 42); /* BuildKit: a numeric user's gid is the uid */

	spec_init(&s, f, srcs, 1, "/g/");
	s.chown = "app:staff";
	s.chmod = "u+x,g=r";
	run_ok(&s);
	st = lst(f, "g/x");
	assert_int_equal(st.st_uid, 1001);
	assert_int_equal(st.st_gid, 50);
	assert_int_equal(st.st_mode & 07777, 0740);

	spec_init(&s, f, srcs, 1, "/h/");
	s.chown = "7:8";
	run_ok(&s);
	st = lst(f, "h/x");
	assert_int_equal(st.st_uid, 7);
	assert_int_equal(st.st_gid, 8);
}

static void test_copy_symlink_source_followed(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "link" };
	const char *srcs2[] = { "dlink" };
	struct sb_copy_spec s;

	write_src(f, "real", "data", 0644);
	write_src(f, "rd/in", "in", 0644);
	assert_int_equal(symlinkat("/real", f->src, "link"), 0);
	assert_int_equal(symlinkat("rd", f->src, "dlink"), 0);
	spec_init(&s, f, srcs, 1, "/c/");
	run_ok(&s);
	assert_true(S_ISREG(lst(f, "c/link").st_mode));
	assert_string_equal(content(f, "c/link"), "data");
	spec_init(&s, f, srcs2, 1, "/e/");
	run_ok(&s);
	assert_string_equal(content(f, "e/in"), "in");
}

static void test_copy_dest_symlink_no_escape(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "a" };
	struct sb_copy_spec s;

	write_src(f, "a", "A", 0644);
	assert_int_equal(symlinkat("/", f->dst, "toroot"), 0);
	assert_int_equal(symlinkat("../../..", f->dst, "up"), 0);
	assert_int_equal(mkdirat(f->dst, "etc", 0755), 0);

	spec_init(&s, f, srcs, 1, "/toroot/etc/");
	run_ok(&s);
	assert_string_equal(content(f, "etc/a"), "A");
	spec_init(&s, f, srcs, 1, "/up/x/y");
	run_ok(&s);
	assert_string_equal(content(f, "x/y"), "A");
	/* nothing outside the destination root */
	assert_int_equal(access(sb_xasprintf("%s/x", f->dir), F_OK), -1);
	assert_int_equal(access("/x/y", F_OK), -1);
	/* a source can't leave its root either */
	{
		const char *up[] = { "../../../../etc/hostname" };
		char *msg;
		spec_init(&s, f, up, 1, "/h");
		msg = run_err(&s);
		assert_non_null(strstr(msg, "not found"));
		free(msg);
	}
}

static void test_copy_wildcards_and_errors(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;
	char *msg;

	write_src(f, "a1.txt", "1", 0644);
	write_src(f, "a2.txt", "2", 0644);
	write_src(f, "b.md", "b", 0644);
	write_src(f, "sub/a3.txt", "3", 0644);
	{
		const char *srcs[] = { "a*.txt" };
		spec_init(&s, f, srcs, 1, "/w");
		run_ok(&s); /* several matches: a directory */
		assert_string_equal(content(f, "w/a1.txt"), "1");
		assert_string_equal(content(f, "w/a2.txt"), "2");
		assert_false(exists(f, "w/a3.txt"));
	}
	{
		const char *srcs[] = { "a1*" };
		spec_init(&s, f, srcs, 1, "/single");
		run_ok(&s); /* one match: the destination names the file, as BuildKit */
		assert_string_equal(content(f, "single"), "1");
	}
	{
		const char *srcs[] = { "*/a?.txt" };
		spec_init(&s, f, srcs, 1, "/deep/");
		run_ok(&s);
		assert_string_equal(content(f, "deep/a3.txt"), "3");
	}
	{
		const char *srcs[] = { "a1.txt", "b.md" };
		spec_init(&s, f, srcs, 2, "/two");
		run_ok(&s);
		assert_string_equal(content(f, "two/b.md"), "b");
	}
	{
		const char *srcs[] = { "nope" };
		spec_init(&s, f, srcs, 1, "/x");
		msg = run_err(&s);
		assert_string_equal(msg, "\"nope\": not found");
		free(msg);
	}
	{
		const char *srcs[] = { "*.none" };
		spec_init(&s, f, srcs, 1, "/x/");
		msg = run_err(&s);
		assert_string_equal(msg, "\"*.none\": not found");
		free(msg);
	}
	{
		const char *srcs[] = { "http://example.com/x" };
		spec_init(&s, f, srcs, 1, "/x/");
		msg = run_err(&s);
		assert_non_null(strstr(msg, "URL for COPY"));
		free(msg);
	}
	{
		const char *srcs[] = { "https://github.com/a/b.git" };
		spec_init(&s, f, srcs, 1, "/x/");
		s.add = true;
		msg = run_err(&s);
		assert_non_null(strstr(msg, "not supported"));
		free(msg);
	}
}

static void test_copy_ignore_exclude(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;
	struct sb_ignore *ig = NULL;
	char *msg;

	write_src(f, "keep.txt", "k", 0644);
	write_src(f, "secret.key", "s", 0644);
	write_src(f, "docs/README.md", "r", 0644);
	write_src(f, "docs/other.md", "o", 0644);
	write_src(f, "node_modules/m/index.js", "m", 0644);
	assert_int_equal(sb_ignore_parse("*.key\ndocs\n!docs/README.md\nnode_modules\n", &ig, NULL), 0);
	{
		const char *srcs[] = { "." };
		spec_init(&s, f, srcs, 1, "/ctx/");
		s.ignore = ig;
		run_ok(&s);
		assert_true(exists(f, "ctx/keep.txt"));
		assert_false(exists(f, "ctx/secret.key"));
		assert_true(exists(f, "ctx/docs/README.md"));
		assert_false(exists(f, "ctx/docs/other.md"));
		assert_false(exists(f, "ctx/node_modules"));
	}
	{
		const char *srcs[] = { "secret.key" };
		spec_init(&s, f, srcs, 1, "/x");
		s.ignore = ig;
		msg = run_err(&s);
		assert_string_equal(msg, "\"secret.key\": not found");
		free(msg);
	}
	{
		const char *srcs[] = { "*.key" };
		spec_init(&s, f, srcs, 1, "/x/");
		s.ignore = ig;
		msg = run_err(&s);
		free(msg);
	}
	{
		/* --exclude, relative to the source */
		const char *srcs[] = { "." };
		const char *ex[] = { "*.md", "node_modules" };
		spec_init(&s, f, srcs, 1, "/ex/");
		s.excludes = ex;
		s.nexcludes = 2;
		run_ok(&s);
		assert_true(exists(f, "ex/keep.txt"));
		assert_true(exists(f, "ex/docs/README.md")); /* *.md is top-level only */
		assert_false(exists(f, "ex/node_modules"));
	}
	{
		const char *srcs[] = { "*" };
		const char *ex[] = { "*.txt", "**/*.md" };
		spec_init(&s, f, srcs, 1, "/ex2/");
		s.excludes = ex;
		s.nexcludes = 2;
		run_ok(&s);
		assert_false(exists(f, "ex2/keep.txt"));
		assert_true(exists(f, "ex2/secret.key"));
		assert_false(exists(f, "ex2/README.md"));
	}
	sb_ignore_free(ig);
}

static void test_copy_parents(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;

	write_src(f, "a/b/c.txt", "c", 0644);
	write_src(f, "a/b/d.txt", "d", 0644);
	write_src(f, "a/e/c.txt", "e", 0644);
	sh("chmod 0711 %s/src/a", f->dir);
	{
		const char *srcs[] = { "a/*/c.txt" };
		spec_init(&s, f, srcs, 1, "/p/");
		s.parents = true;
		run_ok(&s);
		assert_string_equal(content(f, "p/a/b/c.txt"), "c");
		assert_string_equal(content(f, "p/a/e/c.txt"), "e");
		assert_false(exists(f, "p/a/b/d.txt"));
		assert_int_equal(lst(f, "p/a").st_mode & 07777, 0711);
	}
	{
		const char *srcs[] = { "./a/./b/d.txt" };
		spec_init(&s, f, srcs, 1, "/q");
		s.parents = true;
		run_ok(&s);
		assert_string_equal(content(f, "q/b/d.txt"), "d");
		assert_false(exists(f, "q/a"));
	}
	/* fsutil's walk: a symlink named last is copied as a symlink, one
	 * above it is not followed (nothing copied), a missing source copies
	 * nothing and is no error */
	sh("ln -s b %s/src/a/lb && ln -s c.txt %s/src/a/b/lc", f->dir, f->dir);
	{
		const char *srcs[] = { "/a/lb", "/a/b/lc", "/a/lb/d.txt", "/a/missing" };
		struct stat st;
		char buf[64];
		ssize_t k;
		spec_init(&s, f, srcs, 4, "/r");
		s.parents = true;
		run_ok(&s);
		st = lst(f, "r/a/lb");
		assert_true(S_ISLNK(st.st_mode));
		assert_true(S_ISLNK(lst(f, "r/a/b/lc").st_mode));
		assert_false(exists(f, "r/a/b/d.txt"));
		assert_false(exists(f, "r/a/missing"));
		k = readlink(sb_xasprintf("%s/dst/r/a/lb", f->dir), buf, sizeof(buf) - 1); /* kept */
		assert_true(k == 1 && buf[0] == 'b');
		assert_int_equal(lst(f, "r/a").st_mode & 07777, 0711);
	}
	/* one instruction keeps hard links between its sources */
	sh("mkdir -p %s/src/h1 %s/src/h2 && echo linked > %s/src/h1/x && ln %s/src/h1/x %s/src/h2/y", f->dir, f->dir,
	   f->dir, f->dir, f->dir);
	{
		const char *srcs[] = { "/h1/x", "/h2/y" };
		spec_init(&s, f, srcs, 2, "/hl");
		s.parents = true;
		run_ok(&s);
		assert_string_equal(content(f, "hl/h2/y"), "linked\n");
		assert_int_equal(lst(f, "hl/h1/x").st_ino, lst(f, "hl/h2/y").st_ino);
		assert_int_equal(lst(f, "hl/h1/x").st_nlink, 2);
	}
}

static void test_copy_heredoc(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;
	struct sb_inline files[] = { { (char *)"EOF", (char *)"line\n", false, false } };
	struct stat st;

	spec_init(&s, f, NULL, 0, "/etc/conf");
	s.files = files;
	s.nfiles = 1;
	run_ok(&s);
	st = lst(f, "etc/conf");
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_string_equal(content(f, "etc/conf"), "line\n");
	spec_init(&s, f, NULL, 0, "/dir/");
	s.files = files;
	s.nfiles = 1;
	s.chmod = "755";
	run_ok(&s);
	assert_int_equal(lst(f, "dir/EOF").st_mode & 07777, 0755);
}

static void make_tar(struct fx *f, const char *name, const char *flags)
{
	sh("cd %s && mkdir -p t/top/in && echo hi > t/top/in/f && chown -R 5:6 t/top && "
	   "tar -C t %s -cf src/%s top && rm -rf t", f->dir, flags, name);
}

static void test_add_archive(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;
	static const struct {
		const char *name, *flags;
	} kinds[] = { { "p.tar", "" }, { "g.tgz", "-z" }, { "b.bin", "-j" }, { "x.xz", "-J" }, { "z.zst", "--zstd" } };

	for (size_t i = 0; i < SB_ARRAY_SIZE(kinds); i++) {
		const char *srcs[] = { kinds[i].name };
		char *dest = sb_xasprintf("/x%zu", i);
		char *probe = sb_xasprintf("x%zu/top/in/f", i);
		make_tar(f, kinds[i].name, kinds[i].flags);
		spec_init(&s, f, srcs, 1, dest);
		s.add = true;
		run_ok(&s);
		assert_string_equal(content(f, probe), "hi\n");
		assert_int_equal(lst(f, probe).st_uid, 5); /* owners from the archive */
		assert_int_equal(lst(f, probe).st_gid, 6);
	}
	{
		/* --chown wins; COPY and --unpack=false do not extract */
		const char *srcs[] = { "p.tar" };
		spec_init(&s, f, srcs, 1, "/own/");
		s.add = true;
		s.chown = "9:10";
		run_ok(&s);
		assert_int_equal(lst(f, "own/top/in/f").st_uid, 9);
		spec_init(&s, f, srcs, 1, "/copied/");
		run_ok(&s);
		assert_true(S_ISREG(lst(f, "copied/p.tar").st_mode));
		spec_init(&s, f, srcs, 1, "/noun/");
		s.add = true;
		s.unpack = 0;
		run_ok(&s);
		assert_true(S_ISREG(lst(f, "noun/p.tar").st_mode));
	}
	{
		/* a tar climbing out is refused, nothing lands outside */
		const char *srcs[] = { "evil.tar" };
		char *msg;
		sh("cd %s && python3 -c \"import tarfile,io;t=tarfile.open('src/evil.tar','w');"
		   "i=tarfile.TarInfo('../../escape');d=b'x';i.size=1;t.addfile(i,io.BytesIO(d));t.close()\"",
		   f->dir);
		spec_init(&s, f, srcs, 1, "/evil/");
		s.add = true;
		msg = run_err(&s);
		assert_non_null(strstr(msg, "climbs out"));
		free(msg);
		assert_int_equal(access(sb_xasprintf("%s/escape", f->dir), F_OK), -1);
		assert_int_equal(access(sb_xasprintf("%s/dst/escape", f->dir), F_OK), -1);
	}
}

/* ---------------------------------------------------------------- URLs */

static pid_t start_http(const char *dir, int *port)
{
	int p[2];
	pid_t pid;
	char buf[16] = "";
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(p[1], 3);
		dup2(null, 1);
		dup2(null, 2);
		if (chdir(dir) < 0)
			_exit(127);
		execlp("python3", "python3", "-c",
		       "import http.server,socketserver,os,sys\n"
		       "h=http.server.SimpleHTTPRequestHandler\n"
		       "h.log_message=lambda *a:None\n"
		       "s=socketserver.TCPServer(('127.0.0.1',0),h)\n"
		       "os.write(3,(str(s.server_address[1])+'\\n').encode())\n"
		       "s.serve_forever()\n",
		       (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	assert_true(read(p[0], buf, sizeof(buf) - 1) > 0);
	close(p[0]);
	*port = atoi(buf);
	return pid;
}

static void test_add_url(void **state)
{
	struct fx *f = *state;
	struct sb_copy_spec s;
	int port;
	pid_t pid;
	char sum[SB_DIGEST_SIZE];

	struct timespec ts[2] = { { 1600000000, 0 }, { 1600000000, 0 } };
	char *url = NULL; /* kept */
	char *msg;

	sh("mkdir -p %s/www && printf 'payload' > %s/www/file.bin", f->dir, f->dir);
	assert_int_equal(utimensat(AT_FDCWD, sb_xasprintf("%s/www/file.bin", f->dir), ts, 0), 0);
	pid = start_http(sb_xasprintf("%s/www", f->dir), &port);
	f->server = pid;
	url = sb_xasprintf("http://127.0.0.1:%d/file.bin", port);
	sb_sha256_digest("payload", 7, sum);
	{
		const char *srcs[] = { url };
		spec_init(&s, f, srcs, 1, "/dl/");
		s.add = true;
		s.checksum = sum;
		run_ok(&s);
		assert_string_equal(content(f, "dl/file.bin"), "payload");
		assert_int_equal(lst(f, "dl/file.bin").st_mode & 07777, 0600);
		assert_int_equal(lst(f, "dl/file.bin").st_mtim.tv_sec, 1600000000);

		spec_init(&s, f, srcs, 1, "/named");
		s.add = true;
		run_ok(&s);
		assert_string_equal(content(f, "named"), "payload");

		spec_init(&s, f, srcs, 1, "/bad/");
		s.add = true;
		s.checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
		msg = run_err(&s);
		assert_non_null(strstr(msg, "digest mismatch"));
		free(msg);
		assert_false(exists(f, "bad/file.bin"));
		assert_false(exists(f, "bad"));

		{
			char d1[SB_DIGEST_SIZE], d2[SB_DIGEST_SIZE];
			struct sb_error *err = NULL;
			spec_init(&s, f, srcs, 1, "/dl/");
			s.add = true;
			assert_int_equal(sb_copy_digest(&s, d1, &err), 0);
			s.checksum = sum;
			assert_int_equal(sb_copy_digest(&s, d2, &err), 0);
			assert_string_equal(d1, d2); /* the checksum is the content's digest */
		}
	}
	{
		const char *srcs[] = { sb_xasprintf("http://127.0.0.1:%d/missing", port) };
		spec_init(&s, f, srcs, 1, "/m/");
		s.add = true;
		msg = run_err(&s);
		assert_non_null(strstr(msg, "404"));
		free(msg);
	}
}

/* ---------------------------------------------------------------- digest */

static void test_digest(void **state)
{
	struct fx *f = *state;
	const char *srcs[] = { "d" };
	struct sb_copy_spec s;
	struct sb_error *err = NULL;
	char d1[SB_DIGEST_SIZE], d2[SB_DIGEST_SIZE], d3[SB_DIGEST_SIZE], d4[SB_DIGEST_SIZE];
	struct timespec ts[2] = { { 42, 0 }, { 42, 0 } };

	write_src(f, "d/a", "one", 0644);
	write_src(f, "d/b/c", "two", 0644);
	spec_init(&s, f, srcs, 1, "/x/");
	assert_int_equal(sb_copy_digest(&s, d1, &err), 0);
	assert_true(sb_digest_valid(d1));
	assert_int_equal(utimensat(f->src, "d/a", ts, 0), 0);
	assert_int_equal(sb_copy_digest(&s, d2, &err), 0);
	assert_string_equal(d1, d2); /* mtime is not content */
	write_src(f, "d/a", "One", 0644);
	assert_int_equal(sb_copy_digest(&s, d3, &err), 0);
	assert_string_not_equal(d1, d3);
	assert_int_equal(fchmodat(f->src, "d/a", 0755, 0), 0);
	assert_int_equal(sb_copy_digest(&s, d4, &err), 0);
	assert_string_not_equal(d3, d4);
	assert_int_equal(renameat(f->src, "d/b/c", f->src, "d/b/C"), 0);
	assert_int_equal(sb_copy_digest(&s, d1, &err), 0);
	assert_string_not_equal(d1, d4);
	/* a missing source fails as the copy would */
	{
		const char *none[] = { "none" };
		spec_init(&s, f, none, 1, "/x/");
		assert_int_equal(sb_copy_digest(&s, d1, &err), -1);
		assert_string_equal(err->msg, "\"none\": not found");
		sb_error_free(err);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_go_match),
		cmocka_unit_test(test_ignore_patterns),
		cmocka_unit_test_setup_teardown(test_ignore_load, setup, teardown),
		cmocka_unit_test(test_chmod_parse),
		cmocka_unit_test(test_url_helpers),
		cmocka_unit_test_setup_teardown(test_copy_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_chown_chmod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_symlink_source_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_dest_symlink_no_escape, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_wildcards_and_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_ignore_exclude, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_parents, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_heredoc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_archive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_url, setup, teardown),
		cmocka_unit_test_setup_teardown(test_digest, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, free_kept);
}
