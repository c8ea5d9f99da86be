/* audit.c: the disclosure auditor (see audit.h and docs/status.md,
 * "Disclosure audit"). Longer than 1,000 lines on purpose: the cell layout,
 * the rows that tie cells together and the propagation that uses them are
 * one argument about what a reader of every release can derive, and are
 * checked together; split, the layout and its rows would drift apart.
 *
 * Method. Each audited document (a cohort or programme topic with a
 * `representation` block) becomes one fixed table of cells, laid out like
 * proj_render.c's: the enrolled total, the 6 ethnic groups, the 17 codes, bme, 4
 * genders, 3 disability values, the LGB and not-LGB counts (never published
 * as such), then `progression.progressed` (its total and 6 groups). Each
 * cell gets an interval [lo, hi]: a published count is exact; a suppressed
 * one is at least 1 (zeros are always published) with no upper bound; the
 * never-published ones start at [0, inf). A cohort's enrolled total is
 * exact from `filled.participants`, a programme's at most its sum. An aim's
 * actual_percent narrows its count to the values that round to it (and a
 * null one, with the total published, to at least 1); the progressed total
 * lies between 1 and the number of promotions counted in `during` and
 * `after` (0 if none).
 *
 * The rows (a total = the sum of its members, as in proj_render.c) are then
 * propagated to a fixpoint: a total is within [sum of members' lo, sum of
 * members' hi], a member within [total lo - others' hi, total hi - others'
 * lo]. Every bound so derived holds for every table consistent with what
 * was published (it is sound), but propagation is weaker than a linear
 * programme, so a bound an LP would find may be missed. It stops after
 * MAX_PASSES passes, which only weakens it.
 *
 * Across documents: a programme's representation is over the union of its
 * cohorts' participants; when its published total equals the sum of its
 * cohorts' totals the cohorts are disjoint and every programme cell is the
 * sum of the cohorts' cells, which adds one row per cell to a combined
 * system of the programme and all its cohorts (as last published at that
 * moment).
 *
 * Over time: between two consecutive versions of a topic, each cell's
 * change D lies in [lo2 - hi1, hi2 - lo1]; if the people who changed are
 * only joiners (J) and leavers (L) then also -L <= D <= J, with J - L the
 * change of the total and L at most the rise in WITHDRAWN and
 * REMOVED_BY_BOARD plus any fall in the participants' funnel total. If
 * that is contradicted (a characteristic was corrected), only the first
 * interval is used.
 *
 * The chained tables by group of a cohort's release (retention.retained,
 * progression.after_completion) are laid out, tied to the funnel and the
 * leavers, and read by audit_chain.c; their cells are propagated, judged
 * and differenced here with the others.
 *
 * Roots (the enrolled total, the progressed total) are headcounts published
 * in the funnel and are never reported. */
#include "audit.h"
#include "audit_int.h" /* the cells, the rows; the chained tables are audit_chain.c's */

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INF AUDIT_INF
#define MAX_PASSES 200
#define MAX_COUNT AUDIT_MAX_COUNT

static const char *const GROUPS[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};
static const char *const CODES[] = {"W1", "W2", "W9", "M1", "M2", "M3", "M9", "A1", "A2",
                                    "A3", "A9", "B1", "B2", "B9", "O1", "O9", "NS"};
static const char *const GENDERS[] = {"FEMALE", "MALE", "GENDER_OTHER", "GENDER_NOT_STATED"};
static const char *const DISAB[] = {"DISABLED", "NOT_DISABLED", "DISABILITY_NOT_STATED"};
static const char *const MOVES[] = {"ENROLLED", "COMPLETED", "WITHDRAWN", "REMOVED_BY_BOARD"};

static const int r_groups[] = {1, 2, 3, 4, 5, 6};
static const int r_white[] = {7, 8, 9};
static const int r_mixed[] = {10, 11, 12, 13};
static const int r_asian[] = {14, 15, 16, 17};
static const int r_black[] = {18, 19, 20};
static const int r_other[] = {21, 22};
static const int r_ns[] = {23};
static const int r_split[] = {C_BME, 1, 6};
static const int r_bme[] = {2, 3, 4, 5};
static const int r_gender[] = {25, 26, 27, 28};
static const int r_dis[] = {29, 30, 31};
static const int r_lgb[] = {C_LGB, C_NOT_LGB};
static const int r_prog[] = {35, 36, 37, 38, 39, 40};
static const int r_left[] = {C_LGROUP,     C_LGROUP + 1, C_LGROUP + 2,
                             C_LGROUP + 3, C_LGROUP + 4, C_LGROUP + 5};
/* The funnel table's rows (release.c's reach_rows, shifted to C_RB, and
 * with the everyone-chain reach(s) = reach(s + 1) + drop(s) a reader also
 * knows from the published totals). */
#define FR(s, g) (C_RB + RELEASE_REACH(s, g))
#define FD(s, g) (C_RB + RELEASE_DROP(s, g))
#define FR6(s)                                                                                     \
    {                                                                                              \
        FR(s, 1), FR(s, 2), FR(s, 3), FR(s, 4), FR(s, 5), FR(s, 6)                                 \
    }
#define FD6(s)                                                                                     \
    {                                                                                              \
        FD(s, 1), FD(s, 2), FD(s, 3), FD(s, 4), FD(s, 5), FD(s, 6)                                 \
    }
#define FC(s, g)                                                                                   \
    {                                                                                              \
        FR(s + 1, g), FD(s, g)                                                                     \
    }
#define FC7(s)                                                                                     \
    {                                                                                              \
        FC(s, 0), FC(s, 1), FC(s, 2), FC(s, 3), FC(s, 4), FC(s, 5), FC(s, 6)                       \
    }
