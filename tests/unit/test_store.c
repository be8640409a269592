/* Store, image model and reference tests against a real store in a
 * scratch directory. */
#include "tests/unit/sb_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/store/store.h"

static char root[64];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/sbstore.XXXXXX");
	if (!mkdtemp(root))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	sb_rm_rf(AT_FDCWD, root, NULL);
	return 0;
}

static void check_ref(const char *in, const char *full, const char *familiar)
{
	struct sb_reference r;
	struct sb_error *err = NULL;
	char *s;
	if (sb_reference_parse(in, &r, &err) < 0)
		fail_msg("%s: %s", in, err->msg);
	s = sb_reference_string(&r);
	assert_string_equal(s, full);
	free(s);
	s = sb_reference_familiar(&r);
	assert_string_equal(s, familiar);
	free(s);
	sb_reference_release(&r);
}

static void check_bad_ref(const char *in, const char *msg_part)
{
	struct sb_reference r;
	struct sb_error *err = NULL;
	assert_int_equal(sb_reference_parse(in, &r, &err), -1);
	if (!strstr(err->msg, msg_part))
		fail_msg("%s: message %s lacks %s", in, err->msg, msg_part);
	sb_error_free(err);
}

static void test_references(void **state)
{
	struct sb_reference r;
	(void)state;
	check_ref("debian", "docker.io/library/debian:latest", "debian:latest");
	check_ref("debian:bookworm", "docker.io/library/debian:bookworm", "debian:bookworm");
	check_ref("library/debian:12", "docker.io/library/debian:12", "debian:12");
	check_ref("me/app", "docker.io/me/app:latest", "me/app:latest");
	check_ref("index.docker.io/me/app:v1", "docker.io/me/app:v1", "me/app:v1");
	check_ref("localhost:5000/app", "localhost:5000/app:latest", "localhost:5000/app:latest");
	check_ref("localhost/app:v2", "localhost/app:v2", "localhost/app:v2");
	check_ref("127.0.0.1:5000/a/b-c__d.e:1.0_x", "127.0.0.1:5000/a/b-c__d.e:1.0_x",
		  "127.0.0.1:5000/a/b-c__d.e:1.0_x");
	check_ref("ghcr.io/o/r@sha256:0123456789012345678901234567890123456789012345678901234567890123",
		  "ghcr.io/o/r@sha256:0123456789012345678901234567890123456789012345678901234567890123",
		  "ghcr.io/o/r@sha256:0123456789012345678901234567890123456789012345678901234567890123");
	check_bad_ref("Debian", "must be lowercase");
	check_bad_ref("a//b", "invalid reference format");
	check_bad_ref("a:", "invalid reference format");
	check_bad_ref("a@sha256:xyz", "bad digest");
	check_bad_ref("-a", "invalid reference format");
	check_bad_ref("", "at least one component");

	assert_int_equal(sb_reference_parse("127.0.0.1:5000/x", &r, NULL), 0);
	assert_true(sb_reference_is_insecure(&r));
	sb_reference_release(&r);
	assert_int_equal(sb_reference_parse("127.1.2.3/x", &r, NULL), 0);
	assert_true(sb_reference_is_insecure(&r));
	sb_reference_release(&r);
	assert_int_equal(sb_reference_parse("localhost:1/x", &r, NULL), 0);
	assert_true(sb_reference_is_insecure(&r));
	sb_reference_release(&r);
	assert_int_equal(sb_reference_parse("127.example.com/x", &r, NULL), 0);
	assert_false(sb_reference_is_insecure(&r));
	sb_reference_release(&r);
	assert_int_equal(sb_reference_parse("debian", &r, NULL), 0);
	assert_false(sb_reference_is_insecure(&r));
	assert_string_equal(sb_reference_registry_host(&r), "registry-1.docker.io");
	sb_reference_release(&r);
}

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"

