/* The final slim stage as Dockerfile text. See stages.h. */
#include <ctype.h>
#include <jansson.h>

#include "stages/stages.h"

/* Characters a source word may hold unquoted in every lexer that reads
 * it back (BuildKit's shell lexer, buildah's). */
static bool plain_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("/._+-@:,=%~", c);
}

/* One word for a shell-form instruction: bare when it can be, else in
 * single quotes (literal: no escape, no expansion), else in double
 * quotes with the escape character before ", $ and itself. */
static void add_word(struct sb_strbuf *out, const char *w, char escape)
{
	bool plain = *w != '\0';
	for (const char *p = w; *p && plain; p++)
		plain = plain_char((unsigned char)*p);
	if (plain) {
		sb_strbuf_adds(out, w);
		return;
	}
	if (!strchr(w, '\'')) {
		sb_strbuf_addf(out, "'%s'", w);
		return;
	}
	sb_strbuf_addc(out, '"');
	for (const char *p = w; *p; p++) {
		if (*p == '"' || *p == '$' || *p == escape)
			sb_strbuf_addc(out, escape);
		sb_strbuf_addc(out, *p);
	}
	sb_strbuf_addc(out, '"');
}

/* A Dockerfile line cannot hold a line break: a value with one cannot be
 * written (an instruction's arguments never span lines but through a
 * continuation, which removes the break), and printing it as it is would
 * let a value write instructions of its own. */
static int one_line(const char *what, const char *v, struct sb_error **err)
{
	if (v && strpbrk(v, "\n\r"))
		return sb_error_setx(err, EINVAL, "%s holds a line break, which a Dockerfile cannot express", what);
	return 0;
}

/* A value for an instruction that takes the rest of its line (USER,
 * WORKDIR, STOPSIGNAL): only "$" and the escape character need escaping. */
static void add_rest(struct sb_strbuf *out, const char *w, char escape)
{
	for (const char *p = w; *p; p++) {
		if (*p == '$' || *p == escape)
			sb_strbuf_addc(out, escape);
		sb_strbuf_addc(out, *p);
	}
}

static void add_json(struct sb_strbuf *out, json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s) {
		/* the exec form: JSON with ", " between items, as docker prints */
		for (const char *p = s; *p; p++) {
			sb_strbuf_addc(out, *p);
			if (*p == '"') {
				/* skip over the string */
				for (p++; *p && *p != '"'; p++) {
					sb_strbuf_addc(out, *p);
					if (*p == '\\' && p[1])
						sb_strbuf_addc(out, *++p);
				}
				if (*p)
					sb_strbuf_addc(out, *p);
				else
					break;
			} else if (*p == ',') {
				sb_strbuf_addc(out, ' ');
			}
		}
	}
	free(s);
}

static bool all_strings(json_t *a)
{
	size_t i;
	json_t *v;
	if (!json_is_array(a))
		return false;
	json_array_foreach(a, i, v) if (!json_is_string(v)) return false;
	return true;
}

/* A Go duration in its shortest exact unit. */
static void add_duration(struct sb_strbuf *out, int64_t ns)
{
	if (ns % 1000000000 == 0)
		sb_strbuf_addf(out, "%llds", (long long)(ns / 1000000000));
	else if (ns % 1000000 == 0)
		sb_strbuf_addf(out, "%lldms", (long long)(ns / 1000000));
	else
		sb_strbuf_addf(out, "%lldns", (long long)ns);
}

static int add_healthcheck(struct sb_strbuf *out, json_t *hc, char escape, struct sb_error **err)
{
	json_t *test = json_object_get(hc, "Test");
	const char *kind = json_string_value(json_array_get(test, 0));
	static const struct {
		const char *key, *flag;
	} flags[] = { { "Interval", "interval" }, { "Timeout", "timeout" }, { "StartPeriod", "start-period" },
		      { "StartInterval", "start-interval" } };

	if (!all_strings(test) || !kind)
		return sb_error_setx(err, EINVAL, "the image's Healthcheck has no test");
	sb_strbuf_adds(out, "HEALTHCHECK");
	if (!strcmp(kind, "NONE")) {
		sb_strbuf_adds(out, " NONE\n");
		return 0;
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(flags); i++) {
		json_int_t v = json_integer_value(json_object_get(hc, flags[i].key));
		if (v > 0) {
			sb_strbuf_addf(out, " --%s=", flags[i].flag);
			add_duration(out, (int64_t)v);
		}
	}
	if (json_integer_value(json_object_get(hc, "Retries")) > 0)
		sb_strbuf_addf(out, " --retries=%lld", (long long)json_integer_value(json_object_get(hc, "Retries")));
	sb_strbuf_adds(out, " CMD ");
	if (!strcmp(kind, "CMD-SHELL") && json_array_size(test) == 2) {
		/* the rest of the line, as written: not expanded, but trimmed,
		 * and a trailing escape would continue it */
		const char *sh = json_string_value(json_array_get(test, 1));
		size_t n = strlen(sh);
		if (!n || strpbrk(sh, "\n\r") || sh[n - 1] == escape || isspace((unsigned char)sh[0]) ||
		    isspace((unsigned char)sh[n - 1]))
			return sb_error_setx(err, EINVAL, "the image's Healthcheck command cannot be written as a "
							  "Dockerfile line");
		sb_strbuf_adds(out, sh);
	} else if (!strcmp(kind, "CMD")) {
		json_t *rest = json_array();
		for (size_t i = 1; i < json_array_size(test); i++)
			json_array_append(rest, json_array_get(test, i));
		add_json(out, rest);
		json_decref(rest);
	} else {
		return sb_error_setx(err, EINVAL, "the image's Healthcheck test %s cannot be written as a Dockerfile",
				     kind);
	}
	sb_strbuf_addc(out, '\n');
	return 0;
}

