/* t_suppress.c: unit tests for the small-number suppression rule
 * (daemon/suppress.c). Threshold k = 5 unless said: counts 1..4 are hidden.
 * With COHORT_SUPPRESS_MEASURE=1 it also prints, as TAP diag lines, the
 * measurement of zeros published against zeros hidden over random cohorts
 * drawn like the examples (see measure()). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
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

/* ------------------------------------------------ the projection's layout --- */

/* The representation table of daemon/proj_render.c (repr_rows, copied): cell 0
 * total; 1..6 groups WHITE MIXED ASIAN BLACK CHINESE_OR_OTHER NOT_STATED;
 * 7..23 codes W1 W2 W9 M1 M2 M3 M9 A1 A2 A3 A9 B1 B2 B9 O1 O9 NS; 24 BME;
 * 25..28 gender; 29..31 disability; 32 LGB, 33 not LGB (never published). */
enum {
    RC_TOTAL = 0,
    RC_GROUP = 1,
    RC_CODE = 7,
    RC_BME = 24,
    RC_GENDER = 25,
    RC_DIS = 29,
    RC_LGB = 32,
    RC_NOT_LGB = 33,
    RC_N = 34
};
static const int r_groups[] = {1, 2, 3, 4, 5, 6};
static const int r_white[] = {7, 8, 9};
static const int r_mixed[] = {10, 11, 12, 13};
static const int r_asian[] = {14, 15, 16, 17};
static const int r_black[] = {18, 19, 20};
static const int r_other[] = {21, 22};
static const int r_ns[] = {23};
static const int r_split[] = {RC_BME, 1, 6};
static const int r_bme[] = {2, 3, 4, 5};
static const int r_gender[] = {25, 26, 27, 28};
static const int r_dis[] = {29, 30, 31};
static const int r_lgb[] = {RC_LGB, RC_NOT_LGB};
static const suppress_row_t repr_rows[] = {
    {RC_TOTAL, r_groups, 6}, {1, r_white, 3},         {2, r_mixed, 4},      {3, r_asian, 4},
    {4, r_black, 3},         {5, r_other, 2},         {6, r_ns, 1},         {RC_TOTAL, r_split, 3},
    {RC_BME, r_bme, 4},      {RC_TOTAL, r_gender, 4}, {RC_TOTAL, r_dis, 3}, {RC_TOTAL, r_lgb, 2},
};
#define NR N(repr_rows)

/* One participant: Ethnicity 1..17, Gender 1..4, Disability 1..3, LGB 0/1. */
typedef struct {
    int eth, gender, dis, lgb;
} who_t;

static int eth_group(int eth)
{
    return eth <= 3 ? 0 : eth <= 7 ? 1 : eth <= 11 ? 2 : eth <= 14 ? 3 : eth <= 16 ? 4 : 5;
}

/* Adds one person to v[RC_N], as proj_render.c's repr_json does. */
static void count_in(long *v, const who_t *x)
{
    int g = eth_group(x->eth);
    v[RC_TOTAL]++;
    v[RC_GROUP + g]++;
    v[RC_CODE + x->eth - 1]++;
    v[RC_BME] += g >= 1 && g <= 4;
    v[RC_GENDER + x->gender - 1]++;
    v[RC_DIS + x->dis - 1]++;
    v[x->lgb ? RC_LGB : RC_NOT_LGB]++;
}

/* n people of ethnicity eth (gender, disability as given, not LGB). */
static void add(long *v, int n, int eth, int gender, int dis)
{
    who_t x = {eth, gender, dis, 0};
    for (int i = 0; i < n; i++)
        count_in(v, &x);
}

/* Bounds as the board reads them: the total (the root) is published in the
 * funnel, so it is exact even when the table hides it. */
static int board_bounds(const long *v, const unsigned char *sup, int mode, long *lo, long *hi)
{
    unsigned char s[RC_N];
    memcpy(s, sup, RC_N);
    s[RC_TOTAL] = 0;
    return suppress_bounds(v, RC_N, repr_rows, NR, s, mode, lo, hi);
}

