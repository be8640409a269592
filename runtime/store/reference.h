/* Image references, normalised as Docker does (distribution/reference):
 * "debian" is docker.io/library/debian:latest, "localhost:5000/app" is
 * localhost:5000/app:latest, "busybox@sha256:..." names a digest. */
#ifndef SB_REFERENCE_H
#define SB_REFERENCE_H

#include "runtime/core/digest.h"

struct sb_reference {
	char *domain;     /* "docker.io", "localhost:5000", "127.0.0.1:5000" */
	char *path;       /* "library/debian" */
	char *tag;        /* "latest" when neither tag nor digest was given; NULL with a digest only */
	char *digest;     /* NULL unless "@sha256:..." was given */
};

/* Parse and normalise s. Errors read as Docker's ("invalid reference
 * format: repository name must be lowercase"). */
int sb_reference_parse(const char *s, struct sb_reference *ref, struct sb_error **err);
void sb_reference_release(struct sb_reference *ref);
/* "docker.io/library/debian:latest" (tag and/or "@digest" as present).
 * Caller frees. */
char *sb_reference_string(const struct sb_reference *ref);
/* "domain/path" without tag or digest. Caller frees. */
char *sb_reference_name(const struct sb_reference *ref);
/* The short form Docker prints: "debian:latest", "localhost:5000/app:v1".
 * Caller frees. */
char *sb_reference_familiar(const struct sb_reference *ref);
/* True for registries spoken to over plain HTTP: 127.0.0.0/8, localhost,
 * ::1 (DESIGN.md), with or without a port. */
bool sb_reference_is_insecure(const struct sb_reference *ref);
/* The host to connect to: "registry-1.docker.io" for docker.io, else the
 * domain as written. */
const char *sb_reference_registry_host(const struct sb_reference *ref);

#endif
