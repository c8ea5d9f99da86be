/* proj_state.c: the projection's checkpoint state, proj_save and proj_load
 * (see proj.h, checkpoint.h).
 *
 * proj_save writes the whole state as one JSON document in sorted order,
 * so equal states give equal bytes. proj_load validates everything it reads
 * (types, ranges, ids, dates, references) and on any error leaves the
 * projection empty and returns a negative errno; it never trusts the text.
 *
 * Format versions: 1 had no "reached" per enrolment (how far through
 * selection a person got, which a NOT_SELECTED, WITHDRAWN or DECLINED
 * stage no longer says); 2 adds it, and each person's "left_on" and
 * "left_reason" (LeaverRecorded; "" and 0 if none), each enrolment's
 * "plan", "review" and "decisions" (issue 18 section 3), and the top-level
 * "workforce" (agencies' baselines and targets, required). A version 1 checkpoint cannot tell it,
 * so proj_load refuses it (-EINVAL) and the daemon replays the whole log
 * instead (checkpoint.c), which rebuilds it exactly. Version 3 adds each
 * cohort's "opened" month and "history" rows (proj_hist.c); a version 2
 * checkpoint still loads, with no rows, each cohort's history starting
 * from the loaded log clock's month (so a rebuild from the log, which has
 * the earlier rows, differs from it in them until it is saved again from
 * a rebuild). */
#include "proj_int.h"

/* The format written and read. Version 2 (issue 18) adds each component's
 * unit and assessed flag, and each enrolment's assessments, award, furthest
 * selection stage and leaving; a version 1 checkpoint cannot say how far a
 * person got, so it is refused and the daemon replays the log instead
 * (checkpoint_restore), which rebuilds the same state. */
#define PROJ_STATE_VERSION 3 /* 3: the monthly history; 2 still loads */

/* ------------------------------------------------------ save / load --- */

int projx_prog_cmp(const void *a, const void *b)
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
            err |= json_array_append_new(l, json_pack("[iIIsib]", c->kind, (json_int_t)c->count,
                                                      (json_int_t)c->minutes, projx_S(c->label),
                                                      c->unit, c->assessed));
        }
        err |= json_array_append_new(req, l);
    }
    for (size_t i = 0; i < p->def.n_aims; i++)
        err |= json_array_append_new(
            aims, json_pack("[ii]", p->def.aims[i].group, (int)p->def.aims[i].pct));
    err |= json_object_set_new(o, "id", json_string(p->id));
    err |= json_object_set_new(o, "name", json_string(projx_S(p->def.name)));
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
    if (c->opened_month > 0) {
        char m[8];
        snprintf(m, sizeof m, "%04u-%02u", (unsigned)(c->opened_month / 12) % 10000u,
                 (unsigned)(c->opened_month % 12) + 1);
        err |= json_object_set_new(o, "opened", json_string(m));
        err |= json_object_set_new(o, "history", projx_history_save(c));
    }
    return err ? (json_decref(o), NULL) : o;
}

static json_t *save_person(const person_t *x)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:s, s:b, s:s, s:i}", "agency",
                     x->agency, "ref", x->ref, "role", x->d.role, "ethnicity", x->d.eth, "gender",
                     x->d.gender, "disability", x->d.disability, "age_band", x->d.age,
                     "orientation", x->d.orientation, "religion", x->d.religion, "grade",
                     projx_S(x->d.grade), "officer", x->d.officer, "left_on", x->left_on,
                     "left_reason", x->left_reason);
}

/* An enrolment's plan, reviews and board decisions (format 2): "plan" (null
 * or {agreed_on, objectives, options}), "review" ({due, on, outcome, n})
 * and "decisions" ([[kind, reason, count]], the non-zero counts). */
