/* audit_int.h: the disclosure auditor's private layout, shared by its two
 * files only: audit.c (the documents' tables, propagation, the rules) and
 * audit_chain.c (the chained tables by ethnic group, chain.h). */
#ifndef COHORT_AUDIT_INT_H
#define COHORT_AUDIT_INT_H
#include <jansson.h>
#include <limits.h>
#include <stddef.h>

#include "chain.h"
#include "release.h" /* the funnel table's layout: RELEASE_REACH, RELEASE_DROP */

#define AUDIT_INF (LONG_MAX / 4)    /* "no upper bound" */
#define AUDIT_MAX_COUNT 1000000000L /* larger counts are refused (no overflow in sums) */

/* The cells of one audited document. */
enum {
    C_TOTAL = 0,
    C_GROUP = 1, /* 1..6 */
    C_CODE = 7,  /* 7..23 */
    C_BME = 24,
    C_GENDER = 25, /* 25..28 */
    C_DIS = 29,    /* 29..31 */
    C_LGB = 32,
    C_NOT_LGB = 33,
    C_PTOTAL = 34,
    C_PGROUP = 35, /* 35..40 */
    C_RB = 41,     /* 41..117: funnel_reached by ethnic group (release.h's cells, shifted) */
    C_LTOTAL = C_RB + RELEASE_NREACH, /* retention.left_by_ethnic_group: total, */
    C_LGROUP = C_LTOTAL + 1,          /* then its 6 groups */
    C_QB = C_LGROUP + 6,              /* retention.retained (chain.h's cells, shifted) */
    C_AB = C_QB + CHAIN_NCELL,        /* progression.after_completion (the same) */
    NCELL = C_AB + CHAIN_NCELL,
    N_REPR = 34 /* cells 0..33 are the representation table */
};

enum { K_UNP = 0, K_PUB = 1, K_HID = 2 }; /* never published, published, suppressed */

/* One row: cell total == sum of cells m[0..n-1]. */
typedef struct {
    int total;    /* the row's total */
    const int *m; /* its members */
    int n;        /* how many */
} row_t;

/* The first cell of chained table ch (CHAIN_RETAINED, CHAIN_AFTER). */
#define AUDIT_CHAIN_BASE(ch) ((ch) == CHAIN_RETAINED ? C_QB : C_AB)

/* Rows audit_chain_rows makes at most. */
#define AUDIT_CHAIN_NROWS (CHAIN_N * CHAIN_NROWS + 2 * CHAIN_NG)

/* The chained tables' rows (chain.h, the everyone-links included: a
 * reader knows those totals), shifted to their cells, and the rows that
 * tie them to the tables the same people are in: the retained chain's
 * ENROLLED stage is the funnel's ENROLLED stage (the same cells), and
 * its drop-outs up to RETAINED_12_MONTHS_AFTER sum to
 * retention.left_by_ethnic_group. mem holds the members. Returns the
 * number of rows (<= AUDIT_CHAIN_NROWS). */
size_t audit_chain_rows(row_t *rows, int (*mem)[6]);

/* Whether cell i is a chained table's everyone-count (a root). */
int audit_chain_root(int i);

/* The published name of chained cell i into buf. Returns 1, or 0 when i is
 * not a chained cell (buf untouched). */
int audit_chain_name(int i, char *buf, size_t n);

/* Sets the chained tables' cells of a document doc from its blocks (each
 * suppressed cell at least 0 or 1 as its block says); has[ch] = 1 for each
 * block with a table. Returns 0, or -1 for a value of the wrong type. */
int audit_chain_load(const json_t *doc, long *lo, long *hi, unsigned char *kind, int has[CHAIN_N]);

#endif
