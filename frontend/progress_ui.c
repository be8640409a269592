#include <stdarg.h>
#include <unistd.h>

#include "frontend/progress_ui.h"

static double now(const struct sb_progress_ui *ui)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - ui->start.tv_sec) + (double)(t.tv_nsec - ui->start.tv_nsec) / 1e9;
}

static struct sb_progress_ui_vertex *vertex_new(struct sb_progress_ui *ui, const char *key, const char *what)
{
	struct sb_progress_ui_vertex *v;
	ui->v = sb_xrealloc(ui->v, (ui->n + 1) * sizeof(*ui->v));
	v = &ui->v[ui->n++];
	memset(v, 0, sizeof(*v));
	v->key = key ? sb_xstrdup(key) : NULL;
	v->num = ++ui->next;
	v->what = sb_xstrdup(what ? what : key ? key : "");
	v->t0 = now(ui);
	return v;
}

static struct sb_progress_ui_vertex *vertex_find(struct sb_progress_ui *ui, const char *key)
{
	for (size_t i = ui->n; i-- > 0;)
		if (ui->v[i].key && key && !strcmp(ui->v[i].key, key))
			return &ui->v[i];
	return NULL;
}

static struct sb_progress_ui_vertex *vertex_num(struct sb_progress_ui *ui, unsigned num)
{
	for (size_t i = 0; i < ui->n; i++)
		if (ui->v[i].num == num)
			return &ui->v[i];
	return NULL;
}

/* ---- tty ---- */

static void draw(struct sb_progress_ui *ui, bool force)
{
	double t = now(ui);
	size_t done = 0;
	int lines = 0;

	if (!force && t - ui->last_draw < 0.1)
		return;
	ui->last_draw = t;
	if (ui->drawn)
		fprintf(ui->out, "\033[%dA\033[J", ui->drawn);
	for (size_t i = 0; i < ui->n; i++)
		done += ui->v[i].state != 0;
	fprintf(ui->out, "[+] Building %.1fs (%zu/%zu)%s\n", t, done, ui->n, force ? " FINISHED" : "");
	lines++;
	for (size_t i = 0; i < ui->n; i++) {
		struct sb_progress_ui_vertex *v = &ui->v[i];
		double d = (v->state ? v->t1 : t) - v->t0;
		const char *tag = v->state == 2 ? "CACHED " : v->state == 3 ? "ERROR " : "";
		fprintf(ui->out, " => %s%-60.60s %5.1fs\n", tag, v->what, d);
		lines++;
		if (v->state == 0)
			for (int k = 0; k < 3; k++)
				if (v->last[k]) {
					fprintf(ui->out, " => => # %.70s\n", v->last[k]);
					lines++;
				}
	}
	ui->drawn = lines;
	fflush(ui->out);
}

/* ---- events ---- */

static void emit(void *ctx, const struct sb_progress_event *ev)
{
	struct sb_progress_ui *ui = ctx;
	struct sb_progress_ui_vertex *v;

	if (ui->mode == 0)
		return;
	pthread_mutex_lock(&ui->lock);
	v = vertex_find(ui, ev->id);
	if (ev->kind == SB_PROGRESS_BYTES) {
		if (ui->mode == 2)
			draw(ui, false);
		pthread_mutex_unlock(&ui->lock);
		return;
	}
	if (!v || (ev->kind == SB_PROGRESS_START && v->state != 0))
		v = vertex_new(ui, ev->id, ev->what);
	switch (ev->kind) {
	case SB_PROGRESS_START:
		if (ui->mode == 1)
			fprintf(ui->out, "#%u %s\n", v->num, v->what);
		break;
	case SB_PROGRESS_LOG:
	case SB_PROGRESS_RETRY:
		if (ui->mode == 1) {
			fprintf(ui->out, "#%u %.3f %s\n", v->num, now(ui) - v->t0, ev->message ? ev->message : "");
		} else {
			free(v->last[0]);
			v->last[0] = v->last[1];
			v->last[1] = v->last[2];
			v->last[2] = sb_xstrdup(ev->message ? ev->message : "");
		}
		break;
	case SB_PROGRESS_DONE:
		v->state = 1;
		v->t1 = now(ui);
		if (ui->mode == 1)
			fprintf(ui->out, "#%u DONE %.1fs\n\n", v->num, v->t1 - v->t0);
		break;
	case SB_PROGRESS_CACHED:
		v->state = 2;
		v->t1 = now(ui);
		if (ui->mode == 1)
			fprintf(ui->out, "#%u CACHED\n\n", v->num);
		break;
	case SB_PROGRESS_ERROR:
		v->state = 3;
		v->t1 = now(ui);
		if (ui->mode == 1)
			fprintf(ui->out, "#%u ERROR: %s\n\n", v->num, ev->message ? ev->message : "");
		break;
	default:
		break;
	}
	if (ui->mode == 1)
		fflush(ui->out);
	else
		draw(ui, ev->kind != SB_PROGRESS_LOG);
	pthread_mutex_unlock(&ui->lock);
}

