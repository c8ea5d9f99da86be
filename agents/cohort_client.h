/* cohort_client.h: libcohort, the agent side of the cohortd ingest protocol
 * (proto/cohort.proto), for embedding in an agency's own software.
 *
 * Contract:
 * - One client is one ZeroMQ DEALER connected to the daemon's ROUTER. Every
 *   submitted event gets exactly one result callback: ACCEPTED or DUPLICATE
 *   (durably stored at seq), REJECTED (final, never retried) or UNDELIVERED
 *   (given up: attempts or deadline exhausted, or the client destroyed).
 * - Submitted events are packed and copied at submit: the caller keeps
 *   ownership of what it passes and may free it as soon as submit returns.
 *   The tag pointer is opaque and handed back in the result.
 * - At most opts.window events are unacked (sent, no final ack) at once;
 *   further events wait in a bounded queue (opts.queue_max), and submit says
 *   -EAGAIN when it is full. New events go out as soon as at least
 *   max(1, window/4) window slots (or all that is queued) are free, in frames
 *   of up to opts.max_batch events and 4 MiB, so the daemon's group commit
 *   stays fed.
 * - A resend always carries the same event_id (the daemon dedupes on
 *   (agency, event_id) forever, so a resend is safe); each frame has a new
 *   request_id. Acks are matched by event_id; acks for events no longer
 *   pending are ignored. An attempt times out after opts.timeout_ms; the
 *   first timeout is resent at once, later ones and every UNAVAILABLE (per
 *   event or FRAME_UNAVAILABLE) after an exponential backoff with jitter
 *   (opts.backoff_min_ms doubling up to opts.backoff_max_ms).
 * - An event is given up (UNDELIVERED) after opts.max_attempts failed
 *   attempts, or once opts.deadline_ms have passed since submit: at its
 *   deadline if it is queued or waiting to be resent, else when its attempt
 *   fails (so up to one attempt timeout late).
 * - Order: resends go out in the order the attempts failed, and no new
 *   event is sent while any resend is waiting, so a daemon that answered
 *   UNAVAILABLE sees the events again in the order they were submitted.
 * - With opts.defer_ms, a REJECTED whose code says the event came before
 *   what it depends on (REJECT_UNKNOWN_PROGRAMME, _UNKNOWN_COHORT,
 *   _UNKNOWN_PARTICIPANT, _BAD_TRANSITION, _NO_LINE_MANAGER_SUPPORT,
 *   _NOT_ENROLLED, _AGENCY_NOT_IN_COHORT: for example a cohort another
 *   agency has not opened yet) is retried with backoff until defer_ms after
 *   submit (and never past the deadline), and only then reported REJECTED.
 * - Non-blocking: cohort_client_pump() does all the work (receive, timers,
 *   send) without blocking and fits a zmq_poll() loop over many clients
 *   (see cohort_client_pollitem() and cohort_client_timeout()).
 *   cohort_client_flush() is the simple blocking helper.
 * - Result callbacks run inside pump, wait, flush, give_up and destroy. A
 *   callback may call submit, submit_packed, pending, room and stats; it
 *   must not call pump, wait, flush, give_up or destroy on the same client.
 * - Not thread-safe: use one client from one thread at a time.
 * - Security: with opts.curve on, the DEALER uses ZeroMQ CURVE with those
 *   keys (set before connecting); else plain text. A refused handshake is
 *   silent in ZeroMQ (it just reconnects), so the client watches its
 *   socket's handshake events (zmq_socket_monitor) and says why in the
 *   reason of events given up meanwhile and in cohort_client_handshake().
 *   REJECT_UNAUTHORISED (the key may not write that event) and
 *   FRAME_UNAUTHORISED (the key is no longer accepted) are final:
 *   REJECTED, never retried or deferred. A FRAME_UNAUTHORISED reply with
 *   request_id 0 (the daemon could not tell which frame) ends every event
 *   in flight, since the whole connection is refused.
 * - Nothing here logs; failures come back as negative errno values and
 *   reasons in results. Reasons made here never contain event contents;
 *   REJECTED reasons are the daemon's own text. */
#ifndef COHORT_CLIENT_H
#define COHORT_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "cohort.pb-c.h"
#include "cohort_keys.h"

#define COHORT_CLIENT_DEFAULT_ENDPOINT "tcp://127.0.0.1:7400"
#define COHORT_CLIENT_MAX_BATCH 4096       /* events per frame (protocol limit) */
#define COHORT_CLIENT_MAX_FRAME (4u << 20) /* bytes per frame (protocol limit) */

