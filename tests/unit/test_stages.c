/* Unit tests for stages/: flags, typed instructions and their errors (cases
 * ported from BuildKit's instructions/bflag_test.go and parse_test.go),
 * ARG/ENV scoping (dockerfile2llb/convert_test.go and BuildKit's
 * documented rules) and the stage graph. */
#include "tests/unit/sb_test.h"

#include "stages/stages.h"

/* ---- helpers ---- */

static struct sb_dockerfile *parse(const char *text)
{
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = sb_dockerfile_parse("Dockerfile", text, strlen(text), &err);
	if (!df)
		fail_msg("parse: %s", err->msg);
	return df;
}

/* Parse the first instruction of text; returns the error message (caller
 * frees) or NULL on success with *out filled. */
static char *instr(struct sb_arena *a, const char *text, struct sb_instr *out)
{
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = parse(text);
	char *msg = NULL;
	if (sb_instr_parse(a, df->root->children[0], out, &err) < 0) {
		msg = sb_xstrdup(err->msg);
		sb_error_free(err);
	}
	sb_dockerfile_free(df);
	return msg;
}

static void expect_instr_error(const char *text, const char *want)
{
	struct sb_arena a;
	struct sb_instr in;
	char *msg;
	sb_arena_init(&a);
	msg = instr(&a, text, &in);
	if (!msg)
		fail_msg("%s: expected error %s", text, want);
	if (strcmp(msg, want) != 0)
		fail_msg("%s:\n  got  %s\n  want %s", text, msg, want);
	free(msg);
	sb_arena_release(&a);
}

struct planned {
	struct sb_dockerfile *df;
	struct sb_plan *plan;
};

static struct planned plan_of(const char *text, const char *target, const char *const *bargs, size_t nbargs)
{
	struct sb_error *err = NULL;
	struct sb_plan_opts o = { .target = target, .build_args = bargs, .nbuild_args = nbargs,
				  .build_platform = "linux/amd64" };
	struct planned p = { parse(text), NULL };
	p.plan = sb_plan_build(p.df, &o, &err);
	if (!p.plan)
		fail_msg("plan: %s", err->msg);
	return p;
}

static void planned_free(struct planned *p)
{
	sb_plan_free(p->plan);
	sb_dockerfile_free(p->df);
}

static void expect_plan_error(const char *text, const char *target, const char *want)
{
	struct sb_error *err = NULL;
	struct sb_plan_opts o = { .target = target, .build_platform = "linux/amd64" };
	struct sb_dockerfile *df = parse(text);
	struct sb_plan *p = sb_plan_build(df, &o, &err);
	if (p)
		fail_msg("%s: expected error %s", text, want);
	if (strcmp(err->msg, want) != 0)
		fail_msg("%s:\n  got  %s\n  want %s", text, err->msg, want);
	sb_error_free(err);
	sb_dockerfile_free(df);
}

static const struct sb_stage *stage(const struct sb_plan *p, size_t i)
{
	assert_true(i < p->norder);
	return &p->stages[p->order[i]];
}

static const char *stage_env(const struct sb_stage *st, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = st->nenv; i-- > 0;)
		if (strncmp(st->env[i], key, n) == 0 && st->env[i][n] == '=')
			return st->env[i] + n + 1;
	return NULL;
}

/* ---- flags (bflag_test.go) ---- */

static int flags_run(struct sb_arena *a, struct sb_flag *fl, size_t nfl, const char *const *args, size_t n,
		     char **msg)
{
	struct sb_str s[8];
	struct sb_error *err = NULL;
	int rc;
	for (size_t i = 0; i < n; i++)
		s[i] = (struct sb_str){ args[i], strlen(args[i]) };
	rc = sb_flags_parse(a, s, n, fl, nfl, &err);
	*msg = err ? sb_xstrdup(err->msg) : NULL;
	sb_error_free(err);
	return rc;
}

