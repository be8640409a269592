/* slimbuild tag SOURCE TARGET */
#include "frontend/cli.h"
#include "frontend/store_cli.h"

int sb_cmd_tag(int argc, char **argv)
{
	struct sb_store s;
	struct sb_descriptor d;
	struct sb_reference ref;
	struct sb_error *err = NULL;
	char *name;
	int rc;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return sb_cli_help("tag");
	if (argc != 3)
		return sb_cli_usage_error("tag", "takes exactly SOURCE and TARGET");
	if (sb_cli_parse_ref("tag", argv[2], &ref) < 0) {
		return SB_EXIT_USAGE;
	}
	if (sb_cli_open_store(&s) < 0) {
		sb_reference_release(&ref);
		return SB_EXIT_FAIL;
	}
	name = sb_reference_string(&ref);
	sb_reference_release(&ref);
	rc = sb_store_resolve(&s, argv[1], &d, &err);
	if (rc == 0) {
		rc = sb_store_tag(&s, name, &d, &err);
		sb_descriptor_release(&d);
	}
	free(name);
	sb_store_release(&s);
	return rc < 0 ? sb_cli_fail(err) : SB_EXIT_OK;
}
