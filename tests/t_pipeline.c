/* t_pipeline.c: the ingest pipeline's stage transitions (daemon/pipeline.c).
 *
 * The state machine has no I/O, so each test drives it as ingest.c does and
 * checks, after every event, each batch's stage and the step asked for.
 * A small "driver" records the acks in order: a batch is acked only when
 * the pipeline says PIPE_ACK, and the checks below assert that this never
 * happens before its own sync returned (or, storing nothing, before the
 * sync ahead of it returned). */
#include "pipeline.h"
#include "tap.h"

#include <string.h>

#define SMALL 1   /* events in a small batch */
#define LARGE 999 /* events in a batch too large to go inline */
#define INLINE_MAX 256

static int acked[64], nacked, failed[64], nfailed; /* batches answered, in order */

/* Performs what the driver does on ACK/FAIL: records it. */
static void answer(pipe_step_t s)
{
    if (s.act == PIPE_ACK)
        acked[nacked++] = s.batch;
    if (s.act == PIPE_FAIL)
        failed[nfailed++] = s.batch;
}

static void reset_answers(void)
{
    nacked = nfailed = 0;
}

/* Takes the open batch with n events (force = 0, needs_worker as given). */
static int take(pipeline_t *pl, size_t n, int needs_worker, pipe_step_t *s, int *reopen)
{
    pipe_take_t in = {.requests = n ? 1 : 0,
                      .events = n,
                      .force = 0,
                      .needs_worker = needs_worker,
                      .inline_max = INLINE_MAX};
    return pipeline_take(pl, &in, s, reopen);
}

/* 1 if every batch's stage is as listed (stages[i] for batch i). */
static int stages_are(const pipeline_t *pl, stage_t a, stage_t b, stage_t c, stage_t d)
{
    stage_t want[PIPELINE_BATCHES] = {a, b, c, d};
    int good = 1;
    for (int i = 0; i < PIPELINE_BATCHES; i++)
        if (pipeline_stage(pl, i) != want[i]) {
            diag("batch %d: %s, want %s", i, pipeline_stage_name(pipeline_stage(pl, i)),
                 pipeline_stage_name(want[i]));
            good = 0;
        }
    return good;
}

/* (a) One batch through the worker route: open -> writing -> syncing ->
 * durable, acked only after its sync. */
static void t_one_batch(void)
{
    pipeline_t *pl = pipeline_new();
    pipe_step_t s, ss[2];
    int reopen, n;
    reset_answers();
    ok(stages_are(pl, STAGE_OPEN, STAGE_FREE, STAGE_FREE, STAGE_FREE) && pipeline_idle(pl),
       "new: batch 0 open, the rest free, idle");
    ok(!take(pl, 0, 0, &s, &reopen), "an empty open batch is not taken");
    ok(take(pl, LARGE, 0, &s, &reopen) && s.batch == 0 && s.act == PIPE_WRITE_JOB && !reopen,
       "a large batch goes to the write job");
    ok(stages_are(pl, STAGE_WRITING, STAGE_OPEN, STAGE_FREE, STAGE_FREE) && !pipeline_idle(pl) &&
           pipeline_write_busy(pl),
       "open -> writing; a free batch is the new open one");
    ok(!take(pl, LARGE, 0, &s, &reopen), "nothing else is taken while one is writing");
    pipeline_written(pl, 1, 1, &s);
    ok(s.batch == 0 && s.act == PIPE_SYNC_JOB, "written, nothing syncing: its sync job starts");
    ok(stages_are(pl, STAGE_SYNCING, STAGE_OPEN, STAGE_FREE, STAGE_FREE) && nacked == 0,
       "writing -> syncing, and it is not acked yet");
    n = pipeline_synced(pl, 1, ss);
    answer(ss[0]);
    ok(n == 1 && ss[0].batch == 0 && ss[0].act == PIPE_ACK && nacked == 1 && acked[0] == 0,
       "acked when its sync returns");
    ok(stages_are(pl, STAGE_FREE, STAGE_OPEN, STAGE_FREE, STAGE_FREE) && pipeline_idle(pl),
       "syncing -> free; idle again");
    pipeline_destroy(&pl);
    pipeline_destroy(&pl);
    ok(pl == NULL, "destroy nulls the pointer and is idempotent");
}

/* (b) Group commit: the next batch is written while the first syncs; at
 * most one waits in written; acks in order, each after its own sync. */