static int save_plan(json_t *o, const enr_t *e)
{
    json_t *pl = json_null(), *obj = json_array(), *opt = json_array(), *ds = json_array();
    int err = !obj || !opt || !ds;
    for (size_t i = 0; i < e->n_objectives; i++)
        err |= json_array_append_new(obj, json_string(e->objectives[i]));
    for (size_t i = 0; i < e->n_options; i++)
        err |= json_array_append_new(opt, json_integer(e->options[i]));
    if (e->plan_on[0]) {
        pl = json_pack("{s:s, s:O, s:O}", "agreed_on", e->plan_on, "objectives", obj, "options",
                       opt);
        err |= !pl;
    }
    json_decref(obj);
    json_decref(opt);
    for (int k = 1; k < N_BKIND; k++)
        for (int r = 1; r < N_BREASON; r++)
            if (e->decisions[k][r])
                err |= json_array_append_new(
                    ds, json_pack("[iiI]", k, r, (json_int_t)e->decisions[k][r]));
    err |= json_object_set_new(o, "plan", pl ? pl : json_null());
    err |= json_object_set_new(o, "review",
                               json_pack("{s:s, s:s, s:i, s:I}", "due", e->review_due, "on",
                                         e->reviewed_on, "outcome", e->review_outcome, "n",
                                         (json_int_t)e->n_reviews));
    err |= json_object_set_new(o, "decisions", ds);
    return err ? -1 : 0;
}

static json_t *save_enr(const cohort_t *c, const enr_t *e)
{
    json_t *o = json_object(), *ss = json_array(), *ps = json_array(), *ms = json_array(),
           *as = json_array();
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
        err |= json_array_append_new(ps, json_pack("[isss]", e->promos[i].kind,
                                                   projx_S(e->promos[i].from),
                                                   projx_S(e->promos[i].to), e->promos[i].on));
    for (size_t i = 0; i < e->n_mentors; i++)
        err |=
            json_array_append_new(ms, json_pack("[ss]", e->mentors[i]->agency, e->mentors[i]->ref));
    for (size_t i = 0; i < e->n_marks; i++)
        err |= json_array_append_new(as, json_pack("[isisi]", e->marks[i].kind, e->marks[i].piece,
                                                   e->marks[i].outcome, e->marks[i].on,
                                                   e->marks[i].attempts));
    err |= json_object_set_new(o, "assessments", as);
    err |= json_object_set_new(o, "award",
                               e->award ? json_pack("[ss]", e->award, e->awarded_on) : json_null());
    err |= save_plan(o, e);
    err |= json_object_set_new(o, "programme", json_string(c->prog->id));
    err |= json_object_set_new(o, "cohort", json_string(c->id));
    err |= json_object_set_new(o, "agency", json_string(e->who->agency));
    err |= json_object_set_new(o, "ref", json_string(e->who->ref));
    err |= json_object_set_new(o, "stage", json_integer(e->stage));
    err |= json_object_set_new(o, "reached", json_integer(e->reached));
    err |= json_object_set_new(o, "enrolled_on", json_string(e->enrolled_on));
    err |= json_object_set_new(o, "sessions", ss);
    err |= json_object_set_new(o, "promotions", ps);
    err |= json_object_set_new(o, "mentors", ms);
    return err ? (json_decref(o), NULL) : o;
}

/* An agency's workforce: {"agency", "as_at" ("" if no baseline),
 * "categories": [[category, headcount, [[group, count]...]]...],
 * "targets": [[category, group, basis_points, by ("" if none)]...]}. */
static json_t *save_wf(const wf_t *f)
{
    json_t *cats = json_array(), *tg = json_array();
    int err = 0;
    for (int k = 1; k < N_STAFF; k++) {
        json_t *gs;
        if (!f->head[k])
            continue;
        gs = json_array();
        for (int g = 1; g < N_AIM; g++)
            if (f->count[k][g] >= 0)
                err |= json_array_append_new(gs, json_pack("[iI]", g, (json_int_t)f->count[k][g]));
        err |= json_array_append_new(cats, json_pack("[iIo]", k, (json_int_t)f->head[k], gs));
    }
    for (int k = 0; k < N_STAFF; k++)
        for (int g = 1; g < N_AIM; g++)
            if (f->target[k][g])
                err |= json_array_append_new(
                    tg, json_pack("[iiIs]", k, g, (json_int_t)f->target[k][g], f->by[k][g]));
    if (err) {
        json_decref(cats);
        json_decref(tg);
        return NULL;
    }
    return json_pack("{s:s, s:s, s:o, s:o}", "agency", f->agency, "as_at", f->as_at, "categories",
                     cats, "targets", tg);
}