static const int r_fstage[6][6] = {FR6(0), FR6(1), FR6(2), FR6(3), FR6(4), FR6(5)};
static const int r_fdrop[5][6] = {FD6(0), FD6(1), FD6(2), FD6(3), FD6(4)};
static const int r_fchain[5][7][2] = {FC7(0), FC7(1), FC7(2), FC7(3), FC7(4)};
#define ROW_S(s)                                                                                   \
    {                                                                                              \
        FR(s, 0), r_fstage[s], 6                                                                   \
    }
#define ROW_D(s)                                                                                   \
    {                                                                                              \
        FD(s, 0), r_fdrop[s], 6                                                                    \
    }
#define ROW_C(s, g)                                                                                \
    {                                                                                              \
        FR(s, g), r_fchain[s][g], 2                                                                \
    }
#define ROW_C7(s)                                                                                  \
    ROW_C(s, 0), ROW_C(s, 1), ROW_C(s, 2), ROW_C(s, 3), ROW_C(s, 4), ROW_C(s, 5), ROW_C(s, 6)
static const char *const FSTAGES[] = {
    "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};

/* The rows of the tables audit.c lays out (audit_chain.c adds the chained
 * tables' rows: ctx_t.rows holds both). */
static const row_t ROWS[] = {
    {C_TOTAL, r_groups, 6},
    {1, r_white, 3},
    {2, r_mixed, 4},
    {3, r_asian, 4},
    {4, r_black, 3},
    {5, r_other, 2},
    {6, r_ns, 1},
    {C_TOTAL, r_split, 3},
    {C_BME, r_bme, 4},
    {C_TOTAL, r_gender, 4},
    {C_TOTAL, r_dis, 3},
    {C_TOTAL, r_lgb, 2},
    {C_PTOTAL, r_prog, 6},
    {C_LTOTAL, r_left, 6},
    ROW_S(0),
    ROW_S(1),
    ROW_S(2),
    ROW_S(3),
    ROW_S(4),
    ROW_S(5),
    ROW_D(0),
    ROW_D(1),
    ROW_D(2),
    ROW_D(3),
    ROW_D(4),
    ROW_C7(0),
    ROW_C7(1),
    ROW_C7(2),
    ROW_C7(3),
    ROW_C7(4),
};
#define NBASE (sizeof ROWS / sizeof ROWS[0])
#define NROWS_MAX (NBASE + AUDIT_CHAIN_NROWS)

/* One audited document version. */
typedef struct {
    const char *topic;         /* borrowed from the input */
    json_int_t seq, rev;       /* as published */
    const json_t *doc;         /* borrowed from the input */
    int programme;             /* a programme roll-up (else a cohort) */
    int has_prog;              /* has progression.progressed */
    int has_reach;             /* has funnel_reached.by_ethnic_group */
    int has_left;              /* has retention.left_by_ethnic_group */
    int has_chain[CHAIN_N];    /* has retention.retained, progression.after_completion */
    long lo[NCELL];            /* lower bounds, after propagation */
    long hi[NCELL];            /* upper bounds (INF: none) */
    unsigned char kind[NCELL]; /* K_* */
    long promos;               /* sum of progression.during and .after, or -1 */
    long exits;                /* participants WITHDRAWN + REMOVED_BY_BOARD, or -1 */
    long ftotal;               /* participants' funnel total, or -1 */
    int aim_cells;             /* bit (cell - C_BME) set: an aim bounded that cell (detail) */
} view_t;

/* The run's state. */
typedef struct {
    int k;                               /* threshold */
    json_t *out;                         /* findings */
    json_t *seen;                        /* keys of document/release findings already reported */
    char *err;                           /* message buffer */
    size_t errlen;                       /* its size */
    row_t rows[NROWS_MAX];               /* every row: ROWS, then the chained tables' */
    int chain_mem[AUDIT_CHAIN_NROWS][6]; /* the chained rows' members */
    size_t nrows;                        /* how many rows */
} ctx_t;

static long sat_add(long a, long b)
{
    if (a >= INF || b >= INF)
        return INF;
    if (a <= -INF || b <= -INF)
        return -INF;
    long s = a + b;
    return s > INF ? INF : s < -INF ? -INF : s;
}

static long lmax(long a, long b)
{
    return a > b ? a : b;
}

static long lmin(long a, long b)
{
    return a < b ? a : b;
}

/* ceil(a / b) for b > 0, any sign of a. */
static long ceil_div(long a, long b)
{
    return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

static void cell_name(int i, char *buf, size_t n)
{
    if (audit_chain_name(i, buf, n))
        return;
    if (i == C_TOTAL)
        snprintf(buf, n, "representation.total");
    else if (i < C_CODE)
        snprintf(buf, n, "representation.ethnic_group.%s", GROUPS[i - C_GROUP]);
    else if (i < C_BME)
        snprintf(buf, n, "representation.ethnicity.%s", CODES[i - C_CODE]);
    else if (i == C_BME)
        snprintf(buf, n, "representation.bme");
    else if (i < C_DIS)
        snprintf(buf, n, "representation.gender.%s", GENDERS[i - C_GENDER]);
    else if (i < C_LGB)
        snprintf(buf, n, "representation.disability.%s", DISAB[i - C_DIS]);
    else if (i == C_LGB)
        snprintf(buf, n, "representation.lgb");
    else if (i == C_NOT_LGB)
        snprintf(buf, n, "representation.not_lgb");
    else if (i == C_PTOTAL)
        snprintf(buf, n, "progression.progressed.total");
    else if (i < C_RB)
        snprintf(buf, n, "progression.progressed.ethnic_group.%s", GROUPS[i - C_PGROUP]);
    else if (i == C_LTOTAL)
        snprintf(buf, n, "retention.left_by_ethnic_group.total");
    else if (i >= C_LGROUP)
        snprintf(buf, n, "retention.left_by_ethnic_group.ethnic_group.%s", GROUPS[i - C_LGROUP]);
    else {
        int j = i - C_RB, drop = j >= RELEASE_DROP(0, 0);
        int st = (drop ? j - RELEASE_DROP(0, 0) : j) / RELEASE_NMOVED, g = j % RELEASE_NMOVED;
        const char *b = drop ? "dropped_after" : "by_ethnic_group";
        if (g == 0)
            snprintf(buf, n, "funnel_reached.%s.%s.total", b, FSTAGES[st]);
        else
            snprintf(buf, n, "funnel_reached.%s.%s.ethnic_group.%s", b, FSTAGES[st], GROUPS[g - 1]);
    }
}

static int is_root(int i)
{
    /* the funnel's everyone-counts: published in the live funnel_reached */
    return i == C_TOTAL || i == C_PTOTAL || i == C_LTOTAL || audit_chain_root(i) ||
           (i >= C_RB && i < C_LTOTAL && (i - C_RB) % RELEASE_NMOVED == 0);
}

static int fail(ctx_t *c, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (c->err && c->errlen)
        vsnprintf(c->err, c->errlen, fmt, ap);
    va_end(ap);
    return rc;
}

/* Tightens lo/hi over rows to a fixpoint (at most MAX_PASSES passes).
 * Returns 0, or -1 when some lo > hi (the input contradicts the rows). */
static int propagate(long *lo, long *hi, const row_t *rows, size_t nr)
{
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        int changed = 0;
        for (size_t r = 0; r < nr; r++) {
            const row_t *w = &rows[r];
            long slo = 0, shi = 0;
            int t = w->total;
            for (int j = 0; j < w->n; j++) {
                slo = sat_add(slo, lo[w->m[j]]);
                shi = sat_add(shi, hi[w->m[j]]);
            }
            if (slo > lo[t])
                lo[t] = slo, changed = 1;
            if (shi < hi[t])
                hi[t] = shi, changed = 1;
            for (int j = 0; j < w->n; j++) {
                int m = w->m[j];
                long mlo = lo[m], mhi = hi[m];
                if (hi[t] < INF) {
                    long h = hi[t] - (slo - mlo);
                    if (h < hi[m])
                        hi[m] = h, changed = 1;
                }
                if (shi < INF) {
                    long l = lo[t] - (shi - mhi);
                    if (l > lo[m])
                        lo[m] = l, changed = 1;
                }
            }
        }
        for (size_t r = 0; r < nr; r++) {
            if (lo[rows[r].total] > hi[rows[r].total])
                return -1;
            for (int j = 0; j < rows[r].n; j++)
                if (lo[rows[r].m[j]] > hi[rows[r].m[j]])
                    return -1;
        }
        if (!changed)
            break;
    }
    return 0;
}

static const json_t *jpath(const json_t *o, const char *a, const char *b)
{
    o = json_object_get(o, a);
    return b ? json_object_get(o, b) : o;
}

/* Sets cell i from a published value: integer, null (suppressed) or absent. */
/* zero0: the block says its suppressed cells may be 0
 * ("suppressed_may_be_zero"); otherwise zeros are published and a
 * suppressed cell is at least 1. */
static int set_cell(view_t *v, int i, const json_t *val, int zero0)
{
    if (json_is_integer(val)) {
        json_int_t x = json_integer_value(val);
        if (x < 0 || x > MAX_COUNT)
            return -1;
        v->kind[i] = K_PUB;
        v->lo[i] = v->hi[i] = (long)x;
    } else if (json_is_null(val)) {
        v->kind[i] = K_HID;
        v->lo[i] = zero0 ? 0 : 1;
    } else if (val) {
        return -1;
    }
    return 0;
}

/* Sum of the integer members of an object, or -1 if it is not one. */
static long sum_ints(const json_t *o)
{
    const char *key;
    const json_t *x;
    long s = 0;
    if (!json_is_object(o))
        return -1;
    json_object_foreach((json_t *)o, key, x) if (json_is_integer(x)) s +=
        (long)json_integer_value(x);
    return s;
}

static int aim_cell(const char *group)
{
    if (!group)
        return -1;
    if (strcmp(group, "AIM_BME") == 0)
        return C_BME;
    if (strcmp(group, "AIM_FEMALE") == 0)
        return C_GENDER;
    if (strcmp(group, "AIM_DISABLED") == 0)
        return C_DIS;
    if (strcmp(group, "AIM_LGB") == 0)
        return C_LGB;
    return -1;
}

/* Fills v from one document. Returns 1 (audited), 0 (no representation:
 * not audited) or -1 (a value of the wrong type). Bounds are not yet
 * propagated. */
static int load_view(view_t *v, const char *topic, json_int_t seq, json_int_t rev,
                     const json_t *doc)
{
    const json_t *r = json_object_get(doc, "representation"), *p, *fp, *fr, *aims, *a;
    json_t *filled;
    size_t i;
    int bad = 0, z;
    memset(v, 0, sizeof *v);
    v->topic = topic;
    v->seq = seq;
    v->rev = rev;
    v->doc = doc;
    if (!json_is_object(r))
        return 0;
    if (strncmp(topic, "release/", 8) == 0) /* a dated release of the same population */
        topic += 8;
    v->programme = strncmp(topic, "programme/", 10) == 0;
    for (int c = 0; c < NCELL; c++)
        v->lo[c] = 0, v->hi[c] = INF, v->kind[c] = K_UNP;
    z = json_is_true(json_object_get(r, "suppressed_may_be_zero"));
    bad |= set_cell(v, C_TOTAL, json_object_get(r, "total"), z);
    for (int g = 0; g < 6; g++)
        bad |= set_cell(v, C_GROUP + g, jpath(r, "ethnic_group", GROUPS[g]), z);
    for (int e = 0; e < 17; e++)
        bad |= set_cell(v, C_CODE + e, jpath(r, "ethnicity", CODES[e]), z);
    bad |= set_cell(v, C_BME, json_object_get(r, "bme"), z);
    for (int g = 0; g < 4; g++)
        bad |= set_cell(v, C_GENDER + g, jpath(r, "gender", GENDERS[g]), z);
    for (int d = 0; d < 3; d++)
        bad |= set_cell(v, C_DIS + d, jpath(r, "disability", DISAB[d]), z);
    p = jpath(doc, "progression", "progressed");
    if (json_is_object(p)) {
        int pz = json_is_true(json_object_get(p, "suppressed_may_be_zero"));
        v->has_prog = 1;
        bad |= set_cell(v, C_PTOTAL, json_object_get(p, "total"), pz);
        for (int g = 0; g < 6; g++)
            bad |= set_cell(v, C_PGROUP + g, jpath(p, "ethnic_group", GROUPS[g]), pz);
    }
    p = jpath(doc, "retention", "left_by_ethnic_group");
    if (json_is_object(json_object_get(p, "ethnic_group"))) {
        int lz = json_is_true(json_object_get(p, "suppressed_may_be_zero"));
        v->has_left = 1;
        bad |= set_cell(v, C_LTOTAL, json_object_get(p, "total"), lz);
        for (int g = 0; g < 6; g++)
            bad |= set_cell(v, C_LGROUP + g, jpath(p, "ethnic_group", GROUPS[g]), lz);
    }
    fr = jpath(doc, "funnel_reached", "by_ethnic_group");
    if (json_is_object(fr)) {
        int fz = json_is_true(jpath(doc, "funnel_reached", "suppressed_may_be_zero"));
        v->has_reach = 1;
        for (int st = 0; st < RELEASE_NSTAGES; st++) {
            const json_t *so = json_object_get(fr, FSTAGES[st]);
            bad |= set_cell(v, FR(st, 0), json_object_get(so, "total"), fz);
            for (int g = 0; g < 6; g++)
                bad |= set_cell(v, FR(st, 1 + g), jpath(so, "ethnic_group", GROUPS[g]), fz);
        }
    }
    bad |= audit_chain_load(doc, v->lo, v->hi, v->kind, v->has_chain);
    if (bad)
        return -1;
    /* The enrolled total: a cohort's filled.participants is exactly it; a
     * programme's is a sum over cohorts, at least the union. */
    filled = (json_t *)jpath(doc, "filled", "participants");
    if (json_is_integer(filled) && json_integer_value(filled) >= 0 &&
        json_integer_value(filled) <= MAX_COUNT) {
        long f = (long)json_integer_value(filled);
        if (!v->programme) {
            v->lo[C_TOTAL] = lmax(v->lo[C_TOTAL], f);
            v->hi[C_TOTAL] = lmin(v->hi[C_TOTAL], f);
        } else {
            v->hi[C_TOTAL] = lmin(v->hi[C_TOTAL], f);
        }
    }
    /* The progressed: each has at least one promotion counted in during or
     * after, and every one counted there is someone's. */
    v->promos = -1;
    if (v->has_prog) {
        long d = sum_ints(jpath(doc, "progression", "during")),
             af = sum_ints(jpath(doc, "progression", "after"));
        if (d >= 0 && af >= 0) {
            v->promos = d + af;
            v->hi[C_PTOTAL] = lmin(v->hi[C_PTOTAL], v->promos);
            if (v->promos > 0)
                v->lo[C_PTOTAL] = lmax(v->lo[C_PTOTAL], 1);
        }
    }
    /* Aims: actual_percent = (200 c + t) / (2 t) for count c of total t. */
    aims = json_object_get(r, "aims");
    json_array_foreach(aims, i, a)
    {
        int c = aim_cell(json_string_value(json_object_get(a, "group")));
        const json_t *pct = json_object_get(a, "actual_percent");
        long t = v->lo[C_TOTAL];
        if (c < 0 || t != v->hi[C_TOTAL] || t <= 0 || t > MAX_COUNT)
            continue;
        if (json_is_integer(pct)) {
            /* p = floor((200 x + t) / (2 t)) <=> t (2p - 1) <= 200 x < t (2p + 1) */
            json_int_t want = json_integer_value(pct);
            long cmin, cmax;
            if (want < 0 || want > 100)
                return -1;
            cmin = ceil_div(t * (2 * (long)want - 1), 200);
            cmax = ceil_div(t * (2 * (long)want + 1), 200) - 1;
            cmin = lmax(cmin, 0);
            cmax = lmin(cmax, t);
            if (cmin > cmax)
                return -1;
            v->lo[c] = lmax(v->lo[c], cmin);
            v->hi[c] = lmin(v->hi[c], cmax);
            v->aim_cells |= 1 << (c - C_BME);
        } else if (json_is_null(pct) && v->kind[C_TOTAL] == K_PUB) {
            v->lo[c] = lmax(v->lo[c], 1); /* null with a published total: the count is hidden */
            v->aim_cells |= 1 << (c - C_BME);
        }
    }
    /* The participants' funnel, for who joined and left between versions. */
    fp = jpath(doc, "funnel", "participants");
    v->ftotal = json_is_integer(json_object_get(fp, "total"))
                    ? (long)json_integer_value(json_object_get(fp, "total"))
                    : -1;
    {
        const json_t *w = jpath(fp, "by_stage", "WITHDRAWN"),
                     *rb = jpath(fp, "by_stage", "REMOVED_BY_BOARD");
        v->exits = json_is_integer(w) && json_is_integer(rb)
                       ? (long)(json_integer_value(w) + json_integer_value(rb))
                       : -1;
    }
    return 1;
}

/* The rule a cell's bounds break, or NULL. */
static const char *judge(int kind, int cell, long lo, long hi, int k)
{
    if (is_root(cell))
        return NULL;
    if (kind == K_PUB)
        return lo >= 1 && lo <= k - 1 ? "published-small" : NULL;
    if (kind == K_HID) /* lo is 0 only where suppressed cells may be 0 */
        return lo == hi ? "pinned" : lo >= 1 && hi <= k - 1 ? "bounded-below-k" : NULL;
    /* never published (LGB): a small non-zero count is a disclosure */
    if (lo >= 1 && hi <= k - 1)
        return lo == hi ? "pinned" : "bounded-below-k";
    return NULL;
}

static json_t *bound_json(long x)
{
    return x >= INF || x <= -INF ? json_null() : json_integer(x);
}

/* Appends a finding; for scope "document"/"release", once per key. */
static int add_finding(ctx_t *c, const char *rule, const char *scope, const view_t *v, int cell,
                       long lo, long hi, const view_t *from, json_t *topics, const char *detail)
{
    char name[96], key[512];
    json_t *f;
    cell_name(cell, name, sizeof name);
    if (!from) {
        snprintf(key, sizeof key, "%s|%s|%s|%s|%ld|%ld", scope, v->topic, name, rule, lo, hi);
        if (json_object_get(c->seen, key)) {
            json_decref(topics);
            return 0;
        }
        if (json_object_set_new(c->seen, key, json_true()))
            return json_decref(topics), -ENOMEM;
    }
    f = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:o,s:o,s:s}", "rule", rule, "scope", scope, "topic",
                  v->topic, "cell", name, "seq", (json_int_t)v->seq, "rev", (json_int_t)v->rev,
                  "lo", bound_json(lo), "hi", bound_json(hi), "detail", detail);
    if (!f)
        return json_decref(topics), -ENOMEM;
    if (from && (json_object_set_new(f, "from_seq", json_integer(from->seq)) ||
                 json_object_set_new(f, "from_rev", json_integer(from->rev)))) {
        json_decref(f);
        return -ENOMEM;
    }
    if (topics && json_object_set_new(f, "topics", topics)) {
        json_decref(f);
        return -ENOMEM;
    }
    return json_array_append_new(c->out, f) ? -ENOMEM : 0;
}

