#!/usr/bin/perl
# `cohort-agent watch SPOOL` with the real daemon: export files dropped by
# tmp + rename (JSON Lines with ids; CSV of attendance, promotions,
# participants and enrolments without ids) are taken in, moved to done/,
# and their events are in the log exactly once; a malformed file (also one
# with an eventId that is not 16 bytes) goes to failed/ with a reason and
# nothing of it is sent; a domain-rejected event
# goes to the dead-letter file, and a file whose every event was rejected
# then moves from done/ to failed/; files still being written (.tmp, dotfiles)
# are left alone until renamed; a re-export with the same rows adds
# nothing; SIGTERM stops it with exit 0, and a restart sends nothing again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $dir = tmpdir();
my $spool = "$dir/spool";
mkdir $spool or die;
my $d = start_daemon(dir => $dir);
my @AG = qw(wm-police cps-wm hmcts-wm probation-wm);
sub ref_of { pref(sprintf('t32p%03d', $_[0])) }
sub ag_of { $AG[ $_[0] % 4 ] }

my $w = start_agent($dir, 'watch', 'watch', '--json', '--defer-s', 0, '--endpoint', $d->{endpoint}, '--rescan-ms', 300,
                    $spool);
ok(wait_until(10, sub { slurp($w->{err}) =~ /watching/ }), 'watch started') or diag slurp($w->{err});
ok(-d "$spool/done" && -d "$spool/failed" && -d "$spool/.outbox", 'it made done/, failed/ and .outbox/');

# ---- files being written are left alone ----
my @late = map { { agency => ag_of($_), participantRef => ref_of($_), programmeId => 'it-32', cohortId => 'c1',
                   component => 'COACHING', sessionId => 'late-1', sessionDate => '2009-06-01',
                   status => 'PRESENT', minutes => 120, occurredAt => "2009-06-01T10:00:0${_}Z" } } 1 .. 5;
my @acols = qw(agency participantRef programmeId cohortId component sessionId sessionDate status minutes occurredAt);
open my $fh, '>', "$spool/08-late.csv.tmp" or die;
print $fh csv_of(\@acols, \@late);
close $fh;
open $fh, '>', "$spool/.09-hidden.jsonl" or die;
print $fh "{}\n";
close $fh;

# ---- the drops ----
my $setup = setup_events(32);
drop_file($spool, '01-setup.jsonl', join('', map { encode_json($_) . "\n" } @$setup));
my @att = map {
    my $p = $_ % 20 + 1;
    { agency => ag_of($p), participantRef => ref_of($p), programmeId => 'it-32', cohortId => 'c1',
      component => 'coaching', sessionId => 'coaching-' . ($_ % 6 + 1), sessionDate => '2009-05-01',
      status => ($_ % 7 ? 'present' : 'absent'), minutes => ($_ % 7 ? 120 : 0),
      occurredAt => sprintf('2009-05-01T10:%02d:%02dZ', int($_ / 60), $_ % 60) }
} 1 .. 40;
my $att_csv = csv_of(\@acols, \@att);
drop_file($spool, '02-attendance.csv', $att_csv);
drop_file($spool, '03-promotions.csv', csv_of([qw(agency participantRef kind fromGrade toGrade effectiveOn programmeId cohortId)],
    [{ agency => ag_of(1), participantRef => ref_of(1), kind => 'SUBSTANTIVE_PROMOTION', fromGrade => 'constable',
       toGrade => 'sergeant', effectiveOn => '2009-08-01', programmeId => 'it-32', cohortId => 'c1' },
     { agency => ag_of(2), participantRef => ref_of(2), kind => 'ACTING_UP', fromGrade => 'band 5',
       toGrade => 'band 6', effectiveOn => '2009-08-15' }]));
