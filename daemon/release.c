/* release.c: dated releases of the breakdowns, suppressed, audited against
 * every earlier release and escalated until the auditor finds nothing, or
 * withheld (see release.h for the contract, docs/status.md "Releases").
 *
 * State is kept as jansson values so that saving, loading and auditing
 * read the same objects: every published version of a release topic is
 * kept as the line a recording subscriber would have ({"topic", "seq",
 * "rev", "doc"}), rev being the programme's release number. Versions are
 * few (one per cut that was not withheld), so all are kept: the gate
 * compares a candidate with each of them. */
#include "release.h"
#include "audit.h"
#include "release_int.h"
#include "proj.h" /* PROJ_DUMP_FLAGS */
#include "suppress.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS PROJ_DUMP_FLAGS

struct release_t {
    int k;             /* suppression threshold */
    json_t *topics;    /* release topic -> array of its published versions (audit lines) */
    json_t *progs;     /* programme -> {"number": last release, "withheld": cuts withheld} */
    json_t *dirty;     /* release topic -> true: released since release_clear_dirty */
    uint64_t withheld; /* cuts withheld since release_new or release_load */
};

const char *const RELX_GROUPS[6] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                    "NOT_STATED"};
static const char *const CODES[] = {"W1", "W2", "W9", "M1", "M2", "M3", "M9", "A1", "A2",
                                    "A3", "A9", "B1", "B2", "B9", "O1", "O9", "NS"};
static const char *const GENDERS[] = {"FEMALE", "MALE", "GENDER_OTHER", "GENDER_NOT_STATED"};
static const char *const DISAB[] = {"DISABLED", "NOT_DISABLED", "DISABILITY_NOT_STATED"};
static const char *const AIMS[] = {"AIM_GROUP_UNSPECIFIED", "AIM_BME", "AIM_FEMALE", "AIM_DISABLED",
                                   "AIM_LGB"};
/* The cell an aim group counts (0: none). */
static const int AIM_CELL[N_AIM] = {0, RT_BME, RT_GENDER, RT_DIS, RT_LGB};

static const int r_groups[] = {1, 2, 3, 4, 5, 6};
static const int r_white[] = {7, 8, 9};
static const int r_mixed[] = {10, 11, 12, 13};
static const int r_asian[] = {14, 15, 16, 17};
static const int r_black[] = {18, 19, 20};
static const int r_other[] = {21, 22};
static const int r_ns[] = {23};
static const int r_split[] = {RT_BME, 1, 6};
static const int r_bme[] = {2, 3, 4, 5};
static const int r_gender[] = {25, 26, 27, 28};
static const int r_dis[] = {29, 30, 31};
static const int r_lgb[] = {RT_LGB, RT_NOT_LGB};
static const suppress_row_t ROWS[] = {
    {RT_TOTAL, r_groups, 6}, {1, r_white, 3},         {2, r_mixed, 4},      {3, r_asian, 4},
    {4, r_black, 3},         {5, r_other, 2},         {6, r_ns, 1},         {RT_TOTAL, r_split, 3},
    {RT_BME, r_bme, 4},      {RT_TOTAL, r_gender, 4}, {RT_TOTAL, r_dis, 3}, {RT_TOTAL, r_lgb, 2},
};
#define NROWS (sizeof ROWS / sizeof ROWS[0])
static const int r_moved[] = {1, 2, 3, 4, 5, 6};
static const suppress_row_t MROW = {0, r_moved, 6};
static const char *const STAGES[RELEASE_NSTAGES] = {
    "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};
#define NRROWS (RELEASE_NSTAGES + (RELEASE_NSTAGES - 1) * 7) /* rows of the funnel table */
#define WIDEN_MAX 128 /* cells of the largest table widen searches (RT_N, RELEASE_NREACH) */

/* The funnel table's rows (release.h): each stage's total = its 6 groups;
 * each stage's drop-outs the same; and per group, reach(s) = reach(s + 1) +
 * drop(s). reach(s, 0) and drop(s, 0) are only totals: roots (the
 * everyone-counts are published in the live funnel_reached anyway). mem
 * holds the members. Returns the number of rows. */
static size_t reach_rows(suppress_row_t *rows, int (*mem)[6])
{
    size_t r = 0;
    for (int s = 0; s < RELEASE_NSTAGES; s++) {
        for (int g = 0; g < 6; g++)
            mem[r][g] = RELEASE_REACH(s, 1 + g);
        rows[r] = (suppress_row_t){RELEASE_REACH(s, 0), mem[r], 6};
        r++;
    }
    for (int s = 0; s + 1 < RELEASE_NSTAGES; s++) {
        for (int g = 0; g < 6; g++)
            mem[r][g] = RELEASE_DROP(s, 1 + g);
        rows[r] = (suppress_row_t){RELEASE_DROP(s, 0), mem[r], 6};
        r++;
        for (int g = 1; g < 7; g++) {
            mem[r][0] = RELEASE_REACH(s + 1, g);
            mem[r][1] = RELEASE_DROP(s, g);
            rows[r] = (suppress_row_t){RELEASE_REACH(s, g), mem[r], 2};
            r++;
        }
    }
    return r;
}

/* Whether cell i of the funnel table is a root (an everyone-count). */
static int reach_root(int i)
{
    return i % RELEASE_NMOVED == 0;
}

/* The name of funnel cell i as the auditor reports it (after
 * "funnel_reached."). */
static void reach_name(int i, char *buf, size_t n)
{
    int drop = i >= RELEASE_DROP(0, 0), j = drop ? i - RELEASE_DROP(0, 0) : i;
    int s = j / RELEASE_NMOVED, g = j % RELEASE_NMOVED;
    if (g == 0)
        snprintf(buf, n, "%s.%s.total", drop ? "dropped_after" : "by_ethnic_group", STAGES[s]);
    else
        snprintf(buf, n, "%s.%s.ethnic_group.%s", drop ? "dropped_after" : "by_ethnic_group",
                 STAGES[s], RELX_GROUPS[g - 1]);
}

/* The published name of representation cell i within "representation"
 * ("" for the LGB cells, which are never published). */
static void cell_name(int i, char *buf, size_t n)
{
    if (i == RT_TOTAL)
        snprintf(buf, n, "total");
    else if (i < RT_CODE)
        snprintf(buf, n, "ethnic_group.%s", RELX_GROUPS[i - RT_GROUP]);
    else if (i < RT_BME)
        snprintf(buf, n, "ethnicity.%s", CODES[i - RT_CODE]);
    else if (i == RT_BME)
        snprintf(buf, n, "bme");
    else if (i < RT_DIS)
        snprintf(buf, n, "gender.%s", GENDERS[i - RT_GENDER]);
    else if (i < RT_LGB)
        snprintf(buf, n, "disability.%s", DISAB[i - RT_DIS]);
    else
        buf[0] = '\0';
}

static int jstr_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(*(json_t *const *)a), json_string_value(*(json_t *const *)b));
}