static void range_text(char *buf, size_t n, long lo, long hi)
{
    if (lo == hi)
        snprintf(buf, n, "%ld", lo);
    else if (hi >= INF)
        snprintf(buf, n, "at least %ld", lo);
    else
        snprintf(buf, n, "%ld..%ld", lo, hi);
}

/* The detail of a document or release finding. */
static void doc_detail(char *buf, size_t n, const char *rule, int kind, int aim, long lo, long hi,
                       int k, const char *how)
{
    char r[64];
    range_text(r, sizeof r, lo, hi);
    if (strcmp(rule, "published-small") == 0)
        snprintf(buf, n, "published as %ld, below k = %d", lo, k);
    else if (kind == K_HID)
        snprintf(buf, n, "suppressed, but %s %s it to %s%s", how,
                 strcmp(rule, "pinned") == 0 ? "pin" : "bound", r,
                 strcmp(rule, "pinned") == 0 ? "" : " (below k)");
    else
        snprintf(buf, n, "never published, but %s%s give %s (below k = %d)", how,
                 aim ? " and the aims' actual_percent" : "", r, k);
}

/* Appends a "median" finding for group g's median in v. */
static int median_finding(ctx_t *c, const view_t *v, const char *g)
{
    char name[160];
    json_t *f;
    snprintf(name, sizeof name,
             "progression.median_days_after_end_to_substantive_promotion_by_ethnic_group."
             "ethnic_group.%s",
             g);
    f = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:n,s:n,s:s}", "rule", "median", "scope", "document",
                  "topic", v->topic, "cell", name, "seq", (json_int_t)v->seq, "rev",
                  (json_int_t)v->rev, "lo", "hi", "detail",
                  "a median by group is not auditable: it may be one person's value");
    if (!f || json_array_append_new(c->out, f))
        return -ENOMEM;
    return 0;
}

