/* t_request: unit tests for the ROUTER request envelope (daemon/request.c),
 * over real ROUTER sockets on ipc:// in a temporary directory:
 * - plain text (no key table): a DEALER's [rid][payload] and a REQ's
 *   [rid][""][payload] pass, with the body and the delimiter seen; a
 *   non-empty frame where the delimiter belongs, two and three payload
 *   frames (zbridge_recv's ZBRIDGE_TOO_MANY), a REQ-style delimiter under
 *   REQUEST_NO_DELIM, a message of one frame, an empty and a 256-byte
 *   routing id are bad envelopes (-EPROTO, no body, no delimiter); a reply
 *   reaches the right one of two DEALERs, without a delimiter, and a REQ
 *   with one (a REQ drops a reply without it); a saved peer is answered
 *   after its frames are closed; a multi-frame reply arrives whole and in
 *   order; a reply to a peer that is gone fails with EHOSTUNREACH, and
 *   request_reply_msg then frees the message it took over;
 * - with a key table (CURVE with auth_curve_server, keys and access file
 *   as the daemon has them): a listed agent key passes with its identity
 *   and User-Id; after the key is removed from the access file and
 *   auth_reload, the still-open connection's next message is refused
 *   (-EACCES), also when its envelope is bad (both results kept, the
 *   envelope's returned); a key whose role changed is refused; a
 *   connection without a ZAP identity (User-Id NULL) is refused;
 * - request_fingerprint: the 8 characters after the User-Id's second ':'
 *   (a Z85 key may hold ':'), "-" without one. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "auth.h"
#include "request.h"
#include "tap.h"
#include "zbridge.h"

#define WAIT_MS 5000 /* longest wait for one message */

static char tmp[] = "/tmp/cohort-t-request-XXXXXX";
static char access_path[PATH_MAX];
static uv_loop_t loop;

/* A test key pair. */
typedef struct {
    char pub[41], sec[41];
} kp_t;

static kp_t k_server, k_agent, k_hr;

/* A received message, as zbridge_recv leaves it. */
typedef struct {
    zmq_msg_t parts[ZBRIDGE_MAX_PARTS];
    int nparts; /* frames held */
    int rc;     /* zbridge_recv's result: 1..3 or ZBRIDGE_TOO_MANY */
} got_t;

static void got_close(got_t *g)
{
    for (int i = 0; i < g->nparts; i++)
        zmq_msg_close(&g->parts[i]);
    g->nparts = 0;
}

/* Runs the loop (the ZAP handler lives there) and waits up to ms for a
 * message on the ROUTER r. Returns 1 with it in *g, else 0. */
static int pump(void *r, int ms, got_t *g)
{
    for (int waited = 0; waited < ms; waited += 5) {
        zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
        uv_run(&loop, UV_RUN_NOWAIT);
        if (zmq_poll(&it, 1, 5) > 0) {
            g->rc = zbridge_recv(r, g->parts, &g->nparts);
            if (g->rc > 0)
                return 1;
        }
    }
    return 0;
}

/* Waits up to ms for one whole message on client socket s; the frames go
 * to buf as "f1|f2|..." (empty frames as ""). Returns the frame count, 0
 * when nothing came. */
static int recv_joined(void *s, int ms, char *buf, size_t cap)
{
    zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
    int n = 0, more = 1;
    size_t used = 0;
    buf[0] = '\0';
    if (zmq_poll(&it, 1, ms) <= 0)
        return 0;
    while (more && n < 16) {
        char f[256];
        int len = zmq_recv(s, f, sizeof f - 1, 0);
        size_t sz = sizeof more;
        if (len < 0)
            break;
        f[len > (int)sizeof f - 1 ? (int)sizeof f - 1 : len] = '\0';
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s", n ? "|" : "", f);
        n++;
        zmq_getsockopt(s, ZMQ_RCVMORE, &more, &sz);
    }
    return n;
}

/* Sends the n strings as one message on s. */
static void send_parts(void *s, const char *const *f, int n)
{
    for (int i = 0; i < n; i++)
        zmq_send(s, f[i], strlen(f[i]), i + 1 < n ? ZMQ_SNDMORE : 0);
}

static void *sock(void *ctx, int type, const char *ep, const kp_t *k)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (k) {
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, k_server.pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, k->pub, 40);
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, k->sec, 40);
    }
    if (ep)
        zmq_connect(s, ep);
    return s;
}

