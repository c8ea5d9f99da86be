/* cohortctl: the operator's tool (docs/man/cohortctl.8.md, one page per
 * command). `cohortctl COMMAND --help` shows each command's usage.
 *
 *   status                  the daemon's state: head sequence, version,
 *                           uptime, connected agents and subscribers, mode
 *   stats                   the daemon's counters (ingest, publish, control)
 *   tail [--from SEQ] [--limit N] [--json]
 *                           log entries, plain or JSON Lines
 *   backup BACKUP_DIR       an online, consistent backup (the daemon writes it)
 *   restore BACKUP_DIR DATA_DIR
 *                           offline: puts a backup in place
 *   verify                  offline check of the store: log gap-free, dedupe
 *                           index equal to the log, checkpointed projections
 *                           + tail == full replay
 *   rebuild                 replays the whole log and compares every status
 *                           document with the live daemon's snapshot
 *   snapshot [PREFIX]       the live status documents, as JSON Lines
 *   keygen NAME             a CURVE keypair: NAME.key (secret, 0600), NAME.pub
 *   audit-disclosure [--history FILE | FILE]
 *                           offline: which published counts of people with a
 *                           protected characteristic can be pinned or bounded
 *                           below k (audit.h); exit 1 if any
 *
 * Where things are: status, stats, tail and backup ask the daemon over its
 * control endpoint (control.h; operator keys only with CURVE); verify,
 * restore and the replay of rebuild read stores directly (RocksDB opened
 * read-only, safe beside a running daemon). The endpoint and the data
 * directory come from --control and --data-dir (the endpoint then defaults
 * to ipc://DATA-DIR/control.sock), else from the daemon's configuration
 * file (--config FILE; without any of the three: $COHORTD_CONFIG, else
 * /etc/cohortd/cohortd.conf if it exists, as cohortd reads it), else the
 * defaults (./cohort-data). When the configuration leaves the control
 * endpoint at its default in the data directory and nothing listens there,
 * /run/cohortd/control.sock (systemd's RuntimeDirectory, where the packaged
 * unit's daemon puts it) is tried too.
 *
 * status and tail fall back to reading the store directly, with a note on
 * stderr, when no daemon listens on the control socket and the data
 * directory is known (from --data-dir or a configuration file), but not
 * when the socket is closed to this user (not in the daemon's group: an
 * error, exit 1). Whether a daemon listens is told from the socket file
 * and ZeroMQ's own connect, never by a probe connection, which the daemon
 * would log as a failed handshake. --offline
 * asks for that directly, and tail --unseal (which needs the participants'
 * keys in the store) always reads it. tail prints the same lines either
 * way (the daemon sends each entry's stored bytes; the client formats).
 * stats and backup need the daemon.
 *
 * Keys for the daemon's sockets: over CURVE with --key (COHORT_KEY) and
 * --server-key (COHORT_SERVER_KEY; else the configuration's server_key;
 * else, with --data-dir, DATA-DIR/server.pub if it exists), or plain text
 * with --plaintext (or COHORT_PLAINTEXT=1 and no key given, or plaintext =
 * true in the configuration) for a development daemon, with a warning.
 * Missing or unusable keys are a usage error (2).
 *
 * Long runs (backup, restore, rebuild) report progress on stderr
 * (progress.h): a bar on a terminal, plain lines every 10 s otherwise;
 * --progress / --no-progress override. stdout carries only results.
 *
 * Output of tail carries event bodies, which hold pseudonymous refs (and,
 * for entries written before sealing existed, protected characteristics):
 * it is for audits, not for logs. tail never opens sealed characteristics
 * (vault.h) unless --unseal: it shows them as sealed. verify prints
 * agencies, event ids and sequences (never bodies).
 *
 * Exit status: 0 success; 1 a check found a problem, an operation failed or
 * was refused, or the daemon could not be reached; 2 usage errors (unknown
 * command or option, an option that does not apply to the command, bad
 * values, missing or unusable keys, a bad configuration file; verify: a
 * store that cannot be opened). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <time.h>
#include <zmq.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_cli.h"
#include "cohort_json.h"
#include "cohort_keys.h"
#include "audit.h"
#include "config.h"
#include "control.h"
#include "log.h"
#include "progress.h"
#include "store.h"
#include "uuid7.h"
#include "vault.h"

#define SNAPSHOT_TIMEOUT_MS 10000
#define REBUILD_TRIES 5
#define DEFAULT_BACKUP_TIMEOUT_S 3600
#define DEFAULT_TIMEOUT_S 30 /* status, stats, each tail page */
#define POLL_MS 200          /* waiting for an answer: progress redraws */
#define PROBE_MS 2000        /* connecting: how long to wait to tell a stale ipc socket */
#define PROBE_REFUSALS 3     /* connecting: refusals in a row that mean nobody listens */
#define MAX_SHOWN 20         /* verify: problem lines listed */
#define SYSTEMD_CONTROL "ipc:///run/cohortd/control.sock" /* the packaged unit's */

/* Options, as bits: which were given, and which each command takes. */
enum {
    O_DATA_DIR = 1u << 0,
    O_CONFIG = 1u << 1,
    O_CONTROL = 1u << 2,
    O_KEYS = 1u << 3, /* --key, --server-key, --plaintext */
    O_SNAPSHOT = 1u << 4,
    O_FROM = 1u << 5,
    O_LIMIT = 1u << 6,
    O_JSON = 1u << 7,
    O_UNSEAL = 1u << 8,
    O_OFFLINE = 1u << 9,
    O_PAGE = 1u << 10,
    O_TIMEOUT = 1u << 11,
    O_PROJ = 1u << 12,     /* --suppress-k, --at-risk-ratio */
    O_PROGRESS = 1u << 13, /* --progress, --no-progress */
    O_K = 1u << 14,        /* audit-disclosure --k */
    O_HISTORY = 1u << 15,  /* audit-disclosure --history */
};
#define O_CONN (O_DATA_DIR | O_CONFIG | O_CONTROL | O_KEYS | O_TIMEOUT)

/* Parsed command line, then the settings resolved from it and the
 * configuration file. */
typedef struct {
    const char *cmd;            /* the command's name */
    unsigned given;             /* O_* bits of the options given */
    const char *given_name[16]; /* per bit: the option as typed (for messages) */
    const char *prefix;         /* snapshot: topic prefix */
    const char *data_dir;       /* store directory */
    int data_dir_known;         /* data_dir came from --data-dir or a configuration file */
    const char *snapshot;       /* rebuild, snapshot: the daemon's snapshot endpoint */
    proj_config_t proj;         /* rebuild, verify: must match the daemon's settings */
    uint64_t from;              /* tail: first sequence */
    uint64_t limit;             /* tail: at most this many (0 = all) */
    unsigned page;              /* tail: entries asked for per request */
    int json;                   /* tail, status, stats, audit-disclosure: JSON */
    int k;                      /* audit-disclosure: the threshold */
    const char *history;        /* audit-disclosure --history FILE */
    int unseal;                 /* tail: open sealed characteristics (re-sendable events) */
    int offline;                /* status, tail: read the store, never the daemon */
    store_t *store;             /* tail: the open store, for --unseal (NULL over control) */
    const char *control;        /* the control endpoint, or NULL (none) */
    const char *control_alt;    /* a second endpoint to try (SYSTEMD_CONTROL), or NULL */
    unsigned timeout_s;         /* how long to wait for each answer (0 = the command's default) */
    char **pos;                 /* the command's arguments (backup: 1, restore: 2) */
    int npos;                   /* their count */
    const char *key;            /* --key FILE: this client's CURVE key, or NULL */
    const char *server_key;     /* --server-key FILE: the daemon's public key, or NULL */
    const char *cfg_server_key; /* the configuration's server key file, or NULL */
    int plaintext;              /* --plaintext */
    int cfg_plaintext;          /* the configuration says plaintext = true */
    progress_mode_t progress;   /* --progress / --no-progress */
    const char *config;         /* --config FILE */
    cohortd_config_t cfg;       /* the configuration read (owns strings used above) */
    char control_buf[PATH_MAX + 16]; /* a derived control endpoint */
    char pub_buf[PATH_MAX];          /* the configuration's server key, as NAME.pub */
} args_t;