static int wf_cmp(const void *a, const void *b)
{
    return strcmp((*(wf_t *const *)a)->agency, (*(wf_t *const *)b)->agency);
}

char *proj_save(const proj_t *self)
{
    json_t *doc, *progs = json_array(), *cohorts = json_array(), *people = json_array(),
                 *enrs = json_array();
    size_t np = 0, nc = 0, nx = 0;
    prog_t **pv = NULL, *p, *ptmp, *phead;
    cohort_t **cv = NULL, *c, *ctmp, *chead;
    person_t **xv = NULL, *x, *xtmp, *xhead;
    wf_t **fv = NULL, *f, *ftmp, *fhead;
    json_t *wfs = json_array();
    size_t nf = 0;
    int err = 0;
    if (!self) {
        json_decref(progs);
        json_decref(cohorts);
        json_decref(people);
        json_decref(enrs);
        json_decref(wfs);
        return NULL;
    }
    fhead = self->wf;
    phead = self->progs;
    chead = self->cohorts;
    xhead = self->people;
    doc = json_object();
    pv = malloc((HASH_COUNT(phead) + 1) * sizeof *pv);
    cv = malloc((HASH_COUNT(chead) + 1) * sizeof *cv);
    xv = malloc((HASH_COUNT(xhead) + 1) * sizeof *xv);
    fv = malloc((HASH_COUNT(fhead) + 1) * sizeof *fv);
    if (!pv || !cv || !xv || !fv) {
        err = 1;
        goto cleanup;
    }
    HASH_ITER(hh, phead, p, ptmp)
    pv[np++] = p;
    HASH_ITER(hh, chead, c, ctmp)
    cv[nc++] = c;
    HASH_ITER(hh, xhead, x, xtmp)
    xv[nx++] = x;
    qsort(pv, np, sizeof *pv, projx_prog_cmp);
    qsort(cv, nc, sizeof *cv, ckey_cmp);
    qsort(xv, nx, sizeof *xv, projx_person_cmp);
    HASH_ITER(hh, fhead, f, ftmp)
    fv[nf++] = f;
    qsort(fv, nf, sizeof *fv, wf_cmp);
    for (size_t i = 0; i < nf; i++)
        err |= json_array_append_new(wfs, save_wf(fv[i]));
    for (size_t i = 0; i < np; i++)
        err |= json_array_append_new(progs, save_prog(pv[i]));
    for (size_t i = 0; i < nx; i++)
        err |= json_array_append_new(people, save_person(xv[i]));
    for (size_t i = 0; !err && i < nc; i++) {
        enr_t **es;
        size_t ne;
        err |= json_array_append_new(cohorts, save_cohort(cv[i]));
        if (projx_enrs_of(cv[i], &es, &ne)) {
            err = 1;
            break;
        }
        for (size_t j = 0; j < ne; j++)
            err |= json_array_append_new(enrs, save_enr(cv[i], es[j]));
        free(es);
    }
cleanup:
    err |= json_object_set_new(doc, "format", json_string("cohortd-proj"));
    err |= json_object_set_new(doc, "version", json_integer(PROJ_STATE_VERSION));
    err |= json_object_set_new(doc, "seq", json_integer((json_int_t)self->seq));
    err |= json_object_set_new(doc, "as_of", json_integer(self->as_of));
    err |= json_object_set_new(doc, "programmes", progs);
    err |= json_object_set_new(doc, "cohorts", cohorts);
    err |= json_object_set_new(doc, "people", people);
    err |= json_object_set_new(doc, "enrolments", enrs);
    err |= json_object_set_new(doc, "workforce", wfs);
    err |= json_object_set_new(doc, "releases", release_save(self->rel));
    free(fv);
    free(pv);
    free(cv);
    free(xv);
    if (err)
        return json_decref(doc), NULL;
    return projx_dump(doc);
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
        long long k, cnt, min, unit = 0;
        int assessed = 0;
        const char *label = json_string_value(json_array_get(c, 3));
        if (json_array_size(c) != 6 || gi(json_array_get(c, 0), 1, N_KIND - 1, &k) ||
            gi(json_array_get(c, 1), 1, UINT32_MAX, &cnt) || !label || seen[k]++)
            break;
        if (gi(json_array_get(c, 4), 0, N_UNIT - 1, &unit) ||
            !json_is_boolean(json_array_get(c, 5)))
            break;
        assessed = json_is_true(json_array_get(c, 5));
        if (gi(json_array_get(c, 2), unit ? 0 : 1, unit ? 0 : UINT32_MAX, &min))
            break;
        v[i] = (comp_t){(int)k, (uint32_t)cnt, (uint32_t)min, strdup(label), (int)unit, assessed};
        if (!v[i].label) {
            projx_comps_free(v, i);
            return -ENOMEM;
        }
    }
    if (i < n) {
        projx_comps_free(v, i);
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
    if (!idok(id) || !name || projx_prog_get(self, id) || json_array_size(req) != 2 ||
        !json_is_array(aims) || gi(json_object_get(o, "months"), 0, UINT32_MAX, &months))
        return -EINVAL;
    if (!(p = projx_prog_create(self, id)))
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
    ag_t *a = projx_ag_get(c, agency), *v;
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
    prog_t *p = pid ? projx_prog_get(self, pid) : NULL;
    long long places;
    cohort_t *c;
    if (!p || !idok(cid) || projx_cohort_get(self, pid, cid) || !dateok(st) || !dateok(en) ||
        !json_is_array(ags) || gi(json_object_get(o, "places"), 0, UINT32_MAX, &places))
        return -EINVAL;
    if (!(c = projx_cohort_create(self, p, cid)))
        return -ENOMEM;
    c->def.places = (uint32_t)places;
    projx_day_copy(c->def.starts, st);
    projx_day_copy(c->def.ends, en);
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
    /* format version 3: the monthly history (proj_hist.c) */
    if (json_object_get(o, "opened") || json_object_get(o, "history"))
        return projx_history_load(c, gs(o, "opened"), json_object_get(o, "history"));
    return 0;
}

