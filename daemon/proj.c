/* proj.c: the programme status projection (see proj.h, docs/status.md).
 *
 * State: hash maps (uthash) of programmes by id, cohorts by "p/c", people by
 * "agency/ref"; each cohort holds its enrolments by the person's key, each
 * enrolment its attendance by session id, its promotions and its mentors.
 * Ids and refs never contain '/' (validate.c), so the composite keys are
 * unambiguous.
 *
 * Invariants: programmes and cohorts are never removed, so pointers to them
 * stay valid; a person is removed only by ParticipantErased, which first
 * drops every pointer to them (their enrolments, and their place in other
 * enrolments' mentor lists). Every event handler checks all its rules first,
 * then allocates everything it needs, and only then mutates; the one
 * fallible mutation (a hash insert, HASH_NONFATAL_OOM) comes first and is
 * undone on failure. Dirty topics are flags on the objects (programme,
 * cohort, per-cohort agency entries), so marking never allocates; an
 * agency entry that is no longer a topic is kept until its removal has
 * been handed out by proj_take_dirty, then dropped.
 *
 * Everything rendered is derived on demand from this state, in sorted
 * order, with integer arithmetic where the result is published (ratios are
 * rounded to 4 decimals from integers), so output is byte-stable. */
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

#define KEYLEN 512 /* composite keys and topics; ids are at most 64, refs 128 */
#define N_KIND 14  /* ComponentKind 1..13 */
#define N_STAGE 12 /* EnrolmentStage 1..11 */
#define N_PKIND 7  /* ProgressionKind 1..6 */
#define N_GROUP 6  /* ethnic groups */
#define G_PART 0   /* requirement group: participants */
#define G_MENT 1   /* requirement group: mentors and coaches */
#define DUMP_FLAGS PROJ_DUMP_FLAGS

/* ------------------------------------------------------------ types --- */

/* One required component of a programme. */
typedef struct {
    int kind;         /* ComponentKind, unique within its list */
    uint32_t count;   /* sessions required */
    uint32_t minutes; /* minutes each */
    char *label;      /* free text */
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

/* A person's enrolment in a cohort. */
typedef struct {
    person_t *who;        /* the person; the hash key is who->key */
    int stage;            /* EnrolmentStage, never 0 */
    char enrolled_on[11]; /* UTC date ENROLLED was reached, "" if never */
    sess_t *sess;         /* attendance by session id */
    promo_t *promos;      /* progressions, in the order applied */
    size_t n_promos;      /* their number */
    size_t cap_promos;    /* allocated */
    person_t **mentors;   /* distinct mentors assigned, in the order assigned */
    size_t n_mentors;     /* their number */
    size_t cap_mentors;   /* allocated */
    UT_hash_handle hh;    /* in cohort_t.enrs */
} enr_t;

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
    UT_hash_handle hh; /* in proj_t.cohorts */
} cohort_t;

struct proj_t {
    proj_config_t cfg; /* tunables */
    uint64_t seq;      /* last applied seq */
    int64_t as_of;     /* largest occurred_at applied */
    prog_t *progs;     /* programmes by id */
    cohort_t *cohorts; /* cohorts by "p/c" */
    person_t *people;  /* people by "agency/ref" */
    release_t *rel;    /* the breakdowns released so far (release.h) */
};

/* Failure context: the reason buffer. */
typedef struct {
    char *buf;  /* caller's reason buffer */
    size_t len; /* its size */
} why_t;

/* ---------------------------------------------------------- helpers --- */

static int fail(why_t *w, code_t code, const char *fmt, ...)
{
    va_list ap;
    if (w->len) {
        va_start(ap, fmt);
        vsnprintf(w->buf, w->len, fmt, ap);
        va_end(ap);
    }
    return (int)code;
}

static const char *S(const char *s)
{
    return s ? s : "";
}

static char *dup(const char *s)
{
    return strdup(S(s));
}

static void day_copy(char out[11], const char *s)
{
    size_t n = strlen(S(s));
    if (n > 10)
        n = 10;
    memcpy(out, S(s), n);
    out[n] = '\0';
}

static int mkkey(char *buf, size_t n, const char *a, const char *b)
{
    int r = snprintf(buf, n, "%s/%s", S(a), S(b));
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

static const char *ename(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "UNKNOWN";
}

#define STAGE_NAME(v) ename(&cohort__v1__enrolment_stage__descriptor, (v))
#define KIND_NAME(v) ename(&cohort__v1__component_kind__descriptor, (v))
#define PKIND_NAME(v) ename(&cohort__v1__progression_kind__descriptor, (v))

static int grp(int role)
{
    return role == COHORT__V1__ROLE__MENTOR || role == COHORT__V1__ROLE__COACH ? G_MENT : G_PART;
}

static int enrolled(const enr_t *e)
{
    return e->stage == STG(ENROLLED) || e->stage == STG(COMPLETED);
}

static int is_participant(const person_t *x)
{
    return x->d.role == COHORT__V1__ROLE__PARTICIPANT;
}

static int is_mentor(const person_t *x)
{
    return grp(x->d.role) == G_MENT;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int person_cmp(const void *a, const void *b)
{
    return strcmp((*(person_t *const *)a)->key, (*(person_t *const *)b)->key);
}

/* ------------------------------------------------------------ dates --- */

/* Writes y-m-d as "YYYY-MM-DD" (years 0-9999). */
static void fmt_date(char out[11], long y, long m, long d)
{
    unsigned yy = (unsigned)(y < 0 ? 0 : y) % 10000u, mm = (unsigned)(m < 0 ? 0 : m) % 100u,
             dd = (unsigned)(d < 0 ? 0 : d) % 100u;
    snprintf(out, 11, "%04u-%02u-%02u", yy, mm, dd);
}

/* Days since 1970-01-01 of a "YYYY-MM-DD" (validated) date. */
static long date_days(const char *s)
{
    int y = 0, m = 0, d = 0;
    if (sscanf(S(s), "%4d-%2d-%2d", &y, &m, &d) != 3)
        return 0;
    return (long)civil_days(y, (unsigned)m, (unsigned)d);
}

static void days_date(long z, char out[11])
{
    int64_t y;
    unsigned m, d;
    civil_from_days(z, &y, &m, &d);
    fmt_date(out, (long)y, (long)m, (long)d);
}

/* The UTC date of a Unix time in microseconds. */
static void date_of_us(int64_t us, char out[11])
{
    int64_t day = 86400LL * 1000000;
    int64_t z = us / day - (us % day < 0);
    days_date((long)z, out);
}

/* The same day a year later (29 February becomes 28 February). */
static void plus_year(const char *s, char out[11])
{
    int y = 0, m = 0, d = 0;
    if (sscanf(S(s), "%4d-%2d-%2d", &y, &m, &d) != 3) {
        day_copy(out, s);
        return;
    }
    y++;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    fmt_date(out, y, m, d);
}

/* ---------------------------------------------------------- lookups --- */

static prog_t *prog_get(const proj_t *self, const char *id)
{
    prog_t *head = self->progs, *p = NULL;
    HASH_FIND_STR(head, S(id), p);
    return p;
}

static cohort_t *cohort_get(const proj_t *self, const char *p, const char *c)
{
    char key[KEYLEN];
    cohort_t *head = self->cohorts, *out = NULL;
    if (mkkey(key, sizeof key, p, c))
        return NULL;
    HASH_FIND_STR(head, key, out);
    return out;
}

static person_t *person_get(const proj_t *self, const char *agency, const char *ref)
{
    char key[KEYLEN];
    person_t *head = self->people, *out = NULL;
    if (mkkey(key, sizeof key, agency, ref))
        return NULL;
    HASH_FIND_STR(head, key, out);
    return out;
}

static enr_t *enr_get(const cohort_t *c, const person_t *x)
{
    enr_t *head = c->enrs, *out = NULL;
    HASH_FIND_STR(head, x->key, out);
    return out;
}

static sess_t *sess_get(const enr_t *e, const char *id)
{
    sess_t *head = e->sess, *out = NULL;
    HASH_FIND_STR(head, S(id), out);
    return out;
}

static ag_t *ag_get(const cohort_t *c, const char *agency)
{
    for (size_t i = 0; i < c->n_ags; i++)
        if (strcmp(c->ags[i].id, S(agency)) == 0)
            return &c->ags[i];
    return NULL;
}

static int listed(const cohort_t *c, const char *agency)
{
    for (size_t i = 0; i < c->def.n_agencies; i++)
        if (strcmp(c->def.agencies[i], S(agency)) == 0)
            return 1;
    return 0;
}

static const comp_t *find_comp(const pdef_t *d, int g, int kind)
{
    for (size_t i = 0; i < d->n_req[g]; i++)
        if (d->req[g][i].kind == kind)
            return &d->req[g][i];
    return NULL;
}

/* ------------------------------------------------------------ frees --- */

static void comps_free(comp_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].label);
    free(c);
}

static void pdef_free(pdef_t *d)
{
    free(d->name);
    for (int g = 0; g < 2; g++)
        comps_free(d->req[g], d->n_req[g]);
    free(d->aims);
    memset(d, 0, sizeof *d);
}

static void cdef_free(cdef_t *d)
{
    for (size_t i = 0; i < d->n_agencies; i++)
        free(d->agencies[i]);
    free(d->agencies);
    memset(d, 0, sizeof *d);
}

static void enr_free(enr_t *e)
{
    sess_t *s, *tmp;
    HASH_ITER(hh, e->sess, s, tmp)
    {
        HASH_DEL(e->sess, s);
        free(s->id);
        free(s);
    }
    for (size_t i = 0; i < e->n_promos; i++) {
        free(e->promos[i].from);
        free(e->promos[i].to);
    }
    free(e->promos);
    free(e->mentors);
    free(e);
}

static void cohort_free(cohort_t *c)
{
    enr_t *e, *tmp;
    HASH_ITER(hh, c->enrs, e, tmp)
    {
        HASH_DEL(c->enrs, e);
        enr_free(e);
    }
    for (size_t i = 0; i < c->n_ags; i++)
        free(c->ags[i].id);
    free(c->ags);
    cdef_free(&c->def);
    free(c->key);
    free(c->id);
    free(c);
}

static void person_free(person_t *x)
{
    free(x->key);
    free(x->agency);
    free(x->ref);
    free(x->d.grade);
    free(x);
}

/* Frees all state; the projection is empty afterwards. */
static void clear(proj_t *self)
{
    cohort_t *c, *ctmp;
    person_t *x, *xtmp;
    prog_t *p, *ptmp;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        HASH_DEL(self->cohorts, c);
        cohort_free(c);
    }
    HASH_ITER(hh, self->people, x, xtmp)
    {
        HASH_DEL(self->people, x);
        person_free(x);
    }
    HASH_ITER(hh, self->progs, p, ptmp)
    {
        HASH_DEL(self->progs, p);
        pdef_free(&p->def);
        free(p->id);
        free(p);
    }
    if (self->rel)
        release_load(self->rel, NULL);
    self->seq = 0;
    self->as_of = 0;
}

/* ----------------------------------------------------- constructors --- */
/* Each returns NULL on OOM having changed nothing. */

static prog_t *prog_create(proj_t *self, const char *id)
{
    prog_t *p = calloc(1, sizeof *p);
    if (!p || !(p->id = dup(id))) {
        free(p);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, self->progs, p->id, strlen(p->id), p);
    if (!p->hh.tbl) {
        free(p->id);
        free(p);
        return NULL;
    }
    return p;
}

static cohort_t *cohort_create(proj_t *self, prog_t *p, const char *cid)
{
    char key[KEYLEN];
    cohort_t *c;
    if (mkkey(key, sizeof key, p->id, cid) || !(c = calloc(1, sizeof *c)))
        return NULL;
    c->prog = p;
    if (!(c->key = dup(key)) || !(c->id = dup(cid)))
        goto fail;
    HASH_ADD_KEYPTR(hh, self->cohorts, c->key, strlen(c->key), c);
    if (!c->hh.tbl)
        goto fail;
    return c;
fail:
    free(c->key);
    free(c->id);
    free(c);
    return NULL;
}