/* A median by ethnic group with a number in it: a small group's median is
 * a person's value, and two versions bound a newcomer's; never published
 * (release.c withholds it), so any number there is a finding. */
static int judge_median(ctx_t *c, const view_t *v)
{
    const json_t *m = jpath(v->doc, "progression",
                            "median_days_after_end_to_substantive_promotion_by_ethnic_group"),
                 *x;
    const char *g;
    int rc;
    json_object_foreach((json_t *)m, g, x) /* {"WHITE": n} or {"ethnic_group": {...}} */
    {
        if (strcmp(g, "ethnic_group") == 0 && json_is_object(x)) {
            const char *g2;
            const json_t *y;
            json_object_foreach((json_t *)x, g2, y)
            {
                if (json_is_number(y) && (rc = median_finding(c, v, g2)))
                    return rc;
            }
        } else if (json_is_number(x) && (rc = median_finding(c, v, g)))
            return rc;
    }
    return 0;
}

/* Whether cell i is in a table v publishes (its never-published cells
 * too): a table v does not have is judged through the tables tied to it
 * (the funnel's ENROLLED stage and the leavers are the retained chain's
 * cells), so a cell is reported once, in the table that shows it. */
static int shown(const view_t *v, int i)
{
    if (i >= C_AB)
        return v->has_chain[CHAIN_AFTER];
    if (i >= C_QB)
        return v->has_chain[CHAIN_RETAINED];
    if (i >= C_LTOTAL) /* tied to the chained tables' cells: judged with them */
        return v->has_left;
    if (i >= C_RB)
        return v->has_reach;
    return 1;
}