static int load_person(proj_t *self, json_t *o)
{
    const char *agency = gs(o, "agency"), *ref = gs(o, "ref"), *grade = gs(o, "grade");
    const char *left = gs(o, "left_on");
    json_t *officer = json_object_get(o, "officer");
    long long role, eth, gen, dis, age, ori, rel, why;
    person_t *x;
    if (!idok(agency) || !idok(ref) || !grade || !json_is_boolean(officer) ||
        projx_person_get(self, agency, ref) || gi(json_object_get(o, "role"), 1, 3, &role) ||
        gi(json_object_get(o, "ethnicity"), 0, 17, &eth) || /* 0: sealed, key gone */
        gi(json_object_get(o, "gender"), 0, 4, &gen) ||
        gi(json_object_get(o, "disability"), 0, 3, &dis) ||
        gi(json_object_get(o, "age_band"), 0, 6, &age) ||
        gi(json_object_get(o, "orientation"), 0, 4, &ori) ||
        gi(json_object_get(o, "religion"), 0, 9, &rel) || !left || (*left && !dateok(left)) ||
        gi(json_object_get(o, "left_reason"), *left ? 1 : 0, *left ? N_LEAVER - 1 : 0, &why))
        return -EINVAL;
    if (!(x = projx_person_create(self, agency, ref)))
        return -ENOMEM;
    projx_day_copy(x->left_on, left);
    x->left_reason = (int)why;
    x->d = (pdata_t){(int)role,    (int)eth, (int)gen, (int)dis,
                     (int)age,     (int)ori, (int)rel, json_is_true(officer),
                     strdup(grade)};
    return x->d.grade ? 0 : -ENOMEM;
}

/* An enrolment's plan, reviews and board decisions (format 2, required;
 * see save_plan). */
