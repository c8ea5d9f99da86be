/* web_http.c: cohort-web's HTTPS server and routes (see web_http.h). */
#include "web_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cohort_addr.h"
#include "web_export.h"
#include "web_metrics.h"
#include "web_page.h"
#include "web_report.h"
#include "web_static.h"

#define LOGIN_COOKIE "__Host-cohort-login" /* the login form's CSRF cookie */
#define MAX_BODY 8192                      /* largest form body */
#define KEEPALIVE_S 15                     /* SSE comment interval */

struct web_http_t {
    web_http_opts_t o;      /* what it serves from */
    struct MHD_Daemon *mhd; /* the server */
    char *cert, *key;       /* PEM texts */
    pthread_mutex_t verify; /* one password check at a time: each takes 64 MiB (argon2id) */
};

/* Per-request state (POST forms). */
typedef struct {
    struct MHD_PostProcessor *pp;        /* urlencoded form parser, or NULL */
    size_t body;                         /* bytes of body seen */
    int too_big;                         /* the body passed MAX_BODY */
    char user[WEB_NAME_MAX + 2];         /* field user */
    char password[WEB_PASSWORD_MAX + 2]; /* field password (wiped at the end) */
    char csrf[WEB_SESSION_ID_HEX + 2];   /* field csrf */
} req_t;

static void logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logline(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("cohort-web: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void security_headers(struct MHD_Response *r, int nostore)
{
    MHD_add_response_header(r, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    if (nostore)
        MHD_add_response_header(r, "Cache-Control", "no-store");
}

/* Queues body (malloc'd, taken) with the headers every response carries;
 * cookie (NULL: none) as Set-Cookie, location (NULL: none) as Location. */
static enum MHD_Result send_page(struct MHD_Connection *c, unsigned status, char *body, size_t len,
                                 const char *ctype, const char *cookie, const char *cookie2,
                                 const char *location)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    security_headers(r, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (cookie)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    if (cookie2)
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie2);
    if (location)
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    web_metrics_status(status);
    return rc;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    char *b = strdup(text);
    return b ? send_page(c, status, b, strlen(b), "text/plain; charset=utf-8", NULL, NULL, NULL)
             : MHD_NO;
}

static enum MHD_Result redirect(struct MHD_Connection *c, const char *to, const char *cookie,
                                const char *cookie2)
{
    char *b = strdup("");
    return b ? send_page(c, MHD_HTTP_SEE_OTHER, b, 0, "text/plain; charset=utf-8", cookie, cookie2,
                         to)
             : MHD_NO;
}

/* An open_memstream for a page. */
typedef struct {
    FILE *f;
    char *buf;
    size_t len;
} mem_t;

static int mem_open(mem_t *m)
{
    m->buf = NULL;
    m->len = 0;
    m->f = open_memstream(&m->buf, &m->len);
    return m->f ? 0 : -ENOMEM;
}

static enum MHD_Result mem_send(struct MHD_Connection *c, mem_t *m, unsigned status,
                                const char *cookie, const char *cookie2)
{
    if (fclose(m->f) != 0) {
        free(m->buf);
        return MHD_NO;
    }
    return send_page(c, status, m->buf, m->len, "text/html; charset=utf-8", cookie, cookie2, NULL);
}

static enum MHD_Result not_found(struct MHD_Connection *c)
{
    mem_t m;
    if (mem_open(&m) < 0)
        return MHD_NO;
    web_page_not_found(m.f);
    return mem_send(c, &m, MHD_HTTP_NOT_FOUND, NULL, NULL);
}

static void client_addr(struct MHD_Connection *c, char *out, size_t len)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, len, "?");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ci->client_addr)->sin_addr, out,
                  (socklen_t)len);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ci->client_addr)->sin6_addr, out,
                  (socklen_t)len);
}

/* ---- the login form ---------------------------------------------------- */

