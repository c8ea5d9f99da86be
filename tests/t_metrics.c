/* t_metrics: unit test for metrics.c. The address parser (loopback only);
 * the renderer on a made-up snapshot, checked line by line and against the
 * exposition format's rules (every sample after its family's # TYPE, one
 * # TYPE per family, histogram buckets cumulative with +Inf == _count,
 * label values escaped); then the HTTP server on a real loop: a bind
 * failure says why, a scrape while the loop runs gets a fresh rendering, a
 * scrape while the loop does not run is answered within METRICS_WAIT_MS
 * (plus slack) with the previous one and its age, 404 and 405. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "tap.h"

/* ------------------------------------------------------------- parsing --- */

static void test_parse(void)
{
    static const char *good[] = {"127.0.0.1:9474", "localhost:1", "[::1]:65535", "127.1.2.3:80"};
    static const char *bad[] = {
        "0.0.0.0:9474",    "10.0.0.1:9474",  "[::]:9474",      "127.0.0.1",        "127.0.0.1:0",
        "127.0.0.1:65536", ":9474",          "127.0.0.1:http", "example.org:9474", "[::1]",
        "127.0.0.1:-1",    "[fe80::1]:9474", "127.0.0.1: 80",  "192.168.1.1:9474"};
    char err[512];
    struct sockaddr_storage sa;
    socklen_t len = 0;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        ok(metrics_parse_addr(good[i], &sa, &len, err, sizeof err) == 0, "address %s accepted",
           good[i]);
    ok(metrics_parse_addr("127.0.0.1:9474", &sa, &len, err, sizeof err) == 0 &&
           sa.ss_family == AF_INET && len == sizeof(struct sockaddr_in) &&
           ntohs(((struct sockaddr_in *)&sa)->sin_port) == 9474,
       "127.0.0.1:9474 gives an IPv4 address with port 9474");
    ok(metrics_parse_addr("[::1]:9474", &sa, &len, err, sizeof err) == 0 &&
           sa.ss_family == AF_INET6 && len == sizeof(struct sockaddr_in6),
       "[::1]:9474 gives an IPv6 address");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = metrics_parse_addr(bad[i], NULL, NULL, err, sizeof err);
        ok(rc == -EINVAL && strstr(err, bad[i]), "address %s refused, naming it (%s)", bad[i], err);
    }
    metrics_parse_addr("0.0.0.0:9474", NULL, NULL, err, sizeof err);
    ok(strstr(err, "not a loopback address") != NULL, "a non-loopback address is called that");
}

/* ----------------------------------------------------- format checking --- */

/* Checks text against the exposition format's rules this renderer relies
 * on; returns the number of problems (each printed as a diag). Every line
 * is a # HELP, a # TYPE or a sample; a sample's family (its name, minus
 * _bucket/_sum/_count for a histogram) has had its # TYPE, and all its
 * samples are together; a family has one # TYPE; histogram buckets are
 * cumulative and the +Inf bucket equals _count. */
static int check_format(const char *text)
{
    char fam[128][128], cur[128] = "", type[32] = "";
    int nfam = 0, bad = 0;
    unsigned long long last_bucket = 0, inf = 0;
    int seen_inf = 0;
    const char *l = text;
    while (*l) {
        const char *nl = strchr(l, '\n');
        if (!nl) {
            diag("text does not end with a newline");
            return bad + 1;
        }
        char line[1024];
        size_t n = (size_t)(nl - l) < sizeof line - 1 ? (size_t)(nl - l) : sizeof line - 1;
        memcpy(line, l, n);
        line[n] = 0;
        l = nl + 1;
        char name[128], t[32];
        if (sscanf(line, "# TYPE %127s %31s", name, t) == 2) {
            for (int i = 0; i < nfam; i++)
                if (strcmp(fam[i], name) == 0) {
                    diag("second # TYPE for %s", name);
                    bad++;
                }
            if (nfam < 128)
                snprintf(fam[nfam++], sizeof fam[0], "%s", name);
            snprintf(cur, sizeof cur, "%s", name);
            snprintf(type, sizeof type, "%s", t);
            last_bucket = 0;
            seen_inf = 0;
            continue;
        }
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        size_t nlen = strcspn(line, "{ ");
        if (nlen == 0 || nlen >= sizeof name || line[0] == '#') {
            diag("not a sample: %s", line);
            bad++;
            continue;
        }
        memcpy(name, line, nlen);
        name[nlen] = 0;
        const char *val = strrchr(line, ' ');
        char *end;
        double v = strtod(val + 1, &end);
        if (*end) {
            diag("bad value: %s", line);
            bad++;
        }
        size_t cl = strlen(cur);
        int same = strcmp(name, cur) == 0;
        if (!same && strcmp(type, "histogram") == 0 && strncmp(name, cur, cl) == 0) {
            const char *suf = name + cl;
            same = !strcmp(suf, "_bucket") || !strcmp(suf, "_sum") || !strcmp(suf, "_count");
            if (!strcmp(suf, "_bucket")) {
                if ((unsigned long long)v < last_bucket) {
                    diag("bucket not cumulative: %s", line);
                    bad++;
                }
                last_bucket = (unsigned long long)v;
                if (strstr(line, "le=\"+Inf\"")) {
                    inf = (unsigned long long)v;
                    seen_inf = 1;
                }
            } else if (!strcmp(suf, "_count") && (!seen_inf || inf != (unsigned long long)v)) {
                diag("%s: +Inf bucket %llu != count %s", cur, inf, val + 1);
                bad++;
            }
        }
        if (!same) {
            diag("sample %s is not in the family of the last # TYPE (%s)", name, cur);
            bad++;
        }
    }
    return bad;
}

