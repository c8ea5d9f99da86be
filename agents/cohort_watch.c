/* cohort_watch.c: cohort-watch, follows cohortd's status topics
 * (docs/status.md) through libcohort's subscriber (cohort_sub.h).
 *
 * Contract:
 * - `cohort-watch [OPTION]... TOPIC-PREFIX...` follows every topic starting
 *   with one of the prefixes ("" for all) with the late-joiner handshake,
 *   resynchronising by itself on a rev gap, a new epoch or a lost heartbeat.
 * - Table mode (default): one readable table per topic (cohort, programme,
 *   agency; anything else as compact JSON). On a terminal the screen is
 *   redrawn in place on change (at most 10 times a second); otherwise the
 *   table of each changed topic is printed once per change, and nothing
 *   before the first complete snapshot. Suppressed cells show as "*".
 *   Resyncs and snapshot retries are reported on stderr with the reason
 *   (a resync reason repeated before the next sync is printed once).
 * - --json: JSON Lines on stdout, one {"topic","rev","seq","doc"} line per
 *   applied document (doc null for a removal) and one {"resync":"<reason>"}
 *   line per resync; nothing else goes to stdout.
 * - --once: print the state right after the first complete snapshot and
 *   exit 0; a prefix under which the snapshot has no topic (a cohort or
 *   programme that does not exist, or none the key may read) is named on
 *   stderr and the exit status is 4. --timeout-s N: exit after N seconds:
 *   0 if a snapshot was had, else 1 with a message naming the endpoint
 *   that did not answer.
 * - A refusal the daemon would repeat (the key's role may not read a
 *   prefix, e.g. another agency's or an unknown one; a revoked or unknown
 *   key; see cohort_sub.h) stops it at once with the daemon's reason on stderr and
 *   exit status 3. Transient failures (daemon down, no reply, "too many
 *   subscribers") are retried as before.
 * - Security: both sockets use ZeroMQ CURVE with --key and --server-key
 *   (or COHORT_KEY, COHORT_SERVER_KEY); --plaintext (or COHORT_PLAINTEXT=1
 *   with no key given) only for a development daemon, with a warning.
 *   Missing or unusable keys are a usage error. The daemon decides by the
 *   key's role which topics it sends; a key it does not know is refused
 *   for good (exit 3); a wrong server key looks like a silent daemon (the
 *   message at --timeout-s says so).
 * - Exit 0 (done, or SIGINT/SIGTERM), 1 (no snapshot in time, runtime
 *   failure), 2 (usage error, bad endpoint, missing or unusable keys),
 *   3 (refused by the daemon for good), 4 (--once: a prefix with no topic). */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cohort_cli.h"
#include "cohort_sub.h"
#include "watch_draw.h"

#define PROG "cohort-watch"
#define SLICE_MS 100 /* redraw at most this often */
#define MAX_TIMEOUT_S 2592000
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10)) /* as the daemon renders */

#define EXIT_DENIED 3   /* the daemon refused a prefix for good */
#define EXIT_NO_TOPIC 4 /* --once: a prefix under which there is no topic */

/* What the command line asked for. */
typedef struct {
    const char *publish;    /* PUB endpoint */
    const char *snapshot;   /* snapshot endpoint */
    char **prefixes;        /* the TOPIC-PREFIX arguments */
    size_t nprefixes;       /* how many */
    unsigned timeout_s;     /* 0: run until interrupted */
    unsigned drop_every;    /* testing: discard every Nth update (0 = none) */
    int json;               /* JSON Lines */
    int once;               /* exit after the first snapshot */
    const char *key;        /* --key FILE, or NULL */
    const char *server_key; /* --server-key FILE, or NULL */
    int plaintext;          /* --plaintext */
} args_t;

/* A topic changed since the last print (table mode). */
typedef struct {
    char *topic;  /* owned */
    int removed;  /* its last change was a removal */
    uint64_t rev; /* rev of that change */
    uint64_t seq; /* seq of that change */
} dirty_t;

