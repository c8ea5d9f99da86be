/* cohort_cli.h: what the command-line tools (cohort-agent, cohort-watch,
 * cohort-bench, cohortctl) share when reading their arguments. */
#ifndef COHORT_CLI_H
#define COHORT_CLI_H
#include <stdint.h>

/* Reads s as a plain decimal (digits only: no sign, no spaces, no suffix)
 * from lo to hi. Returns 0 with *out set, or -EINVAL (*out untouched). */
int cohort_cli_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* As cohort_cli_u64, into an unsigned (hi must fit in one). */
int cohort_cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out);

#endif
