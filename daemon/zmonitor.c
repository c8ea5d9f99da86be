/* zmonitor.c: handshake-failure log lines and the connected-peer count of
 * a server socket (see zmonitor.h for the contract).
 *
 * State: the monitored socket (borrowed), the PAIR socket libzmq sends its
 * events to, per reason the time of its last log line and how many
 * failures were not logged since, and the connection counts. */
#include "zmonitor.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <zmq.h>

#include "admit.h"
#include "log.h"
#include "zbridge.h"

#define CAP 32         /* events per drain call */
#define QUIET_MS 10000 /* one line per reason per this */
#define NREASONS 3     /* mechanism, cryptographic, other */
#define LIMIT_SLOT 3   /* log slot of connections closed by the limits */
#define SCAN_MS 100    /* with limits: every connection is checked this often */
#define SETTLE_MS 2000 /* after ZMQ_HANDSHAKE_IVL, every open connection is handshaken */
/* failures that may be logged (ZAP refusals are logged by auth.c) */
#define LOGGED (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
#define FAILED (LOGGED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
#define EVENTS                                                                                     \
    (FAILED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
#define PAIR_RCVHWM 10000 /* events queued for the loop (with libzmq's own 1000) */

struct zmonitor_t {
    uv_loop_t *loop;                /* for uv_now */
    void *zsock;                    /* the monitored socket, borrowed */
    void *pair;                     /* receives libzmq's events, owned */
    zbridge_t *bridge;              /* readiness of pair on loop */
    char name[32];                  /* log line prefix */
    uint64_t failures;              /* handshake failures seen */
    uint64_t last_ms[NREASONS + 1]; /* when each reason (and LIMIT_SLOT) was last logged */
    uint64_t quiet[NREASONS + 1];   /* events of each since, not logged */
    admit_t *admit;                 /* the connection limits, borrowed; NULL: none */
    int port;                       /* where zsock listens: TCP port, 0 ipc://, -1 unknown */
    char ipc_path[108];             /* ipc://: the socket file's path (sun_path) */
    uv_timer_t scan;                /* with limits: the periodic scan of the sockets */
    int scanning;                   /* scan was initialised (close it; free in its callback) */
    int no_proc;                    /* /proc/self/fd cannot be read (logged once) */
    uint64_t open;                  /* connections accepted and not yet disconnected */
    uint64_t peers;                 /* of those, handshaken (estimate; <= open) */
    uint64_t unsettled;             /* failed handshakes whose DISCONNECTED is still to come */
    uint64_t accepted_ms;           /* uv_now of the last ACCEPTED (0 = none yet) */
    uint64_t settle_ms; /* ZMQ_HANDSHAKE_IVL + SETTLE_MS; 0 = handshakes never time out */
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

/* Where the monitored socket listens (self->port), from ZMQ_LAST_ENDPOINT. */
static void listen_port(zmonitor_t *self)
{
    char ep[256];
    size_t len = sizeof ep;
    const char *colon;
    if (zmq_getsockopt(self->zsock, ZMQ_LAST_ENDPOINT, ep, &len) != 0 || len == 0)
        return;
    ep[sizeof ep - 1] = '\0';
    if (strncmp(ep, "ipc://", 6) == 0 && strlen(ep + 6) < sizeof self->ipc_path) {
        snprintf(self->ipc_path, sizeof self->ipc_path, "%s", ep + 6);
        self->port = 0;
    } else if (strncmp(ep, "tcp://", 6) == 0 && (colon = strrchr(ep, ':')) && colon[1])
        self->port = atoi(colon + 1);
}

/* The peer of fd as text in addr (ADMIT_ADDR_MAX bytes; "" and *local = 1
 * for an AF_UNIX peer). Returns 0, or -1 unless fd is a connected stream
 * socket on the port (or ipc:// path) the monitored socket listens on, not
 * another socket's connection: a DISCONNECTED that
 * is still queued may let libzmq's fd number be reused by anything. */
static int peer_of(zmonitor_t *self, int fd, char *addr, int *local)
{
    struct sockaddr_storage peer, me;
    socklen_t pl = sizeof peer, ml = sizeof me, tl;
    int type = 0, port = -1;
    if (self->port < 0)
        listen_port(self);
    /* An unnamed AF_UNIX socket (a client's, a socketpair) gets only its
     * family from getsockname: zeroed, its sun_path reads "" below, never
     * stale stack bytes (which could hold the listener's path from the
     * previous call and match it). */
    memset(&me, 0, sizeof me);
    tl = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM ||
        getpeername(fd, (struct sockaddr *)&peer, &pl) != 0 ||
        getsockname(fd, (struct sockaddr *)&me, &ml) != 0 || peer.ss_family != me.ss_family)
        return -1;
    if (peer.ss_family != AF_UNIX) { /* closed by us or the peer, not yet by libzmq */
        struct tcp_info ti;
        socklen_t il = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &il) != 0 ||
            ti.tcpi_state != TCP_ESTABLISHED)
            return -1;
    }
    addr[0] = '\0';
    *local = peer.ss_family == AF_UNIX;
    if (peer.ss_family == AF_UNIX) /* an accepted one is named by its listener's path */
        port = strncmp(((struct sockaddr_un *)&me)->sun_path, self->ipc_path,
                       sizeof self->ipc_path) == 0
                   ? 0
                   : -1;
    else if (peer.ss_family == AF_INET &&
             inet_ntop(AF_INET, &((struct sockaddr_in *)&peer)->sin_addr, addr, ADMIT_ADDR_MAX))
        port = ntohs(((struct sockaddr_in *)&me)->sin_port);
    else if (peer.ss_family == AF_INET6 &&
             inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&peer)->sin6_addr, addr, ADMIT_ADDR_MAX))
        port = ntohs(((struct sockaddr_in6 *)&me)->sin6_port);
    return port >= 0 && port == self->port ? 0 : -1;
}

