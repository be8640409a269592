/* USER resolution without NSS: the rootfs' own /etc/passwd and /etc/group,
 * parsed as runc's libcontainer/user does (GetExecUser). NSS is out of the
 * question: it would read the host's files, or load the image's modules
 * into this process. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/sandbox.h"

/* passwd and group files of real images are a few KiB. */
#define MAX_DB_FILE (4u << 20)

/* Read rootfd/name without leaving the rootfs: absolute symlinks and ".."
 * resolve against rootfd, as if it were "/". A missing file reads as
 * empty, as runc treats it. */
static int read_in_root(int rootfd, const char *name, struct sb_strbuf *out, struct sb_error **err)
{
	struct open_how how = { .flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
	sb_autoclose int fd = (int)syscall(SYS_openat2, rootfd, name, &how, sizeof(how));
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		return sb_error_set(err, errno, "open %s", name);
	}
	return sb_read_fd(fd, name, MAX_DB_FILE, out, err);
}

/* A decimal id in 0..2^31-1, as Docker accepts. */
static bool parse_id(const char *s, size_t n, uint32_t *out)
{
	uint64_t v = 0;
	if (!n || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > INT32_MAX)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* Split line into at most max ':'-separated fields (pointers into line). */
static size_t split_fields(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		f[n++] = p;
		p = strchr(p, ':');
		if (!p)
			break;
		*p++ = '\0';
	}
	return n;
}

/* Call fn for every non-comment line of db, split into fields; stop when fn
 * returns true. */
static bool db_each(char *db, size_t want, bool (*fn)(char **f, size_t n, void *ctx), void *ctx)
{
	char *save = NULL;
	for (char *line = strtok_r(db, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *f[7];
		size_t n;
		while (*line == ' ' || *line == '\t')
			line++;
		if (!*line || *line == '#')
			continue;
		n = split_fields(line, f, want);
		if (fn(f, n, ctx))
			return true;
	}
	return false;
}

struct pw_match {
	const char *name; /* match by name, or */
	uint32_t uid;     /* by uid when name is NULL */
	bool found;
	char *pw_name;
	uint32_t pw_uid, pw_gid;
	char *home;
};

static bool pw_fn(char **f, size_t n, void *ctx)
{
	struct pw_match *m = ctx;
	uint32_t uid, gid;
	if (n < 4 || !parse_id(f[2], strlen(f[2]), &uid) || !parse_id(f[3], strlen(f[3]), &gid))
		return false;
	if (m->name ? strcmp(f[0], m->name) != 0 : uid != m->uid)
		return false;
	m->found = true;
	m->pw_name = sb_xstrdup(f[0]);
	m->pw_uid = uid;
	m->pw_gid = gid;
	m->home = sb_xstrdup(n > 5 && *f[5] ? f[5] : "/");
	return true;
}

struct gr_match {
	const char *name; /* the group asked for by name, or NULL */
	bool found;
	uint32_t gid;
	const char *member; /* collect every group listing this user, or NULL */
	gid_t *groups;
	size_t n, alloc;
};

static bool gr_fn(char **f, size_t n, void *ctx)
{
	struct gr_match *m = ctx;
	uint32_t gid;
	if (n < 3 || !parse_id(f[2], strlen(f[2]), &gid))
		return false;
	if (m->name && strcmp(f[0], m->name) == 0) {
		m->found = true;
		m->gid = gid;
		return true;
	}
	if (m->member && n > 3) {
		char *save = NULL;
		for (char *u = strtok_r(f[3], ",", &save); u; u = strtok_r(NULL, ",", &save)) {
			if (strcmp(u, m->member) == 0) {
				m->groups = sb_xgrow(m->groups, &m->alloc, m->n + 1, sizeof(*m->groups));
				m->groups[m->n++] = gid;
				break;
			}
		}
	}
	return false;
}

int sb_user_resolve(int rootfd, const char *spec, struct sb_user *out, struct sb_error **err)
{
	struct sb_strbuf passwd = SB_STRBUF_INIT, group = SB_STRBUF_INIT;
	struct pw_match pw = { 0 };
	struct gr_match gr = { 0 };
	char *user = NULL;
	const char *colon, *grp = NULL;
	uint32_t id = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (!spec || !*spec)
		spec = "0";
	colon = strchr(spec, ':');
	user = colon ? sb_xstrndup(spec, (size_t)(colon - spec)) : sb_xstrdup(spec);
	if (colon)
		grp = colon + 1;
	if (!*user || (grp && !*grp)) {
		sb_error_setx(err, EINVAL, "invalid user %s", spec);
		goto out;
	}
	if (read_in_root(rootfd, "/etc/passwd", &passwd, err) < 0 ||
	    read_in_root(rootfd, "/etc/group", &group, err) < 0)
		goto out;

	if (parse_id(user, strlen(user), &id)) {
		pw.uid = id;
	} else {
		pw.name = user;
	}
	db_each(passwd.buf, 7, pw_fn, &pw);
	if (!pw.found) {
		if (pw.name) {
			sb_error_setx(err, ENOENT, "unable to find user %s: no matching entries in passwd file", user);
			goto out;
		}
		/* A numeric uid without an entry: gid 0 and home "/", as runc. */
		out->uid = id;
		out->gid = 0;
		out->home = sb_xstrdup("/");
	} else {
		out->uid = pw.pw_uid;
		out->gid = pw.pw_gid;
		out->home = sb_steal(&pw.home);
	}

	if (grp) {
		if (parse_id(grp, strlen(grp), &id)) {
			out->gid = id;
		} else {
			gr.name = grp;
			db_each(group.buf, 4, gr_fn, &gr);
			if (!gr.found) {
				sb_error_setx(err, ENOENT, "unable to find group %s: no matching entries in group file", grp);
				goto out;
			}
			out->gid = gr.gid;
		}
		/* An explicit group replaces the supplementary list, as runc. */
		out->groups = sb_xmalloc(sizeof(*out->groups));
		out->groups[0] = out->gid;
		out->n_groups = 1;
	} else {
		gr.member = pw.found ? pw.pw_name : NULL;
		gr.groups = sb_xmalloc(sizeof(*gr.groups));
		gr.alloc = 1;
		gr.groups[gr.n++] = out->gid;
		if (gr.member)
			db_each(group.buf, 4, gr_fn, &gr);
		out->groups = gr.groups;
		out->n_groups = gr.n;
		gr.groups = NULL;
	}
	ret = 0;
out:
	if (ret < 0)
		sb_user_release(out);
	free(user);
	free(pw.pw_name);
	free(pw.home);
	free(gr.groups);
	sb_strbuf_release(&passwd);
	sb_strbuf_release(&group);
	return ret;
}

void sb_user_release(struct sb_user *u)
{
	free(u->groups);
	free(u->home);
	u->groups = NULL;
	u->home = NULL;
	u->n_groups = 0;
}
