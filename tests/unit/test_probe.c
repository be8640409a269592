/* runtime/profile/probe: probe parsing and comparison, and real probe runs
 * over the Debian minbase rootfs (an overlay lower dir under a test layer
 * holding a static HTTP server built here from tests/profile/http_server.c):
 * a CMD probe, HTTP probes against the server from inside its network
 * namespace, an EXEC probe into the running service, timeouts, and the
 * service's network namespace kept private. */
#include "tests/unit/sb_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/probe.h"

static char tmp[64];
static char lower[128];
static const char *base = SB_TEST_BASE_ROOTFS;
static const char *lowers[3];
static bool have_rootfs;

static int group_setup(void **state)
{
	const char *src = getenv("SB_SOURCE_DIR");
	(void)state;
	if (!src)
		src = ".";
	sb_test_scratch(tmp, sizeof(tmp), "sbprobe", lower, sizeof(lower));
	lowers[0] = lower;
	lowers[1] = base;
	lowers[2] = NULL;
	have_rootfs = geteuid() == 0 && access(base, F_OK) == 0;
	if (have_rootfs) {
		assert_int_equal(sb_test_sh("cc -static -O2 -o %s/http_server %s/tests/profile/http_server.c", lower, src),
				 0);
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	sb_test_rm_tree(tmp);
	return 0;
}

#define NEED_ROOTFS() SB_TEST_NEED(have_rootfs)

static struct sb_probe parse(enum sb_probe_kind kind, const char *spec)
{
	struct sb_probe p;
	struct sb_error *err = NULL;
	if (sb_probe_parse(kind, spec, &p, &err) < 0)
		fail_msg("parse %s: %s", spec, err->msg);
	return p;
}

static void parse_fails(enum sb_probe_kind kind, const char *spec, const char *want)
{
	struct sb_probe p;
	struct sb_error *err = NULL;
	assert_int_equal(sb_probe_parse(kind, spec, &p, &err), -1);
	assert_non_null(err);
	if (!strstr(err->msg, want))
		fail_msg("%s: %s, want %s", spec, err->msg, want);
	sb_error_free(err);
}

static void test_parse(void **state)
{
	struct sb_probe p;
	char *d;
	(void)state;

	p = parse(SB_PROBE_HTTP, "8080/");
	assert_string_equal(p.method, "GET");
	assert_int_equal(p.port, 8080);
	assert_string_equal(p.path, "/");
	assert_int_equal(p.want_status, 0);
	sb_probe_release(&p);
	p = parse(SB_PROBE_HTTP, "POST 80/api/v1?a=b=201");
	assert_string_equal(p.method, "POST");
	assert_int_equal(p.port, 80);
	assert_string_equal(p.path, "/api/v1?a=b");
	assert_int_equal(p.want_status, 201);
	d = sb_probe_describe(&p);
	assert_string_equal(d, "http POST 80/api/v1?a=b=201");
	free(d);
	sb_probe_release(&p);
	p = parse(SB_PROBE_HTTP, "3000");
	assert_string_equal(p.path, "/");
	sb_probe_release(&p);
	p = parse(SB_PROBE_HTTP, "3000=404");
	assert_string_equal(p.path, "/");
	assert_int_equal(p.want_status, 404);
	sb_probe_release(&p);
	parse_fails(SB_PROBE_HTTP, "get 80/", "bad method");
	parse_fails(SB_PROBE_HTTP, "GET x/", "PORT");
	parse_fails(SB_PROBE_HTTP, "70000/", "bad port");
	parse_fails(SB_PROBE_HTTP, "80x", "bad port");
	parse_fails(SB_PROBE_HTTP, "80/a b", "space");

	p = parse(SB_PROBE_CMD, "--name 'a b' \"c d\" $HOME");
	assert_int_equal(p.argc, 4);
	assert_string_equal(p.argv[0], "--name");
	assert_string_equal(p.argv[1], "a b");
	assert_string_equal(p.argv[2], "c d");
	assert_string_equal(p.argv[3], "$HOME");
	assert_null(p.argv[4]);
	sb_probe_release(&p);
	p = parse(SB_PROBE_CMD, "[\"x\", \"y z\"]");
	assert_int_equal(p.argc, 2);
	assert_string_equal(p.argv[1], "y z");
	d = sb_probe_describe(&p);
	assert_string_equal(d, "cmd [\"x\",\"y z\"]");
	free(d);
	sb_probe_release(&p);
	parse_fails(SB_PROBE_CMD, "[1, 2]", "only strings");

	p = parse(SB_PROBE_EXEC, "cat /etc/debian_version | wc -c");
	assert_int_equal(p.argc, 3);
	assert_string_equal(p.argv[0], "/bin/sh");
	assert_string_equal(p.argv[1], "-c");
	assert_string_equal(p.argv[2], "cat /etc/debian_version | wc -c");
	sb_probe_release(&p);
	p = parse(SB_PROBE_EXEC, "[\"cat\", \"/x\"]");
	assert_int_equal(p.argc, 2);
	sb_probe_release(&p);
	parse_fails(SB_PROBE_EXEC, "[]", "no command");
}

static void test_outcome_equal(void **state)
{
	struct sb_probe_outcome a, b;
	char *why = NULL;
	(void)state;

	memset(&a, 0, sizeof(a));
	a.kind = SB_PROBE_CMD;
	a.exit_code = 3;
	a.out = (char *)"hi\n";
	a.out_len = a.out_size = 3;
	sb_sha256_digest("hi\n", 3, a.out_digest);
	b = a;
	assert_true(sb_probe_outcome_equal(&a, &b, &why));
	assert_null(why);
	b.exit_code = 0;
	assert_false(sb_probe_outcome_equal(&a, &b, &why));
	assert_string_equal(why, "exit code 0, was 3");
	free(why);
	b.exit_code = 3;
	b.out = (char *)"ho\n";
	sb_sha256_digest("ho\n", 3, b.out_digest);
	assert_false(sb_probe_outcome_equal(&a, &b, &why));
	assert_non_null(strstr(why, "stdout differs from byte 1"));
	free(why);
	b = a;
	b.error = (char *)"timed out";
	assert_false(sb_probe_outcome_equal(&a, &b, &why));
	assert_non_null(strstr(why, "timed out"));
	free(why);

	memset(&a, 0, sizeof(a));
	a.kind = SB_PROBE_HTTP;
	a.http_status = 200;
	sb_sha256_digest("body", 4, a.body_digest);
	b = a;
	b.out_size = 99; /* not compared for HTTP */
	assert_true(sb_probe_outcome_equal(&a, &b, NULL));
	b.http_status = 404;
	assert_false(sb_probe_outcome_equal(&a, &b, &why));
	assert_string_equal(why, "HTTP status 404, was 200");
	free(why);
	b.http_status = 200;
	sb_sha256_digest("other", 5, b.body_digest);
	assert_false(sb_probe_outcome_equal(&a, &b, &why));
	assert_non_null(strstr(why, "HTTP body differs"));
	free(why);
	b.kind = SB_PROBE_CMD;
	assert_false(sb_probe_outcome_equal(&a, &b, NULL));
}

static void expect_path(const struct sb_trace_result *r, const char *path, unsigned flags)
{
	const struct sb_profile_path *p = sb_trace_result_find(r, path);
	if (!p || (p->flags & flags) != flags)
		fail_msg("trace: %s: want flags %#x, have %s %#x", path, flags, p ? "flags" : "nothing",
			 p ? p->flags : 0);
}

static struct sb_probe_opts opts_for(const struct sb_probe *probes, size_t n, bool trace)
{
	struct sb_probe_opts o;
	memset(&o, 0, sizeof(o));
	o.probes = probes;
	o.nprobes = n;
	o.trace = trace;
	o.timeout_ms = 20000;
	o.scratch_dir = tmp;
	return o;
}

static void run_ok(const struct sb_probe_image *img, const struct sb_probe_opts *o, struct sb_probe_report *r)
{
	struct sb_error *err = NULL;
	if (sb_probe_run(img, o, r, &err) < 0)
		fail_msg("probe run: %s", err->msg);
}

static void test_cmd(void **state)
{
	static const char *const ep[] = { "/bin/sh", "-c", NULL };
	static const char *const cmd[] = { "echo default", NULL };
	static const char *const env[] = { "GREETING=hi", NULL };
	struct sb_probe_image img = { lowers, ep, cmd, env, NULL, "/tmp", NULL, 0 };
	struct sb_probe probes[2];
	struct sb_probe_opts o;
	struct sb_probe_report r;
	char digest[SB_DIGEST_SIZE];
	(void)state;
	NEED_ROOTFS();

	probes[0] = parse(SB_PROBE_CMD, "'echo $GREETING; echo oops >&2; pwd >&2; exit 3'");
	probes[1] = parse(SB_PROBE_CMD, "'id -u'");
	o = opts_for(probes, 2, true);
	run_ok(&img, &o, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.failed, 0);
	assert_int_equal(r.outcomes[0].exit_code, 3);
	assert_string_equal(r.outcomes[0].out, "hi\n");
	assert_int_equal(r.outcomes[0].out_size, 3);
	sb_sha256_digest("hi\n", 3, digest);
	assert_string_equal(r.outcomes[0].out_digest, digest);
	assert_string_equal(r.outcomes[0].err_out, "oops\n/tmp\n");
	assert_string_equal(r.outcomes[1].out, "0\n");
	assert_int_equal(r.outcomes[1].exit_code, 0);
	assert_true(r.traced);
	assert_non_null(r.trace.tracer);
	assert_true(r.trace.rootfd >= 0);
	expect_path(&r.trace, "/usr/bin/dash", SB_PATH_EXISTS | SB_PATH_EXEC);
	expect_path(&r.trace, "/usr/bin/id", SB_PATH_EXISTS | SB_PATH_EXEC); /* the second run, merged */
	assert_int_equal(r.service_pid, 0);
	sb_probe_report_release(&r);
	sb_probe_release(&probes[0]);
	sb_probe_release(&probes[1]);

	/* no probe and no port: the command as it is */
	o = opts_for(NULL, 0, false);
	run_ok(&img, &o, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.outcomes[0].kind, SB_PROBE_CMD);
	assert_string_equal(r.outcomes[0].out, "default\n");
	assert_false(r.traced);
	assert_int_equal(r.trace.rootfd, -1);
	sb_probe_report_release(&r);
}

/* A listener on the host's loopback at a free port: the container's
 * server binds the same port in its own namespace, and the probes must
 * reach that one, never this. */
static int host_listener(unsigned *port)
{
	struct sockaddr_in sa;
	socklen_t l = sizeof(sa);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	assert_true(s >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s, 16), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &l), 0);
	*port = ntohs(sa.sin_port);
	return s;
}