static int load_plan(enr_t *e, json_t *o)
{
    json_t *pl = json_object_get(o, "plan"), *rv = json_object_get(o, "review"),
           *ds = json_object_get(o, "decisions");
    const char *due = gs(rv, "due"), *on = gs(rv, "on");
    long long outcome, n;
    if (!pl || !json_is_object(rv) || !json_is_array(ds) || !due || !on || (*due && !dateok(due)) ||
        (*on && !dateok(on)) ||
        gi(json_object_get(rv, "outcome"), *on ? 1 : 0, *on ? N_REVIEW - 1 : 0, &outcome) ||
        gi(json_object_get(rv, "n"), *on ? 1 : 0, *on ? INT32_MAX : 0, &n))
        return -EINVAL;
    projx_day_copy(e->review_due, due);
    projx_day_copy(e->reviewed_on, on);
    e->review_outcome = (int)outcome;
    e->n_reviews = (long)n;
    for (size_t i = 0; i < json_array_size(ds); i++) {
        json_t *a = json_array_get(ds, i);
        long long k, r, c;
        if (json_array_size(a) != 3 || gi(json_array_get(a, 0), 1, N_BKIND - 1, &k) ||
            gi(json_array_get(a, 1), 1, N_BREASON - 1, &r) ||
            gi(json_array_get(a, 2), 1, INT32_MAX, &c) || e->decisions[k][r])
            return -EINVAL;
        e->decisions[k][r] = (long)c;
    }
    if (json_is_null(pl))
        return *on || *due ? -EINVAL : 0; /* a review or a due date needs a plan */
    const char *agreed = gs(pl, "agreed_on");
    json_t *obj = json_object_get(pl, "objectives"), *opt = json_object_get(pl, "options");
    char *objs[VALIDATE_MAX_OBJECTIVES];
    int opts[VALIDATE_MAX_OPTIONS];
    if (!dateok(agreed) || !json_is_array(obj) || !json_is_array(opt) ||
        json_array_size(obj) > VALIDATE_MAX_OBJECTIVES ||
        json_array_size(opt) > VALIDATE_MAX_OPTIONS)
        return -EINVAL;
    for (size_t i = 0; i < json_array_size(obj); i++)
        if (!idok(objs[i] = (char *)json_string_value(json_array_get(obj, i))))
            return -EINVAL;
    for (size_t i = 0; i < json_array_size(opt); i++) {
        long long v;
        if (gi(json_array_get(opt, i), 1, N_POPT - 1, &v))
            return -EINVAL;
        opts[i] = (int)v;
    }
    return projx_plan_set(e, agreed, objs, json_array_size(obj), opts, json_array_size(opt));
}

/* An enrolment's assessments and award (format version 2). */
static int load_v2_enr(enr_t *e, json_t *o)
{
    int rc = load_plan(e, o);
    if (rc)
        return rc;
    json_t *as = json_object_get(o, "assessments"), *aw = json_object_get(o, "award");
    if (!json_is_array(as) || !aw)
        return -EINVAL;
    for (size_t i = 0; i < json_array_size(as); i++) {
        json_t *a = json_array_get(as, i);
        const char *piece = json_string_value(json_array_get(a, 1));
        const char *on = json_string_value(json_array_get(a, 3));
        long long kind, outcome, attempts;
        if (json_array_size(a) != 5 || !idok(piece) || !dateok(on) ||
            gi(json_array_get(a, 0), 1, N_KIND - 1, &kind) ||
            gi(json_array_get(a, 2), 1, N_OUTCOME - 1, &outcome) ||
            gi(json_array_get(a, 4), 1, INT32_MAX, &attempts) ||
            projx_mark_get(e, (int)kind, piece))
            return -EINVAL;
        if (projx_marks_reserve(e))
            return -ENOMEM;
        e->marks[e->n_marks] = (mark_t){(int)kind, strdup(piece), (int)outcome, "", (int)attempts};
        if (!e->marks[e->n_marks].piece)
            return -ENOMEM;
        projx_day_copy(e->marks[e->n_marks++].on, on);
    }
    if (json_is_null(aw))
        return 0;
    if (json_array_size(aw) != 2 || !json_string_value(json_array_get(aw, 0)) ||
        !dateok(json_string_value(json_array_get(aw, 1))))
        return -EINVAL;
    if (!(e->award = strdup(json_string_value(json_array_get(aw, 0)))))
        return -ENOMEM;
    projx_day_copy(e->awarded_on, json_string_value(json_array_get(aw, 1)));
    return 0;
}

