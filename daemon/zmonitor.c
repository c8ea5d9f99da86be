/* zmonitor.c: handshake-failure log lines and the connected-peer count of
 * a server socket (see zmonitor.h for the contract).
 *
 * State: the monitored socket (borrowed), the PAIR socket libzmq sends its
 * events to, per reason the time of its last log line and how many
 * failures were not logged since, and the connection counts. */
#include "zmonitor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "zbridge.h"

#define CAP 32         /* events per drain call */
#define QUIET_MS 10000 /* one line per reason per this */
#define NREASONS 3     /* mechanism, cryptographic, other */
#define SETTLE_MS 2000 /* after ZMQ_HANDSHAKE_IVL, every open connection is handshaken */
/* failures that may be logged (ZAP refusals are logged by auth.c) */
#define LOGGED (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
#define FAILED (LOGGED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define EVENTS                                                                                     \
    (FAILED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
#define PAIR_RCVHWM 10000 /* events queued for the loop (with libzmq's own 1000) */

struct zmonitor_t {
    uv_loop_t *loop;            /* for uv_now */
    void *zsock;                /* the monitored socket, borrowed */
    void *pair;                 /* receives libzmq's events, owned */
    zbridge_t *bridge;          /* readiness of pair on loop */
    char name[32];              /* log line prefix */
    uint64_t failures;          /* handshake failures seen */
    uint64_t last_ms[NREASONS]; /* when each reason was last logged (0 = never) */
    uint64_t quiet[NREASONS];   /* failures of each reason since, not logged */
    uint64_t open;              /* connections accepted and not yet disconnected */
    uint64_t peers;             /* of those, handshaken (estimate; <= open) */
    uint64_t unsettled;         /* failed handshakes whose DISCONNECTED is still to come */
    uint64_t accepted_ms;       /* uv_now of the last ACCEPTED (0 = none yet) */
    uint64_t settle_ms;         /* ZMQ_HANDSHAKE_IVL + SETTLE_MS; 0 = handshakes never time out */
};

/* What a failure event means for an operator: *idx is its rate-limit slot. */
static const char *reason(uint16_t event, uint32_t value, int *idx)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH) {
        *idx = 0;
        return "the client does not use CURVE (a plain-text client?)";
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL &&
        value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        *idx = 1;
        return "cannot decrypt the client's handshake (it has the wrong server public key?)";
    }
    *idx = 2;
    return event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
               ? "ZMTP protocol error"
               : "connection closed during the handshake (a plain-text client, or a "
                 "wrong server key?)";
}

/* 1 if no connection was accepted for longer than a handshake may take:
 * every open connection is then handshaken. */
static int settled(const zmonitor_t *self)
{
    return self->settle_ms && uv_now(self->loop) - self->accepted_ms >= self->settle_ms;
}

/* Applies a connection event to the counts (see zmonitor.h). */
static void count(zmonitor_t *self, uint16_t ev)
{
    if (settled(self)) {
        self->peers = self->open;
        self->unsettled = 0;
    }
    if (ev & ZMQ_EVENT_ACCEPTED) {
        self->open++;
        self->accepted_ms = uv_now(self->loop);
    } else if (ev & ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->peers++;
    } else if (ev & FAILED) {
        self->unsettled++;
    } else if (ev & ZMQ_EVENT_DISCONNECTED) {
        if (self->open)
            self->open--;
        if (self->unsettled)
            self->unsettled--;
        else if (self->peers)
            self->peers--;
    }
    if (self->peers > self->open)
        self->peers = self->open;
    if (!self->open)
        self->unsettled = 0;
}

/* 1 if the monitored socket is a CURVE server (failures are logged). */
static int curve(const zmonitor_t *self)
{
    int mech = 0;
    size_t len = sizeof mech;
    return zmq_getsockopt(self->zsock, ZMQ_MECHANISM, &mech, &len) == 0 && mech == ZMQ_CURVE;
}

