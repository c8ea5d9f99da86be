/* validate.c: shape checks for one Event (see validate.h). Each body type has
 * one function listing its required fields; strings everywhere in the body
 * are checked for UTF-8 and length by one walk over the descriptors, so a
 * field added to the proto is covered without code here. */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef Cohort__V1__RejectCode code_t;

#define OK COHORT__V1__REJECT_CODE__REJECT_NONE

/* Failure context: the reason buffer, and what the checks allow. */
typedef struct {
    char *buf;                /* caller's reason buffer */
    size_t len;               /* its size */
    validate_ref_form_t form; /* which refs are accepted */
} why_t;

static int fail(why_t *w, code_t code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->buf, w->len, fmt, ap);
    va_end(ap);
    return (int)code;
}

int validate_utf8(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        size_t need;
        unsigned min, cp;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1, min = 0x80, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, min = 0x800, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, min = 0x10000, cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= need)
            return 0;
        for (size_t i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += need + 1;
    }
    return 1;
}

int validate_date(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return 0;
    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');
    if (y < 1900 || y > 2199 || m < 1 || m > 12 || d < 1)
        return 0;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return d <= mdays[m - 1] + (m == 2 && leap);
}

/* An id: 1..VALIDATE_MAX_ID of [a-z0-9._-], starting with a letter or digit. */
static int id_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VALIDATE_MAX_ID || s[0] == '.' || s[0] == '-' || s[0] == '_')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

/* The ref syntax: 1..VALIDATE_MAX_REF of [A-Za-z0-9._:-] (any form). */
static int ref_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > VALIDATE_MAX_REF)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == ':'))
            return 0;
    }
    return 1;
}

int validate_pseudonym(const char *s)
{
    const size_t pre = sizeof VALIDATE_PSEUDONYM_PREFIX - 1;
    if (strncmp(s, VALIDATE_PSEUDONYM_PREFIX, pre) != 0 || strlen(s) != VALIDATE_PSEUDONYM_LEN)
        return 0;
    for (size_t i = pre; i < VALIDATE_PSEUDONYM_LEN; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '2' && s[i] <= '7')))
            return 0;
    return 1;
}

/* The longest string field name may hold: the free-text fields have their
 * own, tighter bounds (validate.h). Matched by field name, in any message. */
static size_t text_max(const char *name)
{
    if (strcmp(name, "grade") == 0 || strcmp(name, "from_grade") == 0 ||
        strcmp(name, "to_grade") == 0)
        return VALIDATE_MAX_GRADE;
    if (strcmp(name, "note") == 0)
        return VALIDATE_MAX_NOTE;
    if (strcmp(name, "label") == 0 || strcmp(name, "award") == 0)
        return VALIDATE_MAX_LABEL;
    return VALIDATE_MAX_TEXT;
}

/* Walks every string (and repeated string) of msg and its sub-messages:
 * UTF-8, at most VALIDATE_MAX_TEXT bytes (free text: text_max); repeated fields at most
 * VALIDATE_MAX_LIST entries; enum values known to this daemon. */