static void t_overlap(void)
{
    pipeline_t *pl = pipeline_new();
    pipe_step_t s, ss[2];
    int reopen, n;
    reset_answers();
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* 0 syncing */
    ok(take(pl, LARGE, 0, &s, &reopen) && s.batch == 1 && s.act == PIPE_WRITE_JOB,
       "while batch 0 syncs, batch 1 is taken for writing");
    ok(stages_are(pl, STAGE_SYNCING, STAGE_WRITING, STAGE_OPEN, STAGE_FREE),
       "0 syncing, 1 writing, 2 open");
    ok(take(pl, SMALL, 0, &s, &reopen) == 0, "no third write beside them");
    pipeline_written(pl, 1, 1, &s);
    ok(s.batch == 1 && s.act == PIPE_WAIT &&
           stages_are(pl, STAGE_SYNCING, STAGE_WRITTEN, STAGE_OPEN, STAGE_FREE),
       "batch 1 written while 0 syncs: it waits in written, no second sync");
    ok(!take(pl, LARGE, 0, &s, &reopen), "nothing is taken while a batch waits in written");
    ok(nacked == 0, "neither is acked before any sync returned");
    n = pipeline_synced(pl, 1, ss);
    for (int i = 0; i < n; i++)
        answer(ss[i]);
    ok(n == 2 && ss[0].batch == 0 && ss[0].act == PIPE_ACK && ss[1].batch == 1 &&
           ss[1].act == PIPE_SYNC_JOB,
       "0's sync returns: 0 acked, then 1's sync starts (one that began after 1's write)");
    ok(nacked == 1 && acked[0] == 0 &&
           stages_are(pl, STAGE_FREE, STAGE_SYNCING, STAGE_OPEN, STAGE_FREE),
       "1 is syncing, not acked");
    ok(take(pl, LARGE, 0, &s, &reopen) && s.batch == 2 && s.act == PIPE_WRITE_JOB &&
           stages_are(pl, STAGE_OPEN, STAGE_SYNCING, STAGE_WRITING, STAGE_FREE),
       "batch 2 is written while 1 syncs; the freed batch 0 is open again");
    n = pipeline_synced(pl, 1, ss);
    answer(ss[0]);
    ok(n == 1 && ss[0].batch == 1 && nacked == 2 && acked[1] == 1, "1 acked after its sync");
    pipeline_written(pl, 1, 0, &s);
    answer(s);
    ok(s.batch == 2 && s.act == PIPE_ACK && pipeline_idle(pl),
       "a batch that stored nothing (duplicates, refusals) with no sync ahead: acked, no sync");
    /* A batch that stored nothing waits for the sync ahead of it. */
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* syncing */
    take(pl, LARGE, 0, &s, &reopen);
    int quiet = s.batch;
    pipeline_written(pl, 1, 0, &s);
    ok(s.act == PIPE_WAIT && pipeline_stage(pl, quiet) == STAGE_WRITTEN,
       "a batch that stored nothing, behind a sync, waits in written");
    n = pipeline_synced(pl, 1, ss);
    for (int i = 0; i < n; i++)
        answer(ss[i]);
    ok(n == 2 && ss[0].act == PIPE_ACK && ss[1].batch == quiet && ss[1].act == PIPE_ACK &&
           pipeline_idle(pl),
       "and is acked (without a sync of its own) right after the sync ahead of it");
    pipeline_destroy(&pl);
}

/* (c) A failed sync fails its batch and the written one behind it, a write
 * returning later fails too, and the next take asks for a reopen. */
