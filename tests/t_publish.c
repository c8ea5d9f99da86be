/* t_publish: unit test for publish.c on a real libuv loop over ipc://, in
 * plaintext mode (auth NULL). Instance A is watched by DEALER subscribers
 * (one per role in the script, see the S_* names) and a snapshot DEALER:
 * subscription answers, heartbeat, update envelopes and revs, per-prefix
 * fan-out, snapshots (both envelope forms, prefixes, bad requests),
 * removal and comeback, malformed and refused subscriptions, unsubscribe,
 * a closed subscriber being forgotten, and a subscriber that never reads
 * (it misses updates, the others miss none). Instance B only shows that
 * each instance has its own epoch. A tick timer drains the test sockets and
 * drives the steps; a deadline timer bounds the whole run.
 *
 * "Nothing arrived" is checked against a barrier, never a sleep: a message
 * sent later on the same connection (a subscription answer, a later
 * heartbeat) arrives after anything queued before it.
 *
 * The last steps subscribe with a 100-byte prefix (longer than any role
 * prefix: a grant() that copied it into an auth_prefix_t overflowed). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "publish.h"
#include "tap.h"

#define DEADLINE_MS 20000
#define MAXMSG 256             /* messages kept per socket (flood messages are only counted) */
#define FLOOD "cohort/flood/x" /* the topic of the slow-subscriber flood */
#define FLOOD_N 3000           /* flood updates in all */
#define FLOOD_TICK 100         /* flood updates per tick */
#define FLOOD_DOC 1000         /* bytes of padding per flood document */
#define BAD_N 11               /* malformed subscription requests sent */

/* The subscriber DEALERs on A's publish endpoint (S_B: on B's). */
enum {
    S_ALL,  /* subscribes "": gets everything; also the fast one in the flood */
    S_COH,  /* subscribes "cohort/", later unsubscribes */
    S_AGY,  /* subscribes "agency/", later unsubscribes */
    S_NONE, /* never subscribes */
    S_BAD,  /* sends malformed requests */
    S_RID,  /* sets ZMQ_ROUTING_ID "rogue": refused */
    S_RID0, /* sets a 4-byte ZMQ_ROUTING_ID starting with a zero byte: refused */
    S_GONE, /* subscribes "", then closes its socket */
    S_SLOW, /* ZMQ_RCVHWM 1, subscribes FLOOD's prefix, then stops reading */
    S_B,    /* subscribes "" on instance B */
    NSUB
};

/* One received message: up to 4 frames as NUL-terminated copies. */
typedef struct {
    int n;       /* frames */
    char *f[4];  /* the frames */
    uint64_t at; /* uv_now when received */
} msg_t;

/* Messages received on one socket since the last clear; FLOOD messages are
 * counted and their revs checked instead of being kept. */
typedef struct {
    msg_t m[MAXMSG];
    int n;            /* kept messages */
    int lost;         /* messages not kept (box full) */
    int flood_n;      /* FLOOD messages received */
    long flood_first; /* rev of the first */
    long flood_last;  /* rev of the last */
    int flood_gaps;   /* times a FLOOD rev was not the previous + 1 */
} box_t;

