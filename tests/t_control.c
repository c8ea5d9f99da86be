/* t_control: unit tests for store_checkpoint, store_scan_dedupe and the
 * control endpoint (control.c): a checkpoint is a complete, private,
 * openable copy; it refuses existing targets and staging directories and
 * read-only stores; checkpoints taken while another thread commits are each
 * consistent (gap-free log, dedupe index equal to it); the endpoint answers
 * backup requests from REQ and DEALER clients, refuses bad ones and a
 * second backup while one runs, only binds ipc:// (socket mode 0660);
 * status and stats report the head, version, mode, data directory and the
 * counters; tail pages are the store's entries byte for byte, bounded in
 * count (default, clamp) and bytes (but never empty when an entry is due),
 * stop at the head, page through the whole log, refuse bad arguments, and
 * are queued when many clients ask at once (or answered busy); a destroy
 * while a backup and tail pages run or wait still answers every request
 * and frees everything. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "control.h"
#include "store.h"
#include "tap.h"

static char tmp[] = "/tmp/cohort-t-control-XXXXXX";

static void mkid(uint8_t id[16], unsigned n)
{
    memset(id, 0, 16);
    id[0] = 1;
    id[12] = (uint8_t)(n >> 24), id[13] = (uint8_t)(n >> 16), id[14] = (uint8_t)(n >> 8),
    id[15] = (uint8_t)n;
}

/* Commits events first..first+n-1 (ids by number, agency by parity). */
static int commit_n(store_t *s, store_batch_t *b, unsigned first, unsigned n)
{
    char err[256], val[32];
    uint8_t id[16];
    store_batch_reset(b);
    for (unsigned i = first; i < first + n; i++) {
        mkid(id, i);
        snprintf(val, sizeof val, "ev%u", i);
        store_batch_add(b, i % 2 ? "wm-police" : "cps-wm", id, val, strlen(val));
    }
    return store_commit(s, b, err, sizeof err);
}

/* Consistency of one store: log 1..head gap-free, each entry's dedupe
 * entry is its seq, and the index has exactly head entries. */
typedef struct {
    store_t *s;
    uint64_t next, bad, dd;
} check_t;

static int check_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    check_t *c = arg;
    uint8_t id[16];
    uint64_t got;
    unsigned n;
    char text[32];
    snprintf(text, sizeof text, "%.*s", (int)len, (const char *)val);
    if (seq != c->next++ || sscanf(text, "ev%u", &n) != 1) {
        c->bad++;
        return 0;
    }
    mkid(id, n);
    if (store_lookup(c->s, n % 2 ? "wm-police" : "cps-wm", id, &got) != 0 || got != seq)
        c->bad++;
    return 0;
}

static int count_dd(void *arg, const char *agency, const uint8_t *id, uint64_t seq)
{
    check_t *c = arg;
    (void)id;
    if (!agency || !seq)
        c->bad++;
    c->dd++;
    return 0;
}

/* Returns -1 if the store in dir does not open, else the number of
 * inconsistencies; *head gets its head. */
static long consistency(const char *dir, uint64_t *head)
{
    store_t *s;
    char err[256];
    if (store_open(&s, dir, STORE_READONLY, err, sizeof err) < 0) {
        diag("%s: %s", dir, err);
        return -1;
    }
    check_t c = {s, 1, 0, 0};
    *head = store_head(s);
    if (store_scan(s, 1, 0, check_entry, &c) != 0 || store_scan_dedupe(s, count_dd, &c) != 0)
        c.bad++;
    if (c.next != *head + 1 || c.dd != *head)
        c.bad++;
    store_close(&s);
    return (long)c.bad;
}

/* A committing thread, for the concurrency test. */
typedef struct {
    store_t *s;
    volatile int stop;
    unsigned batches;
    int failed;
} writer_t;

