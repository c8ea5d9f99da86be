/* t_proj.c: unit tests for the programme status projection (daemon/proj*.c).
 * Events are written as proto3 JSON and parsed with cohort_json_to_event,
 * the same mapping the agents use. The examples directory is found through
 * COHORT_SOURCE_DIR (compile definition) or the environment variable of the
 * same name, else the current directory. Longer than 1,000 lines on
 * purpose: one TAP file per module (the project's rule), and the projection's
 * rules, refusals and examples are one module's contract. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_json.h"
#include "proj.h"
#include "suppress.h"
#include "tap.h"

#ifndef COHORT_SOURCE_DIR
#define COHORT_SOURCE_DIR "."
#endif

#define OK 0
#define C_NO_BODY COHORT__V1__REJECT_CODE__REJECT_NO_BODY
#define C_BAD_VALUE COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE
#define C_PROG COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_PROGRAMME
#define C_COHORT COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_COHORT
#define C_PERSON COHORT__V1__REJECT_CODE__REJECT_UNKNOWN_PARTICIPANT
#define C_TRANS COHORT__V1__REJECT_CODE__REJECT_BAD_TRANSITION
#define C_LMS COHORT__V1__REJECT_CODE__REJECT_NO_LINE_MANAGER_SUPPORT
#define C_NOT_ENROLLED COHORT__V1__REJECT_CODE__REJECT_NOT_ENROLLED
#define C_AGENCY COHORT__V1__REJECT_CODE__REJECT_AGENCY_NOT_IN_COHORT
#define C_ROLE COHORT__V1__REJECT_CODE__REJECT_WRONG_ROLE

static char WHY[256]; /* reason of the last apply */

/* ------------------------------------------------------------ events --- */

/* Formats one JSON event and applies it at the next seq. */
static int ev(proj_t *p, const char *fmt, ...)
{
    char buf[4096], err[256];
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
    rc = proj_apply(p, e, proj_seq(p) + 1, WHY, sizeof WHY);
    cohort__v1__event__free_unpacked(e, NULL);
    return rc;
}

#define COMPONENTS                                                                                 \
    "\"participantComponents\":["                                                                  \
    "{\"kind\":\"TRAINING_COURSE\",\"count\":1,\"minutesEach\":1440,\"label\":\"course\"},"        \
    "{\"kind\":\"CALL_BACK\",\"count\":2,\"minutesEach\":240,\"label\":\"call-back\"},"            \
    "{\"kind\":\"COACHING\",\"count\":6,\"minutesEach\":120,\"label\":\"coaching\"}],"             \
    "\"mentorComponents\":["                                                                       \
    "{\"kind\":\"TRAINING_COURSE\",\"count\":1,\"minutesEach\":960,\"label\":\"course\"},"         \
    "{\"kind\":\"CALL_BACK\",\"count\":2,\"minutesEach\":240,\"label\":\"call-back\"},"            \
    "{\"kind\":\"COACHING\",\"count\":6,\"minutesEach\":120,\"label\":\"coaching\"}]"

/* A Step-Forward-shaped programme: participants 1440 + 2*240 + 6*120 =
 * 2640 minutes; mentors 960 + 2*240 + 6*120 = 2160. */
static int programme(proj_t *p, const char *id)
{
    return ev(p,
              "{\"agency\":\"board\",\"occurredAt\":\"2009-01-01T09:00:00Z\","
              "\"programmeDefined\":{\"programmeId\":\"%s\",\"name\":\"Test %s\"," COMPONENTS
              ",\"aims\":[{\"group\":\"AIM_BME\",\"minPercent\":50},"
              "{\"group\":\"AIM_FEMALE\",\"minPercent\":40},"
              "{\"group\":\"AIM_DISABLED\",\"minPercent\":10},"
              "{\"group\":\"AIM_LGB\",\"minPercent\":5}],\"durationMonths\":6}}",
              id, id);
}

/* Cohort 2009-04-01..2009-09-30; agencies is a JSON array text. */
static int cohort(proj_t *p, const char *prog, const char *id, const char *agencies)
{
    return ev(p,
              "{\"agency\":\"board\",\"occurredAt\":\"2009-01-02T09:00:00Z\","
              "\"cohortOpened\":{\"programmeId\":\"%s\",\"cohortId\":\"%s\",\"places\":10,"
              "\"startsOn\":\"2009-04-01\",\"endsOn\":\"2009-09-30\",\"agencies\":%s}}",
              prog, id, agencies);
}

static int person_full(proj_t *p, const char *agency, const char *ref, const char *role,
                       const char *eth, const char *gender, const char *dis, const char *ori)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-01-03T09:00:00Z\","
              "\"participantRegistered\":{\"participantRef\":\"%s\",\"role\":\"%s\","
              "\"ethnicity\":\"%s\",\"gender\":\"%s\",\"disability\":\"%s\","
              "\"sexualOrientation\":\"%s\",\"grade\":\"band 6\"}}",
              agency, ref, role, eth, gender, dis, ori);
}

static int person(proj_t *p, const char *agency, const char *ref, const char *role)
{
    return person_full(p, agency, ref, role, "B1", "FEMALE", "NOT_DISABLED", "HETEROSEXUAL");
}

static int stage_at(proj_t *p, const char *agency, const char *ref, const char *prog,
                    const char *coh, const char *stage, const char *when)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"%s\",\"enrolmentChanged\":{"
              "\"participantRef\":\"%s\",\"programmeId\":\"%s\",\"cohortId\":\"%s\","
              "\"stage\":\"%s\"}}",
              agency, when, ref, prog, coh, stage);
}

static int stage(proj_t *p, const char *agency, const char *ref, const char *prog, const char *coh,
                 const char *st)
{
    return stage_at(p, agency, ref, prog, coh, st, "2009-04-01T09:00:00Z");
}

/* Walks a participant from nothing to ENROLLED; returns the first non-zero code. */
static int enrol(proj_t *p, const char *agency, const char *ref, const char *prog, const char *coh)
{
    static const char *path[] = {"APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
                                 "OFFERED", "ENROLLED"};
    for (size_t i = 0; i < 6; i++) {
        int rc = stage(p, agency, ref, prog, coh, path[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int attend(proj_t *p, const char *agency, const char *ref, const char *prog, const char *coh,
                  const char *kind, const char *session, const char *status, int minutes)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-05-01T09:00:00Z\","
              "\"attendanceRecorded\":{\"participantRef\":\"%s\",\"programmeId\":\"%s\","
              "\"cohortId\":\"%s\",\"component\":\"%s\",\"sessionId\":\"%s\","
              "\"sessionDate\":\"2009-05-01\",\"status\":\"%s\",\"minutes\":%d}}",
              agency, ref, prog, coh, kind, session, status, minutes);
}

/* prog and coh may be "" (not given). */
static int promote(proj_t *p, const char *agency, const char *ref, const char *kind, const char *on,
                   const char *prog, const char *coh)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-06-01T09:00:00Z\","
              "\"promotionRecorded\":{\"participantRef\":\"%s\",\"kind\":\"%s\","
              "\"fromGrade\":\"a\",\"toGrade\":\"b\",\"effectiveOn\":\"%s\","
              "\"programmeId\":\"%s\",\"cohortId\":\"%s\"}}",
              agency, ref, kind, on, prog, coh);
}

/* A MentorAssigned sent by agency; magency is its mentorAgency, or NULL
 * for none (the field absent: the sender's own agency). */
static int mentor_at(proj_t *p, const char *agency, const char *mref, const char *magency,
                     const char *pref, const char *prog, const char *coh)
{
    char ma[128] = "";
    if (magency)
        snprintf(ma, sizeof ma, ",\"mentorAgency\":\"%s\"", magency);
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-04-03T09:00:00Z\","
              "\"mentorAssigned\":{\"mentorRef\":\"%s\",\"participantRef\":\"%s\","
              "\"programmeId\":\"%s\",\"cohortId\":\"%s\"%s}}",
              agency, mref, pref, prog, coh, ma);
}

/* A MentorAssigned without mentorAgency. */
static int mentor(proj_t *p, const char *agency, const char *mref, const char *pref,
                  const char *prog, const char *coh)
{
    return mentor_at(p, agency, mref, NULL, pref, prog, coh);
}

/* ---------------------------------------------------------- documents --- */

/* The most digits after a decimal point in any number of the JSON text s
 * (digits inside strings count too, which only makes the check stricter). */
static int max_decimals(const char *s)
{
    int most = 0;
    for (const char *q = s; *q; q++) {
        if (*q != '.' || q == s || q[-1] < '0' || q[-1] > '9')
            continue;
        int n = 0;
        while (q[1 + n] >= '0' && q[1 + n] <= '9')
            n++;
        if (n > most)
            most = n;
    }
    return most;
}

static json_t *doc(const proj_t *p, const char *topic)
{
    char *s = proj_render(p, topic);
    json_t *d = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return d;
}

/* A topic's live document with the breakdowns the suppression rule gives
 * (proj_render_rule_only): the rule itself, before any release gate. */
static json_t *rdoc(const proj_t *p, const char *topic)
{
    char *s = proj_render_rule_only(p, topic, SUPPRESS_ZEROS_HIDDEN);
    json_t *d = s ? json_loads(s, 0, NULL) : NULL;
    free(s);
    return d;
}

/* Follows a dotted path; "people.ref=p1" picks the array element whose
 * "ref" is p1; a number picks an array index. */
static json_t *at(json_t *d, const char *path)
{
    char buf[256], *save = NULL, *tok;
    snprintf(buf, sizeof buf, "%s", path);
    for (tok = strtok_r(buf, ".", &save); d && tok; tok = strtok_r(NULL, ".", &save)) {
        char *eq = strchr(tok, '=');
        if (json_is_array(d) && eq) {
            json_t *hit = NULL, *it;
            size_t i;
            *eq = '\0';
            json_array_foreach(d, i, it)
            {
                const char *v = json_string_value(json_object_get(it, tok));
                if (v && strcmp(v, eq + 1) == 0)
                    hit = it;
            }
            d = hit;
        } else if (json_is_array(d)) {
            d = json_array_get(d, (size_t)atoi(tok));
        } else {
            d = json_object_get(d, tok);
        }
    }
    return d;
}

static long long I(json_t *d, const char *path)
{
    json_t *v = at(d, path);
    if (!json_is_integer(v)) {
        diag("%s is not an integer", path);
        return -999999;
    }
    return json_integer_value(v);
}

static double RL(json_t *d, const char *path)
{
    json_t *v = at(d, path);
    if (!json_is_number(v)) {
        diag("%s is not a number", path);
        return -1;
    }
    return json_number_value(v);
}

static int NUL(json_t *d, const char *path)
{
    return json_is_null(at(d, path));
}

static int TRUE_(json_t *d, const char *path)
{
    return json_is_true(at(d, path));
}

static const char *STR(json_t *d, const char *path)
{
    return json_string_value(at(d, path));
}

/* Compact text of a sub-document, for comparing lists. */
static char *text_of(json_t *d, const char *path)
{
    json_t *v = at(d, path);
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("(missing)");
}

static void is_text(json_t *d, const char *path, const char *want, const char *name)
{
    char *got = text_of(d, path);
    is_str(got, want, "%s", name);
    free(got);
}

/* The dirty topics joined with spaces. */
static char *dirty(proj_t *p)
{
    char **v, *out;
    size_t n = proj_take_dirty(p, &v), len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    out = calloc(1, len);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(out, " ");
        strcat(out, v[i]);
    }
    proj_strv_free(v, n);
    return out;
}

static void is_dirty(proj_t *p, const char *want, const char *name)
{
    char *got = dirty(p);
    is_str(got, want, "%s", name);
    free(got);
}

/* ---------------------------------------------------------- transitions --- */

static const char *const stage_names[12] = {
    "none",     "APPLIED",     "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED",
    "OFFERED",  "ENROLLED",    "COMPLETED",   "WITHDRAWN",   "REMOVED_BY_BOARD",
    "DECLINED", "NOT_SELECTED"};

/* The machine as the brief states it: allowed next stages of each stage. */
static const char *const allowed[12] = {
    [0] = " APPLIED ",
    [1] = " SHORTLISTED WITHDRAWN NOT_SELECTED ",
    [2] = " INTERVIEWED WITHDRAWN NOT_SELECTED ",
    [3] = " LINE_MANAGER_SUPPORTED WITHDRAWN NOT_SELECTED ",
    [4] = " OFFERED WITHDRAWN NOT_SELECTED ",
    [5] = " ENROLLED WITHDRAWN DECLINED ",
    [6] = " COMPLETED WITHDRAWN REMOVED_BY_BOARD ",
    [7] = " ",
    [8] = " ",
    [9] = " ",
    [10] = " ",
    [11] = " ", /* terminal */
};

/* A legal way to reach each stage (0-terminated stage numbers). */
static const int path_to[12][9] = {
    [0] = {0},
    [1] = {1, 0},
    [2] = {1, 2, 0},
    [3] = {1, 2, 3, 0},
    [4] = {1, 2, 3, 4, 0},
    [5] = {1, 2, 3, 4, 5, 0},
    [6] = {1, 2, 3, 4, 5, 6, 0},
    [7] = {1, 2, 3, 4, 5, 6, 7, 0},
    [8] = {1, 8, 0},
    [9] = {1, 2, 3, 4, 5, 6, 9, 0},
    [10] = {1, 2, 3, 4, 5, 10, 0},
    [11] = {1, 11, 0},
};

static void test_transitions(void)
{
    proj_t *p = proj_new(NULL);
    char ref[64], word[64];
    diag("enrolment state machine: every (from, to) pair");
    is_int(programme(p, "tp"), OK, "programme defined");
    is_int(cohort(p, "tp", "m", "[\"ag-a\"]"), OK, "cohort opened");
    for (int from = 0; from < 12; from++)
        for (int to = 1; to < 12; to++) {
            int want, setup = 0, rc;
            char *cb, *ab, *sb, *ca, *aa, *sa;
            snprintf(ref, sizeof ref, "r%d-%d", from, to);
            snprintf(word, sizeof word, " %s ", stage_names[to]);
            setup |= person(p, "ag-a", ref, "PARTICIPANT");
            for (int i = 0; path_to[from][i]; i++)
                setup |= stage(p, "ag-a", ref, "tp", "m", stage_names[path_to[from][i]]);
            if (setup) {
                ok(0, "setup for %s -> %s", stage_names[from], stage_names[to]);
                continue;
            }
            if (strstr(allowed[from], word))
                want = OK;
            else if (to == 5 && from <= 3)
                want = C_LMS;
            else
                want = C_TRANS;
            cb = proj_render(p, "cohort/tp/m");
            ab = proj_render(p, "agency/ag-a/tp/m");
            sb = proj_save(p);
            rc = stage(p, "ag-a", ref, "tp", "m", stage_names[to]);
            is_int(rc, want, "%s -> %s gives %d", stage_names[from], stage_names[to], want);
            if (want != OK) {
                ca = proj_render(p, "cohort/tp/m");
                aa = proj_render(p, "agency/ag-a/tp/m");
                sa = proj_save(p);
                ok(strcmp(cb, ca) == 0 && strcmp(ab, aa) == 0 && strcmp(sb, sa) == 0,
                   "  rejected %s -> %s leaves every document and the state unchanged",
                   stage_names[from], stage_names[to]);
                free(ca);
                free(aa);
                free(sa);
            }
            free(cb);
            free(ab);
            free(sb);
        }

    diag("reasons");
    person(p, "ag-a", "why1", "PARTICIPANT");
    stage(p, "ag-a", "why1", "tp", "m", "APPLIED");
    is_int(stage(p, "ag-a", "why1", "tp", "m", "ENROLLED"), C_TRANS, "APPLIED -> ENROLLED");
    is_str(WHY, "cannot go from APPLIED to ENROLLED", "reason names both stages");
    is_int(stage(p, "ag-a", "why1", "tp", "m", "OFFERED"), C_LMS, "APPLIED -> OFFERED");
    ok(strstr(WHY, "line manager's support") != NULL,
       "reason: an offer needs the line manager's support");
    person(p, "ag-a", "why2", "PARTICIPANT");
    is_int(stage(p, "ag-a", "why2", "tp", "m", "SHORTLISTED"), C_TRANS, "none -> SHORTLISTED");
    is_str(WHY, "cannot go from none to SHORTLISTED", "reason for a first stage");
    ok(strstr(WHY, "why") == NULL, "reasons never carry the ref");

    diag("mentors and coaches are nominated straight to ENROLLED");
    person(p, "ag-a", "men1", "MENTOR");
    person(p, "ag-a", "coa1", "COACH");
    person(p, "ag-a", "par1", "PARTICIPANT");
    is_int(stage(p, "ag-a", "men1", "tp", "m", "ENROLLED"), OK, "MENTOR none -> ENROLLED");
    is_int(stage(p, "ag-a", "coa1", "tp", "m", "ENROLLED"), OK, "COACH none -> ENROLLED");
    is_int(stage(p, "ag-a", "par1", "tp", "m", "ENROLLED"), C_TRANS,
           "PARTICIPANT none -> ENROLLED");
    is_int(stage(p, "ag-a", "men1", "tp", "m", "COMPLETED"), OK, "MENTOR ENROLLED -> COMPLETED");
    person(p, "ag-a", "men2", "MENTOR");
    is_int(stage(p, "ag-a", "men2", "tp", "m", "APPLIED"), OK, "a mentor may also apply");
    is_int(stage(p, "ag-a", "men2", "tp", "m", "ENROLLED"), C_TRANS,
           "... then follows the machine");
    is_int(stage(p, "ag-a", "men2", "tp", "m", "OFFERED"), C_LMS, "... including the offer rule");
    json_t *a = doc(p, "agency/ag-a/tp/m");
    is_str(STR(a, "people.ref=men1.enrolled_on"), "2009-04-01", "ENROLLED date recorded (UTC)");
    ok(NUL(a, "people.ref=men2.enrolled_on"), "no date before ENROLLED");
    json_decref(a);

    diag("unknown things and agencies");
    is_int(stage(p, "ag-a", "par1", "nope", "m", "APPLIED"), C_PROG, "unknown programme");
    is_int(stage(p, "ag-a", "par1", "tp", "nope", "APPLIED"), C_COHORT, "unknown cohort");
    is_int(stage(p, "ag-a", "ghost", "tp", "m", "APPLIED"), C_PERSON, "unregistered person");
    is_int(stage(p, "ag-b", "par1", "tp", "m", "APPLIED"), C_PERSON,
           "a ref is only known under its own agency");
    person(p, "ag-z", "out1", "PARTICIPANT");
    is_int(stage(p, "ag-z", "out1", "tp", "m", "APPLIED"), C_AGENCY, "agency not in the cohort");
    is_int(cohort(p, "nope", "x", "[\"ag-a\"]"), C_PROG, "cohort of an unknown programme");

    diag("bodies and sequence numbers");
    {
        Cohort__V1__Event e = COHORT__V1__EVENT__INIT;
        uint8_t id[16] = {1};
        char *before = proj_save(p), *after;
        e.event_id.data = id;
        e.event_id.len = 16;
        e.agency = "ag-a";
        e.occurred_at = 1;
        is_int(proj_apply(p, &e, proj_seq(p) + 1, WHY, sizeof WHY), C_NO_BODY, "no body");
        e.body_case = COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED; /* case set, body NULL */
        is_int(proj_apply(p, &e, proj_seq(p) + 1, WHY, sizeof WHY), C_NO_BODY,
               "body case without body");
        is_int(proj_apply(p, &e, proj_seq(p), WHY, sizeof WHY), -EINVAL, "seq must grow");
        after = proj_save(p);
        is_str(after, before, "state unchanged");
        free(before);
        free(after);
    }
    proj_destroy(&p);
    proj_destroy(&p);
    ok(p == NULL, "destroy nulls and is idempotent");
}

