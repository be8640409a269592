/* The recorded path set, and the walk that resolves a path inside a rootfs
 * one component at a time, recording every symlink it meets. */
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/profile/internal.h"

/* As the kernel's MAXSYMLINKS. */
#define MAX_HOPS 40
/* Bound on a path being walked: the input and every link target spliced
 * into it. */
#define MAX_WALK (64 * 1024)

void sb_pathmap_init(struct sb_pathmap *m)
{
	memset(m, 0, sizeof(*m));
}

void sb_profile_paths_free(struct sb_profile_path *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].path);
		free(v[i].target);
	}
	free(v);
}

void sb_pathmap_release(struct sb_pathmap *m)
{
	sb_profile_paths_free(m->v, m->n);
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static size_t slot_of(const struct sb_pathmap *m, const char *p, size_t len)
{
	size_t mask = m->nslots - 1, i = (size_t)sb_hash_fnv1a(p, len) & mask;
	for (; m->slots[i]; i = (i + 1) & mask) {
		const char *q = m->v[m->slots[i] - 1].path;
		if (strlen(q) == len && !memcmp(q, p, len))
			break;
	}
	return i;
}

static void rehash(struct sb_pathmap *m)
{
	size_t n;
	if (!sb_mul_ok(m->nslots ? m->nslots : 64, 2, &n))
		abort(); /* as out of memory */
	free(m->slots);
	m->nslots = n;
	m->slots = sb_xcalloc(n, sizeof(*m->slots));
	for (size_t i = 0; i < m->n; i++)
		m->slots[slot_of(m, m->v[i].path, strlen(m->v[i].path))] = i + 1;
}

struct sb_profile_path *sb_pathmap_add(struct sb_pathmap *m, const char *path, size_t len, unsigned flags,
				       const char *target)
{
	struct sb_profile_path *e;
	size_t i;

	if ((m->n + 1) * 2 > m->nslots)
		rehash(m);
	i = slot_of(m, path, len);
	if (!m->slots[i]) {
		m->v = sb_xgrow(m->v, &m->alloc, m->n + 1, sizeof(*m->v));
		m->v[m->n] = (struct sb_profile_path){ sb_xstrndup(path, len), NULL, 0 };
		m->slots[i] = ++m->n;
	}
	e = &m->v[m->slots[i] - 1];
	e->flags |= flags;
	if (target && !e->target)
		e->target = sb_xstrdup(target);
	return e;
}

struct sb_profile_path *sb_pathmap_get(const struct sb_pathmap *m, const char *path)
{
	size_t i;
	if (!m->nslots)
		return NULL;
	i = slot_of(m, path, strlen(path));
	return m->slots[i] ? &m->v[m->slots[i] - 1] : NULL;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct sb_profile_path *)a)->path, ((const struct sb_profile_path *)b)->path);
}

void sb_pathmap_take(struct sb_pathmap *m, struct sb_profile_path **v, size_t *n)
{
	if (m->n)
		qsort(m->v, m->n, sizeof(*m->v), cmp_path);
	*v = m->v;
	*n = m->n;
	m->v = NULL;
	m->n = m->alloc = 0;
	sb_pathmap_release(m);
}

const struct sb_profile_path *sb_profile_paths_find(const struct sb_profile_path *v, size_t n, const char *path)
{
	struct sb_profile_path key = { (char *)path, NULL, 0 };
	return n ? bsearch(&key, v, n, sizeof(*v), cmp_path) : NULL;
}

/* --- the walk --- */

struct walk_state {
	struct sb_walk *w;
	struct sb_strbuf cur;  /* resolved, symlink-free prefix: "" (the root) or "/a/b" */
	struct sb_strbuf todo; /* what is left to walk */
	size_t pos;            /* in todo */
	int curfd;             /* O_PATH descriptor of cur; w->rootfd for the root */
};

static void set_curfd(struct walk_state *s, int fd)
{
	if (s->curfd != s->w->rootfd)
		close(s->curfd);
	s->curfd = fd;
}

/* Replace what is left with target + "/" + the rest after the current
 * component; the current component ended at s->pos. */