/* Reports the cells of one propagated view. */
static int judge_view(ctx_t *c, const view_t *v)
{
    char detail[256];
    int mrc = judge_median(c, v);
    if (mrc)
        return mrc;
    for (int i = 0; i < NCELL; i++) {
        const char *rule = judge(v->kind[i], i, v->lo[i], v->hi[i], c->k);
        int rc;
        if (!rule || !shown(v, i))
            continue;
        doc_detail(detail, sizeof detail, rule, v->kind[i],
                   i >= C_BME && i <= C_LGB && (v->aim_cells & (1 << (i - C_BME))), v->lo[i],
                   v->hi[i], c->k, "the published margins, zeros and totals");
        if ((rc = add_finding(c, rule, "document", v, i, v->lo[i], v->hi[i], NULL, NULL, detail)))
            return rc;
    }
    return 0;
}

static void value_text(char *buf, size_t n, const view_t *v, int i)
{
    if (v->kind[i] == K_PUB)
        snprintf(buf, n, "%ld", v->lo[i]);
    else
        snprintf(buf, n, "%s", v->kind[i] == K_HID ? "suppressed" : "unpublished");
}

/* "total 13 -> 14; hmps-wm ENROLLED 1 -> 2" for a step between versions. */
static void step_context(char *buf, size_t n, const view_t *a, const view_t *b, int root)
{
    const json_t *ba = jpath(jpath(a->doc, "funnel", "participants"), "by_agency", NULL),
                 *bb = jpath(jpath(b->doc, "funnel", "participants"), "by_agency", NULL), *x;
    const char *ag;
    size_t len = 0;
    int shown = 0;
    char t1[32], t2[32];
    range_text(t1, sizeof t1, a->lo[root], a->hi[root]);
    range_text(t2, sizeof t2, b->lo[root], b->hi[root]);
    len += (size_t)snprintf(buf, n, "%s %s -> %s",
                            root == C_TOTAL    ? "enrolled"
                            : root == C_PTOTAL ? "progressed"
                            : root == C_RB     ? "applied"
                            : root == C_QB     ? "enrolled (retention)"
                            : root == C_AB     ? "completed"
                                               : "left",
                            t1, t2);
    if (root == C_PTOTAL && a->promos >= 0 && b->promos >= 0 && len < n)
        len +=
            (size_t)snprintf(buf + len, n - len, "; promotions %ld -> %ld", a->promos, b->promos);
    if (root != C_TOTAL)
        return;
    json_object_foreach((json_t *)bb, ag, x)
    {
        for (size_t s = 0; s < sizeof MOVES / sizeof *MOVES; s++) {
            json_int_t v2 = json_integer_value(json_object_get(x, MOVES[s]));
            json_int_t v1 = json_integer_value(jpath(ba, ag, MOVES[s]));
            if (v1 == v2 || len >= n)
                continue;
            if (shown++ == 3) {
                len += (size_t)snprintf(buf + len, n - len, "; ...");
                return;
            }
            len += (size_t)snprintf(buf + len, n - len, "; %s %s %lld -> %lld", ag, MOVES[s],
                                    (long long)v1, (long long)v2);
        }
    }
}

