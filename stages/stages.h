/* From the AST to typed instructions and the stage graph, as BuildKit's
 * frontend/dockerfile/instructions and dockerfile2llb do it.
 *
 * sb_plan_build() turns a parsed Dockerfile into a plan: every stage with
 * its typed instructions (flags validated with BuildKit's messages), the
 * stage graph (FROM <stage>, COPY --from, RUN --mount=from= edges), the
 * stages the target needs in a dependency order with a parallelism level,
 * and ARG/ENV scoping applied: the fields BuildKit expands are expanded,
 * the rest are kept as written.
 *
 * Every string of a plan lives in its arena and is freed with it. Errors
 * read "FILE:LINE: message", LINE being the instruction's first line.
 */
#ifndef SB_STAGES_H
#define SB_STAGES_H

#include "parser/parser.h"

/* ---- flags (BuildKit's BFlags) ---- */

enum sb_flag_type { SB_FLAG_BOOL, SB_FLAG_STRING, SB_FLAG_STRINGS };

struct sb_flag {
	const char *name;
	enum sb_flag_type type;
	bool used;
	const char *value;   /* bool: "true"/"false"; string: the value or its default */
	const char **values; /* strings: every value, in order */
	size_t nvalues;
};

/* Parse the "--name[=value]" words of an instruction against the flags it
 * accepts. Values are arena strings. Fails with BuildKit's messages
 * ("unknown flag: foo", "missing a value on flag: from", ...). */
int sb_flags_parse(struct sb_arena *arena, const struct sb_str *args, size_t nargs,
		   struct sb_flag *flags, size_t nflags, struct sb_error **err);

/* ---- typed instructions ---- */

enum sb_instr_kind {
	SB_INSTR_ADD, SB_INSTR_ARG, SB_INSTR_CMD, SB_INSTR_COPY, SB_INSTR_ENTRYPOINT,
	SB_INSTR_ENV, SB_INSTR_EXPOSE, SB_INSTR_FROM, SB_INSTR_HEALTHCHECK, SB_INSTR_LABEL,
	SB_INSTR_MAINTAINER, SB_INSTR_ONBUILD, SB_INSTR_RUN, SB_INSTR_SHELL,
	SB_INSTR_STOPSIGNAL, SB_INSTR_USER, SB_INSTR_VOLUME, SB_INSTR_WORKDIR,
};

/* The upper-case name ("RUN"). */
const char *sb_instr_kind_name(enum sb_instr_kind kind);

struct sb_kv {
	char *key;
	char *value;   /* NULL for an ARG without a value */
	bool no_delim; /* ENV/LABEL written "key value" (the legacy form) */
};

struct sb_mount {
	char *type;    /* bind (default), cache, tmpfs, secret, ssh */
	char *from;    /* stage name or image, or NULL */
	int from_stage;/* the stage index `from` names, or -1 */
	char *source, *target, *id, *sharing, *env;
	bool readonly, required;
	bool has_mode, has_uid, has_gid, has_size;
	uint32_t mode, uid, gid;
	uint64_t size;
};

/* A heredoc: a RUN inline file, or a COPY/ADD source. */
struct sb_inline {
	char *name; /* the heredoc word (EOF); a COPY source's file name */
	char *data;
	bool chomp; /* <<- (COPY/ADD data has the tabs already removed) */
	bool expand;
};

struct sb_instr {
	enum sb_instr_kind kind;
	int line, end_line;
	char *code;       /* the instruction as written, trimmed */
	bool onbuild;     /* inserted from the base stage's ONBUILD triggers */

	/* RUN, CMD, ENTRYPOINT, SHELL, EXPOSE, VOLUME; COPY/ADD sources */
	char **args;
	size_t nargs;
	char **ports;     /* EXPOSE once planned: "80/tcp", ranges spread, unique */
	size_t nports;
	bool prepend_shell;          /* RUN/CMD/ENTRYPOINT in shell form */
	struct sb_inline *files;     /* RUN heredocs; COPY/ADD heredoc sources */
	size_t nfiles;

	/* RUN */
	char **mount_specs;  /* --mount values as written */
	struct sb_mount *mounts; /* parsed, values expanded once planned */
	size_t nmounts;
	char *network;  /* NULL, default, none or host */
	char *security; /* NULL, sandbox or insecure */

	/* COPY, ADD */
	char *dest;
	char *from;       /* COPY --from as written */
	int from_stage;   /* the stage it names, or -1 (an image, or none) */
	char *chown, *chmod, *checksum;
	char **excludes;
	size_t nexcludes;
	bool link, parents, keep_git_dir;
	int unpack;       /* ADD --unpack: -1 unset, 0, 1 */

