/* watch_draw.c: cohort-watch's table mode, one readable table per status
 * topic (cohort, programme, agency, release; anything else as compact
 * JSON), from the documents docs/status.md defines. Writes to the FILE it
 * is given and nothing else; a field a document lacks prints as "-", a
 * suppressed cell as "*". */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch_draw.h"

#define REF_WIDTH 12                                        /* agency refs are shortened to this */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10)) /* as the daemon renders */

static const char *const STAGES[] = {
    "APPLIED",          "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
    "OFFERED",          "ENROLLED",    "COMPLETED",   "WITHDRAWN",
    "REMOVED_BY_BOARD", "DECLINED",    "NOT_SELECTED"};
#define NSTAGES (sizeof STAGES / sizeof STAGES[0])
static const char *const GROUPS[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};
static const char *const GENDERS[] = {"FEMALE", "MALE", "GENDER_OTHER", "GENDER_NOT_STATED"};
static const char *const DISABILITY[] = {"DISABLED", "NOT_DISABLED", "DISABILITY_NOT_STATED"};
static const char *const KINDS[] = {
    "SUBSTANTIVE_PROMOTION", "TEMPORARY_PROMOTION", "ACTING_UP",
    "LATERAL_MOVE",          "SECONDMENT",          "ATTACHMENT_MOVE"};
#define N(a) (sizeof(a) / sizeof(a)[0])

/* ------------------------------------------------------------- reading --- */

/* obj.path (dot-separated keys), or NULL. */
static json_t *jget(const json_t *obj, const char *path)
{
    char key[64];
    const char *p = path;

    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof key)
            return NULL;
        memcpy(key, p, n);
        key[n] = '\0';
        obj = json_object_get(obj, key);
        p += n + (dot != NULL);
    }
    return (json_t *)obj;
}

static const char *jstr(const json_t *obj, const char *path, const char *dflt)
{
    const char *s = json_string_value(jget(obj, path));
    return s ? s : dflt;
}

/* A count cell: "*" for a suppressed (null) cell, "-" when missing. */
static const char *cell(const json_t *v, char *buf, size_t n)
{
    if (!v)
        return "-";
    if (json_is_null(v))
        return "*";
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, n, "%g", json_real_value(v));
    else if (json_is_true(v) || json_is_false(v))
        return json_is_true(v) ? "yes" : "no";
    else
        return "?";
    return buf;
}

/* A 0..1 ratio as a percentage; "-" when null or missing. */
static const char *pct(const json_t *v, char *buf, size_t n)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, n, "%.1f%%", json_number_value(v) * 100.0);
    return buf;
}

static long long jint(const json_t *obj, const char *path)
{
    return json_integer_value(jget(obj, path));
}

/* ------------------------------------------------------------- drawing --- */

/* "name a, name b * ..." for the keys of obj in the order given. */
static void cells(FILE *o, const json_t *obj, const char *const *keys, size_t nk)
{
    char b[32];
    for (size_t i = 0; i < nk; i++)
        fprintf(o, "%s%s %s", i ? ", " : "", keys[i],
                cell(json_object_get(obj, keys[i]), b, sizeof b));
}

static void draw_funnel(FILE *o, const json_t *funnel)
{
    const json_t *p = json_object_get(funnel, "participants");
    const json_t *m = json_object_get(funnel, "mentors");
    const json_t *by = json_object_get(p, "by_agency");
    const char *ag;
    const json_t *v;
    char b1[32], b2[32];
    int first = 1;

    if (!funnel || !json_is_object(funnel))
        return;
    fprintf(o, "  %-26s %12s %8s\n", "funnel (current stage)", "participants", "mentors");
    for (size_t i = 0; i < NSTAGES; i++)
        fprintf(o, "    %-24s %12s %8s\n", STAGES[i],
                cell(jget(p, "by_stage") ? json_object_get(jget(p, "by_stage"), STAGES[i]) : NULL,
                     b1, sizeof b1),
                cell(jget(m, "by_stage") ? json_object_get(jget(m, "by_stage"), STAGES[i]) : NULL,
                     b2, sizeof b2));
    fprintf(o, "    %-24s %12s %8s\n", "total", cell(json_object_get(p, "total"), b1, sizeof b1),
            cell(json_object_get(m, "total"), b2, sizeof b2));
    if (json_is_object(by) && json_object_size(by) > 0) {
        fprintf(o, "  participants by agency: ");
        json_object_foreach((json_t *)by, ag, v)
        {
            long long tot = 0, in = 0;
            for (size_t i = 0; i < NSTAGES; i++)
                tot += json_integer_value(json_object_get(v, STAGES[i]));
            in = json_integer_value(json_object_get(v, "ENROLLED")) +
                 json_integer_value(json_object_get(v, "COMPLETED"));
            fprintf(o, "%s%s %lld (%lld enrolled or completed)", first ? "" : ", ", ag, tot, in);
            first = 0;
        }
        fprintf(o, "\n");
    }
}

