/* cohort_sub.h: libcohort's status subscriber, the client side of the
 * daemon's status publishing (docs/protocol.md, "Status publishing"), for
 * cohort-watch and any other program that follows status topics.
 *
 * Contract:
 * - One subscriber follows a set of topic prefixes ("" is every topic) over
 *   a DEALER connected to the daemon's publish ROUTER (--publish) and a
 *   DEALER connected to its snapshot ROUTER (--snapshot), and keeps the current
 *   state: topic -> (document, rev, seq), plus the epoch it belongs to.
 * - The late-joiner handshake, as the protocol page says: subscribe (one
 *   {"subscribe":P} request per prefix) and queue what arrives; ask for a snapshot of
 *   each prefix (prefixes covered by another prefix are not asked for
 *   twice); apply the snapshot, then the queued updates, then live ones,
 *   per topic by the epoch and rev rules. The snapshot is asked for only
 *   once the daemon has answered every subscription request, which proves
 *   the subscriptions are live at the publisher, so that no update can fall
 *   between the snapshot and the subscription unnoticed.
 * - Rules per update of topic T (every update is a whole document):
 *   another epoch: resync ("epoch changed"); T known at rev r: rev <= r is
 *   ignored, rev == r + 1 applied, rev > r + 1 resync ("gap on T: rev 5
 *   after 3"); T unknown: seq <= the end seq of the snapshot covering T is
 *   older than that snapshot and ignored, else rev == 1 is a new topic,
 *   anything else a resync ("gap on T: rev 4 for a new topic"). A `null`
 *   doc removes T (it is kept as a tombstone for the rev rule, invisible to
 *   the queries). No "system" heartbeat for opts.heartbeat_timeout_ms:
 *   resync ("no heartbeat for 3 s") with both sockets reconnected.
 * - A resync keeps the current (now stale) state until the new snapshot is
 *   complete, then replaces it: the update callback is called for every
 *   topic that changed (snapshot = 1) and with doc NULL for every topic
 *   that is gone, then for the queued updates, and then the SYNCED event.
 * - Bounded: the pre-snapshot queue (opts.queue_max updates and
 *   opts.queue_bytes_max bytes; beyond either it is dropped and the
 *   subscriber resyncs), message size (opts.max_msg_bytes), each snapshot
 *   request (opts.snapshot_timeout_ms without a reply message, then a retry
 *   on a fresh socket; after an $error reply, a bad or incomplete reply, the
 *   retry waits that long too), the work per pump (then cohort_sub_timeout
 *   says 0).
 * - Non-blocking: cohort_sub_pump() does all the work without blocking and
 *   fits a zmq_poll() loop (cohort_sub_pollitems(), cohort_sub_timeout());
 *   cohort_sub_run() is the blocking helper.
 * - Callbacks run inside pump and run. They may call the queries (get,
 *   each, count, synced, epoch, stats) and cohort_sub_stop; they must not
 *   call pump, run or destroy on the same subscriber.
 * - Messages that do not parse or lack a field are counted (stats.bad) and
 *   ignored. Nothing here logs.
 * - Refusals: the daemon answers a subscription or snapshot request it
 *   will not serve with $error and a reason (daemon/publish.c). Only "too
 *   many subscribers" can clear by itself: that is a REFUSED event, and the
 *   subscriber tries again after the heartbeat timeout. Any other reason
 *   (the key's role may not read the prefix, a revoked key, a request the
 *   daemon finds malformed or too long) would come again for the same
 *   request: that is a DENIED event, after which the subscriber is stopped
 *   for good (pump and run return -EACCES; the state held stays readable).
 *   Several prefixes: one denied prefix stops the whole subscriber.
 * - Security: with opts.curve on, both sockets (and their
 *   replacements after a resync) use ZeroMQ CURVE with those keys. A
 *   handshake the daemon's ZAP handler refuses with status 400 (a key it
 *   does not know) is DENIED too (seen by a socket monitor on the
 *   subscription socket, read at each pump). Any other failed handshake (a
 *   wrong server key, plain text against CURVE) looks like a silent daemon:
 *   no heartbeat, so resyncs ("no heartbeat for 3 s") until it is fixed.
 * - Not thread-safe: use one subscriber from one thread at a time. */
#ifndef COHORT_SUB_H
#define COHORT_SUB_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <zmq.h>
#include "cohort_keys.h"

#define COHORT_SUB_DEFAULT_PUBLISH "tcp://127.0.0.1:7401"
#define COHORT_SUB_DEFAULT_SNAPSHOT "tcp://127.0.0.1:7402"
#define COHORT_SUB_MAX_PREFIXES 64 /* prefixes per subscriber */
#define COHORT_SUB_MAX_TOPIC 1024  /* bytes in a topic or prefix */
#define COHORT_SUB_POLLITEMS 2     /* most items cohort_sub_pollitems fills */