static person_t *person_create(proj_t *self, const char *agency, const char *ref)
{
    char key[KEYLEN];
    person_t *x;
    if (mkkey(key, sizeof key, agency, ref) || !(x = calloc(1, sizeof *x)))
        return NULL;
    if (!(x->key = dup(key)) || !(x->agency = dup(agency)) || !(x->ref = dup(ref)))
        goto fail;
    HASH_ADD_KEYPTR(hh, self->people, x->key, strlen(x->key), x);
    if (!x->hh.tbl)
        goto fail;
    return x;
fail:
    free(x->key);
    free(x->agency);
    free(x->ref);
    free(x);
    return NULL;
}

static enr_t *enr_create(cohort_t *c, person_t *who)
{
    enr_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->who = who;
    HASH_ADD_KEYPTR(hh, c->enrs, who->key, strlen(who->key), e);
    if (!e->hh.tbl) {
        free(e);
        return NULL;
    }
    return e;
}

static sess_t *sess_create(enr_t *e, const char *id)
{
    sess_t *s = calloc(1, sizeof *s);
    if (!s || !(s->id = dup(id))) {
        free(s);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, e->sess, s->id, strlen(s->id), s);
    if (!s->hh.tbl) {
        free(s->id);
        free(s);
        return NULL;
    }
    return s;
}

static int promos_reserve(enr_t *e)
{
    promo_t *v;
    size_t cap;
    if (e->n_promos < e->cap_promos)
        return 0;
    cap = e->cap_promos ? e->cap_promos * 2 : 4;
    if (!(v = realloc(e->promos, cap * sizeof *v)))
        return -ENOMEM;
    e->promos = v;
    e->cap_promos = cap;
    return 0;
}

static int mentors_reserve(enr_t *e)
{
    person_t **v;
    size_t cap;
    if (e->n_mentors < e->cap_mentors)
        return 0;
    cap = e->cap_mentors ? e->cap_mentors * 2 : 4;
    if (!(v = realloc(e->mentors, cap * sizeof *v)))
        return -ENOMEM;
    e->mentors = v;
    e->cap_mentors = cap;
    return 0;
}

/* ----------------------------------------------------------- marking --- */

static int ag_live(const ag_t *a)
{
    return a->listed || a->n_enr > 0;
}

/* Marks an agency topic of c, if it exists. */
static void mark_ag(cohort_t *c, const char *agency)
{
    ag_t *a = ag_get(c, agency);
    if (a && ag_live(a))
        a->dirty = 1;
}

/* The cohort topic, its programme topic and (all_ags) all its agency topics. */
static void mark_cohort(cohort_t *c, int all_ags)
{
    c->dirty = 1;
    c->prog->dirty = 1;
    if (all_ags)
        for (size_t i = 0; i < c->n_ags; i++)
            if (ag_live(&c->ags[i]))
                c->ags[i].dirty = 1;
}

static void mark_all(proj_t *self)
{
    prog_t *p, *ptmp;
    cohort_t *c, *ctmp;
    HASH_ITER(hh, self->progs, p, ptmp)
    p->dirty = 1;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    mark_cohort(c, 1);
}

/* ---------------------------------------------------- domain rules --- */

static int comps_check(why_t *w, Cohort__V1__Component **c, size_t n, const char *name)
{
    int seen[N_KIND] = {0};
    for (size_t i = 0; i < n; i++) {
        int k = c[i]->kind;
        if (k < 1 || k >= N_KIND)
            return fail(w, R(BAD_ENUM), "%s: unknown component kind", name);
        if (seen[k]++)
            return fail(w, R(BAD_VALUE), "%s lists %s more than once", name, KIND_NAME(k));
    }
    return 0;
}

