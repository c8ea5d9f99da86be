/* proj_rules.c: the projection's domain rules (see proj.h, docs/domain.md).
 *
 * One handler per event body (on_programme ... on_erased) and the dispatch
 * on the body type. Contract of every handler: it checks all its rules
 * first and returns a REJECT_ code with the reason in w on the first one
 * broken, mutating nothing; with dry set it stops there. Otherwise it
 * allocates everything it needs (-ENOMEM, state unchanged, on failure),
 * and only then mutates the state and marks the topics it changed. */
#include "proj_int.h"

/* ---------------------------------------------------- domain rules --- */

static int comps_check(why_t *w, Cohort__V1__Component **c, size_t n, const char *name)
{
    int seen[N_KIND] = {0};
    for (size_t i = 0; i < n; i++) {
        int k = c[i]->kind;
        if (k < 1 || k >= N_KIND)
            return projx_fail(w, R(BAD_ENUM), "%s: unknown component kind", name);
        if (seen[k]++)
            return projx_fail(w, R(BAD_VALUE), "%s lists %s more than once", name, KIND_NAME(k));
        if (c[i]->unit < 0 || c[i]->unit >= N_UNIT)
            return projx_fail(w, R(BAD_ENUM), "%s: unknown component unit", name);
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
        v[i].unit = c[i]->unit;
        v[i].assessed = c[i]->assessed ? 1 : 0;
        if (!(v[i].label = projx_dup(c[i]->label))) {
            projx_comps_free(v, i);
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
            return projx_fail(w, R(BAD_ENUM), "aims.group is unknown");
    if (strlen(projx_S(b->programme_id)) > VALIDATE_MAX_ID)
        return projx_fail(w, R(BAD_VALUE), "programme_id is too long");
    if (dry)
        return 0;
    d.months = b->duration_months;
    if (!(d.name = projx_dup(b->name)) ||
        comps_copy(&d.req[G_PART], &d.n_req[G_PART], b->participant_components,
                   b->n_participant_components) ||
        comps_copy(&d.req[G_MENT], &d.n_req[G_MENT], b->mentor_components, b->n_mentor_components))
        goto nomem;
    if (b->n_aims && !(d.aims = calloc(b->n_aims, sizeof *d.aims)))
        goto nomem;
    for (size_t i = 0; i < b->n_aims; i++)
        d.aims[i] = (aim_t){b->aims[i]->group, b->aims[i]->min_percent};
    d.n_aims = b->n_aims;
    p = projx_prog_get(self, b->programme_id);
    if (!p && !(p = projx_prog_create(self, b->programme_id)))
        goto nomem;
    projx_pdef_free(&p->def);
    p->def = d;
    p->dirty = 1;
    HASH_ITER(hh, self->cohorts, c, tmp)
    if (c->prog == p)
        projx_mark_cohort(c, 1);
    return 0;
nomem:
    projx_pdef_free(&d);
    return -ENOMEM;
}

static int on_cohort(proj_t *self, const Cohort__V1__CohortOpened *b, why_t *w, int dry)
{
    prog_t *p = projx_prog_get(self, b->programme_id);
    cohort_t *c;
    cdef_t d = {0};
    ag_t *ags = NULL;
    size_t n_old, n_ags;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (strlen(projx_S(b->cohort_id)) > VALIDATE_MAX_ID)
        return projx_fail(w, R(BAD_VALUE), "cohort_id is too long");
    for (size_t i = 0; i < b->n_agencies; i++)
        if (strlen(projx_S(b->agencies[i])) > VALIDATE_MAX_ID)
            return projx_fail(w, R(BAD_VALUE), "agencies[] is too long");
    if (dry)
        return 0;
    c = projx_cohort_get(self, b->programme_id, b->cohort_id);
    n_old = n_ags = c ? c->n_ags : 0;
    d.places = b->places;
    projx_day_copy(d.starts, b->starts_on);
    projx_day_copy(d.ends, b->ends_on);
    if (b->n_agencies && !(d.agencies = calloc(b->n_agencies, sizeof *d.agencies)))
        goto nomem;
    for (; d.n_agencies < b->n_agencies; d.n_agencies++)
        if (!(d.agencies[d.n_agencies] = projx_dup(b->agencies[d.n_agencies])))
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
        if (j == n_ags && !(ags[n_ags++].id = projx_dup(d.agencies[i])))
            goto nomem;
        ags[j].listed = 1;
    }
    for (size_t j = 0; j < n_ags; j++)
        ags[j].dirty = 1; /* new, changed, or gone */
    if (!c && !(c = projx_cohort_create(self, p, b->cohort_id)))
        goto nomem;
    projx_cdef_free(&c->def);
    c->def = d;
    free(c->ags);
    c->ags = ags;
    c->n_ags = n_ags;
    projx_mark_cohort(c, 0);
    return 0;
nomem:
    projx_cdef_free(&d);
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
        return projx_fail(w, R(BAD_ENUM), "role must be PARTICIPANT, MENTOR or COACH");
    if ((int)b->ethnicity < lo || b->ethnicity > COHORT__V1__ETHNICITY__NS || (int)b->gender < lo ||
        b->gender > COHORT__V1__GENDER__GENDER_NOT_STATED || (int)b->disability < lo ||
        b->disability > COHORT__V1__DISABILITY__DISABILITY_NOT_STATED || b->age_band < 0 ||
        b->age_band > COHORT__V1__AGE_BAND__AGE_NOT_STATED || b->sexual_orientation < 0 ||
        b->sexual_orientation > COHORT__V1__SEXUAL_ORIENTATION__ORIENTATION_NOT_STATED ||
        b->religion < 0 || b->religion > COHORT__V1__RELIGION__RELIGION_NOT_STATED)
        return projx_fail(w, R(BAD_ENUM), "a monitoring field has an unknown value");
    if (strlen(projx_S(ev->agency)) + strlen(projx_S(b->participant_ref)) + 2 > KEYLEN)
        return projx_fail(w, R(BAD_VALUE), "participant_ref is too long");
    if (dry)
        return 0;
    if (!(grade = projx_dup(b->grade)))
        return -ENOMEM;
    x = projx_person_get(self, ev->agency, b->participant_ref);
    if (!x && !(x = projx_person_create(self, ev->agency, b->participant_ref))) {
        free(grade);
        return -ENOMEM;
    }
    free(x->d.grade);
    x->d = (pdata_t){b->role,       b->ethnicity,       b->gender,
                     b->disability, b->age_band,        b->sexual_orientation,
                     b->religion,   b->officer ? 1 : 0, grade};
    HASH_ITER(hh, self->cohorts, c, tmp)
    if (projx_enr_get(c, x))
        projx_mark_cohort(c, 1); /* role changes move held sessions for everyone */
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

/* The documents an event about one of agency's people in cohort c changes:
 * the cohort's (and so its programme's) and the agency's own topic. */
static void touched(cohort_t *c, const char *agency)
{
    projx_mark_cohort(c, 0);
    projx_mark_ag(c, agency);
}

static int on_enrolment(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__EnrolmentChanged *b = ev->enrolment_changed;
    prog_t *p = projx_prog_get(self, b->programme_id);
    cohort_t *c = p ? projx_cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref);
    enr_t *e;
    int cur, to = b->stage;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    if (!projx_listed(c, ev->agency))
        return projx_fail(w, R(AGENCY_NOT_IN_COHORT), "agency does not take part in this cohort");
    if (to < 1 || to >= N_STAGE)
        return projx_fail(w, R(BAD_ENUM), "stage is unknown");
    e = projx_enr_get(c, x);
    cur = e ? e->stage : 0;
    if (!step_ok(cur, to, projx_is_mentor(x))) {
        if (to == STG(OFFERED) && cur < STG(LINE_MANAGER_SUPPORTED))
            return projx_fail(w, R(NO_LINE_MANAGER_SUPPORT),
                              "an offer needs the line manager's support: go to "
                              "LINE_MANAGER_SUPPORTED first");
        return projx_fail(w, R(BAD_TRANSITION), "cannot go from %s to %s",
                          cur ? STAGE_NAME(cur) : "none", STAGE_NAME(to));
    }
    if (dry)
        return 0;
    if (!e) {
        ag_t *a = projx_ag_get(c, ev->agency);
        if (!(e = projx_enr_create(c, x)))
            return -ENOMEM;
        if (a)
            a->n_enr++;
    }
    e->stage = to;
    e->reached = projx_reached(e->reached, to);
    if (to == STG(ENROLLED))
        projx_date_of_us(ev->occurred_at, e->enrolled_on);
    touched(c, ev->agency);
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
        if (o != e && projx_grp(o->who->d.role) == projx_grp(e->who->d.role) &&
            (s = projx_sess_get(o, id)) && s->kind == kind)
            return 1;
    }
    return 0;
}