	/* ENV, LABEL, ARG */
	struct sb_kv *kvs;
	size_t nkvs;

	/* WORKDIR, USER, STOPSIGNAL, MAINTAINER, ONBUILD (the trigger text) */
	char *value;
	char *workdir;    /* WORKDIR once planned: absolute and clean, as the config gets it */

	/* HEALTHCHECK: test[0] is NONE, CMD or CMD-SHELL */
	char **test;
	size_t ntest;
	int64_t interval, timeout, start_period, start_interval; /* ns, 0: unset */
	int retries;
};

/* Parse one instruction node into a typed instruction. FROM, which a plan
 * turns into a struct sb_stage, keeps its base name in dest, its lower-cased
 * AS name in value (NULL without one) and --platform in from (NULL when not
 * given). Fields are as written: expansion happens in sb_plan_build().
 * Strings live in the arena. Errors are BuildKit's bare messages, without a
 * location. */
int sb_instr_parse(struct sb_arena *arena, const struct sb_node *node, struct sb_instr *out,
		   struct sb_error **err);

/* Expands one word; *out is an arena string. */
struct sb_expander {
	int (*expand)(void *ctx, const char *in, char **out, struct sb_error **err);
	void *ctx;
};

/* Parse one RUN --mount value (CSV key=value fields, BuildKit's parseMount),
 * each value passed through ex when it is non-NULL. */
int sb_mount_parse(struct sb_arena *a, const char *value, const struct sb_expander *ex,
		   struct sb_mount *m, struct sb_error **err);

/* BuildKit's suggest.WrapError: append " (did you mean X?)" to *err when
 * an option is within edit distance 2 of val (and val is none of them).
 * Returns 0 when a hint was added, -1 otherwise. */
int sb_suggest_wrap(struct sb_error **err, const char *val, const char *const *options, size_t n,
		    bool case_sensitive);

/* Go's time.ParseDuration: nanoseconds, with Go's error messages. */
int sb_parse_go_duration(const char *s, int64_t *ns, struct sb_error **err);

/* ---- the plan ---- */

enum sb_base_kind { SB_BASE_IMAGE, SB_BASE_STAGE, SB_BASE_SCRATCH };

struct sb_stage {
	int index;            /* position in the Dockerfile */
	char *name;           /* lower-cased AS name, or NULL */
	int line;             /* the FROM line */
	char *base_written;   /* FROM's argument as written */
	char *base_name;      /* expanded with the global args */
	enum sb_base_kind base_kind;
	char *base_ref;       /* IMAGE: normalised (docker.io/library/x:latest) */
	int base_stage;       /* STAGE: its index */
	char *platform_written; /* FROM --platform as written, or NULL */
	char *platform;       /* expanded, or NULL (the target platform) */
	struct sb_instr *instrs;
	size_t ninstrs;
	int *deps;            /* stage indices this stage needs, unique, sorted */
	size_t ndeps;
	struct sb_kv *args;   /* ARGs in scope at the end (own and inherited), for cache keys */
	size_t nargs;
	char **env;           /* KEY=VALUE the builder knows at the end (ENV and ARG, base env) */
	size_t nenv;
	char *workdir;        /* the working directory at the end ("" when never set) */
	bool needed;          /* the target needs it */
	int level;            /* 0: needs no other stage; else 1 + its deps' highest */
};

struct sb_plan {
	struct sb_arena arena;
	const char *filename;
	char escape;
	struct sb_stage *stages;  /* every stage, in Dockerfile order */
	size_t nstages;
	int *order;               /* the needed stages, dependencies first */
	size_t norder;
	int target;               /* index of the target stage */
	int nlevels;
	struct sb_kv *global_args;/* meta ARGs and automatic args, as resolved */
	size_t nglobal_args;
	char **build_args_used;   /* --build-arg keys something consumed */
	size_t nbuild_args_used;
	char **build_args_unused; /* --build-arg keys nothing consumed (BuildKit warns) */
	size_t nbuild_args_unused;
	char **proxy_env;         /* proxy --build-args, KEY=VALUE, for RUN */
	size_t nproxy_env;
};

/* What the plan needs from an image base's config. The strings stay the
 * callee's; they are copied before sb_plan_build() returns. */
struct sb_image_info {
	const char *const *env;     /* Config.Env, KEY=VALUE */
	size_t nenv;
	const char *const *onbuild; /* Config.OnBuild: triggers run after FROM */
	size_t nonbuild;
	const char *workdir;        /* Config.WorkingDir, or NULL */
};

