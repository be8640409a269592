/* Internal to runtime/registry: the HTTP client one pull or push runs on,
 * shared by http.c (transport and retries), auth.c (challenges, docker
 * config credentials, tokens), pull.c and push.c. Not installed; the unit
 * tests include it for the pure helpers. */
#ifndef SB_REGISTRY_INTERNAL_H
#define SB_REGISTRY_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include <curl/curl.h>

#include "runtime/registry/registry.h"

/* Defaults of struct sb_registry_opts. */
#define SB_REG_DEFAULT_PARALLEL 3
#define SB_REG_DEFAULT_RETRIES 4
#define SB_REG_DEFAULT_RETRY_BASE_MS 200
/* No single backoff sleeps longer than this; a Retry-After above it is not
 * waited for (the attempt fails with the 429/503 it came with). */
#define SB_REG_BACKOFF_CAP_MS 30000L
/* Error bodies, token responses and the docker config are small. */
#define SB_REG_SMALL_BODY_MAX (256u * 1024)
#define SB_REG_CONFIG_MAX (1024u * 1024)
/* Blobs above this are pushed in chunked PATCH requests of this size. */
#define SB_REG_CHUNK_SIZE (64ull * 1024 * 1024)

/* ---- auth.c: pure helpers (unit-tested) ---- */

/* One challenge of a WWW-Authenticate header (RFC 7235 section 4.1). */
struct sb_auth_challenge {
	char *scheme;  /* lower-cased: "bearer", "basic", ... */
	char *realm;   /* NULL when absent */
	char *service;
	char *scope;
	char *error;   /* "insufficient_scope", ... */
};

struct sb_auth_challenges {
	struct sb_auth_challenge *v;
	size_t n, alloc;
};

/* Parse one WWW-Authenticate header value, which may hold several
 * challenges ("Basic realm=x, Bearer realm=y,scope=z"), appending them to
 * out. Parameter names are case-insensitive; values may be tokens or
 * quoted strings with backslash escapes. Fails (EINVAL) on a malformed
 * header; out keeps what was parsed before the fault. */
int sb_auth_parse_challenges(const char *header, struct sb_auth_challenges *out, struct sb_error **err);
void sb_auth_challenge_release(struct sb_auth_challenge *c);
void sb_auth_challenge_copy(struct sb_auth_challenge *dst, const struct sb_auth_challenge *src);
void sb_auth_challenges_release(struct sb_auth_challenges *cs);
/* The challenge to answer: Bearer before Basic; NULL when neither. */
const struct sb_auth_challenge *sb_auth_pick(const struct sb_auth_challenges *cs);

struct sb_credentials {
	char *username; /* both NULL when there are none */
	char *password;
};
void sb_credentials_release(struct sb_credentials *c);

/* The docker config folder: dir when non-NULL, else $DOCKER_CONFIG, else
 * $HOME/.docker; NULL when none can be named. Caller frees. */
char *sb_docker_config_dir(const char *dir);
/* Credentials for a registry domain ("127.0.0.1:5000", "docker.io") from
 * DIR/config.json's "auths": keys match exactly, or after dropping a
 * scheme and path ("https://host/v1/" is host); docker.io also matches
 * "https://index.docker.io/v1/". An entry's "auth" is base64 of
 * "user:password", else "username" and "password". A missing file or entry
 * leaves out empty and returns 0; an unreadable or malformed file, or a
 * malformed entry for this registry, is an error naming the file. */
int sb_docker_config_lookup(const char *dir, const char *domain, struct sb_credentials *out,
			    struct sb_error **err);

/* True for localhost, 127.0.0.0/8 and ::1, with or without a port or
 * brackets. */
bool sb_reg_host_is_loopback(const char *host);

/* ---- http.c: pure helper (unit-tested) ---- */

/* How long to wait before retry number attempt (0 for the first retry):
 * base_ms doubled per attempt, capped at SB_REG_BACKOFF_CAP_MS, the upper
 * half scaled by jitter (in [0, 1)) so that parallel workers spread out.
 * A Retry-After header (delta-seconds or an HTTP date, read against now)
 * replaces the computed delay when it is at most the cap; one above the
 * cap returns -1: give up. An unparsable Retry-After is ignored. */
long sb_reg_backoff_ms(unsigned attempt, long base_ms, const char *retry_after, time_t now, double jitter);

/* ---- the client ---- */

struct sb_reg_token {
	char *scope; /* the request scope it answers */
	char *token;
};

struct sb_reg_client {
	char *domain;      /* as in the reference: credentials, mount sources */
	char *host;        /* where to connect */
	char *base;        /* "https://host" or "http://host", set by the ping */
	char *image;       /* "pull 127.0.0.1:5000/app:v1": every error starts with it */
	bool loopback;     /* plain HTTP unless it speaks TLS */
	char *cainfo;      /* $SSL_CERT_FILE */
	char *capath;      /* $SSL_CERT_DIR */
	char *user_agent;
	int max_retries;
	long retry_base_ms;
	const struct sb_progress *progress;
	struct sb_credentials creds;
	char *config_path; /* where credentials were looked for, for hints */
	int *abort_flag;   /* set (atomically) by a failed parallel job: stop transfers */ /* set by a failed parallel job: stop transfers */

	pthread_mutex_t lock; /* guards what follows: workers share the client */
	bool have_challenge;
	struct sb_auth_challenge challenge;
	struct sb_reg_token *tokens;
	size_t ntokens, atokens;
	unsigned seed;
};

