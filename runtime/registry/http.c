/* The registry transport: one libcurl easy handle per thread, requests with
 * auth and retries (exponential backoff on connection errors, 5xx and
 * 429), bounded response bodies, streaming sinks, and a small pool of
 * worker threads for parallel blob transfers. */
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "runtime/core/fs.h"
#include "runtime/registry/internal.h"

/* libcurl's global init is not thread-safe and must happen once before
 * any handle exists: the only process-wide state this module has. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

CURL *sb_reg_curl_new(void)
{
	CURL *curl;

	pthread_once(&curl_once, curl_init_once);
	curl = curl_init_rc == CURLE_OK ? curl_easy_init() : NULL;
	if (!curl) {
		/* curl_easy_init fails only when out of memory */
		static const char msg[] = "slimbuild: libcurl initialisation failed\n";
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* nothing left to report with */
		}
		abort();
	}
	return curl;
}

/* ---- backoff ---- */

long sb_reg_backoff_ms(unsigned attempt, long base_ms, const char *retry_after, time_t now, double jitter)
{
	long d = base_ms > 0 ? base_ms : 1;

	if (retry_after) {
		const char *p = retry_after;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p >= '0' && *p <= '9') {
			/* delta-seconds (RFC 9110 section 10.2.3) */
			long long secs = 0;
			for (; *p >= '0' && *p <= '9'; p++) {
				secs = secs * 10 + (*p - '0');
				if (secs > SB_REG_BACKOFF_CAP_MS / 1000)
					return -1;
			}
			while (*p == ' ' || *p == '\t')
				p++;
			if (!*p)
				return (long)secs * 1000;
		} else if (*p) {
			time_t t = curl_getdate(p, NULL);
			if (t != (time_t)-1) {
				if (t <= now)
					return 0;
				if (t - now > SB_REG_BACKOFF_CAP_MS / 1000)
					return -1;
				return (long)(t - now) * 1000;
			}
		}
	}
	for (unsigned i = 0; i < attempt && d < SB_REG_BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > SB_REG_BACKOFF_CAP_MS)
		d = SB_REG_BACKOFF_CAP_MS;
	if (!(jitter >= 0))
		jitter = 0;
	if (jitter >= 1)
		jitter = 0.999;
	/* up to a quarter more, so parallel workers that failed together do
	 * not retry together */
	d += (long)(jitter * (double)(d / 4));
	return d > SB_REG_BACKOFF_CAP_MS ? SB_REG_BACKOFF_CAP_MS : d;
}

/* ---- client ---- */

int sb_reg_client_init(struct sb_reg_client *c, const char *domain, const char *host, const char *image,
		       const struct sb_registry_opts *opts, struct sb_error **err)
{
	sb_autofree char *dir = NULL;
	const char *env;

	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->lock, NULL);
	c->domain = sb_xstrdup(domain);
	c->host = sb_xstrdup(host);
	c->image = sb_xstrdup(image);
	c->loopback = sb_reg_host_is_loopback(host);
	c->user_agent = opts && opts->user_agent ? sb_xstrdup(opts->user_agent) : sb_xstrdup("slimbuild/" SB_VERSION);
	c->max_retries = !opts || opts->max_retries == 0 ? SB_REG_DEFAULT_RETRIES
			 : opts->max_retries < 0	  ? 0
							  : opts->max_retries;
	c->retry_base_ms = opts && opts->retry_base_ms > 0 ? opts->retry_base_ms : SB_REG_DEFAULT_RETRY_BASE_MS;
	c->progress = opts ? opts->progress : NULL;
	c->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)c;
	env = getenv("SSL_CERT_FILE");
	if (env && *env)
		c->cainfo = sb_xstrdup(env);
	env = getenv("SSL_CERT_DIR");
	if (env && *env)
		c->capath = sb_xstrdup(env);

	pthread_once(&curl_once, curl_init_once);
	if (curl_init_rc != CURLE_OK)
		return sb_error_setx(err, EIO, "libcurl initialisation failed: %s", curl_easy_strerror(curl_init_rc));

	dir = sb_docker_config_dir(opts ? opts->docker_config : NULL);
	if (dir)
		c->config_path = sb_xasprintf("%s/config.json", dir);
	if (sb_docker_config_lookup(dir, domain, &c->creds, err) < 0)
		return sb_error_wrap(err, "%s: credentials", image);
	return 0;
}