static int comps_copy(comp_t **out, size_t *n_out, Cohort__V1__Component **c, size_t n)
{
    comp_t *v;
    if (n == 0)
        return 0;
    if (!(v = calloc(n, sizeof *v)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        v[i].kind = c[i]->kind;
        v[i].count = c[i]->count;
        v[i].minutes = c[i]->minutes_each;
        if (!(v[i].label = dup(c[i]->label))) {
            comps_free(v, i);
            return -ENOMEM;
        }
    }
    *out = v;
    *n_out = n;
    return 0;
}

static int on_programme(proj_t *self, const Cohort__V1__ProgrammeDefined *b, why_t *w, int dry)
{
    pdef_t d = {0};
    prog_t *p;
    cohort_t *c, *tmp;
    int rc;
    if ((rc = comps_check(w, b->participant_components, b->n_participant_components,
                          "participant_components")) ||
        (rc = comps_check(w, b->mentor_components, b->n_mentor_components, "mentor_components")))
        return rc;
    for (size_t i = 0; i < b->n_aims; i++)
        if (b->aims[i]->group < 1 || b->aims[i]->group > COHORT__V1__AIM_GROUP__AIM_LGB)
            return fail(w, R(BAD_ENUM), "aims.group is unknown");
    if (strlen(S(b->programme_id)) > VALIDATE_MAX_ID)
        return fail(w, R(BAD_VALUE), "programme_id is too long");
    if (dry)
        return 0;
    d.months = b->duration_months;
    if (!(d.name = dup(b->name)) ||
        comps_copy(&d.req[G_PART], &d.n_req[G_PART], b->participant_components,
                   b->n_participant_components) ||
        comps_copy(&d.req[G_MENT], &d.n_req[G_MENT], b->mentor_components, b->n_mentor_components))
        goto nomem;
    if (b->n_aims && !(d.aims = calloc(b->n_aims, sizeof *d.aims)))
        goto nomem;
    for (size_t i = 0; i < b->n_aims; i++)
        d.aims[i] = (aim_t){b->aims[i]->group, b->aims[i]->min_percent};
    d.n_aims = b->n_aims;
    p = prog_get(self, b->programme_id);
    if (!p && !(p = prog_create(self, b->programme_id)))
        goto nomem;
    pdef_free(&p->def);
    p->def = d;
    p->dirty = 1;
    HASH_ITER(hh, self->cohorts, c, tmp)
    if (c->prog == p)
        mark_cohort(c, 1);
    return 0;
nomem:
    pdef_free(&d);
    return -ENOMEM;
}

static int on_cohort(proj_t *self, const Cohort__V1__CohortOpened *b, why_t *w, int dry)
{
    prog_t *p = prog_get(self, b->programme_id);
    cohort_t *c;
    cdef_t d = {0};
    ag_t *ags = NULL;
    size_t n_old, n_ags;
    if (!p)
        return fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (strlen(S(b->cohort_id)) > VALIDATE_MAX_ID)
        return fail(w, R(BAD_VALUE), "cohort_id is too long");
    for (size_t i = 0; i < b->n_agencies; i++)
        if (strlen(S(b->agencies[i])) > VALIDATE_MAX_ID)
            return fail(w, R(BAD_VALUE), "agencies[] is too long");
    if (dry)
        return 0;
    c = cohort_get(self, b->programme_id, b->cohort_id);
    n_old = n_ags = c ? c->n_ags : 0;
    d.places = b->places;
    day_copy(d.starts, b->starts_on);
    day_copy(d.ends, b->ends_on);
    if (b->n_agencies && !(d.agencies = calloc(b->n_agencies, sizeof *d.agencies)))
        goto nomem;
    for (; d.n_agencies < b->n_agencies; d.n_agencies++)
        if (!(d.agencies[d.n_agencies] = dup(b->agencies[d.n_agencies])))
            goto nomem;
    if (!(ags = calloc(n_old + b->n_agencies + 1, sizeof *ags)))
        goto nomem;
    if (n_old)
        memcpy(ags, c->ags, n_old * sizeof *ags);
    for (size_t j = 0; j < n_old; j++)
        ags[j].listed = 0;
    for (size_t i = 0; i < d.n_agencies; i++) {
        size_t j = 0;
        while (j < n_ags && strcmp(ags[j].id, d.agencies[i]) != 0)
            j++;
        if (j == n_ags && !(ags[n_ags++].id = dup(d.agencies[i])))
            goto nomem;
        ags[j].listed = 1;
    }
    for (size_t j = 0; j < n_ags; j++)
        ags[j].dirty = 1; /* new, changed, or gone */
    if (!c && !(c = cohort_create(self, p, b->cohort_id)))
        goto nomem;
    cdef_free(&c->def);
    c->def = d;
    free(c->ags);
    c->ags = ags;
    c->n_ags = n_ags;
    mark_cohort(c, 0);
    return 0;
nomem:
    cdef_free(&d);
    if (ags)
        for (size_t j = n_old; j < n_ags; j++)
            free(ags[j].id);
    free(ags);
    return -ENOMEM;
}

static int on_person(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__ParticipantRegistered *b = ev->participant_registered;
    person_t *x;
    cohort_t *c, *tmp;
    char *grade;
    /* Still sealed on replay: the key is gone because the person was
     * erased (vault.h), which a later entry of the log applies. Until then
     * they exist with their characteristics unknown (0). */
    int lo = b->sealed.len ? 0 : 1;
    if (b->role < 1 || b->role > COHORT__V1__ROLE__COACH)
        return fail(w, R(BAD_ENUM), "role must be PARTICIPANT, MENTOR or COACH");
    if ((int)b->ethnicity < lo || b->ethnicity > COHORT__V1__ETHNICITY__NS || (int)b->gender < lo ||
        b->gender > COHORT__V1__GENDER__GENDER_NOT_STATED || (int)b->disability < lo ||
        b->disability > COHORT__V1__DISABILITY__DISABILITY_NOT_STATED || b->age_band < 0 ||
        b->age_band > COHORT__V1__AGE_BAND__AGE_NOT_STATED || b->sexual_orientation < 0 ||
        b->sexual_orientation > COHORT__V1__SEXUAL_ORIENTATION__ORIENTATION_NOT_STATED ||
        b->religion < 0 || b->religion > COHORT__V1__RELIGION__RELIGION_NOT_STATED)
        return fail(w, R(BAD_ENUM), "a monitoring field has an unknown value");
    if (strlen(S(ev->agency)) + strlen(S(b->participant_ref)) + 2 > KEYLEN)
        return fail(w, R(BAD_VALUE), "participant_ref is too long");
    if (dry)
        return 0;
    if (!(grade = dup(b->grade)))
        return -ENOMEM;
    x = person_get(self, ev->agency, b->participant_ref);
    if (!x && !(x = person_create(self, ev->agency, b->participant_ref))) {
        free(grade);
        return -ENOMEM;
    }
    free(x->d.grade);
    x->d = (pdata_t){b->role,       b->ethnicity,       b->gender,
                     b->disability, b->age_band,        b->sexual_orientation,
                     b->religion,   b->officer ? 1 : 0, grade};
    HASH_ITER(hh, self->cohorts, c, tmp)
    if (enr_get(c, x))
        mark_cohort(c, 1); /* role changes move held sessions for everyone */
    return 0;
}

/* The enrolment state machine (docs/status.md). cur 0 = no enrolment. */
static int step_ok(int cur, int to, int mentor)
{
    int early_end = to == STG(WITHDRAWN);
    switch (cur) {
    case 0:
        return to == STG(APPLIED) || (mentor && to == STG(ENROLLED));
    case STG(APPLIED):
        return to == STG(SHORTLISTED) || early_end || to == STG(NOT_SELECTED);
    case STG(SHORTLISTED):
        return to == STG(INTERVIEWED) || early_end || to == STG(NOT_SELECTED);
    case STG(INTERVIEWED):
        return to == STG(LINE_MANAGER_SUPPORTED) || early_end || to == STG(NOT_SELECTED);
    case STG(LINE_MANAGER_SUPPORTED):
        return to == STG(OFFERED) || early_end || to == STG(NOT_SELECTED);
    case STG(OFFERED):
        return to == STG(ENROLLED) || early_end || to == STG(DECLINED);
    case STG(ENROLLED):
        return to == STG(COMPLETED) || early_end || to == STG(REMOVED_BY_BOARD);
    default:
        return 0; /* terminal */
    }
}

static int on_enrolment(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__EnrolmentChanged *b = ev->enrolment_changed;
    prog_t *p = prog_get(self, b->programme_id);
    cohort_t *c = p ? cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = person_get(self, ev->agency, b->participant_ref);
    enr_t *e;
    int cur, to = b->stage;
    if (!p)
        return fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return fail(w, R(UNKNOWN_PARTICIPANT), "participant is not registered with this agency");
    if (!listed(c, ev->agency))
        return fail(w, R(AGENCY_NOT_IN_COHORT), "agency does not take part in this cohort");
    if (to < 1 || to >= N_STAGE)
        return fail(w, R(BAD_ENUM), "stage is unknown");
    e = enr_get(c, x);
    cur = e ? e->stage : 0;
    if (!step_ok(cur, to, is_mentor(x))) {
        if (to == STG(OFFERED) && cur < STG(LINE_MANAGER_SUPPORTED))
            return fail(w, R(NO_LINE_MANAGER_SUPPORT),
                        "an offer needs the line manager's support: go to "
                        "LINE_MANAGER_SUPPORTED first");
        return fail(w, R(BAD_TRANSITION), "cannot go from %s to %s", cur ? STAGE_NAME(cur) : "none",
                    STAGE_NAME(to));
    }
    if (dry)
        return 0;
    if (!e) {
        ag_t *a = ag_get(c, ev->agency);
        if (!(e = enr_create(c, x)))
            return -ENOMEM;
        if (a)
            a->n_enr++;
    }
    e->stage = to;
    if (to == STG(ENROLLED))
        date_of_us(ev->occurred_at, e->enrolled_on);
    mark_cohort(c, 0);
    mark_ag(c, ev->agency);
    return 0;
}

/* Whether recording session id (of kind) for e leaves the cohort's held
 * sessions (see held_sessions) as they are: e already had it with that
 * kind, or, new to e, someone of e's requirement group has it with that
 * kind. Anything else may change them. */
static int held_unchanged(const cohort_t *c, const enr_t *e, const sess_t *old, int kind,
                          const char *id)
{
    enr_t *o, *tmp, *head = c->enrs;
    if (old)
        return old->kind == kind;
    HASH_ITER(hh, head, o, tmp)
    {
        const sess_t *s;
        if (o != e && grp(o->who->d.role) == grp(e->who->d.role) && (s = sess_get(o, id)) &&
            s->kind == kind)
            return 1;
    }
    return 0;
}

static int on_attendance(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__AttendanceRecorded *b = ev->attendance_recorded;
    prog_t *p = prog_get(self, b->programme_id);
    cohort_t *c = p ? cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = person_get(self, ev->agency, b->participant_ref);
    enr_t *e;
    sess_t *s;
    if (!p)
        return fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return fail(w, R(UNKNOWN_PARTICIPANT), "participant is not registered with this agency");
    e = enr_get(c, x);
    if (!e || !enrolled(e))
        return fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    if (b->status < COHORT__V1__ATTENDANCE_STATUS__PRESENT ||
        b->status > COHORT__V1__ATTENDANCE_STATUS__ABSENT)
        return fail(w, R(BAD_ENUM), "status is unknown");
    if (!find_comp(&p->def, grp(x->d.role), b->component))
        return fail(w, R(BAD_VALUE), "component %s is not required for the %s role",
                    KIND_NAME(b->component), ename(&cohort__v1__role__descriptor, x->d.role));
    if (dry)
        return 0;
    s = sess_get(e, b->session_id);
    int same_held = held_unchanged(c, e, s, b->component, b->session_id);
    if (!s && !(s = sess_create(e, b->session_id)))
        return -ENOMEM;
    s->kind = b->component;
    s->status = b->status;
    s->minutes = b->minutes;
    day_copy(s->date, b->session_date);
    /* A newly held session moves everyone's expected minutes (all agency
     * topics); otherwise only this person's agency topic changes. */
    mark_cohort(c, !same_held);
    if (same_held)
        mark_ag(c, ev->agency);
    return 0;
}

/* A promotion target: an enrolment and its cohort. */
typedef struct {
    cohort_t *c; /* the cohort */
    enr_t *e;    /* the person's enrolment there */
} target_t;

static int on_promotion(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__PromotionRecorded *b = ev->promotion_recorded;
    person_t *x = person_get(self, ev->agency, b->participant_ref);
    int has_p = b->programme_id && *b->programme_id, has_c = b->cohort_id && *b->cohort_id;
    size_t n = 0, cap = HASH_COUNT(self->cohorts), i;
    target_t *t = NULL;
    char **strs = NULL;
    cohort_t *c, *tmp;
    int rc = -ENOMEM;
    if (!x)
        return fail(w, R(UNKNOWN_PARTICIPANT), "participant is not registered with this agency");
    if (b->kind < 1 || b->kind >= N_PKIND)
        return fail(w, R(BAD_ENUM), "kind is unknown");
    if (has_p && !prog_get(self, b->programme_id))
        return fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (has_p && has_c && !cohort_get(self, b->programme_id, b->cohort_id))
        return fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (cap && !(t = calloc(cap, sizeof *t)))
        return -ENOMEM;
    HASH_ITER(hh, self->cohorts, c, tmp)
    {
        enr_t *e;
        if ((has_p && strcmp(c->prog->id, b->programme_id) != 0) ||
            (has_c && strcmp(c->id, b->cohort_id) != 0))
            continue;
        if ((e = enr_get(c, x)) && enrolled(e) && n < cap)
            t[n++] = (target_t){c, e};
    }
    if (n == 0) {
        rc = has_p || has_c ? fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort")
                            : fail(w, R(NOT_ENROLLED), "participant is not enrolled in any cohort");
        goto cleanup;
    }
    if (dry) {
        rc = 0;
        goto cleanup;
    }
    if (!(strs = calloc(2 * n, sizeof *strs)))
        goto cleanup;
    for (i = 0; i < n; i++)
        if (promos_reserve(t[i].e) || !(strs[2 * i] = dup(b->from_grade)) ||
            !(strs[2 * i + 1] = dup(b->to_grade)))
            goto cleanup;
    for (i = 0; i < n; i++) {
        promo_t *pr = &t[i].e->promos[t[i].e->n_promos++];
        pr->kind = b->kind;
        pr->from = strs[2 * i];
        pr->to = strs[2 * i + 1];
        strs[2 * i] = strs[2 * i + 1] = NULL;
        day_copy(pr->on, b->effective_on);
        mark_cohort(t[i].c, 0);
        mark_ag(t[i].c, ev->agency);
    }
    rc = 0;
cleanup:
    if (strs)
        for (i = 0; i < 2 * n; i++)
            free(strs[i]);
    free(strs);
    free(t);
    return rc;
}

/* MentorAssigned: the mentor is the person registered as (mentor_agency,
 * mentor_ref), mentor_agency defaulting to the event's agency; no other
 * agency is searched, so nobody can capture an assignment by registering
 * the same ref elsewhere. Every rule about the sender's own records is
 * checked first; the mentor's record last. For a mentor of another agency,
 * "no such ref there" and "there, but not a mentor or coach" fail with the
 * same code and reason, so a reply never tells an agency whether another
 * one holds a ref (docs/status.md). */
static int on_mentor(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__MentorAssigned *b = ev->mentor_assigned;
    const char *magency = b->mentor_agency && *b->mentor_agency ? b->mentor_agency : ev->agency;
    prog_t *p = prog_get(self, b->programme_id);
    cohort_t *c = p ? cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = person_get(self, ev->agency, b->participant_ref), *m;
    enr_t *e;
    if (!p)
        return fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return fail(w, R(UNKNOWN_PARTICIPANT), "participant is not registered with this agency");
    e = enr_get(c, x);
    if (!e || !enrolled(e))
        return fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    m = person_get(self, magency, b->mentor_ref);
    if (strcmp(magency, S(ev->agency)) != 0) {
        if (!m || !is_mentor(m))
            return fail(w, R(UNKNOWN_PARTICIPANT),
                        "no mentor or coach with this ref is registered with mentor_agency");
    } else if (!m) {
        return fail(w, R(UNKNOWN_PARTICIPANT), "mentor is not registered with this agency");
    } else if (!is_mentor(m)) {
        return fail(w, R(WRONG_ROLE), "mentor is registered, but not as a mentor or coach");
    }
    if (m == x)
        return fail(w, R(WRONG_ROLE), "a person cannot be their own mentor");
    if (dry)
        return 0;
    for (size_t i = 0; i < e->n_mentors; i++)
        if (e->mentors[i] == m)
            return 0; /* already assigned: nothing changes */
    if (mentors_reserve(e))
        return -ENOMEM;
    e->mentors[e->n_mentors++] = m;
    c->dirty = 1;
    mark_ag(c, x->agency);
    mark_ag(c, m->agency);
    return 0;
}

/* Removes x from e's mentors; returns 1 if x was one. */
static int drop_mentor(enr_t *e, const person_t *x)
{
    size_t k = 0;
    for (size_t i = 0; i < e->n_mentors; i++)
        if (e->mentors[i] != x)
            e->mentors[k++] = e->mentors[i];
    int dropped = k != e->n_mentors;
    e->n_mentors = k;
    return dropped;
}

/* Forgets a person entirely: their enrolments (with attendance and
 * promotions), their place as anyone's mentor, and the person. Everything
 * derived (counts, held sessions, representation, progression) is computed
 * on demand from what is left, so it is as if they had never been there. */
static int on_erased(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__ParticipantErased *b = ev->participant_erased;
    person_t *x = person_get(self, ev->agency, b->participant_ref);
    cohort_t *c, *ctmp;
    if (!x)
        return fail(w, R(UNKNOWN_PARTICIPANT), "participant is not registered with this agency");
    if (dry)
        return 0;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        enr_t *e = enr_get(c, x), *o, *otmp;
        int touched = 0;
        if (e) {
            ag_t *a = ag_get(c, x->agency);
            HASH_DEL(c->enrs, e);
            enr_free(e);
            if (a) {
                a->n_enr--;
                a->dirty = 1; /* changed, or removed when no longer live */
            }
            touched = 1;
        }
        HASH_ITER(hh, c->enrs, o, otmp)
        touched |= drop_mentor(o, x);
        if (touched) /* held sessions and mentee counts may move for anyone */
            mark_cohort(c, 1);
    }
    HASH_DEL(self->people, x);
    person_free(x);
    return 0;
}

