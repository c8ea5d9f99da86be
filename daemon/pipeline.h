/* pipeline.h: the ingest pipeline's stages, as a state machine with no I/O.
 * The ingest (ingest.c) owns PIPELINE_BATCHES batches, numbered 0..3; this
 * module says which stage each is in and, at every event (a batch is taken
 * for writing, a write or a sync returned), which step comes next. The
 * ingest performs the step (queue a job, write or sync on the loop, answer)
 * and reports its result back. Loop thread only.
 *
 * Stages of a batch:
 *
 *   FREE -> OPEN -+-> WRITING -+-> WRITTEN -> SYNCING -+-> ACK | FAIL -> FREE
 *                 |            +------------> SYNCING -+
 *                 |            +-> ACK (stored nothing) | FAIL -> FREE
 *                 +-> INLINE --> ACK | FAIL (written and synced on the loop) -> FREE
 *                                    +-> RENDERING -> PUBLISH -> FREE
 *
 *   OPEN            filling on the loop; exactly one batch is open.
 *   WRITING         in the write job on a worker.
 *   INLINE          low load (a small batch, nothing else in flight):
 *                   written, then synced, on the loop, within one call, so
 *                   no thread hand-off is on its ack's path. When status
 *                   documents are due, a render job renders them meanwhile
 *                   on a worker.
 *   RENDERING       an inline batch answered (acked or failed) whose render
 *                   job has not returned: its documents are published, and
 *                   it is free again, when it does (PIPE_PUBLISH).
 *   WRITTEN         written, waiting for the sync in progress (at most one).
 *   SYNCING         in the sync job on a worker.
 *
 * Contracts:
 * - A batch is durable (PIPE_ACK) only after a sync that started after its
 *   write returned, or when it stored nothing and no sync is outstanding
 *   before it. Syncs complete in batch order and one covers every earlier
 *   write.
 * - At most one batch is writing (or inline, or rendering), one written, one
 *   syncing. The write stage (the projections, the render scheduler) is
 *   busy while a batch is WRITING, INLINE or RENDERING: one thread at a
 *   time uses it.
 * - Documents are published in batch order: a rendering batch is published
 *   before any later batch is taken.
 * - A failed sync fails its batch and the written one after it (their
 *   events are in the store's memtable but not known durable); a write that
 *   returns after a failed sync fails too. The next batch taken then asks
 *   for a store reopen, and a write after a failure is not started beside a
 *   sync (the write job may reopen the store). */
#ifndef COHORT_PIPELINE_H
#define COHORT_PIPELINE_H
#include <stddef.h>

typedef struct pipeline_t pipeline_t;

#define PIPELINE_BATCHES 4 /* open, writing, written, syncing */

/* A batch's stage (see the file comment). */
typedef enum {
    STAGE_FREE,
    STAGE_OPEN,
    STAGE_WRITING,
    STAGE_INLINE,
    STAGE_WRITTEN,
    STAGE_SYNCING,
    STAGE_RENDERING,
} stage_t;

/* What the ingest must do next with a batch. */
typedef enum {
    PIPE_WAIT,         /* nothing now: a later event moves it */
    PIPE_WRITE_JOB,    /* queue the write job (then pipeline_written) */
    PIPE_WRITE_INLINE, /* write it on the loop now (then pipeline_inline_written) */
    PIPE_SYNC_JOB,     /* queue the sync job (then pipeline_synced) */
    PIPE_SYNC_INLINE,  /* sync it on the loop now (then pipeline_inline_synced) */
    PIPE_ACK,          /* durable: answer and publish it; it is FREE again, or RENDERING */
    PIPE_FAIL,         /* failed: answer it UNAVAILABLE; it is FREE again, or RENDERING */
    PIPE_PUBLISH,      /* its render job returned: publish its documents; it is FREE */
} pipe_act_t;

/* One step: a batch and what to do with it. */
typedef struct {
    int batch;      /* 0 .. PIPELINE_BATCHES - 1 */
    pipe_act_t act; /* what to do */
} pipe_step_t;

