#!/usr/bin/perl
# Online backup and restore (issue 4), and what `cohortctl verify` checks.
#
# While an agent pushes events, `cohortctl backup` asks the daemon's control
# endpoint for a checkpoint. The backup verifies; restored into a new data
# directory its log is byte for byte the original's first S entries (S =
# the backup's reported head); a daemon started on it reports head S and
# status equal to a full replay of that log; resending everything to it
# gives the same status as the original. Refusals: an existing non-empty
# backup directory, a non-empty restore target, restoring from a live
# daemon's directory. Then verify must find each kind of damage made by
# the storemangle tool, and exit 2 when it cannot open the store.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

my $N = 30000;
my $dir = tmpdir();
my $events = make_events($N, 23);
write_jsonl("$dir/all.jsonl", $events);
my $d = start_daemon(dir => $dir, args => ['--checkpoint-every', '3000']);
ok($d->{pid}, 'daemon started');
like(log_of($d), qr{control: requests on ipc://\Q$d->{data}\E/control\.sock}, 'control endpoint in the data directory');

# ---- backup while an agent pushes ---------------------------------------
# A small window keeps the push going for seconds.
my $agent = fork() // die;
if (!$agent) {
    open STDOUT, '>', "$dir/acks.jsonl" or die;
    open STDERR, '>', "$dir/agent.err" or die;
    exec bin('cohort-agent'), 'send', '--json', '--window', '8', '--timeout-ms', '10000',
        '--endpoint', $d->{endpoint}, "$dir/all.jsonl";
    die;
}
my $acks = sub { open my $f, '<', "$dir/acks.jsonl" or return 0; my $n = 0; $n++ while <$f>; $n };
my $until = time + 60;
sleep 0.05 while $acks->() < 4000 && time < $until;
ok($acks->() >= 4000, 'the push is under way (4000 acks)');

my @bk = (bin('cohortctl'), 'backup', '--data-dir', $d->{data});
my ($rc, $out, $err) = run_cmd([@bk, "$dir/bk"], timeout => 120);
is($rc, 0, 'cohortctl backup exits 0') or diag "$out$err";
my ($S) = $out =~ /^head_seq (\d+)$/m;
like($out, qr{^backup \Q$dir\E/bk$}m, 'prints the backup directory');
ok(defined $S && $S >= 4000, "reports the backup's head seq: " . ($S // 'none'));
ok(waitpid($agent, WNOHANG) == 0, 'the agent was still pushing when the backup was done');
ok($S < $N, "the backup is mid-stream ($S of $N)");
like(log_of($d), qr/control: backup written to \Q$dir\E\/bk at seq $S in \d+ ms/, 'the daemon logs it');

my $st = wait_exit($agent, 120);
is(defined $st ? $st >> 8 : -1, 0, 'the agent finished: every event acked');
my @res = @{ read_jsonl(do { local (@ARGV, $/) = "$dir/acks.jsonl"; <> }) };
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @res), $N, "all $N accepted");

($rc, $out, $err) = run_cmd([@bk, "$dir/bk"], timeout => 60);
is($rc, 1, 'a second backup into the same directory is refused');
like($err, qr/exists and is not an empty directory/, 'saying why');
mkdir "$dir/empty-bk";
($rc, $out, $err) = run_cmd([@bk, "$dir/empty-bk"], timeout => 120);
is($rc, 0, 'an existing empty directory is accepted') or diag $err;
like($out, qr/^head_seq $N$/m, "and that backup, after the push, has head $N");
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--control', "ipc://$dir/nowhere", "$dir/x"]);
is($rc, 1, 'backup without a daemon fails');
like($err, qr/cannot reach the daemon's control socket/, 'saying it cannot reach the control socket');

# ---- verify the backup, restore it --------------------------------------
my @verify = (bin('cohortctl'), 'verify', '--data-dir');
($rc, $out, $err) = run_cmd([@verify, "$dir/bk"], timeout => 120);
is($rc, 0, 'verify of the backup directory: OK') or diag "$out$err";
like($out, qr/^entries $S head_seq $S gaps 0 undecodable 0 dedupe_mismatch 0$/m, "$S entries, no gaps, dedupe agrees");
like($out, qr/^dedupe_entries $S dedupe_extra 0 checkpoint_seq (\d+) tail_replayed \d+ projections same$/m,
     'the dedupe index has exactly the log\'s entries; checkpoint + tail == full replay');
my ($cp) = $out =~ /checkpoint_seq (\d+)/;
ok($cp && $cp <= $S, "the backup holds a projection checkpoint (seq $cp) not past its head");

my $dir2 = tmpdir();
my @restore = (bin('cohortctl'), 'restore');
($rc, $out, $err) = run_cmd([@restore, "$dir/bk", "$dir2/data"], timeout => 120);
is($rc, 0, 'restore into a new directory') or diag "$out$err";
like($out, qr/^head_seq $S$/m, "prints head $S");
like($out, qr/\((\d+) files linked, (\d+) copied\)/, 'table files hard-linked, the rest copied');
ok(((stat "$dir2/data")[2] & 07777) == 0700, 'the restored directory is mode 0700');
($rc, $out, $err) = run_cmd([@restore, "$dir/bk", "$dir2/data"], timeout => 60);
is($rc, 1, 'restore into a non-empty directory is refused');
like($err, qr/exists and is not empty/, 'saying why');
($rc, $out, $err) = run_cmd([@restore, $d->{data}, "$dir2/other"], timeout => 60);
is($rc, 1, 'restore from a running daemon\'s data directory is refused');
like($err, qr/in use by a running cohortd/, 'saying why');
ok(!-e "$dir2/other", 'and creates nothing');
($rc, $out, $err) = run_cmd([@verify, "$dir2/data"], timeout => 120);
is($rc, 0, 'verify of the restored store: OK') or diag "$out$err";

# the restored log is the original's first S entries, byte for byte
my @tail = (bin('cohortctl'), 'tail', '--json', '--data-dir');
my ($rc1, $orig) = run_cmd([@tail, $d->{data}, '--limit', $S], timeout => 120);
my ($rc2, $rest) = run_cmd([@tail, "$dir2/data"], timeout => 120);
is($rc1 + $rc2, 0, 'both logs read');
my @lines = split /\n/, $rest;
is(scalar @lines, $S, "the restored log has $S entries");
ok($rest eq $orig, "they are the original daemon's entries 1..$S, byte for byte");

# ---- a daemon on the restored store --------------------------------------
my $b = start_daemon(dir => $dir2);
ok($b->{pid}, 'a daemon starts on the restored store');
like(log_of($b), qr/log head seq $S,/, "its head is the backup's, $S");
my ($tb, $endb) = wait_snapshot($b, $S);
is($endb->{seq}, $S, "its status is at seq $S");
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'rebuild', '--data-dir', $b->{data}, '--snapshot',
                             $b->{snapshot}], timeout => 120);
is($rc, 0, 'and equals a full replay of its log (cohortctl rebuild)') or diag "$out$err";
like($out, qr/rebuild: $S log entries replayed to seq $S, \d+ topics, 0 differ/, "replayed $S entries, 0 differ");

my ($arc, $res2) = agent_send($b, "$dir/all.jsonl", '--window', '256', '--timeout-ms', '10000');
is($arc, 0, 'resending everything to the restored daemon');
is(scalar(grep { $_->{result} eq 'DUPLICATE' } @$res2), $S, "the $S events in the backup are duplicates");
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @$res2), $N - $S, 'the rest are accepted');
my ($ta) = wait_snapshot($d, $N);
($tb) = wait_snapshot($b, $N);
is_deeply({ map { $_ => $tb->{$_}{doc} } keys %$tb }, { map { $_ => $ta->{$_}{doc} } keys %$ta },
          'then its status documents equal the original daemon\'s');
