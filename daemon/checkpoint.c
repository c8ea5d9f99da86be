/* checkpoint.c: projection checkpoints in the store (see checkpoint.h). */
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vault.h"

#define KEY CHECKPOINT_KEY

/* Replay state for store_scan. */
typedef struct {
    store_t *store; /* the log's store (for the participants' keys) */
    proj_t *proj;   /* being built */
    uint64_t upto;  /* last sequence to apply (0 = all) */
    checkpoint_info_t *info;
    uint64_t bad_seq;        /* the entry whose sealed characteristics did not open */
    checkpoint_step_fn step; /* progress, or NULL */
    void *step_arg;          /* its argument */
} replay_t;

/* Tells the progress hook, if any, that a log line follows. */
static void before_log(const replay_t *r)
{
    if (r->step)
        r->step(r->step_arg, 0);
}

static int apply(void *arg, uint64_t seq, const void *val, size_t len)
{
    replay_t *r = arg;
    char why[256];
    if (r->upto && seq > r->upto)
        return 1; /* stop: past the requested point */
    if (r->step)
        r->step(r->step_arg, seq);
    Cohort__V1__Event *ev = cohort__v1__event__unpack(NULL, len, val);
    if (!ev) {
        before_log(r);
        cohort_log(LOG_WARNING, "replay: log entry %llu does not decode; skipped",
                   (unsigned long long)seq);
        r->info->refused++;
        return 0;
    }
    /* Sealed characteristics are opened with the person's key; without it
     * (erased) the fields stay unset. A key that does not open them means
     * damage: stop rather than invent values. */
    int rc = vault_open_event(r->store, ev);
    if (rc < 0) {
        cohort__v1__event__free_unpacked(ev, NULL);
        r->bad_seq = seq;
        return rc;
    }
    rc = proj_apply(r->proj, ev, seq, why, sizeof why);
    cohort__v1__event__free_unpacked(ev, NULL);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        /* Accepted once under these rules, so only a rule change can get
         * here; the log stays as it is, the projection skips the entry. */
        before_log(r);
        cohort_log(LOG_WARNING, "replay: log entry %llu refused by the domain rules (%s)",
                   (unsigned long long)seq, why);
        r->info->refused++;
    }
    r->info->replayed++;
    return 0;
}

int checkpoint_restore(store_t *store, const proj_config_t *cfg, int use_checkpoint, uint64_t upto,
                       proj_t **out, checkpoint_info_t *info, char *err, size_t errlen)
{
    return checkpoint_replay(store, cfg, use_checkpoint, upto, NULL, NULL, out, info, err, errlen);
}

int checkpoint_replay(store_t *store, const proj_config_t *cfg, int use_checkpoint, uint64_t upto,
                      checkpoint_step_fn step, void *arg, proj_t **out, checkpoint_info_t *info,
                      char *err, size_t errlen)
{
    proj_t *p = proj_new(cfg);
    char *text = NULL;
    size_t len = 0;
    int rc;
    *out = NULL;
    memset(info, 0, sizeof *info);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (use_checkpoint && store_get_meta(store, KEY, &text, &len) == 0) {
        proj_t *q = proj_new(cfg);
        if (q && proj_load(q, text, len) == 0 && (!upto || proj_seq(q) <= upto)) {
            proj_destroy(&p);
            p = q;
            info->checkpoint_seq = proj_seq(p);
        } else {
            if (step)
                step(arg, 0);
            cohort_log(LOG_WARNING, "checkpoint unusable; replaying the whole log");
            proj_destroy(&q);
        }
        free(text);
    }
    replay_t r = {store, p, upto, info, 0, step, arg};
    if ((rc = store_scan(store, proj_seq(p) + 1, 0, apply, &r)) < 0) {
        if (r.bad_seq && rc == -EBADMSG)
            snprintf(err, errlen,
                     "replaying the log: the sealed characteristics of entry %llu do not open "
                     "with the participant's key (damaged entry or key)",
                     (unsigned long long)r.bad_seq);
        else if (r.bad_seq)
            snprintf(err, errlen, "replaying the log: reading the key for entry %llu: %s",
                     (unsigned long long)r.bad_seq, strerror(-rc));
        else
            snprintf(err, errlen, "replaying the log: %s", strerror(-rc));
        proj_destroy(&p);
        return rc;
    }
    *out = p;
    return 0;
}

int checkpoint_save(store_t *store, const proj_t *proj, char *err, size_t errlen)
{
    char *text = proj_save(proj);
    int rc;
    if (!text) {
        snprintf(err, errlen, "out of memory saving the projections");
        return -ENOMEM;
    }
    rc = store_put_meta(store, KEY, text, strlen(text), err, errlen);
    free(text);
    return rc;
}