static int on_attendance(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__AttendanceRecorded *b = ev->attendance_recorded;
    prog_t *p = projx_prog_get(self, b->programme_id);
    cohort_t *c = p ? projx_cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref);
    enr_t *e;
    sess_t *s;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    e = projx_enr_get(c, x);
    if (!e || !projx_enrolled(e))
        return projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    if (b->status < COHORT__V1__ATTENDANCE_STATUS__PRESENT ||
        b->status > COHORT__V1__ATTENDANCE_STATUS__ABSENT)
        return projx_fail(w, R(BAD_ENUM), "status is unknown");
    if (!projx_find_comp(&p->def, projx_grp(x->d.role), b->component))
        return projx_fail(w, R(BAD_VALUE), "component %s is not required for the %s role",
                          KIND_NAME(b->component),
                          projx_ename(&cohort__v1__role__descriptor, x->d.role));
    if (dry)
        return 0;
    s = projx_sess_get(e, b->session_id);
    int same_held = held_unchanged(c, e, s, b->component, b->session_id);
    if (!s && !(s = projx_sess_create(e, b->session_id)))
        return -ENOMEM;
    s->kind = b->component;
    s->status = b->status;
    s->minutes = b->minutes;
    projx_day_copy(s->date, b->session_date);
    /* A newly held session moves everyone's expected minutes (all agency
     * topics); otherwise only this person's agency topic changes. */
    projx_mark_cohort(c, !same_held);
    if (same_held)
        projx_mark_ag(c, ev->agency);
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
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref);
    int has_p = b->programme_id && *b->programme_id, has_c = b->cohort_id && *b->cohort_id;
    size_t n = 0, cap = HASH_COUNT(self->cohorts), i;
    target_t *t = NULL;
    char **strs = NULL;
    cohort_t *c, *tmp;
    int rc = -ENOMEM;
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    if (b->kind < 1 || b->kind >= N_PKIND)
        return projx_fail(w, R(BAD_ENUM), "kind is unknown");
    if (has_p && !projx_prog_get(self, b->programme_id))
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (has_p && has_c && !projx_cohort_get(self, b->programme_id, b->cohort_id))
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (cap && !(t = calloc(cap, sizeof *t)))
        return -ENOMEM;
    HASH_ITER(hh, self->cohorts, c, tmp)
    {
        enr_t *e;
        if ((has_p && strcmp(c->prog->id, b->programme_id) != 0) ||
            (has_c && strcmp(c->id, b->cohort_id) != 0))
            continue;
        if ((e = projx_enr_get(c, x)) && projx_enrolled(e) && n < cap)
            t[n++] = (target_t){c, e};
    }
    if (n == 0) {
        rc = has_p || has_c
                 ? projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort")
                 : projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in any cohort");
        goto cleanup;
    }
    if (dry) {
        rc = 0;
        goto cleanup;
    }
    if (!(strs = calloc(2 * n, sizeof *strs)))
        goto cleanup;
    for (i = 0; i < n; i++)
        if (projx_promos_reserve(t[i].e) || !(strs[2 * i] = projx_dup(b->from_grade)) ||
            !(strs[2 * i + 1] = projx_dup(b->to_grade)))
            goto cleanup;
    for (i = 0; i < n; i++) {
        promo_t *pr = &t[i].e->promos[t[i].e->n_promos++];
        pr->kind = b->kind;
        pr->from = strs[2 * i];
        pr->to = strs[2 * i + 1];
        strs[2 * i] = strs[2 * i + 1] = NULL;
        projx_day_copy(pr->on, b->effective_on);
        projx_mark_cohort(t[i].c, 0);
        projx_mark_ag(t[i].c, ev->agency);
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
    prog_t *p = projx_prog_get(self, b->programme_id);
    cohort_t *c = p ? projx_cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref), *m;
    enr_t *e;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    e = projx_enr_get(c, x);
    if (!e || !projx_enrolled(e))
        return projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    m = projx_person_get(self, magency, b->mentor_ref);
    if (strcmp(magency, projx_S(ev->agency)) != 0) {
        if (!m || !projx_is_mentor(m))
            return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                              "no mentor or coach with this ref is registered with mentor_agency");
    } else if (!m) {
        return projx_fail(w, R(UNKNOWN_PARTICIPANT), "mentor is not registered with this agency");
    } else if (!projx_is_mentor(m)) {
        return projx_fail(w, R(WRONG_ROLE), "mentor is registered, but not as a mentor or coach");
    }
    if (m == x)
        return projx_fail(w, R(WRONG_ROLE), "a person cannot be their own mentor");
    if (dry)
        return 0;
    for (size_t i = 0; i < e->n_mentors; i++)
        if (e->mentors[i] == m)
            return 0; /* already assigned: nothing changes */
    if (projx_mentors_reserve(e))
        return -ENOMEM;
    e->mentors[e->n_mentors++] = m;
    c->dirty = 1;
    projx_mark_ag(c, x->agency);
    projx_mark_ag(c, m->agency);
    return 0;
}