static void t_sync_failure(void)
{
    pipeline_t *pl = pipeline_new();
    pipe_step_t s, ss[2];
    int reopen, n;
    reset_answers();
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* 0 syncing */
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* 1 written */
    ok(!take(pl, LARGE, 0, &s, &reopen), "nothing is taken while 1 waits in written");
    ok(stages_are(pl, STAGE_SYNCING, STAGE_WRITTEN, STAGE_OPEN, STAGE_FREE),
       "0 syncing, 1 written, 2 open");
    n = pipeline_synced(pl, 0, ss);
    for (int i = 0; i < n; i++)
        answer(ss[i]);
    ok(n == 2 && ss[0].batch == 0 && ss[0].act == PIPE_FAIL && ss[1].batch == 1 &&
           ss[1].act == PIPE_FAIL && nacked == 0,
       "a failed sync fails its batch and the written one after it; nothing acked");
    ok(stages_are(pl, STAGE_FREE, STAGE_FREE, STAGE_OPEN, STAGE_FREE), "both free again");
    ok(take(pl, SMALL, 0, &s, &reopen) && reopen && s.batch == 2 && s.act == PIPE_WRITE_JOB,
       "the next write asks for a store reopen, and goes to the write job (not inline)");
    ok(!take(pl, SMALL, 0, &s, &reopen) && !reopen, "the reopen is asked for once");
    pipeline_written(pl, 1, 1, &s);
    ok(s.act == PIPE_SYNC_JOB, "after the reopen the pipeline carries on");
    n = pipeline_synced(pl, 1, ss);
    answer(ss[0]);
    ok(n == 1 && ss[0].batch == 2 && ss[0].act == PIPE_ACK, "and acks again");

    /* A write that was in flight while the sync failed is failed too. */
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* syncing */
    take(pl, LARGE, 0, &s, &reopen);
    int w = s.batch;
    n = pipeline_synced(pl, 0, ss); /* fails while w is writing */
    ok(n == 1 && ss[0].act == PIPE_FAIL, "a sync fails while the next batch is writing");
    pipeline_written(pl, 1, 1, &s);
    ok(s.batch == w && s.act == PIPE_FAIL,
       "the write returning after it fails too: its sync would not cover the lost write");
    ok(take(pl, SMALL, 0, &s, &reopen) && reopen && s.act == PIPE_WRITE_JOB,
       "then a reopen, in the write job");
    pipeline_written(pl, 1, 1, &s);
    pipeline_synced(pl, 1, ss);

    /* A failed write: the next write (which may reopen the store) waits
     * for the sync in flight. */
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 1, 1, &s); /* syncing */
    take(pl, LARGE, 0, &s, &reopen);
    pipeline_written(pl, 0, 0, &s);
    ok(s.act == PIPE_FAIL, "a failed write fails its batch");
    ok(!take(pl, SMALL, 1, &s, &reopen), "the next write does not start beside the sync");
    n = pipeline_synced(pl, 1, ss);
    ok(n == 1 && ss[0].act == PIPE_ACK, "the sync ahead still acks its own batch");
    ok(take(pl, SMALL, 1, &s, &reopen) && !reopen && s.act == PIPE_WRITE_JOB,
       "then the next write runs in the job (the store is down: it needs the worker)");
    pipeline_written(pl, 1, 1, &s);
    pipeline_synced(pl, 1, ss);
    ok(pipeline_idle(pl), "idle again");
    pipeline_destroy(&pl);
}

/* (d) The low-load inline route. */
static void t_inline(void)
{
    pipeline_t *pl = pipeline_new();
    pipe_step_t s, ss[2];
    int reopen, n;
    reset_answers();
    ok(take(pl, SMALL, 0, &s, &reopen) && s.batch == 0 && s.act == PIPE_WRITE_INLINE,
       "a small batch with nothing in flight goes inline");
    ok(stages_are(pl, STAGE_INLINE, STAGE_OPEN, STAGE_FREE, STAGE_FREE) && pipeline_write_busy(pl),
       "open -> inline");
    pipeline_inline_written(pl, 1, 1, 0, &s);
    ok(s.batch == 0 && s.act == PIPE_SYNC_INLINE && pipeline_stage(pl, 0) == STAGE_INLINE &&
           nacked == 0,
       "written inline, no documents due: synced on the loop, not acked yet");
    pipeline_inline_synced(pl, 1, &s);
    answer(s);
    ok(s.act == PIPE_ACK && nacked == 1 && pipeline_idle(pl), "acked after the inline sync");

    ok(take(pl, SMALL, 1, &s, &reopen) && s.act == PIPE_WRITE_JOB,
       "a small batch that needs the worker (store down, projections stale, purge due) goes to "
       "the job");
    pipeline_written(pl, 1, 1, &s);
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_JOB,
       "a small batch while a sync is in flight goes to the job");
    pipeline_written(pl, 1, 1, &s);
    n = pipeline_synced(pl, 1, ss);
    ok(n == 2 && ss[1].act == PIPE_SYNC_JOB, "(pipelined)");
    pipeline_synced(pl, 1, ss);

    /* An inline batch never waits for a job: the loop writes, syncs and
     * acks it in one call (its documents are rendered after the ack). */
    reset_answers();
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_INLINE, "inline again");
    int b = s.batch;
    pipeline_inline_written(pl, 1, 1, 0, &s);
    ok(s.batch == b && s.act == PIPE_SYNC_INLINE && !take(pl, SMALL, 0, &ss[0], &reopen),
       "written inline: the write stage stays busy until its sync on the loop returns");
    pipeline_inline_synced(pl, 1, &s);
    answer(s);
    ok(s.act == PIPE_ACK && nacked == 1 && acked[0] == b && pipeline_idle(pl),
       "then acked, and nothing is left in flight");
    ok(take(pl, LARGE, 0, &s, &reopen) && s.act == PIPE_WRITE_JOB,
       "a large batch is written in the job");
    pipeline_written(pl, 1, 1, &s);
    n = pipeline_synced(pl, 1, ss);
    ok(n == 1 && ss[0].act == PIPE_ACK, "and acked when its sync job returns");
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_INLINE,
       "once nothing is in flight, small batches go inline again");

    /* Inline failures. */
    pipeline_inline_written(pl, 0, 0, 0, &s);
    ok(s.act == PIPE_FAIL && pipeline_idle(pl), "a failed inline write fails the batch");
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_JOB,
       "after a failed write the next one goes to the job (it may reopen the store)");
    pipeline_written(pl, 1, 1, &s);
    pipeline_synced(pl, 1, ss);
    take(pl, SMALL, 0, &s, &reopen);
    ok(s.act == PIPE_WRITE_INLINE, "inline again after a good write");
    pipeline_inline_written(pl, 1, 1, 0, &s);
    pipeline_inline_synced(pl, 0, &s);
    ok(s.act == PIPE_FAIL, "a failed inline sync fails the batch");
    ok(take(pl, SMALL, 0, &s, &reopen) && reopen && s.act == PIPE_WRITE_JOB,
       "and the next write reopens the store, in the job");
    pipeline_written(pl, 1, 1, &s);
    pipeline_synced(pl, 1, ss);
    take(pl, SMALL, 0, &s, &reopen);
    pipeline_inline_written(pl, 1, 0, 0, &s);
    ok(s.act == PIPE_ACK && pipeline_idle(pl),
       "an inline batch that stored nothing: acked, no sync");
    pipeline_destroy(&pl);
}

