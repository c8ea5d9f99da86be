/* metrics.c: the Prometheus endpoint (see metrics.h for its contracts).
 *
 * Two threads meet here, through one mutex and one condition variable:
 * - the loop thread renders the daemon's state into a text (on_async, when
 *   a scrape asks for it) and swaps it in as the latest rendering;
 * - libmicrohttpd's thread answers requests: for a scrape it asks the loop
 *   (uv_async_send, which is thread-safe), waits for the next rendering at
 *   most METRICS_WAIT_MS, copies it and appends what it reads itself
 *   (/proc/self/statm, the rendering's age).
 * The async handle outlives the HTTP thread: metrics_destroy sets closing
 * (a waiting scrape stops waiting), stops libmicrohttpd (which joins its
 * thread), and only then closes the handle. */
#include "metrics.h"

#include "cohort_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cohort.pb-c.h"
#include "endpoint.h"
#include "log.h"

#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define IDLE_TIMEOUT_S 10u /* an idle HTTP connection is closed after this */
#define LISTEN_BACKLOG 16  /* pending connections on the listening socket */

struct metrics_t {
    uv_loop_t *loop;        /* the daemon's loop */
    uv_async_t async;       /* the HTTP thread asks the loop for a rendering */
    int async_inited;       /* async was initialised: it must be closed */
    struct MHD_Daemon *mhd; /* the HTTP server and its thread, or NULL */
    ingest_t *ingest;       /* borrowed; loop thread only */
    publish_t *pub;         /* borrowed; loop thread only */
    control_t *control;     /* borrowed, or NULL; loop thread only */
    double start_time;      /* process start, Unix seconds (read-only after new) */
    long page;              /* the page size, for statm (read-only after new) */
    pthread_mutex_t mu;     /* guards the fields below */
    pthread_cond_t cv;      /* broadcast when gen grows or closing is set */
    char *text;             /* the latest rendering (malloc'd), or NULL */
    size_t len;             /* its length */
    uint64_t gen;           /* renderings finished (or failed) so far */
    uint64_t asked;         /* the rendering last asked for (a gen value) */
    uint64_t at_ns;         /* when the latest one was made (uv_hrtime) */
    int closing;            /* metrics_destroy has begun: scrapes wait no more */
};

/* ------------------------------------------------------------ rendering --- */

static void put(metrics_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends printf-style text; on out-of-memory sets t->oom and drops it. */
static void put(metrics_text_t *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->oom)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if (t->p && (size_t)n < room) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + (size_t)n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
}

void metrics_text_free(metrics_text_t *t)
{
    free(t->p);
    memset(t, 0, sizeof *t);
}

/* The # HELP and # TYPE lines of a family. */
static void family(metrics_text_t *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(metrics_text_t *t, const char *name, const char *help, uint64_t v)
{
    family(t, name, "counter", help);
    put(t, "%s %" PRIu64 "\n", name, v);
}

static void gauge(metrics_text_t *t, const char *name, const char *help, uint64_t v)
{
    family(t, name, "gauge", help);
    put(t, "%s %" PRIu64 "\n", name, v);
}

/* Appends a label value, escaped as the format requires (\\, \", \n). */
static void label_value(metrics_text_t *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            put(t, "\\\\");
        else if (*v == '"')
            put(t, "\\\"");
        else if (*v == '\n')
            put(t, "\\n");
        else
            put(t, "%c", *v);
    }
}

/* A counter family with one sample per value of a protobuf enum (except
 * 0), labelled reason="NAME" with the enum's prefix (e.g. "REJECT_")
 * stripped: by[value] for value < nslots. by[0] (values beyond the slots)
 * is shown as reason="OTHER" when not zero. */
static void by_reason(metrics_text_t *t, const char *name, const char *help,
                      const ProtobufCEnumDescriptor *d, const char *prefix, const uint64_t *by,
                      size_t nslots)
{
    size_t plen = strlen(prefix);
    family(t, name, "counter", help);
    for (unsigned i = 0; i < d->n_values; i++) {
        const ProtobufCEnumValue *v = &d->values[i];
        if (v->value <= 0 || (size_t)v->value >= nslots)
            continue;
        const char *label = strncmp(v->name, prefix, plen) == 0 ? v->name + plen : v->name;
        put(t, "%s{reason=\"", name);
        label_value(t, label);
        put(t, "\"} %" PRIu64 "\n", by[v->value]);
    }
    if (by[0])
        put(t, "%s{reason=\"OTHER\"} %" PRIu64 "\n", name, by[0]);
}

