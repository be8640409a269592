/* RUN: the command in the sandbox over an overlay of the stage's
 * snapshots, its --mount list made real, its output streamed as progress
 * and its tail kept for the error of a failed step. */
#include <fcntl.h>
#include <limits.h>
#include <semaphore.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/internal.h"

#define TAIL_MAX 4096

/* Reads the command's output: one LOG event per line, and the last
 * TAIL_MAX bytes kept for the error message. */
struct output {
	int fd;
	const struct sb_progress *progress;
	const char *id;
	char tail[TAIL_MAX];
	size_t tail_len;
	pthread_t thread;
	sem_t started;
};

static void tail_add(struct output *o, const char *p, size_t n)
{
	if (n >= TAIL_MAX) {
		memcpy(o->tail, p + n - TAIL_MAX, TAIL_MAX);
		o->tail_len = TAIL_MAX;
		return;
	}
	if (o->tail_len + n > TAIL_MAX) {
		size_t drop = o->tail_len + n - TAIL_MAX;
		memmove(o->tail, o->tail + drop, o->tail_len - drop);
		o->tail_len -= drop;
	}
	memcpy(o->tail + o->tail_len, p, n);
	o->tail_len += n;
}

static void *output_main(void *arg)
{
	struct output *o = arg;
	struct sb_strbuf line = SB_STRBUF_INIT;
	char buf[8192];
	ssize_t n;

	sb_strbuf_grow(&line, 256);
	/* idle from here until the command writes: the sandbox forks only
	 * once this thread holds no lock (a thread starting up or in malloc
	 * at fork time can leave an allocator lock held in the child) */
	sem_post(&o->started);
	while ((n = read(o->fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		tail_add(o, buf, (size_t)n);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || line.len >= 16384) {
				sb_progress_emit(o->progress, SB_PROGRESS_LOG, o->id, NULL, 0, 0, line.buf);
				sb_strbuf_reset(&line);
				if (buf[i] == '\n')
					continue;
			}
			sb_strbuf_addc(&line, buf[i]);
		}
	}
	if (line.len)
		sb_progress_emit(o->progress, SB_PROGRESS_LOG, o->id, NULL, 0, 0, line.buf);
	sb_strbuf_release(&line);
	return NULL;
}

/* Everything a run needs that must be undone afterwards. */
struct run_res {
	struct sb_exec *x;
	struct sb_sandbox_mount *mounts;
	size_t nmounts;
	char **paths;   /* temporary files and dirs to remove */
	size_t npaths;
	char **umounts; /* views to unmount */
	size_t numounts;
	char **env;
	size_t nenv;
	const char **argv;
	size_t nargv;
	char **strings; /* owned strings argv and env point into */
	size_t nstrings;
};

static char *own(struct run_res *r, char *s)
{
	r->strings = sb_xrealloc(r->strings, (r->nstrings + 1) * sizeof(char *));
	r->strings[r->nstrings++] = s;
	return s;
}

static void add_path(struct run_res *r, char *p)
{
	r->paths = sb_xrealloc(r->paths, (r->npaths + 1) * sizeof(char *));
	r->paths[r->npaths++] = p;
}

static void add_env(struct run_res *r, char *kv)
{
	r->env = sb_xrealloc(r->env, (r->nenv + 2) * sizeof(char *));
	r->env[r->nenv++] = own(r, kv);
	r->env[r->nenv] = NULL;
}

static bool env_has(struct run_res *r, const char *kv)
{
	size_t kl = strcspn(kv, "=");
	for (size_t i = 0; i < r->nenv; i++)
		if (strncmp(r->env[i], kv, kl) == 0 && r->env[i][kl] == '=')
			return true;
	return false;
}

static void add_mount(struct run_res *r, enum sb_sandbox_mount_type type, const char *src, const char *target,
		      bool ro, uint64_t size)
{
	struct sb_sandbox_mount *m;
	r->mounts = sb_xrealloc(r->mounts, (r->nmounts + 1) * sizeof(*r->mounts));
	m = &r->mounts[r->nmounts++];
	memset(m, 0, sizeof(*m));
	m->type = type;
	m->source = src;
	m->target = target;
	m->flags = ro ? SB_MOUNT_RDONLY : 0;
	m->tmpfs_size = size;
}

