/* csv_import.h: CSV exports (one header row, then one event a row) turned
 * into the proto3 JSON form of cohort.v1 Events, with libcsv.
 *
 * Contract:
 * - Eight kinds of file, one event body each. Columns are the proto3 JSON
 *   field names (lowerCamelCase; the proto snake_case names also match, and
 *   so does any spelling that is equal ignoring case, '_', '-' and spaces,
 *   e.g. "Participant Ref"). Every kind has the columns agency and
 *   participantRef (required; or instead staffNumber, passed on under the
 *   key staffNumber in the body for the agent to replace by a ref, see
 *   intake.h; both is an error) and eventId, occurredAt (optional):
 *     participants  ParticipantRegistered: role, ethnicity, gender,
 *                   disability; optional ageBand, sexualOrientation,
 *                   religion, grade, officer
 *     enrolments    EnrolmentChanged: programmeId, cohortId, stage;
 *                   optional note
 *     attendance    AttendanceRecorded: programmeId, cohortId, component,
 *                   sessionId, sessionDate, status, minutes
 *     promotions    PromotionRecorded: kind, effectiveOn; optional
 *                   fromGrade, toGrade, programmeId, cohortId
 *     assessments   AssessmentRecorded: programmeId, cohortId, component,
 *                   pieceId, outcome, assessedOn
 *     awards        AwardMade: programmeId, cohortId, award, awardedOn
 *     leavers       LeaverRecorded: leftOn, reason
 *     targets       WorkforceTarget: group, basisPoints; optional category,
 *                   by (no participantRef: an agency's own target; a
 *                   baseline, nested per category, has no CSV kind)
 * - The kind comes from the header (the column ethnicity, stage, sessionId,
 *   effectiveOn, outcome, awardedOn, leftOn or basisPoints) or else from the file name (a
 *   word "participants", "enrolments"/"enrollments", "attendance",
 *   "promotions", "assessments", "awards", "leavers" or "targets", singular or
 *   plural, e.g. "2024-03-01_attendance.csv"). Name and header disagreeing
 *   is an error.
 * - The header must have every required column of its kind, no unknown
 *   column and no column twice. Every row must have as many fields as the
 *   header. A leading UTF-8 byte order mark is skipped; fields are trimmed
 *   of spaces and tabs; quoting is RFC 4180 ("a ""b""", embedded commas and
 *   newlines), checked strictly.
 * - Cells: empty means "not set" (the field is left out). Enum cells are
 *   upper-cased (so "present" is PRESENT). A bool cell (officer) may be
 *   true/false, yes/no, y/n or 1/0 in any case. Other cells are passed as
 *   JSON strings, which the JSON mapping (cohort_json.h) reads for numbers,
 *   enums, dates and occurredAt (RFC 3339 or Unix microseconds), and which
 *   reports values it cannot read.
 * - Rows are numbered as a spreadsheet shows them: the header is row 1,
 *   the first data row is row 2 (a row's number is its line number unless
 *   a quoted field spans lines). Errors are one line, "row N: ..." or
 *   about the header; they never contain cell values. */
#ifndef COHORT_CSV_IMPORT_H
#define COHORT_CSV_IMPORT_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CSV_KIND_NONE = 0,
    CSV_KIND_PARTICIPANTS,
    CSV_KIND_ENROLMENTS,
    CSV_KIND_ATTENDANCE,
    CSV_KIND_PROMOTIONS,
    CSV_KIND_ASSESSMENTS, /* assessmentRecorded (issue 18) */
    CSV_KIND_AWARDS,      /* awardMade (issue 18) */
    CSV_KIND_LEAVERS,
    CSV_KIND_TARGETS,   /* workforceTarget (issue 18 §5): no participant */
    CSV_KIND_PLANS,     /* planAgreed (issue 18 section 3); objectives and options: ';' lists */
    CSV_KIND_REVIEWS,   /* reviewRecorded */
    CSV_KIND_DECISIONS, /* boardDecision: participantRef only, never staffNumber */
} csv_kind_t;

/* Called once per data row with the row as an Event JSON object (borrowed:
 * valid during the call) and its row number (2 for the first row after
 * the header). Returns 0 to go on, or non-zero to stop the import
 * (csv_import then returns that value). */
typedef int (*csv_row_fn)(void *arg, json_t *event, uint32_t row);

/* Imports the CSV text data/len; name is the file name (for the kind).
 * Sets *kind as soon as it is known (may be NULL). Returns 0, a callback's
 * non-zero value, -EINVAL with a one-line message in err for a problem
 * with the file (header, kind, syntax, a row's field count, a cell that
 * is not UTF-8), or -ENOMEM. */
int csv_import(const void *data, size_t len, const char *name, csv_row_fn fn, void *arg,
               csv_kind_t *kind, char *err, size_t errlen);

/* The kind's name ("participants", ...; "unknown" for NONE). */
const char *csv_kind_name(csv_kind_t kind);

#endif
