/* chain.h: the layout of the chained tables by ethnic group that a
 * cohort's release publishes besides the funnel (docs/status.md,
 * "retention" and "progression"): retention.retained (enrolled, retained at
 * the end of the programme and 6, 12, 24 months after it) and
 * progression.after_completion (completed, promoted within 24, 12, 6
 * months after the end, and promoted during the programme). Shared by the
 * release cut (release.c, which suppresses them) and the disclosure
 * auditor (audit.c, which models them), so the two read one layout. Pure:
 * constants and index arithmetic only.
 *
 * A chain has CHAIN_NSTAGES stages; every stage s >= 1 is a subset of the
 * people of its parent stage (chain_t.parent[s] < s). Its cells are, for g
 * = 0 (everyone) or 1 + ethnic group: CHAIN_STAGE(s, g), the people at
 * stage s; and CHAIN_DROP(s, g) for s >= 1, the people of the parent stage
 * who are not at stage s. The drop-outs are never printed (a reader derives
 * them by subtraction), so they are suppressed and audited as cells. The
 * rows (a total = the sum of its members) are: each stage's and each
 * drop-out's total = its 6 groups, and per g, stage(parent(s)) = stage(s) +
 * drop(s). */
#ifndef COHORT_CHAIN_H
#define COHORT_CHAIN_H
#include <stddef.h>

#define CHAIN_NSTAGES 5
#define CHAIN_NG 7 /* everyone, then the 6 ethnic groups */
#define CHAIN_STAGE(s, g) ((s)*CHAIN_NG + (g))
#define CHAIN_DROP(s, g) (CHAIN_NSTAGES * CHAIN_NG + ((s)-1) * CHAIN_NG + (g)) /* s >= 1 */
#define CHAIN_NCELL ((2 * CHAIN_NSTAGES - 1) * CHAIN_NG)
/* rows: 5 stage sums, 4 drop-out sums, 4 x 7 chain links */
#define CHAIN_NROWS (CHAIN_NSTAGES + (CHAIN_NSTAGES - 1) * (1 + CHAIN_NG))

/* The two chains. */
enum { CHAIN_RETAINED = 0, CHAIN_AFTER = 1, CHAIN_N = 2 };

/* One chain's layout. */
typedef struct {
    const char *block;                 /* its path in a release document: "a.b" */
    const char *stages[CHAIN_NSTAGES]; /* the stages' names, as printed */
    int parent[CHAIN_NSTAGES];         /* each stage's parent stage (-1 for stage 0) */
    int base;                          /* the stage every rate is over */
} chain_t;

/* CHAIN_RETAINED and CHAIN_AFTER. */
extern const chain_t CHAINS[CHAIN_N];

/* The rows of chain c: total[r] = sum of mem[r][0 .. n[r] - 1]. everyone =
 * 0 leaves out the links of the everyone-counts (g = 0), which are only
 * totals (roots: the live document publishes them); 1 includes them (a
 * reader knows them too). Returns the number of rows (<= CHAIN_NROWS). */
size_t chain_rows(const chain_t *c, int everyone, int total[CHAIN_NROWS], int mem[CHAIN_NROWS][6],
                  int n[CHAIN_NROWS]);

/* Whether cell i is an everyone-count (g = 0). */
int chain_is_total(int i);

/* The name of cell i within its block: "by_ethnic_group.<STAGE>.total",
 * "by_ethnic_group.<STAGE>.ethnic_group.<GROUP>", or the same with
 * "dropped_before" for a drop-out. */
void chain_cell_name(const chain_t *c, int i, char *buf, size_t n);

/* The cell named s (as chain_cell_name gives it), or -1. */
int chain_cell(const chain_t *c, const char *s);

#endif
