/* The closure: from a trace to the list of paths the slim image keeps.
 * The decisions are in closure.h. Every path is found inside the rootfs
 * with the profiler's walk (paths.c: one component at a time, symlinks
 * recorded as hops and resolved inside the root) or with openat2
 * RESOLVE_IN_ROOT; none leaves it. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <fnmatch.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/closure.h"
#include "runtime/profile/internal.h"

#define DEFAULT_MAX_ENTRIES (1u << 20)
/* Directory depth below an included or kept tree. */
#define MAX_DEPTH 64
/* Configuration read from the rootfs: nsswitch.conf, top_level.txt,
 * RECORD, ld.so.cache. */
#define MAX_CONFIG (16u << 20)

/* A site-packages directory's distributions: which top-level name each
 * *.dist-info or *.egg-info provides. */
struct py_dist {
	char *top;  /* a top-level module or package name */
	char *info; /* absolute path of the metadata directory */
};

struct py_site {
	char *dir;
	struct py_dist *v;
	size_t n, alloc;
};

struct ctx {
	int rootfd;
	const struct sb_closure_opts *opts;
	const struct sb_trace_result *trace;
	size_t max;
	bool full;
	struct sb_pathmap keep; /* flags: enum sb_keep_reasons */
	struct sb_pathmap memo; /* directories and names already looked at */
	struct py_site *sites;
	size_t nsites, asites;
	char **roots; /* ELF objects whose closure is kept */
	size_t nroots, aroots;
	char **unresolved;
	size_t nunresolved, aunresolved;
	unsigned evidence;
	/* the last __pycache__ listed, and what it holds */
	char *pyc_dir;
	char **pyc_names;
	size_t npyc_names;
};

#define open_in_root sb_profile_open_in_root

static char *join(const char *dir, const char *name)
{
	return sb_xasprintf("%s/%s", strcmp(dir, "/") ? dir : "", name);
}

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

static char *dir_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s && s != p ? sb_xstrndup(p, (size_t)(s - p)) : sb_xstrdup("/");
}

static void note(struct ctx *c, char *msg)
{
	c->unresolved = sb_xgrow(c->unresolved, &c->aunresolved, c->nunresolved + 1, sizeof(*c->unresolved));
	c->unresolved[c->nunresolved++] = msg;
}

/* Paths never kept: the runtime's mounts, and the dpkg database that
 * status.d replaces (unless included). */
static bool left_out(const char *p, unsigned reasons)
{
	static const char *const mounts[] = { "/proc/", "/sys/", "/dev/" };
	/* the runtime's (bound over the image's by Docker and podman), and
	 * the dpkg database */
	static const char *const files[] = { "/etc/resolv.conf", "/var/lib/dpkg/status", "/var/lib/dpkg/status-old",
					     "/var/lib/dpkg/available" };
	for (size_t i = 0; i < SB_ARRAY_SIZE(mounts); i++)
		if (has_prefix(p, mounts[i]))
			return true;
	if (reasons & SB_KEEP_INCLUDE)
		return false;
	for (size_t i = 0; i < SB_ARRAY_SIZE(files); i++)
		if (!strcmp(p, files[i]))
			return true;
	return has_prefix(p, "/var/lib/dpkg/info/");
}

static void keep(struct ctx *c, const char *p, unsigned reasons)
{
	size_t len = strlen(p);
	if (len <= 1 || p[0] != '/' || left_out(p, reasons))
		return;
	if (c->keep.n >= c->max && !sb_pathmap_get(&c->keep, p)) {
		c->full = true;
		return;
	}
	sb_pathmap_add(&c->keep, p, len, reasons, NULL);
}

/* Walk path (following its last component unless nofollow) and keep it
 * with every symlink hop met. Returns 0 when it exists (*final, when
 * non-NULL, gets the resolved path; *is_dir whether a directory), else
 * 1. */
