/* t_audit.c: unit tests for the disclosure auditor (daemon/audit.c).
 *
 * Two kinds of input:
 * - synthetic cohorts rendered by the real projection (proj*.c with its
 *   small-number suppression at k = 5), event by event, recording every
 *   version as a board member would (the leaks the current rules have);
 * - documents written by hand, for exact interval results and for
 *   document sets that are genuinely safe (negative tests).
 * k = 5 throughout. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "cohort_json.h"
#include "proj.h"
#include "suppress.h"
#include "tap.h"

#define K 5
#define SF "sf"

/* ------------------------------------------------ a recorded stream --- */

/* A projection and the versions a subscriber has seen of its topics. */
typedef struct {
    proj_t *p;
    json_t *lines; /* {"topic","rev","seq","doc"} in order */
    json_t *last;  /* topic -> last document text (a version = a change) */
    int live;      /* record after every event (else only on record()) */
} stream_t;

static void stream_init(stream_t *s, int live)
{
    proj_config_t cfg = {K, PROJ_DEFAULT_AT_RISK_RATIO, 0};
    s->p = proj_new(&cfg);
    s->lines = json_array();
    s->last = json_object();
    s->live = live;
}

static void stream_free(stream_t *s)
{
    proj_destroy(&s->p);
    json_decref(s->lines);
    json_decref(s->last);
}

/* Appends a version of every cohort/ and programme/ topic that changed. */
static void record(stream_t *s)
{
    char **topics;
    size_t n = proj_topics(s->p, "", &topics);
    for (size_t i = 0; i < n; i++) {
        char *doc;
        json_t *d, *prev;
        if (strncmp(topics[i], "cohort/", 7) && strncmp(topics[i], "programme/", 10))
            continue;
        /* the rule alone, per commit, zeros published (as the first rule) */
        doc = proj_render_rule_only(s->p, topics[i], SUPPRESS_ZEROS_PUBLISHED);
        prev = json_object_get(s->last, topics[i]);
        if (doc && (!prev || strcmp(json_string_value(prev), doc) != 0)) {
            d = json_loads(doc, 0, NULL);
            json_array_append_new(s->lines,
                                  json_pack("{s:s,s:I,s:I,s:o}", "topic", topics[i], "rev",
                                            (json_int_t)json_array_size(s->lines) + 1, "seq",
                                            (json_int_t)proj_seq(s->p), "doc", d));
            json_object_set_new(s->last, topics[i], json_string(doc));
        }
        free(doc);
    }
    proj_strv_free(topics, n);
}

static int ev(stream_t *s, const char *fmt, ...)
{
    char buf[4096], err[256], why[256];
    va_list ap;
    Cohort__V1__Event *e;
    int rc;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!(e = cohort_json_to_event(buf, strlen(buf), err, sizeof err))) {
        diag("bad test event (%s): %s", err, buf);
        return -1000;
    }
    rc = proj_apply(s->p, e, proj_seq(s->p) + 1, why, sizeof why);
    cohort__v1__event__free_unpacked(e, NULL);
    if (rc)
        diag("rejected (%d): %s: %s", rc, why, buf);
    else if (s->live)
        record(s);
    return rc;
}

/* A programme with the given aims (JSON array text) and one cohort per id. */
static void setup(stream_t *s, const char *aims, int ncohorts)
{
    ev(s,
       "{\"agency\":\"board\",\"occurredAt\":\"2009-01-01T09:00:00Z\","
       "\"programmeDefined\":{\"programmeId\":\"" SF "\",\"name\":\"T\","
       "\"participantComponents\":[{\"kind\":\"COACHING\",\"count\":6,\"minutesEach\":120,"
       "\"label\":\"c\"}],\"aims\":%s,\"durationMonths\":6}}",
       aims);
    for (int c = 1; c <= ncohorts; c++)
        ev(s,
           "{\"agency\":\"board\",\"occurredAt\":\"2009-01-02T09:00:00Z\","
           "\"cohortOpened\":{\"programmeId\":\"" SF "\",\"cohortId\":\"c%d\",\"places\":30,"
           "\"startsOn\":\"2009-04-01\",\"endsOn\":\"2009-09-30\","
           "\"agencies\":[\"police\",\"fire\"]}}",
           c);
}

/* Registers agency/ref and walks them to ENROLLED in cohort c<coh>. */
static void join(stream_t *s, const char *agency, const char *ref, int coh, const char *eth,
                 const char *gender, const char *dis, const char *ori)
{
    static const char *path[] = {"APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
                                 "OFFERED", "ENROLLED"};
    ev(s,
       "{\"agency\":\"%s\",\"occurredAt\":\"2009-01-03T09:00:00Z\","
       "\"participantRegistered\":{\"participantRef\":\"%s\",\"role\":\"PARTICIPANT\","
       "\"ethnicity\":\"%s\",\"gender\":\"%s\",\"disability\":\"%s\","
       "\"sexualOrientation\":\"%s\",\"grade\":\"band 6\"}}",
       agency, ref, eth, gender, dis, ori);
    for (size_t i = 0; i < 6; i++)
        ev(s,
           "{\"agency\":\"%s\",\"occurredAt\":\"2009-04-01T09:00:00Z\",\"enrolmentChanged\":{"
           "\"participantRef\":\"%s\",\"programmeId\":\"" SF "\",\"cohortId\":\"c%d\","
           "\"stage\":\"%s\"}}",
           agency, ref, coh, path[i]);
}