drop_file($spool, '04-participants.csv', csv_of([qw(agency participant_ref role ethnicity gender disability officer grade)],
    [{ agency => 'wm-police', participant_ref => pref('t32new1'), role => 'participant', ethnicity => 'B1',
       gender => 'female', disability => 'not_disabled', officer => 'yes', grade => 'inspector' },
     { agency => 'cps-wm', participant_ref => pref('t32new2'), role => 'PARTICIPANT', ethnicity => 'A2',
       gender => 'MALE', disability => 'NOT_DISABLED', officer => 'no', grade => 'lawyer, senior' }]));
my $enrol_cols = [qw(agency participantRef programmeId cohortId stage note)];
drop_file($spool, '05-enrolments.csv', csv_of($enrol_cols,
    [{ agency => 'wm-police', participantRef => pref('t32new1'), programmeId => 'it-32', cohortId => 'c1', stage => 'APPLIED' },
     { agency => 'cps-wm', participantRef => pref('t32new2'), programmeId => 'it-32', cohortId => 'c1', stage => 'APPLIED',
       note => 'late "second" round' }]));
drop_file($spool, '06-bad.csv', "agency,participantRef,programmeId,cohortId,stage\n"
                                . "wm-police," . pref('t32new1') . ",it-32,c1,SHORTLISTED\n"
                                . "wm-police," . pref('t32new1') . ",it-32\n");
drop_file($spool, '07-reject.jsonl', encode_json({ agency => 'wm-police', occurredAt => '2009-07-01T09:00:00Z',
    enrolmentChanged => { participantRef => pref('nobody-at-all'), programmeId => 'it-32', cohortId => 'c1',
                          stage => 'APPLIED' } }) . "\n");
drop_file($spool, '06b-short-id.jsonl', encode_json({ agency => 'wm-police', participantRegistered => {
    participantRef => pref('t32short'), role => 'PARTICIPANT', ethnicity => 'B1', gender => 'FEMALE',
    disability => 'NOT_DISABLED' } }) . "\n" . encode_json({ agency => 'wm-police', eventId => 'AAAA',
    participantRegistered => { participantRef => pref('t32short2'), role => 'PARTICIPANT', ethnicity => 'B1',
                               gender => 'FEMALE', disability => 'NOT_DISABLED' } }) . "\n");

my $expect = scalar(@$setup) + 40 + 2 + 2 + 2;
ok(wait_until(30, sub { count_dir("$spool/done") >= 5 && -f "$spool/failed/07-reject.jsonl.reason"
                         && -f "$spool/failed/06-bad.csv.reason" && -f "$spool/failed/06b-short-id.jsonl.reason" }),
   'the files were taken (done/) or refused (failed/)') or diag slurp($w->{err});
ok(wait_until(30, sub { my ($k) = log_keys($d); scalar(keys %$k) >= $expect }), "$expect events reach the log")
    or diag slurp($w->{err});