/* Differencing between consecutive versions a and b of one topic. */
static int difference(ctx_t *c, const view_t *a, const view_t *b)
{
    static const int roots[] = {C_TOTAL, C_PTOTAL, C_RB, C_LTOTAL, C_QB, C_AB};
    static const int first[] = {C_GROUP, C_PGROUP, C_RB, C_LGROUP, C_QB, C_AB},
                     last[] = {C_NOT_LGB,    C_PGROUP + 5, C_LTOTAL - 1,
                               C_LGROUP + 5, C_AB - 1,     NCELL - 1};
    for (int t = 0; t < 6; t++) {
        int root = roots[t], mono = 1, rc;
        long lmaxv, jmax, dlo[NCELL], dhi[NCELL];
        char ctx[256], detail[512], va[32], vb[32];
        if (t == 1 && !(a->has_prog && b->has_prog))
            continue;
        if (t == 2 && !(a->has_reach && b->has_reach))
            continue;
        if (t == 3 && !(a->has_left && b->has_left))
            continue;
        if (t >= 4 && !(a->has_chain[t - 4] && b->has_chain[t - 4]))
            continue;
        /* Who can have left: exits, erasures, role changes (funnel total
         * falls); for the progressed also a change of the cohort's dates. */
        if (a->ftotal < 0 || b->ftotal < 0)
            lmaxv = INF;
        else
            lmaxv = lmax(0, a->ftotal - b->ftotal);
        if (t == 0)
            lmaxv =
                a->exits < 0 || b->exits < 0 ? INF : sat_add(lmaxv, lmax(0, b->exits - a->exits));
        else if (t >= 2) /* the funnel, the leavers: who moved is not bounded here */
            lmaxv = INF;
        else if (a->promos < 0 || b->promos < 0 || b->promos < a->promos ||
                 !json_equal(json_object_get(a->doc, "starts_on"),
                             json_object_get(b->doc, "starts_on")) ||
                 !json_equal(json_object_get(a->doc, "ends_on"),
                             json_object_get(b->doc, "ends_on")))
            lmaxv = INF;
        jmax = b->hi[root] >= INF || a->lo[root] >= INF ? INF
                                                        : sat_add(b->hi[root] - a->lo[root], lmaxv);
        if (jmax < 0)
            mono = 0;
    again:
        for (int i = first[t]; i <= last[t]; i++) {
            dlo[i] = a->hi[i] >= INF ? -INF : b->lo[i] - a->hi[i];
            dhi[i] = b->hi[i] >= INF ? INF : b->hi[i] - a->lo[i];
            if (mono) {
                dlo[i] = lmax(dlo[i], lmaxv >= INF ? -INF : -lmaxv);
                dhi[i] = lmin(dhi[i], jmax);
                if (dlo[i] > dhi[i]) {
                    mono = 0; /* not joiners and leavers only: a corrected record */
                    goto again;
                }
            }
        }
        step_context(ctx, sizeof ctx, a, b, root);
        for (int i = first[t]; i <= last[t]; i++) {
            int up = dlo[i] >= 1 && dhi[i] <= c->k - 1,
                down = dhi[i] <= -1 && dlo[i] >= -(c->k - 1);
            char r[64];
            if ((!up && !down) || is_root(i))
                continue;
            /* Only leavers, and everyone before had the characteristic (or
             * only joiners, and everyone after has it): the step says
             * nothing the one version did not (the auditor does not report
             * "everyone is W1" within a document either). */
            if (mono && ((jmax == 0 && a->lo[i] == a->hi[i] && a->lo[root] == a->hi[root] &&
                          a->lo[i] == a->lo[root]) ||
                         (lmaxv == 0 && b->lo[i] == b->hi[i] && b->lo[root] == b->hi[root] &&
                          b->lo[i] == b->lo[root])))
                continue;
            range_text(r, sizeof r, up ? dlo[i] : -dhi[i], up ? dhi[i] : -dlo[i]);
            value_text(va, sizeof va, a, i);
            value_text(vb, sizeof vb, b, i);
            snprintf(detail, sizeof detail, "%s -> %s: %s%s of the people who %s (%s) %s in it", va,
                     vb, dlo[i] == dhi[i] ? "exactly " : "", r, up ? "joined" : "left", ctx,
                     dlo[i] == dhi[i] && (dlo[i] == 1 || dlo[i] == -1) ? "is" : "are");
            if ((rc = add_finding(c, "difference", "history", b, i, dlo[i], dhi[i], a, NULL,
                                  detail)))
                return rc;
        }
    }
    return 0;
}

