/* control.c: the control endpoint (see control.h for the protocol and the
 * contracts).
 *
 * State: at most one backup job and one tail job in flight, each in its own
 * uv_work_t. The loop thread fills a job (the client's routing id, the
 * request) and queues it; the thread pool runs the slow part (backup: the
 * file-system checks and store_checkpoint; tail: store_scan into the job's
 * buffer), writing only the job's result fields; after_work, back on the
 * loop, sends the reply. The loop thread never touches those fields while a
 * job is queued, and the worker never touches anything else, so no lock is
 * needed. Tail requests that arrive while a tail job runs wait in a small
 * ring (tq) and are started one by one from the tail job's after_work.
 * status and stats are answered on the loop at once. */
#include "control.h"
#include "cohort_grow.h"
#include "endpoint.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "cohort.pb-c.h"
#include "log.h"
#include "request.h"
#include "zbridge.h"
#include "zmonitor.h"

#define MAX_MSG 8192             /* a request is small; bounds what a peer makes us allocate */
#define CAP 8                    /* requests per drain call: fairness to other handles */
#define HWM 100                  /* queued messages per client, each way */
#define LINGER_MS 500            /* time given to an unsent reply at close */
#define ERR_LEN (PATH_MAX + 512) /* room for a reason that names the path */
#define SEQ_LEN 8                /* a tail entry frame starts with its big-endian sequence */

/* The backup in flight. */
typedef struct {
    uv_work_t work;     /* the thread-pool request; work.data = the control */
    request_saved_t to; /* the client to answer */
    char dir[PATH_MAX]; /* target directory (absolute) */
    /* Written by the worker, read after it: */
    int rc;            /* 0 or a negative errno */
    uint64_t seq;      /* the backup's head sequence */
    uint64_t ms;       /* how long it took */
    char err[ERR_LEN]; /* the reason when rc < 0 */
} job_t;

/* A tail request: whom to answer and what they asked for. */
typedef struct {
    request_saved_t to; /* the client to answer */
    uint64_t from;      /* first sequence wanted */
    uint64_t limit;     /* at most this many entries (1..CONTROL_TAIL_MAX) */
} tail_req_t;

/* One entry of a tail page: [8-byte seq][packed event] at buf + off. */
typedef struct {
    size_t off; /* offset in the job's buffer */
    size_t len; /* frame length (SEQ_LEN + the event's) */
} entry_t;

/* The tail page in flight. The buffers are kept for the next page. */
typedef struct {
    uv_work_t work; /* the thread-pool request; work.data = the control */
    tail_req_t rq;  /* the request served */
    uint64_t upto;  /* the durable head when it was taken: nothing after it is read */
    store_t *store; /* the store to read */
    /* Written by the worker, read after it: */
    int rc;           /* 0 or a negative errno */
    entry_t *ents;    /* the page's entries */
    size_t n, cap;    /* their count and room */
    uint8_t *buf;     /* their bytes */
    size_t len, bcap; /* bytes used and room */
} tail_job_t;

struct control_t {
    uv_loop_t *loop;                   /* the daemon's loop */
    store_t *store;                    /* the event store (borrowed) */
    ingest_t *ingest;                  /* head and counters (borrowed), or NULL */
    publish_t *pub;                    /* publisher counters (borrowed), or NULL */
    void *router;                      /* ROUTER socket, owned */
    zbridge_t *bridge;                 /* readiness of router on loop; NULL once closing */
    int busy;                          /* job (backup) is queued or running */
    int tail_busy;                     /* tail is queued or running */
    int closing;                       /* control_destroy was called; free after the jobs */
    job_t job;                         /* the backup in flight, valid while busy */
    tail_job_t tail;                   /* the tail page in flight, valid while tail_busy */
    tail_req_t tq[CONTROL_TAIL_QUEUE]; /* tail requests waiting, a ring */
    size_t tq_head, tq_len;            /* first waiting request's index, and how many wait */
    control_stats_t st;                /* counters */
    auth_t *auth;                      /* key table (borrowed): operators only; NULL = plaintext */
    zmonitor_t *mon;                   /* logs failed CURVE handshakes (with auth), or NULL */
    uint64_t started_ns;               /* uv_hrtime at control_new, for uptime */
    char endpoint[PATH_MAX + 8];       /* the bound endpoint, for log lines and status */
    char data_dir[PATH_MAX];           /* the data directory (absolute if it resolved), or "" */
};

