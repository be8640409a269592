/* The sandbox's filesystem, set up by its init (PID 1) in its own mount
 * namespace: the rootfs, pivot_root, /proc, /dev, /sys, masked paths,
 * /etc/resolv.conf and /etc/hosts, RUN --mount targets.
 *
 * Host objects (device nodes, bind sources) are opened as detached mount
 * trees with open_tree(OPEN_TREE_CLONE) before pivot_root, and attached
 * with move_mount() after it. Every target path is therefore resolved
 * after pivot_root, when "/" is the rootfs: a symlink planted in the image
 * (say /proc -> /etc on the host) resolves inside the rootfs and can never
 * point a mount at the host, which resolving "<rootfs>/proc" from the host
 * side would allow. */
#include <fcntl.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "runtime/core/fs.h"
#include "runtime/sandbox/internal.h"

static const char *const dev_nodes[6] = { "null", "zero", "full", "random", "urandom", "tty" };

/* Docker's masked paths (moby oci/defaults.go): files get /dev/null bound
 * over them, directories an empty read-only tmpfs. */
static const char *const masked_paths[] = {
	"/proc/asound",   "/proc/acpi",        "/proc/interrupts", "/proc/kcore",
	"/proc/keys",     "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
	"/proc/sched_debug", "/proc/scsi",     "/sys/firmware",    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static void undo_add(struct sb_mount_undo *undo, const char *path, bool dir)
{
	if (!undo)
		return;
	if (undo->n == undo->alloc) {
		size_t a = undo->alloc;
		undo->paths = sb_xgrow(undo->paths, &a, undo->n + 1, sizeof(*undo->paths));
		undo->is_dir = sb_xgrow(undo->is_dir, &undo->alloc, undo->n + 1, sizeof(*undo->is_dir));
	}
	undo->paths[undo->n] = sb_xstrdup(path);
	undo->is_dir[undo->n++] = dir;
}

void sb_mounts_undo(struct sb_mount_undo *undo)
{
	/* Best effort: a directory the command filled is left alone. */
	for (size_t i = undo->n; i-- > 0;) {
		umount2(undo->paths[i], MNT_DETACH | UMOUNT_NOFOLLOW);
		if (undo->is_dir[i])
			rmdir(undo->paths[i]);
		else
			unlink(undo->paths[i]);
		free(undo->paths[i]);
	}
	free(undo->paths);
	free(undo->is_dir);
	memset(undo, 0, sizeof(*undo));
}

int sb_mkdir_in_root(const char *path, mode_t mode, struct sb_mount_undo *undo, struct sb_error **err)
{
	sb_autofree char *p = sb_xstrdup(path);
	for (char *s = p + 1;; s++) {
		bool end = !*s;
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		if (*p && mkdir(p, mode) == 0) {
			undo_add(undo, p, true);
		} else if (*p) {
			struct stat st;
			if (errno != EEXIST)
				return sb_error_set(err, errno, "mkdir %s", p);
			if (stat(p, &st) < 0)
				return sb_error_set(err, errno, "stat %s", p);
			if (!S_ISDIR(st.st_mode))
				return sb_error_set(err, ENOTDIR, "mkdir %s", p);
		}
		if (end)
			break;
		*s = '/';
	}
	return 0;
}

/* Make sure a mount target exists: a directory, or an empty file when a
 * file is to be bound over it. */
static int make_target(const char *path, bool dir, struct sb_mount_undo *undo, struct sb_error **err)
{
	sb_autofree char *parent = NULL;
	const char *slash = strrchr(path, '/');
	sb_autoclose int fd = -1;

	if (dir)
		return sb_mkdir_in_root(path, 0755, undo, err);
	parent = sb_xstrndup(path, (size_t)(slash - path));
	if (*parent && sb_mkdir_in_root(parent, 0755, undo, err) < 0)
		return -1;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd >= 0) {
		undo_add(undo, path, false);
		return 0;
	}
	if (errno != EEXIST)
		return sb_error_set(err, errno, "create mount point %s", path);
	return 0;
}

/* The lower layers as one "lowerdir=" value, for kernels before 6.8. */
static int lowerdir_joined(int fs, const char *const *lower_dirs, struct sb_error **err)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	int ret = 0;
	for (const char *const *l = lower_dirs; *l; l++) {
		if (strpbrk(*l, ":,\\")) {
			ret = sb_error_setx(err, EINVAL, "overlay lowerdir %s: ':', ',' or '\\' in the path", *l);
			goto out;
		}
		if (l != lower_dirs)
			sb_strbuf_addc(&sb, ':');
		sb_strbuf_adds(&sb, *l);
	}
	if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", sb.buf, 0) < 0)
		ret = sb_error_set(err, errno, "overlay lowerdir");
