/* t_web_session.c: unit tests of agents/web/web_session.c: session ids
 * (256 random bits as 64 hex digits, unique), lookup and idle expiry,
 * logout, CSRF tokens, the bound on sessions, and the login rate limits
 * per user and per address. */
#include <errno.h>
#include <string.h>

#include "tap.h"
#include "web_session.h"

static int hex64(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

int main(void)
{
    web_sessions_t *t = web_sessions_new(3, 60);
    web_user_t board = {.name = "board1", .role = COHORT_ROLE_BOARD};
    web_user_t hr = {.name = "hr-a", .role = COHORT_ROLE_AGENCY_HR, .agency = "wm-police"};
    char id1[65], id2[65], id3[65], id4[65];
    web_session_t s1, s2, got;
    time_t now = 1000000;
    ok(t != NULL, "a table of 3 sessions, 60 s idle");
    ok(web_sessions_new(0, 60) == NULL && web_sessions_new(3, 0) == NULL,
       "no sessions or no idle time is refused");

    web_session_create(t, &board, now, id1, &s1);
    web_session_create(t, &hr, now, id2, &s2);
    ok(hex64(id1) && hex64(id2) && strcmp(id1, id2) != 0, "ids are 64 hex digits, distinct");
    ok(hex64(s1.csrf) && strcmp(s1.csrf, s2.csrf) != 0 && strcmp(s1.csrf, id1) != 0,
       "CSRF tokens too, and not the id");
    ok(web_session_find(t, id1, now + 10, &got) == 0 && strcmp(got.user.name, "board1") == 0 &&
           got.user.role == COHORT_ROLE_BOARD,
       "the id finds its session");
    ok(web_session_find(t, id2, now + 10, &got) == 0 && strcmp(got.user.agency, "wm-police") == 0,
       "  the other one with its agency");
    is_int(web_session_find(t, "0000000000000000000000000000000000000000000000000000000000000000",
                            now, &got),
           -ENOENT, "an unknown id finds nothing");
    is_int(web_session_find(t, "short", now, &got), -ENOENT, "a malformed id finds nothing");
    is_int(web_session_find(t, NULL, now, &got), -ENOENT, "nor does none");
    /* id1 used at now+10; at now+69 it is still live and the use moves it */
    is_int(web_session_find(t, id1, now + 69, &got), 0, "used within 60 s: live");
    is_int(web_session_find(t, id1, now + 128, &got), 0, "  and the idle time counts from then");
    is_int(web_session_find(t, id2, now + 128, &got), -ENOENT, "unused for over 60 s: gone");
    is_int(web_session_find(t, id2, now + 129, &got), -ENOENT, "  for good");

    ok(web_session_csrf_ok(&s1, s1.csrf), "the session's CSRF token is accepted");
    ok(!web_session_csrf_ok(&s1, s2.csrf), "another session's is not");
    ok(!web_session_csrf_ok(&s1, NULL) && !web_session_csrf_ok(&s1, ""),
       "a missing or empty token is not");
    char wrong[65];
    memcpy(wrong, s1.csrf, 65);
    wrong[63] = wrong[63] == 'a' ? 'b' : 'a';
    ok(!web_session_csrf_ok(&s1, wrong), "one digit off is not");

    web_session_end(t, id1);
    is_int(web_session_find(t, id1, now + 130, &got), -ENOENT, "logout ends the session");

    /* Bounded: 3 slots; a 4th session drops the one unused longest. */
    web_session_create(t, &board, now + 200, id1, &s1);
    web_session_create(t, &board, now + 201, id2, &s1);
    web_session_create(t, &board, now + 202, id3, &s1);
    web_session_create(t, &board, now + 203, id4, &s1);
    ok(web_session_find(t, id1, now + 204, &got) == -ENOENT &&
           web_session_find(t, id2, now + 204, &got) == 0 &&
           web_session_find(t, id4, now + 204, &got) == 0,
       "full: the oldest-used session makes room");
    is_int(web_session_count(t), 3, "  3 sessions kept");

    /* Rate limits. */
    now += 1000;
    for (int i = 0; i < WEB_LOGIN_FAILS; i++) {
        ok(web_login_allowed(t, "board1", "10.0.0.1", now) == 0, "login %d allowed", i + 1);
        web_login_result(t, "board1", "10.0.0.1", 0, now);
    }
    is_int(web_login_allowed(t, "board1", "10.0.0.2", now), -EAGAIN,
           "after %d failures the user is refused, from any address", WEB_LOGIN_FAILS);
    is_int(web_login_allowed(t, "hr-a", "10.0.0.1", now), -EAGAIN,
           "and the address is refused, for any user");
    is_int(web_login_allowed(t, "hr-a", "10.0.0.2", now), 0, "another user elsewhere is not");
    is_int(web_login_allowed(t, "board1", "10.0.0.2", now + WEB_LOGIN_WINDOW_S), 0,
           "the window over, the user may try again");
    for (int i = 0; i < WEB_LOGIN_FAILS - 1; i++)
        web_login_result(t, "hr-a", "10.0.0.3", 0, now);
    web_login_result(t, "hr-a", "10.0.0.4", 1, now);
    is_int(web_login_allowed(t, "hr-a", "10.0.0.4", now), 0, "a success clears the user's count");
    web_login_result(t, "hr-a", "10.0.0.4", 0, now);
    is_int(web_login_allowed(t, "hr-a", "10.0.0.5", now), 0, "  (one failure since: allowed)");
    web_sessions_destroy(&t);
    ok(t == NULL, "destroy nulls the pointer");
    return tap_done();
}
