/* cohort_addr.h: HOST:PORT listen addresses for the HTTP endpoints (the
 * daemon's metrics, cohort-web's HTTPS and metrics listeners), parsed one
 * way: HOST is an IPv4 address, an IPv6 address in brackets ("[::1]") or
 * "localhost" (127.0.0.1); PORT is a decimal number. */
#ifndef COHORT_ADDR_H
#define COHORT_ADDR_H
#include <stddef.h>
#include <sys/socket.h>

/* What an address may be. */
typedef enum {
    COHORT_ADDR_ANY = 0,      /* any address; port 0 (any free one) allowed */
    COHORT_ADDR_LOOPBACK = 1, /* 127.0.0.0/8 or [::1] only; port 1-65535 (an
                                 endpoint without authentication) */
} cohort_addr_rule_t;

/* Parses addr under rule. Fills *sa and *salen when they are not NULL (a
 * configuration check may pass NULL). Returns 0, or -EINVAL with the reason
 * in err, which starts "<what> '<addr>'" (what: e.g. "metrics address"). */
int cohort_addr_parse(const char *addr, cohort_addr_rule_t rule, const char *what,
                      struct sockaddr_storage *sa, socklen_t *salen, char *err, size_t errlen);

#endif
