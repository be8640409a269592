/* Unit tests of the registry client's pure parts: WWW-Authenticate parsing,
 * docker config credential lookup, loopback detection, backoff. */
#include "tests/unit/sb_test.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/registry/internal.h"

/* ---- WWW-Authenticate ---- */

static void test_challenge_bearer(void **state)
{
	struct sb_auth_challenges cs = { 0 };
	struct sb_error *err = NULL;
	(void)state;

	assert_int_equal(sb_auth_parse_challenges("Bearer realm=\"https://auth.docker.io/token\","
						  "service=\"registry.docker.io\","
						  "scope=\"repository:library/debian:pull\"",
						  &cs, &err),
			 0);
	assert_int_equal(cs.n, 1);
	assert_string_equal(cs.v[0].scheme, "bearer");
	assert_string_equal(cs.v[0].realm, "https://auth.docker.io/token");
	assert_string_equal(cs.v[0].service, "registry.docker.io");
	assert_string_equal(cs.v[0].scope, "repository:library/debian:pull");
	assert_null(cs.v[0].error);
	assert_ptr_equal(sb_auth_pick(&cs), &cs.v[0]);
	sb_auth_challenges_release(&cs);
}

static void test_challenge_basic_and_case(void **state)
{
	struct sb_auth_challenges cs = { 0 };
	struct sb_error *err = NULL;
	(void)state;

	assert_int_equal(sb_auth_parse_challenges("BASIC Realm=\"slimbuild-test\"", &cs, &err), 0);
	assert_int_equal(cs.n, 1);
	assert_string_equal(cs.v[0].scheme, "basic");
	assert_string_equal(cs.v[0].realm, "slimbuild-test");
	assert_ptr_equal(sb_auth_pick(&cs), &cs.v[0]);
	sb_auth_challenges_release(&cs);
}

static void test_challenge_several(void **state)
{
	struct sb_auth_challenges cs = { 0 };
	struct sb_error *err = NULL;
	(void)state;

	/* two challenges in one header, spaces around '=', an unknown
	 * parameter, an escaped quote, an unquoted scope with colons */
	assert_int_equal(sb_auth_parse_challenges("Basic realm=\"a \\\"quoted\\\" realm\", charset=UTF-8, "
						  "Bearer realm = \"http://127.0.0.1:1/token\" , "
						  "scope=repository:app:pull,error=\"insufficient_scope\"",
						  &cs, &err),
			 0);
	assert_int_equal(cs.n, 2);
	assert_string_equal(cs.v[0].scheme, "basic");
	assert_string_equal(cs.v[0].realm, "a \"quoted\" realm");
	assert_string_equal(cs.v[1].scheme, "bearer");
	assert_string_equal(cs.v[1].realm, "http://127.0.0.1:1/token");
	assert_string_equal(cs.v[1].scope, "repository:app:pull");
	assert_string_equal(cs.v[1].error, "insufficient_scope");
	/* Bearer is preferred over Basic */
	assert_string_equal(sb_auth_pick(&cs)->scheme, "bearer");
	sb_auth_challenges_release(&cs);

	/* a second header appends */
	assert_int_equal(sb_auth_parse_challenges("Negotiate abc123==, Basic realm=x", &cs, &err), 0);
	assert_int_equal(sb_auth_parse_challenges("Bearer realm=\"r\",scope=\"repository:a/b:pull,push\"", &cs, &err),
			 0);
	assert_int_equal(cs.n, 3);
	assert_string_equal(cs.v[0].scheme, "negotiate");
	assert_string_equal(cs.v[1].scheme, "basic");
	assert_string_equal(cs.v[1].realm, "x");
	assert_string_equal(cs.v[2].scope, "repository:a/b:pull,push");
	sb_auth_challenges_release(&cs);
}