typedef struct {
    uv_loop_t *loop;
    void *ctx;
    publish_t *pa, *pb; /* the modules under test */
    void *sub[NSUB];    /* subscribers (NULL once closed) */
    int paused[NSUB];   /* 1: not drained (S_SLOW during the flood) */
    box_t q[NSUB];      /* what they received */
    void *dealer;       /* snapshot client of A */
    box_t dq;           /* what it received */
    uv_timer_t tick, deadline;
    int step;
    uint64_t t0, mark;                       /* start, and a step's reference time */
    char epoch[17];                          /* A's epoch, from its first heartbeat */
    char *env_c1, *env_c2, *env_ag, *env_pr; /* last envelopes published by A */
    char p100[101];                          /* a 100-byte subscription prefix */
    publish_stats_t s0;                      /* counters at a step's start */
    int flood_sent;                          /* FLOOD updates made so far */
    uint64_t flood_beat;                     /* heartbeats made when the flood ended */
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
        if (m.n == 2 && strcmp(m.f[0], FLOOD) == 0) {
            json_t *j = json_loads(m.f[1], 0, NULL);
            long rev = (long)json_integer_value(json_object_get(j, "rev"));
            json_decref(j);
            if (b->flood_n++ == 0)
                b->flood_first = rev;
            else if (rev != b->flood_last + 1)
                b->flood_gaps++;
            b->flood_last = rev;
            for (int i = 0; i < m.n; i++)
                free(m.f[i]);
        } else if (b->n < MAXMSG) {
            b->m[b->n++] = m;
        } else {
            b->lost++;
            for (int i = 0; i < m.n; i++)
                free(m.f[i]);
        }
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

/* Messages in b whose frame 0 starts with prefix. */
static int count_prefix(const box_t *b, const char *prefix)
{
    int n = 0;
    for (int i = 0; i < b->n; i++)
        n += b->m[i].n >= 1 && strncmp(b->m[i].f[0], prefix, strlen(prefix)) == 0;
    return n;
}

/* The rev of the last "system" message in b at or after index from, or -1. */
static long beat_rev(const box_t *b, int from)
{
    long rev = -1;
    for (int i = find(b, "system", from); i >= 0; i = find(b, "system", i + 1)) {
        json_t *j = b->m[i].n == 2 ? json_loads(b->m[i].f[1], 0, NULL) : NULL;
        rev = (long)json_integer_value(json_object_get(j, "rev"));
        json_decref(j);
    }
    return rev;
}

static char *expect_env(const char *topic, const char *epoch, int rev, int seq, const char *doc)
{
    char *s = NULL;
    if (asprintf(&s, "{\"topic\":\"%s\",\"epoch\":\"%s\",\"rev\":%d,\"seq\":%d,\"doc\":%s}", topic,
                 epoch, rev, seq, doc) < 0)
        abort();
    return s;
}

/* The answer body of an applied (un)subscription of plain prefix p. */
static char *expect_ack(const char *p)
{
    char *s = NULL;
    if (asprintf(&s, "{\"prefix\":\"%s\",\"granted\":[\"%s\"]}", p, p) < 0)
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

/* A snapshot request, with (delim) or without the REQ-style delimiter. */
static void ask(void *dealer, const char *prefix, int delim)
{
    char req[600];
    snprintf(req, sizeof req, "{\"snapshot\":\"%s\"}", prefix);
    const char *f[2] = {"", req};
    send_frames(dealer, delim ? 2 : 1, delim ? f : f + 1);
}

/* A subscription request: verb "subscribe" or "unsubscribe". */
static void req(void *s, const char *verb, const char *prefix)
{
    char r[600];
    snprintf(r, sizeof r, "{\"%s\":\"%s\"}", verb, prefix);
    const char *f[1] = {r};
    send_frames(s, 1, f);
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

/* 1 if message m is ["$error"][{"error":<string>}] (and nothing else). */
static int is_error(const msg_t *m)
{
    json_t *j = m->n == 2 ? json_loads(m->f[1], 0, NULL) : NULL;
    int good = m->n == 2 && strcmp(m->f[0], "$error") == 0 &&
               json_is_string(json_object_get(j, "error")) && json_object_size(j) == 1;
    json_decref(j);
    return good;
}

/* The "error" of message m, or "" (static buffer). */
static const char *error_of(const msg_t *m)
{
    static char why[256];
    json_t *j = m->n == 2 ? json_loads(m->f[1], 0, NULL) : NULL;
    snprintf(why, sizeof why, "%s", j ? json_string_value(json_object_get(j, "error")) : "");
    json_decref(j);
    return why;
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
    box_t *all = &t->q[S_ALL], *coh = &t->q[S_COH], *agy = &t->q[S_AGY];
    char *want;
    int i;
    switch (t->step) {
    case 0: { /* the subscription answers */
        static const int subs[] = {S_ALL, S_COH, S_AGY, S_GONE, S_SLOW, S_B};
        for (size_t k = 0; k < sizeof subs / sizeof *subs; k++)
            if (t->q[subs[k]].n < 1)
                return;
        if (t->q[S_RID].n < 1 || t->q[S_RID0].n < 1)
            return;
        is_int(coh->n, 1, "a subscriber's first message is the answer");
        is_int(coh->m[0].n, 2, "the answer has two frames");
        is_str(coh->m[0].f[0], "$subscribed", "{\"subscribe\":\"cohort/\"} answered $subscribed");
        want = expect_ack("cohort/");
        is_str(coh->m[0].f[1], want, "... with prefix \"cohort/\" and granted [\"cohort/\"]");
        free(want);
        want = expect_ack("agency/");
        ok(agy->n == 1 && strcmp(agy->m[0].f[0], "$subscribed") == 0 &&
               strcmp(agy->m[0].f[1], want) == 0,
           "\"agency/\" granted as asked");
        free(want);
        want = expect_ack("");
        ok(all->n == 1 && strcmp(all->m[0].f[0], "$subscribed") == 0 &&
               strcmp(all->m[0].f[1], want) == 0,
           "\"\" (everything) granted as asked");
        free(want);
        ok(t->q[S_SLOW].n == 1 && strcmp(t->q[S_SLOW].m[0].f[0], "$subscribed") == 0,
           "the slow subscriber is subscribed");
        ok(t->q[S_B].n == 1 && strcmp(t->q[S_B].m[0].f[0], "$subscribed") == 0,
           "B's subscriber is subscribed");
        ok(t->q[S_RID].n == 1 && is_error(&t->q[S_RID].m[0]) &&
               strcmp(error_of(&t->q[S_RID].m[0]), "subscribers must not set a routing id") == 0,
           "a DEALER with ZMQ_ROUTING_ID is refused: $error \"subscribers must not set a routing "
           "id\"");
        ok(t->q[S_RID0].n == 1 && is_error(&t->q[S_RID0].m[0]) &&
               strcmp(error_of(&t->q[S_RID0].m[0]), "subscribers must not set a routing id") == 0,
           "... and so is one with a 4-byte routing id starting with a zero byte");
        publish_stats(t->pa, &st);
        is_int(st.subscribers, 5, "5 subscriber entries on A");
        is_int(st.subscriptions, 5, "5 subscriptions applied");
        is_int(st.subs_refused, 2, "2 subscriptions refused (the routing ids)");
        t->paused[S_SLOW] = 1; /* from here on it never reads (until the flood is over) */
        for (int k = 0; k < NSUB; k++)
            clear(&t->q[k]);
        t->s0 = st;
        t->step = 1;
        return;
    }
    case 1: { /* the first heartbeat */
        json_t *j;
        if ((i = find(all, "system", 0)) < 0 || find(coh, "system", 0) < 0 ||
            find(agy, "system", 0) < 0 || find(&t->q[S_B], "system", 0) < 0)
            return;
        msg_t *m = &all->m[i];
        ok(m->at - t->t0 <= 1500, "heartbeat on \"system\" within 1.5 s (%llu ms)",
           (unsigned long long)(m->at - t->t0));
        is_int(m->n, 2, "heartbeat has two frames");
        j = json_loads(m->f[1], 0, NULL);
        const char *ep = json_string_value(json_object_get(j, "epoch"));
        ok(is_hex16(ep), "epoch is 16 lowercase hex digits");
        snprintf(t->epoch, sizeof t->epoch, "%s", ep ? ep : "");
        is_str(json_string_value(json_object_get(j, "topic")), "system", "heartbeat topic field");
        is_int(json_integer_value(json_object_get(j, "rev")), 1, "first heartbeat is rev 1");
        want = expect_env("system", t->epoch, 1, 0, "{\"head_seq\":0,\"topics\":0,\"pending\":0}");
        is_str(m->f[1], want, "heartbeat envelope");
        free(want);
        json_decref(j);
        is_str(coh->m[find(coh, "system", 0)].f[1], m->f[1],
               "the \"cohort/\" subscriber gets the same heartbeat");
        is_str(agy->m[find(agy, "system", 0)].f[1], m->f[1],
               "the \"agency/\" subscriber gets it too");
        {
            msg_t *b = &t->q[S_B].m[find(&t->q[S_B], "system", 0)];
            j = b->n == 2 ? json_loads(b->f[1], 0, NULL) : NULL;
            ep = json_string_value(json_object_get(j, "epoch"));
            ok(is_hex16(ep) && strcmp(ep, t->epoch) != 0, "B has its own epoch");
            json_decref(j);
        }
        is_int(t->q[S_NONE].n, 0,
               "a DEALER that never subscribed gets nothing, not even the heartbeat");
        clear(all);
        is_int(publish_update(t->pa, "cohort/p/c1", "{\"a\":1}", 5), 0, "update accepted");
        publish_set_seq(t->pa, 5, 0);
        t->step = 2;
        return;
    }
    case 2:
        if ((i = find(all, "cohort/p/c1", 0)) < 0)
            return;
        is_int(all->m[i].n, 2, "update has two frames");
        want = expect_env("cohort/p/c1", t->epoch, 1, 5, "{\"a\":1}");
        is_str(all->m[i].f[1], want, "first update: envelope with rev 1, seq 5, doc verbatim");
        free(want);
        clear(all);
        publish_update(t->pa, "cohort/p/c1", "{\"a\":2}", 6);
        publish_stats(t->pa, &st);
        is_int(st.published, 2, "each update is published at once");
        t->step = 3;
        return;
    case 3:
        if ((i = find(all, "cohort/p/c1", 0)) < 0)
            return;
        want = expect_env("cohort/p/c1", t->epoch, 2, 6, "{\"a\":2}");
        is_str(all->m[i].f[1], want, "second update: rev 2, seq 6");
        keep(&t->env_c1, all->m[i].f[1]);
        free(want);
        clear(all);
        publish_update(t->pa, "cohort/p/c2", "{\"n\":1}", 11);
        publish_update(t->pa, "agency/w/p/c1", "{\"x\":1}", 21);
        publish_update(t->pa, "programme/p", "{\"p\":1}", 22);
        publish_set_seq(t->pa, 42, 3);
        t->step = 4;
        return;
    case 4: {
        int c = find(all, "cohort/p/c2", 0), a = find(all, "agency/w/p/c1", 0),
            p = find(all, "programme/p", 0);
        if (c < 0 || a < 0 || p < 0)
            return;
        want = expect_env("cohort/p/c2", t->epoch, 1, 11, "{\"n\":1}");
        is_str(all->m[c].f[1], want, "a new topic starts at rev 1");
        free(want);
        keep(&t->env_c2, all->m[c].f[1]);
        keep(&t->env_ag, all->m[a].f[1]);
        keep(&t->env_pr, all->m[p].f[1]);
        clear(all);
        ask(t->dealer, "cohort/", 0);
        t->step = 5;
        return;
    }
    case 5:
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
            if (asprintf(&want,
                         "{\"end\":true,\"epoch\":\"%s\",\"seq\":42,\"pending\":3,\"count\":2,"
                         "\"readable\":[\"\"]}",
                         t->epoch) < 0)
                abort();
            is_str(t->dq.m[2].f[1], want,
                   "end marker: epoch, seq and pending from publish_set_seq, count, readable "
                   "(plaintext: "
                   "everything)");
            free(want);
        }
        clear(&t->dq);
        ask(t->dealer, "", 1);
        t->step = 6;
        return;
    case 6: {
        static const char *order[] = {"agency/w/p/c1", "cohort/p/c1", "cohort/p/c2", "programme/p"};
        const char *envs[] = {t->env_ag, t->env_c1, t->env_c2, t->env_pr};
        int good = 1;
        if (find(&t->dq, "", 0) < 0 || t->dq.m[t->dq.n - 1].n < 2 ||
            strcmp(t->dq.m[t->dq.n - 1].f[1], "$end") != 0)
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
        t->step = 7;
        return;
    }
    case 7: {
        int good = 1;
        if (find(&t->dq, "$end", 0) < 0)
            return;
        is_int(t->dq.n, 8, "7 bad requests answered, then the 256-byte prefix");
        for (i = 0; i < t->dq.n && i < 7; i++)
            good &= is_error(&t->dq.m[i]);
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
        is_int(st.snap_requests, 10, "counter: 10 snapshot requests");
        clear(&t->dq);
        /* removal */
        is_int(publish_update(t->pa, "agency/w/p/c1", NULL, 43), 0, "removal accepted");
        publish_set_seq(t->pa, 43, 0);
        t->step = 8;
        return;
    }
    case 8:
        if ((i = find(all, "agency/w/p/c1", 0)) < 0)
            return;
        want = expect_env("agency/w/p/c1", t->epoch, 2, 43, "null");
        is_str(all->m[i].f[1], want, "removal published once with \"doc\":null, rev 2");
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
        clear(all);
        ask(t->dealer, "agency/", 0);
        ask(t->dealer, "", 0);
        t->step = 9;
        return;
    case 9: {
        int e1 = find(&t->dq, "$end", 0), e2 = e1 >= 0 ? find(&t->dq, "$end", e1 + 1) : -1;
        if (e2 < 0)
            return;
        is_int(e1, 0, "snapshot of \"agency/\" after removal: only the end marker");
        is_int(e2 - e1 - 1, 3, "snapshot of everything: 3 topics left");
        is_int(find(&t->dq, "agency/w/p/c1", 0), -1, "removed topic absent from snapshots");
        want = NULL;
        if (asprintf(&want,
                     "{\"end\":true,\"epoch\":\"%s\",\"seq\":43,\"pending\":0,\"count\":3,"
                     "\"readable\":[\"\"]}",
                     t->epoch) < 0)
            abort();
        is_str(t->dq.m[e2].f[1], want, "end marker: seq 43, count 3");
        free(want);
        clear(&t->dq);
        clear(all);
        t->step = 10;
        return;
    }
    case 10: { /* a later heartbeat: the state, and a barrier for what was not sent */
        json_t *j;
        /* heartbeat 1 came before the first update: rev >= 2 on a connection
         * comes after every update made so far */
        if ((i = find(all, "system", 0)) < 0 || beat_rev(coh, 0) < 2 || beat_rev(agy, 0) < 2 ||
            beat_rev(&t->q[S_GONE], 0) < 2)
            return;
        j = json_loads(all->m[i].f[1], 0, NULL);
        ok(json_integer_value(json_object_get(j, "rev")) >= 2, "heartbeat rev advances");
        json_t *d = json_object_get(j, "doc");
        is_int(json_integer_value(json_object_get(d, "head_seq")), 43, "heartbeat head_seq");
        is_int(json_integer_value(json_object_get(d, "topics")), 3, "heartbeat topics");
        is_int(json_integer_value(json_object_get(j, "seq")), 43, "heartbeat seq");
        json_decref(j);
        ok(count(coh, "cohort/p/c1") == 2 && count(coh, "cohort/p/c2") == 1,
           "the \"cohort/\" subscriber got every cohort/ update");
        ok(count_prefix(coh, "agency/") == 0 && count_prefix(coh, "programme/") == 0,
           "... and no agency/ or programme/ one");
        ok(count(agy, "agency/w/p/c1") == 2,
           "the \"agency/\" subscriber got the update and the removal");
        ok(count_prefix(agy, "cohort/") == 0 && count_prefix(agy, "programme/") == 0,
           "... and no cohort/ or programme/ one");
        is_int(t->q[S_NONE].n, 0, "the DEALER that never subscribed still got nothing");
        ok(t->q[S_RID].n == 0 && t->q[S_RID0].n == 0,
           "the refused DEALERs (routing ids) got no topic, no heartbeat");
        /* sent: c1 x2 and c2 to ALL, COH, GONE (9); agency/ update and
         * removal to ALL, AGY, GONE (6); programme/ to ALL, GONE (2); each
         * heartbeat to the 5 entries */
        publish_stats(t->pa, &st);
        is_int(st.sent - t->s0.sent, 17 + 5 * (st.heartbeats - t->s0.heartbeats),
               "counter: one message per entitled subscriber, heartbeats to all 5");
        is_int(st.dropped, 0, "nothing dropped so far");
        for (int k = 0; k < NSUB; k++)
            clear(&t->q[k]);
        /* the topic comes back */
        is_int(publish_update(t->pa, "agency/w/p/c1", "{\"x\":2}", 44), 0,
               "a removed topic comes back");
        publish_set_seq(t->pa, 44, 0);
        ask(t->dealer, "agency/", 0);
        t->step = 11;
        return;
    }
    case 11:
        if ((i = find(all, "agency/w/p/c1", 0)) < 0 || find(&t->dq, "$end", 0) < 0)
            return;
        want = expect_env("agency/w/p/c1", t->epoch, 3, 44, "{\"x\":2}");
        is_str(all->m[i].f[1], want, "the comeback continues at rev 3");
        ok(t->dq.n == 2 && strcmp(t->dq.m[0].f[1], want) == 0,
           "snapshot of \"agency/\": the comeback envelope");
        free(want);
        clear(&t->dq);
        clear(all);
        /* malformed subscription requests */
        publish_stats(t->pa, &t->s0);
        {
            char long_r[300];
            memset(long_r, 'x', 257);
            long_r[257] = 0;
            const char *bad[] = {"not json",
                                 "{\"subscribe\":5}",
                                 "{\"sub\":\"cohort/\"}",
                                 "{\"subscribe\":\"cohort/\",\"x\":1}",
                                 "{\"subscribe\":\"a/\",\"unsubscribe\":\"b/\"}",
                                 "{\"subscribe\":\"a/\",\"subscribe\":\"b/\"}",
                                 "[\"subscribe\",\"cohort/\"]",
                                 ""};
            for (size_t k = 0; k < sizeof bad / sizeof *bad; k++)
                send_frames(t->sub[S_BAD], 1, &bad[k]);
            req(t->sub[S_BAD], "subscribe", long_r);
            const char *two[] = {"{\"subscribe\":\"cohort/\"}", "{\"subscribe\":\"cohort/\"}",
                                 "{\"subscribe\":\"cohort/\"}"};
            send_frames(t->sub[S_BAD], 2, two);
            send_frames(t->sub[S_BAD], 3, two); /* zbridge: more frames than it keeps */
        }
        t->step = 12;
        return;
    case 12: {
        box_t *b = &t->q[S_BAD];
        int good = 1;
        if (b->n < BAD_N)
            return;
        for (i = 0; i < BAD_N; i++)
            good &= is_error(&b->m[i]);
        ok(good, "%d malformed subscription requests each answered [\"$error\"][{\"error\":...}]",
           BAD_N);
        is_str(error_of(&b->m[8]), "prefix longer than 256 bytes", "a 257-byte prefix is refused");
        is_str(error_of(&b->m[9]), "expected one payload frame", "two frames are refused");
        is_str(error_of(&b->m[10]), "expected one payload frame", "three frames are refused");
        publish_stats(t->pa, &st);
        is_int(st.subs_refused - t->s0.subs_refused, BAD_N, "counter: subscriptions refused");
        is_int(st.subscriptions, t->s0.subscriptions, "no subscription applied");
        is_int(st.subscribers, t->s0.subscribers, "no subscriber entry made");
        clear(b);
        /* an update now, then a subscription to something else: its answer
         * is the barrier that shows the update was not sent to S_BAD */
        publish_update(t->pa, "cohort/p/c1", "{\"a\":3}", 45);
        publish_set_seq(t->pa, 45, 0);
        req(t->sub[S_BAD], "subscribe", "zzz/");
        /* unsubscriptions: COH and AGY leave; ALL adds "cohort/" and drops
         * it again (it keeps ""); NONE drops what it never had */
        req(t->sub[S_COH], "unsubscribe", "cohort/");
        req(t->sub[S_AGY], "unsubscribe", "agency/");
        req(t->sub[S_ALL], "subscribe", "cohort/");
        req(t->sub[S_ALL], "unsubscribe", "cohort/");
        req(t->sub[S_NONE], "unsubscribe", "x/");
        t->step = 13;
        return;
    }
    case 13: {
        box_t *b = &t->q[S_BAD], *none = &t->q[S_NONE];
        int u = find(all, "$unsubscribed", 0), uc = find(coh, "$unsubscribed", 0),
            ua = find(agy, "$unsubscribed", 0);
        if (b->n < 1 || uc < 0 || ua < 0 || none->n < 1 || u < 0)
            return;
        want = expect_ack("zzz/");
        ok(strcmp(b->m[0].f[0], "$subscribed") == 0 && strcmp(b->m[0].f[1], want) == 0,
           "after the refusals: no update (it had no entry), then a valid subscription works");
        free(want);
        want = expect_ack("cohort/");
        ok(coh->m[uc].n == 2 && strcmp(coh->m[uc].f[1], want) == 0,
           "{\"unsubscribe\":\"cohort/\"} answered $unsubscribed, prefix and granted");
        free(want);
        want = expect_ack("agency/");
        ok(strcmp(agy->m[ua].f[1], want) == 0, "\"agency/\" unsubscribed");
        free(want);
        ok(none->n == 1 && strcmp(none->m[0].f[0], "$unsubscribed") == 0,
           "unsubscribing what was never subscribed is answered too");
        ok(find(all, "$subscribed", 0) >= 0 && find(all, "$subscribed", 0) < u,
           "a second prefix on one connection: subscribed, then unsubscribed");
        publish_stats(t->pa, &st);
        /* COH and AGY forgotten, BAD added: 5 - 2 + 1 */
        is_int(st.subscribers, 4, "unsubscribing the last prefix forgets the entry");
        is_int(st.subscriptions - t->s0.subscriptions, 6, "counter: 6 (un)subscriptions applied");
        for (int k = 0; k < NSUB; k++)
            clear(&t->q[k]);
        publish_update(t->pa, "cohort/p/c1", "{\"a\":4}", 46);
        publish_update(t->pa, "agency/w/p/c1", "{\"x\":3}", 47);
        publish_set_seq(t->pa, 47, 0);
        /* barriers: the first thing they get must be this answer */
        req(t->sub[S_COH], "subscribe", "zzz/");
        req(t->sub[S_AGY], "subscribe", "zzz/");
        t->step = 14;
        return;
    }
    case 14:
        if (coh->n < 1 || agy->n < 1 || find(all, "agency/w/p/c1", 0) < 0)
            return;
        ok(strcmp(coh->m[0].f[0], "$subscribed") == 0,
           "after unsubscribing, the cohort/ update is not sent");
        ok(strcmp(agy->m[0].f[0], "$subscribed") == 0,
           "after unsubscribing, the agency/ update is not sent");
        ok(count(all, "cohort/p/c1") == 1 &&
               find(all, "cohort/p/c1", 0) < find(all, "agency/w/p/c1", 0),
           "the \"\" subscriber still gets both (dropping \"cohort/\" left \"\")");
        /* a subscriber closes its socket */
        zmq_close(t->sub[S_GONE]);
        t->sub[S_GONE] = NULL;
        publish_stats(t->pa, &t->s0);
        t->mark = now;
        t->step = 15;
        return;
    case 15:
        publish_stats(t->pa, &st);
        if (st.gone == t->s0.gone && now < t->mark + 3000)
            return;
        ok(st.gone == t->s0.gone + 1 && now - t->mark <= 1500,
           "a closed subscriber is forgotten within 1.5 s (%llu ms; gone %llu)",
           (unsigned long long)(now - t->mark), (unsigned long long)st.gone);
        is_int(st.subscribers, t->s0.subscribers - 1, "st.subscribers drops by one");
        is_int(st.published, t->s0.published, "... found by the heartbeat alone (no update)");
        /* the flood: S_SLOW stopped reading after its answer */
        t->s0 = st;
        for (int k = 0; k < NSUB; k++)
            clear(&t->q[k]);
        t->mark = now;
        t->step = 16;
        return;
    case 16: { /* FLOOD_TICK updates per tick; S_ALL is drained every tick */
        char doc[FLOOD_DOC + 64];
        int n = snprintf(doc, sizeof doc, "{\"pad\":\"");
        memset(doc + n, 'p', FLOOD_DOC);
        for (int k = 0; k < FLOOD_TICK && t->flood_sent < FLOOD_N; k++) {
            snprintf(doc + n + FLOOD_DOC, sizeof doc - n - FLOOD_DOC, "\",\"i\":%d}",
                     t->flood_sent);
            if (publish_update(t->pa, FLOOD, doc, (uint64_t)(100 + t->flood_sent)) != 0)
                break;
            t->flood_sent++;
        }
        if (t->flood_sent < FLOOD_N)
            return;
        publish_stats(t->pa, &st);
        t->flood_beat = st.heartbeats;
        t->step = 17;
        return;
    }
    case 17:
        if (all->flood_n < FLOOD_N && now < t->mark + 8000)
            return;
        publish_stats(t->pa, &st);
        ok(all->flood_n == FLOOD_N && all->flood_first == 1 && all->flood_last == FLOOD_N &&
               all->flood_gaps == 0,
           "the reading subscriber got all %d flood updates, revs 1..%d without a gap (got %d, "
           "revs %ld..%ld, %d gaps)",
           FLOOD_N, FLOOD_N, all->flood_n, all->flood_first, all->flood_last, all->flood_gaps);
        ok(st.dropped > t->s0.dropped,
           "the subscriber that does not read misses updates (dropped %llu)",
           (unsigned long long)(st.dropped - t->s0.dropped));
        is_int(st.published - t->s0.published, FLOOD_N, "every flood update was published");
        diag("flood of %d took %llu ms", FLOOD_N, (unsigned long long)(now - t->mark));
        t->s0 = st;
        t->paused[S_SLOW] = 0; /* it reads again */
        t->mark = now;
        t->step = 18;
        return;
    case 18: { /* wait for a heartbeat made after the flood: it comes after the rest */
        box_t *s = &t->q[S_SLOW];
        if (beat_rev(s, 0) <= (long)t->flood_beat && now < t->mark + 3000)
            return;
        publish_stats(t->pa, &st);
        ok(beat_rev(s, 0) > (long)t->flood_beat, "the slow subscriber gets heartbeats again");
        ok(s->flood_n > 0 && s->flood_n < FLOOD_N && (s->flood_gaps > 0 || s->flood_last < FLOOD_N),
           "it got part of the flood and sees the rev gap (%d of %d, revs %ld..%ld, %d gaps)",
           s->flood_n, FLOOD_N, s->flood_first, s->flood_last, s->flood_gaps);
        ok(st.dropped >= (uint64_t)(FLOOD_N - s->flood_n),
           "counter: dropped (%llu) covers every update it missed (%d)",
           (unsigned long long)st.dropped, FLOOD_N - s->flood_n);
        is_int(publish_update(t->pa, "system", "{}", 1), -EINVAL, "topic \"system\" refused");
        is_int(publish_update(t->pa, NULL, "{}", 1), -EINVAL, "NULL topic refused");
        is_int(publish_update(t->pa, "cohort/\xff", "{}", 1), -EINVAL, "non-UTF-8 topic refused");
        /* a long prefix (last: the sanitizer build stops at the bug) */
        memset(t->p100, 'q', 100);
        memcpy(t->p100, "cohort/", 7);
        t->p100[100] = 0;
        clear(&t->q[S_BAD]);
        req(t->sub[S_BAD], "subscribe", t->p100);
        t->step = 19;
        return;
    }
    case 19: {
        box_t *b = &t->q[S_BAD];
        char top1[128], top2[128];
        if ((i = find(b, "$subscribed", 0)) < 0 && (i = find(b, "$error", 0)) < 0)
            return;
        want = expect_ack(t->p100);
        ok(strcmp(b->m[i].f[0], "$subscribed") == 0 && strcmp(b->m[i].f[1], want) == 0,
           "a 100-byte prefix is granted as asked");
        if (strcmp(b->m[i].f[1], want) != 0)
            diag("got %s", b->m[i].f[1]);
        free(want);
        clear(b);
        /* one topic under the prefix, one that shares only its first 80 bytes */
        snprintf(top1, sizeof top1, "%s/t", t->p100);
        snprintf(top2, sizeof top2, "%.80sdx", t->p100);
        publish_update(t->pa, top1, "{}", 900);
        publish_update(t->pa, top2, "{}", 901);
        req(t->sub[S_BAD], "subscribe", "yyy/"); /* the barrier */
        t->step = 20;
        return;
    }
    case 20: {
        box_t *b = &t->q[S_BAD];
        char top1[128];
        if ((i = find(b, "$subscribed", 0)) < 0)
            return;
        snprintf(top1, sizeof top1, "%s/t", t->p100);
        ok(find(b, top1, 0) >= 0 && find(b, top1, 0) < i, "... it gets a topic under that prefix");
        ok(count_prefix(b, "cohort/") == (find(b, top1, 0) >= 0),
           "... and no topic that only shares its first 80 bytes");
        /* release history (docs/protocol.md, "Release history") */
        clear(&t->dq);
        is_int(publish_versions(t->pa, "cohort/p/c1", "[]"), -EINVAL,
               "publish_versions: release/ topics only");
        is_int(publish_versions(t->pa, "release/cohort/p/none", "[]"), -ENOENT,
               "... that were published");
        publish_update(t->pa, "release/cohort/p/c1", "{\"release\":{\"number\":1004}}", 950);
        publish_update(t->pa, "release/cohort/p/c2", "{\"release\":{\"number\":9}}", 951);
        is_int(publish_versions(t->pa, "release/cohort/p/c1", "{}"), -EINVAL,
               "... given as a JSON array");
        {
            json_t *a = json_array();
            char *text, *pad = malloc(1u << 20);
            for (int k = 0; k < 1005; k++)
                json_array_append_new(a, json_pack("{s:{s:i}}", "release", "number", k));
            text = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
            is_int(publish_versions(t->pa, "release/cohort/p/c1", text), 0, "1005 versions stored");
            free(text);
            json_array_clear(a);
            memset(pad, 'x', (1u << 20) - 1);
            pad[(1u << 20) - 1] = 0;
            for (int k = 0; k < 10; k++)
                json_array_append_new(
                    a, json_pack("{s:{s:i},s:s}", "release", "number", k, "pad", pad));
            text = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
            is_int(publish_versions(t->pa, "release/cohort/p/c2", text), 0,
                   "10 versions of 1 MiB stored");
            free(text);
            free(pad);
            json_decref(a);
        }
        {
            const char *rq[] = {"{\"releases\":\"release/cohort/p/c1\"}",
                                "{\"releases\":\"release/cohort/p/c2\"}",
                                "{\"releases\":\"release/cohort/p/zz\"}",
                                "{\"releases\":\"cohort/p/c1\"}",
                                "{\"releases\":5}",
                                "{\"releases\":\"release/cohort/p/c1\",\"more\":1}"};
            for (size_t k = 0; k < sizeof rq / sizeof *rq; k++)
                send_frames(t->dealer, 1, &rq[k]);
        }
        t->step = 21;
        return;
    }
    case 21: {
        json_t *j, *v;
        if (t->dq.n < 6)
            return;
        j = json_loads(t->dq.m[0].f[1], 0, NULL);
        v = json_object_get(j, "versions");
        is_str(t->dq.m[0].f[0], "$releases", "{\"releases\":T} answered [\"$releases\"][...]");
        is_str(json_string_value(json_object_get(j, "releases")), "release/cohort/p/c1",
               "... naming the topic");
        ok(json_integer_value(json_object_get(j, "count")) == 1000 && json_array_size(v) == 1000,
           "... at most 1000 versions (count 1000)");
        is_int(json_integer_value(json_object_get(j, "omitted")), 5, "... the 5 oldest omitted");
        ok(json_integer_value(
               json_object_get(json_object_get(json_array_get(v, 0), "release"), "number")) == 5 &&
               json_integer_value(json_object_get(
                   json_object_get(json_array_get(v, 999), "release"), "number")) == 1004,
           "... oldest first: 5 .. 1004");
        json_decref(j);
        j = json_loads(t->dq.m[1].f[1], 0, NULL);
        v = json_object_get(j, "versions");
        ok(json_integer_value(json_object_get(j, "count")) == 7 && json_array_size(v) == 7 &&
               json_integer_value(json_object_get(j, "omitted")) == 3 &&
               strlen(t->dq.m[1].f[1]) <= PUBLISH_RELEASES_MAX_BYTES + 200,
           "1 MiB versions: the newest 7 fit the 8 MiB bound, 3 omitted");
        json_decref(j);
        is_str(t->dq.m[2].f[1],
               "{\"releases\":\"release/cohort/p/zz\",\"count\":0,\"omitted\":0,"
               "\"versions\":[]}",
               "a release topic never published: an empty list");
        ok(is_error(&t->dq.m[3]) && is_error(&t->dq.m[4]) && is_error(&t->dq.m[5]) &&
               strcmp(error_of(&t->dq.m[3]), "expected {\"releases\":\"<release topic>\"}") == 0,
           "a topic outside release/, a non-string, another key: $error");
        clear(&t->dq);
        t->step = 22;
        finish(t);
        return;
    }
    }
}

static void on_tick(uv_timer_t *h)
{
    T *t = h->data;
    if (t->finished)
        return;
    for (int k = 0; k < NSUB; k++)
        if (t->sub[k] && !t->paused[k])
            drain(t, t->sub[k], &t->q[k]);
    drain(t, t->dealer, &t->dq);
    step(t);
}

/* A socket of type connected to ep; rid (rid_len > 0) sets ZMQ_ROUTING_ID,
 * rcvhwm > 0 sets ZMQ_RCVHWM. */
static void *sock(void *ctx, int type, const char *ep, const char *rid, size_t rid_len, int rcvhwm)
{
    void *s = zmq_socket(ctx, type);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (rid_len)
        zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, rid_len);
    if (rcvhwm > 0)
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
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
    publish_opts_t oa = {.pub_ep = pa[0], .snap_ep = pa[1]};
    publish_opts_t ob = {.pub_ep = pa[2], .snap_ep = pa[3]};
    rc = publish_new(&t.pa, t.loop, t.ctx, &oa, err, sizeof err);
    if (!ok(rc == 0, "publish_new A"))
        diag("%s", err);
    rc = publish_new(&t.pb, t.loop, t.ctx, &ob, err, sizeof err);
    if (!ok(rc == 0, "publish_new B"))
        diag("%s", err);
    {
        publish_t *dup = NULL;
        char spare[160];
        snprintf(spare, sizeof spare, "ipc://%s/spare", dir);
        publish_opts_t ox = {.pub_ep = spare, .snap_ep = "ipc:///nonexistent/dir/x"};
        err[0] = 0;
        rc = publish_new(&dup, t.loop, t.ctx, &ox, err, sizeof err);
        ok(rc < 0 && dup == NULL && err[0], "publish_new with a bad endpoint fails: %s", err);
        unlink(spare + strlen("ipc://"));
    }
    if (!t.pa || !t.pb)
        return tap_done();
    for (int k = 0; k < NSUB; k++) {
        const char *rid = k == S_RID ? "rogue" : k == S_RID0 ? "\0abc" : NULL;
        size_t rid_len = k == S_RID ? 5 : k == S_RID0 ? 4 : 0;
        t.sub[k] =
            sock(t.ctx, ZMQ_DEALER, k == S_B ? pa[2] : pa[0], rid, rid_len, k == S_SLOW ? 1 : 0);
    }
    t.dealer = sock(t.ctx, ZMQ_DEALER, pa[1], NULL, 0, 0);
    req(t.sub[S_ALL], "subscribe", "");
    req(t.sub[S_COH], "subscribe", "cohort/");
    req(t.sub[S_AGY], "subscribe", "agency/");
    req(t.sub[S_RID], "subscribe", "");
    req(t.sub[S_RID0], "subscribe", "");
    req(t.sub[S_GONE], "subscribe", "");
    req(t.sub[S_SLOW], "subscribe", "cohort/flood/");
    req(t.sub[S_B], "subscribe", "");
    uv_timer_init(t.loop, &t.tick);
    uv_timer_init(t.loop, &t.deadline);
    t.tick.data = t.deadline.data = &t;
    t.t0 = uv_now(t.loop);
    uv_timer_start(&t.tick, on_tick, 1, 1);
    uv_timer_start(&t.deadline, on_deadline, DEADLINE_MS, 0);
    uv_run(t.loop, UV_RUN_DEFAULT);
    is_int(t.step, 22, "every step ran");
    ok(uv_loop_close(t.loop) == 0, "all handles closed (close contract kept)");
    for (int k = 0; k < NSUB; k++) {
        clear(&t.q[k]);
        if (t.sub[k])
            zmq_close(t.sub[k]);
    }
    clear(&t.dq);
    free(t.env_c1);
    free(t.env_c2);
    free(t.env_ag);
    free(t.env_pr);
    zmq_close(t.dealer);
    zmq_ctx_term(t.ctx);
    for (int i = 0; i < 4; i++)
        unlink(pa[i] + strlen("ipc://"));
    rmdir(dir);
    return tap_done();
}
