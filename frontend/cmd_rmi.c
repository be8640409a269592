/* slimbuild rmi NAME|ID...: remove tags, then the blobs nothing reaches. */
#include "frontend/cli.h"
#include "frontend/store_cli.h"

int sb_cmd_rmi(int argc, char **argv)
{
	struct sb_store s;
	struct sb_error *err = NULL;
	struct sb_prune_stats st;
	bool force = false;
	int rc = SB_EXIT_OK, first = 1;

	for (; first < argc && argv[first][0] == '-'; first++) {
		if (!strcmp(argv[first], "-f") || !strcmp(argv[first], "--force"))
			force = true;
		else if (!strcmp(argv[first], "-h") || !strcmp(argv[first], "--help"))
			return sb_cli_help("rmi");
		else
			return sb_cli_usage_error("rmi", "unknown option '%s'", argv[first]);
	}
	if (first >= argc)
		return sb_cli_usage_error("rmi", "give at least one image");
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	for (int i = first; i < argc; i++) {
		struct sb_descriptor d;
		struct sb_store_images imgs;
		struct sb_reference ref;
		size_t ntags = 0;
		char *name = NULL;

		if (sb_store_resolve(&s, argv[i], &d, &err) < 0 || sb_store_list(&s, &imgs, &err) < 0) {
			fprintf(stderr, "Error: %s\n", err->msg);
			sb_error_free(err);
			err = NULL;
			rc = SB_EXIT_FAIL;
			continue;
		}
		/* a name removes that tag; an ID removes every tag of the
		 * image, which needs -f when there are several (as Docker) */
		if (sb_reference_parse(argv[i], &ref, NULL) == 0) {
			char *full = sb_reference_string(&ref);
			for (size_t k = 0; k < imgs.n; k++)
				if (imgs.v[k].name && !strcmp(imgs.v[k].name, full))
					name = full;
			if (!name)
				free(full);
			sb_reference_release(&ref);
		}
		for (size_t k = 0; k < imgs.n; k++)
			if (imgs.v[k].name && !strcmp(imgs.v[k].manifest.digest, d.digest))
				ntags++;
		if (!name && ntags > 1 && !force) {
			fprintf(stderr, "Error: image %s is referenced by %zu tags: remove them by name, or use -f\n",
				argv[i], ntags);
			rc = SB_EXIT_FAIL;
		}
		for (size_t k = 0; k < imgs.n && rc == SB_EXIT_OK; k++) {
			const char *n = imgs.v[k].name;
			if (!n || strcmp(imgs.v[k].manifest.digest, d.digest) || (name && strcmp(n, name)))
				continue;
			if (sb_store_untag(&s, n, &err) < 0) {
				fprintf(stderr, "Error: %s\n", err->msg);
				sb_error_free(err);
				err = NULL;
				rc = SB_EXIT_FAIL;
				break;
			}
			printf("Untagged: %s\n", n);
		}
		free(name);
		sb_store_images_release(&imgs);
		sb_descriptor_release(&d);
	}
	if (sb_store_prune(&s, &st, &err) < 0) {
		sb_store_release(&s);
		return sb_cli_fail(err);
	}
	if (st.blobs_removed)
		printf("Deleted: %" PRIu64 " blobs, %" PRIu64 " bytes\n", st.blobs_removed, st.bytes_removed);
	sb_store_release(&s);
	return rc;
}