void sb_reg_client_release(struct sb_reg_client *c)
{
	free(c->domain);
	free(c->host);
	free(c->base);
	free(c->image);
	free(c->cainfo);
	free(c->capath);
	free(c->user_agent);
	free(c->config_path);
	sb_credentials_release(&c->creds);
	sb_auth_challenge_release(&c->challenge);
	for (size_t i = 0; i < c->ntokens; i++) {
		free(c->tokens[i].scope);
		explicit_bzero(c->tokens[i].token, strlen(c->tokens[i].token));
		free(c->tokens[i].token);
	}
	free(c->tokens);
	pthread_mutex_destroy(&c->lock);
	memset(c, 0, sizeof(*c));
}

static bool aborted(const struct sb_reg_client *c)
{
	return c->abort_flag && __atomic_load_n(c->abort_flag, __ATOMIC_RELAXED);
}

/* ---- URLs ---- */

char *sb_reg_url(struct sb_reg_client *c, const char *url)
{
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return sb_xstrdup(url);
	return sb_xasprintf("%s%s%s", c->base, url[0] == '/' ? "" : "/", url);
}

char *sb_reg_url_add_query(const char *url, const char *name, const char *value)
{
	char *esc = curl_easy_escape(NULL, value, 0);
	char *out;

	if (!esc)
		abort(); /* out of memory */
	out = sb_xasprintf("%s%c%s=%s", url, strchr(url, '?') ? '&' : '?', name, esc);
	curl_free(esc);
	return out;
}

void sb_reg_short_id(const char *digest, char out[13])
{
	const char *hex = strncmp(digest, "sha256:", 7) == 0 ? digest + 7 : digest;
	size_t n = strnlen(hex, 12);

	memcpy(out, hex, n);
	out[n] = '\0';
}

/* ---- responses ---- */

void sb_reg_response_init(struct sb_reg_response *r)
{
	memset(r, 0, sizeof(*r));
	sb_strbuf_init(&r->body, 0);
}

static void response_clear_headers(struct sb_reg_response *r)
{
	free(r->content_type);
	free(r->docker_content_digest);
	free(r->location);
	free(r->content_range);
	free(r->retry_after);
	r->content_type = r->docker_content_digest = r->location = r->content_range = r->retry_after = NULL;
	sb_auth_challenges_release(&r->challenges);
	r->reason[0] = '\0';
}

void sb_reg_response_release(struct sb_reg_response *r)
{
	response_clear_headers(r);
	sb_strbuf_release(&r->body);
	r->status = 0;
}

/* State of one attempt, shared with the curl callbacks. */
struct attempt {
	struct sb_reg_client *client;
	const struct sb_reg_request *req;
	struct sb_reg_response *resp;
	size_t max_body;
	uint64_t pos;            /* request body position */
	int read_errno;
	bool too_big;
	struct sb_error *sink_err;
};

static void set_header(char **slot, const char *v, size_t n)
{
	free(*slot);
	*slot = sb_xstrndup(v, n);
}

