/* t_suppress.c: unit tests for the small-number suppression rule
 * (daemon/suppress.c). Threshold k = 5 unless said: counts 1..4 are hidden. */
#include <errno.h>
#include <string.h>

#include "suppress.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Renders the suppressed cells as a string like "1,3," for easy comparison. */
static const char *which(const unsigned char *sup, size_t n)
{
    static char buf[256];
    size_t off = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && off + 8 < sizeof buf; i++)
        if (sup[i])
            off += (size_t)snprintf(buf + off, sizeof buf - off, "%zu,", i);
    return buf;
}

static void primary_and_sibling(void)
{
    /* cell 0 = 20 (root) = 10 + 3 + 7. 3 is primary; the row then has one
     * hidden cell, so the smallest other non-zero (7) goes too. */
    long v[] = {20, 10, 3, 7};
    int cells[] = {1, 2, 3};
    suppress_row_t rows[] = {{0, cells, 3}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 2, "two cells suppressed");
    is_str(which(sup, N(v)), "2,3,", "the small cell and its smallest sibling");
}

static void zeros_published(void)
{
    /* 12 = 0 + 12 + 0: nothing small, zeros stay published. */
    long v[] = {12, 0, 12, 0};
    int cells[] = {1, 2, 3};
    suppress_row_t rows[] = {{0, cells, 3}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 0, "nothing suppressed");
    /* 20 = 0 + 18 + 2: 2 hidden, sibling 18 hidden, the zero stays. */
    long w[] = {20, 0, 18, 2};
    is_int(suppress_table(5, w, N(w), rows, N(rows), sup), 2, "two suppressed");
    is_str(which(sup, N(w)), "2,3,", "zero never chosen as the secondary cell");
}

static void single_nonzero_cell(void)
{
    /* 3 = 0 + 3 + 0: the 3 is hidden but the others are zeros, so the total
     * itself must go (it would otherwise equal the hidden cell). */
    long v[] = {3, 0, 3, 0};
    int cells[] = {1, 2, 3};
    suppress_row_t rows[] = {{0, cells, 3}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 2, "cell and total suppressed");
    is_str(which(sup, N(v)), "0,2,", "the total goes with the single non-zero cell");
}

static void root_exempt_from_primary(void)
{
    /* A total of 3 that is never a member of a row is not hidden for being
     * small; only its cells are (3 = 2 + 1: both hidden, two unknowns). */
    long v[] = {3, 2, 1};
    int cells[] = {1, 2};
    suppress_row_t rows[] = {{0, cells, 2}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 2, "two suppressed");
    is_str(which(sup, N(v)), "1,2,", "the root total stays published");
}

static void group_total_reveals_code(void)
{
    /* Cells: 0 total=20; 1 groupA=12, 2 groupB=8; codes of A: 3=10, 4=2;
     * codes of B: 5=8. Code 4 (=2) is primary; groupA's row then has one
     * hidden cell (12 - 10 would give it back), so code 3 goes too. The
     * group totals stay published. */
    long v[] = {20, 12, 8, 10, 2, 8};
    int top[] = {1, 2}, a[] = {3, 4}, b[] = {5};
    suppress_row_t rows[] = {{0, top, 2}, {1, a, 2}, {2, b, 1}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 2, "two codes suppressed");
    is_str(which(sup, N(v)), "3,4,", "the sibling code, not the group total");
}

static void small_group_cascades_down(void)
{
    /* total=20 = A(17) + B(3); A = 9 + 8; B = 3 + 0. B and its code 3 are
     * primary (B's row has two hidden: fine). The top row has one hidden
     * (B), so A (17) goes; A's row then has one hidden (its total), so its
     * smallest code (8) goes. */
    long v[] = {20, 17, 3, 9, 8, 3, 0};
    int top[] = {1, 2}, a[] = {3, 4}, b[] = {5, 6};
    suppress_row_t rows[] = {{0, top, 2}, {1, a, 2}, {2, b, 2}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 4, "four suppressed");
    is_str(which(sup, N(v)), "1,2,4,5,", "cascade from the parent row into the child");
}

