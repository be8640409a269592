/* runtime/profile: the closure, what the slim image keeps of the fat one,
 * and the package database made honest for scanners.
 *
 * sb_closure_build() turns a trace (profile.h) into the list of paths to
 * keep; sb_closure_copy() copies them out of the fat rootfs into an empty
 * directory with their metadata exactly, ready for sb_layer_pack_dir();
 * sb_dpkg_write_status_d() then adds var/lib/dpkg/status.d for the
 * packages that still own something there.
 *
 * Decisions (and why):
 *
 *  - Directories are kept as directories, empty but for what of their
 *    contents was itself used. The tracer records which directories were
 *    listed (getdents, SB_PATH_LISTED), but a listing is weak evidence:
 *    Python's import system lists every directory on sys.path, so
 *    keeping every listed directory whole would put most of /usr/lib
 *    back. A listing is used where it is proof instead: when the slim
 *    image answers differently and its run missed no path it named,
 *    repair adds the entries of the directories it listed (slim.c). A
 *    program that needs a directory whole from the start gets it with
 *    --include DIR.
 *  - Traced paths below /proc, /sys and /dev are never kept: the runtime
 *    mounts those. Nothing is followed across a mount of the rootfs
 *    either (RESOLVE_NO_XDEV): a traced sandbox's root has /etc/hosts and
 *    /etc/resolv.conf bound over it, and those are the runtime's too.
 *  - The dpkg database itself (/var/lib/dpkg/status, status-old,
 *    available, info/) is left out even when traced, since the honest
 *    status.d replaces it; an --include of it wins.
 *  - Name lookup ran (NSS) when the trace touched (found or not)
 *    /etc/nsswitch.conf, /etc/hosts, /etc/resolv.conf, /etc/host.conf,
 *    /etc/gai.conf, /etc/services or /etc/protocols, loaded a libnss_*
 *    module, or made a socket() or connect() call. Then the modules
 *    nsswitch.conf names (plus files and dns) with their ELF closure, and
 *    /etc/services, protocols, host.conf, gai.conf, networks are kept.
 *    /etc/resolv.conf never is: the runtime writes it.
 *  - TLS is in use when the closure holds libssl.so*, libgnutls*,
 *    libnss3.so* or Python's _ssl module, when "node" or "nodejs" was
 *    executed (it links OpenSSL statically), or when the trace touched
 *    /etc/ssl, /usr/lib/ssl, /etc/pki or /usr/share/ca-certificates. Then
 *    the CA bundle (/etc/ssl/certs/ca-certificates.crt, /etc/ssl/cert.pem,
 *    /etc/pki/tls/certs/ca-bundle.crt), openssl.cnf and OpenSSL's
 *    /usr/lib/ssl links are kept, not the per-certificate hash links of
 *    /etc/ssl/certs: every library reads the bundle by default, and the
 *    hash links double it.
 *  - zoneinfo: when the trace touched /etc/localtime, /etc/timezone or
 *    anything under /usr/share/zoneinfo, the whole /usr/share/zoneinfo
 *    tree is kept (about 4 MB): the zone an application asks for at run
 *    time is often not the one the probes used, and Python's zoneinfo
 *    lists the tree.
 *  - gconv: when the trace touched a gconv-modules file, that gconv
 *    directory's configuration (gconv-modules, gconv-modules.cache,
 *    gconv-modules.d/) is kept; the modules are the ones the trace saw
 *    loaded (with their ELF closure), not the whole 8 MB directory.
 *  - --include patterns are absolute globs over the rootfs: "*", "?" and
 *    "[...]" within one component (fnmatch), "**" for any number of
 *    directories. What matches is kept with its symlink hops; a matched
 *    directory with its whole subtree. No ELF closure is added for them.
 *  - Python: for every traced .py, .pyc or extension module, both the .py
 *    and its __pycache__/NAME.*.pyc, every __init__.py (and its .pyc) of
 *    the packages above it, and, below a site-packages or dist-packages
 *    directory, the whole *.dist-info or *.egg-info of the distribution
 *    that owns its top-level name (by top_level.txt, else RECORD, else
 *    the normalised distribution name).
 *  - Node: for every traced .js, .mjs, .cjs, .json or .node file and
 *    anything below a node_modules directory, every package.json from its
 *    directory up to the root.
 */
#ifndef SB_PROFILE_CLOSURE_H
#define SB_PROFILE_CLOSURE_H

#include "runtime/profile/profile.h"

enum sb_closure_kind {
	SB_CLOSURE_FILE,
	SB_CLOSURE_DIR,
	SB_CLOSURE_SYMLINK,
	SB_CLOSURE_OTHER, /* device node, fifo, socket */
};

