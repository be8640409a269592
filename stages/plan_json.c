/* The plan as JSON, for `slimbuild parse --stages` and for tools: the
 * stages the target needs, in order, each with its base, platform, level,
 * dependencies, ARGs in scope and instructions with their fields expanded
 * as BuildKit expands them. Keys keep a fixed order so the output can be
 * compared byte for byte. */
#include <jansson.h>

#include "runtime/core/utf8.h"
#include "stages/stages.h"

/* A JSON string; bytes that are not UTF-8 become U+FFFD, as JSON cannot
 * carry them (jansson refuses them outright). */
static json_t *jstring(const char *s)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	json_t *j = json_string(s);
	size_t n = strlen(s), w;

	if (j)
		return j;
	for (size_t i = 0; i < n; i += w)
		sb_strbuf_add_rune(&sb, sb_utf8_decode(s + i, n - i, &w));
	j = json_stringn(sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return j ? j : json_string("");
}

static json_t *jstr_or_null(const char *s)
{
	return s ? jstring(s) : json_null();
}

static json_t *jstrv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstring(v[i] ? v[i] : ""));
	return a;
}

static json_t *jkvs(const struct sb_kv *kv, size_t n, bool with_delim)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "key", jstring(kv[i].key));
		json_object_set_new(o, "value", jstr_or_null(kv[i].value));
		if (with_delim && kv[i].no_delim)
			json_object_set_new(o, "legacy", json_true());
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *jfiles(const struct sb_inline *f, size_t n, bool source)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, source ? "path" : "name", jstring(f[i].name));
		json_object_set_new(o, "data", jstring(f[i].data));
		if (!source)
			json_object_set_new(o, "chomp", json_boolean(f[i].chomp));
		json_object_set_new(o, "expand", json_boolean(f[i].expand));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *jmount(const struct sb_mount *m)
{
	json_t *o = json_object();
	json_object_set_new(o, "type", json_string(m->type));
	if (m->from) {
		json_object_set_new(o, "from", jstring(m->from));
		json_object_set_new(o, "from_stage", m->from_stage >= 0 ? json_integer(m->from_stage) : json_null());
	}
	if (m->source)
		json_object_set_new(o, "source", jstring(m->source));
	if (m->target)
		json_object_set_new(o, "target", jstring(m->target));
	if (m->id)
		json_object_set_new(o, "id", jstring(m->id));
	if (m->sharing)
		json_object_set_new(o, "sharing", json_string(m->sharing));
	if (m->env)
		json_object_set_new(o, "env", jstring(m->env));
	json_object_set_new(o, "readonly", json_boolean(m->readonly));
	if (m->required)
		json_object_set_new(o, "required", json_true());
	if (m->has_mode)
		json_object_set_new(o, "mode", json_integer(m->mode));
	if (m->has_uid)
		json_object_set_new(o, "uid", json_integer(m->uid));
	if (m->has_gid)
		json_object_set_new(o, "gid", json_integer(m->gid));
	if (m->has_size)
		json_object_set_new(o, "size", json_integer((json_int_t)m->size));
	return o;
}

