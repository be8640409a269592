/* slimbuild save NAME... -o FILE [--format docker|oci] */
#include <getopt.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "runtime/store/archive.h"

int sb_cmd_save(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum sb_archive_format format = SB_ARCHIVE_DOCKER;
	const char *out = NULL;
	struct sb_store s;
	struct sb_error *err = NULL;
	struct sb_archive_image *imgs;
	struct sb_descriptor *descs;
	char **names;
	int c, n, rc = SB_EXIT_OK;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'F':
			if (!strcmp(optarg, "docker"))
				format = SB_ARCHIVE_DOCKER;
			else if (!strcmp(optarg, "oci"))
				format = SB_ARCHIVE_OCI;
			else
				return sb_cli_usage_error("save", "--format is docker or oci, not '%s'", optarg);
			break;
		case 'h': return sb_cli_help("save");
		default: return sb_cli_usage_error("save", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (!out)
		return sb_cli_usage_error("save", "give the output file with -o FILE");
	if (optind >= argc)
		return sb_cli_usage_error("save", "give at least one image");
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	n = argc - optind;
	imgs = sb_xcalloc((size_t)n, sizeof(*imgs));
	descs = sb_xcalloc((size_t)n, sizeof(*descs));
	names = sb_xcalloc((size_t)n, sizeof(*names));
	for (int i = 0; i < n && rc == SB_EXIT_OK; i++) {
		struct sb_reference ref;
		if (sb_store_resolve(&s, argv[optind + i], &descs[i], &err) < 0) {
			rc = sb_cli_fail(err);
			break;
		}
		/* a name is saved under that name; an ID has none */
		if (sb_reference_parse(argv[optind + i], &ref, NULL) == 0) {
			names[i] = sb_reference_string(&ref);
			sb_reference_release(&ref);
			struct sb_descriptor tagged;
			if (sb_store_lookup(&s, names[i], &tagged, NULL) < 0) {
				free(names[i]);
				names[i] = NULL;
			} else {
				sb_descriptor_release(&tagged);
			}
		}
		imgs[i].name = names[i];
		imgs[i].manifest = &descs[i];
	}
	if (rc == SB_EXIT_OK && sb_archive_save(&s, imgs, (size_t)n, format, out, &err) < 0)
		rc = sb_cli_fail(err);
	for (int i = 0; i < n; i++) {
		free(names[i]);
		sb_descriptor_release(&descs[i]);
	}
	free(names);
	free(descs);
	free(imgs);
	sb_store_release(&s);
	return rc;
}
