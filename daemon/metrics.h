/* metrics.h: the daemon's Prometheus endpoint (text exposition format
 * 0.0.4), served by libmicrohttpd at http://ADDR/metrics, ADDR a loopback
 * HOST:PORT (--metrics; docs/operations.md lists every metric).
 *
 * Contracts:
 * - HTTP is libmicrohttpd's, on its own thread. GET (and HEAD) /metrics
 *   only: any other path is 404, any other method on /metrics 405. At most
 *   METRICS_MAX_CONNECTIONS connections at once; an idle one is closed
 *   after 10 s.
 * - The daemon's state (ingest, publish and control counters, histograms,
 *   the log head, agencies' last-seen times) is read on the loop thread
 *   only: a scrape asks the loop (uv_async) for a fresh rendering and waits
 *   for it at most METRICS_WAIT_MS. If the loop does not answer in time
 *   (busy, or hung), the previous rendering is served and
 *   cohortd_metrics_age_seconds says how old it is. A rendering served in
 *   time reflects everything the loop did before the request arrived (an
 *   ack an agent has seen is counted); concurrent scrapes share one. The
 *   HTTP thread itself reads only the rendered text (under a mutex) and
 *   /proc/self/statm.
 * - Only loopback addresses are accepted: the endpoint has no
 *   authentication. Metrics carry agency ids (organisation codes) and
 *   counts, never a participant or personal data.
 * - libuv close contract: metrics_destroy stops the HTTP server (joining
 *   its thread) before it closes its loop handle, and reads nothing
 *   borrowed after it returns; call it before the ingest, publisher and
 *   control it reads are destroyed, then run the loop to free it. */
#ifndef COHORT_METRICS_H
#define COHORT_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "control.h"
#include "ingest.h"
#include "publish.h"

#define METRICS_WAIT_MS 1000       /* longest a scrape waits for the loop */
#define METRICS_MAX_CONNECTIONS 16 /* concurrent HTTP connections */

typedef struct metrics_t metrics_t;

/* What the endpoint reports on. Everything is borrowed and must stay valid
 * until metrics_destroy. */
typedef struct {
    const char *addr;   /* HOST:PORT, a loopback address (metrics_parse_addr) */
    ingest_t *ingest;   /* the ingest pipeline */
    publish_t *pub;     /* the status publisher */
    control_t *control; /* the control endpoint, or NULL when it is off */
} metrics_opts_t;

/* Parses HOST:PORT, where HOST is an IPv4 address in 127.0.0.0/8,
 * "localhost" (127.0.0.1) or "[::1]", and PORT is 1-65535. Fills *sa and
 * *salen when they are not NULL (so a config check can call it with NULL).
 * Returns 0, or -EINVAL with the reason in err. */
int metrics_parse_addr(const char *addr, struct sockaddr_storage *sa, socklen_t *salen, char *err,
                       size_t errlen);

/* Binds o->addr and starts serving on libmicrohttpd's thread; the loop
 * renders the first snapshot now. Returns 0 and *out, or a negative errno
 * with the reason in err (e.g. the address is in use; nothing is left
 * open). Loop thread. */
int metrics_new(metrics_t **out, uv_loop_t *loop, const metrics_opts_t *o, char *err,
                size_t errlen);

/* Stops the HTTP server (a scrape in progress is answered first, without
 * waiting for the loop), then closes the loop handle; the memory is freed
 * in its close callback. Nulls *self_p. Idempotent. Loop thread. */
void metrics_destroy(metrics_t **self_p);

/* ---- rendering (pure functions, exposed for the unit test) ---- */

/* A growing text buffer. Zero-initialise; free with metrics_text_free. */
typedef struct {
    char *p;    /* the text, NUL-terminated (NULL while empty) */
    size_t len; /* its length */
    size_t cap; /* bytes allocated */
    int oom;    /* an append failed: the text is incomplete */
} metrics_text_t;

/* One agency's last-seen time. */
typedef struct {
    const char *agency; /* the agency id */
    int64_t last_s;     /* Unix seconds */
} metrics_agency_t;

/* Everything the loop collects for one rendering. */
typedef struct {
    ingest_stats_t ingest;      /* ingest counters */
    ingest_hist_t hist;         /* commit histograms */
    uint64_t head;              /* the log head sequence */
    publish_stats_t pub;        /* publisher counters */
    int has_control;            /* control is on: control is valid */
    control_stats_t control;    /* control counters */
    metrics_agency_t *agencies; /* last-seen times, any order */
    size_t nagencies;           /* their number */
    double start_time;          /* process start, Unix seconds */
} metrics_snapshot_t;

/* Appends the exposition text of s (every family with # HELP and # TYPE).
 * Returns 0, or -ENOMEM (t->oom set). The agencies array is sorted in
 * place by id. */
int metrics_render(metrics_text_t *t, metrics_snapshot_t *s);

/* Appends the families read at scrape time: resident memory (bytes) and
 * the age of the loop's rendering (seconds). */
void metrics_render_live(metrics_text_t *t, uint64_t rss_bytes, double age_s);

/* Appends histogram name with help: counts[0..n] per bucket as in
 * ingest_hist_t (not cumulative; counts[n] above the last bound), rendered
 * cumulatively with le="+Inf" == _count. sum is printed as an integer
 * when integer_sum. */
void metrics_histogram(metrics_text_t *t, const char *name, const char *help, const double *bounds,
                       size_t n, const uint64_t *counts, double sum, int integer_sum);

/* Frees the text and zeroes t. */
void metrics_text_free(metrics_text_t *t);

#endif
