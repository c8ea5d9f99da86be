/* proj_int.h: the projection's private internals, shared by its parts only
 * (never include it outside daemon/proj*.c; the public API is proj.h).
 *
 * The projection is split into four files along its seams:
 *   proj.c        the model: helpers, dates, lookups, frees, constructors,
 *                 dirty marking, lifecycle and the public apply/topic API;
 *   proj_rules.c  the domain rules: one handler per event body, and the
 *                 dispatch on the body type;
 *   proj_render.c the computations and documents (programme, cohort and
 *                 agency topics) and the release cuts;
 *   proj_state.c  the checkpoint state: proj_save and proj_load.
 *
 * The state layout and its invariants are described in proj.c. Functions
 * shared between parts carry the projx_ prefix; everything else stays
 * static in the one file that uses it. */
#ifndef COHORT_PROJ_INT_H
#define COHORT_PROJ_INT_H

#include "proj.h"
#include "civil.h"
#include "release.h"
#include "validate.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

typedef Cohort__V1__RejectCode code_t;

#define R(x) COHORT__V1__REJECT_CODE__REJECT_##x
#define STG(x) COHORT__V1__ENROLMENT_STAGE__##x

#define KEYLEN 512  /* composite keys and topics; ids are at most 64, refs 128 */
#define N_KIND 14   /* ComponentKind 1..13 */
#define N_STAGE 12  /* EnrolmentStage 1..11 */
#define N_PKIND 7   /* ProgressionKind 1..6 */
#define N_GROUP 6   /* ethnic groups */
#define N_LEAVER 8  /* LeaverReason 1..7 */
#define N_STAFF 5   /* StaffCategory 1..4; [0]: all staff (targets only) */
#define N_AIM 5     /* AimGroup 1..4 */
#define N_POPT 8    /* PlanOption 1..7 */
#define N_REVIEW 4  /* ReviewOutcome 1..3 */
#define N_BKIND 5   /* BoardDecisionKind 1..4 */
#define N_BREASON 7 /* BoardReason 1..6 */
#define G_PART 0    /* requirement group: participants */
#define G_MENT 1    /* requirement group: mentors and coaches */
#define DUMP_FLAGS PROJ_DUMP_FLAGS

/* ------------------------------------------------------------ types --- */

/* One required component of a programme. */
typedef struct {
    int kind;         /* ComponentKind, unique within its list */
    uint32_t count;   /* sessions (or submissions) required */
    uint32_t minutes; /* minutes each; 0 unless unit is UNIT_MINUTES */
    char *label;      /* free text */
    int unit;         /* ComponentUnit (0 = minutes) */
    int assessed;     /* each of the count pieces must be passed */
} comp_t;

/* One positive-action aim. */
typedef struct {
    int group;    /* AimGroup */
    uint32_t pct; /* min_percent */
} aim_t;

/* The replaceable part of a programme: one ProgrammeDefined. */
typedef struct {
    char *name;      /* display name */
    uint32_t months; /* duration_months */
    comp_t *req[2];  /* requirements: [G_PART] participants, [G_MENT] mentors/coaches */
    size_t n_req[2]; /* their lengths */
    aim_t *aims;     /* positive-action aims, in event order */
    size_t n_aims;   /* their number */
} pdef_t;

/* A programme. */
typedef struct {
    char *id;          /* programme_id, the hash key */
    pdef_t def;        /* latest definition */
    int dirty;         /* programme/<id> may have changed */
    UT_hash_handle hh; /* in proj_t.progs */
} prog_t;

/* The replaceable part of a cohort: one CohortOpened. */
typedef struct {
    uint32_t places;   /* places offered */
    char starts[11];   /* starts_on */
    char ends[11];     /* ends_on */
    char **agencies;   /* agencies taking part, in event order */
    size_t n_agencies; /* their number */
} cdef_t;

/* An agency topic of a cohort (agency/<a>/<p>/<c>). It exists while the
 * agency is listed or has people enrolled there. */
typedef struct {
    char *id;     /* agency id */
    int listed;   /* in the cohort's current agencies */
    size_t n_enr; /* enrolments of this agency's people in the cohort */
    int dirty;    /* the topic may have changed (or gone) */
} ag_t;