/* Is suppressed cell c pinned (lo == hi) or known to be 1..k-1? (With
 * zeros published every suppressed cell is >= 1, so "bounded below k".) */
static int exposed(int k, const unsigned char *sup, const long *lo, const long *hi, int c)
{
    return c != RC_TOTAL && sup[c] && (lo[c] == hi[c] || (lo[c] >= 1 && hi[c] <= k - 1));
}

static void white_pinned_by_w1(void)
{
    /* 22 people: W1 15, W2 1, W9 1, A1 5 (issue 14). The old rule hid only
     * W2 and W9 (primary; two hidden in the White row) and showed WHITE 17
     * and W1 15: W2 + W9 = 2 with both >= 1 pins each to 1. */
    long v[RC_N] = {0}, lo[RC_N], hi[RC_N];
    unsigned char sup[RC_N];
    add(v, 15, 1, 1, 2);
    add(v, 1, 2, 2, 2);
    add(v, 1, 3, 2, 2);
    add(v, 5, 8, 2, 2);
    ok(suppress_table(5, v, RC_N, repr_rows, NR, sup) > 0, "white: suppressed");
    ok(sup[8] && sup[9], "white: W2 and W9 hidden (primary)");
    ok(sup[1] || sup[7], "white: WHITE or W1 hidden too (the old rule showed both)");
    is_int(board_bounds(v, sup, SUPPRESS_ZEROS_PUBLISHED, lo, hi), 0, "white: bounds");
    ok(!exposed(5, sup, lo, hi, 8) && !exposed(5, sup, lo, hi, 9),
       "white: W2 in [%ld,%ld], W9 in [%ld,%ld]: neither pinned nor below 5", lo[8], hi[8], lo[9],
       hi[9]);
}

static void black_codes_pin_groups(void)
{
    /* 19 people: W1 10, M1 1, A1 5, B1 1, B2 1, NS 1 (issue 14). The old
     * rule hid MIXED, BLACK, NOT_STATED, their codes and BME, but showed
     * ASIAN 5, WHITE 10 and OTHER 0, so MIXED + BLACK + NOT_STATED = 4,
     * with BLACK = B1 + B2 >= 2: BLACK = 2, MIXED = 1, NOT_STATED = 1. */
    long v[RC_N] = {0}, lo[RC_N], hi[RC_N];
    unsigned char sup[RC_N];
    int bad = 0;
    add(v, 10, 1, 1, 2);
    add(v, 1, 4, 2, 2);
    add(v, 5, 8, 1, 2);
    add(v, 1, 12, 2, 2);
    add(v, 1, 13, 2, 2);
    add(v, 1, 17, 2, 2);
    ok(suppress_table(5, v, RC_N, repr_rows, NR, sup) > 0, "black: suppressed");
    ok(sup[2] && sup[4] && sup[6], "black: MIXED, BLACK, NOT_STATED hidden");
    ok(sup[1] || sup[3], "black: WHITE or ASIAN hidden too (the old rule showed both)");
    is_int(board_bounds(v, sup, SUPPRESS_ZEROS_PUBLISHED, lo, hi), 0, "black: bounds");
    for (int c = 1; c < RC_N; c++)
        if (exposed(5, sup, lo, hi, c)) {
            diag("cell %d in [%ld,%ld]", c, lo[c], hi[c]);
            bad++;
        }
    is_int(bad, 0, "black: no hidden cell pinned or bounded below 5");
}