/* admit_sweep's test: fd is still that peer's connection. */
static int still(void *arg, int fd, const char *addr)
{
    char now[ADMIT_ADDR_MAX];
    int local;
    if (peer_of(arg, fd, now, &local) != 0)
        return 0;
    return addr ? !local && strcmp(now, addr) == 0 : local;
}

/* A connection was accepted on fd: kept, or closed at once by the limits
 * (shutdown: libzmq then sees the end of the stream and closes it). */
static void admit_fd(zmonitor_t *self, int fd)
{
    char addr[ADMIT_ADDR_MAX];
    const char *why;
    int local;
    if (peer_of(self, fd, addr, &local) != 0)
        return; /* gone already (its DISCONNECTED follows) */
    if (admit_accepted(self->admit, fd, local ? NULL : addr, &why) == 0)
        return;
    /* Missed closes must not hold places: look again, then decide. */
    if (admit_sweep(self->admit, still, self) > 0 &&
        admit_accepted(self->admit, fd, local ? NULL : addr, &why) == 0)
        return;
    shutdown(fd, SHUT_RDWR);
    uint64_t now = uv_now(self->loop);
    if (self->last_ms[LIMIT_SLOT] && now - self->last_ms[LIMIT_SLOT] < QUIET_MS) {
        self->quiet[LIMIT_SLOT]++;
        return;
    }
    cohort_log(LOG_WARNING,
               "%s: closed a new connection from %s: %s is reached (%llu more closed since "
               "the last line)",
               self->name, local ? "a local process" : addr, why,
               (unsigned long long)self->quiet[LIMIT_SLOT]);
    self->last_ms[LIMIT_SLOT] = now ? now : 1;
    self->quiet[LIMIT_SLOT] = 0;
}

/* The scan: libzmq's events can be lost (its monitor queue is bounded), so
 * every SCAN_MS every socket of this process that is connected on the
 * monitored port is checked against the table: closes that were missed are
 * dropped from it, connections it does not know are kept or closed. */
static void on_scan(uv_timer_t *t)
{
    zmonitor_t *self = t->data;
    DIR *d;
    struct dirent *e;
    admit_sweep(self->admit, still, self);
    if (!(d = opendir("/proc/self/fd"))) {
        if (!self->no_proc)
            cohort_log(LOG_WARNING,
                       "%s: cannot read /proc/self/fd (%s): the connection limits rely on "
                       "libzmq's events alone",
                       self->name, strerror(errno));
        self->no_proc = 1;
        return;
    }
    while ((e = readdir(d))) {
        char addr[ADMIT_ADDR_MAX];
        int fd = atoi(e->d_name), local;
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d) ||
            admit_known(self->admit, fd) || peer_of(self, fd, addr, &local) != 0)
            continue;
        admit_fd(self, fd);
    }
    closedir(d);
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
    if (self->admit && (ev & ZMQ_EVENT_ACCEPTED))
        admit_fd(self, (int)value);
    else if (self->admit && (ev & ZMQ_EVENT_DISCONNECTED))
        admit_closed(self->admit, (int)value);
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
    self->port = -1;
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

void zmonitor_drain(zmonitor_t *self)
{
    for (int i = 0; i < 64 && on_input(self); i++) /* bounded: CAP events per call */
        ;
}

int zmonitor_limit(zmonitor_t *self, admit_t *admit)
{
    int rc;
    self->admit = admit;
    if (!admit || self->scanning)
        return 0;
    if ((rc = uv_timer_init(self->loop, &self->scan)) < 0)
        return rc;
    self->scanning = 1;
    self->scan.data = self;
    return uv_timer_start(&self->scan, on_scan, SCAN_MS, SCAN_MS);
}

static void on_scan_closed(uv_handle_t *h)
{
    free(h->data);
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
    if (self->scanning)
        uv_close((uv_handle_t *)&self->scan, on_scan_closed); /* frees self */
    else
        free(self);
}
