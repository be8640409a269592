/* The probe runner: an image run under CMD, HTTP and EXEC probes, traced.
 * See probe.h for the semantics. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <semaphore.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "parser/shell.h"
#include "runtime/core/fs.h"
#include "runtime/profile/internal.h"
#include "runtime/profile/probe.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_STOP_MS 10000u
/* stderr of a service that died, quoted in the probes' errors */
#define STDERR_QUOTE 512

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	return left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
}

/* --- parsing --- */

static char **strv_new(size_t n)
{
	return sb_xcalloc(n + 1, sizeof(char *));
}

/* 1 with argv when s is a JSON array of strings, 0 when s is not JSON,
 * -1 when it is JSON of another shape. */
static int parse_json_argv(const char *s, char ***argv, size_t *argc, struct sb_error **err)
{
	json_error_t jerr;
	json_t *j = json_loads(s, JSON_DECODE_ANY, &jerr);
	size_t i;
	json_t *v;

	if (!j)
		return 0;
	if (!json_is_array(j)) {
		json_decref(j);
		return 0;
	}
	*argc = json_array_size(j);
	*argv = strv_new(*argc);
	json_array_foreach(j, i, v)
	{
		if (!json_is_string(v)) {
			sb_strv_free(*argv, i);
			*argv = NULL;
			json_decref(j);
			return sb_error_setx(err, EINVAL, "probe %s: a JSON command holds only strings", s);
		}
		(*argv)[i] = sb_xstrdup(json_string_value(v));
	}
	json_decref(j);
	return 1;
}

