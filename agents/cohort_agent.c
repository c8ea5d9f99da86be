/* cohort_agent.c: cohort-agent's main and its options; send and flush are
 * in agent_send.c, watch in agent_watch.c, both through the one send
 * driver (agent_drive.h: the loop, result lines, progress and summary, in
 * agent_drive.c; its sources, the file reader and the outbox, in
 * agent_source.c). cohort_agent.h is their private header.
 *
 * cohort-agent sends events to cohortd: JSON Lines from a
 * file or a pipe, straight or through a durable outbox (store-and-forward),
 * and, as a service, export files dropped in a spool directory.
 *
 * Contract:
 * - `cohort-agent send FILE|-` reads one Event per line (cohort_json.h
 *   mapping; blank lines and lines whose first non-blank is '#' skipped),
 *   sends them through libcohort with a bounded window, and prints one
 *   result line per event on stdout, in the order results arrive:
 *     ACCEPTED line=N id=UUID seq=S           (also DUPLICATE)
 *     REJECTED line=N id=UUID seq=0 code=NAME reason="..."
 *     UNDELIVERED line=N id=UUID reason="..."
 *     INVALID line=N reason="..."             (the line did not parse)
 *   or, with --json, the same as one JSON object per line (keys in that
 *   order: line, eventId, result, seq, code, reason). A summary of counts
 *   goes to stderr.
 * - Input is read without blocking the socket (poll on both), so a slow
 *   stream (e.g. a pipe) is sent as it comes and a fast file is batched.
 * - Every resend carries the same event_id (the daemon dedupes), so no
 *   event is stored twice. A line without eventId gets the content-derived
 *   id (intake.h) in every mode (send, send --outbox, watch), so the same
 *   line has the same id whatever the mode or flags, and re-running a file,
 *   with or without --outbox, stores nothing twice (issue 15).
 * - Without --outbox, once an event is given up (UNDELIVERED), lines not
 *   yet sent are not sent: they are reported UNDELIVERED "not sent" (fail
 *   fast when the daemon is gone, rather than waiting out a deadline per
 *   window).
 * - `send --outbox DIR`: store-and-forward (outbox.h). Each batch of lines
 *   read is written to the outbox and synced before any of it is sent; an
 *   event leaves the outbox only when ACCEPTED or DUPLICATE, or REJECTED
 *   (then it goes to DIR/dead-letter.jsonl). Events left in the outbox by
 *   an earlier run (a crash, kill -9, an unreachable daemon) are sent first.
 *   Input is read to its end even when the daemon is unreachable. Lines
 *   without eventId get a content-derived id (intake.h), so re-running the
 *   same input never stores an event twice. A line whose event is already
 *   waiting in the outbox is not added again: its one result is reported
 *   under the source and line it was first taken in from. Result lines
 *   carry the source as a last field: source="NAME" (JSON: "source").
 *   When an event is given up (deadline), every event still in flight is
 *   given up too and nothing more is sent this run (the rest stays in the
 *   outbox, in order, for the next run).
 * - `flush --outbox DIR`: sends what is in the outbox, as send does.
 * - `watch SPOOL`: a service (libuv loop). Export files dropped in SPOOL
 *   (spool.h: *.jsonl, or *.csv as in csv_import.h; write NAME.tmp or
 *   .NAME, then rename) are each read whole and taken into the outbox in
 *   one synced record (all of the file's events or none), then moved to
 *   SPOOL/done/; a file with any bad record is not taken in at all and is
 *   moved to SPOOL/failed/ with failed/NAME.reason. Files are taken in name
 *   order, each only once settled (issue 15): not empty, and its size and
 *   mtime unchanged for --settle-ms (default 2000). An empty file is never
 *   taken in (said once); a file still changing holds back the files after
 *   it. A file that changed while it was read (fstat before and after, or
 *   more bytes than its size) is not taken in or moved: it settles again
 *   and is read again (its events are in no outbox yet; were some sent,
 *   their derived ids would make them DUPLICATE). A file taken in by this
 *   run whose every event is then REJECTED moves from done/ to failed/
 *   with a reason (once any of its events is ACCEPTED or DUPLICATE, it
 *   stays in done/; after a restart, files taken in earlier are not
 *   followed). The default outbox is SPOOL/.outbox. Events are sent as in
 *   send; an event not delivered by its deadline is kept and retried (all
 *   in flight are given up and resent in outbox order, after a hold-off
 *   growing from 1 s to 30 s), so watch never drops anything. It notices
 *   new files by inotify (uv_fs_event) and rescans every --rescan-ms
 *   anyway. SIGTERM or SIGINT stop it cleanly (exit 0); whatever was not
 *   acked stays in the outbox for the next start.
 * - Security: every connection uses ZeroMQ CURVE with --key (this agent's
 *   NAME.key) and --server-key (the daemon's public key), or COHORT_KEY and
 *   COHORT_SERVER_KEY; --plaintext (or COHORT_PLAINTEXT=1 with no key
 *   given) only for a development daemon, with a warning on stderr. A
 *   missing or unreadable key, or a key file group or others can read, is
 *   a usage error (2). A refused handshake is reported once on stderr
 *   ("handshake refused by the server: check --key/--server-key (why)").
 *   REJECT_UNAUTHORISED (the key may not write that event) is a rejection
 *   like any other (dead-lettered with an outbox). FRAME_UNAUTHORISED (the
 *   daemon no longer accepts this agent's key) is not the events' fault:
 *   with an outbox they stay in it (never dead-lettered), nothing more is
 *   sent, and the run ends with exit 3 (watch too); without an outbox they
 *   are REJECTED (exit 1).
 * - Exit status: 0 every event ACCEPTED or DUPLICATE (with an outbox: and
 *   the outbox is empty); 1 anything rejected (dead-lettered), invalid or,
 *   without an outbox, undelivered, or a runtime failure; 2 usage errors
 *   (bad flags, unreadable FILE, bad endpoint, an outbox or spool that
 *   cannot be opened or is in use, missing or unusable CURVE keys); 3
 *   (send/flush with --outbox) events are still waiting in the outbox: the
 *   daemon could not be reached in time, or no longer accepts this agent's
 *   key (also watch then); run flush later (3 takes precedence over 1).
 * - Logs carry no event contents: parse errors have quoted values
 *   redacted; stderr messages name files, lines, event ids and codes.
 * - Staff numbers: with --pseudonym-key FILE (pseudonym.h), a record's
 *   staffNumber / mentorStaffNumber (JSON Lines and CSV, in send and
 *   watch) is replaced by its participant ref as the record is read, before
 *   anything is stored, sent or printed (intake.h). Without the key such a
 *   record is INVALID (send) or fails its file (watch), and nothing of it
 *   is sent. `keygen-pseudonym FILE` makes a new key file (mode 0600, never
 *   overwriting one). The key file is read once at start: a missing,
 *   malformed or group/other-accessible key file is a usage error (2).
 * - Raw refs (issue 13): a participantRef or mentorRef given as it is must
 *   be in the pseudonym form (pseudonym_is_ref: "p1:" and 32 of [a-z2-7]),
 *   with or without a key, else the record is INVALID (send) or fails its
 *   file (watch), and nothing of it is sent. --raw-refs lets refs of any
 *   form through, for an agency that makes its own pseudonyms (its daemon
 *   runs with ref_form = any) or erases a person registered under an older
 *   ref.
 * - Retention (issue 13): --retention-days N (default 30; 0 keeps
 *   everything) limits how long the agency-side copies are kept: files in
 *   SPOOL/done/ and SPOOL/failed/ whose mtime (the time of the move) is N
 *   days old, and dead-letter lines dead-lettered N days ago, are removed;
 *   entries the daemon has answered leave outbox.log (compaction) at each
 *   sweep. A sweep runs when send --outbox and flush open the
 *   outbox, and when watch starts and every hour while it runs. A failed
 *   sweep is reported on stderr and changes nothing else.
 * - `--config FILE` (agent_config.h): FILE's [agent] section sets long
 *   options by name, and `spool` (watch's SPOOL when none is given), before
 *   the command line is applied, so flags win over the file. Any error in
 *   the file (naming FILE:LINE and the option) is a usage error (2). */
