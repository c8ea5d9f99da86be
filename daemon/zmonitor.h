/* zmonitor.h: watches one ZeroMQ server socket through a libzmq socket
 * monitor (zmq_socket_monitor, on an inproc PAIR watched through zbridge):
 * logs its handshake failures and counts its connected peers.
 *
 * Handshake failures. CURVE failures that never reach the ZAP handler are
 * otherwise silent on both sides: a client that speaks plain text
 * (mechanism mismatch) or has the wrong server public key (the server
 * cannot decrypt its HELLO). On a CURVE server socket (ZMQ_MECHANISM is
 * ZMQ_CURVE) the HANDSHAKE_FAILED events are logged as
 *
 *   <4>NAME: handshake failed on ENDPOINT: REASON
 *
 * at most once per 10 s per reason; the next line says how many were not
 * logged. ZAP refusals (HANDSHAKE_FAILED_AUTH) are not logged here: the
 * ZAP handler (auth.c) logged them with the key's fingerprint. libzmq
 * gives the socket's own endpoint, not the peer's: the peer's key is not
 * known (no ZAP request was made) and its address is not reported. On a
 * plain-text socket (development mode) nothing is logged.
 *
 * Connected peers (zmonitor_peers): connections whose handshake succeeded
 * and that have not disconnected, in CURVE and plain-text mode alike.
 * libzmq 4.3's stable monitor does not say which connection a
 * HANDSHAKE_SUCCEEDED belongs to (its value is 0), so the count is kept
 * from the event counts: accepted connections are counted exactly (ACCEPTED
 * and DISCONNECTED); a DISCONNECTED first settles an earlier
 * HANDSHAKE_FAILED (every failed handshake ends in one), else it takes a
 * handshaken peer. The count is always between 0 and the open connections,
 * and is exact whenever no connection was accepted within the socket's
 * ZMQ_HANDSHAKE_IVL (+2 s): by then every open connection has finished its
 * handshake, so it is reset to the open connections. (Rare kinds of bad
 * input, such as an oversized handshake command, which libzmq drops
 * without a failure event, can make it low or high until then.)
 *
 * Attach the monitor before binding the socket, so no connection is missed.
 * Loop thread only. libuv close contract: after zmonitor_new succeeds,
 * zmonitor_destroy must run, before the monitored socket is closed; with
 * limits, the memory goes when the scan timer's close callback runs. */
#ifndef COHORT_ZMONITOR_H
#define COHORT_ZMONITOR_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct zmonitor_t zmonitor_t;
typedef struct admit_t admit_t;

/* Monitors zsock (a server socket of zctx, best not yet bound) on loop;
 * name prefixes the log lines ("ingest", "publish", ...; copied). Returns 0
 * and *out, or a negative errno with a message in err (nothing left open). */
int zmonitor_new(zmonitor_t **out, uv_loop_t *loop, void *zctx, void *zsock, const char *name,
                 char *err, size_t errlen);

/* Applies the connection limits of admit (borrowed; it must outlive the
 * monitor; NULL: none) to every connection accepted from now on: one that
 * admit does not keep is closed at once (shutdown of its socket, usually
 * before its handshake; libzmq then closes it) and logged, at most one
 * line per 10 s. Connections are seen by libzmq's ACCEPTED and
 * DISCONNECTED events and, since those can be lost under load, by a scan
 * of the process's sockets every 100 ms: a socket counts while it is an
 * established stream socket on the monitored socket's port. Returns 0 or
 * a negative errno (libuv: the scan timer). */
int zmonitor_limit(zmonitor_t *self, admit_t *admit);

/* Handles every event libzmq has queued for the loop now (the limits
 * apply to the connections they announce). */
void zmonitor_drain(zmonitor_t *self);

/* Handshake failures seen so far (logged or not; ZAP refusals not counted). */
uint64_t zmonitor_failures(const zmonitor_t *self);

/* Peers connected now: handshake succeeded, not yet disconnected (see
 * above for how exact this is). Counts only events the loop has read. */
uint64_t zmonitor_peers(const zmonitor_t *self);

/* Stops monitoring and closes the PAIR socket; its bridge's handles close
 * on the loop. Nulls *self_p. Idempotent. Call before closing zsock. */
void zmonitor_destroy(zmonitor_t **self_p);

#endif
