/* OCI distribution client (libcurl + openssl): pull and push images
 * between a registry and the local store.
 *
 * Transport: HTTPS with the system CAs; $SSL_CERT_FILE (and $SSL_CERT_DIR)
 * replace them for a private CA. A loopback registry (127.0.0.0/8,
 * localhost, ::1: sb_reference_is_insecure) is spoken to over plain HTTP,
 * or over verified HTTPS when it turns out to speak TLS.
 *
 * Auth: a 401's WWW-Authenticate is answered: Bearer by a token from its
 * realm (cached per scope for the operation), Basic by credentials. These
 * come from the docker config (opts->docker_config, else $DOCKER_CONFIG,
 * else ~/.docker: config.json "auths", by host with or without scheme;
 * https://index.docker.io/v1/ for docker.io). Credential helpers are not
 * run.
 *
 * Retries: connection errors, 5xx and 429 are retried opts->max_retries
 * times with exponential backoff (a small Retry-After is honoured; a large
 * one fails at once); an interrupted blob download resumes with Range.
 *
 * Errors start with "pull NAME" or "push NAME" and end with the HTTP status
 * when there was one: "pull 127.0.0.1:5000/app:v1: manifest unknown (404)".
 * Progress events (opts->progress) come from worker threads: START, BYTES,
 * DONE (push: message "Pushed" or "Mounted from REPO"), CACHED (a blob the
 * store or the registry already has), RETRY and ERROR, with a 12-hex short
 * digest as id. */
#ifndef SB_REGISTRY_H
#define SB_REGISTRY_H

#include "runtime/core/progress.h"
#include "runtime/store/store.h"

struct sb_registry_opts {
	int max_parallel;         /* layers transferred at once; 0: 3 */
	int max_retries;          /* retries on connection errors, 5xx, 429; <0: none, 0: 4 */
	int retry_base_ms;        /* first backoff; doubles each retry; 0: 200 */
	const char *docker_config;/* folder holding config.json; NULL: $DOCKER_CONFIG or ~/.docker */
	const struct sb_platform *platform; /* NULL: the host's */
	const struct sb_progress *progress;
	const char *user_agent;   /* NULL: "slimbuild/VERSION" */
};

/* Pull ref (tag or digest) into the store: resolve an index to the
 * platform's manifest, fetch config and layers (in parallel, each verified
 * against its digest before it enters the store), store the manifest and
 * tag it with sb_reference_string(ref). *manifest (may be NULL) receives
 * the stored manifest's descriptor. */
int sb_registry_pull(struct sb_store *store, const struct sb_reference *ref, const struct sb_registry_opts *opts,
		     struct sb_descriptor *manifest, struct sb_error **err);

/* Push an image of the store to dest: every blob HEADed first, mounted
 * across repositories of the same registry when possible (a repository of
 * dest's registry that a store tag names and whose image has the blob),
 * else uploaded (one PUT, or PATCH chunks of 64 MiB above that; a failed
 * upload restarts from a new session); then the manifest, byte for byte as
 * stored, under dest's tag (or digest, which must be the manifest's).
 * Only image manifests can be pushed, not indexes. */
int sb_registry_push(struct sb_store *store, const struct sb_descriptor *manifest, const struct sb_reference *dest,
		     const struct sb_registry_opts *opts, struct sb_error **err);

#endif