#include "cohort_agent.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: " PROG " [OPTION]... send FILE|-\n"
            "       " PROG " [OPTION]... send --outbox DIR FILE|-\n"
            "       " PROG " [OPTION]... flush --outbox DIR\n"
            "       " PROG " [OPTION]... watch [--outbox DIR] SPOOL\n"
            "       " PROG " --config FILE [OPTION]... watch   (spool = SPOOL in FILE)\n"
            "       " PROG " keygen-pseudonym FILE\n"
            "\n"
            "send: sends events (JSON Lines, one Event per line; blank and '#' lines\n"
            "skipped) to cohortd and prints one result per event on stdout:\n"
            "  ACCEPTED|DUPLICATE line=N id=UUID seq=S\n"
            "  REJECTED line=N id=UUID seq=0 code=CODE reason=\"...\"\n"
            "  UNDELIVERED line=N id=UUID reason=\"...\"\n"
            "  INVALID line=N reason=\"...\"\n"
            "With --outbox, events are first stored durably in DIR (store-and-forward):\n"
            "events left there by an earlier run go first; an event leaves only when\n"
            "ACCEPTED or DUPLICATE, or REJECTED (then it is written, with code and reason,\n"
            "to DIR/dead-letter.jsonl); undelivered events stay for the next run. Lines\n"
            "without eventId get an id derived from their content, so sending the same\n"
            "input again never stores an event twice. Result lines end with source=\"NAME\".\n"
            "\n"
            "flush: sends what is waiting in the outbox DIR.\n"
            "\n"
            "watch: runs until SIGTERM/SIGINT, taking in export files dropped in SPOOL:\n"
            "*.jsonl (as send reads) and *.csv (below). Write a file as NAME.tmp or .NAME\n"
            "and rename it when complete. Each file is taken into the outbox whole (all its\n"
            "events, or none) and moved to SPOOL/done/, or, if any record is bad, to\n"
            "SPOOL/failed/ with a NAME.reason file. Files are taken in name order. The\n"
            "outbox defaults to SPOOL/.outbox. Undelivered events are retried until\n"
            "delivered; REJECTED ones go to OUTBOX/dead-letter.jsonl (and are logged).\n"
            "\n"
            "CSV files: a header row of proto3 JSON field names (snake_case, other case,\n"
            "spaces also match), then one event a row. Every kind has agency and\n"
            "participantRef, and may have eventId and occurredAt. Kinds and their columns\n"
            "(optional ones in brackets):\n"
            "  participants  role ethnicity gender disability [ageBand sexualOrientation\n"
            "                religion grade officer]            -> participantRegistered\n"
            "  enrolments    programmeId cohortId stage [note]  -> enrolmentChanged\n"
            "  attendance    programmeId cohortId component sessionId sessionDate status\n"
            "                minutes                            -> attendanceRecorded\n"
            "  promotions    kind effectiveOn [fromGrade toGrade programmeId cohortId]\n"
            "                                                   -> promotionRecorded\n"
            "  assessments   programmeId cohortId component pieceId outcome assessedOn\n"
            "                                                   -> assessmentRecorded\n"
            "  awards        programmeId cohortId award awardedOn -> awardMade\n"
            "  targets       group basisPoints [category by] (no participantRef)\n"
            "                                                   -> workforceTarget\n"
            "The kind comes from the columns (ethnicity, stage, sessionId, effectiveOn,\n"
            "outcome, awardedOn) or the file name (a word participants, enrolments,\n"
            "attendance, promotions, assessments, awards). An\n"
            "empty cell is not set; enum values in any case; officer true/false, yes/no,\n"
            "1/0. Rows are numbered as in a spreadsheet (the header is row 1).\n"
            "\n"
            "Staff numbers: with --pseudonym-key, a record may give staffNumber instead of\n"
            "participantRef (a CSV column staffNumber; in JSON, in the event's body, also\n"
            "mentorStaffNumber instead of mentorRef). The agent replaces it by the ref\n"
            "p1:<base32 of HMAC-SHA256(key, staff number)> before anything is stored or\n"
            "sent; the staff number itself never leaves the agent. Staff numbers are\n"
            "trimmed and upper-cased first. Without the key such records are refused.\n"
            "A mentor of another agency (mentorAgency) needs the mentorRef that agency\n"
            "gives: mentorStaffNumber is refused there.\n"
            "A participantRef or mentorRef given as it is must be such a ref (p1: and 32\n"
            "characters of a-z 2-7), else the record is refused, unless --raw-refs.\n"
            "\n"
            "Retention: files in SPOOL/done and SPOOL/failed and dead-letter lines older\n"
            "than --retention-days are deleted, and answered events leave the outbox log,\n"
            "when send --outbox or flush opens the outbox and when watch starts (then\n"
            "hourly).\n"
            "\n"
            "keygen-pseudonym FILE: writes a new random agency key to FILE (mode 0600;\n"
            "an existing FILE is never replaced). Keep it: another key gives other refs.\n"
            "\n"
            "  -c, --config FILE        take options from FILE first: an INI file whose\n"
            "                           [agent] keys are the long option names below\n"
            "                           (endpoint = ..., plaintext = true, ...) and spool =\n"
            "                           SPOOL for watch; flags given here win over it\n"
            "  -e, --endpoint ENDPOINT  daemon endpoint (default: $COHORT_ENDPOINT or %s)\n"
            "  -o, --outbox DIR         outbox directory (made if missing, not its parents)\n"
            "  -w, --window N           unacked events in flight (default 256)\n"
            "  -t, --timeout-ms MS      wait for an ack this long before resending (default 2000)\n"
            "  -d, --deadline-s S       give an event up this long after it is read, or with\n"
            "                           an outbox sent (default 60); without an outbox, lines\n"
            "                           not yet sent are then not sent; with one, they stay\n"
            "                           in the outbox (watch: and are retried)\n"
            "  -r, --rescan-ms MS       watch: rescan SPOOL this often (default 2000)\n"
            "      --settle-ms MS       watch: take a file in only once it is not empty and\n"
            "                           its size and mtime have not changed for MS\n"
            "                           (0-3600000, default 2000)\n"
            "  -D, --defer-s S          retry an event rejected only because what it needs\n"
            "                           is not there yet (unknown programme, cohort or\n"
            "                           participant, not enrolled, a stage out of order)\n"
            "                           for up to S s before reporting it, never past\n"
            "                           --deadline-s (default 0; watch: 50)\n"
            "  -k, --pseudonym-key FILE replace staff numbers by refs with this agency key\n"
            "                           (64 hex digits; the file must be mode 0600)\n"
            "      --raw-refs           send participantRef/mentorRef values that are not\n"
            "                           pseudonyms (p1:...) as they are: only for an agency\n"
            "                           that makes its own (the daemon must run with\n"
            "                           --ref-form any), or to erase a person registered\n"
            "                           under an older ref\n"
            "      --retention-days N   delete done/, failed/ files and dead letters N days\n"
            "                           old, 0-36500; 0 keeps them (default %u)\n"
            "%s"
            "  -j, --json               print results as JSON Lines\n"
            "  -q, --quiet              print only the summary (on stderr)\n"
            "      --progress           send, flush: always report progress on stderr: a bar on\n"
            "                           a terminal, else a line every 10 s and a final line\n"
            "      --no-progress        never (default: a bar when stderr is a terminal and the\n"
            "                           results do not go to it too (-q or stdout elsewhere);\n"
            "                           else a line every 10 s, and a final one after one)\n"
            "  -h, --help               show this help and exit\n"
            "  -V, --version            show the version and exit\n"
            "\n"
            "Resends reuse the event's eventId, so the daemon stores each event once.\n"
            "Connections use CURVE: --key and --server-key (or COHORT_KEY and\n"
            "COHORT_SERVER_KEY) are required unless --plaintext. If the daemon stops\n"
            "accepting the key (FRAME_UNAUTHORISED), events stay in the outbox and the\n"
            "run ends with status 3; events rejected as REJECT_UNAUTHORISED are\n"
            "dead-lettered like other rejections.\n"
            "Exit status: 0 all ACCEPTED or DUPLICATE (and the outbox empty), 1 anything\n"
            "rejected, invalid or (without --outbox) undelivered, 2 usage error (also: the\n"
            "outbox or spool cannot be opened or is in use, a missing or unusable key),\n"
            "3 events still waiting in the outbox (daemon not reached in time, or it\n"
            "refuses this agent's key; run flush later).\n",
            COHORT_CLIENT_DEFAULT_ENDPOINT, RETENTION_DEFAULT_DAYS, COHORT_CLI_CURVE_HELP);
}

