/* web_feed.c: the subscriber thread and the document store of cohort-web
 * (see web_feed.h). */
#include "web_feed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_sub.h"

typedef struct {
    char *topic;  /* the topic */
    json_t *doc;  /* its document; NULL once removed (kept for web_feed_changed) */
    time_t at;    /* when it arrived */
    uint64_t gen; /* the store's generation when it last changed */
} item_t;

struct web_feed_t {
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;  /* signalled when gen moves or at shutdown */
    item_t *it;         /* sorted by topic */
    size_t n, cap;      /* used, allocated */
    uint64_t gen;       /* bumped at every change */
    time_t last;        /* when gen last moved (0: never) */
    int synced;         /* the subscriber's state is current */
    int stop;           /* shutdown asked */
    int started;        /* the thread runs */
    pthread_t th;       /* the subscriber thread */
    cohort_sub_t *sub;  /* used by the thread only */
};

/* Index of topic, or of where it would go (*found says which). */
static size_t find(const web_feed_t *self, const char *topic, int *found)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(self->it[mid].topic, topic);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static void on_update(void *arg, const cohort_sub_doc_t *d)
{
    web_feed_t *self = arg;
    int found;
    pthread_mutex_lock(&self->mu);
    size_t i = find(self, d->topic, &found);
    if (!found) {
        if (self->n == self->cap) {
            size_t nc = self->cap ? self->cap * 2 : 64;
            item_t *ni = realloc(self->it, nc * sizeof *ni);
            if (!ni) {
                pthread_mutex_unlock(&self->mu);
                return;
            }
            self->it = ni;
            self->cap = nc;
        }
        char *t = strdup(d->topic);
        if (!t) {
            pthread_mutex_unlock(&self->mu);
            return;
        }
        memmove(&self->it[i + 1], &self->it[i], (self->n - i) * sizeof *self->it);
        memset(&self->it[i], 0, sizeof self->it[i]);
        self->it[i].topic = t;
        self->n++;
    }
    item_t *it = &self->it[i];
    json_t *old = it->doc;
    /* A deep copy: the subscriber's document is its own, ours is read by
     * other threads. */
    it->doc = d->doc ? json_deep_copy(d->doc) : NULL;
    it->at = time(NULL);
    it->gen = ++self->gen;
    self->last = it->at;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    json_decref(old);
}

static void on_event(void *arg, cohort_sub_event_t ev, const char *reason)
{
    web_feed_t *self = arg;
    pthread_mutex_lock(&self->mu);
    if (ev == COHORT_SUB_SYNCED)
        self->synced = 1;
    else if (ev == COHORT_SUB_RESYNC || ev == COHORT_SUB_DENIED)
        self->synced = 0;
    pthread_mutex_unlock(&self->mu);
    if (ev != COHORT_SUB_SYNCED)
        fprintf(stderr, "cohort-web: status feed: %s%s%s\n", cohort_sub_event_name(ev),
                *reason ? ": " : "", reason);
    else
        fprintf(stderr, "cohort-web: status feed: synced\n");
}