/* Sends the frames to the client `to` in its envelope (request_send).
 * Returns 0, or -1 (and counts it) when the client is gone or its queue is
 * full. */
static int send_frames(control_t *self, const request_peer_t *to, const void *const *data,
                       const size_t *len, size_t n)
{
    int rc = request_send(self->router, to, data, len, n);
    if (rc < 0) {
        self->st.lost++;
        cohort_log(LOG_WARNING, "control: reply not sent: %s", zmq_strerror(-rc));
        return -1;
    }
    return 0;
}

/* Sends body as one JSON frame to the client `to`. Returns 0, or -1 (and
 * counts it) when the client is gone or its queue is full. */
static int send_reply(control_t *self, const request_peer_t *to, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc;
    if (!text) {
        self->st.lost++;
        cohort_log(LOG_WARNING, "control: reply not sent: out of memory");
        return -1;
    }
    const void *data[1] = {text};
    size_t len[1] = {strlen(text)};
    rc = send_frames(self, to, data, len, 1);
    free(text);
    return rc;
}

/* Answers {"ok":false,"error":why}. */
static void refuse(control_t *self, const request_peer_t *to, const char *why)
{
    json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", why);
    self->st.failed++;
    send_reply(self, to, o);
    json_decref(o);
}

/* The durable head as the loop knows it. */
static uint64_t head_now(const control_t *self)
{
    return self->ingest ? ingest_head(self->ingest) : store_head(self->store);
}

static void finish_close(control_t *self);

/* Frees and nulls when nothing is in flight any more, after a destroy. */
static void maybe_finish_close(control_t *self)
{
    if (self->closing && !self->busy && !self->tail_busy)
        finish_close(self);
}

/* ------------------------------------------------------------- backup --- */

/* Returns 1 if dir holds no entry but . and .., 0 if it holds one, or a
 * negative errno. */
static int is_empty_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    if (!d)
        return -errno;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    closedir(d);
    return empty;
}

/* Worker: the file-system checks and the checkpoint. Touches only the job's
 * fields and the store (store_checkpoint's thread-safety contract). */
static void work_cb(uv_work_t *req)
{
    control_t *self = req->data;
    job_t *j = &self->job;
    uint64_t t0 = uv_hrtime();
    struct stat st;
    j->rc = 0;
    if (lstat(j->dir, &st) == 0) {
        /* An existing empty directory is taken (e.g. made with the right
         * owner beforehand); RocksDB wants to create it itself. */
        int empty = S_ISDIR(st.st_mode) ? is_empty_dir(j->dir) : 0;
        if (empty < 0) {
            j->rc = empty;
            snprintf(j->err, sizeof j->err, "%s: %s", j->dir, strerror(-empty));
        } else if (!empty) {
            j->rc = -EEXIST;
            snprintf(j->err, sizeof j->err, "%s exists and is not an empty directory", j->dir);
        } else if (rmdir(j->dir) != 0) {
            j->rc = -errno;
            snprintf(j->err, sizeof j->err, "%s: cannot replace the empty directory: %s", j->dir,
                     strerror(errno));
        }
    }
    if (j->rc == 0)
        j->rc = store_checkpoint(self->store, j->dir, &j->seq, j->err, sizeof j->err);
    j->ms = (uv_hrtime() - t0) / 1000000;
}

