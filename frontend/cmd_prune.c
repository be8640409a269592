/* slimbuild prune: drop blobs no tag reaches, and leftovers of killed
 * processes. */
#include "frontend/cli.h"
#include "frontend/store_cli.h"

int sb_cmd_prune(int argc, char **argv)
{
	struct sb_store s;
	struct sb_error *err = NULL;
	struct sb_prune_stats st;
	char size[32];

	bool build_cache = false;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return sb_cli_help("prune");
	if (argc == 2 && !strcmp(argv[1], "--build-cache"))
		build_cache = true;
	else if (argc > 1)
		return sb_cli_usage_error("prune", "unexpected argument '%s'", argv[1]);
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	if ((build_cache ? sb_store_prune_build_cache(&s, &st, &err) : sb_store_prune(&s, &st, &err)) < 0) {
		sb_store_release(&s);
		return sb_cli_fail(err);
	}
	sb_cli_human_size((int64_t)st.bytes_removed, size, sizeof(size));
	printf("Deleted %" PRIu64 " blobs (%s), %" PRIu64 " unfinished writes%s\n", st.blobs_removed, size,
	       st.ingest_removed, build_cache ? ", the build cache" : "");
	sb_store_release(&s);
	return SB_EXIT_OK;
}
