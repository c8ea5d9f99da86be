#!/usr/bin/perl
# No cross-agency lookups through mentors (issue 13, item 7), against the
# real daemon over CURVE, each agency with its own agent key:
# - capture: a rogue agency registers a mentor under another agency's
#   mentor's ref; an assignment that does not name the mentor's agency is
#   no longer resolved to it (the old lookup took the alphabetically first
#   agency holding the ref), and one that names it (mentorAgency) gets the
#   right mentor;
# - oracle: for another agency's refs, "not registered there" and
#   "registered there, but not as a mentor" get the same ack (code and
#   reason), so replies do not tell whether another agency holds a ref.
# On the code before mentorAgency, the unnamed assignment is ACCEPTED (and
# captured) and the two replies differ (UNKNOWN_PARTICIPANT, WRONG_ROLE).
# Issue 18 (units, assessments, awards): a 0-minute submission component
# (BAD_VALUE before units), AssessmentRecorded and AwardMade through the
# real daemon, their refusals and ownership (another agency's key, a
# coordinator key), the board's counts without refs and the agency's own
# results; on the code before issue 18 the redefinition is refused and the
# new bodies are NO_BODY. Issue 18 section 5: workforce baselines and
# targets, only by the agency's own key, and the programme's figures.
# Issue 18 section 3: PlanAgreed and ReviewRecorded from the person's agency
# (another agency's key and a coordinator key refused UNAUTHORISED), a
# BoardDecision from the coordinator owning the programme (an agent key and
# a coordinator of another programme refused UNAUTHORISED), the removal
# moving the stage, overdue reviews by the log clock, the board's counts
# without refs and the agency's per-person view; before section 3 the
# three bodies are NO_BODY.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;
my %pub;
for my $n (qw(coord coord2 wmp cps rogue op)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    ($pub{$n}) = $out =~ /public-key = (\S{40})/ or die "no key for $n: $out";
}
my $P = 'mt-55';
open my $fh, '>', "$dir/data/access" or die;
print $fh "$pub{coord} coordinator programmes=$P\n", "$pub{coord2} coordinator programmes=other-56\n",
    "$pub{wmp} agent wm-police\n",
    "$pub{cps} agent cps-wm\n", "$pub{rogue} agent aa-rogue\n", "$pub{op} operator\n";
close $fh;

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");

my $n = 0;
sub ev {
    my ($agency, $body, $fields) = @_;
    return { eventId => sprintf('01900055-0055-7000-8000-%012d', ++$n), agency => $agency,
             occurredAt => '2009-04-01T10:00:00Z', $body => $fields };
}
sub send_as {
    my ($who, @events) = @_;
    my $f = "$dir/ev-$n.jsonl";
    write_jsonl($f, \@events);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                    $d->{endpoint}, '--key', "$keys/$who.key", @curve, $f],
                                   timeout => 60);
    return [map { decode_json($_) } grep { /^\{/ } split /\n/, $out];
}
sub results { join ',', map { $_->{result} . ($_->{code} ? ":$_->{code}" : '') } @{ $_[0] } }
sub person {
    my ($agency, $ref, $role) = @_;
    return ev($agency, participantRegistered => { participantRef => $ref, role => $role,
        ethnicity => 'W1', gender => 'FEMALE', disability => 'NOT_DISABLED' });
}
sub stages {
    my ($agency, $ref, @stages) = @_;
    return map { ev($agency, enrolmentChanged => { participantRef => $ref, programmeId => $P,
                                                   cohortId => 'c1', stage => $_ }) } @stages;
}
sub assign {
    my ($mref, $magency) = @_;
    return ev('wm-police', mentorAssigned => { mentorRef => $mref, participantRef => pref('wmp-1'),
        programmeId => $P, cohortId => 'c1', ($magency ? (mentorAgency => $magency) : ()) });
}

# --- set up: a programme, a wm-police participant, a cps-wm mentor -------
is(results(send_as('coord',
    ev('wmcjb', programmeDefined => { programmeId => $P, name => 'Mentors 55',
        participantComponents => [ { kind => 'TRAINING_COURSE', count => 1, minutesEach => 60 } ] }),
    ev('wmcjb', cohortOpened => { programmeId => $P, cohortId => 'c1', places => 10,
        startsOn => '2009-04-01', endsOn => '2009-09-30', agencies => ['wm-police', 'cps-wm'] }))),
   'ACCEPTED,ACCEPTED', 'the coordinator defines the programme');
