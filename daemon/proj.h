/* proj.h: the programme status projection. Pure and in memory: no I/O, no
 * ZeroMQ, no threads, no wall clock. A proj_t is fed the log's events in
 * sequence order; it checks each against the domain rules (the state
 * machine, unknown programmes, cohorts and people, ...) and renders the
 * derived status documents that subscribers read. docs/status.md describes
 * the topics, the documents and the rules.
 *
 * Contracts:
 *  - Deterministic: the same events give byte-identical documents, so a
 *    rebuild from the log reproduces what was published. The only clock is
 *    the log's (the largest occurred_at applied, proj_as_of).
 *  - All-or-nothing: a rejected event, or one that fails for lack of memory,
 *    leaves the state exactly as it was.
 *  - Nothing rendered or returned as a reason holds a protected
 *    characteristic of an identifiable person: agency topics carry refs but
 *    no characteristics; cohort and programme topics carry none either;
 *    breakdowns by a protected characteristic are published only in dated
 *    releases (release/ topics, release.h), suppressed and audited against
 *    every earlier release; reasons never carry refs.
 *  - Releases are cut on the log clock, before the first event that moves
 *    it into a new period (release_days) or past a cohort's starts_on,
 *    ends_on or the end of its progression window, from the state before
 *    that event: so a rebuild cuts the same releases (but see
 *    docs/status.md, "Releases": not after an erasure whose key is gone).
 *    An applied ParticipantErased also cuts a release of every programme,
 *    from the state after it.
 *  - Not thread-safe: one proj_t is used by one thread at a time. */
#ifndef COHORT_PROJ_H
#define COHORT_PROJ_H
#include <stddef.h>
#include <stdint.h>
#include "cohort.pb-c.h"

/* Tunables. Pass NULL to proj_new for the defaults. */
typedef struct {
    int k;                /* suppression threshold: counts 1..k-1 are hidden (default 5) */
    double at_risk_ratio; /* at risk below this share of the expected minutes (default 0.75) */
    int release_days;     /* breakdowns are released when the log clock enters a new period of
                           * this many days (counted from 1970-01-01), and at cohort
                           * milestones; 0: at milestones only (default 28; release.h) */
} proj_config_t;

#define PROJ_DEFAULT_K 5
#define PROJ_DEFAULT_AT_RISK_RATIO 0.75
#define PROJ_DEFAULT_RELEASE_DAYS 28

typedef struct proj_t proj_t;

/* Creates an empty projection. cfg may be NULL (defaults); a k < 1, a
 * ratio outside [0, 1] or release_days outside 0..366 is replaced by its
 * default. Returns NULL on OOM. */
proj_t *proj_new(const proj_config_t *cfg);

/* Frees the projection and nulls *self_p. Idempotent. */
void proj_destroy(proj_t **self_p);

/* Checks ev (already shape-validated, see validate.c) against the domain
 * rules; if they hold, applies it as log entry seq and returns 0. Otherwise
 * returns a Cohort__V1__RejectCode (> 0) with a one-line reason in reason
 * (len bytes; never a ref or other personal data) and leaves the state
 * exactly unchanged. Returns -EINVAL if seq is not greater than proj_seq()
 * or an argument is NULL, -ENOMEM on allocation failure (state unchanged). */
int proj_apply(proj_t *self, const Cohort__V1__Event *ev, uint64_t seq, char *reason, size_t len);

/* Whether the definition ev (ProgrammeDefined or CohortOpened) changes one
 * that exists: 1 if its programme (or its programme's cohort) is defined
 * now, 0 if ev would be the first definition; -EINVAL for other events or
 * NULL. For a ProgrammeDefined, *aims (if not NULL) gets the aim groups of
 * the programme's current definition as bits 1u << AimGroup (0 if none).
 * For logging who changed what (ingest.c); no state changes. */
int proj_defined(const proj_t *self, const Cohort__V1__Event *ev, unsigned *aims);

/* Cuts a release of every programme now, from the current state, with
 * the given date (YYYY-MM-DD) and reason: for tests and tools that replay
 * a log (the daemon cuts only on the log clock). Returns the number
 * released (the others were withheld), or -ENOMEM. */
int proj_release_now(proj_t *self, const char *date, const char *reason);

/* A cohort/ or programme/ topic's live document with the breakdowns the
 * suppression rule alone gives now ("representation", and
 * "progression.progressed" for a cohort), zeros as given (suppress.h:
 * SUPPRESS_ZEROS_HIDDEN as in releases, SUPPRESS_ZEROS_PUBLISHED as the
 * first rule did): what per-commit publishing would show. Never
 * published: for tests of the rule and the auditor's demonstrations.
 * malloc'd, or NULL (no such topic, OOM). */
char *proj_render_rule_only(const proj_t *self, const char *topic, int zeros);

/* Release cuts withheld by the disclosure gate since proj_new or
 * proj_load (release.h). */
uint64_t proj_releases_withheld(const proj_t *self);

/* Last applied seq (0 when nothing was applied). */
uint64_t proj_seq(const proj_t *self);

/* The log clock: the largest occurred_at (Unix microseconds) applied, 0 if
 * none. Saved and loaded with the state. */
int64_t proj_as_of(const proj_t *self);

/* Topics whose rendering may have changed since the last call, sorted; each
 * handed out once. A topic whose proj_render is now NULL was removed (an
 * agency dropped from a cohort). Returns the count; *out is a malloc'd array
 * of malloc'd strings the caller frees (NULL when the count is 0). On OOM
 * returns 0 and keeps the topics for the next call. */
size_t proj_take_dirty(proj_t *self, char ***out);

/* All current topics starting with prefix ("" or NULL = all), sorted; same
 * ownership as proj_take_dirty. Returns 0 with *out NULL on OOM. */
size_t proj_topics(const proj_t *self, const char *prefix, char ***out);

/* Frees an array returned by proj_take_dirty or proj_topics. */
void proj_strv_free(char **v, size_t n);

/* The current document of a topic as compact JSON with sorted keys
 * (malloc'd), or NULL if there is no such topic (or on OOM). Same state,
 * byte-identical output. Topics: "programme/<p>", "cohort/<p>/<c>",
 * "agency/<a>/<p>/<c>", and once released "release/programme/<p>",
 * "release/cohort/<p>/<c>". */
char *proj_render(const proj_t *self, const char *topic);

/* Every published version of a release topic ("release/..."), oldest
 * first, as published (release.h, release_versions): a JSON array text of
 * the documents, compact with sorted keys (malloc'd; "[]" if the topic
 * has none), or NULL (not a release topic, OOM). */
char *proj_release_versions(const proj_t *self, const char *topic);

/* The jansson json_dumps flags of every rendered status document (and of
 * any tool that prints one again, e.g. cohortctl snapshot): compact, keys
 * sorted, reals to 10 significant digits. Ratios are rounded to 4 decimals
 * when computed, so they print with at most 4 (0.9739, not jansson's
 * default 17 digits 0.97389999999999999). */
#define PROJ_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10))

/* The full state (with seq and the log clock, without the config or the
 * dirty set) as a JSON text (malloc'd), or NULL on OOM. */
char *proj_save(const proj_t *self);

/* Loads a proj_save text into an empty projection (one never applied to or
 * loaded). Returns 0, then every topic is dirty and renders as it did in
 * the saved one (given the same config); -EINVAL if self is not empty or
 * the text is not a valid state; -ENOMEM. On failure self stays empty. */
int proj_load(proj_t *self, const char *text, size_t len);

#endif
