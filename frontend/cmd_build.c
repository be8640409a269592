/* slimbuild build: `docker build` without a daemon. Parses docker build's
 * flags, prepares the context (a directory, or a tar or Dockerfile on
 * stdin), runs sb_build() with a progress display, then tags, exports and
 * pushes as asked. */
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "frontend/cli.h"
#include "frontend/progress_ui.h"
#include "frontend/store_cli.h"
#include "runtime/core/fs.h"
#include "runtime/core/strv.h"
#include "runtime/exec/exec.h"
#include "runtime/exec/slim.h"
#include "stages/stages.h"
#include "runtime/layer/layer.h"
#include "runtime/store/archive.h"

struct output_spec {
	char *type; /* image (default), oci, docker, tar, local, registry */
	char *dest;
	char *name;
	bool push;
};

/* "type=oci,dest=out.tar" or a bare path (type=local, as docker). */
static int parse_output(const char *s, struct output_spec *o)
{
	sb_autofree char *copy = sb_xstrdup(s);
	char *save = NULL;

	memset(o, 0, sizeof(*o));
	if (!strchr(s, '=')) {
		o->type = sb_xstrdup(strcmp(s, "-") == 0 ? "tar" : "local");
		o->dest = sb_xstrdup(s);
		return 0;
	}
	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		if (!eq)
			return -1;
		*eq++ = '\0';
		if (!strcmp(f, "type"))
			o->type = sb_xstrdup(eq);
		else if (!strcmp(f, "dest"))
			o->dest = sb_xstrdup(eq);
		else if (!strcmp(f, "name"))
			o->name = sb_xstrdup(eq);
		else if (!strcmp(f, "push"))
			o->push = !strcmp(eq, "true");
		/* other exporter attributes (compression, oci-mediatypes...)
		 * are accepted and ignored */
	}
	if (!o->type)
		return -1;
	if (strcmp(o->type, "image") && strcmp(o->type, "oci") && strcmp(o->type, "docker") &&
	    strcmp(o->type, "tar") && strcmp(o->type, "local") && strcmp(o->type, "registry"))
		return -1;
	if ((!strcmp(o->type, "oci") || !strcmp(o->type, "docker") || !strcmp(o->type, "tar") ||
	     !strcmp(o->type, "local")) && !o->dest)
		return -2;
	return 0;
}

static void output_release(struct output_spec *o)
{
	free(o->type);
	free(o->dest);
	free(o->name);
}

/* --secret id=ID,src=PATH | id=ID,env=VAR | id=ID (env ID, as docker) */
static int parse_secret(const char *s, const char *tmpdir, struct sb_build_secret *out, struct sb_strv *owned,
			struct sb_error **err)
{
	sb_autofree char *copy = sb_xstrdup(s);
	char *save = NULL, *id = NULL, *src = NULL, *env = NULL;

