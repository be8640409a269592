/* Helpers shared by the store subcommands. */
#ifndef SB_STORE_CLI_H
#define SB_STORE_CLI_H

#include "runtime/store/store.h"

/* Open the store at $SLIMBUILD_ROOT (or the default); prints the error and
 * returns -1 on failure. */
int sb_cli_open_store(struct sb_store *s);
/* Parse a reference given on the command line; on failure print
 * "slimbuild VERB: message" and return -1 (a usage error, exit 2). */
int sb_cli_parse_ref(const char *verb, const char *arg, struct sb_reference *ref);
/* Human sizes as Docker prints them: "74.8MB", "5.1kB", "12B". */
void sb_cli_human_size(int64_t bytes, char *out, size_t n);
/* "3 days ago" from an RFC 3339 timestamp; "N/A" if unparsable. */
void sb_cli_human_age(const char *rfc3339, char *out, size_t n);

#endif