static enum MHD_Result login_form(struct MHD_Connection *c, unsigned status, const char *msg)
{
    char tok[WEB_SESSION_ID_HEX + 1], cookie[200];
    mem_t m;
    /* The browser's login token if it has one: another tab, or a request
     * the browser makes by itself (/favicon.ico) that ends up here, must
     * not invalidate the form already shown. */
    const char *have = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, LOGIN_COOKIE);
    if (have && strlen(have) == WEB_SESSION_ID_HEX &&
        strspn(have, "0123456789abcdef") == WEB_SESSION_ID_HEX)
        memcpy(tok, have, sizeof tok);
    else
        web_random_hex(tok);
    snprintf(cookie, sizeof cookie, LOGIN_COOKIE "=%s; Secure; HttpOnly; SameSite=Strict; Path=/",
             tok);
    if (mem_open(&m) < 0)
        return MHD_NO;
    web_page_login(m.f, tok, msg);
    return mem_send(c, &m, status, cookie, NULL);
}

static enum MHD_Result login_post(web_http_t *self, struct MHD_Connection *c, req_t *rq)
{
    char addr[INET6_ADDRSTRLEN + 1], id[WEB_SESSION_ID_HEX + 1], cookie[200];
    const char *tok = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, LOGIN_COOKIE);
    time_t now = time(NULL);
    client_addr(c, addr, sizeof addr);
    if (!tok || strlen(tok) != WEB_SESSION_ID_HEX || strlen(rq->csrf) != WEB_SESSION_ID_HEX ||
        sodium_memcmp(tok, rq->csrf, WEB_SESSION_ID_HEX) != 0) {
        logline("login refused from %s: the form's CSRF token is missing or wrong", addr);
        web_metrics_count(WEB_M_CSRF_REFUSED);
        return login_form(c, MHD_HTTP_FORBIDDEN, "The form had expired. Please try again.");
    }
    if (web_login_allowed(self->o.sessions, rq->user, addr, now) < 0) {
        logline("login refused for user %s from %s: too many failed logins", rq->user, addr);
        web_metrics_count(WEB_M_LOGIN_LIMITED);
        return login_form(c, MHD_HTTP_TOO_MANY_REQUESTS,
                          "Too many failed logins. Please wait 15 minutes and try again.");
    }
    web_user_t u;
    pthread_mutex_lock(&self->verify);
    int rc = web_users_verify(self->o.users, rq->user, rq->password, &u);
    pthread_mutex_unlock(&self->verify);
    sodium_memzero(rq->password, sizeof rq->password);
    web_login_result(self->o.sessions, rq->user, addr, rc == 0, now);
    if (rc < 0) {
        logline("login failed for user %s from %s", rq->user, addr);
        web_metrics_count(WEB_M_LOGIN_FAILED);
        return login_form(c, MHD_HTTP_UNAUTHORIZED, "Wrong user name or password.");
    }
    web_session_t s;
    web_session_create(self->o.sessions, &u, now, id, &s);
    logline("login: user %s (%s) from %s", u.name, cohort_role_name(u.role), addr);
    web_metrics_count(WEB_M_LOGIN_OK);
    snprintf(cookie, sizeof cookie,
             WEB_COOKIE_NAME "=%s; Secure; HttpOnly; SameSite=Strict; Path=/", id);
    sodium_memzero(id, sizeof id);
    return redirect(c, "/", cookie,
                    LOGIN_COOKIE "=; Secure; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
}

/* ---- pages ------------------------------------------------------------- */

typedef struct {
    web_feed_t *feed;
    FILE *f;
    size_t n;
} list_t;

static void list_one(void *arg, const char *topic)
{
    list_t *l = arg;
    json_t *d = web_feed_get(l->feed, topic, NULL);
    if (!d)
        return;
    web_page_home_topic(l->f, topic, d);
    json_decref(d);
    l->n++;
}

static enum MHD_Result home(web_http_t *self, struct MHD_Connection *c, const web_session_t *s)
{
    static const char *const groups[][2] = {
        {"programme/", "Programmes"},
        {"cohort/", "Cohorts"},
        {"release/", "Released breakdowns (by ethnic group, gender, disability)"},
        {"agency/", "Your agency's people"}};
    mem_t m;
    size_t total = 0;
    if (mem_open(&m) < 0)
        return MHD_NO;
    web_page_home_begin(m.f, s);
    for (size_t g = 0; g < 4; g++) {
        if (!cohort_scope_may_read(s->user.role, s->user.agency, groups[g][0]) &&
            !(g == 3 && s->user.role == COHORT_ROLE_AGENCY_HR))
            continue;
        list_t l = {self->o.feed, m.f, 0};
        web_page_home_group(m.f, groups[g][1]);
        web_feed_each(self->o.feed, groups[g][0], s->user.role, s->user.agency, list_one, &l);
        web_page_home_group_end(m.f, l.n);
        total += l.n;
    }
    web_page_home_end(m.f, total);
    return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
}

