/* The stage graph and ARG/ENV scoping, as BuildKit's dockerfile2llb
 * (convert.go) builds them:
 *
 * - ARGs before the first FROM are meta args: with the automatic platform
 *   args they form the global scope, which FROM's base name and --platform
 *   are expanded in, and nothing else.
 * - In a stage, the builder's environment starts from the base (an earlier
 *   stage's final environment, or the image's config Env, PATH defaulted).
 *   ARG adds its value (--build-arg, else its expanded default, else for a
 *   bare ARG the global value); ENV adds its own; the later one wins.
 * - Fields BuildKit expands (commands.go Expand methods, dispatchExpose,
 *   dispatchArg, the RUN --mount values) are expanded with that
 *   environment; RUN/CMD/ENTRYPOINT/HEALTHCHECK/SHELL/ONBUILD are not.
 * - Stages are dispatched in Dockerfile order, so a COPY --from or a mount
 *   of a later stage fails, and FROM <name> names an earlier stage only.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <signal.h>
#include <strings.h>

#include "parser/shell.h"
#include "runtime/store/image.h"
#include "runtime/store/reference.h"
#include "runtime/core/utf8.h"
#include "stages/stages.h"

#define SB_PLAN_MAX_PORTS (1 << 20)
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct env {
	struct sb_kv *v;
	size_t n, cap;
};

struct ctx {
	struct sb_plan *plan;
	struct sb_arena *a;
	const struct sb_dockerfile *df;
	const struct sb_plan_opts *opts;
	struct sb_shlex lex;
	struct env global;
	struct sb_kv *build_args; /* parsed --build-arg */
	size_t nbuild_args;
	bool *build_arg_used;
	struct env *stage_env;    /* per stage */
	struct env *stage_args;
	bool *onbuild_done;
	bool *dispatched;
	struct env *image_env;    /* per stage: its image base's Config.Env */
	size_t nports;            /* EXPOSE ports spread so far, bounded */
	size_t *instr_cap;        /* per stage: room in its instrs array */
	char **image_workdir;     /* per stage: its image base's Config.WorkingDir */
	int *names;               /* open-addressed index of stage names: index + 1, 0 empty */
	size_t names_mask;
};

/* Go's path.Clean. */
static char *path_clean(struct sb_arena *a, const char *p)
{
	size_t n = strlen(p), w = 0, r = 0, dotdot = 0;
	bool rooted = n && p[0] == '/';
	char *out = sb_arena_alloc(a, n + 2);

	if (n == 0)
		return sb_arena_strndup(a, ".", 1);
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (p[r] == '/') {
			r++;
		} else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
			r++;
		} else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && p[r] != '/'; r++)
				out[w++] = p[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

static void env_set(struct sb_arena *a, struct env *e, const char *k, const char *v)
{
	for (size_t i = 0; i < e->n; i++) {
		if (strcmp(e->v[i].key, k) == 0) {
			e->v[i].value = (char *)v;
			return;
		}
	}
	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct sb_kv *nv = sb_arena_calloc(a, cap, sizeof(*nv));
		if (e->n)
			memcpy(nv, e->v, e->n * sizeof(*nv));
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n].key = (char *)k;
	e->v[e->n++].value = (char *)v;
}

static const struct sb_kv *env_find(const struct env *e, const char *k, size_t len)
{
	for (size_t i = 0; i < e->n; i++)
		if (strlen(e->v[i].key) == len && memcmp(e->v[i].key, k, len) == 0)
			return &e->v[i];
	return NULL;
}

static const char *env_get(void *p, const char *name, size_t len)
{
	const struct sb_kv *kv = env_find(p, name, len);
	return kv ? kv->value : NULL;
}

static void env_copy(struct sb_arena *a, struct env *dst, const struct env *src)
{
	for (size_t i = 0; i < src->n; i++)
		env_set(a, dst, src->v[i].key, src->v[i].value);
}

static int fail_at(struct ctx *c, int line, struct sb_error **err, const char *prefix)
{
	struct sb_error *e = *err;
	*err = NULL;
	sb_error_setx(err, e ? e->code : EINVAL, "%s:%d: %s%s", c->df->filename, line, prefix,
		      e ? e->msg : "error");
	sb_error_free(e);
	return -1;
}

/* ProcessWordWithMatches: *out is an arena string. With mark_used, the
 * --build-args among the variables it read count as consumed. */
static int expand_env(struct ctx *c, const struct sb_shlex *lex, struct env *e, const char *word,
		      char **out, bool mark_used, struct sb_error **err)
{
	struct sb_shlex_env env = { env_get, e };
	struct sb_shlex_result res;

	if (sb_shlex_process(lex, word, strlen(word), &env, &res, err) < 0)
		return -1;
	*out = sb_arena_strndup(c->a, res.result ? res.result : "", res.result_len);
	if (mark_used)
		for (size_t i = 0; i < res.nmatched; i++)
			for (size_t j = 0; j < c->nbuild_args; j++)
				if (strcmp(c->build_args[j].key, res.matched[i]) == 0)
					c->build_arg_used[j] = true;
	sb_shlex_result_release(&res);
	return 0;
}

static const struct sb_kv *build_arg(struct ctx *c, const char *key, bool mark)
{
	for (size_t i = c->nbuild_args; i-- > 0;) {
		if (strcmp(c->build_args[i].key, key) == 0) {
			if (mark)
				c->build_arg_used[i] = true;
			return &c->build_args[i];
		}
	}
	return NULL;
}

static bool is_proxy_arg(const char *k)
{
	static const char *const names[] = { "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY" };
	for (size_t i = 0; i < SB_ARRAY_SIZE(names); i++)
		if (strcasecmp(k, names[i]) == 0)
			return true;
	return false;
}

static char *platform_string(struct sb_arena *a, const struct sb_platform *p)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char *s;
	sb_strbuf_addf(&sb, "%s/%s", p->os, p->architecture);
	if (p->variant && *p->variant)
		sb_strbuf_addf(&sb, "/%s", p->variant);
	s = sb_arena_strndup(a, sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return s;
}