/* The enrolment an assessment or award is about: programme (12), cohort
 * (13), the person under the event's agency (14), ENROLLED or COMPLETED
 * there (17). Returns 0 with *cp and *ep set, or the code. */
static int enrolled_target(proj_t *self, const Cohort__V1__Event *ev, const char *pid,
                           const char *cid, const char *ref, why_t *w, cohort_t **cp, enr_t **ep)
{
    prog_t *p = projx_prog_get(self, pid);
    cohort_t *c = p ? projx_cohort_get(self, pid, cid) : NULL;
    person_t *x = projx_person_get(self, ev->agency, ref);
    enr_t *e;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    e = projx_enr_get(c, x);
    if (!e || !projx_enrolled(e))
        return projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    *cp = c;
    *ep = e;
    return 0;
}

/* AssessmentRecorded: the latest result of one piece of an assessed
 * component (docs/status.md). At most count distinct pieces per component;
 * RESUBMITTED only after REFER. */
static int on_assessment(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__AssessmentRecorded *b = ev->assessment_recorded;
    cohort_t *c;
    enr_t *e;
    mark_t *m;
    const comp_t *k;
    char *piece;
    long pieces = 0;
    int rc =
        enrolled_target(self, ev, b->programme_id, b->cohort_id, b->participant_ref, w, &c, &e);
    if (rc)
        return rc;
    if (b->outcome < 1 || b->outcome >= N_OUTCOME)
        return projx_fail(w, R(BAD_ENUM), "outcome is unknown");
    if (!(k = projx_find_comp(&c->prog->def, projx_grp(e->who->d.role), b->component)))
        return projx_fail(w, R(BAD_VALUE), "component %s is not required for the %s role",
                          KIND_NAME(b->component),
                          projx_ename(&cohort__v1__role__descriptor, e->who->d.role));
    if (!k->assessed)
        return projx_fail(w, R(BAD_VALUE), "component %s is not assessed in this programme",
                          KIND_NAME(b->component));
    if (strlen(projx_S(b->piece_id)) > VALIDATE_MAX_ID)
        return projx_fail(w, R(BAD_VALUE), "piece_id is too long");
    m = projx_mark_get(e, b->component, projx_S(b->piece_id));
    for (size_t i = 0; !m && i < e->n_marks; i++)
        pieces += e->marks[i].kind == (int)b->component;
    if (!m && pieces >= (long)k->count)
        return projx_fail(w, R(BAD_VALUE), "component %s has only %u assessed pieces",
                          KIND_NAME(b->component), k->count);
    if (b->outcome == COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_RESUBMITTED &&
        (!m || m->outcome != COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_REFER))
        return projx_fail(w, R(BAD_TRANSITION), "a resubmission follows a referral (REFER)");
    if (dry)
        return 0;
    if (!m) {
        if (projx_marks_reserve(e) || !(piece = projx_dup(b->piece_id)))
            return -ENOMEM;
        m = &e->marks[e->n_marks++];
        *m = (mark_t){b->component, piece, 0, "", 0};
    }
    m->outcome = b->outcome;
    m->attempts++;
    projx_day_copy(m->on, b->assessed_on);
    touched(c, ev->agency);
    return 0;
}

