/* The slim image: profile the fat one, keep its closure, verify, repair.
 * See slim.h. */
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/core/strv.h"
#include "runtime/exec/internal.h"
#include "runtime/exec/slim.h"
#include "runtime/profile/closure.h"

void sb_slim_opts_init(struct sb_slim_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->verify = true;
	o->repair = true;
	o->max_rounds = 3;
	o->compression = SB_COMPRESS_GZIP;
}

void sb_slim_result_release(struct sb_slim_result *r)
{
	sb_descriptor_release(&r->manifest);
	for (size_t i = 0; i < r->nrepaired; i++)
		free(r->repaired[i]);
	free(r->repaired);
	sb_profile_record_release(&r->record);
	free(r->dockerfile);
	memset(r, 0, sizeof(*r));
}

struct slim {
	struct sb_store *store;
	const struct sb_slim_opts *o;
	char *tmp;
	struct sb_manifest m;
	struct sb_image_config cfg;
	char **snaps;          /* fat snapshots, topmost first */
	size_t nsnaps;
	char *view;            /* the fat rootfs, read-only */
	int rootfd;
	/* the probe image, from the fat config */
	const char **entrypoint, **cmd, **env;
	unsigned *ports;
	size_t nports;
	char *stage_json;      /* the slim stage's contents (sb_slim_stage_to_json) */
	/* extra paths (repair, a recorded profile) */
	struct sb_profile_path *extra;
	size_t nextra;
};

static uint64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static void note(const struct slim *s, const char *fmt, ...) SB_PRINTF(2, 3);
static void note(const struct slim *s, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sb_progress_emit(s->o->progress, SB_PROGRESS_LOG, "slim", NULL, 0, 0, buf);
}

static const char **strv_of(json_t *a)
{
	const char **v;
	if (!json_is_array(a))
		return NULL;
	v = sb_xcalloc(json_array_size(a) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(a); i++)
		v[i] = json_string_value(json_array_get(a, i));
	return v;
}

static int load_fat(struct slim *s, const struct sb_descriptor *fat, struct sb_error **err)
{
	json_t *c, *ports;
	const char *k;
	json_t *v;

	if (sb_store_load_image(s->store, fat, &s->m, &s->cfg, err) < 0)
		return -1;
	if (sb_image_config_ndiff_ids(&s->cfg) != s->m.nlayers)
		return sb_error_setx(err, EINVAL, "image %s: layers and diff_ids differ", fat->digest);
	s->snaps = sb_xcalloc(s->m.nlayers + 1, sizeof(char *));
	for (size_t i = 0; i < s->m.nlayers; i++) {
		char *p;
		if (sb_snapshot_ensure(s->store, &s->m.layers[i], sb_image_config_diff_id(&s->cfg, i), &p, err) < 0)
			return -1;
		s->snaps[s->m.nlayers - 1 - i] = p;
	}
	s->nsnaps = s->m.nlayers;
	c = json_object_get(s->cfg.root, "config");
	s->entrypoint = strv_of(json_object_get(c, "Entrypoint"));
	s->cmd = strv_of(json_object_get(c, "Cmd"));
	s->env = strv_of(json_object_get(c, "Env"));
	ports = json_object_get(c, "ExposedPorts");
	s->ports = sb_xcalloc(json_object_size(ports) + 1, sizeof(unsigned));
	json_object_foreach(ports, k, v) {
		unsigned p = (unsigned)strtoul(k, NULL, 10);
		const char *slash = strchr(k, '/');
		if (p && (!slash || !strcmp(slash, "/tcp")))
			s->ports[s->nports++] = p;
	}
	return 0;
}

static void probe_image(const struct slim *s, const char *const *lowers, struct sb_probe_image *img)
{
	json_t *c = json_object_get(s->cfg.root, "config");
	memset(img, 0, sizeof(*img));
	img->lower_dirs = lowers;
	img->entrypoint = s->entrypoint;
	img->cmd = s->cmd;
	img->env = s->env;
	img->user = json_string_value(json_object_get(c, "User"));
	img->workdir = json_string_value(json_object_get(c, "WorkingDir"));
	img->ports = s->ports;
	img->nports = s->nports;
}

