/* release_chain.c: the chained tables by ethnic group of a cohort's
 * release (chain.h: retention.retained, progression.after_completion):
 * their suppression, rendering and escalation, the second phase of a cut
 * (release.h). Pure, like release.c, whose helpers it shares
 * (release_int.h). */
#include "release_int.h"
#include "suppress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The rows chain ch is suppressed with (chain.h, without the
 * everyone-links, whose cells are roots): for retention.retained also
 * without the ENROLLED stage's sum, so that its groups are roots too: they
 * are the funnel's ENROLLED cells (the same people), published exactly as
 * the funnel publishes them (relx_chain_doc). mem holds the members. Returns the
 * number of rows. isroot (may be NULL) gets the cells never hidden beyond
 * that: the totals, and the retained chain's ENROLLED groups. */
static size_t chain_srows(int ch, suppress_row_t rows[CHAIN_NROWS], int mem[CHAIN_NROWS][6],
                          unsigned char isroot[CHAIN_NCELL])
{
    int tot[CHAIN_NROWS], nm[CHAIN_NROWS];
    size_t n = chain_rows(&CHAINS[ch], 0, tot, mem, nm), r = 0;
    for (size_t i = 0; i < n; i++) {
        if (ch == CHAIN_RETAINED && tot[i] == CHAIN_STAGE(0, 0))
            continue;
        rows[r++] = (suppress_row_t){tot[i], mem[i], (size_t)nm[i]};
    }
    for (int i = 0; isroot && i < CHAIN_NCELL; i++)
        isroot[i] = chain_is_total(i) || (ch == CHAIN_RETAINED && i < CHAIN_STAGE(1, 0));
    return r;
}

/* A rate of two published cells (4 decimals, as the live documents), or
 * null when either is hidden or the base is 0. */
static json_t *rate_json(const long *v, const unsigned char *sup, int num, int den)
{
    if (sup[num] || sup[den] || v[den] <= 0)
        return json_null();
    return json_real((double)((v[num] * 20000 + v[den]) / (2 * v[den])) / 10000.0);
}

/* The block of chained table ch of t as escalated by e (e->csup[ch]
 * updated): per stage its total, 6 groups and the rates over the base
 * stage from published cells only; the drop-outs are not printed (a
 * reader derives them; they are suppressed and audited as cells). The
 * retained chain's ENROLLED groups are hidden exactly where the funnel
 * hides its ENROLLED groups (reach_doc runs first). */
json_t *relx_chain_doc(int k, const release_table_t *t, esc_t *e, int ch)
{
    const chain_t *c = &CHAINS[ch];
    json_t *o = json_object(), *by = json_object(), *list = json_array();
    suppress_row_t rows[CHAIN_NROWS];
    int mem[CHAIN_NROWS][6];
    unsigned char force[CHAIN_NCELL], *sup = e->csup[ch];
    size_t nr = chain_srows(ch, rows, mem, NULL);
    const long *v = t->chain[ch];
    long base = v[CHAIN_STAGE(c->base, 0)];
    int err = !o || !by || !list;
    if (!err && (e->no_chain[ch] || (base > 0 && base < k))) {
        /* withheld, or fewer than k at the base stage: no breakdown */
        json_decref(by);
        json_decref(list);
        memset(sup, 1, CHAIN_NCELL);
        if (json_object_set_new(o, e->no_chain[ch] ? "withheld" : "below_threshold", json_true()) ||
            json_object_set_new(o, "threshold", json_integer(k)))
            return json_decref(o), NULL;
        return o;
    }
    memcpy(force, e->cforce[ch], sizeof force);
    for (int g = 0; ch == CHAIN_RETAINED && g < CHAIN_NG; g++) {
        int f = t->has_reach ? e->rsup[RELEASE_REACH(RELEASE_NSTAGES - 1, g)] : g > 0;
        force[CHAIN_STAGE(0, g)] = (unsigned char)(f && g > 0);
    }
    if (!err && suppress_table_force(k, v, CHAIN_NCELL, rows, nr, force, e->zeros, sup) < 0)
        err = 1;
    for (int st = 0; !err && st < CHAIN_NSTAGES; st++) {
        json_t *so = json_object(), *go = json_object(), *ro = json_object();
        int b = CHAIN_STAGE(c->base, 0);
        err |= !so || !go || !ro;
        for (int g = 1; !err && g < CHAIN_NG; g++) {
            err |= json_object_set_new(go, RELX_GROUPS[g - 1],
                                       relx_cell_json(v, sup, CHAIN_STAGE(st, g)));
            err |= json_object_set_new(ro, RELX_GROUPS[g - 1],
                                       rate_json(v, sup, CHAIN_STAGE(st, g), b + g));
        }
        err |= json_object_set_new(so, "total", relx_cell_json(v, sup, CHAIN_STAGE(st, 0)));
        err |= json_object_set_new(so, "ethnic_group", go);
        if (st != c->base) {
            err |= json_object_set_new(so, "rate", rate_json(v, sup, CHAIN_STAGE(st, 0), b));
            err |= json_object_set_new(so, "rate_by_ethnic_group", ro);
        } else {
            json_decref(ro);
        }
        err |= json_object_set_new(by, c->stages[st], so);
    }
    for (int i = 0; !err && i < CHAIN_DROP(1, 0); i++) {
        char name[128];
        if (!sup[i])
            continue;
        chain_cell_name(c, i, name, sizeof name);
        err |= json_array_append_new(list, json_string(strchr(name, '.') + 1));
    }
    if (!err)
        err |= relx_sort_strings(list);
    err |= json_object_set_new(o, "by_ethnic_group", by);
    err |= json_object_set_new(o, "suppressed", list);
    if (e->zeros == SUPPRESS_ZEROS_HIDDEN)
        err |= json_object_set_new(o, "suppressed_may_be_zero", json_true());
    err |= json_object_set_new(o, "threshold", json_integer(k));
    if (err)
        return json_decref(o), NULL;
    return o;
}