static void leave(stream_t *s, const char *agency, const char *ref, int coh)
{
    ev(s,
       "{\"agency\":\"%s\",\"occurredAt\":\"2009-05-01T09:00:00Z\",\"enrolmentChanged\":{"
       "\"participantRef\":\"%s\",\"programmeId\":\"" SF "\",\"cohortId\":\"c%d\","
       "\"stage\":\"WITHDRAWN\"}}",
       agency, ref, coh);
}

/* n people of one kind: refs <prefix>0.., agency police. */
static void join_n(stream_t *s, int n, const char *prefix, int coh, const char *eth,
                   const char *gender)
{
    for (int i = 0; i < n; i++) {
        char ref[32];
        snprintf(ref, sizeof ref, "%s%d", prefix, i);
        join(s, "police", ref, coh, eth, gender, "NOT_DISABLED", "HETEROSEXUAL");
    }
}

/* ------------------------------------------------------- findings --- */

static json_t *run(const json_t *lines, int history, int *n)
{
    json_t *f = NULL;
    char err[256];
    *n = audit_run(lines, K, history, &f, err, sizeof err);
    if (*n < 0)
        diag("audit_run: %d %s", *n, err);
    return f;
}

/* The first finding with this rule on this topic and cell (NULL: any), or
 * NULL. */
static const json_t *find(const json_t *f, const char *rule, const char *topic, const char *cell)
{
    size_t i;
    const json_t *x;
    json_array_foreach(f, i, x)
    {
        if (rule && strcmp(json_string_value(json_object_get(x, "rule")), rule))
            continue;
        if (topic && strcmp(json_string_value(json_object_get(x, "topic")), topic))
            continue;
        if (cell && strcmp(json_string_value(json_object_get(x, "cell")), cell))
            continue;
        return x;
    }
    return NULL;
}

static long num(const json_t *f, const char *key)
{
    return (long)json_integer_value(json_object_get(f, key));
}

static void dump(const json_t *f)
{
    size_t i;
    const json_t *x;
    json_array_foreach(f, i, x)
    {
        char *s = audit_describe(x);
        diag("%s", s);
        free(s);
    }
}

/* ------------------------------------------------ hand-made documents --- */

static const char *const CODES[] = {"W1", "W2", "W9", "M1", "M2", "M3", "M9", "A1", "A2",
                                    "A3", "A9", "B1", "B2", "B9", "O1", "O9", "NS"};
static const char *const GROUPS[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};

/* A cohort document: every cell 0 except those in spec ("ethnicity.W1=15
 * ethnic_group.WHITE=null gender.FEMALE=7 ..."); total = filled unless
 * spec sets it. */
static json_t *hand_doc(int filled, const char *spec)
{
    json_t *r = json_object(), *e = json_object(), *g = json_object(), *ge = json_object(),
           *di = json_object(), *doc;
    char buf[1024], *save = NULL, *tok;
    for (size_t i = 0; i < 17; i++)
        json_object_set_new(e, CODES[i], json_integer(0));
    for (size_t i = 0; i < 6; i++)
        json_object_set_new(g, GROUPS[i], json_integer(0));
    json_object_set_new(ge, "FEMALE", json_integer(0));
    json_object_set_new(ge, "MALE", json_integer(0));
    json_object_set_new(ge, "GENDER_OTHER", json_integer(0));
    json_object_set_new(ge, "GENDER_NOT_STATED", json_integer(0));
    json_object_set_new(di, "DISABLED", json_integer(0));
    json_object_set_new(di, "NOT_DISABLED", json_integer(filled));
    json_object_set_new(di, "DISABILITY_NOT_STATED", json_integer(0));
    json_object_set_new(r, "ethnicity", e);
    json_object_set_new(r, "ethnic_group", g);
    json_object_set_new(r, "gender", ge);
    json_object_set_new(r, "disability", di);
    json_object_set_new(r, "total", json_integer(filled));
    json_object_set_new(r, "bme", json_integer(0));
    json_object_set_new(r, "aims", json_array());
    snprintf(buf, sizeof buf, "%s", spec);
    for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '='), *dot = strchr(tok, '.');
        json_t *val;
        *eq = '\0';
        val = strcmp(eq + 1, "null") == 0 ? json_null() : json_integer(atol(eq + 1));
        if (dot) {
            *dot = '\0';
            json_object_set_new(json_object_get(r, tok), dot + 1, val);
        } else {
            json_object_set_new(r, tok, val);
        }
    }
    doc = json_pack("{s:s,s:o,s:{s:i}}", "cohort", "c1", "representation", r, "filled",
                    "participants", filled);
    return doc;
}

static json_t *one_line(const char *topic, long seq, json_t *doc)
{
    return json_pack("[{s:s,s:I,s:I,s:o}]", "topic", topic, "rev", (json_int_t)seq, "seq",
                     (json_int_t)seq, "doc", doc);
}

/* The example: WHITE 17 and W1 15 shown pin the hidden W2 and W9
 * to 1 each; the two hidden groups are bounded to 1..2, and the hidden bme
 * is the total less WHITE: 3. */