/* os/arch[/variant] split, for the automatic args. */
static void split_platform(struct sb_arena *a, const char *s, char **os, char **arch, char **variant)
{
	const char *s1 = strchr(s, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
	*os = s1 ? sb_arena_strndup(a, s, (size_t)(s1 - s)) : (char *)"linux";
	*arch = s1 ? sb_arena_strndup(a, s1 + 1, s2 ? (size_t)(s2 - s1 - 1) : strlen(s1 + 1))
		   : sb_arena_strndup(a, s, strlen(s));
	*variant = s2 ? sb_arena_strndup(a, s2 + 1, strlen(s2 + 1)) : (char *)"";
}

/* defaultArgs(): the automatic platform args, --build-arg overriding. */
static void default_args(struct ctx *c, const char *target_name)
{
	char *bp, *tp, *bos, *barch, *bvar, *tos, *tarch, *tvar;

	bp = c->opts->build_platform ? sb_arena_strndup(c->a, c->opts->build_platform, strlen(c->opts->build_platform))
				     : platform_string(c->a, sb_host_platform());
	tp = c->opts->target_platform ? sb_arena_strndup(c->a, c->opts->target_platform, strlen(c->opts->target_platform))
				      : bp;
	split_platform(c->a, bp, &bos, &barch, &bvar);
	split_platform(c->a, tp, &tos, &tarch, &tvar);
	{
		const char *kv[][2] = {
			{ "BUILDPLATFORM", bp }, { "BUILDOS", bos }, { "BUILDOSVERSION", "" },
			{ "BUILDARCH", barch }, { "BUILDVARIANT", bvar },
			{ "TARGETPLATFORM", tp }, { "TARGETOS", tos }, { "TARGETOSVERSION", "" },
			{ "TARGETARCH", tarch }, { "TARGETVARIANT", tvar }, { "TARGETSTAGE", target_name },
		};
		for (size_t i = 0; i < SB_ARRAY_SIZE(kv); i++) {
			const struct sb_kv *ov = build_arg(c, kv[i][0], true);
			env_set(c->a, &c->global, kv[i][0], ov && ov->value ? ov->value : kv[i][1]);
		}
	}
}

/* Stage names are looked up through a hash index: a Dockerfile may hold
 * many stages and every FROM and COPY --from asks. */
static size_t name_hash(const char *s, bool fold)
{
	size_t h = 14695981039346656037ULL;
	for (; *s; s++) {
		h ^= (unsigned char)(fold ? tolower((unsigned char)*s) : *s);
		h *= 1099511628211ULL;
	}
	return h;
}

static void names_init(struct ctx *c, size_t n)
{
	size_t size = 16;
	while (size < 2 * n + 2)
		size *= 2;
	c->names = sb_arena_calloc(c->a, size, sizeof(int));
	c->names_mask = size - 1;
}

/* Names are stored lower-cased; fold lower-cases the query too. */
static int names_find(struct ctx *c, const char *name, bool fold)
{
	for (size_t i = name_hash(name, fold) & c->names_mask;; i = (i + 1) & c->names_mask) {
		int v = c->names[i];
		if (!v)
			return -1;
		if ((fold ? strcasecmp : strcmp)(c->plan->stages[v - 1].name, name) == 0)
			return v - 1;
	}
}

static void names_add(struct ctx *c, int idx)
{
	size_t i = name_hash(c->plan->stages[idx].name, false) & c->names_mask;
	while (c->names[i])
		i = (i + 1) & c->names_mask;
	c->names[i] = idx + 1;
}

/* FROM <name>: an earlier stage, the name matched as written. */
static int stage_by_name(struct ctx *c, const char *name, size_t before)
{
	int i = names_find(c, name, false);
	return i >= 0 && (size_t)i < before ? i : -1;
}

/* COPY --from, --mount from= and --target: any stage, case-insensitively. */
static int stage_by_name_ci(struct ctx *c, const char *name)
{
	return names_find(c, name, true);
}

static void add_dep(struct ctx *c, struct sb_stage *st, int dep)
{
	int *nd;
	size_t i;
	for (i = 0; i < st->ndeps; i++)
		if (st->deps[i] == dep)
			return;
	nd = sb_arena_calloc(c->a, st->ndeps + 1, sizeof(*nd));
	for (i = 0; i < st->ndeps && st->deps[i] < dep; i++)
		nd[i] = st->deps[i];
	nd[i] = dep;
	for (; i < st->ndeps; i++)
		nd[i + 1] = st->deps[i];
	st->deps = nd;
	st->ndeps++;
}

/* Instructions go into an array sized by doubling: a stage may hold
 * thousands of them. */
static void append_instr(struct ctx *c, struct sb_stage *st, const struct sb_instr *in)
{
	size_t *cap = &c->instr_cap[st->index];
	if (st->ninstrs == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct sb_instr *n = sb_arena_calloc(c->a, ncap, sizeof(*n));
		if (st->ninstrs)
			memcpy(n, st->instrs, st->ninstrs * sizeof(*n));
		st->instrs = n;
		*cap = ncap;
	}
	st->instrs[st->ninstrs++] = *in;
}

/* toCommand(): COPY --from and RUN --mount from= name a stage or an image. */
static int link_sources(struct ctx *c, struct sb_stage *st, struct sb_instr *in, struct sb_error **err)
{
	struct sb_plan *p = c->plan;

	if (in->kind == SB_INSTR_COPY && in->from && *in->from) {
		char *res;
		char *end;
		long idx;
		struct env empty = { 0 };
		if (expand_env(c, &c->lex, &empty, in->from, &res, false, err) < 0)
			return fail_at(c, in->line, err, "");
		if (strcmp(res, in->from) != 0) {
			sb_error_setx(err, EINVAL, "variable expansion is not supported for --from, define a new "
				      "stage with FROM using ARG from global scope as a workaround");
			return fail_at(c, in->line, err, "");
		}
		errno = 0;
		idx = strtol(in->from, &end, 10);
		if (!*end && end != in->from && !isspace((unsigned char)*in->from) && errno == 0) {
			if (idx < 0 || (size_t)idx >= p->nstages) {
				sb_error_setx(err, EINVAL, "invalid stage index %ld", idx);
				return fail_at(c, in->line, err, "");
			}
			in->from_stage = (int)idx;
		} else {
			in->from_stage = stage_by_name_ci(c, in->from);
		}
		if (in->from_stage >= 0)
			add_dep(c, st, in->from_stage);
	}
	if (in->kind == SB_INSTR_RUN) {
		for (size_t i = 0; i < in->nmounts; i++) {
			struct sb_mount *m = &in->mounts[i];
			if (!m->from || !*m->from)
				continue;
			m->from_stage = stage_by_name_ci(c, m->from);
			if (m->from_stage >= 0)
				add_dep(c, st, m->from_stage);
		}
	}
	return 0;
}

/* ---- reading the Dockerfile into stages ---- */

/* instructions.Parse(): typed instructions split into stages; the ARGs
 * before the first FROM are returned as the meta args. */
static int read_stages(struct ctx *c, struct sb_instr **meta_instrs, size_t *nmeta, struct sb_error **err)
{
	struct sb_plan *p = c->plan;
	const struct sb_node *root = c->df->root;

	p->stages = sb_arena_calloc(c->a, root->nchildren, sizeof(*p->stages));
	c->instr_cap = sb_arena_calloc(c->a, root->nchildren, sizeof(size_t));
	names_init(c, root->nchildren);
	*meta_instrs = sb_arena_calloc(c->a, root->nchildren, sizeof(**meta_instrs));
	*nmeta = 0;
	for (size_t i = 0; i < root->nchildren; i++) {
		const struct sb_node *n = root->children[i];
		struct sb_instr in;
		if (sb_instr_parse(c->a, n, &in, err) < 0) {
			char prefix[64];
			snprintf(prefix, sizeof(prefix), "dockerfile parse error on line %d: ", n->start_line);
			return fail_at(c, n->start_line, err, prefix);
		}
		if (p->nstages == 0 && in.kind == SB_INSTR_ARG) {
			(*meta_instrs)[(*nmeta)++] = in;
			continue;
		}
		if (in.kind == SB_INSTR_FROM) {
			struct sb_stage *st = &p->stages[p->nstages];
			st->index = (int)p->nstages;
			st->name = in.value;
			st->line = in.line;
			st->base_written = in.dest;
			st->platform_written = in.from;
			st->base_stage = -1;
			if (st->name && stage_by_name(c, st->name, p->nstages) >= 0) {
				sb_error_setx(err, EINVAL, "duplicate stage name \"%s\"", st->name);
				return fail_at(c, in.line, err, "");
			}
			if (st->name)
				names_add(c, (int)p->nstages);
			p->nstages++;
			continue;
		}
		if (p->nstages == 0) {
			sb_error_setx(err, EINVAL, "no build stage in current context");
			return fail_at(c, in.line, err, "");
		}
		append_instr(c, &p->stages[p->nstages - 1], &in);
	}
	return 0;
}

/* buildMetaArgs(): --build-arg wins, else the default expanded in the
 * global scope as it is so far. */
static int meta_args(struct ctx *c, struct sb_instr *mi, size_t nmi, struct sb_error **err)
{
	for (size_t i = 0; i < nmi; i++) {
		for (size_t j = 0; j < mi[i].nkvs; j++) {
			struct sb_kv *kv = &mi[i].kvs[j];
			const struct sb_kv *ba = build_arg(c, kv->key, true);
			char *v = NULL;
			if (ba && ba->value) {
				v = ba->value;
			} else if (kv->value) {
				if (expand_env(c, &c->lex, &c->global, kv->value, &v, true, err) < 0)
					return fail_at(c, mi[i].line, err, "");
			}
			if (v)
				env_set(c->a, &c->global, kv->key, v);
		}
	}
	return 0;
}

static int resolve_bases(struct ctx *c, struct sb_error **err)
{
	struct sb_plan *p = c->plan;

	for (size_t i = 0; i < p->nstages; i++) {
		struct sb_stage *st = &p->stages[i];
		char *name;
		if (expand_env(c, &c->lex, &c->global, st->base_written, &name, true, err) < 0)
			return fail_at(c, st->line, err, "");
		if (!*name) {
			sb_error_setx(err, EINVAL, "base name (%s) should not be blank", st->base_written);
			return fail_at(c, st->line, err, "");
		}
		st->base_name = name;
		if (st->platform_written) {
			char *pl;
			if (expand_env(c, &c->lex, &c->global, st->platform_written, &pl, true, err) < 0)
				return fail_at(c, st->line, err, "failed to process arguments for platform : ");
			if (!*pl) {
				sb_error_setx(err, EINVAL, "empty platform value from expression %s", st->platform_written);
				return fail_at(c, st->line, err, "");
			}
			st->platform = pl;
		}
		st->base_stage = stage_by_name(c, name, i);
		if (st->base_stage >= 0) {
			st->base_kind = SB_BASE_STAGE;
			add_dep(c, st, st->base_stage);
		} else if (strcmp(name, "scratch") == 0) {
			st->base_kind = SB_BASE_SCRATCH;
		} else {
			struct sb_reference ref = { 0 };
			sb_autofree char *s = NULL;
			if (sb_reference_parse(name, &ref, err) < 0) {
				struct sb_strbuf q = SB_STRBUF_INIT;
				char prefix[512];
				sb_go_quote(&q, name, strlen(name));
				snprintf(prefix, sizeof(prefix), "failed to parse stage name %s: ", q.buf);
				sb_strbuf_release(&q);
				return fail_at(c, st->line, err, prefix);
			}
			s = sb_reference_string(&ref);
			sb_reference_release(&ref);
			st->base_kind = SB_BASE_IMAGE;
			st->base_ref = sb_arena_strndup(c->a, s, strlen(s));
		}
	}
	return 0;
}

/* The line of the instruction of st that needs stage dep (COPY --from or a
 * mount; ONBUILD triggers sit on the FROM line), else the FROM line. */
static int edge_line(const struct sb_stage *st, int dep)
{
	for (size_t k = 0; k < st->ninstrs; k++) {
		const struct sb_instr *in = &st->instrs[k];
		if (in->from_stage == dep)
			return in->line;
		for (size_t m = 0; m < in->nmounts; m++)
			if (in->mounts[m].from_stage == dep)
				return in->line;
	}
	return st->line;
}

/* validateCircularDependency(): a depth-first walk from each stage in turn;
 * the error names the stage the walk started from and is located at the
 * first instruction on the path, as BuildKit reports it. Only COPY --from
 * and mounts can close a cycle: FROM names earlier stages. */
static int check_cycles(struct ctx *c, struct sb_error **err)
{
	struct sb_plan *p = c->plan;
	size_t n = p->nstages;
	sb_autofree int *state = sb_xcalloc(n ? n : 1, sizeof(int));
	sb_autofree int *stack = sb_xcalloc(n + 1, sizeof(int));
	sb_autofree size_t *pos = sb_xcalloc(n + 1, sizeof(size_t));

	for (size_t i = 0; i < n; i++) {
		/* 0 new, 1 on the path, 2 done */
		size_t sp = 0;
		int first_line = 0;
		if (state[i])
			continue;
		stack[sp] = (int)i;
		pos[sp++] = 0;
		state[i] = 1;
		while (sp) {
			struct sb_stage *st = &p->stages[stack[sp - 1]];
			if (pos[sp - 1] < st->ndeps) {
				int d = st->deps[pos[sp - 1]++];
				if (sp == 1)
					first_line = edge_line(st, d);
				if (state[d] == 1) {
					const struct sb_stage *root = &p->stages[i];
					if (root->name)
						sb_error_setx(err, EINVAL, "circular dependency detected on stage: %s", root->name);
					else
						sb_error_setx(err, EINVAL, "circular dependency detected on stage: stage-%zu", i);
					return fail_at(c, first_line, err, "");
				}
				if (state[d] == 0) {
					state[d] = 1;
					stack[sp] = d;
					pos[sp++] = 0;
				}
			} else {
				state[stack[--sp]] = 2;
			}
		}
	}
	return 0;
}

/* Mark the target and every stage it needs; iterative, as a chain of
 * stages may be as long as the file allows. */
static void mark_needed(struct sb_plan *p, int target)
{
	sb_autofree int *todo = sb_xcalloc(p->nstages + 1, sizeof(int));
	size_t n = 0;

	p->stages[target].needed = true;
	todo[n++] = target;
	while (n) {
		const struct sb_stage *st = &p->stages[todo[--n]];
		for (size_t i = 0; i < st->ndeps; i++) {
			struct sb_stage *d = &p->stages[st->deps[i]];
			if (!d->needed) {
				d->needed = true;
				todo[n++] = d->index;
			}
		}
	}
}

/* initOnBuildTriggers(): a stage first runs its base's ONBUILD triggers
 * (an earlier stage's own ONBUILD instructions, not inherited ones, or an
 * image's Config.OnBuild), each parsed as a single instruction located at
 * the FROM line. Returns 1 when they add edges to the graph. */
static int onbuild_triggers(struct ctx *c, struct sb_stage *st, const char *const *triggers, size_t n,
			    struct sb_error **err)
{
	struct sb_instr *trig = sb_arena_calloc(c->a, n + 1, sizeof(*trig));
	size_t nt = 0, ndeps = st->ndeps;

	for (size_t i = 0; i < n; i++) {
		struct sb_dockerfile *tdf = sb_dockerfile_parse("", triggers[i], strlen(triggers[i]), err);
		struct sb_instr in;
		if (!tdf) {
			/* the parser said ":LINE: message"; locate it at FROM */
			const char *m = strstr((*err)->msg, ": ");
			char *msg = sb_xstrdup(m ? m + 2 : (*err)->msg);
			free((*err)->msg);
			(*err)->msg = msg;
			return fail_at(c, st->line, err, "");
		}
		if (tdf->root->nchildren != 1) {
			sb_dockerfile_free(tdf);
			sb_error_setx(err, EINVAL, "onbuild trigger should be a single expression");
			return fail_at(c, st->line, err, "");
		}
		if (sb_instr_parse(c->a, tdf->root->children[0], &in, err) < 0) {
			sb_dockerfile_free(tdf);
			return fail_at(c, st->line, err, "");
		}
		sb_dockerfile_free(tdf);
		if (in.kind == SB_INSTR_FROM) {
			sb_error_setx(err, EINVAL, "FROM isn't allowed as an ONBUILD trigger");
			return fail_at(c, st->line, err, "");
		}
		in.line = in.end_line = st->line;
		in.onbuild = true;
		if (link_sources(c, st, &in, err) < 0)
			return -1;
		trig[nt++] = in;
	}
	if (nt) {
		struct sb_instr *all = sb_arena_calloc(c->a, nt + st->ninstrs, sizeof(*all));
		memcpy(all, trig, nt * sizeof(*all));
		if (st->ninstrs)
			memcpy(all + nt, st->instrs, st->ninstrs * sizeof(*all));
		st->instrs = all;
		st->ninstrs += nt;
	}
	return st->ndeps != ndeps;
}

/* Resolve what a needed stage inherits before it runs: its base stage's
 * ONBUILD instructions, or its image's config through the caller. */
static int init_base(struct ctx *c, struct sb_stage *st, struct sb_error **err)
{
	struct sb_plan *p = c->plan;

	if (st->base_kind == SB_BASE_STAGE) {
		const struct sb_stage *base = &p->stages[st->base_stage];
		const char **trig = sb_arena_calloc(c->a, base->ninstrs + 1, sizeof(char *));
		size_t n = 0;
		for (size_t i = 0; i < base->ninstrs; i++)
			if (base->instrs[i].kind == SB_INSTR_ONBUILD)
				trig[n++] = base->instrs[i].value;
		return onbuild_triggers(c, st, trig, n, err);
	}
	if (st->base_kind == SB_BASE_IMAGE && c->opts->resolve_image) {
		struct sb_image_info info = { 0 };
		const char *platform = st->platform ? st->platform
					: env_find(&c->global, "TARGETPLATFORM", 14)->value;
		const char **trig;
		if (c->opts->resolve_image(c->opts->resolve_image_ctx, st->base_ref, platform, &info, err) < 0)
			return fail_at(c, st->line, err, "");
		if (info.workdir && *info.workdir)
			c->image_workdir[st->index] = sb_arena_strndup(c->a, info.workdir, strlen(info.workdir));
		for (size_t i = 0; i < info.nenv; i++) {
			const char *kv = info.env[i], *eq = strchr(kv, '=');
			char *k = sb_arena_strndup(c->a, kv, eq ? (size_t)(eq - kv) : strlen(kv));
			env_set(c->a, &c->image_env[st->index], k,
				sb_arena_strndup(c->a, eq ? eq + 1 : "", eq ? strlen(eq + 1) : 0));
		}
		trig = sb_arena_calloc(c->a, info.nonbuild + 1, sizeof(char *));
		for (size_t i = 0; i < info.nonbuild; i++)
			trig[i] = sb_arena_strndup(c->a, info.onbuild[i], strlen(info.onbuild[i]));
		return onbuild_triggers(c, st, trig, info.nonbuild, err);
	}
	return 0;
}

/* ---- dispatch: scoping and expansion ---- */

struct word_ctx {
	struct ctx *c;
	struct env *env;
	const struct sb_shlex *lex;
};

static int expand_cb(void *p, const char *in, char **out, struct sb_error **err)
{
	struct word_ctx *w = p;
	return expand_env(w->c, w->lex, w->env, in, out, false, err);
}

static int expand_field(struct word_ctx *w, char **field, struct sb_error **err)
{
	if (!*field)
		return 0;
	return expand_cb(w, *field, field, err);
}

/* dispatchRunMounts: a cache without an id is keyed by its target as
 * written, cleaned; a relative target is under the working directory; "/"
 * cannot be a mount target. Secrets and ssh keep their own defaults. */
static int mount_paths(struct ctx *c, struct sb_stage *st, struct sb_mount *m, struct sb_error **err)
{
	const char *t = m->target ? m->target : "";

	if (!strcmp(m->type, "secret")) {
		/* dispatchSecret: the id is source, else id, else the
		 * target's base name; the target defaults under /run/secrets,
		 * unless the secret only goes to an env variable */
		const char *id = m->source && *m->source ? m->source : m->id;
		if (!id || !*id) {
			if (!*t && !m->env)
				return sb_error_setx(err, EINVAL, "one of source, target required");
			if (*t) {
				const char *b = path_clean(c->a, t), *slash = strrchr(b, '/');
				id = slash && slash[1] ? slash + 1 : b;
			}
		}
		m->id = id ? (char *)id : m->id;
		if (!*t && !m->env && m->id) {
			const char *slash = strrchr(m->id, '/');
			struct sb_strbuf sb = SB_STRBUF_INIT;
			sb_strbuf_addf(&sb, "/run/secrets/%s", slash && slash[1] ? slash + 1 : m->id);
			m->target = sb_arena_strndup(c->a, sb.buf, sb.len);
			sb_strbuf_release(&sb);
		}
		return 0;
	}
	if (!strcmp(m->type, "ssh")) {
		if (m->source && *m->source)
			return sb_error_setx(err, EINVAL, "ssh does not support source");
		if (!m->id || !*m->id)
			m->id = "default";
		return 0;
	}
	if (!strcmp(m->type, "cache") && (!m->id || !*m->id))
		m->id = path_clean(c->a, t);
	if (t[0] != '/') {
		struct sb_strbuf sb = SB_STRBUF_INIT;
		sb_strbuf_addf(&sb, "/%s/%s", st->workdir ? st->workdir : "", t);
		m->target = path_clean(c->a, sb.buf);
		sb_strbuf_release(&sb);
	} else {
		m->target = path_clean(c->a, t);
	}
	if (!strcmp(m->target, "/"))
		return sb_error_setx(err, EINVAL, "invalid mount target \"/\"");
	return 0;
}

static bool valid_signal(const char *s)
{
	static const char *const names[] = {
		"ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT",
		"KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM",
		"TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
		"RTMIN", "RTMAX",
	};
	char *end;
	long n;

	/* moby/sys/signal.ParseSignal: any number that fits a uint8 but 0 */
	if (isdigit((unsigned char)*s)) {
		n = strtol(s, &end, 10);
		return !*end && n > 0 && n <= 255;
	}
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < SB_ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i]) == 0)
			return true;
	/* RTMIN+n and RTMAX-n */
	if ((strncasecmp(s, "RTMIN+", 6) == 0 || strncasecmp(s, "RTMAX-", 6) == 0) && isdigit((unsigned char)s[6])) {
		n = strtol(s + 6, &end, 10);
		return !*end && n >= 0 && n <= 30;
	}
	return false;
}