/* One " KEY=VALUE" of ENV or LABEL on a continued line, each side
 * quoted, an empty value as "". */
static int add_kv(struct sb_strbuf *out, const char *key, const char *val, char esc, const char *what,
		  struct sb_error **err)
{
	if (one_line(what, key, err) < 0 || one_line(what, val, err) < 0)
		return -1;
	sb_strbuf_addf(out, " %c\n    ", esc);
	add_word(out, key, esc);
	sb_strbuf_addc(out, '=');
	if (*val)
		add_word(out, val, esc);
	else
		sb_strbuf_adds(out, "\"\"");
	return 0;
}

/* A heredoc word that no line of data equals. */
static bool heredoc_fits(const char *word, const char *data)
{
	size_t n = strlen(word);
	for (const char *p = data; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (len == n && !memcmp(p, word, n))
			return false;
		p += len + (nl ? 1 : 0);
	}
	return true;
}

int sb_slim_stage_print(const struct sb_slim_stage *s, struct sb_strbuf *out, struct sb_error **err)
{
	char esc = s->escape ? s->escape : '\\';
	json_error_t jerr;
	json_t *cfg = NULL, *v;
	const char *k;
	int rc = -1;

	if (s->config_json) {
		cfg = json_loads(s->config_json, 0, &jerr);
		if (!json_is_object(cfg)) {
			sb_error_setx(err, EINVAL, "image config: %s", jerr.text);
			goto out;
		}
	}
	sb_strbuf_addf(out, "\n# The slim image: what the probes of %s used, with its config.\n",
		       s->source ? s->source : "the profiled stage");
	sb_strbuf_adds(out, "FROM scratch AS ");
	sb_strbuf_adds(out, s->name);
	sb_strbuf_addc(out, '\n');

	if (one_line("the stage name", s->from, err) < 0 || one_line("the files' directory", s->files_dir, err) < 0)
		goto out;
	for (size_t i = 0; i < s->nexcludes; i++)
		if (one_line("an exclude pattern", s->excludes[i], err) < 0)
			goto out;
	if (s->npaths) {
		/* The parser splits a shell-form COPY at whitespace before any
		 * quote is seen: a path holding one needs the JSON form, whose
		 * words are then expanded as the shell form's are. */
		bool json = false;
		for (size_t i = 0; i < s->npaths && !json; i++)
			json = strpbrk(s->paths[i], " \t\n\r\v\f") != NULL;
		sb_strbuf_adds(out, "COPY --from=");
		add_word(out, s->from, esc);
		sb_strbuf_adds(out, " --parents");
		for (size_t i = 0; i < s->nexcludes; i++) {
			sb_strbuf_adds(out, " --exclude=");
			add_word(out, s->excludes[i], esc);
		}
		if (json)
			sb_strbuf_adds(out, " [");
		for (size_t i = 0; i <= s->npaths; i++) {
			const char *w = i < s->npaths ? s->paths[i] : "/";
			sb_strbuf_addf(out, "%s %c\n    ", json && i ? "," : "", esc);
			if (json) {
				struct sb_strbuf q = SB_STRBUF_INIT;
				json_t *js;
				add_word(&q, w, esc);
				js = json_string(q.buf);
				sb_strbuf_release(&q);
				if (!js) {
					sb_error_setx(err, EINVAL, "closure path %s: not UTF-8, and holds whitespace", w);
					goto out;
				}
				add_json(out, js);
				json_decref(js);
			} else {
				add_word(out, w, esc);
			}
		}
		sb_strbuf_adds(out, json ? "]\n" : "\n");
	}

	if (s->nfiles) {
		sb_strbuf_adds(out, "COPY");
		for (size_t i = 0; i < s->nfiles; i++) {
			const struct sb_inline *f = &s->files[i];
			for (const char *p = f->name; *p; p++)
				if (!plain_char((unsigned char)*p) || *p == '/') {
					sb_error_setx(err, EINVAL, "generated file name %s cannot be a heredoc word", f->name);
					goto out;
				}
			if (!heredoc_fits(f->name, f->data)) {
				sb_error_setx(err, EINVAL, "generated file %s holds its own name as a line", f->name);
				goto out;
			}
			sb_strbuf_addf(out, " <<\"%s\"", f->name);
		}
		sb_strbuf_addc(out, ' ');
		add_word(out, s->files_dir, esc);
		sb_strbuf_addc(out, '\n');
		for (size_t i = 0; i < s->nfiles; i++) {
			const struct sb_inline *f = &s->files[i];
			size_t n = strlen(f->data);
			sb_strbuf_adds(out, f->data);
			if (n && f->data[n - 1] != '\n')
				sb_strbuf_addc(out, '\n');
			sb_strbuf_addf(out, "%s\n", f->name);
		}
	}

	if (!cfg) {
		rc = 0;
		goto out;
	}
	/* the original config, in the order a Dockerfile gives it */
	v = json_object_get(cfg, "Env");
	if (json_array_size(v)) {
		size_t i;
		json_t *e;
		sb_strbuf_adds(out, "ENV");
		json_array_foreach(v, i, e) {
			const char *kv = json_string_value(e), *eq = kv ? strchr(kv, '=') : NULL;
			sb_autofree char *key = NULL;
			if (!eq || eq == kv)
				continue;
			key = sb_xstrndup(kv, (size_t)(eq - kv));
			if (add_kv(out, key, eq + 1, esc, "an Env entry", err) < 0)
				goto out;
		}
		sb_strbuf_addc(out, '\n');
	}
	v = json_object_get(cfg, "Labels");
	if (json_object_size(v)) {
		json_t *val;
		sb_strbuf_adds(out, "LABEL");
		json_object_foreach(v, k, val) {
			const char *lv = json_string_value(val);
			if (add_kv(out, k, lv ? lv : "", esc, "a label", err) < 0)
				goto out;
		}
		sb_strbuf_addc(out, '\n');
	}
	v = json_object_get(cfg, "ExposedPorts");
	if (json_object_size(v)) {
		json_t *p;
		sb_strbuf_adds(out, "EXPOSE");
		json_object_foreach(v, k, p) {
			if (one_line("an exposed port", k, err) < 0)
				goto out;
			sb_strbuf_addc(out, ' ');
			add_word(out, k, esc);
		}
		sb_strbuf_addc(out, '\n');
	}
	v = json_object_get(cfg, "Volumes");
	if (json_object_size(v)) {
		json_t *a = json_array(), *p;
		json_object_foreach(v, k, p) json_array_append_new(a, json_string(k));
		sb_strbuf_adds(out, "VOLUME ");
		add_json(out, a);
		sb_strbuf_addc(out, '\n');
		json_decref(a);
	}
	{
		static const char *const rest[][2] = { { "User", "USER" }, { "WorkingDir", "WORKDIR" },
							 { "StopSignal", "STOPSIGNAL" } };
		for (size_t i = 0; i < SB_ARRAY_SIZE(rest); i++) {
			const char *val = json_string_value(json_object_get(cfg, rest[i][0]));
			size_t n = val ? strlen(val) : 0;
			if (!n)
				continue;
			if (one_line(rest[i][0], val, err) < 0)
				goto out;
			/* the parser trims the line and reads a trailing escape
			 * as a continuation */
			if (val[n - 1] == esc || isspace((unsigned char)val[0]) || isspace((unsigned char)val[n - 1])) {
				sb_error_setx(err, EINVAL, "%s %s cannot be written as a Dockerfile line", rest[i][0], val);
				goto out;
			}
			sb_strbuf_addf(out, "%s ", rest[i][1]);
			add_rest(out, val, esc);
			sb_strbuf_addc(out, '\n');
		}
	}
	v = json_object_get(cfg, "Healthcheck");
	if (json_is_object(v) && add_healthcheck(out, v, esc, err) < 0)
		goto out;
	v = json_object_get(cfg, "Entrypoint");
	if (all_strings(v)) {
		sb_strbuf_adds(out, "ENTRYPOINT ");
		add_json(out, v);
		sb_strbuf_addc(out, '\n');
	}
	v = json_object_get(cfg, "Cmd");
	if (all_strings(v)) {
		sb_strbuf_adds(out, "CMD ");
		add_json(out, v);
		sb_strbuf_addc(out, '\n');
	}
	v = json_object_get(cfg, "Shell");
	if (all_strings(v) && json_array_size(v)) {
		sb_strbuf_adds(out, "SHELL ");
		add_json(out, v);
		sb_strbuf_addc(out, '\n');
	}
	rc = 0;
out:
	json_decref(cfg);
	return rc;
}

