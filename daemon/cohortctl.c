/* cohortctl: the operator's tool. Most commands read the event store
 * directly, opening RocksDB read-only (safe beside a running daemon):
 *
 *   cohortctl status --data-dir DIR         head sequence
 *   cohortctl tail   --data-dir DIR [--from SEQ] [--limit N] [--json]
 *   cohortctl verify --data-dir DIR         log gap-free, dedupe index equal
 *                                           to the log, checkpointed
 *                                           projections + tail == full replay
 *   cohortctl snapshot [--snapshot EP] [PREFIX]
 *                                           the live status documents, as
 *                                           JSON Lines (one per topic)
 *   cohortctl rebuild --data-dir DIR [--snapshot EP]
 *                                           replay the whole log into fresh
 *                                           projections and compare every
 *                                           status document with the live
 *                                           daemon's snapshot
 *   cohortctl backup [--data-dir DIR | --control EP] BACKUP_DIR
 *                                           asks the running daemon (control
 *                                           endpoint) for an online backup
 *   cohortctl restore BACKUP_DIR DATA_DIR   offline: puts a backup in place
 *   cohortctl keygen NAME                   a CURVE keypair: NAME.key (secret,
 *                                           0600) and NAME.pub (cohort_keys.h)
 *
 * snapshot, rebuild and backup talk to the daemon: over CURVE with --key
 * (COHORT_KEY) and --server-key (COHORT_SERVER_KEY; with --data-dir given,
 * DATA-DIR/server.pub if it exists), or plain text with --plaintext (or
 * COHORT_PLAINTEXT=1 and no key given) for a development daemon, with a
 * warning. Missing or unusable keys are a usage error (2).
 *
 * Output of tail carries event bodies, which hold pseudonymous refs (and,
 * for entries written before sealing existed, protected characteristics):
 * it is for audits, not for logs. tail never opens sealed characteristics
 * (vault.h): it shows them as sealed. verify prints
 * agencies, event ids and sequences (never bodies). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "log.h"
#include "store.h"
#include "uuid7.h"
#include "vault.h"

#define DEFAULT_SNAPSHOT "tcp://127.0.0.1:7402"
#define SNAPSHOT_TIMEOUT_MS 10000
#define REBUILD_TRIES 5
#define DEFAULT_BACKUP_TIMEOUT_S 3600
#define MAX_SHOWN 20 /* verify: problem lines listed */

/* Parsed command line. */
typedef struct {
    const char *cmd;        /* status, tail, verify, snapshot, rebuild, backup or restore */
    const char *prefix;     /* snapshot: topic prefix */
    const char *data_dir;   /* store directory */
    const char *snapshot;   /* rebuild: the daemon's snapshot endpoint */
    proj_config_t proj;     /* rebuild: must match the daemon's settings */
    uint64_t from;          /* tail: first sequence */
    uint64_t limit;         /* tail: at most this many (0 = all) */
    int json;               /* tail: JSON Lines */
    int unseal;             /* tail: open sealed characteristics (re-sendable events) */
    store_t *store;         /* tail: the open store, for --unseal */
    const char *control;    /* backup: the control endpoint (NULL = from data_dir) */
    unsigned timeout_s;     /* backup: how long to wait for the answer */
    char **pos;             /* the command's arguments (backup: 1, restore: 2) */
    int npos;               /* their count */
    const char *key;        /* --key FILE: this client's CURVE key, or NULL */
    const char *server_key; /* --server-key FILE: the daemon's public key, or NULL */
    int plaintext;          /* --plaintext */
    int data_dir_set;       /* --data-dir was given */
} args_t;

/* The CURVE keys of the commands that talk to the daemon (snapshot,
 * rebuild, backup), set once in main before them; on = 0: plain text. */
