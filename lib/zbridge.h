/* zbridge.h: the bridge between one ZeroMQ socket and a libuv loop.
 *
 * ZMQ_FD is edge-triggered and "readable" does not mean a message is there;
 * every zmq_recv, zmq_send and ZMQ_EVENTS read consumes the edge. So the
 * bridge re-reads ZMQ_EVENTS after the poll callback AND once per loop
 * iteration (uv_check), which also covers sends made anywhere on the loop
 * during that iteration. The handler drains at most its own cap per call and
 * says whether it stopped early; if so an idle handle keeps the loop from
 * blocking in poll until the backlog is gone. No message is stranded.
 *
 * The bridge does not own the ZeroMQ socket. libuv close contract: after
 * zbridge_new succeeds, zbridge_close must run; memory is freed in the last
 * close callback. */
#ifndef COHORT_ZBRIDGE_H
#define COHORT_ZBRIDGE_H
#include <uv.h>
#include <zmq.h>

typedef struct zbridge_t zbridge_t;

/* Called while the socket has ZMQ_POLLIN. Receives with ZMQ_DONTWAIT.
 * Returns 1 when it stopped with messages possibly left (cap reached), 0
 * when it saw EAGAIN. */
typedef int (*zbridge_fn)(void *arg);

/* Watches zsock on loop, calling fn(arg) while it has input. Returns 0 and
 * *out, or a negative errno (from zmq_getsockopt or libuv). */
int zbridge_new(zbridge_t **out, uv_loop_t *loop, void *zsock, zbridge_fn fn, void *arg);

/* Stops calling fn until zbridge_resume (e.g. while the batch is full). */
void zbridge_pause(zbridge_t *self);

/* Calls fn again when input is pending; safe to call when not paused. */
void zbridge_resume(zbridge_t *self);

#define ZBRIDGE_MAX_PARTS 3 /* routing id, optional empty delimiter, payload */
#define ZBRIDGE_TOO_MANY 99 /* zbridge_recv: the message had more frames (dropped) */

/* Receives one whole message from a ROUTER socket without blocking: up to
 * ZBRIDGE_MAX_PARTS frames into parts (each initialised here; the caller
 * closes the first *nparts), discarding any further frames. Returns the
 * frame count (1..3), ZBRIDGE_TOO_MANY if frames were discarded, or
 * -EAGAIN when no message is waiting (or another negative errno). */
int zbridge_recv(void *zsock, zmq_msg_t parts[ZBRIDGE_MAX_PARTS], int *nparts);

/* The body of a zbridge handler for a ROUTER that answers requests:
 * receives up to cap messages (zbridge_recv) and calls handle(arg, parts,
 * n) for each (n is zbridge_recv's result; parts are closed after the
 * call). Returns 1 when cap was reached (more may wait: the handler's
 * "more"), 0 when nothing is waiting, or a negative errno when receiving
 * failed (the caller logs it). */
int zbridge_serve(void *zsock, int cap, void (*handle)(void *arg, zmq_msg_t *parts, int n),
                  void *arg);

/* Closes the libuv handles; the bridge is freed once they are closed, and
 * *self_p is nulled now. Idempotent. */
void zbridge_close(zbridge_t **self_p);

#endif
