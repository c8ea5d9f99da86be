#!/usr/bin/perl
# A complete Step Forward cohort, generated here (not the examples file),
# pushed through the real daemon; then every published figure of the
# cohort, programme and agency topics is checked against values worked out
# by hand below (docs/status.md), never by re-implementing the daemon.
#
# Cast (refs are the agencies' pseudonyms; sfpNN participants, sfmN mentors):
#
#   ref    agency        eth gender disab  outcome
#   sfp01  wm-police     B1  F      ND     ENROLLED 04-01 -> COMPLETED
#   sfp02  wm-police     B1  M      ND     ENROLLED -> COMPLETED
#   sfp03  cps-wm        A1  F      ND     ENROLLED -> COMPLETED
#   sfp04  hmcts-wm      B1  F      DIS    ENROLLED -> COMPLETED
#   sfp05  probation-wm  A2  F      ND     ENROLLED -> COMPLETED
#   sfp06  probation-wm  M1  M      ND     ENROLLED -> COMPLETED
#   sfp07  hmps-wm       B2  F      ND     ENROLLED -> COMPLETED
#   sfp08  yot-wm        A1  F      ND     ENROLLED -> COMPLETED
#   sfp09  wm-police     B1  M      ND     ENROLLED (still)
#   sfp10  cps-wm        A1  F      DNS    ENROLLED (still)
#   sfp11  hmcts-wm      B1  GNS    ND     ENROLLED (still)
#   sfp12  probation-wm  M1  F      ND     ENROLLED (still)
#   sfp13  hmps-wm       A2  M      ND     ENROLLED (still)
#   sfp14  yot-wm        B2  F      ND     ENROLLED, WITHDRAWN 06-08
#   sfp15  wm-police     B9  M      ND     INTERVIEWED; OFFERED without line-manager support: REJECTED
#   sfp16  cps-wm        A3  F      ND     ... OFFERED -> DECLINED
#   sfp17  wm-police     W1  M      ND     APPLIED -> NOT_SELECTED (not shortlisted)
#   sfp18  hmcts-wm      M2  F      ND     APPLIED -> NOT_SELECTED (not shortlisted)
#   sfp19  probation-wm  NS  M      ND     INTERVIEWED -> NOT_SELECTED
#   sfp20  hmps-wm       A9  F      ND     SHORTLISTED -> WITHDRAWN
#   sfm1..sfm6: one MENTOR per agency, in the agency order below, ENROLLED
#   directly on 03-20; sfm1..sfm3 COMPLETED on 09-30, sfm4..sfm6 still ENROLLED.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;

my @AG = qw(wm-police cps-wm hmcts-wm probation-wm hmps-wm yot-wm);
my ($PROG, $COH) = ('sf', '2009-1');

my %P = (    # ref => [agency, ethnicity, gender, disability]
    sfp01 => ['wm-police', 'B1', 'FEMALE', 'NOT_DISABLED'],
    sfp02 => ['wm-police', 'B1', 'MALE', 'NOT_DISABLED'],
    sfp03 => ['cps-wm', 'A1', 'FEMALE', 'NOT_DISABLED'],
    sfp04 => ['hmcts-wm', 'B1', 'FEMALE', 'DISABLED'],
    sfp05 => ['probation-wm', 'A2', 'FEMALE', 'NOT_DISABLED'],
    sfp06 => ['probation-wm', 'M1', 'MALE', 'NOT_DISABLED'],
    sfp07 => ['hmps-wm', 'B2', 'FEMALE', 'NOT_DISABLED'],
    sfp08 => ['yot-wm', 'A1', 'FEMALE', 'NOT_DISABLED'],
    sfp09 => ['wm-police', 'B1', 'MALE', 'NOT_DISABLED'],
    sfp10 => ['cps-wm', 'A1', 'FEMALE', 'DISABILITY_NOT_STATED'],
    sfp11 => ['hmcts-wm', 'B1', 'GENDER_NOT_STATED', 'NOT_DISABLED'],
    sfp12 => ['probation-wm', 'M1', 'FEMALE', 'NOT_DISABLED'],
    sfp13 => ['hmps-wm', 'A2', 'MALE', 'NOT_DISABLED'],
    sfp14 => ['yot-wm', 'B2', 'FEMALE', 'NOT_DISABLED'],
    sfp15 => ['wm-police', 'B9', 'MALE', 'NOT_DISABLED'],
    sfp16 => ['cps-wm', 'A3', 'FEMALE', 'NOT_DISABLED'],
    sfp17 => ['wm-police', 'W1', 'MALE', 'NOT_DISABLED'],
    sfp18 => ['hmcts-wm', 'M2', 'FEMALE', 'NOT_DISABLED'],
    sfp19 => ['probation-wm', 'NS', 'MALE', 'NOT_DISABLED'],
    sfp20 => ['hmps-wm', 'A9', 'FEMALE', 'NOT_DISABLED'],
);
my %M = (    # mentors: one per agency
    sfm1 => ['wm-police', 'W1', 'MALE', 'NOT_DISABLED'],
    sfm2 => ['cps-wm', 'B1', 'FEMALE', 'NOT_DISABLED'],
    sfm3 => ['hmcts-wm', 'A1', 'MALE', 'NOT_DISABLED'],
    sfm4 => ['probation-wm', 'W2', 'FEMALE', 'NOT_DISABLED'],
    sfm5 => ['hmps-wm', 'M3', 'MALE', 'NOT_DISABLED'],
    sfm6 => ['yot-wm', 'NS', 'FEMALE', 'NOT_DISABLED'],
);
my %AGENCY = (map({ $_ => $P{$_}[0] } keys %P), map({ $_ => $M{$_}[0] } keys %M));
my @PREFS = sort keys %P;
my @MREFS = sort keys %M;

# ---------------------------------------------------------------- events
my @events;    # [occurredAt, order, event]
my $nid = 0;
my %tag;       # name => eventId, for the events whose result is checked
sub ev {
    my ($agency, $at, $kind, $body, $name) = @_;
    my $id = sprintf('01a10000-0000-7000-8000-%012d', ++$nid);
    push @events, [$at, $nid, { eventId => $id, agency => $agency, occurredAt => $at, $kind => $body }];
    $tag{$name} = $id if $name;
    return $id;
}
sub stage {
    my ($ref, $stage, $at, $name) = @_;
    ev($AGENCY{$ref}, $at, 'enrolmentChanged',
       { participantRef => $ref, programmeId => $PROG, cohortId => $COH, stage => $stage }, $name);
}
sub att {
    my ($ref, $kind, $sid, $date, $status, $min, $at) = @_;
    ev($AGENCY{$ref}, $at // "${date}T17:00:00Z", 'attendanceRecorded',
       { participantRef => $ref, programmeId => $PROG, cohortId => $COH, component => $kind,
         sessionId => $sid, sessionDate => $date, status => $status, minutes => $min });
}
sub promo {
    my ($ref, $kind, $eff, $at, $no_ids, $name) = @_;
    my %b = (participantRef => $ref, kind => $kind, fromGrade => 'grade a', toGrade => "grade b ($kind)",
             effectiveOn => $eff);
    %b = (%b, programmeId => $PROG, cohortId => $COH) unless $no_ids;
    ev($AGENCY{$ref}, $at, 'promotionRecorded', \%b, $name);
}