/* ---------------------------------------------- completion and risk --- */

/* Cohort c2 of programme tp, agencies ag-a and ag-b:
 *   p1, p2 (ag-a) and p3 (ag-b) participants; m1 (ag-b) a mentor.
 * Sessions (minutes credited in brackets; a session credits at most its
 * minutes_each; only PRESENT and LATE credit):
 *   course   TRAINING_COURSE  p1 PRESENT 1440 [1440]  p2 LATE 1200 [1200]  p3 PRESENT 1440 [1440]
 *   cb-1     CALL_BACK        p1 PRESENT 240 [240]    p2 ABSENT 0 [0]       p3 EXCUSED 0 [0]
 *   co-1     COACHING         p1 PRESENT 120 [120]    p2 PRESENT 150 [120]  p3 ABSENT 0 [0]
 *   co-2     COACHING         p1 PRESENT 100 [100]
 *   m-course TRAINING_COURSE  m1 PRESENT 960 [960]
 * Held for participants: course 1, call-backs 1 (of 2), coaching 2 (of 6):
 *   expected = 1*1440 + 1*240 + 2*120 = 1920; at risk below 0.75*1920 = 1440.
 *   p1: 1440 + 240 + 220 = 1900 / 2640 = 0.71969.. -> 0.7197, not at risk
 *   p2: 1200 +   0 + 120 = 1320 / 2640 = 0.5,       at risk (1320 < 1440)
 *   p3: 1440 +   0 +   0 = 1440 / 2640 = 0.54545.. -> 0.5455, not at risk (not below)
 *   mean = (1900 + 1320 + 1440) / (3 * 2640) = 4660 / 7920 = 0.58838.. -> 0.5884
 * Held for mentors: course 1 -> expected 960; m1: 960 / 2160 = 0.4444. */
static void build_c2(proj_t *p)
{
    int rc = 0;
    rc |= programme(p, "tp");
    rc |= cohort(p, "tp", "c2", "[\"ag-a\",\"ag-b\"]");
    rc |= person(p, "ag-a", "p1", "PARTICIPANT");
    rc |= person(p, "ag-a", "p2", "PARTICIPANT");
    rc |= person(p, "ag-b", "p3", "PARTICIPANT");
    rc |= person(p, "ag-b", "m1", "MENTOR");
    rc |= enrol(p, "ag-a", "p1", "tp", "c2");
    rc |= enrol(p, "ag-a", "p2", "tp", "c2");
    rc |= enrol(p, "ag-b", "p3", "tp", "c2");
    rc |= stage(p, "ag-b", "m1", "tp", "c2", "ENROLLED");
    rc |= attend(p, "ag-a", "p1", "tp", "c2", "TRAINING_COURSE", "course", "PRESENT", 1440);
    rc |= attend(p, "ag-a", "p2", "tp", "c2", "TRAINING_COURSE", "course", "LATE", 1200);
    rc |= attend(p, "ag-b", "p3", "tp", "c2", "TRAINING_COURSE", "course", "PRESENT", 1440);
    rc |= attend(p, "ag-a", "p1", "tp", "c2", "CALL_BACK", "cb-1", "PRESENT", 240);
    rc |= attend(p, "ag-a", "p2", "tp", "c2", "CALL_BACK", "cb-1", "ABSENT", 0);
    rc |= attend(p, "ag-b", "p3", "tp", "c2", "CALL_BACK", "cb-1", "EXCUSED", 0);
    rc |= attend(p, "ag-a", "p1", "tp", "c2", "COACHING", "co-1", "PRESENT", 120);
    rc |= attend(p, "ag-a", "p2", "tp", "c2", "COACHING", "co-1", "PRESENT", 150);
    rc |= attend(p, "ag-b", "p3", "tp", "c2", "COACHING", "co-1", "ABSENT", 0);
    rc |= attend(p, "ag-a", "p1", "tp", "c2", "COACHING", "co-2", "PRESENT", 100);
    rc |= attend(p, "ag-b", "m1", "tp", "c2", "TRAINING_COURSE", "m-course", "PRESENT", 960);
    is_int(rc, OK, "cohort c2 built");
}

static void test_completion(void)
{
    proj_t *p = proj_new(NULL);
    json_t *a, *b, *c;
    diag("completion and at-risk on a hand-computed cohort");
    build_c2(p);
    a = doc(p, "agency/ag-a/tp/c2");
    b = doc(p, "agency/ag-b/tp/c2");
    c = doc(p, "cohort/tp/c2");
    is_int(I(a, "people.ref=p1.credited_minutes"), 1900, "p1 credited 1900");
    is_int(I(a, "people.ref=p1.required_minutes"), 2640, "p1 required 2640");
    is_int(I(a, "people.ref=p1.expected_minutes"), 1920, "p1 expected 1920");
    ok(RL(a, "people.ref=p1.completion") == 0.7197, "p1 completion 0.7197");
    ok(!TRUE_(a, "people.ref=p1.at_risk"), "p1 not at risk");
    is_int(I(a, "people.ref=p1.components.COACHING.credited"), 220, "p1 coaching 120 + 100");
    is_int(I(a, "people.ref=p1.components.COACHING.required"), 720, "coaching required 6 x 120");
    is_int(I(a, "people.ref=p1.components.COACHING.sessions"), 2, "p1 two coaching sessions");
    is_int(I(a, "people.ref=p2.credited_minutes"), 1320,
           "p2 credited 1320 (LATE counts, 150 capped at 120)");
    ok(RL(a, "people.ref=p2.completion") == 0.5, "p2 completion 0.5");
    ok(TRUE_(a, "people.ref=p2.at_risk"), "p2 at risk: 1320 < 1440");
    is_int(I(a, "people.ref=p2.components.CALL_BACK.sessions"), 0, "ABSENT is not attended");
    is_int(I(a, "people.ref=p2.components.TRAINING_COURSE.credited"), 1200,
           "LATE credits its minutes");
    is_int(I(b, "people.ref=p3.credited_minutes"), 1440, "p3 credited 1440 (EXCUSED credits 0)");
    ok(RL(b, "people.ref=p3.completion") == 0.5455, "p3 completion 0.5455");
    ok(!TRUE_(b, "people.ref=p3.at_risk"), "p3 exactly at 0.75 of expected is not at risk");
    is_int(I(b, "people.ref=m1.required_minutes"), 2160, "mentor required 2160");
    is_int(I(b, "people.ref=m1.expected_minutes"), 960, "mentor sessions held separately");
    ok(RL(b, "people.ref=m1.completion") == 0.4444, "m1 completion 0.4444");
    is_int(json_array_size(at(a, "people")), 2, "ag-a sees its two people only");
    ok(at(a, "people.ref=p3") == NULL, "ag-a does not see ag-b's people");
    is_int(I(c, "completion.participants.enrolled"), 3, "3 enrolled participants");
    is_int(I(c, "completion.participants.complete"), 0, "none complete");
    ok(RL(c, "completion.participants.mean_completion") == 0.5884, "mean completion 0.5884");
    is_int(I(c, "completion.participants.at_risk"), 1, "one participant at risk");
    is_int(I(c, "completion.participants.required_minutes"), 2640, "participants need 2640");
    is_int(I(c, "completion.mentors.enrolled"), 1, "one mentor");
    is_int(I(c, "completion.mentors.at_risk"), 0, "mentor not at risk");
    is_int(I(c, "filled.participants"), 3, "filled 3");
    is_int(I(c, "filled.mentors"), 1, "mentors filled 1");
    is_int(I(c, "filled.vacant"), 7, "vacant 10 - 3");
    is_int(I(c, "funnel.participants.by_agency.ag-a.ENROLLED"), 2, "funnel by agency");
    is_int(I(c, "funnel.mentors.by_stage.ENROLLED"), 1, "mentor funnel");
    {
        char *s = proj_render(p, "cohort/tp/c2");
        ok(s && !strstr(s, "\"p1\"") && !strstr(s, "\"p2\"") && !strstr(s, "\"m1\""),
           "no refs in the cohort document");
        free(s);
    }
    {
        /* Ratios render with at most 4 decimals (docs/status.md), in the
         * daemon's documents and when a tool dumps them again with
         * PROJ_DUMP_FLAGS (cohortctl snapshot), not jansson's 17 digits. */
        char *sc = proj_render(p, "cohort/tp/c2"), *sa = proj_render(p, "agency/ag-a/tp/c2");
        json_t *r = json_real(0.9739), *back = sc ? json_loads(sc, 0, NULL) : NULL;
        char *sr = r ? json_dumps(r, JSON_ENCODE_ANY | PROJ_DUMP_FLAGS) : NULL;
        char *again = back ? json_dumps(back, PROJ_DUMP_FLAGS) : NULL;
        ok(sc && strstr(sc, "\"mean_completion\":0.5884"), "mean_completion renders as 0.5884");
        ok(sa && strstr(sa, "\"completion\":0.7197"), "a person's completion renders as 0.7197");
        ok(sc && max_decimals(sc) <= 4 && sa && max_decimals(sa) <= 4,
           "no number in the documents has more than 4 decimals");
        is_str(sr ? sr : "?", "0.9739", "json_real(0.9739) dumps as 0.9739 with PROJ_DUMP_FLAGS");
        ok(again && sc && strcmp(again, sc) == 0,
           "a document parsed and dumped again is unchanged");
        free(sc);
        free(sa);
        free(sr);
        free(again);
        json_decref(r);
        json_decref(back);
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);

    diag("attendance corrections replace by session id");
    /* co-2 for p1 becomes ABSENT: 1900 - 100 = 1800; held stays 2 (any status counts). */
    is_int(attend(p, "ag-a", "p1", "tp", "c2", "COACHING", "co-2", "ABSENT", 0), OK, "correction");
    a = doc(p, "agency/ag-a/tp/c2");
    is_int(I(a, "people.ref=p1.credited_minutes"), 1800, "replaced, not added: 1800");
    is_int(I(a, "people.ref=p1.components.COACHING.sessions"), 1, "one coaching session now");
    is_int(I(a, "people.ref=p1.expected_minutes"), 1920, "session still held");
    json_decref(a);
    is_int(attend(p, "ag-a", "p1", "tp", "c2", "COACHING", "co-2", "LATE", 90), OK,
           "second correction");
    a = doc(p, "agency/ag-a/tp/c2");
    is_int(I(a, "people.ref=p1.components.COACHING.credited"), 210, "latest record wins: 120 + 90");
    json_decref(a);

    diag("attendance rules");
    person(p, "ag-a", "p4", "PARTICIPANT");
    stage(p, "ag-a", "p4", "tp", "c2", "APPLIED");
    is_int(attend(p, "ag-a", "p4", "tp", "c2", "COACHING", "co-1", "PRESENT", 120), C_NOT_ENROLLED,
           "an applicant cannot attend");
    is_int(attend(p, "ag-a", "p1", "zz", "c2", "COACHING", "co-1", "PRESENT", 120), C_PROG,
           "unknown programme");
    is_int(attend(p, "ag-a", "p1", "tp", "zz", "COACHING", "co-1", "PRESENT", 120), C_COHORT,
           "unknown cohort");
    is_int(attend(p, "ag-a", "nobody", "tp", "c2", "COACHING", "co-1", "PRESENT", 120), C_PERSON,
           "unknown person");
    is_int(attend(p, "ag-b", "p1", "tp", "c2", "COACHING", "co-1", "PRESENT", 120), C_PERSON,
           "another agency cannot record for p1");
    is_int(attend(p, "ag-a", "p1", "tp", "c2", "WORKSHOP", "w-1", "PRESENT", 120), C_BAD_VALUE,
           "a component not required for the role");

    diag("completed people are never at risk");
    is_int(stage(p, "ag-a", "p2", "tp", "c2", "COMPLETED"), OK, "p2 completes");
    is_int(attend(p, "ag-a", "p2", "tp", "c2", "COACHING", "co-3", "PRESENT", 120), OK,
           "a COMPLETED person may still have attendance recorded");
    a = doc(p, "agency/ag-a/tp/c2");
    c = doc(p, "cohort/tp/c2");
    ok(!TRUE_(a, "people.ref=p2.at_risk"), "p2 no longer at risk");
    /* co-3 is a third coaching session held: expected = 1440 + 240 + 3*120 =
     * 2040, threshold 0.75*2040 = 1530; p1 has 1440+240+120+90 = 1890 (fine),
     * p3 still 1440 (now below): the only one at risk. */
    is_int(I(c, "completion.participants.at_risk"), 1,
           "cohort at risk 1 (p3, after a new session)");
    json_decref(a);
    json_decref(c);
    proj_destroy(&p);

    diag("the ratio is configurable");
    {
        proj_config_t cfg = {5, 0.8, 0};
        p = proj_new(&cfg);
        build_c2(p);
        b = doc(p, "agency/ag-b/tp/c2");
        ok(TRUE_(b, "people.ref=p3.at_risk"), "at 0.8, p3 is at risk (1440 < 1536)");
        json_decref(b);
        proj_destroy(&p);
    }
}

/* ----------------------------------------------------- progression --- */

static void test_progression(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c, *a;
    int rc = 0;
    diag("progression windows and the median");
    /* Cohort c1 runs 2009-04-01..2009-09-30; the after window ends 2010-09-30.
     * Everyone is ENROLLED on 2009-04-01. */
    rc |= programme(p, "tp");
    rc |= cohort(p, "tp", "c1", "[\"ag-a\"]");
    for (int i = 1; i <= 5; i++) {
        char ref[8];
        snprintf(ref, sizeof ref, "q%d", i);
        rc |= person(p, "ag-a", ref, "PARTICIPANT");
        rc |= enrol(p, "ag-a", ref, "tp", "c1");
    }
    is_int(rc, OK, "cohort c1 built");
    /* q1: substantive before enrolment (not counted, not in the median),
     *     acting up on the first day (during), substantive on the last day
     *     (during; 182 days after 2009-04-01). */
    is_int(promote(p, "ag-a", "q1", "SUBSTANTIVE_PROMOTION", "2009-03-15", "tp", "c1"), OK,
           "q1 before");
    is_int(promote(p, "ag-a", "q1", "ACTING_UP", "2009-04-01", "tp", "c1"), OK, "q1 acting up");
    is_int(promote(p, "ag-a", "q1", "SUBSTANTIVE_PROMOTION", "2009-09-30", "tp", "c1"), OK,
           "q1 promoted");
    /* q2: the day after the end: after (183 days). */
    is_int(promote(p, "ag-a", "q2", "SUBSTANTIVE_PROMOTION", "2009-10-01", "tp", "c1"), OK,
           "q2 promoted");
    /* q3: the last day of the after window (547 days = 365 + 182); then a
     *     secondment a day later, outside both windows. */
    is_int(promote(p, "ag-a", "q3", "SUBSTANTIVE_PROMOTION", "2010-09-30", "tp", "c1"), OK,
           "q3 promoted");
    is_int(promote(p, "ag-a", "q3", "SECONDMENT", "2010-10-01", "tp", "c1"), OK,
           "q3 seconded late");
    /* q4: a lateral move during. */
    is_int(promote(p, "ag-a", "q4", "LATERAL_MOVE", "2009-05-01", "tp", "c1"), OK, "q4 moved");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "progression.during.SUBSTANTIVE_PROMOTION"), 1, "during: q1's substantive");
    is_int(I(c, "progression.during.ACTING_UP"), 1, "during: acting up on the first day");
    is_int(I(c, "progression.during.LATERAL_MOVE"), 1, "during: lateral move");
    is_int(I(c, "progression.after.SUBSTANTIVE_PROMOTION"), 2, "after: q2 and q3");
    is_int(I(c, "progression.after.SECONDMENT"), 0, "13 months after is outside");
    is_str(STR(c, "progression.after_window_ends_on"), "2010-09-30", "after window end");
    /* days to first substantive on or after enrolment: 182, 183, 547 -> median 183 */
    is_int(I(c, "progression.median_days_to_substantive_promotion"), 183,
           "median of 182, 183, 547");
    is_int(I(c, "progression.promoted_substantively"), 3, "three people in the median");
    json_decref(c);
    /* q5: 2009-06-01 = 61 days; values 61, 182, 183, 547 -> (182 + 183) / 2 = 182.5 -> 182 */
    is_int(promote(p, "ag-a", "q5", "SUBSTANTIVE_PROMOTION", "2009-06-01", "tp", "c1"), OK,
           "q5 promoted");
    c = rdoc(p, "cohort/tp/c1");
    is_int(I(c, "progression.median_days_to_substantive_promotion"), 182,
           "even count: mean of the middle two, rounded down");
    is_int(I(c, "progression.progressed.total"), 5, "five people progressed");
    is_int(I(c, "progression.progressed.ethnic_group.BLACK"), 5, "all Black (5, not suppressed)");
    json_decref(c);

    diag("promotion attribution");
    is_int(cohort(p, "tp", "c9", "[\"ag-a\"]"), OK, "a second cohort");
    is_int(enrol(p, "ag-a", "q1", "tp", "c9"), OK, "q1 also enrolled in c9");
    is_int(promote(p, "ag-a", "q1", "TEMPORARY_PROMOTION", "2009-07-01", "", ""), OK,
           "no programme or cohort given");
    a = doc(p, "agency/ag-a/tp/c1");
    is_int(json_array_size(at(a, "people.ref=q1.promotions")), 4, "attributed to c1");
    is_str(STR(a, "people.ref=q1.promotions.0.effective_on"), "2009-03-15",
           "promotions in date order");
    is_str(STR(a, "people.ref=q1.promotions.3.effective_on"), "2009-09-30", "... to the last");
    json_decref(a);
    a = doc(p, "agency/ag-a/tp/c9");
    is_int(json_array_size(at(a, "people.ref=q1.promotions")), 1, "and to c9");
    is_str(STR(a, "people.ref=q1.stage"), "ENROLLED", "promotion does not end an enrolment");
    json_decref(a);
    person(p, "ag-a", "q6", "PARTICIPANT");
    stage(p, "ag-a", "q6", "tp", "c1", "APPLIED");
    is_int(promote(p, "ag-a", "q6", "ACTING_UP", "2009-07-01", "", ""), C_NOT_ENROLLED,
           "not enrolled anywhere");
    is_int(promote(p, "ag-a", "q6", "ACTING_UP", "2009-07-01", "tp", "c1"), C_NOT_ENROLLED,
           "not enrolled in the named cohort");
    is_int(promote(p, "ag-a", "nobody", "ACTING_UP", "2009-07-01", "tp", "c1"), C_PERSON,
           "unknown person");
    is_int(promote(p, "ag-a", "q1", "ACTING_UP", "2009-07-01", "zz", "c1"), C_PROG,
           "unknown programme");
    is_int(promote(p, "ag-a", "q1", "ACTING_UP", "2009-07-01", "tp", "zz"), C_COHORT,
           "unknown cohort");
    proj_destroy(&p);
}

