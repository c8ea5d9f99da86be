/* cohortctl: the operator's tool. This version reads the event store
 * directly, opening RocksDB read-only (safe beside a running daemon):
 *
 *   cohortctl status --data-dir DIR         head sequence
 *   cohortctl tail   --data-dir DIR [--from SEQ] [--limit N] [--json]
 *   cohortctl verify --data-dir DIR         log gap-free, dedupe agrees
 *   cohortctl snapshot [--snapshot EP] [PREFIX]
 *                                           the live status documents, as
 *                                           JSON Lines (one per topic)
 *   cohortctl rebuild --data-dir DIR [--snapshot EP]
 *                                           replay the whole log into fresh
 *                                           projections and compare every
 *                                           status document with the live
 *                                           daemon's snapshot
 *
 * Output of tail carries event bodies, which hold pseudonymous refs and
 * protected characteristics: it is for audits, not for logs. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "log.h"
#include "store.h"
#include "uuid7.h"

#define DEFAULT_SNAPSHOT "tcp://127.0.0.1:7402"
#define SNAPSHOT_TIMEOUT_MS 10000
#define REBUILD_TRIES 5

/* Parsed command line. */
typedef struct {
    const char *cmd;      /* status, tail, verify, snapshot or rebuild */
    const char *prefix;   /* snapshot: topic prefix */
    const char *data_dir; /* store directory */
    const char *snapshot; /* rebuild: the daemon's snapshot endpoint */
    proj_config_t proj;   /* rebuild: must match the daemon's settings */
    uint64_t from;        /* tail: first sequence */
    uint64_t limit;       /* tail: at most this many (0 = all) */
    int json;             /* tail: JSON Lines */
} args_t;

/* State of a verify pass. */
typedef struct {
    store_t *store;
    uint64_t expect;   /* next sequence expected */
    uint64_t gaps;     /* sequences missing or out of order */
    uint64_t undecodable;
    uint64_t dedupe_bad; /* entries whose dedupe record is not their own seq */
    uint64_t count;
} verify_t;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: cohortctl COMMAND --data-dir DIR [OPTION]...\n"
            "Operator tool for the cohortd event store (opened read-only).\n"
            "\n"
            "Commands:\n"
            "  status               print the log's head sequence\n"
            "  tail                 print log entries (plain, or JSON Lines with --json)\n"
            "  verify               check the log is gap-free and the dedupe index agrees\n"
            "  snapshot [PREFIX]    print the live status documents under PREFIX as JSON\n"
            "                       Lines: {\"topic\":..,\"rev\":..,\"seq\":..,\"doc\":{..}}\n"
            "  rebuild              recompute all status from the whole log and check it\n"
            "                       matches the live daemon's (asks its snapshot socket)\n"
            "\n"
            "Options:\n"
            "  -d, --data-dir DIR   the daemon's data directory (default: ./cohort-data)\n"
            "  -f, --from SEQ       tail: start at this sequence (default: 1)\n"
            "  -n, --limit N        tail: print at most N entries (default: all)\n"
            "  -j, --json           tail: one JSON object per line: {\"seq\":N,\"event\":{...}}\n"
            "  -s, --snapshot EP    rebuild: the daemon's snapshot endpoint (default: %s)\n"
            "      --suppress-k K   rebuild: the daemon's --suppress-k (default: %d)\n"
            "      --at-risk-ratio R  rebuild: the daemon's --at-risk-ratio (default: %.2f)\n"
            "  -h, --help           show this help and exit\n"
            "  -V, --version        show the version and exit\n"
            "\n"
            "Exit status: 0 on success, 1 if verify or rebuild finds a problem or the store\n"
            "cannot be read, 2 on a usage error.\n",
            DEFAULT_SNAPSHOT, PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO);
}