struct sb_plan_opts {
	const char *target;          /* stage name, or NULL for the last stage */
	const char *const *build_args; /* "KEY=VALUE" (or "KEY": value unset) */
	size_t nbuild_args;
	const char *build_platform;  /* "linux/amd64"; NULL: the host's */
	const char *target_platform; /* NULL: the build platform */
	/* Called once for each image base a needed stage has, when the
	 * caller can resolve images: fills *info from the image config. NULL:
	 * image bases start with an empty environment (PATH then defaults, as
	 * BuildKit sets it for images without one) and no ONBUILD triggers. */
	int (*resolve_image)(void *ctx, const char *ref, const char *platform,
			     struct sb_image_info *info, struct sb_error **err);
	void *resolve_image_ctx;
};

/* Build the plan of df. Returns NULL and sets *err on failure. */
struct sb_plan *sb_plan_build(const struct sb_dockerfile *df, const struct sb_plan_opts *opts,
			      struct sb_error **err);
void sb_plan_free(struct sb_plan *plan);

/* Append the plan as JSON, keys in a fixed order:
 *   { "target": index, "levels": n, "global_args": [{key, value}],
 *     "build_args_used": [...], "build_args_unused": [...],
 *     "proxy_env": ["KEY=VALUE"],
 *     "stages": [ the needed stages in order: { "index", "name", "line",
 *       "level", "base": {"type": image|stage|scratch, "ref"|"stage",
 *       "name"}, "platform", "deps": [indices], "args": [{key, value}],
 *       "instructions": [ { "instruction": "RUN", "line", ... the fields
 *       of struct sb_instr that apply, expanded } ] } ] }
 * Stages of one level need nothing from each other and may be built in
 * parallel once the lower levels are done. */
int sb_plan_to_json(const struct sb_plan *plan, struct sb_strbuf *out, struct sb_error **err);

/* One planned instruction as compact JSON with sorted keys and without
 * its line: the same instruction, wherever it sits, gives the same text
 * (cache keys). Caller frees. */
char *sb_instr_to_json(const struct sb_instr *in);

/* ---- the final slim stage ----
 *
 * DESIGN.md's last stage: FROM scratch, the closure of the profiled stage
 * copied with --parents (BuildKit copies each source as an include
 * pattern of a walk from "/": symlinks come as symlinks, parent
 * directories as copies of the source's, hard links within one source
 * stay links), the generated files (the dpkg status.d) as heredocs, and
 * the profiled image's config as instructions. Appended to the original
 * Dockerfile's text, it is an ordinary stage: slimbuild builds the slim
 * image from that text, and any BuildKit with the Dockerfile 1.20 syntax
 * (COPY --parents and --exclude, heredocs) builds the same from it. */
struct sb_slim_stage {
	const char *name;            /* its AS name */
	const char *from;            /* the profiled stage as COPY --from names it: its name or index */
	const char *source;          /* for the comment above it (an image digest), or NULL */
	char escape;                 /* the Dockerfile's escape character ('\\' when 0) */
	const char *const *paths;    /* absolute paths, each a --parents source */
	size_t npaths;
	const char *const *excludes; /* --exclude patterns (DIR/STAR keeps DIR empty) */
	size_t nexcludes;
	const struct sb_inline *files; /* generated files, name and data, placed in files_dir */
	size_t nfiles;
	const char *files_dir;       /* "/var/lib/dpkg/status.d/" */
	const char *config_json;     /* the image config's "config" object, or NULL */
};

/* Append the stage's text (starting with a blank line) to out. Words are
 * quoted so that no lexer expands or splits them. Fails (EINVAL) on a
 * config a Dockerfile cannot express, or a generated file whose name is
 * no plain heredoc word. */
int sb_slim_stage_print(const struct sb_slim_stage *s, struct sb_strbuf *out, struct sb_error **err);

/* The stage's contents (paths, excludes, files, files_dir, config) as
 * compact JSON: what a recorded profile keeps as "slim_stage". Caller
 * frees. */
char *sb_slim_stage_to_json(const struct sb_slim_stage *s);
/* Print a stage from that JSON, the names (name, from, source, escape)
 * taken from names. */
int sb_slim_stage_print_json(const char *spec, const struct sb_slim_stage *names, struct sb_strbuf *out,
			     struct sb_error **err);

#define SB_SLIM_STAGE_NAME "slimbuild-slim"

/* `slimbuild rewrite --profile`: the Dockerfile text (name for messages)
 * followed by the recorded slim stage, copying from the stage po->target
 * names (else the last). Images are not resolved. The same text
 * `build --dockerfile-out` wrote when the profile was recorded. */
int sb_rewrite_slim(const char *name, const char *text, size_t len, const struct sb_plan_opts *po, const char *spec,
		    const char *source, struct sb_strbuf *out, struct sb_error **err);

#endif
