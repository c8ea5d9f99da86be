#!/usr/bin/perl
# The publish-scope race (issue 13, item 1), against the real daemon over
# CURVE: while status changes all the time, many subscribers of different
# roles subscribe, reconnect every few hundred milliseconds, and one key is
# revoked and restored by SIGHUP every 2 s; meanwhile a key with no read
# rights (an agent key) and an HR key of another agency flood the publish
# socket with subscribe, unsubscribe and non-subscription messages. No
# connection may ever receive a topic outside its key's scope.
#
# tests/tools/zrace speaks to an XPUB (the old publisher) and to a ROUTER
# (the current one) alike. Against the XPUB publisher (libzmq 4.3.4, manual
# mode; commit 3bd467e) this test failed in 5 runs of 5 on this machine:
# HR and board connections got other agencies' topics (agency/...) or
# cohort topics 0.1-2.6 s after the subscribers started. It runs 20 s
# (COHORT_RACE_SECONDS), several times the slowest of those.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $secs = $ENV{COHORT_RACE_SECONDS} // 20;
my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;

my %pub;
my %line = ('agent-a' => 'agent wm-police', 'agent-b' => 'agent cps-wm', coord => 'coordinator programmes=it-56',
            board => 'board', 'hr-a' => 'agency-hr wm-police', 'hr-b' => 'agency-hr cps-wm',
            'hr-c' => 'agency-hr wm-police');
for my $n (keys %line) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    open my $fh, '<', "$keys/$n.pub" or die;
    local $/;
    ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
sub write_access {
    my (@skip) = @_;
    my %skip = map { $_ => 1 } @skip;
    open my $fh, '>', "$dir/data/access.tmp" or die;
    print $fh "$pub{$_} $line{$_}\n" for grep { !$skip{$_} } sort keys %line;
    close $fh;
    rename "$dir/data/access.tmp", "$dir/data/access" or die;
}
write_access();

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my $spub = "$d->{data}/server.pub";

sub send_as {
    my ($who, $events) = @_;
    my $f = "$dir/ev-$who-$$.jsonl";
    write_jsonl($f, $events);
    my ($rc) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                        '--key', "$keys/$who.key", '--server-key', $spub, $f], timeout => 60);
    return $rc;
}

# Programme, cohort and participants of two agencies.
my $setup = setup_events(56);
is(send_as('coord', [@$setup[0, 1]]), 0, 'definitions written');
my %agent_of = ('wm-police' => 'agent-a', 'cps-wm' => 'agent-b');
my (%setup, %att);
push @{ $setup{ $_->{agency} } }, $_ for grep { $agent_of{ $_->{agency} } } @$setup[2 .. $#$setup];
push @{ $att{ $_->{agency} } }, $_ for grep { $agent_of{ $_->{agency} } } @{ attendance_events(6000, 56) };
is(send_as($agent_of{$_}, $setup{$_}), 0, "$_ participants written") for sort keys %setup;

# Traffic: attendance for both agencies, in small files, until the end.
my $end = time + $secs;
my @kids;
for my $ag (sort keys %att) {
    my $pid = fork() // die;
    if (!$pid) {
        my @ev = @{ $att{$ag} };
        while (time < $end && @ev) {
            send_as($agent_of{$ag}, [splice(@ev, 0, 40)]);
            sleep 0.05;
        }
        exit 0;
    }
    push @kids, $pid;
}

# Subscribers and attackers (zrace prints one JSON line at the end).
my %runs;
sub zrace {
    my ($name, $key, @args) = @_;
    my $pid = fork() // die;
    if (!$pid) {
        open STDOUT, '>', "$dir/$name.out" or die;
        open STDERR, '>', "$dir/$name.err" or die;
        exec bin('zrace'), $d->{publish}, '--key', "$keys/$key.key",
            '--server-key', $spub, '--seconds', $secs, @args or die;
    }
    $runs{$name} = $pid;
}
zrace('board', 'board', '--allow', 'cohort/,programme/,system', '--subscribe', ',cohort/,agency/',
      '--conns', 8, '--reconnect-ms', 400);
zrace('hr-a', 'hr-a', '--allow', 'agency/wm-police/,system', '--subscribe', 'agency/,,cohort/',
      '--conns', 8, '--reconnect-ms', 300);
zrace('hr-b', 'hr-b', '--allow', 'agency/cps-wm/,system', '--subscribe', 'agency/cps-wm/',
      '--conns', 8, '--reconnect-ms', 250);
zrace('hr-c', 'hr-c', '--allow', 'agency/wm-police/,system', '--subscribe', 'agency/wm-police/',
      '--conns', 4, '--reconnect-ms', 500);
zrace('attacker-agent', 'agent-a', '--allow', '-', '--attack', '--conns', 4);
zrace('attacker-hr', 'hr-b', '--allow', 'agency/cps-wm/,system', '--attack', '--conns', 2);

# Revocation churn: hr-c out, then back, every 2 s.
my $hups = 0;
while (time < $end) {
    sleep 1;
    write_access($hups % 2 ? () : ('hr-c'));
    kill 'HUP', $d->{pid};
    $hups++;
    sleep 1;
}
for my $name (sort keys %runs) { waitpid($runs{$name}, 0) }
waitpid($_, 0) for @kids;

my %res;
for my $name (sort keys %runs) {
    open my $fh, '<', "$dir/$name.out" or die;
    my ($l) = grep { /^\{/ } <$fh>;
    $res{$name} = $l ? decode_json($l) : { violations => -1, received => 0 };
    diag "$name: " . CohortTest::_slurp("$dir/$name.err") unless $l;
    is($res{$name}{violations}, 0, "$name: no topic outside its scope")
        or diag "$name: first out-of-scope topic after $res{$name}{first_at} s: $res{$name}{first}";
    note "$name: " . encode_json($res{$name});
}
# The scope checks above mean something only if in-scope topics arrived.
# How many arrive depends on the machine and the build: 218-494 per role in
# the release build on an idle machine, but under ASan on a loaded one the HR
# roles got 1-5 (their agency topics change less often than the board's, and
# each reconnect every few hundred ms starts over). So each role must get at
# least one; the counts are printed (prove -v).
ok($res{board}{received} >= 1, "the board's subscribers got updates ($res{board}{received})");
ok($res{'hr-a'}{received} >= 1, "HR A's subscribers got updates ($res{'hr-a'}{received})");
ok($res{'hr-b'}{received} >= 1, "HR B's subscribers got updates ($res{'hr-b'}{received})");
ok($res{'attacker-agent'}{sent} > 1000, "the attacker sent $res{'attacker-agent'}{sent} messages");
ok($hups >= 4, "$hups SIGHUPs during the run");
ok(alive($d), 'the daemon is still running');
my $log = log_of($d);
my $refusals = () = $log =~ /subscription from key .* refused/g;
ok($refusals < 200, "refusals are rate-limited in the log ($refusals lines)");
unlike($log, qr/^<\d>auth: accepted key forged00/m, 'a subscription cannot forge a log line');
like($log, qr/refused: .*'x\/\\x0a<2>auth: accepted key forged00/,
     '... its prefix is logged with the newline escaped');
stop_daemon($d);
done_testing();