static void test_manifest_parse(void **state)
{
	struct sb_manifest m;
	struct sb_error *err = NULL;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	const char *good = "{\"schemaVersion\":2,\"mediaType\":\"" SB_MT_DOCKER_MANIFEST "\","
			   "\"config\":{\"mediaType\":\"" SB_MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":7},"
			   "\"layers\":[{\"mediaType\":\"" SB_MT_DOCKER_LAYER_GZIP "\",\"digest\":\"" D1 "\",\"size\":9}]}";
	(void)state;
	assert_int_equal(sb_manifest_parse(good, strlen(good), &m, &err), 0);
	assert_string_equal(m.media_type, SB_MT_DOCKER_MANIFEST);
	assert_int_equal(m.nlayers, 1);
	assert_int_equal(m.layers[0].size, 9);
	assert_int_equal(sb_manifest_to_json(&m, &sb, &err), 0);
	assert_string_equal(sb.buf, good); /* canonical form round-trips */
	sb_manifest_release(&m);
	sb_strbuf_release(&sb);
	assert_string_equal(sb_image_sniff_media_type(good, strlen(good)), SB_MT_DOCKER_MANIFEST);

	static const char *const bad[] = {
		"[]",
		"{\"schemaVersion\":1}",
		"{\"schemaVersion\":2,\"config\":{},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha256:12\",\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":{}}",
		"{\"schemaVersion\":2,\"mediaType\":\"text/plain\",\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
		"{\"schemaVersion\":2,\"schemaVersion\":2}",
		"{",
	};
	for (size_t i = 0; i < SB_ARRAY_SIZE(bad); i++) {
		err = NULL;
		assert_int_equal(sb_manifest_parse(bad[i], strlen(bad[i]), &m, &err), -1);
		assert_non_null(err);
		sb_error_free(err);
	}
}

static void test_index_select(void **state)
{
	struct sb_index idx;
	struct sb_platform amd64 = { "linux", "amd64", NULL }, arm64 = { "linux", "arm64", "v8" },
			   armv7 = { "linux", "arm", "v7" }, s390 = { "linux", "s390x", NULL };
	const char *j = "{\"schemaVersion\":2,\"mediaType\":\"" SB_MT_DOCKER_LIST "\",\"manifests\":["
			"{\"mediaType\":\"" SB_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":1,\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v6\"}},"
			"{\"mediaType\":\"" SB_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":2,\"platform\":{\"architecture\":\"arm\",\"os\":\"linux\",\"variant\":\"v7\"}},"
			"{\"mediaType\":\"" SB_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":3,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"
			"{\"mediaType\":\"" SB_MT_DOCKER_MANIFEST "\",\"digest\":\"" D1 "\",\"size\":4,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}}]}";
	(void)state;
	assert_int_equal(sb_index_parse(j, strlen(j), &idx, NULL), 0);
	assert_int_equal(sb_index_select(&idx, &amd64)->size, 3);
	assert_int_equal(sb_index_select(&idx, &arm64)->size, 4);
	assert_int_equal(sb_index_select(&idx, &armv7)->size, 2);
	assert_null(sb_index_select(&idx, &s390));
	assert_string_equal(sb_host_platform()->os, "linux");
	sb_index_release(&idx);
}

