/* cohort_agent.h: private to cohort-agent (cohort_agent.c, agent_send.c,
 * agent_watch.c): the command line, the run state shared by send, flush and
 * watch, and the helpers they share (result output, the input reader, the
 * progress report, the outbox). Not a library interface: the contract of
 * the program is at the top of cohort_agent.c. */
#ifndef COHORT_AGENT_H
#define COHORT_AGENT_H

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "agent_config.h"
#include "cohort_cli.h"
#include "cohort_client.h"
#include "cohort_json.h"
#include "intake.h"
#include "outbox.h"
#include "progress.h"
#include "pseudonym.h"
#include "spool.h"
#include "uuid7.h"

#define PROG "cohort-agent"
#define MAX_LINE (8u << 20) /* longest input line accepted */
#define READ_CHUNK (64u << 10)
#define BATCH_EVENTS 4096          /* events per outbox record while reading input */
#define BATCH_BYTES (4u << 20)     /* bytes per outbox record while reading input */
#define RETRY_MIN_MS 1000u         /* watch: first hold-off after a give-up */
#define RETRY_MAX_MS 30000u        /* watch: hold-off ceiling */
#define RETENTION_DEFAULT_DAYS 30u /* --retention-days */
#define RETENTION_SWEEP_S 3600     /* watch: apply the retention this often */
#define SETTLE_DEFAULT_MS 2000u    /* watch: --settle-ms */
/* watch's default --defer-s, below the default deadline: exports from
 * several agencies may arrive in any order. */
#define DEFER_WATCH_S 50

#define MAX_TRACKED 4096 /* watch: files taken in whose results are counted */

typedef enum { CMD_SEND, CMD_FLUSH, CMD_WATCH, CMD_KEYGEN } cmd_t;

/* What the command line asked for. */
typedef struct {
    cmd_t cmd;               /* send, flush or watch */
    const char *endpoint;    /* daemon endpoint */
    const char *file;        /* send: input path, "-" for stdin */
    const char *spool;       /* watch: the spool directory */
    const char *outbox;      /* outbox directory, or NULL */
    char *outbox_buf;        /* watch: the default outbox path (malloc'd) */
    unsigned window;         /* unacked events */
    unsigned timeout_ms;     /* per attempt */
    unsigned deadline_s;     /* per event: from when it was read (plain) or submitted */
    unsigned rescan_ms;      /* watch: rescan period */
    unsigned settle_ms;      /* watch: a file is taken once unchanged this long */
    unsigned defer_s;        /* retry order-dependent rejections this long (libcohort defer_ms) */
    int defer_set;           /* --defer-s was given (else watch uses DEFER_WATCH_S) */
    int json;                /* JSON Lines output */
    int quiet;               /* summary only */
    int progress;            /* send, flush: PROGRESS_* (progress.h), --[no-]progress */
    const char *key_path;    /* --pseudonym-key FILE, or keygen-pseudonym's FILE; or NULL */
    pseudonym_t *ps;         /* the loaded --pseudonym-key (main), or NULL */
    const char *curve_key;   /* --key FILE: this agent's CURVE key, or NULL */
    const char *server_key;  /* --server-key FILE: the daemon's public key, or NULL */
    int plaintext;           /* --plaintext */
    int raw_refs;            /* --raw-refs: refs need not be pseudonyms */
    unsigned retention_days; /* --retention-days: keep agency-side copies this long, 0 ever */
    const cohort_curve_t *curve; /* the keys chosen (main's); on = 0: plain text */
    const char *config;          /* --config FILE, or NULL */
    agent_config_t *conf;        /* FILE, read (values above may point into it), or NULL */
} args_t;

/* Counts for the summary and the exit code. */
typedef struct {
    uint64_t accepted, duplicate, rejected, undelivered, invalid;
} counts_t;

/* The run's state, shared with the result callback. */
typedef struct {
    const args_t *a;
    counts_t c;
    int stop_sending;    /* an event was given up: send no more */
    int io_error;        /* reading the input failed */
    outbox_t *ob;        /* the outbox, or NULL (plain send) */
    cohort_client_t *cl; /* the client */
    int undelivered_now; /* outbox modes: an UNDELIVERED came in the last pump */
    int fatal;           /* outbox modes: the outbox could not be written */
    int watch;           /* watch mode: undelivered events are retried, not reported */
    int unauthorised;    /* the daemon answered FRAME_UNAUTHORISED: our key is refused */
    int hs_said;         /* the handshake failure was reported (until one succeeds) */
    progress_t *pr;      /* send, flush: the progress report on stderr, or NULL */
} agent_t;