/* The run's state, shared with the callbacks. */
typedef struct {
    const args_t *a;       /* options */
    cohort_sub_t *sub;     /* the subscriber */
    int tty;               /* stdout is a terminal */
    int synced_once;       /* a complete snapshot was had */
    int redraw;            /* TTY: the screen is out of date */
    dirty_t *dirty;        /* non-TTY: topics to print */
    size_t ndirty;         /* how many */
    size_t dcap;           /* room in dirty */
    char last_resync[256]; /* for the TTY status line */
    int repeat;            /* last_resync was printed and no sync since */
    int failed;            /* an output or memory failure */
    int denied;            /* the daemon refused for good (DENIED event) */
} watch_t;

static volatile sig_atomic_t g_signal;

static void on_signal(int sig)
{
    g_signal = sig;
}

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROG " [OPTION]... TOPIC-PREFIX...\n"
            "Follows cohortd's programme status topics starting with the prefixes\n"
            "(e.g. cohort/step-forward/ agency/wm-police/ programme/; \"\" for all) and shows\n"
            "them as tables, redrawn as they change.\n"
            "\n"
            "  -p, --publish ENDPOINT   status publish endpoint (default: $COHORT_PUBLISH or %s)\n"
            "  -s, --snapshot ENDPOINT  snapshot endpoint (default: $COHORT_SNAPSHOT or %s)\n"
            "  -j, --json               print JSON Lines: {\"topic\",\"rev\",\"seq\",\"doc\"} per\n"
            "                           applied document, {\"resync\":\"<reason>\"} per resync\n"
            "  -1, --once               print the state after the first complete snapshot, exit\n"
            "  -t, --timeout-s N        exit after N seconds (1 if no snapshot could be had)\n"
            "      --drop-every N       testing only: discard every Nth update, to exercise\n"
            "                           gap detection and resynchronisation\n"
            "%s"
            "  -h, --help               show this help and exit\n"
            "  -V, --version            show the version and exit\n"
            "\n"
            "Suppressed cells (small-number suppression, docs/status.md) show as '*'.\n"
            "Exit status: 0 done, 1 no snapshot in time or a failure, 2 usage error,\n"
            "3 refused by the daemon for good (e.g. a prefix this key's role may not read),\n"
            "4 --once and no topic under a prefix (e.g. a cohort that does not exist).\n",
            COHORT_SUB_DEFAULT_PUBLISH, COHORT_SUB_DEFAULT_SNAPSHOT, COHORT_CLI_CURVE_HELP);
}

