/* control.c: the control endpoint (see control.h for the protocol and the
 * contracts).
 *
 * State: at most one job (a backup) in flight. The loop thread fills the
 * job (the client's routing id, the directory) and queues it; the thread
 * pool runs the file-system checks and store_checkpoint, writing only the
 * job's result fields; after_work, back on the loop, sends the reply. The
 * loop thread never touches those fields while the job is queued, and the
 * worker never touches anything else, so no lock is needed. */
#include "control.h"

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

#include "log.h"
#include "zbridge.h"
#include "zmonitor.h"

#define MAX_MSG 8192             /* a request is small; bounds what a peer makes us allocate */
#define CAP 8                    /* requests per drain call: fairness to other handles */
#define HWM 100                  /* queued messages per client, each way */
#define LINGER_MS 500            /* time given to an unsent reply at close */
#define ERR_LEN (PATH_MAX + 512) /* room for a reason that names the path */

/* The backup in flight. */
typedef struct {
    uv_work_t work;     /* the thread-pool request; work.data = the control */
    void *rid;          /* the client's routing id (malloc'd) */
    size_t rid_len;     /* its length */
    int delim;          /* the request had an empty delimiter frame */
    char dir[PATH_MAX]; /* target directory (absolute) */
    /* Written by the worker, read after it: */
    int rc;            /* 0 or a negative errno */
    uint64_t seq;      /* the backup's head sequence */
    uint64_t ms;       /* how long it took */
    char err[ERR_LEN]; /* the reason when rc < 0 */
} job_t;

struct control_t {
    uv_loop_t *loop;             /* the daemon's loop */
    store_t *store;              /* the event store (borrowed) */
    void *router;                /* ROUTER socket, owned */
    zbridge_t *bridge;           /* readiness of router on loop; NULL once closing */
    int busy;                    /* job is queued or running */
    int closing;                 /* control_destroy was called; free after the job */
    job_t job;                   /* the backup in flight, valid while busy */
    control_stats_t st;          /* counters */
    auth_t *auth;                /* key table (borrowed): operators only; NULL = plaintext */
    zmonitor_t *mon;             /* logs failed CURVE handshakes (with auth), or NULL */
    char endpoint[PATH_MAX + 8]; /* the bound endpoint, for log lines */
};

/* Sends [rid]([""])[body] on the router. Returns 0, or -1 (and counts it)
 * when the client is gone or its queue is full. */