/* One command: its options, arguments and help. */
typedef struct {
    const char *name;
    int (*run)(args_t *a);
    unsigned opts;       /* O_* bits it takes */
    int min, max;        /* positional arguments */
    const char *args;    /* what goes after the name in the synopsis */
    const char *summary; /* one line, for the overview */
    const char *help;    /* the description and its own options */
} command_t;

/* The CURVE keys of the commands that talk to the daemon, set once in main
 * before them; on = 0: plain text. */
static cohort_curve_t g_curve;

#define CONN_HELP                                                                                  \
    "Where the daemon is (see cohortctl(8), FILES):\n"                                             \
    "  -c, --control EP       its control endpoint (ipc://PATH)\n"                                 \
    "  -d, --data-dir DIR     its data directory; the control endpoint is then\n"                  \
    "                         ipc://DIR/control.sock\n"                                            \
    "      --config FILE      the daemon's configuration file, for data_dir, control,\n"           \
    "                         server_key and plaintext (default, without --control\n"              \
    "                         or --data-dir: $COHORTD_CONFIG, else\n"                              \
    "                         /etc/cohortd/cohortd.conf if it exists)\n"                           \
    "  -T, --timeout-s S      wait at most S seconds for each answer (1-86400)\n"                  \
    "The control endpoint serves operator keys only (CURVE):\n"                                    \
    "      --key FILE         this operator's key file (default: $COHORT_KEY)\n"                   \
    "      --server-key FILE  the daemon's public key (default: $COHORT_SERVER_KEY,\n"             \
    "                         else the configuration's server_key, else\n"                         \
    "                         DATA-DIR/server.pub)\n"                                              \
    "      --plaintext        no CURVE, for a development daemon run with --plaintext\n"           \
    "                         (default: on if $COHORT_PLAINTEXT is 1 and no key is\n"              \
    "                         given, or if the configuration says plaintext = true)\n"

#define STORE_HELP                                                                                 \
    "  -d, --data-dir DIR     the daemon's data directory (default: the\n"                         \
    "                         configuration's data_dir, else ./cohort-data)\n"                     \
    "      --config FILE      the daemon's configuration file (as for status)\n"

#define PROJ_HELP                                                                                  \
    "      --suppress-k K     the daemon's suppress_k (default: the configuration's,\n"            \
    "                         else 5)\n"                                                           \
    "      --at-risk-ratio R  the daemon's at_risk_ratio (default: the\n"                          \
    "                         configuration's, else 0.75)\n"

#define PROGRESS_HELP                                                                              \
    "      --progress         always report progress on stderr: a bar on a terminal,\n"            \
    "                         else a line every 10 s and a final line\n"                           \
    "      --no-progress      never report progress (default: a bar on a terminal;\n"              \
    "                         else a line every 10 s, and a final one after one)\n"

static int run_status(args_t *a);
static int run_stats(args_t *a);
static int run_tail(args_t *a);
static int run_backup(args_t *a);
static int run_restore(args_t *a);
static int run_verify(args_t *a);
static int run_rebuild(args_t *a);
static int run_snapshot(args_t *a);
static int run_keygen(args_t *a);
static int run_audit(args_t *a);

static const command_t commands[] = {
    {"status", run_status, O_CONN | O_JSON | O_OFFLINE, 0, 0, "[--json] [--offline]",
     "the daemon's state: head seq, agents, subscribers",
     "Asks the running daemon over its control endpoint and prints one 'key value'\n"
     "per line: head_seq (the last durable log sequence), version, pid, uptime_s,\n"
     "agents and subscribers (connections now), mode (curve or plaintext),\n"
     "client_keys (curve), data_dir, control, backup_running. If no daemon listens\n"
     "on the control socket and the data directory is known (--data-dir or a\n"
     "configuration file), reads the store instead (read-only) and prints only\n"
     "head_seq, with a note on stderr.\n"
     "  -j, --json             one JSON object instead\n"
     "      --offline          read the store directly; never ask the daemon\n" CONN_HELP},
    {"stats", run_stats, O_CONN | O_JSON, 0, 0, "[--json]",
     "the daemon's counters (ingest, publish, control)",
     "Asks the running daemon for its counters (monotonic since it started, except\n"
     "the peers gauges) and prints one 'section.name value' per line, e.g.\n"
     "'ingest.accepted 1234', 'ingest.rejected_by.UNKNOWN_PROGRAMME 2',\n"
     "'publish.peers 5', 'control.tails 12'. Needs the daemon.\n"
     "  -j, --json             one JSON object instead\n" CONN_HELP},
    {"tail", run_tail, O_CONN | O_FROM | O_LIMIT | O_JSON | O_UNSEAL | O_OFFLINE | O_PAGE, 0, 0,
     "[--from SEQ] [--limit N] [--json]", "log entries, plain or JSON Lines (--json)",
     "Prints the log's entries from SEQ up to the head as it was when tail started:\n"
     "'SEQ AGENCY EVENT-ID KIND' per line, or with --json one JSON object per line:\n"
     "{\"seq\":N,\"event\":{...}} (the proto3 JSON mapping), for audits and for feeding\n"
     "other systems. Read from the daemon's control endpoint a page at a time;\n"
     "without a daemon (and a known data directory), or with --offline or --unseal,\n"
     "from the store directly (read-only); the lines are the same either way.\n"
     "Personal data: event bodies hold pseudonymous refs; for audits, not for logs.\n"
     "  -f, --from SEQ         the first sequence (default: 1)\n"
     "  -n, --limit N          at most N entries (default: all)\n"
     "  -j, --json             JSON Lines\n"
     "      --page N           entries asked for per request (1-10000, default 1000)\n"
     "      --unseal           open sealed characteristics with the participants'\n"
     "                         keys, so the events can be sent again (erased\n"
     "                         people's stay sealed); reads the store directly;\n"
     "                         personal data: for exports, not for logs\n"
     "      --offline          read the store directly; never ask the daemon\n" CONN_HELP},
    {"backup", run_backup, O_CONN | O_PROGRESS, 1, 1, "BACKUP_DIR",
     "an online, consistent backup by the daemon",
     "Asks the running daemon for a consistent point-in-time copy of its store in\n"
     "BACKUP_DIR (an absolute path is sent; it must not exist, or be an empty\n"
     "directory, on a file system the daemon can write; same file system as the\n"
     "data: table files are hard-linked). Prints 'backup DIR' and 'head_seq N'.\n"
     "Ingest goes on meanwhile. Default --timeout-s: 3600.\n" PROGRESS_HELP CONN_HELP},
    {"restore", run_restore, O_PROGRESS, 2, 2, "BACKUP_DIR DATA_DIR",
     "offline: a backup into a new data directory",
     "Copies a backup (or a stopped daemon's data directory) into DATA_DIR, which\n"
     "must not exist or be empty and which no daemon may use, hard-linking the\n"
     "immutable table files when on the same file system; stages beside DATA_DIR\n"
     "and renames into place, checks the copy opens with the backup's head, and\n"
     "prints 'head_seq N'. Refuses a live daemon's directory (take a backup).\n" PROGRESS_HELP},
    {"verify", run_verify, O_DATA_DIR | O_CONFIG | O_PROJ, 0, 0, "",
     "offline check: log, dedupe index, checkpoint",
     "Checks the store (read-only, safe beside a running daemon): the log is\n"
     "gap-free (1..head), the dedupe index holds exactly the log's events at their\n"
     "sequences, sealed characteristics open with their keys (or the person was\n"
     "erased), and the checkpointed projections plus the log tail equal a full\n"
     "replay. Prints each problem found, counts, then OK or FAILED. Exit 1 on a\n"
     "problem, 2 if the store cannot be opened.\n" STORE_HELP PROJ_HELP},
    {"rebuild", run_rebuild, O_DATA_DIR | O_CONFIG | O_KEYS | O_SNAPSHOT | O_PROJ | O_PROGRESS, 0,
     0, "", "replay the log; compare with the live status",
     "Takes the live daemon's snapshot of every status document, replays the whole\n"
     "log (read-only) into fresh projections up to the snapshot's sequence, and\n"
     "compares every document; prints each differing topic and 'OK' or 'MISMATCH'.\n"
     "Retried a few times if the daemon moves on meanwhile.\n"
     "  -s, --snapshot EP      the daemon's snapshot endpoint (default: the\n"
     "                         configuration's, else tcp://127.0.0.1:7402)\n" STORE_HELP PROJ_HELP
         PROGRESS_HELP "      --key FILE, --server-key FILE, --plaintext\n"
     "                         as for status; the key must read every topic\n"
     "                         (board or coordinator)\n"},
    {"snapshot", run_snapshot, O_SNAPSHOT | O_KEYS | O_CONFIG | O_DATA_DIR, 0, 1, "[PREFIX]",
     "the live status documents, as JSON Lines",
     "Prints the daemon's status documents under PREFIX (default: all it lets the\n"
     "key read), one JSON object per line: {\"topic\":..,\"rev\":..,\"seq\":..,\"doc\":{..}},\n"
     "then {\"end\":true,\"seq\":N,\"count\":C}.\n"
     "  -s, --snapshot EP      the daemon's snapshot endpoint (default: the\n"
     "                         configuration's, else tcp://127.0.0.1:7402)\n"
     "      --config FILE, -d DIR, --key FILE, --server-key FILE, --plaintext\n"
     "                         as for status\n"},
    {"keygen", run_keygen, 0, 1, 1, "NAME", "a CURVE keypair: NAME.key and NAME.pub",
     "Makes a CURVE keypair for a daemon, agent, subscriber or operator: NAME.key\n"
     "(public and secret key, mode 0600) and NAME.pub (public key), lines\n"
     "'public-key = Z85' and 'secret-key = Z85'. Never overwrites. Prints the\n"
     "public key, for the daemon's access file.\n"},
    {"audit-disclosure", run_audit, O_K | O_HISTORY | O_JSON, 0, 1, "[FILE]",
     "which published counts give people away",
     "Reads status documents as JSON Lines ({\"topic\",\"rev\",\"seq\",\"doc\"}): one\n"
     "moment from FILE (the output of 'cohortctl snapshot'; '-' or none: stdin),\n"
     "or every published version with --history. Prints every count of\n"
     "people by a protected characteristic that it can pin to one value, or bound\n"
     "to 1..k-1, from the document's margins, zeros and aims, from a programme\n"
     "roll-up with its cohorts, or from the change between two versions of a\n"
     "topic; one line each: TOPIC CELL seq(s): how [rule, scope]. Exit 1 if it\n"
     "found any, 0 if none, 2 if the input cannot be read. Needs no daemon.\n"
     "      --history FILE     every version in order, as 'cohort-watch --json'\n"
     "                         records them: also checks each change\n"
     "      --k K              the threshold to check against, 1-1000 (default: 5,\n"
     "                         the daemon's default suppress_k)\n"
     "  -j, --json             one JSON object per finding, then {\"end\":true,..}\n"},
};
#define NCOMMANDS (sizeof commands / sizeof *commands)

