/* Internals of runtime/exec shared between its files. Not API. */
#ifndef SB_EXEC_INTERNAL_H
#define SB_EXEC_INTERNAL_H

#include <pthread.h>

#include "runtime/exec/copy.h"
#include "runtime/exec/exec.h"
#include "stages/stages.h"

/* One layer of a stage: its blob, diff_id and snapshot directory. A
 * step's own layer has no blob (desc.digest "") until an image holding it
 * is written. */
struct sb_exec_layer {
	struct sb_descriptor desc;
	char diff_id[SB_DIGEST_SIZE];
	char *snapshot; /* absolute path of the overlay-format directory */
};

/* An image base, resolved once per build. */
struct sb_exec_image {
	char *ref;
	struct sb_descriptor manifest;
	struct sb_manifest m;
	struct sb_image_config cfg;
	struct sb_exec_layer *layers; /* snapshots made lazily */
	bool prepared;
};

/* A stage's image while it is built. */
struct sb_exec_state {
	struct sb_image_config cfg;
	struct sb_exec_layer *layers;
	size_t nlayers;
	char key[SB_DIGEST_SIZE]; /* the cache chain */
	char created[32];         /* when its newest step was first built (history and config times) */
	bool cmd_set;             /* CMD given in this stage (ENTRYPOINT then keeps it) */
	char **args;              /* "K=V" of ARGs in scope, for RUN */
	size_t nargs;
	char *ro_mount;           /* read-only view for COPY --from / RUN --mount=from, or NULL */
	bool done;
};

struct sb_exec {
	const struct sb_build_opts *o;
	struct sb_store *store;
	struct sb_plan *plan;
	const char *name;         /* the Dockerfile's name for messages */
	char *tmp;                /* ROOT/tmp/build-PID-N: mount points and scratch */
	int ctx_fd;
	struct sb_ignore *ignore;
	struct sb_exec_image *images;
	size_t nimages;
	struct sb_exec_state *states; /* one per plan stage */
	pthread_mutex_t lock;     /* images, vertex numbers, counters, tmp names */
	pthread_mutex_t view_lock;/* stage views (mounting one takes lock) */
	unsigned next_vertex, next_tmp;
	unsigned steps, cached;
	/* overlayfs is unavailable (or SLIMBUILD_NO_OVERLAY=1): steps run on
	 * flattened copies and layers are tree diffs */
	bool copy_mode;
	void **scratch;           /* arrays handed to the planner */
	size_t nscratch;
};

/* build.c */
/* Enter the process's private mount namespace (once). */
int sb_exec_private_mounts(struct sb_error **err);
/* A new empty directory under the build's tmp (caller frees the path). */
char *sb_exec_tmpdir(struct sb_exec *x, const char *what, struct sb_error **err);
/* Resolve an image reference (store, else registry; --pull: registry)
 * once per build. */
int sb_exec_image_get(struct sb_exec *x, const char *ref, struct sb_exec_image **out, struct sb_error **err);
/* Make the snapshots of an image's layers. */
int sb_exec_image_prepare(struct sb_exec *x, struct sb_exec_image *img, struct sb_error **err);
unsigned sb_exec_vertex(struct sb_exec *x);

/* snapshot.c */
/* ROOT/snapshots/<hex of diff_id>. Caller frees. */
char *sb_snapshot_path(struct sb_store *s, const char *diff_id);
/* The snapshot of a stored layer blob, unpacked when missing. */
int sb_snapshot_ensure(struct sb_store *s, const struct sb_descriptor *blob, const char *diff_id,
		       char **path, struct sb_error **err);
/* Lower dirs of a state, topmost first, NULL-terminated; with no
 * layers, one empty directory made under the build's tmp. Caller frees
 * the array and, when *empty is set, that directory path (*empty). */
const char **sb_exec_lowers(struct sb_exec *x, const struct sb_exec_state *st, char **empty, struct sb_error **err);
/* A writable overlay over st at a new mount point: *merged, *upper,
 * *work are new paths under tmp. In copy mode *merged is a flattened
 * copy to write into and *upper a second one (the tree before), *work
 * NULL. */
int sb_exec_mount_rw(struct sb_exec *x, const struct sb_exec_state *st, char **merged, char **upper, char **work,
		     struct sb_error **err);
/* Turn an overlay upper dir into the state's next layer: its diff_id
 * (the tar with whiteouts converted, hashed, not stored), and the dir
 * renamed to its snapshot. *changed is false when upper is empty. The dir
 * is consumed. */
int sb_exec_commit_upper(struct sb_exec *x, const char *upper, bool *changed, struct sb_exec_layer *out,
			 struct sb_error **err);
/* Copy mode: the layer of the changes from before to after (two whole
 * trees), stored now, unpacked as its snapshot; both trees are consumed. */
int sb_exec_commit_diff(struct sb_exec *x, const char *before, const char *after, bool *changed,
			struct sb_exec_layer *out, struct sb_error **err);
/* Copy mode: the state's tree flattened into a new dir under tmp. */
char *sb_exec_flatten(struct sb_exec *x, const struct sb_exec_state *st, struct sb_error **err);
/* Give a layer its compressed blob: from the blob index, else packed
 * from its snapshot into the store (checked against its diff_id). */
int sb_exec_layer_blob(struct sb_exec *x, struct sb_exec_layer *l, struct sb_error **err);
void sb_exec_layer_release(struct sb_exec_layer *l);
void sb_exec_layer_copy(struct sb_exec_layer *dst, const struct sb_exec_layer *src);
/* Read-only view of a finished stage for --from, mounted once. */
int sb_exec_stage_view(struct sb_exec *x, int stage, const char **path, struct sb_error **err);
int sb_exec_image_view(struct sb_exec *x, struct sb_exec_image *img, char **path, struct sb_error **err);

/* cache.c */
/* key = sha256(parent "\n" text) */
void sb_cache_key(const char *parent, const char *text, size_t len, char out[SB_DIGEST_SIZE]);
/* Look a filesystem step up: 1 hit (out filled, or *empty for a step
 * that changed nothing; created: when it ran), 0 miss, -1 error. */
int sb_cache_get(struct sb_exec *x, const char *key, struct sb_exec_layer *out, bool *empty, char created[32],
		 struct sb_error **err);
int sb_cache_put(struct sb_exec *x, const char *key, const struct sb_exec_layer *l, const char *created,
		 struct sb_error **err);
/* The blob index: the compressed blob of a diff_id, when one was made
 * and is still in the store. */
bool sb_cache_blob_get(struct sb_exec *x, const char *diff_id, struct sb_descriptor *out);
int sb_cache_blob_put(struct sb_exec *x, const char *diff_id, const struct sb_descriptor *d, struct sb_error **err);

/* run.c: run a RUN instruction over st; *upper receives the overlay
 * upper directory holding its changes. */
int sb_exec_run_step(struct sb_exec *x, struct sb_exec_state *st, const struct sb_instr *in, const char *id,
		     char **upper, char **before, struct sb_error **err);

/* steps.c */
int sb_exec_stage(struct sb_exec *x, int index, struct sb_error **err);

#endif