static void hand_interval(void)
{
    int n;
    json_t *lines = one_line(
        "cohort/x/c1", 7,
        hand_doc(20, "ethnic_group.WHITE=17 ethnicity.W1=15 ethnicity.W2=null ethnicity.W9=null "
                     "ethnic_group.ASIAN=null ethnicity.A1=null ethnic_group.BLACK=null "
                     "ethnicity.B1=null bme=null gender.FEMALE=10 gender.MALE=10"));
    json_t *f = run(lines, 0, &n);
    const json_t *x;
    is_int(n, 7, "W2, W9, ASIAN, A1, BLACK, B1, bme are reported");
    x = find(f, "pinned", "cohort/x/c1", "representation.ethnicity.W2");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 1 && num(x, "seq") == 7, "W2 pinned to 1");
    ok(find(f, "pinned", NULL, "representation.ethnicity.W9"), "W9 pinned to 1");
    x = find(f, "bounded-below-k", NULL, "representation.ethnic_group.ASIAN");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 2, "ASIAN bounded to 1..2");
    ok(find(f, "bounded-below-k", NULL, "representation.ethnicity.B1"), "B1 bounded below k");
    x = find(f, "pinned", NULL, "representation.bme");
    ok(x && num(x, "lo") == 3, "bme pinned to 3");
    if (n != 7)
        dump(f);
    json_decref(f);
    json_decref(lines);
}

/* Asian 5 shown and two hidden Black codes force BLACK = 2 and, through
 * the total, MIXED = 1 and NOT_STATED = 1 (the second example). */
static void hand_forced_groups(void)
{
    int n;
    json_t *lines = one_line(
        "cohort/x/c1", 3,
        hand_doc(19, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.ASIAN=5 ethnicity.A1=5 "
                     "ethnic_group.BLACK=null ethnicity.B1=null ethnicity.B2=null "
                     "ethnic_group.MIXED=null ethnicity.M1=null ethnic_group.NOT_STATED=null "
                     "ethnicity.NS=null bme=null gender.FEMALE=10 gender.MALE=9"));
    json_t *f = run(lines, 0, &n);
    const json_t *x = find(f, "pinned", NULL, "representation.ethnic_group.BLACK");
    ok(x && num(x, "lo") == 2, "BLACK pinned to 2");
    ok(find(f, "pinned", NULL, "representation.ethnic_group.MIXED"), "MIXED pinned to 1");
    ok(find(f, "pinned", NULL, "representation.ethnicity.NS"), "NS pinned to 1");
    ok(find(f, "pinned", NULL, "representation.bme"), "bme pinned (5 + 2 + 1)");
    json_decref(f);
    json_decref(lines);
}

/* A genuinely safe document: every hidden cell could be 1 or at least k,
 * nothing published is 1..k-1. */
static void hand_safe(void)
{
    int n;
    json_t *lines =
        one_line("cohort/x/c1", 9,
                 hand_doc(30, "ethnic_group.WHITE=20 ethnicity.W1=null ethnicity.W2=null "
                              "ethnic_group.ASIAN=10 ethnicity.A1=10 bme=10 gender.FEMALE=null "
                              "gender.MALE=null gender.GENDER_OTHER=null"));
    json_t *f = run(lines, 0, &n);
    is_int(n, 0, "a safe document: no finding");
    if (n)
        dump(f);
    json_decref(f);
    json_decref(lines);
}

static void hand_published_small(void)
{
    int n;
    json_t *lines = one_line("cohort/x/c1", 2,
                             hand_doc(12, "ethnic_group.WHITE=12 ethnicity.W1=10 ethnicity.W2=2 "
                                          "gender.FEMALE=6 gender.MALE=6"));
    json_t *f = run(lines, 0, &n);
    const json_t *x = find(f, "published-small", NULL, "representation.ethnicity.W2");
    is_int(n, 1, "one finding");
    ok(x && num(x, "lo") == 2, "a published 2 is below k");
    json_decref(f);
    json_decref(lines);
}

/* An LGB aim's actual_percent with the total known gives the count. */
static void hand_aim(void)
{
    int n;
    json_t *doc = hand_doc(20, "ethnic_group.WHITE=20 ethnicity.W1=20 gender.FEMALE=10 "
                               "gender.MALE=10"),
           *lines;
    json_t *f;
    const json_t *x;
    json_array_append_new(json_object_get(json_object_get(doc, "representation"), "aims"),
                          json_pack("{s:s,s:i,s:i,s:b}", "group", "AIM_LGB", "min_percent", 5,
                                    "actual_percent", 15, "met", 1));
    lines = one_line("cohort/x/c1", 4, doc);
    f = run(lines, 0, &n);
    x = find(f, "pinned", NULL, "representation.lgb");
    ok(x && num(x, "lo") == 3 && num(x, "hi") == 3, "15%% of 20 is 3 LGB people");
    json_decref(f);
    json_decref(lines);
}