# The programme: participants 1440 + 2 x 240 + 6 x 120 = 2640 minutes
# (5.5 days of 480); mentors 960 + 2 x 240 + 6 x 120 = 2160 (4.5 days).
my @PCOMP = ({ kind => 'TRAINING_COURSE', count => 1, minutesEach => 1440, label => '3-day course' },
             { kind => 'CALL_BACK', count => 2, minutesEach => 240, label => 'half-day call-back' },
             { kind => 'COACHING', count => 6, minutesEach => 120, label => 'coaching, 2 hours' });
my @MCOMP = ({ kind => 'TRAINING_COURSE', count => 1, minutesEach => 960, label => '2-day mentor course' },
             { kind => 'CALL_BACK', count => 2, minutesEach => 240, label => 'half-day call-back' },
             { kind => 'COACHING', count => 6, minutesEach => 120, label => 'coaching given' });
my @AIMS = ({ group => 'AIM_BME', minPercent => 100 }, { group => 'AIM_FEMALE', minPercent => 50 },
            { group => 'AIM_DISABLED', minPercent => 10 }, { group => 'AIM_LGB', minPercent => 5 });
ev('wmcjb', '2009-01-12T10:00:00Z', 'programmeDefined',
   { programmeId => $PROG, name => 'Step Forward', participantComponents => \@PCOMP,
     mentorComponents => \@MCOMP, aims => \@AIMS, durationMonths => 6 });
ev('wmcjb', '2009-01-19T10:00:00Z', 'cohortOpened',
   { programmeId => $PROG, cohortId => $COH, places => 16, startsOn => '2009-04-01',
     endsOn => '2009-09-30', agencies => \@AG });

my $i = 0;
for my $r (@PREFS, @MREFS) {
    my $p = $P{$r} // $M{$r};
    ev($p->[0], sprintf('2009-01-26T10:%02d:00Z', $i++), 'participantRegistered',
       { participantRef => $r, role => ($P{$r} ? 'PARTICIPANT' : 'MENTOR'), ethnicity => $p->[1],
         gender => $p->[2], disability => $p->[3], grade => 'some grade' });
}
# selection
stage($_, 'APPLIED', '2009-02-02T09:00:00Z') for @PREFS;
for my $r (@PREFS) {
    stage($r, ($r =~ /^sfp1[78]$/ ? 'NOT_SELECTED' : 'SHORTLISTED'), '2009-02-16T09:00:00Z');
}
stage('sfp20', 'WITHDRAWN', '2009-02-23T09:00:00Z');
stage($_, 'INTERVIEWED', '2009-03-03T09:00:00Z') for grep { !/^sfp(1[78]|20)$/ } @PREFS;
stage('sfp19', 'NOT_SELECTED', '2009-03-05T09:00:00Z');
my @offered = grep { !/^sfp(1[5789]|20)$/ } @PREFS;    # sfp01..sfp14, sfp16
stage($_, 'LINE_MANAGER_SUPPORTED', '2009-03-09T09:00:00Z') for @offered;
stage('sfp15', 'OFFERED', '2009-03-16T08:00:00Z', 'offer-without-lms');
stage($_, 'OFFERED', '2009-03-16T09:00:00Z') for @offered;
stage('sfp16', 'DECLINED', '2009-03-20T09:00:00Z');
stage($_, 'ENROLLED', '2009-03-20T10:00:00Z') for @MREFS;    # mentors nominated directly
my @enrolled = grep { $_ ne 'sfp16' } @offered;             # sfp01..sfp14
stage($_, 'ENROLLED', '2009-04-01T09:00:00Z') for @enrolled;

# mentor assignments (sent by the participant's agency; mentor from another,
# named by mentorAgency). A participant of the sender's own agency named as
# mentor is WRONG_ROLE (another agency's would get UNKNOWN_PARTICIPANT,
# 55-mentors.t).
my @PAIRS = ([sfp01 => 'sfm2'], [sfp02 => 'sfm3'], [sfp03 => 'sfm1'], [sfp04 => 'sfm4'],
             [sfp05 => 'sfm5'], [sfp06 => 'sfm6'], [sfp07 => 'sfm1'], [sfp08 => 'sfm2'],
             [sfp09 => 'sfm4'], [sfp10 => 'sfm5'], [sfp10 => 'sfm6'], [sfp13 => 'sfm3'],
             [sfp10 => 'sfm5']);    # the last one again: changes nothing
for my $pr (@PAIRS) {
    ev($AGENCY{ $pr->[0] }, '2009-04-03T15:00:00Z', 'mentorAssigned',
       { participantRef => $pr->[0], mentorRef => $pr->[1], mentorAgency => $AGENCY{ $pr->[1] },
         programmeId => $PROG, cohortId => $COH });
}
ev('hmcts-wm', '2009-04-03T15:30:00Z', 'mentorAssigned',
   { participantRef => 'sfp11', mentorRef => 'sfp04', programmeId => $PROG, cohortId => $COH },
   'mentor-is-participant');

# ---------------------------------------------------------------- attendance
# Participants: course (1 session, 2009-04-01, 1440), coaching c1..c6
# (monthly, 120), call-backs cb1 (06-17) and cb2 (09-16) (240). Default:
# PRESENT for the full minutes. Deviations:
my %CDATE = (c1 => '2009-04-20', c2 => '2009-05-18', c3 => '2009-06-15', c4 => '2009-07-20',
             c5 => '2009-08-17', c6 => '2009-09-14', cb1 => '2009-06-17', cb2 => '2009-09-16');
my %DEV = (
    sfp03 => { c2 => ['LATE', 90] },
    sfp04 => { c1 => ['PRESENT', 150] },          # a session credits at most its 120
    sfp05 => { course => ['LATE', 1200] },
    sfp07 => { cb2 => ['EXCUSED', 0] },
    sfp10 => { c1 => ['ABSENT', 0], c2 => ['EXCUSED', 0], c3 => ['ABSENT', 0], c5 => ['ABSENT', 0],
               c6 => ['ABSENT', 0], cb2 => ['ABSENT', 0] },    # c3 corrected to PRESENT 120 below
    sfp11 => { c3 => ['LATE', 60], c4 => ['ABSENT', 0], c5 => ['ABSENT', 0], c6 => ['ABSENT', 0],
               cb2 => ['ABSENT', 0] },
    sfp12 => { c3 => ['LATE', 59], c4 => ['ABSENT', 0], c5 => ['ABSENT', 0], c6 => ['ABSENT', 0],
               cb2 => ['ABSENT', 0] },
    sfp13 => { course => ['LATE', 960] },
    sfm5  => { c4 => ['ABSENT', 0], c5 => ['ABSENT', 0], c6 => ['ABSENT', 0] },
    sfm6  => { course => ['LATE', 480], c4 => ['ABSENT', 0], c5 => ['ABSENT', 0], c6 => ['ABSENT', 0],
               cb2 => ['ABSENT', 0] },
);
my %KIND = (course => 'TRAINING_COURSE', cb1 => 'CALL_BACK', cb2 => 'CALL_BACK',
            map { ("c$_" => 'COACHING') } 1 .. 7);