/* (e) The inline route with documents due: a render job renders them while
 * the loop syncs; the ack does not wait for it, the publication does, and
 * nothing later is written before it. */
static void t_rendering(void)
{
    pipeline_t *pl = pipeline_new();
    pipe_step_t s;
    int reopen, b;
    pipe_take_t forced = {.requests = 0, .force = 1, .inline_max = INLINE_MAX};
    reset_answers();
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_INLINE, "a small batch goes inline");
    b = s.batch;
    pipeline_inline_written(pl, 1, 1, 1, &s);
    ok(s.batch == b && s.act == PIPE_SYNC_INLINE && pipeline_stage(pl, b) == STAGE_INLINE,
       "written, a render job out: still synced on the loop");
    pipeline_inline_synced(pl, 1, &s);
    answer(s);
    ok(s.act == PIPE_ACK && nacked == 1 && pipeline_stage(pl, b) == STAGE_RENDERING,
       "acked when its own sync returns, without waiting for the render job");
    ok(!pipeline_idle(pl) && pipeline_write_busy(pl), "rendering: not idle, the write stage busy");
    ok(!take(pl, SMALL, 0, &s, &reopen) && !take(pl, LARGE, 0, &s, &reopen) &&
           !pipeline_take(pl, &forced, &s, &reopen),
       "no batch is taken (small, large or forced) before its documents are published");
    pipeline_rendered(pl, &s);
    ok(s.batch == b && s.act == PIPE_PUBLISH && pipeline_stage(pl, b) == STAGE_FREE &&
           pipeline_idle(pl),
       "the render job returns: publish, and the batch is free");
    ok(take(pl, SMALL, 0, &s, &reopen) && s.act == PIPE_WRITE_INLINE, "then the next goes inline");

    /* Stored nothing (a render-only job, or only duplicates): acked at once. */
    b = s.batch;
    pipeline_inline_written(pl, 1, 0, 1, &s);
    ok(s.act == PIPE_ACK && pipeline_stage(pl, b) == STAGE_RENDERING,
       "stored nothing, a render job out: acked, rendering");
    pipeline_rendered(pl, &s);
    ok(s.act == PIPE_PUBLISH && pipeline_idle(pl), "published when it returns");

    /* A failed sync with a render job out. */
    take(pl, SMALL, 0, &s, &reopen);
    b = s.batch;
    pipeline_inline_written(pl, 1, 1, 1, &s);
    pipeline_inline_synced(pl, 0, &s);
    ok(s.act == PIPE_FAIL && pipeline_stage(pl, b) == STAGE_RENDERING,
       "a failed sync fails the batch; it stays rendering until its job returns");
    ok(!take(pl, SMALL, 0, &s, &reopen), "nothing is taken meanwhile");
    pipeline_rendered(pl, &s);
    ok(s.act == PIPE_PUBLISH && pipeline_idle(pl),
       "then it is free (the ingest publishes nothing of a failed batch)");
    ok(take(pl, SMALL, 0, &s, &reopen) && reopen && s.act == PIPE_WRITE_JOB,
       "and the next write reopens the store, in the job");
    pipeline_destroy(&pl);
}

/* Every stage has a name. */
static void t_names(void)
{
    ok(strcmp(pipeline_stage_name(STAGE_INLINE), "inline") == 0 &&
           strcmp(pipeline_stage_name(STAGE_SYNCING), "syncing") == 0 &&
           strcmp(pipeline_stage_name(STAGE_RENDERING), "rendering") == 0 &&
           strcmp(pipeline_stage_name((stage_t)99), "?") == 0,
       "stage names");
}

int main(void)
{
    t_one_batch();
    t_overlap();
    t_sync_failure();
    t_inline();
    t_rendering();
    t_names();
    return tap_done();
}