static void probe_opts(const struct slim *s, bool trace, struct sb_probe_opts *po)
{
	memset(po, 0, sizeof(*po));
	po->probes = s->o->probes;
	po->nprobes = s->o->nprobes;
	po->timeout_ms = s->o->timeout_ms;
	po->keep_ms = s->o->keep_ms;
	po->trace = trace;
	po->scratch_dir = s->tmp;
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sb_profile_path *)a)->path, ((const struct sb_profile_path *)b)->path);
}

/* The trace the closure is made from: the fat run's paths and the extra
 * ones, sorted and unique (a shallow view: strings stay theirs). */
static void working_trace(const struct slim *s, const struct sb_trace_result *fat, struct sb_trace_result *w)
{
	size_t n = (fat ? fat->npaths : 0) + s->nextra, k = 0;

	memset(w, 0, sizeof(*w));
	if (fat) {
		memcpy(w->syscalls, fat->syscalls, sizeof(w->syscalls));
		memcpy(w->assumed, fat->assumed, sizeof(w->assumed));
		w->tracer = fat->tracer;
	}
	w->rootfd = -1;
	w->paths = sb_xcalloc(n + 1, sizeof(*w->paths));
	for (size_t i = 0; fat && i < fat->npaths; i++)
		w->paths[k++] = fat->paths[i];
	for (size_t i = 0; i < s->nextra; i++)
		w->paths[k++] = s->extra[i];
	qsort(w->paths, k, sizeof(*w->paths), path_cmp);
	w->npaths = 0;
	for (size_t i = 0; i < k; i++) {
		if (w->npaths && !strcmp(w->paths[w->npaths - 1].path, w->paths[i].path)) {
			w->paths[w->npaths - 1].flags |= w->paths[i].flags;
			continue;
		}
		w->paths[w->npaths++] = w->paths[i];
	}
}

static void extra_add(struct slim *s, const char *path, unsigned flags, const char *target)
{
	struct sb_profile_path *p;
	s->extra = sb_xrealloc(s->extra, (s->nextra + 1) * sizeof(*s->extra));
	p = &s->extra[s->nextra++];
	p->path = sb_xstrdup(path);
	p->target = target ? sb_xstrdup(target) : NULL;
	p->flags = flags;
}

static int open_in(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW), .resolve = RESOLVE_IN_ROOT };
	while (*path == '/')
		path++;
	return (int)syscall(SYS_openat2, rootfd, *path ? path : ".", &how, sizeof(how));
}

/* Files, bytes, packages of a tree. */
static void tree_stats(int dirfd, struct sb_image_stats *st, int depth)
{
	DIR *d;
	struct dirent *e;
	int fd = dup(dirfd);

	if (fd < 0 || depth > 256 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d))) {
		struct stat sb;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(dirfd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			int sub = openat(dirfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0) {
				tree_stats(sub, st, depth + 1);
				close(sub);
			}
			continue;
		}
		st->files++;
		if (S_ISREG(sb.st_mode))
			st->bytes += (uint64_t)sb.st_size;
	}
	closedir(d);
}

static uint64_t dpkg_packages(int rootfd)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	struct sb_error *e = NULL;
	sb_autoclose int fd = open_in(rootfd, "/var/lib/dpkg/status", O_RDONLY);
	uint64_t n = 0;

	if (fd >= 0 && sb_read_fd(fd, "status", 256u << 20, &sb, &e) == 0)
		for (const char *p = sb.buf; (p = strstr(p, "Status: install ok installed")); p++)
			n++;
	sb_error_free(e);
	sb_strbuf_release(&sb);
	if (n == 0) {
		/* distroless: one file a package under status.d */
		sb_autoclose int dfd = open_in(rootfd, "/var/lib/dpkg/status.d", O_RDONLY | O_DIRECTORY);
		DIR *d = dfd >= 0 ? fdopendir(dup(dfd)) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (de->d_name[0] != '.' && !strstr(de->d_name, ".md5sums"))
				n++;
		if (d)
			closedir(d);
	}
	return n;
}

static uint64_t blobs_size(const struct sb_manifest *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->nlayers; i++)
		n += (uint64_t)m->layers[i].size;
	return n;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool below(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return !strncmp(path, dir, n) && path[n] == '/';
}