sub attend {
    my ($r, $s, $full, $date) = @_;
    my ($st, $min) = @{ $DEV{$r}{$s} // ['PRESENT', $full] };
    att($r, $KIND{$s}, $s, $date, $st, $min);
}
# sfp14 withdraws on 06-08 and has records only before that.
my @active = grep { $_ ne 'sfp14' } @enrolled;
attend($_, 'course', 1440, '2009-04-01') for @enrolled;
attend($_, 'course', 960, '2009-03-25') for @MREFS;          # the mentors' 2-day course
for my $c (qw(c1 c2)) { attend($_, $c, 120, $CDATE{$c}) for @enrolled, @MREFS }
for my $c (qw(c3 c4 c5 c6)) { attend($_, $c, 120, $CDATE{$c}) for @active, @MREFS }
for my $c (qw(cb1 cb2)) { attend($_, $c, 240, $CDATE{$c}) for @active, @MREFS }
att('sfp10', 'COACHING', 'c3', '2009-06-15', 'PRESENT', 120, '2009-06-23T10:00:00Z');   # correction
att('sfp06', 'COACHING', 'c7', '2009-09-21', 'PRESENT', 120);    # a 7th (make-up) coaching session
ev('wm-police', '2009-04-21T10:00:00Z', 'attendanceRecorded',
   { participantRef => 'sfp17', programmeId => $PROG, cohortId => $COH, component => 'COACHING',
     sessionId => 'c1', sessionDate => '2009-04-20', status => 'PRESENT', minutes => 120 },
   'attendance-not-enrolled');

# ---------------------------------------------------------------- outcomes
stage('sfp14', 'WITHDRAWN', '2009-06-08T09:00:00Z');
stage($_, 'COMPLETED', '2009-09-30T17:00:00Z') for qw(sfp01 sfp02 sfp03 sfp04 sfp05 sfp06 sfp07 sfp08
                                                        sfm1 sfm2 sfm3);
promo('sfp10', 'SUBSTANTIVE_PROMOTION', '2009-03-02', '2009-04-15T10:00:00Z');   # before enrolment
promo('sfp15', 'SUBSTANTIVE_PROMOTION', '2009-05-04', '2009-05-05T10:00:00Z', 0, 'promotion-not-enrolled');
promo('sfp09', 'TEMPORARY_PROMOTION', '2009-05-11', '2009-05-12T10:00:00Z');
promo('sfp14', 'LATERAL_MOVE', '2009-05-18', '2009-05-19T10:00:00Z');
promo('sfp03', 'ACTING_UP', '2009-06-01', '2009-06-02T10:00:00Z');
promo('sfp13', 'SUBSTANTIVE_PROMOTION', '2009-06-15', '2009-06-16T10:00:00Z');
promo('sfp01', 'SUBSTANTIVE_PROMOTION', '2009-07-20', '2009-07-21T10:00:00Z');
promo('sfp09', 'SUBSTANTIVE_PROMOTION', '2009-09-01', '2009-09-02T10:00:00Z');
promo('sfp11', 'SUBSTANTIVE_PROMOTION', '2009-09-28', '2009-09-29T10:00:00Z');
promo('sfp04', 'ATTACHMENT_MOVE', '2009-09-30', '2009-09-30T12:00:00Z');
promo('sfp07', 'SECONDMENT', '2009-10-05', '2009-10-06T10:00:00Z', 1);    # no programme/cohort ids
promo('sfp05', 'SUBSTANTIVE_PROMOTION', '2010-01-11', '2010-01-12T10:00:00Z');
promo('sfp08', 'ATTACHMENT_MOVE', '2010-09-30', '2010-10-01T10:00:00Z');
promo('sfp02', 'SUBSTANTIVE_PROMOTION', '2010-11-15', '2010-11-16T10:00:00Z');
# Leavers (issue 18, section 6): sfp14 (withdrawn) left during the
# programme, sfp06 (completed) 6 months and a day after its end, sfp17 (never
# enrolled) is not counted; wm-police cannot record a leaver of cps-wm's.
sub leaver {
    my ($ref, $on, $why, $at, $agency, $name) = @_;
    ev($agency // $AGENCY{$ref}, $at, 'leaverRecorded', { participantRef => $ref, leftOn => $on,
                                                          reason => $why }, $name);
}
leaver('sfp14', '2009-06-30', 'LEAVER_TRANSFERRED', '2009-07-01T10:00:00Z');
leaver('sfp17', '2009-08-01', 'LEAVER_RETIRED', '2009-08-03T10:00:00Z');
leaver('sfp06', '2010-03-31', 'LEAVER_RESIGNED', '2010-04-01T10:00:00Z');
leaver('sfp03', '2009-06-30', 'LEAVER_RESIGNED', '2009-07-01T11:00:00Z', 'wm-police', 'leaver-other-agency');

my @sorted = map { $_->[2] } sort { $a->[0] cmp $b->[0] || $a->[1] <=> $b->[1] } @events;
my @partA = grep { $_->{occurredAt} lt '2009-06' } @sorted;
my @partB = grep { $_->{occurredAt} ge '2009-06' } @sorted;
my %REJECT = ($tag{'offer-without-lms'} => 'REJECT_NO_LINE_MANAGER_SUPPORT',
              $tag{'attendance-not-enrolled'} => 'REJECT_NOT_ENROLLED',
              $tag{'promotion-not-enrolled'} => 'REJECT_NOT_ENROLLED',
              $tag{'mentor-is-participant'} => 'REJECT_WRONG_ROLE',
              $tag{'leaver-other-agency'} => 'REJECT_UNKNOWN_PARTICIPANT');