/* The selection stages, the cumulative funnel's order. */
static const char *const REACH[] = {
    "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};

/* "reached: APPLIED 20 -> SHORTLISTED 18 (90%) -> ..." (funnel_reached). */
static void draw_reached(FILE *o, const json_t *fr)
{
    const json_t *p = json_object_get(fr, "participants");
    char b[32], b2[32];
    if (!json_is_object(p))
        return;
    fprintf(o, "  reached (furthest stage):");
    for (size_t i = 0; i < N(REACH); i++) {
        fprintf(o, "%s %s %s", i ? " ->" : "", REACH[i],
                cell(jget(p, "reached") ? json_object_get(jget(p, "reached"), REACH[i]) : NULL, b,
                     sizeof b));
        if (i)
            fprintf(
                o, " (%s)",
                pct(jget(p, "conversion") ? json_object_get(jget(p, "conversion"), REACH[i]) : NULL,
                    b2, sizeof b2));
    }
    fprintf(o, "; overall %s\n", pct(json_object_get(p, "overall_conversion"), b, sizeof b));
}

/* "retention: 15 enrolled, left during 1, ..." and the promotion rates
 * after completion. */
static void draw_retention(FILE *o, const json_t *r, const json_t *ac)
{
    char b[6][32];
    if (json_is_object(r))
        fprintf(o,
                "  retention of %s enrolled: left during %s (%s retained at the end); left "
                "within 6/12/24 months after: %s/%s/%s\n",
                cell(json_object_get(r, "enrolled"), b[0], sizeof b[0]),
                cell(json_object_get(r, "left_during"), b[1], sizeof b[1]),
                pct(json_object_get(r, "retention_at_end"), b[2], sizeof b[2]),
                cell(json_object_get(r, "left_within_6_months_after"), b[3], sizeof b[3]),
                cell(json_object_get(r, "left_within_12_months_after"), b[4], sizeof b[4]),
                cell(json_object_get(r, "left_within_24_months_after"), b[5], sizeof b[5]));
    if (json_is_object(ac))
        fprintf(o,
                "  after completion (%s completed): promoted during %s; within 6/12/24 months "
                "%s/%s/%s\n",
                cell(json_object_get(ac, "completed"), b[0], sizeof b[0]),
                pct(json_object_get(ac, "promotion_rate_during"), b[1], sizeof b[1]),
                pct(json_object_get(ac, "promotion_rate_6_months"), b[2], sizeof b[2]),
                pct(json_object_get(ac, "promotion_rate_12_months"), b[3], sizeof b[3]),
                pct(json_object_get(ac, "promotion_rate_24_months"), b[4], sizeof b[4]));
}

/* The funnel by ethnic group of a release: one line per stage. */
static void draw_reached_groups(FILE *o, const json_t *fr)
{
    const json_t *by = json_object_get(fr, "by_ethnic_group");
    char b[32];
    if (!json_is_object(fr))
        return;
    if (!json_is_object(by)) {
        fprintf(o, "  funnel by ethnic group: %s\n",
                json_is_true(json_object_get(fr, "withheld"))
                    ? "withheld"
                    : "fewer than k applied: no breakdown");
        return;
    }
    fprintf(o, "  funnel by ethnic group (furthest stage; * = suppressed)\n");
    for (size_t i = 0; i < N(REACH); i++) {
        const json_t *s = json_object_get(by, REACH[i]);
        fprintf(o, "    %-22s %s: ", REACH[i], cell(json_object_get(s, "total"), b, sizeof b));
        cells(o, json_object_get(s, "ethnic_group"), GROUPS, N(GROUPS));
        fprintf(o, "\n");
    }
}

/* A chained table by ethnic group of a cohort's release
 * (retention.retained, progression.after_completion): per stage its
 * total, its rate over the first stage and the 6 groups. */
static void draw_chain_groups(FILE *o, const json_t *blk, const char *title,
                              const char *const *stages, size_t n)
{
    const json_t *by = json_object_get(blk, "by_ethnic_group");
    char b[32];
    if (!json_is_object(blk))
        return;
    if (!json_is_object(by)) {
        fprintf(o, "  %s by ethnic group: %s\n", title,
                json_is_true(json_object_get(blk, "withheld")) ? "withheld"
                                                               : "fewer than k: no breakdown");
        return;
    }
    fprintf(o, "  %s by ethnic group (* = suppressed)\n", title);
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_object_get(by, stages[i]), *r = json_object_get(s, "rate");
        fprintf(o, "    %-26s %s", stages[i], cell(json_object_get(s, "total"), b, sizeof b));
        if (json_is_number(r))
            fprintf(o, " (%.0f%%)", 100 * json_number_value(r));
        fprintf(o, ": ");
        cells(o, json_object_get(s, "ethnic_group"), GROUPS, N(GROUPS));
        fprintf(o, "\n");
    }
}

