/* t_scope.c: unit tests of lib/cohort_scope.c, the read scope of each role
 * that the daemon (auth_may_read) and cohort-web both apply: role names both
 * ways, each role's prefixes, and topics in and out of scope. */
#include <string.h>

#include "cohort_scope.h"
#include "tap.h"

int main(void)
{
    cohort_role_t r;
    cohort_prefix_t p[COHORT_SCOPE_MAX];
    const char *names[] = {"agent", "coordinator", "board", "agency-hr", "operator", "web"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        ok(cohort_role_parse(names[i], strlen(names[i]), &r) == 0 &&
               strcmp(cohort_role_name(r), names[i]) == 0,
           "role '%s' parses and prints back", names[i]);
    ok(cohort_role_parse("dev", 3, &r) < 0, "dev is no access-file role");
    ok(cohort_role_parse("boardx", 5, &r) == 0 && r == COHORT_ROLE_BOARD,
       "parse takes the given length only");
    ok(cohort_role_parse("boar", 4, &r) < 0 && cohort_role_parse("", 0, &r) < 0,
       "a prefix of a name or nothing is no role");
    is_str(cohort_role_name(COHORT_ROLE_DEV), "dev", "dev's name");
    is_str(cohort_role_name((cohort_role_t)99), "?", "an unknown role's name");

    is_int(cohort_scope_prefixes(COHORT_ROLE_BOARD, "", p), 4, "board: 4 prefixes");
    ok(strcmp(p[0].p, "programme/") == 0 && p[0].len == 10 && strcmp(p[1].p, "cohort/") == 0 &&
           strcmp(p[2].p, "release/") == 0 && strcmp(p[3].p, "system") == 0,
       "  programme/, cohort/, release/, system");
    is_int(cohort_scope_prefixes(COHORT_ROLE_AGENCY_HR, "wm-police", p), 2, "agency-hr: 2");
    is_str(p[0].p, "agency/wm-police/", "  its own agency, with the slash");
    is_int(cohort_scope_prefixes(COHORT_ROLE_AGENCY_HR, "", p), 1,
           "agency-hr without an agency: only system");
    is_int(cohort_scope_prefixes(COHORT_ROLE_AGENCY_HR, NULL, p), 1, "  (NULL too)");
    is_int(cohort_scope_prefixes(COHORT_ROLE_WEB, NULL, p), 5, "web: 5 prefixes");
    is_int(cohort_scope_prefixes(COHORT_ROLE_AGENT, "wm-police", p), 0, "agent: none");
    is_int(cohort_scope_prefixes(COHORT_ROLE_OPERATOR, NULL, p), 1, "operator: one");
    is_str(p[0].p, "", "  the empty prefix (everything)");

    struct {
        cohort_role_t role;
        const char *agency, *topic;
        int want;
    } cases[] = {
        {COHORT_ROLE_BOARD, "", "cohort/sf/c1", 1},
        {COHORT_ROLE_BOARD, "", "programme/sf", 1},
        {COHORT_ROLE_BOARD, "", "release/cohort/sf/c1", 1},
        {COHORT_ROLE_BOARD, "", "agency/wm-police/sf/c1", 0},
        {COHORT_ROLE_COORDINATOR, "wmcjb", "cohort/sf/c1", 1},
        {COHORT_ROLE_COORDINATOR, "wmcjb", "agency/wmcjb/sf/c1", 0},
        {COHORT_ROLE_AGENCY_HR, "wm-police", "agency/wm-police/sf/c1", 1},
        {COHORT_ROLE_AGENCY_HR, "wm-police", "agency/wm-police-2/sf/c1", 0},
        {COHORT_ROLE_AGENCY_HR, "wm-police", "agency/cps-wm/sf/c1", 0},
        {COHORT_ROLE_AGENCY_HR, "wm-police", "cohort/sf/c1", 0},
        {COHORT_ROLE_AGENCY_HR, "", "agency//x", 0},
        {COHORT_ROLE_WEB, "", "agency/cps-wm/sf/c1", 1},
        {COHORT_ROLE_WEB, "", "cohort/sf/c1", 1},
        {COHORT_ROLE_WEB, "", "release/programme/sf", 1},
        {COHORT_ROLE_WEB, "", "other/x", 0},
        {COHORT_ROLE_AGENT, "wm-police", "agency/wm-police/sf/c1", 0},
        {COHORT_ROLE_OPERATOR, "", "anything/at/all", 1},
        {COHORT_ROLE_DEV, "", "agency/x/y/z", 1},
        {(cohort_role_t)0, "", "cohort/sf/c1", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        is_int(cohort_scope_may_read(cases[i].role, cases[i].agency, cases[i].topic), cases[i].want,
               "%s%s%s %s '%s'", cohort_role_name(cases[i].role), *cases[i].agency ? ":" : "",
               cases[i].agency, cases[i].want ? "reads" : "may not read", cases[i].topic);
    char longag[COHORT_SCOPE_AGENCY_MAX + 10];
    memset(longag, 'a', sizeof longag - 1);
    longag[sizeof longag - 1] = '\0';
    is_int(cohort_scope_prefixes(COHORT_ROLE_AGENCY_HR, longag, p), 1,
           "an agency id too long gets no agency prefix (never truncated)");
    return tap_done();
}