/* strconv.ParseUint(s, 10, 16) */
static bool parse_port(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
		if (v > 65535)
			return false;
	}
	*out = v;
	return true;
}

/* parsePortRange: "8000" or "8000-9000" */
static bool port_range(const char *s, unsigned *start, unsigned *end)
{
	const char *dash = strchr(s, '-');
	if (!*s)
		return false;
	if (!dash)
		return parse_port(s, strlen(s), start) && (*end = *start, true);
	if (strchr(dash + 1, '-'))
		return false;
	return parse_port(s, (size_t)(dash - s), start) && parse_port(dash + 1, strlen(dash + 1), end) &&
	       *end >= *start;
}

/* dispatchExpose's parsePortSpec: [ip:][hostPort:]containerPort[/proto]
 * becomes "port/proto" per port of the range. seen[] holds one bit per
 * port and protocol so a range repeated is listed once, as the image
 * config's ExposedPorts map keeps it. */
static int expose_ports(struct ctx *c, struct sb_instr *in, struct sb_error **err)
{
	static const char *const protos[] = { "tcp", "udp", "sctp" };
	sb_autofree uint8_t *seen = sb_xcalloc(3 * 65536 / 8, 1);
	size_t cap = 0;

	in->nports = 0;
	for (size_t i = 0; i < in->nargs; i++) {
		char *w = sb_arena_strndup(c->a, in->args[i], strlen(in->args[i]));
		char *ip = NULL, *host = NULL, *cport = w, *proto, *colon;
		unsigned start, end, hs, he;
		int pi;

		/* splitParts: the last two colons separate host and container */
		if ((colon = strrchr(w, ':'))) {
			*colon = '\0';
			cport = colon + 1;
			host = w;
			if ((colon = strrchr(w, ':'))) {
				*colon = '\0';
				host = colon + 1;
				ip = w;
			}
		}
		proto = strchr(cport, '/');
		if (proto)
			*proto++ = '\0';
		if (!*cport)
			return sb_error_setx(err, EINVAL, "no port specified: %s<empty>", in->args[i]);
		for (char *q = proto; q && *q; q++)
			*q = (char)tolower((unsigned char)*q);
		if (!proto || !*proto)
			pi = 0;
		else if ((pi = !strcmp(proto, "tcp") ? 0 : !strcmp(proto, "udp") ? 1 : !strcmp(proto, "sctp") ? 2 : -1) < 0)
			return sb_error_setx(err, EINVAL, "invalid proto: %s", proto);
		if (ip && *ip) {
			unsigned char buf[16];
			size_t l = strlen(ip);
			if (ip[0] == '[' && l >= 2 && ip[l - 1] == ']') {
				ip[l - 1] = '\0';
				ip++;
			}
			if (inet_pton(AF_INET, ip, buf) != 1 && inet_pton(AF_INET6, ip, buf) != 1)
				return sb_error_setx(err, EINVAL, "invalid IP address: %s", ip);
		}
		if (!port_range(cport, &start, &end))
			return sb_error_setx(err, EINVAL, "invalid containerPort: %s", cport);
		if (host && *host) {
			if (!port_range(host, &hs, &he))
				return sb_error_setx(err, EINVAL, "invalid hostPort: %s", host);
			if (end - start != he - hs && end != start)
				return sb_error_setx(err, EINVAL, "invalid ranges specified for container and host "
						     "Ports: %s and %s", cport, host);
		}
		for (unsigned port = start; port <= end; port++) {
			size_t bit = (size_t)pi * 65536 + port;
			struct sb_strbuf sb = SB_STRBUF_INIT;
			if (seen[bit / 8] & (1u << (bit % 8)))
				continue;
			/* a bound BuildKit lacks: "EXPOSE 0-65535" is 16 bytes */
			if (++c->nports > SB_PLAN_MAX_PORTS)
				return sb_error_setx(err, E2BIG, "more than %d exposed ports", SB_PLAN_MAX_PORTS);
			seen[bit / 8] |= (uint8_t)(1u << (bit % 8));
			if (in->nports == cap) {
				char **nv;
				cap = cap ? cap * 2 : 8;
				nv = sb_arena_calloc(c->a, cap, sizeof(char *));
				if (in->nports)
					memcpy(nv, in->ports, in->nports * sizeof(char *));
				in->ports = nv;
			}
			sb_strbuf_addf(&sb, "%u/%s", port, protos[pi]);
			in->ports[in->nports++] = sb_arena_strndup(c->a, sb.buf, sb.len);
			sb_strbuf_release(&sb);
		}
	}
	return 0;
}

