/* t_curve.c: unit tests for the client side of CURVE (cohort_keys.h
 * cohort_curve_*, and opts.curve of cohort_client.h and cohort_sub.h):
 * - cohort_curve_from: flags against the environment (COHORT_KEY,
 *   COHORT_SERVER_KEY, COHORT_PLAINTEXT), plain text, missing keys, key
 *   file permissions, and cohort_curve_clear;
 * - a libcohort client against an in-process CURVE ROUTER (made here with
 *   zmq_curve_keypair; no ZAP): acks with the right keys; nothing, and a
 *   handshake reason, with a wrong server key or in plain text;
 *   FRAME_UNAUTHORISED (request_id 0) and REJECT_UNAUTHORISED are final;
 * - a subscriber against an in-process CURVE PUB and snapshot ROUTER:
 *   synced with the right keys, nothing with a wrong server key.
 * Sockets are ipc:// in a mkdtemp directory; every wait is bounded. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cohort_client.h"
#include "cohort_keys.h"
#include "cohort_sub.h"
#include "tap.h"

static char dir[64];

static uint64_t ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void path_of(char *out, size_t len, const char *name)
{
    snprintf(out, len, "%s/%s", dir, name);
}

/* The public key written in NAME.pub. */
static void pub_of(const char *name, char pub[41])
{
    char p[128], err[256];
    path_of(p, sizeof p, name);
    strcat(p, ".pub");
    if (cohort_keys_load(p, pub, NULL, err, sizeof err) < 0)
        pub[0] = '\0';
}

static void clear_env(void)
{
    unsetenv("COHORT_KEY");
    unsetenv("COHORT_SERVER_KEY");
    unsetenv("COHORT_PLAINTEXT");
}

/* ------------------------------------------------------ cohort_curve_from --- */

