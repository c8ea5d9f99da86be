/* t_csv_import: unit tests for csv_import.c and intake.c: the four CSV
 * kinds, kind from header or name, column spellings, quoting, bad headers
 * and rows, content-derived event ids (stable, occurredAt-independent when
 * not given, kept when given), and whole-file intake with problems listed
 * without values. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cohort_json.h"
#include "csv_import.h"
#include "intake.h"
#include "tap.h"
#include "uuid7.h"

/* Collected rows. */
typedef struct {
    json_t *rows; /* array of the row objects */
} got_t;

static int collect(void *arg, json_t *ev, uint32_t row)
{
    got_t *g = arg;
    (void)row;
    json_array_append(g->rows, ev);
    return 0;
}

/* Imports text; returns rc, rows in *rows (caller decrefs). */
static int import(const char *text, const char *name, json_t **rows, csv_kind_t *kind, char *err,
                  size_t errlen)
{
    got_t g = {json_array()};
    int rc = csv_import(text, strlen(text), name, collect, &g, kind, err, errlen);
    *rows = g.rows;
    return rc;
}

static const char *sget(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    if (b && v)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

int main(void)
{
    json_t *rows;
    csv_kind_t kind;
    char err[256];
    int rc;

    /* ---- participants, by header ---- */
    rc = import("agency,participantRef,role,ethnicity,gender,disability,officer,grade\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,participant,B1,female,NOT_DISABLED,"
                "yes,sergeant\n"
                "cps-wm,p2,MENTOR,W1,MALE,DISABLED,0,\n",
                "export.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a participants file imports");
    is_int(kind, CSV_KIND_PARTICIPANTS, "kind from the header (ethnicity)");
    is_int(json_array_size(rows), 2, "two rows");
    json_t *r0 = json_array_get(rows, 0), *r1 = json_array_get(rows, 1);
    is_str(sget(r0, "agency", NULL), "wm-police", "agency at the top");
    is_str(sget(r0, "participantRegistered", "participantRef"),
           "p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", "participantRef in the body");
    is_str(sget(r0, "participantRegistered", "role"), "PARTICIPANT", "enum cells are upper-cased");
    is_str(sget(r0, "participantRegistered", "gender"), "FEMALE", "gender upper-cased");
    ok(json_is_true(json_object_get(json_object_get(r0, "participantRegistered"), "officer")),
       "officer 'yes' is true");
    ok(json_is_false(json_object_get(json_object_get(r1, "participantRegistered"), "officer")),
       "officer '0' is false");
    ok(json_object_get(json_object_get(r1, "participantRegistered"), "grade") == NULL,
       "an empty cell is left out");
    json_decref(rows);

    /* ---- enrolments, snake_case and spaced headers, quoting, CRLF, BOM ---- */
    rc = import("\xef\xbb\xbf"
                "Agency,participant_ref,Programme Id,cohort-id,stage,note,eventId\r\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,step-forward,2009-1,applied,\"moved,"
                " then \"\"back\"\"\",\r\n"
                "  wm-police , p1 ,step-forward,2009-1,SHORTLISTED,\"two\nlines\","
                "01900000-0000-7000-8000-000000000001\r\n",
                "enrolments.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "an enrolments file with other spellings imports: %s", err);
    is_int(kind, CSV_KIND_ENROLMENTS, "kind enrolments");
    is_int(json_array_size(rows), 2, "two rows (a quoted newline is inside a field)");
    r0 = json_array_get(rows, 0);
    r1 = json_array_get(rows, 1);
    is_str(sget(r0, "enrolmentChanged", "programmeId"), "step-forward",
           "'Programme Id' maps to programmeId");
    is_str(sget(r0, "enrolmentChanged", "note"), "moved, then \"back\"",
           "quoted commas and quotes");
    is_str(sget(r1, "agency", NULL), "wm-police", "fields are trimmed");
    is_str(sget(r1, "enrolmentChanged", "note"), "two\nlines", "quoted newline kept");
    is_str(sget(r1, "eventId", NULL), "01900000-0000-7000-8000-000000000001", "eventId at the top");
    json_decref(rows);

    /* ---- attendance, kind by name only is not needed: header has sessionId ---- */
    rc = import("agency,participantRef,programmeId,cohortId,component,sessionId,sessionDate,"
                "status,minutes,occurredAt\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,sf,2009-1,coaching,coaching-1,2009-"
                "05-01,present,120,"
                "2009-05-01T09:00:00Z\n",
                "2009-05-attendance.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "an attendance file imports");
    is_int(kind, CSV_KIND_ATTENDANCE, "kind attendance");
    is_str(sget(json_array_get(rows, 0), "attendanceRecorded", "minutes"), "120",
           "numbers are passed as strings (the JSON mapping reads them)");
    is_str(sget(json_array_get(rows, 0), "occurredAt", NULL), "2009-05-01T09:00:00Z", "occurredAt");
    json_decref(rows);

    /* ---- promotions ---- */
    rc = import("agency,participantRef,kind,fromGrade,toGrade,effectiveOn\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,substantive_promotion,constable,"
                "sergeant,2009-08-01\n",
                "promotions.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a promotions file imports");
    is_int(kind, CSV_KIND_PROMOTIONS, "kind promotions");
    is_str(sget(json_array_get(rows, 0), "promotionRecorded", "kind"), "SUBSTANTIVE_PROMOTION",
           "kind upper-cased");
    json_decref(rows);

    /* ---- assessments and awards (issue 18) ---- */
    rc = import("agency,participantRef,programmeId,cohortId,component,pieceId,outcome,assessedOn\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,assessed_module,module-2,"
                "assessment_refer,2009-11-20\n",
                "results.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "an assessments file imports (kind from the column outcome)");
    is_int(kind, CSV_KIND_ASSESSMENTS, "kind assessments");
    is_str(sget(json_array_get(rows, 0), "assessmentRecorded", "outcome"), "ASSESSMENT_REFER",
           "outcome upper-cased");
    is_str(sget(json_array_get(rows, 0), "assessmentRecorded", "pieceId"), "module-2", "pieceId");
    is_str(sget(json_array_get(rows, 0), "assessmentRecorded", "assessedOn"), "2009-11-20",
           "assessedOn");
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,component,pieceId,assessedOn\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,assessed_module,"
                "module-2,2009-11-20\n",
                "2009-11_assessments.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "an assessments file without outcome fails");
    ok(strstr(err, "needs a column outcome") != NULL, "says which: %s", err);
    json_decref(rows);
    rc = import("Agency,Participant Ref,Programme Id,Cohort Id,Award,Awarded On\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,"
                "\"postgraduate diploma, leadership\",2011-07-15\n",
                "awards.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "an awards file imports");
    is_int(kind, CSV_KIND_AWARDS, "kind awards");
    is_str(sget(json_array_get(rows, 0), "awardMade", "award"), "postgraduate diploma, leadership",
           "award text with a quoted comma");
    is_str(sget(json_array_get(rows, 0), "awardMade", "awardedOn"), "2011-07-15", "awardedOn");
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,award,awardedOn\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,pgdip,2011-07-15\n",
                "assessments.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "an awards header under an assessments name fails");
    json_decref(rows);
    /* ---- leavers ---- */
    rc = import("agency,participantRef,leftOn,reason\n"
                "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,2010-03-31,leaver_resigned\n",
                "leavers.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a leavers file imports");
    is_int(kind, CSV_KIND_LEAVERS, "kind leavers");
    is_str(sget(json_array_get(rows, 0), "leaverRecorded", "reason"), "LEAVER_RESIGNED",
           "reason upper-cased");
    is_str(sget(json_array_get(rows, 0), "leaverRecorded", "leftOn"), "2010-03-31", "leftOn");
    json_decref(rows);
    rc = import("agency,participantRef,reason\nwm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,"
                "LEAVER_RETIRED\n",
                "2010_leavers.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "a leavers file (by name) without leftOn fails");
    ok(strstr(err, "leftOn") != NULL, "says which: %s", err);
    json_decref(rows);
    rows = NULL;
    /* ---- workforce targets (issue 18 section 5): no participant column ---- */
    rc = import("agency,group,category,basisPoints,by\n"
                "wm-police,aim_bme,staff_category_officer,1611,\n"
                "wm-police,AIM_FEMALE,,3000,2012-03-31\n",
                "targets.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a targets file imports without participantRef: %s", err);
    is_int(kind, CSV_KIND_TARGETS, "kind targets");
    is_str(sget(json_array_get(rows, 0), "workforceTarget", "category"), "STAFF_CATEGORY_OFFICER",
           "category upper-cased");
    is_str(sget(json_array_get(rows, 0), "workforceTarget", "basisPoints"), "1611",
           "basisPoints passed on");
    ok(json_object_get(json_object_get(json_array_get(rows, 1), "workforceTarget"), "category") ==
           NULL,
       "an empty category is left out (the whole workforce)");
    json_decref(rows);
    rows = NULL;
    rc = import("agency,group,by\nwm-police,AIM_BME,2012-03-31\n", "2009_targets.csv", &rows, &kind,
                err, sizeof err);
    is_int(rc, -EINVAL, "a targets file without basisPoints fails");
    json_decref(rows);
    rows = NULL;

    /* ---- plans, reviews, decisions (issue 18 section 3) ---- */
    rc = import("agency,staffNumber,programmeId,cohortId,agreedOn,reviewOn,objectives,options\n"
                "leics-cc,12345,lip,2009-1,2009-07-06,2009-10-05,\"budget; partnership-working\","
                "plan_mentoring;PLAN_WORK_SHADOWING;\n",
                "plans.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a plans file imports (staffNumber, ';' lists)");
    is_int(kind, CSV_KIND_PLANS, "kind plans");
    {
        json_t *b = json_object_get(json_array_get(rows, 0), "planAgreed");
        char *o = json_dumps(json_object_get(b, "objectives"), JSON_COMPACT);
        char *q = json_dumps(json_object_get(b, "options"), JSON_COMPACT);
        is_str(o, "[\"budget\",\"partnership-working\"]", "objectives split and trimmed");
        is_str(q, "[\"PLAN_MENTORING\",\"PLAN_WORK_SHADOWING\"]",
               "options upper-cased, the empty last one skipped");
        free(o);
        free(q);
    }
    is_str(sget(json_array_get(rows, 0), "planAgreed", "reviewOn"), "2009-10-05", "reviewOn");
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,agreedOn\n"
                "leics-cc,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,2009-07-06\n",
                "plans.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "a plans file without reviewOn fails");
    ok(strstr(err, "reviewOn") != NULL, "says which: %s", err);
    json_decref(rows);
    rc =
        import("agency,participantRef,programmeId,cohortId,reviewedOn,outcome,nextReviewOn\n"
               "leics-cc,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,2009-10-05,review_concerns,"
               "2010-01-11\n",
               "x.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a reviews file imports (kind from the columns)");
    is_int(kind, CSV_KIND_REVIEWS, "kind reviews");
    is_str(sget(json_array_get(rows, 0), "reviewRecorded", "outcome"), "REVIEW_CONCERNS",
           "outcome upper-cased");
    json_decref(rows);
    rc = import("agency,participantAgency,participantRef,programmeId,cohortId,decidedOn,decision,"
                "reason\nlip-board,leics-cc,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,lip,2009-1,"
                "2010-02-08,board_removal,board_reason_conduct\n",
                "board-decisions.csv", &rows, &kind, err, sizeof err);
    is_int(rc, 0, "a decisions file imports");
    is_int(kind, CSV_KIND_DECISIONS, "kind decisions");
    is_str(sget(json_array_get(rows, 0), "boardDecision", "decision"), "BOARD_REMOVAL",
           "decision upper-cased");
    is_str(sget(json_array_get(rows, 0), "boardDecision", "participantAgency"), "leics-cc",
           "participantAgency");
    json_decref(rows);
    rc = import("agency,participantAgency,staffNumber,programmeId,cohortId,decidedOn,decision,"
                "reason\nlip-board,leics-cc,12345,lip,2009-1,2010-02-08,board_removal,"
                "board_reason_conduct\n",
                "decisions.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL,
           "a decisions file with staffNumber fails (the board has no agency's secret)");
    json_decref(rows);
    rows = NULL;

    /* ---- bad files ---- */
    rc = import(
        "agency,participantRef,stage\nwm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,APPLIED\n",
        "enrolments.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "missing required columns fail");
    ok(strstr(err, "needs a column programmeId") != NULL, "says which: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,stage,colour\n", "x.csv", &rows, &kind,
                err, sizeof err);
    is_int(rc, -EINVAL, "an unknown column fails");
    ok(strstr(err, "column 6 ('colour')") != NULL, "names it: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,stage,stage\n", "x.csv", &rows, &kind,
                err, sizeof err);
    is_int(rc, -EINVAL, "a repeated column fails: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,stage\nwm-police,p1:"
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,sf,c1\n",
                "x.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "a short row fails");
    ok(strstr(err, "row 2: has 4 fields, the header has 5") != NULL, "row and counts: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,stage\nwm-police,\"p1,sf,c1,X\n",
                "x.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "an unterminated quote fails: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,stage\n", "attendance.csv", &rows,
                &kind, err, sizeof err);
    is_int(rc, -EINVAL, "name and header disagreeing fails");
    ok(strstr(err, "file name says attendance, the columns say enrolments") != NULL, "%s", err);
    json_decref(rows);
    rc = import("agency,participantRef\n", "stuff.csv", &rows, &kind, err, sizeof err);
    is_int(rc, -EINVAL, "no way to tell the kind fails: %s", err);
    json_decref(rows);
    rc = import("agency,participantRef,programmeId,cohortId,component,status,minutes,"
                "sessionDate\n",
                "attendance.csv", &rows, &kind, err, sizeof err);
    is_int(kind, CSV_KIND_ATTENDANCE, "kind from the name when the header lacks the marker");
    ok(rc == -EINVAL && strstr(err, "needs a column sessionId") != NULL, "then: %s", err);
    json_decref(rows);
    rc = import("", "x.csv", &rows, &kind, err, sizeof err);
    ok(rc == -EINVAL && strstr(err, "no header") != NULL, "an empty file fails: %s", err);
    json_decref(rows);

    /* ---- derived ids ---- */
    const char *line = "{\"agency\":\"wm-police\",\"enrolmentChanged\":{\"participantRef\":\"p1:"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\","
                       "\"programmeId\":\"sf\",\"cohortId\":\"c1\",\"stage\":\"APPLIED\"}}";
    Cohort__V1__Event *a = intake_jsonl(line, strlen(line), 1, err, sizeof err);
    usleep(2000);
    Cohort__V1__Event *b = intake_jsonl(line, strlen(line), 1, err, sizeof err);
    ok(a && b && a->occurred_at != b->occurred_at, "no occurredAt: each parse gets its own time");
    ok(a && b && memcmp(a->event_id.data, b->event_id.data, 16) == 0,
       "but the same derived eventId");
    ok(a && (a->event_id.data[6] >> 4) == 8 && (a->event_id.data[8] & 0xc0) == 0x80,
       "a UUIDv8 with the RFC 9562 variant");
    Cohort__V1__Event *c = intake_jsonl(line, strlen(line), 0, err, sizeof err);
    ok(c && memcmp(a->event_id.data, c->event_id.data, 16) != 0,
       "without derive: a random id (intake_jsonl callers that ask for it; no agent mode does)");
    const char *line2 = "{\"agency\":\"wm-police\",\"enrolmentChanged\":{\"participantRef\":\"p1:"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\","
                        "\"programmeId\":\"sf\",\"cohortId\":\"c1\",\"stage\":\"SHORTLISTED\"}}";
    Cohort__V1__Event *d = intake_jsonl(line2, strlen(line2), 1, err, sizeof err);
    ok(d && memcmp(a->event_id.data, d->event_id.data, 16) != 0, "other content: another id");
    const char *line3 = "{\"occurredAt\":\"2009-01-01T00:00:00Z\",\"agency\":\"wm-police\","
                        "\"enrolmentChanged\":{\"participantRef\":\"p1:"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\",\"programmeId\":\"sf\","
                        "\"cohortId\":\"c1\",\"stage\":\"APPLIED\"}}";
    const char *line4 = "{\"occurredAt\":\"2009-01-02T00:00:00Z\",\"agency\":\"wm-police\","
                        "\"enrolmentChanged\":{\"participantRef\":\"p1:"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\",\"programmeId\":\"sf\","
                        "\"cohortId\":\"c1\",\"stage\":\"APPLIED\"}}";
    Cohort__V1__Event *e3 = intake_jsonl(line3, strlen(line3), 1, err, sizeof err);
    Cohort__V1__Event *e4 = intake_jsonl(line4, strlen(line4), 1, err, sizeof err);
    ok(e3 && e4 && memcmp(e3->event_id.data, e4->event_id.data, 16) != 0,
       "a given occurredAt is part of the content");
    const char *line5 = "{\"eventId\":\"01900000-0000-7000-8000-000000000009\",\"agency\":"
                        "\"wm-police\",\"enrolmentChanged\":{\"participantRef\":\"p1:"
                        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\","
                        "\"programmeId\":\"sf\",\"cohortId\":\"c1\",\"stage\":\"APPLIED\"}}";
    Cohort__V1__Event *e5 = intake_jsonl(line5, strlen(line5), 1, err, sizeof err);
    char u[37];
    if (e5)
        uuid7_format(e5->event_id.data, u);
    ok(e5 && strcmp(u, "01900000-0000-7000-8000-000000000009") == 0, "a given eventId is kept");
    const char *badl = "{\"agency\":\"x\",\"enrolmentChanged\":{\"stage\":\"SECRETVALUE\"}}";
    Cohort__V1__Event *bad = intake_jsonl(badl, strlen(badl), 1, err, sizeof err);
    ok(bad == NULL && strstr(err, "SECRETVALUE") == NULL && strstr(err, "'...'") != NULL,
       "parse errors are redacted: %s", err);
    cohort__v1__event__free_unpacked(a, NULL);
    cohort__v1__event__free_unpacked(b, NULL);
    cohort__v1__event__free_unpacked(c, NULL);
    cohort__v1__event__free_unpacked(d, NULL);
    cohort__v1__event__free_unpacked(e3, NULL);
    cohort__v1__event__free_unpacked(e4, NULL);
    cohort__v1__event__free_unpacked(e5, NULL);

    /* ---- whole files ---- */
    char dir[] = "/tmp/cohort-t-csv-XXXXXX", path[300], path2[300];
    intake_file_t f, g;
    if (!mkdtemp(dir))
        return 1;
    snprintf(path, sizeof path, "%s/enrolments.csv", dir);
    write_file(path, "agency,participantRef,programmeId,cohortId,stage\n"
                     "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,sf,c1,APPLIED\n"
                     "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac,sf,c1,SHORTLISTED\n");
    is_int(intake_file(path, "enrolments.csv", &f, err, sizeof err), 0, "a CSV file is read");
    is_int(f.n, 2, "two events");
    is_int(f.nproblems, 0, "no problems");
    is_str(f.kind, "enrolments", "kind enrolments");
    is_int(f.items[1].line, 3, "row numbers as a spreadsheet shows them (header = 1)");
    is_int(intake_file(path, "enrolments.csv", &g, err, sizeof err), 0, "read again");
    ok(memcmp(f.items[0].id, g.items[0].id, 16) == 0 &&
           memcmp(f.items[1].id, g.items[1].id, 16) == 0,
       "the same derived ids on a second read (a restart never duplicates)");
    ok(memcmp(f.hash, g.hash, sizeof f.hash) == 0, "and the same content hash");
    intake_file_free(&g);
    /* the same row in JSON Lines gets the same id as from the CSV */
    snprintf(path2, sizeof path2, "%s/same.jsonl", dir);
    write_file(path2, "# comment\n\n{\"agency\":\"wm-police\",\"enrolmentChanged\":{"
                      "\"participantRef\":\"p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab\",\"programmeId\":"
                      "\"sf\",\"cohortId\":\"c1\","
                      "\"stage\":\"APPLIED\"}}\n");
    is_int(intake_file(path2, "same.jsonl", &g, err, sizeof err), 0, "a JSON Lines file is read");
    ok(g.n == 1 && g.items[0].line == 3, "one event, line 3 (comment and blank skipped)");
    ok(g.n == 1 && memcmp(f.items[0].id, g.items[0].id, 16) == 0,
       "the same content as a CSV row has the same derived id");
    intake_file_free(&g);
    intake_file_free(&f);
    write_file(path, "agency,participantRef,programmeId,cohortId,stage\n"
                     "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab,sf,c1,APPLIED\n"
                     "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac,sf,c1,NOSUCHSTAGE\n"
                     "wm-police,p1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad,sf,c1,ENROLLED\n");
    is_int(intake_file(path, "enrolments.csv", &f, err, sizeof err), 0,
           "a file with a bad row is read");
    is_int(f.nproblems, 1, "one problem");
    ok(f.problems && strstr(f.problems, "row 3: ") == f.problems &&
           strstr(f.problems, "NOSUCHSTAGE") == NULL,
       "listed by row, without the value: %s", f.problems ? f.problems : "");
    intake_file_free(&f);
    snprintf(path2, sizeof path2, "%s/x.txt", dir);
    write_file(path2, "hello\n");
    is_int(intake_file(path2, "x.txt", &f, err, sizeof err), -EINVAL,
           "other extensions are refused");
    is_int(intake_file("/nonexistent/enrolments.csv", "enrolments.csv", &f, err, sizeof err),
           -ENOENT, "a missing file is -ENOENT");
    snprintf(path2, sizeof path2, "%s/empty.jsonl", dir);
    write_file(path2, "");
    is_int(intake_file(path2, "empty.jsonl", &f, err, sizeof err), -ENODATA,
           "an empty file is -ENODATA (never taken in: issue 15)");

    /* ---- the worked example of docs/protocol.md, "Derived event ids" ---- */
    const char *doc = "{\"agency\":\"wm-police\",\"occurredAt\":\"2009-05-01T09:00:00Z\","
                      "\"attendanceRecorded\":{\"participantRef\":\"p1:"
                      "2n3rdkuji4vsvlwijtxvmz2bfpbtwog7\",\"programmeId\":\"step-forward\","
                      "\"cohortId\":\"2009-1\",\"component\":\"COACHING\",\"sessionId\":"
                      "\"coaching-1\",\"sessionDate\":\"2009-05-01\",\"status\":\"PRESENT\","
                      "\"minutes\":120}}";
    Cohort__V1__Event *ex = intake_jsonl(doc, strlen(doc), 1, err, sizeof err);
    char exid[37] = "";
    if (ex)
        uuid7_format(ex->event_id.data, exid);
    is_str(exid, "9afdf905-ad23-8962-9d11-1e23c16d457f", "the documented example's derived id");
    if (ex)
        cohort__v1__event__free_unpacked(ex, NULL);

    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