static int dispatch_instr(struct ctx *c, struct sb_stage *st, struct sb_instr *in, struct sb_error **err)
{
	struct env *env = &c->stage_env[st->index];
	struct word_ctx w = { c, env, &c->lex };

	switch (in->kind) {
	case SB_INSTR_ENV:
		/* each pair is expanded before it is set, so a later pair
		 * sees an earlier one only on the next instruction: BuildKit
		 * expands the whole command first */
		for (size_t i = 0; i < in->nkvs; i++)
			if (expand_field(&w, &in->kvs[i].key, err) < 0 || expand_field(&w, &in->kvs[i].value, err) < 0)
				return -1;
		for (size_t i = 0; i < in->nkvs; i++)
			env_set(c->a, env, in->kvs[i].key, in->kvs[i].value);
		return 0;
	case SB_INSTR_LABEL:
		for (size_t i = 0; i < in->nkvs; i++)
			if (expand_field(&w, &in->kvs[i].key, err) < 0 || expand_field(&w, &in->kvs[i].value, err) < 0)
				return -1;
		return 0;
	case SB_INSTR_WORKDIR: {
		/* NormalizeWorkdir: a relative path joins the current one */
		char **cur = &st->workdir;
		if (expand_field(&w, &in->value, err) < 0)
			return -1;
		if (in->value[0] == '/') {
			in->workdir = path_clean(c->a, in->value);
		} else {
			struct sb_strbuf sb = SB_STRBUF_INIT;
			sb_strbuf_addf(&sb, "/%s/%s", *cur ? *cur : "", in->value);
			in->workdir = path_clean(c->a, sb.buf);
			sb_strbuf_release(&sb);
		}
		*cur = in->workdir;
		return 0;
	}
	case SB_INSTR_USER:
		return expand_field(&w, &in->value, err);
	case SB_INSTR_STOPSIGNAL:
		if (expand_field(&w, &in->value, err) < 0)
			return -1;
		if (!valid_signal(in->value))
			return sb_error_setx(err, EINVAL, "Invalid signal: %s", in->value);
		return 0;
	case SB_INSTR_VOLUME:
		for (size_t i = 0; i < in->nargs; i++)
			if (expand_field(&w, &in->args[i], err) < 0)
				return -1;
		for (size_t i = 0; i < in->nargs; i++)
			if (!*in->args[i])
				return sb_error_setx(err, EINVAL, "VOLUME specified can not be an empty string");
		return 0;
	case SB_INSTR_EXPOSE: {
		/* dispatchExpose: each port word may expand to several */
		char **out = NULL;
		size_t n = 0;
		for (size_t i = 0; i < in->nargs; i++) {
			struct sb_shlex_env senv = { env_get, env };
			struct sb_shlex_result res;
			char **nv;
			if (sb_shlex_process(&c->lex, in->args[i], strlen(in->args[i]), &senv, &res, err) < 0)
				return -1;
			nv = sb_arena_calloc(c->a, n + res.nwords + 1, sizeof(char *));
			if (n)
				memcpy(nv, out, n * sizeof(char *));
			for (size_t j = 0; j < res.nwords; j++)
				nv[n++] = sb_arena_strndup(c->a, res.words[j], res.word_lens[j]);
			out = nv;
			sb_shlex_result_release(&res);
		}
		in->args = out;
		in->nargs = n;
		return expose_ports(c, in, err);
	}
	case SB_INSTR_COPY:
	case SB_INSTR_ADD: {
		struct sb_shlex raw;
		struct word_ctx wr = { c, env, &raw };
		if (expand_field(&w, &in->chown, err) < 0 || expand_field(&w, &in->chmod, err) < 0 ||
		    expand_field(&w, &in->checksum, err) < 0 || expand_field(&w, &in->dest, err) < 0)
			return -1;
		for (size_t i = 0; i < in->nargs; i++) {
			if (expand_field(&w, &in->args[i], err) < 0)
				return -1;
			/* dispatchCopy: only ADD fetches URLs */
			if (in->kind == SB_INSTR_COPY && (strncmp(in->args[i], "http://", 7) == 0 ||
							  strncmp(in->args[i], "https://", 8) == 0))
				return sb_error_setx(err, EINVAL, "source can't be a URL for COPY");
		}
		for (size_t i = 0; i < in->nexcludes; i++)
			if (expand_field(&w, &in->excludes[i], err) < 0)
				return -1;
		/* ExpandRaw: heredoc bodies with the default escape, quotes kept */
		sb_shlex_init(&raw, '\\');
		raw.skip_process_quotes = true;
		for (size_t i = 0; i < in->nfiles; i++)
			if (in->files[i].expand && expand_field(&wr, &in->files[i].data, err) < 0)
				return -1;
		if (in->kind == SB_INSTR_COPY && in->from_stage >= 0 && !c->dispatched[in->from_stage]) {
			if (st->name)
				return sb_error_setx(err, EINVAL, "cannot copy from stage \"%s\", it needs to be "
						     "defined before current stage \"%s\"", in->from, st->name);
			return sb_error_setx(err, EINVAL, "cannot copy from stage \"%s\", it needs to be defined "
					     "before current stage \"stage-%d\"", in->from, st->index);
		}
		return 0;
	}
	case SB_INSTR_RUN: {
		struct sb_expander ex = { expand_cb, &w };
		for (size_t i = 0; i < in->nmounts; i++) {
			int fs = in->mounts[i].from_stage;
			if (sb_mount_parse(c->a, in->mount_specs[i], &ex, &in->mounts[i], err) < 0)
				return -1;
			in->mounts[i].from_stage = fs;
			if (mount_paths(c, st, &in->mounts[i], err) < 0)
				return -1;
			/* BuildKit would mount the not yet built stage's empty
			 * state here; refusing it, worded as for COPY, is kinder */
			if (fs >= 0 && !c->dispatched[fs])
				return sb_error_setx(err, EINVAL, "cannot mount from stage \"%s\" to \"%s\", stage needs "
						     "to be defined before current command", in->mounts[i].from,
						     in->mounts[i].target ? in->mounts[i].target : "");
		}
		return 0;
	}
	case SB_INSTR_ARG: {
		struct env *args = &c->stage_args[st->index];
		for (size_t i = 0; i < in->nkvs; i++) {
			struct sb_kv *kv = &in->kvs[i];
			const struct sb_kv *ba = build_arg(c, kv->key, true);
			char *v = kv->value;
			if (!v && !(ba && ba->value)) {
				const struct sb_kv *g = env_find(&c->global, kv->key, strlen(kv->key));
				if (g)
					v = g->value;
			} else if (ba && ba->value) {
				v = ba->value;
			} else if (expand_field(&w, &v, err) < 0) {
				return -1;
			}
			kv->value = v;
			if (v)
				env_set(c->a, env, kv->key, v);
			env_set(c->a, args, kv->key, v);
		}
		return 0;
	}
	default:
		return 0;
	}
}

