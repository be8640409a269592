/* slimbuild unpack NAME|ID DIR: an image's root filesystem, every layer
 * applied bottom up with whiteouts, into DIR. */
#include <sys/stat.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "runtime/layer/layer.h"

int sb_cmd_unpack(int argc, char **argv)
{
	struct sb_store s;
	struct sb_descriptor d;
	struct sb_manifest m;
	struct sb_layer_unpack_opts o;
	struct sb_error *err = NULL;
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return sb_cli_help("unpack");
	if (argc != 3)
		return sb_cli_usage_error("unpack", "takes an image and a directory");
	if (mkdir(argv[2], 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "slimbuild unpack: mkdir %s: %s\n", argv[2], strerror(errno));
		return SB_EXIT_FAIL;
	}
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	rc = sb_store_resolve(&s, argv[1], &d, &err);
	if (rc == 0) {
		rc = sb_store_load_image(&s, &d, &m, NULL, &err);
		sb_descriptor_release(&d);
	}
	if (rc == 0) {
		sb_layer_unpack_opts_init(&o);
		rc = sb_layer_unpack_image(&s, &m, argv[2], &o, NULL, &err);
		sb_manifest_release(&m);
	}
	sb_store_release(&s);
	return rc < 0 ? sb_cli_fail(err) : SB_EXIT_OK;
}
