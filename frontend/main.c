/* slimbuild's entry point: one dispatcher applies the policy every
 * subcommand shares (help, version, flushing stdout and failing on a write
 * error), as git's run_builtin() does. */
#include <getopt.h>
#include <unistd.h>

#include "frontend/cli.h"

const struct sb_cli_cmd sb_cli_commands[] = {
	{ "build", sb_cmd_build, "Build an image from a Dockerfile (docker build)",
	  "Usage: slimbuild [build] [OPTIONS] PATH|-\n"
	  "\n"
	  "Build the Dockerfile in PATH (the context directory), or from a tar or a\n"
	  "Dockerfile on stdin (-), as docker build does, without a daemon. Must run as\n"
	  "root. The image goes to the store ($SLIMBUILD_ROOT).\n"
	  "\n"
	  "  -f, --file FILE         the Dockerfile (default: PATH/Dockerfile; - for stdin)\n"
	  "  -t, --tag NAME          name the image (repeatable)\n"
	  "      --build-arg K[=V]   set a build argument (K alone: from the environment)\n"
	  "      --target STAGE      build up to this stage\n"
	  "      --platform P        the host platform only\n"
	  "      --no-cache          run every step again\n"
	  "      --pull              pull image bases even when the store has them\n"
	  "      --label K=V         add a label to the image (repeatable)\n"
	  "  -o, --output SPEC       type=image|oci|docker|tar|local|registry[,dest=PATH][,name=N]\n"
	  "      --push              push every -t name to its registry\n"
	  "      --load              accepted: the image is always in the store\n"
	  "      --iidfile FILE      write the image ID (config digest)\n"
	  "      --metadata-file F   write containerimage.digest, containerimage.config.digest,\n"
	  "                          image.name as JSON\n"
	  "      --progress MODE     auto, plain, tty or quiet (on stderr)\n"
	  "  -q, --quiet             print only the image ID\n"
	  "      --network MODE      default, host or none for RUN\n"
	  "      --secret SPEC       id=ID,src=PATH or id=ID,env=VAR (RUN --mount=type=secret)\n"
	  "      --add-host H:IP     an /etc/hosts line for RUN (repeatable)\n"
	  "      --no-slim           build exactly what docker build builds (no slimming)\n"
	  "\n"
	  "Slimming (the default): the built image runs under probes, traced; the slim\n"
	  "image holds only what it touched (and the ELF closure, the files every\n"
	  "program needs), is verified against the same probes, and is what -t names.\n"
	  "      --probe-cmd ARGS    run the entrypoint with these arguments (repeatable)\n"
	  "      --http-probe SPEC   [METHOD ]PORT/PATH[=STATUS] against the service (repeatable)\n"
	  "      --probe-exec CMD    a command run inside the running service (repeatable)\n"
	  "      --probe-timeout D   per probe (30s)\n"
	  "      --probe-duration D  keep the service running at least this long\n"
	  "      --include PATH      keep this path or glob too (repeatable)\n"
	  "      --profile FILE      reuse a recorded profile instead of tracing\n"
	  "      --profile-out FILE  write the profile (closure, probes, syscalls) as JSON\n"
	  "      --seccomp-profile-out FILE  a Docker seccomp profile of the syscalls seen\n"
	  "      --dockerfile-out FILE  write the Dockerfile that builds the slim image (yours + its stage)\n"
	  "      --no-verify         do not run the probes against the slim image\n"
	  "      --no-repair         fail instead of adding what the slim run missed\n"
	  "Without probes: GET / on every EXPOSEd port, else the command as it is.\n"
	  "      --compression ALG   layer compression: gzip (default), zstd, none\n"
	  "\n"
	  "Exit status: 0 built, 1 the build failed (FILE:LINE: message), 2 usage.\n" },
	{ "parse", sb_cmd_parse, "Parse a Dockerfile and print its AST",
	  "Usage: slimbuild parse [--dump | --json] [-f] FILE\n"
	  "\n"
	  "Parse FILE (\"-\" for stdin) exactly as BuildKit does.\n"
	  "\n"
	  "  --dump      print BuildKit's AST dump, byte for byte (default)\n"
	  "  --json      print the AST as JSON: instructions with flags, arguments,\n"
	  "              exec-form bit, heredocs, lines; directives; warnings\n"
	  "  --stages    the typed stage plan as JSON [--target T] [--build-arg K=V]... [--platform P]\n"
	  "  -f, --file  the Dockerfile (may also be given as the argument)\n"
	  "  -h, --help  show this help\n"
	  "\n"
	  "Exit status: 0 parsed, 1 the file is refused (FILE:LINE: message), 2 usage.\n" },
	{ "rewrite", sb_cmd_rewrite, "Print the Dockerfile that builds a recorded slim image",
	  "Usage: slimbuild rewrite --profile FILE [-f DOCKERFILE] [--target T] [--build-arg K=V]...\n"
	  "\n"
	  "Print DOCKERFILE (default ./Dockerfile) followed by the slim stage a profile\n"
	  "recorded (build --profile-out): FROM scratch, COPY --from=<target> --parents of\n"
	  "the closure, the dpkg status.d as heredocs, the built image's config. The\n"
	  "same text build --dockerfile-out wrote; BuildKit (Dockerfile 1.20) or\n"
	  "slimbuild builds the slim image from it without profiling.\n"
	  "\n"
	  "  --profile FILE   the recorded profile (required: the multi-stage rewrite and\n"
	  "                   base substitution without one are not built yet)\n"
	  "  -f, --file FILE  the Dockerfile\n"
	  "  --target T       the stage the profile was recorded from (default: the last)\n"
	  "  --build-arg K=V  as the build had them, for ARGs in FROM lines\n"
	  "  -h, --help       show this help\n"
	  "\n"
	  "Exit status: 0 printed, 1 a bad Dockerfile or profile, 2 usage.\n" },
	{ "images", sb_cmd_images, "List the images in the local store",
	  "Usage: slimbuild images [--format table|json] [-q]\n"
	  "\n"
	  "List the images of the store ($SLIMBUILD_ROOT): repository, tag, image ID (the\n"
	  "config digest), creation time and size (the compressed blobs).\n"
	  "\n"
	  "  --format json  one JSON array: name, repository, tag, id, digest, created,\n"
	  "                 size, layers\n"
	  "  -q, --quiet    image IDs only\n" },
	{ "inspect", sb_cmd_inspect, "Show an image's manifest and config as JSON",
	  "Usage: slimbuild inspect NAME|ID...\n"
	  "\n"
	  "Print a JSON array with, for each image, its ID, tags, manifest digest, the\n"
	  "manifest and the config. NAME is a reference (debian:bookworm); ID a full or\n"
	  "unambiguous short image ID, or a manifest digest.\n" },
	{ "tag", sb_cmd_tag, "Give an image another name",
	  "Usage: slimbuild tag SOURCE TARGET\n"
	  "\n"
	  "Point TARGET (normalised as Docker does: app is docker.io/library/app:latest)\n"
	  "at the image SOURCE names.\n" },
	{ "rmi", sb_cmd_rmi, "Remove images",
	  "Usage: slimbuild rmi [-f] NAME|ID...\n"
	  "\n"
	  "Remove a tag (NAME) or every tag of an image (ID; -f when it has several),\n"
	  "then delete the blobs no remaining tag reaches.\n" },
	{ "prune", sb_cmd_prune, "Delete blobs no image uses",
	  "Usage: slimbuild prune [--build-cache]\n"
	  "\n"
	  "Delete every blob no tag reaches and every unfinished write a killed\n"
	  "process left behind.\n"
	  "\n"
	  "  --build-cache  also the build cache (docker builder prune): the step\n"
	  "                 cache, unpacked layers, RUN cache mounts; waits for\n"
	  "                 running builds\n" },
	{ "import", sb_cmd_import, "Make an image from a root filesystem tar",
	  "Usage: slimbuild import ROOTFS.tar|- NAME [--change LINE]... [-m MESSAGE]\n"
	  "\n"
	  "Store the tar (plain, gzip or zstd) as a one-layer image for the host\n"
	  "platform, as docker import does, and tag it NAME.\n"
	  "\n"
	  "  -c, --change LINE    a Dockerfile metadata line to apply: CMD, ENTRYPOINT,\n"
	  "                       ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR, STOPSIGNAL,\n"
	  "                       ONBUILD (repeatable)\n"
	  "  -m, --message TEXT   the history comment\n"
	  "  --compression ALG    gzip (default), zstd or none\n"
	  "\n"
	  "Prints the new image ID.\n" },
	{ "pull", sb_cmd_pull, "Download an image from a registry",
	  "Usage: slimbuild pull [-q] [--platform OS/ARCH[/VARIANT]] NAME\n"
	  "\n"
	  "Download NAME (a tag or a digest: debian:bookworm, 127.0.0.1:5000/app@sha256:...)\n"
	  "into the store and tag it. An index resolves to the host's platform (or\n"
	  "--platform's). Every blob is verified against its digest before it is stored;\n"
	  "blobs already in the store are skipped. Credentials come from\n"
	  "$DOCKER_CONFIG/config.json or ~/.docker/config.json; 127.0.0.0/8, localhost\n"
	  "and ::1 may be plain HTTP; SSL_CERT_FILE names a private CA.\n"
	  "\n"
	  "  -q, --quiet    print only the image name\n"
	  "  --platform P   the platform to pick from an index (default: the host's)\n"
	  "  -h, --help     show this help\n"
	  "\n"
	  "Exit status: 0 pulled, 1 failed, 2 usage.\n" },
	{ "push", sb_cmd_push, "Upload an image to a registry",
	  "Usage: slimbuild push [-q] NAME [DEST]\n"
	  "\n"
	  "Upload the stored image NAME to its own name, or to DEST when given (NAME may\n"
	  "then be an image ID). Blobs the registry has are skipped, blobs another\n"
	  "repository of the same registry has are mounted, the rest uploaded; the\n"
	  "manifest goes last, unchanged, so its digest is the stored one.\n"
	  "\n"
	  "  -q, --quiet    print only the destination name\n"
	  "  -h, --help     show this help\n"
	  "\n"
	  "Exit status: 0 pushed, 1 failed, 2 usage.\n" },
	{ "save", sb_cmd_save, "Write images to a tar archive",
	  "Usage: slimbuild save NAME|ID... -o FILE [--format docker|oci]\n"
	  "\n"
	  "  -o, --output FILE  the archive to write (atomically)\n"
	  "  --format docker    Docker 25+ layout: OCI layout plus manifest.json and\n"
	  "                     repositories; docker load and podman load take it\n"
	  "                     (default)\n"
	  "  --format oci       an OCI image layout in a tar (umoci, skopeo oci-archive:)\n" },
	{ "load", sb_cmd_load, "Read images from a tar archive",
	  "Usage: slimbuild load [-i FILE] [-q]\n"
	  "\n"
	  "Load the images of an archive written by slimbuild save, docker save, podman\n"
	  "save or skopeo (docker-archive, oci-archive), from FILE or standard input.\n"
	  "Every blob is verified against its digest.\n" },
	{ "unpack", sb_cmd_unpack, "Write an image's root filesystem to a directory",
	  "Usage: slimbuild unpack NAME|ID DIR\n"
	  "\n"
	  "Apply every layer of the image, bottom up, with whiteouts, into DIR (made if\n"
	  "missing). Entries that would leave DIR (.., symlinks out, hard links out) are\n"
	  "refused, naming the entry.\n" },
	{ NULL, NULL, NULL, NULL },
};

