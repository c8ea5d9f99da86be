/* agent_drive.h: cohort-agent's one send driver (agent_drive.c) and its two
 * sources of events (agent_source.c). Private to cohort-agent.
 *
 * The driver owns the client (cohort_client.h) and everything between a
 * source and the result lines: it hands the source's events to the client
 * while the window has room, reports each event's result once (one line on
 * stdout, as the contract at the top of cohort_agent.c says), counts the
 * results for the summary and the exit status, shows the progress, and
 * ends the run. send and flush block in agent_drive_run (zmq_poll on the
 * socket and the input); watch calls agent_drive_service from its libuv
 * loop. Both do the same work per turn: take input in, pump, feed, pump.
 *
 * The sources (agent_source_ops_t):
 * - the file reader (agent_source_file, plain send): JSON Lines read from
 *   the input as it comes (intake_line, shared with watch's files), handed
 *   out unpacked, kept nowhere. Once an event is given up (UNDELIVERED), the
 *   lines read after it are reported UNDELIVERED "not sent". A
 *   FRAME_UNAUTHORISED answer is a REJECTED result.
 * - the outbox (agent_source_outbox: send --outbox, flush, watch): events
 *   are handed out packed in outbox order; one leaves the outbox only by
 *   its final answer (ACCEPTED or DUPLICATE: acked; REJECTED: dead-lettered
 *   first), so what is not answered stays for the next run. With an input
 *   (send --outbox), the lines read are first taken into the outbox, in
 *   synced records, before any of them is sent. send and flush give up
 *   everything in flight at the first undelivered event and send no more;
 *   watch (retry) releases undelivered events to be sent again, after the
 *   hold-off its on_pumped hook sets. FRAME_UNAUTHORISED keeps the event in
 *   the outbox (it is the key that is refused).
 *
 * Not thread-safe; one driver per process (the client's callback). */
#ifndef AGENT_DRIVE_H
#define AGENT_DRIVE_H

#include "cohort_agent.h"

typedef struct agent_drive agent_drive_t;

/* Counts for the summary and the exit status. */
typedef struct {
    uint64_t accepted, duplicate, rejected, undelivered, invalid;
} agent_counts_t;

/* The input of send: a buffered line reader over a file descriptor that
 * poll says is readable (so a pipe is sent as it comes). */
typedef struct {
    int fd;                 /* the input, or -1 (flush, watch) */
    char *buf;              /* read bytes (malloc'd) */
    size_t start, len, cap; /* unconsumed bytes are buf[start, len) */
    size_t scanned;         /* bytes from start known to hold no '\n' */
    int eof;                /* read returned 0, or failed */
    int skipping;           /* discarding the rest of an overlong line */
    uint64_t lineno;        /* number of the last line returned */
    uint64_t size;          /* the input's size if a regular file (the share done), else 0 */
} agent_reader_t;

/* One event handed out by a source. Pointers hold until the next call on
 * the source. */
typedef struct {
    const Cohort__V1__Event *ev; /* the event (file reader), or NULL: data and len hold it */
    const uint8_t *data;         /* the packed Event (outbox) */
    size_t len;                  /* its length */
    const uint8_t *id;           /* its event_id (16 bytes), or NULL (none of 16 bytes) */
    uint64_t tag;                /* the source's handle: the line (file reader), the ticket */
    uint64_t line;               /* line or row in its input */
    const char *name;            /* the input's name in result lines, or NULL (plain send) */
} agent_item_t;

/* How a final answer settles an event in its source. */
typedef enum { AGENT_ACK, AGENT_REJECT, AGENT_RELEASE } agent_settle_t;

/* A source of events. Each function gets the driver, whose fields hold the
 * source's state (reader, batch, outbox). */
typedef struct {
    int durable; /* 1: events stay in the source until answered (the outbox) */
    /* Takes what input is buffered into the source. Returns 0, or -1 after
     * a fatal failure (reported, d->fatal set). */
    int (*take_in)(agent_drive_t *d);
    /* Hands out the next event in *it, claimed. Returns 1, 0 if there is
     * none now, or -1 after a fatal failure (reported, d->fatal set). */
    int (*next)(agent_drive_t *d, agent_item_t *it);
    /* The client cannot take it now (full, or its id still pending): next
     * hands it out again first. */
    void (*unget)(agent_drive_t *d, const agent_item_t *it);
    /* The client refused it for good (submit's negative errno other than
     * -EAGAIN and -EEXIST): reports it. Returns 0, or -1 after a fatal
     * failure (reported, d->fatal set). */
    int (*refused)(agent_drive_t *d, const agent_item_t *it, int rc);
    /* The line and input name (NULL: none) of the event tagged tag. */
    void (*where)(agent_drive_t *d, uint64_t tag, uint64_t *line, const char **name);
    /* Settles the event tagged tag after its report r (code: the reject
     * code's name, for AGENT_REJECT). Returns 0, or -1 after a fatal
     * failure (reported, d->fatal set; the event is not answered). */
    int (*settle)(agent_drive_t *d, uint64_t tag, agent_settle_t how,
                  const cohort_client_report_t *r, const char *code);
    /* 1 if the source has nothing left to hand out. */
    int (*empty)(agent_drive_t *d);
} agent_source_ops_t;