void sb_progress_ui_init(struct sb_progress_ui *ui, const char *mode, FILE *out)
{
	memset(ui, 0, sizeof(*ui));
	pthread_mutex_init(&ui->lock, NULL);
	ui->out = out;
	ui->mode = !strcmp(mode, "quiet") ? 0 : !strcmp(mode, "tty") ? 2 : 1;
	clock_gettime(CLOCK_MONOTONIC, &ui->start);
	ui->sink.emit = emit;
	ui->sink.ctx = ui;
}

unsigned sb_progress_ui_begin(struct sb_progress_ui *ui, const char *what)
{
	struct sb_progress_ui_vertex *v;
	unsigned num;
	pthread_mutex_lock(&ui->lock);
	v = vertex_new(ui, NULL, what);
	num = v->num;
	if (ui->mode == 1) {
		fprintf(ui->out, "#%u %s\n", num, what);
		fflush(ui->out);
	} else if (ui->mode == 2) {
		draw(ui, true);
	}
	pthread_mutex_unlock(&ui->lock);
	return num;
}

void sb_progress_ui_log(struct sb_progress_ui *ui, unsigned num, const char *fmt, ...)
{
	struct sb_progress_ui_vertex *v;
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ui->lock);
	v = vertex_num(ui, num);
	if (v && ui->mode == 1) {
		fprintf(ui->out, "#%u %s\n", num, buf);
		fflush(ui->out);
	}
	pthread_mutex_unlock(&ui->lock);
}

void sb_progress_ui_end(struct sb_progress_ui *ui, unsigned num)
{
	struct sb_progress_ui_vertex *v;
	pthread_mutex_lock(&ui->lock);
	v = vertex_num(ui, num);
	if (v) {
		v->state = 1;
		v->t1 = now(ui);
		if (ui->mode == 1) {
			fprintf(ui->out, "#%u DONE %.1fs\n\n", num, v->t1 - v->t0);
			fflush(ui->out);
		} else if (ui->mode == 2) {
			draw(ui, true);
		}
	}
	pthread_mutex_unlock(&ui->lock);
}

void sb_progress_ui_internal(struct sb_progress_ui *ui, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	unsigned v;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v = sb_progress_ui_begin(ui, buf);
	sb_progress_ui_end(ui, v);
}

void sb_progress_ui_note(struct sb_progress_ui *ui, const char *text)
{
	pthread_mutex_lock(&ui->lock);
	if (ui->mode != 0) {
		if (ui->mode == 2)
			ui->drawn = 0;
		fprintf(ui->out, "%s\n", text);
		fflush(ui->out);
	}
	pthread_mutex_unlock(&ui->lock);
}

void sb_progress_ui_finish(struct sb_progress_ui *ui)
{
	pthread_mutex_lock(&ui->lock);
	if (ui->mode == 2)
		draw(ui, true);
	for (size_t i = 0; i < ui->n; i++) {
		free(ui->v[i].key);
		free(ui->v[i].what);
		for (int k = 0; k < 3; k++)
			free(ui->v[i].last[k]);
	}
	free(ui->v);
	ui->v = NULL;
	ui->n = 0;
	pthread_mutex_unlock(&ui->lock);
	pthread_mutex_destroy(&ui->lock);
}