/* A ROUTER as the daemon sets them up (ROUTER_MANDATORY), bound at ep. */
static void *router(void *ctx, const char *ep, const char *secret)
{
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    char err[256];
    zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(r, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    if (secret && auth_curve_server(r, secret, err, sizeof err) < 0)
        diag("auth_curve_server: %s", err);
    if (zmq_bind(r, ep) != 0)
        diag("bind %s: %s", ep, zmq_strerror(errno));
    return r;
}

static int freed; /* messages count_free freed */

/* zmq_free_fn of the zero-copy test messages. */
static void count_free(void *data, void *hint)
{
    (void)hint;
    free(data);
    freed++;
}

static int body_is(const request_t *rq, const char *want)
{
    return rq->body && zmq_msg_size(rq->body) == strlen(want) &&
           memcmp(zmq_msg_data(rq->body), want, strlen(want)) == 0;
}

/* A DEALER sends f[0..n); returns the ROUTER's request_check (flags)
 * result. The frames are closed afterwards: only rq's results may be read. */
static int check_sent(void *r, void *d, const char *const *f, int n, int flags, request_t *rq)
{
    got_t g = {0};
    int rc = -ETIMEDOUT;
    send_parts(d, f, n);
    if (pump(r, WAIT_MS, &g)) {
        rc = request_check(rq, g.parts, g.rc, NULL, flags);
        got_close(&g);
    }
    return rc;
}

static void test_plaintext(void *ctx)
{
    char ep[PATH_MAX + 16], buf[512];
    got_t g = {0};
    request_t rq;
    snprintf(ep, sizeof ep, "ipc://%s/plain.sock", tmp);
    void *r = router(ctx, ep, NULL);
    void *d1 = sock(ctx, ZMQ_DEALER, ep, NULL), *d2 = sock(ctx, ZMQ_DEALER, ep, NULL);
    void *q = sock(ctx, ZMQ_REQ, ep, NULL);

    /* A DEALER's good request; the reply reaches it, not the other DEALER. */
    zmq_send(d1, "one", 3, 0);
    ok(pump(r, WAIT_MS, &g), "a DEALER's message arrives");
    is_int(g.rc, 2, "  as [rid][payload]");
    is_int(request_check(&rq, g.parts, g.rc, NULL, 0), 0, "request_check passes it");
    ok(rq.envelope_rc == 0 && rq.auth_rc == 0 && rq.peer.delim == 0 && body_is(&rq, "one"),
       "  body 'one', no delimiter");
    ok(rq.peer.rid_len == 5 && rq.user_id == NULL && strcmp(rq.who.fingerprint, "-") == 0 &&
           rq.who.agency[0] == '\0' && rq.who.role == 0,
       "  a 5-byte routing id; without a key table no User-Id, fingerprint '-'");
    got_t g2 = {0};
    zmq_send(d2, "two", 3, 0);
    ok(pump(r, WAIT_MS, &g2), "the second DEALER's message arrives");
    request_t rq2;
    is_int(request_check(&rq2, g2.parts, g2.rc, NULL, 0), 0, "  and passes");
    ok(rq2.peer.rid_len != rq.peer.rid_len || memcmp(rq2.peer.rid, rq.peer.rid, 5) != 0,
       "  with another routing id");
    is_int(request_reply(r, &rq2.peer, "for-two", 7), 0, "request_reply to the second queues");
    is_int(request_reply(r, &rq.peer, "for-one", 7), 0, "request_reply to the first queues");
    is_int(recv_joined(d1, WAIT_MS, buf, sizeof buf), 1, "the first DEALER gets one frame");
    is_str(buf, "for-one", "  its own reply, with no delimiter");
    is_int(recv_joined(d2, WAIT_MS, buf, sizeof buf), 1, "the second gets one frame");
    is_str(buf, "for-two", "  its own reply");
    ok(recv_joined(d1, 100, buf, sizeof buf) == 0, "nothing more reaches the first");

    /* A multi-frame reply, from a saved peer after the frames are closed. */
    request_saved_t saved;
    request_save(&saved, &rq.peer);
    got_close(&g);
    got_close(&g2);
    request_peer_t back = request_saved_peer(&saved);
    const void *data[3] = {"a", "bb", "ccc"};
    size_t len[3] = {1, 2, 3};
    is_int(request_send(r, &back, data, len, 3), 0, "request_send of three frames to a saved peer");
    is_int(recv_joined(d1, WAIT_MS, buf, sizeof buf), 3, "  three frames arrive");
    is_str(buf, "a|bb|ccc", "  whole and in order");

    /* A REQ: the delimiter is seen and sent back. */
    zmq_send(q, "req", 3, 0);
    ok(pump(r, WAIT_MS, &g), "a REQ's message arrives");
    is_int(g.rc, 3, "  as [rid][\"\"][payload]");
    is_int(request_check(&rq, g.parts, g.rc, NULL, 0), 0, "request_check passes it");
    ok(rq.peer.delim == 1 && body_is(&rq, "req"), "  body 'req', with a delimiter");
    request_save(&saved, &rq.peer);
    got_close(&g);
    back = request_saved_peer(&saved);
    is_int(request_reply(r, &back, "req-ok", 6), 0, "request_reply to the saved REQ peer");
    is_int(recv_joined(q, WAIT_MS, buf, sizeof buf), 1,
           "the REQ gets its reply (so it had the "
           "delimiter: a REQ drops one without)");
    is_str(buf, "req-ok", "  the reply's body");
    /* The same message from a DEALER, to see the frames the REQ did not show. */
    const char *reqlike[] = {"", "x"};
    is_int(check_sent(r, d1, reqlike, 2, 0, &rq), 0, "a DEALER sending [\"\"][x] passes too");
    ok(rq.peer.delim == 1, "  as a REQ-style request");
    /* (rq points into closed frames now: only its flags are used.) */

    /* Bad envelopes. */
    const char *two[] = {"a", "b"}, *three[] = {"a", "b", "c"}, *four[] = {"", "b", "c", "d"};
    is_int(check_sent(r, d1, two, 2, 0, &rq), -EPROTO,
           "[a][b] (a frame where the delimiter belongs) is a bad envelope");
    ok(rq.envelope_rc == -EPROTO && rq.body == NULL && rq.peer.delim == 0,
       "  no body, answered without a delimiter");
    is_int(check_sent(r, d1, three, 3, 0, &rq), -EPROTO, "three payload frames: bad envelope");
    ok(rq.body == NULL && rq.peer.delim == 0, "  no body, no delimiter");
    is_int(check_sent(r, d1, four, 4, 0, &rq), -EPROTO,
           "a delimiter and three frames (ZBRIDGE_TOO_MANY): bad envelope");
    is_int(check_sent(r, d1, reqlike, 2, REQUEST_NO_DELIM, &rq), -EPROTO,
           "with REQUEST_NO_DELIM a delimiter is a bad envelope");
    ok(rq.peer.delim == 0, "  answered without one");
    const char *one[] = {"fine"};
    is_int(check_sent(r, d1, one, 1, REQUEST_NO_DELIM, &rq), 0,
           "with REQUEST_NO_DELIM [rid][payload] passes");
    /* A bad envelope's refusal still reaches the sender. */
    send_parts(d2, two, 2);
    ok(pump(r, WAIT_MS, &g), "a bad envelope from the second DEALER");
    request_check(&rq, g.parts, g.rc, NULL, 0);
    is_int(request_reply(r, &rq.peer, "refused", 7), 0, "  is answered");
    got_close(&g);
    is_int(recv_joined(d2, WAIT_MS, buf, sizeof buf), 1, "  the refusal reaches it as one frame");
    is_str(buf, "refused", "  (no delimiter)");

    /* Shapes no peer can send: made by hand. */
    {
        zmq_msg_t p[2];
        unsigned char big[REQUEST_RID_MAX + 1];
        memset(big, 'r', sizeof big);
        zmq_msg_init_size(&p[0], 5);
        memcpy(zmq_msg_data(&p[0]), "\0abcd", 5);
        is_int(request_check(&rq, p, 1, NULL, 0), -EPROTO, "a message of one frame: bad envelope");
        zmq_msg_close(&p[0]);
        zmq_msg_init(&p[0]);
        zmq_msg_init_size(&p[1], 1);
        memcpy(zmq_msg_data(&p[1]), "x", 1);
        is_int(request_check(&rq, p, 2, NULL, 0), -EPROTO, "an empty routing id: bad envelope");
        zmq_msg_close(&p[0]);
        zmq_msg_init_size(&p[0], sizeof big);
        memcpy(zmq_msg_data(&p[0]), big, sizeof big);
        is_int(request_check(&rq, p, 2, NULL, 0), -EPROTO, "a 256-byte routing id: bad envelope");
        zmq_msg_close(&p[0]);
        zmq_msg_init_size(&p[0], REQUEST_RID_MAX);
        memcpy(zmq_msg_data(&p[0]), big, REQUEST_RID_MAX);
        is_int(request_check(&rq, p, 2, NULL, 0), 0, "a 255-byte one passes");
        request_save(&saved, &rq.peer);
        ok(saved.rid_len == REQUEST_RID_MAX && memcmp(saved.rid, big, REQUEST_RID_MAX) == 0,
           "  and is saved whole");
        zmq_msg_close(&p[0]);
        zmq_msg_close(&p[1]);
    }

    /* A peer that is gone. */
    zmq_send(d2, "bye", 3, 0);
    ok(pump(r, WAIT_MS, &g), "a message from the second DEALER");
    request_check(&rq, g.parts, g.rc, NULL, 0);
    request_save(&saved, &rq.peer);
    got_close(&g);
    zmq_close(d2);
    back = request_saved_peer(&saved);
    int rc = 0;
    for (int i = 0; i < 200 && (rc = request_reply(r, &back, "late", 4)) == 0; i++)
        usleep(10000); /* the ROUTER learns of the disconnect asynchronously */
    is_int(rc, -EHOSTUNREACH, "after it disconnects, a reply fails with EHOSTUNREACH");
    zmq_msg_t m;
    char *heap = malloc(4);
    memcpy(heap, "late", 4);
    zmq_msg_init_data(&m, heap, 4, count_free, NULL);
    is_int(request_reply_msg(r, &back, &m), -EHOSTUNREACH, "request_reply_msg to it fails too");
    is_int(freed, 1, "  and frees the message it took over");
    /* request_reply_msg to a live REQ peer. */
    zmq_send(q, "again", 5, 0);
    ok(pump(r, WAIT_MS, &g), "the REQ asks again");
    request_check(&rq, g.parts, g.rc, NULL, 0);
    heap = malloc(6);
    memcpy(heap, "msg-ok", 6);
    zmq_msg_init_data(&m, heap, 6, count_free, NULL);
    is_int(request_reply_msg(r, &rq.peer, &m), 0, "request_reply_msg to it queues");
    got_close(&g);
    is_int(recv_joined(q, WAIT_MS, buf, sizeof buf), 1, "  and the REQ gets it");
    is_str(buf, "msg-ok", "  the zero-copy body");
    zmq_close(d1);
    zmq_close(q);
    zmq_close(r);
}

/* Replaces the access file with text. */
static void write_access(const char *text)
{
    FILE *f = fopen(access_path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_curve(void *ctx, auth_t *a, void *plain_ctx)
{
    char ep[PATH_MAX + 16], pep[PATH_MAX + 16], text[512], err[1024], want[160];
    got_t g = {0};
    request_t rq;
    snprintf(ep, sizeof ep, "ipc://%s/curve.sock", tmp);
    void *r = router(ctx, ep, k_server.sec);
    void *d = sock(ctx, ZMQ_DEALER, ep, &k_agent), *h = sock(ctx, ZMQ_DEALER, ep, &k_hr);

    /* A listed key. */
    zmq_send(d, "hello", 5, 0);
    ok(pump(r, WAIT_MS, &g), "CURVE: the agent key's message arrives");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), 0,
           "request_check with the key table passes it");
    snprintf(want, sizeof want, "agent:wm-police:%s", k_agent.pub);
    is_str(rq.user_id, want, "  User-Id agent:wm-police:<key>");
    ok(rq.who.role == AUTH_ROLE_AGENT && strcmp(rq.who.agency, "wm-police") == 0 &&
           strncmp(rq.who.fingerprint, k_agent.pub, 8) == 0,
       "  identity: agent of wm-police, its fingerprint");
    ok(body_is(&rq, "hello") && rq.peer.delim == 0, "  body 'hello'");
    is_int(request_reply(r, &rq.peer, "welcome", 7), 0, "  answered");
    got_close(&g);
    char buf[256];
    is_int(recv_joined(d, WAIT_MS, buf, sizeof buf), 1, "  the reply reaches the agent");
    zmq_send(h, "hr", 2, 0);
    ok(pump(r, WAIT_MS, &g), "the agency-hr key's message arrives");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), 0, "  and passes");
    got_close(&g);

    /* The agent key removed, the hr key's role changed: both connections
     * stay open (libzmq never re-checks), their messages are refused. */
    snprintf(text, sizeof text, "%s operator\n", k_hr.pub);
    write_access(text);
    is_int(auth_reload(a, NULL, err, sizeof err), 0, "access file reloaded without the agent key");
    zmq_send(d, "after", 5, 0);
    ok(pump(r, WAIT_MS, &g), "the revoked key's open connection still delivers");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), -EACCES, "  request_check refuses it: -EACCES");
    ok(rq.auth_rc == -EACCES && rq.envelope_rc == 0 && body_is(&rq, "after"),
       "  the envelope itself was good");
    char fp[COHORT_KEY_FP_LEN + 1];
    request_fingerprint(&rq, fp);
    ok(strlen(fp) == 8 && strncmp(fp, k_agent.pub, 8) == 0, "  request_fingerprint: %s", fp);
    is_int(request_reply(r, &rq.peer, "refused", 7), 0, "  the refusal is sent");
    got_close(&g);
    is_int(recv_joined(d, WAIT_MS, buf, sizeof buf), 1, "  and reaches the revoked connection");
    const char *bad[] = {"x", "y"};
    send_parts(d, bad, 2);
    ok(pump(r, WAIT_MS, &g), "a bad envelope from the revoked key");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), -EPROTO, "  returns the envelope's -EPROTO");
    is_int(rq.auth_rc, -EACCES, "  and keeps the key's -EACCES");
    got_close(&g);
    zmq_send(h, "hr2", 3, 0);
    ok(pump(r, WAIT_MS, &g), "the key whose role changed still delivers");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), -EACCES,
           "  refused: connected as agency-hr, listed as operator now");
    got_close(&g);

    /* No ZAP identity: a plain-text connection checked against the table. */
    snprintf(pep, sizeof pep, "ipc://%s/noauth.sock", tmp);
    void *pr = router(plain_ctx, pep, NULL), *pd = sock(plain_ctx, ZMQ_DEALER, pep, NULL);
    zmq_send(pd, "anon", 4, 0);
    ok(pump(pr, WAIT_MS, &g), "a message without a ZAP handshake");
    is_int(request_check(&rq, g.parts, g.rc, a, 0), -EACCES,
           "  refused when a key table is given (User-Id NULL)");
    ok(rq.user_id == NULL, "  it had no User-Id");
    request_fingerprint(&rq, fp);
    is_str(fp, "-", "  fingerprint '-'");
    got_close(&g);

    /* request_fingerprint's parsing (a Z85 key may hold ':'). */
    rq.user_id = "agent:wm-police:ab:cdefghijk";
    request_fingerprint(&rq, fp);
    is_str(fp, "ab:cdefg", "fingerprint: the 8 characters after the second ':'");
    rq.user_id = "board::abc";
    request_fingerprint(&rq, fp);
    is_str(fp, "abc", "  fewer when the key is shorter");
    rq.user_id = "dev::";
    request_fingerprint(&rq, fp);
    is_str(fp, "-", "  '-' when there is no key");

    zmq_close(pd);
    zmq_close(pr);
    zmq_close(d);
    zmq_close(h);
    zmq_close(r);
}

