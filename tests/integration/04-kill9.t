#!/usr/bin/perl
# Crash safety: kill -9 the daemon while an agent pushes. Every event the
# agent saw acked is in the log exactly once, at the acked sequence; after a
# restart, resending everything completes the log with no duplicates.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep);

my $N = 30000;
my $dir = tmpdir();
write_jsonl("$dir/all.jsonl", make_events($N, 9));
my $d = start_daemon(dir => $dir);

# push in the background, recording every result line
my $pid = fork() // die;
if (!$pid) {
    open STDOUT, '>', "$dir/acks.jsonl" or die;
    open STDERR, '>', "$dir/agent.err" or die;
    exec bin('cohort-agent'), 'send', '--json', '--window', '512', '--timeout-ms', '500',
        '--deadline-s', '5', '--endpoint', $d->{endpoint}, "$dir/all.jsonl";
    die;
}
# wait until some acks have arrived, then kill -9 mid-stream
for (1 .. 400) { last if (-s "$dir/acks.jsonl" // 0) > 20000; sleep 0.01 }
sleep(rand() * 0.05);
kill9_daemon($d);
my $st = wait_exit($pid, 60);
ok(defined $st, 'agent gave up within its deadline');
open my $fh, '<', "$dir/acks.jsonl" or die;
my @res = map { decode_json($_) } grep { /^\{/ } <$fh>;
my @acked = grep { $_->{result} eq 'ACCEPTED' } @res;
ok(@acked > 0, scalar(@acked) . ' events acked before the kill');
ok(@acked < $N, 'the kill happened mid-stream (' . ($N - @acked) . ' not acked)');

# restart: every acked event is there once, at its acked sequence
$d = start_daemon(dir => $dir);
my ($rc, $out) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $d->{data}], timeout => 120);
is($rc, 0, 'cohortctl tail reads the log beside the running daemon');
my %at;
my $dups = 0;
for my $l (split /\n/, $out) {
    my $e = decode_json($l);
    my $k = "$e->{event}{agency}/$e->{event}{eventId}";
    $dups++ if exists $at{$k};
    $at{$k} = $e->{seq};
}
is($dups, 0, 'no event appears twice in the log');
my %agency = map { $_->{eventId} => $_->{agency} } @{ make_events($N, 9) };
my $missing = grep { !defined $at{"$agency{$_->{eventId}}/$_->{eventId}"} } @acked;
is($missing, 0, 'every acked event survived kill -9');
my $moved = grep { ($at{"$agency{$_->{eventId}}/$_->{eventId}"} // -1) != $_->{seq} } @acked;
is($moved, 0, 'each at the sequence it was acked with');

# resend all: the log ends with exactly N events
my ($arc, $res2) = agent_send($d, "$dir/all.jsonl", '--window', '512');
is($arc, 0, 'resending everything after restart succeeds');
is((grep { $_->{result} eq 'ACCEPTED' || $_->{result} eq 'DUPLICATE' } @$res2), $N,
   'each event ACCEPTED or DUPLICATE');
is(stop_daemon($d), 0, 'clean stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'verify OK after crash and resend') or diag $vout;
like($vout, qr/entries $N head_seq $N /, "exactly $N events in the log");
done_testing();