/* Entries below the directory at fd, every kind; stops past limit. */
static size_t count_tree(int fd, size_t limit, int depth)
{
	size_t n = 0;
	DIR *d;
	struct dirent *e;
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (dfd < 0 || depth > 256 || !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		return limit + 1;
	}
	while (n <= limit && (e = readdir(d))) {
		struct stat st;
		bool dir = e->d_type == DT_DIR;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		n++;
		if (e->d_type == DT_UNKNOWN)
			dir = fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
		if (dir && n <= limit) {
			int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				n = limit + 1;
				break;
			}
			n += count_tree(sub, limit - n, depth + 1);
			close(sub);
		}
	}
	closedir(d);
	return n;
}

/* The closure as the --parents sources of the slim stage: every entry but
 * the directories that are only there as parents (the copy makes those
 * as copies of the source's). A directory the closure holds whole is one
 * source; one kept without its contents is a source whose contents are
 * excluded. */
static void closure_sources(const struct slim *s, const struct sb_closure *c, struct sb_strv *paths,
			    struct sb_strv *excludes)
{
	struct sb_strv parents = { 0 }, whole = { 0 };

	for (size_t i = 0; i < c->n; i++) {
		char *slash = strrchr(c->v[i].path, '/');
		if (slash && slash != c->v[i].path)
			sb_strv_push(&parents, sb_xstrndup(c->v[i].path, (size_t)(slash - c->v[i].path)));
	}
	if (parents.n)
		qsort(parents.v, parents.n, sizeof(char *), str_cmp);
	for (size_t i = 0; i < c->n; i++) {
		const struct sb_closure_entry *e = &c->v[i];
		bool skip = false, has_child;
		for (size_t k = 0; k < whole.n && !skip; k++)
			skip = below(e->path, whole.v[k]);
		if (skip)
			continue;
		has_child = parents.n && bsearch(&e->path, parents.v, parents.n, sizeof(char *), str_cmp);
		if (e->kind == SB_CLOSURE_DIR) {
			sb_autoclose int fd = open_in(s->rootfd, e->path, O_RDONLY | O_DIRECTORY);
			size_t kept = 0, fat;
			for (size_t k = 0; k < c->n; k++)
				kept += below(c->v[k].path, e->path);
			fat = fd >= 0 ? count_tree(fd, kept, 0) : kept + 1;
			if (has_child && (kept < 8 || fat != kept))
				continue; /* a parent */
			if (!has_child && fat > 0) {
				/* kept empty */
				sb_strv_push(excludes, sb_xasprintf("%s/*", e->path + 1));
			} else if (has_child) {
				sb_strv_push(&whole, sb_xstrdup(e->path));
			}
		}
		sb_strv_push(paths, sb_xstrdup(e->path));
	}
	sb_strv_release(&parents);
	sb_strv_release(&whole);
}

/* The generated status.d files, sorted by name. */
static int read_generated(const char *dir, struct sb_inline **out, size_t *n, struct sb_error **err)
{
	sb_autofree char *sd = sb_xasprintf("%s/var/lib/dpkg/status.d", dir);
	struct sb_strv names = SB_STRV_INIT;
	DIR *d = opendir(sd);
	struct dirent *e;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!d)
		return errno == ENOENT ? 0 : sb_error_set(err, errno, "open %s", sd);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			sb_strv_push(&names, sb_xstrdup(e->d_name));
	if (names.n)
		qsort(names.v, names.n, sizeof(char *), str_cmp);
	*out = sb_xcalloc(names.n + 1, sizeof(**out));
	for (size_t i = 0; i < names.n && rc == 0; i++) {
		struct sb_strbuf sb = SB_STRBUF_INIT;
		if ((rc = sb_read_file(dirfd(d), names.v[i], 64u << 20, &sb, err)) == 0) {
			(*out)[*n].name = sb_steal(&names.v[i]);
			(*out)[*n].data = sb_strbuf_detach(&sb, NULL);
			(*n)++;
		}
		sb_strbuf_release(&sb);
	}
	closedir(d);
	sb_strv_release(&names);
	return rc;
}

static void free_generated(struct sb_inline *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].data);
	}
	free(v);
}

