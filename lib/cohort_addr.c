/* cohort_addr.c: HOST:PORT listen addresses (see cohort_addr.h). */
#include "cohort_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cohort_addr_parse(const char *addr, cohort_addr_rule_t rule, const char *what,
                      struct sockaddr_storage *sa, socklen_t *salen, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    char host[64];
    const char *colon = addr ? strrchr(addr, ':') : NULL;
    char *end;
    unsigned long lo = rule == COHORT_ADDR_LOOPBACK ? 1 : 0;
    memset(&ss, 0, sizeof ss);
    if (!colon || colon == addr || (size_t)(colon - addr) >= sizeof host) {
        snprintf(err, errlen, "%s '%s' is not HOST:PORT (e.g. 127.0.0.1:%s or [::1]:%s)", what,
                 addr ? addr : "", lo ? "9474" : "8443", lo ? "9474" : "8443");
        return -EINVAL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = 0;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || colon[1] < '0' || colon[1] > '9' || port < lo || port > 65535) {
        snprintf(err, errlen, "%s '%s': the port must be %lu-65535", what, addr, lo);
        return -EINVAL;
    }
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof host, "127.0.0.1");
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    size_t hl = strlen(host);
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        if (lo && (ntohl(in4->sin_addr.s_addr) >> 24) != 127)
            goto not_loopback;
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        len = sizeof *in4;
    } else if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &in6->sin6_addr) != 1) {
            snprintf(err, errlen, "%s '%s': '%s' is not an IPv6 address", what, addr, host + 1);
            return -EINVAL;
        }
        if (lo && !IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr))
            goto not_loopback;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        len = sizeof *in6;
    } else {
        snprintf(err, errlen,
                 "%s '%s': the host must be an IPv4 address, an IPv6 address in "
                 "brackets ([::1]) or localhost",
                 what, addr);
        return -EINVAL;
    }
    if (sa)
        *sa = ss;
    if (salen)
        *salen = len;
    return 0;
not_loopback:
    snprintf(err, errlen,
             "%s '%s' is not a loopback address (127.0.0.0/8, [::1] or localhost): the endpoint "
             "has no authentication, so it is served on this host only",
             what, addr);
    return -EINVAL;
}
