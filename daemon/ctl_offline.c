/* cohortctl's snapshot, rebuild and verify: the live documents fetched from
 * the daemon's snapshot socket, the full replay of a store compared with
 * them, and the offline check of a store (log, dedupe index, projections). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "audit.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "progress.h"
#include "store.h"
#include "uuid7.h"
#include "vault.h"

#include "cohortctl.h"

/* The live status: every topic's document from the daemon's snapshot. */
typedef struct {
    json_t *docs;     /* topic -> doc */
    json_t *envs;     /* topic -> whole envelope */
    uint64_t seq;     /* the end marker's sequence */
    json_t *readable; /* the end marker's prefixes this key may read, or NULL (an older daemon) */
} live_t;

/* Asks the snapshot socket for everything. Returns 0, or -1 with a message
 * printed. */
static int fetch_live(const char *ep, const char *prefix, live_t *live)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = SNAPSHOT_TIMEOUT_MS, rc = -1;
    json_t *rq = json_pack("{s:s}", "snapshot", prefix ? prefix : "");
    char *req = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);
    live->docs = json_object();
    live->envs = json_object();
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (cohort_curve_apply(s, &g_curve, NULL, 0) < 0 || zmq_connect(s, ep) != 0 ||
        zmq_send(s, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot ask %s for a snapshot: %s\n", ep, zmq_strerror(errno));
        goto out;
    }
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, s, 0) < 0 || !zmq_msg_more(&topic) ||
            zmq_msg_recv(&body, s, 0) < 0) {
            fprintf(stderr,
                    "cohortctl: no complete snapshot from %s within %d s (is cohortd "
                    "running?%s)\n",
                    ep, SNAPSHOT_TIMEOUT_MS / 1000,
                    g_curve.on ? " A refused key or a wrong server key looks the same: check "
                                 "--key/--server-key"
                               : "");
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            goto out;
        }
        char *t = strndup(zmq_msg_data(&topic), zmq_msg_size(&topic));
        json_t *env = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
        int end = t && strcmp(t, "$end") == 0, bad = !t || !env || strcmp(t, "$error") == 0;
        if (end) {
            json_t *r = json_object_get(env, "readable");
            live->seq = (uint64_t)json_integer_value(json_object_get(env, "seq"));
            if (json_is_array(r)) {
                json_decref(live->readable);
                live->readable = json_incref(r);
            }
        } else if (!bad) {
            json_object_set(live->docs, t, json_object_get(env, "doc"));
            json_object_set(live->envs, t, env);
        }
        free(t);
        if (bad) {
            const char *why = json_string_value(json_object_get(env, "error"));
            fprintf(stderr, "cohortctl: the daemon refused the snapshot request%s%s\n",
                    why ? ": " : "", why ? why : "");
            json_decref(env);
            goto out;
        }
        json_decref(env);
        if (end)
            break;
    }
    rc = 0;
out:
    free(req);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

int cmd_snapshot(const args_t *a)
{
    live_t live = {NULL, NULL, 0, NULL};
    const char *key;
    json_t *env;
    int rc = fetch_live(a->snapshot, a->prefix, &live);
    if (rc == 0) {
        json_object_foreach(live.envs, key, env)
        {
            json_t *line =
                json_pack("{s:s,s:O,s:O,s:O}", "topic", key, "rev", json_object_get(env, "rev"),
                          "seq", json_object_get(env, "seq"), "doc", json_object_get(env, "doc"));
            char *text = json_dumps(line, PROJ_DUMP_FLAGS); /* reals as the daemon's */
            printf("%s\n", text);
            free(text);
            json_decref(line);
        }
        printf("{\"end\":true,\"seq\":%llu,\"count\":%zu}\n", (unsigned long long)live.seq,
               json_object_size(live.envs));
    }
    json_decref(live.docs);
    json_decref(live.envs);
    json_decref(live.readable);
    return rc == 0 ? 0 : 1;
}

/* checkpoint_replay's progress hook: seq 0 means a log line follows. */
static void replay_step(void *arg, uint64_t seq)
{
    if (seq)
        progress_update(arg, seq);
    else
        progress_clear(arg);
}

