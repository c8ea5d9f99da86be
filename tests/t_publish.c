/* t_publish: unit test for publish.c on a real libuv loop over ipc://.
 * Instance A (coalesce 50 ms) is watched by a SUB and a DEALER: heartbeat,
 * update envelopes and revs, coalescing, snapshots (both envelope forms,
 * prefixes, bad requests), removal. Instance B (coalesce 5 s, so nothing
 * comes due by itself) checks the end-marker seq while a document is
 * pending, and publish_flush. A tick timer drains the test sockets and
 * drives the steps; a deadline timer bounds the whole run. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "publish.h"
#include "tap.h"

#define COAL_A 50
#define COAL_B 5000
#define DEADLINE_MS 20000
#define MAXMSG 256

/* One received message: up to 4 frames as NUL-terminated copies. */
typedef struct {
    int n;       /* frames */
    char *f[4];  /* the frames */
    uint64_t at; /* uv_now when received */
} msg_t;

/* Messages received on one socket since the last clear. */
typedef struct {
    msg_t m[MAXMSG];
    int n;
} box_t;

typedef struct {
    uv_loop_t *loop;
    void *ctx;
    publish_t *pa, *pb;         /* the modules under test */
    void *sub, *dealer;         /* watching A */
    void *sub2, *dealer2;       /* watching B */
    box_t subq, dq, sub2q, d2q; /* what they received */
    uv_timer_t tick, deadline;
    int step;
    uint64_t t0, mark;                       /* start, and a step's reference time */
    char epoch[17];                          /* A's epoch, from its first heartbeat */
    char epoch2[17];                         /* B's */
    char *env_c1, *env_c2, *env_ag, *env_pr; /* last envelopes published by A */
    publish_stats_t s0;                      /* counters before the coalescing burst */
    int finished;
} T;

static void drain(T *t, void *s, box_t *b)
{
    for (;;) {
        msg_t m = {0};
        int more = 1;
        while (more) {
            zmq_msg_t z;
            zmq_msg_init(&z);
            if (zmq_msg_recv(&z, s, m.n ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&z);
                return;
            }
            more = zmq_msg_more(&z);
            if (m.n < 4) {
                size_t len = zmq_msg_size(&z);
                m.f[m.n] = malloc(len + 1);
                memcpy(m.f[m.n], zmq_msg_data(&z), len);
                m.f[m.n][len] = 0;
                m.n++;
            }
            zmq_msg_close(&z);
        }
        m.at = uv_now(t->loop);
        if (b->n < MAXMSG)
            b->m[b->n++] = m;
        else
            for (int i = 0; i < m.n; i++)
                free(m.f[i]);
    }
}

static void clear(box_t *b)
{
    for (int i = 0; i < b->n; i++)
        for (int k = 0; k < b->m[i].n; k++)
            free(b->m[i].f[k]);
    b->n = 0;
}

/* Index of the first message in b from index from whose frame 0 is topic, or -1. */
static int find(const box_t *b, const char *topic, int from)
{
    for (int i = from; i < b->n; i++)
        if (b->m[i].n >= 1 && strcmp(b->m[i].f[0], topic) == 0)
            return i;
    return -1;
}

static int count(const box_t *b, const char *topic)
{
    int n = 0;
    for (int i = find(b, topic, 0); i >= 0; i = find(b, topic, i + 1))
        n++;
    return n;
}

static char *expect_env(const char *topic, const char *epoch, int rev, int seq, const char *doc)
{
    char *s = NULL;
    if (asprintf(&s, "{\"topic\":\"%s\",\"epoch\":\"%s\",\"rev\":%d,\"seq\":%d,\"doc\":%s}", topic,
                 epoch, rev, seq, doc) < 0)
        abort();
    return s;
}

static void keep(char **slot, const char *env)
{
    free(*slot);
    *slot = strdup(env);
}

static void send_frames(void *s, int n, const char **f)
{
    for (int i = 0; i < n; i++)
        zmq_send(s, f[i], strlen(f[i]), i + 1 < n ? ZMQ_SNDMORE : 0);
}

