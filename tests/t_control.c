/* t_control: unit tests for store_checkpoint, store_scan_dedupe and the
 * control endpoint (control.c): a checkpoint is a complete, private,
 * openable copy; it refuses existing targets and staging directories and
 * read-only stores; checkpoints taken while another thread commits are each
 * consistent (gap-free log, dedupe index equal to it); the endpoint answers
 * backup requests from REQ and DEALER clients, refuses bad ones and a
 * second backup while one runs, only binds ipc://, and a destroy while a
 * backup runs still replies and frees everything. */
#include <errno.h>
#include <jansson.h>
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

    ok(control_new(&c, &loop, zctx, "tcp://127.0.0.1:0", s, NULL, NULL, err, sizeof err) ==
               -EINVAL &&
           !c,
       "refuses a tcp:// endpoint");
    diag("%s", err);
    ok(control_new(&c, &loop, zctx, "ipc://@cohort-abstract", s, NULL, NULL, err, sizeof err) ==
           -EINVAL,
       "refuses an abstract ipc:// endpoint");
    snprintf(ep, sizeof ep, "ipc://%s/control.sock", tmp);
    is_int(control_new(&c, &loop, zctx, ep, s, NULL, NULL, err, sizeof err), 0, "binds %s", ep);
    ok(stat(ep + 6, &st) == 0 && (st.st_mode & 0777) == 0600, "the socket file is mode 0600");
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
    control_destroy(&c);
    ok(c == NULL, "control_destroy nulls the pointer");
    control_destroy(&c); /* idempotent */
    r = await(req);
    ok(is_ok(r), "a backup in flight at destroy still gets its reply: %s", why(r));
    json_decref(r);
    ok(access(path, F_OK) == 0, "and was written");
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
