/* agent_watch.c: cohort-agent watch: the spool service (libuv loop) that
 * takes export files into the outbox and sends them, retrying forever.
 * The contract is at the top of cohort_agent.c. */
#include "agent_drive.h"

/* ---------------------------------------------------------------- watch --- */

/* The watch service: libuv handles around the client, spool and outbox. */
typedef struct {
    agent_drive_t d;     /* the send driver (its source: the outbox) */
    uv_loop_t loop;      /* the loop */
    spool_t *sp;         /* the spool directory */
    void *zsock;         /* the client's DEALER */
    uv_poll_t zpoll;     /* ZMQ_FD readability */
    uv_check_t check;    /* re-reads ZMQ_EVENTS every iteration (edge-triggered ZMQ_FD) */
    uv_idle_t idle;      /* keeps the loop from blocking while ZeroMQ has work */
    uv_timer_t ctimer;   /* client timers and the retry hold-off */
    uv_timer_t scan;     /* spool scans: soon after a change, and every rescan_ms */
    uv_fs_event_t fsev;  /* changes in the spool directory */
    uv_signal_t sigterm; /* SIGTERM: stop */
    uv_signal_t sigint;  /* SIGINT: stop */
    int inited;          /* handles initialised (to close) */
    int fs_ok;           /* fsev running */
    unsigned retry_ms;   /* next hold-off */
    int down;            /* "daemon not answering" was logged */
    uint64_t answered;   /* final results seen (ACCEPTED, DUPLICATE, REJECTED) */
    int stopping;        /* stop requested */
    int ret;             /* exit status */
    time_t swept;        /* when the retention was last applied (0: not yet) */
    struct tracked {     /* files taken in this run, until one event is accepted */
        char *src;       /* the name it was taken in under (the outbox source) */
        char *moved;     /* its name in done/ */
        uint64_t left;   /* its events not answered yet */
        char code[48];   /* the first rejection's code */
    } tracked[MAX_TRACKED];
    size_t ntracked; /* entries used in tracked (oldest first) */
} watch_t;

static void w_stop(watch_t *w, int ret);
static void w_on_timer(uv_timer_t *h);
static void w_on_scan(uv_timer_t *h);

/* Drops tracked entry i. */
static void w_untrack(watch_t *w, size_t i)
{
    free(w->tracked[i].src);
    free(w->tracked[i].moved);
    memmove(&w->tracked[i], &w->tracked[i + 1], (w->ntracked - i - 1) * sizeof w->tracked[0]);
    w->ntracked--;
}

/* The driver's on_final hook: a final result for an event of the file
 * taken in as name. A REJECTED one is logged. Once every event a file added
 * to the outbox has been rejected (dead-lettered), and none accepted, the
 * file moves from done/ to failed/ with a reason. An accepted (or
 * duplicate) event ends the tracking of the file: it stays in done/. Only
 * files taken in by this run are tracked. */
static void w_on_final(agent_drive_t *d, const char *name, uint64_t line, const uint8_t *id,
                       const char *code, const char *why)
{
    watch_t *w = d->owner;
    char reason[512], moved[512], uuid[37];
    size_t i;
    int rc;

    if (code) {
        uuid7_format(id, uuid);
        fprintf(stderr, PROG ": event %s (%s line %" PRIu64 ") REJECTED: %s: %s; written to %s\n",
                uuid, name, line, code, why, outbox_dead_letter_path(d->ob));
    }
    for (i = 0; i < w->ntracked && strcmp(w->tracked[i].src, name) != 0; i++)
        ;
    if (i == w->ntracked)
        return;
    if (!code) {
        w_untrack(w, i);
        return;
    }
    if (w->tracked[i].code[0] == 0)
        snprintf(w->tracked[i].code, sizeof w->tracked[i].code, "%s", code);
    if (--w->tracked[i].left > 0)
        return;
    snprintf(reason, sizeof reason,
             "%s: taken in, but every event of it was rejected by the daemon (first: %s); "
             "nothing from this file is in the log; the events, with code and reason, are in %s",
             name, w->tracked[i].code, outbox_dead_letter_path(d->ob));
    if ((rc = spool_refail(w->sp, w->tracked[i].moved, reason, moved, sizeof moved)) < 0)
        fprintf(stderr,
                PROG ": %s: every event was rejected, but cannot move %s/done/%s to "
                     "failed/: %s\n",
                name, spool_dir(w->sp), w->tracked[i].moved, strerror(-rc));
    else
        fprintf(stderr,
                PROG ": %s: every event was rejected (dead-lettered); moved %s/done/%s to "
                     "%s/failed/%s, see %s.reason\n",
                name, spool_dir(w->sp), w->tracked[i].moved, spool_dir(w->sp), moved, moved);
    w_untrack(w, i);
}

