/* Reading COPY sources: resolving a source word in its root (cleaned,
 * its own symlinks followed, wildcards as fsutil's ResolveWildcards),
 * and collecting what it holds in the order fsutil copies it, with
 * .dockerignore and --exclude applied. A left-out directory comes along
 * only as the parent of something kept, as the BuildKit client sends the
 * context. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/utf8.h"
#include "runtime/exec/copy_impl.h"
#include "runtime/layer/internal.h"

/* ---- paths ---- */

int sb_copy_open_in_root(int rootfd, const char *rel, int flags, bool follow)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
	};
	return (int)syscall(SYS_openat2, rootfd, *rel ? rel : ".", &how, sizeof(how));
}

int sb_copy_open_item(struct copier *c, const struct item *it, int flags)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
	};
	sb_autofree char *pivot = NULL;
	sb_autoclose int pfd = -1;
	const char *below;
	int fd;

	if (!it->nofollow)
		return sb_copy_open_in_root(c->spec->src_fd, it->path, flags, true);
	/* dockerfile2llb turns a --parents source into a copy of its pivot
	 * (followed, as any source) with the rest as an include pattern of
	 * fsutil's walk: no symlink below the pivot is followed, and one
	 * named last is copied as a symlink. */
	pivot = sb_xstrndup(it->path, it->pivot_len);
	below = it->path + it->pivot_len;
	while (*below == '/')
		below++;
	pfd = sb_copy_open_in_root(c->spec->src_fd, pivot, O_PATH | O_DIRECTORY, true);
	if (pfd < 0)
		return -1;
	fd = (int)syscall(SYS_openat2, pfd, *below ? below : ".", &how, sizeof(how));
	return fd;
}

/* p cleaned against "/", without the leading "/": "" is the root. */
char *sb_copy_root_clean(const char *p)
{
	sb_autofree char *abs = sb_xasprintf("/%s", p);
	char *c = sb_go_clean(abs);
	memmove(c, c + 1, strlen(c));
	return c;
}

char *sb_copy_join(const char *a, const char *b)
{
	if (!*a)
		return sb_xstrdup(b);
	if (!*b)
		return sb_xstrdup(a);
	return sb_xasprintf("%s/%s", a, b);
}

char *sb_copy_dir_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? sb_xstrndup(p, (size_t)(s - p)) : sb_xstrdup("");
}

const char *sb_copy_base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

void sb_copy_quote(struct sb_strbuf *sb, const char *s)
{
	sb_strbuf_reset(sb);
	sb_go_quote(sb, s, strlen(s));
}

/* ---- reading the source ---- */

void sb_copy_tree_release(struct tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->v[i].rel);
		free(t->v[i].link);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dirfd, sorted as Go's os.ReadDir sorts them. */
static int list_dir(int dirfd, const char *what, char ***out, size_t *n, struct sb_error **err)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	size_t alloc = 0;
	struct dirent *de;
	DIR *d;

	*out = NULL;
	*n = 0;
	if (fd < 0)
		return sb_error_set(err, errno, "open %s", what);
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return sb_error_set(err, errno, "open %s", what);
	}
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		*out = sb_xgrow(*out, &alloc, *n + 1, sizeof(**out));
		(*out)[(*n)++] = sb_xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), name_cmp);
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Whether a path is left out: .dockerignore'd (ctx, the context path)
 * or --exclude'd (ex, relative to the source; NULL: not checked). *dive
 * says whether a left-out directory may still hold something kept. */
static bool left_out(const struct copier *c, const char *ctx, const char *ex, bool *dive)
{
	bool out = false;
	*dive = false;
	if (ctx && c->ignore && sb_patterns_match(c->ignore, ctx)) {
		out = true;
		*dive = sb_patterns_may_include_below(c->ignore, ctx);
	}
	if (ex && c->excludes && sb_patterns_match(c->excludes, ex)) {
		bool d = sb_patterns_may_include_below(c->excludes, ex);
		*dive = out ? *dive && d : d;
		out = true;
	}
	return out;
}

