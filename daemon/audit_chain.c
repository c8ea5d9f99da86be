/* audit_chain.c: the disclosure auditor's model of the chained tables by
 * ethnic group a cohort's release publishes (chain.h: retention.retained
 * and progression.after_completion), as audit.c models the funnel: per
 * stage its total and 6 groups; the drop-outs between a stage and the one
 * before it as never-published cells (a reader derives them); and the
 * rows that tie the tables to the other tables of the same people (see
 * audit_int.h). audit.c propagates, judges and differences them with the
 * other cells. */
#include "audit_int.h"

#include <stdio.h>
#include <string.h>

static const char *const GROUPS[] = {"WHITE",     "MIXED", "ASIAN", "BLACK", "CHINESE_OR_OTHER",
                                     "NOT_STATED"};

size_t audit_chain_rows(row_t *rows, int (*mem)[6])
{
    size_t r = 0;
    for (int ch = 0; ch < CHAIN_N; ch++) {
        int tot[CHAIN_NROWS], nm[CHAIN_NROWS], cm[CHAIN_NROWS][6];
        int b = AUDIT_CHAIN_BASE(ch);
        size_t n = chain_rows(&CHAINS[ch], 1, tot, cm, nm);
        for (size_t i = 0; i < n; i++, r++) {
            for (int j = 0; j < nm[i]; j++)
                mem[r][j] = b + cm[i][j];
            rows[r] = (row_t){b + tot[i], mem[r], nm[i]};
        }
    }
    for (int g = 0; g < CHAIN_NG; g++, r++) { /* ENROLLED: the funnel's cells */
        mem[r][0] = C_QB + CHAIN_STAGE(0, g);
        rows[r] = (row_t){C_RB + RELEASE_REACH(RELEASE_NSTAGES - 1, g), mem[r], 1};
    }
    for (int g = 0; g < CHAIN_NG; g++, r++) { /* left by ends_on + 12 months */
        for (int s = 1; s <= 3; s++)
            mem[r][s - 1] = C_QB + CHAIN_DROP(s, g);
        rows[r] = (row_t){g ? C_LGROUP + g - 1 : C_LTOTAL, mem[r], 3};
    }
    return r;
}

int audit_chain_root(int i)
{
    return i >= C_QB && i < NCELL && chain_is_total((i - C_QB) % CHAIN_NCELL);
}

int audit_chain_name(int i, char *buf, size_t n)
{
    int ch = i >= C_AB ? CHAIN_AFTER : CHAIN_RETAINED;
    char name[128];
    if (i < C_QB || i >= NCELL)
        return 0;
    chain_cell_name(&CHAINS[ch], i - AUDIT_CHAIN_BASE(ch), name, sizeof name);
    snprintf(buf, n, "%s.%s", CHAINS[ch].block, name);
    return 1;
}

/* Sets cell i from a published value: integer, null (suppressed, at least
 * zero0 ? 0 : 1) or absent. */
static int set_cell(long *lo, long *hi, unsigned char *kind, int i, const json_t *val, int zero0)
{
    if (json_is_integer(val)) {
        json_int_t x = json_integer_value(val);
        if (x < 0 || x > AUDIT_MAX_COUNT)
            return -1;
        kind[i] = K_PUB;
        lo[i] = hi[i] = (long)x;
    } else if (json_is_null(val)) {
        kind[i] = K_HID;
        lo[i] = zero0 ? 0 : 1;
    } else if (val) {
        return -1;
    }
    return 0;
}

int audit_chain_load(const json_t *doc, long *lo, long *hi, unsigned char *kind, int has[CHAIN_N])
{
    int bad = 0;
    for (int ch = 0; ch < CHAIN_N; ch++) {
        const chain_t *c = &CHAINS[ch];
        const char *dot = strchr(c->block, '.');
        char head[64];
        const json_t *o, *by;
        int z, b = AUDIT_CHAIN_BASE(ch);
        snprintf(head, sizeof head, "%.*s", (int)(dot - c->block), c->block);
        o = json_object_get(json_object_get(doc, head), dot + 1);
        by = json_object_get(o, "by_ethnic_group");
        has[ch] = json_is_object(by);
        if (!has[ch])
            continue;
        z = json_is_true(json_object_get(o, "suppressed_may_be_zero"));
        for (int s = 0; s < CHAIN_NSTAGES; s++) {
            const json_t *so = json_object_get(by, c->stages[s]);
            bad |= set_cell(lo, hi, kind, b + CHAIN_STAGE(s, 0), json_object_get(so, "total"), z);
            for (int g = 0; g < 6; g++)
                bad |= set_cell(lo, hi, kind, b + CHAIN_STAGE(s, 1 + g),
                                json_object_get(json_object_get(so, "ethnic_group"), GROUPS[g]), z);
        }
    }
    return bad ? -1 : 0;
}
