/* libFuzzer target: the Dockerfile parser, its dump and its JSON form. Any
 * input must either parse or fail with an error; neither may crash, leak
 * or read out of bounds. */
#include "parser/parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sb_error *err = NULL;
	struct sb_dockerfile *df = sb_dockerfile_parse("Dockerfile", (const char *)data, size, &err);
	struct sb_strbuf out = SB_STRBUF_INIT;

	if (!df) {
		/* every refusal names the file and a line */
		if (!err || strncmp(err->msg, "Dockerfile:", 11) != 0)
			abort();
		sb_error_free(err);
		return 0;
	}
	if (sb_dockerfile_dump(df, &out) < 0)
		abort();
	/* one line per instruction */
	{
		size_t lines = 0;
		for (size_t i = 0; i < out.len; i++)
			lines += out.buf[i] == '\n';
		if (lines < df->root->nchildren)
			abort();
	}
	sb_strbuf_reset(&out);
	if (sb_dockerfile_to_json(df, &out, &err) < 0)
		abort();
	sb_strbuf_release(&out);
	sb_dockerfile_free(df);
	return 0;
}
