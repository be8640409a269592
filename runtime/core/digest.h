/* Content digests: "sha256:<64 lower-case hex>", computed with openssl. */
#ifndef SB_DIGEST_H
#define SB_DIGEST_H

#include "runtime/core/error.h"

/* "sha256:" + 64 hex + NUL */
#define SB_DIGEST_LEN 71
#define SB_DIGEST_SIZE (SB_DIGEST_LEN + 1)

struct sb_sha256 {
	void *md; /* EVP_MD_CTX */
};

void sb_sha256_init(struct sb_sha256 *h);
void sb_sha256_update(struct sb_sha256 *h, const void *data, size_t len);
/* Write "sha256:<hex>" into out and release the context. */
void sb_sha256_final(struct sb_sha256 *h, char out[SB_DIGEST_SIZE]);
/* Release without a result (on an error path). */
void sb_sha256_release(struct sb_sha256 *h);

void sb_sha256_digest(const void *data, size_t len, char out[SB_DIGEST_SIZE]);

/* True when s is a well-formed "sha256:<64 lower-case hex>" digest. Other
 * algorithms are refused: the store and every peer we talk to use sha256. */
bool sb_digest_valid(const char *s);
/* The hex part of a valid digest. */
static inline const char *sb_digest_hex(const char *digest)
{
	return digest + 7;
}

#endif