static size_t header_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct attempt *a = ud;
	struct sb_reg_response *r = a->resp;
	size_t n = size * nitems, len = n, nlen;
	const char *colon, *v;

	while (len && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
		len--;
	if (len >= 5 && strncmp(buf, "HTTP/", 5) == 0) {
		/* a new response (after a redirect or a 100 Continue): its
		 * headers replace the previous one's */
		const char *sp = memchr(buf, ' ', len), *reason;
		long st = 0;
		response_clear_headers(r);
		if (sp) {
			for (sp++; sp < buf + len && *sp >= '0' && *sp <= '9' && st < 1000; sp++)
				st = st * 10 + (*sp - '0');
			reason = sp < buf + len && *sp == ' ' ? sp + 1 : sp;
			if (reason < buf + len) {
				size_t rn = (size_t)(buf + len - reason);
				if (rn >= sizeof(r->reason))
					rn = sizeof(r->reason) - 1;
				memcpy(r->reason, reason, rn);
				r->reason[rn] = '\0';
			}
		}
		r->status = st;
		return n;
	}
	colon = memchr(buf, ':', len);
	if (!colon)
		return n;
	nlen = (size_t)(colon - buf);
	v = colon + 1;
	while (v < buf + len && (*v == ' ' || *v == '\t'))
		v++;
	len = (size_t)(buf + len - v);
	while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
#define IS(h) (nlen == sizeof(h) - 1 && strncasecmp(buf, h, nlen) == 0)
	if (IS("Content-Type"))
		set_header(&r->content_type, v, len);
	else if (IS("Docker-Content-Digest"))
		set_header(&r->docker_content_digest, v, len);
	else if (IS("Location"))
		set_header(&r->location, v, len);
	else if (IS("Content-Range"))
		set_header(&r->content_range, v, len);
	else if (IS("Retry-After"))
		set_header(&r->retry_after, v, len);
	else if (IS("WWW-Authenticate")) {
		sb_autofree char *value = sb_xstrndup(v, len);
		struct sb_error *perr = NULL;
		/* a malformed challenge keeps what parsed; the 401 it came
		 * with is reported if nothing usable is left */
		sb_auth_parse_challenges(value, &r->challenges, &perr);
		sb_error_free(perr);
	}
#undef IS
	return n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
	struct attempt *a = ud;
	size_t n = size * nmemb;
	long st = a->resp->status;
	bool ok = st >= 200 && st < 300;

	if (ok && a->req->sink) {
		if (a->req->sink(a->req->sink_ctx, data, n, &a->sink_err) < 0)
			return 0;
		return n;
	}
	if (!ok) {
		/* an error body is only read for its message: keep the
		 * start, drop the rest */
		size_t room = a->resp->body.len < SB_REG_SMALL_BODY_MAX ? SB_REG_SMALL_BODY_MAX - a->resp->body.len : 0;
		sb_strbuf_add(&a->resp->body, data, n < room ? n : room);
		return n;
	}
	if (a->resp->body.len > a->max_body || n > a->max_body - a->resp->body.len) {
		a->too_big = true;
		return 0;
	}
	sb_strbuf_add(&a->resp->body, data, n);
	return n;
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
	struct attempt *a = ud;
	const struct sb_reg_request *req = a->req;
	uint64_t left = req->len - a->pos;
	size_t n = size * nitems;

	if (n > left)
		n = (size_t)left;
	if (n == 0)
		return 0;
	if (req->fd >= 0) {
		ssize_t r;
		do
			r = pread(req->fd, buf, n, (off_t)(req->offset + a->pos));
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			a->read_errno = r < 0 ? errno : EIO; /* 0: the file shrank under us */
			return CURL_READFUNC_ABORT;
		}
		n = (size_t)r;
	} else {
		memcpy(buf, (const char *)req->mem + a->pos, n);
	}
	a->pos += n;
	return n;
}

static int seek_cb(void *ud, curl_off_t offset, int origin)
{
	struct attempt *a = ud;

	/* curl rewinds the body to resend it after a redirect or an auth
	 * round */
	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > a->req->len)
		return CURL_SEEKFUNC_CANTSEEK;
	a->pos = (uint64_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct attempt *a = ud;
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return aborted(a->client) ? 1 : 0;
}

/* libcurl opens its sockets without SOCK_CLOEXEC: a build forks sandboxed
 * children while transfers may run, and none of them may inherit a
 * registry connection. */
static curl_socket_t opensocket_cb(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
	(void)ud;
	(void)purpose;
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static struct curl_slist *add_header(struct curl_slist *h, const char *fmt, ...) SB_PRINTF(2, 3);
static struct curl_slist *add_header(struct curl_slist *h, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	struct curl_slist *n;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);
	n = curl_slist_append(h, line);
	explicit_bzero(line, strlen(line)); /* may hold a credential */
	free(line);
	if (!n)
		abort(); /* out of memory */
	return n;
}