/* ------------------------------------------------------ mentoring --- */

static void test_mentoring(void)
{
    proj_t *p = proj_new(NULL);
    json_t *a, *b;
    diag("mentor assignment");
    build_c2(p);
    person(p, "ag-b", "pp", "PARTICIPANT");
    /* A rogue agency registers a mentor with m1's ref, under an id that
     * sorts before ag-b (the old lookup took the first agency). */
    person(p, "aa-rogue", "m1", "MENTOR");
    is_int(mentor(p, "ag-a", "m1", "p1", "tp", "c2"), C_PERSON,
           "no mentorAgency: only the sender's agency is searched (m1 is not at ag-a)");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "p1", "tp", "c2"), OK,
           "mentor from another agency, named by mentorAgency");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "p1", "tp", "c2"), OK, "repeat is harmless");
    /* Another agency's records: the same reply whether the ref is unknown
     * there or registered there as a participant. */
    char unknown_why[256];
    is_int(mentor_at(p, "ag-a", "zz", "ag-b", "p1", "tp", "c2"), C_PERSON,
           "a ref unknown at the mentor's agency");
    snprintf(unknown_why, sizeof unknown_why, "%s", WHY);
    is_int(mentor_at(p, "ag-a", "pp", "ag-b", "p1", "tp", "c2"), C_PERSON,
           "a participant of another agency: the same code as unknown");
    is_str(WHY, unknown_why, "  and the same reason");
    is_int(mentor_at(p, "ag-a", "zz", "no-such-agency", "p1", "tp", "c2"), C_PERSON,
           "an agency that has no one: the same code");
    is_str(WHY, unknown_why, "  and the same reason");
    ok(!strstr(WHY, "zz") && !strstr(WHY, "ag-b"), "  the reason names no ref and no agency");
    /* The sender's own records keep their precise answers. */
    is_int(mentor(p, "ag-a", "p2", "p1", "tp", "c2"), C_ROLE,
           "own agency: a participant is not a mentor");
    is_int(mentor_at(p, "ag-a", "p2", "ag-a", "p1", "tp", "c2"), C_ROLE,
           "  the same with mentorAgency = the sender's agency");
    is_int(mentor(p, "ag-a", "zz", "p1", "tp", "c2"), C_PERSON, "unknown mentor");
    is_int(mentor(p, "ag-a", "p1", "p1", "tp", "c2"), C_ROLE, "a participant as their own mentor");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "zz", "tp", "c2"), C_PERSON, "unknown participant");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "p1", "zz", "c2"), C_PROG, "unknown programme");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "p1", "tp", "zz"), C_COHORT, "unknown cohort");
    person(p, "ag-a", "p5", "PARTICIPANT");
    stage(p, "ag-a", "p5", "tp", "c2", "APPLIED");
    is_int(mentor_at(p, "ag-a", "m1", "ag-b", "p5", "tp", "c2"), C_NOT_ENROLLED,
           "participant not enrolled");
    is_int(mentor_at(p, "ag-a", "zz", "ag-b", "p5", "tp", "c2"), C_NOT_ENROLLED,
           "  the same answer when the mentor does not exist: own rules come first");
    char *r = proj_render(p, "agency/aa-rogue/tp/c2");
    ok(r == NULL, "the rogue agency's m1 captured nothing (no topic for it)");
    free(r);
    a = doc(p, "agency/ag-a/tp/c2");
    b = doc(p, "agency/ag-b/tp/c2");
    is_int(I(a, "people.ref=p1.mentors"), 1, "p1 has one mentor");
    is_int(I(b, "people.ref=m1.mentees"), 1, "m1 has one mentee");
    json_decref(a);
    json_decref(b);
    proj_destroy(&p);
}

/* -------------------------------------------------- representation --- */

static void test_representation(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c, *g, *a;
    int rc = 0;
    static const char *eth[12] = {"B1", "B1", "B1", "B1", "B1", "B1",
                                  "A1", "A1", "A1", "W1", "W1", "NS"};
    diag("representation, aims and suppression (k = 5)");
    rc |= programme(p, "tr");
    rc |= cohort(p, "tr", "c3", "[\"ag-a\"]");
    rc |= cohort(p, "tr", "c4", "[\"ag-a\"]");
    /* c3: 12 enrolled participants: B1 x6, A1 x3, W1 x2, NS x1; FEMALE x7,
     * MALE x5; DISABLED x1, DISABILITY_NOT_STATED x2, NOT_DISABLED x9; LGB x1. */
    for (int i = 0; i < 12; i++) {
        char ref[8];
        snprintf(ref, sizeof ref, "s%d", i);
        rc |= person_full(p, "ag-a", ref, "PARTICIPANT", eth[i], i < 7 ? "FEMALE" : "MALE",
                          i == 0  ? "DISABLED"
                          : i < 3 ? "DISABILITY_NOT_STATED"
                                  : "NOT_DISABLED",
                          i == 0 ? "LGB" : "HETEROSEXUAL");
        rc |= enrol(p, "ag-a", ref, "tr", "c3");
    }
    /* not counted: an applicant, a withdrawn participant, a mentor */
    rc |= person_full(p, "ag-a", "x1", "PARTICIPANT", "O1", "MALE", "DISABLED", "LGB");
    rc |= stage(p, "ag-a", "x1", "tr", "c3", "APPLIED");
    rc |= person_full(p, "ag-a", "x2", "PARTICIPANT", "O1", "MALE", "DISABLED", "LGB");
    rc |= enrol(p, "ag-a", "x2", "tr", "c3");
    rc |= stage(p, "ag-a", "x2", "tr", "c3", "WITHDRAWN");
    rc |= person_full(p, "ag-a", "x3", "MENTOR", "O1", "MALE", "DISABLED", "LGB");
    rc |= stage(p, "ag-a", "x3", "tr", "c3", "ENROLLED");
    /* c4: 4 enrolled participants, all B2, FEMALE x3 and MALE x1. */
    for (int i = 0; i < 4; i++) {
        char ref[8];
        snprintf(ref, sizeof ref, "t%d", i);
        rc |= person_full(p, "ag-a", ref, "PARTICIPANT", "B2", i < 3 ? "FEMALE" : "MALE",
                          "NOT_DISABLED", "HETEROSEXUAL");
        rc |= enrol(p, "ag-a", ref, "tr", "c4");
    }
    is_int(rc, OK, "cohorts c3 and c4 built");

    /* c3, primary (1..4): A1 3, W1 2, NS 1 and their groups; DISABLED 1,
     * DISABILITY_NOT_STATED 2; LGB 1 (hidden cell).
     * Secondary: BME 9 = MIXED 0 + ASIAN (hidden) + BLACK 6 + OTHER 0 would
     * give ASIAN back, so BLACK goes.
     * Zeros: every zero beside a hidden cell is hidden too (MIXED and
     * CHINESE_OR_OTHER, the zero codes of the groups), so a hidden cell
     * may be 0: 12 - BME 9 = 3 for WHITE + NOT_STATED no longer says that
     * each is 1..2 (under the first rule, with zeros published, it did).
     * Every row then has two or more hidden cells and no hidden cell is
     * pinned or known to be 1..4: stable. */
    c = rdoc(p, "cohort/tr/c3");
    is_int(I(c, "representation.total"), 12, "total 12 (applicant, withdrawn, mentor excluded)");
    is_int(I(c, "representation.bme"), 9, "BME 9");
    is_text(c, "representation.ethnic_group",
            "{\"ASIAN\":null,\"BLACK\":null,\"CHINESE_OR_OTHER\":null,\"MIXED\":null,"
            "\"NOT_STATED\":null,\"WHITE\":null}",
            "groups: small ones hidden, BLACK by the BME row, the zeros beside them too");
    ok(NUL(c, "representation.ethnicity.A1") && NUL(c, "representation.ethnicity.W1") &&
           NUL(c, "representation.ethnicity.NS"),
       "small codes hidden");
    /* BLACK = B1 + B2 + B9 has B2 and B9 (zeros) hidden beside it, so B1
     * no longer has to go: BLACK is 6..9, B1 6 */
    is_int(I(c, "representation.ethnicity.B1"), 6, "B1 6 shown (its row has other hidden cells)");
    ok(NUL(c, "representation.ethnicity.B2"), "a zero code beside a hidden one is hidden");
    ok(TRUE_(c, "representation.suppressed_may_be_zero"), "and the document says so");
    is_int(I(c, "representation.gender.FEMALE"), 7, "FEMALE 7");
    is_int(I(c, "representation.gender.MALE"), 5, "MALE 5");
    is_text(c, "representation.disability",
            "{\"DISABILITY_NOT_STATED\":null,\"DISABLED\":null,\"NOT_DISABLED\":9}", "disability");
    is_text(c, "representation.suppressed",
            "[\"disability.DISABILITY_NOT_STATED\",\"disability.DISABLED\","
            "\"ethnic_group.ASIAN\",\"ethnic_group.BLACK\",\"ethnic_group.CHINESE_OR_OTHER\","
            "\"ethnic_group.MIXED\",\"ethnic_group.NOT_STATED\",\"ethnic_group.WHITE\","
            "\"ethnicity.A1\",\"ethnicity.A2\",\"ethnicity.A3\",\"ethnicity.A9\","
            "\"ethnicity.B2\",\"ethnicity.B9\",\"ethnicity.M1\",\"ethnicity.M2\","
            "\"ethnicity.M3\",\"ethnicity.M9\",\"ethnicity.NS\",\"ethnicity.O1\","
            "\"ethnicity.O9\",\"ethnicity.W1\",\"ethnicity.W2\",\"ethnicity.W9\"]",
            "the suppressed cells are listed, sorted");
    /* aims: BME 9/12 = 75% (met 50); FEMALE 7/12 = 58.3 -> 58 (met 40);
     * DISABLED and LGB counts are below k, so they are withheld (no
     * actual_percent at all: a null would say "hidden, so 1..k-1"). */
    is_text(c, "representation.aims",
            "[{\"actual_percent\":75,\"group\":\"AIM_BME\",\"met\":true,\"min_percent\":50},"
            "{\"actual_percent\":58,\"group\":\"AIM_FEMALE\",\"met\":true,\"min_percent\":40},"
            "{\"group\":\"AIM_DISABLED\",\"min_percent\":10,\"withheld\":true},"
            "{\"group\":\"AIM_LGB\",\"min_percent\":5,\"withheld\":true}]",
            "aims with actual percent and met, or withheld");
    json_decref(c);

    /* c4: 4 people, fewer than k: no breakdown at all. (The old rule hid
     * the small cells and the total but published the zeros, and with the
     * enrolled count from the funnel that pinned BLACK = 4; t_audit.) */
    c = rdoc(p, "cohort/tr/c4");
    ok(TRUE_(c, "representation.below_threshold") && I(c, "representation.total") == 4,
       "c4: below the threshold, only the total (the enrolled count)");
    ok(!at(c, "representation.ethnic_group") && !at(c, "representation.gender") &&
           !at(c, "representation.suppressed"),
       "c4: no cell, zero or hidden, is published");
    ok(TRUE_(c, "representation.aims.1.withheld") && !at(c, "representation.aims.1.actual_percent"),
       "c4 FEMALE aim withheld");
    is_int(I(c, "filled.participants"), 4, "the funnel still counts (not a breakdown)");
    json_decref(c);
    a = doc(p, "agency/ag-a/tr/c4");
    is_int(json_array_size(at(a, "people")), 4, "agency topic: all four people, unsuppressed");
    ok(RL(a, "people.ref=t3.completion") == 0.0, "agency topic has per-person detail");
    {
        char *s = proj_render(p, "agency/ag-a/tr/c4");
        ok(s && !strstr(s, "ethnic") && !strstr(s, "gender") && !strstr(s, "disab") &&
               !strstr(s, "FEMALE") && !strstr(s, "B2"),
           "agency topic carries no protected characteristics");
        free(s);
    }
    json_decref(a);

    /* programme tr: the union, 16 people: B1 6, B2 4, A1 3, W1 2, NS 1;
     * BLACK 10, ASIAN 3, WHITE 2, NOT_STATED 1; BME 13; FEMALE 10, MALE 6.
     * Primary: B2, A1, W1, NS codes; ASIAN, WHITE, NOT_STATED groups.
     * BLACK = B1 + B2: one hidden -> B1 goes. BME = ... + ASIAN + BLACK: one
     * hidden -> BLACK goes. FEMALE 10/16 = 62.5% -> 63 (half up). */
    g = rdoc(p, "programme/tr");
    is_int(I(g, "representation.total"), 16, "programme: union of 16, not a sum of hidden cells");
    is_int(I(g, "representation.bme"), 13, "programme BME 13");
    ok(NUL(g, "representation.ethnic_group.BLACK") && NUL(g, "representation.ethnicity.B1"),
       "programme: BLACK and B1 hidden by secondary suppression");
    is_int(I(g, "representation.gender.FEMALE"), 10, "programme FEMALE 10");
    is_int(I(g, "representation.aims.1.actual_percent"), 63, "62.5%% rounds half up to 63");
    is_int(I(g, "representation.aims.0.actual_percent"), 81, "BME 13/16 = 81.25 -> 81");
    is_text(g, "cohorts", "[\"c3\",\"c4\"]", "cohorts listed");
    is_int(I(g, "filled.participants"), 16, "programme filled 16");
    is_int(I(g, "filled.places"), 20, "programme places 10 + 10");
    is_int(I(g, "funnel.participants.by_stage.WITHDRAWN"), 1, "summed funnel");
    is_int(I(g, "requirements.participant_minutes"), 2640, "requirement minutes");
    json_decref(g);

    diag("a smaller k shows more");
    {
        proj_config_t cfg = {1, 0.75, 0};
        proj_t *q = proj_new(&cfg);
        char *s = proj_save(p);
        is_int(proj_load(q, s, strlen(s)), 0, "same state, k = 1");
        c = rdoc(q, "cohort/tr/c3");
        is_int(I(c, "representation.ethnicity.NS"), 1, "k = 1: nothing suppressed");
        json_decref(c);
        free(s);
        proj_destroy(&q);
    }
    proj_destroy(&p);
}

/* ---------------------------------------------------------- dirty --- */

static void test_dirty(void)
{
    proj_t *p = proj_new(NULL);
    char **v;
    diag("dirty topics");
    build_c2(p);
    /* build_c2's events cross a 28-day release period of the log clock, so
     * a release of tp was cut on the way (release.h) */
    is_dirty(p,
             "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2 programme/tp release/cohort/tp/c2 "
             "release/programme/tp",
             "after building");
    is_dirty(p, "", "each handed out once");
    ok(proj_take_dirty(p, &v) == 0 && v == NULL, "empty: NULL array");

    attend(p, "ag-a", "p1", "tp", "c2", "COACHING", "co-9", "PRESENT", 120);
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2 programme/tp",
             "attendance: cohort, programme and every agency (sessions held changed)");
    person(p, "ag-a", "n1", "PARTICIPANT");
    is_dirty(p, "", "registering someone not enrolled changes nothing");
    stage(p, "ag-a", "n1", "tp", "c2", "APPLIED");
    is_dirty(p, "agency/ag-a/tp/c2 cohort/tp/c2 programme/tp", "enrolment: own agency only");
    stage(p, "ag-a", "n1", "tp", "c2", "ENROLLED");
    is_dirty(p, "", "a rejected event marks nothing");
    mentor_at(p, "ag-a", "m1", "ag-b", "p1", "tp", "c2");
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2",
             "mentor: both agencies and the cohort");
    promote(p, "ag-a", "p1", "ACTING_UP", "2009-06-01", "tp", "c2");
    /* dated 2009-06-01: the log clock enters a new 28-day period, so a
     * release of tp is cut too */
    is_dirty(p,
             "agency/ag-a/tp/c2 cohort/tp/c2 programme/tp release/cohort/tp/c2 "
             "release/programme/tp",
             "promotion (and a release)");
    programme(p, "tp");
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2 programme/tp",
             "redefining the programme: everything under it");
    programme(p, "other");
    is_dirty(p, "programme/other", "a new programme");

    diag("cohort replacement adds and removes agency topics");
    is_int(cohort(p, "tp", "c2", "[\"ag-a\",\"ag-c\"]"), OK, "ag-b dropped, ag-c added");
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 agency/ag-c/tp/c2 cohort/tp/c2 programme/tp",
             "replacement marks old and new agencies");
    {
        char *s = proj_render(p, "agency/ag-b/tp/c2");
        ok(s != NULL, "ag-b still has people enrolled, so its topic stays");
        free(s);
        s = proj_render(p, "agency/ag-c/tp/c2");
        ok(s && strstr(s, "\"people\":[]"), "ag-c topic exists, empty");
        free(s);
    }
    cohort(p, "tp", "c2", "[\"ag-a\"]");
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 agency/ag-c/tp/c2 cohort/tp/c2 programme/tp",
             "ag-c dirty once more");
    ok(proj_render(p, "agency/ag-c/tp/c2") == NULL, "... and now gone");
    person(p, "ag-b", "late", "PARTICIPANT");
    is_int(stage(p, "ag-b", "late", "tp", "c2", "APPLIED"), C_AGENCY, "ag-b no longer takes part");
    is_int(attend(p, "ag-b", "p3", "tp", "c2", "COACHING", "co-5", "PRESENT", 120), OK,
           "but its enrolled people still record attendance");
    is_dirty(p, "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2 programme/tp",
             "agency topics of a cohort are the listed and enrolled agencies");

    diag("topics");
    {
        size_t n = proj_topics(p, "agency/", &v);
        is_int(n, 2, "two agency topics");
        if (n == 2) {
            is_str(v[0], "agency/ag-a/tp/c2", "sorted");
            is_str(v[1], "agency/ag-b/tp/c2", "sorted");
        }
        proj_strv_free(v, n);
        n = proj_topics(p, "", &v);
        is_int(n, 7, "all topics (two of them releases)");
        proj_strv_free(v, n);
        n = proj_topics(p, NULL, &v);
        is_int(n, 7, "NULL prefix means all");
        proj_strv_free(v, n);
        ok(proj_render(p, "cohort/tp/nope") == NULL && proj_render(p, "bogus") == NULL &&
               proj_render(p, "programme/tp/extra") == NULL,
           "unknown topics render NULL");
    }
    proj_destroy(&p);
}

/* --------------------------------------------------------- examples --- */

/* Feeds a JSON Lines file; returns the number of lines not applied. */
static int feed(proj_t *p, const char *path, int *lines)
{
    FILE *fp = fopen(path, "r");
    char *line = NULL, err[256];
    size_t cap = 0;
    ssize_t n;
    int bad = 0;
    *lines = 0;
    if (!fp) {
        diag("cannot open %s", path);
        return -1;
    }
    while ((n = getline(&line, &cap, fp)) > 0) {
        Cohort__V1__Event *e;
        int rc;
        (*lines)++;
        if (!(e = cohort_json_to_event(line, (size_t)n, err, sizeof err))) {
            diag("%s:%d: %s", path, *lines, err);
            bad++;
            continue;
        }
        if ((rc = proj_apply(p, e, proj_seq(p) + 1, WHY, sizeof WHY)) != 0) {
            diag("%s:%d: rejected %d: %s", path, *lines, rc, WHY);
            bad++;
        }
        cohort__v1__event__free_unpacked(e, NULL);
    }
    free(line);
    fclose(fp);
    return bad;
}

