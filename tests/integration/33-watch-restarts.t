#!/usr/bin/perl
# A running `cohort-agent watch` survives the daemon going away: files
# dropped while the daemon is down (kill -9) are taken into the outbox and
# delivered once it is back; a daemon stop and restart in the middle of a
# push loses and duplicates nothing. Then the watch agent itself is killed
# with SIGKILL mid-push, several times, and restarted on the same spool:
# every event reaches the log exactly once and every file is in done/ once.
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
my @acols = qw(agency participantRef programmeId cohortId component sessionId sessionDate status minutes occurredAt);

# $n attendance rows for tag 33, occurredAt on day $day (distinct content).
sub att_csv {
    my ($n, $day) = @_;
    return csv_of(\@acols, [map {
        my $p = $_ % 20 + 1;
        { agency => $AG[ $p % 4 ], participantRef => pref(sprintf('t33p%03d', $p)), programmeId => 'it-33',
          cohortId => 'c1', component => 'COACHING', sessionId => 'coaching-' . ($_ % 6 + 1),
          sessionDate => '2009-05-01', status => 'PRESENT', minutes => 120,
          occurredAt => sprintf('2009-06-%02dT%02d:%02d:%02dZ', $day, int($_ / 3600), int($_ / 60) % 60, $_ % 60) }
    } 1 .. $n]);
}
sub in_log { my ($k, $id) = log_keys($d); return ($k, $id) }
sub log_count { my ($k) = in_log(); return scalar(keys %$k) }
sub watch_args { ('watch', '--json', '--endpoint', $d->{endpoint}, '--rescan-ms', 200, '--deadline-s', 3,
                  '--timeout-ms', 300, $spool) }

my $w = start_agent($dir, 'watch', watch_args());
ok(wait_until(10, sub { slurp($w->{err}) =~ /watching/ }), 'watch started');
my $setup = setup_events(33);
drop_file($spool, '01-setup.jsonl', join('', map { encode_json($_) . "\n" } @$setup));
my $expect = scalar @$setup;
ok(wait_until(30, sub { log_count() >= $expect }), "the setup ($expect events) is in the log");

# ---- the daemon is killed; a file dropped meanwhile waits in the outbox ----
kill9_daemon($d);
drop_file($spool, '02-attendance.csv', att_csv(300, 1));
ok(wait_until(30, sub { -f "$spool/done/02-attendance.csv" }), 'daemon down: the file is still taken in');
ok(wait_until(30, sub { slurp($w->{err}) =~ /no ack from .* events kept in the outbox; retrying/ }),
   'the agent says it keeps the events and retries');
is(log_count(), $expect, 'nothing new in the log while the daemon is down');
ok(!defined wait_exit($w->{pid}, 0), 'the watch agent keeps running');
$d = start_daemon(dir => $dir);
$expect += 300;
ok(wait_until(60, sub { log_count() >= $expect }), 'daemon back: the 300 events arrive');
ok(wait_until(10, sub { slurp($w->{err}) =~ /the daemon answers again/ }), 'the agent says the daemon answers again');

# ---- the daemon is stopped and restarted in the middle of a push ----
drop_file($spool, '03-attendance.csv', att_csv(3000, 2));
ok(wait_until(30, sub { -f "$spool/done/03-attendance.csv" }), 'a bigger file is taken in');
ok(wait_until(30, sub { scalar(grep { $_->{result} eq 'ACCEPTED' } @{ agent_results($w) }) > $expect + 100 }),
   'its push has started');
is(stop_daemon($d), 0, 'daemon stopped mid-push (SIGTERM)');
sleep 0.5;
$d = start_daemon(dir => $dir);
$expect += 3000;
ok(wait_until(90, sub { log_count() >= $expect }), 'after the restart all 3000 arrive');

my ($keys) = in_log();
is(scalar(keys %$keys), $expect, "the log holds $expect distinct events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');

# ---- the watch agent is killed with SIGKILL mid-push, and restarted ----
my $kills = 0;
my $wargs_small = sub { ('watch', '--json', '--endpoint', $d->{endpoint}, '--rescan-ms', 200, '--window', 16,
                         '--timeout-ms', 300, $spool) };
kill 'TERM', $w->{pid};
wait_exit($w->{pid}, 10);
$w = start_agent($dir, 'watch-small', $wargs_small->());    # a small window: a push takes a while
my $N = 10000;
for my $k (1 .. 3) {
    my $name = sprintf('%02d-attendance.csv', 3 + $k);
    my $lines0 = () = slurp($w->{out}) =~ /\n/g;
    drop_file($spool, $name, att_csv($N, 2 + $k));
    $expect += $N;
    # kill at a different point each time: as the file is taken in, early, late in the push
    my $after = (0, 1500, 6000)[$k - 1];
    if ($after == 0) { wait_until(30, sub { !-f "$spool/$name" }) }
    else { wait_until(60, sub { (() = slurp($w->{out}) =~ /\n/g) - $lines0 >= $after }) }
    kill 'KILL', $w->{pid};
    $kills++ if defined wait_exit($w->{pid}, 10);
    my $lines = () = slurp($w->{out}) =~ /\n/g;
    note("kill $k: after " . ($lines - $lines0) . " results for $name");
    $w = start_agent($dir, "watch$k", $wargs_small->());
}
is($kills, 3, 'the watch agent was killed 3 times');
ok(wait_until(180, sub { log_count() >= $expect }), "all $expect events reach the log");
ok(wait_until(10, sub { slurp($w->{err}) =~ /watching/ }), 'the last restart is running');
sleep 1;    # anything that would arrive twice has had time to
($keys, my $ids) = in_log();
is(scalar(keys %$keys), $expect, "the log holds $expect distinct events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');
is(scalar(keys %$ids), $expect, 'under as many eventIds');
for my $f (map { sprintf('%02d-attendance.csv', $_) } 2 .. 6) {
    ok(-f "$spool/done/$f" && !-e "$spool/done/$f.1" && !-e "$spool/$f", "$f is in done/ once");
}
ok(!-e "$spool/.outbox/dead-letter.jsonl", 'no dead letters');
kill 'TERM', $w->{pid};
my $st = wait_exit($w->{pid}, 10);
is(defined $st ? $st >> 8 : 'timeout', 0, 'SIGTERM: exit 0');
like(slurp($w->{err}), qr/stopping; 0 events waiting/, 'nothing left waiting');
is(stop_daemon($d), 0, 'clean daemon stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'cohortctl verify OK') or diag $vout;
like($vout, qr/entries $expect head_seq $expect /, "exactly $expect events in the log");
done_testing();