static void test_blobs(void **state)
{
	struct sb_store s;
	struct sb_error *err = NULL;
	struct sb_blob_writer w;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char d[SB_DIGEST_SIZE], want[SB_DIGEST_SIZE];
	(void)state;

	assert_int_equal(sb_store_open(&s, root, &err), 0);
	assert_int_equal(sb_store_put_blob(&s, "hello", 5, NULL, d, &err), 0);
	sb_sha256_digest("hello", 5, want);
	assert_string_equal(d, want);
	assert_true(sb_store_has_blob(&s, d));
	assert_int_equal(sb_store_blob_size(&s, d, &err), 5);
	assert_int_equal(sb_store_read_blob(&s, d, 0, &sb, &err), 0);
	assert_string_equal(sb.buf, "hello");

	/* a digest mismatch stores nothing and leaves no ingest file */
	assert_int_equal(sb_blob_writer_open(&s, D1, -1, &w, &err), 0);
	assert_int_equal(sb_blob_writer_write(&w, "abc", 3, &err), 0);
	assert_int_equal(sb_blob_writer_commit(&w, NULL, &err), -1);
	assert_non_null(strstr(err->msg, "digest mismatch"));
	sb_error_free(err);
	err = NULL;
	assert_false(sb_store_has_blob(&s, D1));
	{
		sb_autofree char *p = sb_xasprintf("%s/ingest", root);
		int n = 0;
		DIR *dir = opendir(p);
		struct dirent *de;
		while ((de = readdir(dir)))
			n += de->d_name[0] != '.';
		closedir(dir);
		assert_int_equal(n, 0);
	}
	/* more bytes than announced is refused at write time */
	assert_int_equal(sb_blob_writer_open(&s, NULL, 2, &w, &err), 0);
	assert_int_equal(sb_blob_writer_write(&w, "abc", 3, &err), -1);
	sb_error_free(err);
	err = NULL;
	sb_blob_writer_abort(&w);
	/* fewer bytes than announced fails at commit */
	assert_int_equal(sb_blob_writer_open(&s, NULL, 4, &w, &err), 0);
	assert_int_equal(sb_blob_writer_write(&w, "abc", 3, &err), 0);
	assert_int_equal(sb_blob_writer_commit(&w, NULL, &err), -1);
	sb_error_free(err);
	err = NULL;

	/* a blob corrupted on disk is detected when read */
	{
		sb_autofree char *rel = sb_store_blob_relpath(d);
		sb_autofree char *p = sb_xasprintf("%s/%s", root, rel);
		FILE *f = fopen(p, "w");
		fputs("jello", f);
		fclose(f);
		sb_strbuf_reset(&sb);
		assert_int_equal(sb_store_read_blob(&s, d, 0, &sb, &err), -1);
		assert_non_null(strstr(err->msg, "corrupt"));
		sb_error_free(err);
		err = NULL;
	}
	sb_strbuf_release(&sb);
	sb_store_release(&s);
}

/* Store a tiny image (config + one fake layer blob + manifest). */
static void put_image(struct sb_store *s, const char *cfgtext, struct sb_descriptor *out)
{
	struct sb_manifest m;
	struct sb_strbuf sb = SB_STRBUF_INIT;
	char cd[SB_DIGEST_SIZE], ld[SB_DIGEST_SIZE], md[SB_DIGEST_SIZE];
	char *cfg = sb_xasprintf("{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"%s\","
				 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]}}", cfgtext);
	assert_int_equal(sb_store_put_blob(s, cfg, strlen(cfg), NULL, cd, NULL), 0);
	assert_int_equal(sb_store_put_blob(s, cfgtext, strlen(cfgtext), NULL, ld, NULL), 0);
	memset(&m, 0, sizeof(m));
	m.media_type = SB_MT_OCI_MANIFEST;
	m.config.media_type = SB_MT_OCI_CONFIG;
	memcpy(m.config.digest, cd, sizeof(cd));
	m.config.size = (int64_t)strlen(cfg);
	m.layers = sb_xcalloc(1, sizeof(*m.layers));
	m.nlayers = 1;
	m.layers[0].media_type = SB_MT_OCI_LAYER_GZIP;
	memcpy(m.layers[0].digest, ld, sizeof(ld));
	m.layers[0].size = (int64_t)strlen(cfgtext);
	assert_int_equal(sb_manifest_to_json(&m, &sb, NULL), 0);
	assert_int_equal(sb_store_put_blob(s, sb.buf, sb.len, NULL, md, NULL), 0);
	memset(out, 0, sizeof(*out));
	out->media_type = sb_xstrdup(SB_MT_OCI_MANIFEST);
	memcpy(out->digest, md, sizeof(md));
	out->size = (int64_t)sb.len;
	free(m.layers);
	free(cfg);
	sb_strbuf_release(&sb);
}