static void forced_cells(void)
{
    long v[] = {30, 10, 10, 10};
    int cells[] = {1, 2, 3};
    suppress_row_t rows[] = {{0, cells, 3}};
    unsigned char sup[RC_N], force[N(v)] = {0, 0, 1, 0};
    is_int(suppress_table_force(5, v, N(v), rows, N(rows), force, SUPPRESS_ZEROS_PUBLISHED, sup), 2, "force: two");
    is_str(which(sup, N(v)), "1,2,", "force: the forced cell and its first smallest sibling");
    is_int(suppress_table_force(5, v, N(v), rows, N(rows), NULL, SUPPRESS_ZEROS_PUBLISHED, sup), 0, "force NULL: none");
    /* A forced zero: 12 = 0 + 12 + 0; the zero goes, then its row has one
     * hidden cell, so the 12 goes too. */
    long z[] = {12, 0, 12, 0};
    unsigned char fz[N(z)] = {0, 1, 0, 0};
    is_int(suppress_table_force(5, z, N(z), rows, N(rows), fz, SUPPRESS_ZEROS_PUBLISHED, sup), 2, "forced zero: two");
    is_str(which(sup, N(z)), "1,2,", "forced zero and the cell that would give it back");
    /* Forcing in the proj layout: hiding FEMALE 10 of 19 (F 10, M 9) takes
     * MALE with it. */
    long w[RC_N] = {0};
    unsigned char fw[RC_N] = {0};
    add(w, 10, 1, 1, 2);
    add(w, 9, 1, 2, 2);
    fw[RC_GENDER] = 1;
    ok(suppress_table_force(5, w, RC_N, repr_rows, NR, fw, SUPPRESS_ZEROS_PUBLISHED, sup) == 2 && sup[RC_GENDER] &&
           sup[RC_GENDER + 1],
       "force: FEMALE forced, MALE follows, nothing else");
}

static void bounds_api(void)
{
    /* 20 = a + b + c + d, a = 10 and d = 0 shown, b (3) and c (7) hidden:
     * b + c = 10, and the zero shown beside them says zeros are published,
     * so each is >= 1. */
    long v[] = {20, 10, 3, 7, 0}, lo[5], hi[5];
    int cells[] = {1, 2, 3, 4};
    suppress_row_t rows[] = {{0, cells, 4}};
    unsigned char sup[] = {0, 0, 1, 1, 0};
    is_int(suppress_bounds(v, 5, rows, 1, sup, SUPPRESS_ZEROS_PUBLISHED, lo, hi), 0, "bounds: ok");
    ok(lo[2] == 1 && hi[2] == 9 && lo[3] == 1 && hi[3] == 9, "bounds: [1,9] each");
    is_int(suppress_bounds(v, 5, rows, 1, sup, SUPPRESS_ZEROS_HIDDEN, lo, hi), 0,
           "bounds zeros hidden: ok");
    ok(lo[2] == 0 && hi[2] == 10, "bounds zeros hidden: [0,10]");
    /* The zero hidden too: a reader told zeros are hidden assumes >= 0;
     * ZEROS_PUBLISHED says >= 1. */
    unsigned char zsup[] = {0, 0, 1, 1, 1};
    is_int(suppress_bounds(v, 5, rows, 1, zsup, SUPPRESS_ZEROS_HIDDEN, lo, hi), 0,
           "bounds, zero hidden: ok");
    ok(lo[2] == 0 && hi[2] == 10, "bounds, zero hidden: [0,10]");
    is_int(suppress_bounds(v, 5, rows, 1, zsup, SUPPRESS_ZEROS_PUBLISHED, lo, hi), 0,
           "bounds, zeros published: ok");
    ok(lo[2] == 1 && hi[2] == 8, "bounds, zeros published: [1,8]");
    unsigned char all[] = {1, 1, 1, 1, 1};
    is_int(suppress_bounds(v, 5, rows, 1, all, SUPPRESS_ZEROS_PUBLISHED, lo, hi), 0,
           "bounds all hidden: ok");
    ok(hi[0] == SUPPRESS_INF && lo[0] == 4, "bounds all hidden: total >= 4, no upper bound");
    long bad[] = {5, 10, 0, 0, 0};
    unsigned char shown[] = {0, 0, 1, 1, 0};
    is_int(suppress_bounds(bad, 5, rows, 1, shown, SUPPRESS_ZEROS_PUBLISHED, lo, hi), -EINVAL,
           "bounds: inconsistent");
    is_int(suppress_bounds(v, 5, rows, 1, NULL, SUPPRESS_ZEROS_PUBLISHED, lo, hi), -EINVAL,
           "bounds: NULL sup");
    is_int(suppress_bounds(v, 5, rows, 1, sup, 7, lo, hi), -EINVAL, "bounds: bad mode");
    is_int(suppress_table_force(5, v, 5, rows, 1, NULL, 7, sup), -EINVAL, "table: bad mode");
}

