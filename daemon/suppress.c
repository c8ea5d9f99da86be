/* suppress.c: primary and secondary small-number suppression (see
 * suppress.h for the rule). Each pass of the secondary loop either adds a
 * suppression or stops, so it ends after at most n_cells passes. */
#include "suppress.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Checks indices, signs and sums. Returns 1 when the table is well formed. */
static int sane(int k, const long *value, size_t n_cells, const suppress_row_t *rows, size_t n_rows)
{
    if (k < 1 || (n_cells && !value) || (n_rows && !rows))
        return 0;
    for (size_t i = 0; i < n_cells; i++)
        if (value[i] < 0)
            return 0;
    for (size_t r = 0; r < n_rows; r++) {
        long sum = 0;
        if (rows[r].total < 0 || (size_t)rows[r].total >= n_cells || (rows[r].n && !rows[r].cells))
            return 0;
        for (size_t j = 0; j < rows[r].n; j++) {
            int c = rows[r].cells[j];
            if (c < 0 || (size_t)c >= n_cells || c == rows[r].total)
                return 0;
            sum += value[c];
        }
        if (sum != value[rows[r].total])
            return 0;
    }
    return 1;
}

/* Secondary step for one row. Returns 1 if it changed a cell: hid one, or
 * published the row's one hidden cell when that is a zero hidden only as
 * a zero (not forced), since the row gives it back anyway. */
static int fix_row(const long *value, const suppress_row_t *row, unsigned char *sup,
                   unsigned char *keep, const unsigned char *force, int total_ok)
{
    size_t hidden = sup[row->total] ? 1 : 0;
    int best = -1, only = sup[row->total] ? row->total : -1;
    for (size_t j = 0; j < row->n; j++)
        if (sup[row->cells[j]]) {
            hidden++;
            only = row->cells[j];
        }
    if (hidden != 1)
        return 0;
    if (value[only] == 0 && !(force && force[only])) {
        sup[only] = 0;
        keep[only] = 1;
        return 1;
    }
    for (size_t j = 0; j < row->n; j++) {
        int c = row->cells[j];
        if (!sup[c] && !keep[c] && value[c] > 0 && (best < 0 || value[c] < value[best]))
            best = c;
    }
    if (best >= 0) {
        sup[best] = 1;
        return 1;
    }
    if (total_ok && !sup[row->total] && !keep[row->total]) {
        sup[row->total] = 1;
        return 1;
    }
    return 0; /* only the total is hidden and every member is zero: nothing to add */
}

static long sat(long a, long b)
{
    return a >= SUPPRESS_INF || b >= SUPPRESS_INF ? SUPPRESS_INF : a + b;
}

int suppress_bounds(const long *value, size_t n_cells, const suppress_row_t *rows, size_t n_rows,
                    const unsigned char *sup, int zeros, long *lo, long *hi)
{
    if (!lo || !hi || !sup || (n_cells && !value) || (n_rows && !rows) ||
        (zeros != SUPPRESS_ZEROS_PUBLISHED && zeros != SUPPRESS_ZEROS_HIDDEN))
        return -EINVAL;
    for (size_t i = 0; i < n_cells; i++) {
        lo[i] = sup[i] ? (zeros == SUPPRESS_ZEROS_HIDDEN ? 0 : 1) : value[i];
        hi[i] = sup[i] ? SUPPRESS_INF : value[i];
    }
    for (size_t pass = 0; pass <= 4 * n_cells + 8; pass++) {
        int changed = 0;
        for (size_t r = 0; r < n_rows; r++) {
            const suppress_row_t *w = &rows[r];
            long slo = 0, shi = 0;
            int t = w->total;
            for (size_t j = 0; j < w->n; j++) {
                slo = sat(slo, lo[w->cells[j]]);
                shi = sat(shi, hi[w->cells[j]]);
            }
            if (slo > lo[t])
                lo[t] = slo, changed = 1;
            if (shi < hi[t])
                hi[t] = shi, changed = 1;
            for (size_t j = 0; j < w->n; j++) {
                int m = w->cells[j];
                if (hi[t] < SUPPRESS_INF && hi[t] - (slo - lo[m]) < hi[m])
                    hi[m] = hi[t] - (slo - lo[m]), changed = 1;
                if (shi < SUPPRESS_INF && lo[t] - (shi - hi[m]) > lo[m])
                    lo[m] = lo[t] - (shi - hi[m]), changed = 1;
            }
        }
        if (!changed)
            break;
    }
    for (size_t i = 0; i < n_cells; i++)
        if (lo[i] > hi[i])
            return -EINVAL;
    return 0;
}

/* Whether cell c is a member of some row (else a root). */
static int member(const suppress_row_t *rows, size_t n_rows, int c)
{
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < rows[r].n; j++)
            if (rows[r].cells[j] == c)
                return 1;
    return 0;
}

/* Whether a hidden cell with bounds [lo, hi] is disclosed: pinned, or
 * known to be 1..k-1. */
static int disclosed(long lo, long hi, int k)
{
    return lo == hi || (lo >= 1 && hi <= k - 1);
}

