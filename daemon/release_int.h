/* release_int.h: release.c's private parts shared with release_chain.c
 * (the chained tables by group, chain.h) only. */
#ifndef COHORT_RELEASE_INT_H
#define COHORT_RELEASE_INT_H
#include <jansson.h>
#include <stddef.h>

#include "release.h"
#include "suppress.h"

#define N_AIM 5 /* AimGroup 0..4 */

/* What a cut hides beyond the rule, and what it last rendered. */
typedef struct {
    unsigned char force[RT_N];                  /* representation cells hidden by escalation */
    unsigned char mforce[RELEASE_NMOVED];       /* progressed cells hidden by escalation */
    unsigned char no_aim[N_AIM];                /* aims whose actual_percent is withheld */
    unsigned char sup[RT_N];                    /* the last rendering's hidden cells */
    unsigned char msup[RELEASE_NMOVED];         /* the same for progressed */
    unsigned char rforce[RELEASE_NREACH];       /* funnel cells hidden by escalation */
    unsigned char rsup[RELEASE_NREACH];         /* the same for the funnel */
    int no_reach;                               /* the funnel by group is withheld */
    unsigned char lforce[RELEASE_NMOVED];       /* leavers' cells hidden by escalation */
    unsigned char lsup[RELEASE_NMOVED];         /* the same for the leavers */
    int no_left;                                /* the leavers by group are withheld */
    unsigned char cforce[CHAIN_N][CHAIN_NCELL]; /* chained tables' cells hidden by escalation */
    unsigned char csup[CHAIN_N][CHAIN_NCELL];   /* the same for the chained tables */
    int no_chain[CHAIN_N];                      /* a chained table is withheld */
    int chains; /* the candidate carries the chained tables (the second phase of a cut) */
    int zeros;  /* SUPPRESS_ZEROS_*: HIDDEN in releases */
} esc_t;

/* The 6 ethnic groups' names, in release.h's group order. */
extern const char *const RELX_GROUPS[6];

/* Cell i of v as published: null when sup[i], else its count. */
json_t *relx_cell_json(const long *v, const unsigned char *sup, int i);

/* Sorts a JSON array of strings in place. 0 or -1 on OOM. */
int relx_sort_strings(json_t *list);

/* Hides one more cell (force) so that cell c of a table with values v,
 * hidden set sup and rows (nr) gets room (release.c, widen); isroot[i]
 * (NULL: only cell root) marks the cells never hidden. Returns 1 if
 * something was hidden, 0 if nothing could be. */
int relx_widen_roots(const long *v, const unsigned char *sup, unsigned char *force,
                     const suppress_row_t *rows, size_t nr, int c, const unsigned char *isroot,
                     int root);

/* The block of chained table ch of t for threshold k, as escalated by e
 * (e->csup[ch] updated; the retained chain's ENROLLED groups hidden where
 * e->rsup hides the funnel's, so the funnel is rendered first): per stage
 * its total, 6 groups and rates from published cells; "below_threshold"
 * or "withheld" instead. New object, or NULL on OOM. */
json_t *relx_chain_doc(int k, const release_table_t *t, esc_t *e, int ch);

/* The second phase's escalation of a finding about cell of tables[t] (n
 * tables, esc theirs): a chained cell, a funnel ENROLLED group or a
 * leavers' group gets room in the chain (the chain withheld from that
 * document past half the rounds or when nothing is left to hide); any
 * other cell, while a chained table is shown, withholds every chained
 * table. Returns the changes made, or -1 when no chained table is shown
 * (the caller escalates the finding as in the first phase). */
int relx_escalate_chains(const release_table_t *tables, size_t n, esc_t *esc, size_t t,
                         const char *cell, int round);

#endif