static int dispatch(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    switch (ev->body_case) {
    case COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED:
        if (ev->programme_defined)
            return on_programme(self, ev->programme_defined, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_COHORT_OPENED:
        if (ev->cohort_opened)
            return on_cohort(self, ev->cohort_opened, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED:
        if (ev->participant_registered)
            return on_person(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED:
        if (ev->enrolment_changed)
            return on_enrolment(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED:
        if (ev->attendance_recorded)
            return on_attendance(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_PROMOTION_RECORDED:
        if (ev->promotion_recorded)
            return on_promotion(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED:
        if (ev->mentor_assigned)
            return on_mentor(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED:
        if (ev->participant_erased)
            return on_erased(self, ev, w, dry);
        break;
    default:
        break;
    }
    return fail(w, R(NO_BODY), "no body, or a body type this daemon does not know");
}

/* -------------------------------------------------------- lifecycle --- */

proj_t *proj_new(const proj_config_t *cfg)
{
    proj_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg.k = PROJ_DEFAULT_K;
    self->cfg.at_risk_ratio = PROJ_DEFAULT_AT_RISK_RATIO;
    if (cfg && cfg->k >= 1)
        self->cfg.k = cfg->k;
    if (cfg && cfg->at_risk_ratio >= 0.0 && cfg->at_risk_ratio <= 1.0)
        self->cfg.at_risk_ratio = cfg->at_risk_ratio;
    self->cfg.release_days = cfg && cfg->release_days >= 0 && cfg->release_days <= 366
                                 ? cfg->release_days
                                 : PROJ_DEFAULT_RELEASE_DAYS;
    if (!(self->rel = release_new(self->cfg.k))) {
        free(self);
        return NULL;
    }
    return self;
}

void proj_destroy(proj_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    clear(*self_p);
    release_destroy(&(*self_p)->rel);
    free(*self_p);
    *self_p = NULL;
}

static long day_of(int64_t us);
static int cut_due(proj_t *self, long d0, long d1);

int proj_apply(proj_t *self, const Cohort__V1__Event *ev, uint64_t seq, char *reason, size_t len)
{
    why_t w = {reason, reason ? len : 0};
    int rc;
    if (w.len)
        reason[0] = '\0';
    if (!self || !ev || seq <= self->seq)
        return -EINVAL;
    if (self->as_of > 0 && ev->occurred_at > self->as_of &&
        day_of(ev->occurred_at) > day_of(self->as_of)) {
        /* the log clock enters a new day: releases due are cut from the
         * state before this event, if the event is to be applied at all */
        if ((rc = dispatch(self, ev, &w, 1)) != 0)
            return rc;
        if ((rc = cut_due(self, day_of(self->as_of), day_of(ev->occurred_at))) < 0)
            return rc;
    }
    if ((rc = dispatch(self, ev, &w, 0)) != 0)
        return rc;
    self->seq = seq;
    if (ev->occurred_at > self->as_of)
        self->as_of = ev->occurred_at;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED) {
        /* the current releases should not count someone erased: a release
         * of every programme is cut now (gated as any other) */
        char date[11];
        days_date(day_of(self->as_of), date);
        (void)proj_release_now(self, date, "erasure"); /* OOM: the next cut will do */
    }
    return 0;
}

int proj_check(const proj_t *self, const Cohort__V1__Event *ev, char *reason, size_t len)
{
    why_t w = {reason, reason ? len : 0};
    if (w.len)
        reason[0] = '\0';
    if (!self || !ev)
        return -EINVAL;
    return dispatch((proj_t *)self, ev, &w, 1); /* dry: reads only */
}

int proj_defined(const proj_t *self, const Cohort__V1__Event *ev, unsigned *aims)
{
    const prog_t *p;
    if (aims)
        *aims = 0;
    if (!self || !ev)
        return -EINVAL;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED && ev->programme_defined) {
        if (!(p = prog_get(self, ev->programme_defined->programme_id)))
            return 0;
        for (size_t i = 0; aims && i < p->def.n_aims; i++)
            if (p->def.aims[i].group > 0 && p->def.aims[i].group < 32)
                *aims |= 1u << p->def.aims[i].group;
        return 1;
    }
    if (ev->body_case == COHORT__V1__EVENT__BODY_COHORT_OPENED && ev->cohort_opened)
        return cohort_get(self, ev->cohort_opened->programme_id, ev->cohort_opened->cohort_id) !=
               NULL;
    return -EINVAL;
}

uint64_t proj_seq(const proj_t *self)
{
    return self ? self->seq : 0;
}

int64_t proj_as_of(const proj_t *self)
{
    return self ? self->as_of : 0;
}

/* ----------------------------------------------------------- topics --- */

/* A growing array of strings. */
typedef struct {
    char **v;   /* the strings */
    size_t n;   /* used */
    size_t cap; /* allocated */
    int err;    /* an allocation failed */
} strv_t;

static void strv_add(strv_t *s, const char *prefix, const char *fmt, ...)
{
    char buf[KEYLEN * 2];
    va_list ap;
    int r;
    va_start(ap, fmt);
    r = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= sizeof buf) {
        s->err = 1;
        return;
    }
    if (prefix && strncmp(buf, prefix, strlen(prefix)) != 0)
        return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->err = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(buf)))
        s->err = 1;
    else
        s->n++;
}

void proj_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* Collects the topics: all live ones (dirty == 0) or the dirty ones. */
static void collect(const proj_t *self, const char *prefix, int dirty, strv_t *s)
{
    prog_t *p, *ptmp, *phead = self->progs;
    cohort_t *c, *ctmp, *chead = self->cohorts;
    HASH_ITER(hh, phead, p, ptmp)
    if (!dirty || p->dirty)
        strv_add(s, prefix, "programme/%s", p->id);
    HASH_ITER(hh, chead, c, ctmp)
    {
        if (!dirty || c->dirty)
            strv_add(s, prefix, "cohort/%s/%s", c->prog->id, c->id);
        for (size_t i = 0; i < c->n_ags; i++)
            if (dirty ? c->ags[i].dirty : ag_live(&c->ags[i]))
                strv_add(s, prefix, "agency/%s/%s/%s", c->ags[i].id, c->prog->id, c->id);
    }
    {
        json_t *rel = json_array();
        size_t i;
        json_t *t;
        if (!rel || release_topics(self->rel, NULL, dirty, rel) < 0)
            s->err = 1;
        json_array_foreach(rel, i, t) strv_add(s, prefix, "%s", json_string_value(t));
        json_decref(rel);
    }
}

static size_t hand_out(strv_t *s, char ***out)
{
    if (s->err) {
        proj_strv_free(s->v, s->n);
        return 0;
    }
    if (s->n == 0) {
        free(s->v);
        return 0;
    }
    qsort(s->v, s->n, sizeof *s->v, strp_cmp);
    *out = s->v;
    return s->n;
}

size_t proj_take_dirty(proj_t *self, char ***out)
{
    strv_t s = {0};
    prog_t *p, *ptmp;
    cohort_t *c, *ctmp;
    size_t n;
    if (!out)
        return 0;
    *out = NULL;
    if (!self)
        return 0;
    collect(self, NULL, 1, &s);
    if (s.err) {
        proj_strv_free(s.v, s.n);
        return 0;
    }
    n = hand_out(&s, out);
    release_clear_dirty(self->rel);
    HASH_ITER(hh, self->progs, p, ptmp)
    p->dirty = 0;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        size_t k = 0;
        c->dirty = 0;
        for (size_t i = 0; i < c->n_ags; i++) {
            if (!ag_live(&c->ags[i])) { /* its removal was just handed out */
                free(c->ags[i].id);
                continue;
            }
            c->ags[i].dirty = 0;
            c->ags[k++] = c->ags[i];
        }
        c->n_ags = k;
    }
    return n;
}

size_t proj_topics(const proj_t *self, const char *prefix, char ***out)
{
    strv_t s = {0};
    if (!out)
        return 0;
    *out = NULL;
    if (!self)
        return 0;
    collect(self, prefix && *prefix ? prefix : NULL, 0, &s);
    return hand_out(&s, out);
}

/* ---------------------------------------------------- computations --- */

static int cohort_cmp(const void *a, const void *b)
{
    return strcmp((*(cohort_t *const *)a)->id, (*(cohort_t *const *)b)->id);
}

static int enr_cmp(const void *a, const void *b)
{
    return strcmp((*(enr_t *const *)a)->who->key, (*(enr_t *const *)b)->who->key);
}

/* The cohorts of p sorted by id (malloc'd; *n may be 0). -ENOMEM or 0. */
static int cohorts_of(const proj_t *self, const prog_t *p, cohort_t ***out, size_t *n)
{
    cohort_t *c, *tmp, *head = self->cohorts, **v;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (!(v = malloc((HASH_COUNT(head) + 1) * sizeof *v)))
        return -ENOMEM;
    HASH_ITER(hh, head, c, tmp)
    if (c->prog == p)
        v[k++] = c;
    qsort(v, k, sizeof *v, cohort_cmp);
    *out = v;
    *n = k;
    return 0;
}

/* The enrolments of c sorted by person key (malloc'd). -ENOMEM or 0. */
static int enrs_of(const cohort_t *c, enr_t ***out, size_t *n)
{
    enr_t *e, *tmp, *head = c->enrs, **v;
    size_t k = 0;
    *out = NULL;
    *n = 0;
    if (!(v = malloc((HASH_COUNT(head) + 1) * sizeof *v)))
        return -ENOMEM;
    HASH_ITER(hh, head, e, tmp)
    v[k++] = e;
    qsort(v, k, sizeof *v, enr_cmp);
    *out = v;
    *n = k;
    return 0;
}

/* A recorded session, for counting sessions held. */
typedef struct {
    int g;          /* requirement group of the person who recorded it */
    int kind;       /* ComponentKind */
    const char *id; /* session_id */
} sref_t;

static int sref_cmp(const void *a, const void *b)
{
    const sref_t *x = a, *y = b;
    if (x->g != y->g)
        return x->g - y->g;
    if (x->kind != y->kind)
        return x->kind - y->kind;
    return strcmp(x->id, y->id);
}

/* held[g][kind]: distinct session ids of that kind recorded (any status) by
 * anyone of requirement group g in c. 0 or -ENOMEM. */
static int held_sessions(const cohort_t *c, long held[2][N_KIND])
{
    enr_t *e, *etmp, *head = c->enrs;
    sess_t *s, *stmp;
    size_t n = 0, k = 0;
    sref_t *v;
    memset(held, 0, 2 * N_KIND * sizeof held[0][0]);
    HASH_ITER(hh, head, e, etmp)
    n += HASH_COUNT(e->sess);
    if (n == 0)
        return 0;
    if (!(v = malloc(n * sizeof *v)))
        return -ENOMEM;
    HASH_ITER(hh, head, e, etmp)
    HASH_ITER(hh, e->sess, s, stmp)
    v[k++] = (sref_t){grp(e->who->d.role), s->kind, s->id};
    qsort(v, k, sizeof *v, sref_cmp);
    for (size_t i = 0; i < k; i++)
        if ((i == 0 || sref_cmp(&v[i - 1], &v[i]) != 0) && v[i].kind > 0 && v[i].kind < N_KIND)
            held[v[i].g][v[i].kind]++;
    free(v);
    return 0;
}

/* One enrolment's completion and risk, in minutes. */
typedef struct {
    long credited;         /* sum of credited minutes */
    long required;         /* sum of count * minutes_each */
    long expected;         /* sum of held (capped) * minutes_each */
    long cred[N_KIND];     /* credited per kind */
    long req[N_KIND];      /* required per kind */
    long sessions[N_KIND]; /* sessions attended (PRESENT or LATE) per kind */
    int at_risk;           /* ENROLLED and behind the expected minutes */
} assess_t;

static void assess(const proj_t *self, const cohort_t *c, const enr_t *e, long held[2][N_KIND],
                   assess_t *a)
{
    const pdef_t *d = &c->prog->def;
    int g = grp(e->who->d.role);
    long sum[N_KIND] = {0};
    sess_t *s, *tmp, *head = e->sess;
    memset(a, 0, sizeof *a);
    HASH_ITER(hh, head, s, tmp)
    {
        const comp_t *k = find_comp(d, g, s->kind);
        if (!k || (s->status != COHORT__V1__ATTENDANCE_STATUS__PRESENT &&
                   s->status != COHORT__V1__ATTENDANCE_STATUS__LATE))
            continue;
        sum[s->kind] += s->minutes < k->minutes ? (long)s->minutes : (long)k->minutes;
        a->sessions[s->kind]++;
    }
    for (size_t i = 0; i < d->n_req[g]; i++) {
        const comp_t *k = &d->req[g][i];
        long req = (long)k->count * k->minutes;
        long h = held[g][k->kind] < (long)k->count ? held[g][k->kind] : (long)k->count;
        a->req[k->kind] = req;
        a->cred[k->kind] = sum[k->kind] < req ? sum[k->kind] : req;
        a->credited += a->cred[k->kind];
        a->required += req;
        a->expected += h * k->minutes;
    }
    a->at_risk = e->stage == STG(ENROLLED) && a->expected > 0 &&
                 (double)a->credited < self->cfg.at_risk_ratio * (double)a->expected;
}

/* num/den rounded half up to 4 decimals, or null when den is 0. */
static json_t *ratio_json(long long num, long long den)
{
    if (den <= 0)
        return json_null();
    return json_real((double)((num * 20000 + den) / (2 * den)) / 10000.0);
}

/* -------------------------------------------------- representation --- */

/* Ethnic group 0..5 of an Ethnicity value. */
static int eth_group(int eth)
{
    return eth <= 3 ? 0 : eth <= 7 ? 1 : eth <= 11 ? 2 : eth <= 14 ? 3 : eth <= 16 ? 4 : 5;
}

/* Counts the given enrolled participants (distinct) into v, laid out as
 * release.h's RT_* cells. */
static void repr_counts(person_t *const *ps, size_t n, long v[RT_N])
{
    memset(v, 0, RT_N * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const pdata_t *x = &ps[i]->d;
        int eth = x->eth >= 1 && x->eth <= 17 ? x->eth : COHORT__V1__ETHNICITY__NS;
        int g = eth_group(eth);
        int gen = x->gender >= 1 && x->gender <= 4 ? x->gender : 4;
        int dis = x->disability >= 1 && x->disability <= 3 ? x->disability : 3;
        v[RT_TOTAL]++;
        v[RT_GROUP + g]++;
        v[RT_CODE + eth - 1]++;
        v[RT_BME] += g >= 1 && g <= 4;
        v[RT_GENDER + gen - 1]++;
        v[RT_DIS + dis - 1]++;
        v[x->orientation == COHORT__V1__SEXUAL_ORIENTATION__LGB ? RT_LGB : RT_NOT_LGB]++;
    }
}

/* ----------------------------------------------------- progression --- */

/* Progression of c's participants (role PARTICIPANT, any stage). */
typedef struct {
    long during[N_PKIND];    /* events effective in [starts_on, ends_on], by kind */
    long after[N_PKIND];     /* events effective in (ends_on, ends_on + 12 months] */
    long moved[1 + N_GROUP]; /* people with any of those: [0] all, [1 + g] by group */
    long *days;              /* days to the first substantive promotion, sorted */
    size_t n_days;           /* their number */
    char after_end[11];      /* ends_on + 12 months */
} pstat_t;

static int long_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int progression(const cohort_t *c, pstat_t *ps)
{
    enr_t *e, *tmp, *head = c->enrs;
    memset(ps, 0, sizeof *ps);
    plus_year(c->def.ends, ps->after_end);
    if (!(ps->days = malloc((HASH_COUNT(head) + 1) * sizeof *ps->days)))
        return -ENOMEM;
    HASH_ITER(hh, head, e, tmp)
    {
        const char *first = NULL;
        int moved = 0;
        if (!is_participant(e->who))
            continue;
        for (size_t i = 0; i < e->n_promos; i++) {
            const promo_t *pr = &e->promos[i];
            int k = pr->kind > 0 && pr->kind < N_PKIND ? pr->kind : 0;
            if (strcmp(pr->on, c->def.starts) >= 0 && strcmp(pr->on, c->def.ends) <= 0) {
                ps->during[k]++;
                moved = 1;
            } else if (strcmp(pr->on, c->def.ends) > 0 && strcmp(pr->on, ps->after_end) <= 0) {
                ps->after[k]++;
                moved = 1;
            }
            if (pr->kind == COHORT__V1__PROGRESSION_KIND__SUBSTANTIVE_PROMOTION &&
                e->enrolled_on[0] && strcmp(pr->on, e->enrolled_on) >= 0 &&
                (!first || strcmp(pr->on, first) < 0))
                first = pr->on;
        }
        if (moved) {
            ps->moved[0]++;
            ps->moved[1 + eth_group(e->who->d.eth)]++;
        }
        if (first)
            ps->days[ps->n_days++] = date_days(first) - date_days(e->enrolled_on);
    }
    qsort(ps->days, ps->n_days, sizeof *ps->days, long_cmp);
    return 0;
}

static json_t *pkinds_json(const long *v)
{
    json_t *o = json_object();
    for (int k = 1; k < N_PKIND; k++)
        if (json_object_set_new(o, PKIND_NAME(k), json_integer(v[k])))
            return json_decref(o), NULL;
    return o;
}

/* The progression block of a live cohort document: counts of
 * progressions, not people, and no breakdown (progressed by ethnic group
 * is released, release.h). */
static json_t *progression_json(const pstat_t *ps)
{
    json_t *o = json_object();
    json_t *median = json_null();
    int err = !o;
    if (ps->n_days) {
        size_t m = ps->n_days / 2;
        long med = ps->n_days % 2 ? ps->days[m] : (ps->days[m - 1] + ps->days[m]) / 2;
        json_decref(median);
        median = json_integer(med);
    }
    err |= json_object_set_new(o, "during", pkinds_json(ps->during));
    err |= json_object_set_new(o, "after", pkinds_json(ps->after));
    err |= json_object_set_new(o, "after_window_ends_on", json_string(ps->after_end));
    err |= json_object_set_new(o, "median_days_to_substantive_promotion", median);
    err |= json_object_set_new(o, "promoted_substantively", json_integer((json_int_t)ps->n_days));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---------------------------------------------------------- funnel --- */

static json_t *stages_json(void)
{
    json_t *o = json_object();
    for (int s = 1; s < N_STAGE; s++)
        if (json_object_set_new(o, STAGE_NAME(s), json_integer(0)))
            return json_decref(o), NULL;
    return o;
}

static int bump(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return v ? json_integer_set(v, json_integer_value(v) + 1) : -1;
}

/* Funnel and filled over cohorts cs: {"participants": {...}, "mentors":
 * {...}} each with total, by_stage and by_agency. *filled gets the
 * ENROLLED + COMPLETED counts per requirement group. */
static json_t *funnel_json(cohort_t *const *cs, size_t n, long filled[2])
{
    json_t *o = json_object(), *part[2], *by_stage[2], *by_ag[2];
    long total[2] = {0, 0};
    int err = 0;
    filled[0] = filled[1] = 0;
    for (int g = 0; g < 2; g++) {
        part[g] = json_object();
        by_stage[g] = stages_json();
        by_ag[g] = json_object();
        err |= json_object_set_new(part[g], "by_stage", by_stage[g]);
        err |= json_object_set_new(part[g], "by_agency", by_ag[g]);
        err |= json_object_set_new(o, g == G_PART ? "participants" : "mentors", part[g]);
    }
    for (size_t i = 0; !err && i < n; i++) {
        const cohort_t *c = cs[i];
        enr_t *e, *tmp, *head = c->enrs;
        for (size_t j = 0; j < c->n_ags; j++)
            for (int g = 0; g < 2; g++)
                if (ag_live(&c->ags[j]) && !json_object_get(by_ag[g], c->ags[j].id))
                    err |= json_object_set_new(by_ag[g], c->ags[j].id, stages_json());
        HASH_ITER(hh, head, e, tmp)
        {
            int g = grp(e->who->d.role);
            const char *st = STAGE_NAME(e->stage);
            total[g]++;
            filled[g] += enrolled(e);
            err |= bump(by_stage[g], st);
            if (!json_object_get(by_ag[g], e->who->agency))
                err |= json_object_set_new(by_ag[g], e->who->agency, stages_json());
            err |= bump(json_object_get(by_ag[g], e->who->agency), st);
        }
    }
    for (int g = 0; g < 2; g++)
        err |= json_object_set_new(part[g], "total", json_integer(total[g]));
    if (err) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static json_t *filled_json(long places, const long filled[2])
{
    json_t *o = json_object();
    int err = 0;
    err |= json_object_set_new(o, "places", json_integer(places));
    err |= json_object_set_new(o, "participants", json_integer(filled[G_PART]));
    err |= json_object_set_new(o, "mentors", json_integer(filled[G_MENT]));
    err |= json_object_set_new(o, "vacant",
                               json_integer(places > filled[G_PART] ? places - filled[G_PART] : 0));
    if (err)
        return json_decref(o), NULL;
    return o;
}

static json_t *comps_json(const comp_t *c, size_t n)
{
    json_t *a = json_array();
    int err = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        err |= json_object_set_new(o, "kind", json_string(KIND_NAME(c[i].kind)));
        err |= json_object_set_new(o, "count", json_integer(c[i].count));
        err |= json_object_set_new(o, "minutes_each", json_integer(c[i].minutes));
        err |= json_object_set_new(o, "label", json_string(c[i].label));
        err |= json_array_append_new(a, o);
    }
    if (err)
        return json_decref(a), NULL;
    return a;
}

static long required_of(const pdef_t *d, int g)
{
    long sum = 0;
    for (size_t i = 0; i < d->n_req[g]; i++)
        sum += (long)d->req[g][i].count * d->req[g][i].minutes;
    return sum;
}

/* Enrolled participants (role PARTICIPANT, ENROLLED or COMPLETED) of the
 * cohorts, each person once, in key order (malloc'd). */
static int members_of(cohort_t *const *cs, size_t n, person_t ***out, size_t *m)
{
    size_t cap = 1, k = 0;
    person_t **v;
    for (size_t i = 0; i < n; i++)
        cap += HASH_COUNT(cs[i]->enrs);
    *out = NULL;
    *m = 0;
    if (!(v = malloc(cap * sizeof *v)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        enr_t *e, *tmp, *head = cs[i]->enrs;
        HASH_ITER(hh, head, e, tmp)
        if (is_participant(e->who) && enrolled(e))
            v[k++] = e->who;
    }
    qsort(v, k, sizeof *v, person_cmp);
    *m = 0;
    for (size_t i = 0; i < k; i++)
        if (*m == 0 || v[*m - 1] != v[i])
            v[(*m)++] = v[i];
    *out = v;
    return 0;
}

static char *dump(json_t *doc)
{
    char *s = doc ? json_dumps(doc, DUMP_FLAGS) : NULL;
    json_decref(doc);
    return s;
}

/* -------------------------------------------------------- documents --- */

static char *render_programme(const proj_t *self, const prog_t *p)
{
    json_t *doc = json_object(), *req = json_object(), *aims = json_array(), *ids = json_array();
    cohort_t **cs = NULL;
    size_t n = 0;
    long places = 0, filled[2], during[N_PKIND] = {0}, after[N_PKIND] = {0};
    json_t *prog_o = json_object();
    int err = cohorts_of(self, p, &cs, &n);
    for (size_t i = 0; !err && i < n; i++) {
        pstat_t ps;
        places += cs[i]->def.places;
        err |= json_array_append_new(ids, json_string(cs[i]->id));
        if (progression(cs[i], &ps)) {
            err = 1;
            break;
        }
        for (int k = 0; k < N_PKIND; k++) {
            during[k] += ps.during[k];
            after[k] += ps.after[k];
        }
        free(ps.days);
    }
    for (size_t i = 0; i < p->def.n_aims; i++) {
        json_t *a = json_object();
        err |= json_object_set_new(
            a, "group",
            json_string(ename(&cohort__v1__aim_group__descriptor, p->def.aims[i].group)));
        err |= json_object_set_new(a, "min_percent", json_integer(p->def.aims[i].pct));
        err |= json_array_append_new(aims, a);
    }
    err |= json_object_set_new(req, "participants",
                               comps_json(p->def.req[G_PART], p->def.n_req[G_PART]));
    err |=
        json_object_set_new(req, "mentors", comps_json(p->def.req[G_MENT], p->def.n_req[G_MENT]));
    err |=
        json_object_set_new(req, "participant_minutes", json_integer(required_of(&p->def, G_PART)));
    err |= json_object_set_new(req, "mentor_minutes", json_integer(required_of(&p->def, G_MENT)));
    err |= json_object_set_new(doc, "programme", json_string(p->id));
    err |= json_object_set_new(doc, "name", json_string(p->def.name));
    err |= json_object_set_new(doc, "duration_months", json_integer(p->def.months));
    err |= json_object_set_new(doc, "requirements", req);
    err |= json_object_set_new(doc, "aims", aims);
    err |= json_object_set_new(doc, "cohorts", ids);
    if (!err) {
        err |= json_object_set_new(doc, "funnel", funnel_json(cs, n, filled));
        err |= json_object_set_new(doc, "filled", filled_json(places, filled));
    }
    err |= json_object_set_new(prog_o, "during", pkinds_json(during));
    err |= json_object_set_new(prog_o, "after", pkinds_json(after));
    err |= json_object_set_new(doc, "progression", prog_o);
    free(cs);
    if (err)
        return json_decref(doc), NULL;
    return dump(doc);
}

/* The completion summary of one requirement group. */
static json_t *summary_json(long required, long n, long complete, long sum_credited, long at_risk)
{
    json_t *o = json_object();
    int err = 0;
    err |= json_object_set_new(o, "required_minutes", json_integer(required));
    err |= json_object_set_new(o, "enrolled", json_integer(n));
    err |= json_object_set_new(o, "complete", json_integer(complete));
    err |= json_object_set_new(o, "mean_completion",
                               ratio_json(sum_credited, (long long)n * required));
    err |= json_object_set_new(o, "at_risk", json_integer(at_risk));
    if (err)
        return json_decref(o), NULL;
    return o;
}

static char *render_cohort(const proj_t *self, const cohort_t *c)
{
    json_t *doc = json_object(), *ags = json_array(), *comp = json_object(), *ment = json_object();
    long held[2][N_KIND], filled[2];
    long n[2] = {0}, complete[2] = {0}, credited[2] = {0}, risk[2] = {0};
    long assigned = 0, with_mentor = 0;
    enr_t **es = NULL;
    size_t ne = 0;
    cohort_t *one = (cohort_t *)c;
    pstat_t ps = {0};
    int err = held_sessions(c, held) || enrs_of(c, &es, &ne) || progression(c, &ps);
    for (size_t i = 0; !err && i < ne; i++) {
        assess_t a;
        int g = grp(es[i]->who->d.role);
        assess(self, c, es[i], held, &a);
        assigned += (long)es[i]->n_mentors;
        with_mentor += es[i]->n_mentors > 0;
        if (!enrolled(es[i]))
            continue;
        n[g]++;
        credited[g] += a.credited;
        complete[g] += a.required > 0 && a.credited >= a.required;
        risk[g] += a.at_risk;
    }
    for (size_t i = 0; i < c->def.n_agencies; i++)
        err |= json_array_append_new(ags, json_string(c->def.agencies[i]));
    err |= json_object_set_new(doc, "programme", json_string(c->prog->id));
    err |= json_object_set_new(doc, "programme_name", json_string(c->prog->def.name));
    err |= json_object_set_new(doc, "cohort", json_string(c->id));
    err |= json_object_set_new(doc, "places", json_integer(c->def.places));
    err |= json_object_set_new(doc, "starts_on", json_string(c->def.starts));
    err |= json_object_set_new(doc, "ends_on", json_string(c->def.ends));
    err |= json_object_set_new(doc, "agencies", ags);
    if (!err) {
        err |= json_object_set_new(doc, "funnel", funnel_json(&one, 1, filled));
        err |= json_object_set_new(doc, "filled", filled_json(c->def.places, filled));
        err |= json_object_set_new(doc, "progression", progression_json(&ps));
    }
    for (int g = 0; g < 2; g++)
        err |= json_object_set_new(
            comp, g == G_PART ? "participants" : "mentors",
            summary_json(required_of(&c->prog->def, g), n[g], complete[g], credited[g], risk[g]));
    err |= json_object_set_new(doc, "completion", comp);
    err |= json_object_set_new(ment, "assignments", json_integer(assigned));
    err |= json_object_set_new(ment, "mentored", json_integer(with_mentor));
    err |= json_object_set_new(doc, "mentoring", ment);
    free(es);
    free(ps.days);
    if (err)
        return json_decref(doc), NULL;
    return dump(doc);
}

/* Promotion order for display: effective_on, then the order applied. */
typedef struct {
    const promo_t *p; /* the promotion */
    size_t i;         /* its index */
} pord_t;

static int pord_cmp(const void *a, const void *b)
{
    const pord_t *x = a, *y = b;
    int r = strcmp(x->p->on, y->p->on);
    return r ? r : (x->i > y->i) - (x->i < y->i);
}

static json_t *person_json(const proj_t *self, const cohort_t *c, enr_t *const *es, size_t ne,
                           const enr_t *e, long held[2][N_KIND])
{
    json_t *o = json_object(), *comps = json_object(), *promos = json_array();
    const pdef_t *d = &c->prog->def;
    int g = grp(e->who->d.role), err = 0;
    long mentees = 0;
    pord_t *ord = NULL;
    assess_t a;
    assess(self, c, e, held, &a);
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < es[i]->n_mentors; j++)
            mentees += es[i]->mentors[j] == e->who;
    for (size_t i = 0; i < d->n_req[g]; i++) {
        int k = d->req[g][i].kind;
        json_t *co = json_object();
        err |= json_object_set_new(co, "credited", json_integer(a.cred[k]));
        err |= json_object_set_new(co, "required", json_integer(a.req[k]));
        err |= json_object_set_new(co, "sessions", json_integer(a.sessions[k]));
        err |= json_object_set_new(comps, KIND_NAME(k), co);
    }
    if (e->n_promos && !(ord = malloc(e->n_promos * sizeof *ord)))
        err = 1;
    for (size_t i = 0; !err && i < e->n_promos; i++)
        ord[i] = (pord_t){&e->promos[i], i};
    if (!err && e->n_promos)
        qsort(ord, e->n_promos, sizeof *ord, pord_cmp);
    for (size_t i = 0; !err && i < e->n_promos; i++) {
        json_t *po = json_object();
        err |= json_object_set_new(po, "kind", json_string(PKIND_NAME(ord[i].p->kind)));
        err |= json_object_set_new(po, "from", json_string(S(ord[i].p->from)));
        err |= json_object_set_new(po, "to", json_string(S(ord[i].p->to)));
        err |= json_object_set_new(po, "effective_on", json_string(ord[i].p->on));
        err |= json_array_append_new(promos, po);
    }
    free(ord);
    err |= json_object_set_new(o, "ref", json_string(e->who->ref));
    err |= json_object_set_new(o, "role",
                               json_string(ename(&cohort__v1__role__descriptor, e->who->d.role)));
    err |= json_object_set_new(o, "stage", json_string(STAGE_NAME(e->stage)));
    err |= json_object_set_new(o, "enrolled_on",
                               e->enrolled_on[0] ? json_string(e->enrolled_on) : json_null());
    err |= json_object_set_new(o, "completion", ratio_json(a.credited, a.required));
    err |= json_object_set_new(o, "credited_minutes", json_integer(a.credited));
    err |= json_object_set_new(o, "required_minutes", json_integer(a.required));
    err |= json_object_set_new(o, "expected_minutes", json_integer(a.expected));
    err |= json_object_set_new(o, "components", comps);
    err |= json_object_set_new(o, "at_risk", json_boolean(a.at_risk));
    err |= json_object_set_new(o, "promotions", promos);
    err |= json_object_set_new(o, "mentors", json_integer((json_int_t)e->n_mentors));
    err |= json_object_set_new(o, "mentees", json_integer(mentees));
    if (err)
        return json_decref(o), NULL;
    return o;
}

static char *render_agency(const proj_t *self, const cohort_t *c, const ag_t *ag)
{
    json_t *doc = json_object(), *people = json_array();
    long held[2][N_KIND];
    enr_t **es = NULL;
    size_t ne = 0;
    int err = held_sessions(c, held) || enrs_of(c, &es, &ne);
    for (size_t i = 0; !err && i < ne; i++)
        if (strcmp(es[i]->who->agency, ag->id) == 0)
            err |= json_array_append_new(people, person_json(self, c, es, ne, es[i], held));
    err |= json_object_set_new(doc, "agency", json_string(ag->id));
    err |= json_object_set_new(doc, "programme", json_string(c->prog->id));
    err |= json_object_set_new(doc, "cohort", json_string(c->id));
    err |= json_object_set_new(doc, "people", people);
    free(es);
    if (err)
        return json_decref(doc), NULL;
    return dump(doc);
}

/* --------------------------------------------------------- releases --- */

static int prog_cmp(const void *a, const void *b);

/* The funnel fields a release document repeats (filled.participants and
 * the participants' total, WITHDRAWN and REMOVED_BY_BOARD): the auditor
 * uses them to bound who joined and left between releases. */
static int release_meta_funnel(json_t *meta, cohort_t *const *cs, size_t n)
{
    long filled[2];
    json_t *f = funnel_json(cs, n, filled), *part, *by, *o, *stages;
    int err = !f;
    part = json_object_get(f, "participants");
    by = json_object_get(part, "by_stage");
    o = json_pack("{s:O*}", "total", json_object_get(part, "total"));
    stages = json_pack("{s:O*,s:O*}", "WITHDRAWN", json_object_get(by, "WITHDRAWN"),
                       "REMOVED_BY_BOARD", json_object_get(by, "REMOVED_BY_BOARD"));
    err |= !o || !stages;
    if (!err) {
        err |= json_object_set_new(o, "by_stage", stages);
        stages = NULL;
        err |= json_object_set_new(meta, "funnel", json_pack("{s:o}", "participants", o));
        o = NULL;
        err |= json_object_set_new(meta, "filled",
                                   json_pack("{s:I}", "participants", (json_int_t)filled[G_PART]));
    }
    json_decref(o);
    json_decref(stages);
    json_decref(f);
    return err ? -ENOMEM : 0;
}

/* The true tables of programme p: [0] its roll-up, [1..] its cohorts in
 * cohorts_of order. */
typedef struct {
    release_table_t *t;     /* the tables */
    size_t n;               /* their number (cohorts + 1) */
    char (*topics)[KEYLEN]; /* their live topics */
    release_aim_t *aims;    /* the programme's aims */
} tables_t;

static void tables_free(tables_t *tb)
{
    for (size_t i = 0; tb->t && i < tb->n; i++)
        json_decref((json_t *)tb->t[i].meta);
    free(tb->t);
    free(tb->topics);
    free(tb->aims);
    memset(tb, 0, sizeof *tb);
}

/* Builds p's tables from the current state. Returns 0 or -ENOMEM (tb
 * freed). */
static int tables_of(const proj_t *self, const prog_t *p, tables_t *tb)
{
    cohort_t **cs = NULL;
    person_t **ms = NULL;
    size_t n = 0, m = 0;
    memset(tb, 0, sizeof *tb);
    if (cohorts_of(self, p, &cs, &n) || !(tb->t = calloc(n + 1, sizeof *tb->t)) ||
        !(tb->topics = calloc(n + 1, sizeof *tb->topics)) ||
        !(tb->aims = calloc(p->def.n_aims + 1, sizeof *tb->aims)))
        goto fail;
    tb->n = n + 1;
    for (size_t i = 0; i < p->def.n_aims; i++)
        tb->aims[i] = (release_aim_t){p->def.aims[i].group, p->def.aims[i].pct};
    for (size_t i = 0; i <= n; i++) {
        release_table_t *t = &tb->t[i];
        json_t *meta = json_object(), *ids;
        t->aims = tb->aims;
        t->n_aims = p->def.n_aims;
        t->meta = meta;
        t->topic = tb->topics[i];
        if (!meta)
            goto fail;
        if (i == 0) {
            snprintf(tb->topics[0], KEYLEN, "programme/%s", p->id);
            if (members_of(cs, n, &ms, &m) || !(ids = json_array()) ||
                json_object_set_new(meta, "cohorts", ids) ||
                json_object_set_new(meta, "programme", json_string(p->id)) ||
                json_object_set_new(meta, "name", json_string(p->def.name)) ||
                release_meta_funnel(meta, cs, n))
                goto fail;
            for (size_t j = 0; j < n; j++)
                if (json_array_append_new(ids, json_string(cs[j]->id)))
                    goto fail;
        } else {
            cohort_t *one = cs[i - 1];
            pstat_t ps;
            snprintf(tb->topics[i], KEYLEN, "cohort/%s/%s", p->id, one->id);
            if (members_of(&one, 1, &ms, &m) || progression(one, &ps))
                goto fail;
            memcpy(t->moved, ps.moved, sizeof t->moved);
            free(ps.days);
            t->has_moved = 1;
            if (json_object_set_new(meta, "programme", json_string(p->id)) ||
                json_object_set_new(meta, "programme_name", json_string(p->def.name)) ||
                json_object_set_new(meta, "cohort", json_string(one->id)) ||
                json_object_set_new(meta, "starts_on", json_string(one->def.starts)) ||
                json_object_set_new(meta, "ends_on", json_string(one->def.ends)) ||
                release_meta_funnel(meta, &one, 1))
                goto fail;
        }
        repr_counts(ms, m, t->repr);
        free(ms);
        ms = NULL;
    }
    free(cs);
    return 0;
fail:
    free(ms);
    free(cs);
    tables_free(tb);
    return -ENOMEM;
}

/* Cuts a release of programme p (its roll-up and every cohort) from the
 * current state. Returns 1 released, 0 withheld, -ENOMEM. */
static int cut_programme(proj_t *self, const prog_t *p, const char *date, const char *reason)
{
    tables_t tb;
    int rc;
    if (tables_of(self, p, &tb) < 0)
        return -ENOMEM;
    rc = release_cut(self->rel, p->id, tb.t, tb.n, self->seq, date, reason);
    tables_free(&tb);
    return rc;
}

char *proj_render_rule_only(const proj_t *self, const char *topic, int zeros)
{
    char *live = proj_render(self, topic), *out = NULL;
    json_t *doc = live ? json_loads(live, 0, NULL) : NULL, *b = NULL;
    const prog_t *p = NULL;
    tables_t tb = {0};
    free(live);
    if (!doc)
        return NULL;
    if (strncmp(topic, "programme/", 10) == 0)
        p = prog_get(self, topic + 10);
    else if (strncmp(topic, "cohort/", 7) == 0)
        p = prog_get(self, json_string_value(json_object_get(doc, "programme")));
    if (p && tables_of(self, p, &tb) == 0) {
        for (size_t i = 0; i < tb.n; i++) {
            if (strcmp(tb.t[i].topic, topic) != 0 ||
                !(b = release_preview(self->rel, &tb.t[i], zeros)))
                continue;
            if (json_object_set(doc, "representation", json_object_get(b, "representation")) ||
                (json_object_get(b, "progressed") &&
                 json_object_set(json_object_get(doc, "progression"), "progressed",
                                 json_object_get(b, "progressed"))))
                break;
            out = dump(json_incref(doc));
            break;
        }
    }
    json_decref(b);
    json_decref(doc);
    tables_free(&tb);
    return out;
}

/* Days since 1970-01-01 of a log-clock time (microseconds), rounded down. */
static long day_of(int64_t us)
{
    int64_t d = us / 86400000000LL;
    return (long)(us < 0 && d * 86400000000LL != us ? d - 1 : d);
}

/* Cuts the releases due when the log clock moves from day d0 to day d1 >
 * d0 (see proj.h): every programme when a release period starts, and a
 * programme one of whose cohorts passes a milestone. Returns 0 or -ENOMEM. */
static int cut_due(proj_t *self, long d0, long d1)
{
    long rd = self->cfg.release_days;
    int schedule = rd > 0 && d1 / rd > d0 / rd;
    prog_t **pv, *p, *ptmp;
    size_t np = 0;
    int rc = 0;
    if (!(pv = malloc((HASH_COUNT(self->progs) + 1) * sizeof *pv)))
        return -ENOMEM;
    HASH_ITER(hh, self->progs, p, ptmp)
    pv[np++] = p;
    qsort(pv, np, sizeof *pv, prog_cmp);
    for (size_t i = 0; i < np && rc >= 0; i++) {
        const char *reason = schedule ? "schedule" : NULL;
        long when = schedule ? d1 / rd * rd : 0;
        cohort_t *c, *ctmp;
        char date[11];
        HASH_ITER(hh, self->cohorts, c, ctmp)
        {
            char after[11];
            const char *ms[3] = {c->def.starts, c->def.ends, after};
            static const char *const why[3] = {"starts_on", "ends_on", "progression_window_ends"};
            if (c->prog != pv[i])
                continue;
            plus_year(c->def.ends, after);
            for (int k = 0; k < 3; k++) {
                long md = ms[k][0] ? date_days(ms[k]) : 0;
                if (ms[k][0] && md > d0 && md <= d1 && md >= when) {
                    when = md;
                    reason = why[k];
                }
            }
        }
        if (!reason)
            continue;
        days_date(when, date);
        rc = cut_programme(self, pv[i], date, reason);
    }
    free(pv);
    return rc < 0 ? rc : 0;
}

int proj_release_now(proj_t *self, const char *date, const char *reason)
{
    prog_t **pv, *p, *ptmp;
    size_t np = 0;
    int rc = 0, released = 0;
    if (!self || !date || !reason)
        return -EINVAL;
    if (!(pv = malloc((HASH_COUNT(self->progs) + 1) * sizeof *pv)))
        return -ENOMEM;
    HASH_ITER(hh, self->progs, p, ptmp)
    pv[np++] = p;
    qsort(pv, np, sizeof *pv, prog_cmp);
    for (size_t i = 0; i < np && rc >= 0; i++)
        if ((rc = cut_programme(self, pv[i], date, reason)) > 0)
            released++;
    free(pv);
    return rc < 0 ? rc : released;
}

uint64_t proj_releases_withheld(const proj_t *self)
{
    return self ? release_withheld(self->rel) : 0;
}

char *proj_render(const proj_t *self, const char *topic)
{
    char buf[KEYLEN * 2], *part[5];
    size_t n = 0;
    if (!self || !topic || strlen(topic) >= sizeof buf)
        return NULL;
    if (strncmp(topic, "release/", 8) == 0)
        return release_render(self->rel, topic);
    strcpy(buf, topic);
    part[n++] = buf;
    for (char *s = buf; *s && n < 5; s++)
        if (*s == '/') {
            *s = '\0';
            part[n++] = s + 1;
        }
    if (n == 2 && strcmp(part[0], "programme") == 0) {
        const prog_t *p = prog_get(self, part[1]);
        return p ? render_programme(self, p) : NULL;
    }
    if (n == 3 && strcmp(part[0], "cohort") == 0) {
        const cohort_t *c = cohort_get(self, part[1], part[2]);
        return c ? render_cohort(self, c) : NULL;
    }
    if (n == 4 && strcmp(part[0], "agency") == 0) {
        const cohort_t *c = cohort_get(self, part[2], part[3]);
        const ag_t *a = c ? ag_get(c, part[1]) : NULL;
        return a && ag_live(a) ? render_agency(self, c, a) : NULL;
    }
    return NULL;
}

/* ------------------------------------------------------ save / load --- */

static int prog_cmp(const void *a, const void *b)
{
    return strcmp((*(prog_t *const *)a)->id, (*(prog_t *const *)b)->id);
}

static int ckey_cmp(const void *a, const void *b)
{
    return strcmp((*(cohort_t *const *)a)->key, (*(cohort_t *const *)b)->key);
}

static int sess_cmp(const void *a, const void *b)
{
    return strcmp((*(sess_t *const *)a)->id, (*(sess_t *const *)b)->id);
}

static json_t *save_prog(const prog_t *p)
{
    json_t *o = json_object(), *req = json_array(), *aims = json_array();
    int err = 0;
    for (int g = 0; g < 2; g++) {
        json_t *l = json_array();
        for (size_t i = 0; i < p->def.n_req[g]; i++) {
            const comp_t *c = &p->def.req[g][i];
            err |= json_array_append_new(l, json_pack("[iIIs]", c->kind, (json_int_t)c->count,
                                                      (json_int_t)c->minutes, S(c->label)));
        }
        err |= json_array_append_new(req, l);
    }
    for (size_t i = 0; i < p->def.n_aims; i++)
        err |= json_array_append_new(
            aims, json_pack("[ii]", p->def.aims[i].group, (int)p->def.aims[i].pct));
    err |= json_object_set_new(o, "id", json_string(p->id));
    err |= json_object_set_new(o, "name", json_string(S(p->def.name)));
    err |= json_object_set_new(o, "months", json_integer(p->def.months));
    err |= json_object_set_new(o, "req", req);
    err |= json_object_set_new(o, "aims", aims);
    return err ? (json_decref(o), NULL) : o;
}

static json_t *save_cohort(const cohort_t *c)
{
    json_t *o = json_object(), *ags = json_array();
    int err = 0;
    for (size_t i = 0; i < c->def.n_agencies; i++)
        err |= json_array_append_new(ags, json_string(c->def.agencies[i]));
    err |= json_object_set_new(o, "programme", json_string(c->prog->id));
    err |= json_object_set_new(o, "cohort", json_string(c->id));
    err |= json_object_set_new(o, "places", json_integer(c->def.places));
    err |= json_object_set_new(o, "starts_on", json_string(c->def.starts));
    err |= json_object_set_new(o, "ends_on", json_string(c->def.ends));
    err |= json_object_set_new(o, "agencies", ags);
    return err ? (json_decref(o), NULL) : o;
}

static json_t *save_person(const person_t *x)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:b}", "agency", x->agency,
                     "ref", x->ref, "role", x->d.role, "ethnicity", x->d.eth, "gender", x->d.gender,
                     "disability", x->d.disability, "age_band", x->d.age, "orientation",
                     x->d.orientation, "religion", x->d.religion, "grade", S(x->d.grade), "officer",
                     x->d.officer);
}