	for (char *f = strtok_r(copy, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(f, '=');
		if (!eq)
			return sb_error_setx(err, EINVAL, "--secret %s: expected key=value fields", s);
		*eq++ = '\0';
		if (!strcmp(f, "id"))
			id = eq;
		else if (!strcmp(f, "src") || !strcmp(f, "source"))
			src = eq;
		else if (!strcmp(f, "env"))
			env = eq;
		else if (strcmp(f, "type"))
			return sb_error_setx(err, EINVAL, "--secret %s: unknown field %s", s, f);
	}
	if (!id)
		return sb_error_setx(err, EINVAL, "--secret %s: id is required", s);
	sb_strv_push(owned, sb_xstrdup(id));
	out->id = owned->v[owned->n - 1];
	if (!src) {
		/* from the environment: written to a private file */
		const char *v = getenv(env ? env : id);
		char *path;
		if (!v)
			return sb_error_setx(err, ENOENT, "--secret %s: no src and no environment variable %s", s,
					     env ? env : id);
		path = sb_xasprintf("%s/secret-%zu", tmpdir, owned->n);
		if (sb_write_file_atomic(AT_FDCWD, path, v, strlen(v), 0600, err) < 0) {
			free(path);
			return -1;
		}
		sb_strv_push(owned, path);
	} else {
		sb_strv_push(owned, sb_xstrdup(src));
	}
	out->src = owned->v[owned->n - 1];
	return 0;
}

static bool looks_like_tar(const char *buf, size_t n)
{
	/* ustar magic at 257, or gzip / zstd / bzip2 / xz magic */
	if (n >= 262 && memcmp(buf + 257, "ustar", 5) == 0)
		return true;
	if (n >= 2 && (unsigned char)buf[0] == 0x1f && (unsigned char)buf[1] == 0x8b)
		return true;
	if (n >= 4 && memcmp(buf, "\x28\xb5\x2f\xfd", 4) == 0)
		return true;
	return false;
}

/* Context "-": stdin is a tar (the context) or a Dockerfile (no context). */
static int stdin_context(const char *dir, struct sb_strbuf *dockerfile, bool *got_dockerfile, struct sb_error **err)
{
	struct sb_strbuf in = SB_STRBUF_INIT;
	struct sb_layer_unpack_opts uo;
	sb_autofree char *tmp = NULL;
	int fd, rc;

	*got_dockerfile = false;
	if (sb_read_fd(STDIN_FILENO, "stdin", 1u << 30, &in, err) < 0)
		return -1;
	if (!looks_like_tar(in.buf, in.len)) {
		*dockerfile = in;
		*got_dockerfile = true;
		return 0;
	}
	tmp = sb_xasprintf("%s.tar", dir);
	rc = sb_write_file_atomic(AT_FDCWD, tmp, in.buf, in.len, 0600, err);
	sb_strbuf_release(&in);
	if (rc < 0)
		return -1;
	fd = open(tmp, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return sb_error_set(err, errno, "open %s", tmp);
	sb_layer_unpack_opts_init(&uo);
	uo.allow_devices = false;
	uo.apply_whiteouts = false;
	rc = sb_layer_unpack(fd, dir, &uo, NULL, err);
	close(fd);
	unlink(tmp);
	return rc < 0 ? sb_error_wrap(err, "context from stdin") : 0;
}

static int write_text(const char *path, const char *text, struct sb_error **err)
{
	return sb_write_file_atomic(AT_FDCWD, path, text, strlen(text), 0644, err);
}

/* The rootfs of the image as a tar: unpacked, then packed whole. */
struct fd_sink {
	int fd;
};

static int fd_sink_write(void *ctx, const void *data, size_t len, struct sb_error **err)
{
	struct fd_sink *s = ctx;
	return sb_write_all(s->fd, data, len, "output", err);
}

static int export_rootfs(struct sb_store *store, const struct sb_descriptor *md, const char *dir, struct sb_error **err)
{
	struct sb_manifest m;
	struct sb_image_config cfg = { NULL };
	struct sb_layer_unpack_opts uo;
	int rc;

	memset(&m, 0, sizeof(m));
	if (sb_store_load_image(store, md, &m, &cfg, err) < 0)
		return -1;
	if (sb_mkdir_p(AT_FDCWD, dir, 0755, err) < 0) {
		sb_manifest_release(&m);
		sb_image_config_release(&cfg);
		return -1;
	}
	sb_layer_unpack_opts_init(&uo);
	rc = sb_layer_unpack_image(store, &m, dir, &uo, NULL, err);
	sb_manifest_release(&m);
	sb_image_config_release(&cfg);
	return rc;
}

static int do_output(struct sb_store *store, const struct output_spec *o, const struct sb_descriptor *md,
		     const char *name, const char *tmpdir, const struct sb_registry_opts *ro, struct sb_error **err)
{
	const char *t = o->type;
	bool to_stdout = o->dest && !strcmp(o->dest, "-");
	sb_autofree char *path = NULL;

	if (!strcmp(t, "image"))
		return 0;
	if (!strcmp(t, "registry")) {
		struct sb_reference ref;
		int rc;
		const char *n = o->name ? o->name : name;
		if (!n)
			return sb_error_setx(err, EINVAL, "-o type=registry needs name= or -t");
		if (sb_reference_parse(n, &ref, err) < 0)
			return -1;
		rc = sb_registry_push(store, md, &ref, ro, err);
		sb_reference_release(&ref);
		return rc;
	}
	path = to_stdout ? sb_xasprintf("%s/output", tmpdir) : sb_xstrdup(o->dest);
	if (!strcmp(t, "oci") || !strcmp(t, "docker")) {
		struct sb_archive_image img = { name, md };
		if (sb_archive_save(store, &img, 1, !strcmp(t, "oci") ? SB_ARCHIVE_OCI : SB_ARCHIVE_DOCKER, path,
				    err) < 0)
			return -1;
	} else if (!strcmp(t, "local")) {
		if (to_stdout)
			return sb_error_setx(err, EINVAL, "-o type=local needs a directory, not -");
		return export_rootfs(store, md, path, err);
	} else { /* tar */
		sb_autofree char *dir = sb_xasprintf("%s/rootfs", tmpdir);
		struct sb_layer_pack_opts po;
		struct sb_layer_result lr;
		struct fd_sink fs;
		struct sb_layer_sink sink = { fd_sink_write, &fs };
		int rc;
		if (export_rootfs(store, md, dir, err) < 0)
			return -1;
		fs.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fs.fd < 0)
			return sb_error_set(err, errno, "create %s", path);
		sb_layer_pack_opts_init(&po);
		po.compression = SB_COMPRESS_NONE;
		rc = sb_layer_pack_dir_to(dir, &po, &sink, &lr, err);
		if (close(fs.fd) < 0 && rc == 0)
			rc = sb_error_set(err, errno, "close %s", path);
		if (rc < 0)
			return -1;
	}
	if (to_stdout) {
		int fd = open(path, O_RDONLY | O_CLOEXEC), rc;
		if (fd < 0)
			return sb_error_set(err, errno, "open %s", path);
		/* streamed in chunks, not read whole */
		for (;;) {
			char buf[65536];
			ssize_t n = read(fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				rc = n < 0 ? sb_error_set(err, errno, "read %s", path) : 0;
				break;
			}
			if ((rc = sb_write_all(STDOUT_FILENO, buf, (size_t)n, "stdout", err)) < 0)
				break;
		}
		close(fd);
		return rc;
	}
	return 0;
}

enum {
	OPT_BUILD_ARG = 256, OPT_TARGET, OPT_PLATFORM, OPT_NO_CACHE, OPT_PULL, OPT_LABEL, OPT_PUSH, OPT_LOAD,
	OPT_IIDFILE, OPT_METADATA, OPT_PROGRESS, OPT_NETWORK, OPT_SECRET, OPT_ADD_HOST, OPT_SLIM, OPT_NO_SLIM,
	OPT_COMPRESSION, OPT_PROBE_CMD, OPT_HTTP_PROBE, OPT_PROBE_EXEC, OPT_PROBE_TIMEOUT, OPT_PROBE_DURATION,
	OPT_INCLUDE, OPT_PROFILE, OPT_PROFILE_OUT, OPT_SECCOMP_OUT, OPT_DOCKERFILE_OUT, OPT_NO_VERIFY, OPT_NO_REPAIR,
};

/* "30s", "1m30s" (Go durations) or plain seconds, into milliseconds. */
static int parse_ms(const char *s, unsigned *out)
{
	int64_t ns;
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s && !*end && v < 86400) {
		*out = (unsigned)(v * 1000);
		return 0;
	}
	if (sb_parse_go_duration(s, &ns, NULL) < 0 || ns < 0 || ns > (int64_t)86400 * 1000000000)
		return -1;
	*out = (unsigned)(ns / 1000000);
	return 0;
}

