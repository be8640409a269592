/* slimbuild parse: print a Dockerfile's AST as BuildKit dumps it, or as
 * JSON. */
#include <getopt.h>

#include "frontend/cli.h"
#include "parser/parser.h"

int sb_cmd_parse(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dump", no_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "file", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = NULL;
	bool json = false;
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

	df = sb_dockerfile_parse_file(file, &err);
	if (!df)
		return sb_cli_fail(err);
	for (size_t i = 0; i < df->nwarnings; i++)
		fprintf(stderr, "%s:%d: warning: %s\n", df->filename, df->warnings[i].line, df->warnings[i].msg);
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
