/* Building and editing image configs: new configs for imported root
 * filesystems, layers and history, and Dockerfile metadata instructions
 * applied as `docker import --change` applies them. */
#include <time.h>

#include "parser/parser.h"
#include "runtime/store/image.h"

void sb_rfc3339(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;
	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int64_t sb_build_time(void)
{
	const char *e = getenv("SOURCE_DATE_EPOCH");
	if (e && *e) {
		char *end;
		long long v = strtoll(e, &end, 10);
		if (!*end && v >= 0)
			return v;
	}
	return (int64_t)time(NULL);
}

void sb_image_config_new(struct sb_image_config *c, const char *created)
{
	const struct sb_platform *p = sb_host_platform();
	json_t *j = json_object(), *rootfs = json_object();

	json_object_set_new(j, "architecture", json_string(p->architecture));
	if (p->variant)
		json_object_set_new(j, "variant", json_string(p->variant));
	json_object_set_new(j, "os", json_string(p->os));
	json_object_set_new(j, "created", json_string(created));
	json_object_set_new(j, "config", json_object());
	json_object_set_new(rootfs, "type", json_string("layers"));
	json_object_set_new(rootfs, "diff_ids", json_array());
	json_object_set_new(j, "rootfs", rootfs);
	json_object_set_new(j, "history", json_array());
	c->root = j;
}

void sb_image_config_add_layer(struct sb_image_config *c, const char *diff_id, const char *created,
			       const char *created_by, const char *comment)
{
	json_t *h = json_object(), *hist = json_object_get(c->root, "history");
	if (diff_id)
		json_array_append_new(json_object_get(json_object_get(c->root, "rootfs"), "diff_ids"),
				      json_string(diff_id));
	json_object_set_new(h, "created", json_string(created));
	if (created_by)
		json_object_set_new(h, "created_by", json_string(created_by));
	if (comment)
		json_object_set_new(h, "comment", json_string(comment));
	if (!diff_id)
		json_object_set_new(h, "empty_layer", json_true());
	if (!json_is_array(hist)) {
		hist = json_array();
		json_object_set_new(c->root, "history", hist);
	}
	json_array_append_new(hist, h);
}

static json_t *config_obj(struct sb_image_config *c)
{
	json_t *cfg = json_object_get(c->root, "config");
	if (!json_is_object(cfg)) {
		cfg = json_object();
		json_object_set_new(c->root, "config", cfg);
	}
	return cfg;
}

static json_t *obj_member(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(o, key, v);
	}
	return v;
}

static json_t *str_or_null(const struct sb_str *s)
{
	json_t *j = json_stringn(s->ptr, s->len);
	return j ? j : json_string("");
}

/* Exec form as given; shell form wrapped in /bin/sh -c, as Docker does. */
static json_t *command_array(const struct sb_node *instr)
{
	json_t *a = json_array();
	if (instr->json) {
		for (const struct sb_node *n = instr->next; n; n = n->next)
			json_array_append_new(a, str_or_null(&n->value));
	} else if (instr->next) {
		json_array_append_new(a, json_string("/bin/sh"));
		json_array_append_new(a, json_string("-c"));
		json_array_append_new(a, str_or_null(&instr->next->value));
	}
	return a;
}