static int parse(args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, 'd'}, {"from", required_argument, 0, 'f'},
        {"limit", required_argument, 0, 'n'},    {"json", no_argument, 0, 'j'},
        {"snapshot", required_argument, 0, 's'}, {"suppress-k", required_argument, 0, 'K'},
        {"at-risk-ratio", required_argument, 0, 'R'},
        {"help", no_argument, 0, 'h'},           {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:f:n:js:hV", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            a->snapshot = optarg;
            break;
        case 'K': {
            uint64_t k;
            if (cohort_cli_u64(optarg, 1, 1000, &k) < 0) {
                fprintf(stderr, "cohortctl: --suppress-k: '%s' is not 1-1000\n", optarg);
                return -EINVAL;
            }
            a->proj.k = (int)k;
            break;
        }
        case 'R': {
            char *end;
            double r = strtod(optarg, &end);
            if (*end || !*optarg || !(r >= 0 && r <= 1)) {
                fprintf(stderr, "cohortctl: --at-risk-ratio: '%s' is not 0-1\n", optarg);
                return -EINVAL;
            }
            a->proj.at_risk_ratio = r;
            break;
        }
        case 'd':
            a->data_dir = optarg;
            break;
        case 'f':
            if (cohort_cli_u64(optarg, 0, UINT64_MAX, &a->from) < 0) {
                fprintf(stderr, "cohortctl: --from: '%s' is not a sequence number\n", optarg);
                return -EINVAL;
            }
            break;
        case 'n':
            if (cohort_cli_u64(optarg, 0, UINT64_MAX, &a->limit) < 0) {
                fprintf(stderr, "cohortctl: --limit: '%s' is not a number\n", optarg);
                return -EINVAL;
            }
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf("cohortctl %s\n", COHORT_VERSION);
            return 1;
        default:
            fprintf(stderr, "Try 'cohortctl --help' for more information.\n");
            return -EINVAL;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "cohortctl: no command given\nTry 'cohortctl --help'.\n");
        return -EINVAL;
    }
    a->cmd = argv[optind];
    if (strcmp(a->cmd, "snapshot") == 0 && optind + 1 < argc)
        a->prefix = argv[++optind];
    if (optind + 1 < argc) {
        fprintf(stderr, "cohortctl: unexpected argument '%s'\n", argv[optind + 1]);
        return -EINVAL;
    }
    return 0;
}

static const char *body_name(const Cohort__V1__Event *ev)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&cohort__v1__event__descriptor, ev->body_case);
    return f ? f->name : "unknown";
}

static int print_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    const args_t *a = arg;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev) {
        printf(a->json ? "{\"seq\":%llu,\"error\":\"undecodable\"}\n" : "%llu undecodable\n",
               (unsigned long long)seq);
        return 0;
    }
    if (a->json) {
        char *j = cohort_json_from_message(&ev->base);
        printf("{\"seq\":%llu,\"event\":%s}\n", (unsigned long long)seq, j ? j : "null");
        free(j);
    } else {
        char id[37] = "(bad id)";
        if (ev->event_id.len == 16)
            uuid7_format(ev->event_id.data, id);
        printf("%llu %s %s %s\n", (unsigned long long)seq, ev->agency, id, body_name(ev));
    }
    cohort__v1__event__free_unpacked(ev, NULL);
    return ferror(stdout) ? -EIO : 0;
}

static int verify_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    verify_t *v = arg;
    uint64_t got;
    v->count++;
    if (seq != v->expect)
        v->gaps++;
    v->expect = seq + 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev || ev->event_id.len != 16 || !ev->agency) {
        v->undecodable++;
    } else if (store_lookup(v->store, ev->agency, ev->event_id.data, &got) != 0 || got != seq) {
        v->dedupe_bad++;
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 0;
}

/* The live status: every topic's document from the daemon's snapshot. */
typedef struct {
    json_t *docs;  /* topic -> doc */
    json_t *envs;  /* topic -> whole envelope */
    uint64_t seq;  /* the end marker's sequence */
} live_t;

