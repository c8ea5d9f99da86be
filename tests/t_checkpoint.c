/* t_checkpoint: unit tests for checkpoint.c, the projections' checkpoints
 * and their restore, on a real store: a restore without a checkpoint is a
 * full replay; after checkpoint_save only the tail is replayed and the
 * state equals a full replay's; `upto` stops early; a damaged checkpoint
 * means a full replay, never a refusal; a log entry that does not decode
 * is skipped; the progress hook sees every
 * sequence. Events: the example programmes' definitions (examples/). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cohort.pb-c.h"
#include "cohort_json.h"
#include "log.h"
#include "store.h"
#include "tap.h"

static const proj_config_t CFG = {PROJ_DEFAULT_K, PROJ_DEFAULT_AT_RISK_RATIO,
                                  PROJ_DEFAULT_RELEASE_DAYS};

/* Line n (1-based) of an example file, or NULL. */
static char *example_line(const char *file, int n)
{
    char path[512], *line = NULL;
    size_t cap = 0;
    snprintf(path, sizeof path, "%s/examples/%s", COHORT_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    for (int i = 0; i < n; i++)
        if (getline(&line, &cap, f) < 0) {
            free(line);
            line = NULL;
            break;
        }
    fclose(f);
    return line;
}

/* Commits one stored value (agency and id as given) and returns 0 or -1. */
static int commit_raw(store_t *s, const char *agency, unsigned n, const void *val, size_t len)
{
    char err[512];
    uint8_t id[16] = {0};
    store_batch_t *b = store_batch_new();
    id[0] = 0x42;
    id[15] = (uint8_t)n;
    int rc = b && store_batch_add(b, agency, id, val, len) == 0 &&
                     store_commit(s, b, err, sizeof err) == 0
                 ? 0
                 : -1;
    if (rc < 0)
        diag("commit: %s", err);
    store_batch_destroy(&b);
    return rc;
}

/* Commits an example event (file, line). */
static int commit_example(store_t *s, const char *file, int n)
{
    char err[512], *line = example_line(file, n);
    Cohort__V1__Event *ev = line ? cohort_json_to_event(line, strlen(line), err, sizeof err) : NULL;
    int rc = -1;
    if (ev) {
        size_t len = cohort__v1__event__get_packed_size(ev);
        uint8_t *buf = malloc(len);
        cohort__v1__event__pack(ev, buf);
        rc = commit_raw(s, ev->agency, (unsigned)(100 + n + 10 * (file[0] == 'l')), buf, len);
        free(buf);
        cohort__v1__event__free_unpacked(ev, NULL);
    } else {
        diag("example %s:%d: %s", file, n, line ? err : "missing");
    }
    free(line);
    return rc;
}

static uint64_t steps, last_step;
static void on_step(void *arg, uint64_t seq)
{
    (void)arg;
    if (seq) {
        steps++;
        last_step = seq;
    }
}

/* Restores; returns the projection (NULL on failure, diag'd). */
static proj_t *restore(store_t *s, int use_cp, uint64_t upto, checkpoint_info_t *info)
{
    char err[512] = "";
    proj_t *p = NULL;
    if (checkpoint_restore(s, &CFG, use_cp, upto, &p, info, err, sizeof err) < 0) {
        diag("restore: %s", err);
        return NULL;
    }
    return p;
}

/* 1 if a and b have the same saved state. */
static int same(const proj_t *a, const proj_t *b)
{
    char *x = proj_save(a), *y = proj_save(b);
    int eq = x && y && strcmp(x, y) == 0;
    free(x);
    free(y);
    return eq;
}

int main(void)
{
    char dir[] = "/tmp/t_checkpoint.XXXXXX", err[512];
    store_t *s = NULL;
    checkpoint_info_t info;
    proj_t *p, *full;
    cohort_log_set_level(LOG_WARNING);
    if (!mkdtemp(dir) || store_open(&s, dir, 0, err, sizeof err) < 0) {
        printf("Bail out! store: %s\n", err);
        return 1;
    }

    /* an empty log */
    p = restore(s, 1, 0, &info);
    ok(p && proj_seq(p) == 0 && info.checkpoint_seq == 0 && info.replayed == 0,
       "an empty log restores to seq 0, nothing replayed");
    proj_destroy(&p);

    /* two definitions, no checkpoint: a full replay */
    ok(commit_example(s, "step-forward.jsonl", 1) == 0 &&
           commit_example(s, "step-forward.jsonl", 2) == 0,
       "two definitions committed (seq 1, 2)");
    p = restore(s, 1, 0, &info);
    ok(p && proj_seq(p) == 2, "restored to seq 2");
    is_int((int)info.checkpoint_seq, 0, "no checkpoint yet");
    is_int((int)info.replayed, 2, "both entries replayed");
    char *doc = p ? proj_render(p, "programme/step-forward") : NULL;
    ok(doc && strstr(doc, "\"cohorts\":[\"2009-1\"]"), "the programme document lists its cohort");
    free(doc);

    /* a checkpoint, then a tail */
    ok(p && checkpoint_save(s, p, err, sizeof err) == 0, "checkpoint saved at seq 2");
    proj_destroy(&p);
    ok(commit_example(s, "leadership-in-partnership.jsonl", 1) == 0 &&
           commit_example(s, "leadership-in-partnership.jsonl", 2) == 0,
       "two more definitions committed (seq 3, 4)");
    p = restore(s, 1, 0, &info);
    ok(p && proj_seq(p) == 4, "restored to seq 4");
    is_int((int)info.checkpoint_seq, 2, "from the checkpoint at seq 2");
    is_int((int)info.replayed, 2, "only the tail replayed");
    full = restore(s, 0, 0, &info);
    is_int((int)info.replayed, 4, "use_checkpoint 0: the whole log replayed");
    ok(p && full && same(p, full), "checkpoint + tail == full replay");
    proj_destroy(&full);

    /* upto */
    full = restore(s, 0, 3, &info);
    ok(full && proj_seq(full) == 3 && info.replayed == 3, "upto 3 stops at seq 3");
    proj_destroy(&full);

    /* the progress hook sees every entry */
    steps = last_step = 0;
    ok(checkpoint_replay(s, &CFG, 0, 0, on_step, NULL, &full, &info, err, sizeof err) == 0 &&
           steps == 4 && last_step == 4,
       "checkpoint_replay calls the hook for each of the 4 entries");
    proj_destroy(&full);

    /* a damaged checkpoint: a full replay, not a refusal */
    ok(store_put_meta(s, CHECKPOINT_KEY, "{not json", 9, err, sizeof err) == 0,
       "checkpoint overwritten with garbage");
    full = restore(s, 1, 0, &info);
    ok(full && proj_seq(full) == 4 && info.checkpoint_seq == 0 && info.replayed == 4,
       "a damaged checkpoint means a full replay");
    ok(full && p && same(full, p), "... to the same state");
    proj_destroy(&full);

    /* a checkpoint at the head, then an entry that does not decode after it */
    ok(commit_example(s, "step-forward.jsonl", 3) == 0, "a fifth entry committed");
    full = restore(s, 0, 0, &info);
    ok(full && checkpoint_save(s, full, err, sizeof err) == 0, "checkpoint at seq 5");
    proj_destroy(&full);

    /* an entry that does not decode is skipped */
    ok(commit_raw(s, "wm-police", 200, "\xff\xff\xff", 3) == 0, "an undecodable entry at seq 6");
    full = restore(s, 1, 0, &info);
    ok(full && info.checkpoint_seq == 5 && info.refused == 1,
       "a restore over it still succeeds: checkpoint 5, the entry counted as refused");
    proj_destroy(&full);

    proj_destroy(&p);
    store_close(&s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}
