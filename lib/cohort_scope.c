/* cohort_scope.c: role names and the read scope of each role (see
 * cohort_scope.h). */
#include "cohort_scope.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    cohort_role_t role;
} names[] = {
    {"agent", COHORT_ROLE_AGENT},       {"coordinator", COHORT_ROLE_COORDINATOR},
    {"board", COHORT_ROLE_BOARD},       {"agency-hr", COHORT_ROLE_AGENCY_HR},
    {"operator", COHORT_ROLE_OPERATOR}, {"web", COHORT_ROLE_WEB},
};

const char *cohort_role_name(cohort_role_t role)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].role == role)
            return names[i].name;
    return role == COHORT_ROLE_DEV ? "dev" : "?";
}

int cohort_role_parse(const char *s, size_t len, cohort_role_t *out)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strlen(names[i].name) == len && memcmp(names[i].name, s, len) == 0) {
            *out = names[i].role;
            return 0;
        }
    return -1;
}

static size_t set(cohort_prefix_t *o, const char *a, const char *b, const char *c)
{
    snprintf(o->p, sizeof o->p, "%s%s%s", a, b, c);
    o->len = strlen(o->p);
    return 1;
}

size_t cohort_scope_prefixes(cohort_role_t role, const char *agency,
                             cohort_prefix_t out[COHORT_SCOPE_MAX])
{
    size_t n = 0;
    switch (role) {
    case COHORT_ROLE_DEV:
    case COHORT_ROLE_OPERATOR: /* it can read the store anyway: cohortctl snapshot, rebuild */
        n += set(&out[n], "", "", "");
        break;
    case COHORT_ROLE_BOARD:
    case COHORT_ROLE_COORDINATOR:
        n += set(&out[n], "programme/", "", "");
        n += set(&out[n], "cohort/", "", "");
        n += set(&out[n], "release/", "", ""); /* the dated breakdowns (release.h) */
        n += set(&out[n], "system", "", "");
        break;
    case COHORT_ROLE_AGENCY_HR:
        if (agency && *agency && strlen(agency) <= COHORT_SCOPE_AGENCY_MAX)
            n += set(&out[n], "agency/", agency, "/");
        n += set(&out[n], "system", "", "");
        break;
    case COHORT_ROLE_WEB: /* every status topic, each by name: nothing else */
        n += set(&out[n], "programme/", "", "");
        n += set(&out[n], "cohort/", "", "");
        n += set(&out[n], "release/", "", "");
        n += set(&out[n], "agency/", "", "");
        n += set(&out[n], "system", "", "");
        break;
    default:
        break;
    }
    return n;
}

int cohort_scope_may_read(cohort_role_t role, const char *agency, const char *topic)
{
    cohort_prefix_t a[COHORT_SCOPE_MAX];
    size_t n = cohort_scope_prefixes(role, agency, a);
    for (size_t i = 0; i < n; i++)
        if (strncmp(topic, a[i].p, a[i].len) == 0)
            return 1;
    return 0;
}

int cohort_id_ok(const char *s, size_t len)
{
    if (len < 1 || len > COHORT_SCOPE_AGENCY_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
              s[i] == '-' || s[i] == '_'))
            return 0;
    return 1;
}
