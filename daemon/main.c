/* main.c: cohortd, the central daemon. Only wiring lives here:
 * defaults -> flags -> init (server key, store, projections, ZeroMQ, key
 * table, publisher, ingest, control, signals) -> run -> teardown. Shutdown
 * on SIGTERM/SIGINT: stop taking frames, commit and ack what was received,
 * checkpoint the projections, publish what is pending, close the sockets,
 * then close RocksDB. SIGHUP reloads the access file.
 *
 * Security contract: every socket is a CURVE server whose clients are
 * checked by the ZAP handler (auth.c) against the access file, unless
 * --plaintext is given, which is refused for any endpoint that is not
 * local (ipc://, or tcp:// on 127.0.0.1, ::1 or localhost) and is warned
 * about at start. The key table exists before the first socket is bound
 * and is destroyed after the last one is closed. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>
#include <zmq.h>

#include "auth.h"
#include "checkpoint.h"
#include "cohort_keys.h"
#include "control.h"
#include "ingest.h"
#include "log.h"
#include "proj.h"
#include "publish.h"
#include "store.h"

#define DEFAULT_DATA_DIR "cohort-data"
#define DEFAULT_INGEST "tcp://127.0.0.1:7400"
#define DEFAULT_PUBLISH "tcp://127.0.0.1:7401"
#define DEFAULT_SNAPSHOT "tcp://127.0.0.1:7402"
#define DEFAULT_COALESCE_MS 2
#define DEFAULT_CHECKPOINT_EVERY 100000

/* What the daemon runs with. */
typedef struct {
    const char *data_dir;      /* RocksDB directory */
    const char *ingest;        /* ROUTER endpoint for agents */
    const char *publish;       /* PUB endpoint for status updates */
    const char *snapshot;      /* ROUTER endpoint for status snapshots */
    unsigned coalesce_ms;      /* minimum time between updates of one topic */
    uint64_t checkpoint_every; /* accepted events between projection checkpoints */
    proj_config_t proj;        /* suppression k, at-risk ratio */
    int log_level;             /* syslog priority */
    const char *control;       /* operator endpoint; NULL = ipc://<data_dir>/control.sock */
    int plaintext;             /* development mode: no CURVE, every client allowed */
    const char *key;           /* server keypair file; NULL = DATA-DIR/server.key */
    const char *access;        /* access file; NULL = DATA-DIR/access */
} config_t;

/* Everything wired together, for the signal and stop callbacks. */
typedef struct {
    uv_loop_t *loop;
    uv_signal_t sig[3]; /* SIGTERM, SIGINT, SIGHUP */
    store_t *store;     /* the event store */
    proj_t *proj;       /* the projections */
    publish_t *pub;     /* status publisher */
    ingest_t *ingest;   /* the ingest pipeline */
    control_t *control; /* operator requests (backup), or NULL */
    auth_t *auth;       /* the key table and ZAP handler; NULL in plaintext mode */
    int stopping;       /* a stop signal was received */
} daemon_t;

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: cohortd [OPTION]...\n"
        "The cohortd daemon: receives agencies' programme events over ZeroMQ, stores\n"
        "them durably in RocksDB and acknowledges each once it is on disk.\n"
        "\n"
        "  -d, --data-dir DIR        event store directory (default: ./%s)\n"
        "  -i, --ingest ENDPOINT     ZeroMQ endpoint for agents (default: %s)\n"
        "  -p, --publish ENDPOINT    status updates, PUB (default: %s)\n"
        "  -s, --snapshot ENDPOINT   status snapshots, ROUTER (default: %s)\n"
        "      --coalesce-ms MS      at most one update per topic per MS (default: %d)\n"
        "      --suppress-k K        hide breakdown counts 1..K-1 (default: %d)\n"
        "      --at-risk-ratio R     at risk below R of the expected minutes (default: %.2f)\n"
        "      --checkpoint-every N  checkpoint the projections every N events (default: %d)\n"
        "      --control ENDPOINT    operator requests such as backup; ipc:// only, or 'none'\n"
        "                            (default: ipc://DATA-DIR/control.sock)\n"
        "  -k, --key FILE            the server's CURVE keypair, as written by cohortctl keygen\n"
        "                            (default: DATA-DIR/server.key, made with server.pub on\n"
        "                            first run)\n"
        "  -a, --access-file FILE    the client keys and their roles (default: DATA-DIR/access;\n"
        "                            see docs/security.md); reloaded on SIGHUP\n"
        "      --plaintext           development only: no encryption, no authentication,\n"
        "                            every client may do anything; local endpoints only\n"
        "  -l, --log-level LEVEL     error, warning, notice, info or debug (default: info)\n"
        "  -h, --help             show this help and exit\n"
        "  -V, --version          show the version and exit\n"
        "\n"
        "Stops cleanly on SIGTERM or SIGINT: what was received is committed and acked.\n"
        "SIGHUP reloads the access file; revoked keys lose their connections at once.\n"
        "See docs/protocol.md for the wire protocol and docs/operations.md to run it.\n",
        DEFAULT_DATA_DIR, DEFAULT_INGEST, DEFAULT_PUBLISH, DEFAULT_SNAPSHOT, DEFAULT_COALESCE_MS,
        PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO, DEFAULT_CHECKPOINT_EVERY);
}

