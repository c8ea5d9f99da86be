/* proj_cut.c: the release cuts (docs/status.md, "Releases"): the true
 * tables of a programme (representation, the funnel and leavers by group,
 * progressed by group) built from the projection's state, when a release
 * is due on the log clock, and cutting it through release.h, which
 * suppresses and audits before anything is published. Reads the state;
 * changes nothing but the release state. */
#include "proj_int.h"

/* -------------------------------------------------- representation --- */

/* Counts the given enrolled participants (distinct) into v, laid out as
 * release.h's RT_* cells. */
static void repr_counts(person_t *const *ps, size_t n, long v[RT_N])
{
    memset(v, 0, RT_N * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        const pdata_t *x = &ps[i]->d;
        int eth = x->eth >= 1 && x->eth <= 17 ? x->eth : COHORT__V1__ETHNICITY__NS;
        int g = projx_eth_group(eth);
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

/* The funnel by ethnic group of cohorts cs into v (release.h's
 * RELEASE_REACH and RELEASE_DROP cells): participants' enrolments by the
 * furthest stage reached, summed over the cohorts. */
static void reach_counts(cohort_t *const *cs, size_t n, long v[RELEASE_NREACH])
{
    memset(v, 0, RELEASE_NREACH * sizeof *v);
    for (size_t i = 0; i < n; i++) {
        enr_t *e, *tmp, *head = cs[i]->enrs;
        HASH_ITER(hh, head, e, tmp)
        {
            int eth = e->who->d.eth >= 1 && e->who->d.eth <= 17 ? e->who->d.eth
                                                                : COHORT__V1__ETHNICITY__NS;
            int g = 1 + projx_eth_group(eth), top = e->reached - STG(APPLIED); /* 0..5 */
            if (projx_grp(e->who->d.role) != G_PART || top < 0)
                continue;
            if (top >= RELEASE_NSTAGES)
                top = RELEASE_NSTAGES - 1;
            for (int s = 0; s <= top; s++) {
                v[RELEASE_REACH(s, 0)]++;
                v[RELEASE_REACH(s, g)]++;
            }
            if (top < RELEASE_NSTAGES - 1) {
                v[RELEASE_DROP(top, 0)]++;
                v[RELEASE_DROP(top, g)]++;
            }
        }
    }
}

/* The leavers by ethnic group of c (release.h's left[]): participants whose
 * enrolment reached ENROLLED and who left their agency on or before ends_on
 * plus 12 months (retention.left_before_start + left_during +
 * left_within_12_months_after in the live document). */
static void left_counts(const cohort_t *c, long v[RELEASE_NMOVED])
{
    enr_t *e, *tmp, *head = c->enrs;
    char end12[11];
    projx_plus_months(c->def.ends, 12, end12);
    memset(v, 0, RELEASE_NMOVED * sizeof *v);
    HASH_ITER(hh, head, e, tmp)
    {
        const person_t *x = e->who;
        int eth = x->d.eth >= 1 && x->d.eth <= 17 ? x->d.eth : COHORT__V1__ETHNICITY__NS;
        if (!projx_is_participant(x) || e->reached < STG(ENROLLED) || !x->left_on[0] ||
            strcmp(x->left_on, end12) > 0)
            continue;
        v[0]++;
        v[1 + projx_eth_group(eth)]++;
    }
}

/* The chained tables by ethnic group of c (release.h's chain[], chain.h):
 * retention.retained (enrolled; retained at the end, 6, 12, 24 months
 * after) and progression.after_completion (completed; promoted within 24,
 * 12, 6 months after the end; promoted during), with their drop-outs. The
 * totals are the live document's retention and after_completion counts. */
static void chain_counts(const cohort_t *c, long ret[CHAIN_NCELL], long aft[CHAIN_NCELL])
{
    enr_t *e, *tmp, *head = c->enrs;
    char hz[3][11];
    projx_horizons(c, hz);
    memset(ret, 0, CHAIN_NCELL * sizeof *ret);
    memset(aft, 0, CHAIN_NCELL * sizeof *aft);
    HASH_ITER(hh, head, e, tmp)
    {
        after_of_t o;
        int eth =
            e->who->d.eth >= 1 && e->who->d.eth <= 17 ? e->who->d.eth : COHORT__V1__ETHNICITY__NS;
        int g = 1 + projx_eth_group(eth), last;
        if (!projx_after_of(c, e, hz, &o))
            continue;
        last = o.kept < 0 ? 0 : o.kept; /* the last stage they were still there */
        for (int s = 0; s <= last; s++)
            ret[CHAIN_STAGE(s, 0)]++, ret[CHAIN_STAGE(s, g)]++;
        if (!o.completed)
            continue;
        aft[CHAIN_STAGE(0, 0)]++, aft[CHAIN_STAGE(0, g)]++;
        for (int h = 0; h < 3; h++) /* stages 1..3: within 24, 12, 6 months */
            if (o.within[h])
                aft[CHAIN_STAGE(3 - h, 0)]++, aft[CHAIN_STAGE(3 - h, g)]++;
        if (o.during)
            aft[CHAIN_STAGE(4, 0)]++, aft[CHAIN_STAGE(4, g)]++;
    }
    for (int ch = 0; ch < CHAIN_N; ch++) {
        long *v = ch == CHAIN_RETAINED ? ret : aft;
        for (int s = 1; s < CHAIN_NSTAGES; s++)
            for (int g = 0; g < CHAIN_NG; g++)
                v[CHAIN_DROP(s, g)] =
                    v[CHAIN_STAGE(CHAINS[ch].parent[s], g)] - v[CHAIN_STAGE(s, g)];
    }
}

/* --------------------------------------------------------- releases --- */

/* The funnel fields a release document repeats (filled.participants and
 * the participants' total, WITHDRAWN and REMOVED_BY_BOARD): the auditor
 * uses them to bound who joined and left between releases. */
static int release_meta_funnel(json_t *meta, cohort_t *const *cs, size_t n)
{
    long filled[2];
    json_t *f = projx_funnel_json(cs, n, filled), *part, *by, *o, *stages;
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
    if (projx_cohorts_of(self, p, &cs, &n) || !(tb->t = calloc(n + 1, sizeof *tb->t)) ||
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
            if (projx_members_of(cs, n, &ms, &m) || !(ids = json_array()) ||
                json_object_set_new(meta, "cohorts", ids) ||
                json_object_set_new(meta, "programme", json_string(p->id)) ||
                json_object_set_new(meta, "name", json_string(p->def.name)) ||
                release_meta_funnel(meta, cs, n))
                goto fail;
            for (size_t j = 0; j < n; j++)
                if (json_array_append_new(ids, json_string(cs[j]->id)))
                    goto fail;
            reach_counts(cs, n, t->reach);
            t->has_reach = 1;
        } else {
            cohort_t *one = cs[i - 1];
            pstat_t ps;
            snprintf(tb->topics[i], KEYLEN, "cohort/%s/%s", p->id, one->id);
            if (projx_members_of(&one, 1, &ms, &m) || projx_progression(one, &ps))
                goto fail;
            memcpy(t->moved, ps.moved, sizeof t->moved);
            free(ps.days);
            t->has_moved = 1;
            reach_counts(&one, 1, t->reach);
            t->has_reach = 1;
            left_counts(one, t->left);
            t->has_left = 1;
            chain_counts(one, t->chain[CHAIN_RETAINED], t->chain[CHAIN_AFTER]);
            t->has_chain[CHAIN_RETAINED] = t->has_chain[CHAIN_AFTER] = 1;
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
        p = projx_prog_get(self, topic + 10);
    else if (strncmp(topic, "cohort/", 7) == 0)
        p = projx_prog_get(self, json_string_value(json_object_get(doc, "programme")));
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
            out = projx_dump(json_incref(doc));
            break;
        }
    }
    json_decref(b);
    json_decref(doc);
    tables_free(&tb);
    return out;
}

/* Days since 1970-01-01 of a log-clock time (microseconds), rounded down. */
long projx_day_of(int64_t us)
{
    int64_t d = us / 86400000000LL;
    return (long)(us < 0 && d * 86400000000LL != us ? d - 1 : d);
}

/* Cuts the releases due when the log clock moves from day d0 to day d1 >
 * d0 (see proj.h): every programme when a release period starts, and a
 * programme one of whose cohorts passes a milestone. Returns 0 or -ENOMEM. */
int projx_cut_due(proj_t *self, long d0, long d1)
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
    qsort(pv, np, sizeof *pv, projx_prog_cmp);
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
            projx_plus_year(c->def.ends, after);
            for (int k = 0; k < 3; k++) {
                long md = ms[k][0] ? projx_date_days(ms[k]) : 0;
                if (ms[k][0] && md > d0 && md <= d1 && md >= when) {
                    when = md;
                    reason = why[k];
                }
            }
        }
        if (!reason)
            continue;
        projx_days_date(when, date);
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
    qsort(pv, np, sizeof *pv, projx_prog_cmp);
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