/* The Dockerfile of the slim image: the original, then the slim stage. */
static int slim_dockerfile(struct slim *s, const struct sb_closure *c, const char *gen_dir, const char *fat_digest,
			   struct sb_strbuf *out, struct sb_error **err)
{
	const struct sb_build_opts *b = s->o->build;
	struct sb_strv paths = { 0 }, excludes = { 0 };
	struct sb_inline *files = NULL;
	size_t nfiles = 0;
	struct sb_slim_stage st;
	struct sb_plan_opts po;
	char *cfg = NULL;
	int rc = -1;

	closure_sources(s, c, &paths, &excludes);
	if (read_generated(gen_dir, &files, &nfiles, err) < 0)
		goto out;
	cfg = json_dumps(json_object_get(s->cfg.root, "config"), JSON_COMPACT);
	memset(&st, 0, sizeof(st));
	st.paths = (const char *const *)paths.v;
	st.npaths = paths.n;
	st.excludes = (const char *const *)excludes.v;
	st.nexcludes = excludes.n;
	st.files = files;
	st.nfiles = nfiles;
	st.files_dir = "/var/lib/dpkg/status.d/";
	st.config_json = cfg;
	free(s->stage_json);
	s->stage_json = sb_slim_stage_to_json(&st);
	/* printed the way `rewrite --profile` prints it from the record */
	memset(&po, 0, sizeof(po));
	po.target = b->target;
	po.build_args = b->build_args;
	po.nbuild_args = b->nbuild_args;
	rc = sb_rewrite_slim(b->dockerfile_name ? b->dockerfile_name : "Dockerfile", b->dockerfile, b->dockerfile_len,
			     &po, s->stage_json, fat_digest, out, err);
out:
	free(cfg);
	free_generated(files, nfiles);
	sb_strv_release(&paths);
	sb_strv_release(&excludes);
	return rc;
}

/* Build the slim stage: the Dockerfile with it appended, through the
 * executor; the profiled stage's steps are cache hits. */
static int build_slim(struct slim *s, const char *dockerfile, struct sb_build_result *br, struct sb_error **err)
{
	struct sb_build_opts bo = *s->o->build;

	bo.dockerfile = dockerfile;
	bo.dockerfile_len = strlen(dockerfile);
	bo.target = NULL;
	bo.pull = false;     /* the fat build just resolved every base */
	bo.no_cache = false; /* and recorded every step it ran */
	bo.progress = s->o->progress;
	if (sb_build(&bo, br, err) < 0)
		return sb_error_wrap(err, "build the slim stage");
	return 0;
}

/* The snapshots of a stored image, topmost first. */
static int image_snapshots(struct slim *s, const struct sb_descriptor *d, struct sb_manifest *m, char ***snaps,
			   struct sb_error **err)
{
	struct sb_image_config cfg = { NULL };
	int rc = 0;

	if (sb_store_load_image(s->store, d, m, &cfg, err) < 0)
		return -1;
	*snaps = sb_xcalloc(m->nlayers + 1, sizeof(char *));
	for (size_t i = 0; i < m->nlayers && rc == 0; i++)
		rc = sb_snapshot_ensure(s->store, &m->layers[i], sb_image_config_diff_id(&cfg, i),
					&(*snaps)[m->nlayers - 1 - i], err);
	sb_image_config_release(&cfg);
	return rc;
}