static void test_flags(void **state)
{
	struct sb_arena a;
	char *msg;
	(void)state;
	sb_arena_init(&a);
	{
		struct sb_flag fl[] = { { .name = "str1", .type = SB_FLAG_STRING, .value = "HI" },
					{ .name = "bool1", .type = SB_FLAG_BOOL } };
		assert_int_equal(flags_run(&a, fl, 2, NULL, 0, &msg), 0);
		assert_string_equal(fl[0].value, "HI");
		assert_string_equal(fl[1].value, "false");
		assert_false(fl[0].used || fl[1].used);
	}
	{
		const char *args[] = { "--" };
		assert_int_equal(flags_run(&a, NULL, 0, args, 1, &msg), 0);
	}
	{
		struct sb_flag fl[] = { { .name = "str1", .type = SB_FLAG_STRING, .value = "HI" } };
		const char *args[] = { "--str1" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), -1);
		assert_string_equal(msg, "missing a value on flag: str1");
		free(msg);
	}
	{
		struct sb_flag fl[] = { { .name = "str1", .type = SB_FLAG_STRING, .value = "HI" } };
		const char *args[] = { "--str1=" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), 0);
		assert_string_equal(fl[0].value, "");
	}
	{
		struct sb_flag fl[] = { { .name = "str1", .type = SB_FLAG_STRING, .value = "HI" },
					{ .name = "bool1", .type = SB_FLAG_BOOL } };
		const char *args[] = { "--bool1", "--str1=BYE" };
		assert_int_equal(flags_run(&a, fl, 2, args, 2, &msg), 0);
		assert_string_equal(fl[0].value, "BYE");
		assert_string_equal(fl[1].value, "true");
		assert_true(fl[0].used && fl[1].used);
	}
	{
		struct sb_flag fl[] = { { .name = "bool1", .type = SB_FLAG_BOOL } };
		const char *args[] = { "--bool1=FALSE" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), 0);
		assert_string_equal(fl[0].value, "false");
	}
	{
		struct sb_flag fl[] = { { .name = "bool1", .type = SB_FLAG_BOOL } };
		const char *args[] = { "--bool1=false1" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), -1);
		assert_string_equal(msg, "expecting boolean value for flag bool1, not: false1");
		free(msg);
	}
	{
		struct sb_flag fl[] = { { .name = "bool1", .type = SB_FLAG_BOOL } };
		const char *args[] = { "--bool1=" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), -1);
		assert_string_equal(msg, "missing a value on flag: bool1");
		free(msg);
	}
	{
		struct sb_flag fl[] = { { .name = "bool1", .type = SB_FLAG_BOOL } };
		const char *args[] = { "--bool2" };
		assert_int_equal(flags_run(&a, fl, 1, args, 1, &msg), -1);
		assert_string_equal(msg, "unknown flag: --bool2");
		free(msg);
	}
	{
		struct sb_flag fl[] = { { .name = "s", .type = SB_FLAG_STRING } };
		const char *args[] = { "--s=1", "--s=2" };
		assert_int_equal(flags_run(&a, fl, 1, args, 2, &msg), -1);
		assert_string_equal(msg, "duplicate flag specified: s");
		free(msg);
	}
	{
		struct sb_flag fl[] = { { .name = "m", .type = SB_FLAG_STRINGS } };
		const char *args[] = { "--m=1", "--m=2", "--m=3" };
		assert_int_equal(flags_run(&a, fl, 1, args, 3, &msg), 0);
		assert_int_equal(fl[0].nvalues, 3);
		assert_string_equal(fl[0].values[2], "3");
	}
	sb_arena_release(&a);
}

/* ---- instructions (parse_test.go) ---- */

static void test_instr_argument_counts(void **state)
{
	static const char *const one[] = { "MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL" };
	static const char *const least[] = { "ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE", "VOLUME" };
	char text[64], want[128];
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(one); i++) {
		snprintf(text, sizeof(text), "%s\n", one[i]);
		snprintf(want, sizeof(want), "%s requires exactly one argument", one[i]);
		expect_instr_error(text, want);
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(least); i++) {
		snprintf(text, sizeof(text), "%s\n", least[i]);
		snprintf(want, sizeof(want), "%s requires at least one argument", least[i]);
		expect_instr_error(text, want);
	}
	expect_instr_error("ADD arg1\n", "ADD requires at least two arguments, but only one was provided. "
					 "Destination could not be determined");
	expect_instr_error("COPY arg1\n", "COPY requires at least two arguments, but only one was provided. "
					  "Destination could not be determined");
	expect_instr_error("COPY\t\n\t\tquux \\\n      bar\n",
			   "COPY requires at least two arguments, but only one was provided. "
			   "Destination could not be determined");
	expect_instr_error("ARG =x\n", "ARG names can not be blank");
	expect_instr_error("ARG\n", "ARG requires at least one argument");
	expect_instr_error("FROM a b\n", "FROM requires either one or three arguments");
	expect_instr_error("SHELL []\n", "SHELL requires at least one argument");
}