void metrics_histogram(metrics_text_t *t, const char *name, const char *help, const double *bounds,
                       size_t n, const uint64_t *counts, double sum, int integer_sum)
{
    uint64_t cum = 0;
    family(t, name, "histogram", help);
    for (size_t i = 0; i < n; i++) {
        cum += counts[i];
        put(t, "%s_bucket{le=\"%.6g\"} %" PRIu64 "\n", name, bounds[i], cum);
    }
    cum += counts[n];
    put(t, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
    if (integer_sum)
        put(t, "%s_sum %" PRIu64 "\n", name, (uint64_t)sum);
    else
        put(t, "%s_sum %.9g\n", name, sum);
    put(t, "%s_count %" PRIu64 "\n", name, cum);
}

static int by_agency(const void *a, const void *b)
{
    return strcmp(((const metrics_agency_t *)a)->agency, ((const metrics_agency_t *)b)->agency);
}

int metrics_render(metrics_text_t *t, metrics_snapshot_t *s)
{
    const ingest_stats_t *in = &s->ingest;
    const publish_stats_t *pub = &s->pub;

    family(t, "cohortd_build_info", "gauge", "The daemon's version (always 1).");
    put(t, "cohortd_build_info{version=\"%s\"} 1\n", COHORT_VERSION);
    family(t, "cohortd_start_time_seconds", "gauge",
           "When the daemon process started, in Unix seconds.");
    put(t, "cohortd_start_time_seconds %.2f\n", s->start_time);

    /* The log and the ingest pipeline. */
    gauge(t, "cohortd_log_head_sequence",
          "Sequence number of the last durable log entry (0 = empty log).", s->head);
    counter(t, "cohortd_ingest_frames_total", "Ingest frames received from agents.", in->frames);
    by_reason(t, "cohortd_ingest_frames_refused_total",
              "Ingest frames answered with a frame-level error, by FrameError.",
              &cohort__v1__frame_error__descriptor, "FRAME_", in->refused_by, INGEST_FRAME_SLOTS);
    counter(t, "cohortd_events_accepted_total", "Events newly stored (acked ACCEPTED).",
            in->accepted);
    counter(t, "cohortd_events_duplicate_total",
            "Events already stored before (acked DUPLICATE with their original sequence).",
            in->duplicates);
    by_reason(t, "cohortd_events_rejected_total",
              "Events refused and never stored (acked REJECTED), by RejectCode.",
              &cohort__v1__reject_code__descriptor, "REJECT_", in->rejected_by,
              INGEST_REJECT_SLOTS);
    counter(t, "cohortd_events_unavailable_total",
            "Events not stored because a commit failed (acked UNAVAILABLE; agents retry).",
            in->unavailable);
    counter(t, "cohortd_ingest_replies_lost_total",
            "Ingest replies that could not be sent (agent gone or its queue full).",
            in->replies_lost);
    counter(t, "cohortd_ingest_connections_refused_total",
            "Agent connections closed when accepted: max_agent_connections or its limit per "
            "address was reached.",
            in->conns_refused);
    counter(t, "cohortd_commits_total", "Batch commits (writes) run, empty ones included.",
            in->commits);
    metrics_histogram(t, "cohortd_commit_batch_events",
                      "Events taken per durable batch commit (any result).", ingest_batch_bounds,
                      INGEST_BATCH_BUCKETS, s->hist.batch, (double)s->hist.batch_sum, 1);
    metrics_histogram(t, "cohortd_commit_duration_seconds",
                      "Time per batch that stored events: RocksDB WriteBatch write plus the WAL "
                      "sync that made it durable.",
                      ingest_latency_bounds, INGEST_LATENCY_BUCKETS, s->hist.latency,
                      s->hist.latency_sum, 0);

    gauge(t, "cohortd_agents_connected",
          "Agent connections to the ingest socket now (handshake done, not yet closed).",
          in->peers);
    gauge(t, "cohortd_subscribers_connected",
          "Subscriber connections to the status publish socket now.", pub->peers);

    /* Agencies: ids are organisation codes, never personal data. */
    family(t, "cohortd_agency_last_seen_timestamp_seconds", "gauge",
           "When an event of the agency was last acked ACCEPTED or DUPLICATE (Unix seconds; "
           "since the daemon started).");
    if (s->nagencies)
        qsort(s->agencies, s->nagencies, sizeof *s->agencies, by_agency);
    for (size_t i = 0; i < s->nagencies; i++) {
        put(t, "cohortd_agency_last_seen_timestamp_seconds{agency=\"");
        label_value(t, s->agencies[i].agency);
        put(t, "\"} %" PRId64 "\n", s->agencies[i].last_s);
    }

    /* Status publishing and snapshots. */
    counter(t, "cohortd_snapshot_requests_total",
            "Status snapshot requests received (served, failed or refused).", pub->snap_requests);
    counter(t, "cohortd_snapshots_served_total", "Status snapshots served completely.",
            pub->snapshots);
    counter(t, "cohortd_snapshot_requests_refused_total",
            "Snapshot requests answered with an error (malformed, or not allowed for the key).",
            pub->bad_requests);
    counter(t, "cohortd_snapshots_failed_total",
            "Snapshots or error replies abandoned because the client was gone or its queue full.",
            pub->snapshots_failed);
    counter(t, "cohortd_status_updates_published_total",
            "Status topic updates sent to subscribers (removals included).", pub->published);
    counter(t, "cohortd_status_updates_dropped_total",
            "Status messages the publish socket refused (updates or heartbeats).", pub->dropped);

    if (s->has_control) {
        counter(t, "cohortd_control_requests_total", "Control endpoint requests received.",
                s->control.requests);
        counter(t, "cohortd_control_requests_failed_total",
                "Control requests answered with an error (bad, busy, or a failed job).",
                s->control.failed);
        counter(t, "cohortd_backups_total", "Backups completed through the control endpoint.",
                s->control.backups);
    }
    return t->oom ? -ENOMEM : 0;
}

void metrics_render_live(metrics_text_t *t, uint64_t rss_bytes, double age_s)
{
    gauge(t, "cohortd_resident_memory_bytes", "Resident set size of the daemon, in bytes.",
          rss_bytes);
    family(t, "cohortd_metrics_age_seconds", "gauge",
           "Age of the loop-rendered part of this scrape, in seconds; above 1 the event loop "
           "did not answer in time (busy or hung).");
    put(t, "cohortd_metrics_age_seconds %.3f\n", age_s);
}

/* ------------------------------------------------------------- the loop --- */

/* ingest_each_agency callback: collects into a growing array. */
typedef struct {
    metrics_agency_t *a; /* the array */
    size_t n, cap;       /* used, allocated */
    int oom;             /* an append failed */
} agencies_t;

static void add_agency(void *arg, const char *agency, int64_t last_s)
{
    agencies_t *v = arg;
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 16;
        metrics_agency_t *a = realloc(v->a, cap * sizeof *a);
        if (!a) {
            v->oom = 1;
            return;
        }
        v->a = a;
        v->cap = cap;
    }
    v->a[v->n++] = (metrics_agency_t){agency, last_s};
}