static int walk(const ProtobufCMessage *msg, const char *parent, const char *name, why_t *w)
{
    char path[128]; /* made only when a message is needed: the hot path does no printf */
#define PATH() (snprintf(path, sizeof path, "%s%s%s", parent, *name ? "." : "", name), path)
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        const char *base = (const char *)msg + f->offset;
        size_t n = 1;
        const void *items = base;
        if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
            uint32_t which = *(const uint32_t *)((const char *)msg + f->quantifier_offset);
            if (which != f->id)
                continue;
        }
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)((const char *)msg + f->quantifier_offset);
            items = *(void *const *)base;
            if (n > VALIDATE_MAX_LIST)
                return fail(w, COHORT__V1__REJECT_CODE__REJECT_TOO_LONG,
                            "%s.%s: more than %d entries", PATH(), f->name, VALIDATE_MAX_LIST);
        }
        for (size_t k = 0; k < n; k++) {
            int rc;
            switch (f->type) {
            case PROTOBUF_C_TYPE_STRING: {
                const char *s = ((const char *const *)items)[k];
                const unsigned char *u = (const unsigned char *)(s ? s : "");
                size_t len = 0;
                while (u[len] && u[len] < 0x80) /* one pass for the usual ASCII text */
                    len++;
                if (u[len]) { /* non-ASCII: measure, then check the UTF-8 properly */
                    len += strlen((const char *)u + len);
                    if (len <= VALIDATE_MAX_TEXT && !validate_utf8((const char *)u, len))
                        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_UTF8,
                                    "%s.%s: not valid UTF-8", PATH(), f->name);
                }
                if (len > VALIDATE_MAX_GRADE) { /* the least bound: only then look it up */
                    size_t max = text_max(f->name);
                    if (len > max)
                        return fail(w, COHORT__V1__REJECT_CODE__REJECT_TOO_LONG,
                                    "%s.%s: longer than %zu bytes", PATH(), f->name, max);
                }
                break;
            }
            case PROTOBUF_C_TYPE_ENUM: {
                int v = ((const int *)items)[k];
                if (!protobuf_c_enum_descriptor_get_value(f->descriptor, v))
                    return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM,
                                "%s.%s: unknown enum value %d", PATH(), f->name, v);
                break;
            }
            case PROTOBUF_C_TYPE_MESSAGE: {
                const ProtobufCMessage *sub = ((const ProtobufCMessage *const *)items)[k];
                if (!sub)
                    break;
                if ((rc = walk(sub, PATH(), f->name, w)) != OK)
                    return rc;
                break;
            }
            default:
                break;
            }
        }
    }
    return OK;
#undef PATH
}

#define NEED_ID(w, s, name)                                                                        \
    do {                                                                                           \
        if (!(s) || !*(s))                                                                         \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD, "%s is required", name); \
        if (!id_ok(s))                                                                             \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,                              \
                        "%s must be 1-%d characters of a-z 0-9 . - _", name, VALIDATE_MAX_ID);     \
    } while (0)

/* A ref of the ref syntax, in any form (erasure; see validate.h). */
#define NEED_ANY_REF(w, s, name)                                                                   \
    do {                                                                                           \
        if (!(s) || !*(s))                                                                         \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD, "%s is required", name); \
        if (!ref_ok(s))                                                                            \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,                              \
                        "%s must be 1-%d characters of A-Z a-z 0-9 . - _ :", name,                 \
                        VALIDATE_MAX_REF);                                                         \
    } while (0)

/* A ref of the ref syntax and, unless w->form is VALIDATE_REF_ANY, the
 * pseudonym form. */
#define NEED_REF(w, s, name)                                                                       \
    do {                                                                                           \
        NEED_ANY_REF(w, s, name);                                                                  \
        if ((w)->form != VALIDATE_REF_ANY && !validate_pseudonym(s))                               \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,                              \
                        "%s is not a pseudonym: it must be p1: and 32 characters of a-z 2-7, "     \
                        "as cohort-agent makes from a staff number (docs/protocol.md)",            \
                        name);                                                                     \
    } while (0)

#define NEED_ENUM(w, v, name)                                                                      \
    do {                                                                                           \
        if ((int)(v) == 0)                                                                         \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_ENUM, "%s is unspecified", name);   \
    } while (0)

#define NEED_DATE(w, s, name)                                                                      \
    do {                                                                                           \
        if (!(s) || !*(s))                                                                         \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD, "%s is required", name); \
        if (!validate_date(s))                                                                     \
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_DATE,                               \
                        "%s is not a YYYY-MM-DD date", name);                                      \
    } while (0)

static int components(why_t *w, Cohort__V1__Component **c, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        NEED_ENUM(w, c[i]->kind, "component kind");
        if (c[i]->count < 1 || c[i]->count > 1000)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "%s[%zu].count must be 1-1000", name, i);
        if (c[i]->unit == COHORT__V1__COMPONENT_UNIT__UNIT_MINUTES &&
            (c[i]->minutes_each < 1 || c[i]->minutes_each > 7 * 24 * 60))
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "%s[%zu].minutes_each must be 1-10080", name, i);
        /* Sessions and submissions are counted, not timed (docs/status.md). */
        if (c[i]->unit != COHORT__V1__COMPONENT_UNIT__UNIT_MINUTES && c[i]->minutes_each != 0)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "%s[%zu].minutes_each must be 0 for a unit other than minutes", name, i);
    }
    return OK;
}

