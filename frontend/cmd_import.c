/* slimbuild import ROOTFS.tar|- NAME [--change LINE]... [-m MESSAGE] */
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "runtime/layer/layer.h"
#include "runtime/store/import.h"

int sb_cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "change", required_argument, NULL, 'c' },
		{ "message", required_argument, NULL, 'm' },
		{ "compression", required_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_import_opts io = { NULL, 0, NULL, SB_COMPRESS_GZIP };
	const char **changes = sb_xcalloc((size_t)argc, sizeof(*changes));
	struct sb_reference ref;
	struct sb_descriptor md;
	struct sb_store s;
	struct sb_error *err = NULL;
	char *name;
	int c, fd, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': changes[io.nchanges++] = optarg; break;
		case 'm': io.message = optarg; break;
		case 'C':
			io.compression = sb_compression_parse(optarg);
			if (io.compression < 0) {
				free(changes);
				return sb_cli_usage_error("import", "--compression is gzip, zstd or none");
			}
			break;
		case 'h': free(changes); return sb_cli_help("import");
		default:
			free(changes);
			return sb_cli_usage_error("import", "unknown option '%s'", argv[optind - 1]);
		}
	}
	io.changes = changes;
	if (argc - optind != 2) {
		free(changes);
		return sb_cli_usage_error("import", "takes ROOTFS.tar (or -) and NAME");
	}
	if (sb_cli_parse_ref("import", argv[optind + 1], &ref) < 0) {
		free(changes);
		return SB_EXIT_USAGE;
	}
	name = sb_reference_string(&ref);
	sb_reference_release(&ref);
	fd = strcmp(argv[optind], "-") ? open(argv[optind], O_RDONLY | O_CLOEXEC) : dup(STDIN_FILENO);
	if (fd < 0) {
		fprintf(stderr, "slimbuild import: open %s: %s\n", argv[optind], strerror(errno));
		free(name);
		free(changes);
		return SB_EXIT_FAIL;
	}
	if (sb_cli_open_store(&s) < 0) {
		close(fd);
		free(name);
		free(changes);
		return SB_EXIT_FAIL;
	}
	rc = sb_image_import(&s, fd, name, &io, &md, &err);
	close(fd);
	if (rc == 0) {
		struct sb_manifest m;
		if (sb_store_load_image(&s, &md, &m, NULL, NULL) == 0) {
			printf("%s\n", m.config.digest);
			sb_manifest_release(&m);
		}
		sb_descriptor_release(&md);
	}
	sb_store_release(&s);
	free(name);
	free(changes);
	return rc < 0 ? sb_cli_fail(err) : SB_EXIT_OK;
}
