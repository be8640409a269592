/* One AST node to one typed instruction, as BuildKit's instructions/parse.go
 * does: the same flags per instruction, the same argument checks and the
 * same messages. Variables are not expanded here (see plan.c). */
#include <ctype.h>
#include <strings.h>

#include "runtime/core/utf8.h"
#include "stages/stages.h"

static const char *const kind_names[] = {
	[SB_INSTR_ADD] = "ADD", [SB_INSTR_ARG] = "ARG", [SB_INSTR_CMD] = "CMD",
	[SB_INSTR_COPY] = "COPY", [SB_INSTR_ENTRYPOINT] = "ENTRYPOINT", [SB_INSTR_ENV] = "ENV",
	[SB_INSTR_EXPOSE] = "EXPOSE", [SB_INSTR_FROM] = "FROM", [SB_INSTR_HEALTHCHECK] = "HEALTHCHECK",
	[SB_INSTR_LABEL] = "LABEL", [SB_INSTR_MAINTAINER] = "MAINTAINER", [SB_INSTR_ONBUILD] = "ONBUILD",
	[SB_INSTR_RUN] = "RUN", [SB_INSTR_SHELL] = "SHELL", [SB_INSTR_STOPSIGNAL] = "STOPSIGNAL",
	[SB_INSTR_USER] = "USER", [SB_INSTR_VOLUME] = "VOLUME", [SB_INSTR_WORKDIR] = "WORKDIR",
};

const char *sb_instr_kind_name(enum sb_instr_kind kind)
{
	return (size_t)kind < SB_ARRAY_SIZE(kind_names) ? kind_names[kind] : "?";
}

struct req {
	struct sb_arena *arena;
	const struct sb_node *node;
	const char *cmd; /* upper-case name */
	char **args;     /* BuildKit's nodeArgs() */
	size_t nargs;
};

static char *adup(struct sb_arena *a, struct sb_str s)
{
	return sb_arena_strndup(a, s.ptr ? s.ptr : "", s.len);
}

static void push_arg(struct req *r, size_t *alloc, char *s)
{
	if (r->nargs == *alloc) {
		char **n = sb_arena_calloc(r->arena, *alloc ? *alloc * 2 : 8, sizeof(*n));
		if (r->nargs)
			memcpy(n, r->args, r->nargs * sizeof(*n));
		r->args = n;
		*alloc = *alloc ? *alloc * 2 : 8;
	}
	r->args[r->nargs++] = s;
}

/* nodeArgs: an ONBUILD argument node contributes its nested instruction's
 * name and arguments. */
static void node_args(struct req *r, size_t *alloc, const struct sb_node *node)
{
	for (const struct sb_node *n = node->next; n; n = n->next) {
		if (n->nchildren == 0) {
			push_arg(r, alloc, adup(r->arena, n->value));
		} else if (n->nchildren == 1) {
			push_arg(r, alloc, adup(r->arena, n->children[0]->value));
			node_args(r, alloc, n->children[0]);
		}
	}
}

static int parse_flags(struct req *r, struct sb_flag *flags, size_t n, struct sb_error **err)
{
	return sb_flags_parse(r->arena, r->node->flags, r->node->nflags, flags, n, err);
}

static int no_flags(struct req *r, struct sb_error **err)
{
	return parse_flags(r, NULL, 0, err);
}

static char *trim_dup(struct sb_arena *a, const char *s, size_t n)
{
	while (n && isspace((unsigned char)*s))
		s++, n--;
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return sb_arena_strndup(a, s, n);
}

/* handleJSONArgs: exec form keeps the words, shell form is one string. */
static void cmdline(struct req *r, struct sb_instr *in, char **args, size_t nargs)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;

	in->prepend_shell = !r->node->json;
	if (r->node->json) {
		in->args = args;
		in->nargs = nargs;
		return;
	}
	for (size_t i = 0; i < nargs; i++) {
		if (i)
			sb_strbuf_addc(&sb, ' ');
		sb_strbuf_adds(&sb, args[i]);
	}
	in->args = sb_arena_calloc(r->arena, 1, sizeof(char *));
	in->args[0] = sb_arena_strndup(r->arena, sb.buf, sb.len);
	in->nargs = 1;
	sb_strbuf_release(&sb);
}

static void inline_files(struct req *r, struct sb_instr *in)
{
	in->nfiles = r->node->nheredocs;
	in->files = sb_arena_calloc(r->arena, in->nfiles, sizeof(*in->files));
	for (size_t i = 0; i < in->nfiles; i++) {
		const struct sb_heredoc *h = &r->node->heredocs[i];
		in->files[i].name = adup(r->arena, h->name);
		in->files[i].data = adup(r->arena, h->content);
		in->files[i].chomp = h->chomp;
		in->files[i].expand = h->expand;
	}
}

/* parser.MustParseHeredoc: "<<[-]WORD" with an optional descriptor number
 * in front; returns the word with quotes removed, or NULL. */