/* 1 if url is a document page's path: /programme/, /cohort/ or /agency/ and
 * then only a-z A-Z 0-9 . - _ and single slashes. */
static int doc_path(const char *url)
{
    if (strncmp(url, "/programme/", 11) != 0 && strncmp(url, "/cohort/", 8) != 0 &&
        strncmp(url, "/agency/", 8) != 0 && strncmp(url, "/release/", 9) != 0)
        return 0;
    if (strlen(url) > 512)
        return 0;
    for (const char *p = url + 1; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '.' || *p == '-' || *p == '_' || (*p == '/' && p[1] != '/' && p[1]);
        if (!ok)
            return 0;
    }
    return 1;
}

static enum MHD_Result doc_page(web_http_t *self, struct MHD_Connection *c, const web_session_t *s,
                                const char *url)
{
    const char *topic = url + 1;
    if (!doc_path(url) || !cohort_scope_may_read(s->user.role, s->user.agency, topic))
        return not_found(c);
    time_t at = 0;
    json_t *d = web_feed_get(self->o.feed, topic, &at);
    if (!d)
        return not_found(c);
    mem_t m;
    if (mem_open(&m) < 0) {
        json_decref(d);
        return MHD_NO;
    }
    json_t *ctx = web_export_context(self->o.feed, &s->user, topic);
    web_page_topic_ctx(m.f, s, topic, d, ctx, at);
    json_decref(ctx);
    json_decref(d);
    return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
}

/* GET /releases/<release topic without "release/">: its dated releases
 * (web_page_releases), or with ?number=N that release as published
 * (web_page_topic). Scope as for the release page itself: 404 outside, and
 * for a topic that neither has releases nor is held; 503 when cohortd
 * does not answer. */
static enum MHD_Result releases_page(web_http_t *self, struct MHD_Connection *c,
                                     const web_session_t *s, const char *url)
{
    char path[600], err[256];
    const char *topic = path + 1,
               *num = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "number");
    json_t *vs, *pick = NULL, *v;
    size_t i;
    mem_t m;
    if (strlen(url) > 512 || snprintf(path, sizeof path, "/release/%s", url + 10) < 0 ||
        !doc_path(path) || !cohort_scope_may_read(s->user.role, s->user.agency, topic))
        return not_found(c);
    if (!(vs = web_feed_releases(self->o.feed, topic, err, sizeof err))) {
        logline("releases of %s: %s", topic, err);
        return send_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "the release history is unavailable\n");
    }
    if (json_array_size(vs) == 0) { /* an unknown topic, as doc_page: not found */
        json_t *cur = web_feed_get(self->o.feed, topic, NULL);
        json_decref(cur);
        if (!cur) {
            json_decref(vs);
            return not_found(c);
        }
    }
    json_array_foreach(vs, i, v)
    {
        char want[32];
        snprintf(want, sizeof want, "%" JSON_INTEGER_FORMAT,
                 json_integer_value(json_object_get(json_object_get(v, "release"), "number")));
        if (num && strcmp(num, want) == 0)
            pick = v;
    }
    if ((num && !pick) || mem_open(&m) < 0) {
        json_decref(vs);
        return num && !pick ? not_found(c) : MHD_NO;
    }
    if (pick)
        web_page_topic(m.f, s, topic, pick, time(NULL));
    else
        web_page_releases(m.f, s, topic, vs);
    json_decref(vs);
    return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
}

/* GET /export/...: a CSV or XLSX file in the user's scope, as an attachment
 * (web_export.h); 404 like a page otherwise. */
static enum MHD_Result export_file(web_http_t *self, struct MHD_Connection *c,
                                   const web_session_t *s, const char *url)
{
    web_export_t x;
    char disp[320];
    int rc = web_export_make(self->o.feed, &s->user, url, &x);
    if (rc == -ENOENT)
        return not_found(c);
    if (rc < 0)
        return send_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "the export failed\n");
    struct MHD_Response *r = MHD_create_response_from_buffer(x.len, x.body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(x.body);
        return MHD_NO;
    }
    security_headers(r, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, x.ctype);
    snprintf(disp, sizeof disp, "attachment; filename=\"%s\"", x.filename);
    MHD_add_response_header(r, "Content-Disposition", disp);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    web_metrics_status(MHD_HTTP_OK);
    web_metrics_count(WEB_M_EXPORTS);
    return ret;
}