static proj_t *test_examples(void)
{
    const char *dir = getenv("COHORT_SOURCE_DIR") ? getenv("COHORT_SOURCE_DIR") : COHORT_SOURCE_DIR;
    char path[1024];
    proj_t *p = proj_new(NULL);
    json_t *c;
    int lines;
    diag("examples/*.jsonl");
    snprintf(path, sizeof path, "%s/examples/step-forward.jsonl", dir);
    is_int(feed(p, path, &lines), 0, "step-forward.jsonl: every event applies");
    is_int(lines, 367, "step-forward.jsonl: 367 lines");
    snprintf(path, sizeof path, "%s/examples/leadership-in-partnership.jsonl", dir);
    is_int(feed(p, path, &lines), 0, "leadership-in-partnership.jsonl: every event applies");
    is_int(lines, 1059, "leadership-in-partnership.jsonl: 1059 lines");
    diag("release cuts withheld while the examples were fed: %llu",
         (unsigned long long)proj_releases_withheld(p));
    c = doc(p, "cohort/step-forward/2009-1");
    /* README: 20 applicants; 2 not shortlisted, 1 not selected, 1 without
     * line-manager support, 1 declines; 15 enrol; 13 complete, 1 withdraws,
     * 1 still ENROLLED; 6 mentors. */
    is_int(I(c, "funnel.participants.total"), 20, "SF: 20 applicants");
    is_int(I(c, "funnel.participants.by_stage.COMPLETED"), 13, "SF: 13 completed");
    is_int(I(c, "funnel.participants.by_stage.WITHDRAWN"), 1, "SF: 1 withdrew");
    is_int(I(c, "funnel.participants.by_stage.ENROLLED"), 1, "SF: 1 still enrolled");
    is_int(I(c, "funnel.participants.by_stage.DECLINED"), 1, "SF: 1 declined");
    is_int(I(c, "funnel.participants.by_stage.NOT_SELECTED"), 4, "SF: 4 not selected");
    is_int(I(c, "funnel.mentors.total"), 6, "SF: 6 mentors");
    is_text(c, "funnel_reached.participants.reached",
            "{\"APPLIED\":20,\"ENROLLED\":15,\"INTERVIEWED\":18,\"LINE_MANAGER_SUPPORTED\":16,"
            "\"OFFERED\":16,\"SHORTLISTED\":18}",
            "SF: reached 20 -> 18 -> 18 -> 16 -> 16 -> 15 (counted from the file apart)");
    /* leavers: the one who withdrew left in June (during); two completers
     * within 6 months of the end (2009-12-18, 2010-01-08) */
    is_int(I(c, "retention.enrolled"), 15, "SF: 15 enrolled");
    is_int(I(c, "retention.left_during"), 1, "SF: 1 left during");
    is_int(I(c, "retention.left_within_6_months_after"), 2, "SF: 2 within 6 months after");
    ok(RL(c, "retention.retention_6_months_after") == 0.8, "SF: 12 of 15 retained 6 months after");
    ok(!at(c, "representation"), "SF: the live document has no breakdown");
    json_decref(c);
    c = doc(p, "programme/step-forward");
    is_int(I(c, "workforce.baselines"), 1, "SF: one workforce baseline (wm-police)");
    is_int(I(c, "workforce.agencies.wm-police.baseline.headcount"), 13506, "SF: WMP 13,506");
    ok(RL(c, "workforce.agencies.wm-police.baseline.all.AIM_BME.percent") == 0.0861,
       "SF: WMP 8.61%% BME");
    ok(RL(c, "workforce.agencies.wm-police.targets.category=OFFICER.percent") == 0.1611,
       "SF: WMP target 16.11%% BME officers");
    json_decref(c);
    c = rdoc(p, "cohort/step-forward/2009-1");
    is_int(I(c, "representation.aims.0.actual_percent"), 100, "SF: 100%% BME (the rule alone)");
    json_decref(c);
    c = doc(p, "release/cohort/step-forward/2009-1");
    ok(c && I(c, "release.number") >= 1, "SF: released on the log clock (release %d, %s, %s)",
       c ? (int)I(c, "release.number") : 0, c ? STR(c, "release.released_on") : "-",
       c ? STR(c, "release.reason") : "-");
    /* the funnel by group: the published cells are the counts (worked
     * out from the file apart); BLACK 6 applied but 5 shortlisted: the
     * one drop-out is hidden by hiding SHORTLISTED */
    is_int(I(c, "funnel_reached.by_ethnic_group.APPLIED.total"), 20, "SF release: 20 applied");
    is_int(I(c, "funnel_reached.by_ethnic_group.APPLIED.ethnic_group.BLACK"), 6,
           "SF release: 6 Black applicants");
    ok(NUL(c, "funnel_reached.by_ethnic_group.SHORTLISTED.ethnic_group.BLACK"),
       "SF release: Black shortlisted (5) hidden: 6 - 5 would show the 1 not shortlisted");
    is_int(I(c, "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.ASIAN"), 7,
           "SF release: 7 Asian enrolled");
    ok(TRUE_(c, "retention.left_by_ethnic_group.below_threshold"),
       "SF release: 3 leavers, fewer than k: no breakdown");
    /* the chained tables (issue 18, section 6): the stage totals are the
     * live document's counts, the ENROLLED stage is the funnel's ENROLLED
     * (published alike) */
    {
        json_t *live = doc(p, "cohort/step-forward/2009-1");
        static const char *const G[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                        "NOT_STATED"};
        int same = 1;
        char a[160], b[160];
        is_int(I(c, "retention.retained.by_ethnic_group.ENROLLED.total"), 15,
               "SF release: retained: 15 enrolled");
        is_int(I(c, "retention.retained.by_ethnic_group.RETAINED_AT_END.total"),
               I(live, "retention.retained_at_end"), "SF release: 14 retained at the end");
        is_int(I(c, "retention.retained.by_ethnic_group.RETAINED_6_MONTHS_AFTER.total"), 12,
               "SF release: 12 retained 6 months after");
        is_int(I(c, "retention.retained.by_ethnic_group.RETAINED_24_MONTHS_AFTER.total"),
               I(live, "retention.retained_at_end") -
                   I(live, "retention.left_within_24_months_after"),
               "SF release: retained 24 months after = the live retained_at_end - left within 24");
        for (int g = 0; g < 6; g++) {
            snprintf(a, sizeof a, "retention.retained.by_ethnic_group.ENROLLED.ethnic_group.%s",
                     G[g]);
            snprintf(b, sizeof b, "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.%s", G[g]);
            same &= json_equal(at(c, a), at(c, b));
        }
        ok(same, "SF release: retained ENROLLED by group = the funnel's ENROLLED, cell for cell");
        is_int(I(c, "retention.retained.by_ethnic_group.ENROLLED.ethnic_group.ASIAN"), 7,
               "SF release: 7 Asian enrolled");
        is_int(I(c, "progression.after_completion.by_ethnic_group.COMPLETED.total"),
               I(live, "progression.after_completion.completed"),
               "SF release: after completion: the completed as in the live document");
        is_int(I(c, "progression.after_completion.by_ethnic_group.PROMOTED_WITHIN_12_MONTHS.total"),
               I(live, "progression.after_completion.promoted_within_12_months"),
               "SF release: promoted within 12 months as in the live document");
        is_int(I(c, "progression.after_completion.by_ethnic_group.PROMOTED_DURING.total"),
               I(live, "progression.after_completion.promoted_during"),
               "SF release: promoted during as in the live document");
        json_decref(live);
    }
    json_decref(c);
    c = doc(p, "cohort/step-forward/2009-1");
    is_int(I(c, "completion.participants.required_minutes"), 2640, "SF: 2640 minutes");
    is_int(I(c, "completion.mentors.required_minutes"), 2160, "SF: mentors 2160");
    json_decref(c);
    c = doc(p, "cohort/leadership-in-partnership/2009-1");
    is_int(I(c, "funnel.participants.total"), 27, "LiP: 27 recommended");
    is_int(I(c, "funnel.participants.by_stage.NOT_SELECTED"), 2, "LiP: 2 not selected");
    is_int(I(c, "funnel.participants.by_stage.WITHDRAWN"), 1, "LiP: 1 withdrew");
    is_int(I(c, "funnel.participants.by_stage.REMOVED_BY_BOARD"), 1, "LiP: 1 removed by the board");
    is_int(I(c, "funnel.participants.by_stage.COMPLETED"), 14, "LiP: 14 completed");
    is_int(I(c, "funnel.participants.by_stage.ENROLLED"), 9, "LiP: 9 still enrolled at the end");
    is_int(I(c, "funnel.mentors.by_stage.COMPLETED"), 6, "LiP: 6 mentors completed");
    is_text(c, "funnel_reached.participants.reached",
            "{\"APPLIED\":27,\"ENROLLED\":25,\"INTERVIEWED\":27,\"LINE_MANAGER_SUPPORTED\":25,"
            "\"OFFERED\":25,\"SHORTLISTED\":27}",
            "LiP: reached 27 -> 27 -> 27 -> 25 -> 25 -> 25");
    is_int(I(c, "mentoring.mentored"), 25, "LiP: every participant had a mentor");
    /* examples/README.md: six modules and the dissertation assessed; 14
     * pass everything and are awarded the diploma; one module-6 referral
     * awaits its resubmission, one module-5 resubmission failed. */
    is_int(I(c, "award.assessed_components"), 2, "LiP: modules and dissertation assessed");
    is_int(I(c, "award.enrolled"), 23, "LiP: 23 enrolled or completed");
    is_int(I(c, "award.referred"), 1, "LiP: one module-6 referral outstanding");
    is_int(I(c, "award.failed"), 1, "LiP: one failed (module 5, after resubmission)");
    is_int(I(c, "award.passed_all"), 14, "LiP: 14 passed every assessment");
    is_int(I(c, "award.awarded"), 14, "LiP: 14 postgraduate diplomas");
    is_int(I(c, "award.on_track"), 7, "LiP: 7 without award still on track");
    /* examples/README.md: five plans, thirteen reviews, four board decisions */
    is_int(I(c, "plans.with_plan"), 5, "LiP: 5 plans agreed");
    is_int(I(c, "plans.reviews"), 13, "LiP: 13 reviews");
    is_int(I(c, "plans.concerns"), 1, "LiP: 1 last review with concerns");
    is_int(I(c, "plans.overdue_reviews"), 1, "LiP: 1 review overdue (due 2010-12-10)");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_EXTENSION"), 2, "LiP: 2 extensions");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_REMOVAL"), 1, "LiP: 1 removal");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_CONTINUE"), 1, "LiP: 1 continue");
    is_int(I(c, "plans.board_decisions.by_reason.BOARD_REASON_ASSESSMENT"), 2,
           "LiP: 2 for assessment");
    /* leavers: the one who withdrew (April 2010, during), one completer
     * a few days after the end */
    is_int(I(c, "retention.enrolled"), 25, "LiP: 25 enrolled");
    is_int(I(c, "retention.left_during"), 1, "LiP: 1 left during");
    is_int(I(c, "retention.left_within_6_months_after"), 1, "LiP: 1 within 6 months after");
    json_decref(c);
    c = doc(p, "agency/leics-health/leadership-in-partnership/2009-1");
    ok(TRUE_(c, "people.ref=p1:ig2oupahtvolou6ayccjkbvpbxtfgwrt.plan.review_overdue"),
       "LiP: leics-health sees its overdue review");
    json_decref(c);
    c = doc(p, "agency/leics-police/leadership-in-partnership/2009-1");
    is_str(STR(c, "people.ref=p1:6l75nwizgis6i3r5oa33ezbjdx7vyggy.plan.last_review_outcome"),
           "REVIEW_CONCERNS", "LiP: leics-police sees its person's concerns");
    json_decref(c);
    c = doc(p, "agency/leics-cc/leadership-in-partnership/2009-1");
    is_str(STR(c, "people.ref=p1:mipezjyltarcvvdjm5cwmzmgzlnqo5dn.award.awarded_on"), "2010-12-15",
           "LiP: leics-cc sees its person's award");
    json_decref(c);
    c = doc(p, "programme/leadership-in-partnership");
    is_str(STR(c, "requirements.participants.kind=DISSERTATION.unit"), "UNIT_SUBMISSIONS",
           "LiP: the dissertation is one submission");
    json_decref(c);
    {
        char *a = proj_render(p, "cohort/step-forward/2009-1");
        char *b = proj_render(p, "cohort/step-forward/2009-1");
        is_str(a, b, "rendering is repeatable");
        free(a);
        free(b);
    }
    ok(proj_as_of(p) > 0, "log clock advanced");
    return p;
}

/* ------------------------------------------- units, assessments, awards --- */

static void round_trip(proj_t *p, const char *name);

/* A Leadership-in-Partnership-shaped programme (issue 18): two assessed
 * modules of 60 minutes, an assessed dissertation counted in submissions,
 * two action-learning sets counted in sessions. */
static int lp_programme(proj_t *p)
{
    return ev(p,
              "{\"agency\":\"board\",\"occurredAt\":\"2009-01-01T09:00:00Z\","
              "\"programmeDefined\":{\"programmeId\":\"lp\",\"name\":\"LP\","
              "\"participantComponents\":["
              "{\"kind\":\"ASSESSED_MODULE\",\"count\":2,\"minutesEach\":60,\"label\":\"module\","
              "\"assessed\":true},"
              "{\"kind\":\"DISSERTATION\",\"count\":1,\"unit\":\"UNIT_SUBMISSIONS\","
              "\"label\":\"dissertation\",\"assessed\":true},"
              "{\"kind\":\"ACTION_LEARNING_SET\",\"count\":2,\"unit\":\"UNIT_SESSIONS\","
              "\"label\":\"set\"}],\"durationMonths\":24}}");
}

static int assess_ev(proj_t *p, const char *agency, const char *ref, const char *coh,
                     const char *kind, const char *piece, const char *outcome)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-07-01T09:00:00Z\","
              "\"assessmentRecorded\":{\"participantRef\":\"%s\",\"programmeId\":\"lp\","
              "\"cohortId\":\"%s\",\"component\":\"%s\",\"pieceId\":\"%s\","
              "\"outcome\":\"%s\",\"assessedOn\":\"2009-06-30\"}}",
              agency, ref, coh, kind, piece, outcome);
}

static int award_ev(proj_t *p, const char *agency, const char *ref, const char *coh)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-08-01T09:00:00Z\","
              "\"awardMade\":{\"participantRef\":\"%s\",\"programmeId\":\"lp\","
              "\"cohortId\":\"%s\",\"award\":\"postgraduate diploma\","
              "\"awardedOn\":\"2009-07-31\"}}",
              agency, ref, coh);
}

/* A version 1 checkpoint (before units and assessments) made from a
 * version 2 text of a state that has neither. */
static char *as_version1(const char *s)
{
    json_t *d = json_loads(s, 0, NULL), *v, *l, *c;
    size_t i, j, k;
    char *out;
    if (!d)
        return NULL;
    json_object_set_new(d, "version", json_integer(1));
    json_array_foreach(json_object_get(d, "programmes"), i, v)
        json_array_foreach(json_object_get(v, "req"), j, l) json_array_foreach(l, k, c)
    {
        json_array_remove(c, 5);
        json_array_remove(c, 4);
    }
    json_array_foreach(json_object_get(d, "enrolments"), i, v)
    {
        json_object_del(v, "assessments");
        json_object_del(v, "award");
    }
    out = json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(d);
    return out;
}

