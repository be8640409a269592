/* slimbuild push NAME [DEST]: upload an image of the store to a registry,
 * printing progress lines and the digest as `docker push` does. */
#include <getopt.h>
#include <pthread.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"
#include "runtime/registry/registry.h"

struct push_lines {
	pthread_mutex_t lock;
};

static void push_event(void *ctx, const struct sb_progress_event *ev)
{
	struct push_lines *l = ctx;

	pthread_mutex_lock(&l->lock);
	switch (ev->kind) {
	case SB_PROGRESS_START: printf("%s: Preparing\n", ev->id); break;
	case SB_PROGRESS_CACHED:
	case SB_PROGRESS_DONE:
		printf("%s: %s\n", ev->id, ev->message ? ev->message : "Pushed");
		break;
	case SB_PROGRESS_RETRY: printf("%s: Retrying: %s\n", ev->id, ev->message ? ev->message : ""); break;
	default: break;
	}
	fflush(stdout);
	pthread_mutex_unlock(&l->lock);
}

int sb_cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_registry_opts ropts = { 0 };
	struct push_lines lines;
	struct sb_progress progress = { push_event, &lines };
	struct sb_reference dest;
	struct sb_descriptor d = { 0 };
	struct sb_error *err = NULL;
	struct sb_store s;
	const char *src, *dst;
	bool quiet = false;
	char *repo, *name;
	int c, rc;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+qh", opts, NULL)) != -1) {
		switch (c) {
		case 'q': quiet = true; break;
		case 'h': return sb_cli_help("push");
		default: return sb_cli_usage_error("push", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return sb_cli_usage_error("push", "no image name given");
	if (optind + 2 < argc)
		return sb_cli_usage_error("push", "unexpected argument '%s'", argv[optind + 2]);
	src = argv[optind];
	dst = optind + 1 < argc ? argv[optind + 1] : src;
	if (sb_cli_parse_ref("push", dst, &dest) < 0)
		return SB_EXIT_USAGE;
	if (sb_cli_open_store(&s) < 0) {
		sb_reference_release(&dest);
		return SB_EXIT_FAIL;
	}
	name = sb_reference_string(&dest);
	repo = sb_reference_name(&dest);
	/* Without DEST, NAME must be a tag: an image ID would otherwise
	 * read as docker.io/library/<id>. */
	if (dst == src)
		rc = sb_store_lookup(&s, name, &d, &err);
	else
		rc = sb_store_resolve(&s, src, &d, &err);
	if (rc < 0 && dst == src && err && err->code == ENOENT)
		sb_error_wrap(&err, "give a DEST to push an image by ID");
	if (rc == 0) {
		pthread_mutex_init(&lines.lock, NULL);
		if (!quiet) {
			ropts.progress = &progress;
			printf("The push refers to repository [%s]\n", repo);
			fflush(stdout);
		}
		rc = sb_registry_push(&s, &d, &dest, &ropts, &err);
		if (rc == 0 && !quiet)
			printf("%s: digest: %s size: %lld\n", dest.tag ? dest.tag : dest.digest, d.digest,
			       (long long)d.size);
		else if (rc == 0)
			printf("%s\n", name);
		pthread_mutex_destroy(&lines.lock);
	}
	sb_descriptor_release(&d);
	free(name);
	free(repo);
	sb_reference_release(&dest);
	sb_store_release(&s);
	return rc < 0 ? sb_cli_fail(err) : SB_EXIT_OK;
}