/* AwardMade: only once every assessed component of the role is passed. */
static int on_award(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__AwardMade *b = ev->award_made;
    cohort_t *c;
    enr_t *e;
    char *award;
    int rc =
        enrolled_target(self, ev, b->programme_id, b->cohort_id, b->participant_ref, w, &c, &e);
    if (rc)
        return rc;
    if (!projx_all_passed(&c->prog->def, e))
        return projx_fail(w, R(BAD_TRANSITION),
                          "an award needs every assessed component passed first");
    if (dry)
        return 0;
    if (!(award = projx_dup(b->award)))
        return -ENOMEM;
    free(e->award);
    e->award = award;
    projx_day_copy(e->awarded_on, b->awarded_on);
    touched(c, ev->agency);
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
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref);
    cohort_t *c, *ctmp;
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    if (dry)
        return 0;
    HASH_ITER(hh, self->cohorts, c, ctmp)
    {
        enr_t *e = projx_enr_get(c, x), *o, *otmp;
        int touched = 0;
        if (e) {
            ag_t *a = projx_ag_get(c, x->agency);
            HASH_DEL(c->enrs, e);
            projx_enr_free(e);
            if (a) {
                a->n_enr--;
                a->dirty = 1; /* changed, or removed when no longer live */
            }
            touched = 1;
        }
        HASH_ITER(hh, c->enrs, o, otmp)
        touched |= drop_mentor(o, x);
        if (touched) /* held sessions and mentee counts may move for anyone */
            projx_mark_cohort(c, 1);
    }
    HASH_DEL(self->people, x);
    projx_person_free(x);
    return 0;
}