static int parse_http(const char *spec, struct sb_probe *out, struct sb_error **err)
{
	const char *p = spec, *sp = *spec >= '0' && *spec <= '9' ? NULL : strchr(spec, ' ');
	char *end;
	unsigned long port;
	size_t len;

	if (sp) {
		for (const char *c = spec; c < sp; c++)
			if (*c < 'A' || *c > 'Z')
				return sb_error_setx(err, EINVAL, "http probe %s: bad method", spec);
		if (sp == spec)
			return sb_error_setx(err, EINVAL, "http probe %s: bad method", spec);
		out->method = sb_xstrndup(spec, (size_t)(sp - spec));
		p = sp + 1;
	} else
		out->method = sb_xstrdup("GET");
	if (*p < '0' || *p > '9')
		return sb_error_setx(err, EINVAL, "http probe %s: want [METHOD ]PORT[/PATH][=STATUS]", spec);
	errno = 0;
	port = strtoul(p, &end, 10);
	if (errno || port == 0 || port > 65535 || (*end && *end != '/' && *end != '='))
		return sb_error_setx(err, EINVAL, "http probe %s: bad port", spec);
	out->port = (unsigned)port;
	len = strlen(end);
	/* "=NNN" at the very end is the status; any other '=' is the path's */
	if (len >= 4 && end[len - 4] == '=' && end[len - 3] >= '1' && end[len - 3] <= '5' && end[len - 2] >= '0' &&
	    end[len - 2] <= '9' && end[len - 1] >= '0' && end[len - 1] <= '9') {
		out->want_status = atoi(end + len - 3);
		len -= 4;
	} else if (len && strchr(end, '=') && *end == '=')
		return sb_error_setx(err, EINVAL, "http probe %s: bad status", spec);
	if (len == 0)
		out->path = sb_xstrdup("/");
	else if (*end != '/')
		return sb_error_setx(err, EINVAL, "http probe %s: the path must start with /", spec);
	else
		out->path = sb_xstrndup(end, len);
	for (const char *c = out->path; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return sb_error_setx(err, EINVAL, "http probe %s: the path holds a space or control character",
					     spec);
	return 0;
}

int sb_probe_parse(enum sb_probe_kind kind, const char *spec, struct sb_probe *out, struct sb_error **err)
{
	int rc;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	if (kind == SB_PROBE_HTTP) {
		rc = parse_http(spec, out, err);
		if (rc < 0)
			sb_probe_release(out);
		return rc;
	}
	if (kind != SB_PROBE_CMD && kind != SB_PROBE_EXEC)
		return sb_error_setx(err, EINVAL, "probe: unknown kind %d", (int)kind);
	rc = parse_json_argv(spec, &out->argv, &out->argc, err);
	if (rc < 0)
		return -1;
	if (rc == 0 && kind == SB_PROBE_EXEC) {
		out->argc = 3;
		out->argv = strv_new(3);
		out->argv[0] = sb_xstrdup("/bin/sh");
		out->argv[1] = sb_xstrdup("-c");
		out->argv[2] = sb_xstrdup(spec);
	} else if (rc == 0) {
		struct sb_shlex lex;
		char **words = NULL;
		size_t n = 0;
		sb_shlex_init(&lex, '\\');
		lex.skip_unset_env = true;
		if (sb_shlex_process_words(&lex, spec, strlen(spec), NULL, &words, &n, err) < 0)
			return sb_error_wrap(err, "probe command %s", spec);
		out->argv = strv_new(n);
		for (size_t i = 0; i < n; i++)
			out->argv[i] = words[i];
		free(words);
		out->argc = n;
	}
	if (kind == SB_PROBE_EXEC && out->argc == 0) {
		sb_probe_release(out);
		return sb_error_setx(err, EINVAL, "exec probe: no command");
	}
	return 0;
}

void sb_probe_release(struct sb_probe *p)
{
	if (p->argv)
		sb_strv_free(p->argv, p->argc);
	free(p->method);
	free(p->path);
	memset(p, 0, sizeof(*p));
}

static void describe_argv(struct sb_strbuf *b, char *const *argv)
{
	json_t *a = json_array();
	char *s;
	for (; argv && *argv; argv++)
		json_array_append_new(a, json_string(*argv));
	s = json_dumps(a, JSON_COMPACT);
	sb_strbuf_adds(b, s ? s : "[]");
	free(s);
	json_decref(a);
}

char *sb_probe_describe(const struct sb_probe *p)
{
	struct sb_strbuf b = SB_STRBUF_INIT;
	switch (p->kind) {
	case SB_PROBE_CMD:
		sb_strbuf_adds(&b, "cmd ");
		if (p->argv)
			describe_argv(&b, p->argv);
		else
			sb_strbuf_adds(&b, "(the image's CMD)");
		break;
	case SB_PROBE_EXEC:
		sb_strbuf_adds(&b, "exec ");
		describe_argv(&b, p->argv);
		break;
	case SB_PROBE_HTTP:
		sb_strbuf_addf(&b, "http %s %u%s", p->method ? p->method : "GET", p->port, p->path ? p->path : "/");
		if (p->want_status)
			sb_strbuf_addf(&b, "=%d", p->want_status);
		break;
	}
	return sb_strbuf_detach(&b, NULL);
}

/* --- capturing a stream --- */

/* A pipe whose read end a thread drains: everything is hashed and counted,
 * the first `keep` bytes kept. Reading never stops early, so the writer
 * never blocks on a full pipe. */
struct capture {
	int rfd, wfd;
	size_t keep;
	struct sb_strbuf buf;
	struct sb_sha256 h;
	uint64_t size;
	char digest[SB_DIGEST_SIZE];
	pthread_t th;
	bool running;
	sem_t started;
};

static void *capture_main(void *arg)
{
	struct capture *c = arg;
	char chunk[65536];
	/* idle from here on until output comes: the sandbox forks only once
	 * this thread holds no lock (a thread still starting up, or in
	 * malloc, at fork time can leave an allocator lock held in the
	 * child under AddressSanitizer) */
	sem_post(&c->started);
	for (;;) {
		ssize_t n = read(c->rfd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_sha256_update(&c->h, chunk, (size_t)n);
		c->size += (uint64_t)n;
		if (c->buf.len < c->keep) {
			size_t room = c->keep - c->buf.len;
			sb_strbuf_add(&c->buf, chunk, (size_t)n < room ? (size_t)n : room);
		}
	}
	return NULL;
}

static int capture_start(struct capture *c, size_t keep, struct sb_error **err)
{
	int p[2], rc;
	memset(c, 0, sizeof(*c));
	c->rfd = c->wfd = -1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return sb_error_set(err, errno, "pipe");
	c->rfd = p[0];
	c->wfd = p[1];
	c->keep = keep;
	sb_sha256_init(&c->h);
	sem_init(&c->started, 0, 0);
	rc = pthread_create(&c->th, NULL, capture_main, c);
	if (rc) {
		sb_sha256_release(&c->h);
		sem_destroy(&c->started);
		close(p[0]);
		close(p[1]);
		c->rfd = c->wfd = -1;
		return sb_error_set(err, rc, "start output reader");
	}
	while (sem_wait(&c->started) < 0 && errno == EINTR)
		;
	c->running = true;
	return 0;
}

/* After every writer is gone (the sandbox returned): read to the end. */
static void capture_finish(struct capture *c)
{
	if (!c->running)
		return;
	if (c->wfd >= 0)
		close(c->wfd);
	c->wfd = -1;
	pthread_join(c->th, NULL);
	sem_destroy(&c->started);
	close(c->rfd);
	c->rfd = -1;
	sb_sha256_final(&c->h, c->digest);
	c->running = false;
}

/* --- one run's context --- */

struct prun {
	const struct sb_probe_image *img;
	const struct sb_probe_opts *opts;
	struct sb_probe_report *rep;
	const struct sb_probe *probes;
	size_t n;
	unsigned timeout_ms;
	int nruns;
};

struct rundir {
	char *upper, *work, *root;
};

static void rundir_release(struct rundir *d)
{
	free(d->upper);
	free(d->work);
	free(d->root);
}

static int rundir_make(struct prun *p, struct rundir *d, struct sb_error **err)
{
	char *dir = sb_xasprintf("%s/run%d", p->rep->scratch, ++p->nruns);
	memset(d, 0, sizeof(*d));
	d->upper = sb_xasprintf("%s/upper", dir);
	d->work = sb_xasprintf("%s/work", dir);
	d->root = sb_xasprintf("%s/root", dir);
	if (mkdir(dir, 0700) < 0 || mkdir(d->upper, 0755) < 0 || mkdir(d->work, 0700) < 0 ||
	    mkdir(d->root, 0755) < 0) {
		sb_error_set(err, errno, "probe: make %s", dir);
		free(dir);
		rundir_release(d);
		return -1;
	}
	free(dir);
	return 0;
}

/* ENTRYPOINT + args, args being the probe's or, when NULL, CMD. */
static const char **build_argv(const struct sb_probe_image *img, char *const *args)
{
	const char *const *cmd = args ? (const char *const *)args : img->cmd;
	size_t n = 0, i = 0;
	const char **v;
	for (const char *const *a = img->entrypoint; a && *a; a++)
		n++;
	for (const char *const *a = cmd; a && *a; a++)
		n++;
	v = sb_xcalloc(n + 1, sizeof(*v));
	for (const char *const *a = img->entrypoint; a && *a; a++)
		v[i++] = *a;
	for (const char *const *a = cmd; a && *a; a++)
		v[i++] = *a;
	return v;
}

static void spec_for_image(const struct prun *p, const struct rundir *d, struct sb_sandbox_spec *spec)
{
	sb_sandbox_spec_init(spec);
	spec->rootfs = d->root;
	spec->lower_dirs = p->img->lower_dirs;
	spec->upper_dir = d->upper;
	spec->work_dir = d->work;
	spec->env = p->img->env;
	spec->cwd = p->img->workdir && *p->img->workdir ? p->img->workdir : NULL;
	spec->user = p->img->user;
	spec->net = SB_NET_NONE;
}

/* A fresh overlay and captured streams for one sandbox run of the image's
 * argv, in spec. Undone by run_finish. */
static int run_prepare(struct prun *p, const char **argv, size_t keep_out, size_t keep_err, struct rundir *d,
		       struct capture *out, struct capture *errc, struct sb_sandbox_spec *spec, struct sb_error **err)
{
	if (rundir_make(p, d, err) < 0)
		return -1;
	if (capture_start(out, keep_out, err) < 0) {
		rundir_release(d);
		return -1;
	}
	if (capture_start(errc, keep_err, err) < 0) {
		capture_finish(out);
		rundir_release(d);
		return -1;
	}
	spec_for_image(p, d, spec);
	spec->argv = argv;
	spec->stdout_fd = out->wfd;
	spec->stderr_fd = errc->wfd;
	return 0;
}

static void run_finish(struct rundir *d, struct capture *out, struct capture *errc)
{
	capture_finish(out);
	capture_finish(errc);
	rundir_release(d);
}

static unsigned timeout_secs(unsigned ms)
{
	return ms / 1000 + (ms % 1000 != 0);
}

/* sb_sandbox_run, or sb_sandbox_exec into pidfd when pidfd >= 0, traced
 * into the report when asked. */
static int run_traced(struct prun *p, struct sb_sandbox_spec *spec, int pidfd, struct sb_sandbox_result *res,
		      struct sb_error **err)
{
	struct sb_trace *t = NULL;
	struct sb_trace_result tr;
	int rc;

	if (p->opts->trace) {
		if (sb_trace_new(&p->opts->trace_opts, &t, err) < 0)
			return -1;
		spec->tracer = sb_trace_hook(t);
	}
	rc = pidfd >= 0 ? sb_sandbox_exec(pidfd, spec, res, err) : sb_sandbox_run(spec, res, err);
	if (t) {
		sb_trace_finish(t, &tr, NULL);
		sb_trace_free(t);
		sb_trace_result_merge(&p->rep->trace, &tr);
		p->rep->traced = true;
	}
	return rc;
}

static void outcome_output(struct sb_probe_outcome *o, struct capture *out, struct capture *errc)
{
	o->out_len = out->buf.len;
	o->out = sb_strbuf_detach(&out->buf, NULL);
	o->out_size = out->size;
	memcpy(o->out_digest, out->digest, sizeof(o->out_digest));
	o->err_len = errc->buf.len;
	o->err_out = sb_strbuf_detach(&errc->buf, NULL);
}

/* --- CMD probes --- */

struct cmd_wait {
	int64_t deadline;
	bool timed_out;
};

/* Wait for the command (its pidfd turns readable at exit) and kill it at
 * the deadline: init then exits and the kernel kills the rest. */
static void cmd_started(void *arg, int pidfd)
{
	struct cmd_wait *w = arg;
	for (;;) {
		struct pollfd pfd = { pidfd, POLLIN, 0 };
		int n = poll(&pfd, 1, left_ms(w->deadline));
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			w->timed_out = true;
			syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
		}
		break;
	}
	close(pidfd);
}

static int run_cmd(struct prun *p, const struct sb_probe *pr, struct sb_probe_outcome *o, struct sb_error **err)
{
	struct sb_sandbox_spec spec;
	struct sb_sandbox_result res;
	struct capture out, errc;
	struct rundir d;
	struct cmd_wait w;
	sb_autofree const char **argv = build_argv(p->img, pr->argv);
	int rc;

	if (!argv[0])
		return sb_error_setx(err, EINVAL, "%s: the image has no ENTRYPOINT or CMD to run", o->name);
	if (run_prepare(p, argv, SB_PROBE_MAX_OUTPUT, SB_PROBE_MAX_OUTPUT, &d, &out, &errc, &spec, err) < 0)
		return -1;
	/* a backstop: cmd_started kills at the deadline */
	spec.timeout = timeout_secs(p->timeout_ms) + 10;
	w.deadline = now_ms() + p->timeout_ms;
	w.timed_out = false;
	spec.started = cmd_started;
	spec.started_arg = &w;
	rc = run_traced(p, &spec, -1, &res, err);
	run_finish(&d, &out, &errc);
	outcome_output(o, &out, &errc);
	if (rc < 0)
		return sb_error_wrap(err, "%s", o->name);
	o->exit_code = rc;
	if (w.timed_out || res.timed_out) {
		o->timed_out = true;
		o->error = sb_xasprintf("timed out after %u ms (killed)", p->timeout_ms);
	}
	return 0;
}

/* --- the service --- */

struct port_state {
	unsigned port;
	bool ready;
	char *error; /* the wait failed: every later probe on the port fails alike */
};

struct service {
	struct prun *p;
	int pidfd;
	int64_t started_at;
	struct port_state *ports;
	size_t nports;
	bool died; /* exited on its own before it was stopped */
	bool stopped;
};

static bool service_alive(struct service *s, int wait_ms)
{
	struct pollfd pfd = { s->pidfd, POLLIN, 0 };
	int n;
	while ((n = poll(&pfd, 1, wait_ms)) < 0 && errno == EINTR)
		;
	if (n > 0 && !s->stopped)
		s->died = true;
	return n == 0;
}

struct netns_socket {
	int pidfd, family, fd, err;
};

/* A thread's network namespace is its own (setns(CLONE_NEWNET) moves the
 * calling thread only), and a socket stays in the namespace it was
 * created in: so a short-lived thread joins the container's namespace and
 * makes the socket, and the caller's threads never leave the host's. */
static void *netns_socket_main(void *arg)
{
	struct netns_socket *ns = arg;
	if (setns(ns->pidfd, CLONE_NEWNET) < 0) {
		ns->err = errno;
		return NULL;
	}
	ns->fd = socket(ns->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ns->fd < 0)
		ns->err = errno;
	return NULL;
}

/* A TCP connection to port on the container's loopback (127.0.0.1, then
 * ::1). Returns the connected (non-blocking) socket, or -1 with *e the
 * errno of the last attempt. */
static int connect_port(struct service *s, unsigned port, int64_t deadline, int *e)
{
	static const int families[2] = { AF_INET, AF_INET6 };
	*e = ECONNREFUSED;
	for (int i = 0; i < 2; i++) {
		struct netns_socket ns = { s->pidfd, families[i], -1, 0 };
		struct sockaddr_storage sa;
		socklen_t salen;
		pthread_t th;
		int rc = pthread_create(&th, NULL, netns_socket_main, &ns);
		if (rc) {
			*e = rc;
			return -1;
		}
		pthread_join(th, NULL);
		if (ns.fd < 0) {
			*e = ns.err;
			if (ns.err == EAFNOSUPPORT)
				continue;
			return -1;
		}
		memset(&sa, 0, sizeof(sa));
		if (families[i] == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&sa;
			in->sin_family = AF_INET;
			in->sin_port = htons((uint16_t)port);
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			salen = sizeof(*in);
		} else {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
			in6->sin6_family = AF_INET6;
			in6->sin6_port = htons((uint16_t)port);
			in6->sin6_addr = in6addr_loopback;
			salen = sizeof(*in6);
		}
		if (connect(ns.fd, (struct sockaddr *)&sa, salen) == 0)
			return ns.fd;
		if (errno == EINPROGRESS) {
			struct pollfd pfd = { ns.fd, POLLOUT, 0 };
			int soerr = 0;
			socklen_t l = sizeof(soerr);
			if (poll(&pfd, 1, left_ms(deadline)) == 1 &&
			    getsockopt(ns.fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 && soerr == 0)
				return ns.fd;
			*e = soerr ? soerr : ETIMEDOUT;
		} else
			*e = errno;
		close(ns.fd);
	}
	return -1;
}

static void fail(struct sb_probe_outcome *o, const char *fmt, ...) SB_PRINTF(2, 3);
static void fail(struct sb_probe_outcome *o, const char *fmt, ...)
{
	va_list ap;
	char *m = NULL;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(o->error);
	o->error = m;
}

/* Wait until port accepts (from inside the container). 0 when it does,
 * with *fd the connection that proved it (used for the request: a
 * readiness check that connects and hangs up is noise to the server), or
 * -1 when the port was known ready. */
static int wait_port(struct service *s, unsigned port, struct sb_probe_outcome *o, int *fd)
{
	struct port_state *ps = NULL;
	int64_t deadline = now_ms() + s->p->timeout_ms;
	int delay = 2, e = 0;

	for (size_t i = 0; i < s->nports; i++)
		if (s->ports[i].port == port)
			ps = &s->ports[i];
	if (!ps) {
		s->ports = sb_xrealloc(s->ports, (s->nports + 1) * sizeof(*s->ports));
		ps = &s->ports[s->nports++];
		memset(ps, 0, sizeof(*ps));
		ps->port = port;
	}
	*fd = -1;
	if (ps->ready)
		return 0;
	if (ps->error) {
		fail(o, "%s", ps->error);
		return -1;
	}
	for (;;) {
		*fd = connect_port(s, port, deadline, &e);
		if (*fd >= 0) {
			ps->ready = true;
			return 0;
		}
		if (!service_alive(s, 0)) {
			ps->error = sb_xasprintf("the service exited before port %u accepted connections", port);
			break;
		}
		if (now_ms() >= deadline) {
			o->timed_out = true;
			ps->error = sb_xasprintf("port %u did not accept connections within %u ms (last: %s)", port,
						 s->p->timeout_ms, strerror(e));
			break;
		}
		/* the wait doubles as a watch on the service's exit */
		service_alive(s, delay < left_ms(deadline) ? delay : left_ms(deadline));
		if (delay < 50)
			delay *= 2;
	}
	fail(o, "%s", ps->error);
	return -1;
}

static bool header_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && line[n] == ':' && strncasecmp(line, name, n) == 0;
}

/* Decode a chunked body in place; false when malformed. */
static bool dechunk(char *b, size_t len, size_t *out)
{
	size_t r = 0, w = 0;
	for (;;) {
		char *end;
		unsigned long long n;
		const char *nl = memchr(b + r, '\n', len - r);
		if (!nl)
			return false;
		errno = 0;
		n = strtoull(b + r, &end, 16);
		if (errno || end == b + r)
			return false;
		r = (size_t)(nl - b) + 1;
		if (n == 0)
			break;
		if (n > len - r)
			return false;
		memmove(b + w, b + r, (size_t)n);
		w += (size_t)n;
		r += (size_t)n;
		if (r < len && b[r] == '\r')
			r++;
		if (r < len && b[r] == '\n')
			r++;
	}
	*out = w;
	return true;
}

/* Status and body of a whole HTTP/1.x response. */
static void parse_response(struct sb_probe_outcome *o, char *resp, size_t len, bool head)
{
	char *hdr_end = memmem(resp, len, "\r\n\r\n", 4);
	size_t hlen, blen;
	char *body, *line;
	bool chunked = false;
	long long clen = -1;

	if (hdr_end)
		hlen = (size_t)(hdr_end - resp) + 4;
	else if ((hdr_end = memmem(resp, len, "\n\n", 2)))
		hlen = (size_t)(hdr_end - resp) + 2;
	else {
		fail(o, "malformed HTTP response (%zu bytes, no end of headers)", len);
		return;
	}
	if (hlen < 12 || strncmp(resp, "HTTP/1.", 7) != 0 || resp[8] != ' ' || resp[9] < '1' || resp[9] > '9' ||
	    resp[10] < '0' || resp[10] > '9' || resp[11] < '0' || resp[11] > '9') {
		fail(o, "malformed HTTP status line");
		return;
	}
	o->http_status = (resp[9] - '0') * 100 + (resp[10] - '0') * 10 + (resp[11] - '0');
	for (line = memchr(resp, '\n', hlen); line && line < resp + hlen; line = memchr(line, '\n', (size_t)(resp + hlen - line))) {
		size_t ll;
		char *eol;
		line++;
		eol = memchr(line, '\n', (size_t)(resp + hlen - line));
		if (!eol)
			break;
		ll = (size_t)(eol - line);
		if (header_is(line, ll, "transfer-encoding") && memmem(line, ll, "chunked", 7))
			chunked = true;
		else if (header_is(line, ll, "content-length"))
			clen = strtoll(line + 15, NULL, 10);
	}
	body = resp + hlen;
	blen = head ? 0 : len - hlen;
	if (chunked && !head && !dechunk(body, blen, &blen)) {
		fail(o, "malformed chunked body");
		return;
	}
	if (!chunked && clen >= 0 && (unsigned long long)clen < blen)
		blen = (size_t)clen;
	o->body_size = blen;
	sb_sha256_digest(body, blen, o->body_digest);
	o->body_len = blen < SB_PROBE_MAX_BODY_PREFIX ? blen : SB_PROBE_MAX_BODY_PREFIX;
	o->body = sb_xstrndup(body, o->body_len);
}

static void http_probe(struct service *s, const struct sb_probe *pr, struct sb_probe_outcome *o)
{
	int64_t deadline;
	struct sb_strbuf req = SB_STRBUF_INIT, resp = SB_STRBUF_INIT;
	const char *method = pr->method ? pr->method : "GET";
	int fd, e;
	size_t off = 0;

	if (wait_port(s, pr->port, o, &fd) < 0)
		return;
	deadline = now_ms() + s->p->timeout_ms;
	if (fd < 0)
		fd = connect_port(s, pr->port, deadline, &e);
	if (fd < 0) {
		fail(o, "connect to port %u: %s", pr->port, strerror(e));
		return;
	}
	/* HTTP/1.0 so that servers answer without chunking and close */
	sb_strbuf_addf(&req, "%s %s HTTP/1.0\r\nHost: localhost:%u\r\nUser-Agent: slimbuild-probe\r\nAccept: */*\r\n"
			     "Connection: close\r\n\r\n",
		       method, pr->path ? pr->path : "/", pr->port);
	sb_strbuf_init(&resp, SB_PROBE_MAX_RESPONSE);
	while (off < req.len) {
		struct pollfd pfd = { fd, POLLOUT, 0 };
		ssize_t n = send(fd, req.buf + off, req.len - off, MSG_NOSIGNAL);
		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			fail(o, "send request: %s", strerror(errno));
			goto out;
		}
		if (poll(&pfd, 1, left_ms(deadline)) == 0) {
			o->timed_out = true;
			fail(o, "send request: timed out after %u ms", s->p->timeout_ms);
			goto out;
		}
	}
	for (;;) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		char chunk[65536];
		ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
		if (n == 0)
			break;
		if (n > 0) {
			if (sb_strbuf_add(&resp, chunk, (size_t)n) < 0) {
				fail(o, "response larger than %zu bytes", SB_PROBE_MAX_RESPONSE);
				goto out;
			}
			continue;
		}
		if (errno == ECONNRESET && resp.len)
			break;
		if (errno != EAGAIN && errno != EINTR) {
			fail(o, "read response: %s", strerror(errno));
			goto out;
		}
		if (poll(&pfd, 1, left_ms(deadline)) == 0) {
			o->timed_out = true;
			fail(o, "no complete response within %u ms (%zu bytes read)", s->p->timeout_ms, resp.len);
			goto out;
		}
	}
	parse_response(o, resp.buf, resp.len, strcmp(method, "HEAD") == 0);
	if (!o->error && pr->want_status && o->http_status != pr->want_status)
		fail(o, "status %d, want %d", o->http_status, pr->want_status);