static void human(uint64_t n, char *buf, size_t len)
{
	sb_cli_human_size((int64_t)n, buf, len);
}

/* The before/after table every slim build ends with. */
static void print_summary(FILE *f, const struct sb_slim_result *r)
{
	char a[32], b[32];
	fprintf(f, "\n%-22s %12s %12s\n", "slim summary", "built", "slim");
	human(r->fat.bytes, a, sizeof(a));
	human(r->slim.bytes, b, sizeof(b));
	fprintf(f, "  %-20s %12s %12s %6.1f%%\n", "size (uncompressed)", a, b,
		r->fat.bytes ? 100.0 * (double)r->slim.bytes / (double)r->fat.bytes : 0.0);
	human(r->fat.compressed, a, sizeof(a));
	human(r->slim.compressed, b, sizeof(b));
	fprintf(f, "  %-20s %12s %12s %6.1f%%\n", "size (compressed)", a, b,
		r->fat.compressed ? 100.0 * (double)r->slim.compressed / (double)r->fat.compressed : 0.0);
	fprintf(f, "  %-20s %12" PRIu64 " %12" PRIu64 "\n", "files", r->fat.files, r->slim.files);
	fprintf(f, "  %-20s %12" PRIu64 " %12" PRIu64 "\n", "packages", r->fat.packages, r->slim.packages);
	if (r->verified || r->probes)
		fprintf(f, "  %-20s %12s %9zu/%zu\n", "probes verified", "", r->verified, r->probes);
	if (r->nrepaired)
		fprintf(f, "  %-20s %12s %12zu\n", "paths repaired", "", r->nrepaired);
	fflush(f);
}