/* One topic's document, as handed to the update callback and the queries.
 * Everything is owned by the subscriber: valid during the callback, or for
 * a query until the next pump, run or destroy (json_incref doc to keep it). */
typedef struct {
    const char *topic; /* the topic */
    const json_t *doc; /* the document; NULL when the topic was removed */
    const char *epoch; /* the daemon run it belongs to (16 hex digits) */
    uint64_t rev;      /* the topic's revision in that epoch */
    uint64_t seq;      /* the log sequence the document reflects */
    int snapshot;      /* 1: applied from a snapshot, 0: from a live update */
} cohort_sub_doc_t;

/* What the event callback reports. */
typedef enum {
    COHORT_SUB_SYNCED = 1, /* a complete snapshot and the queue are applied: the state is current */
    COHORT_SUB_RESYNC = 2, /* the state is stale and being rebuilt; reason says why */
    COHORT_SUB_RETRY = 3,  /* a snapshot request failed and is sent again; reason says why */
    COHORT_SUB_REFUSED = 4, /* the daemon refused a subscription for now (its $error reason,
                               "too many subscribers"): tried again after the heartbeat
                               timeout */
    COHORT_SUB_DENIED = 5,  /* the daemon refused a subscription or a snapshot for good (its
                               $error reason, e.g. the key's role may not read the prefix):
                               the subscriber has stopped; pump and run return -EACCES */
} cohort_sub_event_t;

/* Called for every applied document (and removal); arg is opts.arg. */
typedef void(cohort_sub_update_fn)(void *arg, const cohort_sub_doc_t *doc);

/* Called for every event; reason is "" for SYNCED, never NULL, valid only
 * during the call (at most 255 bytes). */
typedef void(cohort_sub_event_fn)(void *arg, cohort_sub_event_t ev, const char *reason);

/* Subscriber options. Zero-initialise, then set what you need: every 0
 * field takes the default given. */
typedef struct {
    const char *publish; /* daemon PUB endpoint (default tcp://127.0.0.1:7401); copied */
    const char
        *snapshot; /* daemon snapshot ROUTER endpoint (default tcp://127.0.0.1:7402); copied */
    const char *const *prefixes; /* topic prefixes to follow, "" for all; copied; required */
    size_t nprefixes;            /* how many (1 to COHORT_SUB_MAX_PREFIXES) */
    void *zctx;                  /* ZeroMQ context to use (borrowed), or NULL for a private one */
    cohort_sub_update_fn *on_update; /* optional: each applied document */
    cohort_sub_event_fn *on_event;   /* optional: synced, resync, retry */
    void *arg;                       /* passed to both callbacks */
    uint32_t heartbeat_timeout_ms;   /* resync after this long without "system" (default 3000) */
    uint32_t snapshot_timeout_ms;    /* retry a snapshot request after this long without a reply
                                        message (default 2000) */
    uint32_t queue_max;     /* most updates queued before the snapshot is in (default 100000) */
    size_t queue_bytes_max; /* most bytes queued before the snapshot is in (default 64 MiB) */
    uint32_t max_msg_bytes; /* ZMQ_MAXMSGSIZE for both sockets (default 16 MiB) */
    uint32_t drop_every;    /* TESTS ONLY: discard every Nth topic update received (0: none) */
    const cohort_curve_t *curve; /* NULL or !on: plaintext; else CURVE keys for both sockets
                                    (copied, kept for reconnects, wiped at destroy) */
} cohort_sub_opts_t;

/* Counters since the subscriber was made, and the last heartbeat. */
typedef struct {
    uint64_t received;          /* messages read from the SUB socket (all kinds) */
    uint64_t heartbeats;        /* "system" heartbeats among them */
    uint64_t applied;           /* documents stored (snapshot entries and live updates) */
    uint64_t stale;             /* updates ignored as old news */
    uint64_t queued;            /* updates that waited in the pre-snapshot queue */
    uint64_t dropped;           /* updates discarded on purpose (drop_every) */
    uint64_t bad;               /* messages ignored as malformed */
    uint64_t snapshot_requests; /* snapshot requests sent */
    uint64_t snapshot_retries;  /* requests that failed and were sent again */
    uint64_t syncs;             /* complete snapshots applied (SYNCED events) */
    uint64_t resyncs;           /* RESYNC events */
    uint64_t refused;           /* requests the daemon refused (REFUSED and DENIED events) */
    uint64_t head_seq;          /* head_seq of the last heartbeat (0: none yet) */
    uint64_t topics;            /* topics of the last heartbeat */
} cohort_sub_stats_t;