static const command_t *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "Usage: cohortctl COMMAND [OPTION]... [ARGUMENT]...\n"
                 "       cohortctl COMMAND --help\n"
                 "Operator tool for cohortd.\n\nCommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++) {
        /* Commands with arguments show them (their synopsis is only those). */
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", commands[i].name, commands[i].max ? " " : "",
                 commands[i].max ? commands[i].args : "");
        fprintf(out, "  %-28s %s\n", name, commands[i].summary);
    }
    fprintf(out, "  %-28s %s\n", "help [COMMAND]", "this help, or COMMAND --help");
    fprintf(out, "\n"
                 "status, stats, tail and backup ask the running daemon over its control endpoint\n"
                 "(an ipc socket; CURVE operator keys); verify, restore and rebuild's replay read\n"
                 "stores directly. 'cohortctl COMMAND --help' shows a command's options;\n"
                 "cohortctl(8) and cohortctl-COMMAND(8) describe them.\n"
                 "  -h, --help     show this help (or a command's) and exit\n"
                 "  -V, --version  show the version and exit\n"
                 "\n"
                 "Exit status: 0 success; 1 a check found a problem, an operation failed or was\n"
                 "refused, or the daemon could not be reached; 2 a usage error (unknown command\n"
                 "or option, an option the command does not take, a bad value, missing or\n"
                 "unusable keys, a bad configuration file; verify: a store it cannot open).\n");
}

static void command_usage(const command_t *c, FILE *out)
{
    fprintf(out, "Usage: cohortctl %s%s%s%s\n%s", c->name, c->opts ? " [OPTION]..." : "",
            *c->args ? " " : "", c->args, c->help);
    fprintf(out, "  -h, --help             show this help and exit\n");
}

/* The long options (and their O_* bits, for "does not apply" checks). */
static const struct option long_opts[] = {{"data-dir", required_argument, 0, 'd'},
                                          {"from", required_argument, 0, 'f'},
                                          {"limit", required_argument, 0, 'n'},
                                          {"json", no_argument, 0, 'j'},
                                          {"unseal", no_argument, 0, 0x103},
                                          {"snapshot", required_argument, 0, 's'},
                                          {"suppress-k", required_argument, 0, 'K'},
                                          {"at-risk-ratio", required_argument, 0, 'R'},
                                          {"control", required_argument, 0, 'c'},
                                          {"timeout-s", required_argument, 0, 'T'},
                                          {"key", required_argument, 0, 0x100},
                                          {"server-key", required_argument, 0, 0x101},
                                          {"plaintext", no_argument, 0, 0x102},
                                          {"config", required_argument, 0, 0x104},
                                          {"offline", no_argument, 0, 0x105},
                                          {"page", required_argument, 0, 0x106},
                                          {"progress", no_argument, 0, 0x107},
                                          {"no-progress", no_argument, 0, 0x108},
                                          {"k", required_argument, 0, 0x109},
                                          {"history", required_argument, 0, 0x10a},
                                          {"help", no_argument, 0, 'h'},
                                          {"version", no_argument, 0, 'V'},
                                          {0, 0, 0, 0}};

/* Records that option bit was given as name (for the "does not apply"
 * message). */
static void mark(args_t *a, unsigned bit, const char *name)
{
    int i = __builtin_ctz(bit);
    if (!(a->given & bit))
        a->given_name[i] = name;
    a->given |= bit;
}

/* Fills a from argv. Returns 0 to run, 1 to exit 0 (help, version), or
 * -EINVAL after a usage error message. */