static int keep_walk(struct ctx *c, const char *path, unsigned reasons, bool nofollow, struct sb_strbuf *final,
		     bool *is_dir)
{
	struct sb_pathmap m;
	struct sb_walk w = { c->rootfd, &m, 0, 0, NULL, NULL };
	struct sb_strbuf res = SB_STRBUF_INIT;
	int r;

	sb_pathmap_init(&m);
	r = sb_walk_path(&w, path, nofollow ? SB_WALK_NOFOLLOW : 0, 0, &res);
	if (r == 0) {
		const struct sb_profile_path *e = sb_pathmap_get(&m, res.buf);
		for (size_t i = 0; i < m.n; i++)
			if (m.v[i].flags & SB_PATH_EXISTS)
				keep(c, m.v[i].path, reasons);
		if (is_dir)
			*is_dir = e && (e->flags & SB_PATH_DIR) && !(e->flags & SB_PATH_SYMLINK);
		if (final) {
			sb_strbuf_reset(final);
			sb_strbuf_add(final, res.buf, res.len);
		}
	}
	sb_pathmap_release(&m);
	sb_strbuf_release(&res);
	return r == 0 ? 0 : 1;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the directory abs (resolved, symlink-free), sorted; NULL
 * with *n 0 when it cannot be read. */
static char **list_dir(struct ctx *c, const char *abs, size_t *n)
{
	int fd = open_in_root(c->rootfd, abs, O_RDONLY | O_DIRECTORY, true);
	char **names = NULL;
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*n = 0;
	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return NULL;
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		names = sb_xgrow(names, &alloc, *n + 1, sizeof(*names));
		names[(*n)++] = sb_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(names, *n, sizeof(*names), name_cmp);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static bool lstat_in_root(struct ctx *c, const char *abs, struct stat *st)
{
	sb_autoclose int fd = open_in_root(c->rootfd, abs, O_PATH, true);
	return fd >= 0 && fstat(fd, st) == 0;
}

/* Keep the resolved directory abs and everything below it. Symlinks are
 * kept with their targets (not descended into). */
static void keep_tree(struct ctx *c, const char *abs, unsigned reasons, int depth)
{
	size_t n;
	char **names;

	keep(c, abs, reasons);
	if (depth > MAX_DEPTH || c->full)
		return;
	names = list_dir(c, abs, &n);
	for (size_t i = 0; i < n && !c->full; i++) {
		sb_autofree char *p = join(abs, names[i]);
		struct stat st;
		if (!lstat_in_root(c, p, &st))
			continue;
		if (S_ISLNK(st.st_mode))
			keep_walk(c, p, reasons, false, NULL, NULL);
		else if (S_ISDIR(st.st_mode))
			keep_tree(c, p, reasons, depth + 1);
		else
			keep(c, p, reasons);
	}
	free_names(names, n);
}

/* Keep path with its hops, and below it when it is a directory. */
static void keep_walk_tree(struct ctx *c, const char *path, unsigned reasons)
{
	struct sb_strbuf final = SB_STRBUF_INIT;
	bool is_dir = false;
	if (keep_walk(c, path, reasons, false, &final, &is_dir) == 0 && is_dir)
		keep_tree(c, final.buf, reasons, 0);
	sb_strbuf_release(&final);
}

static bool is_elf(struct ctx *c, const char *abs)
{
	sb_autoclose int pfd = open_in_root(c->rootfd, abs, O_PATH, true);
	sb_autoclose int fd = -1;
	unsigned char magic[4];
	struct stat st;

	if (pfd < 0 || fstat(pfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 64)
		return false;
	fd = open_in_root(c->rootfd, abs, O_RDONLY | O_NONBLOCK | O_NOCTTY, true);
	return fd >= 0 && pread(fd, magic, 4, 0) == 4 && !memcmp(magic, "\177ELF", 4);
}

static void add_root(struct ctx *c, const char *path)
{
	c->roots = sb_xgrow(c->roots, &c->aroots, c->nroots + 1, sizeof(*c->roots));
	c->roots[c->nroots++] = sb_xstrdup(path);
}

static void clear_roots(struct ctx *c)
{
	for (size_t i = 0; i < c->nroots; i++)
		free(c->roots[i]);
	c->nroots = 0;
}

/* Keep the ELF closure of roots[0..n). A malformed object fails
 * sb_elf_closure as a whole: the call is then split until the culprits
 * are alone, and they are noted and kept without a closure. */
static void keep_elf(struct ctx *c, char **roots, size_t n, unsigned reasons)
{
	struct sb_elf_closure ec;
	struct sb_error *e = NULL;

	if (!n)
		return;
	if (sb_elf_closure(c->rootfd, (const char *const *)roots, n, c->opts->elf, &ec, &e) < 0) {
		if (n == 1) {
			note(c, sb_xasprintf("%s", e->msg));
			sb_error_free(e);
			return;
		}
		sb_error_free(e);
		keep_elf(c, roots, n / 2, reasons);
		keep_elf(c, roots + n / 2, n - n / 2, reasons);
		return;
	}
	for (size_t i = 0; i < ec.npaths; i++)
		if (ec.paths[i].flags & SB_PATH_EXISTS)
			keep(c, ec.paths[i].path, reasons);
	for (size_t i = 0; i < ec.nunresolved; i++)
		note(c, sb_steal(&ec.unresolved[i]));
	sb_elf_closure_release(&ec);
}

/* ---- evidence ---- */

static const char *const nss_files[] = { "/etc/nsswitch.conf", "/etc/hosts",    "/etc/resolv.conf",
					 "/etc/host.conf",     "/etc/gai.conf", "/etc/services",
					 "/etc/protocols" };

static unsigned trace_evidence(const struct sb_trace_result *t)
{
	unsigned ev = 0;
	if (!t)
		return 0;
	if (sb_trace_syscall_seen(t, SYS_socket) || sb_trace_syscall_seen(t, SYS_connect))
		ev |= SB_KEEP_NSS;
	for (size_t i = 0; i < t->npaths; i++) {
		const char *p = t->paths[i].path, *b = base_of(p);
		for (size_t j = 0; j < SB_ARRAY_SIZE(nss_files); j++)
			if (!strcmp(p, nss_files[j]))
				ev |= SB_KEEP_NSS;
		if (has_prefix(b, "libnss_"))
			ev |= SB_KEEP_NSS;
		if (!strcmp(p, "/etc/ssl") || has_prefix(p, "/etc/ssl/") || !strcmp(p, "/usr/lib/ssl") ||
		    has_prefix(p, "/usr/lib/ssl/") || has_prefix(p, "/etc/pki/") ||
		    has_prefix(p, "/usr/share/ca-certificates/"))
			ev |= SB_KEEP_TLS;
		if ((t->paths[i].flags & SB_PATH_EXEC) && (!strcmp(b, "node") || !strcmp(b, "nodejs")))
			ev |= SB_KEEP_TLS;
		if (!strcmp(p, "/etc/localtime") || !strcmp(p, "/etc/timezone") || !strcmp(p, "/usr/share/zoneinfo") ||
		    has_prefix(p, "/usr/share/zoneinfo/"))
			ev |= SB_KEEP_ZONEINFO;
		if (has_prefix(b, "gconv-modules") && strstr(p, "/gconv/"))
			ev |= SB_KEEP_GCONV;
	}
	return ev;
}

static bool tls_library(const char *p)
{
	const char *b = base_of(p);
	return has_prefix(b, "libssl.so") || has_prefix(b, "libgnutls") || has_prefix(b, "libnss3.so") ||
	       has_prefix(b, "_ssl.");
}

/* ---- NSS ---- */

/* Where the loader's dlopen finds an NSS module: ld.so.cache, then the
 * default directories. */
static void find_module(struct ctx *c, const struct sb_ldcache *cache, const char *soname)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64",
					    "/usr/lib64", "/lib", "/usr/lib" };
	struct sb_strbuf final = SB_STRBUF_INIT;

	for (size_t i = 0; i < cache->n; i++) {
		if (!strcmp(cache->v[i].name, soname) &&
		    keep_walk(c, cache->v[i].path, SB_KEEP_NSS, false, &final, NULL) == 0) {
			add_root(c, final.buf);
			goto out;
		}
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(dirs); i++) {
		sb_autofree char *p = join(dirs[i], soname);
		if (keep_walk(c, p, SB_KEEP_NSS, false, &final, NULL) == 0) {
			add_root(c, final.buf);
			break;
		}
	}
out:
	sb_strbuf_release(&final);
}

static void keep_nss(struct ctx *c)
{
	static const char *const files[] = { "/etc/nsswitch.conf", "/etc/hosts",    "/etc/services", "/etc/protocols",
					     "/etc/host.conf",     "/etc/gai.conf", "/etc/networks" };
	struct sb_strbuf conf = SB_STRBUF_INIT;
	struct sb_ldcache cache = { 0 };
	char **names = NULL;
	size_t n = 0, alloc = 0;

	for (size_t i = 0; i < SB_ARRAY_SIZE(files); i++)
		keep_walk(c, files[i], SB_KEEP_NSS, false, NULL, NULL);
	names = sb_xgrow(names, &alloc, 2, sizeof(*names));
	names[n++] = sb_xstrdup("files");
	names[n++] = sb_xstrdup("dns");
	/* "db: service [STATUS=action] service ...  # comment" */
	if (sb_profile_read_in_root(c->rootfd, "/etc/nsswitch.conf", MAX_CONFIG, &conf) == 0) {
		bool action = false;
		for (char *line = conf.buf; *line;) {
			size_t len = strcspn(line, "\n");
			char *end = line + len, *p = memchr(line, ':', len), *hash = memchr(line, '#', len);
			action = false;
			if (hash && (!p || hash < p))
				p = NULL;
			if (hash)
				end = hash;
			for (p = p ? p + 1 : end; p < end;) {
				size_t w;
				p += strspn(p, " \t");
				w = strcspn(p, " \t\n#");
				if (p + w > end)
					w = (size_t)(end - p);
				if (!w)
					break;
				if (*p == '[')
					action = true;
				if (!action && w < 64) {
					names = sb_xgrow(names, &alloc, n + 1, sizeof(*names));
					names[n++] = sb_xstrndup(p, w);
				}
				if (action && memchr(p, ']', w))
					action = false;
				p += w;
			}
			line += len;
			if (*line)
				line++;
		}
	}
	if (sb_profile_read_in_root(c->rootfd, "/etc/ld.so.cache", MAX_CONFIG, &conf) == 0)
		sb_ldcache_parse(conf.buf, conf.len, &cache, NULL);
	qsort(names, n, sizeof(*names), name_cmp);
	clear_roots(c);
	for (size_t i = 0; i < n; i++) {
		sb_autofree char *so = NULL;
		if (i && !strcmp(names[i], names[i - 1]))
			continue;
		so = sb_xasprintf("libnss_%s.so.2", names[i]);
		find_module(c, &cache, so);
	}
	keep_elf(c, c->roots, c->nroots, SB_KEEP_NSS | SB_KEEP_ELF);
	clear_roots(c);
	free_names(names, n);
	sb_ldcache_release(&cache);
	sb_strbuf_release(&conf);
}

/* ---- Python ---- */

static void py_site_index(struct ctx *c, struct py_site *s)
{
	struct sb_strbuf text = SB_STRBUF_INIT;
	size_t n;
	char **names = list_dir(c, s->dir, &n);

	for (size_t i = 0; i < n; i++) {
		const char *name = names[i];
		sb_autofree char *info = NULL, *dist = NULL;
		bool listed = false;
		if (!has_suffix(name, ".dist-info") && !has_suffix(name, ".egg-info"))
			continue;
		info = join(s->dir, name);
		/* top_level.txt names the top-level modules; RECORD lists every
		 * file installed, the first component of each is one. */
		for (int pass = 0; pass < 2 && !listed; pass++) {
			sb_autofree char *f = join(info, pass ? "RECORD" : "top_level.txt");
			if (sb_profile_read_in_root(c->rootfd, f, MAX_CONFIG, &text) < 0)
				continue;
			for (char *line = text.buf; *line;) {
				size_t len = strcspn(line, pass ? ",/\n" : "\n");
				char *next = line + strcspn(line, "\n");
				if (pass && line[len] != '/') /* a top-level module file */
					len = strcspn(line, ".,\n");
				while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
					len--;
				if (len && len < 256 && line[0] != '.' && !memchr(line, '.', len) &&
				    strncmp(line, "__pycache__", len) != 0) {
					s->v = sb_xgrow(s->v, &s->alloc, s->n + 1, sizeof(*s->v));
					s->v[s->n++] = (struct py_dist){ sb_xstrndup(line, len), sb_xstrdup(info) };
					listed = true;
				}
				line = *next ? next + 1 : next;
			}
		}
		/* PEP 503 normalisation of the distribution's name, which
		 * usually is the package's */
		dist = sb_xstrndup(name, strcspn(name, "-"));
		if (has_suffix(dist, ".dist-info") || has_suffix(dist, ".egg-info"))
			*strrchr(dist, '.') = '\0';
		for (char *p = dist; *p; p++)
			*p = *p == '-' || *p == '.' ? '_' : (char)((*p >= 'A' && *p <= 'Z') ? *p - 'A' + 'a' : *p);
		s->v = sb_xgrow(s->v, &s->alloc, s->n + 1, sizeof(*s->v));
		s->v[s->n++] = (struct py_dist){ sb_steal(&dist), sb_xstrdup(info) };
	}
	free_names(names, n);
	sb_strbuf_release(&text);
}

/* The path below site-packages or dist-packages: keep the metadata of the
 * distribution owning its top-level name. */
static void py_dist_info(struct ctx *c, const char *p)
{
	const char *m = strstr(p, "/site-packages/");
	sb_autofree char *dir = NULL, *top = NULL, *norm = NULL, *key = NULL;
	struct py_site *s = NULL;
	size_t len;

	if (!m)
		m = strstr(p, "/dist-packages/");
	if (!m)
		return;
	dir = sb_xstrndup(p, (size_t)(m - p) + 14);
	m += 15;
	len = strcspn(m, "/");
	if (!m[len]) /* a module file: "six.py", "_cffi.cpython-311-x86_64-linux-gnu.so" */
		len = strcspn(m, ".");
	if (len == 11 && !strncmp(m, "__pycache__", 11)) { /* a module's .pyc */
		m += 12;
		len = strcspn(m, "./");
	}
	if (!len)
		return;
	top = sb_xstrndup(m, len);
	if (has_suffix(m, ".dist-info") || strstr(m, ".dist-info/") || strstr(m, ".egg-info"))
		return;
	key = sb_xasprintf("py:%s/%s", dir, top);
	if (sb_pathmap_get(&c->memo, key))
		return;
	sb_pathmap_add(&c->memo, key, strlen(key), 0, NULL);
	for (size_t i = 0; i < c->nsites; i++)
		if (!strcmp(c->sites[i].dir, dir))
			s = &c->sites[i];
	if (!s) {
		c->sites = sb_xgrow(c->sites, &c->asites, c->nsites + 1, sizeof(*c->sites));
		s = &c->sites[c->nsites++];
		*s = (struct py_site){ sb_steal(&dir), NULL, 0, 0 };
		py_site_index(c, s);
	}
	norm = sb_xstrdup(top);
	for (char *q = norm; *q; q++)
		*q = *q == '-' || *q == '.' ? '_' : (char)((*q >= 'A' && *q <= 'Z') ? *q - 'A' + 'a' : *q);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].top, top) || !strcmp(s->v[i].top, norm))
			keep_walk_tree(c, s->v[i].info, SB_KEEP_PYTHON);
}

