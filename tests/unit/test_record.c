/* Profile records and seccomp profiles: describing a tree, the JSON round
 * trip, refusing hostile entries, syscall names. */
#include "tests/unit/sb_test.h"

#include <fcntl.h>
#include <jansson.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/record.h"

static char *make_tree(void)
{
	char tmpl[] = "/tmp/sbrecord.XXXXXX";
	char *d = sb_xstrdup(mkdtemp(tmpl));
	char *p;

	p = sb_xasprintf("%s/bin", d);
	assert_int_equal(mkdir(p, 0755), 0);
	free(p);
	p = sb_xasprintf("%s/bin/tool", d);
	assert_int_equal(sb_write_file_atomic(AT_FDCWD, p, "hello\n", 6, 04755, NULL), 0);
	/* chown clears setuid: owner first */
	assert_int_equal(chown(p, 12, 34), 0);
	assert_int_equal(chmod(p, 04755), 0);
	free(p);
	p = sb_xasprintf("%s/link", d);
	assert_int_equal(symlink("bin/tool", p), 0);
	free(p);
	/* a symlink leading out of the tree must be described, not followed */
	p = sb_xasprintf("%s/escape", d);
	assert_int_equal(symlink("/etc/shadow", p), 0);
	free(p);
	return d;
}

static void test_describe_and_round_trip(void **state)
{
	(void)state;
	sb_autofree char *d = make_tree();
	sb_autoclose int rootfd = open(d, O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *paths[] = { "/bin/tool", "/link", "/bin", "/missing", "/escape", "/escape/x", "/bin/tool" };
	struct sb_profile_record r, back;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	char want[SB_DIGEST_SIZE];

	memset(&r, 0, sizeof(r));
	assert_int_equal(sb_profile_describe(rootfd, paths, SB_ARRAY_SIZE(paths), &r.entries, &r.nentries, &err), 0);
	/* sorted, unique, missing ones and paths under a symlink left out */
	assert_int_equal(r.nentries, 4);
	assert_string_equal(r.entries[0].path, "/bin");
	assert_int_equal(r.entries[0].type, 'd');
	assert_string_equal(r.entries[1].path, "/bin/tool");
	assert_int_equal(r.entries[1].type, 'f');
	assert_int_equal(r.entries[1].mode, 04755);
	assert_int_equal(r.entries[1].uid, 12);
	assert_int_equal(r.entries[1].gid, 34);
	assert_int_equal(r.entries[1].size, 6);
	sb_sha256_digest("hello\n", 6, want);
	assert_string_equal(r.entries[1].digest, want);
	assert_string_equal(r.entries[2].path, "/escape");
	assert_int_equal(r.entries[2].type, 'l');
	assert_string_equal(r.entries[2].target, "/etc/shadow");
	assert_string_equal(r.entries[3].path, "/link");
	assert_string_equal(r.entries[3].target, "bin/tool");

	sb_sha256_digest("img", 3, r.source_image);
	r.tracer = sb_xstrdup("seccomp-notify");
	r.probes = sb_xcalloc(2, sizeof(char *));
	r.probes[0] = sb_xstrdup("http GET 8000/=200");
	r.nprobes = 1;
	{
		uint64_t bits[16] = { 0 };
		bits[SYS_read / 64] |= 1ull << (SYS_read % 64);
		bits[SYS_openat / 64] |= 1ull << (SYS_openat % 64);
		r.syscalls = sb_syscall_names(bits, 1024, &r.nsyscalls);
		assert_int_equal(r.nsyscalls, 2);
		assert_string_equal(r.syscalls[0], "openat");
		assert_string_equal(r.syscalls[1], "read");
	}
	assert_int_equal(sb_profile_record_to_json(&r, &sb, &err), 0);
	assert_int_equal(sb_profile_record_parse(sb.buf, sb.len, &back, &err), 0);
	assert_int_equal(back.nentries, r.nentries);
	for (size_t i = 0; i < r.nentries; i++) {
		assert_string_equal(back.entries[i].path, r.entries[i].path);
		assert_int_equal(back.entries[i].type, r.entries[i].type);
		assert_int_equal(back.entries[i].mode, r.entries[i].mode);
		assert_int_equal(back.entries[i].uid, r.entries[i].uid);
		assert_string_equal(back.entries[i].digest, r.entries[i].digest);
	}
	assert_string_equal(back.source_image, r.source_image);
	assert_string_equal(back.tracer, "seccomp-notify");
	assert_string_equal(back.probes[0], "http GET 8000/=200");
	assert_int_equal(back.nsyscalls, 2);
	sb_profile_record_release(&back);
	sb_profile_record_release(&r);
	sb_strbuf_release(&sb);
	sb_rm_rf(AT_FDCWD, d, NULL);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
		"{}",
		"{\"version\": 2, \"closure\": []}",
		"{\"version\": 1}",
		"{\"version\": 1, \"closure\": [{\"path\": \"etc/x\", \"type\": \"file\", \"mode\": \"0644\"}]}",
		"{\"version\": 1, \"closure\": [{\"path\": \"/a/../../x\", \"type\": \"file\", \"mode\": \"0644\"}]}",
		"{\"version\": 1, \"closure\": [{\"path\": \"/a/..\", \"type\": \"file\", \"mode\": \"0644\"}]}",
		"{\"version\": 1, \"closure\": [], \"probes\": [1]}",
		"not json",
	};
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(bad); i++) {
		struct sb_profile_record r;
		struct sb_error *err = NULL;
		assert_int_equal(sb_profile_record_parse(bad[i], strlen(bad[i]), &r, &err), -1);
		assert_non_null(err);
		assert_non_null(strstr(err->msg, "profile"));
		sb_error_free(err);
	}
}

static void test_seccomp_profile(void **state)
{
	char *names[] = { "openat", "read", "accept4" };
	struct sb_strbuf sb = SB_STRBUF_INIT;
	json_t *j, *list;
	bool has_accept = false, has_execve = false;
	(void)state;
	assert_int_equal(sb_seccomp_profile_json(names, 3, &sb, NULL), 0);
	j = json_loads(sb.buf, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "defaultAction")), "SCMP_ACT_ERRNO");
	list = json_object_get(json_array_get(json_object_get(j, "syscalls"), 0), "names");
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *n = json_string_value(json_array_get(list, i));
		has_accept |= !strcmp(n, "accept4");
		has_execve |= !strcmp(n, "execve");
		if (i)
			assert_true(strcmp(json_string_value(json_array_get(list, i - 1)), n) < 0);
	}
	assert_true(has_accept);
	assert_true(has_execve);
	json_decref(j);
	sb_strbuf_release(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_describe_and_round_trip),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_seccomp_profile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
