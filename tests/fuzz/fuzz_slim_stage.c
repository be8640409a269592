/* libFuzzer target: the slim stage printer (stages/final.c) over any
 * recorded stage JSON, with both escape characters. Whatever a profile
 * holds, what is printed must be the slim stage and nothing else: the
 * parser reads back exactly one more FROM (scratch), no instruction that
 * runs or fetches anything, and the closure COPY with the paths the
 * profile gave, in order. A profile is input from wherever CI kept it. */
#include "parser/parser.h"
#include "stages/stages.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is(const struct sb_str *s, const char *name)
{
	return s->len == strlen(name) && !memcmp(s->ptr, name, s->len);
}

static void check(const char *spec, char escape)
{
	static const char prefix_bs[] = "FROM debian AS fat\n", prefix_bt[] = "# escape=`\nFROM debian AS fat\n";
	struct sb_slim_stage names = { .name = SB_SLIM_STAGE_NAME, .from = "fat", .source = "sha256:00",
				       .escape = escape };
	struct sb_strbuf out = SB_STRBUF_INIT;
	struct sb_error *err = NULL;
	struct sb_dockerfile *df;
	size_t froms = 0, copies = 0;

	sb_strbuf_adds(&out, escape == '`' ? prefix_bt : prefix_bs);
	if (sb_slim_stage_print_json(spec, &names, &out, &err) < 0) {
		sb_error_free(err);
		sb_strbuf_release(&out);
		return;
	}
	df = sb_dockerfile_parse("Dockerfile", out.buf, out.len, &err);
	if (!df)
		abort(); /* printed, yet unreadable */
	for (size_t i = 0; i < df->root->nchildren; i++) {
		const struct sb_node *n = df->root->children[i];
		const struct sb_str *k = &n->lower;
		if (is(k, "from"))
			froms++;
		else if (is(k, "copy"))
			copies++;
		else if (is(k, "run") || is(k, "add") || is(k, "onbuild") || is(k, "arg"))
			abort(); /* an instruction the stage never writes */
	}
	if (froms != 2 || copies > 2)
		abort();
	sb_dockerfile_free(df);
	sb_strbuf_release(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *spec = sb_xstrndup((const char *)data, size);
	check(spec, '\\');
	check(spec, '`');
	free(spec);
	return 0;
}