static void bad_input(void)
{
    json_t *f = NULL, *lines = json_pack("[i]", 3);
    char err[256];
    is_int(audit_run(lines, K, 0, &f, err, sizeof err), -EINVAL, "a line that is not an object");
    ok(strstr(err, "line 1"), "  the message names the line: %s", err);
    json_decref(lines);
    lines = json_array();
    is_int(audit_run(lines, K, 0, &f, err, sizeof err), -EINVAL, "no document at all");
    is_int(audit_run(lines, 0, 0, &f, err, sizeof err), -EINVAL, "k = 0");
    json_decref(lines);
    /* W1 + W2 > WHITE: not a cohortd document */
    lines = one_line("cohort/x/c1", 1,
                     hand_doc(10, "ethnic_group.WHITE=10 ethnicity.W1=8 ethnicity.W2=8 "
                                  "gender.FEMALE=5 gender.MALE=5"));
    is_int(audit_run(lines, K, 0, &f, err, sizeof err), -EINVAL, "sums that do not add up");
    ok(strstr(err, "contradicts"), "  says so: %s", err);
    json_decref(lines);
}

/* ------------------------------------------- the projection's output --- */

/* One small cell: 11 people, one of them B1. In one document the current
 * rule hides enough (every hidden group could be 1..9); kept version by
 * version, the step where they enrol gives them away. */
static void one_small_cell(void)
{
    stream_t s;
    int n;
    json_t *f;
    stream_init(&s, 0);
    setup(&s, "[]", 1);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 5, "a", 1, "A1", "MALE");
    record(&s);
    s.live = 1;
    join(&s, "fire", "b0", 1, "B1", "MALE", "NOT_DISABLED", "HETEROSEXUAL");
    f = run(s.lines, 0, &n);
    is_int(n, 0, "the last versions alone (a snapshot): nothing pinned");
    if (n)
        dump(f);
    json_decref(f);
    f = run(s.lines, 1, &n);
    ok(find(f, "difference", "cohort/" SF "/c1", "representation.ethnicity.B1"),
       "with every version: the step pins the newcomer's B1");
    json_decref(f);
    stream_free(&s);
}

/* Zeros: 4 people, all W1. Under the old rule everything was hidden but
 * the published zeros and the enrolled count left WHITE = 4 (pinned) and
 * FEMALE = 4. Now a population below k gets no breakdown at all
 * (release.c), and the auditor finds nothing. */
static void zeros(void)
{
    stream_t s;
    int n;
    json_t *f;
    const json_t *x;
    stream_init(&s, 0);
    setup(&s, "[]", 1);
    join_n(&s, 4, "w", 1, "W1", "FEMALE");
    record(&s);
    f = run(s.lines, 0, &n);
    x = find(f, "pinned", "cohort/" SF "/c1", "representation.ethnic_group.WHITE");
    ok(!x && n == 0, "WHITE no longer pinned: 4 < k people get no breakdown");
    x = json_array_get(s.lines, json_array_size(s.lines) - 1);
    ok(json_is_true(json_object_get(json_object_get(json_object_get(x, "doc"), "representation"),
                                    "below_threshold")),
       "the document says the population is below the threshold");
    json_decref(f);
    stream_free(&s);
}

/* One person joining a cohort of 10: the step from one version to the
 * next shows their code, group and gender. */
static void one_joins(void)
{
    stream_t s;
    int n;
    json_t *f;
    const json_t *x;
    stream_init(&s, 1);
    setup(&s, "[{\"group\":\"AIM_BME\",\"minPercent\":50}]", 1);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 5, "a", 1, "A1", "MALE");
    join(&s, "fire", "b0", 1, "B1", "FEMALE", "NOT_DISABLED", "HETEROSEXUAL");
    f = run(s.lines, 1, &n);
    x = find(f, "difference", "cohort/" SF "/c1", "representation.ethnicity.B1");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 1, "B1 0 -> suppressed: the newcomer is B1");
    ok(x && num(x, "from_seq") == num(x, "seq") - 1, "  between consecutive versions");
    ok(x && strstr(json_string_value(json_object_get(x, "detail")), "fire ENROLLED 0 -> 1"),
       "  naming the agency whose participant joined");
    x = find(f, "difference", "cohort/" SF "/c1", "representation.gender.FEMALE");
    ok(x && num(x, "lo") == 1, "FEMALE 5 -> 6: the newcomer is a woman");
    ok(find(f, "difference", "programme/" SF, "representation.ethnicity.B1"),
       "the programme roll-up shows it too");
    json_decref(f);
    stream_free(&s);
}

/* People leaving: the one who withdrew is identified. */
static void one_leaves(void)
{
    stream_t s;
    int n;
    json_t *f;
    const json_t *x;
    stream_init(&s, 0);
    setup(&s, "[]", 1);
    join_n(&s, 6, "w", 1, "W1", "FEMALE");
    join_n(&s, 6, "a", 1, "A1", "MALE");
    join(&s, "fire", "m0", 1, "M2", "MALE", "NOT_DISABLED", "HETEROSEXUAL");
    record(&s);
    s.live = 1;
    leave(&s, "fire", "m0", 1);
    f = run(s.lines, 1, &n);
    x = find(f, "difference", "cohort/" SF "/c1", "representation.ethnicity.M2");
    ok(x && num(x, "lo") == -1 && num(x, "hi") == -1, "M2 suppressed -> 0: the leaver was M2");
    ok(x && strstr(json_string_value(json_object_get(x, "detail")), "left"), "  says left");
    json_decref(f);
    stream_free(&s);
}

/* An LGB, disabled person enrols in a cohort of 10: under the first rule
 * the LGB aim's actual_percent flipped from 0 to null; the DISABLED cell
 * still goes from 0 to suppressed under the rule alone (which is why
 * breakdowns are only published in gated releases). */
