/* Internals of runtime/sandbox shared between its files. Not API. */
#ifndef SB_SANDBOX_INTERNAL_H
#define SB_SANDBOX_INTERNAL_H

#include "runtime/sandbox/sandbox.h"

/* Docker's default capability set (moby oci/caps/defaults.go), as a mask of
 * CAP_* bits. */
uint64_t sb_caps_docker_default(void);

/* In the worker, after setgroups/setgid/setuid with PR_SET_KEEPCAPS:
 * bounding set reduced to caps, permitted = caps, effective = caps for
 * root and empty otherwise, inheritable and ambient empty. */
int sb_caps_drop_bounding(uint64_t caps, struct sb_error **err);
int sb_caps_apply(uint64_t caps, bool root, struct sb_error **err);

/* Load a seccomp filter equivalent to Docker's default profile for a
 * process holding caps. Sets no_new_privs as a side effect. */
int sb_seccomp_load(uint64_t caps, struct sb_error **err);
/* Load the tracer's filter (see struct sb_sandbox_tracer). For NOTIFY,
 * *listener is its listener descriptor (close-on-exec); for PTRACE -1. */
int sb_seccomp_load_tracer(const struct sb_sandbox_tracer *t, int *listener, struct sb_error **err);
/* Export the filter as BPF to fd (for tests and debugging). */
int sb_seccomp_export(uint64_t caps, int fd, struct sb_error **err);

/* --- mounts.c, run in the sandbox's init (PID 1) --- */

/* What init remembers to undo after the worker exits: mount points it
 * had to create in the rootfs, each unmounted and removed (if still
 * empty) in reverse order. */
struct sb_mount_undo {
	char **paths; /* in creation order; removed in reverse */
	bool *is_dir;
	size_t n, alloc;
};

/* Everything from the host that must be opened before pivot_root. */
struct sb_host_fds {
	int dev[6];     /* null zero full random urandom tty: detached clones */
	int *mounts;    /* one per spec mount: detached bind trees (-1 for tmpfs) */
};

int sb_mounts_prepare(const struct sb_sandbox_spec *spec, struct sb_host_fds *h, struct sb_error **err);
/* Make / private and mount the rootfs at spec->rootfs: an overlay, or
 * when overlayfs is unavailable (or SB_SANDBOX_COPY_ROOTFS) the lowers
 * copied into upper_dir, bound there; *copied says which. */
int sb_mounts_enter_rootfs(const struct sb_sandbox_spec *spec, bool *copied, struct sb_error **err);
/* copy.c: the lower layers, bottom first, into upper_dir with whiteouts applied. */
int sb_rootfs_copy(const struct sb_sandbox_spec *spec, struct sb_error **err);
int sb_mounts_setup(const struct sb_sandbox_spec *spec, struct sb_host_fds *h, struct sb_mount_undo *undo,
		    struct sb_error **err);
void sb_mounts_undo(struct sb_mount_undo *undo);
/* Bring up lo in the current (new) network namespace. */
int sb_net_loopback_up(struct sb_error **err);
/* mkdir -p inside the current root, never through a symlink that leaves
 * it (after pivot_root nothing can). */
int sb_mkdir_in_root(const char *path, mode_t mode, struct sb_mount_undo *undo, struct sb_error **err);

#endif