static int load_enr(proj_t *self, json_t *o)
{
    const char *pid = gs(o, "programme"), *cid = gs(o, "cohort"), *on = gs(o, "enrolled_on");
    cohort_t *c = pid && cid ? projx_cohort_get(self, pid, cid) : NULL;
    person_t *x = projx_person_get(self, gs(o, "agency"), gs(o, "ref"));
    json_t *ss = json_object_get(o, "sessions"), *ps = json_object_get(o, "promotions"),
           *ms = json_object_get(o, "mentors");
    long long stage, reached;
    enr_t *e;
    ag_t *ag;
    if (!c || !x || !gs(o, "agency") || !gs(o, "ref") || projx_enr_get(c, x) || !on ||
        (*on && !dateok(on)) || !json_is_array(ss) || !json_is_array(ps) || !json_is_array(ms) ||
        gi(json_object_get(o, "stage"), 1, N_STAGE - 1, &stage) ||
        gi(json_object_get(o, "reached"), STG(APPLIED), STG(ENROLLED), &reached))
        return -EINVAL;
    /* a stage of the pipeline, COMPLETED or REMOVED_BY_BOARD fixes it */
    if (projx_reached(0, (int)stage) && reached != projx_reached(0, (int)stage))
        return -EINVAL;
    if (!(ag = ag_add(c, x->agency)) || !(e = projx_enr_create(c, x)))
        return -ENOMEM;
    ag->n_enr++;
    e->stage = (int)stage;
    e->reached = (int)reached;
    projx_day_copy(e->enrolled_on, on);
    for (size_t i = 0; i < json_array_size(ss); i++) {
        json_t *a = json_array_get(ss, i);
        const char *id = json_string_value(json_array_get(a, 0));
        const char *date = json_string_value(json_array_get(a, 2));
        long long kind, status, minutes;
        sess_t *s;
        if (json_array_size(a) != 5 || !idok(id) || !dateok(date) || projx_sess_get(e, id) ||
            gi(json_array_get(a, 1), 1, N_KIND - 1, &kind) ||
            gi(json_array_get(a, 3), 1, 4, &status) ||
            gi(json_array_get(a, 4), 0, UINT32_MAX, &minutes))
            return -EINVAL;
        if (!(s = projx_sess_create(e, id)))
            return -ENOMEM;
        s->kind = (int)kind;
        s->status = (int)status;
        s->minutes = (uint32_t)minutes;
        projx_day_copy(s->date, date);
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
        if (projx_promos_reserve(e))
            return -ENOMEM;
        pr = &e->promos[e->n_promos];
        *pr = (promo_t){(int)kind, strdup(from), strdup(to), ""};
        e->n_promos++;
        if (!pr->from || !pr->to)
            return -ENOMEM;
        projx_day_copy(pr->on, eff);
    }
    for (size_t i = 0; i < json_array_size(ms); i++) {
        json_t *a = json_array_get(ms, i);
        person_t *m = projx_person_get(self, json_string_value(json_array_get(a, 0)),
                                       json_string_value(json_array_get(a, 1)));
        if (json_array_size(a) != 2 || !json_is_string(json_array_get(a, 0)) ||
            !json_is_string(json_array_get(a, 1)) || !m)
            return -EINVAL;
        if (projx_mentors_reserve(e))
            return -ENOMEM;
        e->mentors[e->n_mentors++] = m;
    }
    return load_v2_enr(e, o);
}

