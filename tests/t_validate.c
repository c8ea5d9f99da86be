/* t_validate: unit tests for validate.c — one good event per body type,
 * then each rule broken once, asserting the exact RejectCode. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "validate.h"

#define NOW 1700000000000000LL
#define CODE(x) COHORT__V1__REJECT_CODE__REJECT_##x

static uint8_t id16[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void base(Cohort__V1__Event *ev)
{
    cohort__v1__event__init(ev);
    ev->event_id.data = id16;
    ev->event_id.len = 16;
    ev->agency = "wm-police";
    ev->occurred_at = NOW - 1000;
}

static int check(const Cohort__V1__Event *ev)
{
    char why[256];
    return validate_event(ev, NOW, why, sizeof why);
}

int main(void)
{
    Cohort__V1__Event ev;
    char why[256];

    /* participant */
    Cohort__V1__ParticipantRegistered p = COHORT__V1__PARTICIPANT_REGISTERED__INIT;
    p.participant_ref = "a1b2c3";
    p.role = COHORT__V1__ROLE__PARTICIPANT;
    p.ethnicity = COHORT__V1__ETHNICITY__B1;
    p.gender = COHORT__V1__GENDER__FEMALE;
    p.disability = COHORT__V1__DISABILITY__NOT_DISABLED;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED;
    ev.participant_registered = &p;
    is_int(check(&ev), 0, "valid ParticipantRegistered passes");

    ev.event_id.len = 15;
    is_int(check(&ev), CODE(BAD_EVENT_ID), "15-byte event_id rejected");
    ev.event_id.len = 0;
    is_int(check(&ev), CODE(BAD_EVENT_ID), "empty event_id rejected");
    ev.event_id.len = 16;

    ev.agency = "";
    is_int(check(&ev), CODE(BAD_AGENCY), "empty agency rejected");
    ev.agency = "WM Police";
    is_int(check(&ev), CODE(BAD_AGENCY), "agency with capitals and space rejected");
    ev.agency = "wm-police";

    ev.occurred_at = 0;
    is_int(check(&ev), CODE(BAD_TIMESTAMP), "missing occurred_at rejected");
    ev.occurred_at = NOW + 2 * VALIDATE_FUTURE_US;
    is_int(check(&ev), CODE(BAD_TIMESTAMP), "occurred_at far in the future rejected");
    ev.occurred_at = NOW + VALIDATE_FUTURE_US / 2;
    is_int(check(&ev), 0, "small clock skew accepted");
    ev.occurred_at = NOW - 1000;

    p.ethnicity = 0;
    is_int(check(&ev), CODE(BAD_ENUM), "unspecified ethnicity rejected");
    p.ethnicity = 99;
    is_int(check(&ev), CODE(BAD_ENUM), "unknown ethnicity value rejected");
    p.ethnicity = COHORT__V1__ETHNICITY__NS;
    is_int(check(&ev), 0, "not stated (NS) is a valid ethnicity");
    p.religion = 77;
    is_int(check(&ev), CODE(BAD_ENUM), "unknown religion value rejected");
    p.religion = 0;
    is_int(check(&ev), 0, "unrecorded religion (0) accepted");

    p.participant_ref = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "empty participant_ref rejected");
    p.participant_ref = "has space";
    is_int(check(&ev), CODE(BAD_VALUE), "participant_ref with a space rejected");
    p.participant_ref = "a1b2c3";

    char bad[] = {'s', 'g', 't', (char)0xc3, 0};
    p.grade = bad;
    is_int(check(&ev), CODE(BAD_UTF8), "truncated UTF-8 in grade rejected");
    char over[] = {(char)0xc0, (char)0xaf, 0};
    p.grade = over;
    is_int(check(&ev), CODE(BAD_UTF8), "overlong UTF-8 rejected");
    p.grade = "Détective sergeant";
    is_int(check(&ev), 0, "valid UTF-8 accepted");
    char *longs = malloc(VALIDATE_MAX_TEXT + 2);
    memset(longs, 'x', VALIDATE_MAX_TEXT + 1);
    longs[VALIDATE_MAX_TEXT + 1] = 0;
    p.grade = longs;
    is_int(check(&ev), CODE(TOO_LONG), "over-long grade rejected");
    p.grade = "";

    ev.body_case = COHORT__V1__EVENT__BODY__NOT_SET;
    is_int(check(&ev), CODE(NO_BODY), "event without a body rejected");
    ok(validate_event(&ev, NOW, why, sizeof why) && strstr(why, "body"),
       "reason names the body: %s", why);

    /* programme */
    Cohort__V1__Component c1 = COHORT__V1__COMPONENT__INIT, *cs[1] = {&c1};
    c1.kind = COHORT__V1__COMPONENT_KIND__TRAINING_COURSE;
    c1.count = 1;
    c1.minutes_each = 1260;
    Cohort__V1__ProgrammeDefined pd = COHORT__V1__PROGRAMME_DEFINED__INIT;
    pd.programme_id = "step-forward";
    pd.name = "Step Forward";
    pd.n_participant_components = 1;
    pd.participant_components = cs;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED;
    ev.programme_defined = &pd;
    is_int(check(&ev), 0, "valid ProgrammeDefined passes");
    c1.count = 0;
    is_int(check(&ev), CODE(BAD_VALUE), "component count 0 rejected");
    c1.count = 1;
    pd.programme_id = "Step Forward";
    is_int(check(&ev), CODE(BAD_VALUE), "programme_id with capitals rejected");
    pd.programme_id = "step-forward";
    pd.n_participant_components = VALIDATE_MAX_LIST + 1;
    Cohort__V1__Component **many = calloc(VALIDATE_MAX_LIST + 1, sizeof *many);
    for (int i = 0; i <= VALIDATE_MAX_LIST; i++)
        many[i] = &c1;
    pd.participant_components = many;
    is_int(check(&ev), CODE(TOO_LONG), "more than %d components rejected", VALIDATE_MAX_LIST);
    pd.n_participant_components = 1;
    pd.participant_components = cs;
    Cohort__V1__PositiveActionAim aim = COHORT__V1__POSITIVE_ACTION_AIM__INIT, *aims[1] = {&aim};
    aim.group = COHORT__V1__AIM_GROUP__AIM_BME;
    aim.min_percent = 101;
    pd.n_aims = 1;
    pd.aims = aims;
    is_int(check(&ev), CODE(BAD_VALUE), "aim over 100%% rejected");
    aim.min_percent = 50;
    is_int(check(&ev), 0, "aim of 50%% accepted");

    /* cohort */
    char *ags[1] = {"wm-police"};
    Cohort__V1__CohortOpened co = COHORT__V1__COHORT_OPENED__INIT;
    co.programme_id = "step-forward";
    co.cohort_id = "2009-1";
    co.places = 20;
    co.starts_on = "2009-04-01";
    co.ends_on = "2009-09-30";
    co.n_agencies = 1;
    co.agencies = ags;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_COHORT_OPENED;
    ev.cohort_opened = &co;
    is_int(check(&ev), 0, "valid CohortOpened passes");
    co.ends_on = "2009-02-30";
    is_int(check(&ev), CODE(BAD_DATE), "30 February rejected");
    co.ends_on = "2009-03-01";
    is_int(check(&ev), CODE(BAD_DATE), "ends before it starts rejected");
    co.ends_on = "2009-09-30";
    co.places = 0;
    is_int(check(&ev), CODE(BAD_VALUE), "zero places rejected");
    co.places = 20;

    /* enrolment, attendance, promotion, mentor */
    Cohort__V1__EnrolmentChanged en = COHORT__V1__ENROLMENT_CHANGED__INIT;
    en.participant_ref = "a1";
    en.programme_id = "step-forward";
    en.cohort_id = "2009-1";
    en.stage = COHORT__V1__ENROLMENT_STAGE__APPLIED;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED;
    ev.enrolment_changed = &en;
    is_int(check(&ev), 0, "valid EnrolmentChanged passes");
    en.stage = 0;
    is_int(check(&ev), CODE(BAD_ENUM), "unspecified stage rejected");

    Cohort__V1__AttendanceRecorded at = COHORT__V1__ATTENDANCE_RECORDED__INIT;
    at.participant_ref = "a1";
    at.programme_id = "step-forward";
    at.cohort_id = "2009-1";
    at.component = COHORT__V1__COMPONENT_KIND__COACHING;
    at.session_id = "coaching-1";
    at.session_date = "2009-05-01";
    at.status = COHORT__V1__ATTENDANCE_STATUS__PRESENT;
    at.minutes = 120;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED;
    ev.attendance_recorded = &at;
    is_int(check(&ev), 0, "valid AttendanceRecorded passes");
    at.minutes = 2000;
    is_int(check(&ev), CODE(BAD_VALUE), "more than a day of minutes rejected");
    at.minutes = 120;
    at.session_date = "01/05/2009";
    is_int(check(&ev), CODE(BAD_DATE), "non-ISO date rejected");

    Cohort__V1__PromotionRecorded pr = COHORT__V1__PROMOTION_RECORDED__INIT;
    pr.participant_ref = "a1";
    pr.kind = COHORT__V1__PROGRESSION_KIND__SUBSTANTIVE_PROMOTION;
    pr.effective_on = "2009-08-01";
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PROMOTION_RECORDED;
    ev.promotion_recorded = &pr;
    is_int(check(&ev), 0, "valid PromotionRecorded passes");
    pr.effective_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "promotion without a date rejected");

    Cohort__V1__MentorAssigned ma = COHORT__V1__MENTOR_ASSIGNED__INIT;
    ma.mentor_ref = "m1";
    ma.participant_ref = "a1";
    ma.programme_id = "step-forward";
    ma.cohort_id = "2009-1";
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED;
    ev.mentor_assigned = &ma;
    is_int(check(&ev), 0, "valid MentorAssigned passes");
    ma.mentor_agency = "cps-wm";
    is_int(check(&ev), 0, "  with a mentor_agency too");
    ma.mentor_agency = "CPS WM";
    is_int(check(&ev), CODE(BAD_AGENCY), "a mentor_agency that is not an agency id rejected");
    ma.mentor_agency = "";
    is_int(check(&ev), 0, "an empty mentor_agency (absent: the sender's own) passes");
    ma.mentor_ref = NULL;
    is_int(check(&ev), CODE(MISSING_FIELD), "mentor assignment without mentor rejected");

    /* sealed is the daemon's own field; erasure needs a ref */
    uint8_t blob[3] = {1, 2, 3};
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED;
    ev.participant_registered = &p;
    p.sealed.data = blob;
    p.sealed.len = sizeof blob;
    is_int(validate_event(&ev, NOW, why, sizeof why), CODE(BAD_VALUE),
           "a registration with sealed set is rejected");
    ok(strstr(why, "sealed") && strstr(why, "daemon"), "... saying sealed is the daemon's (%s)",
       why);
    p.ethnicity = 0;
    is_int(check(&ev), CODE(BAD_VALUE), "... also when the characteristics are left out");
    p.ethnicity = COHORT__V1__ETHNICITY__B1;
    p.sealed.len = 0;
    Cohort__V1__ParticipantErased er = COHORT__V1__PARTICIPANT_ERASED__INIT;
    er.participant_ref = "p1:abc";
    ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED;
    ev.participant_erased = &er;
    is_int(check(&ev), 0, "valid ParticipantErased passes");
    er.participant_ref = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "erasure without a ref rejected");
    er.participant_ref = "has space";
    is_int(check(&ev), CODE(BAD_VALUE), "erasure with a bad ref rejected");

    ok(validate_date("2008-02-29") && !validate_date("2009-02-29"), "leap years handled");
    ok(validate_utf8("\xf0\x9f\x98\x80", 4) && !validate_utf8("\xed\xa0\x80", 3),
       "4-byte UTF-8 accepted, surrogates rejected");
    free(longs);
    free(many);
    return tap_done();
}
