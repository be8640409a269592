/* Progress events: the library never prints; it emits events to a sink the
 * caller provides (the CLI's progress display, a test's recorder). A sink
 * may be called from several threads at once (parallel layer downloads)
 * and must serialise itself. */
#ifndef SB_PROGRESS_H
#define SB_PROGRESS_H

#include "runtime/core/common.h"

enum sb_progress_kind {
	SB_PROGRESS_START, /* id begins: what says what it is */
	SB_PROGRESS_BYTES, /* current of total bytes (total 0: unknown) */
	SB_PROGRESS_DONE,  /* id finished */
	SB_PROGRESS_CACHED,/* id needed no work (blob present, step cached) */
	SB_PROGRESS_LOG,   /* a line of output or information for id */
	SB_PROGRESS_RETRY, /* a transient failure, retrying: message says why */
	SB_PROGRESS_ERROR, /* id failed: message says why */
};

struct sb_progress_event {
	enum sb_progress_kind kind;
	const char *id;      /* e.g. a short digest or a step number */
	const char *what;    /* e.g. "pull sha256:abcd..." */
	uint64_t current, total;
	const char *message;
};

struct sb_progress {
	void (*emit)(void *ctx, const struct sb_progress_event *ev);
	void *ctx;
};

/* Emit to p when it has a sink; p may be NULL. */
static inline void sb_progress_emit(const struct sb_progress *p, enum sb_progress_kind kind, const char *id,
				    const char *what, uint64_t current, uint64_t total, const char *message)
{
	struct sb_progress_event ev = { kind, id, what, current, total, message };
	if (p && p->emit)
		p->emit(p->ctx, &ev);
}

#endif