/* Gives cell c (or the cell named name, within the block) of chained
 * table ch of esc[t] room, as the funnel's cells get it; past half the
 * rounds, or with nothing left to hide, the table is withheld from that
 * document (never the release). Returns the number of changes. */
static int chain_widen(const release_table_t *tables, esc_t *esc, size_t t, int ch,
                       const char *name, int c, int round)
{
    suppress_row_t rows[CHAIN_NROWS];
    int mem[CHAIN_NROWS][6];
    unsigned char isroot[CHAIN_NCELL];
    size_t nr = chain_srows(ch, rows, mem, isroot);
    if (esc[t].no_chain[ch] || !tables[t].has_chain[ch])
        return 0;
    if (name)
        c = chain_cell(&CHAINS[ch], name);
    if (c < 0 || round >= RELEASE_MAX_ROUNDS / 2 ||
        !relx_widen_roots(tables[t].chain[ch], esc[t].csup[ch], esc[t].cforce[ch], rows, nr, c,
                          isroot, -1))
        esc[t].no_chain[ch] = 1;
    return 1;
}

/* Whether some document still carries a chained table. */
static int chains_shown(const release_table_t *tables, size_t n, const esc_t *esc)
{
    for (size_t t = 0; t < n; t++)
        for (int ch = 0; ch < CHAIN_N; ch++)
            if (tables[t].has_chain[ch] && !esc[t].no_chain[ch])
                return 1;
    return 0;
}

/* The second phase's escalation of a finding about cell of tables[t]:
 * the first phase left every other cell safe against the history without
 * the chained tables, so a finding now is the chained tables' doing. A
 * chained cell gets room; a funnel ENROLLED group (the retained chain's
 * first stage) or a leavers' group (its first drop-outs) gets room in that
 * chain; any other cell, while a chained
 * table is shown, has every chained table withheld. Returns the changes,
 * or -1 when no chained table is shown (the finding is then escalated as
 * in the first phase). */
int relx_escalate_chains(const release_table_t *tables, size_t n, esc_t *esc, size_t t,
                         const char *cell, int round)
{
    static const char enr[] = "funnel_reached.by_ethnic_group.ENROLLED.ethnic_group.";
    for (int ch = 0; ch < CHAIN_N; ch++) {
        size_t len = strlen(CHAINS[ch].block);
        if (strncmp(cell, CHAINS[ch].block, len) == 0 && cell[len] == '.')
            return chain_widen(tables, esc, t, ch, cell + len + 1, -1, round);
    }
    static const char left[] = "retention.left_by_ethnic_group.ethnic_group.";
    if (!chains_shown(tables, n, esc))
        return -1;
    if (strncmp(cell, left, sizeof left - 1) == 0 && tables[t].has_chain[CHAIN_RETAINED] &&
        !esc[t].no_chain[CHAIN_RETAINED]) { /* the leavers: the retained chain's drop-outs */
        for (int g = 0; g < 6; g++)
            if (strcmp(cell + sizeof left - 1, RELX_GROUPS[g]) == 0)
                return chain_widen(tables, esc, t, CHAIN_RETAINED, NULL, CHAIN_DROP(1, 1 + g),
                                   round);
    }
    if (strncmp(cell, enr, sizeof enr - 1) == 0 && tables[t].has_chain[CHAIN_RETAINED] &&
        !esc[t].no_chain[CHAIN_RETAINED]) {
        for (int g = 0; g < 6; g++)
            if (strcmp(cell + sizeof enr - 1, RELX_GROUPS[g]) == 0)
                return chain_widen(tables, esc, t, CHAIN_RETAINED, NULL, CHAIN_STAGE(0, 1 + g),
                                   round);
    }
    for (size_t d = 0; d < n; d++)
        for (int ch = 0; ch < CHAIN_N; ch++)
            esc[d].no_chain[ch] = 1;
    return 1;
}