static int parse(args_t *a, int argc, char **argv)
{
    int c, help = 0, idx;
    const command_t *cmd;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":d:f:n:js:c:T:hV", long_opts, &idx)) != -1) {
        const char *name = argv[optind - 1];
        switch (c) {
        case 's':
            a->snapshot = optarg;
            mark(a, O_SNAPSHOT, "--snapshot");
            break;
        case 'K': {
            uint64_t k;
            if (cohort_cli_u64(optarg, 1, 1000, &k) < 0) {
                fprintf(stderr, "cohortctl: --suppress-k: '%s' is not 1-1000\n", optarg);
                return -EINVAL;
            }
            a->proj.k = (int)k;
            mark(a, O_PROJ, "--suppress-k");
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
            mark(a, O_PROJ, "--at-risk-ratio");
            break;
        }
        case 'd':
            a->data_dir = optarg;
            mark(a, O_DATA_DIR, "--data-dir");
            break;
        case 0x100:
            a->key = optarg;
            mark(a, O_KEYS, "--key");
            break;
        case 0x101:
            a->server_key = optarg;
            mark(a, O_KEYS, "--server-key");
            break;
        case 0x102:
            a->plaintext = 1;
            mark(a, O_KEYS, "--plaintext");
            break;
        case 0x104:
            a->config = optarg;
            mark(a, O_CONFIG, "--config");
            break;
        case 0x105:
            a->offline = 1;
            mark(a, O_OFFLINE, "--offline");
            break;
        case 0x106:
            if (cohort_cli_uint(optarg, 1, CONTROL_TAIL_MAX, &a->page) < 0) {
                fprintf(stderr, "cohortctl: --page: '%s' is not 1-%d\n", optarg, CONTROL_TAIL_MAX);
                return -EINVAL;
            }
            mark(a, O_PAGE, "--page");
            break;
        case 0x107:
        case 0x108:
            a->progress = c == 0x107 ? PROGRESS_ALWAYS : PROGRESS_NEVER;
            mark(a, O_PROGRESS, c == 0x107 ? "--progress" : "--no-progress");
            break;
        case 0x109: {
            uint64_t k;
            if (cohort_cli_u64(optarg, 1, 1000, &k) < 0) {
                fprintf(stderr, "cohortctl: --k: '%s' is not 1-1000\n", optarg);
                return -EINVAL;
            }
            a->k = (int)k;
            mark(a, O_K, "--k");
            break;
        }
        case 0x10a:
            a->history = optarg;
            mark(a, O_HISTORY, "--history");
            break;
        case 'c':
            a->control = optarg;
            mark(a, O_CONTROL, "--control");
            break;
        case 'T':
            if (cohort_cli_uint(optarg, 1, 86400, &a->timeout_s) < 0) {
                fprintf(stderr, "cohortctl: --timeout-s: '%s' is not 1-86400\n", optarg);
                return -EINVAL;
            }
            mark(a, O_TIMEOUT, "--timeout-s");
            break;
        case 'f':
            /* Sequences are below 2^63 (JSON integers, for the daemon). */
            if (cohort_cli_u64(optarg, 0, INT64_MAX, &a->from) < 0) {
                fprintf(stderr, "cohortctl: --from: '%s' is not a sequence number\n", optarg);
                return -EINVAL;
            }
            mark(a, O_FROM, "--from");
            break;
        case 'n':
            if (cohort_cli_u64(optarg, 0, UINT64_MAX, &a->limit) < 0) {
                fprintf(stderr, "cohortctl: --limit: '%s' is not a number\n", optarg);
                return -EINVAL;
            }
            mark(a, O_LIMIT, "--limit");
            break;
        case 0x103:
            a->unseal = 1;
            mark(a, O_UNSEAL, "--unseal");
            break;
        case 'j':
            a->json = 1;
            mark(a, O_JSON, "--json");
            break;
        case 'h':
            help = 1;
            break;
        case 'V':
            printf("cohortctl %s\n", COHORT_VERSION);
            return 1;
        case ':':
            fprintf(stderr, "cohortctl: option %s needs a value\n", name);
            fprintf(stderr, "Try 'cohortctl --help' for more information.\n");
            return -EINVAL;
        default:
            fprintf(stderr, "cohortctl: unknown option %s\n", name);
            fprintf(stderr, "Try 'cohortctl --help' for more information.\n");
            return -EINVAL;
        }
    }
    if (optind >= argc) {
        if (help) {
            usage(stdout);
            return 1;
        }
        fprintf(stderr, "cohortctl: no command given\nTry 'cohortctl --help'.\n");
        return -EINVAL;
    }
    a->cmd = argv[optind];
    a->pos = argv + optind + 1;
    a->npos = argc - optind - 1;
    if (strcmp(a->cmd, "help") == 0) { /* cohortctl help [COMMAND] */
        if (a->npos == 0) {
            usage(stdout);
            return 1;
        }
        if (a->npos == 1 && (cmd = find_command(a->pos[0]))) {
            command_usage(cmd, stdout);
            return 1;
        }
        fprintf(stderr, "cohortctl: help: no such command '%s'\nTry 'cohortctl --help'.\n",
                a->npos ? a->pos[0] : "");
        return -EINVAL;
    }
    if (!(cmd = find_command(a->cmd))) {
        fprintf(stderr, "cohortctl: unknown command '%s'\nTry 'cohortctl --help'.\n", a->cmd);
        return -EINVAL;
    }
    if (help) {
        command_usage(cmd, stdout);
        return 1;
    }
    if (a->given & ~cmd->opts) {
        int i = __builtin_ctz(a->given & ~cmd->opts);
        fprintf(stderr, "cohortctl: %s does not take %s\nTry 'cohortctl %s --help'.\n", a->cmd,
                a->given_name[i], a->cmd);
        return -EINVAL;
    }
    if (a->npos > cmd->max) {
        fprintf(stderr, "cohortctl: %s: unexpected argument '%s'\nTry 'cohortctl %s --help'.\n",
                a->cmd, a->pos[cmd->max], a->cmd);
        return -EINVAL;
    }
    if (a->npos < cmd->min) {
        fprintf(stderr, "cohortctl: %s needs %s%s\nTry 'cohortctl %s --help'.\n", a->cmd,
                cmd->min == 1 ? "a " : "", cmd->args, a->cmd);
        return -EINVAL;
    }
    if (strcmp(a->cmd, "snapshot") == 0 && a->npos == 1)
        a->prefix = a->pos[0];
    if (a->history && a->npos) {
        fprintf(stderr,
                "cohortctl: %s: give --history FILE or a snapshot FILE, not both\n"
                "Try 'cohortctl %s --help'.\n",
                a->cmd, a->cmd);
        return -EINVAL;
    }
    return 0;
}

/* ----------------------------------------------------------- settings --- */

static void report_config(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, "cohortctl: %s\n", msg);
}

/* Resolves where the store and the daemon are (see the header comment):
 * reads the configuration file when --config is given, or when neither
 * --data-dir nor --control is. Returns 0, or -1 after the messages (a bad
 * configuration file: a usage error). */
static int resolve(args_t *a)
{
    int from_flags = (a->given & (O_DATA_DIR | O_CONTROL)) && !(a->given & O_CONFIG);
    if (!from_flags) {
        config_cli_t cli = {.config = a->config};
        if (config_load(&a->cfg, &cli, report_config, NULL) < 0)
            return -1;
        if (!(a->given & O_DATA_DIR)) {
            a->data_dir = a->cfg.data_dir;
            a->data_dir_known = a->cfg.path != NULL || a->config != NULL;
        }
        if (!(a->given & O_CONTROL)) {
            a->control = a->cfg.control; /* NULL: control = none */
            /* Left at its default in the data directory: the packaged unit's
             * daemon has it in its RuntimeDirectory instead. */
            snprintf(a->control_buf, sizeof a->control_buf, "ipc://%s/control.sock",
                     a->cfg.data_dir);
            if (a->control && strcmp(a->control, a->control_buf) == 0 &&
                strcmp(a->control, SYSTEMD_CONTROL) != 0)
                a->control_alt = SYSTEMD_CONTROL;
        }
        if (!(a->given & O_SNAPSHOT))
            a->snapshot = a->cfg.snapshot;
        if (!(a->given & O_PROJ))
            a->proj = a->cfg.proj;
        a->cfg_plaintext = a->cfg.plaintext;
        a->cfg_server_key = a->cfg.key;
        /* NAME.key is the daemon's secret (cohortd's own user may read it,
         * operators may not): its public half NAME.pub beside it, when
         * readable, is what a client needs. */
        size_t kl = strlen(a->cfg.key);
        if (kl > 4 && strcmp(a->cfg.key + kl - 4, ".key") == 0 && kl < sizeof a->pub_buf) {
            snprintf(a->pub_buf, sizeof a->pub_buf, "%.*s.pub", (int)(kl - 4), a->cfg.key);
            if (access(a->pub_buf, R_OK) == 0)
                a->cfg_server_key = a->pub_buf;
        }
        if (a->cfg.key_default) {
            /* DATA-DIR/server.key: its .pub beside it is readable more often. */
            snprintf(a->control_buf, sizeof a->control_buf, "%s/server.pub", a->cfg.data_dir);
            if (access(a->control_buf, R_OK) == 0 || access(a->cfg.key, R_OK) != 0)
                a->cfg_server_key = NULL; /* choose_keys looks for server.pub itself */
        }
    } else {
        a->data_dir_known = (a->given & O_DATA_DIR) != 0;
        if (!(a->given & O_CONTROL)) {
            snprintf(a->control_buf, sizeof a->control_buf, "ipc://%s/control.sock", a->data_dir);
            a->control = a->control_buf;
        }
    }
    return 0;
}

/* Sets g_curve for a command that talks to the daemon (see the header
 * comment for the precedence). Returns 0, or -1 after the message. */