/* Slot of the latest view per topic. */
typedef struct {
    view_t *v;   /* the latest audited version, or NULL */
    int touched; /* changed in the current moment */
} slot_t;

/* The cells a programme roll-up sums over its cohorts (when they are
 * disjoint): the representation table, and the funnel by group (always a
 * sum of the cohorts' enrolments). q = 0 .. N_SUM - 1. */
#define N_SUM (N_REPR + RELEASE_NREACH)
#define SUM_CELL(q) ((q) < N_REPR ? (q) : C_RB + (q)-N_REPR)

/* The programme's cohorts, combined: reports what only the combination
 * shows. */
static int release(ctx_t *c, json_t *index, slot_t *slots, const view_t *p)
{
    const json_t *cohorts = json_object_get(p->doc, "cohorts"), *cid;
    const char *prog = json_string_value(json_object_get(p->doc, "programme"));
    size_t n = json_array_size(cohorts), i, nd = n + 1, nr;
    const view_t **docs = NULL;
    long *lo = NULL, *hi = NULL, sum = 0;
    row_t *rows = NULL;
    int *members = NULL, rc = 0;
    char topic[512], detail[256];

    if (!prog || n == 0 || p->lo[C_TOTAL] != p->hi[C_TOTAL] || p->lo[C_TOTAL] >= INF)
        return 0;
    if (!(docs = calloc(nd, sizeof *docs)))
        return -ENOMEM;
    docs[0] = p;
    json_array_foreach(cohorts, i, cid)
    {
        json_t *s;
        if (!json_is_string(cid))
            goto out;
        snprintf(topic, sizeof topic, "%scohort/%s/%s",
                 strncmp(p->topic, "release/", 8) == 0 ? "release/" : "", prog,
                 json_string_value(cid));
        s = json_object_get(index, topic);
        if (!s || !slots[json_integer_value(s)].v)
            goto out; /* not every cohort is known at this moment */
        docs[i + 1] = slots[json_integer_value(s)].v;
        if (docs[i + 1]->lo[C_TOTAL] != docs[i + 1]->hi[C_TOTAL])
            goto out;
        sum += docs[i + 1]->lo[C_TOTAL];
    }
    if (sum != p->lo[C_TOTAL])
        goto out; /* people in two cohorts: the union is not a sum */
    nr = nd * c->nrows + N_SUM;
    lo = malloc(nd * NCELL * sizeof *lo);
    hi = malloc(nd * NCELL * sizeof *hi);
    rows = malloc(nr * sizeof *rows);
    members = malloc((nd * c->nrows * 6 + N_SUM * n) * sizeof *members);
    if (!lo || !hi || !rows || !members) {
        rc = -ENOMEM;
        goto out;
    }
    {
        size_t r = 0, m = 0;
        for (size_t d = 0; d < nd; d++) {
            memcpy(lo + d * NCELL, docs[d]->lo, sizeof docs[d]->lo);
            memcpy(hi + d * NCELL, docs[d]->hi, sizeof docs[d]->hi);
            for (size_t w = 0; w < c->nrows; w++) {
                const row_t *x = &c->rows[w];
                rows[r] = (row_t){(int)(d * NCELL) + x->total, members + m, x->n};
                for (int j = 0; j < x->n; j++)
                    members[m++] = (int)(d * NCELL) + x->m[j];
                r++;
            }
        }
        for (int q = 0; q < N_SUM; q++) {
            int cell = SUM_CELL(q);
            rows[r] = (row_t){cell, members + m, (int)n};
            for (size_t d = 1; d < nd; d++)
                members[m++] = (int)(d * NCELL) + cell;
            r++;
        }
    }
    if (propagate(lo, hi, rows, nr) < 0)
        goto out; /* the disjointness did not hold after all: no claim */
    for (size_t d = 0; d < nd; d++)
        for (int q = 0; q < N_SUM; q++) {
            int cell = SUM_CELL(q);
            const view_t *v = docs[d];
            long l = lo[d * NCELL + cell], h = hi[d * NCELL + cell];
            const char *rule = judge(v->kind[cell], cell, l, h, c->k);
            const char *alone = judge(v->kind[cell], cell, v->lo[cell], v->hi[cell], c->k);
            json_t *topics;
            if (!rule || (alone && l == v->lo[cell] && h == v->hi[cell]))
                continue; /* nothing the document did not show by itself */
            if (!(topics = json_array())) {
                rc = -ENOMEM;
                goto out;
            }
            for (size_t e = 0; e < nd; e++)
                json_array_append_new(topics, json_string(docs[e]->topic));
            doc_detail(detail, sizeof detail, rule, v->kind[cell],
                       cell >= C_BME && cell <= C_LGB && (v->aim_cells & (1 << (cell - C_BME))), l,
                       h, c->k, "the programme roll-up and its cohorts' documents");
            if ((rc = add_finding(c, rule, "release", v, cell, l, h, NULL, topics, detail)))
                goto out;
        }
out:
    free(docs);
    free(lo);
    free(hi);
    free(rows);
    free(members);
    return rc;
}