/* Parses flags into cfg. Returns 0 to run, 1 to exit successfully (help,
 * version), or -EINVAL after printing what is wrong. */
static int parse_args(config_t *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"data-dir", required_argument, 0, 'd'},
                                         {"ingest", required_argument, 0, 'i'},
                                         {"publish", required_argument, 0, 'p'},
                                         {"snapshot", required_argument, 0, 's'},
                                         {"coalesce-ms", required_argument, 0, 'C'},
                                         {"suppress-k", required_argument, 0, 'K'},
                                         {"at-risk-ratio", required_argument, 0, 'R'},
                                         {"checkpoint-every", required_argument, 0, 'P'},
                                         {"control", required_argument, 0, 'O'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"plaintext", no_argument, 0, 'T'},
                                         {"key", required_argument, 0, 'k'},
                                         {"access-file", required_argument, 0, 'a'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "d:i:p:s:l:k:a:hV", opts, NULL)) != -1) {
        errno = 0;
        switch (c) {
        case 'p':
            cfg->publish = optarg;
            break;
        case 's':
            cfg->snapshot = optarg;
            break;
        case 'C': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (errno || *end || !*optarg || v > 60000) {
                fprintf(stderr, "cohortd: --coalesce-ms: '%s' is not 0-60000\n", optarg);
                return -EINVAL;
            }
            cfg->coalesce_ms = (unsigned)v;
            break;
        }
        case 'K': {
            long v = strtol(optarg, &end, 10);
            if (errno || *end || !*optarg || v < 1 || v > 1000) {
                fprintf(stderr, "cohortd: --suppress-k: '%s' is not 1-1000\n", optarg);
                return -EINVAL;
            }
            cfg->proj.k = (int)v;
            break;
        }
        case 'R': {
            double v = strtod(optarg, &end);
            if (errno || *end || !*optarg || !(v >= 0 && v <= 1)) {
                fprintf(stderr, "cohortd: --at-risk-ratio: '%s' is not a number from 0 to 1\n",
                        optarg);
                return -EINVAL;
            }
            cfg->proj.at_risk_ratio = v;
            break;
        }
        case 'O':
            cfg->control = optarg;
            break;
        case 'T':
            cfg->plaintext = 1;
            break;
        case 'k':
            cfg->key = optarg;
            break;
        case 'a':
            cfg->access = optarg;
            break;
        case 'P': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || *end || !*optarg || *optarg == '-') {
                fprintf(stderr, "cohortd: --checkpoint-every: '%s' is not a number\n", optarg);
                return -EINVAL;
            }
            cfg->checkpoint_every = v;
            break;
        }
        case 'd':
            cfg->data_dir = optarg;
            break;
        case 'i':
            cfg->ingest = optarg;
            break;
        case 'l':
            if ((cfg->log_level = cohort_log_parse_level(optarg)) < 0) {
                fprintf(stderr, "cohortd: --log-level: unknown level '%s'\n", optarg);
                return -EINVAL;
            }
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("cohortd %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try 'cohortd --help' for more information.\n");
            return -EINVAL;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cohortd: unexpected argument '%s'\nTry 'cohortd --help'.\n", argv[optind]);
        return -EINVAL;
    }
    return 0;
}

