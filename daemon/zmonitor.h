/* zmonitor.h: logs the handshake failures of one ZeroMQ server socket.
 *
 * CURVE failures that never reach the ZAP handler are otherwise silent on
 * both sides: a client that speaks plain text (mechanism mismatch) or has
 * the wrong server public key (the server cannot decrypt its HELLO). This
 * attaches a libzmq socket monitor (zmq_socket_monitor, on an inproc PAIR
 * watched through zbridge) for the HANDSHAKE_FAILED events and logs
 *
 *   <4>NAME: handshake failed on ENDPOINT: REASON
 *
 * at most once per 10 s per reason; the next line says how many were not
 * logged. ZAP refusals (HANDSHAKE_FAILED_AUTH) are not logged here: the
 * ZAP handler (auth.c) logged them with the key's fingerprint. libzmq
 * gives the socket's own endpoint, not the peer's: the peer's key is not
 * known (no ZAP request was made) and its address is not reported.
 *
 * Loop thread only. libuv close contract: after zmonitor_new succeeds,
 * zmonitor_destroy must run, before the monitored socket is closed. */
#ifndef COHORT_ZMONITOR_H
#define COHORT_ZMONITOR_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct zmonitor_t zmonitor_t;

/* Monitors zsock (a bound server socket of zctx) on loop; name prefixes
 * the log lines ("ingest", "publish", ...; copied). Returns 0 and *out, or
 * a negative errno with a message in err (nothing left open). */
int zmonitor_new(zmonitor_t **out, uv_loop_t *loop, void *zctx, void *zsock, const char *name,
                 char *err, size_t errlen);

/* Handshake failures seen so far (logged or not). */
uint64_t zmonitor_failures(const zmonitor_t *self);

/* Stops monitoring and closes the PAIR socket; its bridge's handles close
 * on the loop. Nulls *self_p. Idempotent. Call before closing zsock. */
void zmonitor_destroy(zmonitor_t **self_p);

#endif
