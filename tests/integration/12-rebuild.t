#!/usr/bin/perl
# `cohortctl rebuild` replays the whole log and compares with the live
# documents: OK (exit 0) after both example programmes; and when told a
# different --suppress-k than the daemon's it finds every document that
# depends on k (the release/ topics, the only ones with breakdowns, cut on
# the log clock as the daemon cut them) and exits 1, while the live cohort,
# programme and agency topics (no breakdowns) still match.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my $d = start_daemon();
ok($d->{pid}, 'daemon started');
my $n = 0;
for my $f (qw(step-forward leadership-in-partnership)) {
    my ($rc, $res, $err) = agent_send($d, repo_root() . "/examples/$f.jsonl");
    is($rc, 0, "$f accepted") or diag $err;
    $n += grep { $_->{result} eq 'ACCEPTED' } @$res;
}
my ($t, $end) = wait_snapshot($d, $n);
is($end->{seq}, $n, "status reflects all $n events");
my @board = sort grep { m{^(cohort|programme)/} } keys %$t;
my @release = sort grep { m{^release/} } keys %$t;
is_deeply(\@release, [map { "release/$_" } @board], "a release topic for each: @release");
my @agency = grep { m{^agency/} } keys %$t;
is(scalar @board, 4, "two programmes, two cohorts: @board");
ok(@agency >= 13, scalar(@agency) . ' agency topics');

my @rb = (bin('cohortctl'), 'rebuild', '--data-dir', $d->{data}, '--snapshot', $d->{snapshot});
my ($rc, $out, $err) = run_cmd(\@rb, timeout => 120);
is($rc, 0, 'rebuild exits 0') or diag "$out$err";
like($out, qr/^OK$/m, 'rebuild prints OK');
my $nt = keys %$t;
like($out, qr/rebuild: $n log entries replayed to seq $n, $nt topics, 0 differ/,
     "replayed $n entries, $nt topics, 0 differ");
unlike($out, qr/differs:/, 'no topic differs');

($rc, $out, $err) = run_cmd([@rb, '--suppress-k', '3'], timeout => 120);
is($rc, 1, 'rebuild with --suppress-k 3 (daemon: 5) exits 1') or diag "$out$err";
like($out, qr/^MISMATCH$/m, 'and prints MISMATCH');
my @diff = sort map { /^differs: (\S+)/ ? $1 : () } split /\n/, $out;
is_deeply(\@diff, \@release, 'exactly the release topics differ (the live ones carry no breakdown)')
    or diag $out;
like($out, qr/, 4 differ/, 'the summary counts 4 differing topics');

($rc, $out, $err) = run_cmd([@rb, '--suppress-k', '5'], timeout => 120);
is($rc, 0, 'rebuild with the daemon\'s own --suppress-k 5 exits 0') or diag "$out$err";

($rc, $out, $err) = run_cmd([@rb, '--at-risk-ratio', '0.9'], timeout => 120);
is($rc, 1, 'rebuild with a different --at-risk-ratio exits 1 too') or diag "$out$err";
like($out, qr/^differs: /m, 'and lists differing topics');

is(stop_daemon($d), 0, 'clean stop');
done_testing();