/* Fills a from argv. Returns 0 to run, 1 to exit 0 (help, version), or 2
 * after printing a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"publish", required_argument, 0, 'p'},
                                       {"snapshot", required_argument, 0, 's'},
                                       {"json", no_argument, 0, 'j'},
                                       {"once", no_argument, 0, '1'},
                                       {"timeout-s", required_argument, 0, 't'},
                                       {"drop-every", required_argument, 0, 'D'},
                                       {"key", required_argument, 0, 0x100},
                                       {"server-key", required_argument, 0, 0x101},
                                       {"plaintext", no_argument, 0, 0x102},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    const char *ep = getenv("COHORT_PUBLISH"), *es = getenv("COHORT_SNAPSHOT");
    int c;

    *a = (args_t){.publish = (ep && *ep) ? ep : COHORT_SUB_DEFAULT_PUBLISH,
                  .snapshot = (es && *es) ? es : COHORT_SUB_DEFAULT_SNAPSHOT};
    while ((c = getopt_long(argc, argv, "p:s:j1t:hV", lo, NULL)) != -1) {
        switch (c) {
        case 'p':
            a->publish = optarg;
            break;
        case 's':
            a->snapshot = optarg;
            break;
        case 'j':
            a->json = 1;
            break;
        case '1':
            a->once = 1;
            break;
        case 't':
            if (cohort_cli_uint(optarg, 1, MAX_TIMEOUT_S, &a->timeout_s) < 0) {
                fprintf(stderr, PROG ": --timeout-s: expected a number from 1 to %u\n",
                        MAX_TIMEOUT_S);
                return 2;
            }
            break;
        case 'D':
            if (cohort_cli_uint(optarg, 2, 1000000, &a->drop_every) < 0) {
                fprintf(stderr, PROG ": --drop-every: expected a number from 2 to 1000000\n");
                return 2;
            }
            break;
        case 0x100:
            a->key = optarg;
            break;
        case 0x101:
            a->server_key = optarg;
            break;
        case 0x102:
            a->plaintext = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf(PROG " %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, PROG ": expected at least one TOPIC-PREFIX (\"\" follows every topic)\n"
                             "Try '" PROG " --help' for more information.\n");
        return 2;
    }
    a->prefixes = argv + optind;
    a->nprefixes = (size_t)(argc - optind);
    if (a->nprefixes > COHORT_SUB_MAX_PREFIXES) {
        fprintf(stderr, PROG ": at most %d topic prefixes\n", COHORT_SUB_MAX_PREFIXES);
        return 2;
    }
    for (size_t i = 0; i < a->nprefixes; i++)
        if (strlen(a->prefixes[i]) > COHORT_SUB_MAX_TOPIC) {
            fprintf(stderr, PROG ": a topic prefix is longer than %d bytes\n",
                    COHORT_SUB_MAX_TOPIC);
            return 2;
        }
    if (*a->publish == '\0' || *a->snapshot == '\0') {
        fprintf(stderr, PROG ": empty endpoint\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------- output --- */

static void mark_dirty(watch_t *w, const cohort_sub_doc_t *d)
{
    for (size_t i = 0; i < w->ndirty; i++)
        if (strcmp(w->dirty[i].topic, d->topic) == 0) {
            w->dirty[i].removed = d->doc == NULL;
            w->dirty[i].rev = d->rev;
            w->dirty[i].seq = d->seq;
            return;
        }
    if (w->ndirty == w->dcap) {
        size_t nc = w->dcap ? w->dcap * 2 : 64;
        dirty_t *nd = realloc(w->dirty, nc * sizeof *nd);
        if (!nd) {
            w->failed = 1;
            return;
        }
        w->dirty = nd;
        w->dcap = nc;
    }
    w->dirty[w->ndirty] = (dirty_t){strdup(d->topic), d->doc == NULL, d->rev, d->seq};
    if (!w->dirty[w->ndirty].topic) {
        w->failed = 1;
        return;
    }
    w->ndirty++;
}

static int cmp_dirty(const void *a, const void *b)
{
    return strcmp(((const dirty_t *)a)->topic, ((const dirty_t *)b)->topic);
}

static void clear_dirty(watch_t *w)
{
    for (size_t i = 0; i < w->ndirty; i++)
        free(w->dirty[i].topic);
    w->ndirty = 0;
}

static void on_update(void *arg, const cohort_sub_doc_t *d)
{
    watch_t *w = arg;

    if (w->a->json) {
        json_t *o = json_object();
        char *s;
        if (!o) {
            w->failed = 1;
            return;
        }
        json_object_set_new(o, "topic", json_string(d->topic));
        json_object_set_new(o, "rev", json_integer((json_int_t)d->rev));
        json_object_set_new(o, "seq", json_integer((json_int_t)d->seq));
        json_object_set_new(o, "doc", d->doc ? json_incref((json_t *)d->doc) : json_null());
        s = json_dumps(o, DUMP_FLAGS);
        json_decref(o);
        if (!s || puts(s) == EOF)
            w->failed = 1;
        free(s);
        return;
    }
    if (w->tty)
        w->redraw = 1;
    else
        mark_dirty(w, d);
}

