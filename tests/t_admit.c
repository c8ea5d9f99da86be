/* t_admit: unit tests for admit.c, the table behind the connection limits:
 * the limit in all and per address, local (AF_UNIX) peers counted only in
 * all, places freed by closes, a reused fd, the sweep of missed closes and
 * the counters. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "admit.h"
#include "tap.h"

/* admit_sweep's test: fds below *arg are alive. */
static int below(void *arg, int fd, const char *addr)
{
    (void)addr;
    return fd < *(int *)arg;
}

int main(void)
{
    admit_t *a = admit_new(5, 2);
    admit_stats_t st;
    const char *why = NULL;
    ok(a != NULL, "a table of 5, 2 per address");
    ok(admit_new(0, 1) == NULL && admit_new(1, 0) == NULL, "limits of 0 are refused");

    /* per address */
    is_int(admit_accepted(a, 10, "192.0.2.1", &why), 0, "first from 192.0.2.1 kept");
    is_int(admit_accepted(a, 11, "192.0.2.1", &why), 0, "second from 192.0.2.1 kept");
    is_int(admit_accepted(a, 12, "192.0.2.1", &why), -EBUSY, "third from 192.0.2.1 closed");
    ok(why && strstr(why, "per address"), "... because of the limit per address (%s)", why);
    is_int(admit_count(a, "192.0.2.1"), 2, "two kept from 192.0.2.1");
    is_int(admit_accepted(a, 13, "2001:db8::1", &why), 0, "another address is kept");

    /* local peers: only the limit in all */
    is_int(admit_accepted(a, 14, NULL, &why), 0, "a local peer kept");
    is_int(admit_accepted(a, 15, NULL, &why), 0, "a second local peer kept (no per-address limit)");
    is_int(admit_count(a, NULL), 2, "two local peers counted");

    /* in all */
    is_int(admit_accepted(a, 16, "198.51.100.7", &why), -EBUSY, "the sixth connection is closed");
    ok(why && strstr(why, "connection limit"), "... because of the limit in all (%s)", why);

    /* a close frees a place */
    admit_closed(a, 10);
    ok(!admit_known(a, 10), "a closed fd is no longer known");
    is_int(admit_accepted(a, 16, "198.51.100.7", &why), 0, "after a close, a new one is kept");
    admit_closed(a, 999); /* unknown: ignored */
    admit_stats(a, &st);
    is_int((int)st.open, 5, "five open");
    is_int((int)st.kept, 6, "six kept in all");
    is_int((int)st.refused_addr, 1, "one closed for its address");
    is_int((int)st.refused_all, 1, "one closed for the limit in all");

    /* a fd reused before its close was seen replaces the old entry */
    is_int(admit_accepted(a, 11, "203.0.113.9", &why), 0, "a reused fd is kept again");
    is_int(admit_count(a, "192.0.2.1"), 0, "... and no longer counts for its old address");
    admit_stats(a, &st);
    is_int((int)st.open, 5, "still five open");

    /* the sweep drops what is no longer alive */
    int limit = 14;
    is_int((int)admit_sweep(a, below, &limit), 3, "the sweep drops fds 14, 15 and 16");
    ok(admit_known(a, 11) && admit_known(a, 13) && !admit_known(a, 14), "the others stay");
    admit_stats(a, &st);
    is_int((int)st.open, 2, "two open after the sweep");

    admit_destroy(&a);
    ok(a == NULL, "destroy nulls the pointer");
    admit_destroy(&a);
    admit_destroy(NULL);
    ok(a == NULL, "destroy is idempotent, and takes NULL");
    return tap_done();
}