/* The final outcome of one submitted event. */
typedef enum {
    COHORT_ACCEPTED = 1,    /* durably stored at seq */
    COHORT_DUPLICATE = 2,   /* stored earlier at seq (the original one) */
    COHORT_REJECTED = 3,    /* refused for good: see code/frame_error and reason */
    COHORT_UNDELIVERED = 4, /* given up without a final ack: see reason */
} cohort_result_t;

/* What the result callback receives. Valid only during the callback. */
typedef struct {
    void *tag;               /* the tag given at submit */
    const uint8_t *event_id; /* the event's 16-byte id */
    cohort_result_t result;  /* the outcome */
    uint64_t seq;            /* log sequence for ACCEPTED and DUPLICATE, else 0 */
    int code;                /* Cohort__V1__RejectCode for REJECTED (0 if frame-level) */
    int frame_error;         /* Cohort__V1__FrameError when the whole frame was refused, else 0 */
    const char *reason;      /* human-readable reason; "" when none; never NULL */
    uint32_t attempts;       /* times the event was sent (0: never sent) */
    uint64_t submitted_us;   /* when it was submitted (cohort_client_now_us clock) */
    uint64_t first_sent_us;  /* when it was first sent, 0 if never */
    uint64_t done_us;        /* when the final ack was processed or it was given up */
} cohort_client_report_t;

/* The per-event result callback; arg is opts.arg. */
typedef void(cohort_client_result_fn)(void *arg, const cohort_client_report_t *report);

/* Client options. Zero-initialise, then set what you need: every 0 field
 * takes the default given. */
typedef struct {
    const char *endpoint;        /* daemon ROUTER endpoint (default tcp://127.0.0.1:7400); copied */
    void *zctx;                  /* ZeroMQ context to use (borrowed), or NULL for a private one */
    uint32_t window;             /* max unacked events in flight (default 256) */
    uint32_t max_batch;          /* max events per frame (default min(window, 4096)) */
    uint32_t queue_max;          /* max submitted events waiting to be sent (default window) */
    uint32_t timeout_ms;         /* per-attempt ack timeout (default 2000) */
    uint32_t deadline_ms;        /* give up this long after submit (default 60000) */
    uint32_t max_attempts;       /* give up after this many sends (default 0: deadline only) */
    uint32_t backoff_min_ms;     /* first backoff after UNAVAILABLE (default 50) */
    uint32_t backoff_max_ms;     /* backoff ceiling (default 2000) */
    uint32_t defer_ms;           /* retry order-dependent rejections this long after submit
                                    (default 0: they are final at once); see below */
    const cohort_curve_t *curve; /* NULL or !on: plaintext; else CURVE keys, set on the
                                    socket by new (not kept) */
    cohort_client_result_fn *on_result; /* required: called once per event */
    void *arg;                          /* passed to on_result */
} cohort_client_opts_t;

/* Counters since the client was made. */
typedef struct {
    uint64_t submitted;          /* events accepted by submit */
    uint64_t accepted;           /* results ACCEPTED */
    uint64_t duplicate;          /* results DUPLICATE */
    uint64_t rejected;           /* results REJECTED */
    uint64_t deferred;           /* order-dependent rejections retried (defer_ms) */
    uint64_t undelivered;        /* results UNDELIVERED */
    uint64_t frames_sent;        /* request frames sent */
    uint64_t resends;            /* event sends after the first */
    uint64_t timeouts;           /* attempts that timed out */
    uint64_t unavailable;        /* UNAVAILABLE acks and FRAME_UNAVAILABLE events */
    uint64_t replies;            /* reply frames received */
    uint64_t stale_acks;         /* acks ignored: event not pending, or superseded attempt */
    uint64_t bad_replies;        /* reply frames that did not decode */
    uint64_t handshakes;         /* ZMTP handshakes that succeeded (connections made) */
    uint64_t handshake_failures; /* handshakes that failed (refused key, wrong server key,
                                    CURVE on one side only) */
} cohort_client_stats_t;

typedef struct cohort_client_t cohort_client_t;