static void test_units_awards(void)
{
    proj_t *p = proj_new(NULL), *q;
    json_t *g, *a, *c;
    char *s, *v1;
    diag("units (sessions, submissions), assessments and awards");
    is_int(lp_programme(p), OK, "a programme with a 0-minute submission component");
    is_int(cohort(p, "lp", "c1", "[\"ag-a\"]"), OK, "cohort");
    for (const char *const *r = (const char *const[]){"p1", "p2", "p3", "p4", NULL}; *r; r++)
        person(p, "ag-a", *r, "PARTICIPANT");
    is_int(enrol(p, "ag-a", "p1", "lp", "c1"), OK, "p1 enrolled");
    is_int(enrol(p, "ag-a", "p2", "lp", "c1"), OK, "p2 enrolled");
    is_int(enrol(p, "ag-a", "p3", "lp", "c1"), OK, "p3 enrolled");
    is_int(stage(p, "ag-a", "p4", "lp", "c1", "APPLIED"), OK, "p4 applied only");
    g = doc(p, "programme/lp");
    is_int(I(g, "requirements.participant_minutes"), 120, "only minute components are minutes");
    is_str(STR(g, "requirements.participants.kind=DISSERTATION.unit"), "UNIT_SUBMISSIONS",
           "the dissertation is counted in submissions");
    is_int(I(g, "requirements.participants.kind=DISSERTATION.minutes_each"), 0, "of 0 minutes");
    ok(TRUE_(g, "requirements.participants.kind=DISSERTATION.assessed"), "and assessed");
    is_str(STR(g, "requirements.participants.kind=ASSESSED_MODULE.unit"), "UNIT_MINUTES",
           "an absent unit is minutes");
    json_decref(g);

    /* Credit: a session counts once whatever its minutes; a submission once. */
    attend(p, "ag-a", "p1", "lp", "c1", "ACTION_LEARNING_SET", "set-1", "PRESENT", 500);
    attend(p, "ag-a", "p1", "lp", "c1", "ACTION_LEARNING_SET", "set-2", "PRESENT", 0);
    attend(p, "ag-a", "p1", "lp", "c1", "DISSERTATION", "dissertation", "PRESENT", 0);
    attend(p, "ag-a", "p1", "lp", "c1", "ASSESSED_MODULE", "module-1", "PRESENT", 60);
    attend(p, "ag-a", "p1", "lp", "c1", "ASSESSED_MODULE", "module-2", "PRESENT", 60);
    attend(p, "ag-a", "p3", "lp", "c1", "ACTION_LEARNING_SET", "set-1", "LATE", 30);
    attend(p, "ag-a", "p3", "lp", "c1", "DISSERTATION", "dissertation", "PRESENT", 0);
    attend(p, "ag-a", "p3", "lp", "c1", "ASSESSED_MODULE", "module-1", "PRESENT", 60);
    attend(p, "ag-a", "p3", "lp", "c1", "ASSESSED_MODULE", "module-2", "PRESENT", 60);
    attend(p, "ag-a", "p2", "lp", "c1", "ASSESSED_MODULE", "module-1", "PRESENT", 60);
    attend(p, "ag-a", "p2", "lp", "c1", "ASSESSED_MODULE", "module-2", "PRESENT", 60);
    attend(p, "ag-a", "p2", "lp", "c1", "DISSERTATION", "dissertation", "ABSENT", 0);
    a = doc(p, "agency/ag-a/lp/c1");
    is_int(I(a, "people.ref=p1.components.ACTION_LEARNING_SET.credited"), 2,
           "sessions: one per session attended, not its 500 minutes");
    is_int(I(a, "people.ref=p1.components.ACTION_LEARNING_SET.required"), 2, "of 2 sessions");
    is_str(STR(a, "people.ref=p1.components.ACTION_LEARNING_SET.unit"), "UNIT_SESSIONS", "unit");
    is_int(I(a, "people.ref=p1.components.DISSERTATION.credited"), 1, "one submission");
    is_int(I(a, "people.ref=p1.credited_minutes"), 120, "minutes count minute components only");
    is_int(I(a, "people.ref=p1.required_minutes"), 120, "required minutes 2 x 60");
    ok(!TRUE_(a, "people.ref=p1.components.ASSESSED_MODULE.met"),
       "attended but not passed: not met");
    is_int(I(a, "people.ref=p1.components.ASSESSED_MODULE.passed"), 0, "passed 0");
    ok(TRUE_(a, "people.ref=p1.at_risk") == 0, "p1 not at risk");
    ok(TRUE_(a, "people.ref=p2.at_risk"),
       "p2 at risk: no set attended where one is held, the dissertation not submitted");
    is_int(I(a, "people.ref=p2.components.DISSERTATION.credited"), 0, "ABSENT: not submitted");
    is_int(I(a, "people.ref=p3.components.ACTION_LEARNING_SET.credited"), 1,
           "LATE counts as attended");
    json_decref(a);
    c = doc(p, "cohort/lp/c1");
    is_int(I(c, "completion.participants.complete"), 0, "nobody complete before passing");
    is_int(I(c, "completion.participants.required_minutes"), 120, "cohort: minutes only");
    is_int(I(c, "award.assessed_components"), 2, "two assessed components");
    is_int(I(c, "award.enrolled"), 3, "three enrolled");
    json_decref(c);
    free(dirty(p));

    /* Refusals, each changing nothing. */
    s = proj_save(p);
    is_int(assess_ev(p, "ag-a", "p1", "c1", "ACTION_LEARNING_SET", "set-1", "ASSESSMENT_PASS"),
           C_BAD_VALUE, "a component that is not assessed");
    is_int(assess_ev(p, "ag-a", "p1", "c1", "COACHING", "c-1", "ASSESSMENT_PASS"), C_BAD_VALUE,
           "a component that is not required");
    is_int(
        assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_RESUBMITTED"),
        C_TRANS, "RESUBMITTED without a REFER: %s", WHY);
    is_int(assess_ev(p, "ag-a", "p9", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_PASS"),
           C_PERSON, "an unknown participant");
    is_int(assess_ev(p, "ag-b", "p1", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_PASS"),
           C_PERSON, "another agency's participant is unknown to the sender");
    is_int(assess_ev(p, "ag-a", "p4", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_PASS"),
           C_NOT_ENROLLED, "someone not enrolled");
    is_int(assess_ev(p, "ag-a", "p1", "c9", "ASSESSED_MODULE", "module-1", "ASSESSMENT_PASS"),
           C_COHORT, "an unknown cohort");
    is_int(award_ev(p, "ag-a", "p1", "c1"), C_TRANS, "an award before the passes: %s", WHY);
    is_int(award_ev(p, "ag-a", "p4", "c1"), C_NOT_ENROLLED, "an award for someone not enrolled");
    is_int(award_ev(p, "ag-a", "p9", "c1"), C_PERSON, "an award for an unknown participant");
    is_int(award_ev(p, "ag-a", "p1", "c9"), C_COHORT, "an award in an unknown cohort");
    {
        char *s2 = proj_save(p);
        is_str(s2, s, "the refusals changed nothing");
        free(s2);
    }
    free(s);
    is_dirty(p, "", "and marked nothing");

    /* p1: module-1 passes, module-2 is referred, resubmitted, passed. */
    is_int(assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_PASS"), OK,
           "module-1 PASS");
    free(dirty(p)); /* the first event of the day also cut the releases due */
    is_int(assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-2", "ASSESSMENT_REFER"), OK,
           "module-2 REFER");
    is_dirty(p, "agency/ag-a/lp/c1 cohort/lp/c1 programme/lp",
             "an assessment marks the cohort, programme and agency topic");
    is_int(assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-3", "ASSESSMENT_PASS"),
           C_BAD_VALUE, "a third piece of a 2-piece component: %s", WHY);
    c = doc(p, "cohort/lp/c1");
    is_int(I(c, "award.referred"), 1, "board: one referred");
    json_decref(c);
    is_int(
        assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-2", "ASSESSMENT_RESUBMITTED"),
        OK, "module-2 RESUBMITTED after REFER");
    is_int(assess_ev(p, "ag-a", "p1", "c1", "ASSESSED_MODULE", "module-2", "ASSESSMENT_PASS"), OK,
           "module-2 PASS");
    a = doc(p, "agency/ag-a/lp/c1");
    ok(TRUE_(a, "people.ref=p1.components.ASSESSED_MODULE.met"), "modules attended and passed");
    ok(!TRUE_(a, "people.ref=p1.requirements_met"), "the dissertation is not passed yet");
    is_str(STR(a, "people.ref=p1.assessments.piece=module-2.outcome"), "ASSESSMENT_PASS",
           "agency sees its person's latest result");
    is_int(I(a, "people.ref=p1.assessments.piece=module-2.attempts"), 3, "after three records");
    is_str(STR(a, "people.ref=p1.assessments.piece=module-2.assessed_on"), "2009-06-30", "date");
    ok(NUL(a, "people.ref=p1.award"), "no award yet");
    json_decref(a);
    is_int(assess_ev(p, "ag-a", "p1", "c1", "DISSERTATION", "dissertation", "ASSESSMENT_PASS"), OK,
           "dissertation PASS");
    /* p3 fails a module: at risk, counted as failed. */
    is_int(assess_ev(p, "ag-a", "p3", "c1", "ASSESSED_MODULE", "module-1", "ASSESSMENT_FAIL"), OK,
           "p3 module-1 FAIL");
    a = doc(p, "agency/ag-a/lp/c1");
    ok(TRUE_(a, "people.ref=p1.requirements_met"), "p1: every component attended and passed");
    ok(TRUE_(a, "people.ref=p3.at_risk"), "p3 at risk after a FAIL");
    json_decref(a);
    c = doc(p, "cohort/lp/c1");
    is_int(I(c, "completion.participants.complete"), 1, "complete = attended and passed");
    is_int(I(c, "award.passed_all"), 1, "board: one passed all");
    is_int(I(c, "award.failed"), 1, "board: one failed");
    is_int(I(c, "award.referred"), 0, "board: none referred now");
    is_int(I(c, "award.on_track"), 1, "board: on track = p1 (p2 behind, p3 failed)");
    json_decref(c);
    is_int(award_ev(p, "ag-a", "p1", "c1"), OK, "the award once all is passed");
    a = doc(p, "agency/ag-a/lp/c1");
    is_str(STR(a, "people.ref=p1.award.award"), "postgraduate diploma", "agency sees the award");
    is_str(STR(a, "people.ref=p1.award.awarded_on"), "2009-07-31", "and its date");
    json_decref(a);
    c = doc(p, "cohort/lp/c1");
    is_int(I(c, "award.awarded"), 1, "board: one awarded");
    is_int(I(c, "award.on_track"), 0, "an awarded person is no longer 'on track'");
    {
        char *t = json_dumps(c, JSON_COMPACT);
        ok(t && !strstr(t, "\"p1\"") && !strstr(t, "\"p3\""), "no ref in the cohort document");
        free(t);
    }
    json_decref(c);
    g = doc(p, "programme/lp");
    is_int(I(g, "award.awarded"), 1, "programme: awarded summed");
    is_int(I(g, "award.failed"), 1, "programme: failed summed");
    json_decref(g);
    round_trip(p, "units and awards");

    /* A version 1 checkpoint (no units, no assessments, no furthest stage)
     * is refused: the daemon replays the log instead (checkpoint_restore). */
    q = proj_new(NULL);
    build_c2(q);
    s = proj_save(q);
    proj_destroy(&q);
    v1 = as_version1(s);
    q = proj_new(NULL);
    ok(v1 && strstr(v1, "\"version\":1"), "made a version 1 text");
    is_int(proj_load(q, v1, strlen(v1)), -EINVAL,
           "a version 1 checkpoint is refused (it cannot say how far people got)");
    ok(proj_seq(q) == 0, "and leaves the projection empty");
    proj_destroy(&q);
    q = proj_new(NULL);
    {
        char *bad = strdup(v1), *at2 = strstr(bad, "\"version\":1");
        at2[10] = '9';
        is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "an unknown version 9 is refused");
        free(bad);
    }
    proj_destroy(&q);
    q = proj_new(NULL);
    {
        char *u = proj_save(p), *bad = u ? strdup(u) : NULL;
        char *at2 = bad ? strstr(bad, "\"version\":3") : NULL;
        if (at2)
            at2[10] = '1';
        is_int(proj_load(q, bad, strlen(bad)), -EINVAL,
               "version 3 contents under a version 1 header are refused");
        free(u);
        free(bad);
    }
    proj_destroy(&q);
    free(v1);
    free(s);
    proj_destroy(&p);
}

/* ------------------------------------------------------ save / load --- */

static void round_trip(proj_t *p, const char *name)
{
    char *s = proj_save(p), *s2, **t1, **t2;
    proj_t *q = proj_new(NULL);
    size_t n1, n2;
    int same = 1;
    ok(s != NULL, "%s: saved", name);
    is_int(proj_load(q, s, strlen(s)), 0, "%s: loaded", name);
    is_int(proj_seq(q), proj_seq(p), "%s: seq kept", name);
    ok(proj_as_of(q) == proj_as_of(p), "%s: log clock kept", name);
    n1 = proj_topics(p, "", &t1);
    n2 = proj_topics(q, "", &t2);
    is_int(n2, n1, "%s: same topics (%zu)", name, n1);
    for (size_t i = 0; i < n1 && i < n2; i++) {
        char *a = proj_render(p, t1[i]), *b = proj_render(q, t2[i]);
        if (strcmp(t1[i], t2[i]) || !a || !b || strcmp(a, b)) {
            diag("differs: %s", t1[i]);
            same = 0;
        }
        free(a);
        free(b);
    }
    ok(same, "%s: every topic renders byte-identical after load", name);
    proj_strv_free(t2, n2);
    n2 = proj_take_dirty(q, &t2);
    is_int(n2, n1, "%s: every topic dirty after load", name);
    proj_strv_free(t2, n2);
    s2 = proj_save(q);
    is_str(s2, s, "%s: saving the loaded state gives the same text", name);
    is_int(proj_load(q, s, strlen(s)), -EINVAL, "%s: load into a non-empty proj", name);
    proj_strv_free(t1, n1);
    free(s2);
    free(s);
    proj_destroy(&q);
}

static void test_save_load(proj_t *examples)
{
    proj_t *p = proj_new(NULL), *q = proj_new(NULL);
    char *s, *bad;
    char **v;
    diag("save and load");
    build_c2(p);
    mentor_at(p, "ag-a", "m1", "ag-b", "p1", "tp", "c2");
    promote(p, "ag-a", "p1", "ACTING_UP", "2009-06-01", "tp", "c2");
    cohort(p, "tp", "c2", "[\"ag-a\",\"ag-c\"]"); /* ag-b kept for its enrolments only */
    round_trip(p, "fixture");
    round_trip(examples, "examples");

    s = proj_save(p);
    is_int(proj_load(q, "not json", 8), -EINVAL, "garbage");
    is_int(proj_load(q, s, strlen(s) / 2), -EINVAL, "truncated");
    ok((bad = strdup(s)) && strstr(bad, "\"stage\":6"), "has a stage to corrupt");
    if (bad && strstr(bad, "\"stage\":6"))
        memcpy(strstr(bad, "\"stage\":6"), "\"stage\":0", 9);
    is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "a bad stage");
    free(bad);
    ok((bad = strdup(s)) && strstr(bad, "\"ref\":\"p1\""), "has a ref to corrupt");
    if (bad && strstr(bad, "\"ref\":\"p1\"")) /* the first is the enrolment's person */
        memcpy(strstr(bad, "\"ref\":\"p1\""), "\"ref\":\"zz\"", 10);
    is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "a dangling reference");
    free(bad);
    is_int(proj_topics(q, "", &v), 0, "a failed load leaves the proj empty");
    is_int(proj_load(q, s, strlen(s)), 0, "and it can still load");
    free(s);
    proj_destroy(&q);
    proj_destroy(&p);
}

/* ------------------------------------------------- new day, rejected --- */

/* proj_apply checks an event that opens a new day on the log clock before
 * it cuts the releases due (the dry dispatch): an event that is rejected
 * cuts nothing and changes nothing; the same day's valid event cuts them. */
static void test_new_day_rejected(void)
{
    proj_t *p = proj_new(NULL);
    char *before, *after;
    diag("an event rejected on a new day cuts no release");
    build_c2(p);
    is_dirty(p,
             "agency/ag-a/tp/c2 agency/ag-b/tp/c2 cohort/tp/c2 programme/tp release/cohort/tp/c2 "
             "release/programme/tp",
             "built");
    before = proj_save(p);
    is_int(promote(p, "ag-a", "p9", "ACTING_UP", "2009-06-01", "tp", "c2"), C_PERSON,
           "2009-06-01, someone unregistered: rejected");
    after = proj_save(p);
    is_str(after, before, "state unchanged (no release cut, log clock not moved)");
    is_dirty(p, "", "nothing marked");
    is_int(promote(p, "ag-a", "p1", "ACTING_UP", "2009-06-01", "tp", "c2"), OK,
           "2009-06-01, p1: applied");
    is_dirty(p,
             "agency/ag-a/tp/c2 cohort/tp/c2 programme/tp release/cohort/tp/c2 "
             "release/programme/tp",
             "and the release due is cut");
    free(before);
    free(after);
    proj_destroy(&p);
}

/* ------------------------------------------------------------ erasure --- */

#define XREF "p1:erased-person-x"
#define MREF "p1:erased-mentor-m"

/* A programme with three cohorts, people of two agencies, and (unless
 * skip names them) X, a participant with distinctive characteristics who is
 * enrolled in c1 and c3, attends a session nobody else attends, is promoted
 * and mentored, and M, a mentor from cps who mentors p1 and X. In c3 the
 * police are dropped from the agencies while X is enrolled, so X alone
 * keeps that agency topic. Events about a skipped person are refused
 * (unknown), as if they had never existed. sealed_x registers X as a
 * replay sees them once their key is gone: sealed, no characteristics. */
static void erasure_world(proj_t *p, const char *skip, int sealed_x)
{
    static const char *const refs[] = {"p1", "p2", "p3", "p4", "p5", "p6"};
    static const char *const eths[] = {"B1", "B1", "A1", "A2", "W1", "B2"};
    static const char *const gens[] = {"FEMALE", "MALE", "FEMALE", "MALE", "FEMALE", "MALE"};
    int sx = skip && strcmp(skip, XREF) == 0, sm = skip && strcmp(skip, MREF) == 0;
    programme(p, "sf");
    cohort(p, "sf", "c1", "[\"police\",\"cps\"]");
    cohort(p, "sf", "c2", "[\"police\"]");
    cohort(p, "sf", "c3", "[\"police\",\"cps\"]");
    for (int i = 0; i < 6; i++) {
        person_full(p, "police", refs[i], "PARTICIPANT", eths[i], gens[i], "NOT_DISABLED",
                    "HETEROSEXUAL");
        enrol(p, "police", refs[i], "sf", "c1");
        attend(p, "police", refs[i], "sf", "c1", "TRAINING_COURSE", "course-1", "PRESENT", 1440);
    }
    enrol(p, "police", "p1", "sf", "c2");
    person(p, "cps", "c1p", "PARTICIPANT");
    enrol(p, "cps", "c1p", "sf", "c1");
    enrol(p, "cps", "c1p", "sf", "c3");
    if (!sm) {
        person_full(p, "cps", MREF, "MENTOR", "M2", "MALE", "DISABLED", "LGB");
        stage(p, "cps", MREF, "sf", "c1", "ENROLLED");
        attend(p, "cps", MREF, "sf", "c1", "CALL_BACK", "mentor-call-back", "PRESENT", 240);
    }
    if (!sx) {
        if (sealed_x)
            ev(p, "{\"agency\":\"police\",\"occurredAt\":\"2009-01-03T09:00:00Z\","
                  "\"participantRegistered\":{\"participantRef\":\"" XREF "\",\"role\":"
                  "\"PARTICIPANT\",\"grade\":\"band 6\",\"sealed\":\"AQIDBAUG\"}}");
        else
            person_full(p, "police", XREF, "PARTICIPANT", "O1", "GENDER_OTHER", "DISABLED", "LGB");
    }
    enrol(p, "police", XREF, "sf", "c1");
    enrol(p, "police", XREF, "sf", "c3");
    attend(p, "police", XREF, "sf", "c1", "TRAINING_COURSE", "course-1", "LATE", 1200);
    attend(p, "police", XREF, "sf", "c1", "COACHING", "coaching-only-x", "PRESENT", 120);
    promote(p, "police", XREF, "SUBSTANTIVE_PROMOTION", "2009-07-01", "sf", "c1");
    promote(p, "police", "p2", "ACTING_UP", "2009-07-02", "sf", "c1");
    mentor_at(p, "police", MREF, "cps", "p1", "sf", "c1");
    mentor_at(p, "police", MREF, "cps", XREF, "sf", "c1");
    cohort(p, "sf", "c3", "[\"cps\"]");
}

/* doc (malloc'd JSON, taken) without its "history": the monthly rows are
 * counts as they stood at the end of each past month, kept as taken, like
 * releases (docs/status.md, "history"); an erasure changes the current
 * figures and the rows taken after it. malloc'd, or NULL. */
static char *without_history(char *doc)
{
    json_t *d = doc ? json_loads(doc, 0, NULL) : NULL;
    char *out = NULL;
    free(doc);
    if (d) {
        json_object_del(d, "history");
        out = json_dumps(d, PROJ_DUMP_FLAGS);
    }
    json_decref(d);
    return out;
}

/* Every topic of a and b, and their documents, are the same. */
/* The live topics (not release/: a release is a dated publication of
 * counts as they were, kept as published; it never holds a ref) of a and
 * b render byte-identically. */
static int same_docs(const proj_t *a, const proj_t *b, const char *name)
{
    char **ta = NULL, **tb = NULL;
    size_t na = proj_topics(a, "", &ta), nb = proj_topics(b, "", &tb);
    while (na && strncmp(ta[na - 1], "release/", 8) == 0) /* sorted: releases sort last */
        free(ta[--na]);
    while (nb && strncmp(tb[nb - 1], "release/", 8) == 0)
        free(tb[--nb]);
    int same = na == nb;
    for (size_t i = 0; same && i < na; i++) {
        char *da = without_history(proj_render(a, ta[i])),
             *db = without_history(proj_render(b, tb[i]));
        same = strcmp(ta[i], tb[i]) == 0 && da && db && strcmp(da, db) == 0;
        if (!same)
            diag("%s: %s differs:\n# %s\n# %s", name, ta[i], da ? da : "(none)",
                 db ? db : "(none)");
        free(da);
        free(db);
    }
    proj_strv_free(ta, na);
    proj_strv_free(tb, nb);
    return ok(same && na > 0, "%s: the same %zu topics, byte-identical documents", name, na);
}