static void test_tags_and_prune(void **state)
{
	struct sb_store s;
	struct sb_error *err = NULL;
	struct sb_descriptor a, b, got;
	struct sb_store_images imgs;
	struct sb_prune_stats st;
	struct sb_manifest m;
	struct sb_image_config c;
	(void)state;

	assert_int_equal(sb_store_open(&s, root, &err), 0);
	put_image(&s, "2024-01-01T00:00:00Z", &a);
	put_image(&s, "2025-01-01T00:00:00Z", &b);
	assert_int_equal(sb_store_tag(&s, "docker.io/library/a:latest", &a, &err), 0);
	assert_int_equal(sb_store_tag(&s, "docker.io/library/b:latest", &b, &err), 0);
	assert_int_equal(sb_store_tag(&s, "docker.io/library/c:v1", &a, &err), 0);
	/* retagging moves the tag */
	assert_int_equal(sb_store_tag(&s, "docker.io/library/c:v1", &b, &err), 0);
	assert_int_equal(sb_store_lookup(&s, "docker.io/library/c:v1", &got, &err), 0);
	assert_string_equal(got.digest, b.digest);
	sb_descriptor_release(&got);
	assert_int_equal(sb_store_list(&s, &imgs, &err), 0);
	assert_int_equal(imgs.n, 3);
	sb_store_images_release(&imgs);

	/* resolve by familiar name, by image ID prefix, by manifest digest */
	assert_int_equal(sb_store_resolve(&s, "a", &got, &err), 0);
	assert_string_equal(got.digest, a.digest);
	assert_int_equal(sb_store_load_image(&s, &got, &m, &c, &err), 0);
	assert_string_equal(json_string_value(json_object_get(c.root, "created")), "2024-01-01T00:00:00Z");
	{
		char id[20];
		snprintf(id, sizeof(id), "%.12s", m.config.digest + 7);
		sb_descriptor_release(&got);
		assert_int_equal(sb_store_resolve(&s, id, &got, &err), 0);
		assert_string_equal(got.digest, a.digest);
	}
	sb_manifest_release(&m);
	sb_image_config_release(&c);
	sb_descriptor_release(&got);
	assert_int_equal(sb_store_resolve(&s, b.digest, &got, &err), 0);
	assert_string_equal(got.digest, b.digest);
	sb_descriptor_release(&got);
	assert_int_equal(sb_store_resolve(&s, "nope", &got, &err), -1);
	assert_string_equal(err->msg, "no such image: nope");
	sb_error_free(err);
	err = NULL;

	/* prune keeps everything reachable, then drops a's blobs once untagged */
	assert_int_equal(sb_store_prune(&s, &st, &err), 0);
	assert_int_equal(st.blobs_removed, 0);
	assert_int_equal(sb_store_untag(&s, "docker.io/library/a:latest", &err), 0);
	assert_int_equal(sb_store_untag(&s, "docker.io/library/a:latest", &err), -1);
	sb_error_free(err);
	err = NULL;
	assert_int_equal(sb_store_prune(&s, &st, &err), 0);
	assert_int_equal(st.blobs_removed, 3); /* manifest, config, layer */
	assert_false(sb_store_has_blob(&s, a.digest));
	assert_true(sb_store_has_blob(&s, b.digest));
	sb_descriptor_release(&a);
	sb_descriptor_release(&b);
	sb_store_release(&s);
}

static void test_lock_reentrant(void **state)
{
	struct sb_store s;
	struct sb_error *err = NULL;
	(void)state;
	assert_int_equal(sb_store_open(&s, root, &err), 0);
	assert_int_equal(sb_store_lock(&s, false, &err), 0);
	assert_int_equal(sb_store_lock(&s, false, &err), 0);
	assert_int_equal(sb_store_lock(&s, true, &err), -1); /* no upgrade */
	sb_error_free(err);
	sb_store_unlock(&s);
	sb_store_unlock(&s);
	assert_int_equal(sb_store_lock(&s, true, &err), 0);
	sb_store_unlock(&s);
	sb_store_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_manifest_parse),
		cmocka_unit_test(test_index_select),
		cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tags_and_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_reentrant, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
