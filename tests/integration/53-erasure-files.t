#!/usr/bin/perl
# Erasure reaches every file, on time, with no other traffic (issue 13,
# item 2). A CURVE daemon; an agent key registers X, Y and Z (sealed
# characteristics, refs made from staff numbers by the agency's pseudonym
# key); vaultkeys (a test tool, read-only open) reads their 32-byte keys.
# An operator backup taken then holds them all. The agent erases Y and sends
# nothing more: within 10 s (the bound docs/security.md promises) the
# daemon purges, and no file of the data directory holds Y's key. At once
# the agent erases X (so X's purge is held back by the purge rate limit) and
# again sends nothing. 10 s after X's erasure was acked, no file under the
# test directory (the data directory with its journal, WAL, SST files and
# projection checkpoint; the daemon's log) and no RocksDB info log holds X's
# or Y's key bytes, nor does a backup taken now; Z's key is still found (the
# scan does see keys). A backup taken right after an erasure (W's), before
# the daemon's own purge, holds no erased key either. On the code before this
# fix the journal kept every key, and with no traffic no purge ran at all
# (Y's key stayed in an SST file too).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use File::Find;
use Cwd qw(abs_path);
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $BOUND = 10;    # s from a durable erasure to its purge (docs/security.md)
my $dir = tmpdir();
my $bkdir = tmpdir();    # backups: apart from the directory scanned for leftovers
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;

my %pub;
for my $n (qw(agent op)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    open my $fh, '<', "$keys/$n.pub" or die;
    local $/;
    ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
open my $afh, '>', "$dir/data/access" or die;
print $afh "$pub{agent} agent wm-police\n$pub{op} operator\n";
close $afh;

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my $pk = "$dir/wm-police.pseudonym";
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'keygen-pseudonym', $pk]);
is($rc, 0, 'pseudonym key made') or diag $err;

my $nid = 0;
sub send_events {
    my ($name, @events) = @_;
    my $f = tmpdir() . '/ev.jsonl';
    write_jsonl($f, [map { { eventId => sprintf('01a53000-0000-7000-8000-%012d', ++$nid),
                             agency => 'wm-police', %$_ } } @events]);
    my ($rc, $res, $err) = agent_send($d, $f, '--key', "$keys/agent.key", '--server-key',
                                      "$d->{data}/server.pub", '--pseudonym-key', $pk);
    is($rc, 0, "$name: sent") or diag $err;
    is(join(',', map { $_->{result} } @$res), join(',', ('ACCEPTED') x @events), "$name: accepted")
        or diag explain $res;
    return time;
}
sub register {
    my ($staff, $at) = @_;
    return { occurredAt => $at, participantRegistered => {
        staffNumber => $staff, role => 'PARTICIPANT', ethnicity => 'O1', gender => 'GENDER_OTHER',
        disability => 'DISABLED', sexualOrientation => 'LGB', religion => 'BUDDHIST',
        ageBand => 'AGE_55_PLUS', grade => 'inspector' } };
}
sub erase { my ($staff) = @_; { occurredAt => '2009-08-01T09:00:00Z', participantErased => { staffNumber => $staff } } }

# gen (the registration's sequence) => raw key bytes
sub keys_now {
    my ($rc, $out, $err) = run_cmd([bin('vaultkeys'), $d->{data}]);
    is($rc, 0, 'vaultkeys reads the keys (read-only open beside the daemon)') or diag $err;
    my %k;
    for (split /\n/, $out) {
        my (undef, undef, $gen, $hex) = split / /;
        $k{$gen} = pack('H*', $hex) if $hex && length $hex == 64;
    }
    return \%k;
}

# Every regular file under the roots (and this daemon's RocksDB info logs in
# /dev/shm) that holds the bytes: a list of paths.
sub files_with {
    my ($bytes, @roots) = @_;
    (my $flat = abs_path($d->{data})) =~ s{^/}{};
    $flat =~ s/[^A-Za-z0-9.-]/_/g;
    my @files = grep { -f $_ } glob("/dev/shm/${flat}_*LOG*");
    find({ no_chdir => 1, wanted => sub { push @files, $_ if -f $_ && !-l $_ } }, @roots);
    my @hits;
    for my $f (@files) {
        open my $fh, '<:raw', $f or next;
        local $/;
        my $c = <$fh> // '';
        push @hits, $f if index($c, $bytes) >= 0;
    }
    return @hits;
}
sub backup {
    my ($name) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--data-dir', $d->{data},
                                    '--key', "$keys/op.key", "$bkdir/$name"], timeout => 60);
    is($rc, 0, "operator backup $name") or diag "$out$err";
    return "$bkdir/$name";
}

