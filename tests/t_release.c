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
    ok(!json_object_get(json_array_get(at(d, "representation", "aims", NULL), 3),
                        "actual_percent"),
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
    is_int((int)json_integer_value(
               json_object_get(json_array_get(at(d, "representation", "aims", NULL), 2),
                               "actual_percent")),
           30, "  DISABLED 6/20 = 30%: shown (2k people, count and rest >= k)");
    is_int((int)json_integer_value(
               json_object_get(json_array_get(at(d, "representation", "aims", NULL), 3),
                               "actual_percent")),
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
    meta = json_pack("{s:s,s:s,s:{s:i}}", "programme", "p", "cohort", "c", "filled",
                     "participants", 11);
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
    is_int((int)json_array_size(json_object_get(json_object_get(st, "topics"),
                                                "release/cohort/p/c")),
           2, "both versions are kept (the gate compares with each)");
    is_int(release_cut(r, "p", NULL, 0, 1, "2009-01-01", "x"), -EINVAL, "no tables: -EINVAL");
    ok(release_withheld(r) == 0, "nothing withheld");
    json_decref(st);
    json_decref(topics);
    release_destroy(&r);
    release_destroy(&q);
}

int main(void)
{
    one_joins();
    one_leaves();
    small_and_special();
    fails_closed();
    state();
    return tap_done();
}