/* What pipeline_take needs to know about the open batch and the store. */
typedef struct {
    size_t requests;   /* requests in the open batch */
    size_t events;     /* events in it */
    int force;         /* take it even when empty (a render-only or purge job) */
    int needs_worker;  /* the write needs the worker's care: the store is down, the
                          projections are stale, or a purge is due */
    size_t inline_max; /* a batch of at most this many events may go inline */
} pipe_take_t;

/* Creates a pipeline with batch 0 open and the rest free; NULL on OOM. */
pipeline_t *pipeline_new(void);

/* Frees it; nulls *self_p. Idempotent. */
void pipeline_destroy(pipeline_t **self_p);

/* The stage of batch i. */
stage_t pipeline_stage(const pipeline_t *self, int i);

/* The batch in stage s, or -1 if none (for OPEN, WRITING, INLINE, WRITTEN,
 * SYNCING, RENDERING: at most one each). */
int pipeline_find(const pipeline_t *self, stage_t s);

/* The open batch. */
int pipeline_open(const pipeline_t *self);

/* 1 if a batch is writing (job or inline), rendering or written: the write
 * stage is busy; else 0. */
int pipeline_write_busy(const pipeline_t *self);

/* 1 if no batch is in flight (only the open one is in use); else 0. */
int pipeline_idle(const pipeline_t *self);

/* open -> WRITING or INLINE: takes the open batch for writing if the write
 * stage is free, no batch waits in WRITTEN, no write after a failure would
 * run beside a sync, and the batch has requests (or in->force); a free
 * batch becomes the open one. It goes INLINE when nothing is in flight, the
 * write needs no worker and it has at most in->inline_max events.
 * Sets *reopen to 1 when a sync failed since the last take: the ingest must
 * mark the store down (reopen before writing); the batch then goes to the
 * write job. Returns 1 with *step (PIPE_WRITE_JOB or PIPE_WRITE_INLINE), or
 * 0 when nothing is taken. */
int pipeline_take(pipeline_t *self, const pipe_take_t *in, pipe_step_t *step, int *reopen);

/* WRITING -> the write job returned: ok = it succeeded, stored = it stored
 * events (a sync is needed). Fills *step: PIPE_FAIL (it failed, or a sync
 * failed meanwhile: its write is not durable either), PIPE_SYNC_JOB
 * (SYNCING), PIPE_WAIT (WRITTEN: a sync is in progress) or PIPE_ACK (stored
 * nothing and nothing syncs before it). */
void pipeline_written(pipeline_t *self, int ok, int stored, pipe_step_t *step);

/* INLINE -> written on the loop: ok, stored as above; render_job = a render
 * job was queued for it (only when ok). Fills *step: PIPE_FAIL, PIPE_ACK
 * (stored nothing; RENDERING if render_job, else FREE) or PIPE_SYNC_INLINE
 * (stays INLINE: the loop syncs, then calls pipeline_inline_synced). */
void pipeline_inline_written(pipeline_t *self, int ok, int stored, int render_job,
                             pipe_step_t *step);

/* INLINE -> its sync on the loop returned (ok = it succeeded). Fills *step:
 * PIPE_ACK or PIPE_FAIL; the batch is RENDERING if its render job is still
 * out, else FREE. */
void pipeline_inline_synced(pipeline_t *self, int ok, pipe_step_t *step);

/* SYNCING -> the sync job returned (ok = it succeeded).
 * Fills steps[0] for the synced batch (PIPE_ACK or PIPE_FAIL) and, if a
 * batch waited in WRITTEN, steps[1] for it (PIPE_SYNC_JOB, PIPE_ACK when it
 * stored nothing, or PIPE_FAIL when this sync failed). Returns the number of
 * steps (1 or 2), to be performed in order. */
int pipeline_synced(pipeline_t *self, int ok, pipe_step_t steps[2]);

/* RENDERING -> its render job returned. Fills *step: PIPE_PUBLISH; the
 * batch is FREE. */
void pipeline_rendered(pipeline_t *self, pipe_step_t *step);

/* The name of a stage, for tests and logs. */
const char *pipeline_stage_name(stage_t s);

#endif