static void test_from(void)
{
    char k1[128], k2[128], srv[128], srvkey[160], p1[41], p2[41], ps[41], err[640];
    cohort_curve_t c;
    int rc;

    path_of(k1, sizeof k1, "client1");
    path_of(k2, sizeof k2, "client2");
    path_of(srv, sizeof srv, "server");
    if (cohort_keys_generate(k1, NULL, err, sizeof err) < 0 ||
        cohort_keys_generate(k2, NULL, err, sizeof err) < 0 ||
        cohort_keys_generate(srv, NULL, err, sizeof err) < 0) {
        ok(0, "keygen: %s", err);
        return;
    }
    pub_of("client1", p1);
    pub_of("client2", p2);
    pub_of("server", ps);
    strcat(k1, ".key");
    strcat(k2, ".key");
    snprintf(srvkey, sizeof srvkey, "%s.key", srv);
    strcat(srv, ".pub");
    clear_env();

    rc = cohort_curve_from(&c, NULL, NULL, 0, err, sizeof err);
    is_int(rc, -ENOKEY, "no key anywhere: -ENOKEY");
    ok(strstr(err, "no client key: give --key FILE (or COHORT_KEY); --plaintext only for a "
                   "development daemon") != NULL,
       "the message says how to give one: %s", err);
    rc = cohort_curve_from(&c, k1, NULL, 0, err, sizeof err);
    is_int(rc, -ENOKEY, "client key but no server key: -ENOKEY");
    ok(strstr(err, "no server key: give --server-key FILE (or COHORT_SERVER_KEY)") != NULL,
       "the message names --server-key: %s", err);

    rc = cohort_curve_from(&c, NULL, NULL, 1, err, sizeof err);
    ok(rc == 0 && c.on == 0, "--plaintext: plain text");
    rc = cohort_curve_from(&c, k1, srv, 1, err, sizeof err);
    is_int(rc, -EINVAL, "--plaintext with --key/--server-key: refused");

    rc = cohort_curve_from(&c, k1, srv, 0, err, sizeof err);
    ok(rc == 0 && c.on == 1, "explicit keys: CURVE");
    is_str(c.pub, p1, "client public key from the .key file");
    is_str(c.server_pub, ps, "server public key from the .pub file");
    ok(strlen(c.sec) == 40, "secret key loaded");
    cohort_curve_clear(&c);
    {
        static const cohort_curve_t zero;
        ok(memcmp(&c, &zero, sizeof c) == 0, "cohort_curve_clear wipes everything");
    }

    rc = cohort_curve_from(&c, k1, srvkey, 0, err, sizeof err);
    ok(rc == 0 && strcmp(c.server_pub, ps) == 0,
       "server key given as its .key file: only its public key is used");
    cohort_curve_clear(&c);

    /* environment */
    setenv("COHORT_KEY", k2, 1);
    setenv("COHORT_SERVER_KEY", srv, 1);
    rc = cohort_curve_from(&c, NULL, NULL, 0, err, sizeof err);
    ok(rc == 0 && c.on && strcmp(c.pub, p2) == 0 && strcmp(c.server_pub, ps) == 0,
       "COHORT_KEY and COHORT_SERVER_KEY are the fallback");
    cohort_curve_clear(&c);
    rc = cohort_curve_from(&c, k1, NULL, 0, err, sizeof err);
    ok(rc == 0 && c.on && strcmp(c.pub, p1) == 0 && strcmp(c.server_pub, ps) == 0,
       "--key wins over COHORT_KEY; the server key still comes from the environment");
    cohort_curve_clear(&c);
    setenv("COHORT_SERVER_KEY", k2, 1); /* a wrong one: another client's */
    rc = cohort_curve_from(&c, NULL, srv, 0, err, sizeof err);
    ok(rc == 0 && strcmp(c.server_pub, ps) == 0, "--server-key wins over COHORT_SERVER_KEY");
    cohort_curve_clear(&c);
    rc = cohort_curve_from(&c, NULL, NULL, 1, err, sizeof err);
    ok(rc == 0 && c.on == 0, "--plaintext wins over COHORT_KEY/COHORT_SERVER_KEY");

    setenv("COHORT_PLAINTEXT", "1", 1);
    rc = cohort_curve_from(&c, NULL, NULL, 0, err, sizeof err);
    ok(rc == 0 && c.on == 0, "COHORT_PLAINTEXT=1 and no key given: plain text");
    rc = cohort_curve_from(&c, k1, srv, 0, err, sizeof err);
    ok(rc == 0 && c.on == 1, "COHORT_PLAINTEXT=1 but keys given on the command line: CURVE");
    cohort_curve_clear(&c);
    setenv("COHORT_PLAINTEXT", "0", 1);
    setenv("COHORT_SERVER_KEY", srv, 1);
    rc = cohort_curve_from(&c, NULL, NULL, 0, err, sizeof err);
    ok(rc == 0 && c.on == 1, "COHORT_PLAINTEXT=0: CURVE from the environment");
    cohort_curve_clear(&c);
    setenv("COHORT_PLAINTEXT", "yes", 1);
    rc = cohort_curve_from(&c, NULL, NULL, 0, err, sizeof err);
    is_int(rc, -EINVAL, "COHORT_PLAINTEXT=yes: refused (1 or 0 only)");
    clear_env();

    /* files */
    rc = cohort_curve_from(&c, srv, srv, 0, err, sizeof err);
    ok(rc < 0 && strstr(err, "client key") && strstr(err, "no secret-key line"),
       "a .pub file as the client key is refused: %s", err);
    chmod(k1, 0640);
    rc = cohort_curve_from(&c, k1, srv, 0, err, sizeof err);
    is_int(rc, -EPERM, "a client key file readable by the group: -EPERM");
    ok(strstr(err, "chmod 600") != NULL && c.on == 0 && c.sec[0] == '\0',
       "says chmod 600, and nothing is kept: %s", err);
    chmod(k1, 0600);
    rc = cohort_curve_from(&c, "/nonexistent/x.key", srv, 0, err, sizeof err);
    is_int(rc, -ENOENT, "a missing key file: -ENOENT");
    rc = cohort_curve_from(&c, "", "", 0, err, sizeof err);
    is_int(rc, -ENOKEY, "empty paths count as not given");
    ok(cohort_curve_apply(NULL, NULL, err, sizeof err) == 0, "apply with NULL: no-op");
}

