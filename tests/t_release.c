/* t_release.c: unit tests for the dated releases (daemon/release.c): what
 * a board member who keeps every published release can work out, checked
 * with the auditor (daemon/audit.c) over every version the module
 * published; the rules for small populations and special-category aims;
 * withholding; save and load. Tables are built by hand in the layout of
 * release.h (RT_*). k = 5. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "release.h"
#include "tap.h"

#define K 5

/* Ethnicity code index (W1 = 0 ... NS = 16) to its group 0..5. */
static int group_of(int code)
{
    return code <= 2 ? 0 : code <= 6 ? 1 : code <= 10 ? 2 : code <= 13 ? 3 : code <= 15 ? 4 : 5;
}

/* A population of people: code (0..16), female, disabled, lgb. */
typedef struct {
    int code, female, disabled, lgb;
} who_t;

static void fill(release_table_t *t, const who_t *w, size_t n)
{
    memset(t->repr, 0, sizeof t->repr);
    for (size_t i = 0; i < n; i++) {
        int g = group_of(w[i].code);
        t->repr[RT_TOTAL]++;
        t->repr[RT_GROUP + g]++;
        t->repr[RT_CODE + w[i].code]++;
        t->repr[RT_BME] += g >= 1 && g <= 4;
        t->repr[RT_GENDER + (w[i].female ? 0 : 1)]++;
        t->repr[RT_DIS + (w[i].disabled ? 0 : 1)]++;
        t->repr[w[i].lgb ? RT_LGB : RT_NOT_LGB]++;
    }
}

static const release_aim_t AIMS[] = {{1, 50}, {2, 40}, {3, 10}, {4, 5}};

/* One programme "p" with one cohort "c" holding the people w (the roll-up
 * is the same people). meta carries the funnel totals the auditor uses. */
static int cut(release_t *r, const who_t *w, size_t n, long withdrawn, uint64_t seq,
               const char *date)
{
    release_table_t t[2];
    json_t *meta[2];
    int rc;
    for (int i = 0; i < 2; i++) {
        memset(&t[i], 0, sizeof t[i]);
        fill(&t[i], w, n);
        t[i].aims = AIMS;
        t[i].n_aims = 4;
        meta[i] = json_pack("{s:s,s:{s:I},s:{s:{s:I,s:{s:I,s:I}}}}", "programme", "p", "filled",
                            "participants", (json_int_t)n, "funnel", "participants", "total",
                            (json_int_t)(n + withdrawn), "by_stage", "WITHDRAWN",
                            (json_int_t)withdrawn, "REMOVED_BY_BOARD", (json_int_t)0);
        t[i].meta = meta[i];
    }
    t[0].topic = "programme/p";
    json_object_set_new(meta[0], "cohorts", json_pack("[s]", "c"));
    t[1].topic = "cohort/p/c";
    json_object_set_new(meta[1], "cohort", json_string("c"));
    rc = release_cut(r, "p", t, 2, seq, date, "test");
    json_decref(meta[0]);
    json_decref(meta[1]);
    return rc;
}

/* Every published version of r's topics, in the order published. */
static json_t *history(const release_t *r)
{
    json_t *st = release_save(r), *all = json_array(), *v;
    const char *topic;
    json_object_foreach(json_object_get(st, "topics"), topic, v) json_array_extend(all, v);
    /* order by seq (a cut's documents share one) */
    for (size_t i = 1; i < json_array_size(all); i++)
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(all, j - 1), *b = json_array_get(all, j);
            if (json_integer_value(json_object_get(a, "seq")) <=
                json_integer_value(json_object_get(b, "seq")))
                break;
            json_incref(a);
            json_array_set(all, j - 1, b);
            json_array_set_new(all, j, a);
        }
    json_decref(st);
    return all;
}

