/* The build's progress display, BuildKit's two faces: "plain" prints
 * numbered vertices with their output and durations (#3 [2/4] RUN make,
 * #3 0.512 gcc ..., #3 DONE 1.2s); "tty" redraws a live list of vertices
 * with timers and the last lines of the running ones; "quiet" prints
 * nothing. Events come from several threads. */
#ifndef SB_PROGRESS_UI_H
#define SB_PROGRESS_UI_H

#include <pthread.h>
#include <time.h>

#include "runtime/core/progress.h"

struct sb_progress_ui_vertex {
	char *key;     /* the library's id, or NULL for the CLI's own */
	unsigned num;
	char *what;
	double t0, t1; /* seconds since the start; t1 0 while running */
	int state;     /* 0 running, 1 done, 2 cached, 3 error */
	char *last[3]; /* last output lines (tty) */
};

struct sb_progress_ui {
	struct sb_progress sink;
	pthread_mutex_t lock;
	FILE *out;
	int mode; /* 0 quiet, 1 plain, 2 tty */
	struct timespec start;
	struct sb_progress_ui_vertex *v;
	size_t n;
	unsigned next;
	int drawn;        /* tty: lines on screen to redraw over */
	double last_draw;
};

void sb_progress_ui_init(struct sb_progress_ui *ui, const char *mode, FILE *out);
/* A vertex of the CLI's own that is done at once. */
void sb_progress_ui_internal(struct sb_progress_ui *ui, const char *fmt, ...) SB_PRINTF(2, 3);
unsigned sb_progress_ui_begin(struct sb_progress_ui *ui, const char *what);
void sb_progress_ui_log(struct sb_progress_ui *ui, unsigned v, const char *fmt, ...) SB_PRINTF(3, 4);
void sb_progress_ui_end(struct sb_progress_ui *ui, unsigned v);
/* A line outside any vertex (warnings). */
void sb_progress_ui_note(struct sb_progress_ui *ui, const char *text);
/* Final redraw (tty) and release. */
void sb_progress_ui_finish(struct sb_progress_ui *ui);

#endif