/* Handles one event message: [6 bytes: event, value][endpoint]. */
static void event(zmonitor_t *self, zmq_msg_t *head, zmq_msg_t *ep)
{
    uint16_t ev;
    uint32_t value;
    int idx;
    if (zmq_msg_size(head) != 6)
        return;
    memcpy(&ev, zmq_msg_data(head), 2);
    memcpy(&value, (const char *)zmq_msg_data(head) + 2, 4);
    count(self, ev);
    if (!(ev & LOGGED))
        return;
    self->failures++;
    if (!curve(self))
        return;
    const char *why = reason(ev, value, &idx);
    uint64_t now = uv_now(self->loop);
    if (self->last_ms[idx] && now - self->last_ms[idx] < QUIET_MS) {
        self->quiet[idx]++;
        return;
    }
    int len = (int)(zmq_msg_size(ep) > 200 ? 200 : zmq_msg_size(ep));
    if (self->quiet[idx])
        cohort_log(LOG_WARNING,
                   "%s: handshake failed on %.*s: %s (and %llu times since the last "
                   "line)",
                   self->name, len, (const char *)zmq_msg_data(ep), why,
                   (unsigned long long)self->quiet[idx]);
    else
        cohort_log(LOG_WARNING, "%s: handshake failed on %.*s: %s", self->name, len,
                   (const char *)zmq_msg_data(ep), why);
    self->last_ms[idx] = now ? now : 1;
    self->quiet[idx] = 0;
}

/* zbridge handler: reads up to CAP event messages. */
static int on_input(void *arg)
{
    zmonitor_t *self = arg;
    for (int i = 0; i < CAP; i++) {
        zmq_msg_t parts[ZBRIDGE_MAX_PARTS];
        int n = 0;
        int rc = zbridge_recv(self->pair, parts, &n);
        if (rc == -EAGAIN)
            return 0;
        if (rc == 2)
            event(self, &parts[0], &parts[1]);
        for (int k = 0; k < n; k++)
            zmq_msg_close(&parts[k]);
        if (rc < 0)
            return 0;
    }
    return 1;
}

int zmonitor_new(zmonitor_t **out, uv_loop_t *loop, void *zctx, void *zsock, const char *name,
                 char *err, size_t errlen)
{
    static unsigned serial;
    char ep[96];
    int rc, linger = 0, hwm = PAIR_RCVHWM, ivl = 0;
    size_t ivl_len = sizeof ivl;
    zmonitor_t *self = calloc(1, sizeof *self);
    *out = NULL;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->zsock = zsock;
    if (zmq_getsockopt(zsock, ZMQ_HANDSHAKE_IVL, &ivl, &ivl_len) == 0 && ivl > 0)
        self->settle_ms = (uint64_t)ivl + SETTLE_MS;
    snprintf(self->name, sizeof self->name, "%s", name);
    snprintf(ep, sizeof ep, "inproc://cohortd-monitor-%u-%s", ++serial, self->name);
    if (zmq_socket_monitor(zsock, ep, EVENTS) != 0) {
        rc = -errno;
        snprintf(err, errlen, "monitoring the %s socket: %s", name, zmq_strerror(errno));
        free(self);
        return rc;
    }
    if (!(self->pair = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(self->pair, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(self->pair, ep) != 0) {
        rc = -errno;
        snprintf(err, errlen, "connecting to the %s socket's monitor: %s", name,
                 zmq_strerror(errno));
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->pair, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the %s socket's monitor: %s", name, uv_strerror(rc));
        goto fail;
    }
    *out = self;
    return 0;
fail:
    zmq_socket_monitor(zsock, NULL, 0);
    if (self->pair)
        zmq_close(self->pair);
    free(self);
    return rc;
}

uint64_t zmonitor_failures(const zmonitor_t *self)
{
    return self->failures;
}

uint64_t zmonitor_peers(const zmonitor_t *self)
{
    return settled(self) ? self->open : self->peers;
}

void zmonitor_destroy(zmonitor_t **self_p)
{
    zmonitor_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    zbridge_close(&self->bridge);
    zmq_socket_monitor(self->zsock, NULL, 0);
    zmq_close(self->pair);
    free(self);
}
