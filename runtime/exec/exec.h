/* Executing a Dockerfile: the build a `docker build` runs, without a
 * daemon.
 *
 * sb_build() parses the Dockerfile, plans it (stages/), resolves every
 * image base from the store or its registry, and builds the stages the
 * target needs, the stages of one plan level in parallel threads. Each
 * stage keeps its layers as snapshot directories in overlayfs format
 * under ROOT/snapshots/<diff_id hex>; a RUN runs in the sandbox over an
 * overlay of them, COPY/ADD/WORKDIR write through an overlay mounted in a
 * private mount namespace, and the overlay's upper directory becomes the
 * step's layer (whiteouts converted) and its snapshot. Metadata
 * instructions edit the image config; the config and history are written
 * as BuildKit writes them.
 *
 * Step cache: every step has a key chaining the parent's key, the
 * expanded instruction, the build args in scope and, for COPY/ADD, the
 * content digest of the sources (not mtimes). A filesystem step's result
 * is recorded under ROOT/cache/<key> and reused while its blob and
 * snapshot exist. opts->no_cache skips lookups (results are still
 * recorded).
 *
 * The process enters a private mount namespace the first time sb_build()
 * runs (unshare(CLONE_NEWNS)): the overlays it mounts are invisible to the
 * host and vanish with the process. Call it before starting threads of
 * your own. Must run as root. */
#ifndef SB_EXEC_H
#define SB_EXEC_H

#include "runtime/core/progress.h"
#include "runtime/layer/layer.h"
#include "runtime/registry/registry.h"
#include "runtime/sandbox/sandbox.h"
#include "runtime/store/store.h"

struct sb_build_secret {
	const char *id;
	const char *src; /* a file on the host */
};

struct sb_build_opts {
	struct sb_store *store;
	const char *context_dir;      /* the build context */
	const char *dockerfile_name;  /* for messages ("Dockerfile"), and <name>.dockerignore */
	const char *dockerfile;       /* its contents */
	size_t dockerfile_len;
	const char *target;           /* stage name, or NULL: the last */
	const char *const *build_args;/* "K=V" or "K" (from the environment) */
	size_t nbuild_args;
	const char *const *labels;    /* "K=V", added to the final config */
	size_t nlabels;
	bool no_cache;
	bool pull;                    /* pull image bases even when the store has them */
	enum sb_sandbox_net network;  /* the default for RUN */
	const struct sb_build_secret *secrets;
	size_t nsecrets;
	const char *const *extra_hosts; /* "name:ip", NULL-terminated, or NULL */
	enum sb_compression compression;
	const struct sb_progress *progress;
	const struct sb_registry_opts *registry; /* NULL: defaults */
};

/* Zeroes, gzip, the default network. */
void sb_build_opts_init(struct sb_build_opts *o);

struct sb_build_result {
	struct sb_descriptor manifest; /* stored, not tagged */
	char config_digest[SB_DIGEST_SIZE];
	unsigned steps, cached;        /* steps run and steps taken from the cache */
	char **warnings;               /* e.g. unused build args; NULL-terminated or NULL */
};
void sb_build_result_release(struct sb_build_result *r);

/* Progress: each step is a vertex with a numeric id ("1", "2", ...):
 * START (what: "[stage-0 2/4] RUN make"), LOG (a line of the step's
 * output, or a message), CACHED, DONE, ERROR. Pulls report their blobs
 * under their own ids. Events come from several threads.
 *
 * Errors: a Dockerfile problem reads "NAME:LINE: message"; a failed RUN
 * "NAME:LINE: RUN ...: exit code N" followed by the last lines of its
 * output. Nothing is tagged; blobs written before the failure stay
 * (cached) until pruned. */
int sb_build(const struct sb_build_opts *opts, struct sb_build_result *res, struct sb_error **err);

#endif