static int dispatch_stage(struct ctx *c, struct sb_stage *st, struct sb_error **err)
{
	struct env *env = &c->stage_env[st->index];

	st->workdir = st->base_kind == SB_BASE_STAGE ? c->plan->stages[st->base_stage].workdir
						     : c->image_workdir[st->index];
	if (st->base_kind == SB_BASE_STAGE) {
		env_copy(c->a, env, &c->stage_env[st->base_stage]);
		env_copy(c->a, &c->stage_args[st->index], &c->stage_args[st->base_stage]);
	} else {
		env_copy(c->a, env, &c->image_env[st->index]);
	}
	if (!env_find(env, "PATH", 4))
		env_set(c->a, env, "PATH", DEFAULT_PATH);

	c->dispatched[st->index] = true;
	for (size_t i = 0; i < st->ninstrs; i++)
		if (dispatch_instr(c, st, &st->instrs[i], err) < 0)
			return fail_at(c, st->instrs[i].line, err, "");

	st->nenv = env->n;
	st->env = sb_arena_calloc(c->a, env->n, sizeof(char *));
	for (size_t i = 0; i < env->n; i++) {
		struct sb_strbuf sb = SB_STRBUF_INIT;
		sb_strbuf_addf(&sb, "%s=%s", env->v[i].key, env->v[i].value);
		st->env[i] = sb_arena_strndup(c->a, sb.buf, sb.len);
		sb_strbuf_release(&sb);
	}
	st->nargs = c->stage_args[st->index].n;
	st->args = c->stage_args[st->index].v;
	return 0;
}