/* Back on the loop: replies, and completes a close that waited for us. */
static void after_work_cb(uv_work_t *req, int status)
{
    control_t *self = req->data;
    job_t *j = &self->job;
    request_peer_t to = request_saved_peer(&j->to);
    if (status == UV_ECANCELED && j->rc == 0) {
        j->rc = -ECANCELED;
        snprintf(j->err, sizeof j->err, "cancelled");
    }
    if (j->rc == 0) {
        json_t *o = json_pack("{s:b, s:s, s:I, s:I}", "ok", 1, "backup", j->dir, "seq",
                              (json_int_t)j->seq, "ms", (json_int_t)j->ms);
        self->st.backups++;
        cohort_log(LOG_INFO, "control: backup written to %s at seq %llu in %llu ms", j->dir,
                   (unsigned long long)j->seq, (unsigned long long)j->ms);
        send_reply(self, &to, o);
        json_decref(o);
    } else {
        cohort_log(LOG_WARNING, "control: backup to %s failed: %s", j->dir, j->err);
        refuse(self, &to, j->err);
    }
    self->busy = 0;
    maybe_finish_close(self);
}

/* Starts a backup into dir for the client `to`. */
static void start_backup(control_t *self, const request_peer_t *to, const char *dir, size_t dir_len)
{
    job_t *j = &self->job;
    int rc;
    if (self->busy) {
        refuse(self, to, "busy: a backup is already running");
        return;
    }
    if (dir_len != strlen(dir) || dir[0] != '/') {
        refuse(self, to, "the backup directory must be an absolute path");
        return;
    }
    if (dir_len >= sizeof j->dir - 8) {
        refuse(self, to, "the backup directory's path is too long");
        return;
    }
    memset(j, 0, sizeof *j);
    request_save(&j->to, to);
    memcpy(j->dir, dir, dir_len + 1);
    j->work.data = self;
    if ((rc = uv_queue_work(self->loop, &j->work, work_cb, after_work_cb)) < 0) {
        refuse(self, to, uv_strerror(rc));
        return;
    }
    self->busy = 1;
    cohort_log(LOG_INFO, "control: backup to %s started", j->dir);
}

/* --------------------------------------------------------------- tail --- */

/* Worker, per log entry: copies it into the page until the page is full. */
static int tail_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    tail_job_t *t = arg;
    if (seq > t->upto)
        return 1; /* not durable when the request was taken */
    if (t->n > 0 && t->len + SEQ_LEN + len > CONTROL_TAIL_BYTES)
        return 1; /* full: the next page starts here */
    if (cohort_grow((void **)&t->ents, &t->cap, t->n + 1, sizeof *t->ents) < 0 ||
        cohort_grow((void **)&t->buf, &t->bcap, t->len + SEQ_LEN + len, 1) < 0)
        return -ENOMEM;
    uint8_t *p = t->buf + t->len;
    for (int i = 0; i < SEQ_LEN; i++)
        p[i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(p + SEQ_LEN, val, len);
    t->ents[t->n++] = (entry_t){t->len, SEQ_LEN + len};
    t->len += SEQ_LEN + len;
    return 0;
}

/* Worker: reads the page. Touches only the job and the store (store_scan). */
static void tail_work_cb(uv_work_t *req)
{
    control_t *self = req->data;
    tail_job_t *t = &self->tail;
    t->n = 0;
    t->len = 0;
    t->rc = 0;
    if (t->rq.from <= t->upto) {
        int rc = store_scan(t->store, t->rq.from, t->rq.limit, tail_entry, t);
        t->rc = rc < 0 ? rc : 0;
    }
}

static void start_tail(control_t *self, const tail_req_t *rq);

/* Back on the loop: sends the page, starts the next waiting request, and
 * completes a close that waited for us. */