/* NAME.*.pyc in the __pycache__ of dir, for the module NAME. */
static void py_keep_pyc(struct ctx *c, const char *dir, const char *name, size_t len)
{
	sb_autofree char *cache = join(dir, "__pycache__");
	if (!c->pyc_dir || strcmp(c->pyc_dir, cache)) {
		free_names(c->pyc_names, c->npyc_names);
		free(c->pyc_dir);
		c->pyc_dir = sb_xstrdup(cache);
		c->pyc_names = list_dir(c, cache, &c->npyc_names);
	}
	for (size_t i = 0; i < c->npyc_names; i++) {
		const char *f = c->pyc_names[i];
		if (!strncmp(f, name, len) && f[len] == '.' && has_suffix(f, ".pyc")) {
			sb_autofree char *p = join(cache, f);
			keep(c, p, SB_KEEP_PYTHON);
		}
	}
}

/* Both halves of the module NAME in dir: NAME.py and its .pyc files. */
static void py_keep_module(struct ctx *c, const char *dir, const char *name, size_t len)
{
	sb_autofree char *mod = sb_xstrndup(name, len);
	sb_autofree char *py = sb_xasprintf("%s/%s.py", strcmp(dir, "/") ? dir : "", mod);
	keep_walk(c, py, SB_KEEP_PYTHON, false, NULL, NULL);
	py_keep_pyc(c, dir, name, len);
}