/* A person's registered details (one ParticipantRegistered). */
typedef struct {
    int role;        /* Role */
    int eth;         /* Ethnicity */
    int gender;      /* Gender */
    int disability;  /* Disability */
    int age;         /* AgeBand (0 = unrecorded) */
    int orientation; /* SexualOrientation (0 = unrecorded) */
    int religion;    /* Religion (0 = unrecorded) */
    int officer;     /* police officer rather than staff */
    char *grade;     /* free text */
} pdata_t;

/* A person, known by (agency, ref). */
typedef struct {
    char *key;         /* "agency/ref", the hash key */
    char *agency;      /* registering agency */
    char *ref;         /* the agency's pseudonym */
    pdata_t d;         /* latest registration */
    char left_on[11];  /* the latest LeaverRecorded's left_on, "" if none */
    int left_reason;   /* its LeaverReason, 0 if none */
    UT_hash_handle hh; /* in proj_t.people */
} person_t;

/* One attendance record; a later one for the same session replaces it. */
typedef struct {
    char *id;          /* session_id, the hash key */
    int kind;          /* ComponentKind */
    int status;        /* AttendanceStatus */
    uint32_t minutes;  /* minutes attended */
    char date[11];     /* session_date */
    UT_hash_handle hh; /* in enr_t.sess */
} sess_t;

/* One progression attributed to an enrolment. */
typedef struct {
    int kind;    /* ProgressionKind */
    char *from;  /* from_grade */
    char *to;    /* to_grade */
    char on[11]; /* effective_on */
} promo_t;

/* The latest result of one assessed piece; a later record replaces it. */
typedef struct {
    int kind;     /* ComponentKind of the assessed component */
    char *piece;  /* piece_id, unique within kind */
    int outcome;  /* AssessmentOutcome, never 0 */
    char on[11];  /* assessed_on */
    int attempts; /* records applied for this piece (1 + corrections and resubmissions) */
} mark_t;

/* A person's enrolment in a cohort. */
typedef struct {
    person_t *who;        /* the person; the hash key is who->key */
    int stage;            /* EnrolmentStage, never 0 */
    int reached;          /* the furthest selection stage reached, APPLIED..ENROLLED (1..6):
                           * kept when the enrolment ends (NOT_SELECTED, WITHDRAWN,
                           * DECLINED), ENROLLED once enrolled; never 0 */
    char enrolled_on[11]; /* UTC date ENROLLED was reached, "" if never */
    sess_t *sess;         /* attendance by session id */
    promo_t *promos;      /* progressions, in the order applied */
    size_t n_promos;      /* their number */
    size_t cap_promos;    /* allocated */
    person_t **mentors;   /* distinct mentors assigned, in the order assigned */
    size_t n_mentors;     /* their number */
    size_t cap_mentors;   /* allocated */
    mark_t *marks;        /* assessment results, in the order first recorded */
    size_t n_marks;       /* their number (at most the assessed components' counts) */
    size_t cap_marks;     /* allocated */
    char *award;          /* the latest AwardMade's award, NULL if none */
    char awarded_on[11];  /* its awarded_on, "" if none */
    char plan_on[11];     /* the latest PlanAgreed's agreed_on, "" if none */
    char **objectives;    /* its objectives (ids), n_objectives of them */
    size_t n_objectives;  /* at most VALIDATE_MAX_OBJECTIVES */
    int *options;         /* its PlanOptions, n_options of them */
    size_t n_options;     /* at most VALIDATE_MAX_OPTIONS */
    char review_due[11];  /* the next review's due date: the plan's review_on, then the
                           * latest review's next_review_on; "" if none due */
    char reviewed_on[11]; /* the latest review's date, "" if none */
    int review_outcome;   /* its ReviewOutcome, 0 if none */
    long n_reviews;       /* reviews applied */
    long decisions[N_BKIND][N_BREASON]; /* board decisions applied, by kind and reason */
    UT_hash_handle hh;                  /* in cohort_t.enrs */
} enr_t;

/* The history rows (docs/status.md, "history") kept per cohort; the
 * oldest are dropped beyond it. */
#define PROJ_HISTORY_MAX 240

/* One monthly history row of a cohort: its participants' figures at the
 * end of a month of the log clock (proj_hist.c). */
