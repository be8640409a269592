/* Executing one stage: its base, then each instruction in order. Metadata
 * instructions edit the config (dockerfile2llb's dispatch* functions are
 * the model); RUN, COPY, ADD and WORKDIR are filesystem steps that go
 * through the step cache and add a layer when they change something. */
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/exec/internal.h"

#define HISTORY_COMMENT "buildkit.dockerfile.v0"
#define RUN_TAIL 4096

struct step {
	char *before; /* copy mode: the tree before the step, set by its run */
	struct sb_exec *x;
	struct sb_exec_state *st;
	const struct sb_stage *stage;
	const struct sb_instr *in;
	char id[16];
};

static const char *name_of(const struct sb_exec *x)
{
	return x->name ? x->name : "Dockerfile";
}

static int at_line(const struct step *s, struct sb_error **err)
{
	return sb_error_wrap(err, "%s:%d", name_of(s->x), s->in->line);
}

static json_t *cfg_obj(struct sb_exec_state *st)
{
	json_t *c = json_object_get(st->cfg.root, "config");
	if (!json_is_object(c)) {
		c = json_object();
		json_object_set_new(st->cfg.root, "config", c);
	}
	return c;
}

static json_t *cfg_member(struct sb_exec_state *st, const char *key)
{
	json_t *c = cfg_obj(st), *v = json_object_get(c, key);
	if (!json_is_object(v)) {
		v = json_object();
		json_object_set_new(c, key, v);
	}
	return v;
}

