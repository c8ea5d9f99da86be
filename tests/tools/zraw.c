/* zraw: test tool. Sends one message of raw frames to a ROUTER endpoint from
 * a DEALER and prints the reply frames in hex, one per line. Each argument
 * after the endpoint is a frame: "hex:0a0b", "file:PATH", "size:N" (N bytes
 * of 0xff) or literal text. Exits 0 with a reply, 3 on timeout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void *load(const char *arg, size_t *len)
{
    if (strncmp(arg, "hex:", 4) == 0) {
        size_t n = strlen(arg + 4) / 2;
        unsigned char *b = malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            unsigned v;
            sscanf(arg + 4 + 2 * i, "%2x", &v);
            b[i] = (unsigned char)v;
        }
        *len = n;
        return b;
    }
    if (strncmp(arg, "size:", 5) == 0) {
        size_t n = strtoull(arg + 5, NULL, 10);
        void *b = malloc(n + 1);
        memset(b, 0xff, n);
        *len = n;
        return b;
    }
    if (strncmp(arg, "file:", 5) == 0) {
        FILE *f = fopen(arg + 5, "rb");
        if (!f) {
            perror(arg + 5);
            exit(2);
        }
        fseek(f, 0, SEEK_END);
        long n = ftell(f);
        fseek(f, 0, SEEK_SET);
        void *b = malloc((size_t)n + 1);
        if (fread(b, 1, (size_t)n, f) != (size_t)n)
            exit(2);
        fclose(f);
        *len = (size_t)n;
        return b;
    }
    *len = strlen(arg);
    return strdup(arg);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: zraw ENDPOINT FRAME...\n");
        return 2;
    }
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0, tmo = 5000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    if (zmq_connect(s, argv[1]) != 0) {
        fprintf(stderr, "connect: %s\n", zmq_strerror(zmq_errno()));
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        size_t len;
        void *b = load(argv[i], &len);
        zmq_send(s, b, len, i + 1 < argc ? ZMQ_SNDMORE : 0);
        free(b);
    }
    int more = 1, rc = 3;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0)
            break;
        rc = 0;
        const unsigned char *d = zmq_msg_data(&m);
        for (size_t i = 0; i < zmq_msg_size(&m); i++)
            printf("%02x", d[i]);
        printf("\n");
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    zmq_close(s);
    zmq_ctx_term(ctx);
    return rc;
}