/* ---- Server-Sent Events ------------------------------------------------ */

typedef struct {
    web_http_t *self;                 /* the server */
    char sid[WEB_SESSION_ID_HEX + 1]; /* the session it belongs to */
    web_user_t user;                  /* whose scope */
    uint64_t gen;                     /* the feed generation sent up to */
    time_t last;                      /* when something was last sent */
    char *out;                        /* pending bytes */
    size_t len, pos;                  /* their length, how many are sent */
} sse_t;

static void sse_add(void *arg, const char *topic)
{
    sse_t *e = arg;
    size_t tl = strlen(topic);
    char *n = realloc(e->out, e->len + tl + 32);
    if (!n)
        return;
    e->out = n;
    e->len += (size_t)sprintf(e->out + e->len, "event: update\ndata: %s\n\n", topic);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_t *e = cls;
    (void)pos;
    while (e->pos == e->len) {
        free(e->out);
        e->out = NULL;
        e->len = e->pos = 0;
        web_session_t s;
        time_t now = time(NULL);
        if (web_session_find(e->self->o.sessions, e->sid, now, &s) < 0)
            return MHD_CONTENT_READER_END_OF_STREAM; /* logged out or expired */
        int64_t g = web_feed_wait(e->self->o.feed, e->gen, 1000);
        if (g < 0)
            return MHD_CONTENT_READER_END_OF_STREAM; /* shutting down */
        if ((uint64_t)g > e->gen) {
            web_feed_changed(e->self->o.feed, e->gen, e->user.role, e->user.agency, sse_add, e);
            e->gen = (uint64_t)g;
        }
        if (e->len == 0 && time(NULL) - e->last >= KEEPALIVE_S) {
            e->out = strdup(": keep-alive\n\n");
            e->len = e->out ? strlen(e->out) : 0;
        }
    }
    size_t n = e->len - e->pos < max ? e->len - e->pos : max;
    memcpy(buf, e->out + e->pos, n);
    e->pos += n;
    e->last = time(NULL);
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    sse_t *e = cls;
    sodium_memzero(e->sid, sizeof e->sid);
    free(e->out);
    free(e);
    web_metrics_count(WEB_M_STREAMS_CLOSED);
}

static enum MHD_Result events(web_http_t *self, struct MHD_Connection *c, const web_session_t *s,
                              const char *sid)
{
    sse_t *e = calloc(1, sizeof *e);
    if (!e)
        return MHD_NO;
    e->self = self;
    snprintf(e->sid, sizeof e->sid, "%s", sid);
    e->user = s->user;
    e->gen = web_feed_generation(self->o.feed);
    e->last = time(NULL);
    web_metrics_count(WEB_M_STREAMS_OPENED); /* sse_free counts the close */
    e->out = strdup("retry: 3000\n: connected\n\n");
    e->len = e->out ? strlen(e->out) : 0;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, e, sse_free);
    if (!r) {
        sse_free(e);
        return MHD_NO;
    }
    security_headers(r, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    web_metrics_status(MHD_HTTP_OK);
    return rc;
}

/* ---- static files ------------------------------------------------------ */

static enum MHD_Result static_file(struct MHD_Connection *c, const char *url)
{
    const unsigned char *data = NULL;
    size_t len = 0;
    const char *ctype = NULL;
    if (strcmp(url, "/static/cohort-web.css") == 0) {
        data = web_static_css, len = web_static_css_len, ctype = "text/css; charset=utf-8";
    } else if (strcmp(url, "/static/cohort-web.js") == 0) {
        data = web_static_js, len = web_static_js_len, ctype = "text/javascript; charset=utf-8";
    } else if (strcmp(url, "/static/cohort-report.css") == 0) {
        data = web_static_report_css, len = web_static_report_css_len,
        ctype = "text/css; charset=utf-8";
    } else
        return not_found(c);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    security_headers(r, 0);
    MHD_add_response_header(r, "Cache-Control", "no-cache");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    web_metrics_status(MHD_HTTP_OK);
    return rc;
}

