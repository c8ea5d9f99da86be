#!/usr/bin/perl
# Issue 16 (first contact): cohort-watch and the daemon's refusals, over
# CURVE with keys made by `cohortctl keygen` and the access file:
# - an agency-hr key asking for another agency's prefix, a board key asking
#   for an unknown prefix (a typo), and a board key with one readable and
#   one unreadable prefix stop at once with the daemon's reason on stderr
#   and exit status 3 (the old code retried until --timeout-s: exit 1);
# - --once on a cohort that does not exist, and an operator key's --once on
#   an unknown prefix, say so on stderr and exit 4 with nothing on stdout
#   (the old code printed nothing and exited 0);
# - a key that is not in the access file (the handshake refused with ZAP
#   status 400) stops the same way, exit 3;
# - still retried: a daemon that is not there (exit 1 at --timeout-s, not
#   3), and the key's own prefixes (runs until --timeout-s, exit 0).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use Time::HiRes qw(time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;

my %role = (coord => 'coordinator programmes=it-39', board => 'board',
            'hr-a' => 'agency-hr wm-police', op => 'operator');
my %pub;
for my $n (sort(keys %role), 'stranger') {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    open my $fh, '<', "$keys/$n.pub" or die;
    local $/;
    ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
open my $fh, '>', "$dir/data/access" or die;
print $fh "$pub{$_} $role{$_}   # $_\n" for sort keys %role;
close $fh;

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");

# The programme and its cohort c1, sent with the coordinator key.
my $defs = "$dir/defs.jsonl";
write_jsonl($defs, [@{ setup_events(39) }[0, 1]]);
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                $d->{endpoint}, '--key', "$keys/coord.key", @curve, $defs]);
is($rc, 0, 'programme and cohort defined') or diag $err;

# cohort-watch --json with $who's key; returns (exit, stdout, stderr, seconds).
sub watch {
    my ($who, $args, @prefixes) = @_;
    my $t0 = time;
    my ($rc, $out, $err) = run_cmd([bin('cohort-watch'), '--json', '--publish', $d->{publish},
                                    '--snapshot', $d->{snapshot}, '--key', "$keys/$who.key",
                                    @curve, @$args, @prefixes], timeout => 40);
    return ($rc, $out, $err, time - $t0);
}

# A positive control first: the cohort is there for the board key.
{
    my ($rc, $out, $err) = watch('board', ['--once', '--timeout-s', '20'], 'cohort/it-39/');
    is($rc, 0, '--once on an existing cohort: exit 0') or diag $err;
    ok(grep({ ($_->{topic} // '') eq 'cohort/it-39/c1' } @{ read_jsonl($out) }),
       'and the cohort document printed');
}

# --- refused for good: exit 3 at once, with the daemon's reason ------------
for my $case (['hr-a', "another agency's prefix", 'agency/cps-wm/'],
              ['board', 'an unknown prefix', 'cohorts/it-39/'],
              ['board', 'a readable and an unreadable prefix', 'cohort/', 'agency/wm-police/'],
              ['board', 'an unknown prefix, --once', '--once', 'nosuch/']) {
    my ($who, $what, @p) = @$case;
    my @opt = grep { /^--/ } @p;
    @p = grep { !/^--/ } @p;
    my ($rc, $out, $err, $secs) = watch($who, ['--timeout-s', '20', @opt], @p);
    is($rc, 3, "$who key, $what: exit 3 (refused for good)") or diag $err;
    cmp_ok($secs, '<', 10, '... well before --timeout-s 20');
    like($err, qr/cohort-watch: subscription to '\Q$p[-1]\E' refused: this key's role may not read topics under that prefix; not retrying/,
         '... the daemon\'s reason on stderr');
    is($out, '', '... nothing on stdout');
}
like(log_of($d), qr/publish: subscription from key \S+ \(agency-hr\) refused/, 'the daemon logged the refusal');

# a key that is not in the access file: the daemon's ZAP handler refuses
# the handshake (status 400) on every reconnect
{
    my ($rc, $out, $err, $secs) = watch('stranger', ['--timeout-s', '20'], 'cohort/');
    is($rc, 3, 'a key not in the access file: exit 3 (refused for good)') or diag $err;
    cmp_ok($secs, '<', 10, '... well before --timeout-s 20');
    like($err, qr/refused this key's handshake \(ZAP status 400\): is its public key in the daemon's access file\?; not retrying/,
         '... said on stderr');
}

# --- --once on something that does not exist: exit 4 ------------------------
{
    my ($rc, $out, $err) = watch('board', ['--once', '--timeout-s', '20'], 'cohort/it-39/nope');
    is($rc, 4, '--once on a cohort that does not exist: exit 4') or diag $err;
    like($err, qr{no topic under 'cohort/it-39/nope' \(no such programme or cohort}, '... said on stderr');
    is($out, '', '... nothing on stdout');

    ($rc, $out, $err) = watch('board', ['--once', '--timeout-s', '20'], 'cohort/it-39/', 'cohort/it-40/');
    is($rc, 4, '--once with one existing and one missing prefix: exit 4') or diag $err;
    like($err, qr{no topic under 'cohort/it-40/'}, '... the missing one named');
    unlike($err, qr{no topic under 'cohort/it-39/'}, '... not the existing one');
    ok(grep({ ($_->{topic} // '') eq 'cohort/it-39/c1' } @{ read_jsonl($out) }),
       '... the existing one printed');

    # an operator key may read anything, so an unknown prefix is granted: empty
    ($rc, $out, $err) = watch('op', ['--once', '--timeout-s', '20'], 'nosuch/');
    is($rc, 4, 'operator key, --once on an unknown prefix: exit 4') or diag $err;
    like($err, qr{no topic under 'nosuch/'}, '... said on stderr');
}

# --- transient failures are still retried -----------------------------------
{
    my ($rc, $out, $err, $secs) = watch('hr-a', ['--timeout-s', '3'], 'agency/wm-police/');
    is($rc, 0, "hr key on its own agency's prefix: runs until --timeout-s, exit 0") or diag $err;
    cmp_ok($secs, '>=', 2.5, '... it ran until the timeout');

    ($rc, $out, $err, $secs) = (run_cmd([bin('cohort-watch'), '--json', '--publish', "ipc://$dir/none-pub",
                                         '--snapshot', "ipc://$dir/none-snap", '--key', "$keys/board.key",
                                         @curve, '--timeout-s', '4', 'cohort/'], timeout => 30));
    is($rc, 1, 'no daemon there: retried until --timeout-s, exit 1 (not 3)') or diag $err;
    like($err, qr/no snapshot within 4 s/, '... with the timeout message');
    unlike($err, qr/not retrying/, '... not a refusal');
}

stop_daemon($d);
done_testing();
