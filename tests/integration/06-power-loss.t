#!/usr/bin/perl
# Power loss, simulated: the daemon acks small batches once they are in its
# ack journal (an in-place fdatasync), leaving RocksDB's WAL unsynced. Kill
# -9 it after an agent's push, then cut RocksDB's WAL files back to their
# size before the push, as a power loss may leave them. RocksDB alone has
# lost the events; the restarted daemon writes them back from the journal,
# every acked event at its acked sequence, exactly once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;

my $N = 3000;
my $dir = tmpdir();
write_jsonl("$dir/all.jsonl", make_events($N, 6));
my $d = start_daemon(dir => $dir);

# RocksDB's WAL files and their sizes once the daemon is ready
sub wal_sizes {
    my ($data) = @_;
    opendir(my $dh, $data) or die "$data: $!";
    my %s = map { $_ => -s "$data/$_" } grep { /\.log$/ } readdir $dh;
    return \%s;
}
my $before = wal_sizes($d->{data});
ok(%$before > 0, 'the store has a WAL file: ' . join(', ', sort keys %$before));

# a small window keeps batches small: each is acked after a journal sync
my ($rc, $res) = agent_send($d, "$dir/all.jsonl", '--window', '16');
is($rc, 0, 'the agent pushed everything');
my @acked = grep { $_->{result} eq 'ACCEPTED' } @$res;
is(scalar @acked, $N, "all $N events acked");
kill9_daemon($d);

# the power loss: RocksDB's unsynced WAL tail never reached the disk
my $after = wal_sizes($d->{data});
my $cut = 0;
for my $f (sort keys %$after) {
    my $to = $before->{$f} // 0;
    $cut += $after->{$f} - $to;
    truncate("$d->{data}/$f", $to) or die "truncate $f: $!";
}
ok($cut > 0, "cut $cut bytes of RocksDB's WAL");
my ($src, $sout) = run_cmd([bin('cohortctl'), 'status', '--data-dir', $d->{data}]);
my ($head_rocks) = $sout =~ /head_seq (\d+)/;
ok(defined $head_rocks && $head_rocks < $N,
   'RocksDB alone has lost acked events (head ' . ($head_rocks // '?') . ')')
    or diag "cohortctl status: rc $src\n$sout";

# restart: the journal brings every acked event back
$d = start_daemon(dir => $dir);
like(log_of($d), qr/(\d+) events .* written back from the ack journal \(log head $N\)/,
     'the daemon logs what it wrote back');
my ($trc, $out) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $d->{data}],
                          timeout => 120);
is($trc, 0, 'cohortctl tail');
my (%at, $dups);
for my $l (split /\n/, $out) {
    my $e = decode_json($l);
    my $k = $e->{event}{eventId};
    $dups++ if exists $at{$k};
    $at{$k} = $e->{seq};
}
is($dups // 0, 0, 'no event appears twice');
my $missing = grep { !defined $at{ $_->{eventId} } } @acked;
is($missing, 0, 'every acked event is in the log');
my $moved = grep { ($at{ $_->{eventId} } // -1) != $_->{seq} } @acked;
is($moved, 0, 'each at the sequence it was acked with');

# and the daemon goes on from there
my ($arc, $res2) = agent_send($d, "$dir/all.jsonl", '--window', '64');
is($arc, 0, 'resending everything succeeds');
is((grep { $_->{result} eq 'DUPLICATE' } @$res2), $N, 'each event is a DUPLICATE');
is(stop_daemon($d), 0, 'clean stop');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'verify OK') or diag $vout;
like($vout, qr/entries $N head_seq $N /, "exactly $N events in the log");
done_testing();