out:
	close(fd);
	sb_strbuf_release(&req);
	sb_strbuf_release(&resp);
}

static void exec_probe(struct service *s, const struct sb_probe *pr, struct sb_probe_outcome *o)
{
	struct prun *p = s->p;
	struct sb_sandbox_spec spec;
	struct sb_sandbox_result res = { -1, 0, false, false };
	struct sb_error *err = NULL;
	struct capture out, errc;
	int rc;

	if (!service_alive(s, 0)) {
		fail(o, "the service is not running");
		return;
	}
	if (capture_start(&out, SB_PROBE_MAX_OUTPUT, &err) < 0)
		goto out;
	if (capture_start(&errc, SB_PROBE_MAX_OUTPUT, &err) < 0) {
		capture_finish(&out);
		goto out;
	}
	sb_sandbox_spec_init(&spec);
	spec.argv = (const char *const *)pr->argv;
	spec.env = p->img->env;
	spec.cwd = p->img->workdir && *p->img->workdir ? p->img->workdir : NULL;
	spec.user = p->img->user;
	spec.stdout_fd = out.wfd;
	spec.stderr_fd = errc.wfd;
	spec.timeout = timeout_secs(p->timeout_ms);
	rc = run_traced(p, &spec, s->pidfd, &res, &err);
	capture_finish(&out);
	capture_finish(&errc);
	outcome_output(o, &out, &errc);
	if (rc >= 0)
		o->exit_code = rc;
	if (res.timed_out) {
		o->timed_out = true;
		fail(o, "timed out after %u s (killed)", spec.timeout);
	}
out:
	if (err)
		fail(o, "%s", err->msg);
	sb_error_free(err);
}