static int parse_build_args(struct ctx *c, struct sb_error **err)
{
	const struct sb_plan_opts *o = c->opts;

	c->nbuild_args = o->nbuild_args;
	c->build_args = sb_arena_calloc(c->a, o->nbuild_args, sizeof(*c->build_args));
	c->build_arg_used = sb_arena_calloc(c->a, o->nbuild_args, sizeof(bool));
	for (size_t i = 0; i < o->nbuild_args; i++) {
		const char *s = o->build_args[i], *eq = strchr(s, '=');
		if (eq == s)
			return sb_error_setx(err, EINVAL, "invalid build arg \"%s\": empty name", s);
		c->build_args[i].key = sb_arena_strndup(c->a, s, eq ? (size_t)(eq - s) : strlen(s));
		c->build_args[i].value = eq ? sb_arena_strndup(c->a, eq + 1, strlen(eq + 1)) : NULL;
	}
	return 0;
}

static void finish_args(struct ctx *c)
{
	struct sb_plan *p = c->plan;
	size_t nu = 0, nn = 0, np = 0;

	p->build_args_used = sb_arena_calloc(c->a, c->nbuild_args, sizeof(char *));
	p->build_args_unused = sb_arena_calloc(c->a, c->nbuild_args, sizeof(char *));
	p->proxy_env = sb_arena_calloc(c->a, c->nbuild_args, sizeof(char *));
	for (size_t i = 0; i < c->nbuild_args; i++) {
		const struct sb_kv *kv = &c->build_args[i];
		bool dup = false;
		/* the last --build-arg for a key is the one that counts */
		for (size_t j = i + 1; j < c->nbuild_args; j++)
			if (strcmp(c->build_args[j].key, kv->key) == 0)
				dup = true;
		if (dup)
			continue;
		/* arguments BuildKit's frontend reads itself */
		if (strncmp(kv->key, "BUILDKIT_", 9) == 0 || strcmp(kv->key, "SOURCE_DATE_EPOCH") == 0)
			c->build_arg_used[i] = true;
		if (is_proxy_arg(kv->key)) {
			c->build_arg_used[i] = true;
			if (kv->value) {
				struct sb_strbuf sb = SB_STRBUF_INIT;
				sb_strbuf_addf(&sb, "%s=%s", kv->key, kv->value);
				p->proxy_env[np++] = sb_arena_strndup(c->a, sb.buf, sb.len);
				sb_strbuf_release(&sb);
			}
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->build_args[j].key, kv->key) == 0 && c->build_arg_used[j])
				c->build_arg_used[i] = true;
		if (c->build_arg_used[i])
			p->build_args_used[nu++] = kv->key;
		else
			p->build_args_unused[nn++] = kv->key;
	}
	p->nbuild_args_used = nu;
	p->nbuild_args_unused = nn;
	p->nproxy_env = np;
}

