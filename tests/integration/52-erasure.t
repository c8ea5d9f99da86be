#!/usr/bin/perl
# Erasure (issue 5): "erasure removes the person from every view and from
# every rebuild". A cohort of people from three agencies, among them X (a
# wm-police participant with distinctive characteristics, sent by staff
# number through the agency's pseudonym key) with attendance (one session
# nobody else attended), a promotion and a mentor, is pushed through the
# real daemon A; a second daemon B gets the same events without X's. After
# cohort-agent sends X's erasure (by staff number) to A:
#   - no status document of A holds X's ref, and every live document equals
#     B's (so every count is as if X had never existed); the breakdowns
#     are re-released at the erasure without X (release/ topics keep the
#     dated versions published before it, which never hold a ref, and the
#     documents' monthly history keeps its rows as taken, issue 19);
#   - the same after a clean restart (checkpoint path), after kill -9 and
#     a restart with events after the erasure (checkpoint + log tail),
#     in `cohortctl rebuild` (full replay) and `cohortctl verify`;
#   - `cohortctl tail` shows every registration sealed, no characteristic
#     in clear, and never opens them; verify counts X's registration as
#     erased and one key fewer; the daemon purged the destroyed key;
#   - later events about X are refused as for an unknown participant.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;

my ($PROG, $COH) = ('sf', '2009-1');
my @AG = qw(wm-police cps-wm hmcts-wm);
my $XSTAFF = 'WMP-004711';
my %P = (    # ref => [agency, role, ethnicity, gender, disability]
    p01 => ['wm-police', 'PARTICIPANT', 'B1', 'FEMALE', 'NOT_DISABLED'],
    p02 => ['wm-police', 'PARTICIPANT', 'B1', 'MALE', 'NOT_DISABLED'],
    p03 => ['wm-police', 'PARTICIPANT', 'A1', 'FEMALE', 'NOT_DISABLED'],
    p04 => ['cps-wm', 'PARTICIPANT', 'A1', 'FEMALE', 'NOT_DISABLED'],
    p05 => ['cps-wm', 'PARTICIPANT', 'B2', 'MALE', 'NOT_DISABLED'],
    p06 => ['hmcts-wm', 'PARTICIPANT', 'B1', 'FEMALE', 'NOT_DISABLED'],
    p07 => ['hmcts-wm', 'PARTICIPANT', 'A2', 'MALE', 'NOT_DISABLED'],
    m01 => ['cps-wm', 'MENTOR', 'W1', 'FEMALE', 'NOT_DISABLED'],
);

my (@all, $nid);
sub ev {
    my ($agency, $at, $kind, $body, $is_x) = @_;
    push @all, [{ eventId => sprintf('01a52000-0000-7000-8000-%012d', ++$nid), agency => $agency,
                  occurredAt => $at, $kind => $body }, $is_x ? 1 : 0];
}
# who => participantRef, or staffNumber for X
sub who { my ($r) = @_; $r eq 'X' ? (staffNumber => $XSTAFF) : (participantRef => $r) }
sub agency_of { my ($r) = @_; $r eq 'X' ? 'wm-police' : $P{$r}[0] }

ev('wmcjb', '2009-01-12T10:00:00Z', 'programmeDefined',
   { programmeId => $PROG, name => 'Step Forward', durationMonths => 6,
     participantComponents => [{ kind => 'TRAINING_COURSE', count => 1, minutesEach => 1440 },
                               { kind => 'COACHING', count => 6, minutesEach => 120 }],
     mentorComponents => [{ kind => 'TRAINING_COURSE', count => 1, minutesEach => 960 }],
     aims => [{ group => 'AIM_BME', minPercent => 60 }, { group => 'AIM_LGB', minPercent => 5 }] });
ev('wmcjb', '2009-01-19T10:00:00Z', 'cohortOpened',
   { programmeId => $PROG, cohortId => $COH, places => 12, startsOn => '2009-04-01',
     endsOn => '2009-09-30', agencies => \@AG });
for my $r (sort keys %P) {
    my $p = $P{$r};
    ev($p->[0], '2009-01-26T10:00:00Z', 'participantRegistered',
       { participantRef => $r, role => $p->[1], ethnicity => $p->[2], gender => $p->[3],
         disability => $p->[4], grade => 'some grade' });
}
ev('wm-police', '2009-01-26T11:00:00Z', 'participantRegistered',
   { who('X'), role => 'PARTICIPANT', ethnicity => 'O1', gender => 'GENDER_OTHER',
     disability => 'DISABLED', sexualOrientation => 'LGB', religion => 'BUDDHIST', ageBand => 'AGE_55_PLUS',
     grade => 'inspector', officer => JSON::PP::true }, 1);