static int choose_keys(const args_t *a)
{
    const char *plain = getenv("COHORT_PLAINTEXT"), *env_server = getenv("COHORT_SERVER_KEY");
    const char *server = a->server_key;
    int env_plain = plain && strcmp(plain, "1") == 0;
    char buf[PATH_MAX];
    struct stat st;

    /* The configuration's plaintext = true: the daemon speaks plain text. */
    if (a->cfg_plaintext && !a->key && !a->server_key)
        return cohort_cli_curve("cohortctl", &g_curve, NULL, NULL, 1);
    /* Defaults for the server key come after COHORT_SERVER_KEY, and not when
     * plain text is asked for (COHORT_PLAINTEXT=1 and no key). */
    if (!a->plaintext && !server && !(env_server && *env_server) && (a->key || !env_plain)) {
        if (a->cfg_server_key)
            server = a->cfg_server_key;
        else if ((size_t)snprintf(buf, sizeof buf, "%s/server.pub", a->data_dir) < sizeof buf &&
                 stat(buf, &st) == 0)
            server = buf;
    }
    return cohort_cli_curve("cohortctl", &g_curve, a->key, server, a->plaintext);
}

/* The progress report of a long run, on stderr. */
static progress_t *progress_start(const args_t *a, const char *label, const char *unit, int bytes,
                                  int no_count)
{
    progress_t *p = NULL;
    progress_new(&p, &(progress_opts_t){.label = label,
                                        .unit = unit,
                                        .bytes = bytes,
                                        .no_count = no_count,
                                        .mode = a->progress});
    return p; /* NULL (out of memory) is fine: every call then does nothing */
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
    json_t *docs;     /* topic -> doc */
    json_t *envs;     /* topic -> whole envelope */
    uint64_t seq;     /* the end marker's sequence */
    json_t *readable; /* the end marker's prefixes this key may read, or NULL (an older daemon) */
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
        if (end) {
            json_t *r = json_object_get(env, "readable");
            live->seq = (uint64_t)json_integer_value(json_object_get(env, "seq"));
            if (json_is_array(r)) {
                json_decref(live->readable);
                live->readable = json_incref(r);
            }
        } else if (!bad) {
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
    live_t live = {NULL, NULL, 0, NULL};
    const char *key;
    json_t *env;
    int rc = fetch_live(a->snapshot, a->prefix, &live);
    if (rc == 0) {
        json_object_foreach(live.envs, key, env)
        {
            json_t *line =
                json_pack("{s:s,s:O,s:O,s:O}", "topic", key, "rev", json_object_get(env, "rev"),
                          "seq", json_object_get(env, "seq"), "doc", json_object_get(env, "doc"));
            char *text = json_dumps(line, PROJ_DUMP_FLAGS); /* reals as the daemon's */
            printf("%s\n", text);
            free(text);
            json_decref(line);
        }
        printf("{\"end\":true,\"seq\":%llu,\"count\":%zu}\n", (unsigned long long)live.seq,
               json_object_size(live.envs));
    }
    json_decref(live.docs);
    json_decref(live.envs);
    json_decref(live.readable);
    return rc == 0 ? 0 : 1;
}

/* checkpoint_replay's progress hook: seq 0 means a log line follows. */
static void replay_step(void *arg, uint64_t seq)
{
    if (seq)
        progress_update(arg, seq);
    else
        progress_clear(arg);
}

/* 1 if the snapshot's key may read topic (the end marker's "readable"
 * prefixes; an older daemon did not say: every topic). */
static int may_read(const live_t *live, const char *topic)
{
    size_t i;
    json_t *p;
    if (!live->readable)
        return 1;
    json_array_foreach(live->readable, i, p)
    {
        const char *s = json_string_value(p);
        if (s && strncmp(topic, s, strlen(s)) == 0)
            return 1;
    }
    return 0;
}

/* Replays the log up to live->seq into fresh projections and compares
 * them with the live documents the key may read (the others are counted in
 * *skipped). Appends a line per differing topic to
 * diffs. Returns the number of differing topics, or -1 (message printed)
 * if the replay failed; *replayed and *ntopics get the counts. */
static int compare(store_t *store, const args_t *a, const live_t *live, progress_t *pr,
                   json_t *diffs, uint64_t *replayed, size_t *ntopics, size_t *skipped)
{
    proj_t *proj = NULL;
    checkpoint_info_t info = {0, 0, 0};
    char **topics = NULL, line[600], err[512];
    int bad = 0;
    progress_set_total(pr, live->seq);
    if (!live->seq) {
        if (!(proj = proj_new(&a->proj))) {
            fprintf(stderr, "cohortctl: replay failed: out of memory\n");
            return -1;
        }
    } else if (checkpoint_replay(store, &a->proj, 0, live->seq, replay_step, pr, &proj, &info, err,
                                 sizeof err) < 0) {
        progress_clear(pr);
        fprintf(stderr, "cohortctl: replay failed: %s\n", err);
        return -1;
    }
    progress_update(pr, live->seq);
    progress_done(pr);
    *replayed = info.replayed;
    size_t n = proj_topics(proj, "", &topics);
    json_t *seen = json_object();
    *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (!may_read(live, topics[i])) { /* the key's role may not read it: not in the snapshot */
            ++*skipped;
            continue;
        }
        char *doc = proj_render(proj, topics[i]);
        json_t *mine = doc ? json_loads(doc, 0, NULL) : NULL;
        json_t *theirs = json_object_get(live->docs, topics[i]);
        if (!mine || !theirs || !json_equal(mine, theirs)) {
            snprintf(line, sizeof line, "differs: %s%s", topics[i],
                     theirs ? "" : " (missing from the daemon)");
            json_array_append_new(diffs, json_string(line));
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
            snprintf(line, sizeof line, "differs: %s (only in the daemon)", key);
            json_array_append_new(diffs, json_string(line));
            bad++;
        }
    }
    *ntopics = n;
    json_decref(seen);
    proj_strv_free(topics, n);
    proj_destroy(&proj);
    return bad;
}

/* rebuild: retried a few times, since a busy daemon may publish between
 * the snapshot and the replay's end. */
