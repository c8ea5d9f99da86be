/* zbridge.c: ZeroMQ socket readiness on a libuv loop (see zbridge.h for the
 * edge-trigger contract). Three handles: poll (the fd edge), check (re-read
 * ZMQ_EVENTS every iteration) and idle (keeps the loop spinning while the
 * handler left a backlog). */
#include "zbridge.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

struct zbridge_t {
    uv_poll_t poll;   /* ZMQ_FD readability */
    uv_check_t check; /* runs after every poll phase */
    uv_idle_t idle;   /* active only while a backlog remains */
    void *zsock;      /* the ZeroMQ socket (not owned) */
    zbridge_fn fn;    /* input handler */
    void *arg;        /* its argument */
    int paused;       /* 1 while the owner wants no input */
    int closing;      /* handles still open during close; freed at 0 */
};

static void on_idle(uv_idle_t *h)
{
    (void)h; /* its only job is to make the next poll non-blocking */
}

/* Runs the handler while the socket reports input, honouring pause. */
static void drain(zbridge_t *self)
{
    for (;;) {
        int events = 0;
        size_t len = sizeof events;
        if (self->paused || self->closing)
            break;
        if (zmq_getsockopt(self->zsock, ZMQ_EVENTS, &events, &len) != 0 || !(events & ZMQ_POLLIN)) {
            uv_idle_stop(&self->idle);
            break;
        }
        if (self->fn(self->arg)) {
            uv_idle_start(&self->idle, on_idle);
            break;
        }
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    drain(h->data);
}

static void on_check(uv_check_t *h)
{
    drain(h->data);
}

int zbridge_new(zbridge_t **out, uv_loop_t *loop, void *zsock, zbridge_fn fn, void *arg)
{
    zbridge_t *self;
    int fd, rc;
    size_t len = sizeof fd;
    *out = NULL;
    if (zmq_getsockopt(zsock, ZMQ_FD, &fd, &len) != 0)
        return -errno;
    if (!(self = calloc(1, sizeof *self)))
        return -ENOMEM;
    self->zsock = zsock;
    self->fn = fn;
    self->arg = arg;
    if ((rc = uv_poll_init(loop, &self->poll, fd)) < 0) {
        free(self); /* nothing initialised yet, so nothing to close */
        return rc;
    }
    uv_check_init(loop, &self->check);
    uv_idle_init(loop, &self->idle);
    self->poll.data = self->check.data = self->idle.data = self;
    if ((rc = uv_poll_start(&self->poll, UV_READABLE, on_poll)) < 0 ||
        (rc = uv_check_start(&self->check, on_check)) < 0) {
        zbridge_close(&self);
        return rc;
    }
    *out = self;
    return 0;
}

void zbridge_pause(zbridge_t *self)
{
    self->paused = 1;
    uv_idle_stop(&self->idle);
}

void zbridge_resume(zbridge_t *self)
{
    self->paused = 0;
    uv_idle_start(&self->idle, on_idle); /* re-check on the next iteration */
}

static void on_close(uv_handle_t *h)
{
    zbridge_t *self = h->data;
    if (--self->closing == 0)
        free(self);
}

void zbridge_close(zbridge_t **self_p)
{
    zbridge_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    self->closing = 3;
    uv_close((uv_handle_t *)&self->poll, on_close);
    uv_close((uv_handle_t *)&self->check, on_close);
    uv_close((uv_handle_t *)&self->idle, on_close);
}

int zbridge_recv(void *zsock, zmq_msg_t parts[ZBRIDGE_MAX_PARTS], int *nparts)
{
    int extra = 0;
    *nparts = 0;
    zmq_msg_init(&parts[0]);
    if (zmq_msg_recv(&parts[0], zsock, ZMQ_DONTWAIT) < 0) {
        int e = errno;
        zmq_msg_close(&parts[0]);
        return -e;
    }
    *nparts = 1;
    /* A multipart message arrives whole: the rest never blocks. */
    while (zmq_msg_more(&parts[*nparts - 1])) {
        zmq_msg_t junk, *m = *nparts < ZBRIDGE_MAX_PARTS ? &parts[*nparts] : &junk;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, zsock, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        if (m == &junk) {
            int again = zmq_msg_more(&junk);
            zmq_msg_close(&junk);
            extra++;
            if (!again)
                break;
            continue;
        }
        (*nparts)++;
    }
    return extra ? ZBRIDGE_TOO_MANY : *nparts;
}

int zbridge_serve(void *zsock, int cap, void (*handle)(void *arg, zmq_msg_t *parts, int n),
                  void *arg)
{
    for (int k = 0; k < cap; k++) {
        zmq_msg_t parts[ZBRIDGE_MAX_PARTS];
        int nparts, rc = zbridge_recv(zsock, parts, &nparts);
        if (rc < 0)
            return rc == -EAGAIN || rc == -EINTR ? 0 : rc;
        handle(arg, parts, rc);
        for (int i = 0; i < nparts; i++)
            zmq_msg_close(&parts[i]);
    }
    return 1;
}