static void draw_filled(FILE *o, const json_t *doc)
{
    const json_t *f = json_object_get(doc, "filled");
    char b1[32], b2[32], b3[32], b4[32];

    if (!f)
        return;
    fprintf(o, "  places %s, filled: %s participants, %s mentors; vacant %s\n",
            cell(json_object_get(f, "places"), b1, sizeof b1),
            cell(json_object_get(f, "participants"), b2, sizeof b2),
            cell(json_object_get(f, "mentors"), b3, sizeof b3),
            cell(json_object_get(f, "vacant"), b4, sizeof b4));
}

static void draw_completion(FILE *o, const json_t *c)
{
    static const char *const grp[] = {"participants", "mentors"};
    char b[5][32];

    if (!json_is_object(c))
        return;
    fprintf(o, "  %-16s %8s %9s %8s %8s %10s\n", "completion", "enrolled", "complete", "mean",
            "at risk", "required");
    for (size_t i = 0; i < 2; i++) {
        const json_t *g = json_object_get(c, grp[i]);
        if (!g)
            continue;
        fprintf(o, "    %-14s %8s %9s %8s %8s %6s min\n", grp[i],
                cell(json_object_get(g, "enrolled"), b[0], sizeof b[0]),
                cell(json_object_get(g, "complete"), b[1], sizeof b[1]),
                pct(json_object_get(g, "mean_completion"), b[2], sizeof b[2]),
                cell(json_object_get(g, "at_risk"), b[3], sizeof b[3]),
                cell(json_object_get(g, "required_minutes"), b[4], sizeof b[4]));
    }
}

/* "during 1 (SUBSTANTIVE_PROMOTION 1), after 0". */
static void draw_kinds(FILE *o, const char *label, const json_t *k)
{
    long long tot = 0;
    int first = 1;

    for (size_t i = 0; i < N(KINDS); i++)
        tot += json_integer_value(json_object_get(k, KINDS[i]));
    fprintf(o, "%s %lld", label, tot);
    for (size_t i = 0; i < N(KINDS); i++) {
        long long v = json_integer_value(json_object_get(k, KINDS[i]));
        if (v > 0) {
            fprintf(o, "%s%s %lld", first ? " (" : ", ", KINDS[i], v);
            first = 0;
        }
    }
    if (!first)
        fprintf(o, ")");
}

static void draw_progression(FILE *o, const json_t *p)
{
    const json_t *md, *pr;
    char b[32], b2[32];

    if (!json_is_object(p))
        return;
    fprintf(o, "  progression: ");
    draw_kinds(o, "during", json_object_get(p, "during"));
    fprintf(o, "; ");
    draw_kinds(o, "after", json_object_get(p, "after"));
    if (json_object_get(p, "after_window_ends_on"))
        fprintf(o, " (window to %s)", jstr(p, "after_window_ends_on", "?"));
    fprintf(o, "\n");
    md = json_object_get(p, "median_days_to_substantive_promotion");
    if (md)
        fprintf(o, "    substantive promotions after enrolling: %s, median %s days\n",
                cell(json_object_get(p, "promoted_substantively"), b, sizeof b),
                json_is_null(md) ? "-" : cell(md, b2, sizeof b2));
    pr = json_object_get(p, "progressed");
    if (json_is_object(pr)) {
        fprintf(o, "    progressed: total %s; ", cell(json_object_get(pr, "total"), b, sizeof b));
        cells(o, json_object_get(pr, "ethnic_group"), GROUPS, N(GROUPS));
        fprintf(o, "\n");
    }
}