/* The number of auditor findings over r's whole history (-1 on error). */
static int audit_all(const release_t *r)
{
    json_t *h = history(r), *f = NULL;
    char err[256];
    int n = audit_run(h, K, 1, &f, err, sizeof err);
    if (n < 0)
        diag("audit_run: %s", err);
    for (size_t i = 0; n > 0 && i < json_array_size(f); i++) {
        char *d = audit_describe(json_array_get(f, i));
        diag("%s", d ? d : "?");
        free(d);
    }
    json_decref(f);
    json_decref(h);
    return n;
}

static json_t *doc(const release_t *r, const char *topic)
{
    char *s = release_render(r, topic);
    json_t *d = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return d;
}

static json_t *at(json_t *d, const char *a, const char *b, const char *c)
{
    json_t *x = json_object_get(d, a);
    if (b)
        x = json_object_get(x, b);
    if (c)
        x = json_object_get(x, c);
    return x;
}

/* Ten people, then one more: the "one person joining" in releases. */
static void one_joins(void)
{
    release_t *r = release_new(K);
    who_t w[12];
    json_t *d;
    diag("one person joins between two releases");
    for (int i = 0; i < 10; i++)
        w[i] = (who_t){i < 5 ? 0 : 7, i < 5, 0, 0}; /* 5 W1 women, 5 A1 men */
    is_int(cut(r, w, 10, 0, 10, "2009-04-01"), 1, "release 1: ten people, released");
    d = doc(r, "release/cohort/p/c");
    ok(d && json_integer_value(at(d, "representation", "ethnic_group", "WHITE")) == 5 &&
           json_integer_value(at(d, "representation", "ethnic_group", "ASIAN")) == 5,
       "  WHITE 5 and ASIAN 5 published");
    is_int((int)json_integer_value(at(d, "release", "number", NULL)), 1, "  number 1");
    json_decref(d);
    w[10] = (who_t){11, 1, 1, 1}; /* B1, female, disabled, LGB */
    is_int(cut(r, w, 11, 0, 20, "2009-04-29"), 1, "release 2: one more, released");
    is_int(audit_all(r), 0, "the auditor finds nothing in both releases together");
    d = doc(r, "release/cohort/p/c");
    ok(json_is_null(at(d, "representation", "gender", "FEMALE")),
       "  FEMALE 5 -> 6 would show the newcomer's gender: hidden");
    ok(json_is_true(at(d, "representation", "suppressed_may_be_zero", NULL)),
       "  hidden cells may be zero (and the document says so)");
    ok(!json_object_get(json_array_get(at(d, "representation", "aims", NULL), 3), "actual_percent"),
       "  the LGB aim is withheld (a count below k, zero included, is never shown)");
    json_decref(d);
    release_destroy(&r);
    ok(r == NULL, "destroy nulls the pointer");
    release_destroy(&r);
}

/* One person leaves: the "the person who withdrew was M2". */
static void one_leaves(void)
{
    release_t *r = release_new(K);
    who_t w[13];
    diag("one person leaves between two releases");
    for (int i = 0; i < 12; i++)
        w[i] = (who_t){i < 6 ? 0 : 7, i % 2, 0, 0};
    w[12] = (who_t){4, 0, 0, 0}; /* M2 */
    is_int(cut(r, w, 13, 0, 10, "2009-04-01"), 1, "release 1: 13 people");
    is_int(cut(r, w, 12, 1, 20, "2009-04-29"), 1, "release 2: the M2 person withdrew");
    is_int(audit_all(r), 0, "the auditor finds nothing: the leaver's code is not given away");
    release_destroy(&r);
}