/* 0 if a ZeroMQ endpoint may be reachable from another host: any network
 * transport except tcp:// bound to a loopback address. ipc://, inproc://
 * and transports libzmq does not know (zmq_bind refuses those) give 1. */
static int local_endpoint(const char *ep)
{
    static const char *ok[] = {"tcp://127.0.0.1:", "tcp://[::1]:", "tcp://localhost:"};
    static const char *net[] = {"tcp://", "udp://", "pgm://",  "epgm://", "norm://",
                                "ws://",  "wss://", "tipc://", "vmci://"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strncmp(ep, ok[i], strlen(ok[i])) == 0)
            return 1;
    for (size_t i = 0; i < sizeof net / sizeof net[0]; i++)
        if (strncmp(ep, net[i], strlen(net[i])) == 0)
            return 0;
    return 1;
}

/* Loads the server keypair into pub/sec. A missing key at the default
 * path is made there (first run); a missing key given with --key is an
 * error. Returns 0, or -1 after logging why. */
static int server_key(const config_t *cfg, char pub[COHORT_KEY_Z85_LEN + 1],
                      char sec[COHORT_KEY_Z85_LEN + 1])
{
    char path[4300], base[4200], err[4600];
    struct stat st;
    snprintf(base, sizeof base, "%s/server", cfg->data_dir);
    snprintf(path, sizeof path, "%s", cfg->key ? cfg->key : "");
    if (!cfg->key)
        snprintf(path, sizeof path, "%s.key", base);
    if (!cfg->key && stat(path, &st) != 0 && errno == ENOENT) {
        if (cohort_keys_generate(base, pub, err, sizeof err) < 0) {
            cohort_log(LOG_ERR, "cannot make the server keypair: %s", err);
            return -1;
        }
        cohort_log(LOG_NOTICE,
                   "first run: made the server keypair %s (public key in %s.pub, fingerprint "
                   "%.8s); give clients the .pub file",
                   path, base, pub);
    }
    if (cohort_keys_load(path, pub, sec, err, sizeof err) < 0) {
        cohort_log(LOG_ERR, "cannot load the server key: %s (make one with: cohortctl keygen NAME)",
                   err);
        return -1;
    }
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    (void)h; /* the signal handles live in daemon_t on main's stack */
}

/* Ingest has committed and acked everything it took: tear down the loop. */
static void on_stopped(void *arg)
{
    daemon_t *d = arg;
    ingest_stats_t st;
    ingest_stats(d->ingest, &st);
    cohort_log(LOG_INFO,
               "stopped at seq %llu: %llu accepted, %llu duplicate, %llu rejected, "
               "%llu frames refused, %llu commits",
               (unsigned long long)ingest_head(d->ingest), (unsigned long long)st.accepted,
               (unsigned long long)st.duplicates, (unsigned long long)st.rejected,
               (unsigned long long)st.frames_refused, (unsigned long long)st.commits);
    char err[512];
    if (checkpoint_save(d->store, d->proj, err, sizeof err) < 0) /* no commit can run now */
        cohort_log(LOG_WARNING, "final checkpoint failed: %s", err);
    publish_flush(d->pub);
    control_destroy(&d->control); /* a backup in flight finishes first */
    ingest_destroy(&d->ingest);
    publish_destroy(&d->pub);
    auth_destroy(&d->auth); /* after every socket it checks */
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&d->sig[i], on_handle_closed);
}

/* SIGHUP: reloads the access file; if a key was revoked or changed, its
 * subscribers are dropped (ingest, snapshot and control check every
 * message against the new table by themselves). */
