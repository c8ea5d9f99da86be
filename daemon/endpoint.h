/* endpoint.h: strict checks of the ZeroMQ endpoints the daemon binds
 * (issue 13 item 3). libzmq accepts more than the daemon documents: a
 * "tcp://SOURCE;DESTINATION" form binds DESTINATION, so
 * "tcp://127.0.0.1:0;0.0.0.0:7570" listens on every address. The daemon
 * binds only these two forms:
 *
 *   tcp://HOST:PORT  HOST a dotted-quad IPv4 address, * or the name of a
 *                    network interface of this host (libzmq resolves no
 *                    host names when binding, and IPv6 is off on the
 *                    daemon's sockets); PORT 0-65535 or *
 *   ipc://PATH       PATH non-empty and short enough for a Unix socket
 *
 * with no ';' and no control bytes anywhere, and no blank outside an
 * ipc:// path (a data directory may have spaces). A local-only
 * endpoint (plaintext mode) is ipc://, or tcp:// on an address in
 * 127.0.0.0/8 written as one; an interface name such as "lo" or * is not
 * plainly loopback, so it is refused there.
 *
 * endpoint_check is pure (config.c and --check-config use it);
 * endpoint_check_bound is called after zmq_bind on every socket, so what
 * libzmq really bound is checked too. */
#ifndef COHORT_ENDPOINT_H
#define COHORT_ENDPOINT_H
#include <stddef.h>
#include <sys/socket.h>

/* Checks the endpoint ep as above; with local_only, it must also be
 * local-only. Returns 0, or -EINVAL with err (errlen bytes) saying what is
 * wrong, naming ep. */
int endpoint_check(const char *ep, int local_only, char *err, size_t errlen);

/* Reads ZMQ_LAST_ENDPOINT of the bound socket zsock. With local_only, the
 * bound address must be ipc://, or tcp:// on 127.0.0.0/8 or [::1].
 * Returns 0; -EPERM if it is not local, or the negative errno of
 * zmq_getsockopt; with err saying so. */
int endpoint_check_bound(void *zsock, int local_only, char *err, size_t errlen);

/* 1 if the socket address sa (len bytes) is on a loopback address
 * (127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104) or a Unix socket, else 0. For
 * listening sockets that are not ZeroMQ's (the metrics endpoint). */
int endpoint_sockaddr_local(const struct sockaddr *sa, socklen_t len);

#endif