static void ask(void *dealer, const char *prefix, int delim)
{
    char req[600];
    snprintf(req, sizeof req, "{\"snapshot\":\"%s\"}", prefix);
    const char *f[2] = {"", req};
    send_frames(dealer, delim ? 2 : 1, delim ? f : f + 1);
}

static int is_hex16(const char *s)
{
    if (!s || strlen(s) != 16)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void finish(T *t)
{
    if (t->finished)
        return;
    t->finished = 1;
    publish_destroy(&t->pa);
    ok(t->pa == NULL, "publish_destroy nulls the pointer");
    publish_destroy(&t->pa); /* idempotent */
    publish_destroy(&t->pb);
    uv_close((uv_handle_t *)&t->tick, NULL);
    uv_close((uv_handle_t *)&t->deadline, NULL);
}

static void on_deadline(uv_timer_t *h)
{
    T *t = h->data;
    ok(0, "deadline reached at step %d", t->step);
    finish(t);
}

/* The test script: each case waits for its condition (return) or acts and
 * moves on. */
static void step(T *t)
{
    uint64_t now = uv_now(t->loop);
    publish_stats_t st;
    char *want;
    int i;
    switch (t->step) {
    case 0: { /* the first heartbeat */
        json_t *j;
        if ((i = find(&t->subq, "system", 0)) < 0)
            return;
        msg_t *m = &t->subq.m[i];
        ok(m->at - t->t0 <= 1500, "heartbeat on \"system\" within 1.5 s (%llu ms)",
           (unsigned long long)(m->at - t->t0));
        is_int(m->n, 2, "heartbeat has two frames");
        j = json_loads(m->f[1], 0, NULL);
        const char *ep = json_string_value(json_object_get(j, "epoch"));
        ok(is_hex16(ep), "epoch is 16 lowercase hex digits");
        snprintf(t->epoch, sizeof t->epoch, "%s", ep ? ep : "");
        is_str(json_string_value(json_object_get(j, "topic")), "system", "heartbeat topic field");
        is_int(json_integer_value(json_object_get(j, "rev")), 1, "first heartbeat is rev 1");
        want = expect_env("system", t->epoch, 1, 0, "{\"head_seq\":0,\"topics\":0}");
        is_str(m->f[1], want, "heartbeat envelope");
        free(want);
        json_decref(j);
        clear(&t->subq);
        is_int(publish_update(t->pa, "cohort/p/c1", "{\"a\":1}", 5), 0, "update accepted");
        publish_set_seq(t->pa, 5);
        t->step = 1;
        return;
    }
    case 1:
        if ((i = find(&t->subq, "cohort/p/c1", 0)) < 0)
            return;
        is_int(t->subq.m[i].n, 2, "update has two frames");
        want = expect_env("cohort/p/c1", t->epoch, 1, 5, "{\"a\":1}");
        is_str(t->subq.m[i].f[1], want, "first update: envelope with rev 1, seq 5, doc verbatim");
        free(want);
        clear(&t->subq);
        t->mark = now;
        t->step = 2;
        return;
    case 2:
        if (now < t->mark + COAL_A + 10)
            return;
        publish_update(t->pa, "cohort/p/c1", "{\"a\":2}", 6);
        publish_stats(t->pa, &st);
        is_int(st.published, 2, "an update after the interval is sent at once");
        t->step = 3;
        return;
    case 3:
        if ((i = find(&t->subq, "cohort/p/c1", 0)) < 0)
            return;
        want = expect_env("cohort/p/c1", t->epoch, 2, 6, "{\"a\":2}");
        is_str(t->subq.m[i].f[1], want, "second update: rev 2, seq 6");
        keep(&t->env_c1, t->subq.m[i].f[1]);
        free(want);
        clear(&t->subq);
        /* coalescing: 10 rapid updates of one topic */
        publish_stats(t->pa, &t->s0);
        for (int k = 1; k <= 10; k++) {
            char doc[32];
            snprintf(doc, sizeof doc, "{\"n\":%d}", k);
            publish_update(t->pa, "cohort/p/c2", doc, (uint64_t)(10 + k));
        }
        publish_set_seq(t->pa, 20);
        publish_stats(t->pa, &st);
        is_int(st.published - t->s0.published, 1, "burst of 10: the first is sent at once");
        is_int(st.coalesced - t->s0.coalesced, 8, "burst of 10: 8 coalesced away");
        t->mark = now;
        t->step = 4;
        return;
    case 4: {
        int a, b;
        if (now < t->mark + 4 * COAL_A)
            return;
        is_int(count(&t->subq, "cohort/p/c2"), 2, "burst of 10: two messages delivered");
        a = find(&t->subq, "cohort/p/c2", 0);
        b = a >= 0 ? find(&t->subq, "cohort/p/c2", a + 1) : -1;
        if (a >= 0 && b >= 0) {
            want = expect_env("cohort/p/c2", t->epoch, 1, 11, "{\"n\":1}");
            is_str(t->subq.m[a].f[1], want, "burst: first document, rev 1");
            free(want);
            want = expect_env("cohort/p/c2", t->epoch, 2, 20, "{\"n\":10}");
            is_str(t->subq.m[b].f[1], want, "burst: then the 10th document, rev 2, seq 20");
            free(want);
            ok(t->subq.m[b].at >= t->mark + COAL_A, "the 10th came after the interval (%llu ms)",
               (unsigned long long)(t->subq.m[b].at - t->mark));
            keep(&t->env_c2, t->subq.m[b].f[1]);
        }
        publish_stats(t->pa, &st);
        is_int(st.published - t->s0.published, 2, "burst: 2 published");
        is_int(st.coalesced - t->s0.coalesced, 8, "burst: still 8 coalesced");
        clear(&t->subq);
        publish_update(t->pa, "agency/w/p/c1", "{\"x\":1}", 21);
        publish_update(t->pa, "programme/p", "{\"p\":1}", 22);
        publish_set_seq(t->pa, 42);
        t->step = 5;
        return;
    }
    case 5: {
        int a = find(&t->subq, "agency/w/p/c1", 0), p = find(&t->subq, "programme/p", 0);
        if (a < 0 || p < 0)
            return;
        keep(&t->env_ag, t->subq.m[a].f[1]);
        keep(&t->env_pr, t->subq.m[p].f[1]);
        clear(&t->subq);
        ask(t->dealer, "cohort/", 0);
        t->step = 6;
        return;
    }
    case 6:
        if (find(&t->dq, "$end", 0) < 0 && find(&t->dq, "$error", 0) < 0)
            return;
        is_int(t->dq.n, 3, "snapshot of \"cohort/\": 2 topics and the end marker");
        if (t->dq.n == 3) {
            is_str(t->dq.m[0].f[0], "cohort/p/c1", "snapshot: first topic (sorted)");
            is_str(t->dq.m[0].f[1], t->env_c1, "snapshot: same envelope as published");
            is_str(t->dq.m[1].f[0], "cohort/p/c2", "snapshot: second topic");
            is_str(t->dq.m[1].f[1], t->env_c2, "snapshot: same envelope as published");
            is_int(t->dq.m[2].n, 2, "end marker has two frames");
            want = NULL;
            if (asprintf(&want, "{\"end\":true,\"epoch\":\"%s\",\"seq\":42,\"count\":2}",
                         t->epoch) < 0)
                abort();
            is_str(t->dq.m[2].f[1], want, "end marker: epoch, seq from publish_set_seq, count");
            free(want);
        }
        clear(&t->dq);
        ask(t->dealer, "", 1);
        t->step = 7;
        return;
    case 7: {
        static const char *order[] = {"agency/w/p/c1", "cohort/p/c1", "cohort/p/c2", "programme/p"};
        const char *envs[] = {t->env_ag, t->env_c1, t->env_c2, t->env_pr};
        int good = 1;
        if (find(&t->dq, "", 0) < 0 || strcmp(t->dq.m[t->dq.n - 1].f[1], "$end") != 0)
            return;
        is_int(t->dq.n, 5, "snapshot of everything: 4 topics (no \"system\") and the end");
        for (i = 0; i < t->dq.n && i < 4; i++)
            good &= t->dq.m[i].n == 3 && strcmp(t->dq.m[i].f[0], "") == 0 &&
                    strcmp(t->dq.m[i].f[1], order[i]) == 0 && strcmp(t->dq.m[i].f[2], envs[i]) == 0;
        ok(good, "REQ-style request: delimiter echoed, topics sorted, envelopes as published");
        if (t->dq.n == 5) {
            json_t *j = json_loads(t->dq.m[4].f[2], 0, NULL);
            is_int(json_integer_value(json_object_get(j, "count")), 4, "end marker count 4");
            json_decref(j);
        }
        clear(&t->dq);
        /* bad requests, then a 256-byte prefix (allowed) */
        char long_p[258];
        memset(long_p, 'x', 257);
        long_p[257] = 0;
        const char *bad[] = {"not json", "{\"snap\":\"x\"}", "{\"snapshot\":5}",
                             "{\"snapshot\":\"x\",\"more\":1}", "[\"snapshot\"]"};
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
            send_frames(t->dealer, 1, &bad[k]);
        ask(t->dealer, long_p, 0);
        const char *env2[] = {"x", "{\"snapshot\":\"\"}"};
        send_frames(t->dealer, 2, env2); /* a non-empty delimiter */
        long_p[256] = 0;
        ask(t->dealer, long_p, 0);
        t->step = 8;
        return;
    }
    case 8: {
        int good = 1;
        if (find(&t->dq, "$end", 0) < 0)
            return;
        is_int(t->dq.n, 8, "7 bad requests answered, then the 256-byte prefix");
        for (i = 0; i < t->dq.n && i < 7; i++) {
            json_t *j = t->dq.m[i].n == 2 ? json_loads(t->dq.m[i].f[1], 0, NULL) : NULL;
            good &= strcmp(t->dq.m[i].f[0], "$error") == 0 &&
                    json_is_string(json_object_get(j, "error")) && json_object_size(j) == 1;
            json_decref(j);
        }
        ok(good, "each bad request got [\"$error\"][{\"error\":...}]");
        if (t->dq.n == 8) {
            json_t *j = json_loads(t->dq.m[7].f[1], 0, NULL);
            is_int(json_integer_value(json_object_get(j, "count")), 0,
                   "a 256-byte prefix is served (count 0)");
            json_decref(j);
        }
        publish_stats(t->pa, &st);
        is_int(st.bad_requests, 7, "counter: 7 bad requests");
        is_int(st.snapshots, 3, "counter: 3 snapshots served");
        clear(&t->dq);
        /* removal */
        is_int(publish_update(t->pa, "agency/w/p/c1", NULL, 43), 0, "removal accepted");
        publish_set_seq(t->pa, 43);
        t->step = 9;
        return;
    }
    case 9:
        if ((i = find(&t->subq, "agency/w/p/c1", 0)) < 0)
            return;
        want = expect_env("agency/w/p/c1", t->epoch, 2, 43, "null");
        is_str(t->subq.m[i].f[1], want, "removal published once with \"doc\":null, rev 2");
        free(want);
        publish_stats(t->pa, &st);
        is_int(publish_update(t->pa, "agency/w/p/c1", NULL, 44), 0, "removing it again is a no-op");
        is_int(publish_update(t->pa, "agency/zz/p/c1", NULL, 44), 0,
               "removing an unknown topic too");
        {
            publish_stats_t st2;
            publish_stats(t->pa, &st2);
            is_int(st2.published, st.published, "nothing published for them");
        }
        clear(&t->subq);
        ask(t->dealer, "agency/", 0);
        ask(t->dealer, "", 0);
        t->step = 10;
        return;
    case 10: {
        int e1 = find(&t->dq, "$end", 0), e2 = e1 >= 0 ? find(&t->dq, "$end", e1 + 1) : -1;
        if (e2 < 0)
            return;
        is_int(e1, 0, "snapshot of \"agency/\" after removal: only the end marker");
        is_int(e2 - e1 - 1, 3, "snapshot of everything: 3 topics left");
        is_int(find(&t->dq, "agency/w/p/c1", 0), -1, "removed topic absent from snapshots");
        want = NULL;
        if (asprintf(&want, "{\"end\":true,\"epoch\":\"%s\",\"seq\":43,\"count\":3}", t->epoch) < 0)
            abort();
        is_str(t->dq.m[e2].f[1], want, "end marker: seq 43, count 3");
        free(want);
        clear(&t->dq);
        clear(&t->subq);
        t->step = 11;
        return;
    }
    case 11: { /* a later heartbeat reflects the state */
        json_t *j;
        if ((i = find(&t->subq, "system", 0)) < 0)
            return;
        j = json_loads(t->subq.m[i].f[1], 0, NULL);
        ok(json_integer_value(json_object_get(j, "rev")) >= 2, "heartbeat rev advances");
        json_t *d = json_object_get(j, "doc");
        is_int(json_integer_value(json_object_get(d, "head_seq")), 43, "heartbeat head_seq");
        is_int(json_integer_value(json_object_get(d, "topics")), 3, "heartbeat topics");
        is_int(json_integer_value(json_object_get(j, "seq")), 43, "heartbeat seq");
        json_decref(j);
        t->step = 12;
        return;
    }
    case 12: { /* instance B: pending document and flush */
        json_t *j;
        if ((i = find(&t->sub2q, "system", 0)) < 0)
            return; /* B's subscriber is connected */
        j = json_loads(t->sub2q.m[i].f[1], 0, NULL);
        const char *ep = json_string_value(json_object_get(j, "epoch"));
        snprintf(t->epoch2, sizeof t->epoch2, "%s", ep ? ep : "");
        json_decref(j);
        ok(is_hex16(t->epoch2) && strcmp(t->epoch, t->epoch2) != 0, "B has its own epoch");
        clear(&t->sub2q);
        publish_update(t->pb, "cohort/q/c1", "{\"b\":1}", 100);
        publish_set_seq(t->pb, 100);
        publish_update(t->pb, "cohort/q/c1", "{\"b\":2}", 101);
        publish_update(t->pb, "cohort/q/c1", "{\"b\":3}", 102);
        publish_set_seq(t->pb, 102);
        publish_stats(t->pb, &st);
        ok(st.published == 1 && st.coalesced == 1, "B: one sent, one pending, one coalesced");
        ask(t->dealer2, "", 0);
        t->step = 13;
        return;
    }
    case 13:
        if (find(&t->d2q, "$end", 0) < 0)
            return;
        is_int(t->d2q.n, 2, "B snapshot: 1 topic and the end");
        if (t->d2q.n == 2) {
            want = expect_env("cohort/q/c1", t->epoch2, 1, 100, "{\"b\":1}");
            is_str(t->d2q.m[0].f[1], want,
                   "B snapshot: the published envelope, not the pending one");
            free(want);
            want = NULL;
            if (asprintf(&want, "{\"end\":true,\"epoch\":\"%s\",\"seq\":100,\"count\":1}",
                         t->epoch2) < 0)
                abort();
            is_str(t->d2q.m[1].f[1], want,
                   "B end marker: seq is the handed-over seq when the topic became pending");
            free(want);
        }
        clear(&t->d2q);
        publish_flush(t->pb);
        publish_stats(t->pb, &st);
        is_int(st.published, 2, "publish_flush sends the pending document at once");
        ask(t->dealer2, "cohort/", 0);
        t->step = 14;
        return;
    case 14:
        if (find(&t->d2q, "$end", 0) < 0 || count(&t->sub2q, "cohort/q/c1") < 2)
            return; /* rev 1, then the flushed rev 2 */
        i = find(&t->sub2q, "cohort/q/c1", find(&t->sub2q, "cohort/q/c1", 0) + 1);
        want = expect_env("cohort/q/c1", t->epoch2, 2, 102, "{\"b\":3}");
        is_str(t->sub2q.m[i].f[1], want, "B: flushed update is rev 2 with the last document");
        free(want);
        ok(t->d2q.n == 2 && strcmp(t->d2q.m[0].f[1], t->sub2q.m[i].f[1]) == 0,
           "B snapshot after flush: the flushed envelope");
        ok(t->d2q.n == 2 && strstr(t->d2q.m[1].f[1], "\"seq\":102,\"count\":1}") != NULL,
           "B end marker after flush: seq 102");
        is_int(publish_update(t->pa, "system", "{}", 1), -EINVAL, "topic \"system\" refused");
        is_int(publish_update(t->pa, NULL, "{}", 1), -EINVAL, "NULL topic refused");
        is_int(publish_update(t->pa, "cohort/\xff", "{}", 1), -EINVAL, "non-UTF-8 topic refused");
        t->step = 15;
        finish(t);
        return;
    }
}

static void on_tick(uv_timer_t *h)
{
    T *t = h->data;
    if (t->finished)
        return;
    drain(t, t->sub, &t->subq);
    drain(t, t->dealer, &t->dq);
    drain(t, t->sub2, &t->sub2q);
    drain(t, t->dealer2, &t->d2q);
    step(t);
}

static void *sock(void *ctx, int type, const char *ep)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_SUB)
        zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect(s, ep);
    return s;
}