static void draw_representation(FILE *o, const json_t *r, const char *of)
{
    const json_t *aims = json_object_get(r, "aims");
    char b[32], b2[32];
    size_t i;
    const json_t *a;

    if (!json_is_object(r))
        return;
    fprintf(o, "  representation of %s enrolled participants%s (k=%s; * = suppressed)\n",
            cell(json_object_get(r, "total"), b, sizeof b), of,
            cell(json_object_get(r, "threshold"), b2, sizeof b2));
    if (json_is_true(json_object_get(r, "below_threshold"))) {
        fprintf(o, "    fewer than k people: no breakdown is published\n");
        return;
    }
    fprintf(o, "    ethnic group: ");
    cells(o, json_object_get(r, "ethnic_group"), GROUPS, N(GROUPS));
    fprintf(o, "; BME %s\n", cell(json_object_get(r, "bme"), b, sizeof b));
    fprintf(o, "    gender: ");
    cells(o, json_object_get(r, "gender"), GENDERS, N(GENDERS));
    fprintf(o, "\n    disability: ");
    cells(o, json_object_get(r, "disability"), DISABILITY, N(DISABILITY));
    fprintf(o, "\n");
    if (json_array_size(aims) > 0) {
        fprintf(o, "    aims:");
        json_array_foreach(aims, i, a)
        {
            const json_t *met = json_object_get(a, "met");
            const json_t *act = json_object_get(a, "actual_percent");
            fprintf(o, "%s %s >= %s%%: ", i ? ";" : "", jstr(a, "group", "?"),
                    cell(json_object_get(a, "min_percent"), b, sizeof b));
            if (!act || json_is_null(act) || json_is_null(met))
                fprintf(o, "* (withheld)");
            else
                fprintf(o, "%s%% %s", cell(act, b2, sizeof b2),
                        json_is_true(met) ? "met" : "NOT met");
        }
        fprintf(o, "\n");
    }
}

/* The award counts (issue 18), when the programme has assessed components. */
static void draw_award(FILE *o, const json_t *a)
{
    if (!json_is_object(a) || jint(a, "assessed_components") <= 0)
        return;
    fprintf(o,
            "  award: %lld of %lld on track, %lld passed every assessment, %lld referred, "
            "%lld failed, %lld awarded\n",
            jint(a, "on_track"), jint(a, "enrolled"), jint(a, "passed_all"), jint(a, "referred"),
            jint(a, "failed"), jint(a, "awarded"));
}

/* The plan, review and board-decision counts (issue 18 section 3), when
 * there is any: "plans: 4 agreed, 5 reviews, 1 with concerns, 1 review
 * overdue; board decisions: 1 BOARD_EXTENSION (1 BOARD_REASON_ASSESSMENT)". */
static void draw_plans(FILE *o, const json_t *pl)
{
    const json_t *bk = jget(pl, "board_decisions.by_decision"),
                 *br = jget(pl, "board_decisions.by_reason"), *v;
    const char *k;
    long long nd = 0;
    json_object_foreach((json_t *)bk, k, v) nd += json_integer_value(v);
    if (!json_is_object(pl) || (jint(pl, "with_plan") <= 0 && nd <= 0))
        return;
    fprintf(o, "  plans: %lld agreed, %lld reviews, %lld with concerns, %lld review(s) overdue",
            jint(pl, "with_plan"), jint(pl, "reviews"), jint(pl, "concerns"),
            jint(pl, "overdue_reviews"));
    if (nd > 0) {
        int first = 1;
        fprintf(o, "; board decisions:");
        json_object_foreach((json_t *)bk, k, v) if (json_integer_value(v) > 0)
        {
            fprintf(o, "%s %lld %s", first ? "" : ",", (long long)json_integer_value(v), k);
            first = 0;
        }
        first = 1;
        fprintf(o, " (");
        json_object_foreach((json_t *)br, k, v) if (json_integer_value(v) > 0)
        {
            fprintf(o, "%s%lld %s", first ? "" : ", ", (long long)json_integer_value(v), k);
            first = 0;
        }
        fprintf(o, ")");
    }
    fprintf(o, "\n");
}