static void run_res_release(struct run_res *r)
{
	for (size_t i = r->numounts; i-- > 0;) {
		umount2(r->umounts[i], MNT_DETACH);
		rmdir(r->umounts[i]);
		free(r->umounts[i]);
	}
	for (size_t i = r->npaths; i-- > 0;) {
		sb_rm_rf(AT_FDCWD, r->paths[i], NULL);
		free(r->paths[i]);
	}
	for (size_t i = 0; i < r->nstrings; i++)
		free(r->strings[i]);
	free(r->umounts);
	free(r->paths);
	free(r->strings);
	free(r->mounts);
	free(r->env);
	free(r->argv);
}

static const struct sb_build_secret *find_secret(struct sb_exec *x, const char *id)
{
	for (size_t i = 0; i < x->o->nsecrets; i++)
		if (id && strcmp(x->o->secrets[i].id, id) == 0)
			return &x->o->secrets[i];
	return NULL;
}

/* A secret's content in a private file with the mount's mode and owner. */
static int secret_file(struct run_res *r, const struct sb_mount *m, const struct sb_build_secret *sec,
		       struct sb_strbuf *content, char **path, struct sb_error **err)
{
	sb_autofree char *dir = sb_exec_tmpdir(r->x, "secret", err);
	sb_autoclose int fd = -1;

