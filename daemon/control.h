/* control.h: the daemon's control endpoint, for operator requests
 * (docs/protocol.md, "Control"). One ZeroMQ ROUTER socket bound to an
 * ipc:// endpoint (default ipc://<data-dir>/control.sock); each request is
 * one JSON frame, optionally after an empty delimiter (REQ clients), and
 * gets exactly one JSON reply frame in the same envelope:
 *
 *   {"backup":"/abs/dir"}
 *     -> {"ok":true,"backup":"/abs/dir","seq":S,"ms":T}
 *     -> {"ok":false,"error":"why"}
 *
 * "backup" writes a consistent point-in-time checkpoint of the store into
 * dir (store_checkpoint); S is its head sequence. dir must be absolute; it
 * must not exist or be an empty directory.
 *
 * Contracts:
 * - Loop thread only, except the checkpoint itself, which runs on libuv's
 *   thread pool (uv_queue_work): nothing here blocks the loop or ingest.
 *   Every send is ZMQ_DONTWAIT; a reply that cannot be queued (client
 *   gone) is dropped and logged.
 * - One backup at a time: a backup request while one runs is answered
 *   {"ok":false,"error":"busy: ..."} at once.
 * - Access control: with a key table (auth) the socket is a CURVE server
 *   and only operator keys are served (checked per request, so a revoked
 *   key is refused at once); every other request gets {"ok":false,...}.
 *   Also, only ipc:// endpoints outside the abstract namespace are
 *   accepted, and the socket file is made mode 0600 after the bind (the
 *   data directory itself is 0700).
 * - The store must stay open until the control is destroyed and the loop
 *   has run its last callbacks (store_close after uv_run returns). */
#ifndef COHORT_CONTROL_H
#define COHORT_CONTROL_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "auth.h"
#include "store.h"

typedef struct control_t control_t;

/* Counters, for logs and tests. Monotonic since start. */
typedef struct {
    uint64_t requests; /* request messages received */
    uint64_t backups;  /* backups completed */
    uint64_t failed;   /* requests answered with "ok":false (bad, busy, failed backup) */
    uint64_t lost;     /* replies that could not be queued */
} control_stats_t;

/* Binds a ROUTER socket at endpoint (ipc:// only) in zctx and serves
 * requests on loop against store; auth (borrowed, may be NULL) and
 * curve_secret as for publish_new. Returns 0 and *out, or a negative errno
 * with a message in err (nothing left open). */
int control_new(control_t **out, uv_loop_t *loop, void *zctx, const char *endpoint, store_t *store,
                auth_t *auth, const char *curve_secret, char *err, size_t errlen);

/* Copies the counters. */
void control_stats(const control_t *self, control_stats_t *out);

/* Stops taking requests. A backup in progress finishes on the thread pool
 * (its request keeps the loop running); its reply is still sent, then the
 * socket is closed (lingering up to 500 ms) and the memory freed. Without
 * one, the socket is closed now; the bridge's handles close on the loop.
 * Nulls *self_p. Idempotent. */
void control_destroy(control_t **self_p);

#endif