int main(void)
{
    static T t;
    char dir[] = "/tmp/t_publish.XXXXXX", pa[4][128], err[256];
    const char *names[4] = {"pub", "snap", "pub2", "snap2"};
    int rc;
    if (!mkdtemp(dir))
        return 1;
    for (int i = 0; i < 4; i++)
        snprintf(pa[i], sizeof pa[i], "ipc://%s/%s", dir, names[i]);
    t.loop = uv_default_loop();
    t.ctx = zmq_ctx_new();
    rc = publish_new(&t.pa, t.loop, t.ctx, pa[0], pa[1], COAL_A, NULL, NULL, err, sizeof err);
    if (!ok(rc == 0, "publish_new A"))
        diag("%s", err);
    rc = publish_new(&t.pb, t.loop, t.ctx, pa[2], pa[3], COAL_B, NULL, NULL, err, sizeof err);
    if (!ok(rc == 0, "publish_new B"))
        diag("%s", err);
    {
        publish_t *dup = NULL;
        char spare[160];
        snprintf(spare, sizeof spare, "ipc://%s/spare", dir);
        rc = publish_new(&dup, t.loop, t.ctx, spare, "ipc:///nonexistent/dir/x", 0, NULL, NULL, err,
                         sizeof err);
        ok(rc < 0 && dup == NULL && err[0], "publish_new with a bad endpoint fails: %s", err);
        unlink(spare + strlen("ipc://"));
    }
    if (!t.pa || !t.pb)
        return tap_done();
    t.sub = sock(t.ctx, ZMQ_SUB, pa[0]);
    t.dealer = sock(t.ctx, ZMQ_DEALER, pa[1]);
    t.sub2 = sock(t.ctx, ZMQ_SUB, pa[2]);
    t.dealer2 = sock(t.ctx, ZMQ_DEALER, pa[3]);
    uv_timer_init(t.loop, &t.tick);
    uv_timer_init(t.loop, &t.deadline);
    t.tick.data = t.deadline.data = &t;
    t.t0 = uv_now(t.loop);
    uv_timer_start(&t.tick, on_tick, 1, 1);
    uv_timer_start(&t.deadline, on_deadline, DEADLINE_MS, 0);
    uv_run(t.loop, UV_RUN_DEFAULT);
    is_int(t.step, 15, "every step ran");
    ok(uv_loop_close(t.loop) == 0, "all handles closed (close contract kept)");
    clear(&t.subq);
    clear(&t.dq);
    clear(&t.sub2q);
    clear(&t.d2q);
    free(t.env_c1);
    free(t.env_c2);
    free(t.env_ag);
    free(t.env_pr);
    zmq_close(t.sub);
    zmq_close(t.dealer);
    zmq_close(t.sub2);
    zmq_close(t.dealer2);
    zmq_ctx_term(t.ctx);
    for (int i = 0; i < 4; i++)
        unlink(pa[i] + strlen("ipc://"));
    rmdir(dir);
    return tap_done();
}