/* Starts tracking a file taken in (w_on_final). */
static void w_track(watch_t *w, const char *src, const char *moved, uint64_t n)
{
    struct tracked *t;

    if (n == 0)
        return;
    if (w->ntracked == MAX_TRACKED)
        w_untrack(w, 0); /* the oldest is no longer watched: it stays in done/ */
    t = &w->tracked[w->ntracked];
    *t = (struct tracked){.src = strdup(src), .moved = strdup(moved), .left = n};
    if (!t->src || !t->moved) {
        free(t->src);
        free(t->moved);
        return;
    }
    w->ntracked++;
}

/* Re-arms the client timer: the client's next timer, or the end of the
 * hold-off when events are waiting for it. */
static void w_rearm(watch_t *w)
{
    long t = cohort_client_timeout(w->d.cl);
    uint64_t now = cohort_client_now_us();

    if (outbox_unclaimed(w->d.ob) > 0 && cohort_client_room(w->d.cl) > 0) {
        long h = w->d.holdoff_us > now ? (long)((w->d.holdoff_us - now + 999) / 1000) : 1;
        if (t < 0 || h < t)
            t = h;
    }
    if (t < 0)
        uv_timer_stop(&w->ctimer);
    else
        uv_timer_start(&w->ctimer, w_on_timer, (uint64_t)t, 0);
}

/* The driver's on_pumped hook, after every pump: retry bookkeeping and
 * "daemon down/up" messages; a refused key stops the service. Returns 1 if
 * the service is stopping. */
static int w_after_pump(agent_drive_t *d)
{
    watch_t *w = d->owner;
    uint64_t answered = d->c.accepted + d->c.duplicate + d->c.rejected;

    if (answered > w->answered) {
        w->answered = answered;
        w->retry_ms = RETRY_MIN_MS;
        if (w->down) {
            fprintf(stderr, PROG ": the daemon answers again; %" PRIu64 " events waiting\n",
                    outbox_pending(d->ob));
            w->down = 0;
        }
    }
    agent_check_auth(d);
    if (d->unauthorised) {
        /* Our key is refused: retrying cannot help. Stop; everything stays
         * in the outbox. */
        d->undelivered_now = 0;
        w_stop(w, 3);
        return 1;
    }
    if (d->undelivered_now) {
        cohort_client_give_up(d->cl, "retrying later");
        d->undelivered_now = 0; /* give_up's results set it again */
        if (!w->down)
            fprintf(stderr,
                    PROG ": no ack from %s within %us: %" PRIu64
                         " events kept in the outbox; retrying%s\n",
                    d->a->endpoint, d->a->deadline_s, outbox_pending(d->ob),
                    d->hs_said ? "" : agent_silence_hint(d));
        w->down = 1;
        d->holdoff_us = cohort_client_now_us() + (uint64_t)w->retry_ms * 1000u;
        w->retry_ms = w->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : w->retry_ms * 2;
    }
    return w->stopping;
}

/* Does all client work (agent_drive_service: acks in, retries, feeding
 * from the outbox, sends, leave marks), then re-arms the timer. */
static void w_service(watch_t *w)
{
    if (w->stopping)
        return;
    int rc = agent_drive_service(&w->d);
    fflush(stdout);
    if (rc < 0)
        w_stop(w, 1);
    else if (!w->stopping)
        w_rearm(w);
}

static void w_on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    w_service(h->data);
}

static void w_on_timer(uv_timer_t *h)
{
    w_service(h->data);
}

static void w_on_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop from blocking; the check does the work */
}

/* Every iteration: ZMQ_FD only signals edges, so ask ZMQ_EVENTS whether
 * the socket has what the client waits for, and serve it while it does. */
static void w_on_check(uv_check_t *h)
{
    watch_t *w = h->data;

    for (int k = 0; k < 8; k++) {
        zmq_pollitem_t it;
        int ev = 0;
        size_t len = sizeof ev;
        if (w->stopping)
            return;
        cohort_client_pollitem(w->d.cl, &it);
        if (zmq_getsockopt(w->zsock, ZMQ_EVENTS, &ev, &len) != 0) {
            fprintf(stderr, PROG ": ZeroMQ failure: %s\n", zmq_strerror(errno));
            w_stop(w, 1);
            return;
        }
        if (!(ev & it.events)) {
            uv_idle_stop(&w->idle);
            return;
        }
        w_service(w);
    }
    if (!w->stopping)
        uv_idle_start(&w->idle, w_on_idle);
}