/* No document of p holds s. */
static int nowhere(const proj_t *p, const char *s)
{
    char **t = NULL;
    size_t n = proj_topics(p, "", &t);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        char *d = proj_render(p, t[i]);
        found |= d && strstr(d, s) != NULL;
        free(d);
    }
    proj_strv_free(t, n);
    return !found;
}

static int erase(proj_t *p, const char *agency, const char *ref)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2009-08-01T09:00:00Z\","
              "\"participantErased\":{\"participantRef\":\"%s\"}}",
              agency, ref);
}

static void test_erasure(void)
{
    proj_t *a = proj_new(NULL), *never = proj_new(NULL), *sealed = proj_new(NULL), *q;
    json_t *d;

    erasure_world(a, NULL, 0);
    erasure_world(never, XREF, 0);
    erasure_world(sealed, NULL, 1);
    d = doc(a, "agency/police/sf/c1");
    ok(at(d, "people.ref=" XREF) != NULL, "before: X is on the police topic of c1");
    json_decref(d);
    d = rdoc(a, "cohort/sf/c1");
    is_int(I(d, "representation.total"), 8, "before: 8 enrolled participants counted, X too");
    is_int(I(d, "mentoring.assignments"), 2, "before: two mentor assignments");
    json_decref(d);
    char *c3 = proj_render(a, "agency/police/sf/c3");
    ok(c3 && strstr(c3, XREF), "before: X alone keeps police's c3 topic");
    free(c3);
    free(dirty(a));

    is_int(erase(a, "police", XREF), OK, "X is erased");
    /* the erasure's date also starts a new release period: sf's release
     * is cut from the state before it, as the log clock says; and a new
     * month: every cohort (c2 too) takes its July history row */
    is_dirty(a,
             "agency/cps/sf/c1 agency/cps/sf/c3 agency/police/sf/c1 agency/police/sf/c3 "
             "cohort/sf/c1 cohort/sf/c2 cohort/sf/c3 programme/sf release/cohort/sf/c1 "
             "release/cohort/sf/c2 "
             "release/cohort/sf/c3 release/programme/sf",
             "erasure marks the cohorts X was in, their programme and agency topics");
    ok(proj_render(a, "agency/police/sf/c3") == NULL, "police's c3 topic, X's alone, is gone");
    ok(nowhere(a, XREF), "no document holds X's ref");
    same_docs(a, never, "erased == never existed");
    d = doc(a, "cohort/sf/c1");
    is_int(I(d, "mentoring.assignments"), 1, "after: X's mentor assignment is gone");
    is_int(I(d, "filled.participants"), 7, "after: 6 police + 1 cps participants");
    json_decref(d);

    /* Replay once the key is gone: registered sealed, then erased. */
    is_int(erase(sealed, "police", XREF), OK, "a sealed-only X is erased on replay");
    same_docs(sealed, never, "replay without the key == never existed");

    /* The saved state forgets X too. */
    char *text = proj_save(a);
    ok(text && !strstr(text, XREF), "the saved state (checkpoint) holds no trace of X's ref");
    q = proj_new(NULL);
    is_int(q && text ? proj_load(q, text, strlen(text)) : -1, 0, "it loads");
    same_docs(q, a, "loaded == live after erasure");
    proj_destroy(&q);
    free(text);

    /* Afterwards X is unknown. */
    is_int(attend(a, "police", XREF, "sf", "c1", "COACHING", "c-2", "PRESENT", 120), C_PERSON,
           "attendance for X: unknown participant");
    is_int(stage(a, "police", XREF, "sf", "c1", "COMPLETED"), C_PERSON,
           "enrolment change for X: unknown participant");
    is_int(promote(a, "police", XREF, "ACTING_UP", "2009-07-05", "sf", "c1"), C_PERSON,
           "promotion for X: unknown participant");
    is_int(erase(a, "police", XREF), C_PERSON, "erasing X again: unknown participant");
    is_int(erase(a, "police", "nobody"), C_PERSON, "erasing someone never registered: 14");
    is_int(erase(a, "cps", "p1"), C_PERSON, "the same ref under another agency is not that person");
    is_dirty(a, "", "a refused erasure marks nothing");
    /* Registered again: a new person, from scratch. */
    is_int(person(a, "police", XREF, "PARTICIPANT"), OK, "X may be registered again");
    is_int(stage(a, "police", XREF, "sf", "c1", "ENROLLED"), C_TRANS,
           "... as a new person: no earlier enrolment");
    is_int(stage(a, "police", XREF, "sf", "c1", "APPLIED"), OK, "... who starts at APPLIED");
    proj_destroy(&a);

    /* Erasing a mentor: gone from every mentor list, and from the funnel. */
    a = proj_new(NULL);
    q = proj_new(NULL);
    erasure_world(a, NULL, 0);
    erasure_world(q, MREF, 0);
    d = doc(a, "agency/police/sf/c1");
    is_int(I(d, "people.ref=p1.mentors"), 1, "before: p1 has a mentor");
    json_decref(d);
    is_int(erase(a, "cps", MREF), OK, "M (a mentor) is erased");
    d = doc(a, "agency/police/sf/c1");
    is_int(I(d, "people.ref=p1.mentors"), 0, "after: p1 has none");
    json_decref(d);
    ok(nowhere(a, MREF), "no document holds M's ref");
    same_docs(a, q, "erased mentor == never existed");
    is_int(mentor_at(a, "police", MREF, "cps", "p1", "sf", "c1"), C_PERSON,
           "M can no longer be assigned");
    proj_destroy(&a);
    proj_destroy(&q);
    proj_destroy(&never);
    proj_destroy(&sealed);

    /* A sealed registration is accepted only without characteristics in
     * clear being required; an unsealed one still needs them. */
    a = proj_new(NULL);
    is_int(ev(a, "{\"agency\":\"police\",\"occurredAt\":\"2009-01-03T09:00:00Z\","
                 "\"participantRegistered\":{\"participantRef\":\"r\",\"role\":\"PARTICIPANT\"}}"),
           COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM,
           "an unsealed registration without characteristics is refused");
    proj_destroy(&a);
}

/* ------------------------------------------------ cumulative funnel --- */

/* funnel_reached (issue 18, section 4): each participant counts at every
 * stage up to the furthest reached, whatever the stage now; NOT_SELECTED,
 * WITHDRAWN and DECLINED keep how far the person got. */
static void test_funnel_reached(void)
{
    proj_t *p = proj_new(NULL), *q = proj_new(NULL);
    json_t *c, *g;
    char *s, *bad, *at_;
    diag("cumulative funnel by the furthest stage reached");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\",\"ag-b\",\"ag-c\"]");
    cohort(p, "tp", "c2", "[\"ag-a\"]");
    for (int i = 1; i <= 6; i++) {
        char ref[8];
        snprintf(ref, sizeof ref, "p%d", i);
        person(p, i == 5 ? "ag-b" : "ag-a", ref, "PARTICIPANT");
    }
    person(p, "ag-a", "m1", "MENTOR");
    is_int(enrol(p, "ag-a", "p1", "tp", "c1"), OK, "p1 enrolled");
    is_int(stage(p, "ag-a", "p1", "tp", "c1", "COMPLETED"), OK, "p1 completed");
    is_int(stage(p, "ag-a", "p2", "tp", "c1", "APPLIED"), OK, "p2 applied");
    is_int(stage(p, "ag-a", "p2", "tp", "c1", "NOT_SELECTED"), OK, "p2 not selected at once");
    stage(p, "ag-a", "p3", "tp", "c1", "APPLIED");
    stage(p, "ag-a", "p3", "tp", "c1", "SHORTLISTED");
    stage(p, "ag-a", "p3", "tp", "c1", "INTERVIEWED");
    is_int(stage(p, "ag-a", "p3", "tp", "c1", "WITHDRAWN"), OK, "p3 withdrew after interview");
    stage(p, "ag-a", "p4", "tp", "c1", "APPLIED");
    stage(p, "ag-a", "p4", "tp", "c1", "SHORTLISTED");
    stage(p, "ag-a", "p4", "tp", "c1", "INTERVIEWED");
    stage(p, "ag-a", "p4", "tp", "c1", "LINE_MANAGER_SUPPORTED");
    stage(p, "ag-a", "p4", "tp", "c1", "OFFERED");
    is_int(stage(p, "ag-a", "p4", "tp", "c1", "DECLINED"), OK, "p4 declined the offer");
    stage(p, "ag-b", "p5", "tp", "c1", "APPLIED");
    stage(p, "ag-b", "p5", "tp", "c1", "SHORTLISTED");
    is_int(stage(p, "ag-b", "p5", "tp", "c1", "NOT_SELECTED"), OK, "p5 not selected");
    is_int(stage(p, "ag-a", "m1", "tp", "c1", "ENROLLED"), OK, "a mentor, straight in");
    is_int(stage(p, "ag-a", "p6", "tp", "c2", "APPLIED"), OK, "p6 applied to c2");
    /* a refused step changes nothing */
    is_int(stage(p, "ag-a", "p2", "tp", "c1", "SHORTLISTED"), C_TRANS, "NOT_SELECTED is final");
    is_int(stage(p, "ag-a", "p6", "tp", "c2", "OFFERED"), C_LMS, "no skipping to an offer");

    c = doc(p, "cohort/tp/c1");
    is_text(c, "funnel_reached.participants.reached",
            "{\"APPLIED\":5,\"ENROLLED\":1,\"INTERVIEWED\":3,\"LINE_MANAGER_SUPPORTED\":2,"
            "\"OFFERED\":2,\"SHORTLISTED\":4}",
            "c1: reached, by the furthest stage (mentor not counted)");
    ok(RL(c, "funnel_reached.participants.conversion.SHORTLISTED") == 0.8,
       "applied->shortlisted 4/5");
    ok(RL(c, "funnel_reached.participants.conversion.INTERVIEWED") == 0.75, "-> interviewed 3/4");
    ok(RL(c, "funnel_reached.participants.conversion.LINE_MANAGER_SUPPORTED") == 0.6667,
       "-> supported 2/3, 4 decimals");
    ok(RL(c, "funnel_reached.participants.conversion.OFFERED") == 1.0, "-> offered 2/2");
    ok(RL(c, "funnel_reached.participants.conversion.ENROLLED") == 0.5, "-> enrolled 1/2");
    ok(RL(c, "funnel_reached.participants.overall_conversion") == 0.2, "overall 1/5");
    is_int(I(c, "funnel_reached.participants.by_agency.ag-b.SHORTLISTED"), 1,
           "ag-b: p5 shortlisted");
    is_int(I(c, "funnel_reached.participants.by_agency.ag-b.INTERVIEWED"), 0,
           "ag-b: not interviewed");
    is_int(I(c, "funnel_reached.participants.by_agency.ag-a.OFFERED"), 2, "ag-a: 2 offered");
    is_int(I(c, "funnel_reached.participants.by_agency.ag-c.APPLIED"), 0, "ag-c listed: zeros");
    ok(at(c, "funnel_reached.mentors") == NULL, "no mentors' funnel_reached");
    /* the existing funnel is unchanged: current stages only */
    is_int(I(c, "funnel.participants.by_stage.NOT_SELECTED"), 2, "funnel: 2 NOT_SELECTED now");
    is_int(I(c, "funnel.participants.by_stage.SHORTLISTED"), 0, "funnel: nobody SHORTLISTED now");
    json_decref(c);
    c = doc(p, "cohort/tp/c2");
    is_text(c, "funnel_reached.participants.conversion",
            "{\"ENROLLED\":null,\"INTERVIEWED\":null,\"LINE_MANAGER_SUPPORTED\":null,"
            "\"OFFERED\":null,\"SHORTLISTED\":0.0}",
            "c2: a rate with nobody at the step before is null");
    json_decref(c);
    g = doc(p, "programme/tp");
    is_int(I(g, "funnel_reached.participants.reached.APPLIED"), 6, "programme: sums its cohorts");
    is_int(I(g, "funnel_reached.participants.reached.ENROLLED"), 1, "programme: 1 enrolled");
    ok(RL(g, "funnel_reached.participants.conversion.SHORTLISTED") == 0.6667, "programme: 4/6");
    is_int(I(g, "funnel_reached.participants.by_agency.ag-a.APPLIED"), 5, "programme: ag-a 5");
    json_decref(g);

    /* the checkpoint keeps it; an old (version 1) or inconsistent one is refused */
    round_trip(p, "funnel_reached");
    s = proj_save(p);
    ok(s && strstr(s, "\"version\":3"), "checkpoint format version 3");
    ok((bad = strdup(s)) && (at_ = strstr(bad, "\"version\":3")), "has a version");
    if (bad && (at_ = strstr(bad, "\"version\":3")))
        at_[10] = '1';
    is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "a version 1 checkpoint is refused (replay)");
    free(bad);
    /* p1 (COMPLETED) must have reached ENROLLED */
    ok((bad = strdup(s)) && (at_ = strstr(bad, "\"reached\":6")), "has a reached to corrupt");
    if (bad && (at_ = strstr(bad, "\"reached\":6")))
        at_[10] = '5';
    is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "reached below the stage is refused");
    free(bad);
    ok((bad = strdup(s)) && (at_ = strstr(bad, "\"reached\":1")), "has a reached of 1");
    if (bad && (at_ = strstr(bad, "\"reached\":1")))
        at_[10] = '7';
    is_int(proj_load(q, bad, strlen(bad)), -EINVAL, "reached past ENROLLED is refused");
    free(bad);
    is_int(proj_load(q, s, strlen(s)), 0, "the real one loads");
    free(s);

    /* erasure: as if never there */
    is_int(erase(p, "ag-a", "p4"), OK, "p4 erased");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "funnel_reached.participants.reached.OFFERED"), 1, "erased: gone from OFFERED");
    is_int(I(c, "funnel_reached.participants.reached.APPLIED"), 4, "erased: gone from APPLIED");
    json_decref(c);
    proj_destroy(&q);
    proj_destroy(&p);
}

/* The funnel by ethnic group in releases (issue 18, section 4): suppressed
 * per stage, and the drop-outs between stages (a subtraction away) too. */
static void test_funnel_by_group(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c, *g;
    char ref[16];
    int small = 0, both;
    static const char *const st[] = {
        "APPLIED", "SHORTLISTED", "INTERVIEWED", "LINE_MANAGER_SUPPORTED", "OFFERED", "ENROLLED"};
    diag("the funnel by ethnic group, released and suppressed");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\"]");
    for (int i = 0; i < 18; i++) {
        snprintf(ref, sizeof ref, "p%02d", i);
        person_full(p, "ag-a", ref, "PARTICIPANT",
                    i < 10   ? "W1"
                    : i < 16 ? "B1"
                             : "A1",
                    "FEMALE", "NOT_DISABLED", "HETEROSEXUAL");
        if (i == 10) { /* one Black applicant is not shortlisted */
            stage(p, "ag-a", ref, "tp", "c1", "APPLIED");
            stage(p, "ag-a", ref, "tp", "c1", "NOT_SELECTED");
        } else {
            enrol(p, "ag-a", ref, "tp", "c1");
        }
    }
    is_int(proj_release_now(p, "2009-04-02", "test"), 1, "released");
    c = doc(p, "release/cohort/tp/c1");
    g = doc(p, "release/programme/tp");
    ok(c && at(c, "funnel_reached.by_ethnic_group"),
       "the cohort's release has the funnel by group");
    ok(g && at(g, "funnel_reached.by_ethnic_group"), "and the programme's");
    is_int(I(c, "funnel_reached.by_ethnic_group.APPLIED.total"), 18, "18 applied (a root)");
    is_int(I(c, "funnel_reached.by_ethnic_group.SHORTLISTED.total"), 17, "17 shortlisted");
    is_int(I(c, "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.WHITE"), 10, "10 White");
    for (int s = 0; s < 6; s++) {
        char path[128];
        snprintf(path, sizeof path, "funnel_reached.by_ethnic_group.%s.ethnic_group.ASIAN", st[s]);
        small += !NUL(c, path);
        for (int k = 0; k < 6; k++) {
            static const char *const gs[] = {
                "WHITE", "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER", "NOT_STATED"};
            json_t *v;
            snprintf(path, sizeof path, "funnel_reached.by_ethnic_group.%s.ethnic_group.%s", st[s],
                     gs[k]);
            v = at(c, path);
            small += json_is_integer(v) && json_integer_value(v) >= 1 &&
                     json_integer_value(v) < PROJ_DEFAULT_K;
        }
    }
    is_int(small, 0, "no group of 1..4 published at any stage (2 Asian: hidden throughout)");
    both = json_is_integer(at(c, "funnel_reached.by_ethnic_group.APPLIED.ethnic_group.BLACK")) &&
           json_is_integer(at(c, "funnel_reached.by_ethnic_group.SHORTLISTED.ethnic_group.BLACK"));
    ok(!both, "BLACK 6 applied and 5 shortlisted are not both published (the 1 not shortlisted)");
    ok(TRUE_(c, "funnel_reached.suppressed_may_be_zero"), "suppressed cells may be zero");
    json_decref(c);
    json_decref(g);
    proj_destroy(&p);

    /* fewer than k applicants: no breakdown */
    p = proj_new(NULL);
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\"]");
    for (int i = 0; i < 3; i++) {
        snprintf(ref, sizeof ref, "q%d", i);
        person(p, "ag-a", ref, "PARTICIPANT");
        enrol(p, "ag-a", ref, "tp", "c1");
    }
    proj_release_now(p, "2009-04-02", "test");
    c = doc(p, "release/cohort/tp/c1");
    ok(TRUE_(c, "funnel_reached.below_threshold") && !at(c, "funnel_reached.by_ethnic_group"),
       "3 applicants: below the threshold, no breakdown");
    json_decref(c);
    proj_destroy(&p);
}

/* LeaverRecorded and retention (issue 18, section 6). */
static int leaver(proj_t *p, const char *agency, const char *ref, const char *on, const char *why)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"2010-05-01T09:00:00Z\",\"leaverRecorded\":{"
              "\"participantRef\":\"%s\",\"leftOn\":\"%s\",\"reason\":%s}}",
              agency, ref, on, why);
}

