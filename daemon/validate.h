/* validate.h: the daemon's checks on one decoded Event before it may be
 * stored. Pure functions, no I/O, so they are cheap to unit-test and to fuzz.
 *
 * What is checked here is the shape of an event: id length, agency syntax,
 * timestamps, the body's required fields, enum values, string lengths,
 * UTF-8 and date syntax, and the form of participant and mentor refs. Rules
 * that need the log's state (the enrolment state machine, unknown cohorts)
 * belong to the projections, not here.
 *
 * Ref form (docs/protocol.md): by default a participant or mentor ref must be
 * a pseudonym as cohort-agent makes it (agents/pseudonym.h): "p1:" followed
 * by exactly 32 characters of [a-z2-7] (VALIDATE_PSEUDONYM_LEN in all), so a
 * raw staff number or a name is refused REJECT_BAD_VALUE. An operator whose
 * agencies make their own pseudonyms may switch this off (VALIDATE_REF_ANY:
 * cohortd's ref_form = any); the ref syntax then still applies. A
 * ParticipantErased ref needs only the ref syntax in either form, so that a
 * person registered before the check (or under ref_form = any) can still be
 * erased; it is stored only if that ref is registered (else
 * REJECT_UNKNOWN_PARTICIPANT), so no new raw ref reaches the log that way.
 *
 * Free text (VALIDATE_MAX_GRADE, _NOTE, _LABEL) has tighter bounds than other
 * strings: these are where names creep in, and none needs more. */
#ifndef COHORT_VALIDATE_H
#define COHORT_VALIDATE_H
#include <stddef.h>
#include <stdint.h>
#include "cohort.pb-c.h"

#define VALIDATE_MAX_ID 64                         /* programme, cohort, agency, session ids */
#define VALIDATE_MAX_REF 128                       /* participant and mentor refs */
#define VALIDATE_MAX_TEXT 512                      /* any string (programme names) */
#define VALIDATE_MAX_GRADE 64                      /* grade, from_grade, to_grade */
#define VALIDATE_MAX_NOTE 120                      /* EnrolmentChanged.note */
#define VALIDATE_MAX_LABEL 80                      /* Component.label */
#define VALIDATE_PSEUDONYM_PREFIX "p1:"            /* the pseudonym scheme (pseudonym.h) */
#define VALIDATE_PSEUDONYM_LEN 35                  /* "p1:" + 32 base32 digits */
#define VALIDATE_MAX_OBJECTIVES 12                 /* PlanAgreed.objectives */
#define VALIDATE_MAX_OPTIONS 20                    /* PlanAgreed.options (the menu's twenty) */
#define VALIDATE_MAX_LIST 64                       /* components, aims, agencies per message */
#define VALIDATE_FUTURE_US (24LL * 3600 * 1000000) /* allowed clock skew */

/* Which participant and mentor refs are accepted (cohortd's ref_form). */
typedef enum {
    VALIDATE_REF_PSEUDONYM = 0, /* only the pseudonym form (the default) */
    VALIDATE_REF_ANY = 1,       /* any ref of the ref syntax: the deployment's own pseudonyms */
} validate_ref_form_t;

/* Checks ev against the rules above, given the current time now_us (Unix
 * microseconds), refs as form says. Returns
 * COHORT__V1__REJECT_CODE__REJECT_NONE (0) when the event may be stored;
 * otherwise a RejectCode, with a one-line reason that names the field (never
 * its value) written to reason (len bytes). */
int validate_event_form(const Cohort__V1__Event *ev, int64_t now_us, validate_ref_form_t form,
                        char *reason, size_t len);

/* validate_event_form with VALIDATE_REF_PSEUDONYM. */
int validate_event(const Cohort__V1__Event *ev, int64_t now_us, char *reason, size_t len);

/* Returns 1 if s is a ref in the pseudonym form ("p1:" + 32 of [a-z2-7]). */
int validate_pseudonym(const char *s);

/* Returns 1 if s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
int validate_utf8(const char *s, size_t n);

/* Returns 1 if s is a valid calendar date "YYYY-MM-DD" (years 1900-2199). */
int validate_date(const char *s);

#endif
