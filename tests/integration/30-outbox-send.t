#!/usr/bin/perl
# Store-and-forward with `cohort-agent send --outbox`: events are kept in
# the outbox while the daemon is down (exit 3), a second run does not add
# them twice, `flush` delivers them once the daemon is up, and the log then
# holds every event exactly once (events without eventId: ids derived from
# content). Also: a send started while the daemon is down delivers when it
# comes up; a re-send is all DUPLICATE; a domain-rejected event goes to the
# dead-letter file (exit 1); an eventId that is not 16 bytes is INVALID (exit
# 1); a locked outbox and bad usage exit 2.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use JSON::PP;
use Fcntl qw(:flock);
use Time::HiRes qw(sleep time);

my $N = 400;
my $dir = tmpdir();
my $ob = "$dir/outbox";
my $ep = "ipc://$dir/ingest";
my $events = noid(make_events($N, 30));
write_jsonl("$dir/all.jsonl", $events);
my %want = map { event_key($_) => 1 } @$events;
is(scalar(keys %want), $N, "$N events, all of different content, none with an eventId");

sub send_outbox {
    my ($file, @extra) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $ep,
                                    '--outbox', $ob, @extra, $file], timeout => 120);
    return ($rc, read_jsonl($out), $err);
}
sub by_result { my ($res) = @_; my %n; $n{ $_->{result} }++ for @$res; return \%n }

# ---- the daemon is down: everything stays in the outbox ----
my ($rc, $res, $err) = send_outbox("$dir/all.jsonl", '--deadline-s', 1);
is($rc, 3, 'daemon down: exit 3 (events waiting in the outbox)') or diag $err;
is(scalar(@$res), $N, 'one result per event');
is(by_result($res)->{UNDELIVERED}, $N, 'all UNDELIVERED');
like($err, qr/$N events waiting in the outbox/, "stderr says $N are waiting");
ok(!grep({ !defined $_->{source} || $_->{source} ne "$dir/all.jsonl" } @$res), 'results name their source');
ok(-s "$ob/outbox.log" > 10000, 'the outbox log holds them');
my %lines = map { $_->{line} => 1 } @$res;
is(scalar(keys %lines), $N, 'each line reported once');

($rc, $res, $err) = send_outbox("$dir/all.jsonl", '--deadline-s', 1);
is($rc, 3, 'the same input again, daemon still down: exit 3');
like($err, qr/resuming $N events/, 'resumes the events of the first run');
is(scalar(@$res), $N, "still $N results: the re-read lines were not added twice");
like($err, qr/$N events waiting in the outbox/, "still $N waiting");

# ---- the daemon comes up: flush delivers each once ----
my $d = start_daemon(dir => $dir);
my ($frc, $fout, $ferr) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $ep,
                                   '--outbox', $ob], timeout => 120);
my $fres = read_jsonl($fout);
is($frc, 0, 'flush exits 0') or diag $ferr;
is(by_result($fres)->{ACCEPTED}, $N, "flush: $N ACCEPTED");
my ($keys, $ids) = log_keys($d);
is(scalar(keys %$keys), $N, "the log holds $N distinct events");
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');
is((grep { !$want{$_} } keys %$keys), 0, 'and they are the events sent');
my %fids = map { $_->{eventId} => 1 } @$fres;
is((grep { !$fids{$_} } keys %$ids), 0, 'under the eventIds the agent reported');
ok(-s "$ob/outbox.log" < 200, 'the outbox log is compacted to almost nothing when empty');

($frc, $fout, $ferr) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $ep,
                                '--outbox', $ob], timeout => 60);
is($frc, 0, 'flush of an empty outbox: exit 0');
is($fout, '', 'and no results');

# ---- the same input again: derived ids make it all DUPLICATE ----
($rc, $res, $err) = send_outbox("$dir/all.jsonl");
is($rc, 0, 're-sending the same input exits 0') or diag $err;
is(by_result($res)->{DUPLICATE}, $N, 'all DUPLICATE (same derived ids)');
($keys) = log_keys($d);
is(scalar(keys %$keys), $N, "the log still holds $N events");

# ---- a send started while the daemon is down delivers when it comes up ----
stop_daemon($d);
my $more = noid(attendance_events(100, 30));
$_->{occurredAt} =~ s/^2009-05/2009-06/ for @$more;    # other content than the first batch
write_jsonl("$dir/more.jsonl", $more);
my $bg = start_agent($dir, 'bg', 'send', '--json', '--endpoint', $ep, '--outbox', $ob,
                     '--deadline-s', 60, '--timeout-ms', 300, "$dir/more.jsonl");
sleep 1.5;
ok(!defined wait_exit($bg->{pid}, 0.1), 'the agent waits while the daemon is down');
$d = start_daemon(dir => $dir);
my $st = wait_exit($bg->{pid}, 60);
is(defined $st ? $st >> 8 : 'timeout', 0, 'it delivers once the daemon is up, exit 0')
    or diag slurp($bg->{err});
