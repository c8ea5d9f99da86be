/* checkpoint.h: the projections' durable checkpoints and their restore.
 *
 * A checkpoint is proj_save()'s text, stored in the store's meta column
 * family under "proj" with one synced write; it carries the sequence it
 * reflects. Restoring loads the latest checkpoint and replays only the log
 * entries after it, so start-up time depends on the tail, not on the log.
 * The log stays the authority: a missing or unreadable checkpoint means a
 * full replay, never a refusal to start. Replay opens sealed registrations
 * with the participants' keys (vault_open_event): an erased person's stays
 * sealed, and one that does not open with its key fails the restore
 * (damage; never invented values). */
#ifndef COHORT_CHECKPOINT_H
#define COHORT_CHECKPOINT_H
#include <stddef.h>
#include <stdint.h>
#include "proj.h"
#include "store.h"

/* The meta key of the checkpoint. An erasure deletes it in its own write
 * (the old checkpoint describes the erased person); the purge saves a new
 * one. */
#define CHECKPOINT_KEY "proj"

/* Restore statistics, for the start-up log line. */
typedef struct {
    uint64_t checkpoint_seq; /* sequence of the checkpoint used (0 = none) */
    uint64_t replayed;       /* log entries applied after it */
    uint64_t refused;        /* entries the domain rules refused on replay */
} checkpoint_info_t;

/* Builds a projection (config cfg) from the latest checkpoint, unless
 * use_checkpoint is 0, plus a replay of the log up to upto (0 = to the
 * head). Returns 0 and *out (caller destroys), or a negative errno with the
 * reason in err. */
int checkpoint_restore(store_t *store, const proj_config_t *cfg, int use_checkpoint, uint64_t upto,
                       proj_t **out, checkpoint_info_t *info, char *err, size_t errlen);

/* A replay's progress: called with the sequence of each log entry about to
 * be applied, and with seq 0 just before the replay writes a log line (so a
 * progress display can be cleared first). */
typedef void (*checkpoint_step_fn)(void *arg, uint64_t seq);

/* checkpoint_restore, calling step(arg, ...) during the replay when step is
 * not NULL (cohortctl rebuild's progress report). */
int checkpoint_replay(store_t *store, const proj_config_t *cfg, int use_checkpoint, uint64_t upto,
                      checkpoint_step_fn step, void *arg, proj_t **out, checkpoint_info_t *info,
                      char *err, size_t errlen);

/* Saves proj as the checkpoint (synced). Returns 0 or a negative errno with
 * the reason in err. */
int checkpoint_save(store_t *store, const proj_t *proj, char *err, size_t errlen);

#endif