static CURLcode perform(struct sb_reg_client *c, CURL *curl, const char *url, const char *authz, uint64_t range_from,
			struct attempt *a, char *errbuf)
{
	const struct sb_reg_request *req = a->req;
	struct curl_slist *h = NULL;
	char range[32];
	CURLcode rc;

	curl_easy_reset(curl);
	errbuf[0] = '\0';
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	/* signals and threads do not mix: no SIGALRM-based DNS timeouts */
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, opensocket_cb);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_USERAGENT, c->user_agent);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
	/* a stalled transfer counts as a connection error: retried */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	/* bigger reads mean fewer writes into the blob writer: layers are
	 * megabytes */
	curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (c->cainfo)
		curl_easy_setopt(curl, CURLOPT_CAINFO, c->cainfo);
	if (c->capath)
		curl_easy_setopt(curl, CURLOPT_CAPATH, c->capath);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	if (req->follow) {
		/* curl sends neither a custom Authorization header nor basic
		 * credentials to another host on a redirect: blob storage
		 * behind a redirect gets a presigned URL, not our token */
		curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
		curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
		curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	}
	if (req->accept)
		h = add_header(h, "Accept: %s", req->accept);
	if (authz)
		h = add_header(h, "Authorization: %s", authz);
	if (req->content_type)
		h = add_header(h, "Content-Type: %s", req->content_type);
	if (req->content_range)
		h = add_header(h, "Content-Range: %s", req->content_range);
	if (req->basic && req->basic->username) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, req->basic->username);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, req->basic->password);
	}
	if (range_from) {
		snprintf(range, sizeof(range), "%llu-", (unsigned long long)range_from);
		curl_easy_setopt(curl, CURLOPT_RANGE, range);
	}

	if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "POST") == 0) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
		if (req->len == 0)
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
	} else {
		/* PUT, PATCH: the body streams from memory or a file */
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->len);
		if (strcmp(req->method, "PUT") != 0)
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	if (req->len) {
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(curl, CURLOPT_READDATA, a);
		curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, seek_cb);
		curl_easy_setopt(curl, CURLOPT_SEEKDATA, a);
	}
	if (h)
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);

	rc = curl_easy_perform(curl);
	/* the handle keeps pointers to errbuf and the header list: drop them
	 * before either goes away */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(h);
	return rc;
}

static bool curl_code_retryable(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_PARTIAL_FILE:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
		return true;
	default:
		return false;
	}
}

/* What a TLS server does to a plain HTTP request: an alert or a close,
 * which curl reads as no or a malformed HTTP answer. (Go's servers answer
 * with a 400 instead: see looks_like_tls_server.) */
static bool curl_code_not_http(CURLcode rc)
{
	return rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR || rc == CURLE_GOT_NOTHING ||
	       rc == CURLE_WEIRD_SERVER_REPLY || rc == CURLE_UNSUPPORTED_PROTOCOL;
}

static int curl_code_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT: return ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT: return ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST: return EHOSTUNREACH;
	case CURLE_PEER_FAILED_VERIFICATION: return EPERM;
	default: return EIO;
	}
}

bool sb_reg_sleep(struct sb_reg_client *c, long ms)
{
	while (ms > 0) {
		long slice = ms > 50 ? 50 : ms;
		struct timespec ts = { 0, slice * 1000000L };
		if (aborted(c))
			return false;
		nanosleep(&ts, NULL);
		ms -= slice;
	}
	return !aborted(c);
}

static double next_jitter(struct sb_reg_client *c)
{
	int r;
	pthread_mutex_lock(&c->lock);
	r = rand_r(&c->seed);
	pthread_mutex_unlock(&c->lock);
	return (double)r / ((double)RAND_MAX + 1.0);
}

int sb_reg_do(struct sb_reg_client *c, CURL *curl, const struct sb_reg_request *req, struct sb_reg_response *resp,
	      struct sb_error **err)
{
	sb_autofree char *url = sb_reg_url(c, req->url);
	char errbuf[CURL_ERROR_SIZE];
	bool auth_answered = false;
	unsigned attempt = 0;
	int max_retries = req->no_retry ? 0 : c->max_retries;

