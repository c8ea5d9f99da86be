/* notify.c: READY/STATUS/WATCHDOG/RELOADING/STOPPING for the service
 * manager over libsystemd's sd_notify (see notify.h for the contract).
 *
 * State: whether there is a NOTIFY_SOCKET at all, two unreferenced loop
 * timers (the watchdog ping and the STATUS refresh), the sources of the
 * STATUS line (borrowed until notify_stopping) and the last STATUS text
 * sent, so an unchanged one is not sent again. */
#include "notify.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

#define STATUS_MS 1000 /* STATUS= refresh period (sent only when changed) */

struct notify_t {
    int enabled;          /* NOTIFY_SOCKET was set: send, run timers */
    uv_timer_t watchdog;  /* WATCHDOG=1 every half interval; initialised iff watchdog_ms */
    uv_timer_t refresh;   /* STATUS= refresh every STATUS_MS; initialised iff enabled */
    int handles;          /* timers initialised and not yet closed */
    uint64_t watchdog_ms; /* ping period (half of WATCHDOG_USEC); 0 = no watchdog timer */
    int ready;            /* notify_ready was called (refresh running) */
    int stopping;         /* notify_stopping was called */
    ingest_t *ingest;     /* sequence and agents, borrowed; NULL after stopping */
    publish_t *pub;       /* subscribers, borrowed; NULL after stopping */
    char last[160];       /* the STATUS text last sent ("" = none yet) */
    uint64_t sent;        /* messages the service manager accepted */
    int failed_logged;    /* a send failure was logged (only the first is) */
};

/* Sends one message (newline-separated assignments). */
static void send_msg(notify_t *self, const char *msg)
{
    int rc = sd_notify(0, msg);
    if (rc > 0) {
        self->sent++;
        return;
    }
    if (rc < 0 && !self->failed_logged) {
        self->failed_logged = 1;
        cohort_log(LOG_WARNING, "notify: cannot tell the service manager (%.40s...): %s", msg,
                   strerror(-rc));
    }
}

/* The STATUS text for now, into buf. */
static void status_text(const notify_t *self, char *buf, size_t len)
{
    ingest_stats_t ist = {0};
    publish_stats_t pst = {0};
    uint64_t seq = 0;
    if (self->ingest) {
        ingest_stats(self->ingest, &ist);
        seq = ingest_head(self->ingest);
    }
    if (self->pub)
        publish_stats(self->pub, &pst);
    snprintf(buf, len, "seq %llu, %llu agent%s, %llu subscriber%s", (unsigned long long)seq,
             (unsigned long long)ist.peers, ist.peers == 1 ? "" : "s",
             (unsigned long long)pst.peers, pst.peers == 1 ? "" : "s");
}

/* Sends prefix (may be "") followed by STATUS=<now>; remembers the text. */
static void send_status(notify_t *self, const char *prefix)
{
    char text[sizeof self->last], msg[sizeof self->last + 64];
    status_text(self, text, sizeof text);
    snprintf(msg, sizeof msg, "%sSTATUS=%s", prefix, text);
    send_msg(self, msg);
    memcpy(self->last, text, sizeof self->last);
}

static void on_watchdog(uv_timer_t *t)
{
    send_msg(t->data, "WATCHDOG=1");
}

static void on_refresh(uv_timer_t *t)
{
    notify_t *self = t->data;
    char text[sizeof self->last];
    if (self->stopping)
        return;
    status_text(self, text, sizeof text);
    if (strcmp(text, self->last) != 0)
        send_status(self, "");
}

int notify_new(notify_t **out, uv_loop_t *loop, ingest_t *ingest, publish_t *pub, char *err,
               size_t errlen)
{
    uint64_t usec = 0;
    int rc;
    notify_t *self = calloc(1, sizeof *self);
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->ingest = ingest;
    self->pub = pub;
    const char *sock = getenv("NOTIFY_SOCKET");
    if (!sock || !*sock) {
        *out = self; /* not started by a service manager: nothing to do */
        return 0;
    }
    self->enabled = 1;
    if ((rc = uv_timer_init(loop, &self->refresh)) < 0) {
        snprintf(err, errlen, "notify: STATUS timer: %s", uv_strerror(rc));
        free(self);
        return rc;
    }
    self->refresh.data = self;
    self->handles = 1;
    uv_unref((uv_handle_t *)&self->refresh);
    rc = sd_watchdog_enabled(0, &usec);
    if (rc < 0)
        cohort_log(LOG_WARNING, "notify: ignoring the watchdog settings (WATCHDOG_USEC): %s",
                   strerror(-rc));
    if (rc > 0 && usec > 0) {
        uint64_t ms = usec / 2000 ? usec / 2000 : 1;
        if ((rc = uv_timer_init(loop, &self->watchdog)) < 0) {
            snprintf(err, errlen, "notify: watchdog timer: %s", uv_strerror(rc));
            goto fail;
        }
        self->watchdog.data = self;
        self->watchdog_ms = ms;
        self->handles++;
        uv_unref((uv_handle_t *)&self->watchdog);
        if ((rc = uv_timer_start(&self->watchdog, on_watchdog, ms, ms)) < 0) {
            snprintf(err, errlen, "notify: watchdog timer: %s", uv_strerror(rc));
            goto fail;
        }
    }
    if (self->watchdog_ms)
        cohort_log(LOG_INFO,
                   "notify: service manager notifications on; watchdog ping every %llu ms",
                   (unsigned long long)self->watchdog_ms);
    else
        cohort_log(LOG_INFO, "notify: service manager notifications on; no watchdog");
    *out = self;
    return 0;
fail:
    notify_destroy(&self);
    return rc;
}

void notify_ready(notify_t *self)
{
    if (!self || !self->enabled || self->stopping)
        return;
    send_status(self, "READY=1\n");
    if (!self->ready) {
        self->ready = 1;
        uv_timer_start(&self->refresh, on_refresh, STATUS_MS, STATUS_MS);
    }
}

void notify_reloading(notify_t *self)
{
    struct timespec ts;
    char msg[96];
    if (!self || !self->enabled || self->stopping)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
    send_msg(self, msg);
}

void notify_stopping(notify_t *self)
{
    char text[sizeof self->last], msg[sizeof self->last + 64];
    if (!self || self->stopping)
        return;
    self->stopping = 1;
    if (self->enabled) {
        status_text(self, text, sizeof text);
        snprintf(msg, sizeof msg, "STOPPING=1\nSTATUS=stopping at %s: finishing work in flight",
                 text);
        send_msg(self, msg);
        uv_timer_stop(&self->refresh);
    }
    self->ingest = NULL;
    self->pub = NULL;
}

uint64_t notify_sent(const notify_t *self)
{
    return self ? self->sent : 0;
}

static void on_closed(uv_handle_t *h)
{
    notify_t *self = h->data;
    if (--self->handles == 0)
        free(self);
}

void notify_destroy(notify_t **self_p)
{
    notify_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    self->ingest = NULL;
    self->pub = NULL;
    if (!self->handles) {
        free(self);
        return;
    }
    if (self->watchdog_ms) /* set only once its timer is initialised */
        uv_close((uv_handle_t *)&self->watchdog, on_closed);
    uv_close((uv_handle_t *)&self->refresh, on_closed);
}
