/* proj_render.c: the projection's computations and the programme and
 * cohort documents (see proj.h, docs/status.md); the agency documents are
 * in proj_people.c and the release cuts in proj_cut.c.
 *
 * Everything here reads the state and changes nothing. Documents are derived on demand
 * in sorted order with integer arithmetic where the result is published
 * (ratios rounded to 4 decimals from integers), so output is byte-stable.
 * Rendering functions return a malloc'd string or NULL (out of memory, or
 * no such topic). */
#include "proj_int.h"

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
int projx_cohorts_of(const proj_t *self, const prog_t *p, cohort_t ***out, size_t *n)
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
int projx_enrs_of(const cohort_t *c, enr_t ***out, size_t *n)
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
int projx_held_sessions(const cohort_t *c, long held[2][N_KIND])
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
    v[k++] = (sref_t){projx_grp(e->who->d.role), s->kind, s->id};
    qsort(v, k, sizeof *v, sref_cmp);
    for (size_t i = 0; i < k; i++)
        if ((i == 0 || sref_cmp(&v[i - 1], &v[i]) != 0) && v[i].kind > 0 && v[i].kind < N_KIND)
            held[v[i].g][v[i].kind]++;
    free(v);
    return 0;
}

void projx_assess(const proj_t *self, const cohort_t *c, const enr_t *e, long held[2][N_KIND],
                  assess_t *a)
{
    const pdef_t *d = &c->prog->def;
    int g = projx_grp(e->who->d.role);
    long sum[N_KIND] = {0};
    sess_t *s, *tmp, *head = e->sess;
    memset(a, 0, sizeof *a);
    HASH_ITER(hh, head, s, tmp)
    {
        const comp_t *k = projx_find_comp(d, g, s->kind);
        if (!k || (s->status != COHORT__V1__ATTENDANCE_STATUS__PRESENT &&
                   s->status != COHORT__V1__ATTENDANCE_STATUS__LATE))
            continue;
        if (k->unit == COHORT__V1__COMPONENT_UNIT__UNIT_MINUTES)
            sum[s->kind] += s->minutes < k->minutes ? (long)s->minutes : (long)k->minutes;
        else
            sum[s->kind]++; /* one session attended, or one piece submitted */
        a->sessions[s->kind]++;
    }
    a->complete = d->n_req[g] > 0;
    for (size_t i = 0; i < d->n_req[g]; i++) {
        const comp_t *k = &d->req[g][i];
        long h = held[g][k->kind] < (long)k->count ? held[g][k->kind] : (long)k->count;
        if (k->unit == COHORT__V1__COMPONENT_UNIT__UNIT_MINUTES) {
            long req = (long)k->count * k->minutes;
            a->req[k->kind] = req;
            a->cred[k->kind] = sum[k->kind] < req ? sum[k->kind] : req;
            a->credited += a->cred[k->kind];
            a->required += req;
            a->expected += h * k->minutes;
        } else {
            a->req[k->kind] = k->count;
            a->cred[k->kind] = sum[k->kind] < (long)k->count ? sum[k->kind] : (long)k->count;
            a->behind_units |=
                h > 0 && (double)a->cred[k->kind] < self->cfg.at_risk_ratio * (double)h;
        }
        a->met[k->kind] = a->cred[k->kind] >= a->req[k->kind];
        if (k->assessed) {
            a->passed[k->kind] = projx_passed(e, k->kind);
            a->met[k->kind] &= a->passed[k->kind] >= (long)k->count;
            for (size_t j = 0; j < e->n_marks; j++) {
                if (e->marks[j].kind != k->kind)
                    continue;
                a->failed |= e->marks[j].outcome == COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_FAIL;
                a->referred |=
                    e->marks[j].outcome == COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_REFER ||
                    e->marks[j].outcome == COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_RESUBMITTED;
            }
        }
        a->complete &= a->met[k->kind];
    }
    a->at_risk =
        e->stage == STG(ENROLLED) &&
        ((a->expected > 0 && (double)a->credited < self->cfg.at_risk_ratio * (double)a->expected) ||
         a->behind_units || a->failed);
}

