/* admit.h: which connections a server socket keeps (issue 15 item 3).
 *
 * ZeroMQ holds input for every connection it reads: per agent connection
 * up to RCV_HWM queued frames plus the one its decoder is filling, and a
 * connection still in its CURVE handshake may have a command of up to the
 * socket's ZMQ_MAXMSGSIZE in flight. So the memory held for input grows
 * with the number of connections, and only a bound on that number bounds
 * it. An admit_t decides, when a connection is accepted, whether it is
 * kept:
 *   - at most max_conns connections are kept in all;
 *   - at most per_addr of them from one network address (so one host,
 *     authenticated or not, cannot take every place); connections over
 *     ipc:// (AF_UNIX) are local processes and are not counted per
 *     address, only in all.
 * A connection that is not kept is closed at once by the caller (the
 * newest goes; the ones already working are never disturbed), before its
 * handshake: it never holds more than what the kernel buffered.
 *
 * The table only counts: the socket work (reading the peer address,
 * closing) is the caller's (zmonitor.c). Not thread-safe: the loop thread
 * only. */
#ifndef COHORT_ADMIT_H
#define COHORT_ADMIT_H
#include <stddef.h>
#include <stdint.h>

#define ADMIT_ADDR_MAX 48 /* an IPv6 text address and NUL */

typedef struct admit_t admit_t;

/* Counters since admit_new. */
typedef struct {
    uint64_t kept;         /* connections kept */
    uint64_t refused_addr; /* closed: per_addr from that address already */
    uint64_t refused_all;  /* closed: max_conns already */
    uint64_t open;         /* kept and not yet closed, now */
} admit_stats_t;

/* A table keeping at most max_conns connections, at most per_addr from
 * one address (both at least 1). Returns NULL when out of memory. */
admit_t *admit_new(unsigned max_conns, unsigned per_addr);

/* Frees the table; nulls *self_p. Idempotent. */
void admit_destroy(admit_t **self_p);

/* Connection fd was accepted from addr (a text IP address; NULL for a
 * local AF_UNIX peer). Returns 0 if it is kept (and counted until
 * admit_closed(fd)), -EBUSY if the caller must close it (the reason is
 * counted; *why, if not NULL, gets a static text). A fd already in the
 * table (its close was missed) is replaced. */
int admit_accepted(admit_t *self, int fd, const char *addr, const char **why);

/* Connection fd was closed (kept or not; an unknown fd is ignored). */
void admit_closed(admit_t *self, int fd);

/* Drops every kept connection for which alive(arg, fd, addr) returns 0
 * (a close that was missed: the fd is no longer that peer's socket);
 * returns how many. addr is NULL for a local one. */
unsigned admit_sweep(admit_t *self, int (*alive)(void *arg, int fd, const char *addr), void *arg);

/* 1 if fd is a kept connection. */
int admit_known(const admit_t *self, int fd);

/* Kept connections from addr now (NULL: the AF_UNIX ones). */
unsigned admit_count(const admit_t *self, const char *addr);

/* Copies the counters. */
void admit_stats(const admit_t *self, admit_stats_t *out);

#endif
