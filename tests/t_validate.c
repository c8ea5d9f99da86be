/* t_validate: unit tests for validate.c — one good event per body type,
 * then each rule broken once, asserting the exact RejectCode. */
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "validate.h"

#define NOW 1700000000000000LL
#define CODE(x) COHORT__V1__REJECT_CODE__REJECT_##x

/* Refs in the pseudonym form (validate.h, agents/pseudonym.h). */
#define REF_A "p1:abcdefghijklmnopqrstuvwxyz234567"
#define REF_M "p1:mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm2"

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
    p.participant_ref = REF_A;
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
    p.participant_ref = REF_A;

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

    /* issue 18: units other than minutes */
    c1.minutes_each = 0;
    is_int(check(&ev), CODE(BAD_VALUE), "minutes_each 0 in minutes (the unit absent) rejected");
    c1.unit = COHORT__V1__COMPONENT_UNIT__UNIT_SUBMISSIONS;
    is_int(check(&ev), 0, "a submissions component of 0 minutes passes");
    c1.unit = COHORT__V1__COMPONENT_UNIT__UNIT_SESSIONS;
    c1.assessed = 1;
    is_int(check(&ev), 0, "an assessed sessions component of 0 minutes passes");
    c1.minutes_each = 60;
    is_int(validate_event(&ev, NOW, why, sizeof why), CODE(BAD_VALUE),
           "a sessions component with minutes_each rejected");
    ok(strstr(why, "minutes_each must be 0") != NULL, "... reason: %s", why);
    c1.unit = 7;
    is_int(check(&ev), CODE(BAD_ENUM), "an unknown unit rejected");
    c1.unit = COHORT__V1__COMPONENT_UNIT__UNIT_MINUTES;
    c1.assessed = 0;
    c1.minutes_each = 1260;
    is_int(check(&ev), 0, "back to minutes passes");

    /* issue 18: assessment results and awards */
    {
        Cohort__V1__AssessmentRecorded as = COHORT__V1__ASSESSMENT_RECORDED__INIT;
        Cohort__V1__AwardMade aw = COHORT__V1__AWARD_MADE__INIT;
        Cohort__V1__Event e2;
        as.participant_ref = REF_A;
        as.programme_id = "lip";
        as.cohort_id = "2009-1";
        as.component = COHORT__V1__COMPONENT_KIND__ASSESSED_MODULE;
        as.piece_id = "module-1";
        as.outcome = COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_REFER;
        as.assessed_on = "2009-09-30";
        base(&e2);
        e2.body_case = COHORT__V1__EVENT__BODY_ASSESSMENT_RECORDED;
        e2.assessment_recorded = &as;
        is_int(check(&e2), 0, "valid AssessmentRecorded passes");
        as.outcome = 0;
        is_int(check(&e2), CODE(BAD_ENUM), "unspecified outcome rejected");
        as.outcome = 9;
        is_int(check(&e2), CODE(BAD_ENUM), "unknown outcome rejected");
        as.outcome = COHORT__V1__ASSESSMENT_OUTCOME__ASSESSMENT_PASS;
        as.component = 0;
        is_int(check(&e2), CODE(BAD_ENUM), "unspecified component rejected");
        as.component = COHORT__V1__COMPONENT_KIND__DISSERTATION;
        as.piece_id = "";
        is_int(check(&e2), CODE(MISSING_FIELD), "missing piece_id rejected");
        as.piece_id = "Module 1";
        is_int(check(&e2), CODE(BAD_VALUE), "piece_id outside the id syntax rejected");
        as.piece_id = "dissertation";
        as.assessed_on = "2009-13-01";
        is_int(check(&e2), CODE(BAD_DATE), "bad assessed_on rejected");
        as.assessed_on = "";
        is_int(check(&e2), CODE(MISSING_FIELD), "missing assessed_on rejected");
        as.assessed_on = "2010-06-30";
        as.participant_ref = "staff-42";
        is_int(check(&e2), CODE(BAD_VALUE), "a raw staff number is not a pseudonym");
        as.participant_ref = REF_A;
        as.cohort_id = "";
        is_int(check(&e2), CODE(MISSING_FIELD), "missing cohort_id rejected");
        as.cohort_id = "2009-1";
        is_int(check(&e2), 0, "fixed again");

        aw.participant_ref = REF_A;
        aw.programme_id = "lip";
        aw.cohort_id = "2009-1";
        aw.award = "postgraduate diploma";
        aw.awarded_on = "2011-07-15";
        base(&e2);
        e2.body_case = COHORT__V1__EVENT__BODY_AWARD_MADE;
        e2.award_made = &aw;
        is_int(check(&e2), 0, "valid AwardMade passes");
        aw.award = "";
        is_int(check(&e2), CODE(MISSING_FIELD), "missing award rejected");
        char text[VALIDATE_MAX_LABEL + 2];
        memset(text, 'x', sizeof text);
        text[VALIDATE_MAX_LABEL + 1] = 0;
        aw.award = text;
        is_int(check(&e2), CODE(TOO_LONG), "award longer than %d bytes rejected",
               VALIDATE_MAX_LABEL);
        aw.award = "postgraduate diploma";
        aw.awarded_on = "15/07/2011";
        is_int(check(&e2), CODE(BAD_DATE), "bad awarded_on rejected");
        aw.awarded_on = "2011-07-15";
        aw.programme_id = "";
        is_int(check(&e2), CODE(MISSING_FIELD), "missing programme_id rejected");
        aw.programme_id = "lip";
        is_int(check(&e2), 0, "fixed again");
    }

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
    en.participant_ref = REF_A;
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
    at.participant_ref = REF_A;
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
    pr.participant_ref = REF_A;
    pr.kind = COHORT__V1__PROGRESSION_KIND__SUBSTANTIVE_PROMOTION;
    pr.effective_on = "2009-08-01";
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PROMOTION_RECORDED;
    ev.promotion_recorded = &pr;
    is_int(check(&ev), 0, "valid PromotionRecorded passes");
    pr.effective_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "promotion without a date rejected");

    Cohort__V1__LeaverRecorded lv = COHORT__V1__LEAVER_RECORDED__INIT;
    lv.participant_ref = REF_A;
    lv.left_on = "2010-03-31";
    lv.reason = COHORT__V1__LEAVER_REASON__LEAVER_RESIGNED;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_LEAVER_RECORDED;
    ev.leaver_recorded = &lv;
    is_int(check(&ev), 0, "valid LeaverRecorded passes");
    lv.left_on = "31/03/2010";
    is_int(check(&ev), CODE(BAD_DATE), "leaver: a non-ISO left_on rejected");
    lv.left_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "leaver without left_on rejected");
    lv.left_on = "2010-03-31";
    lv.reason = COHORT__V1__LEAVER_REASON__LEAVER_REASON_UNSPECIFIED;
    is_int(check(&ev), CODE(BAD_ENUM), "leaver without a reason rejected");
    lv.reason = COHORT__V1__LEAVER_REASON__LEAVER_RESIGNED;
    lv.participant_ref = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "leaver without participant_ref rejected");
    lv.participant_ref = "staff-12345";
    is_int(check(&ev), CODE(BAD_VALUE), "leaver: a raw staff number as ref rejected");
    lv.participant_ref = REF_A;

    {
        Cohort__V1__WorkforceGroupCount gc = COHORT__V1__WORKFORCE_GROUP_COUNT__INIT,
                                        gc2 = COHORT__V1__WORKFORCE_GROUP_COUNT__INIT;
        Cohort__V1__WorkforceGroupCount *gl[2] = {&gc, &gc2};
        Cohort__V1__WorkforceCategory wc = COHORT__V1__WORKFORCE_CATEGORY__INIT,
                                      wc2 = COHORT__V1__WORKFORCE_CATEGORY__INIT;
        Cohort__V1__WorkforceCategory *cl[2] = {&wc, &wc2};
        Cohort__V1__WorkforceBaseline wb = COHORT__V1__WORKFORCE_BASELINE__INIT;
        Cohort__V1__WorkforceTarget wt = COHORT__V1__WORKFORCE_TARGET__INIT;
        gc.group = gc2.group = COHORT__V1__AIM_GROUP__AIM_BME;
        gc.count = 642;
        wc.category = COHORT__V1__STAFF_CATEGORY__STAFF_CATEGORY_OFFICER;
        wc2.category = COHORT__V1__STAFF_CATEGORY__STAFF_CATEGORY_STAFF;
        wc.headcount = 8596;
        wc2.headcount = 4175;
        wc.n_groups = 1;
        wc.groups = gl;
        wb.as_at = "2008-09-30";
        wb.n_categories = 2;
        wb.categories = cl;
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_WORKFORCE_BASELINE;
        ev.workforce_baseline = &wb;
        is_int(check(&ev), 0, "valid WorkforceBaseline passes");
        wb.as_at = "30/09/2008";
        is_int(check(&ev), CODE(BAD_DATE), "baseline: a non-ISO as_at rejected");
        wb.as_at = "2008-09-30";
        wb.n_categories = 0;
        is_int(check(&ev), CODE(MISSING_FIELD), "baseline without categories rejected");
        wb.n_categories = 2;
        wc2.category = wc.category;
        is_int(check(&ev), CODE(BAD_VALUE), "baseline: a repeated category rejected");
        wc2.category = COHORT__V1__STAFF_CATEGORY__STAFF_CATEGORY_UNSPECIFIED;
        is_int(check(&ev), CODE(BAD_ENUM), "baseline: an unspecified category rejected");
        wc2.category = COHORT__V1__STAFF_CATEGORY__STAFF_CATEGORY_STAFF;
        wc2.headcount = 0;
        is_int(check(&ev), CODE(BAD_VALUE), "baseline: a zero headcount rejected");
        wc2.headcount = 4175;
        gc.count = 8597;
        is_int(check(&ev), CODE(BAD_VALUE), "baseline: a group count above the headcount rejected");
        gc.count = 642;
        wc.n_groups = 2;
        is_int(check(&ev), CODE(BAD_VALUE), "baseline: a repeated group rejected");
        wc.n_groups = 1;
        wt.group = COHORT__V1__AIM_GROUP__AIM_BME;
        wt.category = COHORT__V1__STAFF_CATEGORY__STAFF_CATEGORY_OFFICER;
        wt.basis_points = 1611;
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_WORKFORCE_TARGET;
        ev.workforce_target = &wt;
        is_int(check(&ev), 0, "valid WorkforceTarget passes (no by date)");
        wt.by = "2009-13-01";
        is_int(check(&ev), CODE(BAD_DATE), "target: a bad by date rejected");
        wt.by = "2012-03-31";
        wt.basis_points = 10001;
        is_int(check(&ev), CODE(BAD_VALUE), "target: more than 100%% rejected");
        wt.basis_points = 0;
        is_int(check(&ev), CODE(BAD_VALUE), "target: 0 basis points rejected");
        wt.basis_points = 1611;
        wt.group = COHORT__V1__AIM_GROUP__AIM_GROUP_UNSPECIFIED;
        is_int(check(&ev), CODE(BAD_ENUM), "target without a group rejected");
    }
    /* PlanAgreed, ReviewRecorded, BoardDecision (issue 18 section 3) */
    char *objs[13] = {"obj-1", "obj-2", "obj-3",  "obj-4",  "obj-5",  "obj-6", "obj-7",
                      "obj-8", "obj-9", "obj-10", "obj-11", "obj-12", "obj-13"};
    Cohort__V1__PlanOption opts[21];
    for (int i = 0; i < 21; i++)
        opts[i] = COHORT__V1__PLAN_OPTION__PLAN_WORKSHOP;
    Cohort__V1__PlanAgreed pa = COHORT__V1__PLAN_AGREED__INIT;
    pa.participant_ref = REF_A;
    pa.programme_id = "step-forward";
    pa.cohort_id = "2009-1";
    pa.agreed_on = "2009-05-01";
    pa.review_on = "2009-08-01";
    pa.objectives = objs;
    pa.n_objectives = 2;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_PLAN_AGREED;
    ev.plan_agreed = &pa;
    is_int(check(&ev), 0, "valid PlanAgreed passes");
    pa.n_objectives = 13;
    is_int(check(&ev), CODE(TOO_LONG), "plan: 13 objectives rejected");
    pa.n_objectives = 0;
    is_int(check(&ev), CODE(MISSING_FIELD), "plan: no objectives and no options rejected");
    pa.options = opts;
    pa.n_options = 20;
    is_int(check(&ev), 0, "plan: twenty options from the menu pass");
    pa.n_options = 21;
    is_int(check(&ev), CODE(TOO_LONG), "plan: 21 options rejected");
    pa.n_options = 1;
    opts[0] = COHORT__V1__PLAN_OPTION__PLAN_OPTION_UNSPECIFIED;
    is_int(check(&ev), CODE(BAD_ENUM), "plan: an unspecified option rejected");
    opts[0] = COHORT__V1__PLAN_OPTION__PLAN_MENTORING;
    objs[0] = "Jane Smith";
    pa.n_objectives = 1;
    is_int(check(&ev), CODE(BAD_VALUE), "plan: free text (a name) as objective rejected");
    objs[0] = "obj-1";
    pa.review_on = "2009-04-30";
    is_int(check(&ev), CODE(BAD_VALUE), "plan: review_on before agreed_on rejected");
    pa.review_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "plan without review_on rejected");
    pa.review_on = "2009-08-01";
    pa.participant_ref = "staff-12345";
    is_int(check(&ev), CODE(BAD_VALUE), "plan: a raw staff number as ref rejected");
    pa.participant_ref = REF_A;

    Cohort__V1__ReviewRecorded rv = COHORT__V1__REVIEW_RECORDED__INIT;
    rv.participant_ref = REF_A;
    rv.programme_id = "step-forward";
    rv.cohort_id = "2009-1";
    rv.reviewed_on = "2009-08-01";
    rv.outcome = COHORT__V1__REVIEW_OUTCOME__REVIEW_CONCERNS;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_REVIEW_RECORDED;
    ev.review_recorded = &rv;
    is_int(check(&ev), 0, "valid ReviewRecorded passes (no next review)");
    rv.next_review_on = "2009-09-01";
    is_int(check(&ev), 0, "  with a next review");
    rv.next_review_on = "2009-08-01";
    is_int(check(&ev), CODE(BAD_VALUE), "review: next review not after the review rejected");
    rv.next_review_on = "1/9/2009";
    is_int(check(&ev), CODE(BAD_DATE), "review: a non-ISO next_review_on rejected");
    rv.next_review_on = "";
    rv.outcome = COHORT__V1__REVIEW_OUTCOME__REVIEW_OUTCOME_UNSPECIFIED;
    is_int(check(&ev), CODE(BAD_ENUM), "review without an outcome rejected");
    rv.outcome = COHORT__V1__REVIEW_OUTCOME__REVIEW_ON_TRACK;
    rv.reviewed_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "review without reviewed_on rejected");
    rv.reviewed_on = "2009-08-01";

    Cohort__V1__BoardDecision bd = COHORT__V1__BOARD_DECISION__INIT;
    bd.participant_agency = "wm-police";
    bd.participant_ref = REF_A;
    bd.programme_id = "step-forward";
    bd.cohort_id = "2009-1";
    bd.decided_on = "2009-08-01";
    bd.decision = COHORT__V1__BOARD_DECISION_KIND__BOARD_REMOVAL;
    bd.reason = COHORT__V1__BOARD_REASON__BOARD_REASON_CONDUCT;
    base(&ev);
    ev.body_case = COHORT__V1__EVENT__BODY_BOARD_DECISION;
    ev.board_decision = &bd;
    is_int(check(&ev), 0, "valid BoardDecision passes");
    bd.reason = COHORT__V1__BOARD_REASON__BOARD_REASON_UNSPECIFIED;
    is_int(check(&ev), CODE(BAD_ENUM), "decision without a reason code rejected");
    bd.reason = COHORT__V1__BOARD_REASON__BOARD_REASON_CONDUCT;
    bd.decision = COHORT__V1__BOARD_DECISION_KIND__BOARD_DECISION_UNSPECIFIED;
    is_int(check(&ev), CODE(BAD_ENUM), "decision without a decision rejected");
    bd.decision = COHORT__V1__BOARD_DECISION_KIND__BOARD_WARNING;
    bd.participant_agency = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "decision without participant_agency rejected");
    bd.participant_agency = "WM Police";
    is_int(check(&ev), CODE(BAD_AGENCY), "decision: a bad participant_agency rejected");
    bd.participant_agency = "wm-police";
    bd.decided_on = "";
    is_int(check(&ev), CODE(MISSING_FIELD), "decision without decided_on rejected");
    bd.decided_on = "2009-08-01";

    Cohort__V1__MentorAssigned ma = COHORT__V1__MENTOR_ASSIGNED__INIT;
    ma.mentor_ref = REF_M;
    ma.participant_ref = REF_A;
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

    /* issue 13 item 6: the ref form. Every ref field, both settings. */
    {
        static const char *const raw[] = {
            "JOHN.SMITH.0042",                      /* a name and a staff number */
            "a1b2c3",                               /* the old tests' refs */
            "p1:ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",  /* upper case */
            "p1:abcdefghijklmnopqrstuvwxyz23456",   /* one digit short */
            "p1:abcdefghijklmnopqrstuvwxyz2345678", /* one too many */
            "p1:abcdefghijklmnopqrstuvwxyz234501",  /* 0 and 1 are not base32 */
            "p2:abcdefghijklmnopqrstuvwxyz234567",  /* another scheme */
            "b7332c1e1ae5f4044d8c6b61fba529d92f4003170c759f8df7539480b7359a10",
        };
        char **fields[] = {&p.participant_ref,  &en.participant_ref, &at.participant_ref,
                           &pr.participant_ref, &ma.participant_ref, &ma.mentor_ref};
        const char *names[] = {
            "ParticipantRegistered.participant_ref", "EnrolmentChanged.participant_ref",
            "AttendanceRecorded.participant_ref",    "PromotionRecorded.participant_ref",
            "MentorAssigned.participant_ref",        "MentorAssigned.mentor_ref"};
        const Cohort__V1__Event__BodyCase cases[] = {COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED,
                                                     COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED,
                                                     COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED,
                                                     COHORT__V1__EVENT__BODY_PROMOTION_RECORDED,
                                                     COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED,
                                                     COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED};
        pr.effective_on = "2009-08-01";
        ma.mentor_ref = REF_M;
        en.stage = COHORT__V1__ENROLMENT_STAGE__APPLIED;
        at.session_date = "2009-05-01";
        ok(validate_pseudonym(REF_A) && validate_pseudonym(REF_M), "the pseudonym form is known");
        for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++) {
            char *keep = *fields[f];
            int all_refused = 1, all_any = 1, named = 1;
            base(&ev);
            ev.body_case = cases[f];
            ev.participant_registered = &p; /* the union: set the one in use */
            if (cases[f] == COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED)
                ev.enrolment_changed = &en;
            if (cases[f] == COHORT__V1__EVENT__BODY_ATTENDANCE_RECORDED)
                ev.attendance_recorded = &at;
            if (cases[f] == COHORT__V1__EVENT__BODY_PROMOTION_RECORDED)
                ev.promotion_recorded = &pr;
            if (cases[f] == COHORT__V1__EVENT__BODY_MENTOR_ASSIGNED)
                ev.mentor_assigned = &ma;
            is_int(check(&ev), 0, "%s: a pseudonym passes", names[f]);
            for (size_t r = 0; r < sizeof raw / sizeof raw[0]; r++) {
                *fields[f] = (char *)raw[r];
                if (validate_event(&ev, NOW, why, sizeof why) != CODE(BAD_VALUE))
                    all_refused = 0;
                if (!strstr(why, "pseudonym") || strstr(why, raw[r]))
                    named = 0;
                if (validate_event_form(&ev, NOW, VALIDATE_REF_ANY, why, sizeof why) != 0)
                    all_any = 0;
            }
            ok(all_refused, "%s: %zu raw refs refused BAD_VALUE by default", names[f],
               sizeof raw / sizeof raw[0]);
            ok(named, "%s: ... the reason says pseudonym, never the value", names[f]);
            ok(all_any, "%s: ... and all accepted with VALIDATE_REF_ANY", names[f]);
            *fields[f] = "has space";
            is_int(validate_event_form(&ev, NOW, VALIDATE_REF_ANY, why, sizeof why),
                   CODE(BAD_VALUE), "%s: VALIDATE_REF_ANY still checks the ref syntax", names[f]);
            *fields[f] = keep;
        }
        /* erasure: any ref of the syntax (a person registered before the check) */
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_ERASED;
        ev.participant_erased = &er;
        er.participant_ref = "legacy.ref.0042";
        is_int(check(&ev), 0, "ParticipantErased: a ref of the syntax in any form passes");
        er.participant_ref = REF_A;
        is_int(check(&ev), 0, "ParticipantErased: a pseudonym passes");
    }

    /* issue 13 item 6: free text is tightly bounded */
    {
        char text[VALIDATE_MAX_TEXT + 1];
        memset(text, 'x', sizeof text);
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_PARTICIPANT_REGISTERED;
        ev.participant_registered = &p;
        text[VALIDATE_MAX_GRADE] = 0;
        p.grade = text;
        is_int(check(&ev), 0, "grade of %d bytes passes", VALIDATE_MAX_GRADE);
        text[VALIDATE_MAX_GRADE] = 'x', text[VALIDATE_MAX_GRADE + 1] = 0;
        is_int(validate_event(&ev, NOW, why, sizeof why), CODE(TOO_LONG),
               "grade of %d bytes rejected TOO_LONG", VALIDATE_MAX_GRADE + 1);
        ok(strstr(why, "grade") && strstr(why, "64"), "... naming the field and bound (%s)", why);
        p.grade = "";
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_PROMOTION_RECORDED;
        ev.promotion_recorded = &pr;
        pr.from_grade = text;
        is_int(check(&ev), CODE(TOO_LONG), "from_grade of %d bytes rejected",
               VALIDATE_MAX_GRADE + 1);
        pr.from_grade = "";
        pr.to_grade = text;
        is_int(check(&ev), CODE(TOO_LONG), "to_grade of %d bytes rejected", VALIDATE_MAX_GRADE + 1);
        pr.to_grade = "";
        text[VALIDATE_MAX_GRADE] = 0;
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_ENROLMENT_CHANGED;
        ev.enrolment_changed = &en;
        en.stage = COHORT__V1__ENROLMENT_STAGE__APPLIED;
        memset(text, 'x', sizeof text);
        text[VALIDATE_MAX_NOTE] = 0;
        en.note = text;
        is_int(check(&ev), 0, "note of %d bytes passes", VALIDATE_MAX_NOTE);
        text[VALIDATE_MAX_NOTE] = 'x', text[VALIDATE_MAX_NOTE + 1] = 0;
        is_int(check(&ev), CODE(TOO_LONG), "note of %d bytes rejected", VALIDATE_MAX_NOTE + 1);
        en.note = "";
        base(&ev);
        ev.body_case = COHORT__V1__EVENT__BODY_PROGRAMME_DEFINED;
        ev.programme_defined = &pd;
        memset(text, 'x', sizeof text);
        text[VALIDATE_MAX_LABEL] = 0;
        c1.label = text;
        is_int(check(&ev), 0, "component label of %d bytes passes", VALIDATE_MAX_LABEL);
        text[VALIDATE_MAX_LABEL] = 'x', text[VALIDATE_MAX_LABEL + 1] = 0;
        is_int(check(&ev), CODE(TOO_LONG), "component label of %d bytes rejected",
               VALIDATE_MAX_LABEL + 1);
        c1.label = "";
        ok(VALIDATE_MAX_GRADE <= 64 && VALIDATE_MAX_NOTE <= 120 && VALIDATE_MAX_LABEL <= 80,
           "the free-text bounds are the documented ones");
    }

    ok(validate_date("2008-02-29") && !validate_date("2009-02-29"), "leap years handled");
    ok(validate_utf8("\xf0\x9f\x98\x80", 4) && !validate_utf8("\xed\xa0\x80", 3),
       "4-byte UTF-8 accepted, surrogates rejected");
    free(longs);
    free(many);
    return tap_done();
}