/* As docker stop: SIGTERM, then SIGKILL after the grace period. */
static void service_stop(struct service *s)
{
	unsigned grace = s->p->opts->stop_ms ? s->p->opts->stop_ms : DEFAULT_STOP_MS;
	if (!service_alive(s, 0))
		return;
	s->stopped = true;
	syscall(SYS_pidfd_send_signal, s->pidfd, SIGTERM, NULL, 0);
	if (service_alive(s, (int)grace))
		syscall(SYS_pidfd_send_signal, s->pidfd, SIGKILL, NULL, 0);
}

/* The service's sandbox is up: run every HTTP and EXEC probe in order,
 * keep it running for keep_ms, stop it. */
static void service_started(void *arg, int pidfd)
{
	struct service *s = arg;
	struct prun *p = s->p;

	s->pidfd = pidfd;
	s->started_at = now_ms();
	p->rep->service_pid = sb_pidfd_pid(pidfd);
	for (size_t i = 0; i < p->n; i++) {
		const struct sb_probe *pr = &p->probes[i];
		struct sb_probe_outcome *o = &p->rep->outcomes[i];
		int64_t t0 = now_ms();
		if (pr->kind == SB_PROBE_HTTP)
			http_probe(s, pr, o);
		else if (pr->kind == SB_PROBE_EXEC)
			exec_probe(s, pr, o);
		else
			continue;
		o->ms = (uint64_t)(now_ms() - t0);
	}
	if (p->opts->keep_ms) {
		int64_t until = s->started_at + p->opts->keep_ms;
		while (now_ms() < until && service_alive(s, left_ms(until)))
			;
	}
	service_stop(s);
	close(pidfd);
	s->pidfd = -1;
}