static void test_http_exec(void **state)
{
	static const char *const ep[] = { "/http_server", NULL };
	const char *cmd[2] = { NULL, NULL };
	char portstr[16], spec[64];
	struct sb_probe_image img = { lowers, ep, cmd, NULL, "nobody", NULL, NULL, 0 };
	struct sb_probe probes[5];
	struct sb_probe_opts o;
	struct sb_probe_report r;
	struct sb_strbuf osrel = SB_STRBUF_INIT, debver = SB_STRBUF_INIT;
	unsigned port;
	uint64_t ms[2];
	int hs;
	(void)state;
	NEED_ROOTFS();

	hs = host_listener(&port);
	snprintf(portstr, sizeof(portstr), "%u", port);
	cmd[0] = portstr;
	snprintf(spec, sizeof(spec), "%u/x=200", port);
	probes[0] = parse(SB_PROBE_HTTP, spec);
	snprintf(spec, sizeof(spec), "%u/nope", port);
	probes[1] = parse(SB_PROBE_HTTP, spec);
	probes[2] = parse(SB_PROBE_EXEC, "cat /etc/debian_version");
	probes[3] = parse(SB_PROBE_EXEC, "[\"/bin/sh\", \"-c\", \"id -un; exit 7\"]");
	/* set up as the sandbox's own command, in its PID namespace: init,
	 * the server, this shell, ls and grep */
	probes[4] = parse(SB_PROBE_EXEC, "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status;"
					 " ls /proc | grep -c '^[0-9]'; hostname");
	assert_int_equal(sb_read_file(AT_FDCWD, "/var/cache/slimbuild/bookworm-minbase.d/usr/lib/os-release", 1 << 20,
				      &osrel, NULL),
			 0);
	assert_int_equal(sb_read_file(AT_FDCWD, "/var/cache/slimbuild/bookworm-minbase.d/etc/debian_version", 1 << 20,
				      &debver, NULL),
			 0);

	for (int traced = 0; traced < 2; traced++) {
		o = opts_for(probes, 5, traced);
		o.stop_ms = 5000;
		run_ok(&img, &o, &r);
		ms[traced] = r.wall_ms;
		for (size_t i = 0; i < r.n; i++)
			if (r.outcomes[i].error)
				fail_msg("%s: %s", r.outcomes[i].name, r.outcomes[i].error);
		assert_int_equal(r.outcomes[0].http_status, 200);
		assert_int_equal(r.outcomes[0].body_size, osrel.len + 2);
		assert_memory_equal(r.outcomes[0].body, "x:", 2);
		assert_string_equal(r.outcomes[0].body + 2, osrel.buf);
		assert_int_equal(r.outcomes[1].http_status, 404);
		assert_string_equal(r.outcomes[1].body, "not found\n");
		assert_int_equal(r.outcomes[2].exit_code, 0);
		assert_string_equal(r.outcomes[2].out, debver.buf);
		assert_int_equal(r.outcomes[3].exit_code, 7);
		assert_string_equal(r.outcomes[3].out, "nobody\n"); /* the image's USER */
		assert_string_equal(r.outcomes[4].out, "CapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n5\n"
						       "buildkitsandbox\n");
		/* stopped with SIGTERM, and gone */
		assert_int_equal(r.service_status, 128 + SIGTERM);
		assert_true(r.service_pid > 0);
		assert_int_equal(kill(r.service_pid, 0), -1);
		assert_int_equal(errno, ESRCH);
		/* the requests never reached the host's port */
		assert_int_equal(accept(hs, NULL, NULL), -1);
		assert_int_equal(errno, EAGAIN);
		if (traced) {
			assert_true(r.traced);
			expect_path(&r.trace, "/http_server", SB_PATH_EXISTS | SB_PATH_EXEC);
			expect_path(&r.trace, "/usr/lib/os-release", SB_PATH_EXISTS);
			expect_path(&r.trace, "/etc/os-release", SB_PATH_SYMLINK);
			/* the exec probes, traced into the same result */
			expect_path(&r.trace, "/etc/debian_version", SB_PATH_EXISTS);
			expect_path(&r.trace, "/usr/bin/cat", SB_PATH_EXISTS | SB_PATH_EXEC);
			expect_path(&r.trace, "/usr/bin/id", SB_PATH_EXISTS | SB_PATH_EXEC);
		} else {
			assert_false(r.traced);
		}
		/* outcomes of two runs compare equal */
		sb_probe_report_release(&r);
	}
	print_message("http+exec probes: untraced %" PRIu64 " ms, traced %" PRIu64 " ms (%.2fx)\n", ms[0], ms[1],
		      ms[0] ? (double)ms[1] / (double)ms[0] : 0.0);

	/* no probe: GET / on every EXPOSEd port, whatever it answers */
	img.ports = &port;
	img.nports = 1;
	o = opts_for(NULL, 0, false);
	o.stop_ms = 5000;
	run_ok(&img, &o, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.outcomes[0].kind, SB_PROBE_HTTP);
	assert_null(r.outcomes[0].error);
	assert_int_equal(r.outcomes[0].http_status, 404);
	{
		/* and the same probe again agrees */
		struct sb_probe_report r2;
		char *why = NULL;
		run_ok(&img, &o, &r2);
		assert_true(sb_probe_outcome_equal(&r.outcomes[0], &r2.outcomes[0], &why));
		sb_probe_report_release(&r2);
	}
	sb_probe_report_release(&r);

	for (int i = 0; i < 5; i++)
		sb_probe_release(&probes[i]);
	sb_strbuf_release(&osrel);
	sb_strbuf_release(&debver);
	close(hs);
}

