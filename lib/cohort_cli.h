/* cohort_cli.h: what the command-line tools (cohort-agent, cohort-watch,
 * cohort-bench, cohortctl) share when reading their arguments. */
#ifndef COHORT_CLI_H
#define COHORT_CLI_H
#include <stdint.h>
#include "cohort_keys.h"

/* Reads s as a plain decimal (digits only: no sign, no spaces, no suffix)
 * from lo to hi. Returns 0 with *out set, or -EINVAL (*out untouched). */
int cohort_cli_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* As cohort_cli_u64, into an unsigned (hi must fit in one). */
int cohort_cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

/* --help lines for the options every client of the daemon takes. */
#define COHORT_CLI_CURVE_HELP                                                                      \
    "      --key FILE           this client's CURVE key file (NAME.key from 'cohortctl\n"          \
    "                           keygen NAME', mode 0600; default: $COHORT_KEY)\n"                  \
    "      --server-key FILE    the daemon's public key (server.pub; default:\n"                   \
    "                           $COHORT_SERVER_KEY)\n"                                             \
    "      --plaintext          no CURVE: only for a development daemon run with\n"                \
    "                           --plaintext (default: on if $COHORT_PLAINTEXT is 1 and\n"          \
    "                           no key is given)\n"

/* Chooses a tool's CURVE keys with cohort_curve_from and prints, after
 * "prog: ", either why that failed or, when running plain text,
 * COHORT_PLAINTEXT_WARNING (on stderr). Returns 0, or -1 after the error
 * message (a usage error). */
int cohort_cli_curve(const char *prog, cohort_curve_t *out, const char *key, const char *server_key,
                     int plaintext);

#endif