/* The end of a moment: cross-document checks for the programmes touched. */
static int close_moment(ctx_t *c, json_t *index, slot_t *slots, size_t nslots, int all)
{
    int rc = 0;
    for (size_t s = 0; s < nslots && !rc; s++) {
        if (slots[s].v && slots[s].v->programme && (all || slots[s].touched))
            rc = release(c, index, slots, slots[s].v);
    }
    for (size_t s = 0; s < nslots; s++)
        slots[s].touched = 0;
    return rc;
}

int audit_run(const json_t *lines, int k, int history, json_t **findings, char *err, size_t errlen)
{
    ctx_t c = {.k = k, .out = json_array(), .seen = json_object(), .err = err, .errlen = errlen};
    json_t *index = json_object();
    size_t n = json_array_size(lines), nslots = 0, i;
    slot_t *slots = calloc(n ? n : 1, sizeof *slots);
    json_int_t moment = -1;
    const json_t *line;
    int rc = 0, audited = 0;

    if (err && errlen)
        err[0] = '\0';
    memcpy(c.rows, ROWS, sizeof ROWS);
    c.nrows = NBASE + audit_chain_rows(c.rows + NBASE, c.chain_mem);
    if (!c.out || !c.seen || !index || !slots) {
        rc = -ENOMEM;
        goto out;
    }
    if (k < 1 || !json_is_array(lines)) {
        rc = fail(&c, -EINVAL, "k must be at least 1");
        goto out;
    }
    json_array_foreach(lines, i, line)
    {
        const char *topic;
        const json_t *doc, *s;
        json_int_t seq;
        view_t *v;
        size_t slot;
        if (!json_is_object(line)) {
            rc = fail(&c, -EINVAL, "line %zu: not a JSON object", i + 1);
            goto out;
        }
        if (!(topic = json_string_value(json_object_get(line, "topic"))))
            continue; /* {"end":..}, {"resync":..} */
        doc = json_object_get(line, "doc");
        seq = json_integer_value(json_object_get(line, "seq"));
        if (history && seq != moment) {
            if ((rc = close_moment(&c, index, slots, nslots, 0)))
                goto out;
            moment = seq;
        }
        if ((s = json_object_get(index, topic))) {
            slot = (size_t)json_integer_value(s);
        } else {
            slot = nslots++;
            if (json_object_set_new(index, topic, json_integer((json_int_t)slot))) {
                rc = -ENOMEM;
                goto out;
            }
        }
        if (!(v = malloc(sizeof *v))) {
            rc = -ENOMEM;
            goto out;
        }
        rc = json_is_object(doc)
                 ? load_view(v, topic, seq, json_integer_value(json_object_get(line, "rev")), doc)
                 : 0;
        if (rc < 0) {
            free(v);
            rc = fail(&c, -EINVAL, "line %zu (%s seq %lld): a count is not a number", i + 1, topic,
                      (long long)seq);
            goto out;
        }
        if (rc == 0) { /* removed, or not a breakdown document */
            free(v);
            free(slots[slot].v);
            slots[slot].v = NULL;
            continue;
        }
        rc = 0;
        audited++;
        if (propagate(v->lo, v->hi, c.rows, c.nrows) < 0) {
            free(v);
            rc = fail(&c, -EINVAL,
                      "line %zu (%s seq %lld): the document contradicts its own sums "
                      "(not a cohortd document, or a wrong threshold)",
                      i + 1, topic, (long long)seq);
            goto out;
        }
        if ((rc = judge_view(&c, v)) ||
            (history && slots[slot].v && (rc = difference(&c, slots[slot].v, v)))) {
            free(v);
            goto out;
        }
        free(slots[slot].v);
        slots[slot].v = v;
        slots[slot].touched = 1;
    }
    rc = close_moment(&c, index, slots, nslots, !history);
    if (!rc && audited == 0)
        rc = fail(&c, -EINVAL, "no cohort or programme document in the input");
out:
    for (i = 0; i < nslots; i++)
        free(slots[i].v);
    free(slots);
    json_decref(index);
    json_decref(c.seen);
    if (rc < 0) {
        json_decref(c.out);
        if (rc == -ENOMEM && err && errlen && !err[0])
            snprintf(err, errlen, "out of memory");
        return rc;
    }
    *findings = c.out;
    return (int)json_array_size(c.out);
}

char *audit_describe(const json_t *f)
{
    const char *rule = json_string_value(json_object_get(f, "rule"));
    const char *scope = json_string_value(json_object_get(f, "scope"));
    const char *topic = json_string_value(json_object_get(f, "topic"));
    const char *cell = json_string_value(json_object_get(f, "cell"));
    const char *detail = json_string_value(json_object_get(f, "detail"));
    const json_t *from = json_object_get(f, "from_seq");
    char *s = NULL, seqs[64];
    if (from)
        snprintf(seqs, sizeof seqs, "seq %lld -> %lld", (long long)json_integer_value(from),
                 (long long)json_integer_value(json_object_get(f, "seq")));
    else
        snprintf(seqs, sizeof seqs, "seq %lld",
                 (long long)json_integer_value(json_object_get(f, "seq")));
    const json_t *topics = json_object_get(f, "topics"), *t;
    char with[1024] = "";
    size_t i, len = 0;
    json_array_foreach(topics, i, t)
    {
        if (len < sizeof with)
            len += (size_t)snprintf(with + len, sizeof with - len, "%s%s", i ? ", " : ": ",
                                    json_string_value(t) ? json_string_value(t) : "?");
    }
    if (asprintf(&s, "%s %s %s: %s [%s, %s%s]", topic ? topic : "?", cell ? cell : "?", seqs,
                 detail ? detail : "", rule ? rule : "?", scope ? scope : "?", with) < 0)
        return NULL;
    return s;
}