/* Every package above a module: dir and up while each holds an
 * __init__.py (or only its .pyc). */
static void py_packages(struct ctx *c, const char *start)
{
	sb_autofree char *dir = sb_xstrdup(start);
	while (strcmp(dir, "/")) {
		sb_autofree char *key = sb_xasprintf("pkg:%s", dir);
		sb_autofree char *init = join(dir, "__init__.py");
		sb_autofree char *up = NULL;
		struct stat st;
		if (sb_pathmap_get(&c->memo, key))
			return;
		sb_pathmap_add(&c->memo, key, strlen(key), 0, NULL);
		py_keep_pyc(c, dir, "__init__", 8);
		if (lstat_in_root(c, init, &st))
			keep(c, init, SB_KEEP_PYTHON);
		else if (!c->pyc_names || !c->npyc_names)
			return;
		else {
			bool any = false;
			for (size_t i = 0; i < c->npyc_names; i++)
				any |= has_prefix(c->pyc_names[i], "__init__.");
			if (!any)
				return;
		}
		up = dir_of(dir);
		free(dir);
		dir = sb_steal(&up);
	}
}

static void python_aware(struct ctx *c, const char *p)
{
	const char *b = base_of(p);
	sb_autofree char *dir = dir_of(p);
	size_t len = strcspn(b, ".");

	if (has_suffix(b, ".py")) {
		py_keep_module(c, dir, b, strlen(b) - 3);
	} else if (has_suffix(b, ".pyc")) {
		if (!strcmp(base_of(dir), "__pycache__")) {
			char *up = dir_of(dir);
			free(dir);
			dir = up;
		}
		py_keep_module(c, dir, b, len);
	} else if (!(has_suffix(b, ".so") && (strstr(b, ".cpython-") || strstr(b, ".abi3.")))) {
		return;
	}
	c->evidence |= SB_KEEP_PYTHON;
	py_packages(c, dir);
	py_dist_info(c, p);
}