static void aims_flip(void)
{
    stream_t s;
    int n;
    json_t *f;
    const json_t *x;
    stream_init(&s, 0);
    setup(&s,
          "[{\"group\":\"AIM_LGB\",\"minPercent\":5},{\"group\":\"AIM_DISABLED\","
          "\"minPercent\":5}]",
          1);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 5, "x", 1, "W1", "MALE");
    record(&s);
    s.live = 1;
    join(&s, "fire", "l0", 1, "W1", "MALE", "DISABLED", "LGB");
    f = run(s.lines, 1, &n);
    /* Under the first rule AIM_LGB went from 0% to null here, which pinned
     * the newcomer as LGB. Now an aim over a special-category strand is
     * withheld whenever its count (zero included) or the rest is below k,
     * so it says "withheld" before and after. */
    x = find(f, "difference", "cohort/" SF "/c1", "representation.lgb");
    ok(!x, "AIM_LGB withheld before and after: the newcomer is not shown to be LGB");
    ok(find(f, "difference", "cohort/" SF "/c1", "representation.disability.DISABLED"),
       "and disabled");
    json_decref(f);
    stream_free(&s);
}

/* Two cohorts of one programme: cohort 2 alone hides its one Asian
 * person well enough, but the programme roll-up minus cohort 1 gives it. */
static void two_cohorts(void)
{
    stream_t s;
    int n;
    json_t *f;
    const json_t *x;
    stream_init(&s, 0);
    setup(&s, "[]", 2);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 5, "a", 1, "A1", "MALE");
    join_n(&s, 3, "v", 2, "W1", "FEMALE");
    join_n(&s, 2, "u", 2, "W1", "MALE");
    join(&s, "fire", "z0", 2, "A1", "MALE", "NOT_DISABLED", "HETEROSEXUAL");
    record(&s);
    f = run(s.lines, 0, &n);
    x = find(f, "pinned", "cohort/" SF "/c2", "representation.ethnicity.A1");
    ok(x && num(x, "lo") == 1, "cohort 2's A1 pinned to 1 across documents");
    ok(x && !strcmp(json_string_value(json_object_get(x, "scope")), "release"), "  scope release");
    ok(x && json_array_size(json_object_get(x, "topics")) == 3, "  from the three documents");
    if (x) {
        char *line = audit_describe(x);
        ok(line && strstr(line, "[pinned, release: programme/sf, cohort/sf/c1, cohort/sf/c2]"),
           "  the line names them: %s", line ? line : "(null)");
        free(line);
    }
    json_decref(f);
    stream_free(&s);
}

/* Negative, over time: releases of at least k people at a time, each cell
 * 0 or at least k: nothing to find in either version or their difference. */
static void safe_releases(void)
{
    stream_t s;
    int n;
    json_t *f;
    stream_init(&s, 0);
    setup(&s, "[{\"group\":\"AIM_BME\",\"minPercent\":20}]", 1);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 5, "a", 1, "A1", "MALE");
    record(&s);
    join_n(&s, 5, "v", 1, "W1", "FEMALE");
    record(&s);
    join_n(&s, 5, "b", 1, "B1", "MALE");
    record(&s);
    is_int(json_array_size(s.lines), 6, "three releases of two topics");
    f = run(s.lines, 1, &n);
    is_int(n, 0, "no finding in safe releases");
    if (n)
        dump(f);
    json_decref(f);
    stream_free(&s);
}

/* Negative, across documents: two cohorts whose cells are all 0 or at
 * least k, and their roll-up: nothing to combine into a leak. */
static void safe_two_cohorts(void)
{
    stream_t s;
    int n;
    json_t *f;
    stream_init(&s, 0);
    setup(&s, "[]", 2);
    join_n(&s, 5, "w", 1, "W1", "FEMALE");
    join_n(&s, 6, "a", 1, "A1", "MALE");
    join_n(&s, 7, "v", 2, "W1", "FEMALE");
    join_n(&s, 5, "b", 2, "B1", "MALE");
    record(&s);
    f = run(s.lines, 0, &n);
    is_int(n, 0, "two safe cohorts and their roll-up: no finding");
    if (n)
        dump(f);
    json_decref(f);
    stream_free(&s);
}

/* funnel_reached.by_ethnic_group (issue 18, section 4): a doc publishing a
 * group at two stages gives the drop-outs between them by subtraction:
 * BLACK applied 6, shortlisted 5 pins the one Black applicant not
 * shortlisted; with SHORTLISTED hidden (and zeros hidden) nothing is
 * found; a change of a published cell between two releases is found. */