static void print_main_help(FILE *f)
{
	fprintf(f, "Usage: slimbuild COMMAND [OPTIONS]\n"
		   "\n"
		   "Turn a Dockerfile into a minimal, working container image, without a daemon.\n"
		   "\n"
		   "Commands:\n");
	for (const struct sb_cli_cmd *c = sb_cli_commands; c->name; c++)
		fprintf(f, "  %-10s %s\n", c->name, c->summary);
	fprintf(f, "\n"
		   "Options:\n"
		   "  -h, --help     show this help\n"
		   "  -V, --version  print the version\n"
		   "\n"
		   "Run 'slimbuild COMMAND --help' for a command's options.\n");
}

int sb_cli_usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "slimbuild%s%s: ", verb ? " " : "", verb ? verb : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'slimbuild %s%s--help'.\n", verb ? verb : "", verb ? " " : "");
	return SB_EXIT_USAGE;
}

int sb_cli_fail(struct sb_error *err)
{
	fprintf(stderr, "%s\n", err ? err->msg : "unknown error");
	sb_error_free(err);
	return SB_EXIT_FAIL;
}

char *sb_cli_build_arg(const char *arg)
{
	const char *v;
	if (strchr(arg, '='))
		return sb_xstrdup(arg);
	v = getenv(arg);
	return v ? sb_xasprintf("%s=%s", arg, v) : NULL;
}