static void *run(void *arg)
{
    web_feed_t *self = arg;
    for (;;) {
        pthread_mutex_lock(&self->mu);
        int stop = self->stop;
        pthread_mutex_unlock(&self->mu);
        if (stop)
            break;
        int rc = cohort_sub_run(self->sub, 200);
        if (rc == -EACCES) { /* denied for good: nothing more will come */
            struct timespec ts = {0, 200 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

web_feed_t *web_feed_new(const web_feed_opts_t *o, char *err, size_t errlen)
{
    web_feed_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->cv, NULL);
    /* Every status topic the web role reads, by name. */
    cohort_prefix_t p[COHORT_SCOPE_MAX];
    size_t np = cohort_scope_prefixes(COHORT_ROLE_WEB, NULL, p);
    const char *pre[COHORT_SCOPE_MAX];
    for (size_t i = 0; i < np; i++)
        pre[i] = p[i].p;
    cohort_sub_opts_t so = {
        .publish = o->publish,
        .snapshot = o->snapshot,
        .prefixes = pre,
        .nprefixes = np,
        .on_update = on_update,
        .on_event = on_event,
        .arg = self,
        .curve = o->curve,
    };
    self->sub = cohort_sub_new(&so);
    if (!self->sub) {
        snprintf(err, errlen, "cannot subscribe to %s: %s", o->publish ? o->publish : "(default)",
                 strerror(errno));
        web_feed_destroy(&self);
        return NULL;
    }
    int rc = pthread_create(&self->th, NULL, run, self);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the feed thread: %s", strerror(rc));
        web_feed_destroy(&self);
        return NULL;
    }
    self->started = 1;
    return self;
}

void web_feed_shutdown(web_feed_t *self)
{
    pthread_mutex_lock(&self->mu);
    self->stop = 1;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    if (self->started) {
        pthread_join(self->th, NULL);
        self->started = 0;
    }
}

void web_feed_destroy(web_feed_t **self_p)
{
    web_feed_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    web_feed_shutdown(self);
    cohort_sub_destroy(&self->sub);
    for (size_t i = 0; i < self->n; i++) {
        free(self->it[i].topic);
        json_decref(self->it[i].doc);
    }
    free(self->it);
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

json_t *web_feed_get(web_feed_t *self, const char *topic, time_t *at)
{
    int found;
    json_t *d = NULL;
    pthread_mutex_lock(&self->mu);
    size_t i = find(self, topic, &found);
    if (found && self->it[i].doc) {
        d = json_incref(self->it[i].doc);
        if (at)
            *at = self->it[i].at;
    }
    pthread_mutex_unlock(&self->mu);
    return d;
}

/* Collects matching topics under the lock, calls fn outside it. */
static size_t each(web_feed_t *self, const char *prefix, int changed, uint64_t since,
                   cohort_role_t role, const char *agency, void (*fn)(void *, const char *),
                   void *arg)
{
    size_t n = 0, pl = prefix ? strlen(prefix) : 0;
    char **list = NULL;
    pthread_mutex_lock(&self->mu);
    list = calloc(self->n ? self->n : 1, sizeof *list);
    for (size_t i = 0; list && i < self->n; i++) {
        const item_t *it = &self->it[i];
        if (changed ? it->gen <= since : !it->doc)
            continue;
        if (pl && strncmp(it->topic, prefix, pl) != 0)
            continue;
        if (!cohort_scope_may_read(role, agency, it->topic))
            continue;
        if ((list[n] = strdup(it->topic)))
            n++;
    }
    pthread_mutex_unlock(&self->mu);
    for (size_t i = 0; i < n; i++) {
        fn(arg, list[i]);
        free(list[i]);
    }
    free(list);
    return n;
}

size_t web_feed_each(web_feed_t *self, const char *prefix, cohort_role_t role, const char *agency,
                     void (*fn)(void *arg, const char *topic), void *arg)
{
    return each(self, prefix, 0, 0, role, agency, fn, arg);
}

size_t web_feed_changed(web_feed_t *self, uint64_t since, cohort_role_t role, const char *agency,
                        void (*fn)(void *arg, const char *topic), void *arg)
{
    return each(self, NULL, 1, since, role, agency, fn, arg);
}

uint64_t web_feed_generation(web_feed_t *self)
{
    pthread_mutex_lock(&self->mu);
    uint64_t g = self->gen;
    pthread_mutex_unlock(&self->mu);
    return g;
}

int64_t web_feed_wait(web_feed_t *self, uint64_t since, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&self->mu);
    while (!self->stop && self->gen <= since)
        if (pthread_cond_timedwait(&self->cv, &self->mu, &ts) == ETIMEDOUT)
            break;
    int64_t r = self->stop ? -ECANCELED : (int64_t)self->gen;
    pthread_mutex_unlock(&self->mu);
    return r;
}

int web_feed_synced(web_feed_t *self)
{
    pthread_mutex_lock(&self->mu);
    int s = self->synced;
    pthread_mutex_unlock(&self->mu);
    return s;
}

void web_feed_stats(web_feed_t *self, web_feed_stats_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&self->mu);
    for (size_t i = 0; i < self->n; i++)
        out->documents += self->it[i].doc != NULL;
    out->generation = self->gen;
    out->synced = self->synced;
    out->last_change = self->last;
    pthread_mutex_unlock(&self->mu);
}
