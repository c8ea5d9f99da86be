/* pipeline.c: the ingest pipeline's stages (see pipeline.h). */
#include "pipeline.h"

#include <assert.h>
#include <stdlib.h>

struct pipeline_t {
    stage_t stage[PIPELINE_BATCHES]; /* each batch's stage */
    int stored[PIPELINE_BATCHES];    /* WRITTEN: it stored events, so it needs a sync */
    int rendering[PIPELINE_BATCHES]; /* INLINE: its render job is out (RENDERING when done) */
    int sync_failed;                 /* a sync failed since the last take: writes since are
                                        not durable, and the store must be reopened */
    int write_failed;                /* the last write failed: the next one may reopen the
                                        store, which must not happen beside a sync */
};

pipeline_t *pipeline_new(void)
{
    pipeline_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    for (int i = 0; i < PIPELINE_BATCHES; i++)
        self->stage[i] = STAGE_FREE;
    self->stage[0] = STAGE_OPEN;
    return self;
}

void pipeline_destroy(pipeline_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

stage_t pipeline_stage(const pipeline_t *self, int i)
{
    assert(i >= 0 && i < PIPELINE_BATCHES);
    return self->stage[i];
}

int pipeline_find(const pipeline_t *self, stage_t s)
{
    for (int i = 0; i < PIPELINE_BATCHES; i++)
        if (self->stage[i] == s)
            return i;
    return -1;
}

int pipeline_open(const pipeline_t *self)
{
    int i = pipeline_find(self, STAGE_OPEN);
    assert(i >= 0);
    return i;
}

/* The batch whose sync job is in flight, or -1. */
static int syncing(const pipeline_t *self)
{
    return pipeline_find(self, STAGE_SYNCING);
}

int pipeline_write_busy(const pipeline_t *self)
{
    return pipeline_find(self, STAGE_WRITING) >= 0 || pipeline_find(self, STAGE_INLINE) >= 0 ||
           pipeline_find(self, STAGE_RENDERING) >= 0 || pipeline_find(self, STAGE_WRITTEN) >= 0;
}

int pipeline_idle(const pipeline_t *self)
{
    for (int i = 0; i < PIPELINE_BATCHES; i++)
        if (self->stage[i] != STAGE_FREE && self->stage[i] != STAGE_OPEN)
            return 0;
    return 1;
}

int pipeline_take(pipeline_t *self, const pipe_take_t *in, pipe_step_t *step, int *reopen)
{
    int open = pipeline_open(self), free_i, sync = syncing(self), needs_worker = in->needs_worker;
    *reopen = 0;
    if (pipeline_write_busy(self) || (in->requests == 0 && !in->force))
        return 0;
    if ((self->sync_failed || self->write_failed) && sync >= 0)
        return 0; /* the write job may reopen the store: not beside a sync */
    if (self->sync_failed) {
        self->sync_failed = 0;
        *reopen = 1;
        needs_worker = 1;
    }
    free_i = pipeline_find(self, STAGE_FREE);
    assert(free_i >= 0); /* four batches, at most three in use */
    step->batch = open;
    if (sync < 0 && !self->write_failed && !needs_worker && in->events <= in->inline_max) {
        self->stage[open] = STAGE_INLINE;
        step->act = PIPE_WRITE_INLINE;
    } else {
        self->stage[open] = STAGE_WRITING;
        step->act = PIPE_WRITE_JOB;
    }
    self->stage[free_i] = STAGE_OPEN;
    return 1;
}

/* Batch i is answered with act (PIPE_ACK or PIPE_FAIL): FREE again, or
 * RENDERING while its render job is out. */
static void done(pipeline_t *self, int i, pipe_act_t act, pipe_step_t *step)
{
    self->stage[i] = self->rendering[i] ? STAGE_RENDERING : STAGE_FREE;
    self->stored[i] = 0;
    step->batch = i;
    step->act = act;
}

void pipeline_written(pipeline_t *self, int ok, int stored, pipe_step_t *step)
{
    int i = pipeline_find(self, STAGE_WRITING);
    assert(i >= 0);
    if (self->sync_failed)
        ok = 0; /* written after an unsynced write: not durable either */
    self->write_failed = !ok;
    if (!ok) {
        done(self, i, PIPE_FAIL, step);
        return;
    }
    step->batch = i;
    if (syncing(self) >= 0) {
        self->stage[i] = STAGE_WRITTEN;
        self->stored[i] = stored;
        step->act = PIPE_WAIT;
    } else if (!stored) {
        done(self, i, PIPE_ACK, step); /* nothing to sync, nothing before it */
    } else {
        self->stage[i] = STAGE_SYNCING;
        step->act = PIPE_SYNC_JOB;
    }
}

void pipeline_inline_written(pipeline_t *self, int ok, int stored, int render_job,
                             pipe_step_t *step)
{
    int i = pipeline_find(self, STAGE_INLINE);
    assert(i >= 0);
    assert(ok || !render_job);
    self->write_failed = !ok;
    self->rendering[i] = render_job;
    if (!ok || !stored) {
        done(self, i, ok ? PIPE_ACK : PIPE_FAIL, step); /* nothing stored: nothing to sync */
        return;
    }
    step->batch = i;
    step->act = PIPE_SYNC_INLINE;
}

void pipeline_inline_synced(pipeline_t *self, int ok, pipe_step_t *step)
{
    int i = pipeline_find(self, STAGE_INLINE);
    assert(i >= 0);
    if (!ok)
        self->sync_failed = 1;
    done(self, i, ok ? PIPE_ACK : PIPE_FAIL, step);
}

int pipeline_synced(pipeline_t *self, int ok, pipe_step_t steps[2])
{
    int i = syncing(self), next = pipeline_find(self, STAGE_WRITTEN);
    assert(i >= 0);
    if (!ok)
        self->sync_failed = 1;
    done(self, i, ok ? PIPE_ACK : PIPE_FAIL, &steps[0]);
    if (next < 0)
        return 1;
    if (!ok)
        done(self, next, PIPE_FAIL, &steps[1]);
    else if (!self->stored[next])
        done(self, next, PIPE_ACK, &steps[1]);
    else {
        self->stage[next] = STAGE_SYNCING;
        steps[1].batch = next;
        steps[1].act = PIPE_SYNC_JOB;
    }
    return 2;
}

void pipeline_rendered(pipeline_t *self, pipe_step_t *step)
{
    int i = pipeline_find(self, STAGE_RENDERING);
    assert(i >= 0);
    self->rendering[i] = 0;
    self->stage[i] = STAGE_FREE;
    step->batch = i;
    step->act = PIPE_PUBLISH;
}

const char *pipeline_stage_name(stage_t s)
{
    static const char *const names[] = {"free",    "open",    "writing",  "inline",
                                        "written", "syncing", "rendering"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}