static void tail_after_cb(uv_work_t *req, int status)
{
    control_t *self = req->data;
    tail_job_t *t = &self->tail;
    request_peer_t to = request_saved_peer(&t->rq.to);
    if (status == UV_ECANCELED && t->rc == 0)
        t->rc = -ECANCELED;
    if (t->rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "reading the log failed: %s", strerror(-t->rc));
        cohort_log(LOG_WARNING, "control: tail from %llu: %s", (unsigned long long)t->rq.from, why);
        refuse(self, &to, why);
    } else {
        uint64_t next = t->n ? 0 : t->rq.from;
        if (t->n) {
            const uint8_t *last = t->buf + t->ents[t->n - 1].off;
            for (int i = 0; i < SEQ_LEN; i++)
                next = next << 8 | last[i];
            next++;
        }
        json_t *o =
            json_pack("{s:b, s:I, s:I, s:I, s:I}", "ok", 1, "from", (json_int_t)t->rq.from, "count",
                      (json_int_t)t->n, "next", (json_int_t)next, "head", (json_int_t)t->upto);
        char *hdr = o ? json_dumps(o, JSON_COMPACT) : NULL;
        const void **data = malloc((t->n + 1) * sizeof *data);
        size_t *len = malloc((t->n + 1) * sizeof *len);
        json_decref(o);
        if (!hdr || !data || !len) {
            refuse(self, &to, "out of memory");
        } else {
            data[0] = hdr;
            len[0] = strlen(hdr);
            for (size_t i = 0; i < t->n; i++) {
                data[i + 1] = t->buf + t->ents[i].off;
                len[i + 1] = t->ents[i].len;
            }
            if (send_frames(self, &to, data, len, t->n + 1) == 0) {
                self->st.tails++;
                self->st.tail_entries += t->n;
            }
        }
        free(hdr);
        free(data);
        free(len);
    }
    self->tail_busy = 0;
    /* A big page's buffer is not kept for good. */
    if (t->bcap > 2 * CONTROL_TAIL_BYTES) {
        free(t->buf);
        t->buf = NULL;
        t->bcap = 0;
    }
    if (self->tq_len && !self->closing) {
        tail_req_t next = self->tq[self->tq_head];
        self->tq_head = (self->tq_head + 1) % CONTROL_TAIL_QUEUE;
        self->tq_len--;
        start_tail(self, &next);
    }
    maybe_finish_close(self);
}

/* Queues the page for rq on the thread pool. */
static void start_tail(control_t *self, const tail_req_t *rq)
{
    tail_job_t *t = &self->tail;
    int rc;
    t->rq = *rq;
    t->upto = head_now(self);
    t->store = self->store;
    t->work.data = self;
    if ((rc = uv_queue_work(self->loop, &t->work, tail_work_cb, tail_after_cb)) < 0) {
        request_peer_t to = request_saved_peer(&rq->to);
        refuse(self, &to, uv_strerror(rc));
        return;
    }
    self->tail_busy = 1;
}

/* A tail request: validated, then started or queued. */
static void take_tail(control_t *self, const request_peer_t *to, json_t *args)
{
    static const char *usage = "expected {\"tail\":{\"from\":SEQ,\"limit\":N}} (limit optional, "
                               "at least 1)";
    json_t *from = json_object_get(args, "from"), *limit = json_object_get(args, "limit");
    tail_req_t rq;
    if (!json_is_object(args) || !json_is_integer(from) || json_integer_value(from) < 0 ||
        (limit && (!json_is_integer(limit) || json_integer_value(limit) < 1)) ||
        json_object_size(args) != 1u + (limit != NULL)) {
        refuse(self, to, usage);
        return;
    }
    rq.limit = CONTROL_TAIL_DEFAULT;
    rq.from = (uint64_t)json_integer_value(from);
    if (limit)
        rq.limit = json_integer_value(limit) > CONTROL_TAIL_MAX
                       ? CONTROL_TAIL_MAX
                       : (uint64_t)json_integer_value(limit);
    if (self->tail_busy && self->tq_len == CONTROL_TAIL_QUEUE) {
        refuse(self, to, "busy: too many tail requests waiting; try again");
        return;
    }
    request_save(&rq.to, to);
    if (self->tail_busy)
        self->tq[(self->tq_head + self->tq_len++) % CONTROL_TAIL_QUEUE] = rq;
    else
        start_tail(self, &rq);
}