static void on_hup(daemon_t *d)
{
    char err[4400];
    size_t revoked = 0;
    if (!d->auth) {
        cohort_log(LOG_NOTICE, "SIGHUP: plaintext mode has no access file to reload");
        return;
    }
    if (auth_reload(d->auth, &revoked, err, sizeof err) < 0)
        return; /* logged by auth, with the reason; the old table stays */
    if (revoked && d->pub && publish_drop_subscribers(d->pub, err, sizeof err) < 0)
        cohort_log(LOG_ERR, "SIGHUP: %s", err);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    if (signum == SIGHUP) {
        if (!d->stopping)
            on_hup(d);
        return;
    }
    if (d->stopping) {
        cohort_log(LOG_NOTICE, "signal %d: already stopping", signum);
        return;
    }
    d->stopping = 1;
    cohort_log(LOG_INFO, "signal %d: stopping; finishing work in flight", signum);
    ingest_stop(d->ingest, on_stopped, d);
}

/* zmq_ctx_term on a helper thread, waited for at most TERM_WAIT_S: it
 * honours the sockets' linger (unsent acks get up to 2 s), but libzmq
 * 4.3.4 has been seen to block in it for good after peers that never read
 * had filled their queues. The store is closed before, so nothing is lost
 * by exiting. Returns 0, or -ETIMEDOUT (the thread is left behind). */
#define TERM_WAIT_S 5
typedef struct {
    void *zctx;         /* the context to terminate */
    int done;           /* zmq_ctx_term returned */
    pthread_mutex_t mu; /* guards done */
    pthread_cond_t cv;  /* signalled when done */
} term_t;

