/* Profile records (JSON) and seccomp profiles made from a trace. */
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/profile/record.h"

static int open_in_root(int rootfd, const char *path, int flags)
{
	struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW), .resolve = RESOLVE_IN_ROOT };
	while (*path == '/')
		path++;
	if (!*path)
		path = ".";
	return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sb_profile_entry *)a)->path, ((const struct sb_profile_entry *)b)->path);
}

static int hash_file(int rootfd, const char *path, char out[SB_DIGEST_SIZE], struct sb_error **err)
{
	sb_autoclose int fd = open_in_root(rootfd, path, O_RDONLY);
	struct sb_sha256 h;
	char buf[65536];
	ssize_t n;

	if (fd < 0)
		return sb_error_set(err, errno, "open %s", path);
	sb_sha256_init(&h);
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			sb_sha256_release(&h);
			return sb_error_set(err, errno, "read %s", path);
		}
		sb_sha256_update(&h, buf, (size_t)n);
	}
	sb_sha256_final(&h, out);
	return 0;
}

int sb_profile_describe(int rootfd, const char *const *paths, size_t n, struct sb_profile_entry **out, size_t *nout,
			struct sb_error **err)
{
	struct sb_profile_entry *v = sb_xcalloc(n + 1, sizeof(*v));
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		sb_autoclose int fd = open_in_root(rootfd, paths[i], O_PATH);
		struct sb_profile_entry *e;
		struct stat st;

		if (fd < 0 || fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		e = &v[k];
		memset(e, 0, sizeof(*e));
		e->path = sb_xasprintf("/%s", paths[i] + strspn(paths[i], "/"));
		e->mode = st.st_mode & 07777;
		e->uid = st.st_uid;
		e->gid = st.st_gid;
		if (S_ISREG(st.st_mode)) {
			e->type = 'f';
			e->size = (uint64_t)st.st_size;
			if (hash_file(rootfd, paths[i], e->digest, err) < 0) {
				free(e->path);
				goto fail;
			}
		} else if (S_ISDIR(st.st_mode)) {
			e->type = 'd';
		} else if (S_ISLNK(st.st_mode)) {
			char buf[4096];
			ssize_t l = readlinkat(fd, "", buf, sizeof(buf) - 1);
			if (l < 0) {
				free(e->path);
				continue;
			}
			buf[l] = '\0';
			e->type = 'l';
			e->target = sb_xstrdup(buf);
		} else {
			e->type = 'o';
		}
		k++;
	}
	qsort(v, k, sizeof(*v), entry_cmp);
	/* unique */
	{
		size_t w = 0;
		for (size_t i = 0; i < k; i++) {
			if (w && !strcmp(v[w - 1].path, v[i].path)) {
				free(v[i].path);
				free(v[i].target);
				continue;
			}
			v[w++] = v[i];
		}
		k = w;
	}
	*out = v;
	*nout = k;
	return 0;
fail:
	for (size_t i = 0; i < k; i++) {
		free(v[i].path);
		free(v[i].target);
	}
	free(v);
	return -1;
}

static const char *type_name(char t)
{
	switch (t) {
	case 'f': return "file";
	case 'd': return "dir";
	case 'l': return "symlink";
	default: return "other";
	}
}

static json_t *strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

int sb_profile_record_to_json(const struct sb_profile_record *r, struct sb_strbuf *out, struct sb_error **err)
{
	json_t *root = json_object(), *closure = json_array();
	char *s;

	json_object_set_new(root, "version", json_integer(1));
	json_object_set_new(root, "source_image", json_string(r->source_image));
	json_object_set_new(root, "tracer", r->tracer ? json_string(r->tracer) : json_null());
	json_object_set_new(root, "probes", strv(r->probes, r->nprobes));
	for (size_t i = 0; i < r->nentries; i++) {
		const struct sb_profile_entry *e = &r->entries[i];
		json_t *o = json_object();
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o", e->mode);
		json_object_set_new(o, "path", json_string(e->path));
		json_object_set_new(o, "type", json_string(type_name(e->type)));
		json_object_set_new(o, "mode", json_string(mode));
		json_object_set_new(o, "uid", json_integer(e->uid));
		json_object_set_new(o, "gid", json_integer(e->gid));
		if (e->type == 'f') {
			json_object_set_new(o, "size", json_integer((json_int_t)e->size));
			json_object_set_new(o, "digest", json_string(e->digest));
		}
		if (e->type == 'l')
			json_object_set_new(o, "target", json_string(e->target));
		json_array_append_new(closure, o);
	}
	json_object_set_new(root, "closure", closure);
	json_object_set_new(root, "repaired", strv(r->repaired, r->nrepaired));
	json_object_set_new(root, "syscalls", strv(r->syscalls, r->nsyscalls));
	if (r->slim_stage) {
		json_t *st = json_loads(r->slim_stage, 0, NULL);
		if (!json_is_object(st)) {
			json_decref(st);
			json_decref(root);
			return sb_error_setx(err, EINVAL, "profile: the slim stage is no JSON object");
		}
		json_object_set_new(root, "slim_stage", st);
	}
	s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return sb_error_setx(err, EINVAL, "profile: cannot encode (a path is not UTF-8?)");
	sb_strbuf_adds(out, s);
	sb_strbuf_addc(out, '\n');
	free(s);
	return 0;
}