/* Reads the number of option name from arg, in [lo, hi]; says why not.
 * Returns 0, or -EINVAL after the message. */
static int num_opt(const char *name, const char *arg, unsigned lo, unsigned hi, unsigned *out)
{
    if (cohort_cli_uint(arg, lo, hi, out) == 0)
        return 0;
    fprintf(stderr, PROG ": %s: expected a number from %u to %u\n", name, lo, hi);
    return -EINVAL;
}

/* Sets option c (a getopt_long val of parse_args' table) to arg (NULL for
 * an option without an argument). name says where it came from in messages:
 * "--window", or "FILE:LINE: option 'window'". Returns 0, or -1 after
 * printing why not. */
static int set_opt(args_t *a, int c, const char *arg, const char *name)
{
    switch (c) {
    case 'e':
        a->endpoint = arg;
        break;
    case 'o':
        a->outbox = arg;
        break;
    case 'w':
        return num_opt(name, arg, 1, 65536, &a->window) < 0 ? -1 : 0;
    case 't':
        return num_opt(name, arg, 1, 3600000, &a->timeout_ms) < 0 ? -1 : 0;
    case 'd':
        return num_opt(name, arg, 1, 604800, &a->deadline_s) < 0 ? -1 : 0;
    case 'r':
        return num_opt(name, arg, 10, 3600000, &a->rescan_ms) < 0 ? -1 : 0;
    case 'D':
        if (num_opt(name, arg, 0, 604800, &a->defer_s) < 0)
            return -1;
        a->defer_set = 1;
        break;
    case 'k':
        a->key_path = arg;
        break;
    case 0x100:
        a->curve_key = arg;
        break;
    case 0x101:
        a->server_key = arg;
        break;
    case 0x102:
        a->plaintext = 1;
        break;
    case 'j':
        a->json = 1;
        break;
    case 'q':
        a->quiet = 1;
        break;
    case 0x103:
    case 0x104:
        a->progress = c == 0x103 ? PROGRESS_ALWAYS : PROGRESS_NEVER;
        break;
    case 0x105:
        a->raw_refs = 1;
        break;
    case 0x106:
        return num_opt(name, arg, 0, 36500, &a->retention_days) < 0 ? -1 : 0;
    case 0x107:
        return num_opt(name, arg, 0, 3600000, &a->settle_ms) < 0 ? -1 : 0;
    default:
        fprintf(stderr, PROG ": %s: not an option\n", name);
        return -1;
    }
    return 0;
}