out:
	sb_strbuf_release(&sb);
	return ret;
}

int sb_overlay_mount(const char *const *lower_dirs, const char *upper_dir, const char *work_dir,
		     const char *target, struct sb_error **err)
{
	sb_autoclose int fs = -1;
	sb_autoclose int mnt = -1;
	size_t n = 0;

	while (lower_dirs[n])
		n++;
	if (n == 0)
		return sb_error_setx(err, EINVAL, "overlay without a lower directory");
	if (!upper_dir && n == 1) {
		/* overlayfs wants two lowers without an upper: a read-only
		 * bind of the one layer is the same view */
		if (mount(lower_dirs[0], target, NULL, MS_BIND, NULL) < 0)
			return sb_error_set(err, errno, "bind %s on %s", lower_dirs[0], target);
		if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
			return sb_error_set(err, errno, "make %s read-only", target);
		return 0;
	}
	/* lowerdir+ (Linux 6.8) takes one layer per call: no escaping of ':'
	 * or ',' in paths and no page-size limit on the option string, which
	 * a deep image would pass. */
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0 && errno == ENODEV)
		return 1;
	if (fs < 0)
		return sb_error_set(err, errno, "fsopen overlay");
	for (const char *const *l = lower_dirs; *l; l++) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", *l, 0) == 0)
			continue;
		if (errno != EINVAL || l != lower_dirs)
			return sb_error_set(err, errno, "overlay lowerdir %s", *l);
		if (lowerdir_joined(fs, lower_dirs, err) < 0)
			return -1;
		break;
	}
	/* index=off, as containerd's snapshotter: with the inodes index on
	 * (a kernel default on some distributions) a lower directory that
	 * another build's overlay uses at the same time is refused. Older
	 * kernels without the option reject it: not an error. */
	fsconfig(fs, FSCONFIG_SET_STRING, "index", "off", 0);
	/* a renamed directory or a metadata-only copy-up would leave part of
	 * an entry in the lower layers: an upper dir must hold whole entries
	 * to be packed as a layer */
	fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "off", 0);
	fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "off", 0);
	if (upper_dir) {
		if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", upper_dir, 0) < 0)
			return sb_error_set(err, errno, "overlay upperdir %s", upper_dir);
		if (fsconfig(fs, FSCONFIG_SET_STRING, "workdir", work_dir, 0) < 0)
			return sb_error_set(err, errno, "overlay workdir %s", work_dir);
	}
	if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		/* EOPNOTSUPP, EINVAL: the upper filesystem lacks what overlay
		 * needs (d_type, xattrs), or is itself an overlay */
		if (errno == EOPNOTSUPP || errno == EINVAL)
			return 1;
		return sb_error_set(err, errno, "create overlay at %s", target);
	}
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, upper_dir ? 0 : MOUNT_ATTR_RDONLY);
	if (mnt < 0)
		return sb_error_set(err, errno, "fsmount overlay");
	if (move_mount(mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return sb_error_set(err, errno, "mount overlay on %s", target);
	return 0;
}

int sb_mounts_enter_rootfs(const struct sb_sandbox_spec *spec, bool *copied, struct sb_error **err)
{
	const char *root = spec->rootfs;

	*copied = false;
	/* Nothing mounted here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return sb_error_set(err, errno, "make / private");
	if (spec->lower_dirs && spec->lower_dirs[0]) {
		int rc = 1;
		if (!spec->upper_dir || !spec->work_dir)
			return sb_error_setx(err, EINVAL, "overlay rootfs needs an upper and a work directory");
		if (!(spec->flags & SB_SANDBOX_COPY_ROOTFS))
			rc = sb_overlay_mount(spec->lower_dirs, spec->upper_dir, spec->work_dir, spec->rootfs, err);
		if (rc <= 0)
			return rc;
		if (sb_rootfs_copy(spec, err) < 0)
			return -1;
		*copied = true;
		root = spec->upper_dir;
	}
	/* pivot_root needs the new root to be a mount point. */
	if (mount(root, spec->rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
		return sb_error_set(err, errno, "bind %s on %s", root, spec->rootfs);
	return 0;
}

static int clone_tree(const char *path, bool recursive, bool rdonly, struct sb_error **err)
{
	int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0));
	if (fd < 0)
		return sb_error_set(err, errno, "open_tree %s", path);
	if (rdonly) {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
		if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) < 0) {
			int e = errno;
			close(fd);
			return sb_error_set(err, e, "make %s read-only", path);
		}
	}
	return fd;
}

