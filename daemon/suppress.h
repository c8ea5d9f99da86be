/* suppress.h: small-number suppression for published breakdowns by a
 * protected characteristic. Pure: no I/O, no allocation, no state.
 *
 * A table is a set of cells (non-negative counts) and rows. A row says that
 * one cell (its total) is the sum of other cells (its members), for example
 * "all enrolled participants = White + Mixed + Asian + Black + Chinese or
 * other + Not stated", or "Black = B1 + B2 + B9". A cell may be the total of
 * one row and a member of others, and rows may share cells.
 *
 * Rule (docs/status.md, "Small-number suppression"):
 *  1. Primary: every cell that is a member of at least one row and holds
 *     1..k-1 is suppressed. Cells that are only ever totals (roots, such as
 *     the overall headcount, which is published elsewhere) are exempt.
 *  2. Secondary, repeated until nothing changes: a row in which exactly one
 *     of its total and members is suppressed would let a reader recompute it
 *     by subtraction; so its smallest unsuppressed non-zero member is
 *     suppressed too (the first such member in row order on a tie), or, when
 *     there is none, its total (which then counts as suppressed in every row
 *     where it is a member).
 *  Zeros are never suppressed. The result depends only on the input: rows
 *  are visited in the order given. */
#ifndef COHORT_SUPPRESS_H
#define COHORT_SUPPRESS_H
#include <stddef.h>

/* One row: value[total] == sum of value[cells[i]] for i < n. */
typedef struct {
    int total;        /* index of the cell holding the row's total */
    const int *cells; /* indices of the member cells */
    size_t n;         /* number of member cells */
} suppress_row_t;

/* Decides which of the n_cells cells to suppress for threshold k (k >= 1;
 * k == 1 suppresses nothing). value[i] are the counts; rows describe the
 * sums. Writes sup[i] = 1 for a suppressed cell, 0 otherwise. Returns the
 * number of suppressed cells, or -EINVAL (and sup untouched) when k < 1, a
 * value is negative, an index is out of range, or a row does not add up. */
int suppress_table(int k, const long *value, size_t n_cells, const suppress_row_t *rows,
                   size_t n_rows, unsigned char *sup);

#endif
