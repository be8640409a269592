/* Slimming a built image: run it under probes, traced; keep the closure
 * of what it touched; write a FROM scratch image holding only that, with
 * the original config; run the same probes against it and compare; repair
 * what the slim run looked for and did not find, a bounded number of
 * rounds. The image the build produced ("fat") is left as it is.
 *
 * The slim image is the final stage DESIGN.md describes, as text
 * (stages.h, sb_slim_stage_print): FROM scratch, COPY --from=<profiled
 * stage> --parents of the closure, the honest dpkg status.d of the
 * packages that still own a kept file as heredocs, and the original
 * config. That text is appended to the Dockerfile and the result built
 * by sb_build() like any other: the profiled stage's steps come from the
 * step cache the fat build just filled, and the slim stage's are
 * ordinary steps. The same text builds the same image elsewhere. */
#ifndef SB_EXEC_SLIM_H
#define SB_EXEC_SLIM_H

#include "runtime/exec/exec.h"
#include "runtime/layer/layer.h"
#include "runtime/profile/probe.h"
#include "runtime/profile/record.h"
#include "runtime/store/store.h"

struct sb_slim_opts {
	const struct sb_probe *probes; /* none: the defaults of sb_probe_run */
	size_t nprobes;
	unsigned timeout_ms;  /* per probe; 0: 30 s */
	unsigned keep_ms;     /* keep the service running under the probes */
	const char *const *includes; /* --include globs */
	size_t nincludes;
	/* A recorded profile (--profile): its closure is used instead of a
	 * traced run. NULL: profile. */
	const struct sb_profile_record *profile;
	bool verify;          /* run the probes against the slim image (default) */
	bool repair;          /* add what the slim run missed and retry (default) */
	int max_rounds;       /* repair rounds; 0: 3 */
	enum sb_compression compression;
	const struct sb_progress *progress;
	/* The build that made fat: the slim stage is appended to its
	 * Dockerfile, copying from its target, and built with its context
	 * and arguments. */
	const struct sb_build_opts *build;
};
void sb_slim_opts_init(struct sb_slim_opts *o);

struct sb_image_stats {
	uint64_t bytes;       /* apparent size of the regular files */
	uint64_t compressed;  /* layer blobs */
	uint64_t files;       /* entries of every kind but directories */
	uint64_t packages;    /* dpkg packages installed (status or status.d) */
};

struct sb_slim_result {
	/* Nothing to run (no ENTRYPOINT or CMD, no probe, no profile): the
	 * image is not slimmed and manifest is fat's. */
	bool skipped;
	struct sb_descriptor manifest; /* the slim image, stored, untagged */
	char config_digest[SB_DIGEST_SIZE];
	struct sb_image_stats fat, slim;
	size_t probes, verified;       /* probes run, and how many agreed */
	int rounds;                    /* verification rounds run */
	char **repaired;               /* paths repair added; NULL-terminated */
	size_t nrepaired;
	struct sb_profile_record record; /* what --profile-out writes */
	uint64_t fat_ms, slim_ms;      /* wall time of the traced fat run and the slim verification */
	char *dockerfile;              /* the Dockerfile that builds the slim image (the original + its stage) */
};
void sb_slim_result_release(struct sb_slim_result *r);

/* Slim the image fat (a manifest in the store, whose layers are in the
 * store). Fails when a probe fails on the fat image, or when the slim
 * image still answers differently after repair: the message lists each
 * probe that differs and the paths the slim run looked for that the fat
 * image has. */
int sb_slim(struct sb_store *store, const struct sb_descriptor *fat, const struct sb_slim_opts *opts,
	    struct sb_slim_result *res, struct sb_error **err);

#endif