	if (!dir)
		return -1;
	if (sb_read_file(AT_FDCWD, sec->src, 64u << 20, content, err) < 0)
		return sb_error_wrap(err, "secret %s", sec->id);
	if (chmod(dir, 0700) < 0)
		return sb_error_set(err, errno, "chmod %s", dir);
	*path = sb_xasprintf("%s/secret", dir);
	add_path(r, sb_steal(&dir));
	fd = open(*path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return sb_error_set(err, errno, "create %s", *path);
	if (sb_write_all(fd, content->buf, content->len, *path, err) < 0)
		return -1;
	if (fchmod(fd, m->has_mode ? m->mode : 0400) < 0 ||
	    fchown(fd, m->has_uid ? m->uid : 0, m->has_gid ? m->gid : 0) < 0)
		return sb_error_set(err, errno, "secret %s", sec->id);
	return 0;
}

/* A path under root, refusing one whose real location leaves it. */
static char *path_under(const char *root, const char *rel, struct sb_error **err)
{
	char rroot[PATH_MAX], rp[PATH_MAX];
	sb_autofree char *p = sb_xasprintf("%s/%s", root, rel);
	size_t n;

	if (!realpath(root, rroot)) {
		sb_error_set(err, errno, "%s", root);
		return NULL;
	}
	if (!realpath(p, rp)) {
		sb_error_set(err, errno, "mount source %s", rel);
		return NULL;
	}
	n = strlen(rroot);
	if (strncmp(rp, rroot, n) != 0 || (rp[n] != '/' && rp[n] != '\0' && n > 1)) {
		sb_error_setx(err, EPERM, "mount source %s leaves its root", rel);
		return NULL;
	}
	return sb_xstrdup(rp);
}

static int prepare_mounts(struct run_res *r, const struct sb_instr *in, struct sb_error **err)
{
	struct sb_exec *x = r->x;

	for (size_t i = 0; i < in->nmounts; i++) {
		const struct sb_mount *m = &in->mounts[i];
		const char *type = m->type ? m->type : "bind";

		if (!strcmp(type, "bind")) {
			const char *root = x->o->context_dir;
			sb_autofree char *view = NULL;
			char *src;
			if (m->from_stage >= 0) {
				if (sb_exec_stage_view(x, m->from_stage, &root, err) < 0)
					return -1;
			} else if (m->from) {
				struct sb_exec_image *img;
				if (sb_exec_image_get(x, m->from, &img, err) < 0 ||
				    sb_exec_image_view(x, img, &view, err) < 0)
					return -1;
				root = view;
				r->umounts = sb_xrealloc(r->umounts, (r->numounts + 1) * sizeof(char *));
				r->umounts[r->numounts++] = sb_steal(&view);
			}
			src = path_under(root, m->source && *m->source ? m->source : ".", err);
			if (!src)
				return -1;
			own(r, src);
			if (!m->readonly) {
				/* writes go to a throwaway upper, never the source */
				struct stat sst;
				if (stat(src, &sst) == 0 && S_ISDIR(sst.st_mode)) {
					char *mnt = sb_exec_tmpdir(x, "bindrw", err), *up, *wk;
					const char *lowers[2] = { src, NULL };
					if (!mnt)
						return -1;
					up = sb_exec_tmpdir(x, "bindup", err);
					wk = up ? sb_exec_tmpdir(x, "bindwk", err) : NULL;
					if (up)
						add_path(r, up);
					if (wk)
						add_path(r, wk);
					if (!wk)
						return -1;
					if (x->copy_mode || sb_overlay_mount(lowers, up, wk, mnt, NULL) != 0) {
						/* without overlayfs: a throwaway copy */
						if (sb_rootfs_flatten(lowers, mnt, err) < 0) {
							free(mnt);
							return sb_error_wrap(err, "read-write bind mount of %s", m->source);
						}
						add_path(r, mnt);
						src = own(r, sb_xstrdup(mnt));
						add_mount(r, SB_MOUNT_BIND, src, m->target, false, 0);
						continue;
					}
					r->umounts = sb_xrealloc(r->umounts, (r->numounts + 1) * sizeof(char *));
					r->umounts[r->numounts++] = mnt;
					src = mnt;
				}
			}
			add_mount(r, SB_MOUNT_BIND, src, m->target, m->readonly, 0);
		} else if (!strcmp(type, "cache")) {
			char digest[SB_DIGEST_SIZE];
			char *dir;
			sb_sha256_digest(m->id, strlen(m->id), digest);
			dir = own(r, sb_xasprintf("%s/cache-mounts/%s", x->store->root, sb_digest_hex(digest)));
			if (access(dir, F_OK) < 0) {
				if (sb_mkdir_p(AT_FDCWD, dir, 0755, err) < 0)
					return -1;
				if (chmod(dir, m->has_mode ? m->mode : 0755) < 0 ||
				    chown(dir, m->has_uid ? m->uid : 0, m->has_gid ? m->gid : 0) < 0)
					return sb_error_set(err, errno, "cache mount %s", dir);
			}
			add_mount(r, SB_MOUNT_BIND, dir, m->target, m->readonly, 0);
		} else if (!strcmp(type, "tmpfs")) {
			add_mount(r, SB_MOUNT_TMPFS, NULL, m->target, false, m->has_size ? m->size : 0);
		} else if (!strcmp(type, "secret")) {
			const struct sb_build_secret *sec = find_secret(x, m->id);
			struct sb_strbuf content = SB_STRBUF_INIT;
			char *path = NULL;
			if (!sec) {
				if (m->required)
					return sb_error_setx(err, ENOENT, "secret %s: not found", m->id ? m->id : "");
				continue;
			}
			if (secret_file(r, m, sec, &content, &path, err) < 0) {
				free(path);
				sb_strbuf_release(&content);
				return -1;
			}
			own(r, path);
			if (m->env && *m->env)
				add_env(r, sb_xasprintf("%s=%.*s", m->env, (int)content.len, content.buf));
			sb_strbuf_release(&content);
			if (m->target && *m->target)
				add_mount(r, SB_MOUNT_BIND, path, m->target, true, 0);
		} else {
			return sb_error_setx(err, ENOTSUP, "RUN --mount=type=%s is not supported", type);
		}
	}
	return 0;
}

/* BuildKit's heredoc RUN: a lone heredoc is the script itself (run
 * directly when it has a shebang); otherwise the shell gets the command
 * line followed by the heredoc bodies and reads them as heredocs. */
static int heredoc_argv(struct run_res *r, const struct sb_instr *in, const char *const *sh, size_t nsh,
			struct sb_error **err)
{
	const struct sb_inline *f = &in->files[0];
	const char *cmd = in->args[0];
	bool lone = false;

