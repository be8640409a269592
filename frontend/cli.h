/* The slimbuild command table. Each subcommand lives in its own
 * frontend/cmd_<verb>.c and is a thin layer over libslimbuild: it parses
 * its options, calls the library, prints the result. */
#ifndef SB_CLI_H
#define SB_CLI_H

#include "runtime/core/error.h"

/* Exit codes (DESIGN.md): success, build/lint/gate failure, usage error. */
enum {
	SB_EXIT_OK = 0,
	SB_EXIT_FAIL = 1,
	SB_EXIT_USAGE = 2,
};

struct sb_cli_cmd {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
	const char *usage; /* full help text for `slimbuild VERB --help` */
};

extern const struct sb_cli_cmd sb_cli_commands[];

int sb_cmd_build(int argc, char **argv);
int sb_cmd_parse(int argc, char **argv);
int sb_cmd_images(int argc, char **argv);
int sb_cmd_inspect(int argc, char **argv);
int sb_cmd_tag(int argc, char **argv);
int sb_cmd_rmi(int argc, char **argv);
int sb_cmd_prune(int argc, char **argv);
int sb_cmd_import(int argc, char **argv);
int sb_cmd_pull(int argc, char **argv);
int sb_cmd_push(int argc, char **argv);
int sb_cmd_save(int argc, char **argv);
int sb_cmd_unpack(int argc, char **argv);
int sb_cmd_load(int argc, char **argv);

int sb_cmd_rewrite(int argc, char **argv);

/* A --build-arg value: "K=V" as given; "K" alone takes K's value from
 * the environment, as docker build does, and is dropped (NULL) when it
 * is unset there. Caller frees. */
char *sb_cli_build_arg(const char *arg);

/* Report a usage error ("slimbuild VERB: message") and return
 * SB_EXIT_USAGE. */
int sb_cli_usage_error(const char *verb, const char *fmt, ...) SB_PRINTF(2, 3);
/* Print an error from the library and return SB_EXIT_FAIL. */
int sb_cli_fail(struct sb_error *err);
/* Print a command's help to stdout. */
int sb_cli_help(const char *verb);

#endif
