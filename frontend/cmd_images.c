/* slimbuild images: list the store's images. */
#include <getopt.h>
#include <jansson.h>

#include "frontend/cli.h"
#include "frontend/store_cli.h"

struct row {
	char *repo, *tag;
	int64_t size;
};

static void split_name(const char *name, char **repo, char **tag)
{
	struct sb_reference ref;
	if (!name || sb_reference_parse(name, &ref, NULL) < 0) {
		*repo = sb_xstrdup("<none>");
		*tag = sb_xstrdup("<none>");
		return;
	}
	{
		char *fam = sb_reference_familiar(&ref);
		char *colon = ref.tag ? strrchr(fam, ':') : NULL;
		char *at = strchr(fam, '@');
		if (at)
			*at = '\0';
		if (colon && (!at || colon < at))
			*colon = '\0';
		*repo = fam;
		*tag = sb_xstrdup(ref.tag ? ref.tag : "<none>");
	}
	sb_reference_release(&ref);
}

int sb_cmd_images(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'F' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_store s;
	struct sb_store_images imgs;
	struct sb_error *err = NULL;
	bool json = false, quiet = false;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'F':
			if (strcmp(optarg, "json") == 0)
				json = true;
			else if (strcmp(optarg, "table") != 0)
				return sb_cli_usage_error("images", "--format is json or table, not '%s'", optarg);
			break;
		case 'q': quiet = true; break;
		case 'h': return sb_cli_help("images");
		default: return sb_cli_usage_error("images", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return sb_cli_usage_error("images", "unexpected argument '%s'", argv[optind]);
	if (sb_cli_open_store(&s) < 0)
		return SB_EXIT_FAIL;
	if (sb_store_list(&s, &imgs, &err) < 0) {
		sb_store_release(&s);
		return sb_cli_fail(err);
	}

	json_t *arr = json_array();
	if (!json && !quiet)
		printf("%-40s %-16s %-14s %-24s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
	for (size_t i = 0; i < imgs.n; i++) {
		struct sb_manifest m;
		struct sb_image_config cfg;
		struct row r;
		const char *created;
		char age[64], size[32];

		if (sb_store_load_image(&s, &imgs.v[i].manifest, &m, &cfg, &err) < 0) {
			fprintf(stderr, "slimbuild images: %s: %s\n", imgs.v[i].name ? imgs.v[i].name : imgs.v[i].manifest.digest,
				err->msg);
			sb_error_free(err);
			err = NULL;
			continue;
		}
		split_name(imgs.v[i].name, &r.repo, &r.tag);
		r.size = m.config.size;
		for (size_t k = 0; k < m.nlayers; k++)
			r.size += m.layers[k].size;
		created = json_string_value(json_object_get(cfg.root, "created"));
		if (json) {
			json_t *o = json_object();
			json_object_set_new(o, "name", imgs.v[i].name ? json_string(imgs.v[i].name) : json_null());
			json_object_set_new(o, "repository", json_string(r.repo));
			json_object_set_new(o, "tag", json_string(r.tag));
			json_object_set_new(o, "id", json_string(m.config.digest));
			json_object_set_new(o, "digest", json_string(imgs.v[i].manifest.digest));
			json_object_set_new(o, "created", created ? json_string(created) : json_null());
			json_object_set_new(o, "size", json_integer(r.size));
			json_object_set_new(o, "layers", json_integer((json_int_t)m.nlayers));
			json_array_append_new(arr, o);
		} else if (quiet) {
			printf("%.12s\n", m.config.digest + 7);
		} else {
			sb_cli_human_age(created, age, sizeof(age));
			sb_cli_human_size(r.size, size, sizeof(size));
			printf("%-40s %-16s %-14.12s %-24s %s\n", r.repo, r.tag, m.config.digest + 7, age, size);
		}
		free(r.repo);
		free(r.tag);
		sb_manifest_release(&m);
		sb_image_config_release(&cfg);
	}
	if (json) {
		char *text = json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", text);
		free(text);
	}
	json_decref(arr);
	sb_store_images_release(&imgs);
	sb_store_release(&s);
	return SB_EXIT_OK;
}