static void small_and_special(void)
{
    release_t *r = release_new(K);
    who_t w[4] = {{0, 1, 0, 0}, {0, 1, 0, 0}, {0, 1, 0, 0}, {0, 1, 0, 0}};
    json_t *d;
    diag("fewer than k people, special-category aims");
    is_int(cut(r, w, 4, 0, 5, "2009-04-01"), 1, "four people: released");
    d = doc(r, "release/cohort/p/c");
    ok(json_is_true(at(d, "representation", "below_threshold", NULL)) &&
           !at(d, "representation", "ethnic_group", NULL) &&
           json_integer_value(at(d, "representation", "total", NULL)) == 4,
       "  no breakdown at all, only the total (published in the funnel anyway)");
    json_decref(d);
    is_int(audit_all(r), 0, "  nothing to find");
    release_destroy(&r);

    r = release_new(K);
    who_t m[20];
    for (int i = 0; i < 20; i++)
        m[i] = (who_t){i % 2 ? 0 : 7, i < 10, i < 6, i < 5};
    is_int(cut(r, m, 20, 0, 5, "2009-04-01"), 1, "twenty people, 6 disabled, 5 LGB");
    d = doc(r, "release/cohort/p/c");
    is_int((int)json_integer_value(json_object_get(
               json_array_get(at(d, "representation", "aims", NULL), 2), "actual_percent")),
           30, "  DISABLED 6/20 = 30%: shown (2k people, count and rest >= k)");
    is_int((int)json_integer_value(json_object_get(
               json_array_get(at(d, "representation", "aims", NULL), 3), "actual_percent")),
           25, "  LGB 5/20 = 25%: shown");
    json_decref(d);
    release_destroy(&r);
}

/* A candidate the auditor cannot read (its enrolled count contradicts its
 * own table) is withheld: the gate fails closed, nothing changes. */
static void fails_closed(void)
{
    release_t *r = release_new(K);
    who_t w[10];
    release_table_t t;
    json_t *meta;
    char *before, *after;
    diag("withholding");
    for (int i = 0; i < 10; i++)
        w[i] = (who_t){i % 2 ? 0 : 7, i < 5, 0, 0};
    is_int(cut(r, w, 10, 0, 5, "2009-04-01"), 1, "release 1");
    before = release_render(r, "release/cohort/p/c");
    memset(&t, 0, sizeof t);
    fill(&t, w, 10);
    meta = json_pack("{s:s,s:s,s:{s:i}}", "programme", "p", "cohort", "c", "filled", "participants",
                     11);
    t.meta = meta;
    t.topic = "cohort/p/c";
    is_int(release_cut(r, "p", &t, 1, 9, "2009-04-29", "test"), 0,
           "a candidate the auditor refuses: withheld (0)");
    ok(release_withheld(r) == 1, "  counted");
    after = release_render(r, "release/cohort/p/c");
    ok(before && after && strcmp(before, after) == 0, "  the previous release stays current");
    free(before);
    free(after);
    json_decref(meta);
    release_destroy(&r);
}

static void state(void)
{
    release_t *r = release_new(K), *q = release_new(K);
    who_t w[10];
    json_t *st, *topics = json_array();
    char *a, *b;
    diag("topics, dirty, save and load");
    for (int i = 0; i < 10; i++)
        w[i] = (who_t){i % 2 ? 0 : 7, i < 5, 0, 0};
    ok(release_render(r, "release/cohort/p/c") == NULL, "nothing before the first release");
    is_int(cut(r, w, 10, 0, 7, "2009-04-01"), 1, "released");
    release_topics(r, NULL, 1, topics);
    is_int((int)json_array_size(topics), 2, "two dirty topics");
    release_clear_dirty(r);
    json_array_clear(topics);
    release_topics(r, NULL, 1, topics);
    is_int((int)json_array_size(topics), 0, "none after clearing");
    release_topics(r, "release/cohort/", 0, topics);
    is_int((int)json_array_size(topics), 1, "one cohort topic by prefix");
    st = release_save(r);
    is_int(release_load(q, st), 0, "loads its own state");
    a = release_render(r, "release/cohort/p/c");
    b = release_render(q, "release/cohort/p/c");
    ok(a && b && strcmp(a, b) == 0, "renders the same after load");
    free(a);
    free(b);
    json_t *bad = json_pack("{s:{s:i},s:{}}", "topics", "release/x", 1, "programmes");
    is_int(release_load(q, bad), -EINVAL, "a bad state is refused");
    json_decref(bad);
    is_int(cut(r, w, 10, 0, 9, "2009-04-29"), 1, "an unchanged population is released again");
    json_decref(st);
    st = release_save(r);
    is_int(
        (int)json_array_size(json_object_get(json_object_get(st, "topics"), "release/cohort/p/c")),
        2, "both versions are kept (the gate compares with each)");
    is_int(release_cut(r, "p", NULL, 0, 1, "2009-01-01", "x"), -EINVAL, "no tables: -EINVAL");
    ok(release_withheld(r) == 0, "nothing withheld");
    json_decref(st);
    json_decref(topics);
    release_destroy(&r);
    release_destroy(&q);
}