static json_t *save_enr(const cohort_t *c, const enr_t *e)
{
    json_t *o = json_object(), *ss = json_array(), *ps = json_array(), *ms = json_array();
    size_t n = HASH_COUNT(e->sess), k = 0;
    sess_t **v = malloc((n + 1) * sizeof *v), *s, *tmp, *head = e->sess;
    int err = !v;
    if (v) {
        HASH_ITER(hh, head, s, tmp)
        v[k++] = s;
        qsort(v, k, sizeof *v, sess_cmp);
        for (size_t i = 0; i < k; i++)
            err |= json_array_append_new(ss, json_pack("[sisiI]", v[i]->id, v[i]->kind, v[i]->date,
                                                       v[i]->status, (json_int_t)v[i]->minutes));
        free(v);
    }
    for (size_t i = 0; i < e->n_promos; i++)
        err |=
            json_array_append_new(ps, json_pack("[isss]", e->promos[i].kind, S(e->promos[i].from),
                                                S(e->promos[i].to), e->promos[i].on));
    for (size_t i = 0; i < e->n_mentors; i++)
        err |=
            json_array_append_new(ms, json_pack("[ss]", e->mentors[i]->agency, e->mentors[i]->ref));
    err |= json_object_set_new(o, "programme", json_string(c->prog->id));
    err |= json_object_set_new(o, "cohort", json_string(c->id));
    err |= json_object_set_new(o, "agency", json_string(e->who->agency));
    err |= json_object_set_new(o, "ref", json_string(e->who->ref));
    err |= json_object_set_new(o, "stage", json_integer(e->stage));
    err |= json_object_set_new(o, "enrolled_on", json_string(e->enrolled_on));
    err |= json_object_set_new(o, "sessions", ss);
    err |= json_object_set_new(o, "promotions", ps);
    err |= json_object_set_new(o, "mentors", ms);
    return err ? (json_decref(o), NULL) : o;
}

