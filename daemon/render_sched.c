/* render_sched.c: when the status documents are rendered (see
 * render_sched.h for the contracts). */
#include "render_sched.h"
#include "cohort_grow.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <uv.h>

/* Coalescing state of one topic. */
typedef struct {
    char *name;       /* the topic, the hash key */
    uint64_t last_ms; /* when it was last rendered (monotonic) */
    int pending;      /* changed since, not rendered yet */
    UT_hash_handle hh;
} rtopic_t;

struct rsched_t {
    unsigned coalesce_ms;          /* a topic is rendered at most once per this */
    uint64_t (*now_ns)(void *arg); /* the monotonic clock */
    void *clock_arg;               /* its argument */
    rtopic_t *topics;              /* every topic seen, hash by name */
    size_t npending;               /* topics held back */
    uint64_t next_ns;              /* duty gate: no topic renders before this */
};

static uint64_t hrtime(void *arg)
{
    (void)arg;
    return uv_hrtime();
}

rsched_t *rsched_new(unsigned coalesce_ms, uint64_t (*now_ns)(void *arg), void *arg)
{
    rsched_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->coalesce_ms = coalesce_ms;
    self->now_ns = now_ns ? now_ns : hrtime;
    self->clock_arg = arg;
    return self;
}

void rsched_destroy(rsched_t **self_p)
{
    rsched_t *self = self_p ? *self_p : NULL;
    rtopic_t *t, *tmp;
    if (!self)
        return;
    *self_p = NULL;
    HASH_ITER(hh, self->topics, t, tmp)
    {
        HASH_DEL(self->topics, t);
        free(t->name);
        free(t);
    }
    free(self);
}

void rsched_collect(rsched_t *self, proj_t *proj)
{
    char **topics = NULL;
    size_t n = proj_take_dirty(proj, &topics);
    rtopic_t *t;
    for (size_t i = 0; i < n; i++) {
        HASH_FIND_STR(self->topics, topics[i], t);
        if (!t && (t = calloc(1, sizeof *t))) {
            t->name = topics[i];
            topics[i] = NULL;
            HASH_ADD_KEYPTR(hh, self->topics, t->name, strlen(t->name), t);
        }
        if (t && !t->pending) {
            t->pending = 1;
            self->npending++;
        }
    }
    proj_strv_free(topics, n);
}

int rsched_wanted(rsched_t *self, proj_t *proj)
{
    uint64_t now_ns, now;
    rtopic_t *t, *tmp;
    rsched_collect(self, proj);
    if (!self->npending)
        return 0;
    now_ns = self->now_ns(self->clock_arg);
    now = now_ns / 1000000;
    if (now_ns < self->next_ns)
        return 0;
    HASH_ITER(hh, self->topics, t, tmp)
    {
        if (t->pending && now - t->last_ms >= self->coalesce_ms)
            return 1;
    }
    return 0;
}

uint64_t rsched_render(rsched_t *self, proj_t *proj, size_t nevents, int all, rsched_list_t *out)
{
    uint64_t t0, now, due = 0, gate;
    int gated;
    size_t rendered = 0;
    rtopic_t *t, *tmp;
    rsched_collect(self, proj);
    if (!self->npending)
        return 0;
    t0 = self->now_ns(self->clock_arg);
    now = t0 / 1000000;
    gate = all ? 0 : (self->next_ns + 999999) / 1000000; /* in ms, rounded up */
    gated = !all && t0 < self->next_ns;
    HASH_ITER(hh, self->topics, t, tmp)
    {
        if (!t->pending)
            continue;
        uint64_t at = t->last_ms + self->coalesce_ms;
        if (at < gate)
            at = gate;
        if (!all && (now < at || gated)) {
            if (!due || at < due)
                due = at;
            continue;
        }
        if (cohort_grow((void **)&out->v, &out->cap, out->n + 1, sizeof *out->v) < 0)
            break; /* stays held back: tried again on the next rendering */
        rsched_update_t *u = &out->v[out->n];
        if (!(u->topic = strdup(t->name)))
            break;
        u->doc = proj_render(proj, t->name);
        u->versions = proj_release_versions(proj, t->name); /* NULL unless release/ */
        out->n++;
        rendered++;
        t->last_ms = now;
        t->pending = 0;
        self->npending--;
    }
    if (rendered) {
        uint64_t t1 = self->now_ns(self->clock_arg), f = nevents > 1 ? nevents - 1 : 0;
        self->next_ns = t1 + (f < RSCHED_DUTY ? f : RSCHED_DUTY) * (t1 - t0);
    }
    if (self->npending && !due)
        due = now + 1; /* held back by out-of-memory: retry soon */
    return due;
}

size_t rsched_pending(const rsched_t *self)
{
    return self->npending;
}

void rsched_list_clear(rsched_list_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].topic);
        free(l->v[i].doc);
        free(l->v[i].versions);
    }
    l->n = 0;
}

void rsched_list_free(rsched_list_t *l)
{
    rsched_list_clear(l);
    free(l->v);
    memset(l, 0, sizeof *l);
}
