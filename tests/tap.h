/* tap.h: a minimal TAP producer for the C unit tests (header-only).
 * Contract: tap_done() prints the plan and returns the process exit code,
 * non-zero when any test failed, so CTest and prove agree. */
#ifndef COHORT_TAP_H
#define COHORT_TAP_H
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int tap_n_;    /* tests run so far */
static int tap_fail_; /* tests failed so far */

static inline int tap_ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n_++;
    if (!cond)
        tap_fail_++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n_);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)
#define is_int(got, want, ...)                                                  \
    do {                                                                        \
        long long g_ = (long long)(got), w_ = (long long)(want);                \
        if (!tap_ok(g_ == w_, __VA_ARGS__))                                     \
            printf("#   got %lld, want %lld\n", g_, w_);                        \
    } while (0)
#define is_str(got, want, ...)                                                  \
    do {                                                                        \
        const char *g_ = (got), *w_ = (want);                                   \
        if (!tap_ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))              \
            printf("#   got '%s', want '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
    } while (0)
#define diag(...) (printf("# "), printf(__VA_ARGS__), printf("\n"))

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n_);
    return tap_fail_ ? 1 : 0;
}
#endif