static void draw_cohort(FILE *o, const json_t *d)
{
    const json_t *ags = json_object_get(d, "agencies"), *a;
    size_t i;
    char b1[32], b2[32];

    fprintf(o, "  %s (%s), cohort %s, %s to %s; agencies:", jstr(d, "programme_name", "?"),
            jstr(d, "programme", "?"), jstr(d, "cohort", "?"), jstr(d, "starts_on", "?"),
            jstr(d, "ends_on", "?"));
    json_array_foreach(ags, i, a) fprintf(o, "%s %s", i ? "," : "", json_string_value(a));
    fprintf(o, "\n");
    draw_filled(o, d);
    draw_funnel(o, json_object_get(d, "funnel"));
    draw_reached(o, json_object_get(d, "funnel_reached"));
    draw_completion(o, json_object_get(d, "completion"));
    if (json_object_get(d, "mentoring"))
        fprintf(o, "  mentoring: %s mentor-participant pairs, %s participants mentored\n",
                cell(jget(d, "mentoring.assignments"), b1, sizeof b1),
                cell(jget(d, "mentoring.mentored"), b2, sizeof b2));
    draw_award(o, json_object_get(d, "award"));
    draw_plans(o, json_object_get(d, "plans"));
    draw_progression(o, json_object_get(d, "progression"));
    draw_retention(o, json_object_get(d, "retention"), jget(d, "progression.after_completion"));
    draw_representation(o, json_object_get(d, "representation"), "");
}

/* "1x 3-day course 1440" per requirement component. */
static void draw_reqs(FILE *o, const char *label, const json_t *list, const json_t *total)
{
    size_t i;
    const json_t *c;
    char b[32];

    fprintf(o, "    %-13s %6s min:", label, cell(total, b, sizeof b));
    json_array_foreach(list, i, c)
    {
        const char *unit = jstr(c, "unit", "UNIT_MINUTES");
        fprintf(o, "%s %lldx %s", i ? "," : "", jint(c, "count"),
                jstr(c, "label", jstr(c, "kind", "?")));
        if (strcmp(unit, "UNIT_SESSIONS") == 0)
            fprintf(o, " (sessions)");
        else if (strcmp(unit, "UNIT_SUBMISSIONS") == 0)
            fprintf(o, " (submissions)");
        else
            fprintf(o, " %lld", jint(c, "minutes_each"));
        if (json_is_true(json_object_get(c, "assessed")))
            fprintf(o, " assessed");
    }
    fprintf(o, "\n");
}

/* A 0..1 ratio as a percentage to 2 decimals (workforce figures are
 * published so: 16.11%); "-" when null or missing. */
static const char *pct2(const json_t *v, char *buf, size_t n)
{
    if (!json_is_number(v))
        return "-";
    snprintf(buf, n, "%.2f%%", json_number_value(v) * 100.0);
    return buf;
}

/* One baseline: "13506; OFFICER 8596 (AIM_BME 7.47%), ...; all AIM_BME 8.61%". */
static void draw_baseline(FILE *o, const json_t *b)
{
    const char *k, *g;
    json_t *c, *v;
    char p[32];
    const char *sep = "; ";
    fprintf(o, "%lld", jint(b, "headcount"));
    json_object_foreach((json_t *)json_object_get(b, "categories"), k, c)
    {
        const char *in = " (";
        fprintf(o, "%s%s %lld", sep, k, jint(c, "headcount"));
        sep = ", ";
        json_object_foreach((json_t *)json_object_get(c, "groups"), g, v)
        {
            fprintf(o, "%s%s %s", in, g, pct2(json_object_get(v, "percent"), p, sizeof p));
            in = ", ";
        }
        if (*in == ',')
            fprintf(o, ")");
    }
    sep = "; all ";
    json_object_foreach((json_t *)json_object_get(b, "all"), g, v)
    {
        fprintf(o, "%s%s %s", sep, g, pct2(json_object_get(v, "percent"), p, sizeof p));
        sep = ", ";
    }
    fprintf(o, "\n");
}