static void test_challenge_malformed(void **state)
{
	struct sb_auth_challenges cs = { 0 };
	struct sb_error *err = NULL;
	(void)state;

	assert_int_equal(sb_auth_parse_challenges("Bearer realm=\"unterminated", &cs, &err), -1);
	assert_non_null(err);
	assert_int_equal(err->code, EINVAL);
	assert_non_null(strstr(err->msg, "unterminated"));
	sb_error_freep(&err);
	sb_auth_challenges_release(&cs);

	assert_int_equal(sb_auth_parse_challenges("=realm", &cs, &err), -1);
	sb_error_freep(&err);
	sb_auth_challenges_release(&cs);

	assert_int_equal(sb_auth_parse_challenges("Bearer realm=\"x\" junk", &cs, &err), -1);
	sb_error_freep(&err);
	sb_auth_challenges_release(&cs);

	/* empty and separator-only headers hold no challenge */
	assert_int_equal(sb_auth_parse_challenges(" , ", &cs, &err), 0);
	assert_int_equal(cs.n, 0);
	assert_null(sb_auth_pick(&cs));
	/* a Bearer without a realm cannot be answered */
	assert_int_equal(sb_auth_parse_challenges("Bearer service=x", &cs, &err), 0);
	assert_null(sb_auth_pick(&cs));
	sb_auth_challenges_release(&cs);
}

/* ---- docker config ---- */

static char *make_config_dir(const char *json)
{
	char tmpl[] = "/tmp/sbtest-dockercfg.XXXXXX";
	char *dir = mkdtemp(tmpl) ? sb_xstrdup(tmpl) : NULL;
	struct sb_error *err = NULL;
	sb_autofree char *path = NULL;

	assert_non_null(dir);
	if (json) {
		path = sb_xasprintf("%s/config.json", dir);
		assert_int_equal(sb_write_file_atomic(AT_FDCWD, path, json, strlen(json), 0600, &err), 0);
	}
	return dir;
}

static void drop_config_dir(char *dir)
{
	struct sb_error *err = NULL;
	assert_int_equal(sb_rm_rf(AT_FDCWD, dir, &err), 0);
	free(dir);
}

static void test_config_lookup(void **state)
{
	/* dXNlcjpwYTpzcw== is "user:pa:ss" (a password may hold ':') */
	char *dir = make_config_dir("{\"auths\": {"
				    "\"https://index.docker.io/v1/\": {\"auth\": \"aHViOmh1YnB3\"},"
				    "\"http://127.0.0.1:5000\": {\"auth\": \"dXNlcjpwYTpzcw==\"},"
				    "\"127.0.0.1:5001\": {\"username\": \"u2\", \"password\": \"p2\"},"
				    "\"registry.example.com/v2/\": {\"auth\": \"ZXg6ZXhwdw==\"},"
				    "\"registry.example.com\": {\"auth\": \"ZXhhY3Q6ZXhhY3Rwdw==\"},"
				    "\"token-only:1\": {\"identitytoken\": \"xyz\"}"
				    "}, \"credsStore\": \"none\"}");
	struct sb_credentials cr = { 0 };
	struct sb_error *err = NULL;
	(void)state;

	assert_int_equal(sb_docker_config_lookup(dir, "docker.io", &cr, &err), 0);
	assert_string_equal(cr.username, "hub");
	assert_string_equal(cr.password, "hubpw");
	sb_credentials_release(&cr);

	assert_int_equal(sb_docker_config_lookup(dir, "127.0.0.1:5000", &cr, &err), 0);
	assert_string_equal(cr.username, "user");
	assert_string_equal(cr.password, "pa:ss");
	sb_credentials_release(&cr);

	assert_int_equal(sb_docker_config_lookup(dir, "127.0.0.1:5001", &cr, &err), 0);
	assert_string_equal(cr.username, "u2");
	assert_string_equal(cr.password, "p2");
	sb_credentials_release(&cr);

	/* an exact key wins over one naming the same host */
	assert_int_equal(sb_docker_config_lookup(dir, "registry.example.com", &cr, &err), 0);
	assert_string_equal(cr.username, "exact");
	assert_string_equal(cr.password, "exactpw");
	sb_credentials_release(&cr);

	/* no entry, and an entry without usable credentials: none, no error */
	assert_int_equal(sb_docker_config_lookup(dir, "127.0.0.1:5002", &cr, &err), 0);
	assert_null(cr.username);
	assert_int_equal(sb_docker_config_lookup(dir, "token-only:1", &cr, &err), 0);
	assert_null(cr.username);
	/* a port is part of the host */
	assert_int_equal(sb_docker_config_lookup(dir, "127.0.0.1", &cr, &err), 0);
	assert_null(cr.username);
	drop_config_dir(dir);
}