static int programme(why_t *w, const Cohort__V1__ProgrammeDefined *b)
{
    int rc;
    NEED_ID(w, b->programme_id, "programme_id");
    if (!b->name || !*b->name)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD, "name is required");
    if (b->n_participant_components == 0)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD,
                    "participant_components needs at least one component");
    if ((rc = components(w, b->participant_components, b->n_participant_components,
                         "participant_components")) != OK)
        return rc;
    if ((rc = components(w, b->mentor_components, b->n_mentor_components, "mentor_components")) !=
        OK)
        return rc;
    for (size_t i = 0; i < b->n_aims; i++) {
        NEED_ENUM(w, b->aims[i]->group, "aims.group");
        if (b->aims[i]->min_percent > 100)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "aims[%zu].min_percent must be 0-100", i);
    }
    if (b->duration_months > 120)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE, "duration_months must be 0-120");
    return OK;
}

static int cohort(why_t *w, const Cohort__V1__CohortOpened *b)
{
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    if (b->places < 1 || b->places > 100000)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE, "places must be 1-100000");
    NEED_DATE(w, b->starts_on, "starts_on");
    NEED_DATE(w, b->ends_on, "ends_on");
    if (strcmp(b->ends_on, b->starts_on) < 0)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_DATE, "ends_on is before starts_on");
    if (b->n_agencies == 0)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD,
                    "agencies needs at least one agency");
    for (size_t i = 0; i < b->n_agencies; i++)
        NEED_ID(w, b->agencies[i], "agencies[]");
    return OK;
}

static int participant(why_t *w, const Cohort__V1__ParticipantRegistered *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    if (b->sealed.len) /* checked first: a copied log entry lacks the fields below */
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                    "sealed is set only by the daemon, in its stored log");
    NEED_ENUM(w, b->role, "role");
    NEED_ENUM(w, b->ethnicity, "ethnicity");
    NEED_ENUM(w, b->gender, "gender");
    NEED_ENUM(w, b->disability, "disability");
    return OK; /* age band, orientation, religion may be unrecorded (0) */
}

static int erased(why_t *w, const Cohort__V1__ParticipantErased *b)
{
    NEED_ANY_REF(w, b->participant_ref, "participant_ref");
    return OK;
}

static int enrolment(why_t *w, const Cohort__V1__EnrolmentChanged *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_ENUM(w, b->stage, "stage");
    return OK;
}

static int attendance(why_t *w, const Cohort__V1__AttendanceRecorded *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_ENUM(w, b->component, "component");
    NEED_ID(w, b->session_id, "session_id");
    NEED_DATE(w, b->session_date, "session_date");
    NEED_ENUM(w, b->status, "status");
    if (b->minutes > 24 * 60)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE, "minutes must be 0-1440");
    return OK;
}

static int promotion(why_t *w, const Cohort__V1__PromotionRecorded *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ENUM(w, b->kind, "kind");
    NEED_DATE(w, b->effective_on, "effective_on");
    if (b->programme_id && *b->programme_id)
        NEED_ID(w, b->programme_id, "programme_id");
    if (b->cohort_id && *b->cohort_id)
        NEED_ID(w, b->cohort_id, "cohort_id");
    return OK;
}

static int mentor(why_t *w, const Cohort__V1__MentorAssigned *b)
{
    NEED_REF(w, b->mentor_ref, "mentor_ref");
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    /* Optional: empty means the event's own agency (proj_rules.c). */
    if (b->mentor_agency && *b->mentor_agency && !id_ok(b->mentor_agency))
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_AGENCY,
                    "mentor_agency must be 1-%d characters of a-z 0-9 . - _", VALIDATE_MAX_ID);
    return OK;
}

