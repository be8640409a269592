/* The recorded profile: what `--profile-out FILE` writes and `--profile
 * FILE` reads back, so CI can rebuild the slim image without profiling
 * again, and the Docker/OCI seccomp profile `--seccomp-profile-out`
 * writes from a trace.
 *
 * Profile JSON (version 1), keys in this order:
 *   { "version": 1,
 *     "source_image": "sha256:..."        the profiled (fat) image's manifest digest
 *     "tracer": "seccomp-notify"|"ptrace"|null,
 *     "probes": ["http GET 8000/api=200", "cmd ...", ...]   as given
 *     "closure": [ { "path": "/usr/bin/ls", "type": "file"|"dir"|"symlink"|"other",
 *                    "mode": "0755", "uid": 0, "gid": 0,
 *                    "size": 12345, "digest": "sha256:..." (files),
 *                    "target": "..." (symlinks) } ... ]   sorted by path
 *     "repaired": ["/path", ...]          paths verification added
 *     "syscalls": ["read", ...]           seen, by name, sorted
 *     "slim_stage": {...} }               the slim stage's contents (stages.h,
 *                                         sb_slim_stage_to_json): `rewrite --profile`
 */
#ifndef SB_PROFILE_RECORD_H
#define SB_PROFILE_RECORD_H

#include "runtime/core/digest.h"
#include "runtime/core/strbuf.h"

struct sb_profile_entry {
	char *path;
	char type;      /* 'f', 'd', 'l', 'o' */
	uint32_t mode;  /* permission bits with setuid/setgid/sticky */
	uint32_t uid, gid;
	uint64_t size;
	char digest[SB_DIGEST_SIZE]; /* files; "" otherwise */
	char *target;   /* symlinks */
};

struct sb_profile_record {
	char source_image[SB_DIGEST_SIZE];
	char *tracer;
	char **probes;
	size_t nprobes;
	struct sb_profile_entry *entries;
	size_t nentries;
	char **repaired;
	size_t nrepaired;
	char **syscalls; /* names */
	size_t nsyscalls;
	char *slim_stage; /* compact JSON object, or NULL */
};

/* Describe paths (absolute, inside the rootfs at rootfd) as entries:
 * lstat'd and, for regular files, hashed, without leaving the rootfs.
 * Missing paths are skipped. Entries come out sorted and unique. */
int sb_profile_describe(int rootfd, const char *const *paths, size_t n, struct sb_profile_entry **out, size_t *nout,
			struct sb_error **err);

int sb_profile_record_to_json(const struct sb_profile_record *r, struct sb_strbuf *out, struct sb_error **err);
/* Parse a profile; unknown keys are ignored, a wrong version or a bad
 * entry is an error naming it. */
int sb_profile_record_parse(const char *data, size_t len, struct sb_profile_record *r, struct sb_error **err);
void sb_profile_record_release(struct sb_profile_record *r);

/* Syscall names of a bitmap of native numbers (libseccomp's names),
 * sorted; caller frees each and the array. */
char **sb_syscall_names(const uint64_t *bits, size_t nbits, size_t *n);

/* A Docker/OCI seccomp profile allowing exactly the syscalls named (plus
 * what a container runtime itself needs between loading the filter and
 * exec'ing the program), everything else failing with EPERM. */
int sb_seccomp_profile_json(char *const *syscalls, size_t n, struct sb_strbuf *out, struct sb_error **err);

#endif
