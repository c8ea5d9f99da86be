/* proj_people.c: the agency documents, `agency/<agency>/<programme>/<cohort>`:
 * an agency's own people in one cohort, one by one (docs/status.md). Only
 * the agency's HR reads them (auth); nothing here is published to a board.
 * Rendering functions return a malloc'd string or NULL (out of memory). */
#include "proj_int.h"

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

static int mark_cmp(const void *a, const void *b)
{
    const mark_t *x = *(const mark_t *const *)a, *y = *(const mark_t *const *)b;
    return x->kind != y->kind ? x->kind - y->kind : strcmp(x->piece, y->piece);
}

/* e's assessment results, by component kind then piece id. */
static json_t *marks_json(const enr_t *e)
{
    json_t *l = json_array();
    const mark_t **v = malloc((e->n_marks + 1) * sizeof *v);
    int err = !l || !v;
    for (size_t i = 0; !err && i < e->n_marks; i++)
        v[i] = &e->marks[i];
    if (!err)
        qsort(v, e->n_marks, sizeof *v, mark_cmp);
    for (size_t i = 0; !err && i < e->n_marks; i++)
        err |= json_array_append_new(
            l, json_pack("{s:s,s:s,s:s,s:s,s:i}", "component", KIND_NAME(v[i]->kind), "piece",
                         v[i]->piece, "outcome", OUTCOME_NAME(v[i]->outcome), "assessed_on",
                         v[i]->on, "attempts", v[i]->attempts));
    free(v);
    if (err)
        return json_decref(l), NULL;
    return l;
}

/* e's plan and reviews for its agency's topic (docs/status.md, "plan"):
 * null if no plan was agreed. */
static json_t *plan_json(const proj_t *self, const enr_t *e)
{
    json_t *o, *obj = json_array(), *opt = json_array();
    char today[11];
    int err = !obj || !opt;
    if (!e->plan_on[0]) {
        json_decref(obj);
        json_decref(opt);
        return json_null();
    }
    projx_date_of_us(self->as_of, today);
    for (size_t i = 0; i < e->n_objectives; i++)
        err |= json_array_append_new(obj, json_string(e->objectives[i]));
    for (size_t i = 0; i < e->n_options; i++)
        err |= json_array_append_new(
            opt, json_string(projx_ename(&cohort__v1__plan_option__descriptor, e->options[i])));
    o = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:o, s:I, s:b}", "agreed_on", e->plan_on, "objectives", obj,
        "options", opt, "review_due", e->review_due[0] ? json_string(e->review_due) : json_null(),
        "last_review_on", e->reviewed_on[0] ? json_string(e->reviewed_on) : json_null(),
        "last_review_outcome",
        e->review_outcome
            ? json_string(projx_ename(&cohort__v1__review_outcome__descriptor, e->review_outcome))
            : json_null(),
        "reviews", (json_int_t)e->n_reviews, "review_overdue", projx_review_overdue(e, today));
    if (err || !o)
        return json_decref(o), NULL;
    return o;
}

static json_t *person_json(const proj_t *self, const cohort_t *c, enr_t *const *es, size_t ne,
                           const enr_t *e, long held[2][N_KIND])
{
    json_t *o = json_object(), *comps = json_object(), *promos = json_array();
    const pdef_t *d = &c->prog->def;
    int g = projx_grp(e->who->d.role), err = 0;
    long mentees = 0;
    pord_t *ord = NULL;
    assess_t a;
    projx_assess(self, c, e, held, &a);
    for (size_t i = 0; i < ne; i++)
        for (size_t j = 0; j < es[i]->n_mentors; j++)
            mentees += es[i]->mentors[j] == e->who;
    for (size_t i = 0; i < d->n_req[g]; i++) {
        int k = d->req[g][i].kind;
        json_t *co = json_object();
        err |= json_object_set_new(co, "credited", json_integer(a.cred[k]));
        err |= json_object_set_new(co, "required", json_integer(a.req[k]));
        err |= json_object_set_new(co, "sessions", json_integer(a.sessions[k]));
        err |= json_object_set_new(co, "unit", json_string(UNIT_NAME(d->req[g][i].unit)));
        err |= json_object_set_new(co, "met", json_boolean(a.met[k]));
        if (d->req[g][i].assessed)
            err |= json_object_set_new(co, "passed", json_integer(a.passed[k]));
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
        err |= json_object_set_new(po, "from", json_string(projx_S(ord[i].p->from)));
        err |= json_object_set_new(po, "to", json_string(projx_S(ord[i].p->to)));
        err |= json_object_set_new(po, "effective_on", json_string(ord[i].p->on));
        err |= json_array_append_new(promos, po);
    }
    free(ord);
    err |= json_object_set_new(o, "assessments", marks_json(e));
    err |= json_object_set_new(o, "requirements_met", json_boolean(a.complete));
    err |= json_object_set_new(
        o, "award",
        e->award ? json_pack("{s:s,s:s}", "award", e->award, "awarded_on", e->awarded_on)
                 : json_null());
    err |= json_object_set_new(o, "ref", json_string(e->who->ref));
    err |= json_object_set_new(
        o, "role", json_string(projx_ename(&cohort__v1__role__descriptor, e->who->d.role)));
    err |= json_object_set_new(o, "stage", json_string(STAGE_NAME(e->stage)));
    err |= json_object_set_new(o, "enrolled_on",
                               e->enrolled_on[0] ? json_string(e->enrolled_on) : json_null());
    err |= json_object_set_new(o, "completion", projx_ratio_json(a.credited, a.required));
    err |= json_object_set_new(o, "credited_minutes", json_integer(a.credited));
    err |= json_object_set_new(o, "required_minutes", json_integer(a.required));
    err |= json_object_set_new(o, "expected_minutes", json_integer(a.expected));
    err |= json_object_set_new(o, "components", comps);
    err |= json_object_set_new(o, "at_risk", json_boolean(a.at_risk));
    err |= json_object_set_new(o, "promotions", promos);
    err |= json_object_set_new(o, "mentors", json_integer((json_int_t)e->n_mentors));
    err |= json_object_set_new(o, "mentees", json_integer(mentees));
    err |= json_object_set_new(o, "left_on",
                               e->who->left_on[0] ? json_string(e->who->left_on) : json_null());
    err |= json_object_set_new(
        o, "left_reason",
        e->who->left_reason
            ? json_string(projx_ename(&cohort__v1__leaver_reason__descriptor, e->who->left_reason))
            : json_null());
    err |= json_object_set_new(o, "plan", plan_json(self, e));
    if (err)
        return json_decref(o), NULL;
    return o;
}

char *projx_render_agency(const proj_t *self, const cohort_t *c, const ag_t *ag)
{
    json_t *doc = json_object(), *people = json_array();
    long held[2][N_KIND];
    enr_t **es = NULL;
    size_t ne = 0;
    int err = projx_held_sessions(c, held) || projx_enrs_of(c, &es, &ne);
    for (size_t i = 0; !err && i < ne; i++)
        if (strcmp(es[i]->who->agency, ag->id) == 0)
            err |= json_array_append_new(people, person_json(self, c, es, ne, es[i], held));
    err |= json_object_set_new(doc, "agency", json_string(ag->id));
    err |= json_object_set_new(doc, "programme", json_string(c->prog->id));
    err |= json_object_set_new(doc, "programme_name", json_string(c->prog->def.name));
    err |= json_object_set_new(doc, "cohort", json_string(c->id));
    err |= json_object_set_new(doc, "people", people);
    free(es);
    if (err)
        return json_decref(doc), NULL;
    return projx_dump(doc);
}