send_events('register X, Y and Z', register('WMP-1', '2009-01-26T10:00:00Z'),
            register('WMP-2', '2009-01-26T10:01:00Z'), register('WMP-3', '2009-01-26T10:02:00Z'));
my $k = keys_now();
my ($X, $Y, $Z) = @$k{1, 2, 3};
ok(defined $X && defined $Y && defined $Z, 'three keys, made by the registrations at seq 1, 2, 3')
    or diag explain [sort keys %$k];
ok(scalar(files_with($X, $d->{data})), "X's key bytes are in the data directory before the erasure");
my $bk0 = backup('before');
ok(scalar(files_with($X, $bk0)), "a backup taken before the erasure holds X's key (docs/security.md)");

sub purges { scalar(() = log_of($d) =~ /erasure: destroyed keys purged/g) }
my $acked = send_events('erase Y', erase('WMP-2'));
sleep 0.05 while purges() < 1 && time < $acked + $BOUND;
is(purges(), 1, "Y's erasure is purged within $BOUND s with no other traffic");
my @y = files_with($Y, $d->{data});
is_deeply(\@y, [], "then no file of the data directory holds Y's key") or diag explain \@y;

$acked = send_events('erase X', erase('WMP-1'));
$k = keys_now();
is_deeply([sort keys %$k], [3], 'only Z still has a key');

# No traffic now: the purge must come by itself, within the bound.
my $wait = $acked + $BOUND - time;
note(sprintf 'waiting %.1f s with no traffic', $wait);
sleep $wait if $wait > 0;
ok(alive($d), 'the daemon runs');
my @x = files_with($X, $dir);
@y = files_with($Y, $dir);
is_deeply(\@x, [], "$BOUND s after X's erasure, no file of the daemon holds X's key") or diag explain \@x;
is_deeply(\@y, [], "nor Y's") or diag explain \@y;
ok(scalar(files_with($Z, $d->{data})), "Z's key is still found (the scan sees keys)");
is(purges(), 2, 'the daemon purged again, for X') or diag log_of($d);

my $bk1 = backup('after');
is_deeply([files_with($X, $bk1), files_with($Y, $bk1)], [], "a backup taken after the purge holds no erased key");
ok(scalar(files_with($Z, $bk1)), "it holds Z's");

# A backup taken right after an erasure, before the daemon's own purge: V's
# erasure is purged, so the rate limit holds W's purge back for 5 s, and
# the backup must purge first.
send_events('register V and W', register('WMP-5', '2009-01-27T10:00:00Z'),
            register('WMP-4', '2009-01-27T10:01:00Z'));
$k = keys_now();
my ($V, $W) = @$k{6, 7};    # seq 4 and 5 were the erasures
ok(defined $V && defined $W, "V's and W's keys read (seq 6, 7)") or diag explain [sort keys %$k];
ok(scalar(grep { /\.log$/ } files_with($V, $d->{data})), "V's key is in a WAL file before its erasure");
$acked = send_events('erase V', erase('WMP-5'));
sleep 0.05 while purges() < 3 && time < $acked + $BOUND;
is(purges(), 3, "V's erasure purged");
my @v = files_with($V, $d->{data});
is_deeply(\@v, [], "no file of the data directory holds V's key (it was only in the WAL and journal)")
    or diag explain \@v;
send_events('erase W', erase('WMP-4'));
my $bk2 = backup('window');
is(purges(), 3, "the daemon had not purged W's erasure yet when that backup was done");
is_deeply([files_with($W, $bk2), files_with($V, $bk2)], [], "a backup taken at once after W's erasure holds no W key");
ok(scalar(files_with($Z, $bk2)), "it holds Z's");
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $bk2], timeout => 60);
is($rc, 0, 'that backup verifies') or diag "$out$err";
like($out, qr/^sealed 5 readable 1 erased 4 erasures 4 keys 1$/m, 'and counts four erased people, one key')
    or diag $out;

is(stop_daemon($d), 0, 'clean stop');
@x = (files_with($W, $dir), files_with($V, $dir));
is_deeply(\@x, [], "after the stop (which purges), no file holds V's or W's key") or diag explain \@x;
done_testing();