static void test_timeouts(void **state)
{
	static const char *const ep[] = { "/http_server", NULL };
	static const char *const cmd[] = { "18081", "never", NULL };
	struct sb_probe_image img = { lowers, ep, cmd, NULL, NULL, NULL, NULL, 0 };
	struct sb_probe probes[3];
	struct sb_probe_opts o;
	struct sb_probe_report r;
	(void)state;
	NEED_ROOTFS();

	probes[0] = parse(SB_PROBE_HTTP, "18081/");
	probes[1] = parse(SB_PROBE_HTTP, "18081/again");
	probes[2] = parse(SB_PROBE_EXEC, "echo still here");
	o = opts_for(probes, 3, true);
	o.timeout_ms = 1500;
	o.stop_ms = 2000;
	run_ok(&img, &o, &r);
	assert_int_equal(r.failed, 2);
	assert_non_null(r.outcomes[0].error);
	assert_true(r.outcomes[0].timed_out);
	assert_non_null(strstr(r.outcomes[0].error, "port 18081 did not accept connections within 1500 ms"));
	assert_true(r.outcomes[0].ms >= 1500 && r.outcomes[0].ms < 3000);
	/* the port is not waited for twice */
	assert_non_null(strstr(r.outcomes[1].error, "did not accept"));
	assert_true(r.outcomes[1].ms < 500);
	assert_null(r.outcomes[2].error);
	assert_string_equal(r.outcomes[2].out, "still here\n");
	assert_int_equal(r.service_status, 128 + SIGTERM);
	assert_true(r.wall_ms < 6000);
	sb_probe_report_release(&r);
	for (int i = 0; i < 3; i++)
		sb_probe_release(&probes[i]);

	/* a command that outlives the timeout is killed */
	probes[0] = parse(SB_PROBE_CMD, "[\"18081\", \"never\"]");
	o = opts_for(probes, 1, false);
	o.timeout_ms = 800;
	run_ok(&img, &o, &r);
	assert_true(r.outcomes[0].timed_out);
	assert_int_equal(r.outcomes[0].exit_code, 128 + SIGKILL);
	assert_non_null(strstr(r.outcomes[0].error, "timed out after 800 ms"));
	assert_true(r.outcomes[0].ms >= 800 && r.outcomes[0].ms < 3000);
	sb_probe_report_release(&r);
	sb_probe_release(&probes[0]);
}

