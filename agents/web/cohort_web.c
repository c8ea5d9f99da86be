/* cohort_web.c: cohort-web, the programme dashboard over HTTPS for boards
 * and agencies' HR teams. main: defaults, configuration, start (users,
 * sessions, the status feed with cohort-web's own CURVE key, the HTTPS
 * server), run until SIGTERM or SIGINT, tear down. Also `cohort-web adduser`,
 * which adds a user to a users file with the password read from stdin, and
 * `cohort-web report`, which writes the dated board reports (web_report.h). */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cohort_keys.h"
#include "web_config.h"
#include "web_feed.h"
#include "web_http.h"
#include "web_metrics.h"
#include "web_report.h"
#include "web_session.h"
#include "web_users.h"

static const char usage[] =
    "Usage: cohort-web [--config FILE] [--check-config]\n"
    "       cohort-web adduser USERS-FILE NAME ROLE [AGENCY]   (password on stdin)\n"
    "       cohort-web report [--config FILE] [--out DIR] [--topic programme/P | cohort/P/C ...]\n"
    "\n"
    "Serves the programme dashboard over HTTPS: each user logs in with a name and\n"
    "password and sees the status documents their role and agency may read, as a\n"
    "CURVE key with that role would (board, coordinator, agency-hr, operator).\n"
    "cohort-web subscribes to cohortd with its own CURVE key (role web).\n"
    "SIGHUP reads the users file again; SIGTERM or SIGINT stops it.\n"
    "\n"
    "  -c, --config FILE   the configuration (INI; default " WEB_CONFIG_DEFAULT ")\n"
    "      --check-config  read the configuration, users file, certificate and key,\n"
    "                      report any error, and exit (0 if all is well)\n"
    "  -h, --help          this help\n"
    "      --version       the version\n"
    "\n"
    "adduser: ROLE is board, coordinator, agency-hr (with its AGENCY) or operator;\n"
    "the password (at least 10 characters) is the first line of stdin. The users\n"
    "file is made mode 0600 if missing and must stay so.\n"
    "\n"
    "report: subscribes like the server, waits for cohortd's complete status\n"
    "([report] sync-timeout-s), and writes each programme's and cohort's board\n"
    "report (or those named with --topic) as DIR/PROGRAMME/YYYY-MM-DD/programme.html\n"
    "and .pdf, cohort-C.html and .pdf (DIR: --out, else [report] dir), the PDF\n"
    "printed by headless Chromium ([report] chromium). Exit 0 when all were\n"
    "written, 1 if any failed, 2 for bad arguments or configuration.\n";

static int adduser(int argc, char **argv)
{
    char pw[WEB_PASSWORD_MAX + 2], err[512];
    if (argc < 5 || argc > 6) {
        fputs(usage, stderr);
        return 2;
    }
    if (!fgets(pw, sizeof pw, stdin)) {
        fprintf(stderr, "cohort-web: adduser: no password on stdin\n");
        return 2;
    }
    pw[strcspn(pw, "\r\n")] = '\0';
    int rc =
        web_users_add(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : "", pw, err, sizeof err);
    sodium_memzero(pw, sizeof pw);
    if (rc < 0) {
        fprintf(stderr, "cohort-web: adduser: %s\n", err);
        return 1;
    }
    printf("cohort-web: added user %s (%s%s%s) to %s\n", argv[3], argv[4], argc == 6 ? " " : "",
           argc == 6 ? argv[5] : "", argv[2]);
    return 0;
}

typedef struct {
    char **v;
    size_t n, cap;
} topics_t;

static void add_topic(void *arg, const char *topic)
{
    topics_t *t = arg;
    web_report_of_t of;
    if (web_report_parse_topic(topic, &of) < 0) /* an id no file may be named after */
        return;
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 16;
        char **nv = realloc(t->v, nc * sizeof *nv);
        if (!nv)
            return;
        t->v = nv, t->cap = nc;
    }
    if ((t->v[t->n] = strdup(topic)))
        t->n++;
}