char *proj_save(const proj_t *self)
{
    json_t *doc, *progs = json_array(), *cohorts = json_array(), *people = json_array(),
                 *enrs = json_array();
    size_t np = 0, nc = 0, nx = 0;
    prog_t **pv = NULL, *p, *ptmp, *phead;
    cohort_t **cv = NULL, *c, *ctmp, *chead;
    person_t **xv = NULL, *x, *xtmp, *xhead;
    int err = 0;
    if (!self)
        return NULL;
    phead = self->progs;
    chead = self->cohorts;
    xhead = self->people;
    doc = json_object();
    pv = malloc((HASH_COUNT(phead) + 1) * sizeof *pv);
    cv = malloc((HASH_COUNT(chead) + 1) * sizeof *cv);
    xv = malloc((HASH_COUNT(xhead) + 1) * sizeof *xv);
    if (!pv || !cv || !xv) {
        err = 1;
        goto cleanup;
    }
    HASH_ITER(hh, phead, p, ptmp)
    pv[np++] = p;
    HASH_ITER(hh, chead, c, ctmp)
    cv[nc++] = c;
    HASH_ITER(hh, xhead, x, xtmp)
    xv[nx++] = x;
    qsort(pv, np, sizeof *pv, prog_cmp);
    qsort(cv, nc, sizeof *cv, ckey_cmp);
    qsort(xv, nx, sizeof *xv, person_cmp);
    for (size_t i = 0; i < np; i++)
        err |= json_array_append_new(progs, save_prog(pv[i]));
    for (size_t i = 0; i < nx; i++)
        err |= json_array_append_new(people, save_person(xv[i]));
    for (size_t i = 0; !err && i < nc; i++) {
        enr_t **es;
        size_t ne;
        err |= json_array_append_new(cohorts, save_cohort(cv[i]));
        if (enrs_of(cv[i], &es, &ne)) {
            err = 1;
            break;
        }
        for (size_t j = 0; j < ne; j++)
            err |= json_array_append_new(enrs, save_enr(cv[i], es[j]));
        free(es);
    }
cleanup:
    err |= json_object_set_new(doc, "format", json_string("cohortd-proj"));
    err |= json_object_set_new(doc, "version", json_integer(1));
    err |= json_object_set_new(doc, "seq", json_integer((json_int_t)self->seq));
    err |= json_object_set_new(doc, "as_of", json_integer(self->as_of));
    err |= json_object_set_new(doc, "programmes", progs);
    err |= json_object_set_new(doc, "cohorts", cohorts);
    err |= json_object_set_new(doc, "people", people);
    err |= json_object_set_new(doc, "enrolments", enrs);
    err |= json_object_set_new(doc, "releases", release_save(self->rel));
    free(pv);
    free(cv);
    free(xv);
    if (err)
        return json_decref(doc), NULL;
    return dump(doc);
}