static int rebuild(const args_t *a)
{
    for (int t = 1; t <= REBUILD_TRIES; t++) {
        live_t live = {NULL, NULL, 0, NULL};
        store_t *store = NULL;
        char err[512], label[32];
        uint64_t replayed = 0;
        size_t ntopics = 0, skipped = 0;
        if (fetch_live(a->snapshot, "", &live) < 0) {
            json_decref(live.docs);
            json_decref(live.envs);
            json_decref(live.readable);
            return 1;
        }
        /* A read-only open sees the log as it is now, so open it after the
         * snapshot: it then holds at least everything up to live.seq. */
        if (store_open(&store, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
            fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
            json_decref(live.docs);
            json_decref(live.envs);
            json_decref(live.readable);
            return 1;
        }
        json_t *diffs = json_array();
        snprintf(label, sizeof label, t == 1 ? "rebuild" : "rebuild (try %d)", t);
        progress_t *pr = progress_start(a, label, "events", 0, 0);
        int bad = compare(store, a, &live, pr, diffs, &replayed, &ntopics, &skipped);
        progress_destroy(&pr);
        if (bad == 0 || (bad > 0 && t == REBUILD_TRIES)) {
            size_t i;
            json_t *l;
            json_array_foreach(diffs, i, l) printf("%s\n", json_string_value(l));
            if (skipped)
                printf("rebuild: %zu topics this key may not read were not compared (an "
                       "operator key compares every topic)\n",
                       skipped);
            printf("rebuild: %llu log entries replayed to seq %llu, %zu topics, %d differ\n%s\n",
                   (unsigned long long)replayed, (unsigned long long)live.seq, ntopics - skipped,
                   bad, bad ? "MISMATCH" : "OK");
        }
        json_decref(diffs);
        store_close(&store);
        json_decref(live.docs);
        json_decref(live.envs);
        json_decref(live.readable);
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
    /* Once a key is gone (an erasure), a full replay cannot read that
     * person's registration, so the releases cut before the erasure come
     * out differently (docs/status.md, "Releases"): the states then differ
     * by their release history, and only the live topics are compared. */
    int relaxed = v->shredded > 0;
    *same = relaxed || (s1 && s2 && strcmp(s1, s2) == 0 && proj_seq(p1) == proj_seq(p2));
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
    if (proj_seq(p1) != proj_seq(p2)) {
        problem(v,
                "projections: the checkpoint plus the tail ends at seq %llu, a full replay at %llu",
                (unsigned long long)proj_seq(p1), (unsigned long long)proj_seq(p2));
        *same = 0;
    }
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
                if (relaxed && strncmp(t1[i], "release/", 8) == 0) {
                    printf("note: %s differs from the full replay (released before an erasure)\n",
                           t1[i]);
                } else {
                    problem(v, "projections: topic %s differs from the full replay", t1[i]);
                    *same = 0;
                }
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

/* ------------------------------------------------------ control client --- */

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

/* What the file at path says about a daemon's Unix socket, without
 * connecting to it (a connection of ours closed before its ZMTP handshake
 * would be logged by the daemon as a failed handshake): 1 a socket file
 * this user may connect to (whether a daemon still listens on it is found
 * by connecting: ctl_open); 0 no socket there (errno: ENOENT, ENOTSOCK,
 * ...); -1 this user may not connect (errno EACCES: not in the daemon's
 * group, or the file or a directory above it is closed to them). */
static int socket_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == EACCES ? -1 : 0;
    if (!S_ISSOCK(st.st_mode)) {
        errno = ENOTSOCK;
        return 0;
    }
    if (access(path, W_OK) != 0 && errno == EACCES) /* connect(2) needs write permission */
        return -1;
    return 1;
}

/* A request-reply connection to the control endpoint. */
typedef struct {
    void *ctx;          /* ZeroMQ context */
    void *sock;         /* REQ socket */
    const char *ep;     /* the endpoint */
    unsigned timeout_s; /* per answer */
    zmq_msg_t *parts;   /* the last reply's frames */
    size_t nparts, cap; /* their count and room */
    json_t *hdr;        /* the last reply's first frame, parsed */
} ctl_t;

enum { REACH_DAEMON = 0, REACH_STORE = 1, REACH_FAIL = -1, REACH_USAGE = -2 };

/* Frees the last reply. */
static void ctl_drop(ctl_t *c)
{
    for (size_t i = 0; i < c->nparts; i++)
        zmq_msg_close(&c->parts[i]);
    c->nparts = 0;
    json_decref(c->hdr);
    c->hdr = NULL;
}

static void ctl_close(ctl_t *c)
{
    ctl_drop(c);
    free(c->parts);
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    memset(c, 0, sizeof *c);
}

/* Makes c's REQ socket (with the CURVE keys) and connects it to ep. For an
 * ipc:// endpoint it then waits, up to PROBE_MS, for ZeroMQ's own connect
 * to succeed or be refused (a socket file left by a stopped daemon), as a
 * socket monitor reports it: this tells a live daemon from a stale socket
 * without a probe connection of our own, which the daemon would log as a
 * failed handshake. Returns 1 (connected, or cannot tell: the request's
 * timeout then decides), 0 (nothing listens on ep: c is closed, errno is
 * ECONNREFUSED) or -1 (message printed, c closed). */
static int ctl_open(ctl_t *c, const char *ep, unsigned timeout_s)
{
    static const char mon[] = "inproc://cohortctl-connect-monitor";
    void *pair = NULL;
    int linger = 0, rc = 1, refused = 0, ipc = strncmp(ep, "ipc://", 6) == 0;
    struct timespec t0, t;
    memset(c, 0, sizeof *c);
    c->ep = ep;
    c->timeout_s = timeout_s;
    if (!(c->ctx = zmq_ctx_new()) || !(c->sock = zmq_socket(c->ctx, ZMQ_REQ))) {
        fprintf(stderr, "cohortctl: cannot set up the request: %s\n", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    if (ipc &&
        (zmq_socket_monitor(c->sock, mon, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED) != 0 ||
         !(pair = zmq_socket(c->ctx, ZMQ_PAIR)) ||
         zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
         zmq_connect(pair, mon) != 0)) {
        fprintf(stderr, "cohortctl: cannot set up the request: %s\n", zmq_strerror(errno));
        goto fail;
    }
    if (cohort_curve_apply(c->sock, &g_curve, NULL, 0) < 0 || zmq_connect(c->sock, ep) != 0) {
        fprintf(stderr, "cohortctl: cannot connect to %s: %s\n", ep, zmq_strerror(errno));
        goto fail;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (pair) {
        zmq_pollitem_t it = {pair, 0, ZMQ_POLLIN, 0};
        zmq_msg_t head, addr;
        uint16_t ev = 0;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long left = PROBE_MS - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
        int n = left > 0 ? zmq_poll(&it, 1, left) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* cannot tell */
        zmq_msg_init(&head);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&head, pair, 0) >= 0 && zmq_msg_size(&head) >= 2)
            memcpy(&ev, zmq_msg_data(&head), 2);
        while (zmq_msg_more(&head) && zmq_msg_recv(&addr, pair, 0) >= 0 && zmq_msg_more(&addr))
            ; /* the event's second frame (the endpoint) */
        zmq_msg_close(&head);
        zmq_msg_close(&addr);
        if (ev == ZMQ_EVENT_CONNECTED)
            break;
        /* A Unix socket is refused at once: nothing listens (a busy
         * daemon's full backlog is refused too, hence a few tries). */
        if (ev == ZMQ_EVENT_CONNECT_RETRIED && ++refused == PROBE_REFUSALS) {
            rc = 0;
            break;
        }
    }
    if (pair) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(pair);
    }
    if (rc == 0) {
        ctl_close(c);
        errno = ECONNREFUSED;
    }
    return rc;
fail:
    if (pair)
        zmq_close(pair);
    ctl_close(c);
    return -1;
}

/* Finds the daemon for what (a command name) and connects c to it.
 * Returns REACH_DAEMON (connected), REACH_STORE (no daemon listens, and
 * fallback is allowed and the data directory known: a note was printed),
 * REACH_FAIL (message printed; also when the socket is closed to this
 * user: then there is no fallback, which could only fail the same way) or
 * REACH_USAGE (bad keys: message printed). */
static int reach(const args_t *a, const char *what, int fallback, ctl_t *c, unsigned timeout_s)
{
    const char *ep = a->control, *cand[2] = {a->control, a->control_alt};
    int found[2] = {1, 0}, e = 0;
    memset(c, 0, sizeof *c);
    if (!ep) {
        if (fallback && a->data_dir_known) {
            fprintf(stderr,
                    "cohortctl: the daemon's control endpoint is off (control = none); "
                    "reading the store in %s directly\n",
                    a->data_dir);
            return REACH_STORE;
        }
        fprintf(stderr,
                "cohortctl: %s: the configuration turns the control endpoint off "
                "(control = none); give --control\n",
                what);
        return REACH_FAIL;
    }
    /* A REQ to a missing ipc socket, or to one left by a stopped daemon,
     * would wait for the whole timeout: look at the file first (and at the
     * packaged unit's socket, control_alt, if there is none), then let
     * ctl_open tell a live daemon from a stale socket. */
    if (strncmp(ep, "ipc://", 6) == 0) {
        found[0] = socket_file(ep + 6);
        e = errno;
        if (found[0] >= 0 && a->control_alt)
            found[1] = socket_file(a->control_alt + 6);
        if (found[0] < 0 || (found[0] == 0 && found[1] < 0)) {
            fprintf(stderr,
                    "cohortctl: cannot reach the daemon's control socket %s: %s (operators must "
                    "be in the daemon's group, e.g. cohortd, and log in again after joining "
                    "it)\n",
                    (found[0] < 0 ? ep : a->control_alt) + 6, strerror(EACCES));
            return REACH_FAIL;
        }
    }
    if (found[0] > 0 || found[1] > 0) {
        if (choose_keys(a) < 0)
            return REACH_USAGE;
        for (int i = 0; i < 2; i++) {
            int rc = found[i] > 0 ? ctl_open(c, cand[i], timeout_s) : 0;
            if (rc != 0)
                return rc > 0 ? REACH_DAEMON : REACH_FAIL;
        }
        if (found[0] > 0)
            e = ECONNREFUSED;
    }
    if (fallback && a->data_dir_known) {
        fprintf(stderr,
                "cohortctl: no daemon answers on %s; reading the store in %s directly "
                "(read-only)\n",
                ep, a->data_dir);
        return REACH_STORE;
    }
    fprintf(stderr,
            "cohortctl: cannot reach the daemon's control socket %s: %s (is cohortd "
            "running on this data directory? see --control)\n",
            ep + 6, strerror(e));
    return REACH_FAIL;
}

/* Sends req and takes the whole reply (c->parts, c->hdr), waiting up to
 * the timeout in steps of POLL_MS (updating pr, which may be NULL).
 * Returns 0 when the answer is {"ok":true,...}, or -1 after a message
 * ("what failed: why"). */
static int ctl_ask(ctl_t *c, const char *what, const char *req, progress_t *pr)
{
    uint64_t waited = 0;
    ctl_drop(c);
    if (zmq_send(c->sock, req, strlen(req), 0) < 0) {
        fprintf(stderr, "cohortctl: cannot send the %s request to %s: %s\n", what, c->ep,
                zmq_strerror(errno));
        return -1;
    }
    for (;;) {
        zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&it, 1, POLL_MS);
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "cohortctl: %s: %s\n", what, zmq_strerror(errno));
            return -1;
        }
        if (n > 0)
            break;
        waited += POLL_MS;
        progress_update(pr, 0);
        if (waited >= (uint64_t)c->timeout_s * 1000) {
            progress_clear(pr);
            fprintf(stderr, "cohortctl: no answer from %s within %u s%s\n", c->ep, c->timeout_s,
                    g_curve.on ? " (a refused key or a wrong server key looks the same: check "
                                 "--key/--server-key)"
                               : "");
            return -1;
        }
    }
    for (int more = 1; more;) {
        if (c->nparts == c->cap) {
            size_t nc = c->cap ? c->cap * 2 : 64;
            zmq_msg_t *np = realloc(c->parts, nc * sizeof *np);
            if (!np) {
                fprintf(stderr, "cohortctl: out of memory\n");
                return -1;
            }
            c->parts = np;
            c->cap = nc;
        }
        zmq_msg_t *m = &c->parts[c->nparts];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, c->sock, 0) < 0) {
            zmq_msg_close(m);
            fprintf(stderr, "cohortctl: %s: receiving the answer: %s\n", what, zmq_strerror(errno));
            return -1;
        }
        c->nparts++;
        more = zmq_msg_more(m);
    }
    c->hdr = json_loadb(zmq_msg_data(&c->parts[0]), zmq_msg_size(&c->parts[0]), 0, NULL);
    if (!json_is_object(c->hdr)) {
        progress_clear(pr);
        fprintf(stderr, "cohortctl: the daemon's answer is not JSON\n");
        return -1;
    }
    if (!json_is_true(json_object_get(c->hdr, "ok"))) {
        const char *why = json_string_value(json_object_get(c->hdr, "error"));
        progress_clear(pr);
        fprintf(stderr, "cohortctl: %s refused or failed: %s\n", what, why ? why : "(no reason)");
        return -1;
    }
    return 0;
}