static int run_service(struct prun *p, struct sb_error **err)
{
	struct service s;
	struct sb_sandbox_spec spec;
	struct sb_sandbox_result res = { -1, 0, false, false };
	struct capture out, errc;
	struct rundir d;
	sb_autofree const char **argv = build_argv(p->img, NULL);
	int64_t t0;
	int rc;

	if (!argv[0])
		return sb_error_setx(err, EINVAL, "probe: the image has no ENTRYPOINT or CMD to serve");
	memset(&s, 0, sizeof(s));
	s.p = p;
	s.pidfd = -1;
	/* the service's output is only quoted when it dies */
	if (run_prepare(p, argv, STDERR_QUOTE, 64 << 10, &d, &out, &errc, &spec, err) < 0)
		return -1;
	spec.started = service_started;
	spec.started_arg = &s;
	t0 = now_ms();
	rc = run_traced(p, &spec, -1, &res, err);
	p->rep->service_ms = (uint64_t)(now_ms() - t0);
	p->rep->service_status = rc;
	run_finish(&d, &out, &errc);
	for (size_t i = 0; i < p->n; i++) {
		struct sb_probe_outcome *o = &p->rep->outcomes[i];
		if (p->probes[i].kind == SB_PROBE_CMD)
			continue;
		if (rc < 0 && !o->error)
			fail(o, "the service did not start: %s", err && *err ? (*err)->msg : "?");
		else if (s.died && o->error) {
			/* the service's own words are the best clue */
			size_t n = errc.buf.len, from = n > STDERR_QUOTE ? n - STDERR_QUOTE : 0;
			char *m = o->error;
			o->error = sb_xasprintf("%s; the service exited with status %d%s%.*s", m, rc,
						n ? "; its stderr ends: " : "", (int)(n - from), errc.buf.buf + from);
			free(m);
		}
	}
	sb_strbuf_release(&out.buf);
	sb_strbuf_release(&errc.buf);
	for (size_t i = 0; i < s.nports; i++)
		free(s.ports[i].error);
	free(s.ports);
	return rc < 0 ? sb_error_wrap(err, "service %s", argv[0]) : 0;
}