static json_t *funnel_doc(const char *black_applied, const char *black_short, long white)
{
    static const char *const ST[] = {
        "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};
    json_t *doc = hand_doc(16, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.BLACK=6 "
                               "ethnicity.B1=6 bme=6 gender.FEMALE=8 gender.MALE=8");
    json_t *by = json_object(), *fr = json_object();
    for (int s = 0; s < 6; s++) {
        json_t *g = json_object();
        const char *b = s == 0 ? black_applied : s == 1 ? black_short : "5";
        long tb = s == 0 ? 6 : 5;
        for (int i = 0; i < 6; i++)
            json_object_set_new(g, GROUPS[i], json_integer(0));
        json_object_set_new(g, "WHITE", json_integer(white));
        json_object_set_new(g, "BLACK",
                            strcmp(b, "null") == 0 ? json_null() : json_integer(atol(b)));
        json_object_set_new(
            by, ST[s],
            json_pack("{s:I,s:o}", "total", (json_int_t)(white + tb), "ethnic_group", g));
    }
    json_object_set_new(fr, "by_ethnic_group", by);
    json_object_set_new(fr, "suppressed_may_be_zero", json_true());
    json_object_set_new(doc, "funnel_reached", fr);
    return doc;
}

static void funnel_by_group(void)
{
    int n;
    json_t *lines = one_line("release/cohort/x/c1", 4, funnel_doc("6", "5", 10)), *f;
    const json_t *x;
    f = run(lines, 0, &n);
    x = find(f, "bounded-below-k", NULL, "funnel_reached.dropped_after.APPLIED.ethnic_group.BLACK");
    if (!x)
        x = find(f, "pinned", NULL, "funnel_reached.dropped_after.APPLIED.ethnic_group.BLACK");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 1,
       "funnel: BLACK 6 applied, 5 shortlisted: the one dropped is found");
    if (!x)
        dump(f);
    json_decref(f);
    json_decref(lines);

    /* BLACK APPLIED hidden alone in its stage row: the row's total (a
     * root, 16) less the published groups pins it, like any table. */
    lines = one_line("release/cohort/x/c1", 5, funnel_doc("null", "5", 10));
    f = run(lines, 0, &n);
    ok(find(f, NULL, NULL, "funnel_reached.by_ethnic_group.APPLIED.ethnic_group.BLACK") != NULL,
       "funnel: one hidden group in a stage row with zeros is pinned by the total");
    json_decref(f);
    json_decref(lines);

    /* history: WHITE 10 -> 11 applied between two releases */
    {
        json_t *l1 = one_line("release/cohort/x/c1", 6, funnel_doc("6", "5", 10)),
               *l2 = one_line("release/cohort/x/c1", 7, funnel_doc("6", "5", 11));
        lines = json_array();
        json_array_extend(lines, l1);
        json_array_extend(lines, l2);
        json_decref(l1);
        json_decref(l2);
    }
    f = run(lines, 1, &n);
    x = find(f, "difference", NULL, "funnel_reached.by_ethnic_group.APPLIED.ethnic_group.WHITE");
    ok(x && num(x, "lo") == 1, "funnel: the one White applicant who joined is found by difference");
    json_decref(f);
    json_decref(lines);
}

/* retention.left_by_ethnic_group (issue 18, section 6): one more White
 * leaver between two releases, both publishing WHITE, is found. */
static json_t *left_doc(long white, long black)
{
    json_t *doc = hand_doc(16, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.BLACK=6 "
                               "ethnicity.B1=6 bme=6 gender.FEMALE=8 gender.MALE=8");
    json_t *g = json_object();
    for (int i = 0; i < 6; i++)
        json_object_set_new(g, GROUPS[i], json_integer(0));
    json_object_set_new(g, "WHITE", json_integer(white));
    json_object_set_new(g, "BLACK", json_integer(black));
    json_object_set_new(doc, "retention",
                        json_pack("{s:{s:I,s:o,s:b}}", "left_by_ethnic_group", "total",
                                  (json_int_t)(white + black), "ethnic_group", g,
                                  "suppressed_may_be_zero", 1));
    return doc;
}

static void leavers_by_group(void)
{
    int n;
    json_t *l1 = one_line("release/cohort/x/c1", 8, left_doc(5, 5)),
           *l2 = one_line("release/cohort/x/c1", 9, left_doc(6, 5)), *lines = json_array(), *f;
    const json_t *x;
    json_array_extend(lines, l1);
    json_array_extend(lines, l2);
    json_decref(l1);
    json_decref(l2);
    f = run(lines, 1, &n);
    x = find(f, "difference", NULL, "retention.left_by_ethnic_group.ethnic_group.WHITE");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 1,
       "leavers: the one White leaver between releases is found by difference");
    json_decref(f);
    json_decref(lines);
}

/* The chained tables (issue 18, section 6): a block of 5 stages (names
 * st) with White w[s] and Black b[s] at each stage (the others 0); Black
 * is hidden (null) where hide[s]; the totals are published. */
static json_t *chain_block(const char *const st[5], const long w[5], const long b[5],
                           const int hide[5])
{
    json_t *by = json_object();
    for (int s = 0; s < 5; s++) {
        json_t *g = json_object();
        for (int i = 0; i < 6; i++)
            json_object_set_new(g, GROUPS[i], json_integer(0));
        json_object_set_new(g, "WHITE", json_integer(w[s]));
        json_object_set_new(g, "BLACK", hide[s] ? json_null() : json_integer(b[s]));
        json_object_set_new(
            by, st[s],
            json_pack("{s:I,s:o}", "total", (json_int_t)(w[s] + b[s]), "ethnic_group", g));
    }
    return json_pack("{s:o,s:b,s:i}", "by_ethnic_group", by, "suppressed_may_be_zero", 1,
                     "threshold", 5);
}

static const char *const RST[] = {"ENROLLED", "RETAINED_AT_END", "RETAINED_6_MONTHS_AFTER",
                                  "RETAINED_12_MONTHS_AFTER", "RETAINED_24_MONTHS_AFTER"};