static void test_config_missing_and_bad(void **state)
{
	struct sb_credentials cr = { 0 };
	struct sb_error *err = NULL;
	char *dir;
	(void)state;

	/* no folder, no file: no credentials, no error */
	assert_int_equal(sb_docker_config_lookup(NULL, "docker.io", &cr, &err), 0);
	assert_null(cr.username);
	dir = make_config_dir(NULL);
	assert_int_equal(sb_docker_config_lookup(dir, "docker.io", &cr, &err), 0);
	assert_null(cr.username);
	drop_config_dir(dir);

	dir = make_config_dir("{\"auths\": ");
	assert_int_equal(sb_docker_config_lookup(dir, "docker.io", &cr, &err), -1);
	assert_non_null(strstr(err->msg, "config.json"));
	sb_error_freep(&err);
	drop_config_dir(dir);

	dir = make_config_dir("{\"auths\": {\"h:1\": {\"auth\": \"bm9jb2xvbg==\"}, \"h:2\": {\"auth\": \"!!!!\"}}}");
	/* "nocolon" */
	assert_int_equal(sb_docker_config_lookup(dir, "h:1", &cr, &err), -1);
	assert_non_null(strstr(err->msg, "user:password"));
	sb_error_freep(&err);
	assert_int_equal(sb_docker_config_lookup(dir, "h:2", &cr, &err), -1);
	sb_error_freep(&err);
	assert_null(cr.username);
	drop_config_dir(dir);
}

static void test_config_dir(void **state)
{
	char *d;
	(void)state;

	d = sb_docker_config_dir("/x");
	assert_string_equal(d, "/x");
	free(d);
	setenv("DOCKER_CONFIG", "/from/env", 1);
	d = sb_docker_config_dir(NULL);
	assert_string_equal(d, "/from/env");
	free(d);
	unsetenv("DOCKER_CONFIG");
	setenv("HOME", "/home/u", 1);
	d = sb_docker_config_dir(NULL);
	assert_string_equal(d, "/home/u/.docker");
	free(d);
}

static void test_loopback(void **state)
{
	(void)state;
	assert_true(sb_reg_host_is_loopback("127.0.0.1"));
	assert_true(sb_reg_host_is_loopback("127.0.0.1:5000"));
	assert_true(sb_reg_host_is_loopback("127.1.2.3:1"));
	assert_true(sb_reg_host_is_loopback("localhost:5000"));
	assert_true(sb_reg_host_is_loopback("LOCALHOST"));
	assert_true(sb_reg_host_is_loopback("[::1]:5000"));
	assert_true(sb_reg_host_is_loopback("::1"));
	assert_false(sb_reg_host_is_loopback("128.0.0.1"));
	assert_false(sb_reg_host_is_loopback("localhost.example.com"));
	assert_false(sb_reg_host_is_loopback("registry-1.docker.io"));
	assert_false(sb_reg_host_is_loopback("[::2]:5000"));
	assert_false(sb_reg_host_is_loopback("[::1"));
	assert_false(sb_reg_host_is_loopback(""));
}

/* ---- backoff ---- */