/* ---- Node ---- */

static void node_aware(struct ctx *c, const char *p)
{
	static const char *const exts[] = { ".js", ".mjs", ".cjs", ".json", ".node" };
	sb_autofree char *dir = NULL;
	bool js = strstr(p, "/node_modules/") != NULL;

	for (size_t i = 0; i < SB_ARRAY_SIZE(exts) && !js; i++)
		js = has_suffix(p, exts[i]);
	if (!js)
		return;
	c->evidence |= SB_KEEP_NODE;
	dir = dir_of(p);
	for (;;) {
		sb_autofree char *key = sb_xasprintf("node:%s", dir);
		sb_autofree char *pj = join(dir, "package.json");
		char *up;
		if (sb_pathmap_get(&c->memo, key))
			return;
		sb_pathmap_add(&c->memo, key, strlen(key), 0, NULL);
		keep_walk(c, pj, SB_KEEP_NODE, false, NULL, NULL);
		if (!strcmp(dir, "/"))
			return;
		up = dir_of(dir);
		free(dir);
		dir = up;
	}
}

/* ---- --include ---- */

static bool is_glob(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* Match comps[i..n) below the resolved directory dir. */
static void include_below(struct ctx *c, const char *dir, char **comps, size_t i, size_t n, int depth, bool *hit)
{
	size_t nn;
	char **names;

	if (depth > MAX_DEPTH || c->full)
		return;
	if (!strcmp(comps[i], "**")) {
		while (i + 1 < n && !strcmp(comps[i + 1], "**"))
			i++;
		if (i + 1 == n) {
			*hit = true;
			keep_tree(c, dir, SB_KEEP_INCLUDE, depth);
			return;
		}
		include_below(c, dir, comps, i + 1, n, depth, hit);
	}
	names = list_dir(c, dir, &nn);
	for (size_t k = 0; k < nn && !c->full; k++) {
		sb_autofree char *p = join(dir, names[k]);
		struct stat st;
		if (!lstat_in_root(c, p, &st))
			continue;
		if (!strcmp(comps[i], "**")) {
			if (S_ISDIR(st.st_mode))
				include_below(c, p, comps, i, n, depth + 1, hit);
			continue;
		}
		if (fnmatch(comps[i], names[k], 0) != 0)
			continue;
		if (i + 1 == n) {
			*hit = true;
			keep_walk_tree(c, p, SB_KEEP_INCLUDE);
		} else if (S_ISDIR(st.st_mode)) {
			include_below(c, p, comps, i + 1, n, depth + 1, hit);
		} else if (S_ISLNK(st.st_mode)) {
			struct sb_strbuf final = SB_STRBUF_INIT;
			bool is_dir = false;
			if (keep_walk(c, p, SB_KEEP_INCLUDE, false, &final, &is_dir) == 0 && is_dir)
				include_below(c, final.buf, comps, i + 1, n, depth + 1, hit);
			sb_strbuf_release(&final);
		}
	}
	free_names(names, nn);
}

static int include(struct ctx *c, const char *pattern, struct sb_error **err)
{
	sb_autofree char *copy = sb_xstrdup(pattern);
	struct sb_strbuf prefix = SB_STRBUF_INIT, final = SB_STRBUF_INIT;
	char **comps = NULL;
	size_t n = 0, alloc = 0, lit = 0;
	bool hit = false, is_dir = false;
	int ret = -1;

	if (pattern[0] != '/') {
		sb_error_setx(err, EINVAL, "--include %s: not an absolute path", pattern);
		goto out;
	}
	for (char *s = copy; *s;) {
		size_t len = strcspn(s, "/");
		if (len && !(len == 1 && s[0] == '.')) {
			if (len == 2 && s[0] == '.' && s[1] == '.') {
				sb_error_setx(err, EINVAL, "--include %s: \"..\" is not allowed", pattern);
				goto out;
			}
			comps = sb_xgrow(comps, &alloc, n + 1, sizeof(*comps));
			comps[n++] = s;
		}
		s += len;
		if (*s)
			*s++ = '\0';
	}
	while (lit < n && !is_glob(comps[lit])) {
		sb_strbuf_addc(&prefix, '/');
		sb_strbuf_adds(&prefix, comps[lit]);
		lit++;
	}
	if (!prefix.len)
		sb_strbuf_addc(&prefix, '/');
	if (keep_walk(c, prefix.buf, SB_KEEP_INCLUDE, false, &final, &is_dir) == 0) {
		if (lit == n) {
			hit = true;
			if (is_dir)
				keep_tree(c, final.buf, SB_KEEP_INCLUDE, 0);
		} else if (is_dir || !strcmp(final.buf, "/")) {
			include_below(c, final.buf, comps, lit, n, 0, &hit);
		}
	}
	if (!hit)
		note(c, sb_xasprintf("include %s: no match", pattern));
	ret = 0;
out:
	free(comps);
	sb_strbuf_release(&prefix);
	sb_strbuf_release(&final);
	return ret;
}

/* ---- assembly ---- */

void sb_closure_opts_init(struct sb_closure_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static void keep_traced(struct ctx *c)
{
	const struct sb_trace_result *t = c->trace;
	for (size_t i = 0; t && i < t->npaths; i++) {
		const struct sb_profile_path *p = &t->paths[i];
		if (!(p->flags & SB_PATH_EXISTS) || left_out(p->path, 0))
			continue;
		keep(c, p->path, SB_KEEP_TRACED);
		if (p->flags & (SB_PATH_SYMLINK | SB_PATH_DIR))
			continue;
		if ((p->flags & SB_PATH_EXEC) || is_elf(c, p->path))
			add_root(c, p->path);
	}
	keep_elf(c, c->roots, c->nroots, SB_KEEP_ELF);
	clear_roots(c);
	for (size_t i = 0; t && i < t->npaths; i++) {
		const struct sb_profile_path *p = &t->paths[i];
		if (!(p->flags & SB_PATH_EXISTS) || (p->flags & (SB_PATH_SYMLINK | SB_PATH_DIR)) ||
		    left_out(p->path, 0))
			continue;
		python_aware(c, p->path);
		node_aware(c, p->path);
	}
}

static void keep_evidence(struct ctx *c)
{
	static const char *const always[] = { "/etc/passwd", "/etc/group",      "/etc/nsswitch.conf",
					      "/etc/hosts",  "/etc/os-release", "/etc/ld.so.cache",
					      "/tmp" };
	static const char *const tls[] = { "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/cert.pem",
					   "/etc/ssl/openssl.cnf",
					   "/usr/lib/ssl/openssl.cnf",
					   "/usr/lib/ssl/cert.pem",
					   "/usr/lib/ssl/certs",
					   "/etc/pki/tls/certs/ca-bundle.crt" };
	static const char *const zones[] = { "/etc/localtime", "/etc/timezone" };

	for (size_t i = 0; i < SB_ARRAY_SIZE(always); i++)
		keep_walk(c, always[i], SB_KEEP_ALWAYS, false, NULL, NULL);
	c->evidence |= trace_evidence(c->trace);
	if (c->evidence & SB_KEEP_NSS)
		keep_nss(c);
	for (size_t i = 0; i < c->keep.n && !(c->evidence & SB_KEEP_TLS); i++)
		if (tls_library(c->keep.v[i].path))
			c->evidence |= SB_KEEP_TLS;
	if (c->evidence & SB_KEEP_TLS)
		for (size_t i = 0; i < SB_ARRAY_SIZE(tls); i++)
			keep_walk(c, tls[i], SB_KEEP_TLS, false, NULL, NULL);
	if (c->evidence & SB_KEEP_ZONEINFO) {
		for (size_t i = 0; i < SB_ARRAY_SIZE(zones); i++)
			keep_walk(c, zones[i], SB_KEEP_ZONEINFO, false, NULL, NULL);
		keep_walk_tree(c, "/usr/share/zoneinfo", SB_KEEP_ZONEINFO);
	}
	if ((c->evidence & SB_KEEP_GCONV) && c->trace) {
		for (size_t i = 0; i < c->trace->npaths; i++) {
			const char *p = c->trace->paths[i].path;
			sb_autofree char *dir = NULL, *key = NULL;
			if (!has_prefix(base_of(p), "gconv-modules") || !strstr(p, "/gconv/"))
				continue;
			dir = sb_xstrndup(p, (size_t)(strstr(p, "/gconv/") - p) + 6);
			key = sb_xasprintf("gconv:%s", dir);
			if (sb_pathmap_get(&c->memo, key))
				continue;
			sb_pathmap_add(&c->memo, key, strlen(key), 0, NULL);
			{
				sb_autofree char *a = join(dir, "gconv-modules");
				sb_autofree char *b = join(dir, "gconv-modules.cache");
				sb_autofree char *d = join(dir, "gconv-modules.d");
				keep_walk(c, a, SB_KEEP_GCONV, false, NULL, NULL);
				keep_walk(c, b, SB_KEEP_GCONV, false, NULL, NULL);
				keep_walk_tree(c, d, SB_KEEP_GCONV);
			}
		}
	}
}

/* Every directory above every kept path. Each entry's ancestors are
 * added up to the first already kept, which is itself handled in turn. */
static void keep_parents(struct ctx *c)
{
	for (size_t i = 0; i < c->keep.n; i++) {
		sb_autofree char *p = sb_xstrdup(c->keep.v[i].path);
		for (char *s = strrchr(p, '/'); s && s != p; s = strrchr(p, '/')) {
			struct sb_profile_path *e;
			*s = '\0';
			e = sb_pathmap_get(&c->keep, p);
			if (e) {
				e->flags |= SB_KEEP_PARENT;
				break;
			}
			sb_pathmap_add(&c->keep, p, strlen(p), SB_KEEP_PARENT, NULL);
		}
	}
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sb_closure_entry *)a)->path, ((const struct sb_closure_entry *)b)->path);
}

