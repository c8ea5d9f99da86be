/* proj_hist.c: the monthly history of the live cohort and programme
 * documents (docs/status.md, "history"): per cohort, the participants'
 * funnel, completion and progression figures as they stood at the end of
 * each calendar month (UTC) of the log clock, taken when the clock first
 * moves past that month (proj_apply, just before the releases due are
 * cut, from the state before the event that moves it), so a replay of
 * the log takes the same rows. A programme's rows are the sums of its
 * cohorts' rows, made when rendered. Counts only, with no protected
 * characteristic: not suppressed (a reader who kept every live version
 * had them already). */
#include "proj_int.h"

/* ------------------------------------------------------------ months --- */

int projx_month_of_us(int64_t us)
{
    char d[11];
    int y = 0, m = 0, day = 0;
    projx_date_of_us(us, d);
    if (sscanf(d, "%4d-%2d-%2d", &y, &m, &day) != 3 || m < 1 || m > 12)
        return 0;
    return y * 12 + m - 1;
}

/* "YYYY-MM" of month index m (year * 12 + month - 1). */
static void month_text(int m, char out[8])
{
    unsigned y = (unsigned)(m / 12) % 10000u, mm = (unsigned)(m % 12) + 1;
    snprintf(out, 8, "%04u-%02u", y, mm);
}

/* The month index of a "YYYY-MM" text, or -1. */
static int month_parse(const char *s)
{
    int y = 0, m = 0;
    char tail;
    if (!s || strlen(s) != 7 || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || y < 1 || m < 1 ||
        m > 12 || s[4] != '-')
        return -1;
    return y * 12 + m - 1;
}

/* ----------------------------------------------------------- figures --- */

/* The required minutes of a participant of d (minute components only). */
static long part_required(const pdef_t *d)
{
    long sum = 0;
    for (size_t i = 0; i < d->n_req[G_PART]; i++)
        sum += (long)d->req[G_PART][i].count * d->req[G_PART][i].minutes;
    return sum;
}

/* c's figures now into r (month not set): the cohort document's
 * funnel_reached.participants.reached, completion.participants (with the
 * sums behind mean_completion) and progression (summed over kinds).
 * 0 or -ENOMEM. */
static int figures(const proj_t *self, const cohort_t *c, hrow_t *r)
{
    long held[2][N_KIND], req = part_required(&c->prog->def);
    enr_t *e, *tmp, *head = c->enrs;
    pstat_t ps;
    memset(r, 0, sizeof *r);
    if (projx_held_sessions(c, held) < 0 || projx_progression(c, &ps) < 0)
        return -ENOMEM;
    HASH_ITER(hh, head, e, tmp)
    {
        assess_t a;
        if (projx_grp(e->who->d.role) != G_PART)
            continue;
        for (int s = STG(APPLIED); s <= e->reached && s <= STG(ENROLLED); s++)
            r->reached[s - 1]++;
        if (!projx_enrolled(e))
            continue;
        projx_assess(self, c, e, held, &a);
        r->enrolled++;
        r->complete += a.complete;
        r->at_risk += a.at_risk;
        r->credited += a.credited;
        r->required += req;
    }
    for (int k = 1; k < N_PKIND; k++) {
        r->during += ps.during[k];
        r->after += ps.after[k];
    }
    r->promoted = (long)ps.n_days;
    free(ps.days);
    return 0;
}

/* Appends r to c's rows, dropping the oldest beyond PROJ_HISTORY_MAX; room
 * must have been reserved (never fails). */
static void row_push(cohort_t *c, const hrow_t *r)
{
    if (c->n_hist == PROJ_HISTORY_MAX) {
        memmove(c->hist, c->hist + 1, (PROJ_HISTORY_MAX - 1) * sizeof *c->hist);
        c->n_hist--;
    }
    c->hist[c->n_hist++] = *r;
}