static void test_instr_errors(void **state)
{
	(void)state;
	expect_instr_error("ONBUILD FROM scratch\n", "FROM isn't allowed as an ONBUILD trigger");
	expect_instr_error("ONBUILD MAINTAINER me\n", "MAINTAINER isn't allowed as an ONBUILD trigger");
	expect_instr_error("MAINTAINER --boo joe@example.com\n", "unknown flag: --boo");
	expect_instr_error("ONBUILD ONBUILD RUN touch foobar\n", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
	/* ported with BuildKit's suggestion appended */
	expect_instr_error("FOO bar\n", "unknown instruction: FOO (did you mean FROM?)");
	expect_instr_error("foo bar\n", "unknown instruction: foo (did you mean from?)");
	expect_instr_error("Copyy a b\n", "unknown instruction: Copyy (did you mean copy?)");
	expect_instr_error("XYZZY x\n", "unknown instruction: XYZZY");
	expect_instr_error("RUN --mount=type=bnd true\n", "unsupported mount type \"bnd\" (did you mean bind?)");
	expect_instr_error("RUN --mount=targt=/x true\n", "unexpected key 'targt' in 'targt=/x' (did you mean target?)");
	expect_instr_error("FROM busybox AS 1st\n",
			   "invalid name for build stage: \"1st\", name can't start with a number or contain symbols");
	expect_instr_error("FROM busybox AS a$b\n",
			   "invalid name for build stage: \"a$b\", name can't start with a number or contain symbols");
	expect_instr_error("HEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments");
	expect_instr_error("HEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD");
	expect_instr_error("HEALTHCHECK FOO x\n", "Unknown type \"FOO\" in HEALTHCHECK (try CMD)");
	expect_instr_error("HEALTHCHECK --interval=50ns CMD x\n", "Interval \"interval\" cannot be less than 1ms");
	expect_instr_error("HEALTHCHECK --timeout=abc CMD x\n", "time: invalid duration \"abc\"");
	expect_instr_error("HEALTHCHECK --retries=-1 CMD x\n", "--retries cannot be negative (-1)");
	expect_instr_error("HEALTHCHECK --retries=x CMD x\n", "strconv.ParseInt: parsing \"x\": invalid syntax");
	expect_instr_error("HEALTHCHECK --foo=1 CMD x\n", "unknown flag: --foo");
	expect_instr_error("SHELL sh -c\n", "SHELL requires the arguments to be in JSON form");
	expect_instr_error("COPY --from=a --from=b x y\n", "duplicate flag specified: from");
	expect_instr_error("COPY --checksum=x a b\n", "unknown flag: --checksum");
	expect_instr_error("ADD --parents a b\n", "unknown flag: --parents");
	expect_instr_error("COPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination");
	expect_instr_error("RUN --mount=type=foo true\n", "unsupported mount type \"foo\"");
	expect_instr_error("RUN --mount=target true\n", "invalid field 'target' must be a key=value pair");
	expect_instr_error("RUN --mount=type=bind,mode=0700 true\n", "mode not allowed for \"bind\" type mounts");
	expect_instr_error("RUN --mount=type=bind,sharing=locked true\n", "invalid cache sharing set for bind mount");
	expect_instr_error("RUN --mount=type=cache,sharing=bogus true\n", "unsupported sharing value \"bogus\"");
	expect_instr_error("RUN --mount=type=cache,required true\n", "unexpected key 'required' for mount type 'cache'");
	expect_instr_error("RUN --mount=type=secret,from=x,id=a true\n", "secret mount should not have a from");
	expect_instr_error("RUN --mount=type=secret true\n", "invalid secret mount. one of source, target required");
	expect_instr_error("RUN --mount=type=secret,id=a,src=b true\n", "both source and id can't be set");
	expect_instr_error("RUN --mount=type=bind,foo=bar true\n", "unexpected key 'foo' in 'foo=bar' (did you mean from?)");
	expect_instr_error("RUN --mount=type=cache,uid=x true\n", "invalid value x for uid");
	expect_instr_error("RUN --mount=type=bind,ro=maybe true\n", "invalid value for ro: maybe");
	expect_instr_error("RUN --network=bridge true\n", "unsupported network mode \"bridge\"");
	expect_instr_error("RUN --security=privileged true\n", "unsupported security mode \"privileged\"");
	expect_instr_error("VOLUME [\"\"]\n", "VOLUME specified can not be an empty string");
}

static void test_instr_fields(void **state)
{
	struct sb_arena a;
	struct sb_instr in;
	(void)state;
	sb_arena_init(&a);

	assert_null(instr(&a, "HEALTHCHECK CMD hello world\n", &in));
	assert_int_equal(in.ntest, 2);
	assert_string_equal(in.test[0], "CMD-SHELL");
	assert_string_equal(in.test[1], "hello world");

	assert_null(instr(&a, "HEALTHCHECK --interval=1m30s --start-interval=0 CMD [\"a\", \"b\"]\n", &in));
	assert_int_equal(in.ntest, 3);
	assert_string_equal(in.test[0], "CMD");
	assert_true(in.interval == 90LL * 1000000000LL);
	assert_true(in.start_interval == 0);

	assert_null(instr(&a, "RUN --mount=type=tmpfs,target=/foo/ echo hello\n", &in));
	assert_int_equal(in.nmounts, 1);
	assert_string_equal(in.mounts[0].type, "tmpfs");
	assert_false(in.mounts[0].readonly);
	assert_true(in.prepend_shell);
	assert_string_equal(in.args[0], "echo hello");

	assert_null(instr(&a, "RUN --mount=source=x,target=/y true\n", &in));
	assert_string_equal(in.mounts[0].type, "bind");
	assert_true(in.mounts[0].readonly);

	assert_null(instr(&a, "EXPOSE 8080 80/udp 443\n", &in));
	assert_int_equal(in.nargs, 3);
	assert_string_equal(in.args[0], "443");
	assert_string_equal(in.args[1], "80/udp");
	assert_string_equal(in.args[2], "8080");

	assert_null(instr(&a, "ARG a b=1 c=\n", &in));
	assert_int_equal(in.nkvs, 3);
	assert_null(in.kvs[0].value);
	assert_string_equal(in.kvs[1].value, "1");
	assert_string_equal(in.kvs[2].value, "");

	assert_null(instr(&a, "ONBUILD   run echo <<EOF\nhi\nEOF\n", &in));
	assert_string_equal(in.value, "run echo <<EOF\nhi\nEOF");

	assert_null(instr(&a, "ADD --unpack=true --checksum=sha256:x --keep-git-dir a b\n", &in));
	assert_int_equal(in.unpack, 1);
	assert_true(in.keep_git_dir);
	assert_string_equal(in.checksum, "sha256:x");

	assert_null(instr(&a, "COPY --exclude=a --exclude=b --parents x y\n", &in));
	assert_int_equal(in.nexcludes, 2);
	assert_true(in.parents);

	assert_null(instr(&a, "FROM --platform=linux/arm64 Busybox AS Stage-1.x_y\n", &in));
	assert_string_equal(in.value, "stage-1.x_y");
	assert_string_equal(in.dest, "Busybox");
	assert_string_equal(in.from, "linux/arm64");

	assert_null(instr(&a, "ENTRYPOINT []\n", &in));
	assert_int_equal(in.nargs, 0);
	assert_false(in.prepend_shell);

	sb_arena_release(&a);
}

static void test_durations(void **state)
{
	static const struct { const char *s; int64_t ns; } ok[] = {
		{ "0", 0 }, { "1s", 1000000000LL }, { "1.5h", 5400000000000LL }, { "300ms", 300000000LL },
		{ "1h2m3s", 3723000000000LL }, { "10us", 10000LL }, { ".5s", 500000000LL }, { "-1s", -1000000000LL },
	};
	static const struct { const char *s, *msg; } bad[] = {
		{ "", "time: invalid duration \"\"" },
		{ "1", "time: missing unit in duration \"1\"" },
		{ "1x", "time: unknown unit \"x\" in duration \"1x\"" },
		{ "s", "time: invalid duration \"s\"" },
		{ ".s", "time: invalid duration \".s\"" },
	};
	(void)state;
	for (size_t i = 0; i < SB_ARRAY_SIZE(ok); i++) {
		struct sb_error *err = NULL;
		int64_t ns = -42;
		assert_int_equal(sb_parse_go_duration(ok[i].s, &ns, &err), 0);
		assert_true(ns == ok[i].ns);
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(bad); i++) {
		struct sb_error *err = NULL;
		int64_t ns;
		assert_int_equal(sb_parse_go_duration(bad[i].s, &ns, &err), -1);
		assert_string_equal(err->msg, bad[i].msg);
		sb_error_free(err);
	}
}

/* ---- scoping ---- */

static void test_scope_meta_args(void **state)
{
	(void)state;
	{
		/* convert_test.go: a global ARG applies to FROM only */
		struct planned p = plan_of("ARG foo=bar\nFROM busybox:${foo}\nENV x=${foo}\n", NULL, NULL, 0);
		assert_string_equal(stage(p.plan, 0)->base_ref, "docker.io/library/busybox:bar");
		assert_string_equal(stage_env(stage(p.plan, 0), "x"), "");
		planned_free(&p);
	}
	{
		const char *ba[] = { "foo=baz" };
		struct planned p = plan_of("ARG foo=bar\nFROM busybox:${foo}\nARG foo\nENV x=${foo}\n", NULL, ba, 1);
		assert_string_equal(stage(p.plan, 0)->base_ref, "docker.io/library/busybox:baz");
		assert_string_equal(stage_env(stage(p.plan, 0), "x"), "baz");
		assert_int_equal(p.plan->nbuild_args_used, 1);
		assert_int_equal(p.plan->nbuild_args_unused, 0);
		planned_free(&p);
	}
	{
		/* meta args see earlier meta args */
		struct planned p = plan_of("ARG a=1\nARG b=${a}2\nFROM x:$b\n", NULL, NULL, 0);
		assert_string_equal(stage(p.plan, 0)->base_name, "x:12");
		planned_free(&p);
	}
	{
		/* an ARG with neither default nor --build-arg is unset */
		struct planned p = plan_of("ARG t\nFROM busybox${t:+:}${t}\n", NULL, NULL, 0);
		assert_string_equal(stage(p.plan, 0)->base_name, "busybox");
		planned_free(&p);
	}
}

static void test_scope_stage(void **state)
{
	(void)state;
	{
		/* ENV after ARG wins; ARG default sees ENV */
		struct planned p = plan_of("FROM a\nENV E=e\nARG A=${E}1\nARG B=2\nENV B=3\nWORKDIR /$A/$B\n",
					   NULL, NULL, 0);
		const struct sb_stage *st = stage(p.plan, 0);
		assert_string_equal(st->instrs[4].value, "/e1/3");
		assert_int_equal(st->nargs, 2);
		planned_free(&p);
	}
	{
		/* automatic platform args: global, and in a stage once declared */
		struct planned p = plan_of("FROM --platform=$BUILDPLATFORM a\nENV X=$TARGETARCH\nARG TARGETARCH\n"
					   "ENV Y=$TARGETARCH\n", NULL, NULL, 0);
		const struct sb_stage *st = stage(p.plan, 0);
		assert_string_equal(st->platform, "linux/amd64");
		assert_string_equal(st->instrs[0].kvs[0].value, "");
		assert_string_equal(st->instrs[2].kvs[0].value, "amd64");
		planned_free(&p);
	}
	{
		/* a child stage inherits its base stage's ARGs and ENV */
		struct planned p = plan_of("FROM a AS base\nARG V=1\nENV E=2\nFROM base\nUSER $V:$E\n", NULL, NULL, 0);
		assert_string_equal(stage(p.plan, 1)->instrs[0].value, "1:2");
		planned_free(&p);
	}
	{
		/* proxy args are consumed without a declaration, for RUN only */
		const char *ba[] = { "HTTPS_PROXY=http://p", "UNUSED=1" };
		struct planned p = plan_of("FROM a\nWORKDIR /$HTTPS_PROXY\n", NULL, ba, 2);
		assert_string_equal(stage(p.plan, 0)->instrs[0].value, "/");
		assert_int_equal(p.plan->nproxy_env, 1);
		assert_string_equal(p.plan->proxy_env[0], "HTTPS_PROXY=http://p");
		assert_int_equal(p.plan->nbuild_args_unused, 1);
		assert_string_equal(p.plan->build_args_unused[0], "UNUSED");
		planned_free(&p);
	}
	{
		/* RUN, CMD and ENTRYPOINT are left to the shell */
		struct planned p = plan_of("FROM a\nARG X=1\nRUN echo $X\nCMD echo $X\nENTRYPOINT [\"$X\"]\n",
					   NULL, NULL, 0);
		const struct sb_stage *st = stage(p.plan, 0);
		assert_string_equal(st->instrs[1].args[0], "echo $X");
		assert_string_equal(st->instrs[2].args[0], "echo $X");
		assert_string_equal(st->instrs[3].args[0], "$X");
		planned_free(&p);
	}
	{
		/* RUN --mount values are expanded */
		struct planned p = plan_of("FROM a\nARG D=/cache\nRUN --mount=type=cache,target=$D,mode=0${M}755 true\n",
					   NULL, NULL, 0);
		const struct sb_mount *m = &stage(p.plan, 0)->instrs[1].mounts[0];
		assert_string_equal(m->target, "/cache");
		assert_int_equal(m->mode, 0755);
		assert_string_equal(m->id, "/cache");
		planned_free(&p);
	}
	{
		/* dispatchRunMounts: relative targets are under WORKDIR */
		struct planned p = plan_of("FROM a\nWORKDIR /w\nRUN --mount=type=cache,target=go/ --mount=target=. true\n",
					   NULL, NULL, 0);
		const struct sb_instr *in = &stage(p.plan, 0)->instrs[1];
		assert_string_equal(in->mounts[0].target, "/w/go");
		assert_string_equal(in->mounts[0].id, "go");
		assert_string_equal(in->mounts[1].target, "/w");
		planned_free(&p);
	}
	expect_plan_error("FROM a\nRUN --mount=type=bind,target=/ true\n", NULL, "Dockerfile:2: invalid mount target \"/\"");
	expect_plan_error("FROM a\nRUN --mount=type=ssh,src=x true\n", NULL, "Dockerfile:2: ssh does not support source");
	{
		/* dispatchSecret and dispatchSSH defaults */
		struct planned p = plan_of("FROM a\nRUN --mount=type=secret,id=tok --mount=type=secret,target=/x/npmrc "
					   "--mount=type=secret,id=k,env=KEY --mount=type=ssh true\n", NULL, NULL, 0);
		const struct sb_instr *in = &stage(p.plan, 0)->instrs[0];
		assert_string_equal(in->mounts[0].target, "/run/secrets/tok");
		assert_string_equal(in->mounts[1].id, "npmrc");
		assert_null(in->mounts[2].target);
		assert_string_equal(in->mounts[3].id, "default");
		planned_free(&p);
	}
}

/* An image resolver as an executor would give one. */
static int fake_resolve(void *ctx, const char *ref, const char *platform, struct sb_image_info *info,
			struct sb_error **err)
{
	static const char *const env[] = { "PATH=/img/bin", "HOME=/home/app" };
	static const char *const onbuild[] = { "COPY --from=assets / /assets", "WORKDIR $HOME" };
	static const char *const bad[] = { "RUN <<EOF" };
	int *calls = ctx;
	(*calls)++;
	if (strcmp(ref, "docker.io/library/missing:latest") == 0)
		return sb_error_setx(err, ENOENT, "missing: not found");
	assert_string_equal(platform, "linux/amd64");
	info->env = env;
	info->nenv = 2;
	info->workdir = "/srv";
	if (strcmp(ref, "docker.io/library/badonbuild:latest") == 0) {
		info->onbuild = bad;
		info->nonbuild = 1;
	}
	if (strcmp(ref, "docker.io/library/onbuild:latest") == 0) {
		info->onbuild = onbuild;
		info->nonbuild = 2;
	}
	return 0;
}

static void test_image_bases(void **state)
{
	static const char df[] = "FROM alpine AS assets\nFROM onbuild\nWORKDIR $PATH\n";
	int calls = 0;
	struct sb_plan_opts o = { .build_platform = "linux/amd64", .resolve_image = fake_resolve,
				  .resolve_image_ctx = &calls };
	struct sb_error *err = NULL;
	struct sb_dockerfile *d = parse(df);
	struct sb_plan *p = sb_plan_build(d, &o, &err);
	const struct sb_stage *st;
	(void)state;

	assert_non_null(p);
	assert_int_equal(calls, 2);
	st = &p->stages[1];
	assert_int_equal(st->ninstrs, 3);
	assert_true(st->instrs[0].onbuild && st->instrs[1].onbuild);
	assert_int_equal(st->instrs[0].from_stage, 0);
	assert_string_equal(st->instrs[1].value, "/home/app");
	assert_string_equal(st->instrs[1].workdir, "/home/app");
	assert_string_equal(st->instrs[2].value, "/img/bin");
	assert_int_equal(st->level, 1);
	assert_int_equal(p->norder, 2);
	sb_plan_free(p);
	p = sb_plan_build(d, &(struct sb_plan_opts){ .build_platform = "linux/amd64", .resolve_image = fake_resolve,
						     .resolve_image_ctx = &calls, .target = "assets" }, &err);
	assert_non_null(p);
	sb_plan_free(p);
	{
		static const char df2[] = "FROM alpine AS assets\nFROM assets\nWORKDIR ../x\n";
		struct sb_dockerfile *d2 = parse(df2);
		p = sb_plan_build(d2, &o, &err);
		assert_non_null(p);
		/* the image's WorkingDir carries into the child stage */
		assert_string_equal(p->stages[1].instrs[0].workdir, "/x");
		assert_string_equal(p->stages[0].workdir, "/srv");
		sb_dockerfile_free(d2);
	}
	sb_plan_free(p);
	sb_dockerfile_free(d);

	d = parse("ARG X\nFROM a\nFROM badonbuild\n");
	assert_null(sb_plan_build(d, &o, &err));
	assert_string_equal(err->msg, "Dockerfile:3: unterminated heredoc");
	sb_error_free(err);
	err = NULL;
	sb_dockerfile_free(d);

	d = parse("FROM missing\n");
	assert_null(sb_plan_build(d, &o, &err));
	assert_string_equal(err->msg, "Dockerfile:1: missing: not found");
	sb_error_free(err);
	sb_dockerfile_free(d);
}

/* ---- the graph ---- */

static void test_graph(void **state)
{
	static const char df[] =
		"FROM alpine AS a\n"
		"FROM alpine AS b\n"
		"RUN --mount=from=a,target=/a true\n"
		"FROM b AS c\n"
		"COPY --from=0 / /\n"
		"FROM alpine AS unrelated\n"
		"FROM scratch AS final\n"
		"COPY --from=c / /\n"
		"COPY --from=busybox / /\n";
	(void)state;
	{
		struct planned p = plan_of(df, NULL, NULL, 0);
		const struct sb_plan *pl = p.plan;
		assert_int_equal(pl->target, 4);
		assert_int_equal(pl->norder, 4);
		assert_int_equal(pl->order[0], 0);
		assert_int_equal(pl->order[1], 1);
		assert_int_equal(pl->order[2], 2);
		assert_int_equal(pl->order[3], 4);
		assert_int_equal(pl->stages[0].level, 0);
		assert_int_equal(pl->stages[1].level, 1);
		assert_int_equal(pl->stages[2].level, 2);
		assert_int_equal(pl->stages[4].level, 3);
		assert_int_equal(pl->nlevels, 4);
		assert_false(pl->stages[3].needed);
		assert_int_equal(pl->stages[2].base_kind, SB_BASE_STAGE);
		assert_int_equal(pl->stages[4].base_kind, SB_BASE_SCRATCH);
		assert_int_equal(pl->stages[4].instrs[1].from_stage, -1);
		assert_int_equal(pl->stages[4].ndeps, 1);
		planned_free(&p);
	}
	{
		struct planned p = plan_of(df, "B", NULL, 0);
		assert_int_equal(p.plan->norder, 2);
		assert_int_equal(p.plan->target, 1);
		planned_free(&p);
	}
	{
		/* independent stages share a level */
		struct planned p = plan_of("FROM x AS a\nFROM x AS b\nFROM x\nCOPY --from=a / /\nCOPY --from=b / /\n",
					   NULL, NULL, 0);
		assert_int_equal(p.plan->stages[0].level, 0);
		assert_int_equal(p.plan->stages[1].level, 0);
		assert_int_equal(p.plan->stages[2].level, 1);
		planned_free(&p);
	}
	{
		/* FROM names only an earlier stage: a later one is an image */
		struct planned p = plan_of("FROM later AS first\nFROM alpine AS later\nFROM first\n", NULL, NULL, 0);
		assert_int_equal(p.plan->stages[0].base_kind, SB_BASE_IMAGE);
		assert_int_equal(p.plan->norder, 2);
		planned_free(&p);
	}
	{
		/* ONBUILD of a base stage runs first in the child, with its edges */
		struct planned p = plan_of("FROM x AS t\nFROM x AS base\nONBUILD COPY --from=t / /\nFROM base\nRUN y\n",
					   NULL, NULL, 0);
		const struct sb_stage *st = &p.plan->stages[2];
		assert_int_equal(st->ninstrs, 2);
		assert_true(st->instrs[0].onbuild);
		assert_int_equal(st->instrs[0].line, 4);
		assert_int_equal(st->instrs[0].from_stage, 0);
		assert_int_equal(p.plan->norder, 3);
		planned_free(&p);
	}
}

static void test_graph_errors(void **state)
{
	(void)state;
	expect_plan_error("FROM a\n", "nope", "Dockerfile: target stage \"nope\" could not be found");
	expect_plan_error("ARG x=1\n", NULL, "Dockerfile: dockerfile contains no stages to build");
	expect_plan_error("RUN x\nFROM a\n", NULL, "Dockerfile:1: no build stage in current context");
	expect_plan_error("FROM a AS x\nFROM b AS x\n", NULL, "Dockerfile:2: duplicate stage name \"x\"");
	expect_plan_error("FROM a AS x\nCOPY --from=x / /\n", NULL, "Dockerfile:2: circular dependency detected on stage: x");
	expect_plan_error("FROM a AS x\nCOPY --from=y / /\nFROM b AS y\nCOPY --from=x / /\n", NULL,
			  "Dockerfile:2: circular dependency detected on stage: x");
	expect_plan_error("FROM a\nCOPY --from=1 / /\nFROM b\nFROM c\nCOPY --from=0 / /\n", NULL,
			  "Dockerfile:2: cannot copy from stage \"1\", it needs to be defined before current stage \"stage-0\"");
	/* a stage the target does not need is not dispatched */
	{
		struct planned p = plan_of("FROM a\nCOPY --from=1 / /\nFROM b\n", NULL, NULL, 0);
		assert_int_equal(p.plan->norder, 1);
		planned_free(&p);
	}
	expect_plan_error("FROM a\nRUN --mount=from=b,target=/x true\nFROM c AS b\nFROM a\nCOPY --from=0 / /\n", "",
			  "Dockerfile:2: cannot mount from stage \"b\" to \"/x\", stage needs to be defined before current command");
	expect_plan_error("FROM a\nCOPY --from=-1 / /\n", NULL, "Dockerfile:2: invalid stage index -1");
	expect_plan_error("FROM a\nEXPOSE 1\nVOLUME ${x:?no}\n", NULL, "Dockerfile:3: failed to process \"${x:?no}\": x: no");
	expect_plan_error("ARG P\nFROM --platform=$P a\n", NULL, "Dockerfile:2: empty platform value from expression $P");
	expect_plan_error("FROM a\nSTOPSIGNAL SIGFOO\n", NULL, "Dockerfile:2: Invalid signal: SIGFOO");
	expect_plan_error("FROM a AS base\nONBUILD RUN --bad x\nFROM base\n", NULL,
			  "Dockerfile:3: unknown flag: --bad");
	/* convert_expose.go */
	expect_plan_error("FROM a\nEXPOSE abc\n", NULL, "Dockerfile:2: invalid containerPort: abc");
	expect_plan_error("FROM a\nEXPOSE 80/xyz\n", NULL, "Dockerfile:2: invalid proto: xyz");
	expect_plan_error("FROM a\nEXPOSE 1.2.3:80:80\n", NULL, "Dockerfile:2: invalid IP address: 1.2.3");
	expect_plan_error("FROM a\nEXPOSE 90-80\n", NULL, "Dockerfile:2: invalid containerPort: 90-80");
	expect_plan_error("FROM a\nEXPOSE /tcp\n", NULL, "Dockerfile:2: no port specified: /tcp<empty>");
	expect_plan_error("FROM a\nEXPOSE 80:8000-8001\n", NULL,
			  "Dockerfile:2: invalid ranges specified for container and host Ports: 8000-8001 and 80");
	{
		struct planned p = plan_of("FROM a\nARG P=\"81 82\"\nEXPOSE 80 80/TCP 53/udp $P 7-8 [::1]:1:2/sctp\n",
					   NULL, NULL, 0);
		const struct sb_instr *in = &stage(p.plan, 0)->instrs[1];
		static const char *const want[] = { "81/tcp", "82/tcp", "53/udp", "7/tcp", "8/tcp", "80/tcp", "2/sctp" };
		assert_int_equal(in->nports, SB_ARRAY_SIZE(want));
		for (size_t i = 0; i < SB_ARRAY_SIZE(want); i++)
			assert_string_equal(in->ports[i], want[i]);
		planned_free(&p);
	}
	/* convert_test.go */
	expect_plan_error("FROM scratch\n\tCOPY http://github.com/moby/buildkit/blob/master/README.md /\n", NULL,
			  "Dockerfile:2: source can't be a URL for COPY");
	expect_plan_error("FROM \"\" AS foo\n", NULL, "Dockerfile:1: base name (\"\") should not be blank");
	expect_plan_error("FROM ${BLANK} AS foo\n", NULL, "Dockerfile:1: base name (${BLANK}) should not be blank");
	expect_plan_error("FROM busybox AS stage0\nCOPY --from=stage2 f1 /sub/\nFROM busybox AS stage1\n"
			  "COPY --from=stage0 f2 /sub/\nFROM busybox AS stage2\nCOPY --from=stage1 f2 /sub/\n", NULL,
			  "Dockerfile:2: circular dependency detected on stage: stage0");
	{
		struct planned p = plan_of("FROM scratch AS foo\nENV FOO bar\nFROM foo\nCOPY --from=foo f1 /\n"
					   "COPY --from=0 f2 /\n", "Foo", NULL, 0);
		assert_int_equal(p.plan->target, 0);
		planned_free(&p);
		p = plan_of("FROM scratch\n\tADD http://github.com/moby/buildkit/blob/master/README.md /\n", NULL, NULL, 0);
		planned_free(&p);
	}
	expect_plan_error("FROM a\nBAD x\n", NULL,
			  "Dockerfile:2: dockerfile parse error on line 2: unknown instruction: BAD (did you mean ADD?)");
	expect_plan_error("FROM a AS build\n", "biuld", "Dockerfile: target stage \"biuld\" could not be found (did you mean build?)");
}

/* The slim stage's text read back by the parser and the planner: every
 * path, value and heredoc comes back as it went in, whatever it holds. */
static void check_slim_stage(char escape)
{
	static const char *const paths[] = { "/usr/bin/python3", "/srv/my app/x.txt", "/srv/it's", "/srv/$HOME",
					     "/srv/back\\slash", "/srv/tick`", "/srv/a\"b'c$d" };
	static const char *const excludes[] = { "tmp/*" };
	struct sb_inline files[] = { { (char *)"libc6", (char *)"Package: libc6\nVersion: 2.36 $x\n", false, false },
				     { (char *)"libc6.md5sums", (char *)"0123  usr/lib/libc.so.6\n", false, false } };
	const char *cfg = "{\"Env\":[\"PATH=/usr/bin\",\"A=x $y \\\"q\\\" 'z' \\\\ end\",\"EMPTY=\"],"
			  "\"Labels\":{\"org.x\":\"v w\",\"e\":\"\"},\"ExposedPorts\":{\"8080/tcp\":{}},"
			  "\"User\":\"app\",\"WorkingDir\":\"/srv/my app\",\"StopSignal\":\"SIGTERM\","
			  "\"Healthcheck\":{\"Test\":[\"CMD-SHELL\",\"curl -f http://localhost/ || exit 1\"],"
			  "\"Interval\":30000000000,\"Retries\":3},"
			  "\"Entrypoint\":[\"/bin/sh\",\"-c\",\"echo \\\"hi\\\" $X\"],\"Cmd\":[\"a b\"]}";
	struct sb_slim_stage st = { .name = "slimbuild-slim", .from = "fat", .source = "sha256:00", .escape = escape,
				    .paths = paths, .npaths = SB_ARRAY_SIZE(paths), .excludes = excludes,
				    .nexcludes = 1, .files = files, .nfiles = 2,
				    .files_dir = "/var/lib/dpkg/status.d/", .config_json = cfg };
	struct sb_strbuf text = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	const struct sb_stage *sl;
	const struct sb_instr *in;
	struct planned p;

	if (escape == '`')
		sb_strbuf_adds(&text, "# escape=`\n");
	sb_strbuf_adds(&text, "FROM debian:bookworm AS fat\nRUN true\n");
	if (sb_slim_stage_print(&st, &text, &err) < 0)
		fail_msg("print: %s", err->msg);
	p = plan_of(text.buf, NULL, NULL, 0);
	sl = &p.plan->stages[p.plan->target];
	assert_string_equal(sl->name, "slimbuild-slim");
	assert_int_equal(sl->base_kind, SB_BASE_SCRATCH);
	assert_int_equal(p.plan->norder, 2);
	in = &sl->instrs[0];
	assert_int_equal(in->kind, SB_INSTR_COPY);
	assert_true(in->parents);
	assert_int_equal(in->from_stage, 0);
	assert_int_equal(in->nargs, SB_ARRAY_SIZE(paths));
	for (size_t i = 0; i < SB_ARRAY_SIZE(paths); i++)
		assert_string_equal(in->args[i], paths[i]);
	assert_string_equal(in->dest, "/");
	assert_int_equal(in->nexcludes, 1);
	assert_string_equal(in->excludes[0], "tmp/*");
	in = &sl->instrs[1];
	assert_int_equal(in->kind, SB_INSTR_COPY);
	assert_int_equal(in->nfiles, 2);
	for (size_t i = 0; i < 2; i++) {
		assert_string_equal(in->files[i].name, files[i].name);
		assert_string_equal(in->files[i].data, files[i].data);
	}
	assert_string_equal(in->dest, "/var/lib/dpkg/status.d/");
	assert_string_equal(stage_env(sl, "A"), "x $y \"q\" 'z' \\ end");
	assert_string_equal(stage_env(sl, "EMPTY"), "");
	assert_string_equal(stage_env(sl, "PATH"), "/usr/bin");
	assert_string_equal(sl->workdir, "/srv/my app");
	for (size_t i = 2; i < sl->ninstrs; i++) {
		in = &sl->instrs[i];
		switch (in->kind) {
		case SB_INSTR_LABEL:
			assert_int_equal(in->nkvs, 2);
			assert_string_equal(in->kvs[0].key, "org.x");
			assert_string_equal(in->kvs[0].value, "v w");
			assert_string_equal(in->kvs[1].value, "");
			break;
		case SB_INSTR_EXPOSE:
			assert_int_equal(in->nports, 1);
			assert_string_equal(in->ports[0], "8080/tcp");
			break;
		case SB_INSTR_USER:
			assert_string_equal(in->value, "app");
			break;
		case SB_INSTR_STOPSIGNAL:
			assert_string_equal(in->value, "SIGTERM");
			break;
		case SB_INSTR_HEALTHCHECK:
			assert_int_equal(in->ntest, 2);
			assert_string_equal(in->test[0], "CMD-SHELL");
			assert_string_equal(in->test[1], "curl -f http://localhost/ || exit 1");
			assert_true(in->interval == 30000000000LL);
			assert_int_equal(in->retries, 3);
			break;
		case SB_INSTR_ENTRYPOINT:
			assert_int_equal(in->nargs, 3);
			assert_false(in->prepend_shell);
			assert_string_equal(in->args[2], "echo \"hi\" $X");
			break;
		case SB_INSTR_CMD:
			assert_int_equal(in->nargs, 1);
			assert_string_equal(in->args[0], "a b");
			break;
		case SB_INSTR_ENV:
		case SB_INSTR_WORKDIR:
			break;
		default:
			fail_msg("unexpected %s", sb_instr_kind_name(in->kind));
		}
	}
	planned_free(&p);
	sb_strbuf_release(&text);
}

static void test_slim_stage(void **state)
{
	check_slim_stage('\\');
	check_slim_stage('`');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_instr_argument_counts),
		cmocka_unit_test(test_instr_errors),
		cmocka_unit_test(test_instr_fields),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_scope_meta_args),
		cmocka_unit_test(test_scope_stage),
		cmocka_unit_test(test_image_bases),
		cmocka_unit_test(test_graph),
		cmocka_unit_test(test_graph_errors),
		cmocka_unit_test(test_slim_stage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