/* 1 if the snapshot's key may read topic (the end marker's "readable"
 * prefixes; an older daemon did not say: every topic). */
static int may_read(const live_t *live, const char *topic)
{
    size_t i;
    json_t *p;
    if (!live->readable)
        return 1;
    json_array_foreach(live->readable, i, p)
    {
        const char *s = json_string_value(p);
        if (s && strncmp(topic, s, strlen(s)) == 0)
            return 1;
    }
    return 0;
}

/* Replays the log up to live->seq into fresh projections and compares
 * them with the live documents the key may read (the others are counted in
 * *skipped). Appends a line per differing topic to
 * diffs. Returns the number of differing topics, or -1 (message printed)
 * if the replay failed; *replayed and *ntopics get the counts. */
static int compare(store_t *store, const args_t *a, const live_t *live, progress_t *pr,
                   json_t *diffs, uint64_t *replayed, size_t *ntopics, size_t *skipped)
{
    proj_t *proj = NULL;
    checkpoint_info_t info = {0, 0, 0};
    char **topics = NULL, line[600], err[512];
    int bad = 0;
    progress_set_total(pr, live->seq);
    if (!live->seq) {
        if (!(proj = proj_new(&a->proj))) {
            fprintf(stderr, "cohortctl: replay failed: out of memory\n");
            return -1;
        }
    } else if (checkpoint_replay(store, &a->proj, 0, live->seq, replay_step, pr, &proj, &info, err,
                                 sizeof err) < 0) {
        progress_clear(pr);
        fprintf(stderr, "cohortctl: replay failed: %s\n", err);
        return -1;
    }
    progress_update(pr, live->seq);
    progress_done(pr);
    *replayed = info.replayed;
    size_t n = proj_topics(proj, "", &topics);
    json_t *seen = json_object();
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!may_read(live, topics[i])) { /* the key's role may not read it: not in the snapshot */
            ++*skipped;
            continue;
        }
        char *doc = proj_render(proj, topics[i]);
        json_t *mine = doc ? json_loads(doc, 0, NULL) : NULL;
        json_t *theirs = json_object_get(live->docs, topics[i]);
        if (!mine || !theirs || !json_equal(mine, theirs)) {
            snprintf(line, sizeof line, "differs: %s%s", topics[i],
                     theirs ? "" : " (missing from the daemon)");
            json_array_append_new(diffs, json_string(line));
            bad++;
        }
        json_object_set_new(seen, topics[i], json_true());
        json_decref(mine);
        free(doc);
    }
    const char *key;
    json_t *v;
    json_object_foreach(live->docs, key, v)
    {
        if (!json_object_get(seen, key) && !json_is_null(v)) {
            snprintf(line, sizeof line, "differs: %s (only in the daemon)", key);
            json_array_append_new(diffs, json_string(line));
            bad++;
        }
    }
    *ntopics = n;
    json_decref(seen);
    proj_strv_free(topics, n);
    proj_destroy(&proj);
    return bad;
}

/* rebuild: retried a few times, since a busy daemon may publish between
 * the snapshot and the replay's end. */