/* LeaverRecorded: about a person the sending agency registered (no other
 * agency's people: "not registered with this agency", as for any other
 * event). A later one replaces the earlier (a correction). Every topic of
 * a cohort the person is enrolled in may change (retention). */
static int on_leaver(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__LeaverRecorded *b = ev->leaver_recorded;
    person_t *x = projx_person_get(self, ev->agency, b->participant_ref);
    cohort_t *c, *tmp;
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with this agency");
    if (b->reason < 1 || b->reason >= N_LEAVER)
        return projx_fail(w, R(BAD_ENUM), "reason is unknown");
    if (dry)
        return 0;
    projx_day_copy(x->left_on, b->left_on);
    x->left_reason = b->reason;
    HASH_ITER(hh, self->cohorts, c, tmp)
    if (projx_enr_get(c, x)) {
        projx_mark_cohort(c, 0);
        projx_mark_ag(c, x->agency);
    }
    return 0;
}

/* Every programme document may show the agency's workforce: mark them all
 * (baselines and targets are rare). */
static void mark_progs(proj_t *self)
{
    prog_t *p, *tmp;
    HASH_ITER(hh, self->progs, p, tmp)
    p->dirty = 1;
}

/* WorkforceBaseline: the sending agency's own (auth: an agent key of the
 * event's agency). One with an as_at before the agency's current baseline
 * is refused (BAD_VALUE); an equal or later one replaces it whole. */
