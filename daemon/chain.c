/* chain.c: the layout of the chained tables by ethnic group (chain.h). */
#include "chain.h"

#include <stdio.h>
#include <string.h>

static const char *const GROUPS[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};

const chain_t CHAINS[CHAIN_N] = {
    {"retention.retained",
     {"ENROLLED", "RETAINED_AT_END", "RETAINED_6_MONTHS_AFTER", "RETAINED_12_MONTHS_AFTER",
      "RETAINED_24_MONTHS_AFTER"},
     {-1, 0, 1, 2, 3},
     0},
    /* promoted during is not nested in the promotions after the end: its
     * own two-stage chain from COMPLETED */
    {"progression.after_completion",
     {"COMPLETED", "PROMOTED_WITHIN_24_MONTHS", "PROMOTED_WITHIN_12_MONTHS",
      "PROMOTED_WITHIN_6_MONTHS", "PROMOTED_DURING"},
     {-1, 0, 1, 2, 0},
     0},
};

size_t chain_rows(const chain_t *c, int everyone, int total[CHAIN_NROWS], int mem[CHAIN_NROWS][6],
                  int n[CHAIN_NROWS])
{
    size_t r = 0;
    for (int s = 0; s < CHAIN_NSTAGES; s++, r++) {
        for (int g = 0; g < 6; g++)
            mem[r][g] = CHAIN_STAGE(s, 1 + g);
        total[r] = CHAIN_STAGE(s, 0);
        n[r] = 6;
    }
    for (int s = 1; s < CHAIN_NSTAGES; s++, r++) {
        for (int g = 0; g < 6; g++)
            mem[r][g] = CHAIN_DROP(s, 1 + g);
        total[r] = CHAIN_DROP(s, 0);
        n[r] = 6;
    }
    for (int s = 1; s < CHAIN_NSTAGES; s++)
        for (int g = everyone ? 0 : 1; g < CHAIN_NG; g++, r++) {
            total[r] = CHAIN_STAGE(c->parent[s], g);
            mem[r][0] = CHAIN_STAGE(s, g);
            mem[r][1] = CHAIN_DROP(s, g);
            n[r] = 2;
        }
    return r;
}

int chain_is_total(int i)
{
    return i >= 0 && i < CHAIN_NCELL && i % CHAIN_NG == 0;
}

void chain_cell_name(const chain_t *c, int i, char *buf, size_t n)
{
    int drop = i >= CHAIN_DROP(1, 0), j = drop ? i - CHAIN_DROP(1, 0) : i;
    int s = j / CHAIN_NG + drop, g = j % CHAIN_NG;
    const char *b = drop ? "dropped_before" : "by_ethnic_group";
    if (i < 0 || i >= CHAIN_NCELL)
        snprintf(buf, n, "?");
    else if (g == 0)
        snprintf(buf, n, "%s.%s.total", b, c->stages[s]);
    else
        snprintf(buf, n, "%s.%s.ethnic_group.%s", b, c->stages[s], GROUPS[g - 1]);
}

int chain_cell(const chain_t *c, const char *s)
{
    char name[128];
    for (int i = 0; i < CHAIN_NCELL; i++) {
        chain_cell_name(c, i, name, sizeof name);
        if (strcmp(name, s) == 0)
            return i;
    }
    return -1;
}
