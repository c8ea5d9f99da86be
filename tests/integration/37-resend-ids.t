#!/usr/bin/perl
# Issue 15 item 4: resending the same input never stores it twice, whatever
# the mode. Over CURVE with an agency key made by `cohortctl keygen`, lines
# without eventId:
# - plain `cohort-agent send FILE` run twice: the second run is all
#   DUPLICATE, with the same ids, and the log's head does not move;
# - `send FILE` then `send --outbox DIR FILE`, and the other way round: the
#   second is all DUPLICATE;
# - a CSV export taken in by `watch`, then the same rows as JSON Lines by
#   plain `send`: DUPLICATE (the same record gives the same id in CSV and
#   JSON Lines), and so is the JSON Lines file dropped in the spool.
# On the old code plain send gave a fresh UUIDv7 each run: every second run
# was ACCEPTED again.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;
my %pub;
for my $n (qw(agent-a coord op)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    ($pub{$n}) = slurp("$keys/$n.pub") =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
open my $fh, '>', "$dir/data/access" or die;
print $fh "$pub{'agent-a'} agent wm-police\n$pub{coord} coordinator programmes=it-37\n$pub{op} operator\n";
close $fh;
$ENV{COHORT_KEY} = "$keys/op.key";    # cohortctl tail (log_events); agents get --key

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");

# cohort-agent send --json FILE with $who's key; returns (exit, [results], stderr).
sub send_file {
    my ($who, $file, @extra) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                                    '--key', "$keys/$who.key", @curve, @extra, $file], timeout => 60);
    return ($rc, read_jsonl($out), $err);
}
sub results { my %c; $c{ $_->{result} }++ for @{ $_[0] }; join ',', map { "$_=$c{$_}" } sort keys %c }
sub head { scalar @{ log_events($d) } }
sub ids { join ',', map { $_->{eventId} // '' } sort { $a->{line} <=> $b->{line} } @{ $_[0] } }

# ---- setup (with ids): programme, cohort, wm-police's people enrolled
my $setup = setup_events(37);
write_jsonl("$dir/defs.jsonl", [@$setup[0, 1]]);
my ($rc, $res, $err) = send_file('coord', "$dir/defs.jsonl");
is(results($res), 'ACCEPTED=2', 'the coordinator defines programme and cohort') or diag $err;
write_jsonl("$dir/people.jsonl", [grep { $_->{agency} eq 'wm-police' } @$setup[2 .. $#$setup]]);
($rc, $res, $err) = send_file('agent-a', "$dir/people.jsonl");
is($rc, 0, 'wm-police registers and enrols its people') or diag $err;

# Attendance of wm-police's people, without eventId, each with its own
# occurredAt (AgentTest::noid), in three disjoint sets.
my $att = noid([grep { $_->{agency} eq 'wm-police' } @{ attendance_events(480, 37) }]);
my @set = ([@$att[0 .. 29]], [@$att[30 .. 59]], [@$att[60 .. 89]]);
ok(!grep({ exists $_->{eventId} } map { @$_ } @set), 'the test lines have no eventId');

# ---- 1. plain send, twice
write_jsonl("$dir/a.jsonl", $set[0]);
my ($rc1, $r1, $e1) = send_file('agent-a', "$dir/a.jsonl");
is(results($r1), 'ACCEPTED=30', 'plain send: 30 ACCEPTED') or diag $e1;
my $h1 = head();
my ($rc2, $r2, $e2) = send_file('agent-a', "$dir/a.jsonl");
is($rc2, 0, 'the same file again: exit 0') or diag $e2;
is(results($r2), 'DUPLICATE=30', '... every event DUPLICATE');
is(ids($r2), ids($r1), '... under the same ids as the first run');
is(head(), $h1, '... and the log did not grow');

# ---- 2. plain send, then send --outbox (and the other way round)
write_jsonl("$dir/b.jsonl", $set[1]);
my ($rc3, $r3, $e3) = send_file('agent-a', "$dir/b.jsonl");
is(results($r3), 'ACCEPTED=30', 'plain send of a second file: ACCEPTED') or diag $e3;
my $h2 = head();
my ($rc4, $r4, $e4) = send_file('agent-a', "$dir/b.jsonl", '--outbox', "$dir/ob");
is($rc4, 0, 'then send --outbox of the same file: exit 0') or diag $e4;
is(results($r4), 'DUPLICATE=30', '... every event DUPLICATE');
is(ids($r4), ids($r3), '... same ids in both modes');
is(head(), $h2, '... log unchanged');

write_jsonl("$dir/c.jsonl", $set[2]);
my ($rc5, $r5, $e5) = send_file('agent-a', "$dir/c.jsonl", '--outbox', "$dir/ob");
is(results($r5), 'ACCEPTED=30', 'send --outbox of a third file: ACCEPTED') or diag $e5;
my $h3 = head();
my ($rc6, $r6, $e6) = send_file('agent-a', "$dir/c.jsonl", '--no-progress', '--window', 3);
is(results($r6), 'DUPLICATE=30', 'then plain send (other flags) of it: every event DUPLICATE') or diag $e6;
is(ids($r6), ids($r5), '... same ids');
is(head(), $h3, '... log unchanged');

# ---- 3. CSV by watch, then the same rows as JSON Lines by plain send
my @cols = qw(agency participantRef programmeId cohortId component sessionId sessionDate status minutes occurredAt);
my @rows = map { my $e = $_; +{ agency => $e->{agency}, occurredAt => $e->{occurredAt}, %{ $e->{attendanceRecorded} } } }
           @$att[90 .. 109];
my $spool = "$dir/spool";
mkdir $spool or die;
my $w = start_agent($dir, 'watch', 'watch', '--json', '--endpoint', $d->{endpoint}, '--key', "$keys/agent-a.key",
                    @curve, '--rescan-ms', 100, '--settle-ms', 200, $spool);
ok(wait_until(10, sub { slurp($w->{err}) =~ /watching/ }), 'watch started') or diag slurp($w->{err});
drop_file($spool, 'att.csv', csv_of(\@cols, \@rows));
ok(wait_until(30, sub { (grep { $_->{result} eq 'ACCEPTED' } @{ agent_results($w) }) == 20 }),
   'watch took the CSV in: 20 ACCEPTED') or diag slurp($w->{err});
my $h4 = head();
write_jsonl("$dir/d.jsonl", [@$att[90 .. 109]]);
my ($rc7, $r7, $e7) = send_file('agent-a', "$dir/d.jsonl");
is(results($r7), 'DUPLICATE=20', 'the same records as JSON Lines by plain send: DUPLICATE') or diag $e7;
my %csv_ids = map { ($_->{line} - 1) => $_->{eventId} } @{ agent_results($w) };    # CSV row 2 is record 1
is(join(',', map { $csv_ids{ $_->{line} } // '?' } sort { $a->{line} <=> $b->{line} } @$r7), ids($r7),
   '... the id of each CSV row is the id of its JSON line');
# and the JSON Lines file dropped in the spool: DUPLICATE too
drop_file($spool, 'a-again.jsonl', slurp("$dir/a.jsonl"));
ok(wait_until(30, sub { (grep { $_->{result} eq 'DUPLICATE' && ($_->{source} // '') eq 'a-again.jsonl' }
                         @{ agent_results($w) }) == 30 }),
   'the first file dropped in the spool: 30 DUPLICATE') or diag slurp($w->{err});
is(head(), $h4, 'the log did not grow');
kill 'TERM', $w->{pid};
is(wait_exit($w->{pid}, 20) >> 8, 0, 'watch stops with exit 0');
is(stop_daemon($d), 0, 'the daemon stops cleanly');    # it was left running

done_testing();