/* --- the run --- */

static int make_scratch(const struct sb_probe_opts *opts, struct sb_probe_report *r, struct sb_error **err)
{
	const char *base = opts->scratch_dir;
	char *t;
	if (!base || !*base)
		base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	t = sb_xasprintf("%s/slimbuild-probe.XXXXXX", base);
	if (!mkdtemp(t)) {
		sb_error_set(err, errno, "probe: make a scratch directory in %s", base);
		free(t);
		return -1;
	}
	r->scratch = t;
	return 0;
}

int sb_probe_run(const struct sb_probe_image *img, const struct sb_probe_opts *opts, struct sb_probe_report *out,
		 struct sb_error **err)
{
	struct prun p;
	struct sb_probe *defaults = NULL;
	size_t ndefaults = 0;
	int64_t t0 = now_ms();
	bool service = false;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->trace.rootfd = -1;
	out->service_status = -1;
	memset(&p, 0, sizeof(p));
	p.img = img;
	p.opts = opts;
	p.rep = out;
	p.timeout_ms = opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
	p.probes = opts->probes;
	p.n = opts->nprobes;
	if (!img->lower_dirs || !img->lower_dirs[0])
		return sb_error_setx(err, EINVAL, "probe: the image has no layers");
	if (p.n == 0) {
		/* an HTTP GET / on every EXPOSEd port, else the command as it is */
		ndefaults = img->nports ? img->nports : 1;
		defaults = sb_xcalloc(ndefaults, sizeof(*defaults));
		for (size_t i = 0; i < img->nports; i++) {
			defaults[i].kind = SB_PROBE_HTTP;
			defaults[i].method = sb_xstrdup("GET");
			defaults[i].port = img->ports[i];
			defaults[i].path = sb_xstrdup("/");
		}
		if (!img->nports)
			defaults[0].kind = SB_PROBE_CMD;
		p.probes = defaults;
		p.n = ndefaults;
	}
	for (size_t i = 0; i < p.n; i++) {
		const struct sb_probe *pr = &p.probes[i];
		if (pr->kind == SB_PROBE_HTTP && (pr->port == 0 || pr->port > 65535)) {
			rc = sb_error_setx(err, EINVAL, "http probe: bad port %u", pr->port);
			goto out;
		}
		if (pr->kind == SB_PROBE_EXEC && (!pr->argv || !pr->argv[0])) {
			rc = sb_error_setx(err, EINVAL, "exec probe: no command");
			goto out;
		}
	}
	if (make_scratch(opts, out, err) < 0) {
		rc = -1;
		goto out;
	}
	out->n = p.n;
	out->outcomes = sb_xcalloc(p.n, sizeof(*out->outcomes));
	for (size_t i = 0; i < p.n; i++) {
		out->outcomes[i].kind = p.probes[i].kind;
		out->outcomes[i].name = sb_probe_describe(&p.probes[i]);
		out->outcomes[i].exit_code = -1;
		service |= p.probes[i].kind != SB_PROBE_CMD;
	}
	for (size_t i = 0; i < p.n && rc == 0; i++) {
		int64_t t = now_ms();
		if (p.probes[i].kind != SB_PROBE_CMD)
			continue;
		rc = run_cmd(&p, &p.probes[i], &out->outcomes[i], err);
		out->outcomes[i].ms = (uint64_t)(now_ms() - t);
	}
	if (rc == 0 && service)
		rc = run_service(&p, err);
	for (size_t i = 0; i < out->n; i++)
		out->failed += out->outcomes[i].error != NULL;
out:
	for (size_t i = 0; i < ndefaults; i++)
		sb_probe_release(&defaults[i]);
	free(defaults);
	out->wall_ms = (uint64_t)(now_ms() - t0);
	return rc < 0 ? -1 : 0;
}