my $r = send_as('wmp', person('wm-police', pref('wmp-1'), 'PARTICIPANT'),
    stages('wm-police', pref('wmp-1'), qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)));
is(results($r), join(',', ('ACCEPTED') x 7), 'wm-police enrols its participant');
$r = send_as('cps', person('cps-wm', pref('cps-mentor'), 'MENTOR'),
             stages('cps-wm', pref('cps-mentor'), 'ENROLLED'), person('cps-wm', pref('cps-staff'), 'PARTICIPANT'));
is(results($r), 'ACCEPTED,ACCEPTED,ACCEPTED', 'cps-wm registers a mentor and a participant');

# --- capture ----------------------------------------------------------------
is(results(send_as('rogue', person('aa-rogue', pref('cps-mentor'), 'MENTOR'))), 'ACCEPTED',
   "a rogue agency registers a mentor under cps-wm's mentor's ref");
$r = send_as('wmp', assign(pref('cps-mentor')));
is(results($r), 'REJECTED:REJECT_UNKNOWN_PARTICIPANT',
   'without mentorAgency only wm-police is searched: nothing is captured');
$r = send_as('wmp', assign(pref('cps-mentor'), 'cps-wm'));
is(results($r), 'ACCEPTED', 'with mentorAgency cps-wm: ACCEPTED');

