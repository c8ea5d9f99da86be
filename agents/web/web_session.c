/* web_session.c: cohort-web's sessions, CSRF tokens and login rate limits
 * (see web_session.h). */
#include "web_session.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int used;                        /* 1 if the slot holds a session */
    char id[WEB_SESSION_ID_HEX + 1]; /* its id */
    time_t last;                     /* its last use */
    web_session_t s;                 /* what it carries */
} slot_t;

typedef struct {
    char key[WEB_NAME_MAX + 72]; /* "u:" + name or "a:" + address; "" = free */
    time_t first;                /* time of the first failure in the window */
    unsigned fails;              /* failures since then */
} rate_t;

struct web_sessions_t {
    pthread_mutex_t mu; /* guards everything below */
    slot_t *slot;       /* max slots */
    size_t max;         /* how many */
    unsigned idle_s;    /* idle expiry */
    rate_t *rate;       /* WEB_RATE_SLOTS entries */
};

void web_random_hex(char out[WEB_SESSION_ID_HEX + 1])
{
    unsigned char b[WEB_SESSION_ID_HEX / 2];
    randombytes_buf(b, sizeof b);
    sodium_bin2hex(out, WEB_SESSION_ID_HEX + 1, b, sizeof b);
    sodium_memzero(b, sizeof b);
}

web_sessions_t *web_sessions_new(size_t max, unsigned idle_s)
{
    if (max < 1 || idle_s < 1 || sodium_init() < 0) {
        errno = EINVAL;
        return NULL;
    }
    web_sessions_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->slot = calloc(max, sizeof *self->slot);
    self->rate = calloc(WEB_RATE_SLOTS, sizeof *self->rate);
    if (!self->slot || !self->rate) {
        free(self->slot);
        free(self->rate);
        free(self);
        errno = ENOMEM;
        return NULL;
    }
    self->max = max;
    self->idle_s = idle_s;
    pthread_mutex_init(&self->mu, NULL);
    return self;
}

void web_sessions_destroy(web_sessions_t **self_p)
{
    web_sessions_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    sodium_memzero(self->slot, self->max * sizeof *self->slot);
    free(self->slot);
    free(self->rate);
    pthread_mutex_destroy(&self->mu);
    free(self);
}

int web_session_create(web_sessions_t *self, const web_user_t *user, time_t now,
                       char id[WEB_SESSION_ID_HEX + 1], web_session_t *out)
{
    pthread_mutex_lock(&self->mu);
    slot_t *s = NULL;
    for (size_t i = 0; i < self->max && !s; i++) /* a free or expired slot */
        if (!self->slot[i].used || now - self->slot[i].last > (time_t)self->idle_s)
            s = &self->slot[i];
    if (!s) { /* full: drop the session unused longest */
        s = &self->slot[0];
        for (size_t i = 1; i < self->max; i++)
            if (self->slot[i].last < s->last)
                s = &self->slot[i];
    }
    memset(s, 0, sizeof *s);
    s->used = 1;
    s->last = now;
    web_random_hex(s->id);
    web_random_hex(s->s.csrf);
    s->s.user = *user;
    memcpy(id, s->id, sizeof s->id);
    *out = s->s;
    pthread_mutex_unlock(&self->mu);
    return 0;
}

/* The slot id names, or NULL. Caller holds the mutex. */
static slot_t *lookup(web_sessions_t *self, const char *id)
{
    if (!id || strlen(id) != WEB_SESSION_ID_HEX)
        return NULL;
    for (size_t i = 0; i < self->max; i++)
        if (self->slot[i].used && sodium_memcmp(self->slot[i].id, id, WEB_SESSION_ID_HEX) == 0)
            return &self->slot[i];
    return NULL;
}

int web_session_find(web_sessions_t *self, const char *id, time_t now, web_session_t *out)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&self->mu);
    slot_t *s = lookup(self, id);
    if (s && now - s->last > (time_t)self->idle_s)
        sodium_memzero(s, sizeof *s);
    else if (s) {
        s->last = now;
        *out = s->s;
        rc = 0;
    }
    pthread_mutex_unlock(&self->mu);
    return rc;
}

void web_session_end(web_sessions_t *self, const char *id)
{
    pthread_mutex_lock(&self->mu);
    slot_t *s = lookup(self, id);
    if (s)
        sodium_memzero(s, sizeof *s);
    pthread_mutex_unlock(&self->mu);
}

int web_session_csrf_ok(const web_session_t *s, const char *token)
{
    if (!token || strlen(token) != WEB_SESSION_ID_HEX)
        return 0;
    return sodium_memcmp(s->csrf, token, WEB_SESSION_ID_HEX) == 0;
}

size_t web_sessions_retain(web_sessions_t *self, int (*keep)(void *arg, const web_user_t *u),
                           void *arg)
{
    size_t ended = 0;
    pthread_mutex_lock(&self->mu);
    for (size_t i = 0; i < self->max; i++)
        if (self->slot[i].used && !keep(arg, &self->slot[i].s.user)) {
            sodium_memzero(&self->slot[i], sizeof self->slot[i]);
            ended++;
        }
    pthread_mutex_unlock(&self->mu);
    return ended;
}

size_t web_session_count(web_sessions_t *self)
{
    size_t n = 0;
    pthread_mutex_lock(&self->mu);
    for (size_t i = 0; i < self->max; i++)
        n += self->slot[i].used != 0;
    pthread_mutex_unlock(&self->mu);
    return n;
}

/* The rate entry for key, made (reusing the oldest) if make; or NULL.
 * Caller holds the mutex. */
static rate_t *rate_slot(web_sessions_t *self, const char *kind, const char *v, int make,
                         time_t now)
{
    char key[sizeof self->rate[0].key];
    snprintf(key, sizeof key, "%s:%s", kind, v ? v : "");
    rate_t *oldest = &self->rate[0];
    for (size_t i = 0; i < WEB_RATE_SLOTS; i++) {
        rate_t *r = &self->rate[i];
        if (r->key[0] && now - r->first >= WEB_LOGIN_WINDOW_S)
            memset(r, 0, sizeof *r); /* the window is over */
        if (r->key[0] && strcmp(r->key, key) == 0)
            return r;
        if (!r->key[0] || (oldest->key[0] && r->first < oldest->first))
            oldest = r;
    }
    if (!make)
        return NULL;
    memset(oldest, 0, sizeof *oldest);
    snprintf(oldest->key, sizeof oldest->key, "%s", key);
    oldest->first = now;
    return oldest;
}

int web_login_allowed(web_sessions_t *self, const char *user, const char *addr, time_t now)
{
    pthread_mutex_lock(&self->mu);
    rate_t *u = rate_slot(self, "u", user, 0, now);
    int over = u && u->fails >= WEB_LOGIN_FAILS;
    rate_t *a = rate_slot(self, "a", addr, 0, now);
    over |= a && a->fails >= WEB_LOGIN_FAILS;
    pthread_mutex_unlock(&self->mu);
    return over ? -EAGAIN : 0;
}

void web_login_result(web_sessions_t *self, const char *user, const char *addr, int success,
                      time_t now)
{
    pthread_mutex_lock(&self->mu);
    if (success) {
        rate_t *u = rate_slot(self, "u", user, 0, now);
        if (u)
            memset(u, 0, sizeof *u);
    } else {
        rate_slot(self, "u", user, 1, now)->fails++;
        rate_slot(self, "a", addr, 1, now)->fails++;
    }
    pthread_mutex_unlock(&self->mu);
}
