/* main.c: cohortd, the central daemon. Only wiring lives here:
 * defaults -> flags -> init (store, projections, ZeroMQ, publisher, ingest,
 * signals) -> run -> teardown. Shutdown on SIGTERM/SIGINT: stop taking
 * frames, commit and ack what was received, checkpoint the projections,
 * publish what is pending, close the sockets, then close RocksDB. */
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

#include "checkpoint.h"
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
} config_t;

/* Everything wired together, for the signal and stop callbacks. */
typedef struct {
    uv_loop_t *loop;
    uv_signal_t sig[2]; /* SIGTERM, SIGINT */
    store_t *store;     /* the event store */
    proj_t *proj;       /* the projections */
    publish_t *pub;     /* status publisher */
    ingest_t *ingest;   /* the ingest pipeline */
    control_t *control; /* operator requests (backup), or NULL */
    int stopping;       /* a stop signal was received */
} daemon_t;

static void usage(FILE *out)
{
    fprintf(out,
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
            "  -l, --log-level LEVEL     error, warning, notice, info or debug (default: info)\n"
            "  -h, --help             show this help and exit\n"
            "  -V, --version          show the version and exit\n"
            "\n"
            "Stops cleanly on SIGTERM or SIGINT: what was received is committed and acked.\n"
            "See docs/protocol.md for the wire protocol and docs/operations.md to run it.\n",
            DEFAULT_DATA_DIR, DEFAULT_INGEST, DEFAULT_PUBLISH, DEFAULT_SNAPSHOT,
            DEFAULT_COALESCE_MS, PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO,
            DEFAULT_CHECKPOINT_EVERY);
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
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "d:i:p:s:l:hV", opts, NULL)) != -1) {
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
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&d->sig[i], on_handle_closed);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
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
                    NULL};
    daemon_t d = {0};
    void *zctx = NULL;
    char err[512];
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
    if ((rc = store_open(&d.store, cfg.data_dir, 0, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot open the event store in %s: %s", cfg.data_dir, err);
        return EXIT_FAILURE;
    }
    if ((rc = checkpoint_restore(d.store, &cfg.proj, 1, 0, &d.proj, &info, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot load the projections: %s", err);
        goto out;
    }
    cohort_log(LOG_INFO, "projections at seq %llu: checkpoint %llu, %llu log entries replayed",
               (unsigned long long)proj_seq(d.proj), (unsigned long long)info.checkpoint_seq,
               (unsigned long long)info.replayed);
    d.loop = uv_default_loop();
    if (!(zctx = zmq_ctx_new())) {
        cohort_log(LOG_ERR, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto out;
    }
    /* Coalescing happens where documents are rendered (ingest), so the
     * publisher sends each one as it comes. */
    if ((rc = publish_new(&d.pub, d.loop, zctx, cfg.publish, cfg.snapshot, 0, err, sizeof err)) <
        0) {
        cohort_log(LOG_ERR, "cannot start publishing: %s", err);
        goto out;
    }
    ingest_opts_t io = {cfg.ingest,           d.store,        &d.proj, &cfg.proj, d.pub,
                        cfg.checkpoint_every, cfg.coalesce_ms};
    if ((rc = ingest_new(&d.ingest, d.loop, zctx, &io, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start ingest: %s", err);
        goto out;
    }
    char control_ep[4200];
    snprintf(control_ep, sizeof control_ep, "ipc://%s/control.sock", cfg.data_dir);
    if (cfg.control)
        snprintf(control_ep, sizeof control_ep, "%s", cfg.control);
    if (strcmp(control_ep, "none") != 0 &&
        (rc = control_new(&d.control, d.loop, zctx, control_ep, d.store, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start the control endpoint: %s", err);
        goto out;
    }
    int sigs[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(d.loop, &d.sig[i]);
        d.sig[i].data = &d;
        uv_signal_start(&d.sig[i], on_signal, sigs[i]);
    }
    cohort_log(LOG_INFO,
               "cohortd %s ready: data %s, log head seq %llu, ingest %s, publish %s, snapshot %s",
               COHORT_VERSION, cfg.data_dir, (unsigned long long)store_head(d.store), cfg.ingest,
               cfg.publish, cfg.snapshot);
    uv_run(d.loop, UV_RUN_DEFAULT);
    status = EXIT_SUCCESS;
out:
    control_destroy(&d.control);
    ingest_destroy(&d.ingest);
    publish_destroy(&d.pub);
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