static cohort_curve_t g_curve;

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: cohortctl COMMAND --data-dir DIR [OPTION]...\n"
        "       cohortctl backup [--data-dir DIR | --control EP] BACKUP_DIR\n"
        "       cohortctl restore BACKUP_DIR DATA_DIR\n"
        "       cohortctl keygen NAME\n"
        "Operator tool for the cohortd event store (opened read-only).\n"
        "\n"
        "Commands:\n"
        "  status               print the log's head sequence\n"
        "  tail                 print log entries (plain, or JSON Lines with --json)\n"
        "  verify               check the log is gap-free (1..head), the dedupe index\n"
        "                       holds exactly the log's events at their sequences, and\n"
        "                       the checkpointed projections plus the log tail equal a\n"
        "                       full replay; prints each problem found\n"
        "  snapshot [PREFIX]    print the live status documents under PREFIX as JSON\n"
        "                       Lines: {\"topic\":..,\"rev\":..,\"seq\":..,\"doc\":{..}}\n"
        "  rebuild              recompute all status from the whole log and check it\n"
        "                       matches the live daemon's (asks its snapshot socket)\n"
        "  backup BACKUP_DIR    ask the running daemon for a consistent online backup\n"
        "                       into BACKUP_DIR (must not exist, or be empty); prints\n"
        "                       its directory and head sequence\n"
        "  restore BACKUP_DIR DATA_DIR\n"
        "                       offline: copy a backup into DATA_DIR (must not exist,\n"
        "                       or be empty; no daemon may use it), hard-linking the\n"
        "                       immutable table files when on the same file system;\n"
        "                       checks it opens and prints its head sequence\n"
        "  keygen NAME          make a CURVE keypair for a daemon, agent or subscriber:\n"
        "                       NAME.key (public and secret key, mode 0600) and NAME.pub\n"
        "                       (public key), lines 'public-key = Z85' and 'secret-key =\n"
        "                       Z85'; never overwrites; prints the public key\n"
        "\n"
        "Options:\n"
        "  -d, --data-dir DIR   the daemon's data directory (default: ./cohort-data)\n"
        "  -f, --from SEQ       tail: start at this sequence (default: 1)\n"
        "  -n, --limit N        tail: print at most N entries (default: all)\n"
        "  -j, --json           tail: one JSON object per line: {\"seq\":N,\"event\":{...}}\n"
        "      --unseal         tail: open sealed characteristics with the participants'\n"
        "                       keys, so the events can be sent again (erased people's\n"
        "                       stay sealed); personal data: for exports, not for logs\n"
        "  -s, --snapshot EP    rebuild: the daemon's snapshot endpoint (default: %s)\n"
        "  -c, --control EP     backup: the daemon's control endpoint\n"
        "                       (default: ipc://DATA-DIR/control.sock)\n"
        "      --timeout-s S    backup: wait at most S seconds for it (default: %d)\n"
        "      --suppress-k K   rebuild, verify: the daemon's --suppress-k (default: %d)\n"
        "      --at-risk-ratio R  rebuild, verify: the daemon's --at-risk-ratio (default: %.2f)\n"
        "snapshot, rebuild and backup talk to the daemon over CURVE:\n"
        "      --key FILE           this client's key file (an operator key for backup;\n"
        "                           default: $COHORT_KEY)\n"
        "      --server-key FILE    the daemon's public key (default: $COHORT_SERVER_KEY,\n"
        "                           else DATA-DIR/server.pub when --data-dir is given)\n"
        "      --plaintext          no CURVE: only for a development daemon run with\n"
        "                           --plaintext (default: on if $COHORT_PLAINTEXT is 1 and\n"
        "                           no key is given)\n"
        "  -h, --help           show this help and exit\n"
        "  -V, --version        show the version and exit\n"
        "\n"
        "Exit status: 0 on success; 1 if verify or rebuild finds a problem, a backup or\n"
        "restore fails or is refused, keygen finds NAME.key or NAME.pub already there\n"
        "or cannot write them, or the store cannot be read; 2 on a usage error\n"
        "(and for verify, when the store cannot be opened; and for missing or unusable\n"
        "keys).\n",
        DEFAULT_SNAPSHOT, DEFAULT_BACKUP_TIMEOUT_S, PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO);
}

static int parse(args_t *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"data-dir", required_argument, 0, 'd'},   {"from", required_argument, 0, 'f'},
        {"limit", required_argument, 0, 'n'},      {"json", no_argument, 0, 'j'},
        {"unseal", no_argument, 0, 0x103},         {"snapshot", required_argument, 0, 's'},
        {"suppress-k", required_argument, 0, 'K'}, {"at-risk-ratio", required_argument, 0, 'R'},
        {"control", required_argument, 0, 'c'},    {"timeout-s", required_argument, 0, 'T'},
        {"key", required_argument, 0, 0x100},      {"server-key", required_argument, 0, 0x101},
        {"plaintext", no_argument, 0, 0x102},      {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "d:f:n:js:c:hV", opts, NULL)) != -1) {
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
            a->data_dir_set = 1;
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
        case 'c':
            a->control = optarg;
            break;
        case 'T': {
            uint64_t t;
            if (cohort_cli_u64(optarg, 1, 86400, &t) < 0) {
                fprintf(stderr, "cohortctl: --timeout-s: '%s' is not 1-86400\n", optarg);
                return -EINVAL;
            }
            a->timeout_s = (unsigned)t;
            break;
        }
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
        case 0x103:
            a->unseal = 1;
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
    a->pos = argv + optind + 1;
    a->npos = argc - optind - 1;
    int min = 0, max = 0;
    if (strcmp(a->cmd, "snapshot") == 0)
        max = 1;
    else if (strcmp(a->cmd, "backup") == 0)
        min = max = 1;
    else if (strcmp(a->cmd, "restore") == 0)
        min = max = 2;
    else if (strcmp(a->cmd, "keygen") == 0)
        min = max = 1;
    if (a->npos > max) {
        fprintf(stderr, "cohortctl: unexpected argument '%s'\n", a->pos[max]);
        return -EINVAL;
    }
    if (a->npos < min) {
        fprintf(stderr, "cohortctl: %s needs %s\nTry 'cohortctl --help'.\n", a->cmd,
                strcmp(a->cmd, "keygen") == 0 ? "a NAME"
                : min == 1                    ? "a BACKUP_DIR"
                                              : "a BACKUP_DIR and a DATA_DIR");
        return -EINVAL;
    }
    if (strcmp(a->cmd, "snapshot") == 0 && a->npos == 1)
        a->prefix = a->pos[0];
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
    if (a->unseal && ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
        ev->participant_registered && ev->participant_registered->sealed.len &&
        vault_open_event(a->store, ev) == 0)
        ev->participant_registered->sealed.len = 0; /* opened: the event as it was sent */
    if (a->json) {
        char *j = cohort_json_from_message(&ev->base);
        printf("{\"seq\":%llu,\"event\":%s}\n", (unsigned long long)seq, j ? j : "null");
        free(j);
    } else {
        char id[37] = "(bad id)";
        if (ev->event_id.len == 16)
            uuid7_format(ev->event_id.data, id);
        int sealed = ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
                     ev->participant_registered && ev->participant_registered->sealed.len;
        printf("%llu %s %s %s%s\n", (unsigned long long)seq, ev->agency, id, body_name(ev),
               sealed ? " (characteristics sealed)" : "");
    }
    cohort__v1__event__free_unpacked(ev, NULL);
    return ferror(stdout) ? -EIO : 0;
}