/* Takes one ready spool file in. Returns 0, or -1 if it is to be tried
 * again later (it stays in the spool). */
static int w_take(watch_t *w, const char *name)
{
    agent_drive_t *d = &w->d;
    const char *dir = spool_dir(w->sp);
    char path[4096], err[512], moved[512];
    intake_file_t f;
    int rc;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    rc = intake_file_with(path, name, d->a->ps, d->a->raw_refs, &f, err, sizeof err);
    if (rc == -ENOENT)
        return 0; /* gone meanwhile */
    if (rc == -EAGAIN || rc == -ENODATA) {
        /* Still being written (or emptied): settle again, then retry. */
        uv_update_time(&w->loop);
        spool_unsettle(w->sp, name, uv_now(&w->loop));
        fprintf(stderr, PROG ": %s; trying again once it has not changed for %u ms\n", err,
                d->a->settle_ms);
        uv_timer_start(&w->scan, w_on_scan, d->a->settle_ms + 1, d->a->rescan_ms);
        return -1;
    }
    if (rc == -ENOMEM) {
        fprintf(stderr, PROG ": %s; trying again later\n", err);
        return -1;
    }
    if (rc < 0) {
        if ((rc = spool_fail(w->sp, name, err, moved, sizeof moved)) < 0) {
            fprintf(stderr, PROG ": cannot move %s to %s/failed/: %s\n", name, dir, strerror(-rc));
            return -1;
        }
        fprintf(stderr, PROG ": %s: not taken in: %s; moved to %s/failed/%s\n", name, err, dir,
                moved);
        return 0;
    }
    if (outbox_taken(d->ob, name, f.hash)) {
        /* Taken in before a crash or stop, but not moved: move it now. */
        if ((rc = spool_done(w->sp, name, moved, sizeof moved)) < 0) {
            fprintf(stderr, PROG ": cannot move %s to %s/done/: %s\n", name, dir, strerror(-rc));
            intake_file_free(&f);
            return -1;
        }
        outbox_clear_taken(d->ob, name, f.hash);
        fprintf(stderr, PROG ": %s: was already taken in (before a restart); moved to %s/done/%s\n",
                name, dir, moved);
        intake_file_free(&f);
        return 0;
    }
    if (f.nproblems > 0) {
        size_t cap = strlen(f.problems ? f.problems : "") + 512;
        char *reason = malloc(cap), first[256] = "";
        if (!reason) {
            intake_file_free(&f);
            return -1;
        }
        snprintf(reason, cap,
                 "%s: not taken in: %zu bad record%s (nothing from this file was sent; fix it and "
                 "drop it in again):\n%s%s",
                 name, f.nproblems, f.nproblems == 1 ? "" : "s", f.problems ? f.problems : "",
                 f.nproblems > INTAKE_MAX_PROBLEMS ? "(more not shown)\n" : "");
        if (f.problems) {
            size_t l = strcspn(f.problems, "\n");
            snprintf(first, sizeof first, "%.*s", (int)(l < 200 ? l : 200), f.problems);
        }
        rc = spool_fail(w->sp, name, reason, moved, sizeof moved);
        free(reason);
        if (rc < 0) {
            fprintf(stderr, PROG ": cannot move %s to %s/failed/: %s\n", name, dir, strerror(-rc));
            intake_file_free(&f);
            return -1;
        }
        fprintf(stderr,
                PROG ": %s: not taken in: %zu bad record%s (first: %s); moved to %s/failed/%s, "
                     "see %s.reason\n",
                name, f.nproblems, f.nproblems == 1 ? "" : "s", first, dir, moved, moved);
        intake_file_free(&f);
        return 0;
    }
    if ((rc = outbox_add(d->ob, name, f.hash, f.items, f.n)) < 0) {
        fprintf(stderr, PROG ": cannot take %s into the outbox %s: %s; trying again later\n", name,
                d->a->outbox, strerror(-rc));
        intake_file_free(&f);
        return -1;
    }
    size_t skipped = f.n - (size_t)rc, added = (size_t)rc;
    if ((rc = spool_done(w->sp, name, moved, sizeof moved)) < 0) {
        /* It is in the outbox (and marked taken): the next scan moves it. */
        fprintf(stderr, PROG ": %s taken in, but cannot move it to %s/done/: %s\n", name, dir,
                strerror(-rc));
        intake_file_free(&f);
        return -1;
    }
    outbox_clear_taken(d->ob, name, f.hash);
    w_track(w, name, moved, added);
    if (!d->a->quiet || skipped > 0)
        fprintf(stderr, PROG ": %s: took in %zu %s events%s; moved to %s/done/%s\n", name, f.n,
                f.kind, skipped ? " (some were already waiting in the outbox)" : "", dir, moved);
    intake_file_free(&f);
    return 0;
}