/* Options a --config file may not set. */
static const char *const NOT_IN_FILE[] = {"config", "help", "version", NULL};

static void conf_error(void *arg, const char *msg)
{
    (void)arg;
    fprintf(stderr, PROG ": %s\n", msg);
}

/* Fills a from argv (and --config FILE first). Returns 0 to run, 1 to exit
 * 0 (help, version), or 2 after printing a usage error. */
static int parse_args(args_t *a, int argc, char **argv)
{
    static const struct option lo[] = {{"endpoint", required_argument, 0, 'e'},
                                       {"outbox", required_argument, 0, 'o'},
                                       {"window", required_argument, 0, 'w'},
                                       {"timeout-ms", required_argument, 0, 't'},
                                       {"deadline-s", required_argument, 0, 'd'},
                                       {"rescan-ms", required_argument, 0, 'r'},
                                       {"defer-s", required_argument, 0, 'D'},
                                       {"pseudonym-key", required_argument, 0, 'k'},
                                       {"key", required_argument, 0, 0x100},
                                       {"server-key", required_argument, 0, 0x101},
                                       {"plaintext", no_argument, 0, 0x102},
                                       {"json", no_argument, 0, 'j'},
                                       {"quiet", no_argument, 0, 'q'},
                                       {"progress", no_argument, 0, 0x103},
                                       {"no-progress", no_argument, 0, 0x104},
                                       {"raw-refs", no_argument, 0, 0x105},
                                       {"retention-days", required_argument, 0, 0x106},
                                       {"settle-ms", required_argument, 0, 0x107},
                                       {"config", required_argument, 0, 'c'},
                                       {"help", no_argument, 0, 'h'},
                                       {"version", no_argument, 0, 'V'},
                                       {0, 0, 0, 0}};
    static const char shorts[] = "e:o:w:t:d:r:D:k:c:jqhV";
    const char *env = getenv("COHORT_ENDPOINT");
    char name[4300];
    int c;

    *a = (args_t){.endpoint = (env && *env) ? env : COHORT_CLIENT_DEFAULT_ENDPOINT,
                  .window = 256,
                  .timeout_ms = 2000,
                  .deadline_s = 60,
                  .rescan_ms = 2000,
                  .settle_ms = SETTLE_DEFAULT_MS,
                  .retention_days = RETENTION_DEFAULT_DAYS};
    /* --config first (the last one given), so that flags win over it. */
    opterr = 0;
    optind = 0; /* glibc: a fresh scan */
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1)
        if (c == 'c')
            a->config = optarg;
    opterr = 1;
    optind = 0;
    if (a->config) {
        if (agent_config_load(&a->conf, a->config, lo, NOT_IN_FILE, conf_error, NULL) < 0)
            return 2;
        for (size_t i = 0; i < a->conf->n; i++) {
            const agent_config_entry_t *e = &a->conf->items[i];
            snprintf(name, sizeof name, "%s:%d: option '%s'", a->conf->path, e->line, e->name);
            if (e->has_arg == no_argument && strcmp(e->value, "true") != 0)
                continue; /* false: as if not given */
            if (set_opt(a, e->val, e->has_arg == no_argument ? NULL : e->value, name) < 0)
                return 2;
        }
    }
    while ((c = getopt_long(argc, argv, shorts, lo, NULL)) != -1) {
        const struct option *o = lo;
        switch (c) {
        case 'c':
            break; /* read above */
        case 'h':
            usage(stdout);
            return 1;
        case 'V':
            printf(PROG " %s\n", COHORT_VERSION);
            return 1;
        case '?':
            fprintf(stderr, "Try '" PROG " --help' for more information.\n");
            return 2;
        default:
            while (o->name && o->val != c)
                o++;
            snprintf(name, sizeof name, "--%s", o->name ? o->name : "?");
            if (set_opt(a, c, optarg, name) < 0)
                return 2;
        }
    }
    const char *cmd = optind < argc ? argv[optind] : "";
    int nargs = argc - optind - 1;
    if (strcmp(cmd, "send") == 0 && nargs == 1) {
        a->cmd = CMD_SEND;
        a->file = argv[optind + 1];
    } else if (strcmp(cmd, "keygen-pseudonym") == 0 && nargs == 1) {
        a->cmd = CMD_KEYGEN;
        if (a->key_path) {
            fprintf(stderr, PROG ": keygen-pseudonym takes the new key's path, not "
                                 "--pseudonym-key\n");
            return 2;
        }
        a->key_path = argv[optind + 1];
    } else if (strcmp(cmd, "flush") == 0 && nargs == 0) {
        a->cmd = CMD_FLUSH;
        if (!a->outbox) {
            fprintf(stderr, PROG ": flush needs --outbox DIR\n"
                                 "Try '" PROG " --help' for more information.\n");
            return 2;
        }
    } else if (strcmp(cmd, "watch") == 0 &&
               (nargs == 1 || (nargs == 0 && a->conf && a->conf->spool))) {
        a->cmd = CMD_WATCH;
        a->spool = nargs == 1 ? argv[optind + 1] : a->conf->spool;
        if (!a->outbox) {
            size_t n = strlen(a->spool) + sizeof "/.outbox";
            if (!(a->outbox_buf = malloc(n))) {
                fprintf(stderr, PROG ": out of memory\n");
                return 2;
            }
            snprintf(a->outbox_buf, n, "%s/.outbox", a->spool);
            a->outbox = a->outbox_buf;
        }
    } else {
        fprintf(stderr,
                PROG ": expected 'send FILE' (or 'send -' for standard input), "
                     "'flush --outbox DIR', 'watch SPOOL' (SPOOL may be spool in --config FILE)\n"
                     "or 'keygen-pseudonym FILE'\n"
                     "Try '" PROG " --help' for more information.\n");
        return 2;
    }
    if (a->outbox && *a->outbox == '\0') {
        fprintf(stderr, PROG ": --outbox: empty path\n");
        return 2;
    }
    if (*a->endpoint == '\0') {
        fprintf(stderr, PROG ": --endpoint: empty endpoint\n");
        return 2;
    }
    return 0;
}