/* Prints a JSON scalar as status and stats show values. */
static void print_value(json_t *v)
{
    if (json_is_string(v))
        printf("%s", json_string_value(v));
    else if (json_is_integer(v))
        printf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        printf("%s", json_is_true(v) ? "true" : "false");
    else if (json_is_real(v))
        printf("%g", json_real_value(v));
    else
        printf("null");
}

/* Prints o without its "ok" member, as one compact JSON line. */
static void print_json_reply(json_t *o)
{
    json_t *copy = json_copy(o);
    json_object_del(copy, "ok");
    char *text = json_dumps(copy, JSON_COMPACT);
    printf("%s\n", text ? text : "{}");
    free(text);
    json_decref(copy);
}

/* Opens the store read-only (message printed on failure). */
static int open_store(const args_t *a, store_t **s)
{
    char err[512];
    if (store_open(s, a->data_dir, STORE_READONLY, err, sizeof err) < 0) {
        fprintf(stderr, "cohortctl: cannot open the store in %s: %s\n", a->data_dir, err);
        return -1;
    }
    return 0;
}

/* status: exit 0, 1 (unreachable, refused, store unreadable), 2 (usage). */
static int status(const args_t *a)
{
    ctl_t c;
    int rc = a->offline
                 ? REACH_STORE
                 : reach(a, "status", 1, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc == REACH_FAIL || rc == REACH_USAGE)
        return rc == REACH_FAIL ? 1 : 2;
    if (rc == REACH_STORE) {
        store_t *s = NULL;
        if (open_store(a, &s) < 0)
            return 1;
        if (a->json)
            printf("{\"head_seq\":%llu,\"offline\":true}\n", (unsigned long long)store_head(s));
        else
            printf("head_seq %llu\n", (unsigned long long)store_head(s));
        store_close(&s);
        return 0;
    }
    rc = ctl_ask(&c, "status", "{\"status\":{}}", NULL) < 0 ? 1 : 0;
    if (rc == 0 && a->json) {
        print_json_reply(c.hdr);
    } else if (rc == 0) {
        const char *key;
        json_t *v;
        printf("head_seq ");
        print_value(json_object_get(c.hdr, "head_seq"));
        printf("\n");
        json_object_foreach(c.hdr, key, v)
        {
            if (strcmp(key, "ok") == 0 || strcmp(key, "head_seq") == 0)
                continue;
            printf("%s ", key);
            print_value(v);
            printf("\n");
        }
    }
    ctl_close(&c);
    return rc;
}

/* Prints o's members as "prefix.key value" lines, nested objects flattened. */
static void print_flat(const char *prefix, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", key);
        if (json_is_object(v)) {
            print_flat(name, v);
        } else if (strcmp(name, "ok") != 0) {
            printf("%s ", name);
            print_value(v);
            printf("\n");
        }
    }
}

/* stats: exit 0, 1 (unreachable, refused), 2 (usage). */
static int stats(const args_t *a)
{
    ctl_t c;
    int rc = reach(a, "stats", 0, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc != REACH_DAEMON)
        return rc == REACH_USAGE ? 2 : 1;
    rc = ctl_ask(&c, "stats", "{\"stats\":{}}", NULL) < 0 ? 1 : 0;
    if (rc == 0 && a->json)
        print_json_reply(c.hdr);
    else if (rc == 0)
        print_flat("", c.hdr);
    ctl_close(&c);
    return rc;
}

/* tail over the control endpoint: pages until the head of the first page
 * (the log as it was when tail started; later pages may reach further), or
 * --limit. Exit 0 or 1. */
static int tail_daemon(args_t *a, ctl_t *c)
{
    uint64_t from = a->from, left = a->limit, stop_at = UINT64_MAX;
    char req[128];
    for (;;) {
        uint64_t n = a->page, count, next, prev = 0;
        if (left && left < n)
            n = left;
        if (stop_at != UINT64_MAX && stop_at - from + 1 < n)
            n = stop_at - from + 1;
        snprintf(req, sizeof req, "{\"tail\":{\"from\":%llu,\"limit\":%llu}}",
                 (unsigned long long)from, (unsigned long long)n);
        if (ctl_ask(c, "tail", req, NULL) < 0)
            return 1;
        count = (uint64_t)json_integer_value(json_object_get(c->hdr, "count"));
        next = (uint64_t)json_integer_value(json_object_get(c->hdr, "next"));
        if (stop_at == UINT64_MAX)
            stop_at = (uint64_t)json_integer_value(json_object_get(c->hdr, "head"));
        if (count != c->nparts - 1 || count > n) {
            fprintf(stderr, "cohortctl: tail: the daemon's page is malformed\n");
            return 1;
        }
        for (size_t i = 1; i < c->nparts; i++) {
            const uint8_t *d = zmq_msg_data(&c->parts[i]);
            size_t len = zmq_msg_size(&c->parts[i]);
            uint64_t seq = 0;
            for (int k = 0; k < 8 && len >= 8; k++)
                seq = seq << 8 | d[k];
            if (len < 8 || seq < from || seq <= prev) {
                fprintf(stderr, "cohortctl: tail: the daemon's page is malformed\n");
                return 1;
            }
            if (seq > stop_at)
                return 0; /* written since tail started */
            prev = seq;
            if (print_entry(a, seq, d + 8, len - 8) < 0) {
                fprintf(stderr, "cohortctl: writing the output failed: %s\n", strerror(EIO));
                return 1;
            }
        }
        if (count == 0 || next <= from)
            return 0;
        if (left && (left -= count) == 0)
            return 0;
        from = next;
        if (from > stop_at)
            return 0;
    }
}