static void set_env(json_t *cfg, const struct sb_str *k, const struct sb_str *v)
{
	json_t *env = json_object_get(cfg, "Env");
	char *kv = sb_xasprintf("%.*s=%.*s", (int)k->len, k->ptr, (int)v->len, v->ptr);
	size_t i;
	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(cfg, "Env", env);
	}
	for (i = 0; i < json_array_size(env); i++) {
		const char *e = json_string_value(json_array_get(env, i));
		if (e && strncmp(e, k->ptr, k->len) == 0 && e[k->len] == '=') {
			json_array_set_new(env, i, json_string(kv));
			free(kv);
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
	free(kv);
}

/* Strip one level of quotes, as the Dockerfile's word rules do for
 * ENV/LABEL values (no variables are expanded here). */
static struct sb_str unquote(const struct sb_str *s, char *buf)
{
	struct sb_str out = { buf, 0 };
	char q = 0;
	for (size_t i = 0; i < s->len; i++) {
		char ch = s->ptr[i];
		if (!q && (ch == '"' || ch == '\'')) {
			q = ch;
			continue;
		}
		if (q && ch == q) {
			q = 0;
			continue;
		}
		if (ch == '\\' && q != '\'' && i + 1 < s->len)
			ch = s->ptr[++i];
		buf[out.len++] = ch;
	}
	buf[out.len] = '\0';
	return out;
}

int sb_image_config_apply(struct sb_image_config *c, const struct sb_node *instr, struct sb_error **err)
{
	const char *k = instr->lower.ptr;
	json_t *cfg = config_obj(c);

	if (!strcmp(k, "cmd") || !strcmp(k, "entrypoint")) {
		json_object_set_new(cfg, !strcmp(k, "cmd") ? "Cmd" : "Entrypoint", command_array(instr));
	} else if (!strcmp(k, "env") || !strcmp(k, "label")) {
		json_t *labels = !strcmp(k, "label") ? obj_member(cfg, "Labels") : NULL;
		/* the AST holds key, value, separator triples; "" as the
		 * separator marks the legacy `ENV key value` form, whose value
		 * is the rest of the line as written */
		for (const struct sb_node *n = instr->next; n && n->next;) {
			const struct sb_node *v = n->next, *sep = v->next;
			bool legacy = !sep || sep->value.len == 0;
			char *kb = sb_xmalloc(n->value.len + 1), *vb = sb_xmalloc(v->value.len + 1);
			struct sb_str key = unquote(&n->value, kb);
			struct sb_str val = legacy ? v->value : unquote(&v->value, vb);
			if (labels)
				json_object_setn_new(labels, key.ptr, key.len, json_stringn(val.ptr, val.len));
			else
				set_env(cfg, &key, &val);
			free(kb);
			free(vb);
			n = sep ? sep->next : NULL;
		}
	} else if (!strcmp(k, "expose") || !strcmp(k, "volume")) {
		bool expose = !strcmp(k, "expose");
		json_t *set = obj_member(cfg, expose ? "ExposedPorts" : "Volumes");
		for (const struct sb_node *n = instr->next; n; n = n->next) {
			char *key = expose && !memchr(n->value.ptr, '/', n->value.len)
					    ? sb_xasprintf("%.*s/tcp", (int)n->value.len, n->value.ptr)
					    : sb_xstrndup(n->value.ptr, n->value.len);
			json_object_set_new(set, key, json_object());
			free(key);
		}
	} else if (!strcmp(k, "user") || !strcmp(k, "workdir") || !strcmp(k, "stopsignal")) {
		const char *field = !strcmp(k, "user") ? "User" : !strcmp(k, "workdir") ? "WorkingDir" : "StopSignal";
		if (!instr->next)
			return sb_error_setx(err, EINVAL, "%s requires an argument", instr->value.ptr);
		json_object_set_new(cfg, field, str_or_null(&instr->next->value));
	} else if (!strcmp(k, "onbuild")) {
		json_t *ob = json_object_get(cfg, "OnBuild");
		const char *orig = instr->original.ptr;
		size_t skip = 0;
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(cfg, "OnBuild", ob);
		}
		/* the trigger as written, without the ONBUILD keyword */
		while (orig[skip] && orig[skip] != ' ' && orig[skip] != '\t')
			skip++;
		while (orig[skip] == ' ' || orig[skip] == '\t')
			skip++;
		json_array_append_new(ob, json_string(orig + skip));
	} else {
		return sb_error_setx(err, EINVAL, "%s is not a metadata instruction", instr->value.ptr);
	}
	return 0;
}