typedef struct {
    int month;       /* year * 12 + month - 1 */
    long reached[6]; /* funnel_reached.participants.reached, APPLIED..ENROLLED */
    long enrolled;   /* completion.participants.enrolled */
    long complete;   /* completion.participants.complete */
    long at_risk;    /* completion.participants.at_risk */
    long credited;   /* their credited minutes: mean_completion's numerator */
    long required;   /* enrolled * required minutes then: its denominator */
    long during;     /* progression.during, summed over kinds */
    long after;      /* progression.after, summed over kinds */
    long promoted;   /* progression.promoted_substantively */
} hrow_t;

/* A cohort of a programme. */
typedef struct {
    char *key;         /* "programme/cohort", the hash key */
    char *id;          /* cohort_id */
    prog_t *prog;      /* its programme */
    cdef_t def;        /* latest CohortOpened */
    ag_t *ags;         /* agency topics, ever listed or with enrolments */
    size_t n_ags;      /* their number */
    enr_t *enrs;       /* enrolments by person key */
    int dirty;         /* cohort/<p>/<c> may have changed */
    int opened_month;  /* the log clock's month (year * 12 + month - 1) when it was first
                        * opened: its first history row; 0 until set */
    hrow_t *hist;      /* history rows, oldest first, one per month, no gaps; room for
                        * PROJ_HISTORY_MAX once the first is taken, NULL before */
    size_t n_hist;     /* their number (at most PROJ_HISTORY_MAX) */
    UT_hash_handle hh; /* in proj_t.cohorts */
} cohort_t;

/* An agency's workforce: its latest WorkforceBaseline and its targets
 * (issue 18 section 5). Kept per agency, whichever programmes it is in. */
typedef struct {
    char *agency;                    /* agency id, the hash key */
    char as_at[11];                  /* the baseline's as_at, "" if none */
    uint32_t head[N_STAFF];          /* headcount per category, 0 = not given */
    long long count[N_STAFF][N_AIM]; /* per category and group; -1 = not given */
    uint32_t target[N_STAFF][N_AIM]; /* target basis points, 0 = none */
    char by[N_STAFF][N_AIM][11];     /* the target's by date, "" if none */
    UT_hash_handle hh;               /* in proj_t.wf */
} wf_t;

struct proj_t {
    proj_config_t cfg; /* tunables */
    uint64_t seq;      /* last applied seq */
    int64_t as_of;     /* largest occurred_at applied */
    prog_t *progs;     /* programmes by id */
    cohort_t *cohorts; /* cohorts by "p/c" */
    person_t *people;  /* people by "agency/ref" */
    release_t *rel;    /* the breakdowns released so far (release.h) */
    wf_t *wf;          /* agencies' workforce baselines and targets, by agency */
};

/* Failure context: the reason buffer. */
typedef struct {
    char *buf;  /* caller's reason buffer */
    size_t len; /* its size */
} why_t;

/* ------------------------------------------------ shared functions --- */

/* ---------------------------------------- proj.c --- */

/* Writes the reason (printf format) into w, if it has room, and returns code. */
int projx_fail(why_t *w, code_t code, const char *fmt, ...);

/* s, or "" for NULL. */
const char *projx_S(const char *s);

/* strdup of S(s); NULL on OOM. */
char *projx_dup(const char *s);

/* Copies at most 10 characters of S(s) into out, NUL-terminated. */
void projx_day_copy(char out[11], const char *s);

/* The name of enum value v of d, or "UNKNOWN". */
const char *projx_ename(const ProtobufCEnumDescriptor *d, int v);

/* The requirement group of a Role: G_MENT (mentor, coach) or G_PART. */
int projx_grp(int role);

/* The furthest selection stage (APPLIED..ENROLLED) that reaching stage
 * to implies, given the furthest reached before (0: none): to itself for
 * APPLIED..ENROLLED, ENROLLED for COMPLETED and REMOVED_BY_BOARD (only
 * reachable from ENROLLED), before for WITHDRAWN, NOT_SELECTED and
 * DECLINED (they keep how far the person got). */
int projx_reached(int before, int to);

/* Whether e is at ENROLLED or COMPLETED. */
int projx_enrolled(const enr_t *e);

/* Whether x is registered as a participant. */
int projx_is_participant(const person_t *x);

/* Whether x is registered as a mentor or coach. */
int projx_is_mentor(const person_t *x);

/* qsort order of person_t pointers by key. */
int projx_person_cmp(const void *a, const void *b);

/* Days since 1970-01-01 of a "YYYY-MM-DD" (validated) date. */
long projx_date_days(const char *s);

