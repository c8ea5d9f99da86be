/* admit.c: the connection table behind the connection limits (see admit.h
 * for the contract).
 *
 * State: the kept connections, unordered (fd and address), and the
 * counters. Connections are at most max_conns, so a linear scan per
 * accept or close costs little. */
#include "admit.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* One kept connection. */
typedef struct {
    int fd;                    /* its socket, as libzmq's ACCEPTED event gave it */
    int local;                 /* AF_UNIX: not counted per address */
    char addr[ADMIT_ADDR_MAX]; /* its peer's address ("" when local) */
} conn_t;

struct admit_t {
    unsigned max_conns; /* kept connections at most */
    unsigned per_addr;  /* kept connections from one address at most */
    conn_t *conns;      /* the kept ones, max_conns slots, n used */
    unsigned n;         /* slots used */
    admit_stats_t st;   /* counters (st.open == n) */
};

admit_t *admit_new(unsigned max_conns, unsigned per_addr)
{
    admit_t *self;
    if (max_conns < 1 || per_addr < 1)
        return NULL;
    if (!(self = calloc(1, sizeof *self)))
        return NULL;
    if (!(self->conns = calloc(max_conns, sizeof *self->conns))) {
        free(self);
        return NULL;
    }
    self->max_conns = max_conns;
    self->per_addr = per_addr;
    return self;
}

void admit_destroy(admit_t **self_p)
{
    admit_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    *self_p = NULL;
    free(self->conns);
    free(self);
}

/* Index of fd among the kept connections, or -1. */
static int find(const admit_t *self, int fd)
{
    for (unsigned i = 0; i < self->n; i++)
        if (self->conns[i].fd == fd)
            return (int)i;
    return -1;
}

int admit_known(const admit_t *self, int fd)
{
    return find(self, fd) >= 0;
}

unsigned admit_count(const admit_t *self, const char *addr)
{
    unsigned c = 0;
    for (unsigned i = 0; i < self->n; i++)
        if (addr ? !self->conns[i].local && strcmp(self->conns[i].addr, addr) == 0
                 : self->conns[i].local)
            c++;
    return c;
}

int admit_accepted(admit_t *self, int fd, const char *addr, const char **why)
{
    const char *dummy;
    conn_t *c;
    if (!why)
        why = &dummy;
    *why = NULL;
    admit_closed(self, fd); /* a reused fd whose close was not seen */
    if (self->n >= self->max_conns) {
        self->st.refused_all++;
        *why = "the connection limit";
        return -EBUSY;
    }
    if (addr && admit_count(self, addr) >= self->per_addr) {
        self->st.refused_addr++;
        *why = "the limit per address";
        return -EBUSY;
    }
    c = &self->conns[self->n++];
    c->fd = fd;
    c->local = addr == NULL;
    c->addr[0] = '\0';
    if (addr) {
        size_t len = strlen(addr);
        if (len >= sizeof c->addr)
            len = sizeof c->addr - 1;
        memcpy(c->addr, addr, len);
        c->addr[len] = '\0';
    }
    self->st.kept++;
    self->st.open = self->n;
    return 0;
}

void admit_closed(admit_t *self, int fd)
{
    int i = find(self, fd);
    if (i < 0)
        return;
    self->conns[i] = self->conns[--self->n];
    self->st.open = self->n;
}

unsigned admit_sweep(admit_t *self, int (*alive)(void *arg, int fd, const char *addr), void *arg)
{
    unsigned dropped = 0;
    for (unsigned i = 0; i < self->n;) {
        conn_t *c = &self->conns[i];
        if (alive(arg, c->fd, c->local ? NULL : c->addr)) {
            i++;
            continue;
        }
        self->conns[i] = self->conns[--self->n];
        dropped++;
    }
    self->st.open = self->n;
    return dropped;
}

void admit_stats(const admit_t *self, admit_stats_t *out)
{
    *out = self->st;
}
