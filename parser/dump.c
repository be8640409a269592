/* Printing the AST: BuildKit's Node.Dump() byte for byte, and a JSON form
 * for other tools. */
#include <jansson.h>

#include "parser/parser.h"
#include "runtime/core/utf8.h"

/* strings.TrimSpace of out->buf[start..] in place. */
static void trim_tail(struct sb_strbuf *out, size_t start)
{
	size_t i = start, n = out->len, w, end = start, lead;
	while (i < n) {
		int32_t r = sb_utf8_decode(out->buf + i, n - i, &w);
		if (!sb_unicode_is_space(r))
			break;
		i += w;
	}
	lead = i - start;
	for (size_t j = i; j < n; j += w) {
		int32_t r = sb_utf8_decode(out->buf + j, n - j, &w);
		if (!sb_unicode_is_space(r))
			end = j + w;
	}
	if (end < i)
		end = i;
	if (lead)
		memmove(out->buf + start, out->buf + i, end - i);
	sb_strbuf_truncate(out, end - lead);
}

int sb_node_dump(const struct sb_node *node, struct sb_strbuf *out)
{
	size_t start = out->len;
	int rc = 0;

	rc |= sb_strbuf_add(out, node->lower.ptr ? node->lower.ptr : node->value.ptr,
			    node->lower.ptr ? node->lower.len : node->value.len);
	if (node->nflags) {
		rc |= sb_strbuf_adds(out, " [");
		for (size_t i = 0; i < node->nflags; i++) {
			if (i)
				rc |= sb_strbuf_addc(out, ' ');
			rc |= sb_go_quote(out, node->flags[i].ptr, node->flags[i].len);
		}
		rc |= sb_strbuf_addc(out, ']');
	}
	for (size_t i = 0; i < node->nchildren; i++) {
		rc |= sb_strbuf_addc(out, '(');
		rc |= sb_node_dump(node->children[i], out);
		rc |= sb_strbuf_adds(out, ")\n");
	}
	for (const struct sb_node *n = node->next; n; n = n->next) {
		rc |= sb_strbuf_addc(out, ' ');
		if (n->nchildren)
			rc |= sb_node_dump(n, out);
		else
			rc |= sb_go_quote(out, n->value.ptr, n->value.len);
	}
	if (rc)
		return -1;
	trim_tail(out, start);
	return 0;
}

int sb_dockerfile_dump(const struct sb_dockerfile *df, struct sb_strbuf *out)
{
	/* BuildKit's dumper prints root.Dump() with Println: every
	 * instruction as "(...)\n", the last newline trimmed and put back. */
	if (sb_node_dump(df->root, out) < 0)
		return -1;
	return sb_strbuf_addc(out, '\n');
}

/* A JSON string; invalid UTF-8 becomes U+FFFD, as JSON cannot carry it. */
static json_t *jstr(const char *p, size_t n)
{
	struct sb_strbuf sb = SB_STRBUF_INIT;
	json_t *j;
	size_t w;

	for (size_t i = 0; i < n; i += w) {
		int32_t r = sb_utf8_decode(p + i, n - i, &w);
		if (r == SB_RUNE_ERROR && w == 1)
			sb_strbuf_add_rune(&sb, SB_RUNE_ERROR);
		else
			sb_strbuf_add(&sb, p + i, w);
	}
	j = json_stringn(sb.buf, sb.len);
	sb_strbuf_release(&sb);
	return j;
}

static json_t *jstrs(const struct sb_str *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, jstr(v[i].ptr, v[i].len));
	return a;
}

static json_t *instruction_json(const struct sb_node *node)
{
	json_t *o = json_object(), *args = json_array(), *hd = json_array();

	json_object_set_new(o, "name", jstr(node->value.ptr, node->value.len));
	json_object_set_new(o, "lower", jstr(node->lower.ptr, node->lower.len));
	json_object_set_new(o, "flags", jstrs(node->flags, node->nflags));
	for (const struct sb_node *n = node->next; n; n = n->next) {
		if (n->nchildren)
			json_object_set_new(o, "child", instruction_json(n->children[0]));
		else
			json_array_append_new(args, jstr(n->value.ptr, n->value.len));
	}
	json_object_set_new(o, "args", args);
	json_object_set_new(o, "json", json_boolean(node->json));
	for (size_t i = 0; i < node->nheredocs; i++) {
		const struct sb_heredoc *h = &node->heredocs[i];
		json_t *jh = json_object();
		json_object_set_new(jh, "name", jstr(h->name.ptr, h->name.len));
		json_object_set_new(jh, "fd", json_integer((json_int_t)(h->fd > INT64_MAX ? INT64_MAX : h->fd)));
		json_object_set_new(jh, "expand", json_boolean(h->expand));
		json_object_set_new(jh, "chomp", json_boolean(h->chomp));
		json_object_set_new(jh, "body", jstr(h->content.ptr, h->content.len));
		json_array_append_new(hd, jh);
	}
	json_object_set_new(o, "heredocs", hd);
	if (node->start_line > 0) {
		json_object_set_new(o, "start_line", json_integer(node->start_line));
		json_object_set_new(o, "end_line", json_integer(node->end_line));
		json_object_set_new(o, "original", jstr(node->original.ptr, node->original.len));
		json_object_set_new(o, "comments", jstrs(node->comments, node->ncomments));
	}
	return o;
}

int sb_dockerfile_to_json(const struct sb_dockerfile *df, struct sb_strbuf *out, struct sb_error **err)
{
	json_t *doc = json_object(), *dirs = json_array(), *ins = json_array(), *warns = json_array();
	char esc[2] = { df->escape, 0 };
	char *text;
	int rc;

	for (size_t i = 0; i < df->ndirectives; i++) {
		json_t *d = json_object();
		json_object_set_new(d, "name", jstr(df->directives[i].name.ptr, df->directives[i].name.len));
		json_object_set_new(d, "value", jstr(df->directives[i].value.ptr, df->directives[i].value.len));
		json_object_set_new(d, "line", json_integer(df->directives[i].line));
		json_array_append_new(dirs, d);
	}
	for (size_t i = 0; i < df->root->nchildren; i++)
		json_array_append_new(ins, instruction_json(df->root->children[i]));
	for (size_t i = 0; i < df->nwarnings; i++) {
		json_t *w = json_object();
		json_object_set_new(w, "line", json_integer(df->warnings[i].line));
		json_object_set_new(w, "message", jstr(df->warnings[i].msg, strlen(df->warnings[i].msg)));
		json_array_append_new(warns, w);
	}
	json_object_set_new(doc, "file", jstr(df->filename, strlen(df->filename)));
	json_object_set_new(doc, "escape", json_string(esc));
	json_object_set_new(doc, "directives", dirs);
	json_object_set_new(doc, "instructions", ins);
	json_object_set_new(doc, "warnings", warns);
	text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!text)
		return sb_error_setx(err, ENOMEM, "encode AST as JSON");
	rc = sb_strbuf_adds(out, text);
	rc |= sb_strbuf_addc(out, '\n');
	free(text);
	return rc;
}