static const char *const AST[] = {"COMPLETED", "PROMOTED_WITHIN_24_MONTHS",
                                  "PROMOTED_WITHIN_12_MONTHS", "PROMOTED_WITHIN_6_MONTHS",
                                  "PROMOTED_DURING"};

/* A cohort release with the retained chain (White w, Black b, hide), the
 * funnel publishing White w[0] and Black b[0] at every stage after APPLIED
 * (or, fhide, hiding both there: the funnel alone then bounds Black
 * ENROLLED to b[0]..b[0] + 1 only), and, when left_black >= 0, the leavers with Black
 * hidden (White w[0] - w[3]). */
static json_t *retained_doc(const long w[5], const long b[5], const int hide[5], int fhide,
                            long left_black)
{
    char ap[32], sh[32];
    json_t *doc, *fr;
    snprintf(ap, sizeof ap, "%ld", b[0] + 1);
    snprintf(sh, sizeof sh, "%ld", b[0]);
    doc = funnel_doc(ap, sh, w[0]);
    fr = json_object_get(json_object_get(doc, "funnel_reached"), "by_ethnic_group");
    for (int s = 1; s < 6; s++) { /* b[0] Black at every stage after APPLIED */
        static const char *const ST[] = {"APPLIED",     "SHORTLISTED",
                                         "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
                                         "OFFERED",     "ENROLLED"};
        json_t *so = json_object_get(fr, ST[s]);
        json_object_set_new(so, "total", json_integer(w[0] + b[0]));
        json_object_set_new(json_object_get(so, "ethnic_group"), "BLACK",
                            fhide ? json_null() : json_integer(b[0]));
        if (fhide)
            json_object_set_new(json_object_get(so, "ethnic_group"), "WHITE", json_null());
    }
    json_object_set_new(json_object_get(fr, "APPLIED"), "total", json_integer(w[0] + b[0] + 1));
    json_object_set_new(doc, "retention",
                        json_pack("{s:o}", "retained", chain_block(RST, w, b, hide)));
    if (left_black >= 0) {
        json_t *g = json_object();
        for (int i = 0; i < 6; i++)
            json_object_set_new(g, GROUPS[i], json_integer(0));
        json_object_set_new(g, "WHITE", json_integer(w[0] - w[3]));
        json_object_set_new(g, "BLACK", json_null());
        json_object_set_new(json_object_get(doc, "retention"), "left_by_ethnic_group",
                            json_pack("{s:I,s:o,s:b}", "total",
                                      (json_int_t)(w[0] - w[3] + left_black), "ethnic_group", g,
                                      "suppressed_may_be_zero", 1));
    }
    return doc;
}