	while (*cmd == ' ' || *cmd == '\t')
		cmd++;
	if (in->nfiles == 1 && strncmp(cmd, "<<", 2) == 0) {
		const char *w = cmd + 2;
		size_t n = strlen(f->name);
		if (*w == '-')
			w++;
		if (*w == '"' || *w == '\'')
			w++;
		if (strncmp(w, f->name, n) == 0) {
			w += n;
			if (*w == '"' || *w == '\'')
				w++;
			while (*w == ' ' || *w == '\t' || *w == '\n')
				w++;
			lone = *w == '\0';
		}
	}
	r->argv = sb_xcalloc(nsh + 2, sizeof(char *));
	if (lone && strncmp(f->data, "#!", 2) == 0) {
		sb_autofree char *dir = sb_exec_tmpdir(r->x, "pipes", err);
		char *path, *target;
		if (!dir)
			return -1;
		path = own(r, sb_xasprintf("%s/%s", dir, f->name));
		add_path(r, sb_steal(&dir));
		if (sb_write_file_atomic(AT_FDCWD, path, f->data, strlen(f->data), 0755, err) < 0)
			return -1;
		target = own(r, sb_xasprintf("/dev/pipes/%s", f->name));
		add_mount(r, SB_MOUNT_BIND, path, target, true, 0);
		r->argv[0] = target;
		r->nargv = 1;
		return 0;
	}
	for (size_t i = 0; i < nsh; i++)
		r->argv[r->nargv++] = sh[i];
	if (lone) {
		r->argv[r->nargv++] = f->data;
	} else {
		struct sb_strbuf sb = SB_STRBUF_INIT;
		sb_strbuf_adds(&sb, in->args[0]);
		for (size_t i = 0; i < in->nfiles; i++) {
			sb_strbuf_addc(&sb, '\n');
			sb_strbuf_adds(&sb, in->files[i].data);
			if (sb.len && sb.buf[sb.len - 1] != '\n')
				sb_strbuf_addc(&sb, '\n');
			sb_strbuf_adds(&sb, in->files[i].name);
		}
		r->argv[r->nargv++] = own(r, sb_strbuf_detach(&sb, NULL));
	}
	return 0;
}

static int build_argv(struct run_res *r, struct sb_exec_state *st, const struct sb_instr *in, struct sb_error **err)
{
	json_t *cfg = json_object_get(st->cfg.root, "config");
	json_t *shell = json_object_get(cfg, "Shell");
	const char *sh[64] = { "/bin/sh", "-c" };
	size_t nsh = 2;

	if (json_is_array(shell) && json_array_size(shell) > 0) {
		nsh = 0;
		for (size_t i = 0; i < json_array_size(shell) && nsh < 63; i++)
			sh[nsh++] = own(r, sb_xstrdup(json_string_value(json_array_get(shell, i))));
	}
	if (in->nfiles > 0 && in->prepend_shell && in->nargs == 1)
		return heredoc_argv(r, in, sh, nsh, err);
	r->argv = sb_xcalloc(nsh + in->nargs + 2, sizeof(char *));
	if (in->prepend_shell) {
		for (size_t i = 0; i < nsh; i++)
			r->argv[r->nargv++] = sh[i];
		r->argv[r->nargv++] = in->nargs ? in->args[0] : "";
	} else {
		for (size_t i = 0; i < in->nargs; i++)
			r->argv[r->nargv++] = in->args[i];
	}
	if (r->nargv == 0)
		return sb_error_setx(err, EINVAL, "RUN without a command");
	return 0;
}

static char *argv_string(const struct run_res *r)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	for (size_t i = 0; i < r->nargv; i++) {
		if (i)
			sb_strbuf_addc(&sb, ' ');
		sb_strbuf_adds(&sb, r->argv[i]);
	}
	return sb_strbuf_detach(&sb, NULL);
}