static int assessment(why_t *w, const Cohort__V1__AssessmentRecorded *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_ENUM(w, b->component, "component");
    NEED_ID(w, b->piece_id, "piece_id");
    NEED_ENUM(w, b->outcome, "outcome");
    NEED_DATE(w, b->assessed_on, "assessed_on");
    return OK;
}

static int award(why_t *w, const Cohort__V1__AwardMade *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    if (!b->award || !*b->award)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD, "award is required");
    NEED_DATE(w, b->awarded_on, "awarded_on");
    return OK;
}

static int leaver(why_t *w, const Cohort__V1__LeaverRecorded *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_DATE(w, b->left_on, "left_on");
    NEED_ENUM(w, b->reason, "reason");
    return OK;
}

/* WorkforceBaseline: 1..8 categories, each once; a headcount 1..10^7; per
 * category each group at most once with a count <= the headcount. */
static int baseline(why_t *w, const Cohort__V1__WorkforceBaseline *b)
{
    NEED_DATE(w, b->as_at, "as_at");
    if (b->n_categories < 1 || b->n_categories > 8)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD,
                    "categories needs 1-8 staff categories");
    for (size_t i = 0; i < b->n_categories; i++) {
        const Cohort__V1__WorkforceCategory *c = b->categories[i];
        NEED_ENUM(w, c->category, "categories.category");
        for (size_t j = 0; j < i; j++)
            if (b->categories[j]->category == c->category)
                return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                            "categories[%zu] repeats a staff category", i);
        if (c->headcount < 1 || c->headcount > 10000000)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "categories[%zu].headcount must be 1-10000000", i);
        if (c->n_groups > 8)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_TOO_LONG,
                        "categories[%zu].groups has more than 8 entries", i);
        for (size_t g = 0; g < c->n_groups; g++) {
            NEED_ENUM(w, c->groups[g]->group, "categories.groups.group");
            for (size_t h = 0; h < g; h++)
                if (c->groups[h]->group == c->groups[g]->group)
                    return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                                "categories[%zu].groups[%zu] repeats a group", i, g);
            if (c->groups[g]->count > c->headcount)
                return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                            "categories[%zu].groups[%zu].count exceeds the headcount", i, g);
        }
    }
    return OK;
}

/* PlanAgreed: objectives are ids (no free text, so no personal data). */
static int plan(why_t *w, const Cohort__V1__PlanAgreed *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_DATE(w, b->agreed_on, "agreed_on");
    NEED_DATE(w, b->review_on, "review_on");
    if (strcmp(b->review_on, b->agreed_on) < 0)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE, "review_on is before agreed_on");
    if (b->n_objectives > VALIDATE_MAX_OBJECTIVES)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_TOO_LONG, "more than %d objectives",
                    VALIDATE_MAX_OBJECTIVES);
    if (b->n_options > VALIDATE_MAX_OPTIONS)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_TOO_LONG, "more than %d options",
                    VALIDATE_MAX_OPTIONS);
    if (!b->n_objectives && !b->n_options)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD,
                    "a plan needs objectives or options");
    for (size_t i = 0; i < b->n_objectives; i++)
        NEED_ID(w, b->objectives[i], "objectives[]");
    for (size_t i = 0; i < b->n_options; i++)
        NEED_ENUM(w, b->options[i], "options[]");
    return OK;
}

static int review(why_t *w, const Cohort__V1__ReviewRecorded *b)
{
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_DATE(w, b->reviewed_on, "reviewed_on");
    NEED_ENUM(w, b->outcome, "outcome");
    if (b->next_review_on && *b->next_review_on) {
        NEED_DATE(w, b->next_review_on, "next_review_on");
        if (strcmp(b->next_review_on, b->reviewed_on) <= 0)
            return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                        "next_review_on is not after reviewed_on");
    }
    return OK;
}

/* WorkforceTarget: a group, basis points 1..10000, an optional date
 * (category 0 means the whole workforce). */
static int target(why_t *w, const Cohort__V1__WorkforceTarget *b)
{
    NEED_ENUM(w, b->group, "group");
    if (b->basis_points < 1 || b->basis_points > 10000)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_VALUE,
                    "basis_points must be 1-10000 (16.11%% = 1611)");
    if (b->by && *b->by && !validate_date(b->by))
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_DATE, "by is not a YYYY-MM-DD date");
    return OK;
}

