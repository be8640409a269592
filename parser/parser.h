/* The Dockerfile parser: bytes to AST, exactly as BuildKit's
 * frontend/dockerfile/parser reads them.
 *
 * The AST has BuildKit's shape so that `slimbuild parse --dump` can print
 * BuildKit's Node.Dump() byte for byte: the root's children are the
 * instructions; an instruction's arguments are the `next` chain; ONBUILD's
 * nested instruction is the single child of its first argument node.
 *
 * Every string in the tree is stored with its length (a Dockerfile may hold
 * NUL bytes) and is also NUL-terminated. All memory belongs to the
 * sb_dockerfile and is freed with it.
 */
#ifndef SB_PARSER_H
#define SB_PARSER_H

#include "runtime/core/arena.h"
#include "runtime/core/error.h"
#include "runtime/core/strbuf.h"

struct sb_str {
	const char *ptr;
	size_t len;
};

struct sb_heredoc {
	struct sb_str name;
	struct sb_str content; /* every line read, with its line ending */
	uint64_t fd;           /* the optional descriptor number, 0 if none */
	bool expand;           /* false when any part of the name was quoted */
	bool chomp;            /* <<- : leading tabs stripped */
};

struct sb_node {
	struct sb_str value;     /* instruction name as written, or an argument */
	struct sb_str lower;     /* instruction nodes: value lower-cased */
	struct sb_node *next;    /* the next argument */
	struct sb_node **children;
	size_t nchildren;
	struct sb_str *flags;    /* builder flags, quotes removed ("--from=x") */
	size_t nflags;
	struct sb_heredoc *heredocs;
	size_t nheredocs;
	struct sb_str original;  /* the logical line, continuations joined */
	struct sb_str *comments; /* comment lines just before the instruction */
	size_t ncomments;
	int start_line, end_line; /* 1-based; end includes continuation and heredoc lines */
	bool json;               /* arguments were given in exec (JSON) form */
};

struct sb_directive {
	struct sb_str name;  /* lower-cased: syntax, escape or check */
	struct sb_str value;
	int line;
};

struct sb_warning {
	char *msg;
	int line;
};

struct sb_dockerfile {
	struct sb_arena arena;
	const char *filename;
	struct sb_node *root;         /* children are the instructions */
	struct sb_directive *directives;
	size_t ndirectives;
	struct sb_warning *warnings;
	size_t nwarnings;
	char escape;                  /* '\\' or '`' */
};

/* The longest line BuildKit reads (bufio.Scanner's default token size). */
#define SB_DOCKERFILE_MAX_LINE 65535

/* Parse data[0..len). filename is used in messages ("Dockerfile:3: ...") and
 * copied. On failure returns NULL and sets *err to "FILE:LINE: message" with
 * BuildKit's wording. The result is freed with sb_dockerfile_free(). */
struct sb_dockerfile *sb_dockerfile_parse(const char *filename, const char *data, size_t len,
					  struct sb_error **err);
/* Read and parse a file ("-" is stdin). */
struct sb_dockerfile *sb_dockerfile_parse_file(const char *path, struct sb_error **err);
void sb_dockerfile_free(struct sb_dockerfile *df);

/* Append BuildKit's Node.Dump() of one node. */
int sb_node_dump(const struct sb_node *node, struct sb_strbuf *out);
/* Append the dump of the whole file as `slimbuild parse --dump` prints it:
 * one "(instruction)" line per instruction, each ending in "\n". */
int sb_dockerfile_dump(const struct sb_dockerfile *df, struct sb_strbuf *out);
/* Append the AST as a JSON document (see parser/dump.c for its shape). */
int sb_dockerfile_to_json(const struct sb_dockerfile *df, struct sb_strbuf *out, struct sb_error **err);

/* Internal to parser/: the per-instruction argument parsers. */
#define SB_MAX_ONBUILD_DEPTH 1000
struct sb_parse_ctx {
	struct sb_arena *arena;
	char escape;
	int depth;
};
/* Build the node for one logical line (BuildKit's newNodeFromLine). Sets
 * *err to the bare message (no location) on failure. */
struct sb_node *sb_parse_instruction(struct sb_parse_ctx *ctx, const char *line, size_t len,
				     struct sb_error **err);
/* Strict JSON: parse `[ "a", "b" ]`. Returns 1 and the strings when s is a
 * JSON array of strings, 0 when s is not valid JSON (or not an array), -1
 * with *err when it is valid JSON holding a non-string. */
int sb_parse_json_strings(struct sb_arena *arena, const char *s, size_t n,
			  struct sb_str **out, size_t *nout, struct sb_error **err);

#endif