/* Room for PROJ_HISTORY_MAX rows in c: 0 or -ENOMEM (c unchanged). */
static int rows_reserve(cohort_t *c)
{
    hrow_t *v;
    if (c->hist)
        return 0;
    if (!(v = malloc(PROJ_HISTORY_MAX * sizeof *v)))
        return -ENOMEM;
    c->hist = v;
    return 0;
}

/* The first month of c still owed a row. */
static int first_owed(const cohort_t *c)
{
    return c->n_hist ? c->hist[c->n_hist - 1].month + 1 : c->opened_month;
}

int projx_history_due(proj_t *self, int m0, int m1)
{
    cohort_t *c, *tmp, **cs = NULL;
    hrow_t *rs = NULL;
    size_t n = 0, k = 0;
    int rc = 0;
    (void)m0;
    HASH_ITER(hh, self->cohorts, c, tmp)
    n += c->opened_month > 0 && first_owed(c) < m1;
    if (!n)
        return 0;
    /* All or nothing: every figure is taken and every row reserved before
     * any cohort changes. */
    if (!(cs = malloc(n * sizeof *cs)) || !(rs = malloc(n * sizeof *rs))) {
        rc = -ENOMEM;
        goto out;
    }
    HASH_ITER(hh, self->cohorts, c, tmp)
    {
        if (!(c->opened_month > 0 && first_owed(c) < m1))
            continue;
        if ((rc = rows_reserve(c)) < 0 || (rc = figures(self, c, &rs[k])) < 0)
            goto out;
        cs[k++] = c;
    }
    for (size_t i = 0; i < k; i++) {
        int from = first_owed(cs[i]);
        if (m1 - from > PROJ_HISTORY_MAX)
            from = m1 - PROJ_HISTORY_MAX; /* the older ones would be dropped at once */
        for (int m = from; m < m1; m++) {
            rs[i].month = m;
            row_push(cs[i], &rs[i]);
        }
        projx_mark_cohort(cs[i], 0);
    }
out:
    free(cs);
    free(rs);
    return rc;
}

/* ---------------------------------------------------------- rendering --- */

static json_t *row_json(const hrow_t *r)
{
    char m[8];
    json_t *o = json_object(), *fr = json_object(), *comp = json_object(), *pr = json_object();
    int err = !o || !fr || !comp || !pr;
    month_text(r->month, m);
    for (int s = STG(APPLIED); s <= STG(ENROLLED); s++)
        err |= json_object_set_new(fr, STAGE_NAME(s), json_integer(r->reached[s - 1]));
    err |= json_object_set_new(comp, "enrolled", json_integer(r->enrolled));
    err |= json_object_set_new(comp, "complete", json_integer(r->complete));
    err |= json_object_set_new(comp, "mean_completion", projx_ratio_json(r->credited, r->required));
    err |= json_object_set_new(comp, "at_risk", json_integer(r->at_risk));
    err |= json_object_set_new(pr, "during", json_integer(r->during));
    err |= json_object_set_new(pr, "after", json_integer(r->after));
    err |= json_object_set_new(pr, "promoted_substantively", json_integer(r->promoted));
    err |= json_object_set_new(o, "month", json_string(m));
    err |= json_object_set_new(o, "funnel_reached", fr);
    err |= json_object_set_new(o, "completion", comp);
    err |= json_object_set_new(o, "progression", pr);
    if (err)
        return json_decref(o), NULL;
    return o;
}

static void row_add(hrow_t *t, const hrow_t *r)
{
    for (int s = 0; s < 6; s++)
        t->reached[s] += r->reached[s];
    t->enrolled += r->enrolled;
    t->complete += r->complete;
    t->at_risk += r->at_risk;
    t->credited += r->credited;
    t->required += r->required;
    t->during += r->during;
    t->after += r->after;
    t->promoted += r->promoted;
}