static void w_on_scan(uv_timer_t *h)
{
    watch_t *w = h->data;
    char **names, **ignored;
    size_t n, ni;
    int rc;

    if (w->stopping)
        return;
    if (time(NULL) - w->swept >= RETENTION_SWEEP_S) {
        w->swept = time(NULL);
        agent_expire(&w->d, w->sp);
    }
    if ((rc = spool_list(w->sp, &names, &n, &ignored, &ni)) < 0) {
        fprintf(stderr, PROG ": cannot list %s: %s\n", spool_dir(w->sp), strerror(-rc));
        return;
    }
    for (size_t i = 0; i < ni; i++)
        fprintf(stderr,
                PROG ": ignoring %s/%s: not a .jsonl or .csv file (export files are renamed to "
                     "NAME.jsonl or NAME.csv once complete)\n",
                spool_dir(w->sp), ignored[i]);
    /* The first file in name order that has settled (spool.h): an empty
     * one that stays empty is passed over, one still changing is waited
     * for (files are taken in name order). */
    const char *take = NULL;
    unsigned wait_ms = 0;
    uv_update_time(&w->loop);
    for (size_t i = 0; i < n && take == NULL; i++) {
        rc = spool_settle(w->sp, names[i], w->d.a->settle_ms, uv_now(&w->loop), &wait_ms);
        if (rc == SPOOL_SETTLED)
            take = names[i];
        else if (rc == SPOOL_EMPTY_NEW)
            fprintf(stderr,
                    PROG ": %s/%s is empty; not taken in until something is written to it\n",
                    spool_dir(w->sp), names[i]);
        else if (rc == SPOOL_CHANGING)
            break;
        else if (rc < 0 && rc != -ENOENT)
            fprintf(stderr, PROG ": cannot stat %s/%s: %s\n", spool_dir(w->sp), names[i],
                    strerror(-rc));
    }
    /* One file per turn, so acks are served between files. */
    if (take) {
        if (w_take(w, take) == 0 && n > 1 && !w->stopping)
            uv_timer_start(&w->scan, w_on_scan, 0, w->d.a->rescan_ms);
    } else if (wait_ms > 0 && !w->stopping) {
        uv_timer_start(&w->scan, w_on_scan, wait_ms, w->d.a->rescan_ms);
    }
    spool_free_names(names, n);
    spool_free_names(ignored, ni);
    w_service(w);
}

static void w_on_fsev(uv_fs_event_t *h, const char *filename, int events, int status)
{
    watch_t *w = h->data;
    (void)events;
    if (w->stopping)
        return;
    if (status < 0) {
        fprintf(stderr, PROG ": watching %s: %s; relying on rescans every %u ms\n",
                spool_dir(w->sp), uv_strerror(status), w->d.a->rescan_ms);
        uv_fs_event_stop(h);
        return;
    }
    if (filename && (filename[0] == '.' || strstr(filename, ".tmp")))
        return; /* files being written, the outbox */
    if (uv_timer_get_due_in(&w->scan) > 20)
        uv_timer_start(&w->scan, w_on_scan, 20, w->d.a->rescan_ms);
}

static void w_on_signal(uv_signal_t *h, int signum)
{
    watch_t *w = h->data;
    fprintf(stderr, PROG ": %s: stopping; %" PRIu64 " events waiting in the outbox\n",
            signum == SIGTERM ? "SIGTERM" : "SIGINT", outbox_pending(w->d.ob));
    w_stop(w, 0);
}

static void w_stop(watch_t *w, int ret)
{
    if (w->stopping)
        return;
    w->stopping = 1;
    w->ret = ret;
    if (!w->inited)
        return;
    uv_close((uv_handle_t *)&w->zpoll, NULL);
    uv_close((uv_handle_t *)&w->check, NULL);
    uv_close((uv_handle_t *)&w->idle, NULL);
    uv_close((uv_handle_t *)&w->ctimer, NULL);
    uv_close((uv_handle_t *)&w->scan, NULL);
    uv_close((uv_handle_t *)&w->fsev, NULL);
    uv_close((uv_handle_t *)&w->sigterm, NULL);
    uv_close((uv_handle_t *)&w->sigint, NULL);
}