static char **strv_parse(json_t *a, size_t *n, const char *what, struct sb_error **err)
{
	char **v;
	*n = 0;
	if (!a)
		return sb_xcalloc(1, sizeof(char *));
	if (!json_is_array(a)) {
		sb_error_setx(err, EINVAL, "profile: %s is not an array", what);
		return NULL;
	}
	v = sb_xcalloc(json_array_size(a) + 1, sizeof(char *));
	for (size_t i = 0; i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));
		if (!s) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			sb_error_setx(err, EINVAL, "profile: %s[%zu] is not a string", what, i);
			return NULL;
		}
		v[i] = sb_xstrdup(s);
	}
	*n = json_array_size(a);
	return v;
}

int sb_profile_record_parse(const char *data, size_t len, struct sb_profile_record *r, struct sb_error **err)
{
	json_error_t je;
	json_t *root = json_loadb(data, len, 0, &je), *closure;
	const char *src, *tracer;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (!root)
		return sb_error_setx(err, EINVAL, "profile: line %d: %s", je.line, je.text);
	if (json_integer_value(json_object_get(root, "version")) != 1) {
		sb_error_setx(err, EINVAL, "profile: version must be 1");
		goto out;
	}
	src = json_string_value(json_object_get(root, "source_image"));
	if (src && sb_digest_valid(src))
		memcpy(r->source_image, src, SB_DIGEST_SIZE);
	tracer = json_string_value(json_object_get(root, "tracer"));
	r->tracer = tracer ? sb_xstrdup(tracer) : NULL;
	if (!(r->probes = strv_parse(json_object_get(root, "probes"), &r->nprobes, "probes", err)) ||
	    !(r->repaired = strv_parse(json_object_get(root, "repaired"), &r->nrepaired, "repaired", err)) ||
	    !(r->syscalls = strv_parse(json_object_get(root, "syscalls"), &r->nsyscalls, "syscalls", err)))
		goto out;
	closure = json_object_get(root, "closure");
	if (!json_is_array(closure)) {
		sb_error_setx(err, EINVAL, "profile: closure is not an array");
		goto out;
	}
	r->entries = sb_xcalloc(json_array_size(closure) + 1, sizeof(*r->entries));
	for (size_t i = 0; i < json_array_size(closure); i++) {
		json_t *o = json_array_get(closure, i);
		struct sb_profile_entry *e = &r->entries[r->nentries];
		const char *path = json_string_value(json_object_get(o, "path"));
		const char *type = json_string_value(json_object_get(o, "type"));
		const char *mode = json_string_value(json_object_get(o, "mode"));
		const char *digest = json_string_value(json_object_get(o, "digest"));
		const char *target = json_string_value(json_object_get(o, "target"));
		if (!path || path[0] != '/' || !type || !mode || strstr(path, "/../") ||
		    (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/.."))) {
			sb_error_setx(err, EINVAL, "profile: closure[%zu]: needs an absolute path without '..', a type "
				      "and a mode", i);
			goto out;
		}
		e->path = sb_xstrdup(path);
		e->type = !strcmp(type, "file") ? 'f' : !strcmp(type, "dir") ? 'd' : !strcmp(type, "symlink") ? 'l' : 'o';
		e->mode = (uint32_t)strtoul(mode, NULL, 8) & 07777;
		e->uid = (uint32_t)json_integer_value(json_object_get(o, "uid"));
		e->gid = (uint32_t)json_integer_value(json_object_get(o, "gid"));
		e->size = (uint64_t)json_integer_value(json_object_get(o, "size"));
		if (digest && sb_digest_valid(digest))
			memcpy(e->digest, digest, SB_DIGEST_SIZE);
		e->target = target ? sb_xstrdup(target) : NULL;
		r->nentries++;
	}
	{
		json_t *st = json_object_get(root, "slim_stage");
		if (st && !json_is_object(st)) {
			sb_error_setx(err, EINVAL, "profile: slim_stage is not an object");
			goto out;
		}
		if (st && !(r->slim_stage = json_dumps(st, JSON_COMPACT)))
			abort();
	}
	rc = 0;
out:
	json_decref(root);
	if (rc < 0)
		sb_profile_record_release(r);
	return rc;
}

void sb_profile_record_release(struct sb_profile_record *r)
{
	for (size_t i = 0; i < r->nentries; i++) {
		free(r->entries[i].path);
		free(r->entries[i].target);
	}
	free(r->entries);
	for (size_t i = 0; i < r->nprobes; i++)
		free(r->probes[i]);
	free(r->probes);
	for (size_t i = 0; i < r->nrepaired; i++)
		free(r->repaired[i]);
	free(r->repaired);
	for (size_t i = 0; i < r->nsyscalls; i++)
		free(r->syscalls[i]);
	free(r->syscalls);
	free(r->slim_stage);
	free(r->tracer);
	memset(r, 0, sizeof(*r));
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

char **sb_syscall_names(const uint64_t *bits, size_t nbits, size_t *n)
{
	char **v = sb_xcalloc(nbits + 1, sizeof(char *));
	size_t k = 0;

	for (size_t nr = 0; nr < nbits; nr++) {
		char *name;
		if (!((bits[nr / 64] >> (nr % 64)) & 1))
			continue;
		name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, (int)nr);
		if (name) {
			v[k++] = sb_xstrdup(name);
			free(name);
		}
	}
	qsort(v, k, sizeof(char *), str_cmp);
	*n = k;
	return v;
}

int sb_seccomp_profile_json(char *const *syscalls, size_t n, struct sb_strbuf *out, struct sb_error **err)
{
	/* what runc and crun still call after loading the filter, before
	 * the program's own execve takes over */
	static const char *const runtime[] = {
		"execve", "exit", "exit_group", "futex", "rt_sigreturn", "rt_sigaction", "rt_sigprocmask",
		"close", "close_range", "fstat", "newfstatat", "getpid", "capget", "capset", "prctl", "fcntl",
		"read", "write", "epoll_pwait", "nanosleep", "openat", "fstatfs", "statfs", "getdents64", "lseek",
		"mmap", "munmap", "brk", "getppid", "sched_yield", "tgkill", "kill", "wait4", "waitid", "setns",
		"faccessat2", "access", "readlinkat", "dup3", "setgroups", "setuid", "setgid", "setresuid", "setresgid",
		"chdir", "fchdir", "umask", "getuid", "getgid", "geteuid", "getegid", "arch_prctl", "set_tid_address",
		"set_robust_list", "rseq", "prlimit64", "getrandom", "sigaltstack", "pipe2", "socket", "connect",
		"getcwd", "statx", "stat", "lstat", "uname", "openat2", "gettid", "clone", "clone3", "mprotect",
		"madvise", "sendmsg", "recvmsg", "getsockopt", "setsockopt", "epoll_ctl", "epoll_create1", "dup2",
		"fchown", "fchmod", "keyctl", "ioctl", "pidfd_open", "pidfd_send_signal",
	};
	json_t *root = json_object(), *arches = json_array(), *rules = json_array(), *rule = json_object();
	json_t *names = json_array();
	char **all = sb_xcalloc(n + SB_ARRAY_SIZE(runtime) + 1, sizeof(char *));
	size_t k = 0;
	char *s;

	for (size_t i = 0; i < n; i++)
		all[k++] = syscalls[i];
	for (size_t i = 0; i < SB_ARRAY_SIZE(runtime); i++)
		all[k++] = (char *)runtime[i];
	qsort(all, k, sizeof(char *), str_cmp);
	for (size_t i = 0; i < k; i++)
		if (i == 0 || strcmp(all[i], all[i - 1]))
			json_array_append_new(names, json_string(all[i]));
	free(all);
	json_object_set_new(root, "defaultAction", json_string("SCMP_ACT_ERRNO"));
	json_object_set_new(root, "defaultErrnoRet", json_integer(1));
	json_array_append_new(arches, json_string("SCMP_ARCH_X86_64"));
	json_array_append_new(arches, json_string("SCMP_ARCH_X86"));
	json_array_append_new(arches, json_string("SCMP_ARCH_X32"));
	json_object_set_new(root, "architectures", arches);
	json_object_set_new(rule, "names", names);
	json_object_set_new(rule, "action", json_string("SCMP_ACT_ALLOW"));
	json_array_append_new(rules, rule);
	json_object_set_new(root, "syscalls", rules);
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!s)
		return sb_error_setx(err, ENOMEM, "encode seccomp profile");
	sb_strbuf_adds(out, s);
	sb_strbuf_addc(out, '\n');
	free(s);
	return 0;
}
