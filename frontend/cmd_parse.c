/* slimbuild parse: print a Dockerfile's AST as BuildKit dumps it, or as
 * JSON, or the typed stage plan (--stages). */
#include <getopt.h>

#include "frontend/cli.h"
#include "parser/parser.h"
#include "parser/shell.h"
#include "stages/stages.h"

static int print_plan(const struct sb_dockerfile *df, const struct sb_plan_opts *opts)
{
	struct sb_error *err = NULL;
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_plan *plan = sb_plan_build(df, opts, &err);

	if (!plan)
		return sb_cli_fail(err);
	/* docker build's wording */
	if (plan->nbuild_args_unused) {
		fputs("[Warning] One or more build-args [", stderr);
		for (size_t i = 0; i < plan->nbuild_args_unused; i++)
			fprintf(stderr, "%s%s", i ? " " : "", plan->build_args_unused[i]);
		fputs("] were not consumed\n", stderr);
	}
	if (sb_plan_to_json(plan, &out, &err) < 0) {
		sb_plan_free(plan);
		return sb_cli_fail(err);
	}
	fwrite(out.buf, 1, out.len, stdout);
	sb_strbuf_release(&out);
	sb_plan_free(plan);
	return SB_EXIT_OK;
}

int sb_cmd_parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dump", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "file", required_argument, NULL, 'f' },
		{ "stages", no_argument, NULL, 's' },
		{ "target", required_argument, NULL, 't' },
		{ "build-arg", required_argument, NULL, 'b' },
		{ "platform", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool json = false, stages = false;
	struct sb_plan_opts popts = { 0 };
	struct sb_strv bargs __attribute__((cleanup(sb_strv_release))) = SB_STRV_INIT;
	int rc;
	struct sb_error *err = NULL;
	struct sb_dockerfile *df;
	struct sb_strbuf out = SB_STRBUF_INIT;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': json = false; break;
		case 'j': json = true; break;
		case 'f': file = optarg; break;
		case 's': stages = true; break;
		case 't': popts.target = optarg; break;
		case 'p': popts.build_platform = optarg; break;
		case 'b': {
			char *v = sb_cli_build_arg(optarg);
			if (v)
				sb_strv_push(&bargs, v);
			break;
		}
		case 'h': return sb_cli_help("parse");
		default:
			return sb_cli_usage_error("parse", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		if (file)
			return sb_cli_usage_error("parse", "give the Dockerfile once, not with -f and as an argument");
		file = argv[optind++];
	}
	if (optind < argc)
		return sb_cli_usage_error("parse", "unexpected argument '%s'", argv[optind]);
	if (!file)
		return sb_cli_usage_error("parse", "no Dockerfile given");

	if (!stages && (popts.target || bargs.n || popts.build_platform))
		return sb_cli_usage_error("parse", "--target, --build-arg and --platform need --stages");
	popts.build_args = (const char *const *)bargs.v;
	popts.nbuild_args = bargs.n;

	df = sb_dockerfile_parse_file(file, &err);
	if (!df)
		return sb_cli_fail(err);
	for (size_t i = 0; i < df->nwarnings; i++)
		fprintf(stderr, "%s:%d: warning: %s\n", df->filename, df->warnings[i].line, df->warnings[i].msg);
	if (stages) {
		rc = print_plan(df, &popts);
		sb_dockerfile_free(df);
		return rc;
	}
	if (json ? sb_dockerfile_to_json(df, &out, &err) : sb_dockerfile_dump(df, &out)) {
		sb_dockerfile_free(df);
		sb_strbuf_release(&out);
		return sb_cli_fail(err);
	}
	fwrite(out.buf, 1, out.len, stdout);
	sb_strbuf_release(&out);
	sb_dockerfile_free(df);
	return SB_EXIT_OK;
}