my @parts = ((grep { $P{$_}[1] eq 'PARTICIPANT' } sort keys %P), 'X');
for my $r (@parts) {
    my $i = 0;
    for my $st (qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)) {
        ev(agency_of($r), sprintf('2009-03-%02dT09:00:00Z', 2 + $i++), 'enrolmentChanged',
           { who($r), programmeId => $PROG, cohortId => $COH, stage => $st }, $r eq 'X');
    }
}
ev('cps-wm', '2009-03-20T09:00:00Z', 'enrolmentChanged',
   { participantRef => 'm01', programmeId => $PROG, cohortId => $COH, stage => 'ENROLLED' });
for my $r (@parts) {
    ev(agency_of($r), '2009-04-03T17:00:00Z', 'attendanceRecorded',
       { who($r), programmeId => $PROG, cohortId => $COH, component => 'TRAINING_COURSE',
         sessionId => 'course-1', sessionDate => '2009-04-03', status => ($r eq 'p02' ? 'ABSENT' : 'PRESENT'),
         minutes => ($r eq 'p02' ? 0 : 1440) }, $r eq 'X');
}
for my $r (qw(p01 p03 p04)) {
    ev(agency_of($r), '2009-05-04T17:00:00Z', 'attendanceRecorded',
       { who($r), programmeId => $PROG, cohortId => $COH, component => 'COACHING',
         sessionId => 'coaching-1', sessionDate => '2009-05-04', status => 'PRESENT', minutes => 120 });
}
ev('wm-police', '2009-05-11T17:00:00Z', 'attendanceRecorded',    # held for X alone
   { who('X'), programmeId => $PROG, cohortId => $COH, component => 'COACHING',
     sessionId => 'coaching-x', sessionDate => '2009-05-11', status => 'PRESENT', minutes => 120 }, 1);
ev('wm-police', '2009-06-01T09:00:00Z', 'promotionRecorded',
   { who('X'), kind => 'SUBSTANTIVE_PROMOTION', fromGrade => 'inspector', toGrade => 'chief inspector',
     effectiveOn => '2009-06-01', programmeId => $PROG, cohortId => $COH }, 1);
ev('hmcts-wm', '2009-06-02T09:00:00Z', 'promotionRecorded',
   { participantRef => 'p06', kind => 'ACTING_UP', fromGrade => 'a', toGrade => 'b',
     effectiveOn => '2009-06-02', programmeId => $PROG, cohortId => $COH });
ev('wm-police', '2009-04-06T09:00:00Z', 'mentorAssigned',
   { mentorRef => 'm01', mentorAgency => 'cps-wm', who('X'), programmeId => $PROG, cohortId => $COH }, 1);
ev('wm-police', '2009-04-06T09:00:00Z', 'mentorAssigned',
   { mentorRef => 'm01', mentorAgency => 'cps-wm', participantRef => 'p01', programmeId => $PROG, cohortId => $COH });

my $dir = tmpdir();
my $key = "$dir/wm-police.pseudonym";
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'keygen-pseudonym', $key]);
is($rc, 0, 'pseudonym key made') or diag $err;
# p01, m01, ... are readable names, not pseudonyms (X's ref is a real one):
# the daemons run with the pseudonym check off, explicitly, and the agent
# with --raw-refs (issue 13; 36-pseudonym-enforced.t tests the check).
my @RF = ('--ref-form', 'any');
my @PK = ('--pseudonym-key', $key, '--raw-refs');
my $fa = "$dir/with-x.jsonl";
my $fb = "$dir/without-x.jsonl";
write_jsonl($fa, [map { $_->[0] } @all]);
write_jsonl($fb, [map { $_->[0] } grep { !$_->[1] } @all]);
my $NA = scalar @all;
my $NB = scalar grep { !$_->[1] } @all;

