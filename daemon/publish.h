/* publish.h: status publishing (docs/protocol.md, "Status publishing").
 * An XPUB socket carries updates, a ROUTER socket answers snapshot requests
 * (the ZeroMQ Guide's Clone pattern). Every message is [topic][envelope],
 * envelope = {"topic":T,"epoch":E,"rev":n,"seq":S,"doc":D}.
 *
 * Contracts:
 * - Loop thread only: every function runs on the loop given to publish_new.
 * - Never blocks on a peer: every send is ZMQ_DONTWAIT. The PUB socket drops
 *   for a subscriber whose queue is full (SNDHWM 10,000); the subscriber
 *   sees the rev gap. A snapshot whose reply cannot be queued (peer gone,
 *   its queue full) is abandoned and counted.
 * - rev is per topic and per epoch, +1 for every message of that topic,
 *   including the "doc":null of a removal. A removed topic leaves the
 *   snapshots but its rev is kept, so a topic that comes back continues at
 *   rev+1 and a subscriber never mistakes it for old news.
 * - Coalescing: at most one message per topic per coalesce_ms; the latest
 *   pending document wins and is sent when the interval has passed.
 * - The seq reported by heartbeats and snapshot end markers never claims
 *   more than was published: while a topic has a pending document it is
 *   at most the publish_set_seq value in force when that topic became
 *   pending. It never decreases while publish_set_seq does not.
 * - Documents are never logged. */
#ifndef COHORT_PUBLISH_H
#define COHORT_PUBLISH_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"

typedef struct publish_t publish_t;

/* Counters, for logs, metrics and tests. Monotonic since start. */
typedef struct {
    uint64_t published;        /* topic updates sent on the PUB socket (removals included) */
    uint64_t coalesced;        /* pending documents replaced before they were sent */
    uint64_t snapshots;        /* snapshots served completely (end marker queued) */
    uint64_t heartbeats;       /* "system" heartbeats sent */
    uint64_t dropped;          /* PUB messages the socket refused (update or heartbeat) */
    uint64_t snapshots_failed; /* snapshots abandoned, or $error replies lost (peer gone/full) */
    uint64_t bad_requests;     /* snapshot requests answered with $error */
    uint64_t subscriptions;    /* (un)subscriptions applied, whole or narrowed to the role */
    uint64_t subs_refused;     /* (un)subscriptions ignored: nothing the key may read, or revoked */
    uint64_t peers;            /* a gauge: subscriber connections now (zmonitor_peers) */
    uint64_t snap_requests;    /* snapshot requests received (served, failed or refused) */
} publish_stats_t;

/* Binds an XPUB socket at pub_ep and a snapshot ROUTER at snap_ep in zctx,
 * on loop. coalesce_ms: minimum time between two updates of one topic (0 =
 * none). With auth (borrowed; it must outlive the publisher) both sockets
 * are CURVE servers with curve_secret (Z85, borrowed), and a key gets only
 * the topics its role may read (auth_read_prefixes), by subscription and by
 * snapshot; with auth NULL (plaintext development mode) every client gets
 * everything. Starts the 1 s system heartbeat. Returns 0 and *out, or a
 * negative errno with a message in err. On failure the handles already
 * initialised are closing: run the loop to free them. */
int publish_new(publish_t **out, uv_loop_t *loop, void *zctx, const char *pub_ep,
                const char *snap_ep, unsigned coalesce_ms, auth_t *auth, const char *curve_secret,
                char *err, size_t errlen);

/* Closes the XPUB socket, dropping every subscriber, and binds a new one at
 * the same endpoint: after keys are revoked (libzmq never re-authenticates
 * an open connection, and an XPUB cannot drop one peer). Subscribers
 * reconnect, are authenticated again, and see a rev gap that makes them
 * take a snapshot. Blocks the loop until the old listener is gone (at most
 * 1 s). Returns 0, or a negative errno with a message in err (nothing is
 * published until a later call succeeds; snapshots still work). */
int publish_drop_subscribers(publish_t *self, char *err, size_t errlen);

/* A new document for topic (compact JSON text, copied; NULL = topic
 * removed) reflecting log sequence seq. Publishes now if the topic's last
 * message was at least coalesce_ms ago, otherwise keeps it as the topic's
 * pending document (replacing an older pending one) and publishes it when
 * the interval has passed. Removing a topic that is not current does
 * nothing. Returns 0, -ENOMEM, or -EINVAL for a NULL or "system" topic or
 * one that is not UTF-8. */
int publish_update(publish_t *self, const char *topic, const char *doc, uint64_t seq);

/* The log sequence whose status has now been handed over completely (used
 * by heartbeats and the snapshot end marker). */
void publish_set_seq(publish_t *self, uint64_t seq);

/* Copies the counters. */
void publish_stats(const publish_t *self, publish_stats_t *out);

/* Publishes every pending document now (used at shutdown). */
void publish_flush(publish_t *self);

/* Closes the sockets (lingering up to 500 ms) and the libuv handles; frees
 * in the close callbacks. Pending documents are dropped (call
 * publish_flush first to send them). Nulls *self_p. Idempotent. */
void publish_destroy(publish_t **self_p);

#endif