/* ------------------------------------------------------ status, stats --- */

/* {"CODE_NAME": n, ...} for the non-zero slots of a by-code counter array
 * (slot 0: codes beyond the table, as "other"). */
static json_t *by_code(const uint64_t *counts, size_t n, const ProtobufCEnumDescriptor *d)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < n; i++) {
        if (!counts[i])
            continue;
        const ProtobufCEnumValue *v = i ? protobuf_c_enum_descriptor_get_value(d, (int)i) : NULL;
        char name[32] = "other";
        if (!v && i)
            snprintf(name, sizeof name, "code_%zu", i);
        json_object_set_new(o, v ? v->name : name, json_integer((json_int_t)counts[i]));
    }
    return o;
}

static json_int_t uptime_s(const control_t *self)
{
    return (json_int_t)((uv_hrtime() - self->started_ns) / 1000000000u);
}

/* {"status":{}}: what an operator checks first. */
static void answer_status(control_t *self, const request_peer_t *to)
{
    ingest_stats_t is = {0};
    publish_stats_t ps = {0};
    if (self->ingest)
        ingest_stats(self->ingest, &is);
    if (self->pub)
        publish_stats(self->pub, &ps);
    json_t *o = json_pack("{s:b, s:s, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s, s:b}", "ok", 1,
                          "version", COHORT_VERSION, "pid", (json_int_t)getpid(), "head_seq",
                          (json_int_t)head_now(self), "uptime_s", uptime_s(self), "agents",
                          (json_int_t)is.peers, "subscribers", (json_int_t)ps.peers, "mode",
                          self->auth ? "curve" : "plaintext", "data_dir", self->data_dir, "control",
                          self->endpoint, "backup_running", self->busy);
    if (o && self->auth)
        json_object_set_new(o, "client_keys", json_integer((json_int_t)auth_count(self->auth)));
    if (!o) {
        refuse(self, to, "out of memory");
        return;
    }
    self->st.statuses++;
    send_reply(self, to, o);
    json_decref(o);
}

/* {"stats":{}}: every counter, by module. */
static void answer_stats(control_t *self, const request_peer_t *to)
{
    ingest_stats_t is = {0};
    publish_stats_t ps = {0};
    control_stats_t cs;
    json_t *ing = NULL, *pub = NULL, *ctl = NULL, *o = NULL;
    if (self->ingest)
        ingest_stats(self->ingest, &is);
    if (self->pub)
        publish_stats(self->pub, &ps);
    self->st.stats++; /* this request counts itself */
    cs = self->st;
#define I(x) (json_int_t)(x)
    ing = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "head_seq",
        I(head_now(self)), "frames", I(is.frames), "frames_refused", I(is.frames_refused),
        "accepted", I(is.accepted), "duplicates", I(is.duplicates), "rejected", I(is.rejected),
        "unavailable", I(is.unavailable), "commits", I(is.commits), "replies_lost",
        I(is.replies_lost), "replies_shed", I(is.replies_shed), "unauthorised", I(is.unauthorised),
        "peers", I(is.peers), "conns_refused", I(is.conns_refused), "rejected_by",
        by_code(is.rejected_by, INGEST_REJECT_SLOTS, &cohort__v1__reject_code__descriptor),
        "refused_by",
        by_code(is.refused_by, INGEST_FRAME_SLOTS, &cohort__v1__frame_error__descriptor));
    pub = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "published",
                    I(ps.published), "subscribers", I(ps.subscribers), "snapshots", I(ps.snapshots),
                    "snap_requests", I(ps.snap_requests), "heartbeats", I(ps.heartbeats), "dropped",
                    I(ps.dropped), "snapshots_failed", I(ps.snapshots_failed), "bad_requests",
                    I(ps.bad_requests), "subscriptions", I(ps.subscriptions), "subs_refused",
                    I(ps.subs_refused), "peers", I(ps.peers), "enabled", I(self->pub != NULL));
    ctl = json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "requests", I(cs.requests),
                    "backups", I(cs.backups), "failed", I(cs.failed), "lost", I(cs.lost),
                    "statuses", I(cs.statuses), "stats", I(cs.stats), "tails", I(cs.tails),
                    "tail_entries", I(cs.tail_entries));
