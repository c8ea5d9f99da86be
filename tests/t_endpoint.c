/* t_endpoint: unit tests for endpoint.c: the strict parse (the
 * tcp://SOURCE;DESTINATION form of issue 13 item 3, host names, blanks,
 * other transports), local-only mode, and the check of what a real socket
 * bound (ZMQ_LAST_ENDPOINT), including the ';' form that binds 0.0.0.0. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "endpoint.h"
#include "tap.h"

static int check(const char *ep, int local)
{
    char err[512] = "";
    int rc = endpoint_check(ep, local, err, sizeof err);
    if (rc < 0 && !strstr(err, ep))
        diag("message does not name %s: %s", ep, err);
    return rc;
}

int main(void)
{
    /* accepted */
    is_int(check("tcp://127.0.0.1:7400", 1), 0, "tcp on 127.0.0.1, local");
    is_int(check("tcp://127.1.2.3:0", 1), 0, "tcp on 127.0.0.0/8, local");
    is_int(check("ipc:///run/cohortd/ingest.sock", 1), 0, "ipc, local");
    is_int(check("tcp://0.0.0.0:7400", 0), 0, "0.0.0.0 when not local-only");
    is_int(check("tcp://*:*", 0), 0, "tcp://*:* when not local-only");
    is_int(check("tcp://lo:7400", 0), 0, "an interface name when not local-only");
    is_int(check("ipc:///srv/my data/ingest.sock", 1), 0, "an ipc:// path with a space");
    /* refused always */
    const char *bad[] = {"tcp://127.0.0.1:0;0.0.0.0:7570",
                         "tcp://0.0.0.0:7570;127.0.0.1:0",
                         "ipc:///tmp/a;b",
                         "tcp://cohortd.example.org:7537",
                         "tcp://localhost:7400",
                         "tcp://[::1]:7400",
                         "tcp://127.0.0.1",
                         "tcp://127.0.0.1:65536",
                         "tcp://127.0.0.1:+80",
                         "tcp://127.0.0.01:80",
                         "tcp://127.1:80",
                         "tcp://127.0.0.1: 80",
                         "tcp://127.0.0.1:80\n",
                         "tcp://127.0.0.1 :80",
                         "ipc:///tmp/a\tb",
                         "ipc:///tmp/a\nb",
                         "ipc://",
                         "udp://127.0.0.1:7400",
                         "inproc://x",
                         "127.0.0.1:7400",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *name = strpbrk(bad[i], "\t\n") ? "(with a control byte)" : bad[i];
        is_int(check(bad[i], 0), -EINVAL, "refused: '%s'", name);
        is_int(check(bad[i], 1), -EINVAL, "refused local-only: '%s'", name);
    }
    /* refused local-only */
    const char *nonlocal[] = {"tcp://0.0.0.0:7400", "tcp://*:7400", "tcp://lo:7400",
                              "tcp://10.0.0.1:7400", "tcp://128.0.0.1:7400"};
    for (size_t i = 0; i < sizeof nonlocal / sizeof nonlocal[0]; i++)
        is_int(check(nonlocal[i], 1), -EINVAL, "not local: '%s'", nonlocal[i]);

    /* What a real socket bound. */
    void *ctx = zmq_ctx_new();
    char err[512];
    struct {
        const char *ep;
        int local; /* whether the bound address is local */
    } binds[] = {{"tcp://127.0.0.1:0", 1},
                 {"tcp://127.0.0.1:0;0.0.0.0:0", 0}, /* what item 3 reported: binds 0.0.0.0 */
                 {"tcp://0.0.0.0:0", 0},
                 {"ipc://*", 1}};
    for (size_t i = 0; i < sizeof binds / sizeof binds[0]; i++) {
        void *s = zmq_socket(ctx, ZMQ_ROUTER);
        int linger = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        if (!ok(zmq_bind(s, binds[i].ep) == 0, "bind %s", binds[i].ep)) {
            zmq_close(s);
            continue;
        }
        err[0] = '\0';
        is_int(endpoint_check_bound(s, 1, err, sizeof err), binds[i].local ? 0 : -EPERM,
               "bound %s: local-only check %s", binds[i].ep, binds[i].local ? "passes" : "fails");
        if (!binds[i].local)
            ok(strstr(err, "not a loopback address") != NULL, "and says so: %s", err);
        is_int(endpoint_check_bound(s, 0, err, sizeof err), 0, "bound %s: not local-only passes",
               binds[i].ep);
        zmq_close(s);
    }
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    is_int(endpoint_check_bound(NULL, 1, err, sizeof err) < 0, 1, "no socket: an error");
    zmq_close(s);
    zmq_ctx_term(ctx);

    /* Plain socket addresses (the metrics endpoint). */
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ok(endpoint_sockaddr_local((struct sockaddr *)&a, sizeof a), "127.0.0.1 is local");
    inet_pton(AF_INET, "0.0.0.0", &a.sin_addr);
    ok(!endpoint_sockaddr_local((struct sockaddr *)&a, sizeof a), "0.0.0.0 is not");
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::1", &b.sin6_addr);
    ok(endpoint_sockaddr_local((struct sockaddr *)&b, sizeof b), "::1 is local");
    inet_pton(AF_INET6, "::", &b.sin6_addr);
    ok(!endpoint_sockaddr_local((struct sockaddr *)&b, sizeof b), ":: is not");
    return tap_done();
}