	for (;;) {
		sb_autofree char *authz = NULL;
		struct attempt a = { 0 };
		uint64_t range_from = 0;
		CURLcode rc;
		const char *why = NULL;
		char whybuf[CURL_ERROR_SIZE + 64];
		long delay;

		if (aborted(c))
			return sb_error_setx(err, ECANCELED, "%s: cancelled", c->image);
		if (!req->no_auth && sb_reg_auth_header(c, curl, req->scope, &authz, err) < 0)
			return -1;
		if (req->before_attempt && req->before_attempt(req->sink_ctx, &range_from, err) < 0)
			return -1;
		response_clear_headers(resp);
		sb_strbuf_reset(&resp->body);
		resp->status = 0;
		resp->range_from = range_from;
		a.client = c;
		a.req = req;
		a.resp = resp;
		a.max_body = req->max_body ? req->max_body : SB_REG_SMALL_BODY_MAX;

		rc = perform(c, curl, url, authz, range_from, &a, errbuf);
		resp->curl_code = rc;
		if (a.sink_err) {
			if (err && !*err)
				*err = a.sink_err;
			else
				sb_error_free(a.sink_err);
			return -1;
		}
		if (a.too_big)
			return sb_error_setx(err, EFBIG, "%s: %s %s: response larger than %zu bytes", c->image,
					     req->method, url, a.max_body);
		if (a.read_errno)
			return sb_error_set(err, a.read_errno, "%s: %s %s: reading the request body", c->image,
					    req->method, url);
		if (rc != CURLE_OK) {
			const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
			if (rc == CURLE_ABORTED_BY_CALLBACK && aborted(c))
				return sb_error_setx(err, ECANCELED, "%s: cancelled", c->image);
			if (req->probe_tls && curl_code_not_http(rc))
				return sb_error_setx(err, EPROTO, "%s: %s %s: %s", c->image, req->method, url, detail);
			if (!curl_code_retryable(rc) || (int)attempt >= max_retries) {
				const char *hint = rc == CURLE_PEER_FAILED_VERIFICATION
							   ? " (set SSL_CERT_FILE to the CA certificate that signed the "
							     "registry's)"
							   : "";
				if (attempt)
					return sb_error_setx(err, curl_code_errno(rc), "%s: %s %s: %s%s (after %u retries)",
							     c->image, req->method, url, detail, hint, attempt);
				return sb_error_setx(err, curl_code_errno(rc), "%s: %s %s: %s%s", c->image, req->method,
						     url, detail, hint);
			}
			snprintf(whybuf, sizeof(whybuf), "%s", detail);
			why = whybuf;
			delay = sb_reg_backoff_ms(attempt, c->retry_base_ms, NULL, time(NULL), next_jitter(c));
		} else if (resp->status == 401 && !req->no_auth && !auth_answered) {
			int r;
			auth_answered = true;
			r = sb_reg_auth_challenged(c, curl, req->scope, resp, err);
			if (r < 0)
				return -1;
			if (r == 0)
				return 0;
			continue;
		} else if ((resp->status >= 500 || resp->status == 429) && (int)attempt < max_retries) {
			delay = sb_reg_backoff_ms(attempt, c->retry_base_ms, resp->retry_after, time(NULL),
						  next_jitter(c));
			if (delay < 0)
				return 0; /* the server asks for a long wait: report its status */
			snprintf(whybuf, sizeof(whybuf), "%ld %s", resp->status, resp->reason);
			why = whybuf;
		} else {
			return 0;
		}

		{
			sb_autofree char *msg = sb_xasprintf("%s %s: %s; retry %u of %d in %ld ms", req->method, url,
							    why, attempt + 1, max_retries, delay);
			sb_progress_emit(c->progress, SB_PROGRESS_RETRY, req->progress_id ? req->progress_id : c->host,
					 req->what ? req->what : req->method, attempt + 1, (uint64_t)max_retries, msg);
		}
		if (!sb_reg_sleep(c, delay))
			return sb_error_setx(err, ECANCELED, "%s: cancelled", c->image);
		attempt++;
	}
}

/* ---- errors ---- */

