/* suppress.h: small-number suppression for published breakdowns by a
 * protected characteristic. Pure: no I/O, no state (it allocates only
 * scratch space).
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
 *  2b. With SUPPRESS_ZEROS_HIDDEN, also repeated with 2: every zero member
 *     of a row that has a suppressed cell is suppressed too, so a
 *     suppressed cell may be 0 and a reader cannot count on it being 1 or
 *     more. In this mode a root (a cell that is only ever a total, such
 *     as the headcount the funnel publishes anyway) is never suppressed by
 *     step 2. With SUPPRESS_ZEROS_PUBLISHED (the first rule) zeros are
 *     always published.
 *  3. Interval step, repeated with 2 until nothing changes: a reader who
 *     knows the published cells exactly and that every suppressed cell is
 *     at least 1 (zeros published) or 0 (zeros hidden) bounds each
 *     suppressed cell by the row sums (suppress_bounds). A suppressed cell
 *     that is a member of a row and is pinned (lower = upper) or known to
 *     be 1..k-1 (lower >= 1, upper <= k-1) gets room: the smallest unsuppressed non-zero cell of a row with it
 *     is suppressed (first in row order on a tie), else the non-zero total
 *     of a row it is a member of, if that total is itself a member
 *     somewhere. A cell nothing can be done for is left (the release gate,
 *     release.h, then withholds the document).
 *  The result depends only on the input: rows are visited in the order
 *  given. */
#ifndef COHORT_SUPPRESS_H
#define COHORT_SUPPRESS_H
#include <limits.h>
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

/* What a reader may assume of a suppressed cell. */
enum {
    SUPPRESS_ZEROS_PUBLISHED = 0, /* zeros are always published: a hidden cell is >= 1 */
    SUPPRESS_ZEROS_HIDDEN = 1     /* zeros beside a hidden cell are hidden: a hidden cell is >= 0 */
};

/* "No upper bound" in suppress_bounds. */
#define SUPPRESS_INF (LONG_MAX / 4)

/* The bounds a reader derives for every cell: lo[i] = hi[i] = value[i] for
 * a published cell; a suppressed one starts at [1, SUPPRESS_INF] (zeros =
 * SUPPRESS_ZEROS_PUBLISHED) or [0, SUPPRESS_INF] (SUPPRESS_ZEROS_HIDDEN); then every
 * row (total = sum of members) narrows them, to a fixpoint (sound interval
 * propagation: every bound holds for every table consistent with what is
 * published). value is read only for published cells. Returns 0, or
 * -EINVAL on NULL arguments or when the bounds contradict (lo > hi). */
int suppress_bounds(const long *value, size_t n_cells, const suppress_row_t *rows, size_t n_rows,
                    const unsigned char *sup, int zeros, long *lo, long *hi);

/* Like suppress_table (which is this with force NULL and zeros
 * SUPPRESS_ZEROS_PUBLISHED), with the cells where force[i] != 0 suppressed
 * too (as primaries; force may be NULL), and zeros treated as given. */
int suppress_table_force(int k, const long *value, size_t n_cells, const suppress_row_t *rows,
                         size_t n_rows, const unsigned char *force, int zeros, unsigned char *sup);

#endif