static void *writer(void *arg)
{
    writer_t *w = arg;
    store_batch_t *b = store_batch_new();
    for (unsigned i = 0; !w->stop && i < 400; i++) {
        if (commit_n(w->s, b, 1000000 + i * 50, 50) != 0)
            w->failed = 1;
        w->batches++;
    }
    store_batch_destroy(&b);
    return NULL;
}

/* ---------------------------------------------------------- control --- */

static uv_loop_t loop;

/* Runs the loop until sock has a message, up to 10 s; returns the reply
 * payload parsed (the last frame), or NULL. */
static json_t *await(void *sock)
{
    for (int i = 0; i < 1000; i++) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        uv_run(&loop, UV_RUN_NOWAIT);
        if (zmq_poll(&it, 1, 10) == 1) {
            zmq_msg_t m;
            json_t *j = NULL;
            zmq_msg_init(&m);
            while (zmq_msg_recv(&m, sock, 0) >= 0) {
                json_decref(j);
                j = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
                if (!zmq_msg_more(&m))
                    break;
            }
            zmq_msg_close(&m);
            return j;
        }
    }
    return NULL;
}

static json_t *ask(void *req, const char *text)
{
    zmq_send(req, text, strlen(text), 0);
    return await(req);
}

static int is_ok(json_t *r)
{
    return r && json_is_true(json_object_get(r, "ok"));
}

static const char *why(json_t *r)
{
    const char *s = json_string_value(json_object_get(r, "error"));
    return s ? s : "";
}

/* A tail reply as received: the header, then one entry per frame. */
typedef struct {
    json_t *hdr;     /* frame 1, parsed (NULL if it was not JSON) */
    size_t n;        /* entry frames */
    uint64_t *seq;   /* their sequences (malloc'd) */
    uint8_t **data;  /* their event bytes (each malloc'd) */
    size_t *len;     /* their lengths */
    int short_frame; /* an entry frame was shorter than 8 bytes */
} page_t;

static void page_free(page_t *pg)
{
    json_decref(pg->hdr);
    for (size_t i = 0; i < pg->n; i++)
        free(pg->data[i]);
    free(pg->seq);
    free(pg->data);
    free(pg->len);
    memset(pg, 0, sizeof *pg);
}

/* Runs the loop until sock has a reply (up to 10 s) and reads it whole.
 * Returns 0, or -1 if none came. */
static int recv_page(void *sock, page_t *pg)
{
    memset(pg, 0, sizeof *pg);
    for (int i = 0; i < 1000; i++) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        uv_run(&loop, UV_RUN_NOWAIT);
        if (zmq_poll(&it, 1, 10) != 1)
            continue;
        zmq_msg_t m;
        int first = 1, more = 1;
        size_t cap = 0;
        zmq_msg_init(&m);
        while (more && zmq_msg_recv(&m, sock, 0) >= 0) {
            more = zmq_msg_more(&m);
            if (first) {
                pg->hdr = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, NULL);
                first = 0;
                continue;
            }
            if (pg->n == cap) {
                cap = cap ? cap * 2 : 64;
                pg->seq = realloc(pg->seq, cap * sizeof *pg->seq);
                pg->data = realloc(pg->data, cap * sizeof *pg->data);
                pg->len = realloc(pg->len, cap * sizeof *pg->len);
            }
            const uint8_t *d = zmq_msg_data(&m);
            size_t len = zmq_msg_size(&m);
            uint64_t seq = 0;
            if (len < 8) {
                pg->short_frame = 1;
                continue;
            }
            for (int k = 0; k < 8; k++)
                seq = seq << 8 | d[k];
            pg->seq[pg->n] = seq;
            pg->len[pg->n] = len - 8;
            pg->data[pg->n] = malloc(len - 8 + 1);
            memcpy(pg->data[pg->n], d + 8, len - 8);
            pg->n++;
        }
        zmq_msg_close(&m);
        return 0;
    }
    return -1;
}