/* cohort-web report: see the usage. */
static int report(int argc, char **argv)
{
    const char *config = WEB_CONFIG_DEFAULT, *out = NULL;
    char err[2048];
    topics_t named = {0}, all = {0};
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        web_report_of_t of;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            goto done;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--topic") == 0 && i + 1 < argc) {
            if (web_report_parse_topic(argv[++i], &of) < 0) {
                fprintf(stderr,
                        "cohort-web: report: '%s' is not programme/PROGRAMME or "
                        "cohort/PROGRAMME/COHORT\n",
                        argv[i]);
                rc = 2;
                goto done;
            }
            add_topic(&named, argv[i]);
        } else {
            fprintf(stderr, "cohort-web: report: unknown argument '%s' (see --help)\n", argv[i]);
            rc = 2;
            goto done;
        }
    }
    web_config_t cfg;
    web_config_defaults(&cfg);
    if (web_config_load(&cfg, config) < 0) {
        web_config_clear(&cfg);
        rc = 2;
        goto done;
    }
    const char *dir = out ? out : cfg.report_dir;
    cohort_curve_t curve;
    web_feed_t *feed = NULL;
    if (web_report_chromium_ok(cfg.chromium, err, sizeof err) < 0) {
        fprintf(stderr, "cohort-web: report: %s\n", err);
        rc = 1;
        goto cfg_done;
    }
    if (cohort_curve_from(&curve, cfg.key, cfg.server_key, cfg.plaintext, err, sizeof err) < 0) {
        fprintf(stderr, "cohort-web: report: %s\n", err);
        rc = 2;
        goto cfg_done;
    }
    if (!curve.on)
        fprintf(stderr, "cohort-web: " COHORT_PLAINTEXT_WARNING);
    signal(SIGPIPE, SIG_IGN);
    web_feed_opts_t fo = {.publish = cfg.publish, .snapshot = cfg.snapshot, .curve = &curve};
    feed = web_feed_new(&fo, err, sizeof err);
    cohort_curve_clear(&curve);
    if (!feed) {
        fprintf(stderr, "cohort-web: report: %s\n", err);
        rc = 1;
        goto cfg_done;
    }
    /* Wait for a complete, current state (bounded), then stop the feed so
     * that every report of this run shows the same state. */
    struct timespec step = {0, 100 * 1000 * 1000};
    for (unsigned long i = 0; i < (unsigned long)cfg.sync_timeout_s * 10 && !web_feed_synced(feed);
         i++)
        nanosleep(&step, NULL);
    if (!web_feed_synced(feed)) {
        fprintf(stderr,
                "cohort-web: report: no complete status from cohortd within %u s (publish %s, "
                "snapshot %s): is cohortd running there, and is cohort-web's key %s in its "
                "access file with role web? ([report] sync-timeout-s in %s)\n",
                cfg.sync_timeout_s, cfg.publish, cfg.snapshot, cfg.key ? cfg.key : "(none)",
                config);
        rc = 1;
        goto cfg_done;
    }
    web_feed_shutdown(feed);
    topics_t *todo = &named;
    if (named.n == 0) {
        web_feed_each(feed, "programme/", COHORT_ROLE_WEB, NULL, add_topic, &all);
        web_feed_each(feed, "cohort/", COHORT_ROLE_WEB, NULL, add_topic, &all);
        todo = &all;
        if (all.n == 0)
            printf("cohort-web: report: cohortd publishes no programme yet: no report to write\n");
    }
    time_t now = time(NULL);
    struct tm tm;
    char date[16];
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    size_t good = 0;
    for (size_t i = 0; i < todo->n; i++) {
        char *html = NULL, *pdf = NULL;
        if (web_report_make(feed, todo->v[i], dir, date, now, cfg.chromium, cfg.print_timeout_s,
                            &html, &pdf, err, sizeof err) < 0) {
            fprintf(stderr, "cohort-web: report: %s: %s\n", todo->v[i], err);
            rc = 1;
        } else {
            printf("cohort-web: report: %s: %s and %s\n", todo->v[i], html, pdf);
            good++;
        }
        free(html);
        free(pdf);
    }
    if (todo->n)
        printf("cohort-web: report: %zu of %zu reports written in %s\n", good, todo->n, dir);
cfg_done:
    web_feed_destroy(&feed);
    web_config_clear(&cfg);
done:
    for (size_t i = 0; i < named.n; i++)
        free(named.v[i]);
    for (size_t i = 0; i < all.n; i++)
        free(all.v[i]);
    free(named.v);
    free(all.v);
    return rc;
}

static int still_there(void *arg, const web_user_t *u)
{
    return web_users_has(arg, u);
}

/* SIGHUP: reads the users file again. A good file replaces the users and
 * ends the sessions of users removed or changed (role, agency); a bad one
 * is refused whole and the old users stay. */
static void reload(web_users_t *users, web_sessions_t *sessions, const char *path)
{
    char err[1024];
    int n = web_users_reload(users, path, err, sizeof err);
    if (n < 0) {
        web_metrics_count(WEB_M_USERS_RELOAD_FAILED);
        fprintf(stderr, "cohort-web: reload refused, the old users stay: %s\n", err);
        return;
    }
    size_t ended = web_sessions_retain(sessions, still_there, users);
    web_metrics_count(WEB_M_USERS_RELOADED);
    for (size_t i = 0; i < ended; i++)
        web_metrics_count(WEB_M_SESSIONS_ENDED_BY_RELOAD);
    fprintf(stderr,
            "cohort-web: reloaded %s: %d users; %zu sessions ended (user removed or "
            "changed)\n",
            path, n, ended);
}

