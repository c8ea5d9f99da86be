#!/usr/bin/perl
# A clean restart keeps the log and the dedupe index: resent events are
# DUPLICATE with their first sequences, and new ones continue the sequence.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my $dir = tmpdir();
write_jsonl("$dir/a.jsonl", make_events(300, 1));
write_jsonl("$dir/b.jsonl", make_events(200, 2));

my $d = start_daemon(dir => $dir);
my ($rc, $first) = agent_send($d, "$dir/a.jsonl");
is($rc, 0, '300 events accepted');
is(stop_daemon($d), 0, 'clean stop');
like(CohortTest::log_of($d), qr/stopped at seq 300/, 'daemon reports the head at stop');

$d = start_daemon(dir => $dir);
like(CohortTest::log_of($d), qr/log head seq 300/, 'restarted daemon finds head 300');
my ($rc2, $again) = agent_send($d, "$dir/a.jsonl");
is($rc2, 0, 'resend after restart succeeds');
is((grep { $_->{result} eq 'DUPLICATE' } @$again), 300, 'all DUPLICATE after restart');
my %seq = map { $_->{eventId} => $_->{seq} } @$first;
is((grep { $seq{ $_->{eventId} } != $_->{seq} } @$again), 0, 'with the sequences of the first run');
my ($rc3, $new) = agent_send($d, "$dir/b.jsonl");
is_deeply([sort { $a <=> $b } map { $_->{seq} } @$new], [301 .. 500],
          'new events continue at 301..500');
is(stop_daemon($d, 'INT'), 0, 'SIGINT also stops cleanly');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}]);
is($vrc, 0, 'verify OK') or diag $vout;
like($vout, qr/entries 500 head_seq 500 gaps 0 undecodable 0 dedupe_mismatch 0/, '500 entries');
done_testing();
