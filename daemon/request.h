/* request.h: the request envelope of the daemon's ROUTER sockets (ingest,
 * control, snapshot and publish), checked, authorised and answered in one
 * place.
 *
 * Envelope (docs/protocol.md, "Transport"): a ROUTER hands over
 *   [routing id][payload]        from a DEALER, or
 *   [routing id][""][payload]    from a REQ (the empty delimiter frame),
 * and the reply goes back in the same envelope: the routing id, the
 * delimiter if the request had one, then the reply's frames. Anything else
 * (one frame, more than one payload frame, a non-empty frame where the
 * delimiter belongs, a routing id that is not 1..REQUEST_RID_MAX bytes) is
 * a bad envelope; it is answered WITHOUT a delimiter (the caller says what
 * in its own protocol's words).
 *
 * Authorisation: with a key table, every message is checked against the
 * CURRENT table (auth_check on the connection's ZAP User-Id): libzmq never
 * re-authenticates an open connection, so a key revoked since the
 * handshake must be refused here. What a role may then do is the caller's
 * rule (control: operators only; publish: what the role may read).
 *
 * Usage, in a zbridge handler (parts, n as zbridge_recv gave them):
 *
 *   request_t rq;
 *   int rc = request_check(&rq, parts, n, self->auth, 0);
 *   if (rq.envelope_rc < 0) ... refuse to &rq.peer: bad envelope
 *   else if (rc < 0)         ... refuse to &rq.peer: key no longer allowed
 *   else                     ... serve rq.body, answer with request_reply(sock, &rq.peer, ...)
 *
 * Lifetimes: a request_t and its peer point into the received frames and
 * are valid only while those are open (the handler call). A reply sent
 * later keeps the routing id elsewhere: a request_saved_t (a fixed-size
 * copy, no allocation) or the caller's own buffer, seen through a
 * request_peer_t made from it.
 *
 * Sends: every send is ZMQ_DONTWAIT. The sockets are ZMQ_ROUTER_MANDATORY,
 * so the routing id frame decides for the whole message: EHOSTUNREACH (the
 * peer is gone) or EAGAIN (its queue is full) on it, and nothing is queued.
 *
 * Threads: none of its own; any thread that owns the socket (the loop). */
#ifndef COHORT_REQUEST_H
#define COHORT_REQUEST_H
#include <stddef.h>
#include <zmq.h>

#include "auth.h"

#define REQUEST_RID_MAX 255 /* longest ZeroMQ routing id (ZMQ_ROUTING_ID: 1..255 bytes) */

/* request_check flags. */
#define REQUEST_NO_DELIM 1 /* DEALER peers only: [rid][""][payload] is a bad envelope */

/* Where a reply goes: a peer's routing id and whether its request had an
 * empty delimiter frame. A view: rid points into storage owned elsewhere
 * (the received frame, a request_saved_t, a caller's buffer). */
typedef struct {
    const void *rid; /* the routing id's bytes (borrowed) */
    size_t rid_len;  /* their count (1..REQUEST_RID_MAX for a peer from request_check) */
    int delim;       /* 1: replies start with an empty delimiter frame (REQ peer) */
} request_peer_t;

/* A peer kept for a reply sent later (after a thread-pool job, or from a
 * queue): a copy of its routing id. Plain data: may be copied by value. */
typedef struct {
    unsigned char rid[REQUEST_RID_MAX]; /* the routing id's bytes */
    size_t rid_len;                     /* their count, 0..REQUEST_RID_MAX */
    int delim;                          /* as in request_peer_t */
} request_saved_t;

/* One received request, checked. Points into the frames it was made from
 * (see Lifetimes). */
typedef struct {
    request_peer_t peer; /* whom to answer; delim is 0 when the envelope is bad */
    zmq_msg_t *body;     /* the payload frame, or NULL when the envelope is bad */
    const char *user_id; /* the connection's ZAP User-Id (read only with a key table), or NULL */
    auth_identity_t who; /* with a key table and auth_rc == 0: the key's identity. Without
                            one: role 0, fingerprint "-", every other string "" */
    int envelope_rc;     /* 0, or -EPROTO: a bad envelope */
    int auth_rc;         /* 0 (also without a key table), or -EACCES: the key is not (or no
                            longer) listed with the role and agency it connected with, or the
                            connection has no ZAP identity */
} request_t;

/* Checks the message in parts (n = zbridge_recv's result: the frame count
 * 1..ZBRIDGE_MAX_PARTS, or ZBRIDGE_TOO_MANY when frames were dropped, in
 * which case parts holds the first ZBRIDGE_MAX_PARTS) into *rq: the
 * envelope (flags: REQUEST_NO_DELIM or 0) and, when auth is not NULL, the
 * connection's key against the current table. Both are always checked, so
 * a caller can answer in the order its protocol documents. Returns
 * rq->envelope_rc if it is negative, else rq->auth_rc. *rq points into
 * parts (they must stay open while it is used). */
int request_check(request_t *rq, zmq_msg_t *parts, int n, const auth_t *auth, int flags);

/* The key fingerprint of rq's User-Id for log lines: the first (up to)
 * COHORT_KEY_FP_LEN characters after its second ':' (a Z85 key may hold
 * ':', a role or agency may not), or "-" when there is none. Usable when
 * auth_check refused the User-Id (rq->who is not filled then). */
void request_fingerprint(const request_t *rq, char out[COHORT_KEY_FP_LEN + 1]);

/* Sends [rid]([""])[data[0]]..[data[n-1]] to `to` on the ROUTER sock, every
 * frame ZMQ_DONTWAIT (n >= 1). Returns 0, or the negative errno of the
 * first send that failed (EHOSTUNREACH: the peer is gone; EAGAIN: its
 * queue is full); counting and logging are the caller's. */
int request_send(void *sock, const request_peer_t *to, const void *const *data, const size_t *len,
                 size_t n);

/* request_send of one frame: [rid]([""])[data]. */
int request_reply(void *sock, const request_peer_t *to, const void *data, size_t len);

/* request_send of one frame held in a zmq message (e.g. zero-copy with a
 * free function). Takes msg over: it is sent, or closed when the send
 * fails. Returns as request_send. */
int request_reply_msg(void *sock, const request_peer_t *to, zmq_msg_t *msg);

/* Copies the peer `from` into *to (from->rid_len <= REQUEST_RID_MAX: every
 * peer request_check made). */
void request_save(request_saved_t *to, const request_peer_t *from);

/* A view of a saved peer (valid while *saved is neither changed nor gone). */
request_peer_t request_saved_peer(const request_saved_t *saved);

#endif