is(stop_daemon($b), 0, 'restored daemon stops cleanly');

# verify works read-only beside the live original
($rc, $out, $err) = run_cmd([@verify, $d->{data}], timeout => 120);
is($rc, 0, 'verify beside the running original: OK') or diag "$out$err";
is(stop_daemon($d), 0, 'original daemon stops cleanly');
my $t0 = time;
($rc, $out, $err) = run_cmd([@bk, "$dir/after-stop"], timeout => 60);
is($rc, 1, 'backup after the daemon stopped fails (its socket file may remain)');
like($err, qr/cannot reach the daemon's control socket/, 'saying why');
ok(time - $t0 < 10, 'at once, not after the timeout');

# ---- verify finds damage --------------------------------------------------
my $n = 0;
sub damaged {
    my ($name, $mangle, @want) = @_;
    my $copy = "$dir2/damaged" . ++$n;
    my ($rc, $out, $err) = run_cmd([@restore, "$dir/bk", $copy], timeout => 120);
    die "restore for $name: $err" if $rc;
    ($rc, $out, $err) = run_cmd([bin('storemangle'), $copy, @$mangle]);
    die "storemangle @$mangle: $err" if $rc;
    ($rc, $out, $err) = run_cmd([@verify, $copy], timeout => 120);
    is($rc, 1, "verify exits 1: $name") or diag "$out$err";
    like($out, qr/^FAILED$/m, '  and prints FAILED');
    while (my ($what, $re) = splice @want, 0, 2) { like($out, $re, "  and reports $what") }
}
my $id = qr/[0-9a-f-]{36}/;
damaged('a dedupe entry missing', ['dedupe-del', 10],
        'the entry' => qr/^problem: dedupe: log entry 10 \(\S+ $id\) has no dedupe entry$/m,
        'one entry fewer' => qr/dedupe_entries ${\($S - 1)} /);
damaged('a dedupe entry pointing elsewhere', ['dedupe-set', 10, 11],
        'the log entry' => qr/^problem: dedupe: log entry 10 \(\S+ $id\) is indexed at seq 11$/m,
        'the dedupe entry' => qr/^problem: dedupe: entry \(\S+ $id\) points at seq 11, which holds another event \(\S+ $id\)$/m);
damaged('an extra dedupe entry', ['dedupe-add', 'wm-police', 5],
        'the entry' => qr/^problem: dedupe: entry \(wm-police ffffffff-ffff-ffff-ffff-ffffffffffff\) points at seq 5, which holds another event/m,
        'one extra' => qr/dedupe_extra 1 /);
damaged('a dedupe entry past the head', ['dedupe-add', 'cps-wm', $S + 100],
        'the entry' => qr/^problem: dedupe: entry \(cps-wm $id\) points at seq ${\($S + 100)}, past the log's head $S$/m);
damaged('a gap in the log', ['log-del', 20],
        'the gap' => qr/^problem: log: sequences 20\.\.20 are missing$/m,
        'the orphaned dedupe entry' => qr/^problem: dedupe: entry \(\S+ $id\) points at seq 20, which is missing from the log$/m,
        'one gap' => qr/ gaps 1 /);
damaged('a log entry overwritten by another', ['log-copy', 30, 31],
        'the copy' => qr/^problem: dedupe: log entry 31 \(\S+ $id\) is indexed at seq 30$/m,
        'the lost event' => qr/^problem: dedupe: entry \(\S+ $id\) points at seq 31, which holds another event/m);
open my $fh, '>', "$dir/garbage" or die;
print $fh "{not a checkpoint";
close $fh;
damaged('an unloadable projection checkpoint', ['meta-set', 'proj', "$dir/garbage"],
        'the checkpoint' => qr/^problem: checkpoint: the projection checkpoint does not load$/m);

# a checkpoint that loads but is not the log's state: rename the programme
($rc, $out, $err) = run_cmd([bin('storemangle'), "$dir/bk", 'meta-get', 'proj']);
is($rc, 0, 'read the backup\'s projection checkpoint');
my $proj = decode_json($out);
$proj->{programmes}[0]{name} = 'Mangled';
open $fh, '>', "$dir/mangled" or die;
print $fh encode_json($proj);
close $fh;
damaged('a checkpoint whose state differs from the log', ['meta-set', 'proj', "$dir/mangled"],
        'the state' => qr/^problem: projections: the checkpoint \(seq $cp\) plus \d+ replayed entries is not the state a full replay of $S entries gives$/m,
        'the topic' => qr{^problem: projections: topic programme/it-23 differs from the full replay$}m,
        'DIFFER' => qr/projections DIFFER$/m);

($rc, $out, $err) = run_cmd([@verify, "$dir/bk"], timeout => 120);
is($rc, 0, 'the backup itself is untouched by damage to its restored copies') or diag "$out$err";
($rc, $out, $err) = run_cmd([@verify, "$dir/no-such-store"]);
is($rc, 2, 'verify exits 2 when it cannot open the store');
like($err, qr/cannot open the store/, 'and says so');
done_testing();
