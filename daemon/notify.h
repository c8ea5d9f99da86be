/* notify.h: cohortd's side of the service manager protocol (sd_notify(3),
 * through Debian's libsystemd), for cohortd.service (Type=notify).
 *
 * What is sent, on the socket named by NOTIFY_SOCKET:
 * - READY=1 (with a STATUS= line) by notify_ready: main calls it only once
 *   the log is open, the projections are loaded and every socket is bound,
 *   and again after each reload.
 * - STATUS=seq N, A agents, S subscribers: with READY=1, then refreshed
 *   every STATUS_MS, sent only when the text changed. N is the last durable
 *   sequence, A and S the connected peers of the ingest and publish sockets
 *   (ingest_stats_t.peers, publish_stats_t.peers).
 * - WATCHDOG=1 from a timer on the daemon's loop every half of the interval
 *   sd_watchdog_enabled gives (WATCHDOG_USEC, for this pid): a loop that
 *   hangs stops the pings and the service manager restarts the daemon.
 * - RELOADING=1 (with MONOTONIC_USEC=) by notify_reloading, before SIGHUP is
 *   handled; notify_ready ends the reload.
 * - STOPPING=1 by notify_stopping, when shutdown starts.
 *
 * Without NOTIFY_SOCKET every call is a no-op and no timer runs. A send
 * that fails is logged once and otherwise ignored: the daemon keeps
 * running (without READY=1 the service manager fails the start itself).
 *
 * Loop thread only. libuv close contract: the timers are unreferenced (they
 * never keep the loop running) and closed by notify_destroy; the memory is
 * freed in their close callbacks, so the loop must run once more after it
 * (uv_run(UV_RUN_NOWAIT) before uv_loop_close). */
#ifndef COHORT_NOTIFY_H
#define COHORT_NOTIFY_H
#include <stddef.h>
#include <uv.h>

#include "ingest.h"
#include "publish.h"

typedef struct notify_t notify_t;

/* Reads NOTIFY_SOCKET and the watchdog settings and, when there is a
 * socket, starts the watchdog timer (if enabled) on loop. ingest and pub
 * (borrowed; either may be NULL) are read for the STATUS line; they must
 * stay alive until notify_stopping or notify_destroy. Returns 0 and *out,
 * or a negative errno with a message in err (a timer already initialised
 * is closing: run the loop to free it). */
int notify_new(notify_t **out, uv_loop_t *loop, ingest_t *ingest, publish_t *pub, char *err,
               size_t errlen);

/* Sends READY=1 with the current STATUS= line and starts the periodic
 * STATUS refresh (first call). Ends a reload begun by notify_reloading. */
void notify_ready(notify_t *self);

/* Sends RELOADING=1 and MONOTONIC_USEC=now: a reload (SIGHUP) starts; call
 * notify_ready when it is done. */
void notify_reloading(notify_t *self);

/* Sends STOPPING=1 with a last STATUS= line, stops the STATUS refresh and
 * forgets ingest and pub (they may be destroyed after this returns). The
 * watchdog keeps pinging while the loop runs. Later calls do nothing. */
void notify_stopping(notify_t *self);

/* Messages sent successfully so far (all kinds); for tests and logs. */
uint64_t notify_sent(const notify_t *self);

/* Stops and closes the timers; the memory is freed in their close
 * callbacks (or at once when there are none). Nulls *self_p. Idempotent. */
void notify_destroy(notify_t **self_p);

#endif