/* ----------------------------------------------------------- rendering --- */

static void test_histogram(void)
{
    static const double bounds[3] = {1, 2.5, 4};
    static const uint64_t counts[4] = {1, 0, 2, 1};
    metrics_text_t t = {0};
    metrics_histogram(&t, "x_seconds", "Help.", bounds, 3, counts, 7.25, 0);
    is_str(t.p,
           "# HELP x_seconds Help.\n# TYPE x_seconds histogram\n"
           "x_seconds_bucket{le=\"1\"} 1\nx_seconds_bucket{le=\"2.5\"} 1\n"
           "x_seconds_bucket{le=\"4\"} 3\nx_seconds_bucket{le=\"+Inf\"} 4\n"
           "x_seconds_sum 7.25\nx_seconds_count 4\n",
           "a histogram renders cumulative buckets, +Inf, _sum and _count");
    metrics_text_free(&t);
    metrics_histogram(&t, "y_events", "Help.", bounds, 3, counts, 9, 1);
    ok(strstr(t.p, "y_events_sum 9\n") != NULL, "an integer sum is printed as an integer");
    ok(check_format(t.p) == 0, "a histogram alone passes the format check");
    metrics_text_free(&t);
    ok(t.p == NULL && t.len == 0, "metrics_text_free zeroes the buffer");
}