/* ---- board reports (web_report.h) ------------------------------------- */

static enum MHD_Result reports(web_http_t *self, struct MHD_Connection *c, const web_session_t *s,
                               const char *url)
{
    const web_user_t *u = &s->user;
    mem_t m;
    if (strcmp(url, "/reports") == 0) {
        if (mem_open(&m) < 0)
            return MHD_NO;
        web_report_index(m.f, self->o.report_dir, self->o.feed, s);
        return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
    }
    if (strncmp(url, "/report/", 8) == 0) { /* the current report, to print */
        static const char *const css[] = {"/static/cohort-web.css", "/static/cohort-report.css",
                                          NULL};
        web_report_style_t st = {css, 0};
        web_report_of_t of;
        if (web_report_parse_topic(url + 8, &of) < 0 ||
            !cohort_scope_may_read(u->role, u->agency, url + 8) || mem_open(&m) < 0)
            return not_found(c);
        if (web_report_html(m.f, self->o.feed, url + 8, &st, time(NULL)) < 0) {
            fclose(m.f);
            free(m.buf);
            return not_found(c);
        }
        return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
    }
    /* /reports/PROG/DATE/FILE: a path only from its parsed parts */
    web_report_file_t rf;
    size_t size = 0;
    int fd;
    if (!self->o.report_dir || web_report_parse_file(url + 9, &rf) < 0 ||
        !cohort_scope_may_read(u->role, u->agency, rf.topic) ||
        (fd = web_report_open(self->o.report_dir, &rf, &size)) < 0)
        return not_found(c);
    struct MHD_Response *r = MHD_create_response_from_fd(size, fd);
    if (!r) {
        close(fd);
        return MHD_NO;
    }
    security_headers(r, 1);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rf.ctype);
    enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- the request handler ----------------------------------------------- */

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *filename, const char *content_type,
                                const char *transfer_encoding, const char *data, uint64_t off,
                                size_t size)
{
    req_t *rq = cls;
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    char *dst = NULL;
    size_t cap = 0;
    if (strcmp(key, "user") == 0)
        dst = rq->user, cap = sizeof rq->user;
    else if (strcmp(key, "password") == 0)
        dst = rq->password, cap = sizeof rq->password;
    else if (strcmp(key, "csrf") == 0)
        dst = rq->csrf, cap = sizeof rq->csrf;
    if (!dst)
        return MHD_YES;
    if (off + size >= cap) { /* too long: kept invalid (one byte too many) */
        size = off < cap - 1 ? cap - 1 - (size_t)off : 0;
    }
    if (size)
        memcpy(dst + off, data, size);
    return MHD_YES;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    req_t *rq = *con_cls;
    if (!rq)
        return;
    if (rq->pp)
        MHD_destroy_post_processor(rq->pp);
    sodium_memzero(rq, sizeof *rq);
    free(rq);
    *con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    web_http_t *self = cls;
    (void)version;
    int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    int post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if (!get && !post)
        return send_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
    if (post) {
        req_t *rq = *con_cls;
        if (!rq) { /* first call: headers only */
            if (!(rq = calloc(1, sizeof *rq)))
                return MHD_NO;
            *con_cls = rq;
            rq->pp = MHD_create_post_processor(c, 1024, on_field, rq);
            return MHD_YES;
        }
        if (*upload_size) {
            rq->body += *upload_size;
            if (rq->body > MAX_BODY)
                rq->too_big = 1;
            else if (rq->pp)
                MHD_post_process(rq->pp, upload, *upload_size);
            *upload_size = 0;
            return MHD_YES;
        }
        if (rq->too_big)
            return send_text(c, MHD_HTTP_CONTENT_TOO_LARGE, "form too large\n");
        if (!rq->pp)
            return send_text(c, MHD_HTTP_BAD_REQUEST, "expected a form\n");
        if (strcmp(url, "/login") == 0)
            return login_post(self, c, rq);
        const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_COOKIE_NAME);
        web_session_t s;
        if (!sid || web_session_find(self->o.sessions, sid, time(NULL), &s) < 0)
            return send_text(c, MHD_HTTP_FORBIDDEN, "refused: not logged in\n");
        if (!web_session_csrf_ok(&s, rq->csrf)) {
            logline("POST %s refused for user %s: CSRF token missing or wrong", url, s.user.name);
            web_metrics_count(WEB_M_CSRF_REFUSED);
            return send_text(c, MHD_HTTP_FORBIDDEN,
                             "refused: the form's token is missing or wrong\n");
        }
        if (strcmp(url, "/logout") == 0) {
            web_session_end(self->o.sessions, sid);
            logline("logout: user %s", s.user.name);
            return redirect(c, "/login",
                            WEB_COOKIE_NAME "=; Secure; HttpOnly; SameSite=Strict; Path=/; "
                                            "Max-Age=0",
                            NULL);
        }
        return not_found(c);
    }
    if (strncmp(url, "/static/", 8) == 0)
        return static_file(c, url);
    const char *sid = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, WEB_COOKIE_NAME);
    web_session_t s;
    int in = sid && web_session_find(self->o.sessions, sid, time(NULL), &s) == 0;
    if (strcmp(url, "/login") == 0)
        return in ? redirect(c, "/", NULL, NULL) : login_form(c, MHD_HTTP_OK, NULL);
    if (!in) {
        if (strcmp(url, "/events") == 0)
            return send_text(c, MHD_HTTP_UNAUTHORIZED, "not logged in\n");
        return redirect(c, "/login", NULL, NULL);
    }
    mem_t m;
    if (strcmp(url, "/") == 0)
        return home(self, c, &s);
    if (strcmp(url, "/glossary") == 0) {
        if (mem_open(&m) < 0)
            return MHD_NO;
        web_page_glossary(m.f, &s);
        return mem_send(c, &m, MHD_HTTP_OK, NULL, NULL);
    }
    if (strcmp(url, "/events") == 0)
        return events(self, c, &s, sid);
    if (strncmp(url, "/releases/", 10) == 0)
        return releases_page(self, c, &s, url);
    if (strncmp(url, "/export/", 8) == 0)
        return export_file(self, c, &s, url);
    if (strcmp(url, "/reports") == 0 || strncmp(url, "/reports/", 9) == 0 ||
        strncmp(url, "/report/", 8) == 0)
        return reports(self, c, &s, url);
    return doc_page(self, c, &s, url);
}

