#!/usr/bin/perl
# Status survives restarts: after a clean stop the projections come from the
# final checkpoint (0 log entries replayed) and every document is as before;
# after kill -9 they come from the last checkpoint plus the log's tail, the
# documents are as before the kill and equal a fresh `cohortctl rebuild`;
# with --checkpoint-every 50 only a short tail is replayed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my $SF = repo_root() . '/examples/step-forward.jsonl';
my $LIP = repo_root() . '/examples/leadership-in-partnership.jsonl';
sub lines { my ($f) = @_; open my $fh, '<', $f or die "$f: $!"; scalar grep { /\S/ && !/^\s*#/ } <$fh> }
my ($NSF, $NLIP) = (lines($SF), lines($LIP));    # 367, 1059
sub docs { my ($t) = @_; return { map { $_ => $t->{$_}{doc} } keys %{ $t // {} } } }
sub startup_line {
    my ($d) = @_;
    return CohortTest::log_of($d) =~ /(projections at seq (\d+): checkpoint (\d+), (\d+) log entries replayed)/
        ? ($1, $2, $3, $4) : ('(no start-up line)', -1, -1, -1);
}

my $dir = tmpdir();
my $d = start_daemon(dir => $dir);
ok($d->{pid}, 'daemon started');
my ($rc, $res, $err) = agent_send($d, $SF);
is($rc, 0, "step-forward: $NSF events accepted") or diag $err;
my ($t1, $e1) = wait_settled($d, $NSF);
is($e1->{seq}, $NSF, "status reflects seq $NSF");
ok(keys %$t1 >= 8, scalar(keys %$t1) . ' topics before the restart');

# clean stop and restart
is(stop_daemon($d), 0, 'SIGTERM: clean stop');
like(CohortTest::log_of($d), qr/stopped at seq $NSF\b/, "stopped at seq $NSF");
$d = start_daemon(dir => $dir);
ok($d->{pid}, 'restarted');
my ($line, $seq, $cp, $rep) = startup_line($d);
is_deeply([$seq, $cp, $rep], [$NSF, $NSF, 0], "after a clean stop: checkpoint $NSF, 0 replayed ($line)");
my ($t2, $e2) = wait_settled($d, $NSF);
is($e2->{seq}, $NSF, "restarted daemon's status reflects seq $NSF");
is_deeply([sort keys %$t2], [sort keys %$t1], 'the same topics after the restart');
is_deeply(docs($t2), docs($t1), 'every document equal after the clean restart');

# more events, then kill -9
($rc, $res, $err) = agent_send($d, $LIP);
is($rc, 0, "leadership-in-partnership: $NLIP events accepted") or diag $err;
my $N = $NSF + $NLIP;
my ($t3, $e3) = wait_settled($d, $N);
is($e3->{seq}, $N, "status reflects seq $N");
kill9_daemon($d);
$d = start_daemon(dir => $dir);
ok($d->{pid}, 'restarted after kill -9');
($line, $seq, $cp, $rep) = startup_line($d);
is_deeply([$seq, $cp, $rep], [$N, $NSF, $NLIP],
          "after kill -9: the last checkpoint ($NSF) plus the $NLIP entries after it ($line)");
my ($t4, $e4) = wait_settled($d, $N);
is($e4->{seq}, $N, "status after kill -9 reflects seq $N");
is_deeply([sort keys %$t4], [sort keys %$t3], 'the same topics after kill -9');
is_deeply(docs($t4), docs($t3), 'every document equal to before the kill');
my ($brc, $bout, $berr) = run_cmd([bin('cohortctl'), 'rebuild', '--data-dir', $d->{data},
                                   '--snapshot', $d->{snapshot}], timeout => 120);
is($brc, 0, 'cohortctl rebuild after kill -9 exits 0') or diag "$bout$berr";
like($bout, qr/\bOK\b/, 'rebuild reports OK: a full replay matches the live documents');
like($bout, qr/rebuild: $N log entries replayed to seq $N, \d+ topics, 0 differ/, 'all entries replayed, 0 differ');
is(stop_daemon($d), 0, 'clean stop');

# --checkpoint-every 50: one event per commit (window 1), so checkpoints fall
# every 50 events and kill -9 leaves a short tail to replay.
my $dir2 = tmpdir();
my @ce = (args => ['--checkpoint-every', '50']);
$d = start_daemon(dir => $dir2, @ce);
ok($d->{pid}, 'daemon with --checkpoint-every 50 started');
($rc, $res, $err) = agent_send($d, $SF, '--window', '1');
is($rc, 0, "step-forward pushed one event at a time") or diag $err;
my ($t5) = wait_settled($d, $NSF);
kill9_daemon($d);
$d = start_daemon(dir => $dir2, @ce);
ok($d->{pid}, 'restarted after kill -9');
($line, $seq, $cp, $rep) = startup_line($d);
is($seq, $NSF, "projections at seq $NSF ($line)");
ok($cp > 0 && $rep > 0 && $rep < 50, "checkpoint $cp, only a tail of $rep (< 50) replayed");
is($cp + $rep, $NSF, 'checkpoint + replayed = head');
my ($t6, $e6) = wait_settled($d, $NSF);
is_deeply(docs($t6), docs($t5), 'every document equal to before the kill');
($brc, $bout, $berr) = run_cmd([bin('cohortctl'), 'rebuild', '--data-dir', $d->{data},
                                '--snapshot', $d->{snapshot}], timeout => 120);
is($brc, 0, 'cohortctl rebuild exits 0') or diag "$bout$berr";
like($bout, qr/\bOK\b/, 'rebuild OK');
is(stop_daemon($d), 0, 'clean stop');
done_testing();