/* Set up a client for domain (connect host given separately: docker.io is
 * registry-1.docker.io) with credentials from the docker config. image is
 * the error prefix. Does no I/O beyond reading the config. */
int sb_reg_client_init(struct sb_reg_client *c, const char *domain, const char *host, const char *image,
		       const struct sb_registry_opts *opts, struct sb_error **err);
void sb_reg_client_release(struct sb_reg_client *c);

/* GET /v2/: pick the scheme (a loopback registry is tried over plain HTTP
 * first and spoken to over HTTPS when it turns out to speak TLS; a
 * certificate that fails verification is an error either way) and learn
 * the auth challenge, if any. */
int sb_reg_ping(struct sb_reg_client *c, CURL *curl, struct sb_error **err);

/* A handle for one thread. Never NULL (out-of-memory is fatal). */
CURL *sb_reg_curl_new(void);

struct sb_reg_request {
	const char *method;       /* GET HEAD PUT POST PATCH */
	const char *url;          /* absolute, or a path from "/" on the registry */
	const char *scope;        /* token scope ("repository:app:pull"), or NULL */
	const char *accept;       /* Accept header value, or NULL */
	const char *content_type; /* of the request body, or NULL */
	const char *content_range;/* Content-Range of a chunk, or NULL */
	const char *what;         /* for errors: "manifest v1", "blob sha256:..." */
	const char *progress_id;  /* for RETRY events, or NULL */

	/* Request body: len bytes at mem, or len bytes of fd from offset. */
	const void *mem;
	int fd; /* -1: use mem */
	uint64_t offset, len;

	/* Response body: 2xx bodies go to sink when set, else into
	 * resp->body bounded by max_body (0: SB_REG_SMALL_BODY_MAX); other
	 * statuses always go to resp->body. */
	size_t max_body;
	int (*sink)(void *ctx, const void *data, size_t len, struct sb_error **err);
	/* Before each attempt: may set *range_from to ask for the rest of a
	 * partly received body (a 206 is then expected; the sink sees it via
	 * resp->status). */
	int (*before_attempt)(void *ctx, uint64_t *range_from, struct sb_error **err);
	void *sink_ctx;

	bool follow;   /* follow redirects (blob GETs) */
	bool no_retry; /* one attempt only (non-idempotent upload steps) */
	bool no_auth;  /* send no registry credentials (token endpoint) */
	const struct sb_credentials *basic; /* basic credentials to send */
	bool probe_tls;/* the plain HTTP probe of a loopback registry: answers that
			* are not HTTP are reported, not retried */
};

struct sb_reg_response {
	long status;
	char reason[64];    /* the status line's reason phrase, "" in HTTP/2 */
	struct sb_strbuf body;
	char *content_type;
	char *docker_content_digest;
	char *location;
	char *content_range;
	char *retry_after;
	struct sb_auth_challenges challenges;
	CURLcode curl_code; /* of the last attempt */
	uint64_t range_from; /* what the last attempt asked for */
};

void sb_reg_response_init(struct sb_reg_response *r);
void sb_reg_response_release(struct sb_reg_response *r);

/* Perform a request with auth and retries. Returns 0 with resp->status set
 * for any HTTP answer that is not retried away (the caller judges the
 * status), or -1 when no answer came (connection errors after the
 * retries, a sink failure) or a 401 could not be answered. */
int sb_reg_do(struct sb_reg_client *c, CURL *curl, const struct sb_reg_request *req, struct sb_reg_response *resp,
	      struct sb_error **err);

/* The error for an unexpected status: "IMAGE: [WHAT: ]MESSAGE (STATUS)"
 * with the registry's errors[].message when the body has them. Returns
 * -1. */
int sb_reg_status_error(struct sb_reg_client *c, const char *what, const struct sb_reg_response *resp,
			struct sb_error **err);

/* Absolute URL for a path on the registry, or url itself when absolute.
 * Caller frees. */
char *sb_reg_url(struct sb_reg_client *c, const char *url);
/* Append "name=escaped(value)" to url with '?' or '&'. Caller frees. */
char *sb_reg_url_add_query(const char *url, const char *name, const char *value);

/* ---- auth.c: the client side ---- */

/* The Authorization header value for a request with this scope: a cached
 * token, or basic credentials once the registry asked for them; fetches a
 * token first when the registry is known to want one. *out is NULL when
 * none applies. */
int sb_reg_auth_header(struct sb_reg_client *c, CURL *curl, const char *scope, char **out, struct sb_error **err);
/* Answer a 401: remember its challenge, drop a cached token for scope,
 * and fetch a new one (Bearer) or switch to basic credentials (Basic).
 * Fails with the unauthorized error when there is nothing to answer with. */
int sb_reg_auth_challenged(struct sb_reg_client *c, CURL *curl, const char *scope,
			   const struct sb_reg_response *resp, struct sb_error **err);

/* ---- parallel jobs (http.c) ---- */

/* Run job(i) for i in [0, n) on up to max_parallel threads, each with its
 * own curl handle. After the first failure no new job starts and running
 * transfers are aborted; that failure is returned. */
int sb_reg_parallel(struct sb_reg_client *c, size_t n, int max_parallel,
		    int (*job)(void *ctx, size_t i, CURL *curl, struct sb_error **err), void *ctx,
		    struct sb_error **err);

/* Sleep ms milliseconds, in slices, returning false early when a parallel
 * job failed (c->abort_flag). */
bool sb_reg_sleep(struct sb_reg_client *c, long ms);

/* "sha256:0123456789ab" → "0123456789ab": the id progress lines show. */
void sb_reg_short_id(const char *digest, char out[13]);

#endif