/* Why a path is kept; or-ed. */
enum sb_keep_reasons {
	SB_KEEP_TRACED = 1 << 0,   /* the program used it (or a symlink hop to it) */
	SB_KEEP_ELF = 1 << 1,      /* ELF closure of an executed or loaded object */
	SB_KEEP_PARENT = 1 << 2,   /* a directory above a kept path */
	SB_KEEP_ALWAYS = 1 << 3,   /* what every program may need */
	SB_KEEP_NSS = 1 << 4,      /* name lookup */
	SB_KEEP_TLS = 1 << 5,      /* CA certificates and OpenSSL configuration */
	SB_KEEP_ZONEINFO = 1 << 6, /* time zones */
	SB_KEEP_GCONV = 1 << 7,    /* iconv */
	SB_KEEP_INCLUDE = 1 << 8,  /* --include */
	SB_KEEP_PYTHON = 1 << 9,   /* .py/.pyc pairs, __init__.py, dist-info */
	SB_KEEP_NODE = 1 << 10,    /* package.json files */
};

struct sb_closure_entry {
	char *path;    /* absolute in the rootfs; symlink-free but for the last component */
	char *target;  /* SB_CLOSURE_SYMLINK: its contents; else NULL */
	enum sb_closure_kind kind;
	unsigned reasons; /* enum sb_keep_reasons */
};

struct sb_closure {
	struct sb_closure_entry *v; /* sorted by path (strcmp: parents first), unique; "/" is not listed */
	size_t n;
	/* "OBJECT: NAME" for each DT_NEEDED found nowhere, "PATH: ..." for a
	 * malformed ELF file left without its closure, "include PATTERN: no
	 * match". */
	char **unresolved;
	size_t nunresolved;
	/* The evidence that fired: SB_KEEP_NSS, _TLS, _ZONEINFO, _GCONV,
	 * _PYTHON, _NODE. */
	unsigned evidence;
};

struct sb_closure_opts {
	const char *const *includes; /* absolute glob patterns (--include) */
	size_t nincludes;
	const struct sb_elf_closure_opts *elf; /* may be NULL */
	size_t max_entries;                    /* 0: 1,048,576 */
};
void sb_closure_opts_init(struct sb_closure_opts *o);

/* The closure of trace (may be NULL: the always-needed files and the
 * includes alone) in the rootfs at rootfd (an O_PATH directory; trace's
 * own rootfd, or the fat image's rootfs the trace ran over). Every path is
 * resolved inside rootfd (openat2 RESOLVE_IN_ROOT, or a walk one component
 * at a time that never leaves it); what does not exist there is left out.
 * out is initialised here; release it with sb_closure_release(). Fails
 * with EINVAL for a relative include pattern or one with "..", E2BIG past
 * max_entries. */
int sb_closure_build(int rootfd, const struct sb_trace_result *trace, const struct sb_closure_opts *opts,
		     struct sb_closure *out, struct sb_error **err);
void sb_closure_release(struct sb_closure *c);
/* The entry for an absolute path, or NULL. */
const struct sb_closure_entry *sb_closure_find(const struct sb_closure *c, const char *path);

/* Copy every entry of c from rootfd into dest_dir (an existing, empty
 * directory) with its metadata exactly: type, mode with set-id and sticky
 * bits, owner, mtime (atime too), symlink target, xattrs
 * (security.capability included; trusted.overlay.* left out), device
 * numbers; entries that share an inode in the rootfs are hard links in
 * dest_dir. Directories get their metadata after their contents. Sockets
 * are skipped. Owners and device nodes need root; as another user owners
 * are left as they come. A kept path that vanished from the rootfs since
 * the closure was built fails the copy. */
int sb_closure_copy(int rootfd, const struct sb_closure *c, const char *dest_dir, struct sb_error **err);

/* --- the dpkg database, made honest (dpkg.c) --- */

struct sb_dpkg_counts {
	size_t before; /* packages installed in the rootfs */
	size_t after;  /* packages written to status.d */
	size_t md5sums; /* md5sums lines kept */
};

/* Read rootfd's /var/lib/dpkg/status and info/PKG[:ARCH].{list,md5sums};
 * for each installed package that owns at least one kept regular file or
 * symlink of c (paths from the .list resolved through the rootfs'
 * symlinks, as /bin -> usr/bin), write into dest_dir
 * var/lib/dpkg/status.d/PKG holding its stanza as in status, and
 * var/lib/dpkg/status.d/PKG.md5sums with the md5sums lines of its kept
 * files (none when no line is left). Packages with nothing kept get no
 * entry. Missing directories above status.d are made with the rootfs'
 * metadata (0755 root when it has none); written files are 0644 root,
 * with the mtime of the rootfs' status file, so that the same inputs pack
 * to the same layer. A rootfs without a dpkg status file is no error:
 * nothing is written and the counts are 0. out may be NULL. */
int sb_dpkg_write_status_d(int rootfd, const struct sb_closure *c, const char *dest_dir, struct sb_dpkg_counts *out,
			   struct sb_error **err);

#endif