static void on_event(void *arg, cohort_sub_event_t ev, const char *reason)
{
    watch_t *w = arg;

    switch (ev) {
    case COHORT_SUB_SYNCED:
        w->synced_once = 1;
        w->repeat = 0;
        w->redraw = 1;
        if (w->a->once)
            cohort_sub_stop(w->sub);
        break;
    case COHORT_SUB_RESYNC:
        if (w->a->json) {
            json_t *o = json_pack("{s:s}", "resync", reason);
            char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
            if (!s || puts(s) == EOF)
                w->failed = 1;
            free(s);
            json_decref(o);
        } else {
            /* While the daemon stays away the same reason comes every
             * heartbeat timeout: say it once until something changes. */
            if (!w->repeat || strcmp(reason, w->last_resync) != 0)
                fprintf(stderr, PROG ": resync: %s\n", reason);
            w->repeat = 1;
            snprintf(w->last_resync, sizeof w->last_resync, "%s", reason);
            w->redraw = 1;
        }
        break;
    case COHORT_SUB_RETRY:
        if (!w->a->json)
            fprintf(stderr, PROG ": snapshot retry: %s\n", reason);
        break;
    case COHORT_SUB_REFUSED:
        fprintf(stderr, PROG ": %s\n", reason);
        break;
    case COHORT_SUB_DENIED:
        fprintf(stderr, PROG ": %s; not retrying (check the prefix and this key's role)\n", reason);
        w->denied = 1;
        break;
    }
}

static int count_each(void *arg, const cohort_sub_doc_t *d)
{
    (void)arg;
    (void)d;
    return 0;
}

/* --once: names on stderr each prefix under which no topic is held.
 * Returns 0 if every prefix has one, else EXIT_NO_TOPIC. */
static int check_found(watch_t *w)
{
    int code = 0;

    for (size_t i = 0; i < w->a->nprefixes; i++)
        if (cohort_sub_each(w->sub, w->a->prefixes[i], count_each, NULL) == 0) {
            fprintf(stderr,
                    PROG ": no topic under '%s' (no such programme or cohort, or none this "
                         "key may read)\n",
                    w->a->prefixes[i]);
            code = EXIT_NO_TOPIC;
        }
    return code;
}

/* Every topic held, once each, sorted. */
static void draw_all(watch_t *w, FILE *o)
{
    cohort_sub_each(w->sub, NULL, watch_draw_each, o);
}

/* TTY: the whole screen, written at once. */
static void draw_screen(watch_t *w)
{
    cohort_sub_stats_t st;
    char *buf = NULL, ts[16];
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    time_t now = time(NULL);
    struct tm tm;

    if (!o) {
        w->failed = 1;
        return;
    }
    cohort_sub_stats(w->sub, &st);
    localtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    fputs("\033[H\033[2J", o);
    fprintf(o, PROG " %s  epoch %s  head_seq %llu  %zu topics  %s\n", ts,
            *cohort_sub_epoch(w->sub) ? cohort_sub_epoch(w->sub) : "-",
            (unsigned long long)st.head_seq, cohort_sub_count(w->sub),
            !w->synced_once             ? "waiting for the first snapshot"
            : cohort_sub_synced(w->sub) ? "live"
                                        : "RESYNCING (showing the last known state)");
    if (w->last_resync[0])
        fprintf(o, "last resync: %s (%llu in all)\n", w->last_resync,
                (unsigned long long)st.resyncs);
    if (!w->synced_once)
        fprintf(o, "publish %s, snapshot %s\n", w->a->publish, w->a->snapshot);
    fputc('\n', o);
    draw_all(w, o);
    if (fclose(o) != 0) {
        free(buf);
        w->failed = 1;
        return;
    }
    if (fwrite(buf, 1, len, stdout) != len)
        w->failed = 1;
    free(buf);
}