typedef struct cohort_sub_t cohort_sub_t;

/* Creates a subscriber and starts connecting (asynchronously) to both
 * endpoints. Returns it, or NULL with errno set: EINVAL (no or too many
 * prefixes, a prefix too long, a bad endpoint), ENOMEM, or a ZeroMQ errno. */
cohort_sub_t *cohort_sub_new(const cohort_sub_opts_t *opts);

/* Closes the sockets (linger 0), frees the state and everything else, and
 * nulls *self_p. No callback is called. Idempotent; NULL and
 * *self_p == NULL are fine. */
void cohort_sub_destroy(cohort_sub_t **self_p);

/* Does all pending work without blocking: reads both sockets (a bounded
 * number of messages), applies snapshots and updates (calling the
 * callbacks), sends snapshot requests, and handles the timers. Call after
 * zmq_poll reports one of the pollitems or its timeout passes. Returns the
 * number of documents applied (>= 0), or a negative errno (e.g. -ETERM;
 * -EACCES from the DENIED event on, every time). */
int cohort_sub_pump(cohort_sub_t *self);

/* Fills items (room for COHORT_SUB_POLLITEMS) for zmq_poll with ZMQ_POLLIN
 * on the sockets in use, and returns how many it filled. The sockets change
 * when the subscriber reconnects: refill after every pump. */
int cohort_sub_pollitems(cohort_sub_t *self, zmq_pollitem_t *items);

/* Milliseconds until pump has timer work (0: now); never -1, since the
 * heartbeat timer always runs. A poll timeout for zmq_poll. */
long cohort_sub_timeout(cohort_sub_t *self);

/* Polls and pumps for timeout_ms (-1: no limit), or until cohort_sub_stop
 * is called. Returns 0 when the time is up, 1 when stopped, or a negative
 * errno (-EINTR when a signal interrupted the poll). */
int cohort_sub_run(cohort_sub_t *self, long timeout_ms);

/* Makes cohort_sub_run return 1 after the current pump (e.g. from a
 * callback). */
void cohort_sub_stop(cohort_sub_t *self);

/* 1 when the state is current (a snapshot and the queue are applied and no
 * resync is under way), else 0. */
int cohort_sub_synced(const cohort_sub_t *self);

/* The epoch of the state held, or "" before the first snapshot. Owned by
 * the subscriber. */
const char *cohort_sub_epoch(const cohort_sub_t *self);

/* Copies topic's current document into out. Returns 0, or -ENOENT (not
 * held, or removed). out's pointers are the subscriber's. */
int cohort_sub_get(const cohort_sub_t *self, const char *topic, cohort_sub_doc_t *out);

/* Called by cohort_sub_each for each topic; a non-zero return stops. */
typedef int(cohort_sub_each_fn)(void *arg, const cohort_sub_doc_t *doc);

/* Calls fn for every held topic starting with prefix (NULL or "" for all),
 * in sorted order. Returns how many calls were made. fn must not pump. */
size_t cohort_sub_each(const cohort_sub_t *self, const char *prefix, cohort_sub_each_fn *fn,
                       void *arg);

/* Number of topics held (removed ones not counted). */
size_t cohort_sub_count(const cohort_sub_t *self);

/* Copies the counters into out. */
void cohort_sub_stats(const cohort_sub_t *self, cohort_sub_stats_t *out);

/* Every published version of a release topic ("release/..."), asked of
 * the daemon's snapshot endpoint (docs/protocol.md, "Release history"):
 * one {"releases": topic} request on a DEALER of its own (in zctx, or a
 * private context when NULL; CURVE with curve's keys when curve->on),
 * waiting up to timeout_ms (<= 0: 5000) for the answer. Returns a new
 * JSON array of the documents, oldest first (empty if the topic has none),
 * or NULL with a message in err and *code (if not NULL) set: -EACCES (the
 * daemon refused: the key's role may not read the topic, or not a release
 * topic; its reason in err), -ETIMEDOUT (no answer), -EPROTO (a malformed
 * answer), or another negative errno. *omitted (if not NULL) gets the
 * number of older versions the daemon's bound left out (0 normally).
 * Blocking; not tied to a subscriber, so any thread may call it. */
json_t *cohort_sub_releases(void *zctx, const char *snapshot, const cohort_curve_t *curve,
                            const char *topic, long timeout_ms, size_t *omitted, int *code,
                            char *err, size_t errlen);

/* Name of an event ("SYNCED", "RESYNC", "RETRY", "REFUSED", "DENIED");
 * "UNKNOWN" otherwise. */
const char *cohort_sub_event_name(cohort_sub_event_t ev);

#endif
