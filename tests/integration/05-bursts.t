#!/usr/bin/perl
# No message is left stranded under bursty load: many agents with windows
# send in bursts; every event must be acked (cohort-bench exits 0 only when
# all were acked) within the bench's own time bound.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;

my $d = start_daemon();
my $setup = 0;    # events the bench stored to set up its programme and people
for my $case ([16, 64, 40000], [4, 1, 2000], [32, 8, 20000]) {
    my ($agents, $window, $events) = @$case;
    my ($rc, $out, $err) = run_cmd([bin('cohort-bench'), '--endpoint', $d->{endpoint},
        '--agents', $agents, '--window', $window, '--events', $events, '--duration-s', 60,
        '--json'], timeout => 90);
    is($rc, 0, "bench $agents agents x window $window: exit 0") or diag $err;
    my $r = eval { decode_json((grep { /^\{/ } split /\n/, $out)[-1]) } // {};
    is($r->{events}, $events, "all $events events durably acked");
    $setup += $r->{setup_stored} // 0;
}
ok(alive($d), 'daemon still running');
is(stop_daemon($d), 0, 'clean stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'verify OK') or diag $vout;
my $want = 62000 + $setup;
like($vout, qr/entries $want /, "the log holds exactly the 62000 bench events and $setup setup events");
done_testing();