my ($keys, $ids) = log_keys($d);
is(scalar(keys %$keys), $expect, "the log holds $expect distinct events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');
my %want = map { event_key($_) => 1 } @$setup;
is((grep { !$keys->{$_} } keys %want), 0, 'every event of the JSON Lines file is there');
my @logged = map { $_->{event} } @{ log_events($d) };
is(scalar(grep { $_->{attendanceRecorded} } @logged), 40, '40 attendance events from the CSV');
my ($reg) = grep { $_->{participantRegistered} && $_->{participantRegistered}{participantRef} eq pref('t32new2') } @logged;
is($reg->{participantRegistered}{grade}, 'lawyer, senior', 'a quoted CSV field with a comma arrives whole');
ok(!$reg->{participantRegistered}{officer}, 'officer "no" is false');
my ($enr) = grep { $_->{enrolmentChanged} && ($_->{enrolmentChanged}{note} // '') =~ /second/ } @logged;
is($enr->{enrolmentChanged}{note}, 'late "second" round', 'quotes inside a quoted CSV field');
my ($promo) = grep { $_->{promotionRecorded} && $_->{promotionRecorded}{kind} eq 'ACTING_UP' } @logged;
ok($promo, 'the promotions CSV arrived');

is_deeply([sort grep { !/^\./ } do { opendir my $dh, "$spool/done"; readdir $dh }],
          [qw(01-setup.jsonl 02-attendance.csv 03-promotions.csv 04-participants.csv 05-enrolments.csv)],
          'done/ holds the files taken in');
ok(-f "$spool/failed/07-reject.jsonl", 'the file whose every event was rejected is in failed/ (issue 15)');
like(slurp("$spool/failed/07-reject.jsonl.reason"), qr/every event of it was rejected/, 'its reason says so');
ok(-f "$spool/failed/06-bad.csv", 'the malformed file is in failed/');
my $reason = slurp("$spool/failed/06-bad.csv.reason");
like($reason, qr/row 3: has 3 fields, the header has 5/, 'its reason names the row and the problem');
like($reason, qr/nothing from this file was sent/, 'and says nothing was sent');
like(slurp("$spool/failed/06b-short-id.jsonl.reason"), qr/line 2: eventId is not 16 bytes/,
     'an eventId that is not 16 bytes fails its file, naming the line');
ok(!grep({ $_->{participantRegistered} && $_->{participantRegistered}{participantRef} eq pref('t32short') } @logged),
   'and nothing of that file was sent');
ok(!grep({ $_->{enrolmentChanged} && $_->{enrolmentChanged}{participantRef} eq pref('t32new1')
           && $_->{enrolmentChanged}{stage} eq 'SHORTLISTED' } @logged),
   'the good row of the malformed file was not sent (all or nothing)');

my $dl = read_jsonl(slurp("$spool/.outbox/dead-letter.jsonl"));
is(scalar(@$dl), 1, 'one dead letter');
is($dl->[0]{code}, 'REJECT_UNKNOWN_PARTICIPANT', 'with the domain code');
is($dl->[0]{source}, '07-reject.jsonl', 'its source file');
is($dl->[0]{line}, 1, 'and line');
is($dl->[0]{event}{enrolmentChanged}{participantRef}, pref('nobody-at-all'), 'and the event');
like(slurp($w->{err}), qr/REJECTED: REJECT_UNKNOWN_PARTICIPANT.*dead-letter\.jsonl/, 'the rejection is logged');
like(slurp($w->{err}), qr/06-bad\.csv: not taken in: 1 bad record/, 'the failed file is logged');
my $res = agent_results($w);
my ($rej) = grep { $_->{result} eq 'REJECTED' } @$res;
is($rej->{source}, '07-reject.jsonl', 'the REJECTED result names its source');

ok(-f "$spool/08-late.csv.tmp" && -f "$spool/.09-hidden.jsonl", 'the .tmp file and the dotfile were left alone');
ok(!grep({ $_->{attendanceRecorded} && $_->{attendanceRecorded}{sessionId} eq 'late-1' } @logged),
   'nothing of the .tmp file was sent');

# ---- renaming the finished file makes it ready ----
rename "$spool/08-late.csv.tmp", "$spool/08-late.csv" or die;
$expect += 5;
ok(wait_until(30, sub { my ($k) = log_keys($d); scalar(keys %$k) >= $expect }), 'once renamed, it is taken in');
ok(-f "$spool/done/08-late.csv", 'and moved to done/');

# ---- a re-export with the same rows adds nothing ----
drop_file($spool, '10-attendance-again.csv', $att_csv);
ok(wait_until(30, sub { -f "$spool/done/10-attendance-again.csv" }), 'a re-export is taken in');
ok(wait_until(30, sub { (grep { $_->{result} eq 'DUPLICATE' } @{ agent_results($w) }) >= 40 }),
   'its 40 rows come back DUPLICATE (same derived ids)');
($keys) = log_keys($d);
is(scalar(keys %$keys), $expect, "the log still holds $expect events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');

# ---- the same name again does not overwrite done/ ----
drop_file($spool, '03-promotions.csv', "agency,participantRef,kind,effectiveOn\n");
ok(wait_until(30, sub { -f "$spool/done/03-promotions.csv.1" }), 'a second file of the same name is done/NAME.1');

# ---- stop, restart ----
is(stop_watch($w), 0, 'SIGTERM: exit 0');
like(slurp($w->{err}), qr/SIGTERM: stopping; 0 events waiting/, 'it says it stops, nothing waiting');
ok(-s "$spool/.outbox/outbox.log" < 1000, 'the outbox log is small (compacted)');
my $w2 = start_agent($dir, 'watch2', 'watch', '--json', '--endpoint', $d->{endpoint}, '--rescan-ms', 200, $spool);
ok(wait_until(10, sub { slurp($w2->{err}) =~ /watching .*0 events waiting/ }), 'restarted, nothing waiting');
sleep 1;
is(slurp($w2->{out}), '', 'the restart sends nothing');
is(stop_watch($w2), 0, 'SIGTERM again: exit 0');
($keys) = log_keys($d);
is(scalar(keys %$keys), $expect, "the log still holds $expect events");

# ---- a crash between taking a file in and moving it out of the spool ----
# done/ is removed under the agent, so the move fails after the file's
# events are in the outbox; the agent is then killed. On restart the file
# is recognised as taken (same name and content) and only moved: nothing
# is sent twice.
my $sp2 = "$dir/spool2";
mkdir $sp2 or die;
my $w3 = start_agent($dir, 'watch3', 'watch', '--json', '--endpoint', $d->{endpoint}, '--rescan-ms', 200, $sp2);
ok(wait_until(10, sub { slurp($w3->{err}) =~ /watching/ }), 'a watch on a second spool');
rename "$sp2/done", "$dir/done-gone" or die;
rmdir "$dir/done-gone" or die;
my @more = map { { %{ $late[$_] }, occurredAt => "2009-06-02T10:00:0${_}Z", sessionId => 'late-2' } } 0 .. 2;
drop_file($sp2, '01-att.csv', csv_of(\@acols, \@more));
ok(wait_until(30, sub { slurp($w3->{err}) =~ /01-att\.csv taken in, but cannot move it to/ }),
   'the file is taken in, but cannot be moved') or diag slurp($w3->{err});
ok(wait_until(30, sub { (grep { $_->{result} eq 'ACCEPTED' } @{ agent_results($w3) }) == 3 }),
   'its 3 events are delivered');
kill 'KILL', $w3->{pid};
wait_exit($w3->{pid}, 10);
ok(-f "$sp2/01-att.csv", 'killed: the file is still in the spool');
mkdir "$sp2/done" or die;
my $w4 = start_agent($dir, 'watch4', 'watch', '--json', '--endpoint', $d->{endpoint}, '--rescan-ms', 200, $sp2);
ok(wait_until(30, sub { -f "$sp2/done/01-att.csv" }), 'after a restart it is moved to done/');
# The line is written just after the move: wait for it too (CI, stop 23).
ok(wait_until(10, sub { slurp($w4->{err}) =~ /01-att\.csv: was already taken in \(before a restart\)/ }),
   'as a file already taken in') or diag slurp($w4->{err});
sleep 0.5;
is(slurp($w4->{out}), '', 'and nothing is sent again');
is(stop_watch($w4), 0, 'stop: exit 0');
$expect += 3;
($keys) = log_keys($d);
is(scalar(keys %$keys), $expect, "the log holds $expect events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');

my ($rc, undef, $err) = run_cmd([bin('cohort-agent'), 'watch', "$dir/no-such-spool"]);
is($rc, 2, 'a missing spool directory: exit 2');
like($err, qr/cannot open spool directory/, 'says so');
is(stop_daemon($d), 0, 'clean daemon stop');
done_testing();