/* Loop: renders the daemon's state and makes it the latest rendering. The
 * agency names are borrowed from ingest for the duration of the call. */
static void render_now(metrics_t *self)
{
    metrics_snapshot_t s;
    metrics_text_t t = {0};
    agencies_t ag = {0};
    memset(&s, 0, sizeof s);
    if (self->ingest) {
        ingest_stats(self->ingest, &s.ingest);
        ingest_histograms(self->ingest, &s.hist);
        s.head = ingest_head(self->ingest);
        ingest_each_agency(self->ingest, add_agency, &ag);
    }
    if (self->pub)
        publish_stats(self->pub, &s.pub);
    if (self->control) {
        s.has_control = 1;
        control_stats(self->control, &s.control);
    }
    s.agencies = ag.a;
    s.nagencies = ag.n;
    s.start_time = self->start_time;
    int rc = ag.oom ? -ENOMEM : metrics_render(&t, &s);
    free(ag.a);
    pthread_mutex_lock(&self->mu);
    if (rc == 0) { /* else the previous rendering stays, and ages */
        char *old = self->text;
        self->text = t.p;
        self->len = t.len;
        self->at_ns = uv_hrtime();
        t.p = old;
    }
    self->gen++; /* wakes the scrapes either way */
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    free(t.p);
    if (rc < 0)
        cohort_log(LOG_WARNING, "metrics: out of memory rendering a scrape; serving the last one");
}