/* SUPPRESS_ZEROS_HIDDEN: hides the zero cells (members and totals) of every
 * row with a hidden cell. Returns 1 if it hid one. */
static int hide_zeros(const long *value, const suppress_row_t *rows, size_t n_rows,
                      unsigned char *sup, const unsigned char *keep)
{
    int changed = 0;
    for (size_t r = 0; r < n_rows; r++) {
        int any = sup[rows[r].total];
        for (size_t j = 0; j < rows[r].n; j++)
            any |= sup[rows[r].cells[j]];
        if (!any)
            continue;
        for (size_t j = 0; j < rows[r].n; j++) {
            int m = rows[r].cells[j];
            if (!sup[m] && !keep[m] && value[m] == 0)
                sup[m] = 1, changed = 1;
        }
    }
    return changed;
}

/* Interval step for hidden cell c, pinned or bounded below k: hides the
 * smallest published non-zero cell (not c) of a row with c in it, else
 * such a row's non-zero total when it is not a root. Returns 1 if it hid
 * one. */
static int widen(const long *value, const suppress_row_t *rows, size_t n_rows, unsigned char *sup,
                 const unsigned char *keep, int c)
{
    int best = -1;
    for (size_t r = 0; r < n_rows; r++) {
        int in = rows[r].total == c;
        for (size_t j = 0; j < rows[r].n; j++)
            in |= rows[r].cells[j] == c;
        if (!in)
            continue;
        for (size_t j = 0; j < rows[r].n; j++) {
            int m = rows[r].cells[j];
            if (m != c && !sup[m] && !keep[m] && value[m] > 0 &&
                (best < 0 || value[m] < value[best]))
                best = m;
        }
    }
    for (size_t r = 0; best < 0 && r < n_rows; r++) {
        int t = rows[r].total, in = 0;
        for (size_t j = 0; j < rows[r].n; j++)
            in |= rows[r].cells[j] == c;
        if (in && !sup[t] && !keep[t] && value[t] > 0 && member(rows, n_rows, t))
            best = t;
    }
    if (best < 0)
        return 0;
    sup[best] = 1;
    return 1;
}

int suppress_table(int k, const long *value, size_t n_cells, const suppress_row_t *rows,
                   size_t n_rows, unsigned char *sup)
{
    return suppress_table_force(k, value, n_cells, rows, n_rows, NULL, SUPPRESS_ZEROS_PUBLISHED,
                                sup);
}

int suppress_table_force(int k, const long *value, size_t n_cells, const suppress_row_t *rows,
                         size_t n_rows, const unsigned char *force, int zeros, unsigned char *sup)
{
    int changed, count = 0;
    unsigned char *keep;
    long *lo, *hi;
    if (!sup || !sane(k, value, n_cells, rows, n_rows) ||
        (zeros != SUPPRESS_ZEROS_PUBLISHED && zeros != SUPPRESS_ZEROS_HIDDEN))
        return -EINVAL;
    /* scratch: keep[i] = 1 once a pinned cell is published for good */
    if (!(keep = calloc(n_cells + 1, 1)) || !(lo = malloc(2 * (n_cells + 1) * sizeof *lo))) {
        free(keep);
        return -ENOMEM;
    }
    hi = lo + n_cells;
    memset(sup, 0, n_cells);
    for (size_t i = 0; force && i < n_cells; i++)
        sup[i] = force[i] ? 1 : 0;
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < rows[r].n; j++) {
            int c = rows[r].cells[j];
            if (value[c] >= 1 && value[c] < k)
                sup[c] = 1;
        }
    for (;;) {
        int step = 0;
        do {
            changed = 0;
            for (size_t r = 0; r < n_rows; r++)
                changed |= fix_row(value, &rows[r], sup, keep, force,
                                   zeros == SUPPRESS_ZEROS_PUBLISHED ||
                                       member(rows, n_rows, rows[r].total));
            if (zeros == SUPPRESS_ZEROS_HIDDEN)
                changed |= hide_zeros(value, rows, n_rows, sup, keep);
        } while (changed);
        /* interval step: no hidden member may be pinned or known to be
         * 1..k-1; one pinned to 0 or to k or more (not forced) is published
         * instead, as it tells the reader nothing new */
        if (suppress_bounds(value, n_cells, rows, n_rows, sup, zeros, lo, hi) != 0)
            break;
        for (size_t i = 0; i < n_cells && !step; i++) {
            if (!sup[i] || !disclosed(lo[i], hi[i], k) || !member(rows, n_rows, (int)i))
                continue;
            if (lo[i] == hi[i] && (lo[i] == 0 || lo[i] >= k) && !(force && force[i])) {
                sup[i] = 0;
                keep[i] = 1;
                step = 1;
            } else {
                step = widen(value, rows, n_rows, sup, keep, (int)i);
            }
        }
        if (!step)
            break;
    }
    free(keep);
    free(lo);
    for (size_t i = 0; i < n_cells; i++)
        count += sup[i];
    return count;
}