/* The award counts of a set of enrolled participants (docs/status.md,
 * "award"): no person, no breakdown. */
typedef struct {
    long enrolled;   /* participants ENROLLED or COMPLETED */
    long on_track;   /* of them: no award yet, nothing failed, not at risk */
    long passed_all; /* every assessed component passed */
    long referred;   /* a piece referred or resubmitted, awaiting a pass */
    long failed;     /* a piece failed */
    long awarded;    /* an award made */
} awards_t;

static void award_count(const assess_t *a, const enr_t *e, const pdef_t *d, awards_t *t)
{
    if (!projx_is_participant(e->who) || !projx_enrolled(e))
        return;
    t->enrolled++;
    t->on_track += !e->award && !a->failed && !a->at_risk;
    t->passed_all += projx_all_passed(d, e);
    t->referred += a->referred;
    t->failed += a->failed;
    t->awarded += e->award != NULL;
}

static json_t *awards_json(const awards_t *t, long assessed)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "assessed_components", (json_int_t)assessed,
                     "enrolled", (json_int_t)t->enrolled, "on_track", (json_int_t)t->on_track,
                     "passed_all", (json_int_t)t->passed_all, "referred", (json_int_t)t->referred,
                     "failed", (json_int_t)t->failed, "awarded", (json_int_t)t->awarded);
}

static long assessed_of(const pdef_t *d, int g)
{
    long n = 0;
    for (size_t i = 0; i < d->n_req[g]; i++)
        n += d->req[g][i].assessed != 0;
    return n;
}

/* num/den rounded half up to 4 decimals, or null when den is 0. */
json_t *projx_ratio_json(long long num, long long den)
{
    if (den <= 0)
        return json_null();
    return json_real((double)((num * 20000 + den) / (2 * den)) / 10000.0);
}

/* Ethnic group 0..5 of an Ethnicity value. */
int projx_eth_group(int eth)
{
    return eth <= 3 ? 0 : eth <= 7 ? 1 : eth <= 11 ? 2 : eth <= 14 ? 3 : eth <= 16 ? 4 : 5;
}

/* ----------------------------------------------------- progression --- */