/* Sends a tail request and reads the reply. */
static int ask_page(void *sock, uint64_t from, long long limit, page_t *pg)
{
    char text[128];
    if (limit > 0)
        snprintf(text, sizeof text, "{\"tail\":{\"from\":%llu,\"limit\":%lld}}",
                 (unsigned long long)from, limit);
    else
        snprintf(text, sizeof text, "{\"tail\":{\"from\":%llu}}", (unsigned long long)from);
    zmq_send(sock, text, strlen(text), 0);
    return recv_page(sock, pg);
}

static long long hdr_int(const page_t *pg, const char *key)
{
    json_t *v = json_object_get(pg->hdr, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* The store's own view of a page, for comparison. */
typedef struct {
    const page_t *pg;
    size_t i;
    int same;
} cmp_t;

static int cmp_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    cmp_t *c = arg;
    if (c->i >= c->pg->n || c->pg->seq[c->i] != seq || c->pg->len[c->i] != len ||
        memcmp(c->pg->data[c->i], val, len) != 0)
        c->same = 0;
    c->i++;
    return 0;
}

/* 1 if the page's entries are exactly the store's pg->n entries from from. */
static int page_matches(store_t *s, uint64_t from, const page_t *pg)
{
    cmp_t c = {pg, 0, 1};
    if (pg->short_frame)
        return 0;
    if (pg->n == 0)
        return 1;
    store_scan(s, from, pg->n, cmp_entry, &c);
    return c.same && c.i == pg->n;
}

/* Commits n events of size bytes each (ids from first). */
static int commit_big(store_t *s, store_batch_t *b, unsigned first, unsigned n, size_t size)
{
    char err[256];
    uint8_t id[16];
    char *val = malloc(size);
    memset(val, 'x', size);
    store_batch_reset(b);
    for (unsigned i = first; i < first + n; i++) {
        mkid(id, i);
        val[0] = (char)i;
        store_batch_add(b, "wm-police", id, val, size);
    }
    int rc = store_commit(s, b, err, sizeof err);
    free(val);
    return rc;
}

int main(void)
{
    char dir[300], path[400], path2[512], err[512], ep[400];
    store_t *s = NULL, *ro = NULL;
    store_batch_t *b = store_batch_new();
    uint64_t seq = 0, head = 0;
    struct stat st;
    if (!mkdtemp(tmp))
        return 1;

    /* ---- store_checkpoint ---- */
    snprintf(dir, sizeof dir, "%s/store", tmp);
    is_int(store_open(&s, dir, 0, err, sizeof err), 0, "opens a store");
    is_int(commit_n(s, b, 0, 100), 0, "100 events committed");
    is_int(store_put_meta(s, "proj", "{\"seq\":100}", 11, err, sizeof err), 0, "meta written");

    snprintf(path, sizeof path, "%s/bk1", tmp);
    is_int(store_checkpoint(s, path, &seq, err, sizeof err), 0, "checkpoint into a new directory");
    is_int(seq, 100, "reports the copy's head, 100");
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700, "the copy is mode 0700");
    is_int(consistency(path, &head), 0, "the copy is consistent");
    is_int(head, 100, "and has head 100");
    {
        char *v = NULL;
        size_t len = 0;
        store_open(&ro, path, STORE_READONLY, err, sizeof err);
        ok(ro && store_get_meta(ro, "proj", &v, &len) == 0 && len == 11 &&
               memcmp(v, "{\"seq\":100}", 11) == 0,
           "the copy has the metadata");
        free(v);
        store_close(&ro);
    }
    is_int(store_checkpoint(s, path, &seq, err, sizeof err), -EEXIST,
           "refuses a directory that exists");
    diag("%s", err);
    snprintf(path2, sizeof path2, "%s/bk1/", tmp);
    is_int(store_checkpoint(s, path2, &seq, err, sizeof err), -EEXIST,
           "also when named with a trailing slash");

    snprintf(path, sizeof path, "%s/bk2.tmp", tmp);
    mkdir(path, 0700);
    snprintf(path2, sizeof path2, "%s/bk2.tmp/precious", tmp);
    fclose(fopen(path2, "w"));
    snprintf(path, sizeof path, "%s/bk2", tmp);
    is_int(store_checkpoint(s, path, &seq, err, sizeof err), -EEXIST,
           "refuses when the staging directory <dir>.tmp exists");
    ok(access(path2, F_OK) == 0, "and leaves the staging directory's files alone");
    ok(strstr(err, "bk2.tmp") != NULL, "naming it: %s", err);

    snprintf(path, sizeof path, "%s/no/such/parent", tmp);
    ok(store_checkpoint(s, path, &seq, err, sizeof err) < 0, "fails without a parent directory");
    diag("%s", err);
    ok(store_checkpoint(s, "", &seq, err, sizeof err) == -EINVAL, "refuses an empty name");

    is_int(store_open(&ro, dir, STORE_READONLY, err, sizeof err), 0, "read-only open beside it");
    snprintf(path, sizeof path, "%s/bk3", tmp);
    is_int(store_checkpoint(ro, path, &seq, err, sizeof err), -EROFS,
           "a read-only store refuses to checkpoint");
    store_close(&ro);

    {
        check_t c = {s, 1, 0, 0};
        store_scan_dedupe(s, count_dd, &c);
        is_int(c.dd, 100, "store_scan_dedupe visits 100 entries");
    }

    /* ---- checkpoints while another thread commits ---- */
    {
        writer_t w = {s, 0, 0, 0};
        pthread_t th;
        uint64_t last = 0;
        int consistent = 1, monotonic = 1, taken = 0;
        pthread_create(&th, NULL, writer, &w);
        for (int i = 0; i < 6; i++) {
            uint64_t h = 0;
            snprintf(path, sizeof path, "%s/live%d", tmp, i);
            if (store_checkpoint(s, path, &seq, err, sizeof err) != 0) {
                diag("checkpoint %d: %s", i, err);
                consistent = 0;
                continue;
            }
            taken++;
            if (consistency(path, &h) != 0 || h != seq)
                consistent = 0;
            if (h < last)
                monotonic = 0;
            last = h;
            diag("checkpoint %d at seq %llu (writer at batch %u)", i, (unsigned long long)h,
                 w.batches);
            nanosleep(&(struct timespec){0, 5 * 1000000}, NULL);
        }
        w.stop = 1;
        pthread_join(th, NULL);
        ok(!w.failed, "the writer's %u commits all succeeded", w.batches);
        is_int(taken, 6, "6 checkpoints taken while it committed");
        ok(consistent, "each is consistent: gap-free log, dedupe index equal to it");
        ok(monotonic, "their heads never go back");
        ok(last >= 100 && last <= store_head(s), "the last is within the live head (%llu)",
           (unsigned long long)store_head(s));
    }

    /* ---- the control endpoint ---- */
    void *zctx = zmq_ctx_new(), *req = zmq_socket(zctx, ZMQ_REQ);
    control_t *c = NULL;
    control_stats_t cs;
    json_t *r;
    int linger = 0;
    uv_loop_init(&loop);
    zmq_setsockopt(req, ZMQ_LINGER, &linger, sizeof linger);

    control_opts_t co = {.endpoint = "tcp://127.0.0.1:0", .store = s, .data_dir = tmp};
    ok(control_new(&c, &loop, zctx, &co, err, sizeof err) == -EINVAL && !c,
       "refuses a tcp:// endpoint");
    diag("%s", err);
    co.endpoint = "ipc://@cohort-abstract";
    ok(control_new(&c, &loop, zctx, &co, err, sizeof err) == -EINVAL,
       "refuses an abstract ipc:// endpoint");
    snprintf(ep, sizeof ep, "ipc://%s/control.sock", tmp);
    co.endpoint = ep;
    is_int(control_new(&c, &loop, zctx, &co, err, sizeof err), 0, "binds %s", ep);
    ok(stat(ep + 6, &st) == 0 && (st.st_mode & 0777) == 0660,
       "the socket file is mode 0660 (user and group; the directory gates the rest)");
    zmq_connect(req, ep);

    head = store_head(s);
    snprintf(path, sizeof path, "%s/cbk", tmp);
    snprintf(path2, sizeof path2, "{\"backup\":\"%s\"}", path);
    r = ask(req, path2);
    ok(is_ok(r), "backup request answered ok: %s", why(r));
    is_int(json_integer_value(json_object_get(r, "seq")), head, "with the head, %llu",
           (unsigned long long)head);
    is_str(json_string_value(json_object_get(r, "backup")), path, "and the directory");
    ok(json_is_integer(json_object_get(r, "ms")), "and the time taken");
    json_decref(r);
    is_int(consistency(path, &seq), 0, "the backup is consistent");
    is_int(seq, head, "at that head");

    r = ask(req, path2);
    ok(r && !is_ok(r) && strstr(why(r), "not an empty directory"),
       "the same directory again is refused: %s", why(r));
    json_decref(r);
    snprintf(path, sizeof path, "%s/empty", tmp);
    mkdir(path, 0700);
    snprintf(path2, sizeof path2, "{\"backup\":\"%s\"}", path);
    r = ask(req, path2);
    ok(is_ok(r), "an existing empty directory is taken: %s", why(r));
    json_decref(r);
    r = ask(req, "{\"backup\":\"relative/dir\"}");
    ok(r && !is_ok(r) && strstr(why(r), "absolute"), "a relative path is refused: %s", why(r));
    json_decref(r);
    r = ask(req, "not json");
    ok(r && !is_ok(r), "a non-JSON request is refused: %s", why(r));
    json_decref(r);
    r = ask(req, "{\"backup\":1}");
    ok(r && !is_ok(r), "a non-string directory is refused: %s", why(r));
    json_decref(r);
    r = ask(req, "{\"backup\":\"/x\",\"more\":1}");
    ok(r && !is_ok(r), "an extra member is refused: %s", why(r));
    json_decref(r);
    r = ask(req, "{\"restore\":\"/x\"}");
    ok(r && !is_ok(r), "an unknown request is refused: %s", why(r));
    json_decref(r);

    /* DEALER clients (no delimiter), and a second backup while one runs */
    {
        void *d1 = zmq_socket(zctx, ZMQ_DEALER), *d2 = zmq_socket(zctx, ZMQ_DEALER);
        json_t *r1, *r2;
        zmq_setsockopt(d1, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(d2, ZMQ_LINGER, &linger, sizeof linger);
        zmq_connect(d1, ep);
        zmq_connect(d2, ep);
        snprintf(path2, sizeof path2, "{\"backup\":\"%s/d1\"}", tmp);
        zmq_send(d1, path2, strlen(path2), 0);
        snprintf(path2, sizeof path2, "{\"backup\":\"%s/d2\"}", tmp);
        zmq_send(d2, path2, strlen(path2), 0);
        nanosleep(&(struct timespec){0, 300 * 1000000}, NULL); /* both queued before the drain */
        r1 = await(d1);
        r2 = await(d2);
        ok(r1 && r2, "both DEALER clients are answered (no delimiter frame needed)");
        ok(is_ok(r1) != is_ok(r2), "exactly one backup ran: %s / %s", why(r1), why(r2));
        ok(strstr(why(is_ok(r1) ? r2 : r1), "busy"), "the other was told it is busy");
        json_decref(r1);
        json_decref(r2);
        zmq_close(d1);
        zmq_close(d2);
    }

    /* ---- status and stats ---- */
    {
        char real[PATH_MAX];
        control_stats_t c0;
        control_stats(c, &c0);
        head = store_head(s);
        r = ask(req, "{\"status\":{}}");
        ok(is_ok(r), "status answered ok: %s", why(r));
        is_int(json_integer_value(json_object_get(r, "head_seq")), head, "head_seq is the head");
        is_str(json_string_value(json_object_get(r, "version")), COHORT_VERSION, "the version");
        is_str(json_string_value(json_object_get(r, "mode")), "plaintext", "plaintext mode");
        ok(realpath(tmp, real) && json_string_value(json_object_get(r, "data_dir")) &&
               strcmp(json_string_value(json_object_get(r, "data_dir")), real) == 0,
           "the data directory, absolute");
        is_str(json_string_value(json_object_get(r, "control")), ep, "the control endpoint");
        is_int(json_integer_value(json_object_get(r, "pid")), getpid(), "the pid");
        ok(json_is_integer(json_object_get(r, "uptime_s")) &&
               json_integer_value(json_object_get(r, "uptime_s")) >= 0,
           "an uptime");
        ok(json_integer_value(json_object_get(r, "agents")) == 0 &&
               json_integer_value(json_object_get(r, "subscribers")) == 0,
           "no ingest or publisher here: 0 agents, 0 subscribers");
        ok(json_is_false(json_object_get(r, "backup_running")), "no backup running");
        ok(!json_object_get(r, "client_keys"), "no key count in plaintext mode");
        json_decref(r);

        r = ask(req, "{\"stats\":{}}");
        ok(is_ok(r), "stats answered ok: %s", why(r));
        json_t *ctl = json_object_get(r, "control"), *ing = json_object_get(r, "ingest"),
               *pub = json_object_get(r, "publish");
        ok(json_is_object(ing) && json_is_object(pub) && json_is_object(ctl),
           "with ingest, publish and control sections");
        is_int(json_integer_value(json_object_get(ctl, "requests")), c0.requests + 2,
               "control.requests counts status and this request");
        is_int(json_integer_value(json_object_get(ctl, "statuses")), c0.statuses + 1,
               "control.statuses 1");
        is_int(json_integer_value(json_object_get(ctl, "stats")), c0.stats + 1,
               "control.stats counts itself");
        is_int(json_integer_value(json_object_get(ctl, "backups")), c0.backups,
               "control.backups as counted");
        is_int(json_integer_value(json_object_get(ing, "head_seq")), head, "ingest.head_seq");
        ok(json_is_object(json_object_get(ing, "rejected_by")), "ingest.rejected_by is a map");
        is_int(json_integer_value(json_object_get(pub, "enabled")), 0, "publish.enabled 0 here");
        json_decref(r);

        const char *bad[] = {"{\"status\":{\"x\":1}}", "{\"status\":1}", "{\"stats\":[]}",
                             "{\"status\":{},\"stats\":{}}", "{}"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            r = ask(req, bad[i]);
            ok(r && !is_ok(r), "refused: %s (%s)", bad[i], why(r));
            json_decref(r);
        }
    }

    /* ---- tail ---- */
    {
        page_t pg;
        head = store_head(s);
        ok(head > CONTROL_TAIL_MAX + 10, "the store holds more than a full page (%llu)",
           (unsigned long long)head);
        ok(ask_page(req, 1, 5, &pg) == 0 && is_ok(pg.hdr), "tail from 1, limit 5: ok");
        is_int(hdr_int(&pg, "count"), 5, "count 5");
        is_int(pg.n, 5, "5 entry frames");
        is_int(hdr_int(&pg, "from"), 1, "from 1");
        is_int(hdr_int(&pg, "next"), 6, "next 6");
        is_int(hdr_int(&pg, "head"), head, "head is the store's");
        ok(pg.n == 5 && pg.seq[0] == 1 && pg.seq[4] == 5, "sequences 1..5");
        ok(page_matches(s, 1, &pg), "each frame is [seq][the stored bytes]");
        page_free(&pg);

        ask_page(req, 0, 3, &pg);
        ok(is_ok(pg.hdr) && pg.n == 3 && pg.seq[0] == 1, "from 0 starts at the first entry");
        page_free(&pg);

        ask_page(req, 1, 0, &pg);
        is_int(pg.n, CONTROL_TAIL_DEFAULT, "no limit: a page of %d", CONTROL_TAIL_DEFAULT);
        ok(page_matches(s, 1, &pg), "matching the store");
        page_free(&pg);

        ask_page(req, 2, 1000000, &pg);
        is_int(pg.n, CONTROL_TAIL_MAX, "a huge limit is clamped to %d", CONTROL_TAIL_MAX);
        is_int(hdr_int(&pg, "next"), 2 + CONTROL_TAIL_MAX, "next follows the last entry");
        ok(page_matches(s, 2, &pg), "matching the store");
        page_free(&pg);

        ask_page(req, head - 2, 10, &pg);
        ok(pg.n == 3 && pg.seq[2] == head, "near the head: the last 3 entries only");
        is_int(hdr_int(&pg, "next"), head + 1, "next is head + 1");
        page_free(&pg);
        ask_page(req, head + 1, 10, &pg);
        ok(is_ok(pg.hdr) && pg.n == 0, "past the head: ok, no entries");
        is_int(hdr_int(&pg, "next"), head + 1, "next stays at from");
        page_free(&pg);

        /* paging through the whole log equals one scan */
        {
            uint64_t from = 1, got = 0, pages = 0;
            int same = 1;
            while (pages < 100) {
                if (ask_page(req, from, 7000, &pg) < 0 || !is_ok(pg.hdr)) {
                    same = 0;
                    break;
                }
                pages++;
                if (pg.n == 0) {
                    page_free(&pg);
                    break;
                }
                same &= page_matches(s, from, &pg) && pg.seq[0] == from;
                got += pg.n;
                from = (uint64_t)hdr_int(&pg, "next");
                page_free(&pg);
            }
            ok(same && got == head,
               "paging (7000 a page) reads all %llu entries in order, "
               "in %llu pages",
               (unsigned long long)got, (unsigned long long)pages);
        }

        /* the byte bound: 4 events of 300 kB, then one of 1.5 MB */
        uint64_t big = head + 1;
        is_int(commit_big(s, b, 5000000, 4, 300000), 0, "4 events of 300 kB committed");
        is_int(commit_big(s, b, 5000010, 1, 1500000), 0, "1 event of 1.5 MB committed");
        ask_page(req, big, 10, &pg);
        ok(pg.n == 3 && page_matches(s, big, &pg),
           "a page stays under %u bytes: 3 of the 300 kB events (got %zu)", CONTROL_TAIL_BYTES,
           pg.n);
        page_free(&pg);
        ask_page(req, big + 4, 10, &pg);
        ok(pg.n == 1 && pg.len[0] == 1500000 && page_matches(s, big + 4, &pg),
           "an event bigger than the bound comes alone");
        page_free(&pg);

        const char *bad[] = {"{\"tail\":{}}",
                             "{\"tail\":{\"from\":-1}}",
                             "{\"tail\":{\"from\":\"1\"}}",
                             "{\"tail\":{\"from\":1,\"limit\":0}}",
                             "{\"tail\":{\"from\":1,\"limit\":1.5}}",
                             "{\"tail\":{\"from\":1,\"extra\":2}}",
                             "{\"tail\":5}",
                             "{\"tail\":{\"from\":1},\"status\":{}}"};
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            r = ask(req, bad[i]);
            ok(r && !is_ok(r), "refused: %s (%s)", bad[i], why(r));
            json_decref(r);
        }
    }

    /* ---- several tail clients at once: queued, each answered in full ---- */
    {
        enum { NCLI = 6, PER = 5 };
        void *d[NCLI];
        page_t pg;
        int answered = 0, full = 0, busy = 0, wrong = 0;
        char text[128];
        snprintf(text, sizeof text, "{\"tail\":{\"from\":1,\"limit\":%d}}", CONTROL_TAIL_MAX);
        for (int i = 0; i < NCLI; i++) {
            d[i] = zmq_socket(zctx, ZMQ_DEALER);
            zmq_setsockopt(d[i], ZMQ_LINGER, &linger, sizeof linger);
            zmq_connect(d[i], ep);
            for (int k = 0; k < PER; k++)
                zmq_send(d[i], text, strlen(text), 0);
        }
        nanosleep(&(struct timespec){0, 200 * 1000000}, NULL); /* all queued before the drain */
        for (int i = 0; i < NCLI; i++)
            for (int k = 0; k < PER; k++) {
                if (recv_page(d[i], &pg) < 0)
                    continue;
                answered++;
                if (is_ok(pg.hdr) && pg.n == CONTROL_TAIL_MAX && page_matches(s, 1, &pg))
                    full++;
                else if (!is_ok(pg.hdr) &&
                         strstr(json_string_value(json_object_get(pg.hdr, "error")), "busy"))
                    busy++;
                else
                    wrong++;
                page_free(&pg);
            }
        is_int(answered, NCLI * PER, "%d requests from %d DEALERs at once: every one answered",
               NCLI * PER, NCLI);
        is_int(wrong, 0, "each with a full, correct page or busy (%d pages, %d busy)", full, busy);
        ok(full >= 1 + CONTROL_TAIL_QUEUE, "at least the queue's worth were served (%d)", full);
        for (int i = 0; i < NCLI; i++)
            zmq_close(d[i]);
    }

    /* destroy while a backup runs: it finishes, replies, and frees */
    snprintf(path, sizeof path, "%s/last", tmp);
    snprintf(path2, sizeof path2, "{\"backup\":\"%s\"}", path);
    zmq_send(req, path2, strlen(path2), 0);
    control_stats(c, &cs);
    uint64_t before = cs.requests;
    for (int i = 0; i < 1000 && cs.requests == before; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        control_stats(c, &cs);
        if (cs.requests == before)
            nanosleep(&(struct timespec){0, 10 * 1000000}, NULL);
    }
    is_int(cs.requests, before + 1, "the last request was taken");
    is_int(cs.backups, 3, "3 backups so far");
    /* and tail pages in flight and waiting */
    void *dt = zmq_socket(zctx, ZMQ_DEALER);
    zmq_setsockopt(dt, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(dt, ep);
    {
        char text[128];
        snprintf(text, sizeof text, "{\"tail\":{\"from\":1,\"limit\":%d}}", CONTROL_TAIL_MAX);
        for (int k = 0; k < 4; k++)
            zmq_send(dt, text, strlen(text), 0);
        before = cs.requests;
        for (int i = 0; i < 1000 && cs.requests < before + 4; i++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            control_stats(c, &cs);
            if (cs.requests < before + 4)
                nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        is_int(cs.requests, before + 4, "4 tail requests taken");
    }
    control_destroy(&c);
    ok(c == NULL, "control_destroy nulls the pointer");
    control_destroy(&c); /* idempotent */
    r = await(req);
    ok(is_ok(r), "a backup in flight at destroy still gets its reply: %s", why(r));
    json_decref(r);
    ok(access(path, F_OK) == 0, "and was written");
    {
        page_t pg;
        int answered = 0, pages = 0, stopping = 0;
        for (int k = 0; k < 4; k++) {
            if (recv_page(dt, &pg) < 0)
                continue;
            answered++;
            if (is_ok(pg.hdr) && pg.n == CONTROL_TAIL_MAX)
                pages++;
            else if (json_string_value(json_object_get(pg.hdr, "error")) &&
                     strstr(json_string_value(json_object_get(pg.hdr, "error")), "stopping"))
                stopping++;
            page_free(&pg);
        }
        is_int(answered, 4, "tail requests at destroy are all answered");
        is_int(pages + stopping, 4,
               "with their page (in flight or already served: %d) or "
               "'the daemon is stopping' (waiting: %d)",
               pages, stopping);
    }
    zmq_close(dt);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(uv_loop_close(&loop), 0, "every handle and request is closed");
    zmq_close(req);
    zmq_ctx_term(zctx);

    store_batch_destroy(&b);
    store_close(&s);
    snprintf(path, sizeof path, "rm -rf %s", tmp);
    if (system(path) != 0)
        diag("could not remove %s", tmp);
    return tap_done();
}