static char *heredoc_word(struct sb_arena *a, const char *s, bool *chomp)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char *out;

	while (isdigit((unsigned char)*s))
		s++;
	if (strncmp(s, "<<", 2) != 0)
		return NULL;
	s += 2;
	*chomp = *s == '-';
	if (*chomp)
		s++;
	for (; *s; s++)
		if (*s != '\'' && *s != '"')
			sb_strbuf_addc(&sb, *s);
	if (sb.len == 0 || strchr(sb.buf, '<')) {
		sb_strbuf_release(&sb);
		return NULL;
	}
	out = sb_arena_strndup(a, sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return out;
}

/* ChompHeredocContent: strip leading tabs from every line. */
static char *chomp(struct sb_arena *a, const char *s)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	bool bol = true;
	char *out;

	for (; *s; s++) {
		if (bol && *s == '\t')
			continue;
		bol = *s == '\n';
		sb_strbuf_addc(&sb, *s);
	}
	out = sb_arena_strndup(a, sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return out;
}

static int sources_and_dest(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	bool ch;

	in->dest = r->args[r->nargs - 1];
	if (heredoc_word(r->arena, in->dest, &ch))
		return sb_error_setx(err, EINVAL, "%s cannot accept a heredoc as a destination", r->cmd);
	in->args = sb_arena_calloc(r->arena, r->nargs, sizeof(char *));
	in->files = sb_arena_calloc(r->arena, r->nargs, sizeof(*in->files));
	for (size_t i = 0; i + 1 < r->nargs; i++) {
		char *word = heredoc_word(r->arena, r->args[i], &ch);
		if (word) {
			struct sb_inline *f = &in->files[in->nfiles++];
			const char *data = "";
			f->name = word;
			f->expand = true;
			for (size_t j = 0; j < r->node->nheredocs; j++) {
				const struct sb_heredoc *h = &r->node->heredocs[j];
				if (h->name.len == strlen(word) && memcmp(h->name.ptr, word, h->name.len) == 0) {
					data = adup(r->arena, h->content);
					f->expand = h->expand;
				}
			}
			f->chomp = ch;
			f->data = ch ? chomp(r->arena, data) : (char *)data;
		} else {
			in->args[in->nargs++] = r->args[i];
		}
	}
	return 0;
}

static int parse_kvps(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	if (r->nargs == 0)
		return sb_error_setx(err, EINVAL, "%s requires at least one argument", r->cmd);
	/* the parser gives key, value, delimiter triplets */
	if (r->nargs % 3 != 0)
		return sb_error_setx(err, EINVAL, "Bad input to %s, too many arguments", r->cmd);
	in->nkvs = r->nargs / 3;
	in->kvs = sb_arena_calloc(r->arena, in->nkvs, sizeof(*in->kvs));
	for (size_t i = 0; i < in->nkvs; i++) {
		if (!*r->args[3 * i])
			return sb_error_setx(err, EINVAL, "%s names can not be blank", r->cmd);
		in->kvs[i].key = r->args[3 * i];
		in->kvs[i].value = r->args[3 * i + 1];
		in->kvs[i].no_delim = !*r->args[3 * i + 2];
	}
	return 0;
}

static const struct sb_flag *flag_named(const struct sb_flag *fl, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(fl[i].name, name) == 0)
			return &fl[i];
	return NULL;
}

static bool flag_true(const struct sb_flag *fl, size_t n, const char *name)
{
	const struct sb_flag *f = flag_named(fl, n, name);
	return f && strcmp(f->value, "true") == 0;
}

static char *flag_string(const struct sb_flag *fl, size_t n, const char *name)
{
	const struct sb_flag *f = flag_named(fl, n, name);
	return (char *)(f ? f->value : "");
}

static int parse_copy_add(struct req *r, struct sb_instr *in, bool add, struct sb_error **err)
{
	/* the flags parse.go gives each: ADD fetches (checksum, git, unpack),
	 * COPY reads other stages (from) and keeps parents */
	struct sb_flag copy_fl[] = {
		{ .name = "chown", .type = SB_FLAG_STRING }, { .name = "chmod", .type = SB_FLAG_STRING },
		{ .name = "link", .type = SB_FLAG_BOOL }, { .name = "exclude", .type = SB_FLAG_STRINGS },
		{ .name = "from", .type = SB_FLAG_STRING }, { .name = "parents", .type = SB_FLAG_BOOL },
	};
	struct sb_flag add_fl[] = {
		{ .name = "chown", .type = SB_FLAG_STRING }, { .name = "chmod", .type = SB_FLAG_STRING },
		{ .name = "link", .type = SB_FLAG_BOOL }, { .name = "exclude", .type = SB_FLAG_STRINGS },
		{ .name = "keep-git-dir", .type = SB_FLAG_BOOL }, { .name = "checksum", .type = SB_FLAG_STRING },
		{ .name = "unpack", .type = SB_FLAG_BOOL },
	};
	struct sb_flag *fl = add ? add_fl : copy_fl;
	size_t n = add ? SB_ARRAY_SIZE(add_fl) : SB_ARRAY_SIZE(copy_fl);
	const struct sb_flag *ex, *unpack;

	if (r->nargs < 2)
		return sb_error_setx(err, EINVAL,
				     "%s requires at least two arguments, but only one was provided. "
				     "Destination could not be determined", r->cmd);
	if (parse_flags(r, fl, n, err) < 0)
		return -1;
	if (sources_and_dest(r, in, err) < 0)
		return -1;
	in->chown = flag_string(fl, n, "chown");
	in->chmod = flag_string(fl, n, "chmod");
	in->link = flag_true(fl, n, "link");
	ex = flag_named(fl, n, "exclude");
	in->excludes = (char **)ex->values;
	in->nexcludes = ex->nvalues;
	in->from = flag_string(fl, n, "from");
	in->from_stage = -1;
	in->parents = flag_true(fl, n, "parents");
	in->keep_git_dir = flag_true(fl, n, "keep-git-dir");
	in->checksum = flag_string(fl, n, "checksum");
	unpack = flag_named(fl, n, "unpack");
	in->unpack = unpack && unpack->used ? strcmp(unpack->value, "true") == 0 : -1;
	return 0;
}