/* Sorts a JSON array of strings in place. 0 or -1 on OOM. */
int relx_sort_strings(json_t *list)
{
    size_t n = json_array_size(list);
    json_t **v;
    int err = 0;
    if (n < 2)
        return 0;
    if (!(v = malloc(n * sizeof *v)))
        return -1;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(list, i));
    qsort(v, n, sizeof *v, jstr_cmp);
    json_array_clear(list);
    for (size_t i = 0; i < n; i++)
        err |= json_array_append_new(list, v[i]);
    free(v);
    return err ? -1 : 0;
}

json_t *relx_cell_json(const long *v, const unsigned char *sup, int i)
{
    return sup[i] ? json_null() : json_integer(v[i]);
}

/* The "representation" block of t as escalated by e (e->sup updated). */
static json_t *repr_doc(const release_t *self, const release_table_t *t, esc_t *e)
{
    json_t *o = json_object(), *grp_o = json_object(), *eth_o = json_object(),
           *gen_o = json_object(), *dis_o = json_object(), *list = json_array(),
           *aims = json_array();
    const long *v = t->repr;
    unsigned char *sup = e->sup;
    char name[64];
    int err = !o || !grp_o || !eth_o || !gen_o || !dis_o || !list || !aims;
    int below = v[RT_TOTAL] > 0 && v[RT_TOTAL] < self->k;
    if (!err && suppress_table_force(self->k, v, RT_N, ROWS, NROWS, e->force, e->zeros, sup) < 0)
        err = 1;
    if (below) /* fewer than k people: no breakdown at all (every cell < k) */
        memset(sup, 1, RT_N);
    for (int i = 0; !err && !below && i < RT_N; i++) {
        json_t *target = i < RT_CODE ? grp_o : i < RT_BME ? eth_o : i < RT_DIS ? gen_o : dis_o;
        cell_name(i, name, sizeof name);
        if (!name[0])
            continue;
        if (sup[i])
            err |= json_array_append_new(list, json_string(name));
        if (i == RT_TOTAL || i == RT_BME)
            continue;
        err |= json_object_set_new(target, strchr(name, '.') + 1, relx_cell_json(v, sup, i));
    }
    for (size_t i = 0; !err && i < t->n_aims; i++) {
        const release_aim_t *a = &t->aims[i];
        int g = a->group >= 1 && a->group < N_AIM ? a->group : 0;
        int c = AIM_CELL[g], special = g == 3 || g == 4;
        json_t *ao = json_object();
        err |= json_object_set_new(ao, "group", json_string(AIMS[g]));
        err |= json_object_set_new(ao, "min_percent", json_integer(a->pct));
        /* special-category strands (disability, LGB) only for a population
         * of 2k or more, and only when the count and the rest are both k or
         * more: "withheld" then says no more than "fewer than k", zero
         * included (a null, or withholding only hidden counts, would say
         * "at least 1") */
        if (!g || sup[c] || sup[RT_TOTAL] || v[RT_TOTAL] == 0 || e->no_aim[g] ||
            (special &&
             (v[RT_TOTAL] < 2L * self->k || v[c] < self->k || v[RT_TOTAL] - v[c] < self->k))) {
            /* withheld: no actual_percent at all (a null would tell the
             * auditor, and a reader, that the count is a hidden 1..k-1) */
            err |= json_object_set_new(ao, "withheld", json_true());
        } else {
            long long tot = v[RT_TOTAL], k = v[c];
            err |= json_object_set_new(ao, "actual_percent",
                                       json_integer((200 * k + tot) / (2 * tot)));
            err |= json_object_set_new(ao, "met", json_boolean(100 * k >= (long long)a->pct * tot));
        }
        err |= json_array_append_new(aims, ao);
    }
    if (!err)
        err |= relx_sort_strings(list);
    if (below) { /* the total is the enrolled count, published in the funnel anyway */
        json_decref(grp_o);
        json_decref(eth_o);
        json_decref(gen_o);
        json_decref(dis_o);
        json_decref(list);
        err |= json_object_set_new(o, "total", json_integer(v[RT_TOTAL]));
        err |= json_object_set_new(o, "below_threshold", json_true());
        err |= json_object_set_new(o, "aims", aims);
        err |= json_object_set_new(o, "threshold", json_integer(self->k));
        if (err) {
            json_decref(o);
            return NULL;
        }
        return o;
    }
    err |= json_object_set_new(o, "total", err ? json_null() : relx_cell_json(v, sup, RT_TOTAL));
    err |= json_object_set_new(o, "bme", err ? json_null() : relx_cell_json(v, sup, RT_BME));
    err |= json_object_set_new(o, "ethnic_group", grp_o);
    err |= json_object_set_new(o, "ethnicity", eth_o);
    err |= json_object_set_new(o, "gender", gen_o);
    err |= json_object_set_new(o, "disability", dis_o);
    err |= json_object_set_new(o, "suppressed", list);
    if (e->zeros == SUPPRESS_ZEROS_HIDDEN)
        err |= json_object_set_new(o, "suppressed_may_be_zero", json_true());
    err |= json_object_set_new(o, "aims", aims);
    err |= json_object_set_new(o, "threshold", json_integer(self->k));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The "progressed" block of t as escalated by e (e->msup updated). */
static json_t *moved_doc(const release_t *self, const release_table_t *t, esc_t *e)
{
    json_t *by = json_object(), *groups = json_object(), *list = json_array();
    int err = !by || !groups || !list ||
              suppress_table_force(self->k, t->moved, RELEASE_NMOVED, &MROW, 1, e->mforce, e->zeros,
                                   e->msup) < 0;
    if (!err && t->moved[0] > 0 && t->moved[0] < self->k) { /* fewer than k: no breakdown */
        memset(e->msup, 1, sizeof e->msup);
        json_decref(groups);
        json_decref(list);
        if (json_object_set_new(by, "below_threshold", json_true()) ||
            json_object_set_new(by, "threshold", json_integer(self->k))) {
            json_decref(by);
            return NULL;
        }
        return by;
    }
    if (!err && e->msup[0])
        err |= json_array_append_new(list, json_string("total"));
    for (int g = 0; !err && g < 6; g++) {
        char name[64];
        snprintf(name, sizeof name, "ethnic_group.%s", RELX_GROUPS[g]);
        if (e->msup[1 + g])
            err |= json_array_append_new(list, json_string(name));
        err |=
            json_object_set_new(groups, RELX_GROUPS[g], relx_cell_json(t->moved, e->msup, 1 + g));
    }
    if (!err)
        err |= relx_sort_strings(list);
    err |=
        json_object_set_new(by, "total", err ? json_null() : relx_cell_json(t->moved, e->msup, 0));
    err |= json_object_set_new(by, "ethnic_group", groups);
    err |= json_object_set_new(by, "suppressed", list);
    if (e->zeros == SUPPRESS_ZEROS_HIDDEN)
        err |= json_object_set_new(by, "suppressed_may_be_zero", json_true());
    if (err) {
        json_decref(by);
        return NULL;
    }
    return by;
}

/* The "funnel_reached" block of t as escalated by e (e->rsup updated):
 * per stage, its total and 6 groups; the drop-outs are not printed (a
 * reader derives them; they are suppressed and audited as cells). */
static json_t *reach_doc(const release_t *self, const release_table_t *t, esc_t *e)
{
    json_t *o = json_object(), *by = json_object(), *list = json_array();
    suppress_row_t rows[NRROWS];
    int mem[NRROWS][6];
    size_t nr = reach_rows(rows, mem);
    const long *v = t->reach;
    int err = !o || !by || !list;
    if (!err && e->no_reach) { /* withheld: nothing at all */
        json_decref(by);
        json_decref(list);
        memset(e->rsup, 1, sizeof e->rsup);
        if (json_object_set_new(o, "withheld", json_true()))
            return json_decref(o), NULL;
        return o;
    }
    if (!err && suppress_table_force(self->k, v, RELEASE_NREACH, rows, nr, e->rforce, e->zeros,
                                     e->rsup) < 0)
        err = 1;
    if (!err && v[RELEASE_REACH(0, 0)] > 0 && v[RELEASE_REACH(0, 0)] < self->k) {
        memset(e->rsup, 1, sizeof e->rsup); /* fewer than k applied: no breakdown */
        json_decref(by);
        json_decref(list);
        if (json_object_set_new(o, "below_threshold", json_true()) ||
            json_object_set_new(o, "threshold", json_integer(self->k)))
            return json_decref(o), NULL;
        return o;
    }
    for (int st = 0; !err && st < RELEASE_NSTAGES; st++) {
        json_t *so = json_object(), *go = json_object();
        for (int g = 0; g < 6; g++)
            err |= json_object_set_new(go, RELX_GROUPS[g],
                                       relx_cell_json(v, e->rsup, RELEASE_REACH(st, 1 + g)));
        err |= json_object_set_new(so, "total", relx_cell_json(v, e->rsup, RELEASE_REACH(st, 0)));
        err |= json_object_set_new(so, "ethnic_group", go);
        err |= json_object_set_new(by, STAGES[st], so);
    }
    for (int i = 0; !err && i < RELEASE_DROP(0, 0); i++) {
        char name[96];
        if (!e->rsup[i])
            continue;
        reach_name(i, name, sizeof name);
        err |= json_array_append_new(list, json_string(strchr(name, '.') + 1));
    }
    if (!err)
        err |= relx_sort_strings(list);
    err |= json_object_set_new(o, "by_ethnic_group", by);
    err |= json_object_set_new(o, "suppressed", list);
    if (e->zeros == SUPPRESS_ZEROS_HIDDEN)
        err |= json_object_set_new(o, "suppressed_may_be_zero", json_true());
    err |= json_object_set_new(o, "threshold", json_integer(self->k));
    if (err)
        return json_decref(o), NULL;
    return o;
}

/* The "retention.left_by_ethnic_group" block of t as escalated by e
 * (e->lsup updated): the same shape as "progressed". */
static json_t *left_doc(const release_t *self, const release_table_t *t, esc_t *e)
{
    json_t *by = json_object(), *groups = json_object(), *list = json_array();
    int err = !by || !groups || !list;
    if (!err && (e->no_left || (t->left[0] > 0 && t->left[0] < self->k))) {
        memset(e->lsup, 1, sizeof e->lsup); /* withheld, or fewer than k: no breakdown */
        json_decref(groups);
        json_decref(list);
        if (json_object_set_new(by, e->no_left ? "withheld" : "below_threshold", json_true()) ||
            json_object_set_new(by, "threshold", json_integer(self->k)))
            return json_decref(by), NULL;
        return by;
    }
    if (!err && suppress_table_force(self->k, t->left, RELEASE_NMOVED, &MROW, 1, e->lforce,
                                     e->zeros, e->lsup) < 0)
        err = 1;
    for (int g = 0; !err && g < 6; g++) {
        char name[64];
        snprintf(name, sizeof name, "ethnic_group.%s", RELX_GROUPS[g]);
        if (e->lsup[1 + g])
            err |= json_array_append_new(list, json_string(name));
        err |= json_object_set_new(groups, RELX_GROUPS[g], relx_cell_json(t->left, e->lsup, 1 + g));
    }
    if (!err)
        err |= relx_sort_strings(list);
    err |=
        json_object_set_new(by, "total", err ? json_null() : relx_cell_json(t->left, e->lsup, 0));
    err |= json_object_set_new(by, "ethnic_group", groups);
    err |= json_object_set_new(by, "suppressed", list);
    if (e->zeros == SUPPRESS_ZEROS_HIDDEN)
        err |= json_object_set_new(by, "suppressed_may_be_zero", json_true());
    if (err)
        return json_decref(by), NULL;
    return by;
}

/* One candidate line {"topic","seq","rev","doc"} for table t. */
static json_t *candidate(const release_t *self, const release_table_t *t, esc_t *e,
                         json_int_t number, uint64_t seq, const char *date, const char *reason)
{
    json_t *doc = json_is_object(t->meta) ? json_deep_copy(t->meta) : json_object();
    json_t *rel = json_object(), *line;
    char topic[600];
    int err = !doc || !rel;
    err |= json_object_set_new(rel, "number", json_integer(number));
    err |= json_object_set_new(rel, "released_on", json_string(date));
    err |= json_object_set_new(rel, "reason", json_string(reason));
    err |= json_object_set_new(rel, "data_seq", json_integer((json_int_t)seq));
    err |= json_object_set_new(doc, "release", rel);
    err |= json_object_set_new(doc, "representation", repr_doc(self, t, e));
    if (t->has_moved) {
        json_t *p = json_object();
        err |= json_object_set_new(p, "progressed", moved_doc(self, t, e));
        /* A median of a group is a person's value, and between versions a
         * newcomer's bounds; the auditor models counts only, so the median
         * by group is always withheld (docs/status.md). */
        err |= json_object_set_new(
            p, "median_days_after_end_to_substantive_promotion_by_ethnic_group",
            json_pack("{s:b,s:s}", "withheld", 1, "reason", "median_not_auditable"));
        err |= json_object_set_new(doc, "progression", p);
    }
    if (t->has_reach)
        err |= json_object_set_new(doc, "funnel_reached", reach_doc(self, t, e));
    if (t->has_left)
        err |= json_object_set_new(
            doc, "retention", json_pack("{s:o*}", "left_by_ethnic_group", left_doc(self, t, e)));
    /* the chained tables (second phase only: the first decides every other
     * cell as before they existed) */
    if (!err && e->chains && t->has_chain[CHAIN_RETAINED]) {
        json_t *r = json_object_get(doc, "retention");
        if (!r && json_object_set_new(doc, "retention", r = json_object()))
            err = 1;
        else
            err |=
                json_object_set_new(r, "retained", relx_chain_doc(self->k, t, e, CHAIN_RETAINED));
    }
    if (!err && e->chains && t->has_chain[CHAIN_AFTER]) {
        json_t *p = json_object_get(doc, "progression");
        if (!p && json_object_set_new(doc, "progression", p = json_object()))
            err = 1;
        else
            err |= json_object_set_new(p, "after_completion",
                                       relx_chain_doc(self->k, t, e, CHAIN_AFTER));
    }
    snprintf(topic, sizeof topic, "release/%s", t->topic);
    line = err ? NULL
               : json_pack("{s:s,s:I,s:I,s:o}", "topic", topic, "seq", (json_int_t)seq, "rev",
                           number, "doc", doc);
    if (!line)
        json_decref(doc);
    return line;
}

/* Whether topic (a release topic) belongs to programme p. */
static int of_programme(const char *topic, const char *p)
{
    size_t n = strlen(p);
    if (strncmp(topic, "release/programme/", 18) == 0)
        return strcmp(topic + 18, p) == 0;
    return strncmp(topic, "release/cohort/", 15) == 0 && strncmp(topic + 15, p, n) == 0 &&
           topic[15 + n] == '/';
}

/* Keeps the findings of f about the candidate (seq) in out. */
static int keep(json_t *out, json_t *f, uint64_t seq)
{
    size_t i;
    json_t *x;
    json_array_foreach(f, i, x)
    {
        if (json_integer_value(json_object_get(x, "seq")) == (json_int_t)seq &&
            json_array_append(out, x))
            return -ENOMEM;
    }
    return 0;
}

/* A copy of the published line v without the chained tables (NULL on
 * OOM): the first phase of a cut audits the history as it was before
 * they existed. */
static json_t *without_chains(const json_t *v)
{
    json_t *line = json_copy((json_t *)v), *doc = json_deep_copy(json_object_get(v, "doc"));
    if (!line || !doc || json_object_set_new(line, "doc", doc)) {
        json_decref(line);
        return NULL;
    }
    json_object_del(json_object_get(doc, "retention"), "retained");
    json_object_del(json_object_get(doc, "progression"), "after_completion");
    return line;
}

/* Audits cand against nothing and against each earlier release of
 * programme p (strip: without their chained tables). Returns the findings
 * about cand (new array) or NULL on OOM; an audit that refuses its input
 * counts as a finding (fail closed). */
static json_t *gate(const release_t *self, const char *p, const json_t *cand, uint64_t seq,
                    int strip)
{
    json_t *out = json_array(), *bys = json_object(), *lines, *versions, *v, *group;
    const char *topic, *key;
    char err[256], seqkey[32];
    size_t i;
    int rc = !out || !bys ? -ENOMEM : 0;
    /* earlier releases of p, by seq (one cut = one seq) */
    json_object_foreach(self->topics, topic, versions)
    {
        if (rc || !of_programme(topic, p))
            continue;
        json_array_foreach(versions, i, v)
        {
            snprintf(seqkey, sizeof seqkey, "%lld",
                     (long long)json_integer_value(json_object_get(v, "seq")));
            if (!(group = json_object_get(bys, seqkey))) {
                if (json_object_set_new(bys, seqkey, group = json_array())) {
                    rc = -ENOMEM;
                    break;
                }
            }
            if (strip ? json_array_append_new(group, without_chains(v))
                      : json_array_append(group, v))
                rc = -ENOMEM;
        }
    }
    if (!rc && json_object_size(bys) == 0)
        rc = json_object_set_new(bys, "0", json_array()) ? -ENOMEM : 0;
    json_object_foreach(bys, key, group)
    {
        json_t *f = NULL;
        int n;
        if (rc)
            break;
        if (!(lines = json_copy(group)) || json_array_extend(lines, (json_t *)cand)) {
            rc = -ENOMEM;
            json_decref(lines);
            break;
        }
        n = audit_run(lines, self->k, 1, &f, err, sizeof err);
        json_decref(lines);
        if (n == -ENOMEM) {
            rc = n;
        } else if (n < 0) {
            rc = json_array_append_new(
                     out, json_pack("{s:s,s:I}", "rule", "audit-refused", "seq", (json_int_t)seq))
                     ? -ENOMEM
                     : 0;
        } else {
            rc = keep(out, f, seq);
            json_decref(f);
        }
    }
    json_decref(bys);
    if (rc) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Index of representation cell named s (the part after "representation."),
 * or -1. */
static int repr_cell(const char *s)
{
    char name[64];
    for (int i = 0; i < RT_LGB; i++) {
        cell_name(i, name, sizeof name);
        if (strcmp(name, s) == 0)
            return i;
    }
    return strcmp(s, "lgb") == 0 ? RT_LGB : strcmp(s, "not_lgb") == 0 ? RT_NOT_LGB : -1;
}

/* Hides one more cell so that cell c (hidden or not) of a table with
 * values v, hidden set sup, rows (nr) gets room: c itself if published;
 * else the smallest published non-zero cell (not the root) in a row with
 * c, or a row's published non-zero total; else the same, searched outward
 * through the hidden cells of those rows, nearest first (a hidden zero
 * whose row holds nothing else to hide gets room from its group's row).
 * Returns 1 if something was hidden, 0 if nothing could be. */
static int widen(const long *v, const unsigned char *sup, unsigned char *force,
                 const suppress_row_t *rows, size_t nr, int c, int root)
{
    return relx_widen_roots(v, sup, force, rows, nr, c, NULL, root);
}

/* widen, for a table with several roots: isroot[i] (NULL: only cell
 * root) says which cells are never hidden. Tables of at most WIDEN_MAX
 * cells. */
int relx_widen_roots(const long *v, const unsigned char *sup, unsigned char *force,
                     const suppress_row_t *rows, size_t nr, int c, const unsigned char *isroot,
                     int root)
{
    int queue[WIDEN_MAX], head = 0, tail = 0;
    unsigned char seen[WIDEN_MAX] = {0};
#define ROOT(i) (isroot ? isroot[i] != 0 : (i) == root)
    if (!ROOT(c) && !sup[c] && !force[c]) { /* a zero too: hidden cells may be zero */
        force[c] = 1;
        return 1;
    }
    queue[tail++] = c;
    seen[c] = 1;
    while (head < tail) {
        int level_end = tail, best = -1;
        for (; head < level_end; head++) {
            int x = queue[head];
            for (size_t r = 0; r < nr; r++) {
                int t = rows[r].total, in = t == x;
                for (size_t j = 0; j < rows[r].n; j++)
                    in |= rows[r].cells[j] == x;
                if (!in)
                    continue;
                for (size_t j = 0; j < rows[r].n; j++) {
                    int m = rows[r].cells[j];
                    if (!ROOT(m) && !sup[m] && !force[m] && v[m] > 0 &&
                        (best < 0 || v[m] < v[best]))
                        best = m;
                    else if (sup[m] && !seen[m] && tail < WIDEN_MAX)
                        queue[tail++] = m, seen[m] = 1;
                }
                if (!ROOT(t) && !sup[t] && !force[t] && v[t] > 0 && best < 0)
                    best = t;
                else if (!ROOT(t) && sup[t] && !seen[t] && tail < WIDEN_MAX)
                    queue[tail++] = t, seen[t] = 1;
            }
        }
        if (best >= 0) {
            force[best] = 1;
            return 1;
        }
    }
    return 0;
}
#undef ROOT

/* Escalates for each finding (chains: the second phase of a cut). Returns
 * how many changes were made. */
static int escalate(const release_table_t *tables, size_t n, esc_t *esc, const json_t *found,
                    int round, int chains)
{
    size_t i;
    const json_t *f;
    int changes = 0;
    json_array_foreach(found, i, f)
    {
        const char *topic = json_string_value(json_object_get(f, "topic"));
        const char *cell = json_string_value(json_object_get(f, "cell"));
        size_t t;
        if (!topic || !cell || strncmp(topic, "release/", 8) != 0)
            continue;
        for (t = 0; t < n && strcmp(tables[t].topic, topic + 8) != 0; t++)
            ;
        if (t == n)
            continue;
        if (chains) {
            int ch = relx_escalate_chains(tables, n, esc, t, cell, round);
            if (ch >= 0) {
                changes += ch;
                continue;
            }
        }
        if (strncmp(cell, "representation.", 15) == 0) {
            int c = repr_cell(cell + 15);
            if (c < 0)
                continue;
            for (int g = 1; g < N_AIM; g++) /* an aim over the cell bounds it too */
                if (AIM_CELL[g] == c && !esc[t].no_aim[g])
                    esc[t].no_aim[g] = 1, changes++;
            if (c == RT_LGB || c == RT_NOT_LGB)
                continue;
            /* the named document first; else the same cell in the others
             * it was combined with (the roll-up first) */
            {
                int done =
                    widen(tables[t].repr, esc[t].sup, esc[t].force, ROWS, NROWS, c, RT_TOTAL);
                for (size_t d = 0; !done && d < n; d++)
                    if (d != t)
                        done = widen(tables[d].repr, esc[d].sup, esc[d].force, ROWS, NROWS, c,
                                     RT_TOTAL);
                changes += done;
            }
        } else if (strncmp(cell, "funnel_reached.", 15) == 0) {
            unsigned char isroot[RELEASE_NREACH];
            suppress_row_t rows[NRROWS];
            int mem[NRROWS][6], c = -1, done;
            size_t nr = reach_rows(rows, mem);
            char name[96];
            for (int i = 0; i < RELEASE_NREACH; i++) {
                reach_name(i, name, sizeof name);
                if (c < 0 && strcmp(name, cell + 15) == 0)
                    c = i;
                isroot[i] = (unsigned char)reach_root(i);
            }
            if (esc[t].no_reach)
                continue;
            /* past half the rounds, or nothing left to hide: the funnel by
             * group is withheld from this document (never the release) */
            done = c >= 0 && round < RELEASE_MAX_ROUNDS / 2 &&
                   relx_widen_roots(tables[t].reach, esc[t].rsup, esc[t].rforce, rows, nr, c,
                                    isroot, -1);
            if (!done)
                esc[t].no_reach = 1;
            changes++;
        } else if (strncmp(cell, "retention.left_by_ethnic_group.ethnic_group.", 44) == 0) {
            int done = 0;
            if (esc[t].no_left)
                continue;
            for (int g = 0; g < 6; g++)
                if (strcmp(cell + 44, RELX_GROUPS[g]) == 0 && round < RELEASE_MAX_ROUNDS / 2)
                    done = widen(tables[t].left, esc[t].lsup, esc[t].lforce, &MROW, 1, 1 + g, 0);
            if (!done) /* the leavers by group are withheld, never the release */
                esc[t].no_left = 1;
            changes++;
        } else if (strncmp(cell, "progression.progressed.ethnic_group.", 36) == 0) {
            for (int g = 0; g < 6; g++)
                if (strcmp(cell + 36, RELX_GROUPS[g]) == 0)
                    changes +=
                        widen(tables[t].moved, esc[t].msup, esc[t].mforce, &MROW, 1, 1 + g, 0);
        }
    }
    /* tables with the same counts (a programme of one cohort and that
     * cohort) are published with the same cells hidden, or together they
     * would show what each hides */
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++) {
            if (memcmp(tables[a].repr, tables[b].repr, sizeof tables[a].repr) != 0)
                continue;
            for (int c = 0; c < RT_N; c++) {
                unsigned char f = esc[a].force[c] | esc[b].force[c];
                changes += f != esc[a].force[c] || f != esc[b].force[c];
                esc[a].force[c] = esc[b].force[c] = f;
            }
            for (int g = 0; g < N_AIM; g++) {
                unsigned char f = esc[a].no_aim[g] | esc[b].no_aim[g];
                esc[a].no_aim[g] = esc[b].no_aim[g] = f;
            }
        }
    for (size_t a = 0; a < n; a++) /* the same for the funnel by group */
        for (size_t b = a + 1; b < n; b++) {
            int w;
            if (!tables[a].has_reach || !tables[b].has_reach ||
                memcmp(tables[a].reach, tables[b].reach, sizeof tables[a].reach) != 0)
                continue;
            for (int c = 0; c < RELEASE_NREACH; c++) {
                unsigned char f = esc[a].rforce[c] | esc[b].rforce[c];
                changes += f != esc[a].rforce[c] || f != esc[b].rforce[c];
                esc[a].rforce[c] = esc[b].rforce[c] = f;
            }
            w = esc[a].no_reach | esc[b].no_reach;
            changes += w != esc[a].no_reach || w != esc[b].no_reach;
            esc[a].no_reach = esc[b].no_reach = w;
        }
    return changes;
}

json_t *release_preview(const release_t *self, const release_table_t *t, int zeros)
{
    esc_t e;
    json_t *o = json_object();
    memset(&e, 0, sizeof e);
    e.zeros = zeros;
    if (!o || json_object_set_new(o, "representation", repr_doc(self, t, &e)) ||
        (t->has_moved && json_object_set_new(o, "progressed", moved_doc(self, t, &e)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

release_t *release_new(int k)
{
    release_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->k = k >= 1 ? k : 1;
    self->topics = json_object();
    self->progs = json_object();
    self->dirty = json_object();
    if (!self->topics || !self->progs || !self->dirty)
        release_destroy(&self);
    return self;
}

void release_destroy(release_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    json_decref((*self_p)->topics);
    json_decref((*self_p)->progs);
    json_decref((*self_p)->dirty);
    free(*self_p);
    *self_p = NULL;
}

int release_cut(release_t *self, const char *programme, const release_table_t *tables, size_t n,
                uint64_t seq, const char *date, const char *reason)
{
    json_t *prog, *cand = NULL, *found = NULL;
    esc_t *esc;
    json_int_t number;
    int rc = 0;
    if (!self || !programme || !tables || n == 0 || !date || !reason)
        return -EINVAL;
    if (!(esc = calloc(n, sizeof *esc)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        esc[i].zeros = SUPPRESS_ZEROS_HIDDEN;
    prog = json_object_get(self->progs, programme);
    number = json_integer_value(json_object_get(prog, "number")) + 1;
    /* Two phases: the first cuts every table but the chained ones, gated
     * against the history without them, so it decides those cells as a
     * cut did before the chained tables existed; the second adds them,
     * gated against the whole history, and escalates on them first. */
    for (int phase = 0, round = 0; phase < 2; round++) {
        if (round == 0)
            for (size_t i = 0; i < n; i++)
                esc[i].chains = phase;
        json_decref(cand);
        json_decref(found);
        found = NULL;
        if (!(cand = json_array())) {
            rc = -ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            if (json_array_append_new(
                    cand, candidate(self, &tables[i], &esc[i], number, seq, date, reason))) {
                rc = -ENOMEM;
                goto out;
            }
        if (!(found = gate(self, programme, cand, seq, !phase))) {
            rc = -ENOMEM;
            goto out;
        }
        if (json_array_size(found) == 0) {
            int any = 0;
            for (size_t i = 0; i < n; i++)
                any |= tables[i].has_chain[CHAIN_RETAINED] | tables[i].has_chain[CHAIN_AFTER];
            round = -1; /* the next phase starts at round 0 */
            phase += any ? 1 : 2;
            continue;
        }
        if (round + 1 >= RELEASE_MAX_ROUNDS || escalate(tables, n, esc, found, round, phase) == 0) {
            /* withheld: nothing is published */
            json_t *w = json_pack("{s:I,s:I}", "number", number - 1, "withheld",
                                  json_integer_value(json_object_get(prog, "withheld")) + 1);
            if (!w || json_object_set_new(self->progs, programme, w)) {
                rc = -ENOMEM;
                goto out;
            }
            self->withheld++;
            rc = 0;
            goto out;
        }
    }
    {
        size_t i;
        json_t *line;
        json_array_foreach(cand, i, line)
        {
            const char *topic = json_string_value(json_object_get(line, "topic"));
            json_t *versions = json_object_get(self->topics, topic);
            if (!versions && json_object_set_new(self->topics, topic, versions = json_array())) {
                rc = -ENOMEM;
                goto out;
            }
            if (json_array_append(versions, line) ||
                json_object_set_new(self->dirty, topic, json_true())) {
                rc = -ENOMEM;
                goto out;
            }
        }
        if (json_object_set_new(self->progs, programme,
                                json_pack("{s:I,s:I}", "number", number, "withheld", 0))) {
            rc = -ENOMEM;
            goto out;
        }
    }
    rc = 1;
out:
    json_decref(cand);
    json_decref(found);
    free(esc);
    return rc;
}

char *release_render(const release_t *self, const char *topic)
{
    json_t *versions = self && topic ? json_object_get(self->topics, topic) : NULL;
    size_t n = json_array_size(versions);
    if (!n)
        return NULL;
    return json_dumps(json_object_get(json_array_get(versions, n - 1), "doc"), DUMP_FLAGS);
}

json_t *release_versions(const release_t *self, const char *topic)
{
    json_t *versions = self && topic ? json_object_get(self->topics, topic) : NULL, *out, *v;
    size_t i;
    if (!(out = json_array()))
        return NULL;
    json_array_foreach(versions, i, v)
    {
        if (json_array_append(out, json_object_get(v, "doc")) < 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

int release_topics(const release_t *self, const char *prefix, int dirty, json_t *v)
{
    const char *topic;
    json_t *x;
    json_object_foreach(dirty ? self->dirty : self->topics, topic, x)
    {
        if (prefix && strncmp(topic, prefix, strlen(prefix)) != 0)
            continue;
        if (json_array_append_new(v, json_string(topic)))
            return -ENOMEM;
    }
    return 0;
}

void release_clear_dirty(release_t *self)
{
    if (self)
        json_object_clear(self->dirty);
}

uint64_t release_withheld(const release_t *self)
{
    return self ? self->withheld : 0;
}

json_t *release_save(const release_t *self)
{
    return json_pack("{s:O,s:O}", "topics", self->topics, "programmes", self->progs);
}

int release_load(release_t *self, const json_t *state)
{
    json_t *topics, *progs, *x, *dirty = NULL;
    const char *key;
    if (!state) {
        json_object_clear(self->topics);
        json_object_clear(self->progs);
        json_object_clear(self->dirty);
        return 0;
    }
    topics = json_object_get(state, "topics");
    progs = json_object_get(state, "programmes");
    if (!json_is_object(topics) || !json_is_object(progs))
        return -EINVAL;
    json_object_foreach((json_t *)topics, key, x)
    {
        size_t i;
        json_t *line;
        if (strncmp(key, "release/", 8) != 0 || !json_is_array(x) || json_array_size(x) == 0)
            return -EINVAL;
        json_array_foreach(x, i, line)
        {
            if (!json_is_object(json_object_get(line, "doc")) ||
                !json_is_integer(json_object_get(line, "seq")))
                return -EINVAL;
        }
    }
    {
        json_t *t = json_deep_copy(topics), *p = json_deep_copy(progs);
        int err = !t || !p || !(dirty = json_object());
        json_object_foreach((json_t *)topics, key, x)
        {
            if (!err && json_object_set_new(dirty, key, json_true()))
                err = 1;
        }
        if (err) {
            json_decref(t);
            json_decref(p);
            json_decref(dirty);
            return -ENOMEM;
        }
        json_decref(self->topics);
        json_decref(self->progs);
        json_decref(self->dirty);
        self->topics = t;
        self->progs = p;
        self->dirty = dirty;
    }
    self->withheld = 0;
    return 0;
}