/* ---- the chained tables (issue 18, section 6) ---- */

/* A participant for the chained tables: ethnic group g (0..5); the last
 * retained stage (0 left by the end, 1 within 6 months after, 2 within 12,
 * 3 within 24, 4 not left); completed; promo: the first promotion after
 * the end within 6 (0), 12 (1), 24 (2) months, later (3) or none (-1);
 * during: promoted during the programme. */
typedef struct {
    int g, kept, completed, promo, during;
} cp_t;

/* One programme "q" of one cohort "c" with the people w: every table the
 * projection builds for a cohort (representation, funnel, leavers, the
 * two chains), laid out by hand. */
static int chain_cut(release_t *r, const cp_t *w, size_t n, uint64_t seq, const char *date)
{
    release_table_t t[2];
    json_t *meta[2];
    int rc;
    for (int i = 0; i < 2; i++) {
        release_table_t *x = &t[i];
        memset(x, 0, sizeof *x);
        for (size_t j = 0; j < n; j++) {
            static const int code[6] = {0, 3, 7, 11, 14, 16};
            int g = 1 + w[j].g;
            x->repr[RT_TOTAL]++;
            x->repr[RT_GROUP + w[j].g]++;
            x->repr[RT_CODE + code[w[j].g]]++;
            x->repr[RT_BME] += w[j].g >= 1 && w[j].g <= 4;
            x->repr[RT_GENDER + 1]++;
            x->repr[RT_DIS + 1]++;
            x->repr[RT_NOT_LGB]++;
            for (int s = 0; s < RELEASE_NSTAGES; s++)
                x->reach[RELEASE_REACH(s, 0)]++, x->reach[RELEASE_REACH(s, g)]++;
            if (i == 0)
                continue;
            if (w[j].kept <= 2)
                x->left[0]++, x->left[g]++;
            for (int s = 0; s <= w[j].kept; s++)
                x->chain[CHAIN_RETAINED][CHAIN_STAGE(s, 0)]++,
                    x->chain[CHAIN_RETAINED][CHAIN_STAGE(s, g)]++;
            if (!w[j].completed)
                continue;
            x->chain[CHAIN_AFTER][CHAIN_STAGE(0, 0)]++, x->chain[CHAIN_AFTER][CHAIN_STAGE(0, g)]++;
            for (int h = 0; h < 3; h++)
                if (w[j].promo >= 0 && w[j].promo <= h)
                    x->chain[CHAIN_AFTER][CHAIN_STAGE(3 - h, 0)]++,
                        x->chain[CHAIN_AFTER][CHAIN_STAGE(3 - h, g)]++;
            if (w[j].during)
                x->chain[CHAIN_AFTER][CHAIN_STAGE(4, 0)]++,
                    x->chain[CHAIN_AFTER][CHAIN_STAGE(4, g)]++;
        }
        x->has_reach = 1;
        if (i == 1) {
            x->has_left = x->has_chain[CHAIN_RETAINED] = x->has_chain[CHAIN_AFTER] = 1;
            for (int ch = 0; ch < CHAIN_N; ch++)
                for (int s = 1; s < CHAIN_NSTAGES; s++)
                    for (int g = 0; g < CHAIN_NG; g++)
                        x->chain[ch][CHAIN_DROP(s, g)] =
                            x->chain[ch][CHAIN_STAGE(CHAINS[ch].parent[s], g)] -
                            x->chain[ch][CHAIN_STAGE(s, g)];
        }
        meta[i] = json_pack("{s:s,s:{s:I},s:{s:{s:I,s:{s:I,s:I}}}}", "programme", "q", "filled",
                            "participants", (json_int_t)n, "funnel", "participants", "total",
                            (json_int_t)n, "by_stage", "WITHDRAWN", (json_int_t)0,
                            "REMOVED_BY_BOARD", (json_int_t)0);
        x->meta = meta[i];
    }
    t[0].topic = "programme/q";
    json_object_set_new(meta[0], "cohorts", json_pack("[s]", "c"));
    t[1].topic = "cohort/q/c";
    json_object_set_new(meta[1], "cohort", json_string("c"));
    rc = release_cut(r, "q", t, 2, seq, date, "test");
    json_decref(meta[0]);
    json_decref(meta[1]);
    return rc;
}