sub view {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot},
                                    '--key', "$keys/op.key", @curve], timeout => 30);
    return { map { $_->{topic} => $_->{doc} } grep { defined $_->{topic} } @{ read_jsonl($out) } };
}
my $v;
ok(wait_until(10, sub { $v = view(); ($v->{"cohort/$P/c1"}{mentoring}{assignments} // 0) == 1 }),
   'the cohort has one mentor assignment') or diag explain $v->{"cohort/$P/c1"};
my ($m) = grep { $_->{ref} eq pref('cps-mentor') } @{ $v->{"agency/cps-wm/$P/c1"}{people} // [] };
is($m && $m->{mentees}, 1, "cps-wm's mentor has the mentee");
ok(!$v->{"agency/aa-rogue/$P/c1"}, 'the rogue agency has no topic: its mentor got nothing');

# --- oracle -----------------------------------------------------------------
my $unknown = send_as('wmp', assign(pref('nobody-here'), 'cps-wm'))->[0];
my $participant = send_as('wmp', assign(pref('cps-staff'), 'cps-wm'))->[0];
my $no_agency = send_as('wmp', assign(pref('nobody-here'), 'no-such-agency'))->[0];
is($unknown->{result}, "REJECTED", "a ref unknown at cps-wm is rejected");
ok(length($unknown->{reason} // ""), "  with a reason: $unknown->{reason}");
is($unknown->{code}, 'REJECT_UNKNOWN_PARTICIPANT', '  as UNKNOWN_PARTICIPANT');
my $strip = sub { my %a = %{ $_[0] }; delete @a{qw(eventId seq)}; JSON::PP->new->canonical->encode(\%a) };
is($strip->($participant), $strip->($unknown),
   "a participant of cps-wm named as mentor: the same ack as an unknown ref (code and reason)");
is($strip->($no_agency), $strip->($unknown), 'an agency with no one at all: the same ack');
unlike($unknown->{reason} // '', qr/nobody|cps/, 'the reason names neither the ref nor the agency');

# --- issue 18: units, assessments and awards over CURVE ----------------------
# The coordinator redefines the programme with an assessed dissertation
# counted in submissions (minutesEach 0: refused BAD_VALUE before units);
# wm-police records its participant's course, submission, results and award.
sub lp {
    my ($body, %f) = @_;
    return ev('wm-police', $body => { participantRef => pref('wmp-1'), programmeId => $P,
                                      cohortId => 'c1', %f });
}
sub result { lp(assessmentRecorded => component => 'DISSERTATION', pieceId => 'dissertation',
                outcome => $_[0], assessedOn => '2009-09-01') }
my $award = lp(awardMade => award => 'postgraduate diploma', awardedOn => '2009-09-30');
is(results(send_as('coord',
    ev('wmcjb', programmeDefined => { programmeId => $P, name => 'Mentors 55',
        participantComponents => [ { kind => 'TRAINING_COURSE', count => 1, minutesEach => 60 },
            { kind => 'DISSERTATION', count => 1, unit => 'UNIT_SUBMISSIONS', assessed => JSON::PP::true } ] }))),
   'ACCEPTED', 'a dissertation of 0 minutes counted in submissions is accepted');
$r = send_as('wmp', lp(attendanceRecorded => component => 'TRAINING_COURSE', sessionId => 'course',
                       sessionDate => '2009-04-02', status => 'PRESENT', minutes => 60),
             lp(attendanceRecorded => component => 'DISSERTATION', sessionId => 'dissertation',
                sessionDate => '2009-08-01', status => 'PRESENT'),
             result('ASSESSMENT_RESUBMITTED'), $award, result('ASSESSMENT_REFER'));
is(results($r), 'ACCEPTED,ACCEPTED,REJECTED:REJECT_BAD_TRANSITION,REJECTED:REJECT_BAD_TRANSITION,ACCEPTED',
   'course and submission recorded; RESUBMITTED before REFER and an award before the pass refused; REFER accepted');
$r = send_as('cps', result('ASSESSMENT_PASS'));
is(results($r), 'REJECTED:REJECT_UNAUTHORISED', "cps-wm's key cannot send wm-police's results");
my $own = result('ASSESSMENT_PASS');
$own->{agency} = 'cps-wm';
$r = send_as('cps', $own);
is(results($r), 'REJECTED:REJECT_UNKNOWN_PARTICIPANT',
   "under its own agency, cps-wm does not know wm-police's person");
$r = send_as('coord', result('ASSESSMENT_PASS'));
is(results($r), 'REJECTED:REJECT_UNAUTHORISED', 'a coordinator key sends no results');
ok(wait_until(10, sub { $v = view(); ($v->{"cohort/$P/c1"}{award}{referred} // 0) == 1 }),
   'the board sees one referral (a count)') or diag explain $v->{"cohort/$P/c1"}{award};
$r = send_as('wmp', result('ASSESSMENT_RESUBMITTED'), result('ASSESSMENT_PASS'), $award);
is(results($r), 'ACCEPTED,ACCEPTED,ACCEPTED', 'resubmitted, passed, then the award');
ok(wait_until(10, sub { $v = view(); ($v->{"cohort/$P/c1"}{award}{awarded} // 0) == 1 }),
   'the board sees one award') or diag explain $v->{"cohort/$P/c1"}{award};
is_deeply($v->{"cohort/$P/c1"}{award}, { assessed_components => 1, enrolled => 1, on_track => 0,
          passed_all => 1, referred => 0, failed => 0, awarded => 1 },
          'cohort: the award counts') or diag explain $v->{"cohort/$P/c1"}{award};
is($v->{"cohort/$P/c1"}{completion}{participants}{complete}, 1, 'complete: attended and passed');
is($v->{"programme/$P"}{award}{awarded}, 1, 'programme: the award summed');
my ($p1) = grep { $_->{ref} eq pref('wmp-1') } @{ $v->{"agency/wm-police/$P/c1"}{people} // [] };
is_deeply($p1 && $p1->{assessments}, [ { component => 'DISSERTATION', piece => 'dissertation',
          outcome => 'ASSESSMENT_PASS', assessed_on => '2009-09-01', attempts => 3 } ],
          "wm-police sees its person's result") or diag explain $p1;
is($p1 && $p1->{award}{award}, 'postgraduate diploma', '... and the award');
is($p1 && $p1->{components}{DISSERTATION}{unit}, 'UNIT_SUBMISSIONS', '... and the unit');
ok(!grep({ $_->{ref} eq pref('wmp-1') } @{ $v->{"agency/cps-wm/$P/c1"}{people} // [] }),
   "cps-wm's topic does not show wm-police's person");

# --- issue 18 section 3: plans, reviews, board decisions over CURVE ----------
sub at { my ($e, $when) = @_; $e->{occurredAt} = $when; return $e }
sub lp2 {
    my ($body, %f) = @_;
    return ev('wm-police', $body => { participantRef => pref('wmp-2'), programmeId => $P,
                                      cohortId => 'c1', %f });
}
$r = send_as('wmp', person('wm-police', pref('wmp-2'), 'PARTICIPANT'),
    stages('wm-police', pref('wmp-2'), qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)));
is(results($r), join(',', ('ACCEPTED') x 7), 'wm-police enrols a second participant');
my $plan1 = lp(planAgreed => agreedOn => '2009-04-01', reviewOn => '2009-05-01',
               objectives => ['lead-change', 'budget']);
is(results(send_as('cps', $plan1)), 'REJECTED:REJECT_UNAUTHORISED',
   "cps-wm's key cannot send wm-police's plan");
is(results(send_as('coord', $plan1)), 'REJECTED:REJECT_UNAUTHORISED', 'a coordinator key sends no plans');
$r = send_as('wmp', $plan1,
    lp2(planAgreed => agreedOn => '2009-04-01', reviewOn => '2009-04-15',
        options => [qw(PLAN_WORK_SHADOWING PLAN_MENTORING PLAN_ACTING_PLACEMENT)]),
    lp2(reviewRecorded => reviewedOn => '2009-03-01', outcome => 'REVIEW_ON_TRACK'),
    at(lp(reviewRecorded => reviewedOn => '2009-06-01', outcome => 'REVIEW_CONCERNS',
          nextReviewOn => '2009-07-01'), '2009-06-01T10:00:00Z'));
is(results($r), 'ACCEPTED,ACCEPTED,REJECTED:REJECT_BAD_VALUE,ACCEPTED',
   'plans (objectives; the menu) and a review with concerns; a review before the plan refused');
ok(wait_until(10, sub { $v = view(); ($v->{"cohort/$P/c1"}{plans}{overdue_reviews} // 0) == 1 }),
   "the board sees one overdue review (wmp-2's 2009-04-15, the log clock at 2009-06-01)")
    or diag explain $v->{"cohort/$P/c1"}{plans};
is($v->{"cohort/$P/c1"}{plans}{concerns}, 1, 'and one whose last review raised concerns');
is($v->{"programme/$P"}{plans}{overdue_reviews}, 1, 'programme: summed');
my %ppl = map { $_->{ref} => $_ } @{ $v->{"agency/wm-police/$P/c1"}{people} // [] };
is($ppl{pref('wmp-1')}{plan}{last_review_outcome}, 'REVIEW_CONCERNS', 'wm-police sees wmp-1: concerns');
ok($ppl{pref('wmp-2')}{plan}{review_overdue}, 'wm-police sees wmp-2 overdue');
is_deeply($ppl{pref('wmp-2')}{plan}{options}, [qw(PLAN_WORK_SHADOWING PLAN_MENTORING PLAN_ACTING_PLACEMENT)],
          "... and wmp-2's options");

my $removal = ev('wmcjb', boardDecision => { participantAgency => 'wm-police',
    participantRef => pref('wmp-2'), programmeId => $P, cohortId => 'c1',
    decidedOn => '2009-06-01', decision => 'BOARD_REMOVAL', reason => 'BOARD_REASON_PLAN_NOT_MET' });
at($removal, '2009-06-01T12:00:00Z');
$r = send_as('wmp', $removal);
is(results($r), 'REJECTED:REJECT_UNAUTHORISED', 'an agent key sends no board decision');
like($r->[0]{reason} // '', qr/board decision needs a coordinator or board key/, '  and the reason says so');
is(results(send_as('coord2', $removal)), 'REJECTED:REJECT_UNAUTHORISED',
   "a coordinator of another programme cannot decide about this programme's cohort");
is(results(send_as('coord', $removal)), 'ACCEPTED', "the programme's coordinator removes wmp-2");
is(results(send_as('coord', $removal)), 'DUPLICATE', 'the same decision again: a duplicate');
ok(wait_until(10, sub { $v = view();
        ($v->{"cohort/$P/c1"}{plans}{board_decisions}{by_reason}{BOARD_REASON_PLAN_NOT_MET} // 0) == 1 }),
   'the board sees one decision for plan not met') or diag explain $v->{"cohort/$P/c1"}{plans};
is($v->{"cohort/$P/c1"}{plans}{board_decisions}{by_decision}{BOARD_REMOVAL}, 1, '... a removal');
is($v->{"cohort/$P/c1"}{plans}{overdue_reviews}, 0, 'removed: no longer overdue');
%ppl = map { $_->{ref} => $_ } @{ $v->{"agency/wm-police/$P/c1"}{people} // [] };
is($ppl{pref('wmp-2')}{stage}, 'REMOVED_BY_BOARD', 'the removal moved the enrolment');
my $pat = quotemeta pref('wmp-1');
ok(!grep({ encode_json($v->{$_}) =~ /$pat/ } grep { !/^agency\/wm-police\// } keys %$v),
   'no board topic (nor another agency) carries the ref');

# --- issue 18 section 5: workforce baselines and targets over CURVE ---------
# wm-police publishes its own baseline and target; cps-wm's key cannot
# publish wm-police's, nor can the coordinator's; an earlier as_at is
# refused; the programme document shows the figures and the overall sum.
# On the code before section 5 the bodies are NO_BODY.
my $wmp_base = ev('wm-police', workforceBaseline => { asAt => '2008-09-30', categories => [
    { category => 'STAFF_CATEGORY_OFFICER', headcount => 8596, groups => [ { group => 'AIM_BME', count => 642 } ] },
    { category => 'STAFF_CATEGORY_STAFF', headcount => 4175, groups => [ { group => 'AIM_BME', count => 415 } ] },
    { category => 'STAFF_CATEGORY_PCSO', headcount => 735, groups => [ { group => 'AIM_BME', count => 106 } ] } ] });
my $wmp_target = ev('wm-police', workforceTarget => { group => 'AIM_BME',
    category => 'STAFF_CATEGORY_OFFICER', basisPoints => 1611 });
is(results(send_as('cps', $wmp_base)), 'REJECTED:REJECT_UNAUTHORISED',
   "cps-wm's key cannot publish wm-police's baseline");
is(results(send_as('cps', $wmp_target)), 'REJECTED:REJECT_UNAUTHORISED', '... nor its target');
is(results(send_as('coord', $wmp_base)), 'REJECTED:REJECT_UNAUTHORISED',
   'a coordinator key publishes no baseline');
is(results(send_as('wmp', $wmp_base, $wmp_target)), 'ACCEPTED,ACCEPTED',
   'wm-police publishes its own baseline and target');
my $old = ev('wm-police', workforceBaseline => { asAt => '2008-03-31', categories => [
    { category => 'STAFF_CATEGORY_OFFICER', headcount => 8000 } ] });
is(results(send_as('wmp', $old)), 'REJECTED:REJECT_BAD_VALUE', 'an earlier as_at is refused');
is(results(send_as('cps', ev('cps-wm', workforceBaseline => { asAt => '2008-12-31', categories => [
    { category => 'STAFF_CATEGORY_STAFF', headcount => 1000, groups => [ { group => 'AIM_BME', count => 100 } ] } ] }))),
   'ACCEPTED', 'cps-wm publishes its own');
ok(wait_until(10, sub { $v = view(); ($v->{"programme/$P"}{workforce}{baselines} // 0) == 2 }),
   'the programme shows two baselines') or diag explain $v->{"programme/$P"}{workforce};
my $wf = $v->{"programme/$P"}{workforce};
is($wf->{agencies}{'wm-police'}{baseline}{headcount}, 13506, 'wm-police: 13,506');
is($wf->{agencies}{'wm-police'}{baseline}{categories}{OFFICER}{groups}{AIM_BME}{percent}, 0.0747,
   'BME officers 7.47%');
is($wf->{agencies}{'wm-police'}{targets}[0]{percent}, 0.1611, 'target 16.11%');
is($wf->{overall}{headcount}, 14506, 'overall: the two baselines summed');
is($wf->{overall}{all}{AIM_BME}{count}, 1263, 'overall BME 1,263');

my $pat2 = quotemeta pref('wmp-2');
ok(!grep({ encode_json($v->{$_}) =~ /$pat2|lead-change|PLAN_MENTORING/ } grep { !/^agency\/wm-police\// } keys %$v),
   'no board topic carries the ref, an objective or an option');
my $refs = join '|', map { quotemeta pref($_) } qw(wmp-1 wmp-2 cps-mentor cps-staff nobody-here);
unlike(log_of($d), qr/$refs/, 'no ref in the log');
is(stop_daemon($d), 0, 'the daemon exits cleanly') or diag log_of($d);
done_testing();