/* Asks the snapshot socket for everything. Returns 0, or -1 with a message
 * printed. */
static int fetch_live(const char *ep, const char *prefix, live_t *live)
{
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = SNAPSHOT_TIMEOUT_MS, rc = -1;
    json_t *rq = json_pack("{s:s}", "snapshot", prefix ? prefix : "");
    char *req = json_dumps(rq, JSON_COMPACT);
    json_decref(rq);
    live->docs = json_object();
    live->envs = json_object();
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_connect(s, ep) != 0 || zmq_send(s, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot ask %s for a snapshot: %s\n", ep, zmq_strerror(errno));
        goto out;
    }
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, s, 0) < 0 || !zmq_msg_more(&topic) ||
            zmq_msg_recv(&body, s, 0) < 0) {
            fprintf(stderr, "cohortctl: no complete snapshot from %s within %d s (is cohortd "
                            "running?)\n", ep, SNAPSHOT_TIMEOUT_MS / 1000);
            zmq_msg_close(&topic);
            zmq_msg_close(&body);
            goto out;
        }
        char *t = strndup(zmq_msg_data(&topic), zmq_msg_size(&topic));
        json_t *env = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
        zmq_msg_close(&topic);
        zmq_msg_close(&body);
        int end = t && strcmp(t, "$end") == 0, bad = !t || !env || strcmp(t, "$error") == 0;
        if (end)
            live->seq = (uint64_t)json_integer_value(json_object_get(env, "seq"));
        else if (!bad) {
            json_object_set(live->docs, t, json_object_get(env, "doc"));
            json_object_set(live->envs, t, env);
        }
        free(t);
        json_decref(env);
        if (bad) {
            fprintf(stderr, "cohortctl: the daemon refused the snapshot request\n");
            goto out;
        }
        if (end)
            break;
    }
    rc = 0;
out:
    free(req);
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}

static int snapshot(const args_t *a)
{
    live_t live = {NULL, NULL, 0};
    const char *key;
    json_t *env;
    int rc = fetch_live(a->snapshot, a->prefix, &live);
    if (rc == 0) {
        json_object_foreach(live.envs, key, env) {
            json_t *line = json_pack("{s:s,s:O,s:O,s:O}", "topic", key, "rev",
                                     json_object_get(env, "rev"), "seq",
                                     json_object_get(env, "seq"), "doc",
                                     json_object_get(env, "doc"));
            char *text = json_dumps(line, JSON_COMPACT | JSON_SORT_KEYS);
            printf("%s\n", text);
            free(text);
            json_decref(line);
        }
        printf("{\"end\":true,\"seq\":%llu,\"count\":%zu}\n", (unsigned long long)live.seq,
               json_object_size(live.envs));
    }
    json_decref(live.docs);
    json_decref(live.envs);
    return rc == 0 ? 0 : 1;
}

/* Compares the live documents with a replay of the log up to live->seq.
 * Returns the number of differing topics (listed on stdout by name). */