static void cascade_into_parent(void)
{
    /* Cells: 0 T=16 (root), 1 G=6, 2 K=10, 3 c1=6, 4 c2=0, 5 H=8 (root),
     * 6 c3=2. Rows: T = G + K; G = c1 + c2; H = c1 + c3.
     * c3 is primary. Row H: one hidden, so c1 (6) goes. Row G: c1 is its
     * only hidden cell and c2 is zero, so G's total goes. Row T: G is its
     * only hidden cell, so K goes. */
    long v[] = {16, 6, 10, 6, 0, 8, 2};
    int t[] = {1, 2}, g[] = {3, 4}, h[] = {3, 6};
    suppress_row_t rows[] = {{0, t, 2}, {1, g, 2}, {5, h, 2}};
    unsigned char sup[N(v)];
    is_int(suppress_table(5, v, N(v), rows, N(rows), sup), 4, "four suppressed");
    is_str(which(sup, N(v)), "1,2,3,6,", "a hidden total counts as hidden in its parent row");
}

static void fixpoint_every_row(void)
{
    /* After the run no row may have exactly one hidden member. A wider
     * table: total 30 = 6 groups, some codes small. */
    long v[] = {30, 11, 1, 14, 4, 0, 0, /* codes: */ 10, 1, 1, 14, 4};
    int top[] = {1, 2, 3, 4, 5, 6}, g1[] = {7, 8}, g2[] = {9}, g3[] = {10}, g4[] = {11};
    suppress_row_t rows[] = {{0, top, 6}, {1, g1, 2}, {2, g2, 1}, {3, g3, 1}, {4, g4, 1}};
    unsigned char sup[N(v)];
    int bad = 0;
    ok(suppress_table(5, v, N(v), rows, N(rows), sup) > 0, "some suppressed");
    for (size_t r = 0; r < N(rows); r++) {
        int hidden = sup[rows[r].total];
        for (size_t j = 0; j < rows[r].n; j++)
            hidden += sup[rows[r].cells[j]];
        bad += hidden == 1;
    }
    is_int(bad, 0, "no row left with exactly one hidden member");
    for (size_t i = 0; i < N(v); i++)
        if (v[i] == 0 && sup[i])
            bad++;
    is_int(bad, 0, "no zero suppressed");
}

static void thresholds_and_errors(void)
{
    long v[] = {3, 2, 1};
    int cells[] = {1, 2};
    suppress_row_t rows[] = {{0, cells, 2}};
    unsigned char sup[N(v)];
    is_int(suppress_table(1, v, N(v), rows, N(rows), sup), 0, "k=1 suppresses nothing");
    is_int(suppress_table(2, v, N(v), rows, N(rows), sup), 2, "k=2 hides the 1 and its sibling");
    is_int(suppress_table(0, v, N(v), rows, N(rows), sup), -EINVAL, "k=0 is invalid");
    long bad_sum[] = {4, 2, 1};
    is_int(suppress_table(5, bad_sum, N(bad_sum), rows, N(rows), sup), -EINVAL,
           "a row that does not add up is invalid");
    long neg[] = {0, 1, -1};
    is_int(suppress_table(5, neg, N(neg), rows, N(rows), sup), -EINVAL, "negative is invalid");
    int far[] = {1, 7};
    suppress_row_t out_of_range[] = {{0, far, 2}};
    is_int(suppress_table(5, v, N(v), out_of_range, 1, sup), -EINVAL, "bad index is invalid");
    is_int(suppress_table(5, v, N(v), rows, N(rows), NULL), -EINVAL, "NULL output is invalid");
    is_int(suppress_table(5, NULL, 0, NULL, 0, sup), 0, "empty table");
}

int main(void)
{
    primary_and_sibling();
    zeros_published();
    single_nonzero_cell();
    root_exempt_from_primary();
    group_total_reveals_code();
    small_group_cascades_down();
    cascade_into_parent();
    fixpoint_every_row();
    thresholds_and_errors();
    return tap_done();
}