int cmd_rebuild(const args_t *a)
{
    for (int t = 1; t <= REBUILD_TRIES; t++) {
        live_t live = {NULL, NULL, 0, NULL};
        store_t *store = NULL;
        char err[512], label[32];
        uint64_t replayed = 0;
        size_t ntopics = 0, skipped = 0;
        if (fetch_live(a->snapshot, "", &live) < 0) {
            json_decref(live.docs);
            json_decref(live.envs);
            json_decref(live.readable);
            return 1;
        }
        /* A read-only open sees the log as it is now, so open it after the
         * snapshot: it then holds at least everything up to live.seq. */
        if (store_open(&store, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
            fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
            json_decref(live.docs);
            json_decref(live.envs);
            json_decref(live.readable);
            return 1;
        }
        json_t *diffs = json_array();
        snprintf(label, sizeof label, t == 1 ? "rebuild" : "rebuild (try %d)", t);
        progress_t *pr = progress_start(a, label, "events", 0, 0);
        int bad = compare(store, a, &live, pr, diffs, &replayed, &ntopics, &skipped);
        progress_destroy(&pr);
        if (bad == 0 || (bad > 0 && t == REBUILD_TRIES)) {
            size_t i;
            json_t *l;
            json_array_foreach(diffs, i, l) printf("%s\n", json_string_value(l));
            if (skipped)
                printf("rebuild: %zu topics this key may not read were not compared (an "
                       "operator key compares every topic)\n",
                       skipped);
            printf("rebuild: %llu log entries replayed to seq %llu, %zu topics, %d differ\n%s\n",
                   (unsigned long long)replayed, (unsigned long long)live.seq, ntopics - skipped,
                   bad, bad ? "MISMATCH" : "OK");
        }
        json_decref(diffs);
        store_close(&store);
        json_decref(live.docs);
        json_decref(live.envs);
        json_decref(live.readable);
        if (bad <= 0)
            return bad < 0 ? 1 : 0;
        if (t < REBUILD_TRIES)
            nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    }
    return 1;
}

/* ------------------------------------------------------------- verify --- */

/* State of a verify pass. */
typedef struct {
    store_t *store;
    uint64_t head;         /* the log's last sequence */
    uint64_t expect;       /* next sequence expected */
    uint64_t count;        /* log entries */
    uint64_t gaps;         /* sequences missing (before head) */
    uint64_t undecodable;  /* log entries that do not decode (or lack an id/agency) */
    uint64_t dedupe_bad;   /* log entries whose dedupe entry is missing or not their seq */
    uint64_t indexed;      /* log entries whose dedupe entry is their own seq */
    uint64_t dd_entries;   /* dedupe entries */
    uint64_t dd_malformed; /* dedupe entries with a bad key or value */
    uint64_t dd_dangling;  /* dedupe entries pointing at no log entry (0 or past head) */
    uint64_t dd_foreign;   /* dedupe entries pointing at another event's entry */
    uint64_t sealed;       /* registrations with sealed characteristics */
    uint64_t unsealed;     /* of those, opened with their participant's key */
    uint64_t shredded;     /* of those, whose key is gone (the person was erased) */
    uint64_t erasures;     /* ParticipantErased entries */
    uint64_t keys;         /* participants' keys in the store */
    uint64_t problems;     /* problem lines (printed up to MAX_SHOWN) */
} verify_t;

/* Prints one problem line (the first MAX_SHOWN; the count goes on). */
static void problem(verify_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verify_t *v, const char *fmt, ...)
{
    va_list ap;
    if (++v->problems > MAX_SHOWN) {
        if (v->problems == MAX_SHOWN + 1)
            printf("problem: ... (further problems are counted, not listed)\n");
        return;
    }
    printf("problem: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* An event's identity for messages: "agency event-id". */
static void ident(char *out, size_t len, const char *agency, const uint8_t *id)
{
    char u[37] = "(bad id)";
    if (id)
        uuid7_format(id, u);
    snprintf(out, len, "%s %s", agency ? agency : "(bad agency)", u);
}

/* Part of pass 1: a sealed registration opens with its participant's key,
 * or that key is gone; after an erasure the key made before it is gone.
 * Never prints a ref or a characteristic. */
static void verify_sealing(verify_t *v, uint64_t seq, Cohort__V1__Event *ev, const char *who)
{
    vault_key_t k;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
        ev->participant_registered && ev->participant_registered->sealed.len) {
        int rc = vault_open_event(v->store, ev);
        v->sealed++;
        if (rc == 0)
            v->unsealed++;
        else if (rc == VAULT_ERASED)
            v->shredded++;
        else if (rc == -EBADMSG)
            problem(v,
                    "vault: the sealed characteristics of log entry %llu (%s) do not open with "
                    "the participant's key",
                    (unsigned long long)seq, who);
        else
            problem(v, "vault: the key for log entry %llu (%s) cannot be read",
                    (unsigned long long)seq, who);
    } else if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED &&
               ev->participant_erased) {
        v->erasures++;
        if (vault_get_key(v->store, ev->agency, ev->participant_erased->participant_ref, &k) == 0 &&
            k.gen < seq)
            problem(v, "vault: the key erased by log entry %llu (%s) still exists",
                    (unsigned long long)seq, who);
    }
}

/* Pass 5, per key: a well-formed key record. */
static int verify_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    verify_t *v = arg;
    (void)val;
    v->keys++;
    if (klen < 3 || !memchr(key, 0, klen) || vlen != 8 + VAULT_KEY_BYTES)
        problem(v, "vault: a key record is malformed");
    return 0;
}