/* One agency's workforce (save_wf); its categories and targets each once. */
static int load_wf(proj_t *self, json_t *o)
{
    const char *agency = gs(o, "agency"), *as_at = gs(o, "as_at");
    json_t *cats = json_object_get(o, "categories"), *tg = json_object_get(o, "targets");
    wf_t *f;
    if (!idok(agency) || !as_at || (*as_at && !dateok(as_at)) || !json_is_array(cats) ||
        !json_is_array(tg) || projx_wf_get(self, agency) || (!*as_at && json_array_size(cats)) ||
        (*as_at && !json_array_size(cats)))
        return -EINVAL;
    if (!(f = projx_wf_create(self, agency)))
        return -ENOMEM;
    projx_day_copy(f->as_at, as_at);
    for (size_t i = 0; i < json_array_size(cats); i++) {
        json_t *c = json_array_get(cats, i), *gl = json_array_get(c, 2);
        long long k, h;
        if (!json_is_array(c) || json_array_size(c) != 3 ||
            gi(json_array_get(c, 0), 1, N_STAFF - 1, &k) ||
            gi(json_array_get(c, 1), 1, 10000000, &h) || f->head[k] || !json_is_array(gl))
            return -EINVAL;
        f->head[k] = (uint32_t)h;
        for (size_t j = 0; j < json_array_size(gl); j++) {
            json_t *e = json_array_get(gl, j);
            long long g, n;
            if (!json_is_array(e) || json_array_size(e) != 2 ||
                gi(json_array_get(e, 0), 1, N_AIM - 1, &g) || gi(json_array_get(e, 1), 0, h, &n) ||
                f->count[k][g] >= 0)
                return -EINVAL;
            f->count[k][g] = n;
        }
    }
    for (size_t i = 0; i < json_array_size(tg); i++) {
        json_t *t = json_array_get(tg, i);
        const char *by = json_string_value(json_array_get(t, 3));
        long long k, g, bp;
        if (!json_is_array(t) || json_array_size(t) != 4 ||
            gi(json_array_get(t, 0), 0, N_STAFF - 1, &k) ||
            gi(json_array_get(t, 1), 1, N_AIM - 1, &g) || gi(json_array_get(t, 2), 1, 10000, &bp) ||
            !by || (*by && !dateok(by)) || f->target[k][g])
            return -EINVAL;
        f->target[k][g] = (uint32_t)bp;
        projx_day_copy(f->by[k][g], by);
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

/* After loading: a version 3 cohort must have its opened month (when
 * opened by the log clock: 0 only if the clock was); a version 2 one has
 * no history yet and starts it from the loaded clock's month. 0 or
 * -EINVAL. */
static int history_check(proj_t *self, int version)
{
    cohort_t *c, *tmp;
    HASH_ITER(hh, self->cohorts, c, tmp)
    {
        if (version >= 3 && !c->opened_month && self->as_of > 0)
            return -EINVAL;
        if (version < 3 && (c->opened_month || c->n_hist))
            return -EINVAL;
        if (version < 3)
            projx_history_opened(self, c);
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
    if (!self || !text || self->seq || self->progs || self->cohorts || self->people || self->wf)
        return -EINVAL;
    if (!(root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)))
        return -EINVAL;
    format = gs(root, "format");
    if (!json_is_object(root) || !format || strcmp(format, "cohortd-proj") != 0 ||
        gi(json_object_get(root, "version"), 2, PROJ_STATE_VERSION, &version) ||
        gi(json_object_get(root, "seq"), 0, INT64_MAX, &seq) ||
        gi(json_object_get(root, "as_of"), 0, INT64_MAX, &as_of))
        rc = -EINVAL;
    else if (!(rc = load_list(self, root, "programmes", load_prog)) &&
             !(rc = load_list(self, root, "cohorts", load_cohort)) &&
             !(rc = load_list(self, root, "people", load_person)) &&
             !(rc = load_list(self, root, "enrolments", load_enr)) &&
             !(rc = load_list(self, root, "workforce", load_wf)) &&
             !(rc = release_load(self->rel, json_object_get(root, "releases")))) {
        self->seq = (uint64_t)seq;
        self->as_of = as_of;
        rc = history_check(self, (int)version);
    }
    json_decref(root);
    if (rc) {
        projx_clear(self);
        return rc;
    }
    projx_mark_all(self);
    return 0;
}