/* The file reader and the outbox (agent_source.c). */
extern const agent_source_ops_t agent_source_file;
extern const agent_source_ops_t agent_source_outbox;

/* The run's state: the driver's, its source's, and its owner's hooks. */
struct agent_drive {
    const args_t *a;               /* the command line */
    const agent_source_ops_t *src; /* where events come from */
    int retry;                     /* watch: undelivered events are released, not reported */
    agent_counts_t c;              /* results so far */
    cohort_client_t *cl;           /* the client (agent_drive_connect), or NULL */
    progress_t *pr;                /* send, flush: the progress report on stderr, or NULL */
    int stop_sending;              /* an event was given up: send no more this run */
    int io_error;                  /* reading the input failed */
    int fatal;                     /* the run cannot go on (reported): outbox or memory */
    int undelivered_now;           /* durable: an event was not delivered (or key refused) */
    int unauthorised;              /* FRAME_UNAUTHORISED came: 1, 2 once reported */
    int hs_said;                   /* a refused handshake was reported (until one succeeds) */
    int held;                      /* the event handed out last waits for the client */
    uint64_t holdoff_us;           /* feed nothing before this (cohort_client_now_us) */
    /* the sources' state */
    agent_reader_t in;         /* send: the input (fd -1: none) */
    const char *in_name;       /* send --outbox: the input's name in the outbox and results */
    Cohort__V1__Event *cur;    /* file reader: the event handed out last (owned), or NULL */
    uint64_t cur_line;         /* file reader: its line */
    outbox_event_t cur_packed; /* outbox: the event handed out last */
    intake_batch_t batch;      /* send --outbox: lines read, not yet in the outbox */
    outbox_t *ob;              /* the outbox (agent_drive_open_outbox), or NULL */
    /* hooks (NULL: none) */
    void *owner; /* for the hooks: watch's state */
    /* After each pump, instead of send's policy (agent_drive.c): returns 1
     * to end this turn (the owner is stopping). */
    int (*on_pumped)(agent_drive_t *d);
    /* After an ACCEPTED or DUPLICATE (code NULL) or REJECTED result of a
     * durable source's event, once reported and settled. */
    void (*on_final)(agent_drive_t *d, const char *name, uint64_t line, const uint8_t *id,
                     const char *code, const char *reason);
};

/* ------------------------------------------------ agent_drive.c ------ */

/* Makes d's client (defer_s: how long order-dependent rejections are
 * retried). Returns 0, or the exit status after the reason is said on
 * stderr: 2 for a bad endpoint, else 1. */
int agent_drive_connect(agent_drive_t *d, unsigned defer_s);

/* One turn: takes input in, pumps, hands events to the client while it
 * has room (none before d->holdoff_us), pumps again, and commits the
 * outbox's leave marks. Returns 0, or -1 after a fatal failure (reported;
 * d->fatal set). */
int agent_drive_service(agent_drive_t *d);

/* send and flush: turns until the source is empty and nothing is pending
 * (or a fatal failure), blocking in zmq_poll on the socket, the client's
 * timers and the input; then agent_drive_finish. Returns the exit status. */
int agent_drive_run(agent_drive_t *d);

/* Ends a send or flush run whose status so far is ret (0: it went to its
 * end): destroys the client (what is pending is reported, and stays in an
 * outbox), reports what was never sent, closes the input, prints the
 * summary (not after a usage error without an outbox) and the hints, and
 * closes the outbox. Returns the exit status (cohort_agent.c). */
int agent_drive_finish(agent_drive_t *d, int ret);

/* Prints one result line on stdout (unless --quiet). id may be NULL
 * (INVALID); code, reason and name may be NULL (name: the input's, in
 * outbox modes). */
void agent_emit(const agent_drive_t *d, const char *result, uint64_t line, const uint8_t *id,
                int has_seq, uint64_t seq, const char *code, const char *reason, const char *name);

/* Reports, once, a refused handshake (until one succeeds) and a
 * FRAME_UNAUTHORISED answer. */
void agent_check_auth(agent_drive_t *d);

/* A hint after events went unanswered: with CURVE, a refused key or a
 * wrong server key looks like a daemon that is down; else "". */
const char *agent_silence_hint(const agent_drive_t *d);

/* Prints the counts of the run on stderr. */
void agent_summary(const agent_drive_t *d);

/* Starts send's (or flush's) progress report on stderr in d->pr. By
 * default, when the results themselves scroll on the terminal stderr is
 * (no -q and stdout a terminal too), they are the progress: no bar. */
void agent_progress_begin(agent_drive_t *d);

/* ------------------------------------------------ agent_source.c ----- */

/* Opens the outbox dir into d->ob and says what it found. Returns 0, or 2
 * (reported). */
int agent_drive_open_outbox(agent_drive_t *d, const char *dir);

/* Applies --retention-days to the outbox (and sp's done/ and failed/, if
 * sp is not NULL): see the contract in cohort_agent.c. Says on stderr what
 * it removed (counts, never names) and what failed. */
void agent_expire(agent_drive_t *d, spool_t *sp);

/* Reads what is available of d->in (one read). On failure says so,
 * marks the input ended and d->io_error (what was read is still sent). */
void agent_reader_fill(agent_drive_t *d);

/* 1 if the input is read to its end and every line was handed on (also
 * when there is no input). */
int agent_reader_done(const agent_reader_t *r);

#endif
