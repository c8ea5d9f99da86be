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

#include "cohortctl.h"

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
cohort_curve_t g_curve;

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
int choose_keys(const args_t *a)
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
progress_t *progress_start(const args_t *a, const char *label, const char *unit, int bytes,
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
    return resolve(a) < 0 ? 2 : cmd_status(a);
}

static int run_stats(args_t *a)
{
    return resolve(a) < 0 ? 2 : cmd_stats(a);
}

static int run_tail(args_t *a)
{
    return resolve(a) < 0 ? 2 : cmd_tail(a);
}

static int run_backup(args_t *a)
{
    return resolve(a) < 0 ? 2 : cmd_backup(a);
}

static int run_restore(args_t *a)
{
    return cmd_restore(a);
}

static int run_verify(args_t *a)
{
    return resolve(a) < 0 ? 2 : cmd_verify(a);
}

static int run_rebuild(args_t *a)
{
    if (resolve(a) < 0 || choose_keys(a) < 0)
        return 2;
    return cmd_rebuild(a);
}

static int run_snapshot(args_t *a)
{
    if (resolve(a) < 0 || choose_keys(a) < 0)
        return 2;
    return cmd_snapshot(a);
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