int main(void)
{
    char err[1024], text[512], log_path[PATH_MAX];
    auth_t *a = NULL;
    if (!mkdtemp(tmp))
        return 1;
    snprintf(access_path, sizeof access_path, "%s/access", tmp);
    snprintf(log_path, sizeof log_path, "%s/log", tmp);
    /* The daemon's log (auth's lines) goes to a file; TAP to stdout. */
    int saved = dup(2), lfd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(lfd, 2);
    close(lfd);

    uv_loop_init(&loop);
    void *plain_ctx = zmq_ctx_new(); /* no ZAP handler: plain text */
    test_plaintext(plain_ctx);

    kp_t *keys[] = {&k_server, &k_agent, &k_hr};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        zmq_curve_keypair(keys[i]->pub, keys[i]->sec);
    snprintf(text, sizeof text, "%s agent wm-police\n%s agency-hr wmfs\n", k_agent.pub, k_hr.pub);
    write_access(text);
    void *ctx = zmq_ctx_new();
    int rc = auth_new(&a, &loop, ctx, access_path, err, sizeof err);
    if (!ok(rc == 0, "auth_new with an access file of an agent and an agency-hr key"))
        diag("%s", err);
    else
        test_curve(ctx, a, plain_ctx);
    auth_destroy(&a);
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle closed");
    zmq_ctx_term(ctx);
    zmq_ctx_term(plain_ctx);

    dup2(saved, 2);
    close(saved);
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        diag("could not remove %s", tmp);
    return tap_done();
}