int sb_mounts_prepare(const struct sb_sandbox_spec *spec, struct sb_host_fds *h, struct sb_error **err)
{
	for (size_t i = 0; i < SB_ARRAY_SIZE(dev_nodes); i++) {
		sb_autofree char *p = sb_xasprintf("/dev/%s", dev_nodes[i]);
		if ((h->dev[i] = clone_tree(p, false, false, err)) < 0)
			return -1;
	}
	h->mounts = sb_xcalloc(spec->n_mounts ? spec->n_mounts : 1, sizeof(int));
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct sb_sandbox_mount *m = &spec->mounts[i];
		h->mounts[i] = -1;
		if (m->type != SB_MOUNT_BIND)
			continue;
		if ((h->mounts[i] = clone_tree(m->source, true, m->flags & SB_MOUNT_RDONLY, err)) < 0)
			return sb_error_wrap(err, "mount %s", m->target);
	}
	return 0;
}

static int attach(int tree, const char *target, struct sb_error **err)
{
	if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return sb_error_set(err, errno, "mount on %s", target);
	return 0;
}

static int pivot(const char *rootfs, struct sb_error **err)
{
	/* pivot_root(".", ".") stacks the old root under the new one; the
	 * detach then drops it (runc's trick), so no host path stays
	 * reachable and no directory for the old root is needed. */
	if (chdir(rootfs) < 0)
		return sb_error_set(err, errno, "chdir %s", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return sb_error_set(err, errno, "pivot_root %s", rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		return sb_error_set(err, errno, "detach the old root");
	if (chdir("/") < 0)
		return sb_error_set(err, errno, "chdir /");
	return 0;
}

static int do_mount(const char *src, const char *target, const char *type, unsigned long flags, const char *data,
		    struct sb_mount_undo *undo, struct sb_error **err)
{
	if (sb_mkdir_in_root(target, 0755, undo, err) < 0)
		return -1;
	if (mount(src, target, type, flags, data) < 0)
		return sb_error_set(err, errno, "mount %s on %s", type, target);
	return 0;
}

static int setup_dev(struct sb_host_fds *h, struct sb_mount_undo *undo, struct sb_error **err)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },     { "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" }, { "/proc/self/fd/2", "/dev/stderr" },
		{ "pts/ptmx", "/dev/ptmx" },        { "/proc/kcore", "/dev/core" },
	};
	if (do_mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", undo, err) < 0)
		return -1;
	for (size_t i = 0; i < SB_ARRAY_SIZE(dev_nodes); i++) {
		sb_autofree char *p = sb_xasprintf("/dev/%s", dev_nodes[i]);
		if (make_target(p, false, NULL, err) < 0 || attach(h->dev[i], p, err) < 0)
			return -1;
	}
	if (do_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5",
		     NULL, err) < 0 ||
	    do_mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", NULL, err) < 0)
		return -1;
	/* POSIX message queues are optional in the kernel (ENODEV). */
	if (mkdir("/dev/mqueue", 0755) < 0)
		return sb_error_set(err, errno, "mkdir /dev/mqueue");
	if (mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		if (errno != ENODEV)
			return sb_error_set(err, errno, "mount mqueue on /dev/mqueue");
		rmdir("/dev/mqueue");
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(links); i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			return sb_error_set(err, errno, "symlink %s", links[i][1]);
	return 0;
}

static int mask_paths(struct sb_error **err)
{
	for (size_t i = 0; i < SB_ARRAY_SIZE(masked_paths); i++) {
		const char *p = masked_paths[i];
		struct stat st;
		if (lstat(p, &st) < 0)
			continue; /* not on this kernel */
		if (S_ISDIR(st.st_mode)) {
			if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
				return sb_error_set(err, errno, "mask %s", p);
		} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
			return sb_error_set(err, errno, "mask %s", p);
		}
	}
	for (size_t i = 0; i < SB_ARRAY_SIZE(readonly_paths); i++) {
		const char *p = readonly_paths[i];
		if (access(p, F_OK) < 0)
			continue;
		if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0 ||
		    mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			return sb_error_set(err, errno, "make %s read-only", p);
	}
	return 0;
}

static char *default_hosts(const struct sb_sandbox_spec *spec)
{
	const char *hn = spec->hostname ? spec->hostname : "buildkitsandbox";
	return sb_xasprintf("127.0.0.1\tlocalhost %s\n::1\tlocalhost ip6-localhost ip6-loopback\n", hn);
}

