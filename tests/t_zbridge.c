/* t_zbridge: unit test for zbridge.c — bursts of messages with pauses in
 * between, a handler with a small cap that also sends (consuming the edge),
 * and pause/resume in the middle. Every message must arrive and every echo
 * must return; a stranded message shows as a count short at the deadline. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tap.h"
#include "zbridge.h"

#define BURSTS 40
#define PER_BURST 250
#define TOTAL (BURSTS * PER_BURST)
#define CAP 7

typedef struct {
    void *ctx;
    const char *ep;
    int echoes; /* replies the client received */
} client_t;

typedef struct {
    void *router;
    zbridge_t *bridge;
    uv_timer_t deadline, resume;
    int received;
    int paused_once;
    uv_loop_t *loop;
} server_t;

static void *client(void *arg)
{
    client_t *c = arg;
    void *s = zmq_socket(c->ctx, ZMQ_DEALER);
    int tmo = 200, linger = 0, nohwm = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_RCVHWM, &nohwm, sizeof nohwm); /* count strands, not HWM drops */
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_connect(s, c->ep);
    char buf[16];
    for (int b = 0; b < BURSTS; b++) {
        for (int i = 0; i < PER_BURST; i++)
            zmq_send(s, "m", 1, 0);
        usleep((useconds_t)((b % 4) * 1000)); /* idle gaps of 0-3 ms */
        while (zmq_recv(s, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
            c->echoes++;
    }
    for (int waited = 0; c->echoes < TOTAL && waited < 100; waited++) /* <= 20 s */
        if (zmq_recv(s, buf, sizeof buf, 0) >= 0)
            c->echoes++;
    zmq_close(s);
    return NULL;
}

static void on_resume(uv_timer_t *t)
{
    server_t *sv = t->data;
    zbridge_resume(sv->bridge);
}

static void finish(server_t *sv)
{
    uv_timer_stop(&sv->deadline);
    uv_timer_stop(&sv->resume);
    zbridge_close(&sv->bridge);
    uv_close((uv_handle_t *)&sv->deadline, NULL);
    uv_close((uv_handle_t *)&sv->resume, NULL);
}

static void on_deadline(uv_timer_t *t)
{
    finish(t->data);
}

static int on_input(void *arg)
{
    server_t *sv = arg;
    for (int n = 0; n < CAP; n++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&id, sv->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            return 0;
        }
        zmq_msg_recv(&body, sv->router, 0);
        sv->received++;
        zmq_msg_send(&id, sv->router, ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_msg_send(&body, sv->router, ZMQ_DONTWAIT);
        if (sv->received == TOTAL / 2 && !sv->paused_once) {
            sv->paused_once = 1;
            zbridge_pause(sv->bridge);
            uv_timer_start(&sv->resume, on_resume, 20, 0);
            return 1;
        }
        if (sv->received == TOTAL) {
            /* give the echoes a moment, then stop */
            uv_timer_start(&sv->deadline, on_deadline, 300, 0);
            return 0;
        }
    }
    return 1;
}

int main(void)
{
    void *ctx = zmq_ctx_new();
    server_t sv = {0};
    client_t c = {ctx, "inproc://zbridge-test", 0};
    pthread_t th;
    sv.loop = uv_default_loop();
    sv.router = zmq_socket(ctx, ZMQ_ROUTER);
    int nohwm = 0; /* a slow client must not lose echoes to the high-water mark */
    zmq_setsockopt(sv.router, ZMQ_SNDHWM, &nohwm, sizeof nohwm);
    ok(zmq_bind(sv.router, c.ep) == 0, "router bound");
    ok(zbridge_new(&sv.bridge, sv.loop, sv.router, on_input, &sv) == 0, "bridge created");
    uv_timer_init(sv.loop, &sv.deadline);
    uv_timer_init(sv.loop, &sv.resume);
    sv.deadline.data = sv.resume.data = &sv;
    uv_timer_start(&sv.deadline, on_deadline, 30000, 0); /* hard bound */
    pthread_create(&th, NULL, client, &c);
    uv_run(sv.loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    is_int(sv.received, TOTAL, "every message of %d bursts arrived (cap %d per call)", BURSTS, CAP);
    ok(sv.paused_once, "pause and resume happened mid-stream");
    is_int(c.echoes, TOTAL, "every echo sent from the handler reached the client");
    ok(uv_loop_close(sv.loop) == 0, "all handles closed (close contract kept)");
    zmq_close(sv.router);
    zmq_ctx_term(ctx);
    return tap_done();
}
