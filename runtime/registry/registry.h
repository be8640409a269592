/* OCI distribution client (libcurl + openssl): pull and push images
 * between a registry and the local store. */
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
 * across repositories of the same registry when possible, else uploaded;
 * then the manifest under dest's tag (or digest). */
int sb_registry_push(struct sb_store *store, const struct sb_descriptor *manifest, const struct sb_reference *dest,
		     const struct sb_registry_opts *opts, struct sb_error **err);

#endif