/* Bind a file with the given contents over target. The contents live in
 * a file on the sandbox's /dev tmpfs that is unlinked once bound, so only
 * the bind mount keeps it and nothing lands in the rootfs but, when the
 * target was missing, an empty mount point that is removed afterwards. */
static int inject_file(const char *target, const char *data, size_t len, struct sb_mount_undo *undo,
		       struct sb_error **err)
{
	static const char stage[] = "/dev/.sb-inject";
	sb_autoclose int fd = open(stage, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	int ret;

	if (fd < 0)
		return sb_error_set(err, errno, "create %s", stage);
	if (sb_write_all(fd, data, len, stage, err) < 0)
		return -1;
	ret = make_target(target, false, undo, err);
	if (ret == 0 && mount(stage, target, NULL, MS_BIND, NULL) < 0)
		ret = sb_error_set(err, errno, "bind %s", target);
	unlink(stage);
	return ret;
}

static int setup_etc(const struct sb_sandbox_spec *spec, struct sb_mount_undo *undo, struct sb_error **err)
{
	struct sb_strbuf hosts = SB_STRBUF_INIT;
	int ret = -1;

	if (spec->hosts)
		sb_strbuf_adds(&hosts, spec->hosts);
	else {
		char *d = default_hosts(spec);
		sb_strbuf_adds(&hosts, d);
		free(d);
	}
	for (const char *const *e = spec->extra_hosts; e && *e; e++) {
		const char *colon = strchr(*e, ':');
		if (!colon || colon == *e || !colon[1]) {
			sb_error_setx(err, EINVAL, "invalid extra host %s: want name:ip", *e);
			goto out;
		}
		if (hosts.len && hosts.buf[hosts.len - 1] != '\n')
			sb_strbuf_addc(&hosts, '\n');
		sb_strbuf_addf(&hosts, "%s\t%.*s\n", colon + 1, (int)(colon - *e), *e);
	}
	if (inject_file("/etc/hosts", hosts.buf, hosts.len, undo, err) < 0)
		goto out;
	if (spec->resolv_conf &&
	    inject_file("/etc/resolv.conf", spec->resolv_conf, strlen(spec->resolv_conf), undo, err) < 0)
		goto out;
	ret = 0;
out:
	sb_strbuf_release(&hosts);
	return ret;
}

static int setup_extra(const struct sb_sandbox_spec *spec, struct sb_host_fds *h, struct sb_mount_undo *undo,
		       struct sb_error **err)
{
	for (size_t i = 0; i < spec->n_mounts; i++) {
		const struct sb_sandbox_mount *m = &spec->mounts[i];
		if (!m->target || m->target[0] != '/')
			return sb_error_setx(err, EINVAL, "mount target must be absolute: %s", m->target ? m->target : "");
		if (m->type == SB_MOUNT_TMPFS) {
			sb_autofree char *opt = m->tmpfs_size ? sb_xasprintf("size=%" PRIu64, m->tmpfs_size) : NULL;
			unsigned long fl = MS_NOSUID | MS_NODEV | ((m->flags & SB_MOUNT_RDONLY) ? MS_RDONLY : 0);
			if (do_mount("tmpfs", m->target, "tmpfs", fl, opt, undo, err) < 0)
				return -1;
		} else {
			struct stat st;
			if (fstat(h->mounts[i], &st) < 0)
				return sb_error_set(err, errno, "stat mount source %s", m->source);
			if (make_target(m->target, S_ISDIR(st.st_mode), undo, err) < 0 ||
			    attach(h->mounts[i], m->target, err) < 0)
				return -1;
		}
	}
	return 0;
}

int sb_mounts_setup(const struct sb_sandbox_spec *spec, struct sb_host_fds *h, struct sb_mount_undo *undo,
		    struct sb_error **err)
{
	if (pivot(spec->rootfs, err) < 0)
		return -1;
	if (do_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, undo, err) < 0)
		return -1;
	if (setup_dev(h, undo, err) < 0)
		return -1;
	if (do_mount("sysfs", "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, undo, err) < 0)
		return -1;
	if (mask_paths(err) < 0 || setup_etc(spec, undo, err) < 0 || setup_extra(spec, h, undo, err) < 0)
		return -1;
	return 0;
}

int sb_net_loopback_up(struct sb_error **err)
{
	struct ifreq ifr;
	sb_autoclose int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return sb_error_set(err, errno, "socket");
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return sb_error_set(err, errno, "get flags of lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return sb_error_set(err, errno, "bring lo up");
	return 0;
}