static void test_leavers(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c, *a;
    diag("leavers, retention and promotion after the programme");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\",\"ag-b\"]");
    person(p, "ag-a", "p1", "PARTICIPANT");
    person(p, "ag-a", "p2", "PARTICIPANT");
    person(p, "ag-b", "p3", "PARTICIPANT");
    person(p, "ag-a", "p4", "PARTICIPANT");
    enrol(p, "ag-a", "p1", "tp", "c1");
    enrol(p, "ag-a", "p2", "tp", "c1");
    enrol(p, "ag-b", "p3", "tp", "c1");
    stage(p, "ag-a", "p4", "tp", "c1", "APPLIED");
    is_int(stage(p, "ag-a", "p1", "tp", "c1", "COMPLETED"), OK, "p1 completed");
    is_int(promote(p, "ag-a", "p1", "SUBSTANTIVE_PROMOTION", "2010-01-11", "tp", "c1"), OK,
           "p1 promoted after the end");

    is_int(leaver(p, "ag-b", "p1", "2010-03-31", "\"LEAVER_RESIGNED\""), C_PERSON,
           "another agency's person: not registered with this agency");
    ok(strstr(WHY, "not registered with this agency") != NULL, "  reason: %s", WHY);
    is_int(leaver(p, "ag-a", "nobody", "2010-03-31", "\"LEAVER_RESIGNED\""), C_PERSON,
           "an unknown ref");
    is_int(leaver(p, "ag-a", "p2", "2009-06-30", "99"), COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM,
           "an unknown reason number");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "retention.left_during"), 0, "refused leavers change nothing");
    json_decref(c);
    is_int(leaver(p, "ag-a", "p2", "2009-06-30", "\"LEAVER_TRANSFERRED\""), OK, "p2 left during");
    is_int(leaver(p, "ag-a", "p1", "2010-03-31", "\"LEAVER_RESIGNED\""), OK, "p1 left after");
    is_int(leaver(p, "ag-a", "p4", "2009-05-01", "\"LEAVER_RETIRED\""), OK,
           "p4 (never enrolled) left");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "retention.enrolled"), 3, "3 enrolled (p4 only applied)");
    is_int(I(c, "retention.left_during"), 1, "1 left during");
    is_int(I(c, "retention.retained_at_end"), 2, "2 retained at the end");
    ok(RL(c, "retention.retention_at_end") == 0.6667, "retention at the end 2/3");
    is_int(I(c, "retention.left_within_6_months_after"), 0, "2010-03-31 is after 6 months");
    is_int(I(c, "retention.left_within_12_months_after"), 1, "and within 12");
    ok(RL(c, "retention.retention_12_months_after") == 0.3333, "1/3 retained 12 months after");
    is_int(I(c, "progression.after_completion.completed"), 1, "1 completed");
    is_int(I(c, "progression.after_completion.promoted_within_6_months"), 1,
           "promoted within 6 months of the end");
    ok(RL(c, "progression.after_completion.promotion_rate_6_months") == 1.0, "rate 1/1");
    is_int(I(c, "progression.after_completion.median_days_after_end_to_substantive_promotion"), 103,
           "103 days after the end");
    ok(NUL(c, "progression.after_completion.promotion_rate_during") == 0 &&
           RL(c, "progression.after_completion.promotion_rate_during") == 0.0,
       "none promoted during");
    {
        char *t = json_dumps(c, JSON_COMPACT);
        ok(t && !strstr(t, "LEAVER") && !strstr(t, "left_on"),
           "no reasons or dates of leaving in the board's documents");
        free(t);
    }
    json_decref(c);
    a = doc(p, "agency/ag-a/tp/c1");
    is_str(STR(a, "people.ref=p2.left_on"), "2009-06-30", "the agency sees its person's left_on");
    is_str(STR(a, "people.ref=p2.left_reason"), "LEAVER_TRANSFERRED", "and the reason");
    ok(NUL(a, "people.ref=p1.left_on") == 0, "p1 has one too");
    json_decref(a);
    a = doc(p, "agency/ag-b/tp/c1");
    ok(NUL(a, "people.ref=p3.left_on"), "ag-b's p3 did not leave");
    json_decref(a);

    /* a later one corrects: p2 left after the end after all */
    is_int(leaver(p, "ag-a", "p2", "2009-10-15", "\"LEAVER_RESIGNED\""), OK, "p2 corrected");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "retention.left_during"), 0, "corrected: nobody left during");
    is_int(I(c, "retention.left_within_6_months_after"), 1, "p2 within 6 months after");
    json_decref(c);
    c = doc(p, "programme/tp");
    is_int(I(c, "retention.left_within_12_months_after"), 2, "programme: summed");
    json_decref(c);
    round_trip(p, "leavers");
    is_int(erase(p, "ag-a", "p2"), OK, "p2 erased");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "retention.enrolled"), 2, "erased: gone from retention");
    is_int(I(c, "retention.left_within_6_months_after"), 0, "and from the leavers");
    json_decref(c);
    proj_destroy(&p);
}

/* Leavers by ethnic group in the cohort's release (issue 18, section 6),
 * suppressed like progressed. */
static void test_leavers_by_group(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c;
    char ref[16];
    diag("leavers by ethnic group, released and suppressed");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\"]");
    for (int i = 0; i < 19; i++) { /* 12 White, 6 Black, 1 Asian; all enrolled */
        snprintf(ref, sizeof ref, "p%02d", i);
        person_full(p, "ag-a", ref, "PARTICIPANT",
                    i < 12   ? "W1"
                    : i < 18 ? "B1"
                             : "A1",
                    "MALE", "NOT_DISABLED", "HETEROSEXUAL");
        enrol(p, "ag-a", ref, "tp", "c1");
    }
    is_int(proj_release_now(p, "2009-04-02", "test"), 1, "released (nobody left)");
    c = doc(p, "release/cohort/tp/c1");
    is_int(I(c, "retention.left_by_ethnic_group.total"), 0, "0 left: a zero total");
    ok(TRUE_(c, "progression.median_days_after_end_to_substantive_promotion_by_ethnic_group."
                "withheld"),
       "the median by group is withheld (not auditable)");
    ok(!at(c, "progression.median_days_after_end_to_substantive_promotion_by_ethnic_group."
              "ethnic_group"),
       "and carries no group's median");
    json_decref(c);
    for (int i = 0; i < 19; i++) /* 6 White, 5 Black and the Asian leave */
        if (i < 6 || (i >= 12 && i < 17) || i == 18) {
            snprintf(ref, sizeof ref, "p%02d", i);
            leaver(p, "ag-a", ref, "2009-07-31", "\"LEAVER_RESIGNED\"");
        }
    leaver(p, "ag-a", "p11", "2011-01-31", "\"LEAVER_RETIRED\""); /* after 12 months: not counted */
    is_int(proj_release_now(p, "2009-08-01", "test"), 1, "released again");
    c = doc(p, "release/cohort/tp/c1");
    is_int(I(c, "retention.left_by_ethnic_group.total"), 12, "12 left within 12 months (a root)");
    ok(NUL(c, "retention.left_by_ethnic_group.ethnic_group.ASIAN"), "the one Asian leaver hidden");
    ok(NUL(c, "retention.left_by_ethnic_group.ethnic_group.BLACK") ||
           NUL(c, "retention.left_by_ethnic_group.ethnic_group.WHITE"),
       "and a second group, or the total gives it");
    ok(!json_is_integer(at(c, "retention.left_by_ethnic_group.ethnic_group.WHITE")) ||
           I(c, "retention.left_by_ethnic_group.ethnic_group.WHITE") == 6,
       "WHITE, if shown, is the true 6");
    json_decref(c);
    proj_destroy(&p);
}

/* A WorkforceBaseline of West Midlands Police's shape (September 2008). */
#define WMP_BASELINE                                                                               \
    "{\"agency\":\"%s\",\"occurredAt\":\"2009-01-03T10:00:00Z\",\"workforceBaseline\":{"           \
    "\"asAt\":\"%s\",\"categories\":["                                                             \
    "{\"category\":\"STAFF_CATEGORY_OFFICER\",\"headcount\":8596,"                                 \
    "\"groups\":[{\"group\":\"AIM_BME\",\"count\":642}]},"                                         \
    "{\"category\":\"STAFF_CATEGORY_STAFF\",\"headcount\":4175,"                                   \
    "\"groups\":[{\"group\":\"AIM_BME\",\"count\":415}]},"                                         \
    "{\"category\":\"STAFF_CATEGORY_PCSO\",\"headcount\":735,"                                     \
    "\"groups\":[{\"group\":\"AIM_BME\",\"count\":106}]}]}}"

static int target_ev(proj_t *p, const char *agency, const char *cat, int bp)
{
    return ev(
        p,
        "{\"agency\":\"%s\",\"occurredAt\":\"2009-01-03T11:00:00Z\",\"workforceTarget\":{"
        "\"group\":\"AIM_BME\",\"category\":\"%s\",\"basisPoints\":%d,\"by\":\"2009-03-31\"}}",
        agency, cat, bp);
}

/* Workforce baselines and targets (issue 18, section 5): the programme
 * document shows each taking-part agency's published figures and their sum;
 * no participant counts. */
static void test_workforce(void)
{
    proj_t *p = proj_new(NULL);
    json_t *d;
    char *t;
    diag("workforce baselines and targets");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\",\"ag-b\"]");
    d = doc(p, "programme/tp");
    is_int(I(d, "workforce.baselines"), 0, "no baselines yet");
    ok(NUL(d, "workforce.overall"), "overall null without baselines");
    json_decref(d);
    is_int(ev(p, WMP_BASELINE, "ag-a", "2008-09-30"), OK, "ag-a publishes its baseline");
    is_int(target_ev(p, "ag-a", "STAFF_CATEGORY_OFFICER", 1611), OK, "and its 16.11%% target");
    is_int(ev(p, WMP_BASELINE, "ag-z", "2008-09-30"), OK,
           "an agency in no cohort of tp may publish its own");
    d = doc(p, "programme/tp");
    is_int(I(d, "workforce.agencies.ag-a.baseline.headcount"), 13506, "headcount 13,506");
    is_int(I(d, "workforce.agencies.ag-a.baseline.categories.OFFICER.headcount"), 8596,
           "8,596 officers");
    ok(RL(d, "workforce.agencies.ag-a.baseline.categories.OFFICER.groups.AIM_BME.percent") ==
           0.0747,
       "BME officers 7.47%%");
    ok(RL(d, "workforce.agencies.ag-a.baseline.categories.STAFF.groups.AIM_BME.percent") == 0.0994,
       "BME staff 9.94%%");
    ok(RL(d, "workforce.agencies.ag-a.baseline.categories.PCSO.groups.AIM_BME.percent") == 0.1442,
       "BME PCSOs 14.42%%");
    is_int(I(d, "workforce.agencies.ag-a.baseline.all.AIM_BME.count"), 1163, "1,163 BME overall");
    ok(RL(d, "workforce.agencies.ag-a.baseline.all.AIM_BME.percent") == 0.0861, "8.61%% overall");
    is_str(STR(d, "workforce.agencies.ag-a.as_at"), "2008-09-30", "as at");
    is_int(I(d, "workforce.agencies.ag-a.targets.0.basis_points"), 1611, "target 1611 bp");
    ok(RL(d, "workforce.agencies.ag-a.targets.0.percent") == 0.1611, "target 16.11%%");
    is_str(STR(d, "workforce.agencies.ag-a.targets.0.category"), "OFFICER", "for officers");
    ok(RL(d, "workforce.agencies.ag-a.targets.0.workforce_percent") == 0.0747,
       "against 7.47%% now");
    ok(at(d, "workforce.agencies.ag-z") == NULL, "ag-z (not in the programme) not shown");
    ok(at(d, "workforce.agencies.ag-b") == NULL, "ag-b published nothing");
    is_int(I(d, "workforce.overall.headcount"), 13506, "overall: one baseline");
    json_decref(d);

    /* a second agency: the overall sums both */
    is_int(ev(p,
              "{\"agency\":\"ag-b\",\"occurredAt\":\"2009-01-03T12:00:00Z\",\"workforceBaseline\":{"
              "\"asAt\":\"2008-12-31\",\"categories\":[{\"category\":\"STAFF_CATEGORY_STAFF\","
              "\"headcount\":1000,\"groups\":[{\"group\":\"AIM_BME\",\"count\":100},"
              "{\"group\":\"AIM_FEMALE\",\"count\":600}]}]}}"),
           OK, "ag-b's baseline");
    d = doc(p, "programme/tp");
    is_int(I(d, "workforce.baselines"), 2, "two baselines");
    is_int(I(d, "workforce.overall.headcount"), 14506, "overall headcount summed");
    is_int(I(d, "workforce.overall.categories.STAFF.headcount"), 5175, "staff summed");
    is_int(I(d, "workforce.overall.categories.STAFF.groups.AIM_BME.count"), 515, "BME staff");
    is_int(I(d, "workforce.overall.all.AIM_BME.count"), 1263, "BME summed");
    ok(RL(d, "workforce.overall.all.AIM_BME.percent") == 0.0871, "1263/14506");
    is_int(I(d, "workforce.overall.all.AIM_FEMALE.of"), 1000,
           "FEMALE is of the headcount that reported it only");
    t = json_dumps(at(d, "workforce"), JSON_COMPACT);
    ok(t && !strstr(t, "enrolled") && !strstr(t, "participants"),
       "the workforce block holds no participant counts");
    free(t);
    json_decref(d);

    /* refusals and replacement */
    is_int(ev(p, WMP_BASELINE, "ag-a", "2008-03-31"), C_BAD_VALUE,
           "an earlier as_at than the current baseline is refused");
    ok(strstr(WHY, "before the agency's current baseline") != NULL, "  reason: %s", WHY);
    is_int(ev(p,
              "{\"agency\":\"ag-a\",\"occurredAt\":\"2009-01-03T12:00:00Z\",\"workforceBaseline\":{"
              "\"asAt\":\"2009-03-31\",\"categories\":[{\"category\":\"STAFF_CATEGORY_OFFICER\","
              "\"headcount\":8600,\"groups\":[{\"group\":\"AIM_BME\",\"count\":700}]}]}}"),
           OK, "a later baseline replaces the earlier whole");
    is_int(target_ev(p, "ag-a", "STAFF_CATEGORY_OFFICER", 1700), OK, "the target replaced");
    d = doc(p, "programme/tp");
    is_int(I(d, "workforce.agencies.ag-a.baseline.headcount"), 8600, "replaced: 8,600");
    ok(at(d, "workforce.agencies.ag-a.baseline.categories.STAFF") == NULL, "no staff any more");
    is_int(I(d, "workforce.agencies.ag-a.targets.0.basis_points"), 1700, "target 1700");
    ok(at(d, "workforce.agencies.ag-a.targets.1") == NULL, "one target");
    json_decref(d);
    round_trip(p, "workforce");
    {
        /* the checkpoint must hold the workforce: without it, refused */
        char *s = proj_save(p), *w = s ? strstr(s, "\"workforce\"") : NULL;
        proj_t *q = proj_new(NULL);
        ok(w != NULL, "the checkpoint has workforce");
        if (w)
            memcpy(w, "\"workfor_e\"", 11);
        is_int(s ? proj_load(q, s, strlen(s)) : 0, -EINVAL,
               "a format 2 checkpoint without workforce is refused");
        free(s);
        proj_destroy(&q);
    }
    proj_destroy(&p);
}

/* ------------------------------------------- plans, reviews, decisions --- */

static int plan_at(proj_t *p, const char *agency, const char *ref, const char *at,
                   const char *agreed, const char *review, const char *more)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"%s\",\"planAgreed\":{"
              "\"participantRef\":\"%s\",\"programmeId\":\"tp\",\"cohortId\":\"c1\","
              "\"agreedOn\":\"%s\",\"reviewOn\":\"%s\"%s}}",
              agency, at, ref, agreed, review, more);
}

static int review_at(proj_t *p, const char *agency, const char *ref, const char *at, const char *on,
                     const char *outcome, const char *next)
{
    return ev(p,
              "{\"agency\":\"%s\",\"occurredAt\":\"%s\",\"reviewRecorded\":{"
              "\"participantRef\":\"%s\",\"programmeId\":\"tp\",\"cohortId\":\"c1\","
              "\"reviewedOn\":\"%s\",\"outcome\":%s,\"nextReviewOn\":\"%s\"}}",
              agency, at, ref, on, outcome, next);
}

static int decide_at(proj_t *p, const char *pagency, const char *ref, const char *coh,
                     const char *decision, const char *reason)
{
    return ev(p,
              "{\"agency\":\"board\",\"occurredAt\":\"2009-07-01T09:00:00Z\",\"boardDecision\":{"
              "\"participantAgency\":\"%s\",\"participantRef\":\"%s\",\"programmeId\":\"tp\","
              "\"cohortId\":\"%s\",\"decidedOn\":\"2009-07-01\",\"decision\":%s,\"reason\":%s}}",
              pagency, ref, coh, decision, reason);
}