/* The "YYYY-MM-DD" date of day z since 1970-01-01. */
void projx_days_date(long z, char out[11]);

/* The UTC date of a Unix time in microseconds. */
void projx_date_of_us(int64_t us, char out[11]);

/* The same day a year later (29 February becomes 28 February). */
void projx_plus_year(const char *s, char out[11]);

/* The same day `months` (>= 0) months later, clamped to the month's last
 * day (2009-08-31 + 6 = 2010-02-28). */
void projx_plus_months(const char *s, int months, char out[11]);

/* The agency's workforce entry, or NULL. */
wf_t *projx_wf_get(const proj_t *self, const char *agency);

/* A new empty workforce entry for agency (no baseline, no targets), added
 * to self->wf; NULL on OOM having changed nothing. */
wf_t *projx_wf_create(proj_t *self, const char *agency);

/* The programme with this id, or NULL. */
prog_t *projx_prog_get(const proj_t *self, const char *id);

/* Cohort c of programme p, or NULL. */
cohort_t *projx_cohort_get(const proj_t *self, const char *p, const char *c);

/* The person (agency, ref), or NULL. */
person_t *projx_person_get(const proj_t *self, const char *agency, const char *ref);

/* x's enrolment in c, or NULL. */
enr_t *projx_enr_get(const cohort_t *c, const person_t *x);

/* e's attendance for session id, or NULL. */
sess_t *projx_sess_get(const enr_t *e, const char *id);

/* c's agency entry for agency (live or not), or NULL. */
ag_t *projx_ag_get(const cohort_t *c, const char *agency);

/* Whether agency is in c's current agencies. */
int projx_listed(const cohort_t *c, const char *agency);

/* The requirement of group g for kind in d, or NULL. */
const comp_t *projx_find_comp(const pdef_t *d, int g, int kind);

/* Frees n components and the array. */
void projx_comps_free(comp_t *c, size_t n);

/* Frees the contents of d and zeroes it. */
void projx_pdef_free(pdef_t *d);

/* Frees the contents of d and zeroes it. */
void projx_cdef_free(cdef_t *d);

/* Frees e with its attendance, promotions and mentor list (not the
 * people); e must already be out of its hash. */
void projx_enr_free(enr_t *e);

/* Frees x; x must already be out of proj_t.people. */
void projx_person_free(person_t *x);

/* Frees all state; the projection is empty afterwards. */
void projx_clear(proj_t *self);

/* Adds an empty programme; NULL on OOM, having changed nothing. */
prog_t *projx_prog_create(proj_t *self, const char *id);

/* Adds an empty cohort cid of p; NULL on OOM or a too-long key, having
 * changed nothing. */
cohort_t *projx_cohort_create(proj_t *self, prog_t *p, const char *cid);

/* Adds a person with no details; NULL on OOM or a too-long key, having
 * changed nothing. */
person_t *projx_person_create(proj_t *self, const char *agency, const char *ref);

/* Adds who's enrolment to c (stage 0: the caller sets it); NULL on OOM,
 * having changed nothing. */
enr_t *projx_enr_create(cohort_t *c, person_t *who);

/* Adds an empty attendance record for session id to e; NULL on OOM,
 * having changed nothing. */
sess_t *projx_sess_create(enr_t *e, const char *id);

/* Room for one more promotion in e: 0 or -ENOMEM (e unchanged). */
int projx_promos_reserve(enr_t *e);

/* Room for one more mentor in e: 0 or -ENOMEM (e unchanged). */
int projx_mentors_reserve(enr_t *e);

/* Room for one more assessment result in e: 0 or -ENOMEM (e unchanged). */
int projx_marks_reserve(enr_t *e);

/* Frees e's plan objectives and options (plan_on and the review fields
 * stay). */
void projx_plan_clear(enr_t *e);

/* Replaces e's plan: agreed on `on`, objectives copied, options copied.
 * 0, or -ENOMEM with e unchanged. */
int projx_plan_set(enr_t *e, const char *on, char *const *objs, size_t nobj, const int *opts,
                   size_t nopt);

/* The pieces of kind whose latest result in e is ASSESSMENT_PASS. */
long projx_passed(const enr_t *e, int kind);

/* Whether e has passed every assessed component of its role in d (each
 * with at least count pieces passed); 1 when the role has none. */
