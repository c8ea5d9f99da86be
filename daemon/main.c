/* main.c: cohortd, the central daemon. Only wiring lives here:
 * defaults -> flags -> init (store, ZeroMQ, ingest, signals) -> run ->
 * teardown. Shutdown on SIGTERM/SIGINT: stop taking frames, commit and ack
 * what was received, close the socket, then close RocksDB. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <uv.h>
#include <zmq.h>

#include "ingest.h"
#include "log.h"
#include "store.h"

#define DEFAULT_DATA_DIR "cohort-data"
#define DEFAULT_INGEST "tcp://127.0.0.1:7400"

/* What the daemon runs with. */
typedef struct {
    const char *data_dir; /* RocksDB directory */
    const char *ingest;   /* ROUTER endpoint for agents */
    int log_level;        /* syslog priority */
} config_t;

/* Everything wired together, for the signal and stop callbacks. */
typedef struct {
    uv_loop_t *loop;
    uv_signal_t sig[2];   /* SIGTERM, SIGINT */
    ingest_t *ingest;
    int stopping;
} daemon_t;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cohortd [OPTION]...\n"
            "The cohortd daemon: receives agencies' programme events over ZeroMQ, stores\n"
            "them durably in RocksDB and acknowledges each once it is on disk.\n"
            "\n"
            "  -d, --data-dir DIR     event store directory (default: ./%s)\n"
            "  -i, --ingest ENDPOINT  ZeroMQ endpoint for agents (default: %s)\n"
            "  -l, --log-level LEVEL  error, warning, notice, info or debug (default: info)\n"
            "  -h, --help             show this help and exit\n"
            "  -V, --version          show the version and exit\n"
            "\n"
            "Stops cleanly on SIGTERM or SIGINT: what was received is committed and acked.\n"
            "See docs/protocol.md for the wire protocol and docs/operations.md to run it.\n",
            DEFAULT_DATA_DIR, DEFAULT_INGEST);
}

/* Parses flags into cfg. Returns 0 to run, 1 to exit successfully (help,
 * version), or -EINVAL after printing what is wrong. */
static int parse_args(config_t *cfg, int argc, char **argv)
{
    static const struct option opts[] = {{"data-dir", required_argument, 0, 'd'},
                                         {"ingest", required_argument, 0, 'i'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {"version", no_argument, 0, 'V'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:i:l:hV", opts, NULL)) != -1) {
        switch (c) {
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
        fprintf(stderr, "cohortd: unexpected argument '%s'\nTry 'cohortd --help'.\n",
                argv[optind]);
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
    ingest_destroy(&d->ingest);
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

int main(int argc, char **argv)
{
    config_t cfg = {DEFAULT_DATA_DIR, DEFAULT_INGEST, LOG_INFO};
    daemon_t d = {0};
    store_t *store = NULL;
    void *zctx = NULL;
    char err[512];
    int rc, status = EXIT_FAILURE;

    if ((rc = parse_args(&cfg, argc, argv)) != 0)
        return rc > 0 ? EXIT_SUCCESS : 2;
    cohort_log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        cohort_log(LOG_ERR, "cannot create data directory %s: %s", cfg.data_dir,
                   strerror(errno));
        return EXIT_FAILURE;
    }
    if ((rc = store_open(&store, cfg.data_dir, 0, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot open the event store in %s: %s", cfg.data_dir, err);
        return EXIT_FAILURE;
    }
    d.loop = uv_default_loop();
    if (!(zctx = zmq_ctx_new())) {
        cohort_log(LOG_ERR, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto out;
    }
    if ((rc = ingest_new(&d.ingest, d.loop, zctx, store, cfg.ingest, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start ingest: %s", err);
        goto out;
    }
    int sigs[2] = {SIGTERM, SIGINT};
    for (int i = 0; i < 2; i++) {
        uv_signal_init(d.loop, &d.sig[i]);
        d.sig[i].data = &d;
        uv_signal_start(&d.sig[i], on_signal, sigs[i]);
    }
    cohort_log(LOG_INFO, "cohortd %s ready: data %s, log head seq %llu, ingest %s",
               COHORT_VERSION, cfg.data_dir, (unsigned long long)store_head(store), cfg.ingest);
    uv_run(d.loop, UV_RUN_DEFAULT);
    status = EXIT_SUCCESS;
out:
    ingest_destroy(&d.ingest);
    uv_run(d.loop, UV_RUN_NOWAIT); /* let close callbacks run */
    if (uv_loop_close(d.loop) != 0)
        cohort_log(LOG_WARNING, "event loop closed with handles still open");
    if (zctx)
        zmq_ctx_term(zctx);
    store_close(&store);
    return status;
}
