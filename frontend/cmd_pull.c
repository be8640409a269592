/* slimbuild pull NAME: fetch an image from its registry into the store,
 * printing progress lines and the digest as `docker pull` does. */
#include <getopt.h>
#include <pthread.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "runtime/registry/registry.h"

/* Progress lines, one per event that changes a blob's state. Workers emit
 * from several threads: the lock keeps lines whole. */
struct pull_lines {
	pthread_mutex_t lock;
};

static void pull_event(void *ctx, const struct sb_progress_event *ev)
{
	struct pull_lines *l = ctx;

	pthread_mutex_lock(&l->lock);
	switch (ev->kind) {
	case SB_PROGRESS_START: printf("%s: Pulling fs layer\n", ev->id); break;
	case SB_PROGRESS_CACHED: printf("%s: Already exists\n", ev->id); break;
	case SB_PROGRESS_DONE: printf("%s: Pull complete\n", ev->id); break;
	case SB_PROGRESS_RETRY: printf("%s: Retrying: %s\n", ev->id, ev->message ? ev->message : ""); break;
	default: break; /* bytes: too many for lines; errors: printed once at the end */
	}
	fflush(stdout);
	pthread_mutex_unlock(&l->lock);
}

/* "os/arch[/variant]" into p, pointing into buf. */
static int parse_platform(const char *s, char *buf, size_t n, struct sb_platform *p)
{
	char *save = NULL, *os, *arch, *variant, *extra;

	if (snprintf(buf, n, "%s", s) >= (int)n)
		return -1;
	os = strtok_r(buf, "/", &save);
	arch = strtok_r(NULL, "/", &save);
	variant = strtok_r(NULL, "/", &save);
	extra = strtok_r(NULL, "/", &save);
	if (!os || !arch || extra)
		return -1;
	p->os = os;
	p->architecture = arch;
	p->variant = variant;
	return 0;
}

int sb_cmd_pull(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "platform", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_registry_opts ropts = { 0 };
	struct pull_lines lines;
	struct sb_progress progress = { pull_event, &lines };
	struct sb_platform platform = { 0 };
	char platbuf[128];
	struct sb_reference ref;
	struct sb_descriptor before = { 0 }, got = { 0 };
	struct sb_error *err = NULL;
	struct sb_store s;
	bool quiet = false, had = false;
	char *name, *familiar;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'p':
			if (parse_platform(optarg, platbuf, sizeof(platbuf), &platform) < 0)
				return sb_cli_usage_error("pull", "--platform takes OS/ARCH[/VARIANT], not '%s'", optarg);
			ropts.platform = &platform;
			break;
		case 'h': return sb_cli_help("pull");
		default: return sb_cli_usage_error("pull", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return sb_cli_usage_error("pull", "no image name given");
	if (optind + 1 < argc)
		return sb_cli_usage_error("pull", "unexpected argument '%s'", argv[optind + 1]);
	if (sb_cli_parse_ref("pull", argv[optind], &ref) < 0) {
		return SB_EXIT_USAGE;
	}
	if (sb_cli_open_store(&s) < 0) {
		sb_reference_release(&ref);
		return SB_EXIT_FAIL;
	}
	name = sb_reference_string(&ref);
	familiar = sb_reference_familiar(&ref);
	if (sb_store_lookup(&s, name, &before, &err) == 0)
		had = true;
	sb_error_free(err);
	err = NULL;

	pthread_mutex_init(&lines.lock, NULL);
	if (!quiet) {
		ropts.progress = &progress;
		printf("%s: Pulling from %s\n", ref.digest && !ref.tag ? ref.digest : ref.tag, ref.path);
		fflush(stdout);
	}
	rc = sb_registry_pull(&s, &ref, &ropts, &got, &err);
	if (rc == 0 && !quiet) {
		printf("Digest: %s\n", got.digest);
		printf("Status: %s for %s\n",
		       had && strcmp(before.digest, got.digest) == 0 ? "Image is up to date" : "Downloaded newer image",
		       familiar);
	}
	if (rc == 0)
		printf("%s\n", name);
	pthread_mutex_destroy(&lines.lock);
	sb_descriptor_release(&before);
	sb_descriptor_release(&got);
	free(name);
	free(familiar);
	sb_reference_release(&ref);
	sb_store_release(&s);
	return rc < 0 ? sb_cli_fail(err) : SB_EXIT_OK;
}