static void chained_tables(void)
{
    int n;
    json_t *lines, *f, *doc;
    const json_t *x;
    static const long w[5] = {10, 10, 10, 10, 10}, b[5] = {5, 4, 4, 4, 4};
    static const int none[5] = {0}, end[5] = {0, 1, 1, 1, 1};

    /* Black 5 enrolled, 4 retained at the end: the one who left is pinned */
    lines = one_line("release/cohort/x/c1", 4, retained_doc(w, b, none, 0, -1));
    f = run(lines, 0, &n);
    x = find(f, "pinned", NULL,
             "retention.retained.dropped_before.RETAINED_AT_END.ethnic_group.BLACK");
    ok(x && num(x, "lo") == 1 && num(x, "hi") == 1,
       "retained: Black 5 enrolled, 4 at the end: the one who left is found (a drop-out)");
    if (!x)
        dump(f);
    json_decref(f);
    json_decref(lines);

    /* Black hidden after ENROLLED but alone in each stage row (the others
     * published, 0): the stage total pins it (complementary suppression
     * is needed, as in any table) */
    lines = one_line("release/cohort/x/c1", 4, retained_doc(w, b, end, 0, -1));
    f = run(lines, 0, &n);
    x = find(f, "pinned", NULL,
             "retention.retained.by_ethnic_group.RETAINED_AT_END.ethnic_group.BLACK");
    ok(x && num(x, "lo") == 4,
       "retained: a group hidden alone in a stage row is pinned by the total");
    json_decref(f);
    json_decref(lines);

    /* the ENROLLED stage is the funnel's: the funnel hides White and Black
     * after APPLIED, the chain publishes ENROLLED: the funnel's cell is
     * pinned (it is not by the funnel alone: checked below) */
    {
        static const long b2[5] = {6, 6, 6, 6, 6};
        lines = one_line("release/cohort/x/c1", 4, retained_doc(w, b2, none, 1, -1));
        f = run(lines, 0, &n);
        x = find(f, "pinned", NULL, "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.BLACK");
        ok(x && num(x, "lo") == 6,
           "retained: its ENROLLED stage is the funnel's ENROLLED (the same cells)");
        if (!x)
            dump(f);
        json_decref(f);
        json_decref(lines);
        doc = retained_doc(w, b2, none, 1, -1);
        json_object_del(doc, "retention");
        lines = one_line("release/cohort/x/c1", 4, doc);
        f = run(lines, 0, &n);
        ok(!find(f, NULL, NULL, "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.BLACK"),
           "  (the funnel alone does not pin it)");
        json_decref(f);
        json_decref(lines);
    }

    /* the leavers by ethnic group are the drop-outs up to 12 months after:
     * Black 8 enrolled, 6 retained 12 months after pins the hidden leavers */
    {
        static const long b3[5] = {8, 8, 7, 6, 6};
        static const int mid[5] = {0, 1, 1, 0, 0};
        lines = one_line("release/cohort/x/c1", 4, retained_doc(w, b3, mid, 0, 2));
        f = run(lines, 0, &n);
        x = find(f, NULL, NULL, "retention.left_by_ethnic_group.ethnic_group.BLACK");
        ok(x && num(x, "hi") == 2,
           "retained: the leavers' hidden Black cell is tied to its drop-outs (8 - 6 = 2)");
        if (!x)
            dump(f);
        json_decref(f);
        json_decref(lines);
    }

    /* history: White retained at the end 10 -> 9 between two releases */
    {
        static const long w2[5] = {10, 9, 9, 9, 9}, bb[5] = {6, 6, 6, 6, 6};
        json_t *l1 = one_line("release/cohort/x/c1", 6, retained_doc(w, bb, none, 0, -1)),
               *l2 = one_line("release/cohort/x/c1", 7, retained_doc(w2, bb, none, 0, -1));
        json_object_set_new(json_object_get(json_array_get(l2, 0), "doc"), "funnel_reached",
                            json_deep_copy(json_object_get(
                                json_object_get(json_array_get(l1, 0), "doc"), "funnel_reached")));
        lines = json_array();
        json_array_extend(lines, l1);
        json_array_extend(lines, l2);
        json_decref(l1);
        json_decref(l2);
    }
    f = run(lines, 1, &n);
    x = find(f, "difference", NULL,
             "retention.retained.by_ethnic_group.RETAINED_AT_END.ethnic_group.WHITE");
    ok(x && num(x, "lo") == -1,
       "retained: the White leaver between releases is found by difference");
    json_decref(f);
    json_decref(lines);

    /* after completion: White 10 completed, 8 promoted during: the 2 not
     * promoted during are found; the stages after the end are a chain too */
    {
        static const long wa[5] = {10, 9, 9, 9, 8}, ba[5] = {6, 6, 6, 6, 6};
        doc = hand_doc(16, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.BLACK=6 "
                           "ethnicity.B1=6 bme=6 gender.FEMALE=8 gender.MALE=8");
        json_object_set_new(doc, "progression",
                            json_pack("{s:o}", "after_completion", chain_block(AST, wa, ba, none)));
        lines = one_line("release/cohort/x/c1", 4, doc);
        f = run(lines, 0, &n);
        x = find(f, NULL, NULL,
                 "progression.after_completion.dropped_before.PROMOTED_DURING.ethnic_group.WHITE");
        ok(x && num(x, "lo") == 2 && num(x, "hi") == 2,
           "after completion: 10 completed, 8 promoted during: the 2 are found");
        x = find(
            f, NULL, NULL,
            "progression.after_completion.dropped_before.PROMOTED_WITHIN_24_MONTHS.ethnic_group."
            "WHITE");
        ok(x && num(x, "lo") == 1, "after completion: 10 completed, 9 within 24 months: found");
        json_decref(f);
        json_decref(lines);
    }
}

/* The median days to promotion by ethnic group (issue 18, section 6): a
 * release carrying a number there is a finding (a group's median can be
 * one person's value; two versions bound a newcomer's), the withheld block
 * release.c publishes is not. */
static void median_by_group(void)
{
    int n;
    json_t *doc = hand_doc(16, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.BLACK=6 "
                               "ethnicity.B1=6 bme=6 gender.FEMALE=8 gender.MALE=8"),
           *lines, *f;
    const json_t *x;
    json_object_set_new(doc, "progression",
                        json_pack("{s:{s:{s:i}}}",
                                  "median_days_after_end_to_substantive_promotion_by_ethnic_group",
                                  "ethnic_group", "BLACK", 240));
    lines = one_line("release/cohort/x/c1", 8, doc);
    f = run(lines, 1, &n);
    x = find(f, "median", "release/cohort/x/c1",
             "progression.median_days_after_end_to_substantive_promotion_by_ethnic_group."
             "ethnic_group.BLACK");
    ok(x != NULL, "median: a published median of a group is a finding");
    json_decref(f);
    json_decref(lines);
    doc = hand_doc(16, "ethnic_group.WHITE=10 ethnicity.W1=10 ethnic_group.BLACK=6 "
                       "ethnicity.B1=6 bme=6 gender.FEMALE=8 gender.MALE=8");
    json_object_set_new(doc, "progression",
                        json_pack("{s:{s:b,s:s}}",
                                  "median_days_after_end_to_substantive_promotion_by_ethnic_group",
                                  "withheld", 1, "reason", "median_not_auditable"));
    lines = one_line("release/cohort/x/c1", 8, doc);
    f = run(lines, 1, &n);
    ok(!find(f, "median", NULL, NULL), "median: the withheld block is no finding");
    json_decref(f);
    json_decref(lines);
}

int main(void)
{
    hand_interval();
    hand_forced_groups();
    hand_safe();
    hand_published_small();
    hand_aim();
    bad_input();
    one_small_cell();
    zeros();
    one_joins();
    one_leaves();
    aims_flip();
    two_cohorts();
    safe_releases();
    safe_two_cohorts();
    funnel_by_group();
    leavers_by_group();
    chained_tables();
    median_by_group();
    return tap_done();
}
