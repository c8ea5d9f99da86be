/* publish.h: status publishing (docs/protocol.md, "Status publishing").
 * Two ROUTER sockets: the publish socket fans updates out to subscribers
 * (DEALERs), the snapshot socket answers snapshot requests (the ZeroMQ
 * Guide's Clone pattern). Every update is [topic][envelope], envelope =
 * {"topic":T,"epoch":E,"rev":n,"seq":S,"doc":D}.
 *
 * Why a ROUTER and not an XPUB: the server, not libzmq, decides per
 * connection what that connection receives. libzmq 4.3.4's XPUB in manual
 * mode applies ZMQ_SUBSCRIBE to its "last pipe", which drifts from the
 * message just read when a peer sends non-subscription messages (a key
 * without read rights could so get another connection's subscription
 * applied to itself). Here the subscription table is ours: one entry per
 * routing id, holding the User-Id it subscribed with and the prefixes it
 * was granted, already narrowed to its role.
 *
 * Contracts:
 * - Loop thread only: every function runs on the loop given to publish_new.
 * - A topic is sent to a connection only if (a) the connection asked for a
 *   prefix of it, (b) the prefix was narrowed to what the connection's key
 *   may read when it was granted, and (c) auth_may_read still allows it at
 *   send time. An entry is forgotten when a message from its routing id
 *   carries another User-Id, when a send finds the routing id gone
 *   (EHOSTUNREACH; the heartbeat finds every gone peer within 1 s), and by
 *   publish_revalidate when its key is revoked or changed.
 * - Only routing ids of the form libzmq generates (5 bytes, first byte 0)
 *   are served: a client that sets another ZMQ_ROUTING_ID is refused, so
 *   no legitimate subscriber has a guessable routing id that another peer
 *   could take over after it disconnects (libzmq starts its counter at a
 *   random value and never tells a peer its id; a peer may present an id
 *   of that form itself, but must then guess the one a subscriber had).
 * - Never blocks on a peer: every send is ZMQ_DONTWAIT with
 *   ZMQ_ROUTER_MANDATORY. A subscriber whose queue is full (PUBLISH_SNDHWM
 *   messages) misses that update and sees the rev gap. The bytes of one
 *   update are shared by every queue that holds it (zmq_msg_copy).
 * - rev is per topic and per epoch, +1 for every message of that topic,
 *   including the "doc":null of a removal. A removed topic leaves the
 *   snapshots but its rev is kept, so a topic that comes back continues at
 *   rev+1 and a subscriber never mistakes it for old news.
 * - Input is bounded before authentication: ZMQ_MAXMSGSIZE (4 KiB on the
 *   publish socket, 64 KiB on the snapshot socket) and ZMQ_RCVHWM.
 * - Documents are never logged; untrusted bytes go to the log only through
 *   cohort_log (which escapes them) and refusals are rate-limited per key. */
#ifndef COHORT_PUBLISH_H
#define COHORT_PUBLISH_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"

#define PUBLISH_SNDHWM 1000  /* queued updates per subscriber; beyond, that subscriber misses */
#define PUBLISH_MAX_MSG 4096 /* largest message a subscriber may send */
#define PUBLISH_SNAP_MAX_MSG 65536            /* largest snapshot request */
#define PUBLISH_SUB_PREFIXES 64               /* granted prefixes per connection */
#define PUBLISH_MAX_SUBS 10000                /* subscriber entries in all */
#define PUBLISH_RELEASES_MAX 1000             /* versions in a {"releases"} answer: the newest */
#define PUBLISH_RELEASES_MAX_BYTES (8u << 20) /* bytes of its "versions" array, at most */

typedef struct publish_t publish_t;

/* What publish_new needs. Strings are borrowed and must outlive the
 * publisher (auth too). */
typedef struct {
    const char *pub_ep;  /* the publish (updates) endpoint */
    const char *snap_ep; /* the snapshot endpoint */
    auth_t *auth;        /* the key table, or NULL: plaintext mode, every topic to every client */
    const char *curve_secret; /* the server's secret key (Z85) when auth is set */
} publish_opts_t;