static json_t *strv_json(const char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

char *sb_slim_stage_to_json(const struct sb_slim_stage *s)
{
	json_t *root = json_object(), *files = json_array(), *cfg = NULL;
	char *out;

	json_object_set_new(root, "paths", strv_json(s->paths, s->npaths));
	json_object_set_new(root, "excludes", strv_json(s->excludes, s->nexcludes));
	for (size_t i = 0; i < s->nfiles; i++) {
		json_t *f = json_object();
		json_object_set_new(f, "name", json_string(s->files[i].name));
		json_object_set_new(f, "data", json_string(s->files[i].data));
		json_array_append_new(files, f);
	}
	json_object_set_new(root, "files", files);
	json_object_set_new(root, "files_dir", json_string(s->files_dir ? s->files_dir : ""));
	if (s->config_json)
		cfg = json_loads(s->config_json, 0, NULL);
	json_object_set_new(root, "config", cfg ? cfg : json_null());
	out = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (!out)
		abort();
	return out;
}

static const char **strv_of_json(json_t *a, size_t *n)
{
	const char **v = sb_xcalloc(json_array_size(a) + 1, sizeof(char *));
	*n = 0;
	for (size_t i = 0; i < json_array_size(a); i++)
		if (json_is_string(json_array_get(a, i)))
			v[(*n)++] = json_string_value(json_array_get(a, i));
	return v;
}

int sb_slim_stage_print_json(const char *spec, const struct sb_slim_stage *names, struct sb_strbuf *out,
			     struct sb_error **err)
{
	json_error_t jerr;
	json_t *root = json_loads(spec, 0, &jerr), *files, *cfg;
	struct sb_slim_stage st = *names;
	struct sb_inline *fv = NULL;
	const char **paths = NULL, **excludes = NULL;
	char *cfg_text = NULL;
	int rc = -1;

	if (!json_is_object(root)) {
		sb_error_setx(err, EINVAL, "slim stage: %s", root ? "not an object" : jerr.text);
		goto out;
	}
	paths = strv_of_json(json_object_get(root, "paths"), &st.npaths);
	excludes = strv_of_json(json_object_get(root, "excludes"), &st.nexcludes);
	st.paths = paths;
	st.excludes = excludes;
	files = json_object_get(root, "files");
	fv = sb_xcalloc(json_array_size(files) + 1, sizeof(*fv));
	st.nfiles = 0;
	for (size_t i = 0; i < json_array_size(files); i++) {
		json_t *f = json_array_get(files, i);
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *data = json_string_value(json_object_get(f, "data"));
		if (!name || !data) {
			sb_error_setx(err, EINVAL, "slim stage: file %zu has no name or data", i);
			goto out;
		}
		fv[st.nfiles].name = (char *)name;
		fv[st.nfiles].data = (char *)data;
		st.nfiles++;
	}
	st.files = fv;
	st.files_dir = json_string_value(json_object_get(root, "files_dir"));
	cfg = json_object_get(root, "config");
	if (json_is_object(cfg))
		cfg_text = json_dumps(cfg, JSON_COMPACT);
	st.config_json = cfg_text;
	if (st.nfiles && (!st.files_dir || st.files_dir[0] != '/')) {
		sb_error_setx(err, EINVAL, "slim stage: files without an absolute files_dir");
		goto out;
	}
	rc = sb_slim_stage_print(&st, out, err);
out:
	free(cfg_text);
	free(fv);
	free(paths);
	free(excludes);
	json_decref(root);
	return rc;
}

int sb_rewrite_slim(const char *name, const char *text, size_t len, const struct sb_plan_opts *po, const char *spec,
		    const char *source, struct sb_strbuf *out, struct sb_error **err)
{
	struct sb_dockerfile *df = sb_dockerfile_parse(name, text, len, err);
	struct sb_plan *plan = NULL;
	struct sb_slim_stage st;
	sb_autofree char *from = NULL;
	int rc = -1;

	if (!df)
		return -1;
	plan = sb_plan_build(df, po, err);
	if (!plan)
		goto out;
	{
		const struct sb_stage *t = &plan->stages[plan->target];
		from = t->name ? sb_xstrdup(t->name) : sb_xasprintf("%d", t->index);
	}
	memset(&st, 0, sizeof(st));
	st.name = SB_SLIM_STAGE_NAME;
	st.from = from;
	st.source = source;
	st.escape = plan->escape;
	sb_strbuf_add(out, text, len);
	if (len && text[len - 1] != '\n')
		sb_strbuf_addc(out, '\n');
	rc = sb_slim_stage_print_json(spec, &st, out, err);
out:
	sb_plan_free(plan);
	sb_dockerfile_free(df);
	return rc;
}