/* Each kept path as it is in the rootfs now: its type and link target.
 * What is gone (or behind a mount) is dropped. */
static void finish(struct ctx *c, struct sb_closure *out)
{
	size_t alloc = 0;
	for (size_t i = 0; i < c->keep.n; i++) {
		struct sb_profile_path *k = &c->keep.v[i];
		sb_autoclose int fd = open_in_root(c->rootfd, k->path, O_PATH, true);
		struct sb_closure_entry *e;
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0)
			continue;
		out->v = sb_xgrow(out->v, &alloc, out->n + 1, sizeof(*out->v));
		e = &out->v[out->n++];
		*e = (struct sb_closure_entry){ sb_steal(&k->path), NULL, SB_CLOSURE_OTHER, k->flags };
		if (S_ISREG(st.st_mode)) {
			e->kind = SB_CLOSURE_FILE;
		} else if (S_ISDIR(st.st_mode)) {
			e->kind = SB_CLOSURE_DIR;
		} else if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX + 1];
			ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
			e->kind = SB_CLOSURE_SYMLINK;
			target[n > 0 ? n : 0] = '\0';
			e->target = sb_xstrdup(target);
		}
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), entry_cmp);
}

static void ctx_release(struct ctx *c)
{
	sb_pathmap_release(&c->keep);
	sb_pathmap_release(&c->memo);
	for (size_t i = 0; i < c->nsites; i++) {
		for (size_t j = 0; j < c->sites[i].n; j++) {
			free(c->sites[i].v[j].top);
			free(c->sites[i].v[j].info);
		}
		free(c->sites[i].v);
		free(c->sites[i].dir);
	}
	free(c->sites);
	clear_roots(c);
	free(c->roots);
	for (size_t i = 0; i < c->nunresolved; i++)
		free(c->unresolved[i]);
	free(c->unresolved);
	free_names(c->pyc_names, c->npyc_names);
	free(c->pyc_dir);
}