static void test_backoff(void **state)
{
	time_t now = 1700000000;
	(void)state;

	/* doubling from the base, no jitter */
	assert_int_equal(sb_reg_backoff_ms(0, 200, NULL, now, 0), 200);
	assert_int_equal(sb_reg_backoff_ms(1, 200, NULL, now, 0), 400);
	assert_int_equal(sb_reg_backoff_ms(2, 200, NULL, now, 0), 800);
	assert_int_equal(sb_reg_backoff_ms(3, 200, NULL, now, 0), 1600);
	/* jitter adds up to a quarter */
	assert_int_equal(sb_reg_backoff_ms(0, 200, NULL, now, 0.5), 225);
	assert_in_range(sb_reg_backoff_ms(1, 200, NULL, now, 0.999), 400, 500);
	/* out-of-range jitter is clamped */
	assert_int_equal(sb_reg_backoff_ms(0, 200, NULL, now, -3), 200);
	assert_in_range(sb_reg_backoff_ms(0, 200, NULL, now, 7), 200, 250);
	/* capped, and no overflow for huge attempts */
	assert_int_equal(sb_reg_backoff_ms(20, 200, NULL, now, 0), SB_REG_BACKOFF_CAP_MS);
	assert_int_equal(sb_reg_backoff_ms(4000000000u, 200, NULL, now, 0.9), SB_REG_BACKOFF_CAP_MS);
	/* a zero base still waits */
	assert_int_equal(sb_reg_backoff_ms(0, 0, NULL, now, 0), 1);
}

static void test_backoff_retry_after(void **state)
{
	time_t now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
	(void)state;

	/* delta-seconds replace the computed delay when small */
	assert_int_equal(sb_reg_backoff_ms(0, 200, "2", now, 0.9), 2000);
	assert_int_equal(sb_reg_backoff_ms(3, 200, " 0 ", now, 0.9), 0);
	assert_int_equal(sb_reg_backoff_ms(0, 200, "30", now, 0), 30000);
	/* too long a wait: give up */
	assert_int_equal(sb_reg_backoff_ms(0, 200, "31", now, 0), -1);
	assert_int_equal(sb_reg_backoff_ms(0, 200, "99999999999999999999", now, 0), -1);
	/* an HTTP date */
	assert_int_equal(sb_reg_backoff_ms(0, 200, "Tue, 14 Nov 2023 22:13:25 GMT", now, 0), 5000);
	assert_int_equal(sb_reg_backoff_ms(0, 200, "Tue, 14 Nov 2023 22:13:00 GMT", now, 0), 0);
	assert_int_equal(sb_reg_backoff_ms(0, 200, "Wed, 15 Nov 2023 22:13:20 GMT", now, 0), -1);
	/* garbage is ignored */
	assert_int_equal(sb_reg_backoff_ms(1, 200, "soon", now, 0), 400);
	assert_int_equal(sb_reg_backoff_ms(1, 200, "5x", now, 0), 400);
	assert_int_equal(sb_reg_backoff_ms(1, 200, "", now, 0), 400);
}

/* ---- URLs ---- */

static void test_urls(void **state)
{
	struct sb_reg_client c = { 0 };
	char *u;
	char id[13];
	(void)state;

	c.base = (char *)"http://127.0.0.1:5000";
	u = sb_reg_url(&c, "/v2/app/blobs/uploads/");
	assert_string_equal(u, "http://127.0.0.1:5000/v2/app/blobs/uploads/");
	free(u);
	u = sb_reg_url(&c, "https://elsewhere/x");
	assert_string_equal(u, "https://elsewhere/x");
	free(u);
	u = sb_reg_url_add_query("http://h/v2/app/blobs/uploads/u1?_state=abc", "digest", "sha256:00");
	assert_string_equal(u, "http://h/v2/app/blobs/uploads/u1?_state=abc&digest=sha256%3A00");
	free(u);
	u = sb_reg_url_add_query("https://auth/token", "scope", "repository:a b:pull");
	assert_string_equal(u, "https://auth/token?scope=repository%3Aa%20b%3Apull");
	free(u);
	sb_reg_short_id("sha256:0123456789abcdef0123", id);
	assert_string_equal(id, "0123456789ab");
	sb_reg_short_id("sha256:01", id);
	assert_string_equal(id, "01");
}

/* ---- error messages ---- */

static void client_for_errors(struct sb_reg_client *c, bool creds)
{
	memset(c, 0, sizeof(*c));
	c->image = (char *)"pull 127.0.0.1:5000/app:v1";
	c->domain = (char *)"127.0.0.1:5000";
	c->config_path = (char *)"/cfg/config.json";
	if (creds) {
		c->creds.username = (char *)"u";
		c->creds.password = (char *)"p";
	}
}