/* "msg1; msg2" from a distribution error body {"errors":[{"code","message"}]}. */
static char *registry_messages(const struct sb_reg_response *resp)
{
	json_t *root, *errors, *e;
	json_error_t jerr;
	struct sb_strbuf sb;
	size_t i;

	if (resp->body.len == 0)
		return NULL;
	root = json_loadb(resp->body.buf, resp->body.len, 0, &jerr);
	if (!root)
		return NULL;
	sb_strbuf_init(&sb, 1024);
	errors = json_object_get(root, "errors");
	json_array_foreach(errors, i, e) {
		json_t *m = json_object_get(e, "message");
		json_t *code = json_object_get(e, "code");
		const char *s = json_is_string(m) && json_string_length(m) ? json_string_value(m)
				: json_is_string(code)			     ? json_string_value(code)
									     : NULL;
		if (!s)
			continue;
		if (sb.len)
			sb_strbuf_adds(&sb, "; ");
		/* keep it one line: a registry message is untrusted text */
		for (; *s; s++)
			if (sb_strbuf_addc(&sb, (unsigned char)*s < 0x20 ? ' ' : *s) < 0)
				break;
	}
	json_decref(root);
	if (!sb.len) {
		sb_strbuf_release(&sb);
		return NULL;
	}
	return sb_strbuf_detach(&sb, NULL);
}

int sb_reg_status_error(struct sb_reg_client *c, const char *what, const struct sb_reg_response *resp,
			struct sb_error **err)
{
	sb_autofree char *msg = registry_messages(resp);
	sb_autofree char *prefix = what ? sb_xasprintf("%s: %s", c->image, what) : sb_xstrdup(c->image);
	long st = resp->status;

	if (st == 401) {
		if (!c->creds.username)
			return sb_error_setx(err, EACCES,
					     "%s: unauthorized: %s%scheck credentials (401); none found for %s in %s",
					     prefix, msg ? msg : "", msg ? ": " : "", c->domain,
					     c->config_path ? c->config_path : "the docker config");
		return sb_error_setx(err, EACCES, "%s: unauthorized: %s%scheck credentials (401)", prefix,
				     msg ? msg : "", msg ? ": " : "");
	}
	if (st == 403)
		return sb_error_setx(err, EACCES, "%s: denied: %s (403)", prefix, msg ? msg : "access to the resource denied");
	if (st == 404)
		return sb_error_setx(err, ENOENT, "%s: %s (404)", prefix, msg ? msg : "not found");
	if (st == 429)
		return sb_error_setx(err, EAGAIN, "%s: too many requests%s%s (429)", prefix, msg ? ": " : "",
				     msg ? msg : "");
	return sb_error_setx(err, st >= 500 ? EIO : EPROTO, "%s: %s (%ld)", prefix,
			     msg ? msg : resp->reason[0] ? resp->reason : "unexpected HTTP status", st);
}

/* ---- ping ---- */

static int ping_once(struct sb_reg_client *c, CURL *curl, bool probe, struct sb_reg_response *resp,
		     struct sb_error **err)
{
	struct sb_reg_request req = { 0 };

	req.method = "GET";
	req.url = "/v2/";
	req.fd = -1;
	req.no_auth = true; /* the point is to learn the challenge */
	req.probe_tls = probe;
	return sb_reg_do(c, curl, &req, resp, err);
}

/* Go's TLS servers answer a plain HTTP request with "400 ... Client sent
 * an HTTP request to an HTTPS server." */
static bool looks_like_tls_server(const struct sb_reg_response *resp)
{
	return resp->status == 400 && strstr(resp->body.buf, "HTTPS");
}

