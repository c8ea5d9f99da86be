/* cohort_cli.c: argument helpers for the command-line tools (see
 * cohort_cli.h). */
#include "cohort_cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int cohort_cli_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return -EINVAL;
    *out = v;
    return 0;
}

int cohort_cli_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    uint64_t v;
    if (cohort_cli_u64(s, lo, hi, &v) < 0)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

int cohort_cli_curve(const char *prog, cohort_curve_t *out, const char *key, const char *server_key,
                     int plaintext)
{
    char err[640];

    if (cohort_curve_from(out, key, server_key, plaintext, err, sizeof err) < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return -1;
    }
    if (!out->on)
        fprintf(stderr, "%s: " COHORT_PLAINTEXT_WARNING "\n", prog);
    return 0;
}