static void on_async(uv_async_t *h)
{
    render_now(h->data);
}

/* ------------------------------------------------------ the HTTP thread --- */

/* Resident set size from /proc/self/statm (0 if unreadable). */
static uint64_t rss_bytes(const metrics_t *self)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &resident) != 2)
        resident = 0;
    fclose(f);
    return (uint64_t)resident * (uint64_t)self->page;
}

/* HTTP thread: the body of a scrape (malloc'd), or NULL on out-of-memory. */
static char *scrape(metrics_t *self, size_t *len)
{
    metrics_text_t t = {0};
    pthread_mutex_lock(&self->mu);
    if (!self->closing) {
        /* Loop callbacks run whole, one at a time: a rendering that
         * finishes after gen was read here began after every loop callback
         * that had finished by then (e.g. the one that sent an ack the
         * client saw before it scraped). */
        uint64_t want = self->gen + 1;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += METRICS_WAIT_MS / 1000;
        until.tv_nsec += (long)(METRICS_WAIT_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        if (self->asked < want) { /* else a concurrent scrape asked already */
            self->asked = want;
            uv_async_send(&self->async); /* closed only after this thread ends */
        }
        while (self->gen < want && !self->closing &&
               pthread_cond_timedwait(&self->cv, &self->mu, &until) != ETIMEDOUT)
            ;
    }
    if (self->text)
        put(&t, "%s", self->text);
    double age = (double)(uv_hrtime() - self->at_ns) / 1e9;
    pthread_mutex_unlock(&self->mu);
    metrics_render_live(&t, rss_bytes(self), age);
    if (t.oom) {
        metrics_text_free(&t);
        return NULL;
    }
    *len = t.len;
    return t.p;
}

/* Queues a response with body (static text, or malloc'd when owned). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                               int owned, const char *allow)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, owned ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (owned)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == MHD_HTTP_OK ? CONTENT_TYPE : "text/plain; charset=utf-8");
    if (allow)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* HTTP thread: answers each request at its first call (headers read; a
 * request body is never needed). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_len, void **req_cls)
{
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char not_allowed[] = "method not allowed: use GET\n";
    static char no_memory[] = "out of memory\n";
    metrics_t *self = cls;
    size_t len = 0;
    char *body;
    (void)version, (void)upload, (void)upload_len, (void)req_cls;
    if (strcmp(url, "/metrics") != 0)
        return respond(c, MHD_HTTP_NOT_FOUND, not_found, strlen(not_found), 0, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, strlen(not_allowed), 0,
                       "GET, HEAD");
    if (!(body = scrape(self, &len)))
        return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, no_memory, strlen(no_memory), 0, NULL);
    return respond(c, MHD_HTTP_OK, body, len, 1, NULL);
}

/* libmicrohttpd's error messages, at debug level (they concern local
 * clients only). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    (void)cls;
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\r\n")] = 0;
    cohort_log(LOG_DEBUG, "metrics: libmicrohttpd: %s", line);
}

/* ---------------------------------------------------------------- setup --- */

int metrics_parse_addr(const char *addr, struct sockaddr_storage *sa, socklen_t *salen, char *err,
                       size_t errlen)
{
    return cohort_addr_parse(addr, COHORT_ADDR_LOOPBACK, "metrics address", sa, salen, err, errlen);
}

/* Process start time in Unix seconds: /proc/self/stat's starttime (field
 * 22, clock ticks after boot) plus /proc/stat's btime; now if unreadable. */
static double process_start(void)
{
    char buf[1024], *p;
    unsigned long long ticks = 0, btime = 0;
    long hz = sysconf(_SC_CLK_TCK);
    size_t n;
    FILE *f = fopen("/proc/self/stat", "re");
    int ok = 0;
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        /* After the command name in parentheses (which may hold anything),
         * field 3 onward: starttime is the 20th of them. */
        if ((p = strrchr(buf, ')'))) {
            p++;
            for (int field = 3; field < 22 && p; field++)
                p = strchr(p + 1, ' ');
            ok = p && sscanf(p, " %llu", &ticks) == 1;
        }
    }
    if (ok && (f = fopen("/proc/stat", "re"))) {
        ok = 0;
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "btime %llu", &btime) == 1) {
                ok = 1;
                break;
            }
        fclose(f);
    }
    if (!ok || hz <= 0)
        return (double)time(NULL);
    return (double)btime + (double)ticks / (double)hz;
}