/* xorshift64*: a seeded, reproducible generator. */
static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}
static int rnd_below(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

/* Could the rule still hide something for exposed cell c? (suppress.h step
 * 3: a row reachable from c through suppressed non-root cells that has an
 * unsuppressed non-zero member or an unsuppressed non-root total.) */
static int fixable(const long *v, const unsigned char *sup, int c)
{
    int queue[RC_N], head = 0, tail = 0;
    unsigned char seen[RC_N] = {0};
    queue[tail++] = c, seen[c] = 1;
    while (head < tail) {
        int x = queue[head++];
        for (size_t r = 0; r < NR; r++) {
            const suppress_row_t *w = &repr_rows[r];
            int in = w->total == x;
            for (size_t j = 0; j < w->n; j++)
                in |= w->cells[j] == x;
            if (!in)
                continue;
            for (size_t j = 0; j < w->n; j++)
                if (!sup[w->cells[j]] && v[w->cells[j]] > 0)
                    return 1;
            if (!sup[w->total] && w->total != RC_TOTAL)
                return 1;
            for (size_t j = 0; j < w->n; j++)
                if (sup[w->cells[j]] && !seen[w->cells[j]])
                    queue[tail++] = w->cells[j], seen[w->cells[j]] = 1;
            if (sup[w->total] && !seen[w->total] && w->total != RC_TOTAL)
                queue[tail++] = w->total, seen[w->total] = 1;
        }
    }
    return 0;
}

/* A random person: uniform codes (harder than real data) on even calls,
 * skewed to W1 / A1 / B1 on odd calls. */
static void random_person(who_t *x, int skew)
{
    static const int common[] = {1, 1, 1, 1, 8, 8, 12, 12, 2, 13, 4, 17};
    x->eth = skew ? common[rnd_below((int)N(common))] : 1 + rnd_below(17);
    x->gender = rnd_below(10) < 9 ? 1 + rnd_below(2) : 3 + rnd_below(2);
    x->dis = rnd_below(10) < 8 ? 2 : rnd_below(2) ? 1 : 3;
    x->lgb = rnd_below(20) == 0;
}

/* For 2000 seeded random tables of 5..40 people in the proj layout, per
 * strategy: no suppressed non-root cell is pinned or bounded below 5 (the
 * total taken as published) unless nothing is left that could be hidden;
 * those are counted and shown. */
static void property_random_tables(int mode, const char *name)
{
    int tables = 2000, bad = 0, unfixable = 0, unfixable_tables = 0, zeros = 0, errs = 0;
    int small_root = 0;
    rng_state = 88172645463325252ULL;
    for (int t = 0; t < tables; t++) {
        long v[RC_N] = {0}, lo[RC_N], hi[RC_N];
        unsigned char sup[RC_N];
        int n = 5 + rnd_below(36), here = 0, rc;
        for (int i = 0; i < n; i++) {
            who_t x;
            random_person(&x, t & 1);
            count_in(v, &x);
        }
        rc = suppress_table_force(5, v, RC_N, repr_rows, NR, NULL, mode, sup);
        if (rc < 0 || board_bounds(v, sup, mode, lo, hi) != 0) {
            errs++;
            continue;
        }
        for (int c = 1; c < RC_N; c++) {
            zeros += sup[c] && v[c] == 0;
            if (!exposed(5, sup, lo, hi, c))
                continue;
            if (fixable(v, sup, c)) {
                if (bad++ < 5)
                    diag("table %d (n=%d): cell %d = %ld in [%ld,%ld] fixable but left", t, n, c,
                         v[c], lo[c], hi[c]);
            } else {
                unfixable++;
                here = 1;
            }
        }
        unfixable_tables += here;
        small_root += here && n < 10;
    }
    is_int(errs, 0, "random %s: every table valid and consistent", name);
    if (mode == SUPPRESS_ZEROS_PUBLISHED)
        is_int(zeros, 0, "random %s: no zero suppressed", name);
    /* Zeros published (the first rule's reader model, kept for the
     * auditor's demonstrations) only widens the rows of the exposed cell
     * itself, so it can leave cells a wider search would fix; releases
     * hide zeros, where nothing may be left. */
    if (mode == SUPPRESS_ZEROS_HIDDEN)
        is_int(bad, 0,
               "random %s: no hidden cell pinned or known 1..4 while something could be hidden",
               name);
    else
        diag("random %s: %d exposed cells that a wider search could fix", name, bad);
    diag("random %s: %d of %d tables keep an exposed cell nothing can fix (%d cells; %d of "
         "those tables have n < 10)",
         name, unfixable_tables, tables, unfixable, small_root);
}

/* The old rule (steps 1 and 2 only), kept for the measurement. */
static void old_rule(int k, const long *v, const suppress_row_t *rows, size_t nr, size_t nc,
                     unsigned char *sup)
{
    int changed;
    memset(sup, 0, nc);
    for (size_t r = 0; r < nr; r++)
        for (size_t j = 0; j < rows[r].n; j++)
            if (v[rows[r].cells[j]] >= 1 && v[rows[r].cells[j]] < k)
                sup[rows[r].cells[j]] = 1;
    do {
        changed = 0;
        for (size_t r = 0; r < nr; r++) {
            int hidden = sup[rows[r].total], best = -1;
            for (size_t j = 0; j < rows[r].n; j++)
                hidden += sup[rows[r].cells[j]];
            if (hidden != 1)
                continue;
            for (size_t j = 0; j < rows[r].n; j++) {
                int c = rows[r].cells[j];
                if (!sup[c] && v[c] > 0 && (best < 0 || v[c] < v[best]))
                    best = c;
            }
            if (best < 0 && !sup[rows[r].total])
                best = rows[r].total;
            if (best >= 0)
                sup[best] = 1, changed = 1;
        }
    } while (changed);
}

/* Participants of examples/step-forward.jsonl (sf) and
 * examples/leadership-in-partnership.jsonl (lip): the participantRegistered
 * events with role PARTICIPANT, counted by (ethnicity, gender, disability,
 * sexual orientation LGB) as enum numbers; n is how many. */
typedef struct {
    int eth, gender, dis, lgb, n;
} pool_t;
static const pool_t pool_lip[] = {
    {1, 1, 2, 0, 1},  {1, 1, 3, 0, 2},  {1, 2, 1, 0, 3},  {1, 2, 2, 0, 8}, {1, 2, 3, 0, 1},
    {3, 1, 2, 0, 1},  {4, 1, 2, 0, 1},  {8, 1, 2, 0, 3},  {8, 2, 2, 0, 2}, {9, 2, 2, 0, 1},
    {12, 2, 2, 0, 1}, {13, 2, 2, 0, 1}, {16, 2, 3, 1, 1}, {17, 1, 2, 0, 1}};
static const pool_t pool_sf[] = {
    {4, 1, 2, 0, 1},  {5, 1, 2, 0, 1},  {6, 1, 2, 1, 1},  {7, 2, 2, 0, 1},  {8, 1, 2, 0, 1},
    {8, 2, 2, 0, 2},  {9, 2, 1, 0, 1},  {9, 2, 2, 0, 1},  {10, 1, 2, 0, 1}, {10, 2, 2, 0, 1},
    {11, 1, 1, 0, 1}, {12, 1, 2, 0, 1}, {12, 1, 3, 0, 1}, {12, 2, 2, 0, 1}, {13, 1, 2, 0, 1},
    {13, 2, 2, 0, 1}, {14, 2, 2, 0, 1}, {15, 1, 2, 0, 1}, {16, 1, 2, 0, 1}};

/* Draws one person from a pool, weighted by its counts. */
static void draw(const pool_t *p, size_t np, who_t *x)
{
    int total = 0, pick;
    *x = (who_t){p[0].eth, p[0].gender, p[0].dis, p[0].lgb};
    for (size_t i = 0; i < np; i++)
        total += p[i].n;
    pick = rnd_below(total);
    for (size_t i = 0; i < np; i++) {
        if (pick < p[i].n) {
            x->eth = p[i].eth, x->gender = p[i].gender, x->dis = p[i].dis, x->lgb = p[i].lgb;
            return;
        }
        pick -= p[i].n;
    }
}

static int long_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static double median(long *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, long_cmp);
    return n % 2 ? (double)x[n / 2] : (x[n / 2 - 1] + x[n / 2]) / 2.0;
}