/* Pass 1, per log entry: the sequence is the next one, the event decodes,
 * and the dedupe index maps its (agency, event_id) to this sequence. */
static int verify_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    verify_t *v = arg;
    uint64_t got = 0;
    char who[320];
    v->count++;
    if (seq < v->expect) {
        problem(v, "log: entry with sequence %llu (sequences start at 1)", (unsigned long long)seq);
        v->gaps++;
    } else if (seq != v->expect) {
        v->gaps += seq - v->expect;
        problem(v, "log: sequences %llu..%llu are missing", (unsigned long long)v->expect,
                (unsigned long long)(seq - 1));
    }
    v->expect = seq + 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev || ev->event_id.len != 16 || !ev->agency || !*ev->agency) {
        v->undecodable++;
        problem(v, "log: entry %llu does not decode to an event with an id and agency",
                (unsigned long long)seq);
    } else {
        int rc = store_lookup(v->store, ev->agency, ev->event_id.data, &got);
        ident(who, sizeof who, ev->agency, ev->event_id.data);
        verify_sealing(v, seq, ev, who);
        if (rc == 0 && got == seq) {
            v->indexed++;
        } else {
            v->dedupe_bad++;
            if (rc == -ENOENT)
                problem(v, "dedupe: log entry %llu (%s) has no dedupe entry",
                        (unsigned long long)seq, who);
            else if (rc == 0)
                problem(v, "dedupe: log entry %llu (%s) is indexed at seq %llu",
                        (unsigned long long)seq, who, (unsigned long long)got);
            else
                problem(v, "dedupe: looking up log entry %llu (%s) failed", (unsigned long long)seq,
                        who);
        }
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 0;
}

/* Pass 2, per dedupe entry: well formed and pointing into 1..head. */
static int verify_dedupe(void *arg, const char *agency, const uint8_t *id, uint64_t seq)
{
    verify_t *v = arg;
    char who[320];
    v->dd_entries++;
    if (!agency || !seq) {
        v->dd_malformed++;
        problem(v, "dedupe: an entry has a malformed key or value");
    } else if (seq > v->head) {
        v->dd_dangling++;
        ident(who, sizeof who, agency, id);
        problem(v, "dedupe: entry (%s) points at seq %llu, past the log's head %llu", who,
                (unsigned long long)seq, (unsigned long long)v->head);
    }
    return 0;
}

/* One log entry's identity, for pass 3. */
typedef struct {
    uint64_t seq;     /* the entry wanted */
    int found;        /* it exists */
    char agency[256]; /* its agency ("" if it does not decode) */
    uint8_t id[16];   /* its event id */
} entry_id_t;