static void push_entry(struct tree *t, const char *rel, const struct stat *st, char *link)
{
	struct entry *e;
	t->v = sb_xgrow(t->v, &t->alloc, t->n + 1, sizeof(*t->v));
	e = &t->v[t->n++];
	e->rel = sb_xstrdup(rel);
	e->st = *st;
	e->link = link;
}

static void pop_entry(struct tree *t)
{
	t->n--;
	free(t->v[t->n].rel);
	free(t->v[t->n].link);
}

/* Collect what lies below the directory dirfd (rel below the item),
 * pre-order. ctx and ex are the prefixes for ignore and exclude checks
 * (NULL: none). Returns how many entries were kept, or -1. */
static ssize_t collect_dir(struct copier *c, int dirfd, const char *rel, const char *ctx, const char *ex,
			   struct tree *t, struct sb_error **err)
{
	char **names = NULL;
	size_t n = 0;
	ssize_t kept = 0;

	if (list_dir(dirfd, *rel ? rel : ".", &names, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		sb_autofree char *r = sb_copy_join(rel, names[i]);
		sb_autofree char *cp = ctx ? sb_copy_join(ctx, names[i]) : NULL;
		sb_autofree char *ep = ex ? sb_copy_join(ex, names[i]) : NULL;
		struct stat st;
		bool out, dive;
		char *link = NULL;

		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			sb_error_set(err, errno, "stat %s", r);
			goto fail;
		}
		/* The BuildKit client does not send sockets. */
		if (S_ISSOCK(st.st_mode))
			continue;
		out = left_out(c, cp, ep, &dive);
		if (out && !(S_ISDIR(st.st_mode) && dive))
			continue;
		if (S_ISLNK(st.st_mode)) {
			char target[PATH_MAX];
			ssize_t len = readlinkat(dirfd, names[i], target, sizeof(target) - 1);
			if (len < 0) {
				sb_error_set(err, errno, "readlink %s", r);
				goto fail;
			}
			target[len] = '\0';
			link = sb_xstrdup(target);
		}
		push_entry(t, r, &st, link);
		if (S_ISDIR(st.st_mode)) {
			sb_autoclose int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ssize_t k;
			if (sub < 0) {
				sb_error_set(err, errno, "open %s", r);
				goto fail;
			}
			k = collect_dir(c, sub, r, cp, ep, t, err);
			if (k < 0)
				goto fail;
			/* A left-out directory only comes along as the parent
			 * of something kept. */
			if (out && k == 0) {
				pop_entry(t);
				continue;
			}
		}
		kept++;
	}
	free_names(names, n);
	return kept;
fail:
	free_names(names, n);
	return -1;
}

static void item_release(struct item *it)
{
	free(it->path);
	free(it->ex);
	free(it->ex_below);
	if (it->fd >= 0)
		close(it->fd);
	it->path = it->ex = it->ex_below = NULL;
	it->fd = -1;
}

/* Resolve the item and collect its tree. Returns 1 when there is
 * something to copy, 0 when everything is ignored, -1 on error. */