int main(int argc, char **argv)
{
    const char *config = WEB_CONFIG_DEFAULT;
    int check = 0;
    char err[1024];
    if (argc > 1 && strcmp(argv[1], "adduser") == 0)
        return adduser(argc, argv);
    if (argc > 1 && strcmp(argv[1], "report") == 0)
        return report(argc, argv);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("cohort-web %s\n", COHORT_VERSION);
            return 0;
        } else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) &&
                   i + 1 < argc) {
            config = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check = 1;
        } else {
            fprintf(stderr, "cohort-web: unknown argument '%s' (see --help)\n", argv[i]);
            return 2;
        }
    }

    /* Defaults, then the configuration. */
    web_config_t cfg;
    web_config_defaults(&cfg);
    if (web_config_load(&cfg, config) < 0) {
        web_config_clear(&cfg);
        return 2;
    }
    web_users_t *users = NULL;
    if (web_users_load(&users, cfg.users, err, sizeof err) < 0) {
        fprintf(stderr, "cohort-web: %s\n", err);
        web_config_clear(&cfg);
        return 2;
    }
    cohort_curve_t curve;
    if (cohort_curve_from(&curve, cfg.key, cfg.server_key, cfg.plaintext, err, sizeof err) < 0) {
        fprintf(stderr, "cohort-web: %s\n", err);
        web_users_destroy(&users);
        web_config_clear(&cfg);
        return 2;
    }
    if (!curve.on)
        fprintf(stderr, "cohort-web: " COHORT_PLAINTEXT_WARNING);

    /* Signals go to sigwait below: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 0;
    web_sessions_t *sessions = web_sessions_new(cfg.max_sessions, cfg.session_idle_s);
    web_feed_opts_t fo = {.publish = cfg.publish, .snapshot = cfg.snapshot, .curve = &curve};
    web_feed_t *feed = check ? NULL : web_feed_new(&fo, err, sizeof err);
    cohort_curve_clear(&curve);
    web_http_t *http = NULL;
    web_metrics_t *metrics = NULL;
    if (!sessions) {
        fprintf(stderr, "cohort-web: out of memory\n");
        rc = 1;
    } else if (!check && !feed) {
        fprintf(stderr, "cohort-web: %s\n", err);
        rc = 1;
    } else if (check) {
        FILE *c = fopen(cfg.tls_cert, "re"), *k = fopen(cfg.tls_key, "re");
        if (!c || !k) {
            fprintf(stderr, "cohort-web: cannot read %s\n", !c ? cfg.tls_cert : cfg.tls_key);
            rc = 2;
        } else
            printf("cohort-web: %s is good (%zu users)\n", config, web_users_count(users));
        if (c)
            fclose(c);
        if (k)
            fclose(k);
    } else {
        web_http_opts_t ho = {.listen = cfg.listen,
                              .cert_file = cfg.tls_cert,
                              .key_file = cfg.tls_key,
                              .users = users,
                              .sessions = sessions,
                              .feed = feed,
                              .max_connections = cfg.max_connections,
                              .report_dir = cfg.report_dir};
        http = web_http_new(&ho, err, sizeof err);
        if (!http) {
            fprintf(stderr, "cohort-web: %s\n", err);
            rc = 1;
        } else {
            fprintf(stderr, "cohort-web: ready: https://%.*s:%u/ (%zu users, status from %s, %s)\n",
                    (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen, web_http_port(http),
                    web_users_count(users), cfg.publish, cfg.plaintext ? "plain text" : "CURVE");
            web_metrics_opts_t mo = {
                .addr = cfg.metrics, .feed = feed, .sessions = sessions, .users = users};
            if (cfg.metrics && !(metrics = web_metrics_new(&mo, err, sizeof err))) {
                fprintf(stderr, "cohort-web: %s\n", err);
                rc = 1;
            } else {
                if (metrics)
                    fprintf(stderr, "cohort-web: metrics: http://%.*s:%u/metrics\n",
                            (int)(strrchr(cfg.metrics, ':') - cfg.metrics), cfg.metrics,
                            web_metrics_port(metrics));
                int sig = 0;
                while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
                    reload(users, sessions, cfg.users);
                fprintf(stderr, "cohort-web: stopping (signal %d)\n", sig);
            }
        }
    }

    /* Teardown: the feed first, so that open event streams end. */
    web_metrics_destroy(&metrics);
    if (feed)
        web_feed_shutdown(feed);
    web_http_destroy(&http);
    web_feed_destroy(&feed);
    web_sessions_destroy(&sessions);
    web_users_destroy(&users);
    web_config_clear(&cfg);
    return rc;
}
