/* endpoint.c: strict checks of the endpoints the daemon binds (see
 * endpoint.h). */
#include "endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <zmq.h>

/* Longest ipc:// path libzmq binds: a Unix socket address's sun_path less
 * its NUL (a longer one fails only at bind time, with ENAMETOOLONG). */
#define IPC_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* 1 if the IPv4 address a (network order) is in 127.0.0.0/8. */
static int v4_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

/* 1 if the IPv6 address a is ::1 or an IPv4-mapped 127.0.0.0/8 one. */
static int v6_loopback(const struct in6_addr *a)
{
    if (IN6_IS_ADDR_LOOPBACK(a))
        return 1;
    return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
}

/* 1 if s is a decimal port 0-65535 (digits only, at most 5), else 0. */
static int is_port(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
        return 0;
    return strtoul(s, NULL, 10) <= 65535;
}

int endpoint_check(const char *ep, int local_only, char *err, size_t errlen)
{
    int ipc = strncmp(ep, "ipc://", 6) == 0;
    for (const unsigned char *p = (const unsigned char *)ep; *p; p++)
        if (*p < 0x20 || *p == 0x7f || (*p == ' ' && !ipc)) { /* a path may have spaces */
            snprintf(err, errlen, "'%s' has a blank or a control character", ep);
            return -EINVAL;
        }
    if (strchr(ep, ';')) {
        snprintf(err, errlen,
                 "'%s' has a ';': libzmq reads tcp://SOURCE;DESTINATION and binds "
                 "DESTINATION, so no endpoint may have one",
                 ep);
        return -EINVAL;
    }
    if (strncmp(ep, "ipc://", 6) == 0) {
        size_t n = strlen(ep + 6);
        if (n == 0) {
            snprintf(err, errlen, "'%s' is not ipc://PATH: the path is empty", ep);
            return -EINVAL;
        }
        if (n > IPC_PATH_MAX) {
            snprintf(err, errlen,
                     "'%s': the socket path is %zu bytes long, and a Unix socket path holds at "
                     "most %zu",
                     ep, n, IPC_PATH_MAX);
            return -EINVAL;
        }
        return 0;
    }
    if (strncmp(ep, "tcp://", 6) != 0) {
        const char *sep = strstr(ep, "://");
        if (sep && sep > ep && sep[3] != '\0')
            snprintf(err, errlen,
                     "'%s': the daemon binds only tcp:// and ipc:// endpoints, such as "
                     "tcp://127.0.0.1:7400 or ipc:///run/cohortd/ingest.sock",
                     ep);
        else
            snprintf(err, errlen,
                     "'%s' is not an endpoint such as tcp://127.0.0.1:7400 or "
                     "ipc:///run/cohortd/ingest.sock",
                     ep);
        return -EINVAL;
    }
    const char *host = ep + 6, *colon = strrchr(host, ':');
    if (!colon || colon == host || (strcmp(colon + 1, "*") != 0 && !is_port(colon + 1))) {
        snprintf(err, errlen,
                 "'%s' is not tcp://HOST:PORT such as tcp://127.0.0.1:7400 (PORT a number "
                 "from 0 to 65535, or *)",
                 ep);
        return -EINVAL;
    }
    char h[IF_NAMESIZE + 16];
    size_t hl = (size_t)(colon - host);
    struct in_addr a4;
    int known = 0, v4 = 0;
    if (hl < sizeof h) {
        memcpy(h, host, hl);
        h[hl] = '\0';
        v4 = inet_pton(AF_INET, h, &a4) == 1; /* glibc: exactly four decimal parts */
        known = v4 || strcmp(h, "*") == 0 || (hl < IF_NAMESIZE && if_nametoindex(h) != 0);
    }
    if (!known) {
        snprintf(err, errlen,
                 "'%s': the daemon binds tcp:// only on an IPv4 address, * or a network "
                 "interface's name (no host names such as localhost, no IPv6), e.g. "
                 "tcp://127.0.0.1:%s",
                 ep, colon + 1);
        return -EINVAL;
    }
    if (local_only && !(v4 && v4_loopback(&a4))) {
        snprintf(err, errlen,
                 "'%s' is not local: plain text is for local development only (ipc://, or "
                 "tcp:// on an address in 127.0.0.0/8 such as 127.0.0.1)",
                 ep);
        return -EINVAL;
    }
    return 0;
}

int endpoint_check_bound(void *zsock, int local_only, char *err, size_t errlen)
{
    char last[1024];
    size_t len = sizeof last;
    if (zmq_getsockopt(zsock, ZMQ_LAST_ENDPOINT, last, &len) != 0) {
        int e = errno;
        snprintf(err, errlen, "reading the bound endpoint (ZMQ_LAST_ENDPOINT): %s",
                 zmq_strerror(e));
        return -e;
    }
    last[sizeof last - 1] = '\0';
    if (!local_only || strncmp(last, "ipc://", 6) == 0)
        return 0;
    if (strncmp(last, "tcp://", 6) == 0) {
        const char *host = last + 6, *colon = strrchr(host, ':');
        char h[INET6_ADDRSTRLEN + 2];
        size_t hl = colon ? (size_t)(colon - host) : 0;
        struct in_addr a4;
        struct in6_addr a6;
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof h) {
            memcpy(h, host + 1, hl - 2);
            h[hl - 2] = '\0';
            if (inet_pton(AF_INET6, h, &a6) == 1 && v6_loopback(&a6))
                return 0;
        } else if (hl > 0 && hl < sizeof h) {
            memcpy(h, host, hl);
            h[hl] = '\0';
            if (inet_pton(AF_INET, h, &a4) == 1 && v4_loopback(&a4))
                return 0;
        }
    }
    snprintf(err, errlen,
             "bound to %s, which is not a loopback address: plain text is for local "
             "development only",
             last);
    return -EPERM;
}

int endpoint_sockaddr_local(const struct sockaddr *sa, socklen_t len)
{
    if (sa->sa_family == AF_UNIX)
        return 1;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in))
        return v4_loopback(&((const struct sockaddr_in *)sa)->sin_addr);
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6))
        return v6_loopback(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return 0;
}
