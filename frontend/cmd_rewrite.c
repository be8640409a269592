/* slimbuild rewrite: the Dockerfile with a recorded slim stage appended
 * (stages.h, sb_rewrite_slim). */
#include <fcntl.h>
#include <getopt.h>

#include "frontend/cli.h"
#include "runtime/core/fs.h"
#include "runtime/core/strv.h"
#include "runtime/profile/record.h"
#include "stages/stages.h"

int sb_cmd_rewrite(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "profile", required_argument, NULL, 'P' },
		{ "target", required_argument, NULL, 't' },
		{ "build-arg", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *file = "Dockerfile", *profile = NULL;
	struct sb_plan_opts po = { 0 };
	struct sb_strv bargs = SB_STRV_INIT;
	struct sb_strbuf df = SB_STRBUF_INIT, pj = SB_STRBUF_INIT, out = SB_STRBUF_INIT;
	struct sb_profile_record rec;
	struct sb_error *err = NULL;
	int c, rc = SB_EXIT_FAIL;

	memset(&rec, 0, sizeof(rec));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 'P': profile = optarg; break;
		case 't': po.target = optarg; break;
		case 'b': {
			char *v = sb_cli_build_arg(optarg);
			if (v)
				sb_strv_push(&bargs, v);
			break;
		}
		case 'h':
			rc = sb_cli_help("rewrite");
			goto out;
		default:
			rc = sb_cli_usage_error("rewrite", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind < argc) {
		rc = sb_cli_usage_error("rewrite", "unexpected argument '%s'", argv[optind]);
		goto out;
	}
	if (!profile) {
		rc = sb_cli_usage_error("rewrite", "--profile FILE is needed: the multi-stage rewrite and base "
						   "substitution without a profile are not built yet");
		goto out;
	}
	po.build_args = (const char *const *)bargs.v;
	po.nbuild_args = bargs.n;
	if (sb_read_file(AT_FDCWD, file, 16u << 20, &df, &err) < 0 ||
	    sb_read_file(AT_FDCWD, profile, 256u << 20, &pj, &err) < 0 ||
	    sb_profile_record_parse(pj.buf, pj.len, &rec, &err) < 0) {
		rc = sb_cli_fail(err);
		goto out;
	}
	if (!rec.slim_stage) {
		sb_error_setx(&err, EINVAL, "%s: the profile records no slim stage (recorded by an older slimbuild?)",
			      profile);
		rc = sb_cli_fail(err);
		goto out;
	}
	if (sb_rewrite_slim(file, df.buf, df.len, &po, rec.slim_stage, rec.source_image[0] ? rec.source_image : NULL,
			    &out, &err) < 0) {
		rc = sb_cli_fail(err);
		goto out;
	}
	fwrite(out.buf, 1, out.len, stdout);
	rc = SB_EXIT_OK;
out:
	sb_profile_record_release(&rec);
	sb_strv_release(&bargs);
	sb_strbuf_release(&df);
	sb_strbuf_release(&pj);
	sb_strbuf_release(&out);
	return rc;
}
