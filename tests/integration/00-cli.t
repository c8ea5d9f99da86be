#!/usr/bin/perl
# Every program answers --help and --version, refuses unknown flags with exit
# status 2, and says clearly why it cannot start.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

for my $p (qw(cohortd cohortctl cohort-agent cohort-bench cohort-watch cohort-web)) {
    my ($rc, $out) = run_cmd([bin($p), '--help']);
    is($rc, 0, "$p --help exits 0");
    like($out, qr/Usage:/i, "$p --help prints usage");
    ($rc, $out) = run_cmd([bin($p), '--version']);
    is($rc, 0, "$p --version exits 0");
    like($out, qr/\d+\.\d+\.\d+/, "$p --version prints a version");
    ($rc) = run_cmd([bin($p), '--no-such-flag']);
    is($rc, 2, "$p refuses an unknown flag with status 2");
}
my $dir = tmpdir();
my ($rc, $out, $err) = run_cmd([bin('cohortd'), '--data-dir', '/proc/nope/data']);
is($rc, 1, 'cohortd exits 1 when the data directory cannot be made');
like($err, qr/data directory .*nope/, 'and names the directory');
($rc, $out, $err) = run_cmd([bin('cohortd'), '--data-dir', "$dir/d", '--plaintext', '--ingest', 'bogus://x']);
is($rc, 2, 'cohortd refuses an endpoint it does not bind (only tcp:// and ipc://) with status 2');
like($err, qr/--ingest: 'bogus:\/\/x': the daemon binds only tcp:\/\/ and ipc:\/\//, 'naming it');
($rc, $out, $err) = run_cmd([bin('cohortd'), '--data-dir', "$dir/d", '--plaintext', '--ingest',
                             'ipc:///proc/nope/ingest']);
is($rc, 1, 'cohortd exits 1 when binding an endpoint fails');
like($err, qr/^<3>.*ingest endpoint ipc:\/\/\/proc\/nope\/ingest/m, 'with an error-priority line naming it');
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', "$dir/none"]);
is($rc, 2, 'cohortctl verify on a missing store exits 2 (cannot check)');
like($err, qr/cannot open the store/, 'and says so');
($rc, $out, $err) = run_cmd([bin('cohort-web'), '--config', "$dir/none.conf"]);
is($rc, 2, 'cohort-web exits 2 without its configuration');
like($err, qr/none\.conf: cannot read/, 'and names the file');
{
    open my $f, '>', "$dir/web.conf" or die;
    print $f "[web]\nlisten = 127.0.0.1:8443\nport = 1\n";
    close $f;
    ($rc, $out, $err) = run_cmd([bin('cohort-web'), '--config', "$dir/web.conf"]);
    is($rc, 2, 'cohort-web refuses a bad configuration');
    like($err, qr/web\.conf:3: option 'port': unknown option/, 'with FILE:LINE');
    open $f, '>', "$dir/web.conf" or die;
    print $f "[web]\nlisten = 127.0.0.1:8443\n";
    close $f;
    ($rc, $out, $err) = run_cmd([bin('cohort-web'), '--config', "$dir/web.conf"]);
    is($rc, 2, 'cohort-web refuses a configuration that lacks a required option');
    like($err, qr/\[web\] tls-cert is required/, 'and names what is missing');
}
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'frobnicate']);
is($rc, 2, 'cohortctl refuses an unknown command');
# The help agrees with the man pages (issue 16): cohortctl(8) lists a help
# command, and --checkpoint-every 0 still checkpoints at a clean stop.
($rc, $out) = run_cmd([bin('cohortctl'), '--help']);
like($out, qr/^  help \[COMMAND\] /m, 'cohortctl --help lists the help command');
($rc, $out) = run_cmd([bin('cohortctl'), 'help', 'status']);
is($rc, 0, 'cohortctl help status exits 0');
like($out, qr/^Usage: cohortctl status /, 'and prints the status command\'s usage');
($rc, $out, $err) = run_cmd([bin('cohortctl'), 'help', 'frobnicate']);
is($rc, 2, 'cohortctl help refuses an unknown command');
($rc, $out) = run_cmd([bin('cohortd'), '--help']);
like($out, qr/--checkpoint-every N .*\n\s+0: only at a clean stop and after an erasure/,
     'cohortd --help: checkpoint_every 0 still checkpoints at a clean stop');
unlike($out, qr/0 never/, 'and does not say "0 never"');
($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '/nonexistent.jsonl']);
isnt($rc, 0, 'cohort-agent fails on a missing file');
like($err, qr/nonexistent/, 'and names it');
done_testing();