/* ------------------------------------------------------ in-process server --- */

enum { ACK_ALL, REFUSE_FRAME, REJECT_UNAUTH };

/* The fake daemon: a CURVE ROUTER for ingest, a CURVE publish ROUTER
 * (subscribers send {"subscribe":P}; each is answered $subscribed and then
 * gets the heartbeat) and a CURVE snapshot ROUTER, served by a thread. */
typedef struct {
    void *ctx;
    void *ingest, *pubs, *snap;
    char ingest_ep[128], pub_ep[128], snap_ep[128];
    char pub[41], sec[41]; /* the server keypair */
    atomic_int mode;       /* ACK_ALL, REFUSE_FRAME, REJECT_UNAUTH */
    atomic_int stop;
    atomic_int frames; /* ingest frames received */
    uint64_t seq;
    uint8_t subs[8][8]; /* subscribers' routing ids (libzmq's are 5 bytes) */
    int nsubs;          /* how many */
    pthread_t th;
} server_t;

static void *serve(void *arg)
{
    server_t *s = arg;
    uint64_t next_hb = 0, hb_rev = 0;

    while (!atomic_load(&s->stop)) {
        zmq_pollitem_t it[2] = {{s->ingest, 0, ZMQ_POLLIN, 0}, {s->snap, 0, ZMQ_POLLIN, 0}};
        uint64_t now = ms_now();
        if (now >= next_hb) { /* the "system" heartbeat, every 100 ms */
            char env[160];
            snprintf(env, sizeof env,
                     "{\"topic\":\"system\",\"epoch\":\"00000000000000aa\",\"rev\":%llu,\"seq\":0,"
                     "\"doc\":{\"head_seq\":0,\"topics\":0}}",
                     (unsigned long long)++hb_rev);
            for (int i = 0; i < s->nsubs; i++) {
                zmq_send(s->pubs, s->subs[i], 5, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(s->pubs, "system", 6, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(s->pubs, env, strlen(env), ZMQ_DONTWAIT);
            }
            next_hb = now + 100;
        }
        for (;;) { /* subscription requests: remember the subscriber, answer */
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&id, s->pubs, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                zmq_msg_close(&body);
                break;
            }
            zmq_msg_recv(&body, s->pubs, 0);
            if (zmq_msg_size(&id) == 5 && s->nsubs < 8) {
                memcpy(s->subs[s->nsubs++], zmq_msg_data(&id), 5);
                zmq_send(s->pubs, zmq_msg_data(&id), 5, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(s->pubs, "$subscribed", 11, ZMQ_SNDMORE | ZMQ_DONTWAIT);
                zmq_send(s->pubs, "{}", 2, ZMQ_DONTWAIT);
            }
            zmq_msg_close(&id);
            zmq_msg_close(&body);
        }
        if (zmq_poll(it, 2, 20) < 0)
            continue;
        if (it[0].revents & ZMQ_POLLIN) {
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&id, s->ingest, 0) >= 0 && zmq_msg_recv(&body, s->ingest, 0) >= 0) {
                Cohort__V1__IngestRequest *rq = cohort__v1__ingest_request__unpack(
                    NULL, zmq_msg_size(&body), zmq_msg_data(&body));
                Cohort__V1__IngestReply rep = COHORT__V1__INGEST_REPLY__INIT;
                Cohort__V1__Ack acks[16], *ap[16];
                size_t n = 0;
                int mode = atomic_load(&s->mode);
                atomic_fetch_add(&s->frames, 1);
                if (rq && mode == REFUSE_FRAME) {
                    rep.request_id = 0; /* refused before the frame is read */
                    rep.error = COHORT__V1__FRAME_ERROR__FRAME_UNAUTHORISED;
                    rep.error_reason = "this connection's key is no longer allowed";
                } else if (rq && rq->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH) {
                    rep.request_id = rq->request_id;
                    for (size_t k = 0; k < rq->batch->n_events && n < 16; k++, n++) {
                        cohort__v1__ack__init(&acks[n]);
                        acks[n].event_id = rq->batch->events[k]->event_id;
                        if (mode == REJECT_UNAUTH) {
                            acks[n].result = COHORT__V1__RESULT__REJECTED;
                            acks[n].code = COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED;
                            acks[n].reason = "agency is not the key's";
                        } else {
                            acks[n].result = COHORT__V1__RESULT__ACCEPTED;
                            acks[n].seq = ++s->seq;
                        }
                        ap[n] = &acks[n];
                    }
                    rep.n_acks = n;
                    rep.acks = ap;
                }
                size_t len = cohort__v1__ingest_reply__get_packed_size(&rep);
                uint8_t *buf = malloc(len + 1);
                if (buf) {
                    cohort__v1__ingest_reply__pack(&rep, buf);
                    zmq_send(s->ingest, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
                    zmq_send(s->ingest, buf, len, 0);
                    free(buf);
                }
                if (rq)
                    cohort__v1__ingest_request__free_unpacked(rq, NULL);
            }
            zmq_msg_close(&id);
            zmq_msg_close(&body);
        }
        if (it[1].revents & ZMQ_POLLIN) { /* any request: an empty snapshot */
            zmq_msg_t id, body;
            static const char end[] =
                "{\"end\":true,\"epoch\":\"00000000000000aa\",\"seq\":0,\"count\":0}";
            zmq_msg_init(&id);
            zmq_msg_init(&body);
            if (zmq_msg_recv(&id, s->snap, 0) >= 0 && zmq_msg_recv(&body, s->snap, 0) >= 0) {
                zmq_send(s->snap, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
                zmq_send(s->snap, "$end", 4, ZMQ_SNDMORE);
                zmq_send(s->snap, end, strlen(end), 0);
            }
            zmq_msg_close(&id);
            zmq_msg_close(&body);
        }
    }
    return NULL;
}

/* A CURVE server socket of type at ep. */
static void *server_sock(server_t *s, int type, const char *ep)
{
    void *z = zmq_socket(s->ctx, type);
    int one = 1, zero = 0;
    if (!z || zmq_setsockopt(z, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(z, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(z, ZMQ_CURVE_SECRETKEY, s->sec, 40) != 0 || zmq_bind(z, ep) != 0) {
        diag("server socket at %s: %s", ep, zmq_strerror(errno));
        return NULL;
    }
    return z;
}

static int server_start(server_t *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->ingest_ep, sizeof s->ingest_ep, "ipc://%s/ingest", dir);
    snprintf(s->pub_ep, sizeof s->pub_ep, "ipc://%s/pub", dir);
    snprintf(s->snap_ep, sizeof s->snap_ep, "ipc://%s/snap", dir);
    s->ctx = zmq_ctx_new();
    if (zmq_curve_keypair(s->pub, s->sec) != 0)
        return -1;
    if (!(s->ingest = server_sock(s, ZMQ_ROUTER, s->ingest_ep)) ||
        !(s->pubs = server_sock(s, ZMQ_ROUTER, s->pub_ep)) ||
        !(s->snap = server_sock(s, ZMQ_ROUTER, s->snap_ep)))
        return -1;
    return pthread_create(&s->th, NULL, serve, s) == 0 ? 0 : -1;
}

static void server_stop(server_t *s)
{
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    zmq_close(s->ingest);
    zmq_close(s->pubs);
    zmq_close(s->snap);
    zmq_ctx_term(s->ctx);
}

/* ------------------------------------------------------------ clients --- */

/* Results of one client run. */
typedef struct {
    int n, accepted, rejected, undelivered;
    int code, frame_error;
    uint32_t attempts;
    char reason[400];
} res_t;

static void on_result(void *arg, const cohort_client_report_t *r)
{
    res_t *x = arg;
    x->n++;
    x->accepted += r->result == COHORT_ACCEPTED;
    x->rejected += r->result == COHORT_REJECTED;
    x->undelivered += r->result == COHORT_UNDELIVERED;
    x->code = r->code;
    x->frame_error = r->frame_error;
    if (r->attempts > x->attempts)
        x->attempts = r->attempts;
    snprintf(x->reason, sizeof x->reason, "%s", r->reason);
}

/* Sends n events through a client with curve (NULL: plain text) and
 * returns what came back; *hs gets cohort_client_handshake, why its text. */
static res_t run_client(const server_t *s, const cohort_curve_t *curve, int n, uint32_t defer_ms,
                        int *hs, char *why, size_t whylen, cohort_client_stats_t *st)
{
    res_t x = {0};
    cohort_client_t *cl = cohort_client_new(&(cohort_client_opts_t){.endpoint = s->ingest_ep,
                                                                    .timeout_ms = 300,
                                                                    .deadline_ms = 2500,
                                                                    .defer_ms = defer_ms,
                                                                    .curve = curve,
                                                                    .on_result = on_result,
                                                                    .arg = &x});
    if (!cl) {
        diag("cohort_client_new: %s", zmq_strerror(errno));
        x.n = -1;
        return x;
    }
    for (int i = 0; i < n; i++) {
        Cohort__V1__Event ev = COHORT__V1__EVENT__INIT;
        uint8_t id[16] = {1, 2, 3, (uint8_t)i};
        ev.event_id.data = id;
        ev.event_id.len = 16;
        ev.agency = "wm-police";
        ev.occurred_at = 1;
        cohort_client_submit(cl, &ev, NULL);
    }
    cohort_client_flush(cl, 10000);
    *hs = cohort_client_handshake(cl, why, whylen);
    if (st)
        cohort_client_stats(cl, st);
    cohort_client_destroy(&cl);
    return x;
}

static void test_client(server_t *s)
{
    char k[128], wrong[128], err[640], why[256] = "";
    cohort_curve_t c, bad;
    cohort_client_stats_t st;
    res_t x;
    int hs;

    path_of(k, sizeof k, "client1.key");
    path_of(wrong, sizeof wrong, "client2.pub");
    if (cohort_curve_from(&c, k, wrong, 0, err, sizeof err) < 0) {
        ok(0, "keys: %s", err);
        return;
    }
    bad = c; /* wrong server key: another client's public key */
    memcpy(c.server_pub, s->pub, 41);

    x = run_client(s, &c, 3, 0, &hs, why, sizeof why, &st);
    is_int(x.accepted, 3, "CURVE client with the right keys: 3 ACCEPTED");
    is_int(hs, 1, "handshake reported as succeeded");
    ok(st.handshakes >= 1 && st.handshake_failures == 0, "stats: %llu handshakes, %llu failed",
       (unsigned long long)st.handshakes, (unsigned long long)st.handshake_failures);

    int before = atomic_load(&s->frames);
    x = run_client(s, &bad, 1, 0, &hs, why, sizeof why, &st);
    ok(x.undelivered == 1 && x.accepted == 0, "wrong server key: no ack, UNDELIVERED");
    is_int(atomic_load(&s->frames), before, "and the server received no frame");
    is_int(hs, -1, "handshake reported as failed");
    ok(strstr(why, "during the handshake") != NULL, "why: %s", why);
    ok(strstr(x.reason, "handshake") != NULL, "the UNDELIVERED reason says so: %s", x.reason);

    x = run_client(s, NULL, 1, 0, &hs, why, sizeof why, NULL);
    ok(x.undelivered == 1 && x.accepted == 0, "plain-text client to a CURVE server: UNDELIVERED");
    /* Which side sees the mismatch first is a race in libzmq: the client's
     * monitor reports the mismatch, or the server's close comes first. */
    ok(hs == -1 && (strstr(why, "mechanism mismatch") != NULL ||
                    strstr(why, "during the handshake") != NULL),
       "why: %s", why);

    atomic_store(&s->mode, REFUSE_FRAME);
    x = run_client(s, &c, 2, 0, &hs, why, sizeof why, NULL);
    ok(x.rejected == 2 && x.frame_error == COHORT__V1__FRAME_ERROR__FRAME_UNAUTHORISED,
       "FRAME_UNAUTHORISED with request_id 0: every event in flight REJECTED (%d/%d, frame error "
       "%d)",
       x.rejected, x.n, x.frame_error);
    is_int(x.attempts, 1, "FRAME_UNAUTHORISED is final: sent once");

    atomic_store(&s->mode, REJECT_UNAUTH);
    x = run_client(s, &c, 1, 2000, &hs, why, sizeof why, NULL);
    ok(x.rejected == 1 && x.code == COHORT__V1__REJECT_CODE__REJECT_UNAUTHORISED,
       "REJECT_UNAUTHORISED reported REJECTED");
    is_int(x.attempts, 1, "REJECT_UNAUTHORISED is final even with defer_ms: sent once");
    atomic_store(&s->mode, ACK_ALL);
    cohort_curve_clear(&c);
    cohort_curve_clear(&bad);
}

/* ------------------------------------------------------------ subscriber --- */

static void on_event(void *arg, cohort_sub_event_t ev, const char *reason)
{
    (void)reason;
    if (ev == COHORT_SUB_SYNCED)
        (*(int *)arg)++;
}

/* Runs a subscriber for at most ms; returns SYNCED events seen. */
static int run_sub(const server_t *s, const cohort_curve_t *curve, long ms, cohort_sub_stats_t *st)
{
    const char *prefixes[] = {""};
    int synced = 0;
    cohort_sub_t *sub = cohort_sub_new(&(cohort_sub_opts_t){.publish = s->pub_ep,
                                                            .snapshot = s->snap_ep,
                                                            .prefixes = prefixes,
                                                            .nprefixes = 1,
                                                            .on_event = on_event,
                                                            .arg = &synced,
                                                            .curve = curve});
    uint64_t end = ms_now() + (uint64_t)ms;
    if (!sub) {
        diag("cohort_sub_new: %s", zmq_strerror(errno));
        return -1;
    }
    while (!synced && ms_now() < end)
        cohort_sub_run(sub, 50);
    /* SYNCED can come before the first heartbeat (the server beats every
     * 100 ms); a synced subscriber waits for one, within the same bound. */
    for (cohort_sub_stats(sub, st); synced && st->heartbeats == 0 && ms_now() < end;
         cohort_sub_stats(sub, st))
        cohort_sub_run(sub, 50);
    cohort_sub_stats(sub, st);
    cohort_sub_destroy(&sub);
    return synced;
}

static void test_sub(server_t *s)
{
    char k[128], srv[128], err[640];
    cohort_curve_t c;
    cohort_sub_stats_t st;

    path_of(k, sizeof k, "client1.key");
    path_of(srv, sizeof srv, "client2.pub");
    if (cohort_curve_from(&c, k, srv, 0, err, sizeof err) < 0) {
        ok(0, "keys: %s", err);
        return;
    }
    ok(run_sub(s, &c, 2000, &st) == 0 && st.received == 0,
       "subscriber with a wrong server key: nothing received in 2 s");
    memcpy(c.server_pub, s->pub, 41);
    ok(run_sub(s, &c, 5000, &st) == 1, "subscriber with the right keys: SYNCED over CURVE");
    ok(st.heartbeats > 0 && st.snapshot_requests >= 1, "heartbeats (%llu) and a snapshot",
       (unsigned long long)st.heartbeats);
    ok(run_sub(s, NULL, 1500, &st) == 0 && st.received == 0,
       "plain-text subscriber to a CURVE publisher: nothing received");
    cohort_curve_clear(&c);
}

int main(void)
{
    server_t s;
    char cmd[96];

    snprintf(dir, sizeof dir, "/tmp/t_curve.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_from();
    if (server_start(&s) == 0) {
        test_client(&s);
        test_sub(&s);
        server_stop(&s);
    } else {
        ok(0, "in-process CURVE server started");
    }
    clear_env();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
