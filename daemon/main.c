/* main.c: cohortd, the central daemon. Only wiring lives here:
 * defaults -> configuration file -> flags (config.c) -> init (server key,
 * store, projections, ZeroMQ, key table, publisher, ingest, control,
 * signals) -> run -> teardown. Shutdown on SIGTERM/SIGINT: stop taking
 * frames, commit and ack what was received, checkpoint the projections,
 * publish what is pending, close the sockets, then close RocksDB. SIGHUP
 * reloads the access file and the configuration file (log_level applies
 * at once; other changes are logged as needing a restart). Under systemd
 * (NOTIFY_SOCKET) notify.c reports READY=1 once everything is bound, then
 * STATUS=, WATCHDOG=1 from the loop, RELOADING=1 and STOPPING=1.
 *
 * Security contract: every socket is a CURVE server whose clients are
 * checked by the ZAP handler (auth.c) against the access file, unless
 * plaintext is on, which config.c refuses for any endpoint that is not
 * local (ipc://, or tcp:// on 127.0.0.1) and is warned about at start.
 * The key table exists before the first socket is bound and is destroyed
 * after the last one is closed. */
#include <errno.h>
#include <pthread.h>
#include <time.h>
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
#include "config.h"
#include "control.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "proj.h"
#include "publish.h"
#include "store.h"

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
    notify_t *notify;   /* service manager notifications (sd_notify); no-op without NOTIFY_SOCKET */
    metrics_t *metrics; /* the Prometheus endpoint, or NULL when off */
    uv_timer_t log_flush; /* writes the counts of rate-limited log lines (log.h) */
    int log_flush_inited; /* log_flush was initialised (so it must be closed) */

    cohortd_config_t *cfg;   /* the settings in force (main's) */
    const config_cli_t *cli; /* the command line, applied again on each reload */
} daemon_t;

/* Loads the server keypair into pub/sec. A missing key at the default
 * path is made there (first run); a missing key given with --key or
 * server_key is an error. Returns 0, or -1 after logging why. */