static void free_snaps(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Compare the slim outcomes with the fat ones; the differences as text. */
static size_t compare(const struct sb_probe_report *fat, const struct sb_probe_report *slim, struct sb_strbuf *why)
{
	size_t same = 0;
	for (size_t i = 0; i < fat->n && i < slim->n; i++) {
		char *w = NULL;
		if (sb_probe_outcome_equal(&fat->outcomes[i], &slim->outcomes[i], &w)) {
			same++;
		} else {
			sb_strbuf_addf(why, "\n  %s: %s", fat->outcomes[i].name ? fat->outcomes[i].name : "probe",
				       w ? w : (slim->outcomes[i].error ? slim->outcomes[i].error : "differs"));
		}
		free(w);
	}
	return same;
}

/* A path the slim run missed: listed, and with apply, added for the next
 * round and reported as repaired. */
static void repaired_add(struct slim *s, const char *path, bool dir, bool apply, struct sb_slim_result *res,
			 struct sb_strbuf *list)
{
	sb_strbuf_addf(list, "\n  %s", path);
	if (!apply)
		return;
	extra_add(s, path, SB_PATH_EXISTS | (dir ? SB_PATH_DIR : 0), NULL);
	res->repaired = sb_xrealloc(res->repaired, (res->nrepaired + 2) * sizeof(char *));
	res->repaired[res->nrepaired++] = sb_xstrdup(path);
	res->repaired[res->nrepaired] = NULL;
}

/* The weaker evidence, used when the slim run missed no path it named:
 * the entries of the directories it listed that the fat rootfs has and
 * the closure lacks (kept as the closure keeps a directory: empty but
 * for what is itself kept). At most 4096 a round. */
static size_t listed_paths(struct slim *s, const struct sb_trace_result *t, const struct sb_closure *c, bool apply,
			   struct sb_slim_result *res, struct sb_strbuf *list)
{
	size_t added = 0;
	for (size_t i = 0; t && i < t->npaths && added < 4096; i++) {
		const struct sb_profile_path *p = &t->paths[i];
		sb_autoclose int fd = -1;
		DIR *d;
		struct dirent *e;
		if (!(p->flags & SB_PATH_LISTED) || !(p->flags & SB_PATH_EXISTS))
			continue;
		if (!strncmp(p->path, "/proc/", 6) || !strncmp(p->path, "/sys/", 5) || !strncmp(p->path, "/dev/", 5) ||
		    !strcmp(p->path, "/proc") || !strcmp(p->path, "/sys") || !strcmp(p->path, "/dev"))
			continue;
		fd = open_in(s->rootfd, p->path, O_RDONLY | O_DIRECTORY);
		if (fd < 0 || !(d = fdopendir(dup(fd))))
			continue;
		while ((e = readdir(d)) && added < 4096) {
			struct stat st;
			sb_autofree char *child = NULL;
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			child = strcmp(p->path, "/") ? sb_xasprintf("%s/%s", p->path, e->d_name)
						     : sb_xasprintf("/%s", e->d_name);
			if (sb_closure_find(c, child) || fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			repaired_add(s, child, S_ISDIR(st.st_mode), apply, res, list);
			added++;
		}
		closedir(d);
	}
	return added;
}

/* What the slim run looked for and did not find, that the fat rootfs has
 * and the closure lacks; failing that, what it listed (listed_paths). */
static size_t missing_paths(struct slim *s, const struct sb_trace_result *t, const struct sb_closure *c, bool apply,
			    struct sb_slim_result *res, struct sb_strbuf *list)
{
	size_t added = 0;
	for (size_t i = 0; t && i < t->npaths; i++) {
		const struct sb_profile_path *p = &t->paths[i];
		struct stat st;
		int fd;
		if (!(p->flags & SB_PATH_MISSING) || (p->flags & SB_PATH_EXISTS) || sb_closure_find(c, p->path))
			continue;
		if (!strncmp(p->path, "/proc/", 6) || !strncmp(p->path, "/sys/", 5) || !strncmp(p->path, "/dev/", 5))
			continue;
		fd = open_in(s->rootfd, p->path, O_PATH);
		if (fd < 0)
			continue;
		if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		repaired_add(s, p->path, S_ISDIR(st.st_mode), apply, res, list);
		added++;
	}
	return added ? added : listed_paths(s, t, c, apply, res, list);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sb_closure_entry *)a)->path, ((const struct sb_closure_entry *)b)->path);
}

/* Add a recorded profile's entries to a closure (sorted, unique after). */
static void merge_record(struct sb_closure *c, const struct sb_profile_record *r)
{
	size_t n = c->n;
	c->v = sb_xrealloc(c->v, (c->n + r->nentries + 1) * sizeof(*c->v));
	for (size_t i = 0; i < r->nentries; i++) {
		const struct sb_profile_entry *e = &r->entries[i];
		struct sb_closure_entry *d;
		if (!strcmp(e->path, "/"))
			continue;
		d = &c->v[n++];
		memset(d, 0, sizeof(*d));
		d->path = sb_xstrdup(e->path);
		d->target = e->target ? sb_xstrdup(e->target) : NULL;
		d->kind = e->type == 'f' ? SB_CLOSURE_FILE : e->type == 'd' ? SB_CLOSURE_DIR
			: e->type == 'l' ? SB_CLOSURE_SYMLINK : SB_CLOSURE_OTHER;
		d->reasons = SB_KEEP_TRACED;
	}
	qsort(c->v, n, sizeof(*c->v), entry_cmp);
	c->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (c->n && !strcmp(c->v[c->n - 1].path, c->v[i].path)) {
			c->v[c->n - 1].reasons |= c->v[i].reasons;
			free(c->v[i].path);
			free(c->v[i].target);
			continue;
		}
		c->v[c->n++] = c->v[i];
	}
}