/* COHORT_SUPPRESS_MEASURE=1: for cohorts of 8, 12, 20, 30 and 60 drawn
 * with replacement from one example programme's participants (each
 * programme half the time), 1000 each, seeded: median published non-zero,
 * published zero and hidden cells among the 31 published breakdown cells
 * (1..31), and how many tables leave an exposed cell (pinned or bounded
 * below 5, the total taken as published), for the old rule, (a) zeros
 * published and (b) zeros hidden. */
static void measure(void)
{
    enum { RUNS = 1000 };
    static const int sizes[] = {8, 12, 20, 30, 60};
    static const char *const names[] = {"old rule (steps 1-2)", "(a) zeros published",
                                        "(b) zeros hidden (releases)"};
    static long nz[3][RUNS], zs[3][RUNS], hid[3][RUNS];
    rng_state = 20091001ULL;
    diag("measure: k=5, %d cohorts per size, cells 1..31 (total published in the funnel)", RUNS);
    diag("measure: size | rule | median published non-zero | median published zeros | median "
         "hidden | tables with an exposed cell | exposed cells | tables with a pinned cell");
    for (size_t s = 0; s < N(sizes); s++) {
        int exp_tables[4] = {0}, exp_cells[4] = {0}, pin_tables[4] = {0};
        for (int t = 0; t < RUNS; t++) {
            long v[RC_N] = {0};
            int lip = rnd_below(2);
            for (int i = 0; i < sizes[s]; i++) {
                who_t x;
                if (lip)
                    draw(pool_lip, N(pool_lip), &x);
                else
                    draw(pool_sf, N(pool_sf), &x);
                count_in(v, &x);
            }
            for (int m = 0; m < 3; m++) {
                unsigned char sup[RC_N];
                long lo[RC_N], hi[RC_N];
                static const int modes[] = {SUPPRESS_ZEROS_PUBLISHED, SUPPRESS_ZEROS_PUBLISHED,
                                            SUPPRESS_ZEROS_HIDDEN};
                int mode = modes[m], any = 0, pin = 0;
                if (m == 0)
                    old_rule(5, v, repr_rows, NR, RC_N, sup);
                else
                    suppress_table_force(5, v, RC_N, repr_rows, NR, NULL, mode, sup);
                board_bounds(v, sup, mode, lo, hi);
                nz[m][t] = zs[m][t] = hid[m][t] = 0;
                for (int c = 1; c < RC_LGB; c++) {
                    if (sup[c])
                        hid[m][t]++;
                    else if (v[c])
                        nz[m][t]++;
                    else
                        zs[m][t]++;
                    if (exposed(5, sup, lo, hi, c))
                        any = 1, exp_cells[m]++;
                    pin |= sup[c] && lo[c] == hi[c];
                }
                exp_tables[m] += any;
                pin_tables[m] += pin;
            }
        }
        for (int m = 0; m < 3; m++) {
            double mnz = 0, mhid = 0;
            for (int t = 0; t < RUNS; t++)
                mnz += (double)nz[m][t] / RUNS, mhid += (double)hid[m][t] / RUNS;
            diag("measure: %d | %s | %.1f (mean %.2f) | %.1f | %.1f (mean %.2f) | %d | %d | %d",
                 sizes[s], names[m], median(nz[m], RUNS), mnz, median(zs[m], RUNS),
                 median(hid[m], RUNS), mhid, exp_tables[m], exp_cells[m], pin_tables[m]);
        }
    }
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
    white_pinned_by_w1();
    black_codes_pin_groups();
    forced_cells();
    bounds_api();
    property_random_tables(SUPPRESS_ZEROS_HIDDEN, "zeros hidden (as in releases)");
    property_random_tables(SUPPRESS_ZEROS_PUBLISHED, "zeros published");
    if (getenv("COHORT_SUPPRESS_MEASURE"))
        measure();
    return tap_done();
}