#undef I
    if (ing && pub && ctl)
        o = json_pack("{s:b, s:I, s:o, s:o, s:o}", "ok", 1, "uptime_s", uptime_s(self), "ingest",
                      ing, "publish", pub, "control", ctl);
    else {
        json_decref(ing);
        json_decref(pub);
        json_decref(ctl);
    }
    if (!o) {
        refuse(self, to, "out of memory");
        return;
    }
    send_reply(self, to, o);
    json_decref(o);
}

/* ------------------------------------------------------------ requests --- */

/* 1 if v is {} (the argument of status and stats). */
static int empty_object(json_t *v)
{
    return json_is_object(v) && json_object_size(v) == 0;
}

/* Handles one received message: [rid][payload] or [rid][""][payload]. */
static void handle(void *arg, zmq_msg_t *parts, int nparts)
{
    control_t *self = arg;
    request_t rq;
    const request_peer_t *to = &rq.peer;
    json_t *req, *v;
    const char *name;
    self->st.requests++;
    request_check(&rq, parts, nparts, self->auth, 0);
    if (rq.envelope_rc < 0) {
        refuse(self, to, "expected one payload frame, optionally after an empty delimiter");
        return;
    }
    if (self->auth && (rq.auth_rc < 0 || rq.who.role != AUTH_ROLE_OPERATOR)) {
        refuse(self, to, "not authorised: an operator key is needed");
        return;
    }
    req = json_loadb(zmq_msg_data(rq.body), zmq_msg_size(rq.body), JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(req)) {
        refuse(self, to, "request is not a valid JSON object");
        json_decref(req);
        return;
    }
    void *it = json_object_iter(req);
    name = it ? json_object_iter_key(it) : "";
    v = it ? json_object_iter_value(it) : NULL;
    if (json_object_size(req) != 1)
        refuse(self, to,
               "expected exactly one request: {\"status\":{}}, {\"stats\":{}}, "
               "{\"tail\":{\"from\":SEQ,\"limit\":N}} or {\"backup\":\"/absolute/directory\"}");
    else if (strcmp(name, "backup") == 0 && json_is_string(v))
        start_backup(self, to, json_string_value(v), json_string_length(v));
    else if (strcmp(name, "backup") == 0)
        refuse(self, to, "expected {\"backup\":\"/absolute/directory\"}");
    else if (strcmp(name, "status") == 0 && empty_object(v))
        answer_status(self, to);
    else if (strcmp(name, "status") == 0)
        refuse(self, to, "expected {\"status\":{}}");
    else if (strcmp(name, "stats") == 0 && empty_object(v))
        answer_stats(self, to);
    else if (strcmp(name, "stats") == 0)
        refuse(self, to, "expected {\"stats\":{}}");
    else if (strcmp(name, "tail") == 0)
        take_tail(self, to, v);
    else
        refuse(self, to, "unknown request: expected status, stats, tail or backup");
    json_decref(req);
}

/* zbridge handler: answers up to CAP requests. */
static int on_input(void *arg)
{
    control_t *self = arg;
    int rc = zbridge_serve(self->router, CAP, handle, self);
    if (rc < 0)
        cohort_log(LOG_WARNING, "control: receive failed: %s", zmq_strerror(-rc));
    return rc > 0;
}

/* ------------------------------------------------------------- public --- */