static void stats_json(json_t *j, const char *prefix, const struct sb_image_stats *s)
{
	const struct {
		const char *name;
		uint64_t v;
	} f[] = { { "size", s->bytes }, { "compressed_size", s->compressed }, { "files", s->files },
		  { "packages", s->packages } };
	char k[64];
	for (size_t i = 0; i < SB_ARRAY_SIZE(f); i++) {
		snprintf(k, sizeof(k), "%s.%s", prefix, f[i].name);
		json_object_set_new(j, k, json_integer((json_int_t)f[i].v));
	}
}

int sb_cmd_build(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "tag", required_argument, NULL, 't' },
		{ "build-arg", required_argument, NULL, OPT_BUILD_ARG },
		{ "target", required_argument, NULL, OPT_TARGET },
		{ "platform", required_argument, NULL, OPT_PLATFORM },
		{ "no-cache", no_argument, NULL, OPT_NO_CACHE },
		{ "pull", no_argument, NULL, OPT_PULL },
		{ "label", required_argument, NULL, OPT_LABEL },
		{ "output", required_argument, NULL, 'o' },
		{ "push", no_argument, NULL, OPT_PUSH },
		{ "load", no_argument, NULL, OPT_LOAD },
		{ "iidfile", required_argument, NULL, OPT_IIDFILE },
		{ "metadata-file", required_argument, NULL, OPT_METADATA },
		{ "progress", required_argument, NULL, OPT_PROGRESS },
		{ "quiet", no_argument, NULL, 'q' },
		{ "network", required_argument, NULL, OPT_NETWORK },
		{ "secret", required_argument, NULL, OPT_SECRET },
		{ "add-host", required_argument, NULL, OPT_ADD_HOST },
		{ "slim", no_argument, NULL, OPT_SLIM },
		{ "no-slim", no_argument, NULL, OPT_NO_SLIM },
		{ "compression", required_argument, NULL, OPT_COMPRESSION },
		{ "probe-cmd", required_argument, NULL, OPT_PROBE_CMD },
		{ "http-probe", required_argument, NULL, OPT_HTTP_PROBE },
		{ "probe-exec", required_argument, NULL, OPT_PROBE_EXEC },
		{ "probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT },
		{ "probe-duration", required_argument, NULL, OPT_PROBE_DURATION },
		{ "include", required_argument, NULL, OPT_INCLUDE },
		{ "profile", required_argument, NULL, OPT_PROFILE },
		{ "profile-out", required_argument, NULL, OPT_PROFILE_OUT },
		{ "seccomp-profile-out", required_argument, NULL, OPT_SECCOMP_OUT },
		{ "dockerfile-out", required_argument, NULL, OPT_DOCKERFILE_OUT },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "no-repair", no_argument, NULL, OPT_NO_REPAIR },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sb_build_opts bo;
	struct sb_build_result res;
	struct sb_strv tags = { 0 }, args = { 0 }, labels = { 0 }, hosts = { 0 }, secret_specs = { 0 }, owned = { 0 };
	struct sb_build_secret *secrets = NULL;
	struct output_spec *outputs = NULL;
	size_t noutputs = 0;
	struct sb_strbuf dockerfile = SB_STRBUF_INIT;
	struct sb_store store;
	bool store_open = false, quiet = false, push = false, dockerfile_from_stdin = false;
	const char *file = NULL, *target = NULL, *iidfile = NULL, *metadata = NULL, *progress_mode = "auto";
	const char *context;
	char **names = NULL;
	sb_autofree char *ctx_dir = NULL, *tmpdir = NULL, *df_name = NULL;
	struct sb_progress_ui ui;
	struct sb_error *err = NULL;
	int c, rc = SB_EXIT_FAIL, compression = SB_COMPRESS_GZIP;
	enum sb_sandbox_net net = SB_NET_DEFAULT;
	bool slim = true, slimmed = false;
	struct sb_slim_opts so;
	struct sb_slim_result sres;
	struct sb_probe *probes = NULL;
	size_t nprobes = 0;
	struct sb_strv includes = { 0 };
	struct sb_profile_record record;
	bool have_record = false;
	const char *profile_in = NULL, *profile_out = NULL, *seccomp_out = NULL, *dockerfile_out = NULL;

	memset(&sres, 0, sizeof(sres));
	memset(&record, 0, sizeof(record));
	sb_slim_opts_init(&so);
	sb_build_opts_init(&bo);
	memset(&res, 0, sizeof(res));
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+f:t:o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'f': file = optarg; break;
		case 't': sb_strv_push(&tags, sb_xstrdup(optarg)); break;
		case OPT_BUILD_ARG:
			/* "K" alone: K's value from the environment; unset there,
			 * the plan's own rules for a valueless build arg apply */
			sb_strv_push(&args, sb_cli_build_arg(optarg) ?: sb_xstrdup(optarg));
			break;
		case OPT_TARGET: target = optarg; break;
		case OPT_PLATFORM: {
			const struct sb_platform *h = sb_host_platform();
			sb_autofree char *host = sb_xasprintf("%s/%s", h->os, h->architecture);
			if (strcmp(optarg, host) != 0 && strncmp(optarg, host, strlen(host)) != 0) {
				rc = sb_cli_usage_error("build", "--platform %s: only the host platform (%s) can be built",
							optarg, host);
				goto out;
			}
			break;
		}
		case OPT_NO_CACHE: bo.no_cache = true; break;
		case OPT_PULL: bo.pull = true; break;
		case OPT_LABEL: sb_strv_push(&labels, sb_xstrdup(optarg)); break;
		case 'o': {
			int r;
			outputs = sb_xrealloc(outputs, (noutputs + 1) * sizeof(*outputs));
			r = parse_output(optarg, &outputs[noutputs]);
			noutputs++;
			if (r < 0) {
				rc = sb_cli_usage_error("build", r == -2 ? "--output %s: dest= is required"
									 : "--output %s: expected type=image|oci|docker|tar|local|registry[,dest=PATH]",
							optarg);
				goto out;
			}
			break;
		}
		case OPT_PUSH: push = true; break;
		case OPT_LOAD: break; /* the image is in the store either way */
		case OPT_IIDFILE: iidfile = optarg; break;
		case OPT_METADATA: metadata = optarg; break;
		case OPT_PROGRESS:
			if (strcmp(optarg, "auto") && strcmp(optarg, "plain") && strcmp(optarg, "tty") &&
			    strcmp(optarg, "quiet") && strcmp(optarg, "rawjson")) {
				rc = sb_cli_usage_error("build", "--progress takes auto, plain, tty or quiet");
				goto out;
			}
			progress_mode = optarg;
			break;
		case 'q': quiet = true; break;
		case OPT_NETWORK:
			if (!strcmp(optarg, "none"))
				net = SB_NET_NONE;
			else if (!strcmp(optarg, "host") || !strcmp(optarg, "default") || !strcmp(optarg, "bridge"))
				net = SB_NET_DEFAULT;
			else {
				rc = sb_cli_usage_error("build", "--network takes default, host or none");
				goto out;
			}
			break;
		case OPT_SECRET: sb_strv_push(&secret_specs, sb_xstrdup(optarg)); break;
		case OPT_ADD_HOST: {
			/* docker accepts host:ip and host=ip */
			char *h = sb_xstrdup(optarg), *eq = strchr(h, '=');
			if (eq)
				*eq = ':';
			if (!strchr(h, ':')) {
				free(h);
				rc = sb_cli_usage_error("build", "--add-host takes HOST:IP, not '%s'", optarg);
				goto out;
			}
			sb_strv_push(&hosts, h);
			break;
		}
		case OPT_SLIM: slim = true; break;
		case OPT_NO_SLIM: slim = false; break;
		case OPT_PROBE_CMD:
		case OPT_HTTP_PROBE:
		case OPT_PROBE_EXEC: {
			struct sb_error *perr = NULL;
			enum sb_probe_kind k = c == OPT_PROBE_CMD ? SB_PROBE_CMD : c == OPT_HTTP_PROBE ? SB_PROBE_HTTP : SB_PROBE_EXEC;
			probes = sb_xrealloc(probes, (nprobes + 1) * sizeof(*probes));
			if (sb_probe_parse(k, optarg, &probes[nprobes], &perr) < 0) {
				rc = sb_cli_usage_error("build", "%s", perr->msg);
				sb_error_free(perr);
				goto out;
			}
			nprobes++;
			break;
		}
		case OPT_PROBE_TIMEOUT:
		case OPT_PROBE_DURATION:
			if (parse_ms(optarg, c == OPT_PROBE_TIMEOUT ? &so.timeout_ms : &so.keep_ms) < 0) {
				rc = sb_cli_usage_error("build", "%s takes a duration (30s, 2m, or seconds), not '%s'",
							argv[optind - 1], optarg);
				goto out;
			}
			break;
		case OPT_INCLUDE:
			if (optarg[0] != '/') {
				rc = sb_cli_usage_error("build", "--include takes an absolute path or glob, not '%s'", optarg);
				goto out;
			}
			sb_strv_push(&includes, sb_xstrdup(optarg));
			break;
		case OPT_PROFILE: profile_in = optarg; break;
		case OPT_PROFILE_OUT: profile_out = optarg; break;
		case OPT_SECCOMP_OUT: seccomp_out = optarg; break;
		case OPT_DOCKERFILE_OUT: dockerfile_out = optarg; break;
		case OPT_NO_VERIFY: so.verify = false; break;
		case OPT_NO_REPAIR: so.repair = false; break;
		case OPT_COMPRESSION:
			compression = sb_compression_parse(optarg);
			if (compression < 0) {
				rc = sb_cli_usage_error("build", "--compression takes gzip, zstd or none");
				goto out;
			}
			break;
		case 'h': rc = sb_cli_help("build"); goto out;
		default:
			rc = sb_cli_usage_error("build", "unknown option '%s'", argv[optind - 1]);
			goto out;
		}
	}
	if (optind >= argc) {
		rc = sb_cli_usage_error("build", "requires exactly 1 argument: the context (a directory or -)");
		goto out;
	}
	if (optind + 1 < argc) {
		rc = sb_cli_usage_error("build", "unexpected argument '%s'", argv[optind + 1]);
		goto out;
	}
	context = argv[optind];
	for (size_t i = 0; i < tags.n; i++) {
		struct sb_reference ref;
		if (sb_cli_parse_ref("build", tags.v[i], &ref) < 0) {
			rc = SB_EXIT_USAGE;
			goto out;
		}
		names = sb_xrealloc(names, (i + 2) * sizeof(char *));
		names[i] = sb_reference_string(&ref);
		names[i + 1] = NULL;
		sb_reference_release(&ref);
	}
	if (geteuid() != 0) {
		fprintf(stderr, "slimbuild build: must run as root (it uses namespaces and overlayfs)\n");
		goto out;
	}

	if (sb_cli_open_store(&store) < 0)
		goto out;
	store_open = true;
	tmpdir = sb_xasprintf("%s/tmp/cli-%d", store.root, (int)getpid());
	if (sb_mkdir_p(AT_FDCWD, tmpdir, 0700, &err) < 0)
		goto fail;

	/* the context and the Dockerfile */
	if (!strcmp(context, "-")) {
		ctx_dir = sb_xasprintf("%s/context", tmpdir);
		if (sb_mkdir_p(AT_FDCWD, ctx_dir, 0755, &err) < 0 ||
		    stdin_context(ctx_dir, &dockerfile, &dockerfile_from_stdin, &err) < 0)
			goto fail;
	} else {
		struct stat st;
		if (stat(context, &st) < 0 || !S_ISDIR(st.st_mode)) {
			fprintf(stderr, "slimbuild build: unable to prepare context: path \"%s\" not found\n", context);
			goto out;
		}
		ctx_dir = sb_xstrdup(context);
	}
	if (!dockerfile_from_stdin) {
		if (file && !strcmp(file, "-")) {
			if (!strcmp(context, "-")) {
				rc = sb_cli_usage_error("build", "the Dockerfile and the context cannot both come from stdin");
				goto out;
			}
			if (sb_read_fd(STDIN_FILENO, "stdin", 256u << 20, &dockerfile, &err) < 0)
				goto fail;
			df_name = sb_xstrdup("Dockerfile");
		} else {
			sb_autofree char *path = file ? sb_xstrdup(file) : sb_xasprintf("%s/Dockerfile", ctx_dir);
			/* -f relative to the current directory, as docker; a
			 * context from stdin holds it inside */
			if (file && !strcmp(context, "-") && file[0] != '/') {
				free(path);
				path = sb_xasprintf("%s/%s", ctx_dir, file);
			}
			if (sb_read_file(AT_FDCWD, path, 256u << 20, &dockerfile, &err) < 0) {
				sb_error_wrap(&err, "failed to read dockerfile");
				goto fail;
			}
			{
				const char *slash = strrchr(path, '/');
				df_name = sb_xstrdup(slash ? slash + 1 : path);
			}
		}
	} else {
		df_name = sb_xstrdup("Dockerfile");
	}

	secrets = sb_xcalloc(secret_specs.n + 1, sizeof(*secrets));
	for (size_t i = 0; i < secret_specs.n; i++)
		if (parse_secret(secret_specs.v[i], tmpdir, &secrets[i], &owned, &err) < 0)
			goto fail;

	if (!strcmp(progress_mode, "auto"))
		progress_mode = isatty(STDERR_FILENO) ? "tty" : "plain";
	if (quiet)
		progress_mode = "quiet";
	sb_progress_ui_init(&ui, progress_mode, stderr);

	bo.store = &store;
	bo.context_dir = ctx_dir;
	bo.dockerfile_name = df_name;
	bo.dockerfile = dockerfile.buf;
	bo.dockerfile_len = dockerfile.len;
	bo.target = target;
	bo.build_args = (const char *const *)args.v;
	bo.nbuild_args = args.n;
	bo.labels = (const char *const *)labels.v;
	bo.nlabels = labels.n;
	bo.network = net;
	bo.secrets = secrets;
	bo.nsecrets = secret_specs.n;
	bo.extra_hosts = (const char *const *)hosts.v;
	bo.compression = (enum sb_compression)compression;
	bo.progress = &ui.sink;

	sb_progress_ui_internal(&ui, "[internal] load build definition from %s", df_name);
	if (sb_build(&bo, &res, &err) < 0) {
		sb_progress_ui_finish(&ui);
		goto fail;
	}
	for (char **w = res.warnings; w && *w; w++)
		sb_progress_ui_note(&ui, *w);

	if (slim) {
		if (profile_in) {
			struct sb_strbuf pb = SB_STRBUF_INIT;
			int r = sb_read_file(AT_FDCWD, profile_in, 256u << 20, &pb, &err);
			if (r == 0)
				r = sb_profile_record_parse(pb.buf, pb.len, &record, &err);
			sb_strbuf_release(&pb);
			if (r < 0) {
				sb_error_wrap(&err, "--profile %s", profile_in);
				goto fail_ui;
			}
			have_record = true;
			so.profile = &record;
		}
		so.probes = probes;
		so.nprobes = nprobes;
		so.includes = (const char *const *)includes.v;
		so.nincludes = includes.n;
		so.compression = (enum sb_compression)compression;
		so.progress = &ui.sink;
		so.build = &bo;
		if (sb_slim(&store, &res.manifest, &so, &sres, &err) < 0)
			goto fail_ui;
		slimmed = !sres.skipped;
		if (sres.skipped)
			sb_progress_ui_note(&ui, "[Warning] the image has no ENTRYPOINT or CMD and no probe was given: "
						 "nothing to profile, the image is not slimmed");
		/* what the rest names and exports is the slim image */
		sb_descriptor_release(&res.manifest);
		sb_descriptor_copy(&res.manifest, &sres.manifest);
		memcpy(res.config_digest, sres.config_digest, SB_DIGEST_SIZE);
		if (dockerfile_out && sres.dockerfile && write_text(dockerfile_out, sres.dockerfile, &err) < 0) {
			sb_error_wrap(&err, "--dockerfile-out %s", dockerfile_out);
			goto fail_ui;
		}
		if (profile_out) {
			struct sb_strbuf pb = SB_STRBUF_INIT;
			int r = sb_profile_record_to_json(&sres.record, &pb, &err);
			if (r == 0)
				r = write_text(profile_out, pb.buf, &err);
			sb_strbuf_release(&pb);
			if (r < 0)
				goto fail_ui;
		}
		if (seccomp_out) {
			struct sb_strbuf pb = SB_STRBUF_INIT;
			int r = sb_seccomp_profile_json(sres.record.syscalls, sres.record.nsyscalls, &pb, &err);
			if (r == 0)
				r = write_text(seccomp_out, pb.buf, &err);
			sb_strbuf_release(&pb);
			if (r < 0)
				goto fail_ui;
		}
	}

	/* exporting */
	{
		unsigned v = sb_progress_ui_begin(&ui, "exporting to image");
		sb_progress_ui_log(&ui, v, "writing image %s done", res.config_digest);
		for (size_t i = 0; i < tags.n; i++) {
			if (sb_store_tag(&store, names[i], &res.manifest, &err) < 0)
				goto fail_ui;
			sb_progress_ui_log(&ui, v, "naming to %s done", names[i]);
		}
		for (size_t i = 0; i < noutputs; i++)
			if (do_output(&store, &outputs[i], &res.manifest, names ? names[0] : NULL, tmpdir, NULL,
				      &err) < 0)
				goto fail_ui;
		for (size_t i = 0; push && i < tags.n; i++) {
			struct sb_reference ref;
			int r;
			sb_progress_ui_log(&ui, v, "pushing %s", names[i]);
			if (sb_reference_parse(names[i], &ref, &err) < 0)
				goto fail_ui;
			r = sb_registry_push(&store, &res.manifest, &ref, NULL, &err);
			sb_reference_release(&ref);
			if (r < 0)
				goto fail_ui;
		}
		sb_progress_ui_end(&ui, v);
	}
	sb_progress_ui_finish(&ui);
	if (iidfile && write_text(iidfile, res.config_digest, &err) < 0)
		goto fail;
	if (metadata) {
		json_t *j = json_object();
		char *text;
		int r;
		struct sb_strbuf nm = SB_STRBUF_INIT;
		json_object_set_new(j, "containerimage.digest", json_string(res.manifest.digest));
		json_object_set_new(j, "containerimage.config.digest", json_string(res.config_digest));
		for (size_t i = 0; i < tags.n; i++) {
			if (i)
				sb_strbuf_addc(&nm, ',');
			sb_strbuf_adds(&nm, names[i]);
		}
		if (tags.n)
			json_object_set_new(j, "image.name", json_string(nm.buf));
		json_object_set_new(j, "slimbuild.steps", json_integer(res.steps));
		if (slimmed) {
			stats_json(j, "slimbuild.fat", &sres.fat);
			stats_json(j, "slimbuild.slim", &sres.slim);
			json_object_set_new(j, "slimbuild.probes", json_integer((json_int_t)sres.probes));
			json_object_set_new(j, "slimbuild.probes_verified", json_integer((json_int_t)sres.verified));
			json_object_set_new(j, "slimbuild.fat.digest", json_string(sres.record.source_image));
			json_object_set_new(j, "slimbuild.repaired", json_integer((json_int_t)sres.nrepaired));
			/* wall ms of the probes against the built image (traced,
			 * unless --profile) and against the slim one */
			json_object_set_new(j, "slimbuild.probe_ms", json_integer((json_int_t)sres.fat_ms));
			json_object_set_new(j, "slimbuild.verify_ms", json_integer((json_int_t)sres.slim_ms));
			json_object_set_new(j, "slimbuild.traced", json_boolean(sres.record.tracer != NULL));
		}
		json_object_set_new(j, "slimbuild.cached", json_integer(res.cached));
		sb_strbuf_release(&nm);
		text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
		json_decref(j);
		r = write_text(metadata, text, &err);
		free(text);
		if (r < 0)
			goto fail;
	}
	if (slimmed && !quiet)
		print_summary(stderr, &sres);
	if (quiet)
		printf("%s\n", res.config_digest);
	rc = SB_EXIT_OK;
	goto out;
fail_ui:
	sb_progress_ui_finish(&ui);
fail:
	rc = sb_cli_fail(err);
	err = NULL;
out:
	sb_build_result_release(&res);
	sb_slim_result_release(&sres);
	if (have_record)
		sb_profile_record_release(&record);
	for (size_t i = 0; i < nprobes; i++)
		sb_probe_release(&probes[i]);
	free(probes);
	sb_strv_release(&includes);
	if (tmpdir)
		sb_rm_rf(AT_FDCWD, tmpdir, NULL);
	if (store_open)
		sb_store_release(&store);
	for (size_t i = 0; names && names[i]; i++)
		free(names[i]);
	free(names);
	for (size_t i = 0; i < noutputs; i++)
		output_release(&outputs[i]);
	free(outputs);
	free(secrets);
	sb_strbuf_release(&dockerfile);
	sb_strv_release(&tags);
	sb_strv_release(&args);
	sb_strv_release(&labels);
	sb_strv_release(&hosts);
	sb_strv_release(&secret_specs);
	sb_strv_release(&owned);
	return rc;
}