int agent_watch_run(const args_t *a)
{
    static watch_t w; /* handles must outlive the loop's close callbacks */
    char err[512];
    int zfd, rc;
    size_t len = sizeof zfd;

    memset(&w, 0, sizeof w);
    w.d = (agent_drive_t){.a = a,
                          .src = &agent_source_outbox,
                          .retry = 1,
                          .in = {.fd = -1}, /* files come in whole, by w_take */
                          .owner = &w,
                          .on_pumped = w_after_pump,
                          .on_final = w_on_final};
    w.retry_ms = RETRY_MIN_MS;
    w.ret = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if ((rc = spool_open(&w.sp, a->spool, err, sizeof err)) < 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return 2;
    }
    if (agent_drive_open_outbox(&w.d, a->outbox) != 0) {
        spool_close(&w.sp);
        return 2;
    }
    if ((rc = agent_drive_connect(&w.d, a->defer_set ? a->defer_s : DEFER_WATCH_S)) != 0) {
        w.ret = rc;
        goto out;
    }
    w.zsock = cohort_client_socket(w.d.cl);
    if (zmq_getsockopt(w.zsock, ZMQ_FD, &zfd, &len) != 0) {
        fprintf(stderr, PROG ": cannot get the socket's ZMQ_FD: %s\n", zmq_strerror(errno));
        goto out;
    }
    if ((rc = uv_loop_init(&w.loop)) < 0) {
        fprintf(stderr, PROG ": cannot start the event loop: %s\n", uv_strerror(rc));
        goto out;
    }
    uv_poll_init(&w.loop, &w.zpoll, zfd);
    uv_check_init(&w.loop, &w.check);
    uv_idle_init(&w.loop, &w.idle);
    uv_timer_init(&w.loop, &w.ctimer);
    uv_timer_init(&w.loop, &w.scan);
    uv_fs_event_init(&w.loop, &w.fsev);
    uv_signal_init(&w.loop, &w.sigterm);
    uv_signal_init(&w.loop, &w.sigint);
    w.zpoll.data = w.check.data = w.idle.data = w.ctimer.data = w.scan.data = w.fsev.data =
        w.sigterm.data = w.sigint.data = &w;
    w.inited = 1;
    uv_timer_start(&w.ctimer, w_on_timer, 0, 0);
    if ((rc = uv_poll_start(&w.zpoll, UV_READABLE, w_on_poll)) < 0 ||
        (rc = uv_check_start(&w.check, w_on_check)) < 0 ||
        (rc = uv_signal_start(&w.sigterm, w_on_signal, SIGTERM)) < 0 ||
        (rc = uv_signal_start(&w.sigint, w_on_signal, SIGINT)) < 0 ||
        (rc = uv_timer_start(&w.scan, w_on_scan, 0, a->rescan_ms)) < 0) {
        fprintf(stderr, PROG ": cannot start the event loop: %s\n", uv_strerror(rc));
        w_stop(&w, 1);
    } else if ((rc = uv_fs_event_start(&w.fsev, w_on_fsev, a->spool, 0)) < 0) {
        fprintf(stderr, PROG ": cannot watch %s for changes (%s); rescanning every %u ms\n",
                a->spool, uv_strerror(rc), a->rescan_ms);
    }
    if (!w.stopping)
        fprintf(stderr,
                PROG ": watching %s (outbox %s, %" PRIu64 " events waiting), sending to %s\n",
                a->spool, a->outbox, outbox_pending(w.d.ob), a->endpoint);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&w.loop) != 0) {
        uv_run(&w.loop, UV_RUN_NOWAIT);
        uv_loop_close(&w.loop);
    }
out:
    cohort_client_destroy(&w.d.cl); /* in flight: released, stays in the outbox */
    if (w.d.ob) {
        if ((rc = outbox_commit(w.d.ob)) < 0) {
            fprintf(stderr, PROG ": cannot write to the outbox %s: %s\n", a->outbox, strerror(-rc));
            w.ret = 1;
        }
        agent_summary(&w.d);
        outbox_close(&w.d.ob);
    }
    while (w.ntracked > 0)
        w_untrack(&w, w.ntracked - 1);
    spool_close(&w.sp);
    fflush(stdout);
    return w.ret;
}