/* tail: exit 0, 1 (unreachable, refused, unreadable), 2 (usage). */
static int tail(args_t *a)
{
    ctl_t c;
    int rc = a->offline || a->unseal
                 ? REACH_STORE
                 : reach(a, "tail", 1, &c, a->timeout_s ? a->timeout_s : DEFAULT_TIMEOUT_S);
    if (rc == REACH_FAIL || rc == REACH_USAGE)
        return rc == REACH_FAIL ? 1 : 2;
    if (rc == REACH_DAEMON) {
        rc = tail_daemon(a, &c);
        ctl_close(&c);
    } else {
        store_t *s = NULL;
        if (open_store(a, &s) < 0)
            return 1;
        a->store = s;
        if ((rc = store_scan(s, a->from, a->limit, print_entry, a)) < 0) {
            fprintf(stderr, "cohortctl: reading the log failed: %s\n", strerror(-rc));
            rc = 1;
        }
        a->store = NULL;
        store_close(&s);
    }
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "cohortctl: writing the output failed: %s\n", strerror(errno));
        rc = 1;
    }
    return rc;
}

/* backup: asks the daemon's control endpoint; exit 0, or 1 if refused,
 * failed or unanswered (2: usage). */
static int backup(const args_t *a)
{
    char dir[PATH_MAX];
    ctl_t c;
    int rc;
    if (absolute(a->pos[0], dir, sizeof dir) < 0)
        return 1;
    rc = reach(a, "backup", 0, &c, a->timeout_s ? a->timeout_s : DEFAULT_BACKUP_TIMEOUT_S);
    if (rc != REACH_DAEMON)
        return rc == REACH_USAGE ? 2 : 1;
    json_t *rq = json_pack("{s:s}", "backup", dir);
    char *req = rq ? json_dumps(rq, JSON_COMPACT) : NULL;
    json_decref(rq);
    progress_t *pr = progress_start(a, "backup", "events", 0, 1);
    rc = 1;
    if (!req)
        fprintf(stderr, "cohortctl: out of memory\n");
    else if (ctl_ask(&c, "backup", req, pr) == 0) {
        json_int_t seq = json_integer_value(json_object_get(c.hdr, "seq"));
        progress_update(pr, (uint64_t)seq);
        progress_done(pr);
        printf("backup %s\nhead_seq %" JSON_INTEGER_FORMAT "\n",
               json_string_value(json_object_get(c.hdr, "backup")), seq);
        rc = 0;
    }
    progress_destroy(&pr);
    free(req);
    ctl_close(&c);
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

/* Copies src to a new file dst (mode 0600) and syncs it, adding the bytes
 * copied to *done and reporting them to pr. Returns 0 or a negative errno. */
static int copy_file(const char *src, const char *dst, progress_t *pr, uint64_t *done)
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
        *done += (uint64_t)n;
        progress_update(pr, *done);
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

/* The bytes restore will take from src: its regular files but the lock
 * and info logs (as restore picks them). */
static uint64_t restore_bytes(const char *src)
{
    DIR *d = opendir(src);
    struct dirent *e;
    char path[PATH_MAX * 2];
    uint64_t total = 0;
    struct stat st;
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", src, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && strcmp(e->d_name, "LOCK") != 0 &&
            strncmp(e->d_name, "LOG", 3) != 0)
            total += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return total;
}

/* restore: exit 0, or 1 if refused or failed. */
static int restore(const args_t *a)
{
    const char *src = a->pos[0];
    char target[PATH_MAX], staging[PATH_MAX + 32], from[PATH_MAX * 2], to[PATH_MAX * 2], err[512];
    store_t *s = NULL;
    uint64_t head = 0, got = 0;
    unsigned linked = 0, copied = 0;
    uint64_t done = 0;
    progress_t *pr = NULL;
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
    pr = progress_start(a, "restore", NULL, 1, 0);
    progress_set_total(pr, restore_bytes(src));
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
            done += (uint64_t)st.st_size;
            progress_update(pr, done);
            continue;
        }
        if ((rc = copy_file(from, to, pr, &done)) < 0) {
            progress_clear(pr);
            fprintf(stderr, "cohortctl: copying %s: %s\n", from, strerror(-rc));
            goto fail;
        }
        copied++;
    }
    progress_done(pr);
    progress_destroy(&pr);
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
    progress_destroy(&pr);
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

/* ---------------------------------------------------- audit-disclosure --- */

/* Reads JSON Lines (blank lines skipped) from path ("-": stdin) into a new
 * array. Returns it, or NULL after a message naming the file and line. */
static json_t *read_lines(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    json_t *all = json_array();
    char *buf = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t len;
    if (!f) {
        fprintf(stderr, "cohortctl: audit-disclosure: cannot open %s: %s\n", path, strerror(errno));
        json_decref(all);
        return NULL;
    }
    while (all && (len = getline(&buf, &cap, f)) >= 0) {
        json_error_t je;
        json_t *o;
        lineno++;
        if (strspn(buf, " \t\r\n") == (size_t)len)
            continue;
        if (!(o = json_loadb(buf, (size_t)len, 0, &je))) {
            fprintf(stderr, "cohortctl: audit-disclosure: %s:%zu: not JSON: %s\n", path, lineno,
                    je.text);
            json_decref(all);
            all = NULL;
        } else if (json_array_append_new(all, o)) {
            json_decref(all);
            all = NULL;
        }
    }
    if (all && ferror(f)) {
        fprintf(stderr, "cohortctl: audit-disclosure: cannot read %s: %s\n", path, strerror(errno));
        json_decref(all);
        all = NULL;
    }
    free(buf);
    if (f != stdin)
        fclose(f);
    return all;
}

static int audit_disclosure(const args_t *a)
{
    const char *path = a->history ? a->history : a->npos ? a->pos[0] : "-";
    json_t *lines = read_lines(path), *findings = NULL, *f;
    char err[256];
    size_t i;
    int n;
    if (!lines)
        return 2;
    n = audit_run(lines, a->k, a->history != NULL, &findings, err, sizeof err);
    json_decref(lines);
    if (n < 0) {
        fprintf(stderr, "cohortctl: audit-disclosure: %s: %s\n", path, err);
        return 2;
    }
    json_array_foreach(findings, i, f)
    {
        char *s = a->json ? json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS) : audit_describe(f);
        if (s)
            printf("%s\n", s);
        free(s);
    }
    if (a->json)
        printf("{\"end\":true,\"findings\":%d,\"k\":%d}\n", n, a->k);
    else
        fprintf(stderr, "cohortctl: audit-disclosure: %d finding%s at k = %d\n", n,
                n == 1 ? "" : "s", a->k);
    json_decref(findings);
    if (fflush(stdout) != 0 || ferror(stdout))
        return 2;
    return n > 0 ? 1 : 0;
}

/* ---------------------------------------------------------- commands --- */

static int run_status(args_t *a)
{
    return resolve(a) < 0 ? 2 : status(a);
}

static int run_stats(args_t *a)
{
    return resolve(a) < 0 ? 2 : stats(a);
}

static int run_tail(args_t *a)
{
    return resolve(a) < 0 ? 2 : tail(a);
}

static int run_backup(args_t *a)
{
    return resolve(a) < 0 ? 2 : backup(a);
}

static int run_restore(args_t *a)
{
    return restore(a);
}

static int run_verify(args_t *a)
{
    return resolve(a) < 0 ? 2 : verify(a);
}

static int run_rebuild(args_t *a)
{
    if (resolve(a) < 0 || choose_keys(a) < 0)
        return 2;
    return rebuild(a);
}

static int run_snapshot(args_t *a)
{
    if (resolve(a) < 0 || choose_keys(a) < 0)
        return 2;
    return snapshot(a);
}

static int run_keygen(args_t *a)
{
    return keygen(a);
}

static int run_audit(args_t *a)
{
    return audit_disclosure(a);
}

int main(int argc, char **argv)
{
    args_t a = {.data_dir = CONFIG_DEFAULT_DATA_DIR,
                .snapshot = CONFIG_DEFAULT_SNAPSHOT,
                .proj = {PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO, PROJ_DEFAULT_RELEASE_DAYS},
                .from = 1,
                .page = CONTROL_TAIL_DEFAULT,
                .k = PROJ_DEFAULT_K};
    int rc = parse(&a, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    cohort_log_set_level(LOG_WARNING);
    rc = find_command(a.cmd)->run(&a);
    cohort_curve_clear(&g_curve);
    config_free(&a.cfg);
    return rc;
}
