/* validate.h: the daemon's checks on one decoded Event before it may be
 * stored. Pure functions, no I/O, so they are cheap to unit-test and to fuzz.
 *
 * What is checked here is the shape of an event: id length, agency syntax,
 * timestamps, the body's required fields, enum values, string lengths,
 * UTF-8 and date syntax. Rules that need the log's state (the enrolment state
 * machine, unknown cohorts) belong to the projections, not here. */
#ifndef COHORT_VALIDATE_H
#define COHORT_VALIDATE_H
#include <stddef.h>
#include <stdint.h>
#include "cohort.pb-c.h"

#define VALIDATE_MAX_ID 64                         /* programme, cohort, agency, session ids */
#define VALIDATE_MAX_REF 128                       /* participant and mentor refs */
#define VALIDATE_MAX_TEXT 512                      /* names, labels, grades, notes */
#define VALIDATE_MAX_LIST 64                       /* components, aims, agencies per message */
#define VALIDATE_FUTURE_US (24LL * 3600 * 1000000) /* allowed clock skew */

/* Checks ev against the rules above, given the current time now_us (Unix
 * microseconds). Returns COHORT__V1__REJECT_CODE__REJECT_NONE (0) when the
 * event may be stored; otherwise a RejectCode, with a one-line reason that
 * names the field (never its value) written to reason (len bytes). */
int validate_event(const Cohort__V1__Event *ev, int64_t now_us, char *reason, size_t len);

/* Returns 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int validate_utf8(const char *s, size_t n);

/* Returns 1 if s is a valid calendar date "YYYY-MM-DD" (years 1900-2199). */
int validate_date(const char *s);

#endif
