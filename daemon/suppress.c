/* suppress.c: primary and secondary small-number suppression (see
 * suppress.h for the rule). Each pass of the secondary loop either adds a
 * suppression or stops, so it ends after at most n_cells passes. */
#include "suppress.h"

#include <errno.h>
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

/* Secondary step for one row. Returns 1 if it suppressed a cell. */
static int fix_row(const long *value, const suppress_row_t *row, unsigned char *sup)
{
    size_t hidden = sup[row->total] ? 1 : 0;
    int best = -1;
    for (size_t j = 0; j < row->n; j++)
        hidden += sup[row->cells[j]] ? 1 : 0;
    if (hidden != 1)
        return 0;
    for (size_t j = 0; j < row->n; j++) {
        int c = row->cells[j];
        if (!sup[c] && value[c] > 0 && (best < 0 || value[c] < value[best]))
            best = c;
    }
    if (best >= 0) {
        sup[best] = 1;
        return 1;
    }
    if (!sup[row->total]) {
        sup[row->total] = 1;
        return 1;
    }
    return 0; /* only the total is hidden and every member is zero: nothing to add */
}

int suppress_table(int k, const long *value, size_t n_cells, const suppress_row_t *rows,
                   size_t n_rows, unsigned char *sup)
{
    int changed, count = 0;
    if (!sup || !sane(k, value, n_cells, rows, n_rows))
        return -EINVAL;
    memset(sup, 0, n_cells);
    for (size_t r = 0; r < n_rows; r++)
        for (size_t j = 0; j < rows[r].n; j++) {
            int c = rows[r].cells[j];
            if (value[c] >= 1 && value[c] < k)
                sup[c] = 1;
        }
    do {
        changed = 0;
        for (size_t r = 0; r < n_rows; r++)
            changed |= fix_row(value, &rows[r], sup);
    } while (changed);
    for (size_t i = 0; i < n_cells; i++)
        count += sup[i];
    return count;
}