/* Closes the socket and frees (no job in flight). */
static void finish_close(control_t *self)
{
    if (self->router) {
        int linger = LINGER_MS;
        zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->router);
    }
    free(self->tail.ents);
    free(self->tail.buf);
    free(self);
}

int control_new(control_t **out, uv_loop_t *loop, void *zctx, const control_opts_t *o, char *err,
                size_t errlen)
{
    control_t *self = NULL;
    const char *endpoint = o->endpoint;
    int one = 1, hwm = HWM, rc;
    int64_t maxmsg = MAX_MSG;
    size_t len;
    *out = NULL;
    if (!endpoint || strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@' ||
        endpoint[6] == '\0') {
        snprintf(err, errlen,
                 "control endpoint %s: must be ipc://PATH (the socket file's permissions are "
                 "its only access control)",
                 endpoint ? endpoint : "(none)");
        return -EINVAL;
    }
    /* Strictly ipc:// (no ';' or control bytes): the control socket is local whatever the mode. */
    if ((rc = endpoint_check(endpoint, 1, err, errlen)) < 0)
        return rc;
    if (!(self = calloc(1, sizeof *self))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->store = o->store;
    self->ingest = o->ingest;
    self->pub = o->pub;
    self->auth = o->auth;
    self->started_ns = uv_hrtime();
    if (o->data_dir && !realpath(o->data_dir, self->data_dir))
        snprintf(self->data_dir, sizeof self->data_dir, "%s", o->data_dir);
    if (!(self->router = zmq_socket(zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(self->router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the control socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (o->auth && (rc = auth_curve_server(self->router, o->curve_secret, err, errlen)) < 0)
        goto fail;
    if (zmq_bind(self->router, endpoint) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding control endpoint %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    if ((rc = endpoint_check_bound(self->router, 1, err, errlen)) < 0)
        goto fail;
    len = sizeof self->endpoint;
    if (zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0 ||
        strncmp(self->endpoint, "ipc://", 6) != 0) {
        rc = -EINVAL;
        snprintf(err, errlen, "control endpoint %s: cannot tell the socket file", endpoint);
        goto fail;
    }
    /* Connecting to a Unix socket needs write permission on its file: the
     * daemon's user and group (operators, under systemd) may; the
     * directory's permissions keep everyone else out. */
    if (chmod(self->endpoint + 6, 0660) != 0) {
        rc = -errno;
        snprintf(err, errlen, "control endpoint %s: chmod 0660: %s", endpoint, strerror(errno));
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->router, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the control socket: %s", uv_strerror(rc));
        goto fail;
    }
    if (o->auth &&
        (rc = zmonitor_new(&self->mon, loop, zctx, self->router, "control", err, errlen)) < 0) {
        zbridge_close(&self->bridge);
        goto fail;
    }
    cohort_log(LOG_INFO, "control: requests on %s", self->endpoint);
    *out = self;
    return 0;
fail:
    if (self->router) {
        int linger = 0;
        zmq_setsockopt(self->router, ZMQ_LINGER, &linger, sizeof linger);
        zmq_close(self->router);
    }
    free(self);
    return rc;
}

void control_stats(const control_t *self, control_stats_t *out)
{
    *out = self->st;
}

void control_destroy(control_t **self_p)
{
    control_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    /* Waiting tail requests are told, while the socket is still open. */
    while (self->tq_len) {
        request_peer_t to = request_saved_peer(&self->tq[self->tq_head].to);
        refuse(self, &to, "the daemon is stopping");
        self->tq_head = (self->tq_head + 1) % CONTROL_TAIL_QUEUE;
        self->tq_len--;
    }
    zbridge_close(&self->bridge);
    zmonitor_destroy(&self->mon);
    self->closing = 1;
    if (self->busy)
        cohort_log(LOG_INFO, "control: waiting for the backup to %s to finish", self->job.dir);
    maybe_finish_close(self); /* else the last after_work callback does */
}