static int send_reply(control_t *self, const void *rid, size_t rid_len, int delim, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = -1;
    if (text && zmq_send(self->router, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
        (!delim || zmq_send(self->router, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0) &&
        zmq_send(self->router, text, strlen(text), ZMQ_DONTWAIT) >= 0)
        rc = 0;
    if (rc < 0) {
        self->st.lost++;
        cohort_log(LOG_WARNING, "control: reply not sent: %s",
                   text ? zmq_strerror(errno) : "out of memory");
    }
    free(text);
    return rc;
}

/* Answers {"ok":false,"error":why}. */
static void refuse(control_t *self, const void *rid, size_t rid_len, int delim, const char *why)
{
    json_t *o = json_pack("{s:b, s:s}", "ok", 0, "error", why);
    self->st.failed++;
    send_reply(self, rid, rid_len, delim, o);
    json_decref(o);
}

/* ------------------------------------------------------- thread pool --- */

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

static void finish_close(control_t *self);

/* Back on the loop: replies, and completes a close that waited for us. */
static void after_work_cb(uv_work_t *req, int status)
{
    control_t *self = req->data;
    job_t *j = &self->job;
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
        send_reply(self, j->rid, j->rid_len, j->delim, o);
        json_decref(o);
    } else {
        cohort_log(LOG_WARNING, "control: backup to %s failed: %s", j->dir, j->err);
        refuse(self, j->rid, j->rid_len, j->delim, j->err);
    }
    free(j->rid);
    j->rid = NULL;
    self->busy = 0;
    if (self->closing)
        finish_close(self);
}

/* ------------------------------------------------------------ requests --- */

/* Starts a backup into dir for the client rid. */
static void start_backup(control_t *self, const void *rid, size_t rid_len, int delim,
                         const char *dir, size_t dir_len)
{
    job_t *j = &self->job;
    int rc;
    if (self->busy) {
        refuse(self, rid, rid_len, delim, "busy: a backup is already running");
        return;
    }
    if (dir_len != strlen(dir) || dir[0] != '/') {
        refuse(self, rid, rid_len, delim, "the backup directory must be an absolute path");
        return;
    }
    if (dir_len >= sizeof j->dir - 8) {
        refuse(self, rid, rid_len, delim, "the backup directory's path is too long");
        return;
    }
    memset(j, 0, sizeof *j);
    if (!(j->rid = malloc(rid_len ? rid_len : 1))) {
        refuse(self, rid, rid_len, delim, "out of memory");
        return;
    }
    memcpy(j->rid, rid, rid_len);
    j->rid_len = rid_len;
    j->delim = delim;
    memcpy(j->dir, dir, dir_len + 1);
    j->work.data = self;
    if ((rc = uv_queue_work(self->loop, &j->work, work_cb, after_work_cb)) < 0) {
        free(j->rid);
        j->rid = NULL;
        refuse(self, rid, rid_len, delim, uv_strerror(rc));
        return;
    }
    self->busy = 1;
    cohort_log(LOG_INFO, "control: backup to %s started", j->dir);
}

/* Handles one received message: [rid][payload] or [rid][""][payload]. */
static void handle(void *arg, zmq_msg_t *parts, int nparts)
{
    control_t *self = arg;
    const void *rid = zmq_msg_data(&parts[0]);
    size_t rid_len = zmq_msg_size(&parts[0]);
    int delim = nparts == 3;
    json_t *req, *backup;
    self->st.requests++;
    if (nparts < 2 || nparts > 3 || (delim && zmq_msg_size(&parts[1]) != 0)) {
        refuse(self, rid, rid_len, 0,
               "expected one payload frame, optionally after an empty delimiter");
        return;
    }
    zmq_msg_t *payload = &parts[nparts - 1];
    auth_identity_t who;
    if (self->auth && (auth_check(self->auth, zmq_msg_gets(payload, "User-Id"), &who) < 0 ||
                       who.role != AUTH_ROLE_OPERATOR)) {
        refuse(self, rid, rid_len, delim, "not authorised: an operator key is needed");
        return;
    }
    req = json_loadb(zmq_msg_data(payload), zmq_msg_size(payload), JSON_REJECT_DUPLICATES, NULL);
    backup = json_object_get(req, "backup"); /* NULL when req is */
    if (!json_is_object(req))
        refuse(self, rid, rid_len, delim, "request is not a valid JSON object");
    else if (!json_is_string(backup) || json_object_size(req) != 1)
        refuse(self, rid, rid_len, delim, "expected {\"backup\":\"/absolute/directory\"}");
    else
        start_backup(self, rid, rid_len, delim, json_string_value(backup),
                     json_string_length(backup));
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
    free(self);
}

int control_new(control_t **out, uv_loop_t *loop, void *zctx, const char *endpoint, store_t *store,
                auth_t *auth, const char *curve_secret, char *err, size_t errlen)
{
    control_t *self = NULL;
    int one = 1, hwm = HWM, rc;
    int64_t maxmsg = MAX_MSG;
    size_t len;
    *out = NULL;
    if (strncmp(endpoint, "ipc://", 6) != 0 || endpoint[6] == '@' || endpoint[6] == '\0') {
        snprintf(err, errlen,
                 "control endpoint %s: must be ipc://PATH (the socket file's permissions are "
                 "its only access control)",
                 endpoint);
        return -EINVAL;
    }
    if (!(self = calloc(1, sizeof *self))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->store = store;
    self->auth = auth;
    if (!(self->router = zmq_socket(zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(self->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_setsockopt(self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 ||
        zmq_setsockopt(self->router, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0 ||
        zmq_setsockopt(self->router, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0) {
        rc = -errno;
        snprintf(err, errlen, "creating the control socket: %s", zmq_strerror(errno));
        goto fail;
    }
    if (auth && (rc = auth_curve_server(self->router, curve_secret, err, errlen)) < 0)
        goto fail;
    if (zmq_bind(self->router, endpoint) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding control endpoint %s: %s", endpoint, zmq_strerror(errno));
        goto fail;
    }
    len = sizeof self->endpoint;
    if (zmq_getsockopt(self->router, ZMQ_LAST_ENDPOINT, self->endpoint, &len) != 0 ||
        strncmp(self->endpoint, "ipc://", 6) != 0) {
        rc = -EINVAL;
        snprintf(err, errlen, "control endpoint %s: cannot tell the socket file", endpoint);
        goto fail;
    }
    /* Connecting to a Unix socket needs write permission on its file. */
    if (chmod(self->endpoint + 6, 0600) != 0) {
        rc = -errno;
        snprintf(err, errlen, "control endpoint %s: chmod 0600: %s", endpoint, strerror(errno));
        goto fail;
    }
    if ((rc = zbridge_new(&self->bridge, loop, self->router, on_input, self)) < 0) {
        snprintf(err, errlen, "watching the control socket: %s", uv_strerror(rc));
        goto fail;
    }
    if (auth &&
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
    zbridge_close(&self->bridge);
    zmonitor_destroy(&self->mon);
    if (self->busy) {
        cohort_log(LOG_INFO, "control: waiting for the backup to %s to finish", self->job.dir);
        self->closing = 1; /* after_work_cb replies and frees */
        return;
    }
    finish_close(self);
}