/* The agencies' workforce baselines and targets (issue 18 section 5). */
static void draw_workforce(FILE *o, const json_t *w)
{
    const char *id;
    json_t *a, *t;
    size_t i;
    char p[2][32];
    if (!json_is_object(w) || !jint(w, "baselines"))
        return;
    json_object_foreach((json_t *)json_object_get(w, "agencies"), id, a)
    {
        if (json_is_object(json_object_get(a, "baseline"))) {
            fprintf(o, "  workforce %s (as at %s): ", id, jstr(a, "as_at", "?"));
            draw_baseline(o, json_object_get(a, "baseline"));
        }
        json_array_foreach(json_object_get(a, "targets"), i, t) fprintf(
            o, "    target %s %s %s%s%s (now %s)\n", jstr(t, "group", "?"),
            jstr(t, "category", "?"), pct2(json_object_get(t, "percent"), p[0], sizeof p[0]),
            json_is_string(json_object_get(t, "by")) ? " by " : "", jstr(t, "by", ""),
            pct2(json_object_get(t, "workforce_percent"), p[1], sizeof p[1]));
    }
    fprintf(o, "  workforce overall (%lld agencies): ", jint(w, "baselines"));
    draw_baseline(o, json_object_get(w, "overall"));
}

static void draw_programme(FILE *o, const json_t *d)
{
    const json_t *cs = json_object_get(d, "cohorts"), *c, *rq = json_object_get(d, "requirements");
    const json_t *pr = json_object_get(d, "progression");
    size_t i;

    fprintf(o, "  %s (%s), %lld months; cohorts:", jstr(d, "name", "?"), jstr(d, "programme", "?"),
            jint(d, "duration_months"));
    json_array_foreach(cs, i, c) fprintf(o, "%s %s", i ? "," : "", json_string_value(c));
    fprintf(o, "\n");
    if (json_is_object(rq)) {
        fprintf(o, "  requirements\n");
        draw_reqs(o, "participants", json_object_get(rq, "participants"),
                  json_object_get(rq, "participant_minutes"));
        draw_reqs(o, "mentors", json_object_get(rq, "mentors"),
                  json_object_get(rq, "mentor_minutes"));
    }
    draw_filled(o, d);
    draw_funnel(o, json_object_get(d, "funnel"));
    draw_award(o, json_object_get(d, "award"));
    draw_plans(o, json_object_get(d, "plans"));
    draw_reached(o, json_object_get(d, "funnel_reached"));
    draw_retention(o, json_object_get(d, "retention"), jget(d, "progression.after_completion"));
    draw_workforce(o, json_object_get(d, "workforce"));
    if (json_is_object(pr)) {
        fprintf(o, "  progression: ");
        draw_kinds(o, "during", json_object_get(pr, "during"));
        fprintf(o, "; ");
        draw_kinds(o, "after", json_object_get(pr, "after"));
        fprintf(o, "\n");
    }
    draw_representation(o, json_object_get(d, "representation"), " across the cohorts");
}

static void draw_agency(FILE *o, const json_t *d)
{
    const json_t *people = json_object_get(d, "people"), *p;
    size_t i, risk = 0, concerns = 0, overdue = 0;
    char b1[32], b2[32], b3[32];

    fprintf(o, "  agency %s, programme %s, cohort %s: %zu people\n", jstr(d, "agency", "?"),
            jstr(d, "programme", "?"), jstr(d, "cohort", "?"), json_array_size(people));
    if (json_array_size(people) == 0)
        return;
    fprintf(o, "    %-12s  %-11s  %-22s  %10s  %17s  %s\n", "ref", "role", "stage", "completion",
            "credited/expected", "at risk");
    json_array_foreach(people, i, p)
    {
        char ref[REF_WIDTH + 1], ce[2 * sizeof b2 + 8]; /* two cells, "/", " min" */
        snprintf(ref, sizeof ref, "%s", jstr(p, "ref", "?"));
        snprintf(ce, sizeof ce, "%s/%s min",
                 cell(json_object_get(p, "credited_minutes"), b2, sizeof b2),
                 cell(json_object_get(p, "expected_minutes"), b3, sizeof b3));
        risk += json_is_true(json_object_get(p, "at_risk"));
        concerns +=
            strcmp(jstr(jget(p, "plan"), "last_review_outcome", ""), "REVIEW_CONCERNS") == 0;
        overdue += json_is_true(jget(p, "plan.review_overdue"));
        fprintf(o, "    %-12s  %-11s  %-22s  %10s  %17s  %s\n", ref, jstr(p, "role", "?"),
                jstr(p, "stage", "?"), pct(json_object_get(p, "completion"), b1, sizeof b1), ce,
                json_is_true(json_object_get(p, "at_risk")) ? "AT RISK" : "");
    }
    fprintf(o, "    %zu at risk\n", risk);
    if (concerns || overdue)
        fprintf(o, "    plans: %zu whose last review raised concerns, %zu review(s) overdue\n",
                concerns, overdue);
}

