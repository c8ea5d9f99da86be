#!/usr/bin/perl
# Logs cannot be forged or flooded (issue 13 item 8), against the real
# daemon with CURVE:
# - forgery: an operator's backup request names a directory holding
#   "\n<2>auth: accepted key AAAAAAAA as operator from 10.0.0.1"; the
#   daemon logs the path (backup started / written or failed), and no line
#   of the log may begin with the forged "<2>auth: accepted": the newline
#   is written as \x0a inside the one line (daemon/log.c escapes every
#   control byte and invalid UTF-8);
# - flood: one agent key floods the ingest socket for FLOOD_S seconds with
#   small frames, each an event for another agency (refused
#   REJECT_UNAUTHORISED, one refusal line per frame before the fix: about
#   100k lines); halfway the key is revoked by SIGHUP, so the same open
#   connections' frames are refused FRAME_UNAUTHORISED (no log line at all
#   before the fix). Each kind must give at most COHORT_LOG_BURST (5) lines
#   within the window, and when the daemon stops, a count: the lines
#   written plus the "(N similar lines suppressed)" counts add up to the
#   refusals the daemon reports in its "stopped" line.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $BURST = 5;     # COHORT_LOG_BURST (daemon/log.h)
my $FLOOD_S = 4;   # the flood: half before the revocation, half after

my @SPAWNED;
END {
    local $?;
    for my $p (grep { $_ } @SPAWNED) {
        next if waitpid($p, WNOHANG) != 0;
        kill 'KILL', $p;
        waitpid($p, 0);
    }
}

my $dir = tmpdir();
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
my $fp = substr($pub{agent}, 0, 8);
sub write_access {
    my (@who) = @_;
    my %line = (agent => 'agent wm-police', op => 'operator');
    open my $fh, '>', "$dir/data/access.tmp" or die;
    print $fh "$pub{$_} $line{$_}\n" for @who;
    close $fh;
    rename "$dir/data/access.tmp", "$dir/data/access" or die;
}
write_access(qw(agent op));

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my $spub = "$d->{data}/server.pub";

# --- forgery -----------------------------------------------------------------
my $forged = "<2>auth: accepted key AAAAAAAA as operator from 10.0.0.1";
my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--data-dir', $d->{data}, '--key',
                                "$keys/op.key", "$dir/bk\n$forged"], timeout => 60);
diag "backup: exit $rc $err";
my $log = log_of($d);
like($log, qr/control: backup to \S*bk\\x0a<2>auth: accepted key AAAAAAAA/,
     'the path is logged with its newline escaped as \x0a');
unlike($log, qr/^<2>auth: accepted/m, 'no line of the log starts with the forged text');
my @bad = grep { /[\x00-\x08\x0b-\x1f\x7f]/ } split /\n/, $log;
is(scalar @bad, 0, 'no control byte anywhere in the log');

# --- flood of refusals from one key ---------------------------------------------
my $zf = "$dir/zflood.out";
my $zpid = fork() // die;
if (!$zpid) {
    open STDOUT, '>', $zf or die;
    open STDERR, '>', "$zf.err" or die;
    exec bin('zflood'), 'ingest', $d->{endpoint}, '--kind', 'reject', '--size', '200',
        '--conns', '2', '--read', '--seconds', $FLOOD_S, '--key', "$keys/agent.key",
        '--server-key', $spub or die;
}
push @SPAWNED, $zpid;
sleep $FLOOD_S / 2;
write_access(qw(op));    # revoke the agent key while its connections stay open
kill 'HUP', $d->{pid};
my $st = wait_exit($zpid, $FLOOD_S + 30);
is(defined $st ? $st >> 8 : -1, 0, 'zflood ran') or diag AgentTest::slurp("$zf.err");
my ($z) = map { decode_json($_) } grep { /^\{/ } split /\n/, do { local $/; open my $f, '<', $zf; <$f> // '' };
diag "zflood: " . encode_json($z // {});

$log = log_of($d);
my @unauth = grep { /^<4>ingest: key \Q$fp\E .* events it may not write/ } split /\n/, $log;
my @revoked = grep { /^<4>ingest: refused a frame from key \Q$fp\E/ } split /\n/, $log;
ok(@unauth >= 1 && @unauth <= $BURST,
   "refused events: " . scalar(@unauth) . " lines during the flood (at most $BURST)");
ok(@revoked >= 1 && @revoked <= $BURST,
   "frames on the revoked connections: " . scalar(@revoked) . " lines (at least one, at most $BURST)");

diag log_of($d) if $ENV{SHOWLOG};
stop_daemon($d);
$log = log_of($d);
my ($rejected, $frames_refused) = $log =~ /stopped at seq \d+: \d+ accepted, \d+ duplicate, (\d+) rejected, (\d+) frames refused/;
ok(defined $rejected, 'the daemon stopped and reported its counts') or diag $log;
sub tally {
    my ($re) = @_;
    my @l = grep { /$re/ } split /\n/, $log;
    my $sum = 0;
    for (@l) { $sum += $1 if /\((\d+) similar lines suppressed\)$/ }
    return (scalar @l, $sum, scalar grep { /similar lines suppressed\)$/ } @l);
}
my ($ul, $us, $uc) = tally(qr/^<4>ingest: key \Q$fp\E .* events it may not write/);
my ($rl, $rs, $rc2) = tally(qr/^<4>ingest: refused a frame from key \Q$fp\E/);
diag "refused events: $ul lines + $us suppressed; daemon rejected $rejected events";
diag "revoked frames: $rl lines + $rs suppressed; daemon refused $frames_refused frames";
ok($ul <= $BURST + 1 && $uc >= 1, "refused events: at most $BURST + 1 lines, one with a count");
is($ul + $us, $rejected, 'lines + suppressed counts = events the daemon refused');
ok($rejected > 10000, "a real flood: $rejected refusals");
ok($rl <= $BURST + 1, "revoked frames: at most $BURST + 1 lines");
is($rl + $rs, $frames_refused, 'lines + suppressed counts = frames the daemon refused');
ok($frames_refused > 100, "frames refused after the revocation: $frames_refused");
my $lines = () = $log =~ /\n/g;
ok($lines < 200, "the whole log of this run is $lines lines");
done_testing();