/* ---------------------------------------------------------------- main --- */

int main(int argc, char **argv)
{
    args_t a;
    cohort_curve_t curve = {0};
    int rc = parse_args(&a, argc, argv);

    if (rc != 0) {
        rc = rc == 1 ? 0 : 2;
        goto out;
    }
    if (a.cmd == CMD_KEYGEN) {
        char err[512];
        if (pseudonym_keygen(a.key_path, err, sizeof err) < 0) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = 1;
            goto out;
        }
        fprintf(stderr,
                PROG ": wrote a new pseudonym key to %s (mode 0600); keep it safe and backed up: "
                     "another key gives every staff number another ref\n",
                a.key_path);
        goto out;
    }
    a.curve = &curve;
    if (cohort_cli_curve(PROG, &curve, a.curve_key, a.server_key, a.plaintext) < 0) {
        rc = 2;
        goto out;
    }
    if (a.key_path) {
        char err[512];
        if (pseudonym_new(&a.ps, a.key_path, err, sizeof err) < 0) {
            fprintf(stderr, PROG ": %s\n", err);
            rc = 2;
            goto out;
        }
    }
    rc = a.cmd == CMD_WATCH ? agent_watch_run(&a) : agent_send_run(&a);
out:
    pseudonym_destroy(&a.ps);
    cohort_curve_clear(&curve);
    free(a.outbox_buf);
    agent_config_destroy(&a.conf); /* after everything that may point into it */
    return rc;
}