static void test_service_dies(void **state)
{
	static const char *const ep[] = { "/bin/sh", "-c", "echo boom >&2; exit 4", NULL };
	struct sb_probe_image img = { lowers, ep, NULL, NULL, NULL, NULL, NULL, 0 };
	struct sb_probe probes[2];
	struct sb_probe_opts o;
	struct sb_probe_report r;
	struct sb_error *err = NULL;
	static const char *const missing[] = { "/no/such/server", NULL };
	(void)state;
	NEED_ROOTFS();

	probes[0] = parse(SB_PROBE_HTTP, "8080/");
	probes[1] = parse(SB_PROBE_EXEC, "true");
	o = opts_for(probes, 2, false);
	run_ok(&img, &o, &r);
	assert_int_equal(r.failed, 2);
	assert_non_null(strstr(r.outcomes[0].error, "the service exited before port 8080 accepted connections"));
	assert_non_null(strstr(r.outcomes[0].error, "status 4"));
	assert_non_null(strstr(r.outcomes[0].error, "boom"));
	assert_true(r.outcomes[0].ms < 5000);
	assert_non_null(r.outcomes[1].error);
	assert_int_equal(r.service_status, 4);
	sb_probe_report_release(&r);

	/* a service that cannot start fails the run */
	img.entrypoint = missing;
	assert_int_equal(sb_probe_run(&img, &o, &r, &err), -1);
	assert_non_null(err);
	assert_non_null(strstr(err->msg, "/no/such/server"));
	sb_error_free(err);
	sb_probe_report_release(&r);
	sb_probe_release(&probes[0]);
	sb_probe_release(&probes[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_outcome_equal),
		cmocka_unit_test(test_cmd),
		cmocka_unit_test(test_http_exec),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_service_dies),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
