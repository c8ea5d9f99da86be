/* zcapture: a stand-in daemon for tests that must see the bytes on the
 * wire (35-pseudonym.t). It binds a ZeroMQ ROUTER at ENDPOINT, appends
 * every payload frame it receives, byte for byte, to OUTFILE, and answers
 * each request as cohortd would when all is well: a Batch with one
 * ACCEPTED ack per event (sequences counting from 1), a Ping with the head
 * sequence. An undecodable frame is recorded and answered FRAME_MALFORMED.
 *
 * Usage: zcapture ENDPOINT OUTFILE SECONDS
 * Runs until SIGTERM/SIGINT or for at most SECONDS, then prints
 * "frames=F events=E" on stdout and exits 0 (1 on a setup failure). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cohort.pb-c.h"

static volatile sig_atomic_t stop; /* a stop signal arrived */

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Sends the reply for request req (NULL: undecodable) to peer id. */
static void reply(void *sock, zmq_msg_t *id, int delim, const Cohort__V1__IngestRequest *req,
                  uint64_t *seq)
{
    Cohort__V1__IngestReply rep = COHORT__V1__INGEST_REPLY__INIT;
    Cohort__V1__Ack *acks = NULL, **ptrs = NULL;
    size_t n = 0, len;
    uint8_t *buf;

    if (!req) {
        rep.error = COHORT__V1__FRAME_ERROR__FRAME_MALFORMED;
    } else {
        rep.request_id = req->request_id;
        if (req->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH)
            n = req->batch->n_events;
        acks = calloc(n ? n : 1, sizeof *acks);
        ptrs = calloc(n ? n : 1, sizeof *ptrs);
        if (!acks || !ptrs)
            abort();
        for (size_t i = 0; i < n; i++) {
            cohort__v1__ack__init(&acks[i]);
            acks[i].event_id = req->batch->events[i]->event_id;
            acks[i].result = COHORT__V1__RESULT__ACCEPTED;
            acks[i].seq = ++*seq;
            ptrs[i] = &acks[i];
        }
        rep.n_acks = n;
        rep.acks = ptrs;
    }
    rep.head_seq = *seq;
    len = cohort__v1__ingest_reply__get_packed_size(&rep);
    buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    cohort__v1__ingest_reply__pack(&rep, buf);
    zmq_send(sock, zmq_msg_data(id), zmq_msg_size(id), ZMQ_SNDMORE);
    if (delim)
        zmq_send(sock, "", 0, ZMQ_SNDMORE);
    zmq_send(sock, buf, len, 0);
    free(buf);
    free(acks);
    free(ptrs);
}

int main(int argc, char **argv)
{
    void *ctx, *sock;
    FILE *out;
    double until;
    uint64_t frames = 0, events = 0, seq = 0;
    int linger = 0;

    if (argc != 4) {
        fprintf(stderr, "usage: zcapture ENDPOINT OUTFILE SECONDS\n");
        return 1;
    }
    until = now_s() + atof(argv[3]);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (!(out = fopen(argv[2], "ab"))) {
        fprintf(stderr, "zcapture: cannot open %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    ctx = zmq_ctx_new();
    sock = zmq_socket(ctx, ZMQ_ROUTER);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind(sock, argv[1]) != 0) {
        fprintf(stderr, "zcapture: cannot bind %s: %s\n", argv[1], zmq_strerror(errno));
        return 1;
    }
    while (!stop && now_s() < until) {
        zmq_pollitem_t it = {.socket = sock, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, 100) <= 0 || !(it.revents & ZMQ_POLLIN))
            continue;
        zmq_msg_t parts[3];
        int np = 0, more = 1;
        /* one message: [id][payload] or [id][""][payload]; extra parts dropped */
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sock, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (np < 3)
                parts[np++] = m;
            else
                zmq_msg_close(&m);
        }
        if (np >= 2) {
            zmq_msg_t *pl = &parts[np - 1];
            int delim = np == 3 && zmq_msg_size(&parts[1]) == 0;
            Cohort__V1__IngestRequest *req;
            frames++;
            fwrite(zmq_msg_data(pl), 1, zmq_msg_size(pl), out);
            fflush(out);
            req = cohort__v1__ingest_request__unpack(NULL, zmq_msg_size(pl), zmq_msg_data(pl));
            if (req && req->body_case == COHORT__V1__INGEST_REQUEST__BODY_BATCH)
                events += req->batch->n_events;
            reply(sock, &parts[0], delim, req, &seq);
            if (req)
                cohort__v1__ingest_request__free_unpacked(req, NULL);
        }
        for (int i = 0; i < np; i++)
            zmq_msg_close(&parts[i]);
    }
    printf("frames=%llu events=%llu\n", (unsigned long long)frames, (unsigned long long)events);
    fclose(out);
    zmq_close(sock);
    zmq_ctx_term(ctx);
    return 0;
}
