/* web_metrics.c: cohort-web's Prometheus endpoint (see web_metrics.h). */
#include "web_metrics.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cohort_addr.h"

static _Atomic unsigned long long counters[WEB_M_COUNT]; /* process-wide, see the header */
static _Atomic long long started;                        /* process start (first count or render) */

struct web_metrics_t {
    web_metrics_opts_t o;   /* what the gauges read (addr not kept) */
    struct MHD_Daemon *mhd; /* the HTTP server */
};

void web_metrics_count(web_counter_t c)
{
    if ((unsigned)c < WEB_M_COUNT)
        atomic_fetch_add_explicit(&counters[c], 1, memory_order_relaxed);
}

void web_metrics_status(unsigned status)
{
    if (status >= 200 && status < 600)
        web_metrics_count((web_counter_t)(WEB_M_HTTP_2XX + (status / 100 - 2)));
}

static unsigned long long get(web_counter_t c)
{
    return atomic_load_explicit(&counters[c], memory_order_relaxed);
}

/* One family: HELP, TYPE and its samples appended to f. */
static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *web_metrics_render(const web_metrics_opts_t *o)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;
    long long t0 = atomic_load(&started);
    if (!t0) {
        long long expect = 0;
        atomic_compare_exchange_strong(&started, &expect, (long long)time(NULL));
        t0 = atomic_load(&started);
    }
    family(f, "cohort_web_responses_total", "counter", "HTTPS responses by status class.");
    static const char *const cls[] = {"2xx", "3xx", "4xx", "5xx"};
    for (int i = 0; i < 4; i++)
        fprintf(f, "cohort_web_responses_total{class=\"%s\"} %llu\n", cls[i],
                get((web_counter_t)(WEB_M_HTTP_2XX + i)));
    family(f, "cohort_web_logins_total", "counter",
           "Logins by outcome (rate_limited: refused without checking the password).");
    fprintf(f, "cohort_web_logins_total{outcome=\"ok\"} %llu\n", get(WEB_M_LOGIN_OK));
    fprintf(f, "cohort_web_logins_total{outcome=\"failed\"} %llu\n", get(WEB_M_LOGIN_FAILED));
    fprintf(f, "cohort_web_logins_total{outcome=\"rate_limited\"} %llu\n",
            get(WEB_M_LOGIN_LIMITED));
    family(f, "cohort_web_csrf_refused_total", "counter",
           "Form posts refused for a missing or wrong CSRF token.");
    fprintf(f, "cohort_web_csrf_refused_total %llu\n", get(WEB_M_CSRF_REFUSED));
    family(f, "cohort_web_event_streams", "gauge", "Open live-update streams (/events).");
    unsigned long long so = get(WEB_M_STREAMS_OPENED), sc = get(WEB_M_STREAMS_CLOSED);
    fprintf(f, "cohort_web_event_streams %llu\n", so > sc ? so - sc : 0);
    family(f, "cohort_web_exports_total", "counter", "CSV and XLSX files served.");
    fprintf(f, "cohort_web_exports_total %llu\n", get(WEB_M_EXPORTS));
    family(f, "cohort_web_reports_total", "counter", "Board reports served (HTML or PDF).");
    fprintf(f, "cohort_web_reports_total %llu\n", get(WEB_M_REPORTS));
    family(f, "cohort_web_users_reloads_total", "counter",
           "Users file reloads on SIGHUP by outcome (failed: the old users stay).");
    fprintf(f, "cohort_web_users_reloads_total{outcome=\"ok\"} %llu\n", get(WEB_M_USERS_RELOADED));
    fprintf(f, "cohort_web_users_reloads_total{outcome=\"failed\"} %llu\n",
            get(WEB_M_USERS_RELOAD_FAILED));
    family(f, "cohort_web_sessions_ended_by_reload_total", "counter",
           "Sessions ended by a reload because their user was removed or changed.");
    fprintf(f, "cohort_web_sessions_ended_by_reload_total %llu\n",
            get(WEB_M_SESSIONS_ENDED_BY_RELOAD));
    if (o && o->users) {
        family(f, "cohort_web_users", "gauge", "Users in the users file.");
        fprintf(f, "cohort_web_users %zu\n", web_users_count(o->users));
    }
    if (o && o->sessions) {
        family(f, "cohort_web_sessions", "gauge", "Sessions held (idle ones not yet removed too).");
        fprintf(f, "cohort_web_sessions %zu\n", web_session_count(o->sessions));
    }
    if (o && o->feed) {
        web_feed_stats_t st;
        web_feed_stats(o->feed, &st);
        family(f, "cohort_web_status_documents", "gauge", "Status documents held.");
        fprintf(f, "cohort_web_status_documents %zu\n", st.documents);
        family(f, "cohort_web_status_synced", "gauge",
               "1 when the subscription to cohortd holds a complete, current state.");
        fprintf(f, "cohort_web_status_synced %d\n", st.synced);
        family(f, "cohort_web_status_changes_total", "counter",
               "Changes applied to the held documents.");
        fprintf(f, "cohort_web_status_changes_total %llu\n", (unsigned long long)st.generation);
        family(f, "cohort_web_status_last_change_timestamp_seconds", "gauge",
               "When a document last changed (Unix time; 0: never).");
        fprintf(f, "cohort_web_status_last_change_timestamp_seconds %lld\n",
                (long long)st.last_change);
    }
    family(f, "cohort_web_start_time_seconds", "gauge", "When cohort-web started (Unix time).");
    fprintf(f, "cohort_web_start_time_seconds %lld\n", t0);
    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, char *body,
                             const char *ctype)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    web_metrics_t *self = cls;
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    if (strcmp(url, "/metrics") != 0)
        return reply(c, MHD_HTTP_NOT_FOUND, strdup("not found: only /metrics is served\n"),
                     "text/plain; charset=utf-8");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("method not allowed\n"),
                     "text/plain; charset=utf-8");
    char *text = web_metrics_render(&self->o);
    if (!text)
        return MHD_NO;
    return reply(c, MHD_HTTP_OK, text, "text/plain; version=0.0.4; charset=utf-8");
}

int web_metrics_check_addr(const char *addr, char *err, size_t errlen)
{
    return cohort_addr_parse(addr, COHORT_ADDR_LOOPBACK, "metrics address", NULL, NULL, err,
                             errlen);
}

web_metrics_t *web_metrics_new(const web_metrics_opts_t *o, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (cohort_addr_parse(o->addr, COHORT_ADDR_LOOPBACK, "metrics address", &sa, NULL, err,
                          errlen) < 0)
        return NULL;
    web_metrics_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->o = *o;
    self->o.addr = NULL;
    free(web_metrics_render(NULL)); /* fixes the start time */
    self->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG |
                                     (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
                                 0, NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR,
                                 (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT,
                                 (unsigned)WEB_METRICS_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                 10u, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(err, errlen, "cannot serve metrics on %s (address in use?)", o->addr);
        free(self);
        return NULL;
    }
    return self;
}

void web_metrics_destroy(web_metrics_t **self_p)
{
    web_metrics_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    free(self);
}

unsigned web_metrics_port(const web_metrics_t *self)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