static int on_baseline(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__WorkforceBaseline *b = ev->workforce_baseline;
    wf_t *f = projx_wf_get(self, ev->agency);
    if (f && *f->as_at && strcmp(b->as_at, f->as_at) < 0)
        return projx_fail(w, R(BAD_VALUE), "as_at is before the agency's current baseline (%s)",
                          f->as_at);
    for (size_t i = 0; i < b->n_categories; i++) {
        if (b->categories[i]->category < 1 || b->categories[i]->category >= N_STAFF)
            return projx_fail(w, R(BAD_ENUM), "categories.category is unknown");
        for (size_t g = 0; g < b->categories[i]->n_groups; g++)
            if (b->categories[i]->groups[g]->group < 1 ||
                b->categories[i]->groups[g]->group >= N_AIM)
                return projx_fail(w, R(BAD_ENUM), "categories.groups.group is unknown");
    }
    if (dry)
        return 0;
    if (!f && !(f = projx_wf_create(self, ev->agency)))
        return -ENOMEM;
    projx_day_copy(f->as_at, b->as_at);
    for (int k = 0; k < N_STAFF; k++) {
        f->head[k] = 0;
        for (int g = 0; g < N_AIM; g++)
            f->count[k][g] = -1;
    }
    for (size_t i = 0; i < b->n_categories; i++) {
        const Cohort__V1__WorkforceCategory *c = b->categories[i];
        f->head[c->category] = c->headcount;
        for (size_t g = 0; g < c->n_groups; g++)
            f->count[c->category][c->groups[g]->group] = c->groups[g]->count;
    }
    mark_progs(self);
    return 0;
}

/* WorkforceTarget: the sending agency's own; a later one for the same
 * (group, category) replaces the earlier. */
static int on_target(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__WorkforceTarget *b = ev->workforce_target;
    wf_t *f = projx_wf_get(self, ev->agency);
    if (b->group < 1 || b->group >= N_AIM || (int)b->category < 0 || b->category >= N_STAFF)
        return projx_fail(w, R(BAD_ENUM), "group or category is unknown");
    if (dry)
        return 0;
    if (!f && !(f = projx_wf_create(self, ev->agency)))
        return -ENOMEM;
    f->target[b->category][b->group] = b->basis_points;
    projx_day_copy(f->by[b->category][b->group], b->by);
    mark_progs(self);
    return 0;
}

/* PlanAgreed: about an enrolled participant of the sending agency. A later
 * plan replaces the earlier (objectives, options, agreed_on) and sets the
 * next review's due date to its review_on. */
static int on_plan(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__PlanAgreed *b = ev->plan_agreed;
    cohort_t *c;
    enr_t *e;
    int opts[VALIDATE_MAX_OPTIONS];
    int rc =
        enrolled_target(self, ev, b->programme_id, b->cohort_id, b->participant_ref, w, &c, &e);
    if (rc)
        return rc;
    if (b->n_objectives > VALIDATE_MAX_OBJECTIVES || b->n_options > VALIDATE_MAX_OPTIONS)
        return projx_fail(w, R(TOO_LONG), "too many objectives or options");
    for (size_t i = 0; i < b->n_options; i++) {
        if (b->options[i] < 1 || b->options[i] >= N_POPT)
            return projx_fail(w, R(BAD_ENUM), "options[] is unknown");
        opts[i] = (int)b->options[i];
    }
    for (size_t i = 0; i < b->n_objectives; i++)
        if (strlen(projx_S(b->objectives[i])) > VALIDATE_MAX_ID)
            return projx_fail(w, R(BAD_VALUE), "objectives[] is too long");
    if (dry)
        return 0;
    if (projx_plan_set(e, b->agreed_on, b->objectives, b->n_objectives, opts, b->n_options))
        return -ENOMEM;
    projx_day_copy(e->review_due, b->review_on);
    touched(c, ev->agency);
    return 0;
}

/* ReviewRecorded: needs a plan, on or after its agreed_on; the next review
 * is due by next_review_on, or none if it is empty. */