static const char *cfg_string(struct sb_exec_state *st, const char *key)
{
	const char *v = json_string_value(json_object_get(cfg_obj(st), key));
	return v ? v : "";
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static void env_set(struct sb_exec_state *st, const char *k, const char *v)
{
	json_t *c = cfg_obj(st), *env = json_object_get(c, "Env");
	size_t kl = strlen(k);
	sb_autofree char *kv = sb_xasprintf("%s=%s", k, v);

	if (!json_is_array(env)) {
		env = json_array();
		json_object_set_new(c, "Env", env);
	}
	for (size_t i = 0; i < json_array_size(env); i++) {
		const char *e = json_string_value(json_array_get(env, i));
		if (e && strncmp(e, k, kl) == 0 && e[kl] == '=') {
			json_array_set_new(env, i, json_string(kv));
			return;
		}
	}
	json_array_append_new(env, json_string(kv));
}

static void args_set(struct sb_exec_state *st, const char *k, const char *v)
{
	size_t kl = strlen(k);
	for (size_t i = 0; i < st->nargs; i++)
		if (strncmp(st->args[i], k, kl) == 0 && st->args[i][kl] == '=') {
			free(st->args[i]);
			st->args[i] = sb_xasprintf("%s=%s", k, v);
			return;
		}
	st->args = sb_xrealloc(st->args, (st->nargs + 1) * sizeof(char *));
	st->args[st->nargs++] = sb_xasprintf("%s=%s", k, v);
}

static void history_add(struct step *s, const char *created_by, bool empty)
{
	sb_image_config_add_layer(&s->st->cfg, NULL, s->st->created, created_by, HISTORY_COMMENT);
	if (!empty) {
		json_t *hist = json_object_get(s->st->cfg.root, "history");
		json_object_del(json_array_get(hist, json_array_size(hist) - 1), "empty_layer");
	}
}

static void layer_add(struct step *s, struct sb_exec_layer *l, const char *created_by)
{
	struct sb_exec_state *st = s->st;
	json_t *ids = json_object_get(json_object_get(st->cfg.root, "rootfs"), "diff_ids");

	st->layers = sb_xrealloc(st->layers, (st->nlayers + 1) * sizeof(*st->layers));
	st->layers[st->nlayers++] = *l;
	memset(l, 0, sizeof(*l));
	json_array_append_new(ids, json_string(st->layers[st->nlayers - 1].diff_id));
	history_add(s, created_by, false);
}

/* The shell for shell-form commands: SHELL's, else /bin/sh -c. */
static size_t shell_words(struct sb_exec_state *st, const char **out, size_t max)
{
	json_t *sh = json_object_get(cfg_obj(st), "Shell");
	size_t n = 0;
	if (json_is_array(sh) && json_array_size(sh) > 0) {
		for (size_t i = 0; i < json_array_size(sh) && n < max; i++)
			out[n++] = json_string_value(json_array_get(sh, i));
		return n;
	}
	out[0] = "/bin/sh";
	out[1] = "-c";
	return 2;
}

static json_t *command_json(struct sb_exec_state *st, const struct sb_instr *in)
{
	if (in->prepend_shell) {
		const char *sh[64];
		size_t n = shell_words(st, sh, 63);
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(a, json_string(sh[i]));
		json_array_append_new(a, json_string(in->nargs ? in->args[0] : ""));
		return a;
	}
	return strv_json(in->args, in->nargs);
}

/* ---- metadata ---- */

static int do_metadata(struct step *s)
{
	const struct sb_instr *in = s->in;
	struct sb_exec_state *st = s->st;
	json_t *c = cfg_obj(st);

	switch (in->kind) {
	case SB_INSTR_ENV:
		for (size_t i = 0; i < in->nkvs; i++)
			env_set(st, in->kvs[i].key, in->kvs[i].value ? in->kvs[i].value : "");
		break;
	case SB_INSTR_LABEL:
		for (size_t i = 0; i < in->nkvs; i++)
			json_object_set_new(cfg_member(st, "Labels"), in->kvs[i].key,
					    json_string(in->kvs[i].value ? in->kvs[i].value : ""));
		break;
	case SB_INSTR_ARG:
		for (size_t i = 0; i < in->nkvs; i++)
			if (in->kvs[i].value)
				args_set(st, in->kvs[i].key, in->kvs[i].value);
		return 0; /* no history */
	case SB_INSTR_USER:
		json_object_set_new(c, "User", json_string(in->value));
		break;
	case SB_INSTR_EXPOSE:
		for (size_t i = 0; i < in->nports; i++)
			json_object_set_new(cfg_member(st, "ExposedPorts"), in->ports[i], json_object());
		break;
	case SB_INSTR_VOLUME:
		for (size_t i = 0; i < in->nargs; i++)
			json_object_set_new(cfg_member(st, "Volumes"), in->args[i], json_object());
		break;
	case SB_INSTR_STOPSIGNAL:
		json_object_set_new(c, "StopSignal", json_string(in->value));
		break;
	case SB_INSTR_MAINTAINER:
		json_object_set_new(st->cfg.root, "author", json_string(in->value));
		break;
	case SB_INSTR_ONBUILD: {
		json_t *ob = json_object_get(c, "OnBuild");
		if (!json_is_array(ob)) {
			ob = json_array();
			json_object_set_new(c, "OnBuild", ob);
		}
		json_array_append_new(ob, json_string(in->value));
		break;
	}
	case SB_INSTR_SHELL:
		json_object_set_new(c, "Shell", strv_json(in->args, in->nargs));
		break;
	case SB_INSTR_CMD:
		json_object_set_new(c, "Cmd", command_json(st, in));
		st->cmd_set = true;
		break;
	case SB_INSTR_ENTRYPOINT:
		json_object_set_new(c, "Entrypoint", command_json(st, in));
		/* dispatchEntrypoint: an inherited CMD does not survive a new
		 * ENTRYPOINT */
		if (!st->cmd_set)
			json_object_del(c, "Cmd");
		break;
	case SB_INSTR_HEALTHCHECK: {
		json_t *h = json_object();
		json_object_set_new(h, "Test", strv_json(in->test, in->ntest));
		if (in->interval)
			json_object_set_new(h, "Interval", json_integer(in->interval));
		if (in->timeout)
			json_object_set_new(h, "Timeout", json_integer(in->timeout));
		if (in->start_period)
			json_object_set_new(h, "StartPeriod", json_integer(in->start_period));
		if (in->start_interval)
			json_object_set_new(h, "StartInterval", json_integer(in->start_interval));
		if (in->retries)
			json_object_set_new(h, "Retries", json_integer(in->retries));
		json_object_set_new(c, "Healthcheck", h);
		break;
	}
	default:
		return sb_error_setx(NULL, EINVAL, "not metadata");
	}
	history_add(s, in->code, true);
	return 0;
}

/* ---- filesystem steps ---- */

static void emit(struct step *s, enum sb_progress_kind k, const char *what, const char *msg)
{
	sb_progress_emit(s->x->o->progress, k, s->id, what, 0, 0, msg);
}

/* Look the step up in the cache, else run it and record the result. */
static int fs_step(struct step *s, const char *key_extra, const char *created_by,
		   int (*run)(struct step *s, void *ctx, char **upper, struct sb_error **err), void *ctx,
		   struct sb_error **err)
{
	struct sb_exec *x = s->x;
	struct sb_exec_state *st = s->st;
	sb_autofree char *text = sb_instr_to_json(s->in);
	sb_autofree char *upper = NULL;
	sb_autofree char *before = NULL;
	struct sb_strbuf kt = SB_STRBUF_INIT;
	struct sb_exec_layer l;
	char key[SB_DIGEST_SIZE];
	bool empty = false, changed = false;
	int hit = 0;

	sb_strbuf_adds(&kt, text);
	if (key_extra) {
		sb_strbuf_addc(&kt, '\n');
		sb_strbuf_adds(&kt, key_extra);
	}
	sb_cache_key(st->key, kt.buf, kt.len, key);
	sb_strbuf_release(&kt);

	if (!x->o->no_cache) {
		hit = sb_cache_get(x, key, &l, &empty, st->created, err);
		if (hit < 0)
			return -1;
	}
	if (hit) {
		emit(s, SB_PROGRESS_CACHED, NULL, NULL);
		pthread_mutex_lock(&x->lock);
		x->cached++;
		pthread_mutex_unlock(&x->lock);
	} else {
		s->before = NULL;
		if (run(s, ctx, &upper, err) < 0)
			return -1;
		before = s->before;
		s->before = NULL;
		if (before ? sb_exec_commit_diff(x, before, upper, &changed, &l, err) < 0
			   : sb_exec_commit_upper(x, upper, &changed, &l, err) < 0)
			return -1;
		empty = !changed;
		sb_rfc3339(sb_build_time(), st->created);
		if (sb_cache_put(x, key, empty ? NULL : &l, st->created, err) < 0) {
			sb_exec_layer_release(&l);
			return -1;
		}
		pthread_mutex_lock(&x->lock);
		x->steps++;
		pthread_mutex_unlock(&x->lock);
	}
	memcpy(st->key, key, SB_DIGEST_SIZE);
	if (empty)
		history_add(s, created_by, true);
	else
		layer_add(s, &l, created_by);
	if (!hit)
		emit(s, SB_PROGRESS_DONE, NULL, NULL);
	return 0;
}

/* A writable overlay over the state for COPY, ADD and WORKDIR, with its
 * root open as *rootfd. */
struct rw_mount {
	char *merged, *upper, *work;
	int rootfd;
};

static int rw_mount_open(struct step *s, struct rw_mount *m, struct sb_error **err)
{
	memset(m, 0, sizeof(*m));
	m->rootfd = -1;
	if (sb_exec_mount_rw(s->x, s->st, &m->merged, &m->upper, &m->work, err) < 0)
		return -1;
	m->rootfd = open(m->merged, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->rootfd < 0)
		return sb_error_set(err, errno, "open %s", m->merged);
	return 0;
}

/* Unmount; hands the upper dir over in *upper. In copy mode (no work
 * dir) the written tree goes to *upper and the tree before to *before. */
static int rw_mount_close(struct rw_mount *m, char **upper, char **before, struct sb_error **err)
{
	int rc = 0;
	if (m->rootfd >= 0)
		close(m->rootfd);
	if (m->merged && !m->work) {
		if (upper && before) {
			*upper = m->merged;
			*before = m->upper;
		} else {
			if (m->merged)
				sb_rm_rf(AT_FDCWD, m->merged, NULL);
			if (m->upper)
				sb_rm_rf(AT_FDCWD, m->upper, NULL);
			free(m->merged);
			free(m->upper);
		}
		memset(m, 0, sizeof(*m));
		return 0;
	}
	if (m->merged && umount2(m->merged, 0) < 0 && umount2(m->merged, MNT_DETACH) < 0)
		rc = sb_error_set(err, errno, "umount %s", m->merged);
	if (m->merged)
		rmdir(m->merged);
	if (m->work)
		sb_rm_rf(AT_FDCWD, m->work, NULL);
	if (upper)
		*upper = m->upper;
	else
		free(m->upper);
	free(m->merged);
	free(m->work);
	memset(m, 0, sizeof(*m));
	return rc;
}

/* mkdir -p of an absolute path inside root, never leaving it. Created
 * directories get uid:gid when own. */
static int mkdir_in_root(int rootfd, const char *path, bool own, uid_t uid, gid_t gid, struct sb_error **err)
{
	sb_autofree char *p = sb_xstrdup(path);
	char *save = NULL;
	struct sb_strbuf cur = SB_STRBUF_INIT;
	int rc = 0;

	for (char *c = strtok_r(p, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
		int fd;
		if (cur.len)
			sb_strbuf_addc(&cur, '/');
		sb_strbuf_adds(&cur, c);
		fd = (int)syscall(SYS_openat2, rootfd, cur.buf, &how, sizeof(how));
		if (fd >= 0) {
			close(fd);
			continue;
		}
		if (errno != ENOENT) {
			rc = sb_error_set(err, errno, "mkdir %s", cur.buf);
			break;
		}
		{
			/* the parent exists and resolves inside the root */
			sb_autofree char *parent = sb_xstrdup(cur.buf);
			char *slash = strrchr(parent, '/');
			const char *base = slash ? slash + 1 : parent;
			struct open_how ph = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
			int pfd;
			if (slash)
				*slash = '\0';
			pfd = slash ? (int)syscall(SYS_openat2, rootfd, parent, &ph, sizeof(ph)) : dup(rootfd);
			if (pfd < 0) {
				rc = sb_error_set(err, errno, "mkdir %s", cur.buf);
				break;
			}
			if (mkdirat(pfd, base, 0755) < 0 && errno != EEXIST) {
				rc = sb_error_set(err, errno, "mkdir %s", cur.buf);
				close(pfd);
				break;
			}
			if (own && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
				rc = sb_error_set(err, errno, "chown %s", cur.buf);
				close(pfd);
				break;
			}
			close(pfd);
		}
	}
	sb_strbuf_release(&cur);
	return rc;
}

static int run_workdir(struct step *s, void *ctx, char **upper, struct sb_error **err)
{
	struct rw_mount m;
	const char *user = cfg_string(s->st, "User");
	struct sb_user u = { 0 };
	bool own = false;
	int rc;

	(void)ctx;
	if (rw_mount_open(s, &m, err) < 0) {
		rw_mount_close(&m, NULL, NULL, NULL);
		return -1;
	}
	/* dispatchWorkdir: the directory is made as the current USER */
	if (*user && sb_user_resolve(m.rootfd, user, &u, NULL) == 0)
		own = true;
	rc = mkdir_in_root(m.rootfd, s->in->workdir, own, u.uid, u.gid, err);
	sb_user_release(&u);
	if (rw_mount_close(&m, upper, &s->before, rc < 0 ? NULL : err) < 0)
		rc = -1;
	return rc;
}

/* ---- COPY / ADD ---- */

struct copy_src {
	int fd;
	bool is_context;
	char *view; /* an image view to unmount, or NULL */
};

static int copy_source(struct step *s, struct copy_src *cs, struct sb_error **err)
{
	const struct sb_instr *in = s->in;
	const char *path = NULL;

	memset(cs, 0, sizeof(*cs));
	cs->fd = -1;
	if (in->kind == SB_INSTR_ADD || !in->from || !*in->from) {
		cs->is_context = true;
		cs->fd = dup(s->x->ctx_fd);
		return cs->fd < 0 ? sb_error_set(err, errno, "dup") : 0;
	}
	if (in->from_stage >= 0) {
		if (sb_exec_stage_view(s->x, in->from_stage, &path, err) < 0)
			return -1;
	} else {
		struct sb_exec_image *img;
		if (sb_exec_image_get(s->x, in->from, &img, err) < 0 ||
		    sb_exec_image_view(s->x, img, &cs->view, err) < 0)
			return -1;
		path = cs->view;
	}
	cs->fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	return cs->fd < 0 ? sb_error_set(err, errno, "open %s", path) : 0;
}

static void copy_source_release(struct copy_src *cs)
{
	if (cs->fd >= 0)
		close(cs->fd);
	if (cs->view) {
		umount2(cs->view, MNT_DETACH);
		rmdir(cs->view);
		free(cs->view);
	}
}

static void copy_spec(struct step *s, const struct copy_src *cs, struct sb_copy_spec *cp)
{
	const struct sb_instr *in = s->in;
	memset(cp, 0, sizeof(*cp));
	cp->src_fd = cs->fd;
	cp->src_is_context = cs->is_context;
	cp->ignore = cs->is_context ? s->x->ignore : NULL;
	cp->srcs = (const char *const *)in->args;
	cp->nsrcs = in->nargs;
	cp->files = in->files;
	cp->nfiles = in->nfiles;
	cp->dest = in->dest;
	cp->workdir = cfg_string(s->st, "WorkingDir");
	cp->dst_fd = -1;
	cp->chown = in->chown && *in->chown ? in->chown : NULL;
	cp->chmod = in->chmod && *in->chmod ? in->chmod : NULL;
	cp->excludes = (const char *const *)in->excludes;
	cp->nexcludes = in->nexcludes;
	cp->parents = in->parents;
	cp->add = in->kind == SB_INSTR_ADD;
	cp->unpack = in->unpack;
	cp->checksum = in->checksum && *in->checksum ? in->checksum : NULL;
	cp->keep_git_dir = in->keep_git_dir;
	cp->progress = s->x->o->progress;
}

static int run_copy(struct step *s, void *ctx, char **upper, struct sb_error **err)
{
	struct sb_copy_spec cp;
	struct rw_mount m;
	int rc;

	if (rw_mount_open(s, &m, err) < 0) {
		rw_mount_close(&m, NULL, NULL, NULL);
		return -1;
	}
	copy_spec(s, ctx, &cp);
	cp.dst_fd = m.rootfd;
	rc = sb_copy_run(&cp, err);
	if (rw_mount_close(&m, upper, &s->before, rc < 0 ? NULL : err) < 0)
		rc = -1;
	if (rc < 0 && *upper) {
		sb_rm_rf(AT_FDCWD, *upper, NULL);
		free(*upper);
		*upper = NULL;
	}
	if (rc < 0 && s->before) {
		sb_rm_rf(AT_FDCWD, s->before, NULL);
		free(s->before);
		s->before = NULL;
	}
	return rc;
}

static char *copy_created_by(const struct sb_instr *in)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	sb_strbuf_adds(&sb, in->kind == SB_INSTR_ADD ? "ADD" : "COPY");
	if (in->parents)
		sb_strbuf_adds(&sb, " --parents");
	if (in->from && *in->from)
		sb_strbuf_addf(&sb, " --from=%s", in->from);
	if (in->chown && *in->chown)
		sb_strbuf_addf(&sb, " --chown=%s", in->chown);
	if (in->chmod && *in->chmod)
		sb_strbuf_addf(&sb, " --chmod=%s", in->chmod);
	for (size_t i = 0; i < in->nargs; i++)
		sb_strbuf_addf(&sb, " %s", in->args[i]);
	for (size_t i = 0; i < in->nfiles; i++)
		sb_strbuf_addf(&sb, " <<%s", in->files[i].name);
	sb_strbuf_addf(&sb, " %s # buildkit", in->dest);
	return sb_strbuf_detach(&sb, NULL);
}

static int do_copy(struct step *s, struct sb_error **err)
{
	struct copy_src cs;
	struct sb_copy_spec cp;
	char digest[SB_DIGEST_SIZE];
	sb_autofree char *extra = NULL, *by = copy_created_by(s->in);
	int rc = -1;

	if (copy_source(s, &cs, err) < 0)
		goto out;
	copy_spec(s, &cs, &cp);
	if (sb_copy_digest(&cp, digest, err) < 0)
		goto out;
	extra = sb_xasprintf("sources %s workdir %s", digest, cp.workdir);
	rc = fs_step(s, extra, by, run_copy, &cs, err);
out:
	copy_source_release(&cs);
	return rc;
}

/* ---- RUN ---- */

static int run_run(struct step *s, void *ctx, char **upper, struct sb_error **err)
{
	(void)ctx;
	return sb_exec_run_step(s->x, s->st, s->in, s->id, upper, &s->before, err);
}

static char *run_created_by(struct sb_exec_state *st, const struct sb_instr *in)
{
	json_t *cmd = command_json(st, in);
	struct sb_strbuf sb = SB_STRBUF_INIT;
	sb_strbuf_adds(&sb, "RUN");
	for (size_t i = 0; i < json_array_size(cmd); i++)
		sb_strbuf_addf(&sb, " %s", json_string_value(json_array_get(cmd, i)));
	sb_strbuf_adds(&sb, " # buildkit");
	json_decref(cmd);
	return sb_strbuf_detach(&sb, NULL);
}

static int do_run(struct step *s, struct sb_error **err)
{
	struct sb_exec_state *st = s->st;
	struct sb_strbuf extra = SB_STRBUF_INIT;
	sb_autofree char *by = run_created_by(st, s->in);
	int rc;

	/* what the command sees besides the instruction: ARGs in scope, and
	 * the content of what --mount brings in */
	for (size_t i = 0; i < st->nargs; i++)
		sb_strbuf_addf(&extra, "arg %s\n", st->args[i]);
	for (size_t i = 0; i < s->in->nmounts; i++) {
		const struct sb_mount *m = &s->in->mounts[i];
		if (m->from_stage >= 0)
			sb_strbuf_addf(&extra, "mount %zu stage %s\n", i, s->x->states[m->from_stage].key);
		else if (m->type && strcmp(m->type, "bind") == 0 && !m->from) {
			struct sb_copy_spec cp;
			char digest[SB_DIGEST_SIZE];
			const char *src = m->source && *m->source ? m->source : ".";
			memset(&cp, 0, sizeof(cp));
			cp.src_fd = s->x->ctx_fd;
			cp.src_is_context = true;
			cp.ignore = s->x->ignore;
			cp.srcs = &src;
			cp.nsrcs = 1;
			cp.dest = "/";
			cp.dst_fd = -1;
			cp.unpack = -1;
			if (sb_copy_digest(&cp, digest, err) < 0) {
				sb_strbuf_release(&extra);
				return -1;
			}
			sb_strbuf_addf(&extra, "mount %zu context %s\n", i, digest);
		}
	}
	rc = fs_step(s, extra.buf, by, run_run, NULL, err);
	sb_strbuf_release(&extra);
	return rc;
}

/* ---- the stage ---- */

static int init_state(struct sb_exec *x, const struct sb_stage *stage, struct sb_exec_state *st,
		      struct sb_error **err)
{
	memset(st, 0, sizeof(*st));
	/* until a step runs, times are the base's (a stage's, an image's;
	 * now for scratch) */
	sb_rfc3339(sb_build_time(), st->created);
	switch (stage->base_kind) {
	case SB_BASE_SCRATCH:
		sb_image_config_new(&st->cfg, st->created);
		sb_cache_key("", "scratch", 7, st->key);
		break;
	case SB_BASE_STAGE: {
		const struct sb_exec_state *b = &x->states[stage->base_stage];
		st->cfg.root = json_deep_copy(b->cfg.root);
		st->layers = sb_xcalloc(b->nlayers + 1, sizeof(*st->layers));
		for (size_t i = 0; i < b->nlayers; i++)
			sb_exec_layer_copy(&st->layers[i], &b->layers[i]);
		st->nlayers = b->nlayers;
		memcpy(st->key, b->key, SB_DIGEST_SIZE);
		memcpy(st->created, b->created, sizeof(st->created));
		st->cmd_set = false;
		for (size_t i = 0; i < b->nargs; i++) {
			st->args = sb_xrealloc(st->args, (st->nargs + 1) * sizeof(char *));
			st->args[st->nargs++] = sb_xstrdup(b->args[i]);
		}
		break;
	}
	case SB_BASE_IMAGE: {
		struct sb_exec_image *img;
		if (sb_exec_image_get(x, stage->base_ref, &img, err) < 0 || sb_exec_image_prepare(x, img, err) < 0)
			return -1;
		st->cfg.root = json_deep_copy(img->cfg.root);
		st->layers = sb_xcalloc(img->m.nlayers + 1, sizeof(*st->layers));
		for (size_t i = 0; i < img->m.nlayers; i++)
			sb_exec_layer_copy(&st->layers[i], &img->layers[i]);
		st->nlayers = img->m.nlayers;
		{
			char t[16 + SB_DIGEST_SIZE];
			int n = snprintf(t, sizeof(t), "image %s", img->manifest.digest);
			sb_cache_key("", t, (size_t)n, st->key);
		}
		{
			const char *c = json_string_value(json_object_get(img->cfg.root, "created"));
			if (c && strlen(c) < sizeof(st->created))
				memcpy(st->created, c, strlen(c) + 1);
		}
		/* the triggers run now; the new image does not carry them */
		json_object_del(cfg_obj(st), "OnBuild");
		break;
	}
	}
	if (!json_is_object(json_object_get(st->cfg.root, "rootfs"))) {
		json_t *r = json_object();
		json_object_set_new(r, "type", json_string("layers"));
		json_object_set_new(r, "diff_ids", json_array());
		json_object_set_new(st->cfg.root, "rootfs", r);
	}
	if (!json_is_array(json_object_get(st->cfg.root, "history")))
		json_object_set_new(st->cfg.root, "history", json_array());
	/* BuildKit gives a base without PATH the default one */
	{
		json_t *env = json_object_get(cfg_obj(st), "Env");
		bool has = false;
		for (size_t i = 0; json_is_array(env) && i < json_array_size(env); i++) {
			const char *e = json_string_value(json_array_get(env, i));
			if (e && strncmp(e, "PATH=", 5) == 0)
				has = true;
		}
		if (!has)
			env_set(st, "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	}
	return 0;
}

static bool is_fs_step(enum sb_instr_kind k)
{
	return k == SB_INSTR_RUN || k == SB_INSTR_COPY || k == SB_INSTR_ADD || k == SB_INSTR_WORKDIR;
}

int sb_exec_stage(struct sb_exec *x, int index, struct sb_error **err)
{
	const struct sb_stage *stage = &x->plan->stages[index];
	struct sb_exec_state *st = &x->states[index];
	struct step s;
	sb_autofree char *prefix = NULL;
	unsigned total = 1, n = 1;

	for (size_t i = 0; i < stage->ninstrs; i++)
		if (is_fs_step(stage->instrs[i].kind))
			total++;
	if (x->plan->nstages > 1)
		prefix = stage->name ? sb_xasprintf("%s ", stage->name) : sb_xasprintf("stage-%d ", stage->index);
	else
		prefix = sb_xstrdup("");

	memset(&s, 0, sizeof(s));
	s.x = x;
	s.st = st;
	s.stage = stage;
	{
		sb_autofree char *what = sb_xasprintf("[%s1/%u] FROM %s", prefix, total,
						      stage->base_kind == SB_BASE_IMAGE ? stage->base_ref
										   : stage->base_name);
		snprintf(s.id, sizeof(s.id), "%u", sb_exec_vertex(x));
		emit(&s, SB_PROGRESS_START, what, NULL);
		if (init_state(x, stage, st, err) < 0) {
			emit(&s, SB_PROGRESS_ERROR, NULL, (*err)->msg);
			return sb_error_wrap(err, "%s:%d", name_of(x), stage->line);
		}
		emit(&s, SB_PROGRESS_DONE, NULL, NULL);
	}

	for (size_t i = 0; i < stage->ninstrs; i++) {
		const struct sb_instr *in = &stage->instrs[i];
		int rc;
		s.in = in;
		if (!is_fs_step(in->kind)) {
			/* metadata changes what later steps see: chain it */
			sb_autofree char *text = sb_instr_to_json(in);
			char key[SB_DIGEST_SIZE];
			if (do_metadata(&s) < 0)
				return at_line(&s, err);
			sb_cache_key(st->key, text, strlen(text), key);
			memcpy(st->key, key, SB_DIGEST_SIZE);
			continue;
		}
		{
			sb_autofree char *what = sb_xasprintf("[%s%u/%u] %s", prefix, ++n, total, in->code);
			snprintf(s.id, sizeof(s.id), "%u", sb_exec_vertex(x));
			emit(&s, SB_PROGRESS_START, what, NULL);
		}
		switch (in->kind) {
		case SB_INSTR_RUN: rc = do_run(&s, err); break;
		case SB_INSTR_WORKDIR: {
			sb_autofree char *by = sb_xasprintf("WORKDIR %s", in->workdir);
			json_object_set_new(cfg_obj(st), "WorkingDir", json_string(in->workdir));
			rc = fs_step(&s, cfg_string(st, "User"), by, run_workdir, NULL, err);
			break;
		}
		default: rc = do_copy(&s, err); break;
		}
		if (rc < 0) {
			emit(&s, SB_PROGRESS_ERROR, NULL, *err ? (*err)->msg : "failed");
			return at_line(&s, err);
		}
	}
	st->done = true;
	return 0;
}
