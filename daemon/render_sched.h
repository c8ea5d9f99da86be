/* render_sched.h: when the status documents are rendered. The projections
 * mark the topics a batch changed (proj_take_dirty); the scheduler holds
 * them back and renders each topic at most once per coalesce_ms, and, under
 * load, renders nothing for up to RSCHED_DUTY times as long as its last
 * rendering took, so that rendering takes at most about a tenth of the
 * write stage's time. What it holds back it reports as a due time, for the
 * caller's timer.
 *
 * Contracts:
 * - One thread at a time: the ingest's write stage (a worker while a write
 *   job runs, the loop otherwise). It touches the projections only through
 *   proj_take_dirty and proj_render, and knows nothing of sockets or
 *   batches.
 * - A topic changed is rendered once, later, or at rsched_render(all = 1):
 *   never lost. Out of memory leaves it held back (due 1 ms later).
 * - Times are monotonic milliseconds/nanoseconds of the clock given to
 *   rsched_new (uv_hrtime by default); it is read once before and once
 *   after each rendering, and once by rsched_wanted. */
#ifndef COHORT_RENDER_SCHED_H
#define COHORT_RENDER_SCHED_H
#include <stddef.h>
#include <stdint.h>
#include "proj.h"

typedef struct rsched_t rsched_t;

/* After rendering for T the documents of a batch of n events, nothing
 * renders for min(n - 1, RSCHED_DUTY) * T: at low load (one event per
 * batch) only coalesce_ms holds rendering back; under load it takes at most
 * a tenth of the write stage's time. */
#define RSCHED_DUTY 9

/* One rendered status document, to publish. */
typedef struct {
    char *topic;    /* malloc'd */
    char *doc;      /* malloc'd JSON, or NULL when the topic went away */
    char *versions; /* a release/ topic: every published version, a JSON array text
                     * (proj_release_versions, malloc'd); NULL for other topics or on OOM */
} rsched_update_t;

/* A growable list of rendered documents, owned by the caller (zeroed to
 * start). */
typedef struct {
    rsched_update_t *v; /* the documents, in rendering order */
    size_t n, cap;      /* used and allocated entries */
} rsched_list_t;

/* Creates a scheduler rendering a topic at most once per coalesce_ms (0:
 * whenever it changed, duty gate permitting). now_ns(arg) is the monotonic
 * clock in nanoseconds, or NULL for uv_hrtime (tests pass a fake one).
 * Returns NULL on out of memory. */
rsched_t *rsched_new(unsigned coalesce_ms, uint64_t (*now_ns)(void *arg), void *arg);

/* Frees the scheduler and its held-back topics; nulls *self_p. Idempotent. */
void rsched_destroy(rsched_t **self_p);

/* Takes the topics proj changed since the last call as held back.
 * rsched_wanted and rsched_render call it first. */
void rsched_collect(rsched_t *self, proj_t *proj);

/* Collects, then returns 1 if a held-back topic is due now (coalesce_ms
 * since its last render, and past the duty gate), else 0: whether a
 * rendering would produce anything. */
int rsched_wanted(rsched_t *self, proj_t *proj);

/* Collects, then appends to out the documents of the held-back topics that
 * are due (see rsched_wanted), or of every held-back topic when all (at
 * start and stop: no gate, no coalescing). nevents, the events of the batch
 * that changed them, sets the duty gate after a rendering (RSCHED_DUTY).
 * Returns the monotonic millisecond at which the first topic still held
 * back is due, or 0 if none is. */
uint64_t rsched_render(rsched_t *self, proj_t *proj, size_t nevents, int all, rsched_list_t *out);

/* Topics held back now. */
size_t rsched_pending(const rsched_t *self);

/* Frees the documents of a list and empties it, keeping its capacity. */
void rsched_list_clear(rsched_list_t *l);

/* Frees a list entirely (documents and array); it is then empty. */
void rsched_list_free(rsched_list_t *l);

#endif
