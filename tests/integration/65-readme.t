#!/usr/bin/perl
# The README's walkthrough runs as written (issue 16, "first contact"): the
# ```sh block under "## Using it" is run by bash -euo pipefail from the
# repository root, with the programs of the build under test (B) and free
# ports (COHORT_PORT), exactly as a new user would paste it: CURVE keys
# from cohortctl keygen, an access file, the daemon, a coordinator's and an
# agency's sends, the board's view, the operator's status, tail, backup,
# verify and rebuild, and a clean stop.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use Cwd qw(abs_path);
use IO::Socket::INET;
use POSIX qw(setsid :sys_wait_h);
use Time::HiRes qw(sleep time);

delete @ENV{qw(COHORT_PLAINTEXT COHORT_KEY COHORT_SERVER_KEY COHORT_ENDPOINT COHORT_PUBLISH
               COHORT_SNAPSHOT COHORTD_CONFIG)};

my $root = repo_root();
open my $fh, '<', "$root/README.md" or die "README.md: $!";
my $readme = do { local $/; <$fh> };
my ($section) = $readme =~ /^## Using it\n(.*?)^## /ms;
ok(defined $section, 'the README has a "Using it" section') or BAIL_OUT('no section');
my ($block) = $section =~ /^```sh\n(.*?)^```$/ms;
ok(defined $block && length $block, 'with a sh code block') or BAIL_OUT('no block');

# Three consecutive free ports (the walkthrough uses P, P+1 and P+2).
sub free3 {
    for (1 .. 50) {
        my $p = 20000 + int(rand(30000));
        my @s = map { IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p + $_,
                                            Listen => 1, ReuseAddr => 1) } 0 .. 2;
        my $ok = 3 == grep { $_ } @s;
        close $_ for grep { $_ } @s;
        return $p if $ok;
    }
    die 'no three free ports';
}

my $dir = tmpdir();
my $script = "$dir/walkthrough.sh";
open my $out, '>', $script or die;
print $out $block;
close $out;
my $port = free3();
my $b = abs_path(bin('cohortd') =~ s{/cohortd$}{}r);
my $log = "$dir/out.txt";
my $t0 = time;
my $pid = fork() // die "fork: $!";
if (!$pid) {
    setsid();    # its own process group: everything it starts is stopped with it
    chdir $root or die;
    open STDOUT, '>', $log or die;
    open STDERR, '>&', \*STDOUT or die;
    open STDIN, '<', '/dev/null' or die;
    $ENV{B} = $b;
    $ENV{COHORT_PORT} = $port;
    $ENV{TMPDIR} = $dir;    # its mktemp -d lands in our temp dir
    exec 'bash', '-euo', 'pipefail', $script or die "exec: $!";
}
my $rc;
while (time - $t0 < 180) {
    if (waitpid($pid, WNOHANG) == $pid) { $rc = $? >> 8; last }
    sleep 0.2;
}
kill 'KILL', -$pid;    # whatever is left of it (the daemon, if it failed half-way)
waitpid($pid, 0) unless defined $rc;
my $text = do { open my $f, '<', $log or die; local $/; <$f> // '' };
is($rc, 0, sprintf('the walkthrough ran to the end (%.1f s)', time - $t0)) or diag $text;
like($text, qr/cohort-agent: 2 events: 2 accepted/, "the coordinator's 2 definitions accepted");
like($text, qr/cohort-agent: (\d+) events: \1 accepted, 0 duplicate, 0 rejected/,
     "every one of the agency's events accepted");
like($text, qr/^\s+ENROLLED\s+\d+/m, "the board's live view shows the funnel");
like($text, qr/^head_seq [1-9]\d*$/m, "the operator's status shows the head");
like($text, qr/entries (\d+) head_seq \1 gaps 0 undecodable 0 dedupe_mismatch 0/,
     'the backup verifies: gap-free, the dedupe index agrees');
like($text, qr/^rebuild: \d+ log entries replayed to seq \d+, \d+ topics, 0 differ\nOK$/m,
     'rebuild: a full replay equals the live status');
unlike($text, qr/Segmentation|AddressSanitizer|runtime error/, 'no crash or sanitizer report');
done_testing();