/* The cell of a chained block: block "retained" or "after", stage, group
 * (NULL: the total). */
static json_t *ccell(json_t *d, const char *block, const char *stage, const char *group)
{
    json_t *b = strcmp(block, "retained") == 0 ? at(d, "retention", "retained", NULL)
                                               : at(d, "progression", "after_completion", NULL);
    json_t *so = json_object_get(json_object_get(b, "by_ethnic_group"), stage);
    return group ? json_object_get(json_object_get(so, "ethnic_group"), group)
                 : json_object_get(so, "total");
}

static void chains(void)
{
    release_t *r = release_new(K);
    cp_t w[28];
    json_t *d, *fr;
    diag("the chained tables: retention.retained, progression.after_completion");
    /* 12 White (all stay, 10 completed: 6 promoted within 6 months, 2 within
     * 24, 5 during), 8 Asian (2 leave before the end, 6 complete, 6 promoted
     * within 12 months), 4 Black and 4 Mixed (all stay; none complete) */
    for (int i = 0; i < 12; i++)
        w[i] = (cp_t){0, 4, i < 10, i < 6 ? 0 : i < 8 ? 2 : -1, i < 5};
    for (int i = 0; i < 8; i++)
        w[12 + i] = (cp_t){2, i < 2 ? 0 : 4, i >= 2, i >= 2 ? 1 : -1, 0};
    for (int i = 0; i < 8; i++)
        w[20 + i] = (cp_t){i < 4 ? 3 : 1, 4, 0, -1, 0};
    is_int(chain_cut(r, w, 28, 10, "2009-04-01"), 1, "released");
    d = doc(r, "release/cohort/q/c");
    fr = at(d, "funnel_reached", "by_ethnic_group", "ENROLLED");
    ok(json_integer_value(ccell(d, "retained", "ENROLLED", NULL)) == 28 &&
           json_integer_value(ccell(d, "retained", "RETAINED_AT_END", NULL)) == 26,
       "  retained: the stage totals are published (28 enrolled, 26 at the end)");
    {
        int same = 1;
        const char *gs[] = {"WHITE", "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER", "NOT_STATED"};
        for (int g = 0; g < 6; g++)
            same &= json_equal(ccell(d, "retained", "ENROLLED", gs[g]),
                               json_object_get(json_object_get(fr, "ethnic_group"), gs[g]));
        ok(same, "  its ENROLLED stage is the funnel's ENROLLED, published exactly alike");
    }
    ok(json_is_null(ccell(d, "retained", "ENROLLED", "BLACK")) &&
           json_is_null(ccell(d, "retained", "RETAINED_AT_END", "BLACK")),
       "  a group of 4 (< k) is hidden at every stage");
    ok(json_integer_value(ccell(d, "retained", "ENROLLED", "ASIAN")) == 8 &&
           json_is_null(ccell(d, "retained", "RETAINED_AT_END", "ASIAN")),
       "  Asian 8 -> 6 would show the 2 who left (a drop-out below k): 6 is hidden");
    ok(json_is_null(ccell(d, "retained", "RETAINED_AT_END", "BLACK")) &&
           json_is_null(ccell(d, "retained", "RETAINED_AT_END", "MIXED")),
       "  and not alone in the stage's row (Black and Mixed, 4 each, are hidden too): 26 - 12 "
       "does not give Asian");
    ok(json_array_size(at(at(d, "retention", "retained", NULL), "suppressed", NULL, NULL)) > 0 &&
           json_is_true(
               at(at(d, "retention", "retained", NULL), "suppressed_may_be_zero", NULL, NULL)),
       "  the hidden cells are listed (and may be zero)");
    {
        json_t *so = json_object_get(
            json_object_get(at(d, "retention", "retained", NULL), "by_ethnic_group"),
            "RETAINED_AT_END");
        ok(json_real_value(json_object_get(so, "rate")) == 0.9286,
           "  the total's rate: 26 / 28 = 0.9286");
        ok(json_is_null(json_object_get(json_object_get(so, "rate_by_ethnic_group"), "ASIAN")),
           "  a rate over a hidden cell is null (rates come from published cells only)");
    }
    ok(json_integer_value(ccell(d, "after", "COMPLETED", NULL)) == 16 &&
           json_integer_value(ccell(d, "after", "PROMOTED_WITHIN_24_MONTHS", NULL)) == 14,
       "  after completion: 16 completed, 14 promoted within 24 months");
    ok(json_is_null(ccell(d, "after", "PROMOTED_WITHIN_24_MONTHS", "WHITE")) ||
           json_is_null(ccell(d, "after", "PROMOTED_WITHIN_12_MONTHS", "WHITE")),
       "  White 8 within 24 months, 6 within 12: the 2 between are not shown");
    is_int(audit_all(r), 0, "  the auditor finds nothing");
    json_decref(d);

    /* the next release: one Asian leaves within 6 months of the end */
    w[15].kept = 1;
    is_int(chain_cut(r, w, 28, 20, "2009-04-29"), 1, "release 2: one Asian leaver more");
    is_int(audit_all(r), 0, "  both releases together give the auditor nothing");
    release_destroy(&r);

    /* everyone White, one leaves: the drop-out is 1 whatever is hidden (the
     * funnel publishes ENROLLED White = 10 and the totals show 1 left), so
     * the gate withholds the table, never the release */
    r = release_new(K);
    for (int i = 0; i < 10; i++)
        w[i] = (cp_t){0, i ? 4 : 0, 0, -1, 0};
    is_int(chain_cut(r, w, 10, 10, "2009-04-01"), 1, "ten White, one leaves: released");
    d = doc(r, "release/cohort/q/c");
    ok(json_is_true(at(at(d, "retention", "retained", NULL), "withheld", NULL, NULL)),
       "  retention.retained is withheld (the gate could not make it safe)");
    ok(json_integer_value(at(d, "representation", "ethnic_group", "WHITE")) == 10 &&
           at(d, "funnel_reached", "by_ethnic_group", NULL) &&
           json_is_true(at(d, "retention", "left_by_ethnic_group", "below_threshold")),
       "  the rest of the release is published as before");
    ok(ccell(d, "after", "COMPLETED", NULL) != NULL, "  and so is the other chained table");
    is_int(audit_all(r), 0, "  the auditor finds nothing");
    json_decref(d);
    release_destroy(&r);

    /* fewer than k completed: no breakdown of the promotions */
    r = release_new(K);
    for (int i = 0; i < 10; i++)
        w[i] = (cp_t){i % 2 ? 0 : 2, 4, i < 3, i < 3 ? 0 : -1, 0};
    is_int(chain_cut(r, w, 10, 10, "2009-04-01"), 1, "three completed: released");
    d = doc(r, "release/cohort/q/c");
    ok(json_is_true(
           at(at(d, "progression", "after_completion", NULL), "below_threshold", NULL, NULL)) &&
           !at(at(d, "progression", "after_completion", NULL), "by_ethnic_group", NULL, NULL),
       "  progression.after_completion: below_threshold, no breakdown");
    json_decref(d);
    is_int(audit_all(r), 0, "  the auditor finds nothing");
    release_destroy(&r);
}

int main(void)
{
    one_joins();
    one_leaves();
    small_and_special();
    fails_closed();
    state();
    chains();
    return tap_done();
}