int sb_exec_run_step(struct sb_exec *x, struct sb_exec_state *st, const struct sb_instr *in, const char *id,
		     char **upper, char **before, struct sb_error **err)
{
	struct run_res r;
	struct sb_sandbox_spec spec;
	struct sb_sandbox_result res;
	struct output out;
	json_t *cfg = json_object_get(st->cfg.root, "config");
	json_t *env = json_object_get(cfg, "Env");
	const char *user = json_string_value(json_object_get(cfg, "User"));
	const char *wd = json_string_value(json_object_get(cfg, "WorkingDir"));
	sb_autofree char *empty = NULL, *rootfs = NULL, *work = NULL;
	sb_autofree const char **lowers = NULL;
	int pipefd[2] = { -1, -1 };
	int rc = -1, status;

	memset(&r, 0, sizeof(r));
	r.x = x;
	*upper = NULL;
	*before = NULL;
	for (size_t i = 0; json_is_array(env) && i < json_array_size(env); i++)
		add_env(&r, sb_xstrdup(json_string_value(json_array_get(env, i))));
	/* ARGs are the command's environment too; ENV wins over them */
	for (size_t i = 0; i < st->nargs; i++)
		if (!env_has(&r, st->args[i]))
			add_env(&r, sb_xstrdup(st->args[i]));
	for (size_t i = 0; i < x->plan->nproxy_env; i++)
		if (!env_has(&r, x->plan->proxy_env[i]))
			add_env(&r, sb_xstrdup(x->plan->proxy_env[i]));
	if (!r.env)
		add_env(&r, sb_xstrdup("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
	if (build_argv(&r, st, in, err) < 0 || prepare_mounts(&r, in, err) < 0)
		goto out;

	lowers = sb_exec_lowers(x, st, &empty, err);
	if (!lowers || !(rootfs = sb_exec_tmpdir(x, "rootfs", err)) || !(*upper = sb_exec_tmpdir(x, "upper", err)) ||
	    !(work = sb_exec_tmpdir(x, "work", err)))
		goto out;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		sb_error_set(err, errno, "pipe");
		goto out;
	}

	sb_sandbox_spec_init(&spec);
	spec.rootfs = rootfs;
	spec.lower_dirs = lowers;
	spec.upper_dir = *upper;
	spec.work_dir = work;
	if (x->copy_mode) {
		/* the sandbox copies the lowers into upper and runs there; the
		 * layer is the diff against the tree before */
		spec.flags |= SB_SANDBOX_COPY_ROOTFS;
		if (!(*before = sb_exec_flatten(x, st, err)))
			goto out;
	}
	spec.argv = r.argv;
	spec.env = (const char *const *)r.env;
	spec.cwd = wd && *wd ? wd : "/";
	spec.user = user;
	spec.net = x->o->network;
	if (in->network && !strcmp(in->network, "none"))
		spec.net = SB_NET_NONE;
	else if (in->network && (!strcmp(in->network, "host") || !strcmp(in->network, "default")))
		spec.net = SB_NET_DEFAULT;
	spec.extra_hosts = x->o->extra_hosts;
	spec.mounts = r.mounts;
	spec.n_mounts = r.nmounts;
	spec.stdout_fd = pipefd[1];
	spec.stderr_fd = pipefd[1];
	if (in->security && !strcmp(in->security, "insecure")) {
		sb_error_setx(err, EPERM, "RUN --security=insecure is not allowed");
		goto out;
	}

	memset(&out, 0, sizeof(out));
	out.fd = pipefd[0];
	out.progress = x->o->progress;
	out.id = id;
	sem_init(&out.started, 0, 0);
	pthread_create(&out.thread, NULL, output_main, &out);
	while (sem_wait(&out.started) < 0 && errno == EINTR)
		;
	status = sb_sandbox_run(&spec, &res, err);
	close(pipefd[1]);
	pipefd[1] = -1;
	pthread_join(out.thread, NULL);
	sem_destroy(&out.started);
	if (status < 0)
		goto out;
	if (res.rootfs_copied && !x->copy_mode) {
		/* overlayfs refused the upper dir after all: the next steps
		 * run in copy mode; this one is diffed against its lowers */
		x->copy_mode = true;
		if (!(*before = sb_exec_flatten(x, st, err)))
			goto out;
	}
	if (status != 0) {
		sb_autofree char *cmd = argv_string(&r);
		const char *t = out.tail;
		size_t tl = out.tail_len;
		/* the tail from the start of a line */
		if (tl == TAIL_MAX) {
			const char *nl = memchr(t, '\n', tl);
			if (nl) {
				tl -= (size_t)(nl + 1 - t);
				t = nl + 1;
			}
		}
		while (tl && t[tl - 1] == '\n')
			tl--;
		if (res.signal)
			sb_error_setx(err, 0, "process \"%s\" did not complete successfully: killed by signal %d%s%.*s",
				      cmd, res.signal, tl ? "\n" : "", (int)tl, t);
		else
			sb_error_setx(err, 0, "process \"%s\" did not complete successfully: exit code: %d%s%.*s",
				      cmd, status, tl ? "\n" : "", (int)tl, t);
		goto out;
	}
	rc = 0;
out:
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	if (rootfs)
		rmdir(rootfs);
	if (work)
		sb_rm_rf(AT_FDCWD, work, NULL);
	if (rc < 0 && *upper) {
		sb_rm_rf(AT_FDCWD, *upper, NULL);
		free(*upper);
		*upper = NULL;
	}
	if (rc < 0 && *before) {
		sb_rm_rf(AT_FDCWD, *before, NULL);
		free(*before);
		*before = NULL;
	}
	run_res_release(&r);
	return rc;
}
