/* release.h: dated releases of the breakdowns by protected characteristic
 * (docs/status.md, "Releases"). Pure: no I/O, no wall clock, no threads;
 * owned and driven by the projection (the cuts in proj_render.c, the
 * saving in proj_state.c), which saves it with its state, so a rebuild
 * from the log makes the same releases.
 *
 * The live documents (cohort/, programme/) carry no breakdown. Breakdowns
 * (representation, the aims' actual_percent, progressed, the funnel, the
 * leavers and the chained retention and promotion tables by ethnic group)
 * are published only here, as the topics "release/cohort/<p>/<c>" and
 * "release/programme/<p>", when the projection cuts a release of a
 * programme (on the log clock's schedule, or at a cohort milestone).
 *
 * Contract of release_cut, for one programme at a time (its roll-up and
 * every cohort, all or nothing):
 *  1. each table is suppressed (suppress.h, threshold k, with the zeros
 *     beside a hidden cell hidden too: SUPPRESS_ZEROS_HIDDEN); a population
 *     of fewer than k gets no breakdown at all; aims over a
 *     special-category strand (disability, LGB) are reported only for a
 *     population of at least 2k, and only when the count and the rest are
 *     both at least k;
 *  2. the candidate documents are audited (audit.h), alone and against
 *     every earlier release of the programme's topics, as a reader who
 *     keeps every version would combine them;
 *  3. any cell a finding names is hidden (or, if hidden already, a cell
 *     beside it in one of its rows), and 1-2 repeat, at most
 *     RELEASE_MAX_ROUNDS times;
 *  4. if findings remain the release is withheld: nothing is published
 *     and the previous release stays current.
 * The chained tables (chain.h: retention.retained and
 * progression.after_completion of a cohort) are cut after all that, in a
 * second phase: 1-3 run first without them, gated against the earlier
 * releases without them, so every other cell is decided as before they
 * existed; then they are added, gated against the earlier releases as
 * published, and escalated first (a cell beside the named one hidden, the
 * table withheld from a document when that fails; any other finding
 * withholds them all); only a finding that remains with none of them shown
 * escalates the other tables again.
 * So every published version passes the auditor against every other
 * published version of the same programme. */
#ifndef COHORT_RELEASE_H
#define COHORT_RELEASE_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "chain.h"

#define RELEASE_MAX_ROUNDS 24

/* The representation table's cells (the layout docs/status.md shows). */
enum {
    RT_TOTAL = 0,
    RT_GROUP = 1, /* 1..6: WHITE MIXED ASIAN BLACK CHINESE_OR_OTHER NOT_STATED */
    RT_CODE = 7,  /* 7..23: Ethnicity 1..17 */
    RT_BME = 24,
    RT_GENDER = 25, /* 25..28: Gender 1..4 */
    RT_DIS = 29,    /* 29..31: Disability 1..3 */
    RT_LGB = 32,
    RT_NOT_LGB = 33, /* heterosexual, other or not recorded: never published */
    RT_N = 34
};

/* The progressed table: [0] everyone progressed, [1 + g] by ethnic group. */
#define RELEASE_NMOVED 7

/* The funnel by ethnic group (docs/status.md, "funnel_reached"): cells
 * RELEASE_REACH(s, g) for the 6 selection stages s = 0 (APPLIED) .. 5
 * (ENROLLED) and g = 0 (everyone) or 1 + ethnic group: enrolments whose
 * furthest stage is s or later; then RELEASE_DROP(s, g), s = 0..4: those
 * whose furthest stage is exactly s (reach(s) - reach(s + 1)), never
 * published but derivable, so suppressed and audited like the others. */
#define RELEASE_NSTAGES 6
#define RELEASE_REACH(s, g) ((s)*RELEASE_NMOVED + (g))
#define RELEASE_DROP(s, g) (RELEASE_NSTAGES * RELEASE_NMOVED + (s)*RELEASE_NMOVED + (g))
#define RELEASE_NREACH ((2 * RELEASE_NSTAGES - 1) * RELEASE_NMOVED)