static void test_plans(void)
{
    proj_t *p = proj_new(NULL);
    json_t *c, *a;
    char *s;
    diag("plans, reviews and board decisions (issue 18 section 3)");
    programme(p, "tp");
    cohort(p, "tp", "c1", "[\"ag-a\",\"ag-b\"]");
    person(p, "ag-a", "p1", "PARTICIPANT");
    person(p, "ag-a", "p2", "PARTICIPANT");
    person(p, "ag-b", "p3", "PARTICIPANT");
    person(p, "ag-a", "p4", "PARTICIPANT");
    enrol(p, "ag-a", "p1", "tp", "c1");
    enrol(p, "ag-a", "p2", "tp", "c1");
    enrol(p, "ag-b", "p3", "tp", "c1");
    stage(p, "ag-a", "p4", "tp", "c1", "APPLIED");
    free(dirty(p));

    /* refusals */
    is_int(plan_at(p, "ag-b", "p1", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-01",
                   ",\"objectives\":[\"obj-1\"]"),
           C_PERSON, "plan: another agency's person");
    is_int(plan_at(p, "ag-a", "p4", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-01",
                   ",\"objectives\":[\"obj-1\"]"),
           C_NOT_ENROLLED, "plan: someone only APPLIED");
    is_int(plan_at(p, "ag-a", "p1", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-01",
                   ",\"options\":[99]"),
           COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM, "plan: an unknown option number");
    is_int(
        review_at(p, "ag-a", "p1", "2009-05-01T09:00:00Z", "2009-05-01", "\"REVIEW_ON_TRACK\"", ""),
        C_TRANS, "review: no plan yet");
    ok(strstr(WHY, "needs an agreed plan") != NULL, "  reason: %s", WHY);
    is_dirty(p, "", "refusals change nothing");

    /* plans: p1 objectives, p2 the menu, p3 objectives */
    is_int(plan_at(p, "ag-a", "p1", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-01",
                   ",\"objectives\":[\"obj-1\",\"obj-2\"]"),
           OK, "p1's plan");
    is_dirty(
        p, "agency/ag-a/tp/c1 cohort/tp/c1 programme/tp release/cohort/tp/c1 release/programme/tp",
        "a plan: its agency and board (and the releases, a new day)");
    is_int(plan_at(p, "ag-a", "p2", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-15",
                   ",\"options\":[\"PLAN_WORK_SHADOWING\",\"PLAN_ACTING_PLACEMENT\"]"),
           OK, "p2's plan from the menu");
    is_int(plan_at(p, "ag-b", "p3", "2009-05-01T09:00:00Z", "2009-05-01", "2009-06-01",
                   ",\"objectives\":[\"obj-1\"]"),
           OK, "p3's plan");
    is_int(
        review_at(p, "ag-a", "p1", "2009-05-02T09:00:00Z", "2009-04-30", "\"REVIEW_ON_TRACK\"", ""),
        C_BAD_VALUE, "review: before the plan was agreed");
    is_int(review_at(p, "ag-a", "p1", "2009-05-02T09:00:00Z", "2009-05-02", "99", ""),
           COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM, "review: an unknown outcome");
    is_int(
        review_at(p, "ag-b", "p1", "2009-05-02T09:00:00Z", "2009-05-02", "\"REVIEW_ON_TRACK\"", ""),
        C_PERSON, "review: another agency's person");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "plans.with_plan"), 3, "3 with a plan");
    is_int(I(c, "plans.overdue_reviews"), 0, "none overdue on 2009-05-01");
    json_decref(c);
    free(dirty(p));

    /* reviews on 2009-05-28: p1 concerns (next 2009-07-15), p3 on track (none due) */
    is_int(review_at(p, "ag-a", "p1", "2009-05-28T09:00:00Z", "2009-05-28", "\"REVIEW_CONCERNS\"",
                     "2009-07-15"),
           OK, "p1 reviewed: concerns");
    is_int(
        review_at(p, "ag-b", "p3", "2009-05-28T09:00:00Z", "2009-05-28", "\"REVIEW_ON_TRACK\"", ""),
        OK, "p3 reviewed: on track, no next review");
    free(dirty(p));
    /* the log clock passes p2's 2009-06-15: p2 becomes overdue */
    is_int(person(p, "ag-b", "p9", "PARTICIPANT"), OK, "an event on 2009-01-03: no new day");
    is_dirty(p, "", "nothing falls due");
    is_int(stage_at(p, "ag-a", "p4", "tp", "c1", "SHORTLISTED", "2009-06-16T09:00:00Z"), OK,
           "an event on 2009-06-16");
    s = dirty(p);
    ok(strstr(s, "agency/ag-a/tp/c1") && strstr(s, "cohort/tp/c1") && !strstr(s, "agency/ag-b"),
       "p2's review fell due: ag-a's and the board's topics re-render (%s)", s);
    free(s);
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "plans.overdue_reviews"), 1, "p2 overdue");
    is_int(I(c, "plans.concerns"), 1, "p1: concerns");
    is_int(I(c, "plans.reviews"), 2, "2 reviews");
    {
        char *t = json_dumps(c, JSON_COMPACT);
        ok(t && !strstr(t, "\"p1\"") && !strstr(t, "\"p2\"") && !strstr(t, "obj-1") &&
               !strstr(t, "PLAN_WORK") && !strstr(t, "2009-07-15"),
           "no person, objective or option in the board's document");
        free(t);
    }
    json_decref(c);
    a = doc(p, "agency/ag-a/tp/c1");
    is_str(STR(a, "people.ref=p1.plan.last_review_outcome"), "REVIEW_CONCERNS",
           "agency: p1's last review raised concerns");
    is_str(STR(a, "people.ref=p1.plan.review_due"), "2009-07-15", "  next due 2009-07-15");
    ok(!TRUE_(a, "people.ref=p1.plan.review_overdue"), "  not overdue");
    ok(TRUE_(a, "people.ref=p2.plan.review_overdue"), "agency: p2 overdue");
    is_text(a, "people.ref=p2.plan.options", "[\"PLAN_WORK_SHADOWING\",\"PLAN_ACTING_PLACEMENT\"]",
            "agency: p2's options");
    is_text(a, "people.ref=p1.plan.objectives", "[\"obj-1\",\"obj-2\"]", "agency: p1's objectives");
    ok(NUL(a, "people.ref=p4.plan"), "agency: p4 has no plan");
    json_decref(a);
    a = doc(p, "agency/ag-b/tp/c1");
    ok(NUL(a, "people.ref=p3.plan.review_due"), "p3: no review due");
    ok(at(a, "people.ref=p1") == NULL, "ag-b does not see ag-a's people");
    json_decref(a);

    /* a revised plan sets a new due date: p2 no longer overdue */
    is_int(plan_at(p, "ag-a", "p2", "2009-06-17T09:00:00Z", "2009-06-17", "2009-08-01",
                   ",\"objectives\":[\"obj-3\"]"),
           OK, "p2's plan revised");
    a = doc(p, "agency/ag-a/tp/c1");
    is_text(a, "people.ref=p2.plan.options", "[]", "revised: the menu replaced");
    is_text(a, "people.ref=p2.plan.objectives", "[\"obj-3\"]", "  by the new objectives");
    json_decref(a);
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "plans.overdue_reviews"), 0, "revised: nothing overdue");
    json_decref(c);

    /* board decisions */
    is_int(decide_at(p, "ag-a", "p1", "c2", "\"BOARD_WARNING\"", "\"BOARD_REASON_ATTENDANCE\""),
           C_COHORT, "decision: a cohort not open");
    is_int(decide_at(p, "ag-b", "p1", "c1", "\"BOARD_WARNING\"", "\"BOARD_REASON_ATTENDANCE\""),
           C_PERSON, "decision: a person not of participant_agency");
    is_int(decide_at(p, "ag-a", "p4", "c1", "\"BOARD_REMOVAL\"", "\"BOARD_REASON_CONDUCT\""),
           C_NOT_ENROLLED, "decision: someone not enrolled");
    is_int(decide_at(p, "ag-a", "p1", "c1", "99", "\"BOARD_REASON_CONDUCT\""),
           COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM, "decision: an unknown decision");
    is_int(decide_at(p, "ag-a", "p1", "c1", "\"BOARD_WARNING\"", "99"),
           COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM, "decision: an unknown reason");
    is_int(decide_at(p, "ag-a", "p1", "c1", "\"BOARD_WARNING\"", "\"BOARD_REASON_PLAN_NOT_MET\""),
           OK, "p1 warned: plan not met");
    is_int(decide_at(p, "ag-a", "p1", "c1", "\"BOARD_REMOVAL\"", "\"BOARD_REASON_PLAN_NOT_MET\""),
           OK, "p1 removed: plan not met");
    is_int(decide_at(p, "ag-a", "p1", "c1", "\"BOARD_REMOVAL\"", "\"BOARD_REASON_PLAN_NOT_MET\""),
           C_NOT_ENROLLED, "removed twice: no longer enrolled");
    is_int(stage(p, "ag-b", "p3", "tp", "c1", "COMPLETED"), OK, "p3 completed");
    is_int(decide_at(p, "ag-b", "p3", "c1", "\"BOARD_REMOVAL\"", "\"BOARD_REASON_CONDUCT\""),
           C_TRANS, "removal of someone COMPLETED");
    is_int(stage(p, "ag-a", "p2", "tp", "c1", "REMOVED_BY_BOARD"), OK,
           "an EnrolmentChanged to REMOVED_BY_BOARD still works (old meaning)");
    c = doc(p, "cohort/tp/c1");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_REMOVAL"), 1, "1 removal decision");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_WARNING"), 1, "1 warning");
    is_int(I(c, "plans.board_decisions.by_reason.BOARD_REASON_PLAN_NOT_MET"), 2,
           "2 for plan not met");
    is_int(I(c, "plans.board_decisions.by_reason.BOARD_REASON_CONDUCT"), 0, "0 for conduct");
    is_int(I(c, "plans.concerns"), 0, "removed: no longer counted in concerns");
    json_decref(c);
    a = doc(p, "agency/ag-a/tp/c1");
    is_str(STR(a, "people.ref=p1.stage"), "REMOVED_BY_BOARD", "the removal moved p1's stage");
    json_decref(a);
    c = doc(p, "programme/tp");
    is_int(I(c, "plans.board_decisions.by_decision.BOARD_REMOVAL"), 1, "programme: summed");
    is_int(I(c, "plans.with_plan"), 1, "programme: 1 enrolled or completed with a plan (p3)");
    json_decref(c);
    round_trip(p, "plans");

    /* the checkpoint requires the new keys */
    {
        char *t = proj_save(p), *u;
        json_t *d = json_loads(t, 0, NULL),
               *e0 = json_array_get(json_object_get(d, "enrolments"), 0);
        proj_t *q = proj_new(NULL);
        json_object_del(e0, "plan");
        u = json_dumps(d, JSON_COMPACT);
        is_int(proj_load(q, u, strlen(u)), -EINVAL, "a checkpoint without plan is refused");
        free(u);
        json_object_set_new(e0, "plan", json_null());
        json_object_del(e0, "decisions");
        u = json_dumps(d, JSON_COMPACT);
        proj_destroy(&q);
        q = proj_new(NULL);
        is_int(proj_load(q, u, strlen(u)), -EINVAL, "a checkpoint without decisions is refused");
        free(u);
        proj_destroy(&q);
        json_decref(d);
        free(t);
    }
    proj_destroy(&p);
}

/* ---------------------------------------------------- monthly history --- */

#define HIST_STEPS 9

/* Step i of the history scenario (0 on success): programme hp and cohort
 * c1 in January 2009, h1 enrolled in April (the clock skips February and
 * March), attending in May, promoted in June; cohort c2 opened in June,
 * h2 enrolled in it in August. */
static int hist_step(proj_t *p, int i)
{
    switch (i) {
    case 0:
        return programme(p, "hp");
    case 1:
        return cohort(p, "hp", "c1", "[\"police\"]"); /* 2009-01-02 */
    case 2:
        return person(p, "police", "h1", "PARTICIPANT") || person(p, "police", "h2", "PARTICIPANT");
    case 3:
        return enrol(p, "police", "h1", "hp", "c1"); /* 2009-04-01: rows Jan, Feb, Mar */
    case 4:
        return attend(p, "police", "h1", "hp", "c1", "TRAINING_COURSE", "hc-1", "PRESENT", 1320);
    case 5:
        return promote(p, "police", "h1", "SUBSTANTIVE_PROMOTION", "2009-05-20", "hp", "c1");
    case 6:
        return ev(p, "{\"agency\":\"board\",\"occurredAt\":\"2009-06-20T09:00:00Z\","
                     "\"cohortOpened\":{\"programmeId\":\"hp\",\"cohortId\":\"c2\",\"places\":5,"
                     "\"startsOn\":\"2009-09-01\",\"endsOn\":\"2010-02-28\",\"agencies\":"
                     "[\"police\"]}}");
    case 7:
        return stage_at(p, "police", "h2", "hp", "c2", "APPLIED", "2009-08-03T09:00:00Z");
    case 8:
        return stage_at(p, "police", "h2", "hp", "c2", "SHORTLISTED", "2009-08-04T09:00:00Z");
    }
    return -1;
}

/* The rows of topic's history in p (a new reference), or NULL. */
static json_t *hist_rows(const proj_t *p, const char *topic)
{
    json_t *d = doc(p, topic), *m = json_object_get(json_object_get(d, "history"), "monthly");
    json_incref(m);
    json_decref(d);
    return m;
}

static const char *row_month(json_t *rows, size_t i)
{
    return json_string_value(json_object_get(json_array_get(rows, i), "month"));
}

/* Figure path ("completion.enrolled") of row i. */
static long long row_int(json_t *rows, size_t i, const char *path)
{
    return I(json_array_get(rows, i), path);
}

static void test_history(void)
{
    proj_t *p = proj_new(NULL), *q, *r;
    json_t *rows, *d;
    char *s, *s2, *t, *text;
    int rc = 0;
    diag("monthly history");
    for (int i = 0; i < HIST_STEPS; i++)
        rc |= hist_step(p, i);
    is_int(rc, 0, "history scenario applied");

    rows = hist_rows(p, "cohort/hp/c1");
    is_int((int)json_array_size(rows), 7,
           "c1: a row for each month Jan..Jul 2009 (August is live)");
    is_str(row_month(rows, 0), "2009-01", "c1 starts at the month of its CohortOpened");
    is_str(row_month(rows, 2), "2009-03", "skipped months get rows");
    is_int(row_int(rows, 2, "funnel_reached.ENROLLED"), 0, "March: nobody enrolled yet");
    ok(NUL(json_array_get(rows, 2), "completion.mean_completion"), "March: mean_completion null");
    is_int(row_int(rows, 3, "funnel_reached.ENROLLED"), 1, "April: h1 enrolled");
    is_int(row_int(rows, 3, "completion.enrolled"), 1, "April: 1 enrolled");
    ok(RL(json_array_get(rows, 3), "completion.mean_completion") == 0.0, "April: nothing credited");
    ok(RL(json_array_get(rows, 4), "completion.mean_completion") == 0.5,
       "May: 1320 of 2640 minutes credited");
    is_int(row_int(rows, 4, "progression.during"), 0, "May: promotion not yet recorded");
    is_int(row_int(rows, 5, "progression.during"), 1, "June: promoted during the cohort");
    is_int(row_int(rows, 5, "progression.promoted_substantively"), 1,
           "June: promoted substantively after enrolling");
    is_str(row_month(rows, 6), "2009-07", "July: the last row");
    d = doc(p, "cohort/hp/c1");
    is_int(I(d, "completion.participants.enrolled"), row_int(rows, 6, "completion.enrolled"),
           "the last row has the live figures (nothing changed since)");
    is_int(I(d, "funnel_reached.participants.reached.APPLIED"),
           row_int(rows, 6, "funnel_reached.APPLIED"), "the same funnel_reached");
    json_decref(d);
    json_decref(rows);

    rows = hist_rows(p, "cohort/hp/c2");
    is_int((int)json_array_size(rows), 2, "c2: June and July");
    is_str(row_month(rows, 0), "2009-06", "c2 starts at its opening month");
    json_decref(rows);
    d = doc(p, "cohort/hp/c2");
    is_int(I(d, "funnel_reached.participants.reached.SHORTLISTED"), 1,
           "c2 live: h2 shortlisted (the current month is not a row)");
    json_decref(d);

    rows = hist_rows(p, "programme/hp");
    is_int((int)json_array_size(rows), 7, "programme: Jan..Jul");
    is_int(row_int(rows, 6, "completion.enrolled"), 1, "programme July: sums of c1 and c2");
    ok(RL(json_array_get(rows, 6), "completion.mean_completion") == 0.5,
       "programme July: mean from the summed minutes");
    json_decref(rows);

    /* replay: the same events give the same state, in one go or from a
     * checkpoint taken half way */
    q = proj_new(NULL);
    for (int i = 0; i < 5; i++)
        hist_step(q, i);
    s = proj_save(q);
    proj_destroy(&q);
    q = proj_new(NULL);
    is_int(proj_load(q, s, strlen(s)), 0, "a half-way checkpoint loads");
    free(s);
    for (int i = 5; i < HIST_STEPS; i++)
        hist_step(q, i);
    s = proj_save(p);
    s2 = proj_save(q);
    ok(s && s2 && strcmp(s, s2) == 0, "replay from a checkpoint: the same state");
    same_docs(p, q, "replay from a checkpoint");
    free(s2);
    round_trip(p, "history");

    /* a version 2 checkpoint loads, with no history: rows start from its
     * log clock's month */
    {
        json_t *j = json_loads(s, 0, NULL), *cs = json_object_get(j, "cohorts"), *c;
        size_t i;
        json_object_set_new(j, "version", json_integer(2));
        json_array_foreach(cs, i, c)
        {
            json_object_del(c, "opened");
            json_object_del(c, "history");
        }
        t = json_dumps(j, PROJ_DUMP_FLAGS);
        json_decref(j);
        r = proj_new(NULL);
        is_int(proj_load(r, t, strlen(t)), 0, "a version 2 checkpoint loads");
        rows = hist_rows(r, "cohort/hp/c1");
        is_int((int)json_array_size(rows), 0, "with an empty history");
        json_decref(rows);
        ok(ev(r, "{\"agency\":\"board\",\"occurredAt\":\"2009-10-05T09:00:00Z\","
                 "\"cohortOpened\":{\"programmeId\":\"hp\",\"cohortId\":\"c3\",\"places\":5,"
                 "\"startsOn\":\"2009-11-01\",\"endsOn\":\"2010-02-28\",\"agencies\":"
                 "[\"police\"]}}") == 0,
           "the clock moves to October");
        rows = hist_rows(r, "cohort/hp/c1");
        is_int((int)json_array_size(rows), 2, "rows from the loaded month: August, September");
        is_str(row_month(rows, 0), "2009-08", "August first");
        json_decref(rows);
        free(t);
        /* version 2 with history is not a version 2 checkpoint */
        t = strdup(s);
        char *v = strstr(t, "\"version\":3");
        if (v)
            v[10] = '2';
        proj_destroy(&r);
        r = proj_new(NULL);
        is_int(proj_load(r, t, strlen(t)), -EINVAL, "version 2 with history rows is refused");
        free(t);
        t = strdup(s);
        v = strstr(t, "\"2009-03\"");
        if (v)
            v[7] = '9';
        proj_destroy(&r);
        r = proj_new(NULL);
        is_int(proj_load(r, t, strlen(t)), -EINVAL, "a gap in the rows is refused");
        free(t);
        proj_destroy(&r);
    }
    free(s);

    /* a jump of 30 years: 240 rows at most, the oldest dropped */
    ok(ev(p, "{\"agency\":\"board\",\"occurredAt\":\"2039-08-05T09:00:00Z\","
             "\"cohortOpened\":{\"programmeId\":\"hp\",\"cohortId\":\"c9\",\"places\":5,"
             "\"startsOn\":\"2039-09-01\",\"endsOn\":\"2040-02-28\",\"agencies\":"
             "[\"police\"]}}") == 0,
       "the clock jumps 30 years");
    rows = hist_rows(p, "cohort/hp/c1");
    is_int((int)json_array_size(rows), 240, "240 rows kept");
    is_str(row_month(rows, 0), "2019-08", "the oldest dropped");
    is_str(row_month(rows, 239), "2039-07", "the newest is the month before the clock's");
    json_decref(rows);
    rows = hist_rows(p, "programme/hp");
    is_int((int)json_array_size(rows), 240, "the programme: 240 rows too");
    json_decref(rows);
    round_trip(p, "history, 240 rows");

    /* every published release version, oldest first, as published */
    {
        char *v0 = proj_release_versions(p, "release/cohort/hp/c1"), *cur, *v;
        json_t *a0 = v0 ? json_loads(v0, 0, NULL) : NULL, *a;
        size_t n0 = json_array_size(a0);
        ok(a0 && json_is_array(a0), "release versions: an array");
        proj_release_now(p, "2039-08-05", "test");
        proj_release_now(p, "2039-08-05", "test");
        v = proj_release_versions(p, "release/cohort/hp/c1");
        a = v ? json_loads(v, 0, NULL) : NULL;
        cur = proj_render(p, "release/cohort/hp/c1");
        ok(json_array_size(a) >= n0 + 1, "a new version after a cut (%zu, then %zu)", n0,
           json_array_size(a));
        text = json_dumps(json_array_get(a, json_array_size(a) - 1), PROJ_DUMP_FLAGS);
        ok(cur && text && strcmp(cur, text) == 0, "the last version is the current document");
        ok(I(json_array_get(a, 0), "release.number") <
               I(json_array_get(a, json_array_size(a) - 1), "release.number"),
           "oldest first");
        free(text);
        free(cur);
        free(v);
        free(v0);
        json_decref(a);
        json_decref(a0);
        v = proj_release_versions(p, "release/cohort/hp/none");
        is_str(v, "[]", "a release topic with none: []");
        free(v);
        ok(proj_release_versions(p, "cohort/hp/c1") == NULL, "not a release topic: NULL");
    }
    proj_destroy(&q);
    proj_destroy(&p);
}

int main(void)
{
    proj_t *examples;
    test_transitions();
    test_completion();
    test_progression();
    test_mentoring();
    test_representation();
    test_dirty();
    test_new_day_rejected();
    test_erasure();
    test_units_awards();
    test_funnel_reached();
    test_funnel_by_group();
    test_leavers();
    test_leavers_by_group();
    test_workforce();
    test_plans();
    test_history();
    examples = test_examples();
    test_save_load(examples);
    proj_destroy(&examples);
    return tap_done();
}