json_t *projx_history_json(cohort_t *const *cs, size_t n)
{
    json_t *o = json_object(), *rows = json_array();
    int lo = 0, hi = -1, err = !o || !rows;
    for (size_t i = 0; i < n; i++) {
        const cohort_t *c = cs[i];
        if (!c->n_hist)
            continue;
        if (hi < lo || c->hist[0].month < lo)
            lo = c->hist[0].month;
        if (c->hist[c->n_hist - 1].month > hi)
            hi = c->hist[c->n_hist - 1].month;
    }
    if (hi >= lo && hi - lo >= PROJ_HISTORY_MAX)
        lo = hi - PROJ_HISTORY_MAX + 1;
    for (int m = lo; !err && m <= hi; m++) {
        hrow_t t = {0};
        int any = 0;
        t.month = m;
        for (size_t i = 0; i < n; i++) {
            const cohort_t *c = cs[i];
            long j;
            if (!c->n_hist || m < c->hist[0].month)
                continue;
            j = m - c->hist[0].month;
            if (j < (long)c->n_hist && c->hist[j].month == m) {
                row_add(&t, &c->hist[j]);
                any = 1;
            }
        }
        if (any)
            err |= json_array_append_new(rows, row_json(&t));
    }
    err |= json_object_set_new(o, "monthly", rows);
    if (err)
        return json_decref(o), NULL;
    return o;
}

/* ------------------------------------------------------- save / load --- */

json_t *projx_history_save(const cohort_t *c)
{
    json_t *l = json_array();
    int err = !l;
    for (size_t i = 0; !err && i < c->n_hist; i++) {
        const hrow_t *r = &c->hist[i];
        char m[8];
        month_text(r->month, m);
        err |= json_array_append_new(
            l, json_pack(
                   "[s[IIIIII]IIIIIIII]", m, (json_int_t)r->reached[0], (json_int_t)r->reached[1],
                   (json_int_t)r->reached[2], (json_int_t)r->reached[3], (json_int_t)r->reached[4],
                   (json_int_t)r->reached[5], (json_int_t)r->enrolled, (json_int_t)r->complete,
                   (json_int_t)r->at_risk, (json_int_t)r->credited, (json_int_t)r->required,
                   (json_int_t)r->during, (json_int_t)r->after, (json_int_t)r->promoted));
    }
    if (err)
        return json_decref(l), NULL;
    return l;
}

/* Element i of array a as a count (0 .. LONG_MAX / 4), or -1. */
static long count_at(json_t *a, size_t i)
{
    json_t *v = json_array_get(a, i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > (json_int_t)(0x7fffffffL))
        return -1;
    return (long)json_integer_value(v);
}

int projx_history_load(cohort_t *c, const char *opened, json_t *rows)
{
    size_t n = json_array_size(rows);
    int om = month_parse(opened);
    if (om < 0 || !json_is_array(rows) || n > PROJ_HISTORY_MAX)
        return -EINVAL;
    if (n && rows_reserve(c) < 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(rows, i), *fr = json_array_get(a, 1);
        hrow_t r = {0};
        long v[8];
        if (!json_is_array(a) || json_array_size(a) != 10 || !json_is_array(fr) ||
            json_array_size(fr) != 6 ||
            (r.month = month_parse(json_string_value(json_array_get(a, 0)))) < 0 ||
            (i && r.month != c->hist[i - 1].month + 1) || (!i && r.month < om))
            return -EINVAL;
        for (size_t s = 0; s < 6; s++)
            if ((r.reached[s] = count_at(fr, s)) < 0)
                return -EINVAL;
        for (size_t k = 0; k < 8; k++)
            if ((v[k] = count_at(a, k + 2)) < 0)
                return -EINVAL;
        r.enrolled = v[0];
        r.complete = v[1];
        r.at_risk = v[2];
        r.credited = v[3];
        r.required = v[4];
        r.during = v[5];
        r.after = v[6];
        r.promoted = v[7];
        c->hist[c->n_hist++] = r;
    }
    c->opened_month = om;
    return 0;
}

void projx_history_opened(const proj_t *self, cohort_t *c)
{
    if (c && !c->opened_month)
        c->opened_month = projx_month_of_us(self->as_of);
}