static void slim_release(struct slim *s)
{
	if (s->rootfd >= 0)
		close(s->rootfd);
	if (s->view) {
		umount2(s->view, MNT_DETACH);
		free(s->view);
	}
	for (size_t i = 0; i < s->nsnaps; i++)
		free(s->snaps[i]);
	free(s->snaps);
	free(s->entrypoint);
	free(s->cmd);
	free(s->env);
	free(s->ports);
	for (size_t i = 0; i < s->nextra; i++) {
		free(s->extra[i].path);
		free(s->extra[i].target);
	}
	free(s->extra);
	free(s->stage_json);
	sb_manifest_release(&s->m);
	sb_image_config_release(&s->cfg);
	if (s->tmp) {
		sb_rm_rf(AT_FDCWD, s->tmp, NULL);
		free(s->tmp);
	}
}

static int record_fill(struct slim *s, const struct sb_descriptor *fat, const struct sb_probe_report *rep,
		       const struct sb_closure *c, struct sb_slim_result *res, struct sb_error **err)
{
	struct sb_profile_record *r = &res->record;
	const char **paths = sb_xcalloc(c->n + 1, sizeof(char *));
	int rc;

	memcpy(r->source_image, fat->digest, SB_DIGEST_SIZE);
	r->slim_stage = s->stage_json ? sb_xstrdup(s->stage_json) : NULL;
	r->tracer = rep->traced && rep->trace.tracer ? sb_xstrdup(rep->trace.tracer) : NULL;
	r->probes = sb_xcalloc(rep->n + 1, sizeof(char *));
	for (size_t i = 0; i < rep->n; i++)
		r->probes[r->nprobes++] = sb_xstrdup(rep->outcomes[i].name ? rep->outcomes[i].name : "");
	for (size_t i = 0; i < c->n; i++)
		paths[i] = c->v[i].path;
	rc = sb_profile_describe(s->rootfd, paths, c->n, &r->entries, &r->nentries, err);
	free(paths);
	r->repaired = sb_xcalloc(res->nrepaired + 1, sizeof(char *));
	for (size_t i = 0; i < res->nrepaired; i++)
		r->repaired[r->nrepaired++] = sb_xstrdup(res->repaired[i]);
	if (rep->traced) {
		/* seen, and the hot set the tracer let through unobserved */
		uint64_t bits[SB_TRACE_MAX_SYSCALL / 64];
		for (size_t i = 0; i < SB_ARRAY_SIZE(bits); i++)
			bits[i] = rep->trace.syscalls[i] | rep->trace.assumed[i];
		r->syscalls = sb_syscall_names(bits, SB_TRACE_MAX_SYSCALL, &r->nsyscalls);
	}
	else
		r->syscalls = sb_xcalloc(1, sizeof(char *));
	return rc;
}

int sb_slim(struct sb_store *store, const struct sb_descriptor *fat, const struct sb_slim_opts *o,
	    struct sb_slim_result *res, struct sb_error **err)
{
	static unsigned counter;
	struct slim s;
	struct sb_probe_image img;
	struct sb_probe_opts po;
	struct sb_probe_report fat_rep, slim_rep;
	struct sb_closure c;
	struct sb_trace_result w;
	struct sb_build_result br;
	struct sb_manifest sm;
	char **slim_snaps = NULL;
	int rc = -1, max = o->max_rounds > 0 ? o->max_rounds : 3;
	uint64_t t0;