int projx_all_passed(const pdef_t *d, const enr_t *e);

/* e's result for (kind, piece), or NULL. */
mark_t *projx_mark_get(const enr_t *e, int kind, const char *piece);

/* Whether a is a topic: listed, or with enrolments. */
int projx_ag_live(const ag_t *a);

/* Marks an agency topic of c, if it exists. */
void projx_mark_ag(cohort_t *c, const char *agency);

/* The cohort topic, its programme topic and (all_ags) all its agency topics. */
void projx_mark_cohort(cohort_t *c, int all_ags);

/* Marks every topic dirty. */
void projx_mark_all(proj_t *self);

/* ---------------------------------------- proj_rules.c --- */

/* Applies ev (or with dry, only checks it) by its body type. Returns 0, a
 * REJECT_ code with the reason in w (state unchanged), or -ENOMEM (state
 * unchanged). proj_apply uses dry when ev opens a new day on the log clock:
 * the releases due are cut only if ev is to be applied at all. */
int projx_dispatch(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry);

/* ---------------------------------------- proj_render.c --- */

/* The enrolments of c sorted by person key (malloc'd). -ENOMEM or 0. */
int projx_enrs_of(const cohort_t *c, enr_t ***out, size_t *n);

/* json_dumps(doc, DUMP_FLAGS), malloc'd, or NULL (doc NULL, OOM); takes
 * the reference to doc. */
char *projx_dump(json_t *doc);

/* One enrolment's completion and risk. The minute figures cover the
 * UNIT_MINUTES components only (the others have minutes_each 0); the
 * per-kind figures are in each component's own unit. */
typedef struct {
    long credited;         /* sum of credited minutes */
    long required;         /* sum of count * minutes_each */
    long expected;         /* sum of held (capped) * minutes_each */
    long cred[N_KIND];     /* credited per kind, in its unit */
    long req[N_KIND];      /* required per kind, in its unit */
    long sessions[N_KIND]; /* sessions attended (PRESENT or LATE) per kind */
    long passed[N_KIND];   /* pieces passed per assessed kind */
    int met[N_KIND];       /* the kind's requirement is met (credited, and passed if assessed) */
    int complete;          /* the role has requirements and every one is met */
    int behind_units;      /* a session or submission component is behind what is held */
    int failed;            /* some assessed piece's latest result is FAIL */
    int referred;          /* some assessed piece's latest result is REFER or RESUBMITTED */
    int at_risk;           /* ENROLLED and behind (minutes or units) or failed */
} assess_t;

/* Progression of c's participants (role PARTICIPANT, any stage). */
typedef struct {
    long during[N_PKIND];    /* events effective in [starts_on, ends_on], by kind */
    long after[N_PKIND];     /* events effective in (ends_on, ends_on + 12 months] */
    long moved[1 + N_GROUP]; /* people with any of those: [0] all, [1 + g] by group */
    long *days;              /* days to the first substantive promotion, sorted */
    size_t n_days;           /* their number */
    char after_end[11];      /* ends_on + 12 months */
} pstat_t;

/* Ethnic group 0..5 (release.h's group order) of an Ethnicity value 1..17. */
int projx_eth_group(int eth);

/* held[g][kind]: distinct session ids of that kind recorded (any status) by
 * anyone of requirement group g in c. 0 or -ENOMEM. */
int projx_held_sessions(const cohort_t *c, long held[2][N_KIND]);

/* e's completion and risk in c, given c's sessions held (above), into a. */
void projx_assess(const proj_t *self, const cohort_t *c, const enr_t *e, long held[2][N_KIND],
                  assess_t *a);

/* num/den rounded half up to 4 decimals, or JSON null when den is 0 (new reference). */
json_t *projx_ratio_json(long long num, long long den);

/* Whether e's next review is overdue by the log clock's date `today`. */
int projx_review_overdue(const enr_t *e, const char *today);

/* The cohorts of p sorted by id (malloc'd; *n may be 0). -ENOMEM or 0. */
int projx_cohorts_of(const proj_t *self, const prog_t *p, cohort_t ***out, size_t *n);

/* Enrolled participants (role PARTICIPANT, ENROLLED or COMPLETED) of the
 * cohorts, each person once, in key order (malloc'd). -ENOMEM or 0. */
int projx_members_of(cohort_t *const *cs, size_t n, person_t ***out, size_t *m);