static int splice_target(struct walk_state *s, const char *target)
{
	struct sb_strbuf next = SB_STRBUF_INIT;
	sb_strbuf_init(&next, MAX_WALK);
	if (sb_strbuf_adds(&next, target) < 0 || sb_strbuf_addc(&next, '/') < 0 ||
	    sb_strbuf_adds(&next, s->todo.buf + s->pos) < 0) {
		sb_strbuf_release(&next);
		return -1;
	}
	sb_strbuf_release(&s->todo);
	s->todo = next;
	s->pos = 0;
	return 0;
}

/* Record cur + "/" + the component and all that is left as missing. */
static void record_missing(struct walk_state *s, const char *comp, size_t len)
{
	struct sb_strbuf p = SB_STRBUF_INIT;
	const char *rest = s->todo.buf + s->pos;
	sb_strbuf_add(&p, s->cur.buf, s->cur.len);
	sb_strbuf_addc(&p, '/');
	sb_strbuf_add(&p, comp, len);
	while (*rest == '/')
		rest++;
	if (*rest) {
		sb_strbuf_addc(&p, '/');
		sb_strbuf_adds(&p, rest);
		while (p.len > 1 && p.buf[p.len - 1] == '/')
			sb_strbuf_truncate(&p, p.len - 1);
	}
	sb_pathmap_add(s->w->map, p.buf, p.len, SB_PATH_MISSING, NULL);
	sb_strbuf_release(&p);
}

static int reopen_cur(struct walk_state *s)
{
	struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
				.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
	int fd;
	if (!s->cur.len) {
		set_curfd(s, s->w->rootfd);
		return 0;
	}
	fd = (int)syscall(SYS_openat2, s->w->rootfd, s->cur.buf + 1, &how, sizeof(how));
	if (fd < 0)
		return -1;
	set_curfd(s, fd);
	return 0;
}

/* A /proc magic link to something that is no file in the rootfs:
 * "pipe:[1234]", "anon_inode:[eventfd]", "/memfd:x (deleted)". */
static bool special_target(const struct walk_state *s, const char *target)
{
	size_t n = strlen(target);
	if (strncmp(s->cur.buf, "/proc/", 6) != 0)
		return false;
	return (target[0] != '/' && strchr(target, ':')) || (n > 10 && strcmp(target + n - 10, " (deleted)") == 0);
}

int sb_walk_path(struct sb_walk *w, const char *path, unsigned walk_flags, unsigned rec_flags,
		 struct sb_strbuf *final)
{
	struct walk_state s = { w, SB_STRBUF_INIT, SB_STRBUF_INIT, 0, w->rootfd };
	char target[PATH_MAX + 1];
	struct stat st;
	int hops = 0, ret = -1;
	bool have_st = false;

