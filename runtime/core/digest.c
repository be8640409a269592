#include <openssl/evp.h>

#include "runtime/core/digest.h"

void sb_sha256_init(struct sb_sha256 *h)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		abort(); /* only fails on allocation */
	h->md = md;
}

void sb_sha256_update(struct sb_sha256 *h, const void *data, size_t len)
{
	if (len && EVP_DigestUpdate(h->md, data, len) != 1)
		abort();
}

void sb_sha256_final(struct sb_sha256 *h, char out[SB_DIGEST_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(h->md, md, &n) != 1 || n != 32)
		abort();
	memcpy(out, "sha256:", 7);
	for (unsigned i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[SB_DIGEST_LEN] = '\0';
	sb_sha256_release(h);
}

void sb_sha256_release(struct sb_sha256 *h)
{
	EVP_MD_CTX_free(h->md);
	h->md = NULL;
}

void sb_sha256_digest(const void *data, size_t len, char out[SB_DIGEST_SIZE])
{
	struct sb_sha256 h;
	sb_sha256_init(&h);
	sb_sha256_update(&h, data, len);
	sb_sha256_final(&h, out);
}

bool sb_digest_valid(const char *s)
{
	if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != SB_DIGEST_LEN)
		return false;
	for (const char *p = s + 7; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}