int sb_closure_build(int rootfd, const struct sb_trace_result *trace, const struct sb_closure_opts *opts,
		     struct sb_closure *out, struct sb_error **err)
{
	struct sb_closure_opts defaults;
	struct ctx c;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!opts) {
		sb_closure_opts_init(&defaults);
		opts = &defaults;
	}
	memset(&c, 0, sizeof(c));
	c.rootfd = rootfd;
	c.opts = opts;
	c.trace = trace;
	c.max = opts->max_entries ? opts->max_entries : DEFAULT_MAX_ENTRIES;
	sb_pathmap_init(&c.keep);
	sb_pathmap_init(&c.memo);

	keep_traced(&c);
	keep_evidence(&c);
	for (size_t i = 0; i < opts->nincludes; i++)
		if (include(&c, opts->includes[i], err) < 0)
			goto out;
	keep_parents(&c);
	if (c.full) {
		sb_error_setx(err, E2BIG, "closure: more than %zu paths", c.max);
		goto out;
	}
	finish(&c, out);
	out->unresolved = sb_steal(&c.unresolved);
	out->nunresolved = c.nunresolved;
	c.nunresolved = 0;
	out->evidence = c.evidence;
	ret = 0;
out:
	ctx_release(&c);
	return ret;
}

void sb_closure_release(struct sb_closure *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].target);
	}
	free(c->v);
	for (size_t i = 0; i < c->nunresolved; i++)
		free(c->unresolved[i]);
	free(c->unresolved);
	memset(c, 0, sizeof(*c));
}

const struct sb_closure_entry *sb_closure_find(const struct sb_closure *c, const char *path)
{
	struct sb_closure_entry key = { (char *)path, NULL, SB_CLOSURE_OTHER, 0 };
	return c->n ? bsearch(&key, c->v, c->n, sizeof(*c->v), entry_cmp) : NULL;
}
