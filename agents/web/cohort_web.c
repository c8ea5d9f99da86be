/* cohort_web.c: cohort-web, the programme dashboard over HTTPS for boards
 * and agencies' HR teams. main: defaults, configuration, start (users,
 * sessions, the status feed with cohort-web's own CURVE key, the HTTPS
 * server), run until SIGTERM or SIGINT, tear down. Also `cohort-web adduser`,
 * which adds a user to a users file with the password read from stdin. */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cohort_keys.h"
#include "web_config.h"
#include "web_feed.h"
#include "web_http.h"
#include "web_metrics.h"
#include "web_session.h"
#include "web_users.h"

static const char usage[] =
    "Usage: cohort-web [--config FILE] [--check-config]\n"
    "       cohort-web adduser USERS-FILE NAME ROLE [AGENCY]   (password on stdin)\n"
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
    "file is made mode 0600 if missing and must stay so.\n";

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
                              .max_connections = cfg.max_connections};
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