static void *term_run(void *arg)
{
    term_t *t = arg;
    zmq_ctx_term(t->zctx);
    pthread_mutex_lock(&t->mu);
    t->done = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int term_zmq(void *zctx)
{
    static term_t t = {NULL, 0, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER};
    struct timespec until;
    pthread_t th;
    int rc = 0;
    t.zctx = zctx;
    if (pthread_create(&th, NULL, term_run, &t) != 0) {
        zmq_ctx_term(zctx); /* no thread: wait as before */
        return 0;
    }
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += TERM_WAIT_S;
    pthread_mutex_lock(&t.mu);
    while (!t.done && rc == 0)
        rc = pthread_cond_timedwait(&t.cv, &t.mu, &until);
    int done = t.done;
    pthread_mutex_unlock(&t.mu);
    if (!done) {
        pthread_detach(th);
        return -ETIMEDOUT;
    }
    pthread_join(th, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    config_t cfg = {DEFAULT_DATA_DIR,
                    DEFAULT_INGEST,
                    DEFAULT_PUBLISH,
                    DEFAULT_SNAPSHOT,
                    DEFAULT_COALESCE_MS,
                    DEFAULT_CHECKPOINT_EVERY,
                    {PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO},
                    LOG_INFO,
                    NULL,
                    0,
                    NULL,
                    NULL};
    daemon_t d = {0};
    void *zctx = NULL;
    char err[4400], pub_key[COHORT_KEY_Z85_LEN + 1] = "", sec_key[COHORT_KEY_Z85_LEN + 1] = "";
    int rc, status = EXIT_FAILURE;
    checkpoint_info_t info;

    if ((rc = parse_args(&cfg, argc, argv)) != 0)
        return rc > 0 ? EXIT_SUCCESS : 2;
    cohort_log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        cohort_log(LOG_ERR, "cannot create data directory %s: %s", cfg.data_dir, strerror(errno));
        return EXIT_FAILURE;
    }
    if (cfg.plaintext) {
        const char *eps[] = {cfg.ingest, cfg.publish, cfg.snapshot};
        for (int i = 0; i < 3; i++)
            if (!local_endpoint(eps[i])) {
                cohort_log(LOG_ERR,
                           "--plaintext refuses endpoint %s: plain text is for local "
                           "development only (ipc://, or tcp:// on 127.0.0.1, ::1 or localhost)",
                           eps[i]);
                return EXIT_FAILURE;
            }
        cohort_log(LOG_WARNING, "PLAINTEXT MODE: no encryption and no authentication; every "
                                "local client may write any agency's events and read every "
                                "topic. For development only: never with real data.");
    } else if (server_key(&cfg, pub_key, sec_key) < 0) {
        return EXIT_FAILURE;
    }
    /* The key table before the store: a bad access file fails fast. */
    d.loop = uv_default_loop();
    if (!(zctx = zmq_ctx_new())) {
        cohort_log(LOG_ERR, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto out;
    }
    if (!cfg.plaintext) {
        char access[4200];
        snprintf(access, sizeof access, "%s/access", cfg.data_dir);
        if (cfg.access)
            snprintf(access, sizeof access, "%s", cfg.access);
        if ((rc = auth_new(&d.auth, d.loop, zctx, access, err, sizeof err)) < 0) {
            cohort_log(LOG_ERR, "cannot load the access file: %s%s", err,
                       rc == -ENOENT ? " (list the clients' keys there: see docs/security.md; "
                                       "or run with --plaintext for local development)"
                                     : "");
            goto out;
        }
    }
    if ((rc = store_open(&d.store, cfg.data_dir, 0, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot open the event store in %s: %s", cfg.data_dir, err);
        goto out;
    }
    if ((rc = checkpoint_restore(d.store, &cfg.proj, 1, 0, &d.proj, &info, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot load the projections: %s", err);
        goto out;
    }
    cohort_log(LOG_INFO, "projections at seq %llu: checkpoint %llu, %llu log entries replayed",
               (unsigned long long)proj_seq(d.proj), (unsigned long long)info.checkpoint_seq,
               (unsigned long long)info.replayed);
    const char *secret = d.auth ? sec_key : NULL;
    /* Coalescing happens where documents are rendered (ingest), so the
     * publisher sends each one as it comes. */
    if ((rc = publish_new(&d.pub, d.loop, zctx, cfg.publish, cfg.snapshot, 0, d.auth, secret, err,
                          sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start publishing: %s", err);
        goto out;
    }
    ingest_opts_t io = {cfg.ingest,           d.store,         &d.proj, &cfg.proj, d.pub,
                        cfg.checkpoint_every, cfg.coalesce_ms, d.auth,  secret};
    if ((rc = ingest_new(&d.ingest, d.loop, zctx, &io, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start ingest: %s", err);
        goto out;
    }
    char control_ep[4200];
    snprintf(control_ep, sizeof control_ep, "ipc://%s/control.sock", cfg.data_dir);
    if (cfg.control)
        snprintf(control_ep, sizeof control_ep, "%s", cfg.control);
    if (strcmp(control_ep, "none") != 0 &&
        (rc = control_new(&d.control, d.loop, zctx, control_ep, d.store, d.auth, secret, err,
                          sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start the control endpoint: %s", err);
        goto out;
    }
    int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
    for (int i = 0; i < 3; i++) {
        uv_signal_init(d.loop, &d.sig[i]);
        d.sig[i].data = &d;
        uv_signal_start(&d.sig[i], on_signal, sigs[i]);
    }
    char mode[96] = "PLAINTEXT (development mode)";
    if (d.auth)
        snprintf(mode, sizeof mode, "CURVE (server key %.8s, %zu client keys)", pub_key,
                 auth_count(d.auth));
    cohort_log(LOG_INFO,
               "cohortd %s ready: data %s, log head seq %llu, ingest %s, publish %s, snapshot %s, "
               "%s",
               COHORT_VERSION, cfg.data_dir, (unsigned long long)store_head(d.store), cfg.ingest,
               cfg.publish, cfg.snapshot, mode);
    uv_run(d.loop, UV_RUN_DEFAULT);
    status = EXIT_SUCCESS;
out:
    control_destroy(&d.control);
    ingest_destroy(&d.ingest);
    publish_destroy(&d.pub);
    auth_destroy(&d.auth);
    explicit_bzero(sec_key, sizeof sec_key);
    if (d.loop) {
        uv_run(d.loop, UV_RUN_NOWAIT); /* let close callbacks run */
        if (uv_loop_close(d.loop) != 0)
            cohort_log(LOG_WARNING, "event loop closed with handles still open");
    }
    /* The store first: everything is durable already, and closing it does
     * not depend on ZeroMQ's lingering sockets. */
    proj_destroy(&d.proj);
    store_close(&d.store);
    if (zctx && term_zmq(zctx) < 0)
        cohort_log(LOG_WARNING, "ZeroMQ did not shut down within %d s; exiting anyway",
                   TERM_WAIT_S);
    return status;
}