static int long_cmp(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int projx_progression(const cohort_t *c, pstat_t *ps)
{
    enr_t *e, *tmp, *head = c->enrs;
    memset(ps, 0, sizeof *ps);
    projx_plus_year(c->def.ends, ps->after_end);
    if (!(ps->days = malloc((HASH_COUNT(head) + 1) * sizeof *ps->days)))
        return -ENOMEM;
    HASH_ITER(hh, head, e, tmp)
    {
        const char *first = NULL;
        int moved = 0;
        if (!projx_is_participant(e->who))
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
            ps->moved[1 + projx_eth_group(e->who->d.eth)]++;
        }
        if (first)
            ps->days[ps->n_days++] = projx_date_days(first) - projx_date_days(e->enrolled_on);
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

/* ------------------------------------------- retention, after the end --- */

/* The promotion horizons after the programme, in months. */
static const int HORIZON[3] = {6, 12, 24};

/* Retention and progression after the programme of c's participants
 * (docs/status.md, "retention" and "progression.after_completion"). */
typedef struct {
    long enrolled;          /* participants whose enrolment reached ENROLLED */
    long left_before;       /* of them, left before starts_on */
    long left_during;       /* left in [starts_on, ends_on] */
    long left_after[3];     /* left in (ends_on, ends_on + HORIZON[h] months] */
    long completed;         /* participants COMPLETED */
    long promoted_during;   /* of them, a substantive promotion in [starts_on, ends_on] */
    long promoted_after[3]; /* first substantive promotion after ends_on, within HORIZON[h] */
    long *days;             /* days from ends_on to it (any time after), sorted */
    size_t n_days;          /* their number */
} after_t;

int projx_after_of(const cohort_t *c, const enr_t *e, const char hz[3][11], after_of_t *o)
{
    const person_t *x = e->who;
    memset(o, 0, sizeof *o);
    if (!projx_is_participant(x) || e->reached < STG(ENROLLED))
        return 0;
    o->kept = 4; /* retained at every horizon unless they left */
    if (x->left_on[0]) {
        if (strcmp(x->left_on, c->def.ends) <= 0) /* before starts_on, or during */
            o->kept = strcmp(x->left_on, c->def.starts) < 0 ? -1 : 0;
        else
            for (int h = 2; h >= 0; h--)
                if (strcmp(x->left_on, hz[h]) <= 0)
                    o->kept = 1 + h;
    }
    if (e->stage != STG(COMPLETED))
        return 1;
    o->completed = 1;
    for (size_t i = 0; i < e->n_promos; i++) {
        const promo_t *pr = &e->promos[i];
        if (pr->kind != COHORT__V1__PROGRESSION_KIND__SUBSTANTIVE_PROMOTION)
            continue;
        if (strcmp(pr->on, c->def.starts) >= 0 && strcmp(pr->on, c->def.ends) <= 0)
            o->during = 1;
        else if (strcmp(pr->on, c->def.ends) > 0 && (!o->first || strcmp(pr->on, o->first) < 0))
            o->first = pr->on;
    }
    for (int h = 0; o->first && h < 3; h++)
        o->within[h] = strcmp(o->first, hz[h]) <= 0;
    return 1;
}

void projx_horizons(const cohort_t *c, char hz[3][11])
{
    for (int h = 0; h < 3; h++)
        projx_plus_months(c->def.ends, HORIZON[h], hz[h]);
}

static int after_stats(const cohort_t *c, after_t *a)
{
    enr_t *e, *tmp, *head = c->enrs;
    char hz[3][11];
    memset(a, 0, sizeof *a);
    projx_horizons(c, hz);
    if (!(a->days = malloc((HASH_COUNT(head) + 1) * sizeof *a->days)))
        return -ENOMEM;
    HASH_ITER(hh, head, e, tmp)
    {
        after_of_t o;
        if (!projx_after_of(c, e, hz, &o))
            continue;
        a->enrolled++;
        a->left_before += o.kept == -1;
        a->left_during += o.kept == 0;
        for (int h = 0; h < 3; h++)
            a->left_after[h] += o.kept >= 1 && o.kept <= 1 + h;
        if (!o.completed)
            continue;
        a->completed++;
        a->promoted_during += o.during;
        if (o.first) {
            for (int h = 0; h < 3; h++)
                a->promoted_after[h] += o.within[h];
            a->days[a->n_days++] = projx_date_days(o.first) - projx_date_days(c->def.ends);
        }
    }
    qsort(a->days, a->n_days, sizeof *a->days, long_cmp);
    return 0;
}

/* Adds b's counts to a (not the days). */
static void after_add(after_t *a, const after_t *b)
{
    a->enrolled += b->enrolled;
    a->left_before += b->left_before;
    a->left_during += b->left_during;
    a->completed += b->completed;
    a->promoted_during += b->promoted_during;
    for (int h = 0; h < 3; h++) {
        a->left_after[h] += b->left_after[h];
        a->promoted_after[h] += b->promoted_after[h];
    }
}

/* The "retention" block: counts of people, no breakdown. */
static json_t *retention_json(const after_t *a)
{
    json_t *o = json_object();
    long gone = a->left_before + a->left_during;
    int err = !o;
    char key[64];
    err |= json_object_set_new(o, "enrolled", json_integer(a->enrolled));
    err |= json_object_set_new(o, "left_before_start", json_integer(a->left_before));
    err |= json_object_set_new(o, "left_during", json_integer(a->left_during));
    err |= json_object_set_new(o, "retained_at_end", json_integer(a->enrolled - gone));
    err |= json_object_set_new(o, "retention_at_end",
                               projx_ratio_json(a->enrolled - gone, a->enrolled));
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof key, "left_within_%d_months_after", HORIZON[h]);
        err |= json_object_set_new(o, key, json_integer(a->left_after[h]));
        snprintf(key, sizeof key, "retention_%d_months_after", HORIZON[h]);
        err |= json_object_set_new(
            o, key, projx_ratio_json(a->enrolled - gone - a->left_after[h], a->enrolled));
    }
    if (err)
        return json_decref(o), NULL;
    return o;
}