static int has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void test_render(void)
{
    metrics_snapshot_t s;
    metrics_agency_t ag[3] = {{"wm-police", 1700000300}, {"a\"b\\c", 5}, {"cps-wm", 1700000200}};
    metrics_text_t t = {0};
    memset(&s, 0, sizeof s);
    s.ingest.frames = 10;
    s.ingest.frames_refused = 3;
    s.ingest.refused_by[1] = 2; /* FRAME_MALFORMED */
    s.ingest.refused_by[7] = 1; /* FRAME_UNAUTHORISED */
    s.ingest.accepted = 41;
    s.ingest.duplicates = 4;
    s.ingest.rejected = 6;
    s.ingest.rejected_by[20] = 5; /* REJECT_UNAUTHORISED */
    s.ingest.rejected_by[0] = 1;  /* a code the renderer does not know */
    s.ingest.peers = 2;
    s.hist.batch[0] = 3;
    s.hist.batch[INGEST_BATCH_BUCKETS] = 1;
    s.hist.batch_sum = 20003;
    s.hist.latency[4] = 2;
    s.hist.latency_sum = 0.004;
    s.head = 41;
    s.pub.snap_requests = 7;
    s.pub.snapshots = 5;
    s.pub.peers = 3;
    s.has_control = 1;
    s.control.requests = 2;
    s.agencies = ag;
    s.nagencies = 3;
    s.start_time = 1700000000.5;
    ok(metrics_render(&t, &s) == 0 && t.p && !t.oom, "metrics_render succeeds");
    const char *p = t.p ? t.p : "";
    ok(check_format(p) == 0, "the rendering passes the format check");
    ok(has_line(p, "cohortd_log_head_sequence 41"), "head sequence");
    ok(has_line(p, "cohortd_events_accepted_total 41"), "accepted");
    ok(has_line(p, "cohortd_events_duplicate_total 4"), "duplicates");
    ok(has_line(p, "cohortd_events_rejected_total{reason=\"UNAUTHORISED\"} 5"),
       "rejected by reason, the RejectCode name without REJECT_");
    ok(has_line(p, "cohortd_events_rejected_total{reason=\"BAD_AGENCY\"} 0"),
       "every known reason is present, at 0 too");
    ok(has_line(p, "cohortd_events_rejected_total{reason=\"OTHER\"} 1"),
       "an unknown code shows as OTHER");
    ok(!strstr(p, "reason=\"NONE\""), "code 0 (NONE) is not a reason");
    ok(has_line(p, "cohortd_ingest_frames_refused_total{reason=\"MALFORMED\"} 2") &&
           has_line(p, "cohortd_ingest_frames_refused_total{reason=\"UNAUTHORISED\"} 1"),
       "frames refused by FrameError name");
    ok(!strstr(p, "frames_refused_total{reason=\"OTHER\"}"), "no OTHER when none");
    ok(has_line(p, "cohortd_commit_batch_events_bucket{le=\"1\"} 3") &&
           has_line(p, "cohortd_commit_batch_events_bucket{le=\"16384\"} 3") &&
           has_line(p, "cohortd_commit_batch_events_bucket{le=\"+Inf\"} 4") &&
           has_line(p, "cohortd_commit_batch_events_sum 20003") &&
           has_line(p, "cohortd_commit_batch_events_count 4"),
       "batch size histogram");
    ok(has_line(p, "cohortd_commit_duration_seconds_bucket{le=\"0.0025\"} 2") &&
           has_line(p, "cohortd_commit_duration_seconds_bucket{le=\"0.001\"} 0") &&
           has_line(p, "cohortd_commit_duration_seconds_sum 0.004") &&
           has_line(p, "cohortd_commit_duration_seconds_count 2"),
       "commit duration histogram");
    ok(has_line(p, "cohortd_agents_connected 2") && has_line(p, "cohortd_subscribers_connected 3"),
       "connected agents and subscribers");
    const char *a1 = strstr(p, "agency=\"a\\\"b\\\\c\"} 5\n");
    const char *a2 = strstr(p, "agency=\"cps-wm\"} 1700000200\n");
    const char *a3 = strstr(p, "agency=\"wm-police\"} 1700000300\n");
    ok(a1 && a2 && a3 && a1 < a2 && a2 < a3, "agencies' last-seen, escaped and sorted by id");
    ok(has_line(p, "cohortd_snapshot_requests_total 7") &&
           has_line(p, "cohortd_snapshots_served_total 5"),
       "snapshot requests");
    ok(has_line(p, "cohortd_control_requests_total 2"), "control requests when control is on");
    ok(has_line(p, "cohortd_start_time_seconds 1700000000.50"), "start time");
    ok(strstr(p, "cohortd_build_info{version=\"") != NULL, "build info");
    metrics_text_free(&t);

    s.has_control = 0;
    s.nagencies = 0;
    metrics_render(&t, &s);
    ok(t.p && !strstr(t.p, "cohortd_control_") && check_format(t.p) == 0,
       "without control or agencies: no control family, still well-formed");
    metrics_render_live(&t, 123456, 0.25);
    ok(t.p && has_line(t.p, "cohortd_resident_memory_bytes 123456") &&
           has_line(t.p, "cohortd_metrics_age_seconds 0.250") && check_format(t.p) == 0,
       "the live part appends RSS and age, still well-formed");
    metrics_text_free(&t);
}

/* ---------------------------------------------------------------- HTTP --- */

/* A free loopback port (bound to port 0 and released; the tests below
 * retry when another process takes it meanwhile). */
static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* One HTTP/1.0 request to 127.0.0.1:port; the whole response (malloc'd,
 * NUL-terminated) or NULL. Bounded by a 10 s receive timeout. */
static char *http(int port, const char *method, const char *path)
{
    struct sockaddr_in a = {0};
    struct timeval tv = {10, 0};
    char req[256], *buf = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", method, path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return NULL;
    }
    for (;;) {
        if (cap - len < 4097) {
            char *p = realloc(buf, cap = cap ? cap * 2 : 8192);
            if (!p)
                break;
            buf = p;
        }
        ssize_t n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf)
        buf[len] = 0;
    return buf;
}

/* A scrape on a thread, while the main thread runs the loop. */
typedef struct {
    int port;
    char *resp;
    uv_async_t done; /* wakes the loop when the scrape is in */
} client_t;

static void *client_run(void *arg)
{
    client_t *c = arg;
    c->resp = http(c->port, "GET", "/metrics");
    uv_async_send(&c->done);
    return NULL;
}

