#!/usr/bin/perl
# The real daemon acks every good event once it is stored, with gap-free
# sequences; sending the same events again yields DUPLICATE with the
# original sequences; a bad event in a file is REJECTED with a code while the
# others are stored; the log holds each event exactly once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my $d = start_daemon();
ok($d->{pid}, 'daemon started');
my $ex = repo_root() . '/examples/step-forward.jsonl';
my ($rc, $res, $err) = agent_send($d, $ex);
is($rc, 0, 'cohort-agent exits 0 when everything is accepted') or diag $err;
my @lines = grep { /\S/ && !/^\s*#/ } do { open my $f, '<', $ex or die; <$f> };
is(scalar @$res, scalar @lines, 'one result per example event');
is((grep { $_->{result} eq 'ACCEPTED' } @$res), scalar @lines, 'all ACCEPTED');
my @seqs = sort { $a <=> $b } map { $_->{seq} } @$res;
is_deeply(\@seqs, [1 .. scalar @lines], 'sequences are 1..N, gap-free and unique');
my %first = map { $_->{eventId} => $_->{seq} } @$res;

($rc, $res) = agent_send($d, $ex);
is($rc, 0, 'resending is not an error');
is((grep { $_->{result} eq 'DUPLICATE' } @$res), scalar @lines, 'every resent event is DUPLICATE');
is((grep { $first{ $_->{eventId} } != $_->{seq} } @$res), 0, 'each with its original sequence');

# one bad event among good ones
my $dir = $d->{dir};
write_jsonl("$dir/setup.jsonl", setup_events(77));
($rc) = agent_send($d, "$dir/setup.jsonl");
is($rc, 0, 'setup events for the mixed batch accepted');
my $evs = attendance_events(5, 77);
$evs->[2]{agency} = 'Not An Agency';
$evs->[3]{attendanceRecorded}{sessionDate} = '2009-13-01';
write_jsonl("$dir/mixed.jsonl", $evs);
($rc, $res) = agent_send($d, "$dir/mixed.jsonl");
is($rc, 1, 'cohort-agent exits 1 when something is rejected');
is_deeply([map { $_->{result} } @$res], [qw(ACCEPTED ACCEPTED REJECTED REJECTED ACCEPTED)],
          'the bad events are REJECTED, the good ones ACCEPTED');
is($res->[2]{code}, 'REJECT_BAD_AGENCY', 'bad agency has code REJECT_BAD_AGENCY');
is($res->[3]{code}, 'REJECT_BAD_DATE', 'bad date has code REJECT_BAD_DATE');
like($res->[2]{reason} // '', qr/agency/, 'with a readable reason');

is(stop_daemon($d), 0, 'daemon exits 0 on SIGTERM');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}]);
is($vrc, 0, 'cohortctl verify: log gap-free and dedupe index agrees') or diag $vout;
my $n = @lines + @{ setup_events(77) } + 3;
like($vout, qr/entries $n head_seq $n /, "log holds exactly the $n stored events");
unlike(CohortTest::log_of($d), qr/p0000|participantRef/, 'no participant refs in the daemon log');
done_testing();