/* Prints what changed (table mode). */
static void flush_tables(watch_t *w)
{
    if (!w->synced_once)
        return;
    if (w->tty) {
        if (w->redraw)
            draw_screen(w);
        w->redraw = 0;
        return;
    }
    qsort(w->dirty, w->ndirty, sizeof *w->dirty, cmp_dirty);
    for (size_t i = 0; i < w->ndirty; i++) {
        cohort_sub_doc_t d;
        if (w->dirty[i].removed || cohort_sub_get(w->sub, w->dirty[i].topic, &d) != 0)
            printf("%s  (rev %llu, seq %llu)\n  removed\n\n", w->dirty[i].topic,
                   (unsigned long long)w->dirty[i].rev, (unsigned long long)w->dirty[i].seq);
        else
            watch_draw_topic(stdout, &d);
    }
    clear_dirty(w);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int main(int argc, char **argv)
{
    args_t a;
    watch_t w = {0};
    cohort_sub_opts_t o = {0};
    cohort_curve_t curve = {0};
    struct sigaction sa = {0};
    uint64_t end;
    int rc, code = 0, curve_on;

    if ((rc = parse_args(&a, argc, argv)) != 0)
        return rc == 1 ? 0 : 2;
    if (cohort_cli_curve(PROG, &curve, a.key, a.server_key, a.plaintext) < 0)
        return 2;
    curve_on = curve.on;
    w.a = &a;
    w.tty = isatty(STDOUT_FILENO) && !a.json;
    o.publish = a.publish;
    o.snapshot = a.snapshot;
    o.prefixes = (const char *const *)a.prefixes;
    o.nprefixes = a.nprefixes;
    o.on_update = on_update;
    o.on_event = on_event;
    o.arg = &w;
    o.drop_every = a.drop_every;
    o.curve = &curve;
    w.sub = cohort_sub_new(&o);
    cohort_curve_clear(&curve); /* the subscriber keeps its own copy */
    if (!w.sub) {
        if (errno == EINVAL) {
            fprintf(stderr, PROG ": bad endpoint: --publish %s or --snapshot %s\n", a.publish,
                    a.snapshot);
            return 2;
        }
        fprintf(stderr, PROG ": cannot start: %s\n", zmq_strerror(errno));
        return 1;
    }
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (w.tty && !a.once)
        draw_screen(&w);
    fflush(stdout);

    end = a.timeout_s ? now_ms() + (uint64_t)a.timeout_s * 1000u : 0;
    for (;;) {
        long slice = SLICE_MS;
        if (end) {
            uint64_t now = now_ms();
            if (now >= end)
                break;
            if ((long)(end - now) < slice)
                slice = (long)(end - now);
        }
        rc = cohort_sub_run(w.sub, slice);
        if (g_signal)
            break;
        if (rc == 1) { /* --once: the first snapshot is in */
            if (!a.json)
                draw_all(&w, stdout); /* printed, not redrawn, even on a terminal */
            code = check_found(&w);
            goto done;
        }
        if (rc < 0 && rc != -EINTR) {
            if (w.denied) { /* the reason is printed */
                code = EXIT_DENIED;
                goto done;
            }
            fprintf(stderr, PROG ": %s\n", zmq_strerror(-rc));
            code = 1;
            goto done;
        }
        if (!a.json)
            flush_tables(&w);
        if (fflush(stdout) != 0 || w.failed) {
            code = 1;
            goto done;
        }
    }
    if (!w.synced_once && !g_signal) {
        cohort_sub_stats_t st;
        cohort_sub_stats(w.sub, &st);
        if (st.received == 0)
            fprintf(stderr,
                    PROG ": no snapshot within %u s: nothing received from the publish endpoint %s "
                         "(is cohortd publishing there?%s)\n",
                    a.timeout_s, a.publish,
                    curve_on ? "; a wrong server key looks the same: check --server-key" : "");
        else
            fprintf(stderr,
                    PROG ": no snapshot within %u s from the snapshot endpoint %s "
                         "(%llu requests sent)\n",
                    a.timeout_s, a.snapshot, (unsigned long long)st.snapshot_requests);
        code = 1;
    }
done:
    if (fflush(stdout) != 0 || w.failed)
        code = code ? code : 1;
    clear_dirty(&w);
    free(w.dirty);
    cohort_sub_destroy(&w.sub);
    return code;
}
