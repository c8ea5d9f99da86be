#!/usr/bin/perl
# Restart safety of `cohort-agent send --outbox`: the agent is killed with
# SIGKILL at random moments while it pushes (events without eventId, so
# exactly-once rests on the outbox and the content-derived ids, not on ids
# in the input), then re-run with the same outbox and the same input. In the
# end every event is in the log exactly once, nothing else is, the outbox
# is empty, and the log verifies.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use Time::HiRes qw(sleep time);

my $N = 20000;
my $dir = tmpdir();
my $ob = "$dir/outbox";
my $events = noid(make_events($N, 31));
write_jsonl("$dir/all.jsonl", $events);
my %want = map { event_key($_) => 1 } @$events;
is(scalar(keys %want), $N, "$N events of different content, without eventId");
my $d = start_daemon(dir => $dir);

# Kill the agent at a different moment each time: at once (while it takes
# the file in), then after growing numbers of results of that run.
my @at = (0, 2000, 4000, 5000);
my $kills = 0;
my $midpush = 0;
for my $k (0 .. $#at) {
    my $a = start_agent($dir, "run$k", 'send', '--json', '--endpoint', $d->{endpoint},
                        '--outbox', $ob, '--window', 64, '--timeout-ms', 500, "$dir/all.jsonl");
    my $until = time + 30;
    while (time < $until) {
        last if $at[$k] == 0 || (() = slurp($a->{out}) =~ /\n/g) >= $at[$k];
        last if defined wait_exit($a->{pid}, 0);
        sleep 0.002;
    }
    sleep(rand() * 0.01);
    if (kill 'KILL', $a->{pid}) {
        $kills++ if defined wait_exit($a->{pid}, 10);
    }
    my $n = () = slurp($a->{out}) =~ /\n/g;
    $midpush++ if $n < $N;
    note("run $k: killed after $n results");
}
is($kills, scalar(@at), "the agent was killed $kills times");
is($midpush, scalar(@at), 'each time before it had all its results');
my ($keys_mid) = log_keys($d);
ok(scalar(keys %$keys_mid) > 0 && scalar(keys %$keys_mid) < $N,
   'some but not all events were in the log before the last run (' . scalar(keys %$keys_mid) . ')');
is((grep { $_ != 1 } values %$keys_mid), 0, 'none twice so far');

# The last killed run had long taken the whole input in: flush alone (no
# input) must now deliver everything that is not in the log yet.
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $d->{endpoint},
                                '--outbox', $ob, '--window', 512], timeout => 180);
is($rc, 0, 'flush after the kills exits 0') or diag $err;
like($err, qr/resuming \d+ events left by an earlier run/, 'it resumed what the killed runs left');
my $res = read_jsonl($out);
my %by;
$by{ $_->{result} }++ for @$res;
is(($by{ACCEPTED} // 0) + ($by{DUPLICATE} // 0), scalar(@$res), 'every result ACCEPTED or DUPLICATE')
    or diag explain \%by;

my ($keys, $ids) = log_keys($d);
is(scalar(keys %$keys), $N, "the log holds $N distinct events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');
is((grep { !$want{$_} } keys %$keys), 0, 'and nothing that was not sent');
is(scalar(keys %$ids), $N, "$N distinct eventIds");

# The same input once more: all DUPLICATE (derived ids are stable).
($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                             '--outbox', $ob, '--window', 512, "$dir/all.jsonl"], timeout => 180);
is($rc, 0, 'sending the input again exits 0') or diag $err;
$res = read_jsonl($out);
is(scalar(grep { $_->{result} eq 'DUPLICATE' } @$res), $N, "all $N DUPLICATE");
($keys) = log_keys($d);
is(scalar(keys %$keys), $N, "the log still holds $N events");

my ($frc, $fout) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $d->{endpoint},
                            '--outbox', $ob], timeout => 60);
is($frc, 0, 'flush afterwards: exit 0');
is($fout, '', 'nothing was left in the outbox');
ok(!-e "$ob/dead-letter.jsonl", 'no dead letters');
is(stop_daemon($d), 0, 'clean daemon stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'cohortctl verify OK') or diag $vout;
like($vout, qr/entries $N head_seq $N /, "exactly $N events in the log");
done_testing();
