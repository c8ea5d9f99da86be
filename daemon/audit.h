/* audit.h: the disclosure auditor behind `cohortctl audit-disclosure`
 * (docs/status.md, "Disclosure audit"). Pure: no I/O, no sockets, no
 * clock; it only reads jansson documents and returns findings.
 *
 * It takes the status documents a reader has kept, as the JSON Lines that
 * `cohortctl snapshot --json` and `cohort-watch --json` print
 * ({"topic","rev","seq","doc"}; other lines such as {"end":..} or
 * {"resync":..} are skipped), and reports every count of people with a
 * protected characteristic that it can pin to one value or bound to 1..k-1
 * from any combination of them:
 *  - "published-small": a published breakdown cell (not a root total) of
 *    1..k-1;
 *  - "pinned": a suppressed cell whose value follows from the published
 *    margins, zeros, the lower bound 1 of every suppressed cell, the
 *    cohort's enrolled count (filled.participants) and the aims'
 *    actual_percent; "bounded-below-k": such a cell (or the LGB count,
 *    never published) shown to be within 1..k-1;
 *  - the same two across documents of one moment: a programme roll-up with
 *    all its cohorts' documents when they are provably disjoint (scope
 *    "release");
 *  - "difference" (history only): between two consecutive versions of one
 *    topic, a cell whose change is pinned or bounded to 1..k-1 (or
 *    -(k-1)..-1): the difference table has a small cell, e.g. the one
 *    person who joined is in it.
 * Bounds come from interval propagation over the tables' row sums (a sound
 * relaxation of the linear programme: every reported bound holds, some
 * tighter ones may be missed). A release topic ("release/cohort/...",
 * "release/programme/...", release.h) is audited as the population it
 * names, its programme combined with the same programme's release/cohort
 * topics. Topics without a representation block
 * (agency, system) are skipped. */
#ifndef COHORT_AUDIT_H
#define COHORT_AUDIT_H
#include <jansson.h>
#include <stddef.h>

/* Audits lines (a JSON array of the objects above, in the order they were
 * published). history = 0: one moment (a snapshot; differencing is not
 * done); history = 1: every version in order (each distinct seq is a
 * moment). k >= 1 is the threshold the documents must meet. On success
 * sets *findings to a new JSON array (possibly empty) of objects
 * {"rule","scope","topic","cell","seq","rev","lo","hi","detail"} (plus
 * "from_seq","from_rev" for "difference", "topics" for scope "release";
 * lo/hi are the cell's bounds, or its change's for "difference") and
 * returns the number of findings; returns -EINVAL with a message in err
 * (k < 1, a line that is not an object, a count that is not a number from
 * 0 to 1e9, a document that contradicts its own sums, no cohort or
 * programme document at all) or -ENOMEM. */
int audit_run(const json_t *lines, int k, int history, json_t **findings, char *err, size_t errlen);

/* One finding as a human-readable line (no newline), malloc'd; NULL on
 * out-of-memory. */
char *audit_describe(const json_t *finding);

#endif