/* Counters, for logs, metrics and tests. Monotonic since start unless
 * marked as a gauge. */
typedef struct {
    uint64_t published;        /* topic updates made (removals included), once per update */
    uint64_t sent;             /* update messages queued to subscribers (one per subscriber) */
    uint64_t snapshots;        /* snapshots served completely (end marker queued) */
    uint64_t heartbeats;       /* "system" heartbeats made (once per beat) */
    uint64_t dropped;          /* messages a subscriber missed because its queue was full */
    uint64_t snapshots_failed; /* snapshots abandoned, or $error replies lost (peer gone/full) */
    uint64_t bad_requests;     /* snapshot requests answered with $error */
    uint64_t subscriptions;    /* (un)subscriptions applied, whole or narrowed to the role */
    uint64_t subs_refused;     /* (un)subscriptions refused (answered $error) */
    uint64_t gone;             /* subscriber entries forgotten: peer gone or another User-Id */
    uint64_t revoked;          /* subscriber entries forgotten by publish_revalidate */
    uint64_t subscribers;      /* a gauge: subscriber entries now */
    uint64_t peers;            /* a gauge: connections to the publish socket now (zmonitor) */
    uint64_t snap_requests;    /* snapshot requests received (served, failed or refused) */
} publish_stats_t;

/* Binds the publish ROUTER at o->pub_ep and the snapshot ROUTER at
 * o->snap_ep in zctx, on loop. With o->auth both sockets are CURVE servers
 * and a key gets only the topics its role may read (auth_read_prefixes), by
 * subscription and by snapshot; with auth NULL (plaintext development mode)
 * every client may read everything, and both endpoints must be loopback or
 * ipc (checked after binding). Starts the 1 s system heartbeat. Returns 0
 * and *out, or a negative errno with a message in err. On failure the
 * handles already initialised are closing: run the loop to free them. */
int publish_new(publish_t **out, uv_loop_t *loop, void *zctx, const publish_opts_t *o, char *err,
                size_t errlen);

/* Re-checks every subscriber entry against the current key table (after
 * auth_reload) and forgets those whose key is revoked or changed: they get
 * nothing more, and their later subscriptions are refused. Returns the
 * number forgotten. Connections stay open (a ROUTER cannot close one
 * peer); they are bounded like any other. */
size_t publish_revalidate(publish_t *self);

/* A new document for topic (compact JSON text, copied; NULL = topic
 * removed) reflecting log sequence seq: published now to every subscriber
 * entitled to it. Removing a topic that is not current does nothing.
 * Returns 0, -ENOMEM, or -EINVAL for a NULL or "system" topic or one that
 * is not UTF-8. */
int publish_update(publish_t *self, const char *topic, const char *doc, uint64_t seq);

/* The published versions of a release/ topic, oldest first (a JSON array
 * text of documents, proj_release_versions; copied), for the snapshot
 * socket's {"releases": topic} request (docs/protocol.md): replaces what
 * was stored for the topic, keeping only the newest PUBLISH_RELEASES_MAX
 * versions that fit in PUBLISH_RELEASES_MAX_BYTES (the older ones are
 * counted as omitted). Call after publish_update of the same topic.
 * Returns 0, -EINVAL (not a release/ topic, not a JSON array), -ENOENT
 * (the topic was never published) or -ENOMEM. */
int publish_versions(publish_t *self, const char *topic, const char *versions);

/* The log sequence whose status has now been handed over (used by
 * heartbeats and the snapshot end marker), and how many topics the render
 * scheduler still holds back (their documents reflect an earlier seq and
 * will be published when due; 0: every topic reflects seq). */
void publish_set_seq(publish_t *self, uint64_t seq, size_t pending);

/* Copies the counters. */
void publish_stats(const publish_t *self, publish_stats_t *out);

/* Closes the sockets (lingering up to 500 ms) and the libuv handles; frees
 * in the close callbacks. Nulls *self_p. Idempotent. */
void publish_destroy(publish_t **self_p);

#endif