static int compare(store_t *store, const args_t *a, const live_t *live, int quiet)
{
    proj_t *p = NULL;
    checkpoint_info_t info;
    char err[512], **topics = NULL;
    int bad = 0;
    if (checkpoint_restore(store, &a->proj, 0, live->seq, &p, &info, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: replay failed: %s\n", err);
        return -1;
    }
    size_t n = proj_topics(p, "", &topics);
    json_t *seen = json_object();
    for (size_t i = 0; i < n; i++) {
        char *doc = proj_render(p, topics[i]);
        json_t *mine = doc ? json_loads(doc, 0, NULL) : NULL;
        json_t *theirs = json_object_get(live->docs, topics[i]);
        if (!mine || !theirs || !json_equal(mine, theirs)) {
            if (!quiet)
                printf("differs: %s%s\n", topics[i], theirs ? "" : " (missing from the daemon)");
            bad++;
        }
        json_object_set_new(seen, topics[i], json_true());
        json_decref(mine);
        free(doc);
    }
    const char *key;
    json_t *v;
    json_object_foreach(live->docs, key, v) {
        if (!json_object_get(seen, key) && !json_is_null(v)) {
            if (!quiet)
                printf("differs: %s (only in the daemon)\n", key);
            bad++;
        }
    }
    if (!quiet)
        printf("rebuild: %llu log entries replayed to seq %llu, %zu topics, %d differ\n%s\n",
               (unsigned long long)info.replayed, (unsigned long long)live->seq, n, bad,
               bad ? "MISMATCH" : "OK");
    json_decref(seen);
    proj_strv_free(topics, n);
    proj_destroy(&p);
    return bad;
}

/* rebuild: retried a few times, since a busy daemon may publish between
 * the snapshot and the replay's end. */
static int rebuild(const args_t *a)
{
    for (int t = 1; t <= REBUILD_TRIES; t++) {
        live_t live = {NULL, NULL, 0};
        store_t *store = NULL;
        char err[512];
        if (fetch_live(a->snapshot, "", &live) < 0) {
            json_decref(live.docs);
            json_decref(live.envs);
            return 1;
        }
        /* A read-only open sees the log as it is now, so open it after the
         * snapshot: it then holds at least everything up to live.seq. */
        if (store_open(&store, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
            fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
            json_decref(live.docs);
            json_decref(live.envs);
            return 1;
        }
        int bad = compare(store, a, &live, t < REBUILD_TRIES);
        if (bad == 0 && t < REBUILD_TRIES)
            bad = compare(store, a, &live, 0); /* print the report */
        store_close(&store);
        json_decref(live.docs);
        json_decref(live.envs);
        if (bad <= 0)
            return bad < 0 ? 1 : 0;
        if (t < REBUILD_TRIES)
            nanosleep(&(struct timespec){0, 200 * 1000000}, NULL);
    }
    return 1;
}

int main(int argc, char **argv)
{
    args_t a = {NULL, NULL, "cohort-data", DEFAULT_SNAPSHOT, {PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO},
                1, 0, 0};
    store_t *s = NULL;
    char err[512];
    int rc = parse(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (strcmp(a.cmd, "status") && strcmp(a.cmd, "tail") && strcmp(a.cmd, "verify") &&
        strcmp(a.cmd, "rebuild") && strcmp(a.cmd, "snapshot")) {
        fprintf(stderr, "cohortctl: unknown command '%s'\nTry 'cohortctl --help'.\n", a.cmd);
        return 2;
    }
    cohort_log_set_level(LOG_WARNING);
    if (strcmp(a.cmd, "rebuild") == 0)
        return rebuild(&a);
    if (strcmp(a.cmd, "snapshot") == 0)
        return snapshot(&a);
    if (store_open(&s, a.data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a.data_dir, err);
        return 1;
    }
    if (strcmp(a.cmd, "status") == 0) {
        printf("head_seq %llu\n", (unsigned long long)store_head(s));
    } else if (strcmp(a.cmd, "tail") == 0) {
        if ((rc = store_scan(s, a.from, a.limit, print_entry, &a)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        }
    } else {
        verify_t v = {s, 1, 0, 0, 0, 0};
        if ((rc = store_scan(s, 1, 0, verify_entry, &v)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        } else {
            int bad = v.gaps || v.undecodable || v.dedupe_bad || v.count != store_head(s);
            printf("entries %llu head_seq %llu gaps %llu undecodable %llu dedupe_mismatch %llu\n"
                   "%s\n",
                   (unsigned long long)v.count, (unsigned long long)store_head(s),
                   (unsigned long long)v.gaps, (unsigned long long)v.undecodable,
                   (unsigned long long)v.dedupe_bad, bad ? "FAILED" : "OK");
            rc = bad;
        }
    }
    store_close(&s);
    return rc;
}