static char *status_message(bool creds, long status, const char *reason, const char *body, const char *what)
{
	struct sb_reg_client c;
	struct sb_reg_response r;
	struct sb_error *err = NULL;
	char *msg;

	client_for_errors(&c, creds);
	sb_reg_response_init(&r);
	r.status = status;
	snprintf(r.reason, sizeof(r.reason), "%s", reason);
	sb_strbuf_adds(&r.body, body);
	assert_int_equal(sb_reg_status_error(&c, what, &r, &err), -1);
	sb_reg_response_release(&r);
	msg = sb_xstrdup(err->msg);
	sb_error_free(err);
	return msg;
}

static void test_status_errors(void **state)
{
	char *m;
	(void)state;

	m = status_message(true, 404, "Not Found",
			   "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: manifest unknown (404)");
	free(m);
	m = status_message(true, 404, "Not Found", "", "blob sha256:ab");
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: blob sha256:ab: not found (404)");
	free(m);
	m = status_message(true, 401, "Unauthorized",
			   "{\"errors\":[{\"code\":\"UNAUTHORIZED\",\"message\":\"authentication required\"}]}", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: unauthorized: authentication required: check credentials (401)");
	free(m);
	m = status_message(false, 401, "Unauthorized", "not json", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: unauthorized: check credentials (401); none found for "
			       "127.0.0.1:5000 in /cfg/config.json");
	free(m);
	m = status_message(true, 403, "Forbidden", "", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: denied: access to the resource denied (403)");
	free(m);
	/* several messages, a code without one, control characters flattened */
	m = status_message(true, 400, "Bad Request",
			   "{\"errors\":[{\"code\":\"A\",\"message\":\"one\\nline\"},{\"code\":\"B\"}]}", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: one line; B (400)");
	free(m);
	m = status_message(true, 502, "Bad Gateway", "<html>", NULL);
	assert_string_equal(m, "pull 127.0.0.1:5000/app:v1: Bad Gateway (502)");
	free(m);
}

/* ---- the worker pool ---- */

struct jobs {
	int ran[64];
	size_t fail_at;
};

static int count_job(void *ctx, size_t i, CURL *curl, struct sb_error **err)
{
	struct jobs *j = ctx;
	assert_non_null(curl);
	__atomic_add_fetch(&j->ran[i], 1, __ATOMIC_RELAXED);
	if (i == j->fail_at)
		return sb_error_setx(err, EIO, "job %zu failed", i);
	return 0;
}

static void test_parallel(void **state)
{
	struct sb_reg_client c;
	struct jobs j;
	struct sb_error *err = NULL;
	(void)state;

	client_for_errors(&c, false);
	memset(&j, 0, sizeof(j));
	j.fail_at = SIZE_MAX;
	assert_int_equal(sb_reg_parallel(&c, 64, 3, count_job, &j, &err), 0);
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(j.ran[i], 1);
	assert_null(c.abort_flag);

	/* the first failure is returned and stops new jobs */
	memset(&j, 0, sizeof(j));
	j.fail_at = 0;
	assert_int_equal(sb_reg_parallel(&c, 64, 1, count_job, &j, &err), -1);
	assert_string_equal(err->msg, "job 0 failed");
	sb_error_freep(&err);
	assert_int_equal(j.ran[0], 1);
	assert_int_equal(j.ran[1], 0);
	assert_null(c.abort_flag);

	/* nothing to do, and more threads than jobs */
	assert_int_equal(sb_reg_parallel(&c, 0, 3, count_job, &j, &err), 0);
	memset(&j, 0, sizeof(j));
	j.fail_at = SIZE_MAX;
	assert_int_equal(sb_reg_parallel(&c, 2, 100, count_job, &j, &err), 0);
	assert_int_equal(j.ran[0] + j.ran[1], 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_challenge_bearer),
		cmocka_unit_test(test_challenge_basic_and_case),
		cmocka_unit_test(test_challenge_several),
		cmocka_unit_test(test_challenge_malformed),
		cmocka_unit_test(test_config_lookup),
		cmocka_unit_test(test_config_missing_and_bad),
		cmocka_unit_test(test_config_dir),
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_backoff_retry_after),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_status_errors),
		cmocka_unit_test(test_parallel),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
