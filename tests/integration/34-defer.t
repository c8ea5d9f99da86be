#!/usr/bin/perl
# Order across agencies (cohort-agent --defer-s, libcohort defer_ms): an
# agency's enrolments can reach the daemon before the programme board has
# opened the cohort. Without deferral they are REJECTED for good
# (UNKNOWN_PROGRAMME / UNKNOWN_COHORT); with --defer-s the agent retries
# exactly those order-dependent rejections and they are stored once the
# cohort exists, each exactly once. A rejection that is not about order
# (a stage going backwards) is reported once the defer window is over.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use Time::HiRes qw(sleep time);

my $d = start_daemon();
my $dir = $d->{dir};

# Split setup_events: the board's definitions, and the agencies' people.
sub split_setup {
    my ($tag) = @_;
    my $all = setup_events($tag);
    my @board = grep { $_->{programmeDefined} || $_->{cohortOpened} } @$all;
    my @people = grep { !$_->{programmeDefined} && !$_->{cohortOpened} } @$all;
    return (\@board, \@people);
}
sub results {
    my ($out) = @_;
    my %n;
    $n{ $_->{result} . ($_->{code} ? " $_->{code}" : '') }++ for @{ read_jsonl($out) };
    return \%n;
}

# ---- without deferral: the early enrolments are rejected for good ----
my ($board1, $people1) = split_setup(1);
write_jsonl("$dir/people1.jsonl", $people1);
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                                "$dir/people1.jsonl"], timeout => 60);
is($rc, 1, 'without --defer-s: exit 1');
my $n = results($out);
is($n->{ACCEPTED}, 20, 'the 20 registrations are accepted');
is($n->{'REJECTED REJECT_UNKNOWN_PROGRAMME'}, 120, 'the 120 enrolments are rejected: unknown programme');

# ---- with deferral: the same kind of file, sent before the board's ----
my ($board2, $people2) = split_setup(2);
write_jsonl("$dir/people2.jsonl", $people2);
write_jsonl("$dir/board2.jsonl", $board2);
my $t0 = time;
my $pid = fork() // die;
if (!$pid) {
    open STDOUT, '>', "$dir/people2.out" or die;
    open STDERR, '>', "$dir/people2.err" or die;
    exec bin('cohort-agent'), 'send', '--json', '--defer-s', 30, '--endpoint', $d->{endpoint},
        "$dir/people2.jsonl";
    die;
}
sleep 1.0; # the agencies' agent has sent everything and is being refused
($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                             "$dir/board2.jsonl"], timeout => 60);
is($rc, 0, 'the board then opens the cohort') or diag $err;
my $st = wait_exit($pid, 60);
is($st, 0, 'with --defer-s: the agencies\' agent exits 0') or diag `cat $dir/people2.err`;
my $waited = time - $t0;
open my $fh, '<', "$dir/people2.out" or die;
$n = results(do { local $/; <$fh> });
is_deeply($n, { ACCEPTED => 140 }, 'all 140 events ACCEPTED once the cohort exists');
cmp_ok($waited, '<', 30, sprintf('well before the 30 s defer window ran out (%.1f s)', $waited));

# ---- a real bad transition is reported when the window is over ----
write_jsonl("$dir/bad.jsonl", [{ agency => 'cps-wm', occurredAt => '2009-03-01T09:00:00Z',
    enrolmentChanged => { participantRef => pref('t2p001'), programmeId => 'it-2', cohortId => 'c1',
                          stage => 'APPLIED' } }]);
$t0 = time;
($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--defer-s', 3, '--endpoint',
                             $d->{endpoint}, "$dir/bad.jsonl"], timeout => 60);
is($rc, 1, 'a stage going backwards is still rejected (it is deferred, then reported)');
is_deeply(results($out), { 'REJECTED REJECT_BAD_TRANSITION' => 1 }, 'as BAD_TRANSITION') or diag $out;
cmp_ok(time - $t0, '>=', 2.5, 'after the defer window (3 s)');

# ---- a defer window longer than the deadline: still reported REJECTED ----
# (an outbox agent once kept such an event forever: each deadline gave it
# back UNDELIVERED, and the resend restarted the window)
write_jsonl("$dir/orphan.jsonl", [{ agency => 'wm-police', occurredAt => '2009-03-01T09:00:00Z',
    attendanceRecorded => { participantRef => pref('nobody-1'), programmeId => 'no-such-programme',
        cohortId => 'c1', component => 'COACHING', sessionId => 'coaching-1',
        sessionDate => '2009-05-01', status => 'PRESENT', minutes => 60 } }]);
$t0 = time;
($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--outbox', "$dir/ob", '--deadline-s', 3,
                             '--defer-s', 30, '--endpoint', $d->{endpoint}, "$dir/orphan.jsonl"], timeout => 60);
is($rc, 1, 'defer 30 s, deadline 3 s: exit 1 (rejected), not 3 (kept waiting)') or diag $out, $err;
is_deeply(results($out), { 'REJECTED REJECT_UNKNOWN_PROGRAMME' => 1 }, 'reported REJECTED before the deadline');
cmp_ok(time - $t0, '<', 10, 'within the deadline, not the defer window');
ok(-s "$dir/ob/dead-letter.jsonl", 'and dead-lettered');

is(stop_daemon($d), 0, 'clean exit');
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}]);
is($rc, 0, 'cohortctl verify') or diag $out, $err;
like($out, qr/entries 162 /, '162 events stored: 20 + 2 + 140, none twice');
done_testing();