static int read_entry_id(void *arg, uint64_t seq, const void *val, size_t len)
{
    entry_id_t *e = arg;
    if (seq != e->seq)
        return 1; /* not there: the scan found a later one */
    e->found = 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (ev && ev->event_id.len == 16 && ev->agency && strlen(ev->agency) < sizeof e->agency) {
        snprintf(e->agency, sizeof e->agency, "%s", ev->agency);
        memcpy(e->id, ev->event_id.data, 16);
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 1;
}

/* Pass 3 (only when the index has more entries than the log has indexed
 * events): finds the entries pointing at another event's log entry. */
static int verify_foreign(void *arg, const char *agency, const uint8_t *id, uint64_t seq)
{
    verify_t *v = arg;
    entry_id_t e = {seq, 0, "", {0}};
    char who[320], other[320];
    if (!agency || !seq || seq > v->head)
        return 0; /* reported in pass 2 */
    if (store_scan(v->store, seq, 1, read_entry_id, &e) < 0)
        return -EIO;
    if (e.found && strcmp(e.agency, agency) == 0 && memcmp(e.id, id, 16) == 0)
        return 0;
    v->dd_foreign++;
    ident(who, sizeof who, agency, id);
    if (!e.found)
        problem(v, "dedupe: entry (%s) points at seq %llu, which is missing from the log", who,
                (unsigned long long)seq);
    else {
        ident(other, sizeof other, e.agency[0] ? e.agency : NULL, e.agency[0] ? e.id : NULL);
        problem(v, "dedupe: entry (%s) points at seq %llu, which holds another event (%s)", who,
                (unsigned long long)seq, other);
    }
    return 0;
}

/* Pass 4: the checkpointed projections plus the log tail must equal a full
 * replay (the state, and every rendered document). Returns 0, or -1 when a
 * replay could not run (reported as a problem). *cp_seq gets the
 * checkpoint's sequence (0 = none); *same is 1 if they matched, 0 if not,
 * -1 if not compared. */
static int verify_projections(verify_t *v, const proj_config_t *cfg, uint64_t *cp_seq,
                              uint64_t *replayed, int *same)
{
    char *text = NULL, err[512], **t1 = NULL, **t2 = NULL;
    size_t len = 0, n1 = 0, n2 = 0;
    proj_t *p1 = NULL, *p2 = NULL, *q;
    checkpoint_info_t i1, i2;
    int rc = store_get_meta(v->store, "proj", &text, &len);
    *cp_seq = 0;
    *replayed = 0;
    *same = -1;
    if (rc == -ENOENT) {
        printf("note: no projection checkpoint; the daemon would replay the whole log\n");
        return 0;
    }
    if (rc < 0) {
        problem(v, "checkpoint: the projection checkpoint cannot be read");
        return -1;
    }
    int loaded = (q = proj_new(cfg)) && proj_load(q, text, len) == 0;
    *cp_seq = loaded ? proj_seq(q) : 0;
    proj_destroy(&q);
    free(text);
    if (!loaded) {
        problem(v, "checkpoint: the projection checkpoint does not load");
        return -1;
    }
    if (*cp_seq > v->head) {
        problem(v, "checkpoint: the projection checkpoint is at seq %llu, past the log's head %llu",
                (unsigned long long)*cp_seq, (unsigned long long)v->head);
        return -1;
    }
    if (checkpoint_restore(v->store, cfg, 1, 0, &p1, &i1, err, sizeof err) < 0 ||
        checkpoint_restore(v->store, cfg, 0, 0, &p2, &i2, err, sizeof err) < 0) {
        problem(v, "projections: replay failed: %s", err);
        proj_destroy(&p1);
        return -1;
    }
    *replayed = i1.replayed;
    if (i2.refused)
        printf("warning: %llu log entries are refused by the domain rules on replay (a rule "
               "change?)\n",
               (unsigned long long)i2.refused);
    char *s1 = proj_save(p1), *s2 = proj_save(p2);
    /* Once a key is gone (an erasure), a full replay cannot read that
     * person's registration, so the releases cut before the erasure come
     * out differently (docs/status.md, "Releases"): the states then differ
     * by their release history, and only the live topics are compared. */
    int relaxed = v->shredded > 0;
    *same = relaxed || (s1 && s2 && strcmp(s1, s2) == 0 && proj_seq(p1) == proj_seq(p2));
    if (!*same)
        problem(v,
                "projections: the checkpoint (seq %llu) plus %llu replayed entries is not "
                "the state a full replay of %llu entries gives",
                (unsigned long long)*cp_seq, (unsigned long long)i1.replayed,
                (unsigned long long)i2.replayed);
    free(s1);
    free(s2);
    n1 = proj_topics(p1, "", &t1);
    n2 = proj_topics(p2, "", &t2);
    if (proj_seq(p1) != proj_seq(p2)) {
        problem(v,
                "projections: the checkpoint plus the tail ends at seq %llu, a full replay at %llu",
                (unsigned long long)proj_seq(p1), (unsigned long long)proj_seq(p2));
        *same = 0;
    }
    for (size_t i = 0, j = 0; i < n1 || j < n2;) {
        int c = i == n1 ? 1 : j == n2 ? -1 : strcmp(t1[i], t2[j]);
        if (c < 0) {
            problem(v, "projections: topic %s only with the checkpoint", t1[i++]);
            *same = 0;
        } else if (c > 0) {
            problem(v, "projections: topic %s only in the full replay", t2[j++]);
            *same = 0;
        } else {
            char *d1 = proj_render(p1, t1[i]), *d2 = proj_render(p2, t2[j]);
            if (!d1 || !d2 || strcmp(d1, d2) != 0) {
                if (relaxed && strncmp(t1[i], "release/", 8) == 0) {
                    printf("note: %s differs from the full replay (released before an erasure)\n",
                           t1[i]);
                } else {
                    problem(v, "projections: topic %s differs from the full replay", t1[i]);
                    *same = 0;
                }
            }
            free(d1);
            free(d2);
            i++, j++;
        }
    }
    proj_strv_free(t1, n1);
    proj_strv_free(t2, n2);
    proj_destroy(&p1);
    proj_destroy(&p2);
    return 0;
}

/* verify: exit 0 (all checks pass), 1 (problems, listed), 2 (cannot open). */
int cmd_verify(const args_t *a)
{
    verify_t v = {0};
    char err[512];
    uint64_t cp_seq = 0, replayed = 0;
    int rc, same = -1;
    if (store_open(&v.store, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
        return 2;
    }
    v.head = store_head(v.store);
    v.expect = 1;
    if ((rc = store_scan(v.store, 1, 0, verify_entry, &v)) < 0)
        problem(&v, "log: reading the log failed: %s", strerror(-rc));
    if ((rc = store_scan_dedupe(v.store, verify_dedupe, &v)) < 0)
        problem(&v, "dedupe: reading the dedupe index failed: %s", strerror(-rc));
    /* Every indexed log entry has its own key, so the index holds exactly
     * the log's events when it has no more entries than that. */
    if (rc == 0 && v.dd_entries > v.indexed + v.dd_malformed + v.dd_dangling &&
        (rc = store_scan_dedupe(v.store, verify_foreign, &v)) < 0)
        problem(&v, "dedupe: reading the dedupe index failed: %s", strerror(-rc));
    verify_projections(&v, &a->proj, &cp_seq, &replayed, &same);
    if ((rc = store_scan_pkeys(v.store, verify_key, &v)) < 0)
        problem(&v, "vault: reading the participants' keys failed: %s", strerror(-rc));
    printf("sealed %llu readable %llu erased %llu erasures %llu keys %llu\n",
           (unsigned long long)v.sealed, (unsigned long long)v.unsealed,
           (unsigned long long)v.shredded, (unsigned long long)v.erasures,
           (unsigned long long)v.keys);
    printf("entries %llu head_seq %llu gaps %llu undecodable %llu dedupe_mismatch %llu\n"
           "dedupe_entries %llu dedupe_extra %llu checkpoint_seq %llu tail_replayed %llu "
           "projections %s\n%s\n",
           (unsigned long long)v.count, (unsigned long long)v.head, (unsigned long long)v.gaps,
           (unsigned long long)v.undecodable, (unsigned long long)v.dedupe_bad,
           (unsigned long long)v.dd_entries,
           (unsigned long long)(v.dd_entries > v.indexed ? v.dd_entries - v.indexed : 0),
           (unsigned long long)cp_seq, (unsigned long long)replayed,
           same < 0 ? "unchecked"
           : same   ? "same"
                    : "DIFFER",
           v.problems ? "FAILED" : "OK");
    store_close(&v.store);
    return v.problems ? 1 : 0;
}