static json_t *jinstr(const struct sb_instr *in)
{
	json_t *o = json_object();

	json_object_set_new(o, "instruction", json_string(sb_instr_kind_name(in->kind)));
	json_object_set_new(o, "line", json_integer(in->line));
	if (in->onbuild)
		json_object_set_new(o, "onbuild", json_true());
	switch (in->kind) {
	case SB_INSTR_RUN: {
		json_t *m = json_array();
		json_object_set_new(o, "args", jstrv(in->args, in->nargs));
		json_object_set_new(o, "shell_form", json_boolean(in->prepend_shell));
		if (in->nfiles)
			json_object_set_new(o, "heredocs", jfiles(in->files, in->nfiles, false));
		for (size_t i = 0; i < in->nmounts; i++)
			json_array_append_new(m, jmount(&in->mounts[i]));
		if (in->nmounts)
			json_object_set_new(o, "mounts", m);
		else
			json_decref(m);
		if (in->network)
			json_object_set_new(o, "network", json_string(in->network));
		if (in->security)
			json_object_set_new(o, "security", json_string(in->security));
		break;
	}
	case SB_INSTR_CMD:
	case SB_INSTR_ENTRYPOINT:
		json_object_set_new(o, "args", jstrv(in->args, in->nargs));
		json_object_set_new(o, "shell_form", json_boolean(in->prepend_shell));
		if (in->nfiles)
			json_object_set_new(o, "heredocs", jfiles(in->files, in->nfiles, false));
		break;
	case SB_INSTR_EXPOSE:
		json_object_set_new(o, "args", jstrv(in->args, in->nargs));
		json_object_set_new(o, "ports", jstrv(in->ports, in->nports));
		break;
	case SB_INSTR_SHELL:
	case SB_INSTR_VOLUME:
		json_object_set_new(o, "args", jstrv(in->args, in->nargs));
		break;
	case SB_INSTR_COPY:
	case SB_INSTR_ADD:
		json_object_set_new(o, "sources", jstrv(in->args, in->nargs));
		if (in->nfiles)
			json_object_set_new(o, "heredocs", jfiles(in->files, in->nfiles, true));
		json_object_set_new(o, "dest", jstring(in->dest));
		if (in->kind == SB_INSTR_COPY && *in->from) {
			json_object_set_new(o, "from", jstring(in->from));
			json_object_set_new(o, "from_stage", in->from_stage >= 0 ? json_integer(in->from_stage) : json_null());
		}
		if (*in->chown)
			json_object_set_new(o, "chown", jstring(in->chown));
		if (*in->chmod)
			json_object_set_new(o, "chmod", jstring(in->chmod));
		if (in->link)
			json_object_set_new(o, "link", json_true());
		if (in->parents)
			json_object_set_new(o, "parents", json_true());
		if (in->nexcludes)
			json_object_set_new(o, "exclude", jstrv(in->excludes, in->nexcludes));
		if (in->kind == SB_INSTR_ADD) {
			if (*in->checksum)
				json_object_set_new(o, "checksum", jstring(in->checksum));
			if (in->keep_git_dir)
				json_object_set_new(o, "keep_git_dir", json_true());
			if (in->unpack >= 0)
				json_object_set_new(o, "unpack", json_boolean(in->unpack));
		}
		break;
	case SB_INSTR_ENV:
	case SB_INSTR_LABEL:
		json_object_set_new(o, in->kind == SB_INSTR_ENV ? "env" : "labels", jkvs(in->kvs, in->nkvs, true));
		break;
	case SB_INSTR_ARG:
		json_object_set_new(o, "args", jkvs(in->kvs, in->nkvs, false));
		break;
	case SB_INSTR_WORKDIR:
		json_object_set_new(o, "value", jstring(in->value));
		json_object_set_new(o, "workdir", jstr_or_null(in->workdir));
		break;
	case SB_INSTR_USER:
	case SB_INSTR_STOPSIGNAL:
	case SB_INSTR_MAINTAINER:
	case SB_INSTR_ONBUILD:
		json_object_set_new(o, "value", jstring(in->value));
		break;
	case SB_INSTR_HEALTHCHECK:
		json_object_set_new(o, "test", jstrv(in->test, in->ntest));
		if (in->interval)
			json_object_set_new(o, "interval", json_integer(in->interval));
		if (in->timeout)
			json_object_set_new(o, "timeout", json_integer(in->timeout));
		if (in->start_period)
			json_object_set_new(o, "start_period", json_integer(in->start_period));
		if (in->start_interval)
			json_object_set_new(o, "start_interval", json_integer(in->start_interval));
		if (in->ntest > 1)
			json_object_set_new(o, "retries", json_integer(in->retries));
		break;
	case SB_INSTR_FROM:
		break;
	}
	return o;
}

static json_t *jstage(const struct sb_stage *st)
{
	json_t *o = json_object(), *base = json_object(), *deps = json_array(), *instrs = json_array();

	json_object_set_new(o, "index", json_integer(st->index));
	json_object_set_new(o, "name", jstr_or_null(st->name));
	json_object_set_new(o, "line", json_integer(st->line));
	json_object_set_new(o, "level", json_integer(st->level));
	switch (st->base_kind) {
	case SB_BASE_IMAGE:
		json_object_set_new(base, "type", json_string("image"));
		json_object_set_new(base, "ref", jstring(st->base_ref));
		break;
	case SB_BASE_STAGE:
		json_object_set_new(base, "type", json_string("stage"));
		json_object_set_new(base, "stage", json_integer(st->base_stage));
		break;
	case SB_BASE_SCRATCH:
		json_object_set_new(base, "type", json_string("scratch"));
		break;
	}
	json_object_set_new(base, "name", jstring(st->base_name));
	json_object_set_new(o, "base", base);
	json_object_set_new(o, "platform", jstr_or_null(st->platform));
	for (size_t i = 0; i < st->ndeps; i++)
		json_array_append_new(deps, json_integer(st->deps[i]));
	json_object_set_new(o, "deps", deps);
	json_object_set_new(o, "args", jkvs(st->args, st->nargs, false));
	for (size_t i = 0; i < st->ninstrs; i++)
		json_array_append_new(instrs, jinstr(&st->instrs[i]));
	json_object_set_new(o, "instructions", instrs);
	return o;
}

char *sb_instr_to_json(const struct sb_instr *in)
{
	json_t *o = jinstr(in);
	char *s;
	json_object_del(o, "line");
	s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!s)
		abort();
	return s;
}

int sb_plan_to_json(const struct sb_plan *p, struct sb_strbuf *out, struct sb_error **err)
{
	json_t *root = json_object(), *stages = json_array();
	char *s;

	json_object_set_new(root, "target", json_integer(p->target));
	json_object_set_new(root, "levels", json_integer(p->nlevels));
	json_object_set_new(root, "global_args", jkvs(p->global_args, p->nglobal_args, false));
	json_object_set_new(root, "build_args_used", jstrv(p->build_args_used, p->nbuild_args_used));
	json_object_set_new(root, "build_args_unused", jstrv(p->build_args_unused, p->nbuild_args_unused));
	json_object_set_new(root, "proxy_env", jstrv(p->proxy_env, p->nproxy_env));
	for (size_t i = 0; i < p->norder; i++)
		json_array_append_new(stages, jstage(&p->stages[p->order[i]]));
	json_object_set_new(root, "stages", stages);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
	json_decref(root);
	if (!s)
		return sb_error_setx(err, ENOMEM, "encode plan as JSON");
	if (sb_strbuf_adds(out, s) < 0 || sb_strbuf_addc(out, '\n') < 0) {
		free(s);
		return sb_error_setx(err, E2BIG, "plan too large");
	}
	free(s);
	return 0;
}