/* The live status: every topic's document from the daemon's snapshot. */
typedef struct {
    json_t *docs; /* topic -> doc */
    json_t *envs; /* topic -> whole envelope */
    uint64_t seq; /* the end marker's sequence */
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
    if (cohort_curve_apply(s, &g_curve, NULL, 0) < 0 || zmq_connect(s, ep) != 0 ||
        zmq_send(s, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot ask %s for a snapshot: %s\n", ep, zmq_strerror(errno));
        goto out;
    }
    for (;;) {
        zmq_msg_t topic, body;
        zmq_msg_init(&topic);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&topic, s, 0) < 0 || !zmq_msg_more(&topic) ||
            zmq_msg_recv(&body, s, 0) < 0) {
            fprintf(stderr,
                    "cohortctl: no complete snapshot from %s within %d s (is cohortd "
                    "running?%s)\n",
                    ep, SNAPSHOT_TIMEOUT_MS / 1000,
                    g_curve.on ? " A refused key or a wrong server key looks the same: check "
                                 "--key/--server-key"
                               : "");
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
        if (bad) {
            const char *why = json_string_value(json_object_get(env, "error"));
            fprintf(stderr, "cohortctl: the daemon refused the snapshot request%s%s\n",
                    why ? ": " : "", why ? why : "");
            json_decref(env);
            goto out;
        }
        json_decref(env);
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
        json_object_foreach(live.envs, key, env)
        {
            json_t *line =
                json_pack("{s:s,s:O,s:O,s:O}", "topic", key, "rev", json_object_get(env, "rev"),
                          "seq", json_object_get(env, "seq"), "doc", json_object_get(env, "doc"));
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
    json_object_foreach(live->docs, key, v)
    {
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

/* ------------------------------------------------------------- verify --- */

/* State of a verify pass. */
typedef struct {
    store_t *store;
    uint64_t head;         /* the log's last sequence */
    uint64_t expect;       /* next sequence expected */
    uint64_t count;        /* log entries */
    uint64_t gaps;         /* sequences missing (before head) */
    uint64_t undecodable;  /* log entries that do not decode (or lack an id/agency) */
    uint64_t dedupe_bad;   /* log entries whose dedupe entry is missing or not their seq */
    uint64_t indexed;      /* log entries whose dedupe entry is their own seq */
    uint64_t dd_entries;   /* dedupe entries */
    uint64_t dd_malformed; /* dedupe entries with a bad key or value */
    uint64_t dd_dangling;  /* dedupe entries pointing at no log entry (0 or past head) */
    uint64_t dd_foreign;   /* dedupe entries pointing at another event's entry */
    uint64_t sealed;       /* registrations with sealed characteristics */
    uint64_t unsealed;     /* of those, opened with their participant's key */
    uint64_t shredded;     /* of those, whose key is gone (the person was erased) */
    uint64_t erasures;     /* ParticipantErased entries */
    uint64_t keys;         /* participants' keys in the store */
    uint64_t problems;     /* problem lines (printed up to MAX_SHOWN) */
} verify_t;

/* Prints one problem line (the first MAX_SHOWN; the count goes on). */
static void problem(verify_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(verify_t *v, const char *fmt, ...)
{
    va_list ap;
    if (++v->problems > MAX_SHOWN) {
        if (v->problems == MAX_SHOWN + 1)
            printf("problem: ... (further problems are counted, not listed)\n");
        return;
    }
    printf("problem: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* An event's identity for messages: "agency event-id". */
static void ident(char *out, size_t len, const char *agency, const uint8_t *id)
{
    char u[37] = "(bad id)";
    if (id)
        uuid7_format(id, u);
    snprintf(out, len, "%s %s", agency ? agency : "(bad agency)", u);
}

/* Part of pass 1: a sealed registration opens with its participant's key,
 * or that key is gone; after an erasure the key made before it is gone.
 * Never prints a ref or a characteristic. */
static void verify_sealing(verify_t *v, uint64_t seq, Cohort__V1__Event *ev, const char *who)
{
    vault_key_t k;
    if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED &&
        ev->participant_registered && ev->participant_registered->sealed.len) {
        int rc = vault_open_event(v->store, ev);
        v->sealed++;
        if (rc == 0)
            v->unsealed++;
        else if (rc == VAULT_ERASED)
            v->shredded++;
        else if (rc == -EBADMSG)
            problem(v,
                    "vault: the sealed characteristics of log entry %llu (%s) do not open with "
                    "the participant's key",
                    (unsigned long long)seq, who);
        else
            problem(v, "vault: the key for log entry %llu (%s) cannot be read",
                    (unsigned long long)seq, who);
    } else if (ev->body_case == COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED &&
               ev->participant_erased) {
        v->erasures++;
        if (vault_get_key(v->store, ev->agency, ev->participant_erased->participant_ref, &k) == 0 &&
            k.gen < seq)
            problem(v, "vault: the key erased by log entry %llu (%s) still exists",
                    (unsigned long long)seq, who);
    }
}

/* Pass 5, per key: a well-formed key record. */
static int verify_key(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
    verify_t *v = arg;
    (void)val;
    v->keys++;
    if (klen < 3 || !memchr(key, 0, klen) || vlen != 8 + VAULT_KEY_BYTES)
        problem(v, "vault: a key record is malformed");
    return 0;
}

/* Pass 1, per log entry: the sequence is the next one, the event decodes,
 * and the dedupe index maps its (agency, event_id) to this sequence. */
static int verify_entry(void *arg, uint64_t seq, const void *val, size_t len)
{
    verify_t *v = arg;
    uint64_t got = 0;
    char who[320];
    v->count++;
    if (seq < v->expect) {
        problem(v, "log: entry with sequence %llu (sequences start at 1)", (unsigned long long)seq);
        v->gaps++;
    } else if (seq != v->expect) {
        v->gaps += seq - v->expect;
        problem(v, "log: sequences %llu..%llu are missing", (unsigned long long)v->expect,
                (unsigned long long)(seq - 1));
    }
    v->expect = seq + 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev || ev->event_id.len != 16 || !ev->agency || !*ev->agency) {
        v->undecodable++;
        problem(v, "log: entry %llu does not decode to an event with an id and agency",
                (unsigned long long)seq);
    } else {
        int rc = store_lookup(v->store, ev->agency, ev->event_id.data, &got);
        ident(who, sizeof who, ev->agency, ev->event_id.data);
        verify_sealing(v, seq, ev, who);
        if (rc == 0 && got == seq) {
            v->indexed++;
        } else {
            v->dedupe_bad++;
            if (rc == -ENOENT)
                problem(v, "dedupe: log entry %llu (%s) has no dedupe entry",
                        (unsigned long long)seq, who);
            else if (rc == 0)
                problem(v, "dedupe: log entry %llu (%s) is indexed at seq %llu",
                        (unsigned long long)seq, who, (unsigned long long)got);
            else
                problem(v, "dedupe: looking up log entry %llu (%s) failed", (unsigned long long)seq,
                        who);
        }
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 0;
}

/* Pass 2, per dedupe entry: well formed and pointing into 1..head. */
static int verify_dedupe(void *arg, const char *agency, const uint8_t *id, uint64_t seq)
{
    verify_t *v = arg;
    char who[320];
    v->dd_entries++;
    if (!agency || !seq) {
        v->dd_malformed++;
        problem(v, "dedupe: an entry has a malformed key or value");
    } else if (seq > v->head) {
        v->dd_dangling++;
        ident(who, sizeof who, agency, id);
        problem(v, "dedupe: entry (%s) points at seq %llu, past the log's head %llu", who,
                (unsigned long long)seq, (unsigned long long)v->head);
    }
    return 0;
}

/* One log entry's identity, for pass 3. */
typedef struct {
    uint64_t seq;     /* the entry wanted */
    int found;        /* it exists */
    char agency[256]; /* its agency ("" if it does not decode) */
    uint8_t id[16];   /* its event id */
} entry_id_t;

static int read_entry_id(void *arg, uint64_t seq, const void *val, size_t len)
{
    entry_id_t *e = arg;
    if (seq != e->seq)
        return 1; /* not there: the scan found a later one */
    e->found = 1;
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (ev && ev->event_id.len == 16 && ev->agency && strlen(ev->agency) < sizeof e->agency) {
        snprintf(e->agency, sizeof e->agency, "%s", ev->agency);
        memcpy(e->id, ev->event_id.data, 16);
    }
    if (ev)
        cohort__v1__event__free_unpacked(ev, NULL);
    return 1;
}

/* Pass 3 (only when the index has more entries than the log has indexed
 * events): finds the entries pointing at another event's log entry. */
static int verify_foreign(void *arg, const char *agency, const uint8_t *id, uint64_t seq)
{
    verify_t *v = arg;
    entry_id_t e = {seq, 0, "", {0}};
    char who[320], other[320];
    if (!agency || !seq || seq > v->head)
        return 0; /* reported in pass 2 */
    if (store_scan(v->store, seq, 1, read_entry_id, &e) < 0)
        return -EIO;
    if (e.found && strcmp(e.agency, agency) == 0 && memcmp(e.id, id, 16) == 0)
        return 0;
    v->dd_foreign++;
    ident(who, sizeof who, agency, id);
    if (!e.found)
        problem(v, "dedupe: entry (%s) points at seq %llu, which is missing from the log", who,
                (unsigned long long)seq);
    else {
        ident(other, sizeof other, e.agency[0] ? e.agency : NULL, e.agency[0] ? e.id : NULL);
        problem(v, "dedupe: entry (%s) points at seq %llu, which holds another event (%s)", who,
                (unsigned long long)seq, other);
    }
    return 0;
}

/* Pass 4: the checkpointed projections plus the log tail must equal a full
 * replay (the state, and every rendered document). Returns 0, or -1 when a
 * replay could not run (reported as a problem). *cp_seq gets the
 * checkpoint's sequence (0 = none); *same is 1 if they matched, 0 if not,
 * -1 if not compared. */
static int verify_projections(verify_t *v, const proj_config_t *cfg, uint64_t *cp_seq,
                              uint64_t *replayed, int *same)
{
    char *text = NULL, err[512], **t1 = NULL, **t2 = NULL;
    size_t len = 0, n1 = 0, n2 = 0;
    proj_t *p1 = NULL, *p2 = NULL, *q;
    checkpoint_info_t i1, i2;
    int rc = store_get_meta(v->store, "proj", &text, &len);
    *cp_seq = 0;
    *replayed = 0;
    *same = -1;
    if (rc == -ENOENT) {
        printf("note: no projection checkpoint; the daemon would replay the whole log\n");
        return 0;
    }
    if (rc < 0) {
        problem(v, "checkpoint: the projection checkpoint cannot be read");
        return -1;
    }
    int loaded = (q = proj_new(cfg)) && proj_load(q, text, len) == 0;
    *cp_seq = loaded ? proj_seq(q) : 0;
    proj_destroy(&q);
    free(text);
    if (!loaded) {
        problem(v, "checkpoint: the projection checkpoint does not load");
        return -1;
    }
    if (*cp_seq > v->head) {
        problem(v, "checkpoint: the projection checkpoint is at seq %llu, past the log's head %llu",
                (unsigned long long)*cp_seq, (unsigned long long)v->head);
        return -1;
    }
    if (checkpoint_restore(v->store, cfg, 1, 0, &p1, &i1, err, sizeof err) < 0 ||
        checkpoint_restore(v->store, cfg, 0, 0, &p2, &i2, err, sizeof err) < 0) {
        problem(v, "projections: replay failed: %s", err);
        proj_destroy(&p1);
        return -1;
    }
    *replayed = i1.replayed;
    if (i2.refused)
        printf("warning: %llu log entries are refused by the domain rules on replay (a rule "
               "change?)\n",
               (unsigned long long)i2.refused);
    char *s1 = proj_save(p1), *s2 = proj_save(p2);
    *same = s1 && s2 && strcmp(s1, s2) == 0 && proj_seq(p1) == proj_seq(p2);
    if (!*same)
        problem(v,
                "projections: the checkpoint (seq %llu) plus %llu replayed entries is not "
                "the state a full replay of %llu entries gives",
                (unsigned long long)*cp_seq, (unsigned long long)i1.replayed,
                (unsigned long long)i2.replayed);
    free(s1);
    free(s2);
    n1 = proj_topics(p1, "", &t1);
    n2 = proj_topics(p2, "", &t2);
    for (size_t i = 0, j = 0; i < n1 || j < n2;) {
        int c = i == n1 ? 1 : j == n2 ? -1 : strcmp(t1[i], t2[j]);
        if (c < 0) {
            problem(v, "projections: topic %s only with the checkpoint", t1[i++]);
            *same = 0;
        } else if (c > 0) {
            problem(v, "projections: topic %s only in the full replay", t2[j++]);
            *same = 0;
        } else {
            char *d1 = proj_render(p1, t1[i]), *d2 = proj_render(p2, t2[j]);
            if (!d1 || !d2 || strcmp(d1, d2) != 0) {
                problem(v, "projections: topic %s differs from the full replay", t1[i]);
                *same = 0;
            }
            free(d1);
            free(d2);
            i++, j++;
        }
    }
    proj_strv_free(t1, n1);
    proj_strv_free(t2, n2);
    proj_destroy(&p1);
    proj_destroy(&p2);
    return 0;
}

/* verify: exit 0 (all checks pass), 1 (problems, listed), 2 (cannot open). */
static int verify(const args_t *a)
{
    verify_t v = {0};
    char err[512];
    uint64_t cp_seq = 0, replayed = 0;
    int rc, same = -1;
    if (store_open(&v.store, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
        return 2;
    }
    v.head = store_head(v.store);
    v.expect = 1;
    if ((rc = store_scan(v.store, 1, 0, verify_entry, &v)) < 0)
        problem(&v, "log: reading the log failed: %s", strerror(-rc));
    if ((rc = store_scan_dedupe(v.store, verify_dedupe, &v)) < 0)
        problem(&v, "dedupe: reading the dedupe index failed: %s", strerror(-rc));
    /* Every indexed log entry has its own key, so the index holds exactly
     * the log's events when it has no more entries than that. */
    if (rc == 0 && v.dd_entries > v.indexed + v.dd_malformed + v.dd_dangling &&
        (rc = store_scan_dedupe(v.store, verify_foreign, &v)) < 0)
        problem(&v, "dedupe: reading the dedupe index failed: %s", strerror(-rc));
    verify_projections(&v, &a->proj, &cp_seq, &replayed, &same);
    if ((rc = store_scan_pkeys(v.store, verify_key, &v)) < 0)
        problem(&v, "vault: reading the participants' keys failed: %s", strerror(-rc));
    printf("sealed %llu readable %llu erased %llu erasures %llu keys %llu\n",
           (unsigned long long)v.sealed, (unsigned long long)v.unsealed,
           (unsigned long long)v.shredded, (unsigned long long)v.erasures,
           (unsigned long long)v.keys);
    printf("entries %llu head_seq %llu gaps %llu undecodable %llu dedupe_mismatch %llu\n"
           "dedupe_entries %llu dedupe_extra %llu checkpoint_seq %llu tail_replayed %llu "
           "projections %s\n%s\n",
           (unsigned long long)v.count, (unsigned long long)v.head, (unsigned long long)v.gaps,
           (unsigned long long)v.undecodable, (unsigned long long)v.dedupe_bad,
           (unsigned long long)v.dd_entries,
           (unsigned long long)(v.dd_entries > v.indexed ? v.dd_entries - v.indexed : 0),
           (unsigned long long)cp_seq, (unsigned long long)replayed,
           same < 0 ? "unchecked"
           : same   ? "same"
                    : "DIFFER",
           v.problems ? "FAILED" : "OK");
    store_close(&v.store);
    return v.problems ? 1 : 0;
}

/* ------------------------------------------------------------- backup --- */

/* Makes path absolute (against the working directory) into out. Returns 0
 * or -1 with a message printed. */
static int absolute(const char *path, char *out, size_t len)
{
    char cwd[PATH_MAX];
    if (path[0] == '/') {
        if ((size_t)snprintf(out, len, "%s", path) < len)
            return 0;
    } else if (!getcwd(cwd, sizeof cwd)) {
        fprintf(stderr, "cohortctl: cannot tell the working directory: %s\n", strerror(errno));
        return -1;
    } else if ((size_t)snprintf(out, len, "%s/%s", cwd, path) < len) {
        return 0;
    }
    fprintf(stderr, "cohortctl: path too long: %s\n", path);
    return -1;
}

/* 1 if something accepts connections on the Unix socket at path; 0 with
 * errno set if not. */
static int listening(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd, ok, e;
    if (strlen(path) >= sizeof sa.sun_path) {
        errno = ENAMETOOLONG;
        return 0;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    e = errno;
    close(fd);
    errno = e;
    return ok;
}

/* backup: asks the daemon's control endpoint; exit 0, or 1 if refused,
 * failed or unanswered. */
static int backup(const args_t *a)
{
    char dir[PATH_MAX], ep[PATH_MAX + 32];
    void *ctx = NULL, *s = NULL;
    int linger = 0, tmo = (int)a->timeout_s * 1000, rc = 1;
    json_t *rq, *rep = NULL;
    char *req = NULL;
    zmq_msg_t msg;
    if (absolute(a->pos[0], dir, sizeof dir) < 0)
        return 1;
    if (a->control)
        snprintf(ep, sizeof ep, "%s", a->control);
    else
        snprintf(ep, sizeof ep, "ipc://%s/control.sock", a->data_dir);
    /* A REQ to a missing ipc socket, or to one left by a stopped daemon
     * (ZeroMQ does not remove it), would wait for the whole timeout. */
    if (strncmp(ep, "ipc://", 6) == 0 && !listening(ep + 6)) {
        fprintf(stderr,
                "cohortctl: cannot reach the daemon's control socket %s: %s (is cohortd running on "
                "this data directory? see --control)\n",
                ep + 6, strerror(errno));
        return 1;
    }
    rq = json_pack("{s:s}", "backup", dir);
    req = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
    json_decref(rq);
    ctx = zmq_ctx_new();
    s = ctx ? zmq_socket(ctx, ZMQ_REQ) : NULL;
    if (!req || !s) {
        fprintf(stderr, "cohortctl: cannot set up the request: %s\n", zmq_strerror(errno));
        goto out;
    }
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (cohort_curve_apply(s, &g_curve, NULL, 0) < 0 || zmq_connect(s, ep) != 0 ||
        zmq_send(s, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot ask %s for a backup: %s\n", ep, zmq_strerror(errno));
        goto out;
    }
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, s, 0) < 0) {
        fprintf(stderr, "cohortctl: no answer from %s within %u s: %s%s\n", ep, a->timeout_s,
                zmq_strerror(errno),
                g_curve.on ? " (a refused key or a wrong server key looks the same: check "
                             "--key/--server-key)"
                           : "");
        zmq_msg_close(&msg);
        goto out;
    }
    rep = json_loadb(zmq_msg_data(&msg), zmq_msg_size(&msg), 0, NULL);
    zmq_msg_close(&msg);
    if (!json_is_object(rep)) {
        fprintf(stderr, "cohortctl: the daemon's answer is not JSON\n");
    } else if (!json_is_true(json_object_get(rep, "ok"))) {
        const char *why = json_string_value(json_object_get(rep, "error"));
        fprintf(stderr, "cohortctl: backup refused or failed: %s\n", why ? why : "(no reason)");
    } else {
        printf("backup %s\nhead_seq %" JSON_INTEGER_FORMAT "\n",
               json_string_value(json_object_get(rep, "backup")),
               json_integer_value(json_object_get(rep, "seq")));
        rc = 0;
    }
out:
    json_decref(rep);
    free(req);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* ------------------------------------------------------------ restore --- */

/* 1 if dir/LOCK is locked by a process (a daemon has the store open), 0 if
 * not (or there is no LOCK file). RocksDB locks it with fcntl. */
static int store_in_use(const char *dir)
{
    char path[PATH_MAX + 8];
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int fd, held = 0;
    snprintf(path, sizeof path, "%s/LOCK", dir);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return 0;
    if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
        held = 1;
    close(fd);
    return held;
}

/* 1 if path is missing, 0 if it exists as an empty directory, -1 (message
 * printed) otherwise. */
static int missing_or_empty(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int n = 0;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 1;
        fprintf(stderr, "cohortctl: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode) || !(d = opendir(path))) {
        fprintf(stderr, "cohortctl: %s exists and is not a directory I can read\n", path);
        return -1;
    }
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    if (n) {
        fprintf(stderr,
                "cohortctl: %s exists and is not empty%s; restore only into a new or "
                "empty directory\n",
                path, store_in_use(path) ? " (a running cohortd has it open)" : "");
        return -1;
    }
    return 0;
}

/* Copies src to a new file dst (mode 0600) and syncs it. Returns 0 or a
 * negative errno. */
static int copy_file(const char *src, const char *dst)
{
    static char buf[1 << 20];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    ssize_t n;
    if (in < 0)
        return -errno;
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        goto done;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            goto done;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno != EINTR) {
                rc = -errno;
                goto done;
            }
            off += w > 0 ? w : 0;
        }
    }
    if (fsync(out) != 0)
        rc = -errno;
done:
    if (out >= 0 && close(out) != 0 && rc == 0)
        rc = -errno;
    close(in);
    return rc;
}

/* Syncs a directory (its entries). Returns 0 or a negative errno. */
static int sync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Removes the staging directory and what we put in it. */
static void remove_staging(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX * 2];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

/* Table files are immutable once written, so a hard link is a copy; every
 * other file (manifest, WAL, CURRENT, OPTIONS) is copied, because RocksDB
 * appends to or recycles some of them in place. */
static int immutable(const char *name)
{
    size_t n = strlen(name);
    return (n > 4 && strcmp(name + n - 4, ".sst") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".blob") == 0);
}

/* restore: exit 0, or 1 if refused or failed. */
static int restore(const args_t *a)
{
    const char *src = a->pos[0];
    char target[PATH_MAX], staging[PATH_MAX + 32], from[PATH_MAX * 2], to[PATH_MAX * 2], err[512];
    store_t *s = NULL;
    uint64_t head = 0, got = 0;
    unsigned linked = 0, copied = 0;
    DIR *d = NULL;
    struct dirent *e;
    int rc, tgt;
    if (absolute(a->pos[1], target, sizeof target) < 0)
        return 1;
    while (strlen(target) > 1 && target[strlen(target) - 1] == '/')
        target[strlen(target) - 1] = '\0';
    if (store_in_use(src)) {
        fprintf(stderr,
                "cohortctl: %s is in use by a running cohortd; take an online backup with "
                "'cohortctl backup' and restore that\n",
                src);
        return 1;
    }
    if ((tgt = missing_or_empty(target)) < 0)
        return 1;
    if (store_open(&s, src, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: %s is not a readable cohortd store: %s\n", src, err);
        return 1;
    }
    head = store_head(s);
    store_close(&s);
    /* Stage beside the target (same file system), then rename into place:
     * a failed restore leaves no half-filled data directory. */
    snprintf(staging, sizeof staging, "%s.restore-XXXXXX", target);
    if (!mkdtemp(staging)) {
        fprintf(stderr, "cohortctl: cannot create a staging directory beside %s: %s\n", target,
                strerror(errno));
        return 1;
    }
    if (!(d = opendir(src))) {
        fprintf(stderr, "cohortctl: cannot read %s: %s\n", src, strerror(errno));
        goto fail;
    }
    while ((e = readdir(d))) {
        struct stat st;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", staging, e->d_name);
        /* Only RocksDB's regular files: not the lock, the info logs or a
         * socket left in a stopped daemon's directory. */
        if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode) || strcmp(e->d_name, "LOCK") == 0 ||
            strncmp(e->d_name, "LOG", 3) == 0)
            continue;
        if (immutable(e->d_name) && link(from, to) == 0) {
            linked++;
            continue;
        }
        if ((rc = copy_file(from, to)) < 0) {
            fprintf(stderr, "cohortctl: copying %s: %s\n", from, strerror(-rc));
            goto fail;
        }
        copied++;
    }
    closedir(d);
    d = NULL;
    if ((rc = sync_dir(staging)) < 0) {
        fprintf(stderr, "cohortctl: syncing %s: %s\n", staging, strerror(-rc));
        goto fail;
    }
    if (store_open(&s, staging, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: the restored copy does not open: %s\n", err);
        goto fail;
    }
    got = store_head(s);
    store_close(&s);
    if (got != head) {
        fprintf(stderr, "cohortctl: the restored copy has head %llu, the backup %llu\n",
                (unsigned long long)got, (unsigned long long)head);
        goto fail;
    }
    /* rename() refuses a non-empty target, so a daemon that started on it
     * meanwhile is not overwritten. */
    if ((tgt == 0 && rmdir(target) != 0) || rename(staging, target) != 0) {
        fprintf(stderr, "cohortctl: cannot move the restored store into %s: %s\n", target,
                strerror(errno));
        if (tgt == 0)
            mkdir(target, 0700); /* put the empty directory back */
        goto fail;
    }
    strcpy(staging, target);
    char *slash = strrchr(staging, '/');
    if (slash)
        *(slash == staging ? slash + 1 : slash) = '\0';
    if ((rc = sync_dir(staging)) < 0)
        fprintf(stderr, "cohortctl: warning: syncing %s: %s\n", staging, strerror(-rc));
    printf("restored %s into %s (%u files linked, %u copied)\nhead_seq %llu\n", src, target, linked,
           copied, (unsigned long long)head);
    return 0;
fail:
    if (d)
        closedir(d);
    remove_staging(staging);
    return 1;
}

/* ------------------------------------------------------------- keygen --- */

/* keygen: exit 0, or 1 if a file exists or cannot be written. */
static int keygen(const args_t *a)
{
    char pub[COHORT_KEY_Z85_LEN + 1], err[8192];
    if (cohort_keys_generate(a->pos[0], pub, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: keygen: %s\n", err);
        return 1;
    }
    printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic-key = %s\n", a->pos[0], a->pos[0],
           pub);
    return 0;
}

/* Sets g_curve for a command that talks to the daemon (see the header
 * comment for the precedence). Returns 0, or -1 after the message. */
static int choose_keys(const args_t *a)
{
    const char *plain = getenv("COHORT_PLAINTEXT"), *env_server = getenv("COHORT_SERVER_KEY");
    const char *server = a->server_key;
    char buf[PATH_MAX];
    struct stat st;

    /* DATA-DIR/server.pub is the last default: after COHORT_SERVER_KEY, and
     * not when plain text is asked for (COHORT_PLAINTEXT=1 and no key). */
    if (!a->plaintext && !server && a->data_dir_set && !(env_server && *env_server) &&
        (a->key || !(plain && strcmp(plain, "1") == 0)) &&
        (size_t)snprintf(buf, sizeof buf, "%s/server.pub", a->data_dir) < sizeof buf &&
        stat(buf, &st) == 0)
        server = buf;
    return cohort_cli_curve("cohortctl", &g_curve, a->key, server, a->plaintext);
}

int main(int argc, char **argv)
{
    args_t a = {.data_dir = "cohort-data",
                .snapshot = DEFAULT_SNAPSHOT,
                .proj = {PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO},
                .from = 1,
                .timeout_s = DEFAULT_BACKUP_TIMEOUT_S};
    store_t *s = NULL;
    char err[512];
    int rc = parse(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    if (strcmp(a.cmd, "status") && strcmp(a.cmd, "tail") && strcmp(a.cmd, "verify") &&
        strcmp(a.cmd, "rebuild") && strcmp(a.cmd, "snapshot") && strcmp(a.cmd, "backup") &&
        strcmp(a.cmd, "restore") && strcmp(a.cmd, "keygen")) {
        fprintf(stderr, "cohortctl: unknown command '%s'\nTry 'cohortctl --help'.\n", a.cmd);
        return 2;
    }
    cohort_log_set_level(LOG_WARNING);
    if (strcmp(a.cmd, "rebuild") == 0 || strcmp(a.cmd, "snapshot") == 0 ||
        strcmp(a.cmd, "backup") == 0) {
        if (choose_keys(&a) < 0)
            return 2;
        rc = strcmp(a.cmd, "rebuild") == 0    ? rebuild(&a)
             : strcmp(a.cmd, "snapshot") == 0 ? snapshot(&a)
                                              : backup(&a);
        cohort_curve_clear(&g_curve);
        return rc;
    }
    if (strcmp(a.cmd, "restore") == 0)
        return restore(&a);
    if (strcmp(a.cmd, "keygen") == 0)
        return keygen(&a);
    if (strcmp(a.cmd, "verify") == 0)
        return verify(&a);
    if (store_open(&s, a.data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a.data_dir, err);
        return 1;
    }
    if (strcmp(a.cmd, "status") == 0) {
        printf("head_seq %llu\n", (unsigned long long)store_head(s));
    } else if (strcmp(a.cmd, "tail") == 0) {
        a.store = s;
        if ((rc = store_scan(s, a.from, a.limit, print_entry, &a)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        }
    }
    store_close(&s);
    return rc;
}