is(by_result(agent_results($bg))->{ACCEPTED}, 100, '100 ACCEPTED');
($keys) = log_keys($d);
is(scalar(keys %$keys), $N + 100, 'the log holds all ' . ($N + 100) . ' events');
is((grep { $_ != 1 } values %$keys), 0, 'each exactly once');

# ---- a rejected event goes to the dead-letter file ----
my $bad = { agency => 'wm-police', occurredAt => '2009-07-01T09:00:00Z',
            enrolmentChanged => { participantRef => pref('nobody-here'), programmeId => 'it-30',
                                  cohortId => 'c1', stage => 'APPLIED' } };
my $ok1 = { %{ $more->[0] }, occurredAt => '2009-07-01T10:00:00Z' };
write_jsonl("$dir/mixed.jsonl", [$ok1, $bad]);
($rc, $res, $err) = send_outbox("$dir/mixed.jsonl");
is($rc, 1, 'a rejected event: exit 1') or diag $err;
my ($rej) = grep { $_->{result} eq 'REJECTED' } @$res;
is($rej->{code}, 'REJECT_UNKNOWN_PARTICIPANT', 'REJECTED with the domain code');
is($rej->{line}, 2, 'on line 2');
like($err, qr{1 rejected events written to \Q$ob\E/dead-letter.jsonl}, 'stderr points to the dead-letter file');
my $dl = read_jsonl(slurp("$ob/dead-letter.jsonl"));
is(scalar(@$dl), 1, 'the dead-letter file has one line');
is($dl->[0]{code}, 'REJECT_UNKNOWN_PARTICIPANT', 'with the code');
like($dl->[0]{reason}, qr/not registered/, 'the reason');
is($dl->[0]{eventId}, $rej->{eventId}, 'the eventId');
is($dl->[0]{line}, 2, 'the line');
is($dl->[0]{event}{enrolmentChanged}{participantRef}, pref('nobody-here'), 'and the event itself');
is((stat "$ob/dead-letter.jsonl")[2] & 077, 0, 'readable by its owner only');
($frc, $fout) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $ep, '--outbox', $ob]);
is($frc, 0, 'the rejected event has left the outbox: flush has nothing to do');
is($fout, '', 'no results');

# ---- an eventId that is not 16 bytes (base64 "AAAA": 3) is INVALID, as in
# plain send; it was taken into the outbox (reading past the id) and never
# answered ----
write_jsonl("$dir/short-id.jsonl", [{ %{ $more->[0] }, occurredAt => '2009-07-01T11:00:00Z' },
                                    { %{ $more->[1] }, occurredAt => '2009-07-01T12:00:00Z', eventId => 'AAAA' }]);
($rc, $res, $err) = send_outbox("$dir/short-id.jsonl", '--deadline-s', 5);
is($rc, 1, 'a short eventId: exit 1 (invalid), nothing left waiting') or diag $err;
is_deeply([map { "$_->{line} $_->{result}" } sort { $a->{line} <=> $b->{line} } @$res],
          ['1 ACCEPTED', '2 INVALID'], 'line 1 ACCEPTED, line 2 INVALID');
is($res->[0]{reason}, 'eventId is not 16 bytes', 'with the reason plain send gives');
my ($prc, $pres) = agent_send($d, "$dir/short-id.jsonl");
is_deeply([map { "$_->{line} $_->{result} " . ($_->{reason} // '') } sort { $a->{line} <=> $b->{line} } @$pres],
          ['1 DUPLICATE ', '2 INVALID eventId is not 16 bytes'], 'plain send: the same');
($frc, $fout) = run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $ep, '--outbox', $ob]);
is($frc, 0, 'it is not in the outbox: flush exits 0');
is($fout, '', 'with no results');

# ---- usage ----
open my $lock, '>>', "$ob/lock" or die;
flock($lock, LOCK_EX) or die;
($rc, $res, $err) = send_outbox("$dir/mixed.jsonl");
is($rc, 2, 'an outbox in use by another agent: exit 2');
like($err, qr/in use by another cohort-agent/, 'says so');
close $lock;
($rc, undef, $err) = run_cmd([bin('cohort-agent'), 'flush', '--endpoint', $ep]);
is($rc, 2, 'flush without --outbox: exit 2');
like($err, qr/flush needs --outbox/, 'says so');
($rc, undef, $err) = run_cmd([bin('cohort-agent'), 'send', '--outbox', "$dir/no/such/dir", "$dir/all.jsonl"]);
is($rc, 2, 'an outbox whose parent is missing: exit 2');
like($err, qr/cannot create outbox directory/, 'says so');
my ($hrc, $help) = run_cmd([bin('cohort-agent'), '--help']);
like($help, qr/flush --outbox DIR/, '--help shows flush');
like($help, qr/watch \[--outbox DIR\] SPOOL/, '--help shows watch');
like($help, qr/3 events still waiting/, '--help documents exit 3');

is(stop_daemon($d), 0, 'clean daemon stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'cohortctl verify OK') or diag $vout;
done_testing();