/* "progression.after_completion": completers' substantive promotions
 * during the programme and within the horizons after it. with_median: the
 * median days (cohort documents). */
static json_t *after_json(const after_t *a, int with_median)
{
    json_t *o = json_object();
    int err = !o;
    char key[64];
    err |= json_object_set_new(o, "completed", json_integer(a->completed));
    err |= json_object_set_new(o, "promoted_during", json_integer(a->promoted_during));
    err |= json_object_set_new(o, "promotion_rate_during",
                               projx_ratio_json(a->promoted_during, a->completed));
    for (int h = 0; h < 3; h++) {
        snprintf(key, sizeof key, "promoted_within_%d_months", HORIZON[h]);
        err |= json_object_set_new(o, key, json_integer(a->promoted_after[h]));
        snprintf(key, sizeof key, "promotion_rate_%d_months", HORIZON[h]);
        err |= json_object_set_new(o, key, projx_ratio_json(a->promoted_after[h], a->completed));
    }
    if (with_median) {
        json_t *med = json_null();
        if (a->n_days) {
            size_t m = a->n_days / 2;
            json_decref(med);
            med = json_integer(a->n_days % 2 ? a->days[m] : (a->days[m - 1] + a->days[m]) / 2);
        }
        err |= json_object_set_new(o, "median_days_after_end_to_substantive_promotion", med);
    }
    if (err)
        return json_decref(o), NULL;
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
json_t *projx_funnel_json(cohort_t *const *cs, size_t n, long filled[2])
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
                if (projx_ag_live(&c->ags[j]) && !json_object_get(by_ag[g], c->ags[j].id))
                    err |= json_object_set_new(by_ag[g], c->ags[j].id, stages_json());
        HASH_ITER(hh, head, e, tmp)
        {
            int g = projx_grp(e->who->d.role);
            const char *st = STAGE_NAME(e->stage);
            total[g]++;
            filled[g] += projx_enrolled(e);
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

/* The selection stages in order, the funnel by furthest stage reached. */
#define N_REACH 6 /* APPLIED (1) .. ENROLLED (6) */

/* reached[s - 1]: participants (requirement group G_PART) of e whose
 * furthest stage is s or later, for s = APPLIED..ENROLLED. */
static void reached_counts(const enr_t *head, long reached[N_REACH])
{
    const enr_t *e, *tmp;
    HASH_ITER(hh, (enr_t *)head, e, tmp)
    {
        if (projx_grp(e->who->d.role) != G_PART)
            continue;
        for (int s = STG(APPLIED); s <= e->reached && s <= STG(ENROLLED); s++)
            reached[s - 1]++;
    }
}

static json_t *reached_json(const long reached[N_REACH])
{
    json_t *o = json_object();
    for (int s = STG(APPLIED); s <= STG(ENROLLED); s++)
        if (json_object_set_new(o, STAGE_NAME(s), json_integer(reached[s - 1])))
            return json_decref(o), NULL;
    return o;
}

/* The cumulative funnel over cohorts cs: {"participants": {"reached",
 * "conversion", "overall_conversion", "by_agency"}} (docs/status.md). Every
 * enrolment of a participant counts at each stage up to the furthest it
 * reached, whatever its stage now; mentors and coaches are not counted. */
static json_t *funnel_reached_json(cohort_t *const *cs, size_t n)
{
    json_t *o = json_object(), *part = json_object(), *conv = json_object(), *by_ag = json_object();
    long all[N_REACH] = {0};
    int err = !o || !part || !conv || !by_ag;
    for (size_t i = 0; !err && i < n; i++) {
        const cohort_t *c = cs[i];
        enr_t *e, *tmp, *head = c->enrs;
        reached_counts(head, all);
        for (size_t j = 0; j < c->n_ags; j++)
            if (projx_ag_live(&c->ags[j]) && !json_object_get(by_ag, c->ags[j].id)) {
                long zero[N_REACH] = {0};
                err |= json_object_set_new(by_ag, c->ags[j].id, reached_json(zero));
            }
        HASH_ITER(hh, head, e, tmp)
        {
            json_t *a;
            if (projx_grp(e->who->d.role) != G_PART)
                continue;
            if (!(a = json_object_get(by_ag, e->who->agency))) {
                long zero[N_REACH] = {0};
                err |= json_object_set_new(by_ag, e->who->agency, a = reached_json(zero));
            }
            for (int s = STG(APPLIED); !err && s <= e->reached && s <= STG(ENROLLED); s++)
                err |= bump(a, STAGE_NAME(s));
        }
    }
    for (int s = STG(SHORTLISTED); s <= STG(ENROLLED); s++)
        err |= json_object_set_new(conv, STAGE_NAME(s), projx_ratio_json(all[s - 1], all[s - 2]));
    err |= json_object_set_new(part, "reached", reached_json(all));
    err |= json_object_set_new(part, "conversion", conv);
    err |= json_object_set_new(part, "overall_conversion",
                               projx_ratio_json(all[STG(ENROLLED) - 1], all[STG(APPLIED) - 1]));
    err |= json_object_set_new(part, "by_agency", by_ag);
    err |= json_object_set_new(o, "participants", part);
    if (err)
        return json_decref(o), NULL;
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
        err |= json_object_set_new(o, "unit", json_string(UNIT_NAME(c[i].unit)));
        err |= json_object_set_new(o, "assessed", json_boolean(c[i].assessed));
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
int projx_members_of(cohort_t *const *cs, size_t n, person_t ***out, size_t *m)
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
        if (projx_is_participant(e->who) && projx_enrolled(e))
            v[k++] = e->who;
    }
    qsort(v, k, sizeof *v, projx_person_cmp);
    *m = 0;
    for (size_t i = 0; i < k; i++)
        if (*m == 0 || v[*m - 1] != v[i])
            v[(*m)++] = v[i];
    *out = v;
    return 0;
}

char *projx_dump(json_t *doc)
{
    char *s = doc ? json_dumps(doc, DUMP_FLAGS) : NULL;
    json_decref(doc);
    return s;
}

/* -------------------------------------------------------- documents --- */

/* ------------------------------------------------------- workforce --- */

/* Sums a workforce entry's baseline into a total (per category and
 * group: count and the headcount it is of, over entries that gave it). */
typedef struct {
    long long head[N_STAFF];       /* headcount per category ([0]: all) */
    long long cnt[N_STAFF][N_AIM]; /* group counts */
    long long of[N_STAFF][N_AIM];  /* the headcount those counts are of */
} wsum_t;

static void wsum_add(wsum_t *t, const wf_t *f)
{
    for (int k = 1; k < N_STAFF; k++) {
        t->head[k] += f->head[k];
        t->head[0] += f->head[k];
        for (int g = 1; g < N_AIM; g++)
            if (f->head[k] && f->count[k][g] >= 0) {
                t->cnt[k][g] += f->count[k][g];
                t->of[k][g] += f->head[k];
                t->cnt[0][g] += f->count[k][g];
                t->of[0][g] += f->head[k];
            }
    }
}

static const char *staff_name(int k)
{
    static const char *const n[N_STAFF] = {"ALL", "OFFICER", "STAFF", "PCSO", "OTHER"};
    return n[k];
}

static const char *aim_name(int g)
{
    return projx_ename(&cohort__v1__aim_group__descriptor, g);
}

/* {"headcount", "categories": {CAT: {"headcount", "groups": {G: {count, of,
 * percent}}}}, "all": {G: {...}}}: "of" is the headcount of the categories
 * that gave the group (a group not given for a category is left out). */
static json_t *wsum_json(const wsum_t *t)
{
    json_t *o = json_object(), *cats = json_object();
    int err = 0;
    for (int k = 0; k < N_STAFF; k++) {
        json_t *groups = json_object(), *c;
        for (int g = 1; g < N_AIM; g++) {
            if (!t->of[k][g])
                continue;
            err |= json_object_set_new(groups, aim_name(g),
                                       json_pack("{s:I, s:I, s:o}", "count", t->cnt[k][g], "of",
                                                 t->of[k][g], "percent",
                                                 projx_ratio_json(t->cnt[k][g], t->of[k][g])));
        }
        if (k == 0) {
            err |= json_object_set_new(o, "headcount", json_integer(t->head[0]));
            err |= json_object_set_new(o, "all", groups);
            continue;
        }
        if (!t->head[k]) {
            json_decref(groups);
            continue;
        }
        c = json_object();
        err |= json_object_set_new(c, "headcount", json_integer(t->head[k]));
        err |= json_object_set_new(c, "groups", groups);
        err |= json_object_set_new(cats, staff_name(k), c);
    }
    err |= json_object_set_new(o, "categories", cats);
    if (err)
        return json_decref(o), json_null();
    return o;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The programme's "workforce": the baselines and targets of the agencies
 * taking part in any of its cohorts, each as published by the agency (its
 * own aggregate statistics, never participant counts), and "overall", the
 * sum of their baselines. docs/status.md, "workforce". */
static json_t *workforce_json(const proj_t *self, cohort_t *const *cs, size_t n)
{
    json_t *o = json_object(), *ags = json_object();
    const char **ids = NULL;
    size_t m = 0, cap = 0;
    wsum_t all = {0};
    long nbase = 0;
    int err = 0;
    for (size_t i = 0; i < n; i++)
        cap += cs[i]->def.n_agencies;
    if (cap && !(ids = calloc(cap, sizeof *ids)))
        return json_decref(o), json_decref(ags), json_null();
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < cs[i]->def.n_agencies; j++) {
            size_t k = 0;
            while (k < m && strcmp(ids[k], cs[i]->def.agencies[j]) != 0)
                k++;
            if (k == m)
                ids[m++] = cs[i]->def.agencies[j];
        }
    if (m) /* qsort(NULL, 0, ...) is undefined */
        qsort(ids, m, sizeof *ids, str_cmp);
    for (size_t i = 0; i < m; i++) {
        const wf_t *f = projx_wf_get(self, ids[i]);
        json_t *a, *tg;
        wsum_t one = {0};
        if (!f)
            continue;
        a = json_object();
        tg = json_array();
        if (*f->as_at) {
            wsum_add(&one, f);
            wsum_add(&all, f);
            nbase++;
            err |= json_object_set_new(a, "as_at", json_string(f->as_at));
            err |= json_object_set_new(a, "baseline", wsum_json(&one));
        } else {
            err |= json_object_set_new(a, "as_at", json_null());
            err |= json_object_set_new(a, "baseline", json_null());
        }
        for (int k = 0; k < N_STAFF; k++)
            for (int g = 1; g < N_AIM; g++) {
                if (!f->target[k][g])
                    continue;
                err |= json_array_append_new(
                    tg,
                    json_pack("{s:s, s:s, s:I, s:o, s:o, s:o}", "group", aim_name(g), "category",
                              staff_name(k), "basis_points", (json_int_t)f->target[k][g], "percent",
                              projx_ratio_json(f->target[k][g], 10000), "by",
                              *f->by[k][g] ? json_string(f->by[k][g]) : json_null(),
                              "workforce_percent", projx_ratio_json(one.cnt[k][g], one.of[k][g])));
            }
        err |= json_object_set_new(a, "targets", tg);
        err |= json_object_set_new(ags, ids[i], a);
    }
    free(ids);
    err |= json_object_set_new(o, "agencies", ags);
    err |= json_object_set_new(o, "baselines", json_integer(nbase));
    err |= json_object_set_new(o, "overall", nbase ? wsum_json(&all) : json_null());
    if (err)
        return json_decref(o), json_null();
    return o;
}

/* Whether e's next review is overdue by the log clock's date `today`:
 * still ENROLLED, a review due, and the due date passed. */
int projx_review_overdue(const enr_t *e, const char *today)
{
    return e->stage == STG(ENROLLED) && e->review_due[0] && strcmp(e->review_due, today) < 0;
}

/* The plan and review counts of a set of enrolments (docs/status.md,
 * "plans"): no person, no breakdown (like at_risk). */
typedef struct {
    long with_plan;                     /* ENROLLED or COMPLETED, a plan agreed */
    long reviews;                       /* reviews recorded */
    long concerns;                      /* ENROLLED, the latest review CONCERNS */
    long overdue;                       /* review_overdue */
    long decisions[N_BKIND][N_BREASON]; /* board decisions, by kind and reason */
} plans_t;

static void plans_count(const enr_t *e, const char *today, plans_t *t)
{
    t->with_plan += projx_enrolled(e) && e->plan_on[0];
    t->reviews += e->n_reviews;
    t->concerns += e->stage == STG(ENROLLED) &&
                   e->review_outcome == COHORT__V1__REVIEW_OUTCOME__REVIEW_CONCERNS;
    t->overdue += projx_review_overdue(e, today);
    for (int k = 1; k < N_BKIND; k++)
        for (int r = 1; r < N_BREASON; r++)
            t->decisions[k][r] += e->decisions[k][r];
}

static json_t *plans_json(const plans_t *t)
{
    json_t *o = json_object(), *bk = json_object(), *br = json_object();
    int err = !o || !bk || !br;
    for (int k = 1; k < N_BKIND; k++) {
        long n = 0;
        for (int r = 1; r < N_BREASON; r++)
            n += t->decisions[k][r];
        err |= json_object_set_new(bk, projx_ename(&cohort__v1__board_decision_kind__descriptor, k),
                                   json_integer(n));
    }
    for (int r = 1; r < N_BREASON; r++) {
        long n = 0;
        for (int k = 1; k < N_BKIND; k++)
            n += t->decisions[k][r];
        err |= json_object_set_new(br, projx_ename(&cohort__v1__board_reason__descriptor, r),
                                   json_integer(n));
    }
    err |= json_object_set_new(o, "with_plan", json_integer(t->with_plan));
    err |= json_object_set_new(o, "reviews", json_integer(t->reviews));
    err |= json_object_set_new(o, "concerns", json_integer(t->concerns));
    err |= json_object_set_new(o, "overdue_reviews", json_integer(t->overdue));
    err |= json_object_set_new(o, "board_decisions",
                               json_pack("{s:o, s:o}", "by_decision", bk, "by_reason", br));
    if (err)
        return json_decref(o), NULL;
    return o;
}

static char *render_programme(const proj_t *self, const prog_t *p)
{
    plans_t pl = {0};
    char today[11];
    projx_date_of_us(self->as_of, today);
    json_t *doc = json_object(), *req = json_object(), *aims = json_array(), *ids = json_array();
    cohort_t **cs = NULL;
    size_t n = 0;
    long places = 0, filled[2], during[N_PKIND] = {0}, after[N_PKIND] = {0};
    json_t *prog_o = json_object();
    int err = projx_cohorts_of(self, p, &cs, &n);
    awards_t aw = {0};
    after_t asum = {0};
    for (size_t i = 0; !err && i < n; i++) {
        pstat_t ps;
        after_t af;
        long held[2][N_KIND];
        enr_t *e, *etmp, *ehead = cs[i]->enrs;
        if (projx_held_sessions(cs[i], held) || after_stats(cs[i], &af)) {
            err = 1;
            break;
        }
        after_add(&asum, &af);
        free(af.days);
        HASH_ITER(hh, ehead, e, etmp)
        {
            assess_t a;
            projx_assess(self, cs[i], e, held, &a);
            award_count(&a, e, &p->def, &aw);
            if (projx_is_participant(e->who))
                plans_count(e, today, &pl);
        }
        places += cs[i]->def.places;
        err |= json_array_append_new(ids, json_string(cs[i]->id));
        if (projx_progression(cs[i], &ps)) {
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
            json_string(projx_ename(&cohort__v1__aim_group__descriptor, p->def.aims[i].group)));
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
        err |= json_object_set_new(doc, "funnel", projx_funnel_json(cs, n, filled));
        err |= json_object_set_new(doc, "funnel_reached", funnel_reached_json(cs, n));
        err |= json_object_set_new(doc, "filled", filled_json(places, filled));
        err |= json_object_set_new(doc, "workforce", workforce_json(self, cs, n));
        err |= json_object_set_new(doc, "history", projx_history_json(cs, n));
    }
    err |= json_object_set_new(prog_o, "during", pkinds_json(during));
    err |= json_object_set_new(prog_o, "after", pkinds_json(after));
    err |= json_object_set_new(prog_o, "after_completion", after_json(&asum, 0));
    err |= json_object_set_new(doc, "progression", prog_o);
    err |= json_object_set_new(doc, "award", awards_json(&aw, assessed_of(&p->def, G_PART)));
    err |= json_object_set_new(doc, "retention", retention_json(&asum));
    err |= json_object_set_new(doc, "plans", plans_json(&pl));
    free(cs);
    if (err)
        return json_decref(doc), NULL;
    return projx_dump(doc);
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
                               projx_ratio_json(sum_credited, (long long)n * required));
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
    awards_t aw = {0};
    enr_t **es = NULL;
    size_t ne = 0;
    cohort_t *one = (cohort_t *)c;
    pstat_t ps = {0};
    after_t af = {0};
    plans_t pl = {0};
    char today[11];
    int err = projx_held_sessions(c, held) || projx_enrs_of(c, &es, &ne) ||
              projx_progression(c, &ps) || after_stats(c, &af);
    projx_date_of_us(self->as_of, today);
    for (size_t i = 0; !err && i < ne; i++) {
        assess_t a;
        int g = projx_grp(es[i]->who->d.role);
        projx_assess(self, c, es[i], held, &a);
        if (g == G_PART)
            plans_count(es[i], today, &pl);
        assigned += (long)es[i]->n_mentors;
        with_mentor += es[i]->n_mentors > 0;
        award_count(&a, es[i], &c->prog->def, &aw);
        if (!projx_enrolled(es[i]))
            continue;
        n[g]++;
        credited[g] += a.credited;
        complete[g] += a.complete;
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
        err |= json_object_set_new(doc, "funnel", projx_funnel_json(&one, 1, filled));
        err |= json_object_set_new(doc, "funnel_reached", funnel_reached_json(&one, 1));
        err |= json_object_set_new(doc, "filled", filled_json(c->def.places, filled));
        json_t *pj = progression_json(&ps);
        err |= json_object_set_new(pj, "after_completion", after_json(&af, 1));
        err |= json_object_set_new(doc, "progression", pj);
        err |= json_object_set_new(doc, "retention", retention_json(&af));
        err |= json_object_set_new(doc, "history", projx_history_json(&one, 1));
    }
    for (int g = 0; g < 2; g++)
        err |= json_object_set_new(
            comp, g == G_PART ? "participants" : "mentors",
            summary_json(required_of(&c->prog->def, g), n[g], complete[g], credited[g], risk[g]));
    err |= json_object_set_new(doc, "completion", comp);
    err |= json_object_set_new(ment, "assignments", json_integer(assigned));
    err |= json_object_set_new(ment, "mentored", json_integer(with_mentor));
    err |= json_object_set_new(doc, "mentoring", ment);
    err |= json_object_set_new(doc, "award", awards_json(&aw, assessed_of(&c->prog->def, G_PART)));
    err |= json_object_set_new(doc, "plans", plans_json(&pl));
    free(es);
    free(ps.days);
    free(af.days);
    if (err)
        return json_decref(doc), NULL;
    return projx_dump(doc);
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
        const prog_t *p = projx_prog_get(self, part[1]);
        return p ? render_programme(self, p) : NULL;
    }
    if (n == 3 && strcmp(part[0], "cohort") == 0) {
        const cohort_t *c = projx_cohort_get(self, part[1], part[2]);
        return c ? render_cohort(self, c) : NULL;
    }
    if (n == 4 && strcmp(part[0], "agency") == 0) {
        const cohort_t *c = projx_cohort_get(self, part[2], part[3]);
        const ag_t *a = c ? projx_ag_get(c, part[1]) : NULL;
        return a && projx_ag_live(a) ? projx_render_agency(self, c, a) : NULL;
    }
    return NULL;
}