/* c's progression into ps (ps->days malloc'd: the caller frees it). -ENOMEM or 0. */
int projx_progression(const cohort_t *c, pstat_t *ps);

/* One enrolment's retention and progression after the programme
 * (docs/status.md, "retention" and "progression.after_completion"). */
typedef struct {
    int kept;          /* -1 left before starts_on, 0 during, 1..3 left within 6, 12, 24
                        * months after ends_on (the first that holds), 4 not left by then */
    int completed;     /* the enrolment is COMPLETED */
    int during;        /* completed, with a substantive promotion in starts_on..ends_on */
    int within[3];     /* completed, the first one after ends_on within 6, 12, 24 months */
    const char *first; /* that first one's date (borrowed), or NULL */
} after_of_t;

/* The horizons ends_on plus 6, 12 and 24 months of c. */
void projx_horizons(const cohort_t *c, char hz[3][11]);

/* Fills o for enrolment e of c (hz: projx_horizons). Returns 1 when e counts
 * (a participant whose enrolment reached ENROLLED), else 0 (o zeroed). */
int projx_after_of(const cohort_t *c, const enr_t *e, const char hz[3][11], after_of_t *o);

/* The funnel object of cohorts cs (by current stage); filled[g] gets each
 * group's ENROLLED + COMPLETED. New reference, or NULL (out of memory). */
json_t *projx_funnel_json(cohort_t *const *cs, size_t n, long filled[2]);

/* ---------------------------------------- proj_people.c --- */

/* The document of agency ag's people in cohort c, malloc'd, or NULL (out of memory). */
char *projx_render_agency(const proj_t *self, const cohort_t *c, const ag_t *ag);

/* ---------------------------------------- proj_cut.c --- */

/* Days since 1970-01-01 of a log-clock time (microseconds), rounded down. */
long projx_day_of(int64_t us);

/* Cuts the releases due when the log clock moves from day d0 to day d1 >
 * d0 (see proj.h): every programme when a release period starts, and a
 * programme one of whose cohorts passes a milestone. Returns 0 or -ENOMEM. */
int projx_cut_due(proj_t *self, long d0, long d1);

/* ---------------------------------------- proj_hist.c --- */

/* The month index (year * 12 + month - 1) of a log-clock time. */
int projx_month_of_us(int64_t us);

/* The log clock moves from month m0 to month m1 > m0: every cohort gets a
 * row, with its figures now (the state before the event that moves the
 * clock), for each month from its first owed (its opened month, or the
 * month after its last row) to m1 - 1, and its topics are marked. All or
 * nothing: 0, or -ENOMEM with nothing changed. Idempotent for the same m1. */
int projx_history_due(proj_t *self, int m0, int m1);

/* Sets c's opened month to the log clock's, unless already set (the first
 * CohortOpened of c, just applied). */
void projx_history_opened(const proj_t *self, cohort_t *c);

/* {"monthly": [...]} of cohorts cs: one row per month any of them has a
 * row for (at most PROJ_HISTORY_MAX, the latest), summed over them. New
 * reference, or NULL (OOM). */
json_t *projx_history_json(cohort_t *const *cs, size_t n);

/* c's rows as saved in the checkpoint (a new array), or NULL (OOM). */
json_t *projx_history_save(const cohort_t *c);

/* Loads c's opened month ("YYYY-MM") and rows (a projx_history_save array)
 * into c (no rows yet). 0, -EINVAL or -ENOMEM. */
int projx_history_load(cohort_t *c, const char *opened, json_t *rows);

/* ---------------------------------------- proj_state.c --- */

/* qsort order of prog_t pointers by id. */
int projx_prog_cmp(const void *a, const void *b);

#define STAGE_NAME(v) projx_ename(&cohort__v1__enrolment_stage__descriptor, (v))
#define KIND_NAME(v) projx_ename(&cohort__v1__component_kind__descriptor, (v))
#define UNIT_NAME(v) projx_ename(&cohort__v1__component_unit__descriptor, (v))
#define OUTCOME_NAME(v) projx_ename(&cohort__v1__assessment_outcome__descriptor, (v))
#define N_OUTCOME 5 /* AssessmentOutcome 1..4 */
#define N_UNIT 3    /* ComponentUnit 0..2 */
#define PKIND_NAME(v) projx_ename(&cohort__v1__progression_kind__descriptor, (v))

#endif