int sb_reg_ping(struct sb_reg_client *c, CURL *curl, struct sb_error **err)
{
	struct sb_reg_response resp;
	const struct sb_auth_challenge *pick;
	int rc;

	sb_reg_response_init(&resp);
	free(c->base);
	if (c->loopback) {
		/* Plain HTTP first for a loopback registry, as Docker does for
		 * 127.0.0.0/8 (DESIGN.md). One that turns out to speak TLS is
		 * spoken to over HTTPS and verified like any other: no
		 * skipping verification because the host is local. Trying
		 * HTTP first, not TLS, because an HTTP server may wait for a
		 * line end a TLS hello never sends, while a TLS server
		 * rejects "GET /" at its first five bytes. */
		c->base = sb_xasprintf("http://%s", c->host);
		rc = ping_once(c, curl, true, &resp, err);
		if ((rc < 0 && curl_code_not_http(resp.curl_code)) || (rc == 0 && looks_like_tls_server(&resp))) {
			if (err)
				sb_error_freep(err);
			free(c->base);
			c->base = sb_xasprintf("https://%s", c->host);
			rc = ping_once(c, curl, false, &resp, err);
		}
	} else {
		c->base = sb_xasprintf("https://%s", c->host);
		rc = ping_once(c, curl, false, &resp, err);
	}
	if (rc < 0)
		goto out;
	if (resp.status == 401) {
		pick = sb_auth_pick(&resp.challenges);
		if (pick) {
			pthread_mutex_lock(&c->lock);
			sb_auth_challenge_release(&c->challenge);
			sb_auth_challenge_copy(&c->challenge, pick);
			c->have_challenge = true;
			pthread_mutex_unlock(&c->lock);
		}
	} else if (resp.status != 200) {
		rc = sb_error_setx(err, EPROTO, "%s: %s/v2/ answered %ld %s: not an OCI distribution registry",
				   c->image, c->base, resp.status, resp.reason);
	}
out:
	sb_reg_response_release(&resp);
	return rc;
}

/* ---- parallel jobs ---- */

struct pool {
	struct sb_reg_client *client;
	size_t n, next;
	int (*job)(void *ctx, size_t i, CURL *curl, struct sb_error **err);
	void *ctx;
	pthread_mutex_t lock;
	int abort_flag;
	struct sb_error *first;
};

static void *pool_worker(void *arg)
{
	struct pool *p = arg;
	CURL *curl = sb_reg_curl_new();

	for (;;) {
		struct sb_error *e = NULL;
		size_t i;

		pthread_mutex_lock(&p->lock);
		if (p->first || p->next >= p->n) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (p->job(p->ctx, i, curl, &e) < 0) {
			pthread_mutex_lock(&p->lock);
			/* the first failure is the one to report; the others
			 * are mostly "cancelled" because of it */
			if (!p->first) {
				p->first = e;
				if (!p->first)
					sb_error_setx(&p->first, EIO, "%s: a transfer failed", p->client->image);
				__atomic_store_n(&p->abort_flag, 1, __ATOMIC_RELAXED);
			} else {
				sb_error_free(e);
			}
			pthread_mutex_unlock(&p->lock);
		}
	}
	curl_easy_cleanup(curl);
	return NULL;
}

int sb_reg_parallel(struct sb_reg_client *c, size_t n, int max_parallel,
		    int (*job)(void *ctx, size_t i, CURL *curl, struct sb_error **err), void *ctx,
		    struct sb_error **err)
{
	struct pool p = { 0 };
	pthread_t tids[16];
	size_t nthreads = max_parallel > 0 ? (size_t)max_parallel : SB_REG_DEFAULT_PARALLEL;
	size_t started = 0;
	int *saved_abort = c->abort_flag;

	if (n == 0)
		return 0;
	if (nthreads > SB_ARRAY_SIZE(tids))
		nthreads = SB_ARRAY_SIZE(tids);
	if (nthreads > n)
		nthreads = n;
	p.client = c;
	p.n = n;
	p.job = job;
	p.ctx = ctx;
	pthread_mutex_init(&p.lock, NULL);
	c->abort_flag = &p.abort_flag;
	for (size_t i = 0; i < nthreads; i++) {
		int e = pthread_create(&tids[i], NULL, pool_worker, &p);
		if (e) {
			if (started)
				break; /* fewer workers is fine */
			c->abort_flag = saved_abort;
			pthread_mutex_destroy(&p.lock);
			return sb_error_set(err, e, "%s: start a transfer thread", c->image);
		}
		started++;
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	c->abort_flag = saved_abort;
	pthread_mutex_destroy(&p.lock);
	if (p.first) {
		if (err && !*err)
			*err = p.first;
		else
			sb_error_free(p.first);
		return -1;
	}
	return 0;
}