static int server_key(const cohortd_config_t *cfg, char pub[COHORT_KEY_Z85_LEN + 1],
                      char sec[COHORT_KEY_Z85_LEN + 1])
{
    char path[4300], base[4200], err[4600];
    struct stat st;
    snprintf(base, sizeof base, "%s/server", cfg->data_dir);
    snprintf(path, sizeof path, "%s", cfg->key);
    if (cfg->key_default && stat(path, &st) != 0 && errno == ENOENT) {
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
    metrics_destroy(&d->metrics); /* before what it reads */
    control_destroy(&d->control); /* a backup in flight finishes first */
    if (d->auth)
        auth_set_before_answer(d->auth, NULL, NULL); /* it pointed at the ingest */
    ingest_destroy(&d->ingest);
    publish_destroy(&d->pub);
    auth_destroy(&d->auth); /* after every socket it checks */
    for (int i = 0; i < 3; i++)
        uv_close((uv_handle_t *)&d->sig[i], on_handle_closed);
}

/* config_load's reporter in the daemon: each problem is an error line. */
static void log_report(void *arg, const char *msg)
{
    (void)arg;
    cohort_log(LOG_ERR, "%s", msg);
}

/* config_diff's callback on SIGHUP: an option that cannot change live. */
static void log_restart_needed(void *arg, const char *key)
{
    (void)arg;
    cohort_log(LOG_WARNING,
               "SIGHUP: option '%s' changed: needs a restart (the running value stays in force "
               "until then)",
               key);
}

/* SIGHUP, the configuration: reads it again as at start (the same file,
 * then the same flags). log_level takes effect at once; any other option
 * that changed is logged as needing a restart; a bad file is logged and
 * changes nothing. */
static void reload_config(daemon_t *d)
{
    cohortd_config_t next;
    int was = d->cfg->log_level;
    if (config_load(&next, d->cli, log_report, NULL) < 0) {
        cohort_log(LOG_ERR, "SIGHUP: the configuration has errors; the settings in force stay");
        return;
    }
    if (next.log_level != was) { /* said at the more verbose of the two levels */
        if (next.log_level > was)
            cohort_log_set_level(next.log_level);
        cohort_log(LOG_NOTICE, "SIGHUP: log level %s (was %s)", config_level_name(next.log_level),
                   config_level_name(was));
        cohort_log_set_level(next.log_level);
        d->cfg->log_level = next.log_level;
    }
    size_t n = config_diff(d->cfg, &next, log_restart_needed, NULL);
    cohort_log(LOG_INFO,
               "SIGHUP: configuration reloaded from %s: log level %s, %zu option%s "
               "waiting for a restart",
               next.path ? next.path : "defaults and flags (no file)",
               config_level_name(next.log_level), n, n == 1 ? "" : "s");
    config_free(&next);
}

/* SIGHUP: reloads the configuration (above) and the access file; if a key
 * was revoked or changed, its subscribers get nothing more (ingest, snapshot and
 * control check every message against the new table by themselves). */
static void on_hup(daemon_t *d)
{
    char err[4400];
    size_t revoked = 0;
    reload_config(d);
    if (!d->auth) {
        cohort_log(LOG_NOTICE, "SIGHUP: plaintext mode has no access file to reload");
        return;
    }
    if (auth_reload(d->auth, &revoked, err, sizeof err) < 0)
        return; /* logged by auth, with the reason; the old table stays */
    if (revoked && d->pub)
        publish_revalidate(d->pub);
}

#define LOG_FLUSH_MS 5000 /* how often pending counts of rate-limited lines are checked */

/* Every LOG_FLUSH_MS: the counts of rate-limited lines whose window ended. */
static void on_log_flush(uv_timer_t *t)
{
    (void)t;
    cohort_log_limited_flush(0);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_t *d = h->data;
    if (signum == SIGHUP) {
        if (!d->stopping) {
            notify_reloading(d->notify); /* RELOADING=1, the reload, READY=1 */
            on_hup(d);
            notify_ready(d->notify);
        }
        return;
    }
    if (d->stopping) {
        cohort_log(LOG_NOTICE, "signal %d: already stopping", signum);
        return;
    }
    d->stopping = 1;
    notify_stopping(d->notify); /* STOPPING=1; it lets go of ingest and pub */
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
    config_cli_t cli;
    cohortd_config_t cfg = {0};
    daemon_t d = {0};
    void *zctx = NULL;
    char err[4400], pub_key[COHORT_KEY_Z85_LEN + 1] = "", sec_key[COHORT_KEY_Z85_LEN + 1] = "";
    int rc, status = EXIT_FAILURE;
    checkpoint_info_t info;

    if ((rc = config_parse_args(&cli, argc, argv)) != 0)
        return rc > 0 ? EXIT_SUCCESS : 2;
    if (cli.check) {
        status = config_check(&cli);
        config_cli_free(&cli);
        return status;
    }
    if (config_load(&cfg, &cli, log_report, NULL) < 0) {
        cohort_log(LOG_ERR, "cannot start: the configuration has errors (check it with "
                            "cohortd --check-config)");
        goto out;
    }
    d.cfg = &cfg;
    d.cli = &cli;
    cohort_log_set_level(cfg.log_level);
    signal(SIGPIPE, SIG_IGN);
    cohort_log(LOG_INFO, "configuration: %s", cfg.path ? cfg.path : "no file (defaults and flags)");

    if (mkdir(cfg.data_dir, 0700) != 0 && errno != EEXIST) {
        cohort_log(LOG_ERR, "cannot create data directory %s: %s", cfg.data_dir, strerror(errno));
        goto out;
    }
    if (cfg.plaintext) {
        cohort_log(LOG_WARNING, "PLAINTEXT MODE: no encryption and no authentication; every "
                                "local client may write any agency's events and read every "
                                "topic. For development only: never with real data.");
    } else if (server_key(&cfg, pub_key, sec_key) < 0) {
        goto out;
    }
    /* The key table before the store: a bad access file fails fast. */
    d.loop = uv_default_loop();
    if (!(zctx = zmq_ctx_new())) {
        cohort_log(LOG_ERR, "cannot create a ZeroMQ context: %s", zmq_strerror(errno));
        goto out;
    }
    if (!cfg.plaintext) {
        if ((rc = auth_new(&d.auth, d.loop, zctx, cfg.access, err, sizeof err)) < 0) {
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
    if (store_no_journal(d.store))
        cohort_log(LOG_WARNING,
                   "store: no ack journal (%s): every commit syncs RocksDB's WAL, "
                   "which is slower; free space and restart to use it",
                   store_no_journal(d.store));
    if (store_recovered(d.store) > 0)
        cohort_log(LOG_NOTICE,
                   "store: %llu events the crash took from RocksDB were "
                   "written back from the ack journal (log head %llu)",
                   (unsigned long long)store_recovered(d.store),
                   (unsigned long long)store_head(d.store));
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
    publish_opts_t po = {
        .pub_ep = cfg.publish, .snap_ep = cfg.snapshot, .auth = d.auth, .curve_secret = secret};
    if ((rc = publish_new(&d.pub, d.loop, zctx, &po, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start publishing: %s", err);
        goto out;
    }
    ingest_opts_t io = {.endpoint = cfg.ingest,
                        .store = d.store,
                        .proj = &d.proj,
                        .proj_cfg = &cfg.proj,
                        .pub = d.pub,
                        .checkpoint_every = cfg.checkpoint_every,
                        .coalesce_ms = cfg.coalesce_ms,
                        .auth = d.auth,
                        .curve_secret = secret,
                        .ref_form = (validate_ref_form_t)cfg.ref_form,
                        .max_conns = cfg.max_conns,
                        .max_conns_per_addr = cfg.max_conns_per_addr};
    if ((rc = ingest_new(&d.ingest, d.loop, zctx, &io, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start ingest: %s", err);
        goto out;
    }
    if (d.auth)
        auth_set_before_answer(d.auth, ingest_settle_connections, d.ingest);
    control_opts_t co = {.endpoint = cfg.control,
                         .store = d.store,
                         .ingest = d.ingest,
                         .pub = d.pub,
                         .auth = d.auth,
                         .curve_secret = secret,
                         .data_dir = cfg.data_dir};
    if (cfg.control && /* NULL: control = none */
        (rc = control_new(&d.control, d.loop, zctx, &co, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start the control endpoint: %s", err);
        goto out;
    }
    metrics_opts_t mo = {
        .addr = cfg.metrics, .ingest = d.ingest, .pub = d.pub, .control = d.control};
    if (cfg.metrics && /* NULL: metrics = none */
        (rc = metrics_new(&d.metrics, d.loop, &mo, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start the metrics endpoint: %s", err);
        goto out;
    }
    if ((rc = notify_new(&d.notify, d.loop, d.ingest, d.pub, err, sizeof err)) < 0) {
        cohort_log(LOG_ERR, "cannot start service manager notifications: %s", err);
        goto out;
    }
    /* A key's suppressed lines are counted in the log at most LOG_FLUSH_MS after its window. */
    uv_timer_init(d.loop, &d.log_flush);
    d.log_flush_inited = 1;
    uv_timer_start(&d.log_flush, on_log_flush, LOG_FLUSH_MS, LOG_FLUSH_MS);
    uv_unref((uv_handle_t *)&d.log_flush); /* never keeps the daemon running */
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
    if (cfg.ref_form == VALIDATE_REF_ANY)
        cohort_log(LOG_WARNING, "ref_form = any: participant and mentor refs are not checked "
                                "to be pseudonyms; the agencies must make their own");
    cohort_log(LOG_INFO,
               "cohortd %s ready: data %s, log head seq %llu, ingest %s, publish %s, snapshot %s, "
               "status coalescing %u ms, %s",
               COHORT_VERSION, cfg.data_dir, (unsigned long long)store_head(d.store), cfg.ingest,
               cfg.publish, cfg.snapshot, cfg.coalesce_ms, mode);
    notify_ready(d.notify); /* the log is open, projections loaded, every socket bound */
    uv_run(d.loop, UV_RUN_DEFAULT);
    status = EXIT_SUCCESS;
out:
    notify_destroy(&d.notify);   /* its timers never keep the loop running */
    metrics_destroy(&d.metrics); /* before what it reads */
    control_destroy(&d.control);
    if (d.auth)
        auth_set_before_answer(d.auth, NULL, NULL); /* it pointed at the ingest */
    ingest_destroy(&d.ingest);
    publish_destroy(&d.pub);
    auth_destroy(&d.auth);
    explicit_bzero(sec_key, sizeof sec_key);
    if (d.log_flush_inited)
        uv_close((uv_handle_t *)&d.log_flush, NULL); /* d outlives the loop */
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
    cohort_log_limited_flush(1); /* every count still pending */
    config_free(&cfg);
    config_cli_free(&cli);
    return status;
}