static int build(struct ctx *c, struct sb_error **err)
{
	struct sb_plan *p = c->plan;
	struct sb_instr *mi;
	size_t nmi;
	const char *target_name;

	if (parse_build_args(c, err) < 0)
		return -1;
	if (read_stages(c, &mi, &nmi, err) < 0)
		return -1;
	if (p->nstages == 0)
		return sb_error_setx(err, EINVAL, "%s: dockerfile contains no stages to build", c->df->filename);

	/* --target */
	if (c->opts->target && *c->opts->target) {
		int t = stage_by_name_ci(c, c->opts->target);
		if (t < 0) {
			const char **names = sb_arena_calloc(c->a, p->nstages, sizeof(char *));
			size_t n = 0;
			for (size_t i = 0; i < p->nstages; i++)
				if (p->stages[i].name)
					names[n++] = p->stages[i].name;
			sb_error_setx(err, EINVAL, "%s: target stage \"%s\" could not be found",
				      c->df->filename, c->opts->target);
			sb_suggest_wrap(err, c->opts->target, names, n, true);
			return -1;
		}
		p->target = t;
	} else {
		p->target = (int)p->nstages - 1;
	}
	/* TARGETSTAGE is --target as given, else the last stage's name */
	target_name = c->opts->target && *c->opts->target ? c->opts->target
			: p->stages[p->target].name ? p->stages[p->target].name : "";
	default_args(c, target_name);
	if (meta_args(c, mi, nmi, err) < 0)
		return -1;
	p->nglobal_args = c->global.n;
	p->global_args = c->global.v;
	if (resolve_bases(c, err) < 0)
		return -1;

	for (size_t i = 0; i < p->nstages; i++)
		for (size_t j = 0; j < p->stages[i].ninstrs; j++)
			if (link_sources(c, &p->stages[i], &p->stages[i].instrs[j], err) < 0)
				return -1;
	if (check_cycles(c, err) < 0)
		return -1;

	c->onbuild_done = sb_arena_calloc(c->a, p->nstages, sizeof(bool));
	c->dispatched = sb_arena_calloc(c->a, p->nstages, sizeof(bool));
	c->stage_env = sb_arena_calloc(c->a, p->nstages, sizeof(*c->stage_env));
	c->stage_args = sb_arena_calloc(c->a, p->nstages, sizeof(*c->stage_args));
	c->image_env = sb_arena_calloc(c->a, p->nstages, sizeof(*c->image_env));
	c->image_workdir = sb_arena_calloc(c->a, p->nstages, sizeof(char *));
	for (;;) {
		bool more = false;
		for (size_t i = 0; i < p->nstages; i++)
			p->stages[i].needed = false;
		mark_needed(p, p->target);
		for (size_t i = 0; i < p->nstages; i++) {
			struct sb_stage *st = &p->stages[i];
			int rc;
			if (!st->needed || c->onbuild_done[i])
				continue;
			c->onbuild_done[i] = true;
			rc = init_base(c, st, err);
			if (rc < 0)
				return -1;
			more |= rc > 0;
		}
		if (!more)
			break;
		if (check_cycles(c, err) < 0)
			return -1;
	}

	p->order = sb_arena_calloc(c->a, p->nstages, sizeof(int));
	for (size_t i = 0; i < p->nstages; i++) {
		struct sb_stage *st = &p->stages[i];
		if (!st->needed)
			continue;
		if (dispatch_stage(c, st, err) < 0)
			return -1;
		st->level = 0;
		for (size_t d = 0; d < st->ndeps; d++)
			if (p->stages[st->deps[d]].level + 1 > st->level)
				st->level = p->stages[st->deps[d]].level + 1;
		if (st->level + 1 > p->nlevels)
			p->nlevels = st->level + 1;
		p->order[p->norder++] = (int)i;
	}
	finish_args(c);
	return 0;
}

struct sb_plan *sb_plan_build(const struct sb_dockerfile *df, const struct sb_plan_opts *opts,
			      struct sb_error **err)
{
	static const struct sb_plan_opts none;
	struct sb_plan *p = sb_xcalloc(1, sizeof(*p));
	struct ctx c = { 0 };

	sb_arena_init(&p->arena);
	p->filename = sb_arena_strndup(&p->arena, df->filename, strlen(df->filename));
	p->escape = df->escape;
	c.plan = p;
	c.a = &p->arena;
	c.df = df;
	c.opts = opts ? opts : &none;
	sb_shlex_init(&c.lex, df->escape);
	if (build(&c, err) < 0) {
		sb_plan_free(p);
		return NULL;
	}
	return p;
}

void sb_plan_free(struct sb_plan *plan)
{
	if (!plan)
		return;
	sb_arena_release(&plan->arena);
	free(plan);
}
