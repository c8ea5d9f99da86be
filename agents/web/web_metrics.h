/* web_metrics.h: cohort-web's Prometheus endpoint (text exposition format
 * 0.0.4) at http://ADDR/metrics, ADDR a loopback HOST:PORT ([web] metrics;
 * docs/operations.md lists every metric).
 *
 * Contracts:
 * - The counters are process-wide atomics (one cohort-web per process),
 *   counted by whoever sees the event (web_metrics_count); the gauges are
 *   read at each scrape from the borrowed feed, sessions and users, each
 *   through its own thread-safe call.
 * - HTTP is libmicrohttpd's, plain text on its own thread, GET (and HEAD)
 *   /metrics only: any other path is 404, any other method 405; at most
 *   WEB_METRICS_CONNECTIONS connections. Only loopback addresses are
 *   accepted (lib/cohort_addr.h): the endpoint has no authentication.
 * - Nothing personal: counts and states only (no user names, no topics). */
#ifndef WEB_METRICS_H
#define WEB_METRICS_H
#include <stddef.h>

#include "web_feed.h"
#include "web_session.h"
#include "web_users.h"

#define WEB_METRICS_CONNECTIONS 8 /* concurrent scrape connections */

/* What is counted. */
typedef enum {
    WEB_M_HTTP_2XX = 0, /* responses by status class */
    WEB_M_HTTP_3XX,
    WEB_M_HTTP_4XX,
    WEB_M_HTTP_5XX,
    WEB_M_LOGIN_OK,                 /* logins that made a session */
    WEB_M_LOGIN_FAILED,             /* wrong name or password */
    WEB_M_LOGIN_LIMITED,            /* refused by the rate limit, password not checked */
    WEB_M_CSRF_REFUSED,             /* POSTs refused for a missing or wrong CSRF token */
    WEB_M_STREAMS_OPENED,           /* event streams (/events) opened */
    WEB_M_STREAMS_CLOSED,           /* and closed */
    WEB_M_EXPORTS,                  /* CSV and XLSX files served */
    WEB_M_REPORTS,                  /* reports served (HTML or PDF) */
    WEB_M_USERS_RELOADED,           /* users file reloads (SIGHUP) that took effect */
    WEB_M_USERS_RELOAD_FAILED,      /* and that were refused (the old users stay) */
    WEB_M_SESSIONS_ENDED_BY_RELOAD, /* sessions ended because their user went or changed */
    WEB_M_COUNT
} web_counter_t;

/* Adds one to counter c. Any thread. */
void web_metrics_count(web_counter_t c);

/* Counts a response of HTTP status (its class). Any thread. */
void web_metrics_status(unsigned status);

typedef struct web_metrics_t web_metrics_t;

/* What the gauges read (borrowed; they must outlive the endpoint). */
typedef struct {
    const char *addr;         /* HOST:PORT, loopback */
    web_feed_t *feed;         /* the documents */
    web_sessions_t *sessions; /* the sessions */
    web_users_t *users;       /* the users */
} web_metrics_opts_t;

/* Checks addr as a metrics address (loopback HOST:PORT). Returns 0, or
 * -EINVAL with the reason in err. */
int web_metrics_check_addr(const char *addr, char *err, size_t errlen);

/* Binds o->addr and serves. Returns the endpoint, or NULL with the reason
 * in err. */
web_metrics_t *web_metrics_new(const web_metrics_opts_t *o, char *err, size_t errlen);

/* Stops serving and nulls *self_p. NULL is fine. */
void web_metrics_destroy(web_metrics_t **self_p);

/* The port it listens on. */
unsigned web_metrics_port(const web_metrics_t *self);

/* Renders the metrics into a malloc'd NUL-ended text (the caller frees
 * it); NULL when out of memory. o's gauges as above. */
char *web_metrics_render(const web_metrics_opts_t *o);

#endif
