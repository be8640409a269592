/* slimbuild load [-i FILE]: images from a `save` archive (or Docker's,
 * podman's, skopeo's) into the store. */
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "parser/shell.h"
#include "runtime/store/archive.h"

int sb_cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "input", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *in = NULL;
	bool quiet = false;
	struct sb_store s;
	struct sb_error *err = NULL;
	char **names = NULL;
	size_t n = 0;
	int c, fd, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "i:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i': in = optarg; break;
		case 'q': quiet = true; break;
		case 'h': return sb_cli_help("load");
		default: return sb_cli_usage_error("load", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sb_cli_usage_error("load", "unexpected argument '%s'", argv[optind]);
	if (!in && isatty(STDIN_FILENO))
		return sb_cli_usage_error("load", "give an archive with -i FILE or on standard input");
	fd = in && strcmp(in, "-") ? open(in, O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	if (fd < 0) {
		fprintf(stderr, "slimbuild load: open %s: %s\n", in, strerror(errno));
		return SB_EXIT_FAIL;
	}
	if (sb_cli_open_store(&s) < 0) {
		close(fd);
		return SB_EXIT_FAIL;
	}
	rc = sb_archive_load(&s, fd, &names, &n, &err);
	close(fd);
	sb_store_release(&s);
	if (rc < 0)
		return sb_cli_fail(err);
	for (size_t i = 0; i < n; i++)
		if (!quiet)
			printf("Loaded image: %s\n", names[i]);
	sb_strv_free(names, n);
	return SB_EXIT_OK;
}