void sb_probe_report_release(struct sb_probe_report *r)
{
	for (size_t i = 0; i < r->n; i++) {
		struct sb_probe_outcome *o = &r->outcomes[i];
		free(o->name);
		free(o->error);
		free(o->out);
		free(o->err_out);
		free(o->body);
	}
	free(r->outcomes);
	/* the root first: it keeps an overlay over the scratch alive */
	sb_trace_result_release(&r->trace);
	if (r->scratch)
		sb_rm_rf(AT_FDCWD, r->scratch, NULL);
	free(r->scratch);
	memset(r, 0, sizeof(*r));
	r->trace.rootfd = -1;
}

/* --- verification --- */

static bool differ(char **why, const char *fmt, ...) SB_PRINTF(2, 3);
static bool differ(char **why, const char *fmt, ...)
{
	va_list ap;
	if (!why)
		return false;
	va_start(ap, fmt);
	if (vasprintf(why, fmt, ap) < 0)
		abort();
	va_end(ap);
	return false;
}

/* Where two kept prefixes first differ, for the message. */
static size_t first_diff(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i = 0;
	while (i < alen && i < blen && a[i] == b[i])
		i++;
	return i;
}

bool sb_probe_outcome_equal(const struct sb_probe_outcome *a, const struct sb_probe_outcome *b, char **why)
{
	if (why)
		*why = NULL;
	if (a->kind != b->kind)
		return differ(why, "different kinds of probe");
	if (a->error || b->error)
		return differ(why, "the probe failed: %s", a->error ? a->error : b->error);
	if (a->kind == SB_PROBE_HTTP) {
		if (a->http_status != b->http_status)
			return differ(why, "HTTP status %d, was %d", b->http_status, a->http_status);
		if (strcmp(a->body_digest, b->body_digest) != 0)
			return differ(why, "HTTP body differs (%" PRIu64 " bytes %s, was %" PRIu64 " bytes %s)",
				      b->body_size, b->body_digest, a->body_size, a->body_digest);
		return true;
	}
	if (a->exit_code != b->exit_code)
		return differ(why, "exit code %d, was %d", b->exit_code, a->exit_code);
	if (strcmp(a->out_digest, b->out_digest) != 0)
		return differ(why, "stdout differs from byte %zu (%" PRIu64 " bytes, was %" PRIu64 ")",
			      first_diff(a->out ? a->out : "", a->out_len, b->out ? b->out : "", b->out_len),
			      b->out_size, a->out_size);
	return true;
}