static void on_closed(uv_handle_t *h)
{
    metrics_t *self = h->data;
    free(self->text);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self);
}

int metrics_new(metrics_t **out, uv_loop_t *loop, const metrics_opts_t *o, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    pthread_condattr_t ca;
    int fd = -1, mfd = -1, one = 1, rc;
    metrics_t *self;
    *out = NULL;
    if ((rc = metrics_parse_addr(o->addr, &sa, &salen, err, errlen)) < 0)
        return rc;
    if (!(self = calloc(1, sizeof *self))) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    self->loop = loop;
    self->ingest = o->ingest;
    self->pub = o->pub;
    self->control = o->control;
    self->start_time = process_start();
    self->page = sysconf(_SC_PAGESIZE);
    if (pthread_condattr_init(&ca) != 0 || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
        pthread_cond_init(&self->cv, &ca) != 0) {
        free(self);
        snprintf(err, errlen, "initialising a condition variable failed");
        return -ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&self->mu, NULL);
    if ((rc = uv_async_init(loop, &self->async, on_async)) < 0) {
        snprintf(err, errlen, "metrics: uv_async_init: %s", uv_strerror(rc));
        goto fail;
    }
    self->async.data = self;
    self->async_inited = 1;
    uv_unref((uv_handle_t *)&self->async); /* metrics never keep the daemon running */
    render_now(self);

    /* The listening socket is ours, so a bind failure can say why. */
    if ((fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (sa.ss_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) != 0) ||
        bind(fd, (struct sockaddr *)&sa, salen) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        rc = -errno;
        snprintf(err, errlen, "binding the metrics endpoint %s: %s", o->addr, strerror(errno));
        goto fail;
    }
    { /* metrics are served on loopback only: check what was really bound */
        struct sockaddr_storage bound;
        socklen_t blen = sizeof bound;
        if (getsockname(fd, (struct sockaddr *)&bound, &blen) != 0 ||
            !endpoint_sockaddr_local((struct sockaddr *)&bound, blen)) {
            rc = -EPERM;
            snprintf(err, errlen, "the metrics endpoint %s is not bound to a loopback address",
                     o->addr);
            goto fail;
        }
    }
    /* libmicrohttpd gets its own descriptor (and closes it when stopped);
     * ours is closed whatever happens, so no path closes one twice. */
    if ((mfd = fcntl(fd, F_DUPFD_CLOEXEC, 0)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "metrics: dup: %s", strerror(errno));
        goto fail;
    }
    self->mhd = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
                                 NULL, NULL, on_request, self, MHD_OPTION_EXTERNAL_LOGGER,
                                 on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)mfd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S, MHD_OPTION_END);
    if (!self->mhd) {
        rc = -EIO;
        snprintf(err, errlen, "starting the metrics HTTP server (libmicrohttpd) on %s failed",
                 o->addr);
        goto fail;
    }
    close(fd);
    cohort_log(LOG_INFO, "metrics: serving http://%s/metrics", o->addr);
    *out = self;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    metrics_destroy(&self);
    return rc;
}

void metrics_destroy(metrics_t **self_p)
{
    metrics_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    pthread_mutex_lock(&self->mu);
    self->closing = 1;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    if (self->mhd)
        MHD_stop_daemon(self->mhd); /* joins the HTTP thread */
    self->mhd = NULL;
    self->ingest = NULL;
    self->pub = NULL;
    self->control = NULL;
    if (self->async_inited) {
        uv_close((uv_handle_t *)&self->async, on_closed);
        return;
    }
    free(self->text);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    free(self);
}
