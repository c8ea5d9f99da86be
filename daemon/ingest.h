/* ingest.h: the ingest pipeline. Reads agents' frames from a ROUTER socket
 * and carries each event down one path:
 *
 *   frame -> decode -> validate -> batch -> commit -> ack
 *
 * Contracts:
 * - Acks are sent only after a WAL sync that started after the batch's write returned; an
 *   event is never acked ACCEPTED or DUPLICATE unless it is durable.
 * - A batch is written, then its WAL synced, on worker threads
 *   (uv_queue_work), one batch per stage; while they run the loop keeps
 *   receiving into the next batch (group commit), and the next batch is
 *   written while the previous one syncs. A small batch with nothing in
 *   flight is written and synced on the loop itself (fewer thread hand-offs
 *   at low load).
 * - Every request gets exactly one reply frame, with one ack per event in
 *   request order, unless the agent is gone or its queue is full (counted).
 * - A bad frame never stops the pipeline: it is answered or dropped, and
 *   counted.
 * - With CURVE (opts auth set), each frame's ZAP User-Id is checked against
 *   the key table in force when the frame is taken: a key revoked since the
 *   handshake gets FRAME_UNAUTHORISED for the whole frame, and each event
 *   must be one its key may write (auth_may_submit; for a definition, also
 *   of a programme the key owns, auth_may_define), else it is rejected
 *   REJECT_UNAUTHORISED and never stored; refusals are logged with the key's
 *   fingerprint. Every definition acked ACCEPTED is logged (programme or
 *   cohort id, new or changed, seq, the key's fingerprint and role), with a
 *   second line when it adds special-category positive-action aims.
 * - Memory is bounded: when the open batch is full the bridge pauses
 *   and ZeroMQ's high-water marks push back on the agents (at most one
 *   queued frame per connection besides the one being read); replies
 *   ZeroMQ holds for clients that do not read are capped in bytes (larger
 *   ones become a short FRAME_UNAVAILABLE).
 * - The projections are touched by one thread at a time: a worker while a
 *   write or render job runs, the loop only while none can run (a small
 *   batch written inline, start, stop). Status documents are rendered after
 *   the write that changed them and published only after its sync made it
 *   durable; if a write or sync fails, nothing of the batch is published
 *   and the projections (which saw it) are rebuilt from the checkpoint and
 *   the log before the next batch.
 * - Erasure: after a batch with a ParticipantErased is durable, a timer on
 *   the loop starts a job that purges the destroyed key from the store's
 *   files and the ack journal (store_purge), at most every 5 s, so within
 *   10 s with or without further traffic (docs/security.md). A purge owed
 *   at start (the store's flag) runs at once, and one owed at stop runs
 *   then. */
#ifndef COHORT_INGEST_H
#define COHORT_INGEST_H
#include <stdint.h>
#include <uv.h>
#include "auth.h"
#include "proj.h"
#include "publish.h"
#include "store.h"
#include "validate.h"

typedef struct ingest_t ingest_t;

#define INGEST_REJECT_SLOTS 32 /* rejected_by[]: RejectCode 1..31 (proto/cohort.proto) */
#define INGEST_FRAME_SLOTS 16  /* refused_by[]: FrameError 1..15 */

/* Counters, for logs, metrics and tests. Monotonic since start. */
typedef struct {
    uint64_t frames;         /* frames received */
    uint64_t frames_refused; /* frames answered with a FrameError or dropped */
    uint64_t accepted;       /* events newly stored */
    uint64_t duplicates;     /* events already stored */
    uint64_t rejected;       /* events refused by validation */
    uint64_t unavailable;    /* events not stored because a commit failed */
    uint64_t commits;        /* synced writes */
    uint64_t replies_lost;   /* replies that could not be sent (peer gone/full) */
    uint64_t replies_shed;   /* replies replaced by FRAME_UNAVAILABLE: the replies ZeroMQ
                                held were at their byte budget (clients not reading) */
    uint64_t unauthorised;   /* events rejected because their key may not write them */
    uint64_t peers;          /* a gauge: agent connections now (zmonitor_peers) */
    uint64_t conns_refused;  /* connections closed at accept by the limits (admit.h) */
    uint64_t rejected_by[INGEST_REJECT_SLOTS]; /* rejected, by RejectCode (0: a code beyond) */
    uint64_t refused_by[INGEST_FRAME_SLOTS];   /* frames_refused, by FrameError (0: beyond) */
} ingest_stats_t;