/* Load helpers: each returns 0 or -EINVAL. */

static const char *gs(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int gi(json_t *v, long long lo, long long hi, long long *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return -EINVAL;
    *out = json_integer_value(v);
    return 0;
}

/* An id or ref: non-empty, no '/', within the protocol limits. */
static int idok(const char *s)
{
    return s && *s && !strchr(s, '/') && strlen(s) <= VALIDATE_MAX_REF;
}

static int dateok(const char *s)
{
    return s && validate_date(s);
}

static int load_comps(json_t *l, comp_t **out, size_t *n_out)
{
    size_t n = json_array_size(l), i;
    comp_t *v;
    int seen[N_KIND] = {0};
    if (!json_is_array(l))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (!(v = calloc(n, sizeof *v)))
        return -ENOMEM;
    for (i = 0; i < n; i++) {
        json_t *c = json_array_get(l, i);
        long long k, cnt, min;
        const char *label = json_string_value(json_array_get(c, 3));
        if (json_array_size(c) != 4 || gi(json_array_get(c, 0), 1, N_KIND - 1, &k) ||
            gi(json_array_get(c, 1), 1, UINT32_MAX, &cnt) ||
            gi(json_array_get(c, 2), 1, UINT32_MAX, &min) || !label || seen[k]++)
            break;
        v[i] = (comp_t){(int)k, (uint32_t)cnt, (uint32_t)min, strdup(label)};
        if (!v[i].label) {
            comps_free(v, i);
            return -ENOMEM;
        }
    }
    if (i < n) {
        comps_free(v, i);
        return -EINVAL;
    }
    *out = v;
    *n_out = n;
    return 0;
}

static int load_prog(proj_t *self, json_t *o)
{
    const char *id = gs(o, "id"), *name = gs(o, "name");
    json_t *req = json_object_get(o, "req"), *aims = json_object_get(o, "aims");
    long long months;
    prog_t *p;
    int rc;
    if (!idok(id) || !name || prog_get(self, id) || json_array_size(req) != 2 ||
        !json_is_array(aims) || gi(json_object_get(o, "months"), 0, UINT32_MAX, &months))
        return -EINVAL;
    if (!(p = prog_create(self, id)))
        return -ENOMEM;
    p->def.months = (uint32_t)months;
    if (!(p->def.name = strdup(name)))
        return -ENOMEM;
    for (int g = 0; g < 2; g++)
        if ((rc = load_comps(json_array_get(req, g), &p->def.req[g], &p->def.n_req[g])))
            return rc;
    if (json_array_size(aims) &&
        !(p->def.aims = calloc(json_array_size(aims), sizeof *p->def.aims)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(aims); i++) {
        json_t *a = json_array_get(aims, i);
        long long g, pct;
        if (json_array_size(a) != 2 || gi(json_array_get(a, 0), 1, 4, &g) ||
            gi(json_array_get(a, 1), 0, 100, &pct))
            return -EINVAL;
        p->def.aims[p->def.n_aims++] = (aim_t){(int)g, (uint32_t)pct};
    }
    return 0;
}

static ag_t *ag_add(cohort_t *c, const char *agency)
{
    ag_t *a = ag_get(c, agency), *v;
    if (a)
        return a;
    if (!(v = realloc(c->ags, (c->n_ags + 1) * sizeof *v)))
        return NULL;
    c->ags = v;
    a = &v[c->n_ags];
    memset(a, 0, sizeof *a);
    if (!(a->id = strdup(agency)))
        return NULL;
    c->n_ags++;
    return a;
}

static int load_cohort(proj_t *self, json_t *o)
{
    const char *pid = gs(o, "programme"), *cid = gs(o, "cohort"), *st = gs(o, "starts_on"),
               *en = gs(o, "ends_on");
    json_t *ags = json_object_get(o, "agencies");
    prog_t *p = pid ? prog_get(self, pid) : NULL;
    long long places;
    cohort_t *c;
    if (!p || !idok(cid) || cohort_get(self, pid, cid) || !dateok(st) || !dateok(en) ||
        !json_is_array(ags) || gi(json_object_get(o, "places"), 0, UINT32_MAX, &places))
        return -EINVAL;
    if (!(c = cohort_create(self, p, cid)))
        return -ENOMEM;
    c->def.places = (uint32_t)places;
    day_copy(c->def.starts, st);
    day_copy(c->def.ends, en);
    if (json_array_size(ags) &&
        !(c->def.agencies = calloc(json_array_size(ags), sizeof *c->def.agencies)))
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(ags); i++) {
        const char *a = json_string_value(json_array_get(ags, i));
        ag_t *ag;
        if (!idok(a))
            return -EINVAL;
        if (!(c->def.agencies[c->def.n_agencies] = strdup(a)))
            return -ENOMEM;
        c->def.n_agencies++;
        if (!(ag = ag_add(c, a)))
            return -ENOMEM;
        ag->listed = 1;
    }
    return 0;
}

static int load_person(proj_t *self, json_t *o)
{
    const char *agency = gs(o, "agency"), *ref = gs(o, "ref"), *grade = gs(o, "grade");
    json_t *officer = json_object_get(o, "officer");
    long long role, eth, gen, dis, age, ori, rel;
    person_t *x;
    if (!idok(agency) || !idok(ref) || !grade || !json_is_boolean(officer) ||
        person_get(self, agency, ref) || gi(json_object_get(o, "role"), 1, 3, &role) ||
        gi(json_object_get(o, "ethnicity"), 0, 17, &eth) || /* 0: sealed, key gone */
        gi(json_object_get(o, "gender"), 0, 4, &gen) ||
        gi(json_object_get(o, "disability"), 0, 3, &dis) ||
        gi(json_object_get(o, "age_band"), 0, 6, &age) ||
        gi(json_object_get(o, "orientation"), 0, 4, &ori) ||
        gi(json_object_get(o, "religion"), 0, 9, &rel))
        return -EINVAL;
    if (!(x = person_create(self, agency, ref)))
        return -ENOMEM;
    x->d = (pdata_t){(int)role,    (int)eth, (int)gen, (int)dis,
                     (int)age,     (int)ori, (int)rel, json_is_true(officer),
                     strdup(grade)};
    return x->d.grade ? 0 : -ENOMEM;
}

static int load_enr(proj_t *self, json_t *o)
{
    const char *pid = gs(o, "programme"), *cid = gs(o, "cohort"), *on = gs(o, "enrolled_on");
    cohort_t *c = pid && cid ? cohort_get(self, pid, cid) : NULL;
    person_t *x = person_get(self, gs(o, "agency"), gs(o, "ref"));
    json_t *ss = json_object_get(o, "sessions"), *ps = json_object_get(o, "promotions"),
           *ms = json_object_get(o, "mentors");
    long long stage;
    enr_t *e;
    ag_t *ag;
    if (!c || !x || !gs(o, "agency") || !gs(o, "ref") || enr_get(c, x) || !on ||
        (*on && !dateok(on)) || !json_is_array(ss) || !json_is_array(ps) || !json_is_array(ms) ||
        gi(json_object_get(o, "stage"), 1, N_STAGE - 1, &stage))
        return -EINVAL;
    if (!(ag = ag_add(c, x->agency)) || !(e = enr_create(c, x)))
        return -ENOMEM;
    ag->n_enr++;
    e->stage = (int)stage;
    day_copy(e->enrolled_on, on);
    for (size_t i = 0; i < json_array_size(ss); i++) {
        json_t *a = json_array_get(ss, i);
        const char *id = json_string_value(json_array_get(a, 0));
        const char *date = json_string_value(json_array_get(a, 2));
        long long kind, status, minutes;
        sess_t *s;
        if (json_array_size(a) != 5 || !idok(id) || !dateok(date) || sess_get(e, id) ||
            gi(json_array_get(a, 1), 1, N_KIND - 1, &kind) ||
            gi(json_array_get(a, 3), 1, 4, &status) ||
            gi(json_array_get(a, 4), 0, UINT32_MAX, &minutes))
            return -EINVAL;
        if (!(s = sess_create(e, id)))
            return -ENOMEM;
        s->kind = (int)kind;
        s->status = (int)status;
        s->minutes = (uint32_t)minutes;
        day_copy(s->date, date);
    }
    for (size_t i = 0; i < json_array_size(ps); i++) {
        json_t *a = json_array_get(ps, i);
        const char *from = json_string_value(json_array_get(a, 1));
        const char *to = json_string_value(json_array_get(a, 2));
        const char *eff = json_string_value(json_array_get(a, 3));
        long long kind;
        promo_t *pr;
        if (json_array_size(a) != 4 || !from || !to || !dateok(eff) ||
            gi(json_array_get(a, 0), 1, N_PKIND - 1, &kind))
            return -EINVAL;
        if (promos_reserve(e))
            return -ENOMEM;
        pr = &e->promos[e->n_promos];
        *pr = (promo_t){(int)kind, strdup(from), strdup(to), ""};
        e->n_promos++;
        if (!pr->from || !pr->to)
            return -ENOMEM;
        day_copy(pr->on, eff);
    }
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *a = json_array_get(ms, i);
        person_t *m = person_get(self, json_string_value(json_array_get(a, 0)),
                                 json_string_value(json_array_get(a, 1)));
        if (json_array_size(a) != 2 || !json_is_string(json_array_get(a, 0)) ||
            !json_is_string(json_array_get(a, 1)) || !m)
            return -EINVAL;
        if (mentors_reserve(e))
            return -ENOMEM;
        e->mentors[e->n_mentors++] = m;
    }
    return 0;
}