/* One positive-action aim of a programme. */
typedef struct {
    int group;    /* AimGroup: 1 BME, 2 FEMALE, 3 DISABLED, 4 LGB */
    unsigned pct; /* min_percent */
} release_aim_t;

/* The true counts of one population, as the projection computed them. */
typedef struct {
    const char *topic;                /* its live topic: "programme/<p>" or "cohort/<p>/<c>" */
    const json_t *meta;               /* borrowed object: fields copied into the document as they
                                       * are (names, dates, cohorts, filled, funnel totals) */
    long repr[RT_N];                  /* enrolled participants by cell */
    int has_moved;                    /* moved[] is reported (cohorts) */
    long moved[RELEASE_NMOVED];       /* participants who progressed */
    int has_left;                     /* left[] is reported (cohorts) */
    long left[RELEASE_NMOVED];        /* participants who left their agency by ends_on + 12 months
                                       * (retention): [0] all, [1 + g] by ethnic group */
    int has_reach;                    /* reach[] is reported */
    long reach[RELEASE_NREACH];       /* the funnel by ethnic group (RELEASE_REACH, RELEASE_DROP) */
    int has_chain[CHAIN_N];           /* chain[c] is reported (cohorts) */
    long chain[CHAIN_N][CHAIN_NCELL]; /* the chained tables by ethnic group (chain.h):
                                       * retention.retained, progression.after_completion */
    const release_aim_t *aims;        /* the programme's aims */
    size_t n_aims;                    /* their number */
} release_table_t;

typedef struct release_t release_t;

/* A new, empty set of releases for threshold k (>= 1). NULL on OOM. */
release_t *release_new(int k);

/* Frees it and nulls *self_p. Idempotent. */
void release_destroy(release_t **self_p);

/* Cuts a release of one programme: tables[0] is its roll-up, tables[1..n-1]
 * its cohorts. seq is the log position the tables reflect, date
 * (YYYY-MM-DD) and reason ("schedule", "starts_on", "ends_on", ...) are
 * printed in the documents. Returns 1 when released (the topics are
 * dirty), 0 when withheld (counted; nothing changes), -EINVAL on bad
 * arguments, -ENOMEM. Deterministic. */
int release_cut(release_t *self, const char *programme, const release_table_t *tables, size_t n,
                uint64_t seq, const char *date, const char *reason);

/* The breakdowns of one table as the suppression rule alone gives them
 * (no audit, no escalation), with zeros treated as zeros
 * (SUPPRESS_ZEROS_HIDDEN, as in releases; SUPPRESS_ZEROS_PUBLISHED, as
 * the first rule published per commit): {"representation": ...,
 * "progressed": ...} ("progressed" only when t->has_moved). Never
 * published by the daemon (proj_render_rule_only). New object, or NULL on
 * OOM. */
json_t *release_preview(const release_t *self, const release_table_t *t, int zeros);

/* The current document of a release topic ("release/...") as compact JSON
 * with sorted keys (malloc'd), or NULL (no release yet, or OOM). */
char *release_render(const release_t *self, const char *topic);

/* Every published version of a release topic, oldest first: a new array
 * of the documents as published (each with its release number and date),
 * empty if the topic has none; NULL on OOM. */
json_t *release_versions(const release_t *self, const char *topic);

/* Adds the release topics starting with prefix (NULL = all; dirty = 1:
 * only those released since the last release_clear_dirty) to *v (a
 * JSON array of strings). Returns 0 or -ENOMEM. */
int release_topics(const release_t *self, const char *prefix, int dirty, json_t *v);

/* Forgets which topics are dirty. */
void release_clear_dirty(release_t *self);

/* How many cuts were withheld since release_new (or load). */
uint64_t release_withheld(const release_t *self);

/* The state (every published version, the counters) as a new JSON object,
 * or NULL on OOM. */
json_t *release_save(const release_t *self);

/* Replaces the state with a release_save object (NULL: empty). Returns 0
 * (every topic then dirty) or -EINVAL (not such an object: state
 * unchanged). */
int release_load(release_t *self, const json_t *state);

#endif