/* --- traces --- */

void sb_trace_result_merge(struct sb_trace_result *into, struct sb_trace_result *from)
{
	struct sb_pathmap m;

	sb_pathmap_init(&m);
	for (size_t i = 0; i < into->npaths; i++) {
		const struct sb_profile_path *e = &into->paths[i];
		sb_pathmap_add(&m, e->path, strlen(e->path), e->flags, e->target);
	}
	for (size_t i = 0; i < from->npaths; i++) {
		const struct sb_profile_path *e = &from->paths[i];
		sb_pathmap_add(&m, e->path, strlen(e->path), e->flags, e->target);
	}
	sb_profile_paths_free(into->paths, into->npaths);
	sb_pathmap_take(&m, &into->paths, &into->npaths);
	sb_pathmap_release(&m);
	for (size_t i = 0; i < SB_TRACE_MAX_SYSCALL / 64; i++) {
		into->syscalls[i] |= from->syscalls[i];
		into->assumed[i] |= from->assumed[i];
	}
	into->events += from->events;
	into->dropped += from->dropped;
	if (!into->tracer)
		into->tracer = from->tracer;
	if (into->rootfd < 0) {
		into->rootfd = from->rootfd;
		from->rootfd = -1;
	}
	sb_trace_result_release(from);
}