# ---------------------------------------------------------------- push
# The cast's refs (sfp01, ...) are readable names, not pseudonyms: the daemon
# runs with the pseudonym check off, explicitly, and the agent with --raw-refs
# (issue 13; 36-pseudonym-enforced.t tests the check itself).
my $d = start_daemon(args => ['--ref-form', 'any']);
ok($d->{pid}, 'daemon started');
my $dir = $d->{dir};
my $accepted = 0;
my $check_results = sub {
    my ($what, $evs, $rc, $res, $err) = @_;
    my @rej = grep { $REJECT{ $_->{eventId} } } @$evs;
    is($rc, @rej ? 1 : 0, "$what: cohort-agent exit status") or diag $err;
    is(scalar @$res, scalar @$evs, "$what: one result per event");
    my %by = map { $_->{eventId} => $_ } @$res;
    my @bad;
    for my $e (@$evs) {
        my $r = $by{ $e->{eventId} } // {};
        my $want = $REJECT{ $e->{eventId} };
        if ($want) {
            push @bad, "$e->{eventId}: want REJECTED $want, got " . ($r->{result} // '-') . ' '
                       . ($r->{code} // '') unless ($r->{result} // '') eq 'REJECTED' && ($r->{code} // '') eq $want;
        } else {
            push @bad, "$e->{eventId}: " . encode_json($r) unless ($r->{result} // '') eq 'ACCEPTED';
            $accepted++;
        }
    }
    is(scalar @bad, 0, "$what: every event ACCEPTED except the " . scalar(@rej) . ' expected rejections')
        or diag join("\n", @bad[0 .. ($#bad > 10 ? 10 : $#bad)]);
    return \%by;
};
write_jsonl("$dir/a.jsonl", \@partA);
write_jsonl("$dir/b.jsonl", \@partB);
my $resA = $check_results->('part A (to the end of May)', \@partA, agent_send($d, "$dir/a.jsonl", '--raw-refs'));
is($resA->{ $tag{'offer-without-lms'} }{code}, 'REJECT_NO_LINE_MANAGER_SUPPORT',
   'the offer without line-manager support is REJECTED with REJECT_NO_LINE_MANAGER_SUPPORT');
like($resA->{ $tag{'offer-without-lms'} }{reason} // '', qr/line manager/, '... with the documented reason');
is($resA->{ $tag{'attendance-not-enrolled'} }{code}, 'REJECT_NOT_ENROLLED',
   'attendance for someone not enrolled is REJECT_NOT_ENROLLED');
is($resA->{ $tag{'promotion-not-enrolled'} }{code}, 'REJECT_NOT_ENROLLED',
   'a promotion for someone never enrolled is REJECT_NOT_ENROLLED');
is($resA->{ $tag{'mentor-is-participant'} }{code}, 'REJECT_WRONG_ROLE',
   'a participant named as mentor is REJECT_WRONG_ROLE');

my $norm;
$norm = sub {    # JSON booleans as 'true'/'false', so is_deeply compares plainly
    my ($v) = @_;
    return $v ? 'true' : 'false' if JSON::PP::is_bool($v);
    return [map { $norm->($_) } @$v] if ref $v eq 'ARRAY';
    return { map { $_ => $norm->($v->{$_}) } keys %$v } if ref $v eq 'HASH';
    return $v;
};
my $person = sub {
    my ($docs, $ref) = @_;
    my $doc = $docs->{"agency/$AGENCY{$ref}/$PROG/$COH"}{doc} // {};
    my ($p) = grep { $_->{ref} eq $ref } @{ $doc->{people} // [] };
    return $norm->($p // {});
};

# ---------------------------------------------------------------- mid-programme check
# By the end of May the participants' course, c1 and c2 are held:
# expected = 1440 + 2 x 120 = 1680, at risk below 0.75 x 1680 = 1260. Only
# sfp13 (course LATE 960 + 240 = 1200) is behind; sfp05 (1200 + 240 = 1440)
# and sfp10 (1440 + 0 + 0) are not. Mentors: their course, c1, c2 held:
# 960 + 240 = 1200, threshold 900; sfm6 (480 + 240 = 720) is at risk.
{
    my ($docs, $end) = wait_snapshot($d, $accepted);
    ok($end && $end->{seq} == $accepted, "mid-programme snapshot reflects seq $accepted");
    my $c = $norm->($docs->{"cohort/$PROG/$COH"}{doc} // {});
    is_deeply([map { $c->{completion}{participants}{$_} } qw(enrolled at_risk complete)], [14, 1, 0],
              'end of May: 14 participants enrolled, 1 at risk, none complete');
    is_deeply([map { $c->{completion}{mentors}{$_} } qw(enrolled at_risk)], [6, 1],
              'end of May: 6 mentors enrolled, 1 at risk');
    my $p13 = $person->($docs, 'sfp13');
    is_deeply([@$p13{qw(expected_minutes credited_minutes at_risk)}], [1680, 1200, 'true'],
              'sfp13: expected 1680, credited 1200, at risk');
    my $p05 = $person->($docs, 'sfp05');
    is_deeply([@$p05{qw(expected_minutes credited_minutes at_risk)}], [1680, 1440, 'false'],
              'sfp05: expected 1680, credited 1440, not at risk');
    my $m6 = $person->($docs, 'sfm6');
    is_deeply([@$m6{qw(expected_minutes credited_minutes at_risk)}], [1200, 720, 'true'],
              'sfm6: expected 1200, credited 720, at risk');
}

my $resB = $check_results->('part B (June 2009 onwards)', \@partB, agent_send($d, "$dir/b.jsonl", '--raw-refs'));
my ($docs, $end) = wait_snapshot($d, $accepted);
ok($end && $end->{seq} == $accepted, "final snapshot reflects seq $accepted (every accepted event)");
my @agtopics = map { "agency/$_/$PROG/$COH" } @AG;
is_deeply([sort keys %$docs], [sort(@agtopics, "cohort/$PROG/$COH", "programme/$PROG",
                                     "release/cohort/$PROG/$COH", "release/programme/$PROG")],
          'topics: the programme, the cohort, one per listed agency, and their two releases');
my $cohort = $norm->($docs->{"cohort/$PROG/$COH"}{doc} // {});
my $prog = $norm->($docs->{"programme/$PROG"}{doc} // {});

# Ratios as printed (docs/status.md: 4 decimals), in `cohortctl snapshot`'s
# text, not only once parsed (it printed 0.91169999999999995 before issue 16).
{
    my ($rc, $text) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot}, ''], timeout => 30);
    is($rc, 0, 'cohortctl snapshot');
    like($text, qr/"mean_completion":0\.9117[,}]/, 'mean_completion printed as 0.9117');
    my @long = $text =~ /("\w+":-?\d+\.\d{5,})/g;
    is_deeply(\@long, [], 'no number printed with more than 4 decimals');
}

# ---------------------------------------------------------------- programme
is_deeply($prog->{requirements}, {
    participant_minutes => 2640,    # 1440 + 480 + 720 = 5.5 x 480
    mentor_minutes => 2160,         # 960 + 480 + 720 = 4.5 x 480
    participants => [map { { kind => $_->{kind}, count => $_->{count}, minutes_each => $_->{minutesEach},
                             label => $_->{label}, unit => 'UNIT_MINUTES', assessed => 'false' } } @PCOMP],
    mentors => [map { { kind => $_->{kind}, count => $_->{count}, minutes_each => $_->{minutesEach},
                        label => $_->{label}, unit => 'UNIT_MINUTES', assessed => 'false' } } @MCOMP],
}, 'programme requirements: 2640 participant minutes (5.5 days), 2160 mentor minutes (4.5 days)');
is($prog->{requirements}{participant_minutes} / 480, 5.5, '2640 minutes = 5.5 days of 480');
is($prog->{requirements}{mentor_minutes} / 480, 4.5, '2160 minutes = 4.5 days of 480');
is_deeply([@$prog{qw(programme name duration_months)}], [$PROG, 'Step Forward', 6], 'programme id, name, months');
is_deeply($prog->{aims}, [map { { group => $_->{group}, min_percent => $_->{minPercent} } } @AIMS],
          'programme aims in definition order');
is_deeply($prog->{cohorts}, [$COH], 'programme cohorts');

# ---------------------------------------------------------------- cohort basics
is_deeply([@$cohort{qw(programme programme_name cohort places starts_on ends_on)}],
          [$PROG, 'Step Forward', $COH, 16, '2009-04-01', '2009-09-30'], 'cohort header fields');
is_deeply($cohort->{agencies}, \@AG, 'cohort agencies in event order');

# ---------------------------------------------------------------- funnel
# Current stages. Participants (20): COMPLETED sfp01-08 = 8; ENROLLED
# sfp09-13 = 5; WITHDRAWN sfp14, sfp20 = 2; INTERVIEWED sfp15 = 1 (its offer
# was rejected); DECLINED sfp16 = 1; NOT_SELECTED sfp17, sfp18, sfp19 = 3.
# Mentors (6): COMPLETED sfm1-3, ENROLLED sfm4-6.
my @STAGES = qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED COMPLETED
                WITHDRAWN REMOVED_BY_BOARD DECLINED NOT_SELECTED);
sub stages { my %h = map { $_ => 0 } @STAGES; %h = (%h, @_); \%h }
my %funnel = (
    participants => {
        total => 20,
        by_stage => stages(COMPLETED => 8, ENROLLED => 5, WITHDRAWN => 2, INTERVIEWED => 1,
                           DECLINED => 1, NOT_SELECTED => 3),
        by_agency => {
            'wm-police'    => stages(COMPLETED => 2, ENROLLED => 1, INTERVIEWED => 1, NOT_SELECTED => 1),
            'cps-wm'       => stages(COMPLETED => 1, ENROLLED => 1, DECLINED => 1),
            'hmcts-wm'     => stages(COMPLETED => 1, ENROLLED => 1, NOT_SELECTED => 1),
            'probation-wm' => stages(COMPLETED => 2, ENROLLED => 1, NOT_SELECTED => 1),
            'hmps-wm'      => stages(COMPLETED => 1, ENROLLED => 1, WITHDRAWN => 1),
            'yot-wm'       => stages(COMPLETED => 1, WITHDRAWN => 1),
        },
    },
    mentors => {
        total => 6,
        by_stage => stages(COMPLETED => 3, ENROLLED => 3),
        by_agency => {
            'wm-police' => stages(COMPLETED => 1), 'cps-wm' => stages(COMPLETED => 1),
            'hmcts-wm' => stages(COMPLETED => 1), 'probation-wm' => stages(ENROLLED => 1),
            'hmps-wm' => stages(ENROLLED => 1), 'yot-wm' => stages(ENROLLED => 1),
        },
    },
);
is_deeply($cohort->{funnel}, \%funnel, 'cohort funnel by stage and agency');
is_deeply($prog->{funnel}, \%funnel, 'programme funnel (one cohort: the same)');

# Cumulative funnel (issue 18, section 4): each participant counts at every
# stage up to the furthest reached, whatever the stage now. Enrolled at some
# point: sfp01-14 (14); sfp16 OFFERED then DECLINED; sfp15 and sfp19 got to
# INTERVIEWED; sfp20 SHORTLISTED; sfp17 and sfp18 only APPLIED. Mentors are
# not counted. Rates: 18/20, 17/18, 15/17, 15/15, 14/15; overall 14/20.
sub reached { my @n = @_; my @s = @STAGES[0 .. 5]; +{ map { $s[$_] => $n[$_] } 0 .. 5 } }
my %reached = (
    participants => {
        reached => reached(20, 18, 17, 15, 15, 14),
        conversion => { SHORTLISTED => 0.9, INTERVIEWED => 0.9444, LINE_MANAGER_SUPPORTED => 0.8824,
                        OFFERED => 1, ENROLLED => 0.9333 },
        overall_conversion => 0.7,
        by_agency => {
            'wm-police'    => reached(5, 4, 4, 3, 3, 3),    # sfp01,02,09; sfp15 (I); sfp17 (A)
            'cps-wm'       => reached(3, 3, 3, 3, 3, 2),    # sfp03,10; sfp16 (O)
            'hmcts-wm'     => reached(3, 2, 2, 2, 2, 2),    # sfp04,11; sfp18 (A)
            'probation-wm' => reached(4, 4, 4, 3, 3, 3),    # sfp05,06,12; sfp19 (I)
            'hmps-wm'      => reached(3, 3, 2, 2, 2, 2),    # sfp07,13; sfp20 (S)
            'yot-wm'       => reached(2, 2, 2, 2, 2, 2),    # sfp08,14
        },
    },
);
is_deeply($cohort->{funnel_reached}, \%reached, 'cohort funnel by the furthest stage reached');
is_deeply($prog->{funnel_reached}, \%reached, 'programme funnel_reached (one cohort: the same)');

# filled = ENROLLED + COMPLETED: participants 8 + 5 = 13 of 16 places, 3 vacant.
my %filled = (participants => 13, mentors => 6, places => 16, vacant => 3);
is_deeply($cohort->{filled}, \%filled, 'cohort filled: 13 participants, 6 mentors, 16 places, 3 vacant');
is_deeply($prog->{filled}, \%filled, 'programme filled');

# ---------------------------------------------------------------- completion
# Credited minutes (course + call-backs + coaching, each capped):
#   sfp01 sfp02 sfp04 sfp06 sfp08 sfp09: 1440 + 480 + 720 = 2640 (complete;
#     sfp04's 150-minute c1 credits 120, sfp06's 7 coaching sessions cap at 720)
#   sfp03: coaching 5 x 120 + LATE 90 = 690 -> 2610
#   sfp05: course LATE 1200 -> 2400;  sfp07: cb2 EXCUSED -> 2400
#   sfp10: 1440 + cb1 240 + c3 (corrected) 120 + c4 120 = 1920
#   sfp11: 1440 + 240 + 120 + 120 + 60 = 1980;  sfp12: ... + 59 = 1979
#   sfp13: course LATE 960 + 480 + 720 = 2160
#   sum over the 13 enrolled/completed = 6 x 2640 + 2610 + 2400 + 2400 + 1920
#     + 1980 + 1979 + 2160 = 15840 + 15449 = 31289
#   mean = 31289 / (13 x 2640) = 31289 / 34320 = 0.91168... -> 0.9117
# Every session was held, so expected = 2640 for everyone; at risk (ENROLLED
# only) below 0.75 x 2640 = 1980: sfp10 (1920) and sfp12 (1979); sfp11 has
# exactly 1980 and is not; sfp09 (2640) and sfp13 (2160) are not.
# Mentors: sfm1-4 2160; sfm5 960 + 480 + 3 x 120 = 1800; sfm6 LATE 480 +
#   cb1 240 + 3 x 120 = 1080. Mean = (4 x 2160 + 1800 + 1080) / (6 x 2160)
#   = 11520 / 12960 = 0.8889. At risk below 0.75 x 2160 = 1620: sfm6 only
#   (sfm5 1800 is not).
is_deeply($cohort->{completion}, {
    participants => { enrolled => 13, required_minutes => 2640, complete => 6, mean_completion => 0.9117,
                      at_risk => 2 },
    mentors => { enrolled => 6, required_minutes => 2160, complete => 4, mean_completion => 0.8889,
                 at_risk => 1 },
}, 'cohort completion: participants 6 complete, mean 0.9117, 2 at risk; mentors 4, 0.8889, 1');

# mentoring: 12 distinct pairs (sfp10-sfm5 sent twice counts once), 11
# participants with a mentor (sfp01-10, sfp13).
is_deeply($cohort->{mentoring}, { assignments => 12, mentored => 11 }, 'mentoring: 12 pairs, 11 mentored');

# ---------------------------------------------------------------- representation
# The live documents carry no breakdown by a protected characteristic.
for my $t ("cohort/$PROG/$COH", "programme/$PROG") {
    unlike(encode_json($docs->{$t}{doc} // {}), qr/representation|progressed|"ethnic|"gender|"disab/,
           "$t: no breakdown in the live document");
}
# Breakdowns are in the releases, cut on the log clock. The last event is
# dated 2010-11-15; one more registration (nobody enrolled, so it changes
# no figure), dated 2011-06-01, moves the log clock past the next release
# dates, so the release then holds the final state.
write_jsonl("$dir/tick.jsonl", [{ eventId => '01a10000-0000-7000-8000-999999999999', agency => 'wm-police',
    occurredAt => '2011-06-01T09:00:00Z', participantRegistered => { participantRef => 'sfx99',
    role => 'PARTICIPANT', ethnicity => 'W1', gender => 'MALE', disability => 'NOT_DISABLED' } }]);
{
    my ($rc, $res, $err) = agent_send($d, "$dir/tick.jsonl", '--raw-refs');
    is($rc, 0, 'a registration dated 2011-06-01 is accepted') or diag $err;
    $accepted++;
}
my ($rdocs, $rend) = wait_snapshot($d, $accepted);
ok($rend && $rend->{seq} == $accepted, "the snapshot after it reflects seq $accepted");
my $rc_doc = $norm->($rdocs->{"release/cohort/$PROG/$COH"}{doc} // {});
my $rp_doc = $norm->($rdocs->{"release/programme/$PROG"}{doc} // {});
like($rc_doc->{release}{released_on} // '', qr/^2011-0[1-6]-\d\d$/,
     "the cohort's release is dated in 2011 ($rc_doc->{release}{released_on}, $rc_doc->{release}{reason}, number $rc_doc->{release}{number})");
ok(($rc_doc->{release}{data_seq} // 0) == $accepted - 1, '  and holds every event before the tick');
is($rp_doc->{release}{number}, $rc_doc->{release}{number}, 'the programme is released with it');

# The truth, by hand, over the enrolled participants (ENROLLED or
# COMPLETED): sfp01-13, total 13.
#   codes: B1 5 (01 02 04 09 11), B2 1 (07), A1 3 (03 08 10), A2 2 (05 13),
#   M1 2 (06 12); groups: BLACK 6, ASIAN 5, MIXED 2, WHITE/C_O/NS 0; bme 13
#   gender: FEMALE 8, MALE 4, GENDER_NOT_STATED 1; disability: DISABLED 1,
#   NOT_DISABLED 11, DISABILITY_NOT_STATED 1; LGB 0.
# Which cells a release hides depends on every earlier release (the gate,
# docs/status.md "Releases"), so this checks what must hold of any
# release: every published cell is the true count, none is 1..4, the
# hidden ones are listed, and the auditor finds nothing in them.
my %TRUE = (bme => 13,
    ethnic_group => { WHITE => 0, MIXED => 2, ASIAN => 5, BLACK => 6, CHINESE_OR_OTHER => 0, NOT_STATED => 0 },
    ethnicity => { W1 => 0, W2 => 0, W9 => 0, M1 => 2, M2 => 0, M3 => 0, M9 => 0, A1 => 3, A2 => 2, A3 => 0,
                   A9 => 0, B1 => 5, B2 => 1, B9 => 0, O1 => 0, O9 => 0, NS => 0 },
    gender => { FEMALE => 8, MALE => 4, GENDER_OTHER => 0, GENDER_NOT_STATED => 1 },
    disability => { DISABLED => 1, NOT_DISABLED => 11, DISABILITY_NOT_STATED => 1 });
for my $x (["release/cohort/$PROG/$COH", $rc_doc], ["release/programme/$PROG", $rp_doc]) {
    my ($t, $doc) = @$x;
    my $r = $doc->{representation} // {};
    is($r->{total}, 13, "$t: total 13") or diag encode_json($r);
    is($r->{threshold}, 5, "$t: k = 5");
    my (@wrong, @small, @unlisted, $shown);
    my %listed = map { $_ => 1 } @{ $r->{suppressed} // [] };
    for my $b (qw(ethnic_group ethnicity gender disability)) {
        for my $c (sort keys %{ $TRUE{$b} }) {
            my $v = $r->{$b}{$c};
            if (!defined $v) { push @unlisted, "$b.$c" unless $listed{"$b.$c"}; next }
            $shown++;
            push @wrong, "$b.$c=$v (true $TRUE{$b}{$c})" if $v != $TRUE{$b}{$c};
            push @small, "$b.$c=$v" if $v >= 1 && $v <= 4;
        }
    }
    if (defined $r->{bme}) { push @wrong, "bme=$r->{bme}" if $r->{bme} != 13; $shown++ }
    is("@wrong", '', "$t: every published cell is the true count ($shown shown)");
    is("@small", '', "$t: none of them is 1..4");
    is("@unlisted", '', "$t: every hidden cell is listed in suppressed");
    is($r->{suppressed_may_be_zero}, 'true', "$t: hidden cells may be zero, and it says so");
    my %aims = map { $_->{group} => $_ } @{ $r->{aims} // [] };
    ok(!defined $aims{AIM_BME}{actual_percent} || $aims{AIM_BME}{actual_percent} == 100,
       "$t: AIM_BME 13/13 = 100% or withheld");
    ok(!defined $aims{AIM_FEMALE}{actual_percent} || $aims{AIM_FEMALE}{actual_percent} == 62,
       "$t: AIM_FEMALE 8/13 = 61.5 -> 62% or withheld");
    is_deeply([map { $aims{$_}{withheld} // 'shown' } qw(AIM_DISABLED AIM_LGB)], ['true', 'true'],
              "$t: AIM_DISABLED (1) and AIM_LGB (0) withheld: counts below k");
}
{
    my $f = "$dir/release-snapshot.jsonl";
    write_jsonl($f, [map { { topic => $_, seq => $rdocs->{$_}{seq} // $accepted, doc => $rdocs->{$_}{doc} } }
                     grep { m{^release/} } sort keys %$rdocs]);
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'audit-disclosure', $f]);
    is($rc, 0, 'cohortctl audit-disclosure finds nothing in the two releases together') or diag "$out$err";
}

# ---------------------------------------------------------------- progression
# during = 2009-04-01..2009-09-30, after = 2009-10-01..2010-09-30:
#   during: SUBSTANTIVE sfp13 06-15, sfp01 07-20, sfp09 09-01, sfp11 09-28 = 4;
#     TEMPORARY sfp09 05-11; ACTING_UP sfp03 06-01; LATERAL sfp14 05-18 (since
#     withdrawn, still counted); ATTACHMENT sfp04 09-30 (the end date)
#   after: SECONDMENT sfp07 2009-10-05 (no ids: attributed to its one cohort);
#     SUBSTANTIVE sfp05 2010-01-11; ATTACHMENT sfp08 2010-09-30 (window end)
#   neither: sfp10 2009-03-02 (before the start), sfp02 2010-11-15 (after the window)
# Days from enrolled_on 2009-04-01 to the first substantive promotion on or
#   after it: sfp13 75, sfp01 110, sfp09 153, sfp11 180, sfp05 285, sfp02 593
#   (the window does not apply); sfp10's is before enrolment. Six: median =
#   (153 + 180) / 2 = 166.5 -> 166 (rounded down).
# progressed (a promotion in during or after): sfp01 03 04 05 07 08 09 11 13 14
#   = 10; BLACK 01 04 07 09 11 14 = 6, ASIAN 03 05 08 13 = 4. ASIAN 4 is
#   hidden (primary), so BLACK 6, the row's only other non-zero cell, is too.
sub kinds { my %h = map { $_ => 0 } qw(SUBSTANTIVE_PROMOTION TEMPORARY_PROMOTION ACTING_UP LATERAL_MOVE
                                        SECONDMENT ATTACHMENT_MOVE); %h = (%h, @_); \%h }
my $during = kinds(SUBSTANTIVE_PROMOTION => 4, TEMPORARY_PROMOTION => 1, ACTING_UP => 1,
                   LATERAL_MOVE => 1, ATTACHMENT_MOVE => 1);
my $after = kinds(SECONDMENT => 1, SUBSTANTIVE_PROMOTION => 1, ATTACHMENT_MOVE => 1);
# After completion (the 8 who COMPLETED; horizons from ends_on 2009-09-30:
#   6 months 2010-03-30, 12 2010-09-30, 24 2011-09-30): substantive during
#   sfp01; after: sfp05 2010-01-11 (103 days), sfp02 2010-11-15 (411 days);
#   median (103 + 411) / 2 = 257.
my %after_c = (completed => 8, promoted_during => 1, promotion_rate_during => 0.125,
               promoted_within_6_months => 1, promoted_within_12_months => 1,
               promoted_within_24_months => 2, promotion_rate_6_months => 0.125,
               promotion_rate_12_months => 0.125, promotion_rate_24_months => 0.25);
is_deeply($cohort->{progression}, {
    during => $during, after => $after, after_window_ends_on => '2010-09-30',
    median_days_to_substantive_promotion => 166, promoted_substantively => 6,
    after_completion => { %after_c, median_days_after_end_to_substantive_promotion => 257 },
}, 'cohort progression: during/after, median 166 days over 6; after completion');
# Retention of the 14 who enrolled (sfp01-14): sfp14 left during (06-30),
# sfp06 on 2010-03-31, after the 6-month horizon (2010-03-30), within 12.
my %retention = (enrolled => 14, left_before_start => 0, left_during => 1, retained_at_end => 13,
                 retention_at_end => 0.9286, left_within_6_months_after => 0,
                 left_within_12_months_after => 1, left_within_24_months_after => 1,
                 retention_6_months_after => 0.9286, retention_12_months_after => 0.8571,
                 retention_24_months_after => 0.8571);
is_deeply($cohort->{retention}, \%retention, 'cohort retention during and after');
is_deeply($prog->{retention}, \%retention, 'programme retention (one cohort: the same)');
# progressed, in the release: total 10, BLACK 6, ASIAN 4 (true counts).
{
    my $pr = $rc_doc->{progression}{progressed} // {};
    my %truth = (WHITE => 0, MIXED => 0, ASIAN => 4, BLACK => 6, CHINESE_OR_OTHER => 0, NOT_STATED => 0);
    my @bad = grep { defined $pr->{ethnic_group}{$_} && ($pr->{ethnic_group}{$_} != $truth{$_}
                     || ($pr->{ethnic_group}{$_} >= 1 && $pr->{ethnic_group}{$_} <= 4)) } sort keys %truth;
    ok(!defined $pr->{total} || $pr->{total} == 10, 'released progressed total: 10, or hidden');
    is("@bad", '', 'released progressed by group: only true counts of 5 or more, or 0');
    ok(exists $pr->{ethnic_group}{ASIAN} && !defined $pr->{ethnic_group}{ASIAN}, '  ASIAN 4 hidden');
}
is_deeply($prog->{progression}, { during => $during, after => $after, after_completion => \%after_c },
          'programme progression');

my $board = join "", map { encode_json($rdocs->{$_}{doc} // {}) } "cohort/$PROG/$COH", "programme/$PROG",
    "release/cohort/$PROG/$COH", "release/programme/$PROG";
unlike($board, qr/sf[pm]\d/, 'no refs in the cohort or programme documents');

# ---------------------------------------------------------------- agency topics
# ref => [stage, credited, [TC, CB, CO credited], [TC, CB, CO sessions], at_risk, completion, mentors, mentees]
my %PX = (
    sfp01 => ['COMPLETED', 2640, [1440, 480, 720], [1, 2, 6], 0, 1, 1, 0],
    sfp02 => ['COMPLETED', 2640, [1440, 480, 720], [1, 2, 6], 0, 1, 1, 0],
    sfp03 => ['COMPLETED', 2610, [1440, 480, 690], [1, 2, 6], 0, 0.9886, 1, 0],
    sfp04 => ['COMPLETED', 2640, [1440, 480, 720], [1, 2, 6], 0, 1, 1, 0],
    sfp05 => ['COMPLETED', 2400, [1200, 480, 720], [1, 2, 6], 0, 0.9091, 1, 0],
    sfp06 => ['COMPLETED', 2640, [1440, 480, 720], [1, 2, 7], 0, 1, 1, 0],
    sfp07 => ['COMPLETED', 2400, [1440, 240, 720], [1, 1, 6], 0, 0.9091, 1, 0],
    sfp08 => ['COMPLETED', 2640, [1440, 480, 720], [1, 2, 6], 0, 1, 1, 0],
    sfp09 => ['ENROLLED', 2640, [1440, 480, 720], [1, 2, 6], 0, 1, 1, 0],
    sfp10 => ['ENROLLED', 1920, [1440, 240, 240], [1, 1, 2], 1, 0.7273, 2, 0],
    sfp11 => ['ENROLLED', 1980, [1440, 240, 300], [1, 1, 3], 0, 0.75, 0, 0],
    sfp12 => ['ENROLLED', 1979, [1440, 240, 299], [1, 1, 3], 1, 0.7496, 0, 0],
    sfp13 => ['ENROLLED', 2160, [960, 480, 720], [1, 2, 6], 0, 0.8182, 1, 0],
    sfp14 => ['WITHDRAWN', 1680, [1440, 0, 240], [1, 0, 2], 0, 0.6364, 0, 0],
    sfp15 => ['INTERVIEWED', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    sfp16 => ['DECLINED', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    sfp17 => ['NOT_SELECTED', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    sfp18 => ['NOT_SELECTED', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    sfp19 => ['NOT_SELECTED', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    sfp20 => ['WITHDRAWN', 0, [0, 0, 0], [0, 0, 0], 0, 0, 0, 0],
    # mentors: course 960, call-backs 480, coaching 720; mentees from @PAIRS
    sfm1 => ['COMPLETED', 2160, [960, 480, 720], [1, 2, 6], 0, 1, 0, 2],     # sfp03 sfp07
    sfm2 => ['COMPLETED', 2160, [960, 480, 720], [1, 2, 6], 0, 1, 0, 2],     # sfp01 sfp08
    sfm3 => ['COMPLETED', 2160, [960, 480, 720], [1, 2, 6], 0, 1, 0, 2],     # sfp02 sfp13
    sfm4 => ['ENROLLED', 2160, [960, 480, 720], [1, 2, 6], 0, 1, 0, 2],      # sfp04 sfp09
    sfm5 => ['ENROLLED', 1800, [960, 480, 360], [1, 2, 3], 0, 0.8333, 0, 2], # sfp05 sfp10
    sfm6 => ['ENROLLED', 1080, [480, 240, 360], [1, 1, 3], 1, 0.5, 0, 2],    # sfp06 sfp10
);
my %LEFT = (sfp14 => ['2009-06-30', 'LEAVER_TRANSFERRED'], sfp17 => ['2009-08-01', 'LEAVER_RETIRED'],
            sfp06 => ['2010-03-31', 'LEAVER_RESIGNED']);
my %PROMOS = (    # ref => [[kind, effective_on], ...] by date
    sfp01 => [['SUBSTANTIVE_PROMOTION', '2009-07-20']], sfp02 => [['SUBSTANTIVE_PROMOTION', '2010-11-15']],
    sfp03 => [['ACTING_UP', '2009-06-01']], sfp04 => [['ATTACHMENT_MOVE', '2009-09-30']],
    sfp05 => [['SUBSTANTIVE_PROMOTION', '2010-01-11']], sfp07 => [['SECONDMENT', '2009-10-05']],
    sfp08 => [['ATTACHMENT_MOVE', '2010-09-30']],
    sfp09 => [['TEMPORARY_PROMOTION', '2009-05-11'], ['SUBSTANTIVE_PROMOTION', '2009-09-01']],
    sfp10 => [['SUBSTANTIVE_PROMOTION', '2009-03-02']], sfp11 => [['SUBSTANTIVE_PROMOTION', '2009-09-28']],
    sfp13 => [['SUBSTANTIVE_PROMOTION', '2009-06-15']], sfp14 => [['LATERAL_MOVE', '2009-05-18']],
);
my @K = qw(TRAINING_COURSE CALL_BACK COACHING);
for my $ag (@AG) {
    my $t = "agency/$ag/$PROG/$COH";
    my $doc = $norm->($docs->{$t}{doc} // {});
    my @mine = sort grep { $AGENCY{$_} eq $ag } keys %PX;
    is_deeply([@$doc{qw(agency programme cohort)}], [$ag, $PROG, $COH], "$t: ids");
    is_deeply([map { $_->{ref} } @{ $doc->{people} // [] }], \@mine,
              "$t: exactly the agency's own people, sorted by ref (@mine)");
    unlike(encode_json($docs->{$t}{doc} // {}), qr/suppressed|"ethnic|"gender|"disab|"threshold/,
           "$t: nothing suppressed, no protected characteristics");
    for my $r (@mine) {
        my $x = $PX{$r};
        my $role = $r =~ /^sfm/ ? 'MENTOR' : 'PARTICIPANT';
        my ($req, $each) = $role eq 'MENTOR' ? (2160, [960, 480, 720]) : (2640, [1440, 480, 720]);
        my %want = (
            ref => $r, role => $role, stage => $x->[0],
            enrolled_on => ($x->[0] =~ /ENROLLED|COMPLETED|WITHDRAWN/ && !($r eq 'sfp20')
                            ? ($role eq 'MENTOR' ? '2009-03-20' : '2009-04-01') : undef),
            credited_minutes => $x->[1], required_minutes => $req,
            expected_minutes => $req,    # every session of each group has been held
            completion => $x->[5],
            components => { map { $K[$_] => { credited => $x->[2][$_], required => $each->[$_],
                                              sessions => $x->[3][$_], unit => 'UNIT_MINUTES',
                                              met => $x->[2][$_] == $each->[$_] ? 'true' : 'false' } } 0 .. 2 },
            # issue 18: no assessed component in Step Forward: met = all minutes credited
            requirements_met => $x->[1] == $req ? 'true' : 'false', assessments => [], award => undef,
            at_risk => $x->[4] ? 'true' : 'false',
            mentors => $x->[6], mentees => $x->[7],
            promotions => [map { { kind => $_->[0], effective_on => $_->[1], from => 'grade a',
                                   to => "grade b ($_->[0])" } } @{ $PROMOS{$r} // [] }],
            left_on => $LEFT{$r} ? $LEFT{$r}[0] : undef,
            left_reason => $LEFT{$r} ? $LEFT{$r}[1] : undef,
            plan => undef,    # issue 18 section 3: no plan in this scenario
        );
        is_deeply($person->($docs, $r), \%want, "$t: $r ($x->[0], $x->[1] minutes"
                  . ($x->[4] ? ', at risk' : '') . ')');
    }
}

is(stop_daemon($d), 0, 'daemon exits 0 on SIGTERM');
done_testing();
