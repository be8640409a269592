/* File helpers: atomic writes, reading whole files with a bound, making
 * directories. Every open is O_CLOEXEC. */
#ifndef SB_FS_H
#define SB_FS_H

#include <sys/types.h>

#include "runtime/core/error.h"
#include "runtime/core/strbuf.h"

/* Write data to dirfd/name atomically: a temporary file in the same
 * directory, fsync, rename over name, fsync the directory. dirfd may be
 * AT_FDCWD. */
int sb_write_file_atomic(int dirfd, const char *name, const void *data, size_t len, mode_t mode,
			 struct sb_error **err);
/* Read dirfd/name whole into out; fail with EFBIG past max bytes (0: no
 * bound). */
int sb_read_file(int dirfd, const char *name, size_t max, struct sb_strbuf *out, struct sb_error **err);
/* Read an open descriptor to its end; same bound. */
int sb_read_fd(int fd, const char *what, size_t max, struct sb_strbuf *out, struct sb_error **err);
/* Write all of data, retrying short writes and EINTR. */
int sb_write_all(int fd, const void *data, size_t len, const char *what, struct sb_error **err);
/* Copy from's remaining bytes to the end of to: copy_file_range, or
 * read/write where the kernel refuses it (across filesystems on old
 * kernels). name is for messages. */
int sb_copy_fd(int from, int to, const char *name, struct sb_error **err);
/* Copy every xattr of the open file from to the open file to (neither an
 * O_PATH descriptor), trusted.overlay.* (overlayfs's own metadata) left
 * out. One the destination refuses (ENOTSUP, EPERM: not root, a
 * filesystem without xattrs) is skipped, as BuildKit does; other errors
 * fail, naming what. */
int sb_copy_xattrs(int from, int to, const char *what, struct sb_error **err);
/* mkdir -p relative to dirfd (no symlink checks: for our own directories). */
int sb_mkdir_p(int dirfd, const char *path, mode_t mode, struct sb_error **err);
/* rm -rf of dirfd/path without following symlinks; missing is fine. */
int sb_rm_rf(int dirfd, const char *path, struct sb_error **err);
/* fsync a directory by path relative to dirfd. */
int sb_fsync_dir(int dirfd, const char *path, struct sb_error **err);

#endif