	sb_strbuf_init(&s.cur, MAX_WALK);
	sb_strbuf_init(&s.todo, MAX_WALK);
	if (sb_strbuf_adds(&s.todo, path) < 0)
		goto out;
	for (;;) {
		const char *comp, *rest;
		char subst[64];
		size_t len;
		bool last;
		int fd;
		ssize_t n;

		while (s.todo.buf[s.pos] == '/')
			s.pos++;
		if (!s.todo.buf[s.pos])
			break;
		comp = s.todo.buf + s.pos;
		len = strcspn(comp, "/");
		s.pos += len;
		for (rest = s.todo.buf + s.pos; *rest == '/'; rest++)
			;
		last = !*rest;
		if (len == 1 && comp[0] == '.')
			continue;
		if (len == 2 && comp[0] == '.' && comp[1] == '.') {
			char *slash = strrchr(s.cur.buf, '/');
			if (slash)
				sb_strbuf_truncate(&s.cur, (size_t)(slash - s.cur.buf));
			have_st = false;
			if (reopen_cur(&s) < 0) {
				ret = 1;
				goto out;
			}
			continue;
		}
		/* /proc/self in the sandbox's procfs would name the supervisor
		 * (or nothing: it is outside that PID namespace). */
		if (strcmp(s.cur.buf, "/proc") == 0 &&
		    ((len == 4 && !memcmp(comp, "self", 4)) || (len == 11 && !memcmp(comp, "thread-self", 11)))) {
			if (!w->ns_pid && w->want_ns_ids)
				w->want_ns_ids(w);
			if (w->ns_pid) {
				if (len == 4)
					snprintf(subst, sizeof(subst), "%d", (int)w->ns_pid);
				else
					snprintf(subst, sizeof(subst), "%d/task/%d", (int)w->ns_pid,
						 (int)(w->ns_tid ? w->ns_tid : w->ns_pid));
				if (splice_target(&s, subst) < 0)
					goto out;
				continue;
			}
		}
		{
			char name[NAME_MAX + 1];
			if (len > NAME_MAX) {
				record_missing(&s, comp, len);
				ret = 1;
				goto out;
			}
			memcpy(name, comp, len);
			name[len] = '\0';
			fd = openat(s.curfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || fstat(fd, &st) < 0) {
				if (fd >= 0)
					close(fd);
				record_missing(&s, comp, len);
				ret = 1;
				goto out;
			}
			if (sb_strbuf_addc(&s.cur, '/') < 0 || sb_strbuf_add(&s.cur, name, len) < 0) {
				close(fd);
				goto out;
			}
		}
		have_st = true;
		if (S_ISLNK(st.st_mode) && (!last || !(walk_flags & SB_WALK_NOFOLLOW))) {
			n = readlinkat(fd, "", target, sizeof(target) - 1);
			close(fd);
			if (n <= 0) {
				ret = 1;
				goto out;
			}
			target[n] = '\0';
			sb_pathmap_add(w->map, s.cur.buf, s.cur.len, SB_PATH_SYMLINK | SB_PATH_EXISTS, target);
			/* back to the link's directory */
			sb_strbuf_truncate(&s.cur, (size_t)(strrchr(s.cur.buf, '/') - s.cur.buf));
			have_st = false;
			if (++hops > MAX_HOPS || special_target(&s, target)) {
				ret = 1;
				goto out;
			}
			if (target[0] == '/') {
				sb_strbuf_reset(&s.cur);
				set_curfd(&s, w->rootfd);
			}
			if (splice_target(&s, target) < 0)
				goto out;
			continue;
		}
		if (!last && !S_ISDIR(st.st_mode)) {
			close(fd);
			sb_pathmap_add(w->map, s.cur.buf, s.cur.len, SB_PATH_EXISTS, NULL);
			sb_strbuf_truncate(&s.cur, (size_t)(strrchr(s.cur.buf, '/') - s.cur.buf));
			record_missing(&s, comp, len);
			ret = 1;
			goto out;
		}
		set_curfd(&s, fd);
	}
	if (!s.cur.len)
		sb_strbuf_addc(&s.cur, '/');
	if (!have_st && fstat(s.curfd, &st) < 0) {
		ret = 1;
		goto out;
	}
	if (S_ISLNK(st.st_mode)) {
		/* not followed (lstat, readlink, unlink): still a hop to keep */
		ssize_t n = readlinkat(s.curfd, "", target, sizeof(target) - 1);
		target[n > 0 ? n : 0] = '\0';
		sb_pathmap_add(w->map, s.cur.buf, s.cur.len, SB_PATH_SYMLINK, n > 0 ? target : NULL);
	}
	sb_pathmap_add(w->map, s.cur.buf, s.cur.len, SB_PATH_EXISTS | (S_ISDIR(st.st_mode) ? SB_PATH_DIR : 0) | rec_flags,
		       NULL);
	if (final) {
		sb_strbuf_reset(final);
		sb_strbuf_add(final, s.cur.buf, s.cur.len);
	}
	ret = 0;
out:
	set_curfd(&s, w->rootfd);
	sb_strbuf_release(&s.cur);
	sb_strbuf_release(&s.todo);
	return ret;
}

int sb_profile_open_in_root(int rootfd, const char *abs, int flags, bool nofollow)
{
	struct open_how how = {
		.flags = (uint64_t)(flags | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0)),
		.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV |
			   (nofollow ? RESOLVE_NO_SYMLINKS : 0),
	};
	while (*abs == '/')
		abs++;
	return (int)syscall(SYS_openat2, rootfd, *abs ? abs : ".", &how, sizeof(how));
}

int sb_profile_read_in_root(int rootfd, const char *abs, size_t max, struct sb_strbuf *out)
{
	int fd = sb_profile_open_in_root(rootfd, abs, O_RDONLY | O_NONBLOCK | O_NOCTTY, false);
	struct stat st;
	int ret = -1;
	sb_strbuf_reset(out);
	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		ret = sb_read_fd(fd, abs, max, out, NULL);
	if (fd >= 0)
		close(fd);
	return ret;
}