static int sb_copy_item_tree(struct copier *c, struct item *it, struct tree *t, struct sb_error **err)
{
	bool ctx = c->spec->src_is_context && c->ignore;
	bool out, dive;

	it->fd = sb_copy_open_item(c, it, O_PATH);
	if (it->fd < 0)
		return errno == ENOENT || errno == ENOTDIR || (it->nofollow && errno == ELOOP)
			       ? 0 : sb_error_set(err, errno, "open %s", it->path);
	if (fstat(it->fd, &it->st) < 0)
		return sb_error_set(err, errno, "stat %s", it->path);
	out = left_out(c, ctx && *it->path ? it->path : NULL, it->ex, &dive);
	if (out && !(S_ISDIR(it->st.st_mode) && dive))
		return 0;
	if (S_ISLNK(it->st.st_mode)) {
		/* only with --parents: a symlink the walk meets is copied as
		 * it is */
		char target[PATH_MAX + 1];
		ssize_t k = readlinkat(it->fd, "", target, PATH_MAX);
		if (k < 0)
			return sb_error_set(err, errno, "readlink %s", it->path);
		target[k] = '\0';
		push_entry(t, "", &it->st, sb_xstrdup(target));
		return 1;
	}
	push_entry(t, "", &it->st, NULL);
	if (S_ISDIR(it->st.st_mode)) {
		sb_autoclose int d = openat(it->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ssize_t k;
		if (d < 0)
			return sb_error_set(err, errno, "open %s", it->path);
		k = collect_dir(c, d, "", ctx ? it->path : NULL,
				c->excludes ? (it->ex_below ? it->ex_below : "") : NULL, t, err);
		if (k < 0)
			return -1;
		if (out && k == 0)
			return 0;
	}
	return 1;
}

/* fsutil's splitWildcards over a clean path. */
static void split_wildcards(const char *p, char **d1, char **d2)
{
	const char *q = p;
	while (*q) {
		size_t n = strcspn(q, "/");
		sb_autofree char *comp = sb_xstrndup(q, n);
		if (sb_has_wildcards(comp))
			break;
		q += n;
		while (*q == '/')
			q++;
	}
	*d1 = sb_xstrndup(p, (size_t)(q - p));
	if ((*d1)[0] && (*d1)[strlen(*d1) - 1] == '/')
		(*d1)[strlen(*d1) - 1] = '\0';
	*d2 = sb_xstrdup(q);
}

static size_t depth(const char *p)
{
	size_t n = 1;
	for (; *p; p++)
		n += *p == '/';
	return n;
}

/* fsutil's resolveWildcards: walk dir (below the root: base) in lexical
 * order matching paths relative to it against pat; a matching directory
 * is not descended. A path deeper than the pattern cannot match. */
static int walk_matches(struct copier *c, int dirfd, const char *base, const char *rel, const char *pat,
			char ***out, size_t *n, size_t *alloc, struct sb_error **err)
{
	char **names = NULL;
	size_t nn = 0;
	int ret = -1;

	if (list_dir(dirfd, *rel ? rel : "/", &names, &nn, err) < 0)
		return -1;
	for (size_t i = 0; i < nn; i++) {
		sb_autofree char *r = sb_copy_join(rel, names[i]);
		sb_autofree char *full = sb_copy_join(base, r);
		struct stat st;
		int m;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			sb_error_set(err, errno, "stat %s", full);
			goto out;
		}
		if (c->spec->src_is_context && c->ignore && sb_patterns_match(c->ignore, full) &&
		    !(S_ISDIR(st.st_mode) && sb_patterns_may_include_below(c->ignore, full)))
			continue;
		m = sb_go_match(pat, r);
		if (m < 0) {
			sb_error_setx(err, EINVAL, "%s: syntax error in pattern", pat);
			goto out;
		}
		if (m) {
			*out = sb_xgrow(*out, alloc, *n + 1, sizeof(**out));
			(*out)[(*n)++] = sb_xstrdup(r);
			continue;
		}
		if (S_ISDIR(st.st_mode) && depth(r) < depth(pat)) {
			sb_autoclose int sub = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				sb_error_set(err, errno, "open %s", full);
				goto out;
			}
			if (walk_matches(c, sub, base, r, pat, out, n, alloc, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	free_names(names, nn);
	return ret;
}

void sb_copy_job_release(struct job *j)
{
	item_release(&j->it);
	sb_copy_tree_release(&j->t);
	free(j->name);
	free(j->pivot);
}

struct job *sb_copy_new_job(struct jobs *js, const char *word)
{
	struct job *j;
	js->v = sb_xgrow(js->v, &js->alloc, js->n + 1, sizeof(*js->v));
	j = &js->v[js->n++];
	memset(j, 0, sizeof(*j));
	j->it.fd = -1;
	j->word = word;
	return j;
}

static int not_found(const char *word, struct sb_error **err)
{
	struct sb_strbuf q = SB_STRBUF_INIT;
	sb_copy_quote(&q, word);
	sb_error_setx(err, ENOENT, "%s: not found", q.buf);
	sb_strbuf_release(&q);
	return -1;
}

/* Paths below base (in the source root) matching pat: Go's Match over
 * the part from the first wildcard component. */
static int resolve_wildcards(struct copier *c, const char *path, char ***out, size_t *n, struct sb_error **err)
{
	sb_autofree char *d1 = NULL, *d2 = NULL;
	sb_autoclose int dir = -1;
	size_t alloc = 0;

	*out = NULL;
	*n = 0;
	split_wildcards(path, &d1, &d2);
	if (sb_go_match(d2, "") < 0)
		return sb_error_setx(err, EINVAL, "%s: syntax error in pattern", path);
	dir = sb_copy_open_in_root(c->spec->src_fd, d1, O_RDONLY | O_DIRECTORY, true);
	if (dir < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : sb_error_set(err, errno, "open %s", d1);
	if (walk_matches(c, dir, d1, "", d2, out, n, &alloc, err) < 0)
		return -1;
	for (size_t i = 0; i < *n; i++) {
		char *full = sb_copy_join(d1, (*out)[i]);
		free((*out)[i]);
		(*out)[i] = full;
	}
	return 0;
}

/* Add the items of one source word. */
int sb_copy_add_word(struct copier *c, struct jobs *js, const char *word, struct sb_error **err)
{
	sb_autofree char *pivot = NULL, *path = NULL;
	char **matches = NULL;
	size_t n = 0, added = 0;
	int ret = -1;

	if (c->spec->parents) {
		/* dockerfile2llb: "a/./b/c" copies b/c from a, keeping "b/c". */
		const char *cut = strstr(word, "/./");
		if (cut) {
			sb_autofree char *p = sb_xstrndup(word, (size_t)(cut - word));
			pivot = sb_copy_root_clean(p);
			path = sb_copy_root_clean(cut + 3);
		} else {
			pivot = sb_xstrdup("");
			path = sb_copy_root_clean(word);
		}
		if (*pivot) {
			char *full = sb_copy_join(pivot, path);
			free(path);
			path = full;
		}
	} else {
		path = sb_copy_root_clean(word);
	}
	if (sb_has_wildcards(path)) {
		if (resolve_wildcards(c, path, &matches, &n, err) < 0)
			goto out;
	} else {
		matches = sb_xmalloc(sizeof(*matches));
		matches[0] = sb_xstrdup(path);
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct job *j = sb_copy_new_job(js, word);
		const char *below = pivot && *pivot ? matches[i] + strlen(pivot) + 1 : matches[i];
		int r;
		j->it.path = sb_xstrdup(matches[i]);
		if (c->excludes) {
			/* fsutil checks what a source holds relative to it;
			 * a wildcard's matches relative to where the wildcard
			 * starts (as the documentation's --exclude examples
			 * expect); with --parents, all relative to the pivot. */
			if (pivot) {
				j->it.ex = sb_xstrdup(below);
				j->it.ex_below = sb_xstrdup(below);
			} else if (sb_has_wildcards(path)) {
				sb_autofree char *d1 = NULL, *d2 = NULL;
				split_wildcards(path, &d1, &d2);
				j->it.ex = sb_xstrdup(matches[i] + (*d1 ? strlen(d1) + 1 : 0));
			}
		}
		if (pivot) {
			j->pivot = sb_xstrdup(pivot);
			j->name = sb_xstrdup(below);
			j->it.nofollow = true;
			j->it.pivot_len = strlen(pivot);
		}
		r = sb_copy_item_tree(c, &j->it, &j->t, err);
		if (r < 0)
			goto out;
		if (r == 0) {
			sb_copy_job_release(j);
			js->n--;
			continue;
		}
		added++;
	}
	/* --parents: every source is a pattern, and one matching nothing
	 * copies nothing (BuildKit, moby/buildkit#4900) */
	if (!added && !pivot) {
		not_found(word, err);
		goto out;
	}
	ret = 0;
out:
	for (size_t i = 0; i < n; i++)
		free(matches[i]);
	free(matches);
	return ret;
}