static bool valid_stage_name(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return false;
	return true;
}

static int parse_from(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	struct sb_flag fl[] = { { .name = "platform", .type = SB_FLAG_STRING } };

	if (r->nargs == 3 && strcasecmp(r->args[1], "as") == 0) {
		char *name = sb_arena_strndup(r->arena, r->args[2], strlen(r->args[2]));
		for (char *p = name; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!valid_stage_name(name)) {
			struct sb_strbuf q = SB_STRBUF_INIT;
			sb_go_quote(&q, r->args[2], strlen(r->args[2]));
			sb_error_setx(err, EINVAL, "invalid name for build stage: %s, name can't start with a "
				      "number or contain symbols", q.buf);
			sb_strbuf_release(&q);
			return -1;
		}
		in->value = name;
	} else if (r->nargs != 1) {
		return sb_error_setx(err, EINVAL, "FROM requires either one or three arguments");
	}
	if (parse_flags(r, fl, 1, err) < 0)
		return -1;
	in->dest = r->args[0]; /* the base name */
	in->from = fl[0].used ? (char *)fl[0].value : NULL;
	return 0;
}

static int parse_onbuild(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	const char *o = r->node->original.ptr ? r->node->original.ptr : "";
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char *trigger;

	if (r->nargs == 0)
		return sb_error_setx(err, EINVAL, "ONBUILD requires at least one argument");
	if (no_flags(r, err) < 0)
		return -1;
	trigger = trim_dup(r->arena, r->args[0], strlen(r->args[0]));
	for (char *p = trigger; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(trigger, "ONBUILD") == 0)
		return sb_error_setx(err, EINVAL, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	if (strcmp(trigger, "MAINTAINER") == 0 || strcmp(trigger, "FROM") == 0)
		return sb_error_setx(err, EINVAL, "%s isn't allowed as an ONBUILD trigger", trigger);

	/* (?i)^\s*ONBUILD\s* removed from the original line, heredocs appended */
	while (isspace((unsigned char)*o))
		o++;
	if (strncasecmp(o, "ONBUILD", 7) == 0)
		o += 7;
	while (isspace((unsigned char)*o))
		o++;
	sb_strbuf_adds(&sb, o);
	for (size_t i = 0; i < r->node->nheredocs; i++) {
		sb_strbuf_addc(&sb, '\n');
		sb_strbuf_add(&sb, r->node->heredocs[i].content.ptr, r->node->heredocs[i].content.len);
		sb_strbuf_add(&sb, r->node->heredocs[i].name.ptr, r->node->heredocs[i].name.len);
	}
	in->value = sb_arena_strndup(r->arena, sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return 0;
}

static int parse_run(struct req *r, struct sb_instr *in, struct sb_error **err);

static int parse_interval(const struct sb_flag *f, int64_t *out, struct sb_error **err)
{
	*out = 0;
	if (!*f->value)
		return 0;
	if (sb_parse_go_duration(f->value, out, err) < 0)
		return -1;
	if (*out != 0 && *out < 1000000) {
		*out = 0;
		return sb_error_setx(err, EINVAL, "Interval \"%s\" cannot be less than 1ms", f->name);
	}
	return 0;
}

static int parse_healthcheck(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	enum { F_INTERVAL, F_TIMEOUT, F_START_PERIOD, F_START_INTERVAL, F_RETRIES };
	struct sb_flag fl[] = {
		[F_INTERVAL] = { .name = "interval", .type = SB_FLAG_STRING },
		[F_TIMEOUT] = { .name = "timeout", .type = SB_FLAG_STRING },
		[F_START_PERIOD] = { .name = "start-period", .type = SB_FLAG_STRING },
		[F_START_INTERVAL] = { .name = "start-interval", .type = SB_FLAG_STRING },
		[F_RETRIES] = { .name = "retries", .type = SB_FLAG_STRING },
	};
	char *typ;

	if (r->nargs == 0)
		return sb_error_setx(err, EINVAL, "HEALTHCHECK requires at least one argument");
	typ = sb_arena_strndup(r->arena, r->args[0], strlen(r->args[0]));
	for (char *p = typ; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(typ, "NONE") == 0) {
		/* BuildKit checks no flags for NONE: they are accepted unread */
		if (r->nargs != 1)
			return sb_error_setx(err, EINVAL, "HEALTHCHECK NONE takes no arguments");
		in->test = sb_arena_calloc(r->arena, 1, sizeof(char *));
		in->test[0] = typ;
		in->ntest = 1;
		return 0;
	}
	if (parse_flags(r, fl, SB_ARRAY_SIZE(fl), err) < 0)
		return -1;
	if (strcmp(typ, "CMD") != 0) {
		struct sb_strbuf q = SB_STRBUF_INIT;
		sb_go_quote(&q, typ, strlen(typ));
		sb_error_setx(err, EINVAL, "Unknown type %s in HEALTHCHECK (try CMD)", q.buf);
		sb_strbuf_release(&q);
		return -1;
	}
	{
		struct sb_instr tmp = { 0 };
		cmdline(r, &tmp, r->args + 1, r->nargs - 1);
		if (tmp.nargs == 0 || (!r->node->json && r->nargs == 1))
			return sb_error_setx(err, EINVAL, "Missing command after HEALTHCHECK CMD");
		in->ntest = tmp.nargs + 1;
		in->test = sb_arena_calloc(r->arena, in->ntest, sizeof(char *));
		in->test[0] = r->node->json ? "CMD" : "CMD-SHELL";
		memcpy(in->test + 1, tmp.args, tmp.nargs * sizeof(char *));
	}
	if (parse_interval(&fl[F_INTERVAL], &in->interval, err) < 0 ||
	    parse_interval(&fl[F_TIMEOUT], &in->timeout, err) < 0 ||
	    parse_interval(&fl[F_START_PERIOD], &in->start_period, err) < 0 ||
	    parse_interval(&fl[F_START_INTERVAL], &in->start_interval, err) < 0)
		return -1;
	if (*fl[F_RETRIES].value) {
		const char *v = fl[F_RETRIES].value;
		char *end;
		long long n;
		errno = 0;
		n = strtoll(v, &end, 10);
		if (*end || end == v || isspace((unsigned char)*v))
			return sb_error_setx(err, EINVAL, "strconv.ParseInt: parsing \"%s\": invalid syntax", v);
		if (errno == ERANGE || n > INT32_MAX || n < INT32_MIN)
			return sb_error_setx(err, ERANGE, "strconv.ParseInt: parsing \"%s\": value out of range", v);
		if (n < 0)
			return sb_error_setx(err, EINVAL, "--retries cannot be negative (%lld)", n);
		in->retries = (int)n;
	}
	return 0;
}

int sb_instr_parse(struct sb_arena *arena, const struct sb_node *node, struct sb_instr *in,
		   struct sb_error **err)
{
	struct req r = { .arena = arena, .node = node };
	size_t alloc = 0;
	const char *lower = node->lower.ptr ? node->lower.ptr : "";
	static const struct { const char *name; enum sb_instr_kind kind; } names[] = {
		{ "add", SB_INSTR_ADD }, { "arg", SB_INSTR_ARG }, { "cmd", SB_INSTR_CMD },
		{ "copy", SB_INSTR_COPY }, { "entrypoint", SB_INSTR_ENTRYPOINT }, { "env", SB_INSTR_ENV },
		{ "expose", SB_INSTR_EXPOSE }, { "from", SB_INSTR_FROM },
		{ "healthcheck", SB_INSTR_HEALTHCHECK }, { "label", SB_INSTR_LABEL },
		{ "maintainer", SB_INSTR_MAINTAINER }, { "onbuild", SB_INSTR_ONBUILD }, { "run", SB_INSTR_RUN },
		{ "shell", SB_INSTR_SHELL }, { "stopsignal", SB_INSTR_STOPSIGNAL }, { "user", SB_INSTR_USER },
		{ "volume", SB_INSTR_VOLUME }, { "workdir", SB_INSTR_WORKDIR },
	};
	size_t k;

	memset(in, 0, sizeof(*in));
	for (k = 0; k < SB_ARRAY_SIZE(names); k++)
		if (strcmp(lower, names[k].name) == 0)
			break;
	if (k == SB_ARRAY_SIZE(names)) {
		const char *opts[SB_ARRAY_SIZE(names)];
		for (size_t i = 0; i < SB_ARRAY_SIZE(names); i++)
			opts[i] = names[i].name;
		sb_error_setx(err, EINVAL, "unknown instruction: %.*s", (int)node->value.len,
			      node->value.ptr ? node->value.ptr : "");
		/* BuildKit walks a map here, so its pick among equally close
		 * names varies; ours is the first in alphabetical order */
		sb_suggest_wrap(err, node->value.ptr ? node->value.ptr : "", opts, SB_ARRAY_SIZE(opts), false);
		return -1;
	}
	in->kind = names[k].kind;
	in->line = node->start_line;
	in->end_line = node->end_line;
	in->from_stage = -1;
	in->unpack = -1;
	in->code = trim_dup(arena, node->original.ptr ? node->original.ptr : "", node->original.len);
	r.cmd = kind_names[in->kind];
	node_args(&r, &alloc, node);

	switch (in->kind) {
	case SB_INSTR_ENV:
	case SB_INSTR_LABEL:
		if (no_flags(&r, err) < 0)
			return -1;
		return parse_kvps(&r, in, err);
	case SB_INSTR_MAINTAINER:
	case SB_INSTR_WORKDIR:
	case SB_INSTR_USER:
		if (r.nargs != 1)
			return sb_error_setx(err, EINVAL, "%s requires exactly one argument", r.cmd);
		if (no_flags(&r, err) < 0)
			return -1;
		in->value = r.args[0];
		return 0;
	case SB_INSTR_STOPSIGNAL:
		/* BuildKit reads no flags for STOPSIGNAL: they are ignored */
		if (r.nargs != 1)
			return sb_error_setx(err, EINVAL, "STOPSIGNAL requires exactly one argument");
		in->value = r.args[0];
		return 0;
	case SB_INSTR_ADD:
		return parse_copy_add(&r, in, true, err);
	case SB_INSTR_COPY:
		return parse_copy_add(&r, in, false, err);
	case SB_INSTR_FROM:
		return parse_from(&r, in, err);
	case SB_INSTR_ONBUILD:
		return parse_onbuild(&r, in, err);
	case SB_INSTR_RUN:
		return parse_run(&r, in, err);
	case SB_INSTR_CMD:
	case SB_INSTR_ENTRYPOINT:
		if (no_flags(&r, err) < 0)
			return -1;
		cmdline(&r, in, r.args, r.nargs);
		inline_files(&r, in);
		return 0;
	case SB_INSTR_HEALTHCHECK:
		return parse_healthcheck(&r, in, err);
	case SB_INSTR_EXPOSE:
		if (r.nargs == 0)
			return sb_error_setx(err, EINVAL, "EXPOSE requires at least one argument");
		if (no_flags(&r, err) < 0)
			return -1;
		/* BuildKit sorts the ports as written, before expansion */
		for (size_t i = 1; i < r.nargs; i++)
			for (size_t j = i; j > 0 && strcmp(r.args[j - 1], r.args[j]) > 0; j--) {
				char *t = r.args[j];
				r.args[j] = r.args[j - 1];
				r.args[j - 1] = t;
			}
		in->args = r.args;
		in->nargs = r.nargs;
		return 0;
	case SB_INSTR_VOLUME:
		if (r.nargs == 0)
			return sb_error_setx(err, EINVAL, "VOLUME requires at least one argument");
		if (no_flags(&r, err) < 0)
			return -1;
		in->args = sb_arena_calloc(arena, r.nargs, sizeof(char *));
		for (size_t i = 0; i < r.nargs; i++) {
			in->args[i] = trim_dup(arena, r.args[i], strlen(r.args[i]));
			if (!*in->args[i])
				return sb_error_setx(err, EINVAL, "VOLUME specified can not be an empty string");
		}
		in->nargs = r.nargs;
		return 0;
	case SB_INSTR_ARG:
		/* BuildKit's parseArg never reads its flags: they are ignored */
		if (r.nargs < 1)
			return sb_error_setx(err, EINVAL, "ARG requires at least one argument");
		in->nkvs = r.nargs;
		in->kvs = sb_arena_calloc(arena, r.nargs, sizeof(*in->kvs));
		for (size_t i = 0; i < r.nargs; i++) {
			char *eq = strchr(r.args[i], '=');
			if (eq) {
				if (eq == r.args[i])
					return sb_error_setx(err, EINVAL, "ARG names can not be blank");
				*eq = '\0';
				in->kvs[i].value = eq + 1;
			}
			in->kvs[i].key = r.args[i];
		}
		return 0;
	case SB_INSTR_SHELL:
		if (no_flags(&r, err) < 0)
			return -1;
		if (r.nargs == 0)
			return sb_error_setx(err, EINVAL, "SHELL requires at least one argument");
		if (!node->json)
			return sb_error_setx(err, EINVAL, "SHELL requires the arguments to be in JSON form");
		in->args = r.args;
		in->nargs = r.nargs;
		return 0;
	}
	return sb_error_setx(err, EINVAL, "unknown instruction: %s", r.cmd);
}

/* ---- RUN and its --mount, --network, --security ---- */

static bool parse_bool(const char *s, bool *out)
{
	static const char *const t[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const f[] = { "0", "f", "F", "FALSE", "false", "False" };
	for (size_t i = 0; i < SB_ARRAY_SIZE(t); i++) {
		if (strcmp(s, t[i]) == 0)
			return *out = true, true;
		if (strcmp(s, f[i]) == 0)
			return *out = false, true;
	}
	return false;
}

static bool parse_uint(const char *s, int base, uint64_t max, uint64_t *out)
{
	char *end;
	if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return false;
	errno = 0;
	*out = strtoull(s, &end, base);
	return !*end && errno == 0 && *out <= max;
}

/* go-units RAMInBytes: a number with an optional binary suffix (k, m, g,
 * t, p, with or without "b"/"ib", any case). */
static bool parse_ram(const char *s, uint64_t *out)
{
	char *end;
	double v;
	uint64_t mult = 1;

	if (!isdigit((unsigned char)*s))
		return false;
	v = strtod(s, &end);
	switch (tolower((unsigned char)*end)) {
	case 'k': mult = 1ULL << 10; end++; break;
	case 'm': mult = 1ULL << 20; end++; break;
	case 'g': mult = 1ULL << 30; end++; break;
	case 't': mult = 1ULL << 40; end++; break;
	case 'p': mult = 1ULL << 50; end++; break;
	default: break;
	}
	if (mult > 1 && tolower((unsigned char)*end) == 'i' && tolower((unsigned char)end[1]) == 'b')
		end += 2;
	else if (tolower((unsigned char)*end) == 'b')
		end++;
	if (*end || v * (double)mult >= 18446744073709551615.0)
		return false;
	*out = (uint64_t)(v * (double)mult);
	return true;
}

/* Go's encoding/csv reading one record: fields split on ',', a field that
 * starts with '"' is quoted ("" is a quote). */
static int csv_fields(struct sb_arena *a, const char *s, char ***out, size_t *n, struct sb_error **err)
{
	struct sb_strbuf f = SB_STRBUF_INIT;
	size_t cap = 8;
	char **v = sb_arena_calloc(a, cap, sizeof(char *));

	*n = 0;
	for (;;) {
		sb_strbuf_reset(&f);
		if (*s == '"') {
			s++;
			for (;;) {
				if (!*s) {
					sb_strbuf_release(&f);
					return sb_error_setx(err, EINVAL, "failed to parse csv mounts: "
							     "extraneous or missing \" in quoted-field");
				}
				if (*s == '"' && s[1] == '"') {
					sb_strbuf_addc(&f, '"');
					s += 2;
				} else if (*s == '"') {
					s++;
					break;
				} else {
					sb_strbuf_addc(&f, *s++);
				}
			}
			if (*s && *s != ',') {
				sb_strbuf_release(&f);
				return sb_error_setx(err, EINVAL, "failed to parse csv mounts: "
						     "extraneous or missing \" in quoted-field");
			}
		} else {
			while (*s && *s != ',') {
				if (*s == '"') {
					sb_strbuf_release(&f);
					return sb_error_setx(err, EINVAL, "failed to parse csv mounts: "
							     "bare \" in non-quoted-field");
				}
				sb_strbuf_addc(&f, *s++);
			}
		}
		if (*n == cap) {
			char **nv = sb_arena_calloc(a, cap * 2, sizeof(char *));
			memcpy(nv, v, cap * sizeof(char *));
			v = nv;
			cap *= 2;
		}
		v[(*n)++] = sb_arena_strndup(a, f.buf, f.len);
		if (!*s)
			break;
		s++;
	}
	sb_strbuf_release(&f);
	*out = v;
	return 0;
}

int sb_mount_parse(struct sb_arena *a, const char *value, const struct sb_expander *ex,
		   struct sb_mount *m, struct sb_error **err)
{
	char **fields = NULL;
	size_t nfields = 0;
	bool ro_auto = true;

	memset(m, 0, sizeof(*m));
	m->type = "bind";
	m->from_stage = -1;
	if (csv_fields(a, value, &fields, &nfields, err) < 0)
		return -1;
	for (size_t i = 0; i < nfields; i++) {
		char *field = fields[i], *eq = strchr(field, '='), *key, *val;
		uint64_t u;
		bool b;

		key = sb_arena_strndup(a, field, eq ? (size_t)(eq - field) : strlen(field));
		for (char *p = key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (!eq) {
			if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
				m->readonly = true;
				ro_auto = false;
				continue;
			}
			if (!strcmp(key, "readwrite") || !strcmp(key, "rw")) {
				m->readonly = false;
				ro_auto = false;
				continue;
			}
			if (!strcmp(key, "required")) {
				if (strcmp(m->type, "secret") && strcmp(m->type, "ssh"))
					return sb_error_setx(err, EINVAL, "unexpected key '%s' for mount type '%s'",
							     key, m->type);
				m->required = true;
				continue;
			}
			return sb_error_setx(err, EINVAL, "invalid field '%s' must be a key=value pair", field);
		}
		val = eq + 1;
		if (ex && ex->expand(ex->ctx, val, &val, err) < 0)
			return -1;
		if (!strcmp(key, "type")) {
			char *t = sb_arena_strndup(a, val, strlen(val));
			for (char *p = t; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (strcmp(t, "bind") && strcmp(t, "cache") && strcmp(t, "tmpfs") && strcmp(t, "secret") &&
			    strcmp(t, "ssh"))
			{
				static const char *const types[] = { "bind", "cache", "tmpfs", "secret", "ssh" };
				sb_error_setx(err, EINVAL, "unsupported mount type \"%s\"", val);
				sb_suggest_wrap(err, val, types, SB_ARRAY_SIZE(types), true);
				return -1;
			}
			m->type = t;
		} else if (!strcmp(key, "from")) {
			m->from = val;
		} else if (!strcmp(key, "source") || !strcmp(key, "src")) {
			m->source = val;
		} else if (!strcmp(key, "target") || !strcmp(key, "dst") || !strcmp(key, "destination")) {
			m->target = val;
		} else if (!strcmp(key, "readonly") || !strcmp(key, "ro") || !strcmp(key, "readwrite") ||
			   !strcmp(key, "rw")) {
			if (!parse_bool(val, &b))
				return sb_error_setx(err, EINVAL, "invalid value for %s: %s", key, val);
			m->readonly = !strcmp(key, "readonly") || !strcmp(key, "ro") ? b : !b;
			ro_auto = false;
		} else if (!strcmp(key, "required")) {
			if (strcmp(m->type, "secret") && strcmp(m->type, "ssh"))
				return sb_error_setx(err, EINVAL, "unexpected key '%s' for mount type '%s'", key, m->type);
			if (!parse_bool(val, &b))
				return sb_error_setx(err, EINVAL, "invalid value for %s: %s", key, val);
			m->required = b;
		} else if (!strcmp(key, "id")) {
			m->id = val;
		} else if (!strcmp(key, "sharing")) {
			char *t = sb_arena_strndup(a, val, strlen(val));
			for (char *p = t; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			if (strcmp(t, "shared") && strcmp(t, "private") && strcmp(t, "locked"))
				return sb_error_setx(err, EINVAL, "unsupported sharing value \"%s\"", val);
			m->sharing = t;
		} else if (!strcmp(key, "mode")) {
			if (!parse_uint(val, 8, UINT32_MAX, &u))
				return sb_error_setx(err, EINVAL, "invalid value %s for mode", val);
			m->has_mode = true;
			m->mode = (uint32_t)u;
		} else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
			if (!parse_uint(val, 10, UINT32_MAX, &u))
				return sb_error_setx(err, EINVAL, "invalid value %s for %s", val, key);
			if (key[0] == 'u')
				m->has_uid = true, m->uid = (uint32_t)u;
			else
				m->has_gid = true, m->gid = (uint32_t)u;
		} else if (!strcmp(key, "size")) {
			if (strcmp(m->type, "tmpfs"))
				return sb_error_setx(err, EINVAL, "unexpected key '%s' for mount type '%s'", key, m->type);
			if (!parse_ram(val, &u))
				return sb_error_setx(err, EINVAL, "invalid value %s for size", val);
			m->has_size = true;
			m->size = u;
		} else if (!strcmp(key, "env")) {
			m->env = val;
		} else {
			static const char *const keys[] = { "type", "from", "source", "target", "readonly", "id",
							    "sharing", "required", "mode", "uid", "gid", "src",
							    "dst", "destination", "ro", "rw", "readwrite", "size",
							    "env" };
			sb_error_setx(err, EINVAL, "unexpected key '%s' in '%s'", key, field);
			sb_suggest_wrap(err, key, keys, SB_ARRAY_SIZE(keys), true);
			return -1;
		}
	}
	{
		bool fileinfo = !strcmp(m->type, "secret") || !strcmp(m->type, "ssh") || !strcmp(m->type, "cache");
		if (m->has_mode && !fileinfo)
			return sb_error_setx(err, EINVAL, "mode not allowed for \"%s\" type mounts", m->type);
		if (m->has_uid && !fileinfo)
			return sb_error_setx(err, EINVAL, "uid not allowed for \"%s\" type mounts", m->type);
		if (m->has_gid && !fileinfo)
			return sb_error_setx(err, EINVAL, "gid not allowed for \"%s\" type mounts", m->type);
	}
	if (ro_auto)
		m->readonly = strcmp(m->type, "cache") && strcmp(m->type, "tmpfs");
	if (m->sharing && strcmp(m->type, "cache"))
		return sb_error_setx(err, EINVAL, "invalid cache sharing set for %s mount", m->type);
	if (!strcmp(m->type, "secret")) {
		if (m->from)
			return sb_error_setx(err, EINVAL, "secret mount should not have a from");
		if (!m->source && !m->target && !m->id && !m->env)
			return sb_error_setx(err, EINVAL, "invalid secret mount. one of source, target required");
		if (m->source && m->id)
			return sb_error_setx(err, EINVAL, "both source and id can't be set");
	}
	if (!strcmp(m->type, "cache") && !m->sharing)
		m->sharing = "shared";
	return 0;
}

static int parse_run(struct req *r, struct sb_instr *in, struct sb_error **err)
{
	/* --device is BuildKit's labs channel only: refused as unknown */
	enum { F_MOUNT, F_NETWORK, F_SECURITY };
	struct sb_flag fl[] = {
		[F_MOUNT] = { .name = "mount", .type = SB_FLAG_STRINGS },
		[F_NETWORK] = { .name = "network", .type = SB_FLAG_STRING },
		[F_SECURITY] = { .name = "security", .type = SB_FLAG_STRING },
	};

	if (parse_flags(r, fl, SB_ARRAY_SIZE(fl), err) < 0)
		return -1;
	cmdline(r, in, r->args, r->nargs);
	inline_files(r, in);
	in->nmounts = fl[F_MOUNT].nvalues;
	in->mount_specs = (char **)fl[F_MOUNT].values;
	in->mounts = sb_arena_calloc(r->arena, in->nmounts, sizeof(*in->mounts));
	for (size_t i = 0; i < in->nmounts; i++) {
		/* A variable in from= is refused at once, as BuildKit does; the
		 * other values are checked here as written and again once
		 * expanded (plan.c), so a $VAR in a mode or type is judged on
		 * its value. */
		if (sb_mount_parse(r->arena, in->mount_specs[i], NULL, &in->mounts[i], err) < 0) {
			if (!strchr(in->mount_specs[i], '$'))
				return -1;
			sb_error_free(*err);
			*err = NULL;
			memset(&in->mounts[i], 0, sizeof(in->mounts[i]));
			in->mounts[i].from_stage = -1;
		}
		if (in->mounts[i].from) {
			const char *d = strchr(in->mounts[i].from, '$');
			if (d && d[1])
				return sb_error_setx(err, EINVAL,
						     "'from' doesn't support variable expansion, define alias stage instead");
		}
	}
	if (fl[F_NETWORK].used) {
		const char *n = fl[F_NETWORK].value;
		if (strcmp(n, "default") && strcmp(n, "none") && strcmp(n, "host"))
			return sb_error_setx(err, EINVAL, "unsupported network mode \"%s\"", n);
		in->network = (char *)n;
	}
	if (fl[F_SECURITY].used) {
		const char *s = fl[F_SECURITY].value;
		if (strcmp(s, "sandbox") && strcmp(s, "insecure"))
			return sb_error_setx(err, EINVAL, "unsupported security mode \"%s\"", s);
		in->security = (char *)s;
	}
	return 0;
}

/* ---- Go's time.ParseDuration ---- */

int sb_parse_go_duration(const char *orig, int64_t *ns, struct sb_error **err)
{
	static const struct { const char *u; uint64_t mult; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "\xce\xbcs", 1000 },
		{ "ms", 1000000 }, { "s", 1000000000ULL }, { "m", 60000000000ULL }, { "h", 3600000000000ULL },
	};
	const char *s = orig;
	uint64_t total = 0;
	bool neg = false;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (strcmp(s, "0") == 0)
		return *ns = 0, 0;
	if (!*s)
		goto invalid;
	while (*s) {
		uint64_t v = 0, frac = 0, scale = 1, mult = 0;
		bool pre = false, post = false;
		size_t ul = 0;
		if (!(*s == '.' || isdigit((unsigned char)*s)))
			goto invalid;
		for (; isdigit((unsigned char)*s); s++, pre = true) {
			if (v > (UINT64_MAX - 9) / 10)
				goto invalid;
			v = v * 10 + (uint64_t)(*s - '0');
		}
		if (*s == '.') {
			for (s++; isdigit((unsigned char)*s); s++, post = true) {
				if (scale < 1000000000000000000ULL) {
					frac = frac * 10 + (uint64_t)(*s - '0');
					scale *= 10;
				}
			}
		}
		if (!pre && !post)
			goto invalid;
		while (s[ul] && s[ul] != '.' && !isdigit((unsigned char)s[ul]))
			ul++;
		if (ul == 0)
			return sb_error_setx(err, EINVAL, "time: missing unit in duration \"%s\"", orig);
		for (size_t i = 0; i < SB_ARRAY_SIZE(units); i++)
			if (strlen(units[i].u) == ul && memcmp(units[i].u, s, ul) == 0)
				mult = units[i].mult;
		if (!mult)
			return sb_error_setx(err, EINVAL, "time: unknown unit \"%.*s\" in duration \"%s\"",
					     (int)ul, s, orig);
		s += ul;
		if (v > (uint64_t)INT64_MAX / mult)
			goto invalid;
		v *= mult;
		v += (uint64_t)((long double)frac * (long double)mult / (long double)scale);
		total += v;
		if (total > (uint64_t)INT64_MAX)
			goto invalid;
	}
	*ns = neg ? -(int64_t)total : (int64_t)total;
	return 0;
invalid:
	return sb_error_setx(err, EINVAL, "time: invalid duration \"%s\"", orig);
}