static int load_list(proj_t *self, json_t *root, const char *key, int (*fn)(proj_t *, json_t *))
{
    json_t *l = json_object_get(root, key);
    int rc;
    if (!json_is_array(l))
        return -EINVAL;
    for (size_t i = 0; i < json_array_size(l); i++) {
        json_t *o = json_array_get(l, i);
        if (!json_is_object(o))
            return -EINVAL;
        if ((rc = fn(self, o)))
            return rc;
    }
    return 0;
}

int proj_load(proj_t *self, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *root;
    long long seq, as_of, version;
    const char *format;
    int rc;
    if (!self || !text || self->seq || self->progs || self->cohorts || self->people)
        return -EINVAL;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
        return -EINVAL;
    format = gs(root, "format");
    if (!json_is_object(root) || !format || strcmp(format, "cohortd-proj") != 0 ||
        gi(json_object_get(root, "version"), 1, 1, &version) ||
        gi(json_object_get(root, "seq"), 0, INT64_MAX, &seq) ||
        gi(json_object_get(root, "as_of"), 0, INT64_MAX, &as_of))
        rc = -EINVAL;
    else if (!(rc = load_list(self, root, "programmes", load_prog)) &&
             !(rc = load_list(self, root, "cohorts", load_cohort)) &&
             !(rc = load_list(self, root, "people", load_person)) &&
             !(rc = load_list(self, root, "enrolments", load_enr)) &&
             !(rc = release_load(self->rel, json_object_get(root, "releases")))) {
        self->seq = (uint64_t)seq;
        self->as_of = as_of;
    }
    json_decref(root);
    if (rc) {
        clear(self);
        return rc;
    }
    mark_all(self);
    return 0;
}