static int decision(why_t *w, const Cohort__V1__BoardDecision *b)
{
    if (!b->participant_agency || !*b->participant_agency)
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_MISSING_FIELD,
                    "participant_agency is required");
    if (!id_ok(b->participant_agency))
        return fail(w, COHORT__V1__REJECT_CODE__REJECT_BAD_AGENCY,
                    "participant_agency must be 1-%d characters of a-z 0-9 . - _", VALIDATE_MAX_ID);
    NEED_REF(w, b->participant_ref, "participant_ref");
    NEED_ID(w, b->programme_id, "programme_id");
    NEED_ID(w, b->cohort_id, "cohort_id");
    NEED_DATE(w, b->decided_on, "decided_on");
    NEED_ENUM(w, b->decision, "decision");
    NEED_ENUM(w, b->reason, "reason");
    return OK;
}

int validate_event(const Cohort__V1__Event *ev, int64_t now_us, char *reason, size_t len)
{
    return validate_event_form(ev, now_us, VALIDATE_REF_PSEUDONYM, reason, len);
}

int validate_event_form(const Cohort__V1__Event *ev, int64_t now_us, validate_ref_form_t form,
                        char *reason, size_t len)
{
    why_t w = {reason, len, form};
    int rc;
    if (len)
        reason[0] = '\0';
    if (ev->event_id.len != 16)
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_BAD_EVENT_ID,
                    "event_id must be 16 bytes, got %zu", ev->event_id.len);
    if (!ev->agency || !*ev->agency)
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_BAD_AGENCY, "agency is required");
    if (!id_ok(ev->agency))
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_BAD_AGENCY,
                    "agency must be 1-%d characters of a-z 0-9 . - _", VALIDATE_MAX_ID);
    if (ev->occurred_at <= 0)
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_BAD_TIMESTAMP, "occurred_at is required");
    if (ev->occurred_at > now_us + VALIDATE_FUTURE_US)
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_BAD_TIMESTAMP,
                    "occurred_at is more than 24 hours in the future");
    if ((rc = walk(&ev->base, "event", "", &w)) != OK)
        return rc;
    switch (ev->body_case) {
    case COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED:
        return programme(&w, ev->programme_defined);
    case COHORT__V1__EVENT__BODY_COHORT_OPENED:
        return cohort(&w, ev->cohort_opened);
    case COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED:
        return participant(&w, ev->participant_registered);
    case COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED:
        return enrolment(&w, ev->enrolment_changed);
    case COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED:
        return attendance(&w, ev->attendance_recorded);
    case COHORT__V1__EVENT__BODY_PROMOTION_RECORDED:
        return promotion(&w, ev->promotion_recorded);
    case COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED:
        return mentor(&w, ev->mentor_assigned);
    case COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED:
        return erased(&w, ev->participant_erased);
    case COHORT__V1__EVENT__BODY_ASSESSMENT_RECORDED:
        return assessment(&w, ev->assessment_recorded);
    case COHORT__V1__EVENT__BODY_AWARD_MADE:
        return award(&w, ev->award_made);
    case COHORT__V1__EVENT__BODY_LEAVER_RECORDED:
        return leaver(&w, ev->leaver_recorded);
    case COHORT__V1__EVENT__BODY_WORKFORCE_BASELINE:
        return baseline(&w, ev->workforce_baseline);
    case COHORT__V1__EVENT__BODY_WORKFORCE_TARGET:
        return target(&w, ev->workforce_target);
    case COHORT__V1__EVENT__BODY_PLAN_AGREED:
        return plan(&w, ev->plan_agreed);
    case COHORT__V1__EVENT__BODY_REVIEW_RECORDED:
        return review(&w, ev->review_recorded);
    case COHORT__V1__EVENT__BODY_BOARD_DECISION:
        return decision(&w, ev->board_decision);
    default:
        return fail(&w, COHORT__V1__REJECT_CODE__REJECT_NO_BODY,
                    "no body, or a body type this daemon does not know");
    }
}
