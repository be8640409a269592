#include "runtime/exec/copy.h"
int sb_ignore_load(int ctx_fd, const char *n, struct sb_ignore **out, struct sb_error **err) { (void)ctx_fd; (void)n; (void)err; *out = NULL; return 0; }
void sb_ignore_free(struct sb_ignore *ig) { (void)ig; }
int sb_copy_digest(const struct sb_copy_spec *spec, char out[SB_DIGEST_SIZE], struct sb_error **err) { (void)spec; (void)err; sb_sha256_digest("x", 1, out); return 0; }
int sb_copy_run(const struct sb_copy_spec *spec, struct sb_error **err) { (void)spec; return sb_error_setx(err, ENOTSUP, "stub"); }