/* Buffered non-blocking-friendly line reader over a file descriptor. */
typedef struct {
    int fd;
    char *buf;
    size_t start, len, cap; /* unconsumed bytes are buf[start, len) */
    size_t scanned;         /* bytes from start known to hold no '\n' */
    int eof;                /* read returned 0 */
    int skipping;           /* discarding the rest of an overlong line */
    uint64_t lineno;        /* number of the last line returned */
} reader_t;

/* Defined in cohort_agent.c, agent_send.c and agent_watch.c; each as
 * described at its definition. */
/* Prints one result. id may be NULL (INVALID); code, reason and source
 * may be NULL (source: only in outbox modes). */
void emit(agent_t *ag, const char *result, uint64_t line, const uint8_t *id, int has_seq,
          uint64_t seq, const char *code, const char *reason, const char *source);

/* The client's result callback (arg: the agent_t): counts the result and
 * reports it, plainly or through the outbox. */
void on_result(void *arg, const cohort_client_report_t *r);

/* After a pump: reports, once, a refused handshake (until one succeeds)
 * and a FRAME_UNAUTHORISED answer. */
void check_auth(agent_t *ag);

/* A hint after events went unanswered: with CURVE, a refused key or a
 * wrong server key looks like a daemon that is down. */
const char *silence_hint(const agent_t *ag);

/* Hands outbox events to the client while it has room. Returns 0, or -1
 * after a fatal outbox failure (reported). */
int feed(agent_t *ag);

/* Reads what is available into the buffer (one read). Returns 0 or -errno. */
int r_fill(reader_t *r);

/* Returns the next complete line (NUL-ended, without "\n" or "\r\n") and
 * its length in *n, or NULL when none is buffered. Sets *too_long when the
 * line returned is a placeholder for an overlong line (reported INVALID). */
char *r_line(reader_t *r, size_t *n, int *too_long);

/* 1 if the line is to be skipped (blank or a '#' comment). */
int skip_line(const char *s);

/* Starts send's (or flush's) progress report on stderr (progress.h),
 * counting results. By default, when the results themselves scroll on the
 * terminal stderr is (no -q and stdout a terminal too), they are the
 * progress: no bar. */
progress_t *progress_begin(const args_t *a);

/* The input's size if it is a regular file (for the share done), else 0. */
uint64_t input_size(int fd);

/* Reports the results so far and, for a regular file of size bytes, the
 * share done: the share of the file read, times the share of the lines
 * read so far that have their result. */
void progress_tick(agent_t *ag, int fd, uint64_t size, uint64_t lines);

/* Ends the report: the final state when the run went to its end (all the
 * input read), else just erases a bar. */
void progress_end(agent_t *ag, int completed, int input_read);

/* send without an outbox. Returns the exit status. */
int run_plain(const args_t *ap);

/* Opens the outbox for a run and says what it found. Returns 0, or 2
 * (reported). */
int open_outbox(agent_t *ag, const char *dir);

/* Applies --retention-days to the outbox (and sp's done/ and failed/, if
 * sp is not NULL): see the contract at the top. Says on stderr what it
 * removed (counts, never names) and what failed. */
void expire(agent_t *ag, spool_t *sp);

/* Prints the counts of the run on stderr. */
void summary(const agent_t *ag);

/* send --outbox and flush. Returns the exit status. */
int run_outbox(const args_t *a);

/* A final result for an event of the file taken in as src (watch only):
 * once every event a file added to the outbox has been rejected
 * (dead-lettered), and none accepted, the file moves from done/ to failed/
 * with a reason. An accepted (or duplicate) event ends the tracking of the
 * file: it stays in done/. Only files taken in by this run are tracked. */
void w_note_result(agent_t *ag, const char *src, int rejected, const char *code);

/* watch SPOOL. Returns the exit status. */
int run_watch(const args_t *a);

#endif