/* A dated release of a cohort's or a programme's breakdowns. */
static void draw_release(FILE *o, const json_t *d)
{
    const json_t *pr = jget(d, "progression.progressed");
    char b[32];
    fprintf(o, "  %s %s%s%s: release %lld of %s (%s)\n",
            jstr(d, "programme_name", jstr(d, "name", "?")), jstr(d, "programme", "?"),
            json_object_get(d, "cohort") ? ", cohort " : "", jstr(d, "cohort", ""),
            jint(d, "release.number"), jstr(d, "release.released_on", "?"),
            jstr(d, "release.reason", "?"));
    draw_representation(o, json_object_get(d, "representation"),
                        json_object_get(d, "cohort") ? "" : " across the cohorts");
    if (json_is_object(pr)) {
        fprintf(o, "  progressed: total %s; ", cell(json_object_get(pr, "total"), b, sizeof b));
        if (json_is_true(json_object_get(pr, "below_threshold")))
            fprintf(o, "fewer than k: no breakdown");
        else
            cells(o, json_object_get(pr, "ethnic_group"), GROUPS, N(GROUPS));
        fprintf(o, "\n");
    }
    draw_reached_groups(o, json_object_get(d, "funnel_reached"));
    pr = jget(d, "retention.left_by_ethnic_group");
    if (json_is_object(pr)) {
        fprintf(o, "  left (by ends_on + 12 months): total %s; ",
                cell(json_object_get(pr, "total"), b, sizeof b));
        if (json_is_true(json_object_get(pr, "below_threshold")))
            fprintf(o, "fewer than k: no breakdown");
        else if (json_is_true(json_object_get(pr, "withheld")))
            fprintf(o, "withheld");
        else
            cells(o, json_object_get(pr, "ethnic_group"), GROUPS, N(GROUPS));
        fprintf(o, "\n");
    }
    {
        static const char *const RET[] = {"ENROLLED", "RETAINED_AT_END", "RETAINED_6_MONTHS_AFTER",
                                          "RETAINED_12_MONTHS_AFTER", "RETAINED_24_MONTHS_AFTER"};
        static const char *const AFT[] = {"COMPLETED", "PROMOTED_DURING",
                                          "PROMOTED_WITHIN_6_MONTHS", "PROMOTED_WITHIN_12_MONTHS",
                                          "PROMOTED_WITHIN_24_MONTHS"};
        draw_chain_groups(o, jget(d, "retention.retained"), "retained", RET, N(RET));
        draw_chain_groups(o, jget(d, "progression.after_completion"), "promoted after completing",
                          AFT, N(AFT));
    }
}

/* One topic's table. */
void watch_draw_topic(FILE *o, const cohort_sub_doc_t *d)
{
    fprintf(o, "%s  (rev %llu, seq %llu)\n", d->topic, (unsigned long long)d->rev,
            (unsigned long long)d->seq);
    if (strncmp(d->topic, "cohort/", 7) == 0) {
        draw_cohort(o, d->doc);
    } else if (strncmp(d->topic, "programme/", 10) == 0) {
        draw_programme(o, d->doc);
    } else if (strncmp(d->topic, "agency/", 7) == 0) {
        draw_agency(o, d->doc);
    } else if (strncmp(d->topic, "release/", 8) == 0) {
        draw_release(o, d->doc);
    } else {
        char *s = json_dumps(d->doc, DUMP_FLAGS);
        size_t n = s ? strlen(s) : 0;
        fprintf(o, "  %.*s%s\n", 400, s ? s : "?", n > 400 ? " ..." : "");
        free(s);
    }
    fprintf(o, "\n");
}

int watch_draw_each(void *arg, const cohort_sub_doc_t *d)
{
    watch_draw_topic(arg, d);
    return 0;
}