sub docs { my ($t) = @_; return { map { $_ => $t->{$_}{doc} } keys %{ $t // {} } } }
sub send_ok {
    my ($d, $file, $n, $name) = @_;
    my ($rc, $res, $err) = agent_send($d, $file, @PK);
    my $acc = grep { $_->{result} eq 'ACCEPTED' } @$res;
    is($rc, 0, "$name: sent") or diag $err;
    is($acc, $n, "$name: $n events accepted") or diag explain [grep { $_->{result} ne 'ACCEPTED' } @$res];
    return $res;
}
my $json = JSON::PP->new->canonical;
# every live topic and document of $a equals $b's (rev and seq aside);
# release/ topics are dated publications, compared by the caller, and so
# are the documents' monthly "history" rows: counts as they stood at the
# end of each past month, kept as taken (docs/status.md, "history"), with no
# ref in them (no_ref checks every document)
sub same_docs {
    my ($a, $b, $name) = @_;
    my ($da, $db) = (docs($a), docs($b));
    delete @$da{ grep { m{^release/} } keys %$da };
    delete @$db{ grep { m{^release/} } keys %$db };
    for my $h ($da, $db) {
        for my $t (keys %$h) {
            next unless ref $h->{$t} eq 'HASH';
            $h->{$t} = { %{ $h->{$t} } };    # a copy: the caller's documents stay whole
            delete $h->{$t}{history};
        }
    }
    is_deeply([sort keys %$da], [sort keys %$db], "$name: the same topics");
    my @diff = grep { !exists $db->{$_} || $json->encode($da->{$_}) ne $json->encode($db->{$_}) } sort keys %$da;
    is_deeply(\@diff, [], "$name: every document the same") or diag explain
        [map { { topic => $_, a => $da->{$_}, b => $db->{$_} } } @diff[0 .. ($#diff < 2 ? $#diff : 2)]];
}
sub no_ref {
    my ($t, $ref, $name) = @_;
    my @hits = grep { $json->encode($t->{$_}{doc}) =~ /\Q$ref\E/ } sort keys %$t;
    is_deeply(\@hits, [], "$name: no document holds X's ref");
}

# Daemon B: the world where X never existed.
my $b = start_daemon(args => \@RF);
send_ok($b, $fb, $NB, 'B (without X)');
my ($tb) = wait_snapshot($b, $NB);
ok($tb && keys %$tb >= 5, 'B: ' . scalar(keys %{ $tb // {} }) . ' topics');

# Daemon A: with X.
my $adir = tmpdir();
my $a = start_daemon(dir => $adir, args => \@RF);
send_ok($a, $fa, $NA, 'A (with X)');
my ($ta) = wait_snapshot($a, $NA);
my $police = $ta->{"agency/wm-police/$PROG/$COH"}{doc};
my ($xref) = grep { !/^p0/ } map { $_->{ref} } @{ $police->{people} };
like($xref // '', qr/^p1:[a-z2-7]{32}$/, 'X is on the police topic under the ref made from the staff number');
my $cohort = $ta->{"cohort/$PROG/$COH"}{doc};
is($cohort->{filled}{participants}, 8, 'before: 8 enrolled participants, X among them');
is($cohort->{mentoring}{assignments}, 2, 'before: 2 mentor assignments');
isnt($json->encode($cohort), $json->encode($tb->{"cohort/$PROG/$COH"}{doc}), 'before: A and B differ');

# cohort-agent tail: registrations stored sealed, never opened.
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $a->{data}]);
is($rc, 0, 'cohortctl tail --json');
my @regs = grep { $_->{event}{participantRegistered} } @{ read_jsonl($out) };
is(scalar @regs, 9, 'nine registrations in the log');
is(scalar(grep { $_->{event}{participantRegistered}{sealed} } @regs), 9, 'every one sealed');
is(scalar(grep { my $r = $_->{event}{participantRegistered};
                 grep { exists $r->{$_} } qw(ethnicity gender disability ageBand sexualOrientation religion) } @regs),
   0, 'none shows a characteristic in clear');
unlike($out, qr/GENDER_OTHER|BUDDHIST|AGE_55_PLUS|"O1"/, "X's characteristics appear nowhere in tail's output");
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'tail', '--data-dir', $a->{data}]);
is(scalar(() = $out =~ /participant_registered \(characteristics sealed\)$/mg), 9,
   'plain tail marks the nine registrations as sealed');
($rc, $out) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $a->{data}], timeout => 120);
like($out, qr/^sealed 9 readable 9 erased 0 erasures 0 keys 9$/m, 'verify before: 9 sealed, all readable, 9 keys')
    or diag $out;

# The erasure, by staff number, through cohort-agent.
my $fe = "$dir/erase.jsonl";
write_jsonl($fe, [{ agency => 'wm-police', occurredAt => '2009-08-01T09:00:00Z',
                    participantErased => { staffNumber => $XSTAFF } }]);
send_ok($a, $fe, 1, 'erasure of X');
my ($t1, $e1) = wait_snapshot($a, $NA + 1);
is($e1->{seq}, $NA + 1, 'status reflects the erasure');
no_ref($t1, $xref, 'live');
same_docs($t1, $tb, 'live after erasure == never existed');
is($t1->{"cohort/$PROG/$COH"}{doc}{filled}{participants}, 7, 'after: 7 enrolled participants');
{
    my $rel = $t1->{"release/cohort/$PROG/$COH"}{doc} // {};
    is($rel->{release}{reason}, 'erasure', 'the breakdowns were released again at the erasure');
    is($rel->{representation}{total}, 7, '  counting 7: X is not in the current release');
}

# Later events about X: unknown participant.
my $fl = "$dir/later.jsonl";
write_jsonl($fl, [{ agency => 'wm-police', occurredAt => '2009-08-02T09:00:00Z',
                    attendanceRecorded => { participantRef => $xref, programmeId => $PROG, cohortId => $COH,
                                            component => 'COACHING', sessionId => 'coaching-2',
                                            sessionDate => '2009-08-02', status => 'PRESENT', minutes => 120 } },
                  { agency => 'wm-police', occurredAt => '2009-08-02T09:00:00Z',
                    participantErased => { participantRef => $xref } }]);
my ($rcl, $resl) = agent_send($a, $fl);
is_deeply([map { $_->{code} // '' } @$resl], [('REJECT_UNKNOWN_PARTICIPANT') x 2],
          'attendance and a second erasure for X: REJECT_UNKNOWN_PARTICIPANT') or diag explain $resl;

# The destroyed key is purged from the store's live files (bounded time).
my $until = time + 20;
sleep 0.1 while time < $until && CohortTest::log_of($a) !~ /erasure: destroyed keys purged/;
like(CohortTest::log_of($a), qr/erasure: destroyed keys purged/, 'the daemon purged the destroyed key');
unlike(CohortTest::log_of($a), qr/\Q$xref\E/, "the daemon's log never names X's ref");

my @rb = (bin('cohortctl'), 'rebuild', '--data-dir', $a->{data}, '--snapshot', $a->{snapshot});
($rc, $out, $err) = run_cmd(\@rb, timeout => 120);
is($rc, 0, 'cohortctl rebuild (full replay) equals the live documents') or diag "$out$err";
($rc, $out) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $a->{data}], timeout => 120);
is($rc, 0, 'verify OK after the erasure') or diag $out;
like($out, qr/^sealed 9 readable 8 erased 1 erasures 1 keys 8$/m,
     "verify: X's registration no longer opens, one erasure, X's key gone") or diag $out;
like($out, qr/projections same/, 'verify: checkpoint + tail == full replay');

# Clean restart: the checkpoint path.
is(stop_daemon($a), 0, 'A: clean stop');
$a = start_daemon(dir => $adir, args => \@RF);
my ($t2) = wait_snapshot($a, $NA + 1);
no_ref($t2, $xref, 'after a clean restart');
same_docs($t2, $tb, 'after a clean restart == never existed');

# Events after the erasure, then kill -9: checkpoint + log tail.
my $fm = "$dir/more.jsonl";
my @more = ({ eventId => '01a52000-0000-7000-8000-900000000001', agency => 'cps-wm',
              occurredAt => '2009-08-03T17:00:00Z',
              attendanceRecorded => { participantRef => 'p04', programmeId => $PROG, cohortId => $COH,
                                      component => 'COACHING', sessionId => 'coaching-3',
                                      sessionDate => '2009-08-03', status => 'PRESENT', minutes => 120 } });
write_jsonl($fm, \@more);
send_ok($a, $fm, 1, 'A: one more event');
send_ok($b, $fm, 1, 'B: the same event');
my ($t3) = wait_snapshot($a, $NA + 2);
my ($tb3) = wait_snapshot($b, $NB + 1);
same_docs($t3, $tb3, 'after one more event == never existed');
kill9_daemon($a);
$a = start_daemon(dir => $adir, args => \@RF);
like(CohortTest::log_of($a), qr/projections at seq @{[$NA + 2]}:/, 'restarted after kill -9 at the same seq');
my ($t4) = wait_snapshot($a, $NA + 2);
no_ref($t4, $xref, 'after kill -9');
same_docs($t4, $tb3, 'after kill -9 == never existed');
($rc, $out, $err) = run_cmd(\@rb, timeout => 120);
# A full replay cannot read X's sealed registration any more, so the
# releases cut before the erasure come out with X's characteristics "not
# stated": only release/ topics may differ (docs/status.md, "Releases").
my @rdiff = map { /^differs: (\S+)/ ? $1 : () } split /\n/, $out;
is_deeply([grep { !m{^release/} } @rdiff], [], 'cohortctl rebuild after kill -9: every live document equals')
    or diag "$out$err";

# X registered again is a new person: nothing of the old one comes back.
my $fr = "$dir/again.jsonl";
write_jsonl($fr, [{ agency => 'wm-police', occurredAt => '2009-09-01T09:00:00Z',
                    participantRegistered => { staffNumber => $XSTAFF, role => 'PARTICIPANT', ethnicity => 'W1',
                                               gender => 'MALE', disability => 'NOT_DISABLED', grade => 'x' } }]);
send_ok($a, $fr, 1, 'X registered again');
($rc, $out) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $a->{data}], timeout => 120);
like($out, qr/^sealed 10 readable 9 erased 1 erasures 1 keys 9$/m,
     'verify: the new X has a new key; the old registration stays unreadable') or diag $out;
my ($t5) = wait_snapshot($a, $NA + 3);
no_ref($t5, $xref, 'after X registers again (not enrolled anywhere)');

is(stop_daemon($a), 0, 'A: clean stop');
is(stop_daemon($b), 0, 'B: clean stop');
done_testing();