/* Creates a client and starts connecting (asynchronously) to the endpoint.
 * Returns the client, or NULL with errno set: EINVAL (no on_result, a
 * window or max_batch out of range, a bad endpoint), ENOMEM, or a ZeroMQ
 * errno.
 * Why this differs from the daemon's `int X_new(X_t **out, ..., err,
 * errlen)`: libcohort is for embedding in an agency's own software, so its
 * constructors (this one and cohort_sub_new) keep the shape of the C
 * libraries such callers already use (zmq_socket, fopen: a pointer, or
 * NULL and errno) and take one options struct that can grow without
 * breaking them; errno's values are the daemon's negative codes negated. */
cohort_client_t *cohort_client_new(const cohort_client_opts_t *opts);

/* Reports every still-pending event as UNDELIVERED ("client destroyed"),
 * closes the socket (linger 0), frees everything, and nulls *self_p.
 * Idempotent; NULL and *self_p == NULL are fine. */
void cohort_client_destroy(cohort_client_t **self_p);

/* Queues an event (packed and copied now; the caller keeps ev). Needs a
 * 16-byte event_id. Returns 0, or -EINVAL (no 16-byte event_id), -EEXIST
 * (an event with this id is still pending here), -EMSGSIZE (would not fit
 * a frame), -EAGAIN (queue full: pump, then try again), -ENOMEM. */
int cohort_client_submit(cohort_client_t *self, const Cohort__V1__Event *ev, void *tag);

/* As submit, for an already-serialized Event: data/len are copied now;
 * event_id must be the event_id inside data (not checked). Same returns. */
int cohort_client_submit_packed(cohort_client_t *self, const void *data, size_t len,
                                const uint8_t event_id[16], void *tag);

/* Does all pending work without blocking: receives replies (calling
 * result callbacks), handles timeouts, backoffs and deadlines, and sends
 * what the window allows. Call after zmq_poll reports the pollitem or its
 * timeout passes. Returns the number of results delivered (>= 0), or a
 * negative errno from ZeroMQ (e.g. -ETERM). */
int cohort_client_pump(cohort_client_t *self);

/* Fills item for zmq_poll: the socket, and ZMQ_POLLIN, plus ZMQ_POLLOUT
 * only while a send is blocked. Refill it after every pump. */
void cohort_client_pollitem(cohort_client_t *self, zmq_pollitem_t *item);

/* Milliseconds until pump has timer work (0: now), or -1 if none: a poll
 * timeout for zmq_poll. While the handshake monitor runs it is at most
 * 500: pump reads the monitor's events at most every 500 ms. */
long cohort_client_timeout(cohort_client_t *self);

/* Blocks for at most timeout_ms (-1: until there is work) polling the
 * socket, then pumps once. Returns as pump, or -errno from zmq_poll. */
int cohort_client_wait(cohort_client_t *self, long timeout_ms);

/* Runs until nothing is pending or timeout_ms passes (-1: no limit; every
 * event ends at its deadline anyway). Returns 0 when nothing is pending,
 * -ETIMEDOUT if events are still pending, or a negative errno. */
int cohort_client_flush(cohort_client_t *self, long timeout_ms);

/* Reports every pending event (queued or unacked) as UNDELIVERED with the
 * given reason (copied; NULL for "given up"). Later acks for them are
 * ignored. */
void cohort_client_give_up(cohort_client_t *self, const char *reason);

/* Events submitted and not yet reported (queued plus unacked). */
size_t cohort_client_pending(const cohort_client_t *self);

/* Events that submit can still take before it says -EAGAIN. */
size_t cohort_client_room(const cohort_client_t *self);

/* The DEALER socket (owned by the client; do not close or reconfigure). */
void *cohort_client_socket(cohort_client_t *self);

/* The state of the connection's security handshake (reads the handshake
 * events that are waiting, without blocking): 1 the last handshake
 * succeeded, 0 none finished yet, -1 the last one failed; then, if why is
 * not NULL, why (at most len bytes, NUL-ended) says what the failure
 * looked like, e.g. "the daemon refused this client's key (ZAP status
 * 400)". Call it from the client's thread, like pump. */
int cohort_client_handshake(cohort_client_t *self, char *why, size_t len);

/* Copies the counters into out. */
void cohort_client_stats(const cohort_client_t *self, cohort_client_stats_t *out);

/* The clock used in reports: CLOCK_MONOTONIC in microseconds. */
uint64_t cohort_client_now_us(void);

/* Name of a result ("ACCEPTED", ...); "UNKNOWN" for anything else. */
const char *cohort_result_name(cohort_result_t result);

#endif
