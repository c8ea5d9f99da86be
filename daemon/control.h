/* control.h: the daemon's control endpoint, for operator requests
 * (docs/protocol.md, "Control"; the client is cohortctl). One ZeroMQ ROUTER
 * socket bound to an ipc:// endpoint (default ipc://$RUNTIME_DIRECTORY/
 * control.sock under systemd, else ipc://<data-dir>/control.sock); each
 * request is one JSON frame, optionally after an empty delimiter (REQ
 * clients), and gets exactly one reply message in the same envelope. The
 * reply's first frame is JSON; only "tail" adds more frames.
 *
 *   {"status":{}}
 *     -> {"ok":true,"version":"0.1.0","pid":P,"head_seq":N,"uptime_s":U,
 *         "agents":A,"subscribers":S,"mode":"curve"|"plaintext",
 *         "client_keys":K (curve only),"data_dir":"/abs","control":"ipc://...",
 *         "backup_running":false}
 *     head_seq is the last durable (acknowledgeable) sequence; agents and
 *     subscribers are the connections now on the ingest and publish sockets.
 *
 *   {"stats":{}}
 *     -> {"ok":true,"uptime_s":U,"ingest":{...},"publish":{...},"control":{...}}
 *     the counters of ingest_stats_t, publish_stats_t and control_stats_t
 *     under their field names (monotonic since start, except the "peers"
 *     gauges); ingest.rejected_by / refused_by map RejectCode / FrameError
 *     names to their non-zero counts.
 *
 *   {"tail":{"from":F,"limit":L}}          F >= 0; L optional, 1..TAIL_MAX
 *     -> frame 1: {"ok":true,"from":F,"count":C,"next":X,"head":H}
 *        frames 2..C+1: one log entry each: its sequence (8 bytes,
 *        big-endian) then the packed Event exactly as stored.
 *     The entries are the first C log entries with F <= seq <= H, in order,
 *     where H is the durable head when the request was taken (an entry
 *     appended but not yet synced is never shown). C <= L (default
 *     CONTROL_TAIL_DEFAULT, at most CONTROL_TAIL_MAX) and the entries' bytes
 *     stay under CONTROL_TAIL_BYTES (but a page holds at least one entry
 *     when one is due). X is the sequence to ask for next (last seq + 1, or
 *     F when C = 0); the client pages with from = X until C = 0 or X > H of
 *     its first page (the log as it was when it started).
 *
 *   {"backup":"/abs/dir"}
 *     -> {"ok":true,"backup":"/abs/dir","seq":S,"ms":T}
 *     writes a consistent point-in-time checkpoint of the store into dir
 *     (store_checkpoint); S is its head sequence. dir must be absolute; it
 *     must not exist or be an empty directory.
 *
 *   Any failure: {"ok":false,"error":"why"} (one frame), e.g. a malformed or
 *   unknown request (anything but exactly one of the members above, with
 *   exactly the members shown), "busy: ...", or not an operator's key.
 *
 * Contracts:
 * - Loop thread only, except the backup's checkpoint and the tail's reads,
 *   which run on libuv's thread pool (uv_queue_work), at most one of each
 *   at a time (so control never takes more than two of the pool's threads
 *   from ingest): nothing here blocks the loop. Further tail requests wait
 *   in a queue of CONTROL_TAIL_QUEUE, beyond which they are answered
 *   "busy"; a second backup while one runs is answered "busy" at once.
 *   Every send is ZMQ_DONTWAIT; a reply that cannot be queued (client gone
 *   or not reading) is dropped and counted (lost).
 * - tail reads the log (store_scan) on the thread pool, beside commits.
 *   RocksDB allows that; what it relies on besides is that a store_reopen
 *   (ingest, after a failed write) never closes the database under a scan:
 *   store_scan must hold the store's read lock, as store_checkpoint does.
 * - status and stats read counters on the loop (ingest_stats, publish_stats,
 *   ingest_head), which is where those are written.
 * - Access control: with a key table (auth) the socket is a CURVE server
 *   and only operator keys are served (checked per request, so a revoked
 *   key is refused at once); every other request gets {"ok":false,...}.
 *   Also, only ipc:// endpoints outside the abstract namespace are
 *   accepted, and the socket file is made mode 0660 after the bind: the
 *   daemon's user and group may connect, and the directory it is in gates
 *   everyone else (the data directory is 0700; systemd's RuntimeDirectory
 *   /run/cohortd is 0750 with group cohortd, whose members are the
 *   operators).
 * - The store, ingest and publisher must stay open until the control is
 *   destroyed and the loop has run its last callbacks (store_close after
 *   uv_run returns; control_destroy before ingest_destroy and
 *   publish_destroy). */
#ifndef COHORT_CONTROL_H
#define COHORT_CONTROL_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "auth.h"
#include "ingest.h"
#include "publish.h"
#include "store.h"

#define CONTROL_TAIL_DEFAULT 1000     /* entries per tail page when no limit is given */
#define CONTROL_TAIL_MAX 10000        /* largest limit taken (larger ones are clamped) */
#define CONTROL_TAIL_BYTES (1u << 20) /* a page's event bytes stay under this */
#define CONTROL_TAIL_QUEUE 16         /* tail requests waiting for the one in flight */

typedef struct control_t control_t;

/* Counters, for logs, metrics and tests. Monotonic since start. */
typedef struct {
    uint64_t requests;     /* request messages received */
    uint64_t backups;      /* backups completed */
    uint64_t failed;       /* requests answered with "ok":false (bad, busy, failed, refused) */
    uint64_t lost;         /* replies that could not be queued */
    uint64_t statuses;     /* status requests answered */
    uint64_t stats;        /* stats requests answered */
    uint64_t tails;        /* tail pages sent */
    uint64_t tail_entries; /* log entries sent in them */
} control_stats_t;

/* What the endpoint serves. Everything is borrowed and must outlive the
 * control (see the contracts above). */
typedef struct {
    const char *endpoint;     /* ipc://PATH to bind */
    store_t *store;           /* the event store (backup, tail) */
    ingest_t *ingest;         /* status/stats/tail: head and counters; NULL = none (tests:
                                 the head is then store_head, no commits may run) */
    publish_t *pub;           /* status/stats: publisher counters, or NULL */
    auth_t *auth;             /* key table (CURVE, operators only); NULL = plaintext */
    const char *curve_secret; /* the server's secret key (Z85) when auth is set */
    const char *data_dir;     /* status: the data directory (made absolute), or NULL */
} control_opts_t;

/* Binds a ROUTER socket at o->endpoint (ipc:// only) in zctx and serves
 * requests on loop. Returns 0 and *out, or a negative errno with a message
 * in err (nothing left open). */
int control_new(control_t **out, uv_loop_t *loop, void *zctx, const control_opts_t *o, char *err,
                size_t errlen);

/* Copies the counters. */
void control_stats(const control_t *self, control_stats_t *out);

/* Stops taking requests. Tail requests still waiting are answered
 * {"ok":false,"error":"the daemon is stopping"}. A backup or tail page in
 * progress finishes on the thread pool (its request keeps the loop
 * running); its reply is still sent, then the socket is closed (lingering
 * up to 500 ms) and the memory freed. Without one, the socket is closed
 * now; the bridge's handles close on the loop. Nulls *self_p. Idempotent. */
void control_destroy(control_t **self_p);

#endif