int sb_cli_help(const char *verb)
{
	for (const struct sb_cli_cmd *c = sb_cli_commands; c->name; c++) {
		if (strcmp(c->name, verb) == 0) {
			fputs(c->usage, stdout);
			return SB_EXIT_OK;
		}
	}
	return SB_EXIT_USAGE;
}

/* Flush stdout and turn a failed write (a full disk, a closed pipe) into a
 * failure instead of a silent truncation. */
static int finish(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "slimbuild: write error on standard output: %s\n", strerror(errno));
		return SB_EXIT_FAIL;
	}
	return rc;
}

int main(int argc, char **argv)
{
	const char *verb;

	if (argc < 2) {
		print_main_help(stderr);
		return SB_EXIT_USAGE;
	}
	verb = argv[1];
	if (strcmp(verb, "-h") == 0 || strcmp(verb, "--help") == 0 || strcmp(verb, "help") == 0) {
		if (argc > 2 && strcmp(verb, "help") == 0) {
			int rc = sb_cli_help(argv[2]);
			if (rc != SB_EXIT_OK)
				return sb_cli_usage_error(NULL, "unknown command '%s'", argv[2]);
			return finish(rc);
		}
		print_main_help(stdout);
		return finish(SB_EXIT_OK);
	}
	if (strcmp(verb, "-V") == 0 || strcmp(verb, "--version") == 0 || strcmp(verb, "version") == 0) {
		printf("slimbuild %s\n", SB_VERSION);
		return finish(SB_EXIT_OK);
	}
	for (const struct sb_cli_cmd *c = sb_cli_commands; c->name; c++) {
		if (strcmp(c->name, verb) == 0) {
			/* getopt_long in the subcommand sees argv from the verb on */
			optind = 1;
			return finish(c->run(argc - 1, argv + 1));
		}
	}
	/* build is the default verb: `slimbuild -t app .` */
	if (verb[0] == '-' || strchr(verb, '/') || strcmp(verb, ".") == 0) {
		optind = 1;
		return finish(sb_cmd_build(argc, argv));
	}
	return sb_cli_usage_error(NULL, "unknown command '%s'", verb);
}