/* ---- setup ------------------------------------------------------------- */

static char *read_pem(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0) {
        snprintf(err, errlen, "%s: empty or unreadable", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (!strstr(buf, "-----BEGIN ")) {
        snprintf(err, errlen, "%s: not a PEM file", path);
        free(buf);
        return NULL;
    }
    return buf;
}

web_http_t *web_http_new(const web_http_opts_t *o, char *err, size_t errlen)
{
    struct sockaddr_storage sa;
    if (cohort_addr_parse(o->listen, COHORT_ADDR_ANY, "listen address", &sa, NULL, err, errlen) < 0)
        return NULL;
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        snprintf(err, errlen, "this libmicrohttpd was built without TLS");
        return NULL;
    }
    web_http_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->o = *o;
    pthread_mutex_init(&self->verify, NULL);
    if (!(self->cert = read_pem(o->cert_file, err, errlen)) ||
        !(self->key = read_pem(o->key_file, err, errlen))) {
        web_http_destroy(&self);
        return NULL;
    }
    self->mhd = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS |
            (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
        0, NULL, NULL, on_request, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_HTTPS_MEM_CERT, self->cert, MHD_OPTION_HTTPS_MEM_KEY, self->key,
        MHD_OPTION_CONNECTION_LIMIT, o->max_connections ? o->max_connections : 64,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, 32, MHD_OPTION_CONNECTION_TIMEOUT, 60,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, self, MHD_OPTION_END);
    if (!self->mhd) {
        snprintf(err, errlen,
                 "cannot serve HTTPS on %s (address in use, or the certificate and key do not "
                 "load)",
                 o->listen);
        web_http_destroy(&self);
        return NULL;
    }
    return self;
}

void web_http_destroy(web_http_t **self_p)
{
    web_http_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    if (self->key)
        sodium_memzero(self->key, strlen(self->key));
    free(self->key);
    free(self->cert);
    pthread_mutex_destroy(&self->verify);
    free(self);
}

unsigned web_http_port(const web_http_t *self)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_BIND_PORT);
    return i ? i->port : 0;
}