/* Commit histograms, for metrics. Bucket i of a histogram counts the
 * observations v with bounds[i-1] < v <= bounds[i]; the last bucket (index
 * N) those above the last bound. Not cumulative. Since start. */
#define INGEST_BATCH_BUCKETS 15   /* events per batch: 1, 2, 4, ..., 16384 */
#define INGEST_LATENCY_BUCKETS 15 /* seconds: 0.0001 ... 5 */
extern const double ingest_batch_bounds[INGEST_BATCH_BUCKETS];
extern const double ingest_latency_bounds[INGEST_LATENCY_BUCKETS];
typedef struct {
    uint64_t batch[INGEST_BATCH_BUCKETS + 1];     /* durable batches by events taken (any result) */
    uint64_t batch_sum;                           /* events in those batches */
    uint64_t latency[INGEST_LATENCY_BUCKETS + 1]; /* batches that stored events, by the
                                                     seconds spent in their write (RocksDB
                                                     WriteBatch) plus their WAL sync */
    double latency_sum;                           /* those seconds, summed */
} ingest_hist_t;

#define INGEST_DEFAULT_MAX_CONNS 64          /* agent connections kept at most */
#define INGEST_DEFAULT_MAX_CONNS_PER_ADDR 16 /* ... from one network address */

/* What the pipeline works with. Everything is borrowed and must outlive
 * the ingest. */
typedef struct {
    const char *endpoint;          /* ROUTER endpoint for agents */
    store_t *store;                /* the event store */
    proj_t **proj;                 /* the projections (replaced after a failed write) */
    const proj_config_t *proj_cfg; /* their config, for a rebuild */
    publish_t *pub;                /* status publisher, or NULL */
    uint64_t checkpoint_every;     /* checkpoint after this many accepted events (0 = never) */
    unsigned coalesce_ms;          /* render a status topic at most once per this (0 = always) */
    auth_t *auth;                  /* CURVE: the key table every frame is checked against
                                      (borrowed); NULL = plaintext development mode */
    const char *curve_secret;      /* the server's secret key (Z85) when auth is set */
    validate_ref_form_t ref_form;  /* refs accepted (validate.h); 0 = pseudonyms only */
    unsigned max_conns;            /* agent connections kept at most (admit.h; 0: the default) */
    unsigned max_conns_per_addr;   /* ... from one address (0: the default) */
} ingest_opts_t;

/* Binds a ROUTER socket at o->endpoint in zctx and starts receiving on
 * loop; publishes the projections' current documents first. Returns 0 and
 * *out, or a negative errno with a message in err. */
int ingest_new(ingest_t **out, uv_loop_t *loop, void *zctx, const ingest_opts_t *o, char *err,
               size_t errlen);

/* Stops taking new frames, commits and acks what was already received, then
 * calls done(arg) on the loop. Call once. */
void ingest_stop(ingest_t *self, void (*done)(void *arg), void *arg);

/* Closes the socket (lingering for unsent acks) and the libuv handles; the
 * memory is freed once they are closed. Nulls *self_p. Idempotent.
 * Call after the stop callback, or on a failed start. */
void ingest_destroy(ingest_t **self_p);

/* Applies the connection limits to every agent connection accepted so far
 * (see auth_set_before_answer); arg is the ingest_t. */
void ingest_settle_connections(void *arg);

/* Copies the counters. */
void ingest_stats(const ingest_t *self, ingest_stats_t *out);

/* The last durable sequence, as the loop thread knows it. */
uint64_t ingest_head(const ingest_t *self);

/* Copies the commit histograms. Loop thread. */
void ingest_histograms(const ingest_t *self, ingest_hist_t *out);

/* Calls fn(arg, agency, unix_s) for every agency that had an event acked
 * ACCEPTED or DUPLICATE since start (so it passed validation and, with
 * CURVE, its key may write that agency's events), with the wall-clock time
 * of the last such ack; in no particular order. At most INGEST_AGENCIES_MAX
 * agencies are tracked (more only in plaintext development mode, where any
 * agency id is accepted); later ones are not. Loop thread. */
#define INGEST_AGENCIES_MAX 1024
void ingest_each_agency(const ingest_t *self,
                        void (*fn)(void *arg, const char *agency, int64_t unix_s), void *arg);

#endif