static void on_client_done(uv_async_t *h)
{
    uv_close((uv_handle_t *)h, NULL); /* the loop then has nothing left but metrics' own */
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_http(void)
{
    uv_loop_t loop;
    metrics_t *m = NULL;
    char err[512], addr[64];
    int rc = -1, port = 0;
    uv_loop_init(&loop);

    /* A bind failure says why. */
    int busy = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof a;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(busy, (struct sockaddr *)&a, sizeof a);
    listen(busy, 1);
    getsockname(busy, (struct sockaddr *)&a, &alen);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
    metrics_opts_t o = {.addr = addr};
    rc = metrics_new(&m, &loop, &o, err, sizeof err);
    ok(rc == -EADDRINUSE && m == NULL && strstr(err, "binding the metrics endpoint") &&
           strstr(err, "in use"),
       "a port in use is a setup error that says so (%s)", err);
    close(busy);
    uv_run(&loop, UV_RUN_NOWAIT); /* the failed instance's handle closes */

    o.addr = "0.0.0.0:9474";
    ok(metrics_new(&m, &loop, &o, err, sizeof err) == -EINVAL && strstr(err, "loopback"),
       "metrics_new refuses a non-loopback address");

    for (int tries = 0; tries < 5; tries++) {
        port = free_port();
        snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
        o.addr = addr;
        if ((rc = metrics_new(&m, &loop, &o, err, sizeof err)) != -EADDRINUSE)
            break;
    }
    if (!ok(rc == 0 && m, "metrics_new on %s", addr)) {
        diag("%s", err);
        uv_loop_close(&loop);
        return;
    }

    /* The loop does not run: the scrape waits METRICS_WAIT_MS, then gets
     * the rendering made at start, with its age. */
    double t0 = now_s();
    char *r = http(port, "GET", "/metrics");
    double took = now_s() - t0;
    ok(r && strncmp(r, "HTTP/1.", 7) == 0 && strstr(r, " 200 "), "GET /metrics is 200");
    ok(took >= METRICS_WAIT_MS / 1000.0 - 0.05 && took < METRICS_WAIT_MS / 1000.0 + 2,
       "with the loop not running it waits about METRICS_WAIT_MS (%.3f s)", took);
    ok(r && strstr(r, "Content-Type: text/plain; version=0.0.4"), "content type 0.0.4");
    ok(r && strstr(r, "\ncohortd_log_head_sequence 0\n"), "serves the rendering made at start");
    double age = -1;
    const char *ap = r ? strstr(r, "\ncohortd_metrics_age_seconds ") : NULL;
    if (ap)
        age = strtod(ap + strlen("\ncohortd_metrics_age_seconds "), NULL);
    ok(age >= 1.0, "and says it is stale: age %.3f s", age);
    const char *body = r ? strstr(r, "\r\n\r\n") : NULL;
    ok(body && check_format(body + 4) == 0, "the body passes the format check");
    const char *rss = r ? strstr(r, "\ncohortd_resident_memory_bytes ") : NULL;
    ok(rss && strtoull(rss + strlen("\ncohortd_resident_memory_bytes "), NULL, 10) > 1000000,
       "RSS is read (over 1 MB)");
    free(r);

    /* With the loop running the scrape gets a fresh rendering at once. */
    client_t c = {port, NULL, {0}};
    pthread_t th;
    uv_async_init(&loop, &c.done, on_client_done);
    pthread_create(&th, NULL, client_run, &c);
    t0 = now_s();
    uv_run(&loop, UV_RUN_DEFAULT); /* until on_client_done closes c.done */
    took = now_s() - t0;
    pthread_join(th, NULL);
    ap = c.resp ? strstr(c.resp, "\ncohortd_metrics_age_seconds ") : NULL;
    age = ap ? strtod(ap + strlen("\ncohortd_metrics_age_seconds "), NULL) : -1;
    ok(c.resp && strstr(c.resp, " 200 ") && age >= 0 && age < 0.5 && took < 0.9,
       "with the loop running: a fresh rendering (age %.3f s) in %.3f s", age, took);
    free(c.resp);

    r = http(port, "GET", "/other");
    ok(r && strstr(r, " 404 "), "GET /other is 404");
    free(r);
    r = http(port, "GET", "/metrics/x");
    ok(r && strstr(r, " 404 "), "GET /metrics/x is 404");
    free(r);
    r = http(port, "POST", "/metrics");
    ok(r && strstr(r, " 405 ") && strstr(r, "Allow: GET, HEAD"), "POST /metrics is 405 with Allow");
    free(r);
    r = http(port, "HEAD", "/metrics");
    ok(r && strstr(r, " 200 ") && !strstr(r, "cohortd_"), "HEAD /metrics is 200 without a body");
    free(r);

    metrics_destroy(&m);
    ok(m == NULL, "metrics_destroy nulls the pointer");
    metrics_destroy(&m); /* idempotent */
    uv_run(&loop, UV_RUN_DEFAULT);
    ok(uv_loop_close(&loop) == 0, "every handle is closed after the loop runs");
    r = http(port, "GET", "/metrics");
    ok(r == NULL || *r == 0, "nothing listens after metrics_destroy");
    free(r);
}

int main(void)
{
    test_parse();
    test_histogram();
    test_render();
    test_http();
    return tap_done();
}