	memset(res, 0, sizeof(*res));
	memset(&s, 0, sizeof(s));
	memset(&fat_rep, 0, sizeof(fat_rep));
	memset(&slim_rep, 0, sizeof(slim_rep));
	memset(&c, 0, sizeof(c));
	memset(&w, 0, sizeof(w));
	memset(&br, 0, sizeof(br));
	memset(&sm, 0, sizeof(sm));
	s.store = store;
	s.o = o;
	s.rootfd = -1;
	if (sb_exec_private_mounts(err) < 0 || sb_store_lock(store, false, err) < 0)
		return -1;
	s.tmp = sb_xasprintf("%s/tmp/slim-%d-%u", store->root, (int)getpid(),
			     __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
	if (sb_mkdir_p(AT_FDCWD, s.tmp, 0700, err) < 0 || load_fat(&s, fat, err) < 0)
		goto out;

	if (!s.entrypoint && !s.cmd && !o->nprobes && !o->profile) {
		res->skipped = true;
		sb_descriptor_copy(&res->manifest, fat);
		memcpy(res->config_digest, s.m.config.digest, SB_DIGEST_SIZE);
		rc = 0;
		goto out;
	}

	/* the fat rootfs, read-only: what the closure is copied from */
	s.view = sb_xasprintf("%s/fat", s.tmp);
	if (mkdir(s.view, 0755) < 0) {
		sb_error_set(err, errno, "mkdir %s", s.view);
		goto out;
	}
	if (s.nsnaps == 0) {
		free(s.view);
		s.view = NULL;
		sb_error_setx(err, EINVAL, "image %s has no layers to slim", fat->digest);
		goto out;
	}
	if (sb_overlay_mount((const char *const *)s.snaps, NULL, NULL, s.view, err) != 0) {
		sb_error_wrap(err, "mount the fat rootfs");
		free(s.view);
		s.view = NULL;
		goto out;
	}
	s.rootfd = open(s.view, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (s.rootfd < 0) {
		sb_error_set(err, errno, "open %s", s.view);
		goto out;
	}

	/* the fat run: traced, unless a recorded profile says what to keep */
	probe_image(&s, (const char *const *)s.snaps, &img);
	probe_opts(&s, o->profile == NULL, &po);
	sb_progress_emit(o->progress, SB_PROGRESS_START, "slim", "[slim] profile, closure, verify", 0, 0, NULL);
	note(&s, "profiling %s under %zu probe(s)%s", fat->digest, o->nprobes, o->nprobes ? "" : " (the defaults)");
	t0 = now_ms();
	if (sb_probe_run(&img, &po, &fat_rep, err) < 0) {
		sb_error_wrap(err, "profile");
		goto out;
	}
	res->fat_ms = now_ms() - t0;
	if (fat_rep.failed) {
		struct sb_strbuf why = SB_STRBUF_INIT;
		for (size_t i = 0; i < fat_rep.n; i++)
			if (fat_rep.outcomes[i].error)
				sb_strbuf_addf(&why, "\n  %s: %s", fat_rep.outcomes[i].name, fat_rep.outcomes[i].error);
		sb_error_setx(err, EINVAL, "%zu probe(s) failed on the built image itself:%s", fat_rep.failed, why.buf);
		sb_strbuf_release(&why);
		goto out;
	}
	res->probes = fat_rep.n;
	if (fat_rep.traced)
		note(&s, "traced with %s: %zu paths", fat_rep.trace.tracer ? fat_rep.trace.tracer : "nothing",
		     fat_rep.trace.npaths);

	for (res->rounds = 1;; res->rounds++) {
		struct sb_closure_opts co;
		struct sb_dpkg_counts counts;
		struct sb_strbuf why = SB_STRBUF_INIT, list = SB_STRBUF_INIT;
		sb_autofree char *dir = sb_xasprintf("%s/slim%d", s.tmp, res->rounds);
		size_t same;

		sb_closure_release(&c);
		free(w.paths);
		working_trace(&s, fat_rep.traced ? &fat_rep.trace : NULL, &w);
		sb_closure_opts_init(&co);
		co.includes = o->includes;
		co.nincludes = o->nincludes;
		/* a recorded profile is the closure itself: only the includes
		 * and what repair adds are derived here */
		if (sb_closure_build(s.rootfd, o->profile && !s.nextra ? NULL : &w, &co, &c, err) < 0)
			goto out;
		if (o->profile)
			merge_record(&c, o->profile);
		if (mkdir(dir, 0755) < 0) {
			sb_error_set(err, errno, "mkdir %s", dir);
			goto out;
		}
		memset(&counts, 0, sizeof(counts));
		if (sb_dpkg_write_status_d(s.rootfd, &c, dir, &counts, err) < 0)
			goto out;
		{
			struct sb_strbuf df = SB_STRBUF_INIT;
			int r = slim_dockerfile(&s, &c, dir, fat->digest, &df, err);
			free(res->dockerfile);
			res->dockerfile = sb_strbuf_detach(&df, NULL);
			if (r < 0)
				goto out;
		}
		note(&s, "round %d: %zu paths kept, %zu of %zu packages", res->rounds, c.n, counts.after, counts.before);
		sb_build_result_release(&br);
		sb_manifest_release(&sm);
		free_snaps(slim_snaps);
		slim_snaps = NULL;
		if (build_slim(&s, res->dockerfile, &br, err) < 0 ||
		    image_snapshots(&s, &br.manifest, &sm, &slim_snaps, err) < 0)
			goto out;
		if (!o->verify) {
			res->verified = 0;
			break;
		}
		probe_image(&s, (const char *const *)slim_snaps, &img);
		probe_opts(&s, true, &po);
		sb_probe_report_release(&slim_rep);
		t0 = now_ms();
		if (sb_probe_run(&img, &po, &slim_rep, err) < 0) {
			sb_error_wrap(err, "verify");
			goto out;
		}
		res->slim_ms = now_ms() - t0;
		same = compare(&fat_rep, &slim_rep, &why);
		res->verified = same;
		if (same == fat_rep.n) {
			sb_strbuf_release(&why);
			note(&s, "verified: %zu of %zu probe(s) answer the same", same, fat_rep.n);
			break;
		}
		if (missing_paths(&s, slim_rep.traced ? &slim_rep.trace : NULL, &c, o->repair && res->rounds < max,
				  res, &list) == 0 ||
		    !o->repair || res->rounds >= max) {
			sb_error_setx(err, EINVAL, "the slim image answers differently (%zu of %zu probe(s) agree):%s%s%s",
				      same, fat_rep.n, why.buf,
				      list.len ? "\npaths the slim run looked for (or listed) that the built image has:"
					       : "\nthe slim run missed no path the built image has, and listed no "
						 "directory it lacks entries of: keep what it needs with --include PATH",
				      list.buf);
			sb_strbuf_release(&why);
			sb_strbuf_release(&list);
			goto out;
		}
		note(&s, "round %d: %zu probe(s) differ; adding what the slim run missed:%s", res->rounds,
		     fat_rep.n - same, list.buf);
		sb_strbuf_release(&why);
		sb_strbuf_release(&list);
	}

	/* figures, the record, the image */
	{
		int vfd = open(s.view, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (vfd >= 0) {
			tree_stats(vfd, &res->fat, 0);
			close(vfd);
		}
	}
	res->fat.compressed = blobs_size(&s.m);
	res->fat.packages = dpkg_packages(s.rootfd);
	for (size_t i = 0; slim_snaps && slim_snaps[i]; i++) {
		/* FROM scratch: the layers hold no whiteouts, and the
		 * status.d layer no file of the closure's */
		int sfd = open(slim_snaps[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd >= 0) {
			tree_stats(sfd, &res->slim, 0);
			res->slim.packages += dpkg_packages(sfd);
			close(sfd);
		}
	}
	res->slim.compressed = blobs_size(&sm);
	if (record_fill(&s, fat, &fat_rep, &c, res, err) < 0)
		goto out;
	sb_descriptor_copy(&res->manifest, &br.manifest);
	memcpy(res->config_digest, br.config_digest, SB_DIGEST_SIZE);
	sb_progress_emit(o->progress, SB_PROGRESS_DONE, "slim", NULL, 0, 0, NULL);
	rc = 0;
out:
	if (rc < 0 && err && *err)
		sb_progress_emit(o->progress, SB_PROGRESS_ERROR, "slim", NULL, 0, 0, (*err)->msg);
	sb_closure_release(&c);
	free(w.paths);
	sb_build_result_release(&br);
	sb_manifest_release(&sm);
	free_snaps(slim_snaps);
	sb_probe_report_release(&fat_rep);
	sb_probe_report_release(&slim_rep);
	slim_release(&s);
	sb_store_unlock(store);
	if (rc < 0)
		sb_slim_result_release(res);
	return rc;
}
