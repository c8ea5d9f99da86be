/* proj.c: the programme status projection (see proj.h, docs/status.md);
 * this file is its model: helpers, dates, lookups, frees, constructors,
 * dirty marking, lifecycle, apply and topics. The domain rules are in
 * proj_rules.c, rendering and release cuts in proj_render.c, checkpoint
 * state in proj_state.c; their shared internals in proj_int.h.
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
#include "proj_int.h"

/* ---------------------------------------------------------- helpers --- */

int projx_fail(why_t *w, code_t code, const char *fmt, ...)
{
    va_list ap;
    if (w->len) {
        va_start(ap, fmt);
        vsnprintf(w->buf, w->len, fmt, ap);
        va_end(ap);
    }
    return (int)code;
}

const char *projx_S(const char *s)
{
    return s ? s : "";
}

char *projx_dup(const char *s)
{
    return strdup(projx_S(s));
}

void projx_day_copy(char out[11], const char *s)
{
    size_t n = strlen(projx_S(s));
    if (n > 10)
        n = 10;
    memcpy(out, projx_S(s), n);
    out[n] = '\0';
}

static int mkkey(char *buf, size_t n, const char *a, const char *b)
{
    int r = snprintf(buf, n, "%s/%s", projx_S(a), projx_S(b));
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

const char *projx_ename(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e ? e->name : "UNKNOWN";
}

int projx_grp(int role)
{
    return role == COHORT__V1__ROLE__MENTOR || role == COHORT__V1__ROLE__COACH ? G_MENT : G_PART;
}

int projx_reached(int before, int to)
{
    int r = to >= STG(APPLIED) && to <= STG(ENROLLED)             ? to
            : to == STG(COMPLETED) || to == STG(REMOVED_BY_BOARD) ? STG(ENROLLED)
                                                                  : 0;
    return r > before ? r : before;
}

int projx_enrolled(const enr_t *e)
{
    return e->stage == STG(ENROLLED) || e->stage == STG(COMPLETED);
}

int projx_is_participant(const person_t *x)
{
    return x->d.role == COHORT__V1__ROLE__PARTICIPANT;
}

int projx_is_mentor(const person_t *x)
{
    return projx_grp(x->d.role) == G_MENT;
}

static int strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int projx_person_cmp(const void *a, const void *b)
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
long projx_date_days(const char *s)
{
    int y = 0, m = 0, d = 0;
    if (sscanf(projx_S(s), "%4d-%2d-%2d", &y, &m, &d) != 3)
        return 0;
    return (long)civil_days(y, (unsigned)m, (unsigned)d);
}

void projx_days_date(long z, char out[11])
{
    int64_t y;
    unsigned m, d;
    civil_from_days(z, &y, &m, &d);
    fmt_date(out, (long)y, (long)m, (long)d);
}

/* The UTC date of a Unix time in microseconds. */
void projx_date_of_us(int64_t us, char out[11])
{
    int64_t day = 86400LL * 1000000;
    int64_t z = us / day - (us % day < 0);
    projx_days_date((long)z, out);
}

/* The same day a year later (29 February becomes 28 February). */
void projx_plus_year(const char *s, char out[11])
{
    int y = 0, m = 0, d = 0;
    if (sscanf(projx_S(s), "%4d-%2d-%2d", &y, &m, &d) != 3) {
        projx_day_copy(out, s);
        return;
    }
    y++;
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        d = 28;
    fmt_date(out, y, m, d);
}

void projx_plus_months(const char *s, int months, char out[11])
{
    int y = 0, m = 0, d = 0, last;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (sscanf(projx_S(s), "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12) {
        projx_day_copy(out, s);
        return;
    }
    m += months;
    y += (m - 1) / 12;
    m = (m - 1) % 12 + 1;
    last = mdays[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    fmt_date(out, y, m, d > last ? last : d);
}

/* ---------------------------------------------------------- lookups --- */

prog_t *projx_prog_get(const proj_t *self, const char *id)
{
    prog_t *head = self->progs, *p = NULL;
    HASH_FIND_STR(head, projx_S(id), p);
    return p;
}

cohort_t *projx_cohort_get(const proj_t *self, const char *p, const char *c)
{
    char key[KEYLEN];
    cohort_t *head = self->cohorts, *out = NULL;
    if (mkkey(key, sizeof key, p, c))
        return NULL;
    HASH_FIND_STR(head, key, out);
    return out;
}

wf_t *projx_wf_get(const proj_t *self, const char *agency)
{
    wf_t *head = self->wf, *out = NULL;
    HASH_FIND_STR(head, agency, out);
    return out;
}

wf_t *projx_wf_create(proj_t *self, const char *agency)
{
    wf_t *w = calloc(1, sizeof *w);
    if (!w || !(w->agency = projx_dup(agency))) {
        free(w);
        return NULL;
    }
    for (int k = 0; k < N_STAFF; k++)
        for (int g = 0; g < N_AIM; g++)
            w->count[k][g] = -1;
    HASH_ADD_KEYPTR(hh, self->wf, w->agency, strlen(w->agency), w);
    if (!w->hh.tbl) {
        free(w->agency);
        free(w);
        return NULL;
    }
    return w;
}

person_t *projx_person_get(const proj_t *self, const char *agency, const char *ref)
{
    char key[KEYLEN];
    person_t *head = self->people, *out = NULL;
    if (mkkey(key, sizeof key, agency, ref))
        return NULL;
    HASH_FIND_STR(head, key, out);
    return out;
}

enr_t *projx_enr_get(const cohort_t *c, const person_t *x)
{
    enr_t *head = c->enrs, *out = NULL;
    HASH_FIND_STR(head, x->key, out);
    return out;
}

sess_t *projx_sess_get(const enr_t *e, const char *id)
{
    sess_t *head = e->sess, *out = NULL;
    HASH_FIND_STR(head, projx_S(id), out);
    return out;
}

ag_t *projx_ag_get(const cohort_t *c, const char *agency)
{
    for (size_t i = 0; i < c->n_ags; i++)
        if (strcmp(c->ags[i].id, projx_S(agency)) == 0)
            return &c->ags[i];
    return NULL;
}

int projx_listed(const cohort_t *c, const char *agency)
{
    for (size_t i = 0; i < c->def.n_agencies; i++)
        if (strcmp(c->def.agencies[i], projx_S(agency)) == 0)
            return 1;
    return 0;
}

const comp_t *projx_find_comp(const pdef_t *d, int g, int kind)
{
    for (size_t i = 0; i < d->n_req[g]; i++)
        if (d->req[g][i].kind == kind)
            return &d->req[g][i];
    return NULL;
}

/* ------------------------------------------------------------ frees --- */

void projx_comps_free(comp_t *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c[i].label);
    free(c);
}

void projx_pdef_free(pdef_t *d)
{
    free(d->name);
    for (int g = 0; g < 2; g++)
        projx_comps_free(d->req[g], d->n_req[g]);
    free(d->aims);
    memset(d, 0, sizeof *d);
}

void projx_cdef_free(cdef_t *d)
{
    for (size_t i = 0; i < d->n_agencies; i++)
        free(d->agencies[i]);
    free(d->agencies);
    memset(d, 0, sizeof *d);
}

void projx_enr_free(enr_t *e)
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
    for (size_t i = 0; i < e->n_marks; i++)
        free(e->marks[i].piece);
    free(e->marks);
    free(e->award);
    projx_plan_clear(e);
    free(e);
}

void projx_plan_clear(enr_t *e)
{
    for (size_t i = 0; i < e->n_objectives; i++)
        free(e->objectives[i]);
    free(e->objectives);
    free(e->options);
    e->objectives = NULL;
    e->options = NULL;
    e->n_objectives = e->n_options = 0;
}

int projx_plan_set(enr_t *e, const char *on, char *const *objs, size_t nobj, const int *opts,
                   size_t nopt)
{
    char **o = nobj ? calloc(nobj, sizeof *o) : NULL;
    int *p = nopt ? malloc(nopt * sizeof *p) : NULL;
    if ((nobj && !o) || (nopt && !p))
        goto fail;
    for (size_t i = 0; i < nobj; i++)
        if (!(o[i] = projx_dup(objs[i])))
            goto fail;
    if (nopt)
        memcpy(p, opts, nopt * sizeof *p);
    projx_plan_clear(e);
    e->objectives = o;
    e->n_objectives = nobj;
    e->options = p;
    e->n_options = nopt;
    projx_day_copy(e->plan_on, on);
    return 0;
fail:
    for (size_t i = 0; o && i < nobj; i++)
        free(o[i]);
    free(o);
    free(p);
    return -ENOMEM;
}

static void cohort_free(cohort_t *c)
{
    enr_t *e, *tmp;
    HASH_ITER(hh, c->enrs, e, tmp)
    {
        HASH_DEL(c->enrs, e);
        projx_enr_free(e);
    }
    for (size_t i = 0; i < c->n_ags; i++)
        free(c->ags[i].id);
    free(c->ags);
    free(c->hist);
    projx_cdef_free(&c->def);
    free(c->key);
    free(c->id);
    free(c);
}

void projx_person_free(person_t *x)
{
    free(x->key);
    free(x->agency);
    free(x->ref);
    free(x->d.grade);
    free(x);
}

/* Frees all state; the projection is empty afterwards. */
void projx_clear(proj_t *self)
{
    cohort_t *c, *ctmp;
    person_t *x, *xtmp;
    prog_t *p, *ptmp;
    wf_t *f, *ftmp;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        HASH_DEL(self->cohorts, c);
        cohort_free(c);
    }
    HASH_ITER(hh, self->wf, f, ftmp)
    {
        HASH_DEL(self->wf, f);
        free(f->agency);
        free(f);
    }
    HASH_ITER(hh, self->people, x, xtmp)
    {
        HASH_DEL(self->people, x);
        projx_person_free(x);
    }
    HASH_ITER(hh, self->progs, p, ptmp)
    {
        HASH_DEL(self->progs, p);
        projx_pdef_free(&p->def);
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

prog_t *projx_prog_create(proj_t *self, const char *id)
{
    prog_t *p = calloc(1, sizeof *p);
    if (!p || !(p->id = projx_dup(id))) {
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

cohort_t *projx_cohort_create(proj_t *self, prog_t *p, const char *cid)
{
    char key[KEYLEN];
    cohort_t *c;
    if (mkkey(key, sizeof key, p->id, cid) || !(c = calloc(1, sizeof *c)))
        return NULL;
    c->prog = p;
    if (!(c->key = projx_dup(key)) || !(c->id = projx_dup(cid)))
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

person_t *projx_person_create(proj_t *self, const char *agency, const char *ref)
{
    char key[KEYLEN];
    person_t *x;
    if (mkkey(key, sizeof key, agency, ref) || !(x = calloc(1, sizeof *x)))
        return NULL;
    if (!(x->key = projx_dup(key)) || !(x->agency = projx_dup(agency)) ||
        !(x->ref = projx_dup(ref)))
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

enr_t *projx_enr_create(cohort_t *c, person_t *who)
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

sess_t *projx_sess_create(enr_t *e, const char *id)
{
    sess_t *s = calloc(1, sizeof *s);
    if (!s || !(s->id = projx_dup(id))) {
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

int projx_promos_reserve(enr_t *e)
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

int projx_marks_reserve(enr_t *e)
{
    mark_t *v;
    size_t cap;
    if (e->n_marks < e->cap_marks)
        return 0;
    cap = e->cap_marks ? e->cap_marks * 2 : 4;
    if (!(v = realloc(e->marks, cap * sizeof *v)))
        return -ENOMEM;
    e->marks = v;
    e->cap_marks = cap;
    return 0;
}

long projx_passed(const enr_t *e, int kind)
{
    long n = 0;
    for (size_t i = 0; i < e->n_marks; i++)
        n += e->marks[i].kind == kind &&
             e->marks[i].outcome == COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_PASS;
    return n;
}

int projx_all_passed(const pdef_t *d, const enr_t *e)
{
    int g = projx_grp(e->who->d.role);
    for (size_t i = 0; i < d->n_req[g]; i++)
        if (d->req[g][i].assessed && projx_passed(e, d->req[g][i].kind) < (long)d->req[g][i].count)
            return 0;
    return 1;
}

mark_t *projx_mark_get(const enr_t *e, int kind, const char *piece)
{
    for (size_t i = 0; i < e->n_marks; i++)
        if (e->marks[i].kind == kind && strcmp(e->marks[i].piece, piece) == 0)
            return &e->marks[i];
    return NULL;
}

int projx_mentors_reserve(enr_t *e)
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

int projx_ag_live(const ag_t *a)
{
    return a->listed || a->n_enr > 0;
}

/* Marks an agency topic of c, if it exists. */
void projx_mark_ag(cohort_t *c, const char *agency)
{
    ag_t *a = projx_ag_get(c, agency);
    if (a && projx_ag_live(a))
        a->dirty = 1;
}

/* The cohort topic, its programme topic and (all_ags) all its agency topics. */
void projx_mark_cohort(cohort_t *c, int all_ags)
{
    c->dirty = 1;
    c->prog->dirty = 1;
    if (all_ags)
        for (size_t i = 0; i < c->n_ags; i++)
            if (projx_ag_live(&c->ags[i]))
                c->ags[i].dirty = 1;
}

void projx_mark_all(proj_t *self)
{
    prog_t *p, *ptmp;
    cohort_t *c, *ctmp;
    HASH_ITER(hh, self->progs, p, ptmp)
    p->dirty = 1;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    projx_mark_cohort(c, 1);
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
    projx_clear(*self_p);
    release_destroy(&(*self_p)->rel);
    free(*self_p);
    *self_p = NULL;
}

/* The log clock moves from day d0 to d1 (> d0): the topics of cohorts with
 * a review falling due in between (review_due in [d0, d1): overdue from
 * d1, not at d0) may change (plans.overdue_reviews, review_overdue). */
static void mark_overdue(proj_t *self, long d0, long d1)
{
    char a[11], b[11];
    cohort_t *c, *ctmp;
    projx_days_date(d0, a);
    projx_days_date(d1, b);
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        enr_t *e, *etmp, *head = c->enrs;
        HASH_ITER(hh, head, e, etmp)
        if (e->stage == STG(ENROLLED) && e->review_due[0] && strcmp(e->review_due, a) >= 0 &&
            strcmp(e->review_due, b) < 0) {
            projx_mark_cohort(c, 0);
            projx_mark_ag(c, e->who->agency);
        }
    }
}

int proj_apply(proj_t *self, const Cohort__V1__Event *ev, uint64_t seq, char *reason, size_t len)
{
    why_t w = {reason, reason ? len : 0};
    int rc;
    if (w.len)
        reason[0] = '\0';
    if (!self || !ev || seq <= self->seq)
        return -EINVAL;
    if (self->as_of > 0 && ev->occurred_at > self->as_of &&
        projx_day_of(ev->occurred_at) > projx_day_of(self->as_of)) {
        /* the log clock enters a new day: releases due are cut from the
         * state before this event, if the event is to be applied at all */
        if ((rc = projx_dispatch(self, ev, &w, 1)) != 0)
            return rc;
        /* and so are the monthly history rows (proj_hist.c) */
        if (projx_month_of_us(ev->occurred_at) > projx_month_of_us(self->as_of) &&
            (rc = projx_history_due(self, projx_month_of_us(self->as_of),
                                    projx_month_of_us(ev->occurred_at))) < 0)
            return rc;
        if ((rc = projx_cut_due(self, projx_day_of(self->as_of), projx_day_of(ev->occurred_at))) <
            0)
            return rc;
    }
    if ((rc = projx_dispatch(self, ev, &w, 0)) != 0)
        return rc;
    self->seq = seq;
    if (self->as_of > 0 && projx_day_of(ev->occurred_at) > projx_day_of(self->as_of))
        mark_overdue(self, projx_day_of(self->as_of), projx_day_of(ev->occurred_at));
    if (ev->occurred_at > self->as_of)
        self->as_of = ev->occurred_at;
    if (ev->body_case == COHORT__V1__EVENT__BODY_COHORT_OPENED && ev->cohort_opened)
        projx_history_opened(self, projx_cohort_get(self, ev->cohort_opened->programme_id,
                                                    ev->cohort_opened->cohort_id));
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED) {
        /* the current releases should not count someone erased: a release
         * of every programme is cut now (gated as any other) */
        char date[11];
        projx_days_date(projx_day_of(self->as_of), date);
        (void)proj_release_now(self, date, "erasure"); /* OOM: the next cut will do */
    }
    return 0;
}

int proj_defined(const proj_t *self, const Cohort__V1__Event *ev, unsigned *aims)
{
    const prog_t *p;
    if (aims)
        *aims = 0;
    if (!self || !ev)
        return -EINVAL;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED && ev->programme_defined) {
        if (!(p = projx_prog_get(self, ev->programme_defined->programme_id)))
            return 0;
        for (size_t i = 0; aims && i < p->def.n_aims; i++)
            if (p->def.aims[i].group > 0 && p->def.aims[i].group < 32)
                *aims |= 1u << p->def.aims[i].group;
        return 1;
    }
    if (ev->body_case == COHORT__V1__EVENT__BODY_COHORT_OPENED && ev->cohort_opened)
        return projx_cohort_get(self, ev->cohort_opened->programme_id,
                                ev->cohort_opened->cohort_id) != NULL;
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
            if (dirty ? c->ags[i].dirty : projx_ag_live(&c->ags[i]))
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
            if (!projx_ag_live(&c->ags[i])) { /* its removal was just handed out */
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

char *proj_release_versions(const proj_t *self, const char *topic)
{
    json_t *v;
    char *out;
    if (!self || !topic || strncmp(topic, "release/", 8) != 0)
        return NULL;
    if (!(v = release_versions(self->rel, topic)))
        return NULL;
    out = json_dumps(v, DUMP_FLAGS);
    json_decref(v);
    return out;
}