static int on_review(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__ReviewRecorded *b = ev->review_recorded;
    cohort_t *c;
    enr_t *e;
    int rc =
        enrolled_target(self, ev, b->programme_id, b->cohort_id, b->participant_ref, w, &c, &e);
    if (rc)
        return rc;
    if (b->outcome < 1 || b->outcome >= N_REVIEW)
        return projx_fail(w, R(BAD_ENUM), "outcome is unknown");
    if (!e->plan_on[0])
        return projx_fail(w, R(BAD_TRANSITION), "a review needs an agreed plan (PlanAgreed)");
    if (strcmp(projx_S(b->reviewed_on), e->plan_on) < 0)
        return projx_fail(w, R(BAD_VALUE), "reviewed_on is before the plan's agreed_on");
    if (dry)
        return 0;
    projx_day_copy(e->reviewed_on, b->reviewed_on);
    e->review_outcome = b->outcome;
    e->n_reviews++;
    projx_day_copy(e->review_due, projx_S(b->next_review_on));
    touched(c, ev->agency);
    return 0;
}

/* BoardDecision: sent with a key owning the programme (ingest checks it at
 * write time; the log replays without keys), about an enrolled person of
 * participant_agency. BOARD_REMOVAL needs the enrolment ENROLLED and moves
 * it to REMOVED_BY_BOARD, as EnrolmentChanged to that stage does. */
static int on_decision(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
{
    const Cohort__V1__BoardDecision *b = ev->board_decision;
    prog_t *p = projx_prog_get(self, b->programme_id);
    cohort_t *c = p ? projx_cohort_get(self, b->programme_id, b->cohort_id) : NULL;
    person_t *x = projx_person_get(self, b->participant_agency, b->participant_ref);
    enr_t *e;
    int removal = b->decision == COHORT__V1__BOARD_DECISION_KIND__BOARD_REMOVAL;
    if (!p)
        return projx_fail(w, R(UNKNOWN_PROGRAMME), "programme is not defined");
    if (!c)
        return projx_fail(w, R(UNKNOWN_COHORT), "cohort is not open");
    if (!x)
        return projx_fail(w, R(UNKNOWN_PARTICIPANT),
                          "participant is not registered with participant_agency");
    e = projx_enr_get(c, x);
    if (!e || !projx_enrolled(e))
        return projx_fail(w, R(NOT_ENROLLED), "participant is not enrolled in this cohort");
    if (b->decision < 1 || b->decision >= N_BKIND)
        return projx_fail(w, R(BAD_ENUM), "decision is unknown");
    if (b->reason < 1 || b->reason >= N_BREASON)
        return projx_fail(w, R(BAD_ENUM), "reason is unknown");
    if (removal && e->stage != STG(ENROLLED))
        return projx_fail(w, R(BAD_TRANSITION), "cannot go from %s to %s", STAGE_NAME(e->stage),
                          STAGE_NAME(STG(REMOVED_BY_BOARD)));
    if (dry)
        return 0;
    e->decisions[b->decision][b->reason]++;
    if (removal)
        e->stage = STG(REMOVED_BY_BOARD), e->reached = projx_reached(e->reached, e->stage);
    projx_mark_cohort(c, 0);
    projx_mark_ag(c, x->agency);
    return 0;
}

int projx_dispatch(proj_t *self, const Cohort__V1__Event *ev, why_t *w, int dry)
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
    case COHORT__V1__EVENT__BODY_ASSESSMENT_RECORDED:
        if (ev->assessment_recorded)
            return on_assessment(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_AWARD_MADE:
        if (ev->award_made)
            return on_award(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_LEAVER_RECORDED:
        if (ev->leaver_recorded)
            return on_leaver(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_WORKFORCE_BASELINE:
        if (ev->workforce_baseline)
            return on_baseline(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_WORKFORCE_TARGET:
        if (ev->workforce_target)
            return on_target(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_PLAN_AGREED:
        if (ev->plan_agreed)
            return on_plan(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_REVIEW_RECORDED:
        if (ev->review_recorded)
            return on_review(self, ev, w, dry);
        break;
    case COHORT__V1__EVENT__BODY_BOARD_DECISION:
        if (ev->board_decision)
            return on_decision(self, ev, w, dry);
        break;
    default:
        break;
    }
    return projx_fail(w, R(NO_BODY), "no body, or a body type this daemon does not know");
}
