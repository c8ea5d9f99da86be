#!/usr/bin/perl
# systemd: the units and the daemon's side of the notify protocol.
# (a) `systemd-analyze verify` passes, without a single warning, on
#     cohortd.service and an instance of cohort-agent@.service, as they are
#     (unchanged), in a temporary root that holds the host's own units and
#     the built cohortd and cohort-agent as /usr/bin/cohortd and
#     /usr/bin/cohort-agent (so the check that ExecStart= names an
#     executable is made for real) and the built man pages (so are the
#     Documentation= pages); controls show that a missing binary and an
#     unknown key are reported.
# (b) `systemd-analyze security --offline=true` rates cohortd.service (and
#     the agent) at an exposure of 2.0 or lower ("OK").
# (c) The daemon under NOTIFY_SOCKET (a datagram socket of this test) with
#     WATCHDOG_USEC and WATCHDOG_PID: the first message is READY=1, and when
#     it arrives every endpoint already accepts connections; STATUS= gives
#     the sequence, which moves after a send, and the connected agents and
#     subscribers (plain-text mode); WATCHDOG=1 every half interval;
#     RELOADING=1 then READY=1 on SIGHUP; STOPPING=1 on SIGTERM. WATCHDOG_PID
#     of another process: no pings. No NOTIFY_SOCKET: nothing is sent.
# (d) With CURVE, plain-text clients that fail the handshake are not counted
#     as agents or subscribers; keyed ones are.
# (e) Both units' seccomp rules, applied by tests/tools/sandbox as systemd
#     would (a refused call kills here): the daemon with CURVE, sends, an
#     online backup, SIGHUP and a clean stop, and cohort-agent watch, all
#     work; a control shows the rules bite.
# The systemd-analyze parts are skipped only when systemd-analyze is
# missing, (e) also when the sandbox tool is not built (libseccomp-dev);
# .ci/setup installs both.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use Cwd qw(abs_path);
use File::Copy qw(copy);
use File::Spec;
use IO::Select;
use IO::Socket::INET;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_DGRAM SOCK_STREAM);
use Time::HiRes qw(sleep time);

my $units = repo_root() . '/systemd';

# ------------------------------------------------------------ (a), (b) ---
sub which { for my $d (split /:/, $ENV{PATH} // '/usr/bin:/bin') { return "$d/$_[0]" if -x "$d/$_[0]" } undef }
my $analyze = which('systemd-analyze');

SKIP: {
    skip 'systemd-analyze is not installed (.ci/setup installs systemd)', 13 unless $analyze;
    my $sysunits = -d '/usr/lib/systemd/system' ? '/usr/lib/systemd/system' : '/lib/systemd/system';
    my $root = tmpdir();
    mkdir "$root/$_" or die "$root/$_: $!" for qw(usr usr/bin usr/lib usr/lib/systemd etc etc/systemd etc/systemd/system);
    symlink('usr/bin', "$root/bin") or die;
    my ($rc) = run_cmd(['cp', '-a', $sysunits, "$root/usr/lib/systemd/system"]);
    die "copying $sysunits failed" if $rc != 0;
    my $kill = abs_path(which('kill') // '/bin/kill');
    for ([bin('cohortd'), 'cohortd'], [bin('cohort-agent'), 'cohort-agent'], [$kill, 'kill']) {
        copy($_->[0], "$root/usr/bin/$_->[1]") or die "copy $_->[0]: $!";
        chmod 0755, "$root/usr/bin/$_->[1]";
    }
    copy("$units/$_", "$root/etc/systemd/system/$_") or die "$_: $!"
        for 'cohortd.service', 'cohort-agent@.service';
    # Documentation= names man pages: verify looks each up with `man`. The
    # build makes them (build/man/NAME.N); put them in the root's man tree
    # and point MANPATH there, so that check is made too. Without `man` or
    # the generated pages it is left out (--man=no), and said so.
    my $mandir = (File::Spec->splitpath(bin('cohortd')))[1] . 'man';
    my (@pages, @missing);
    for my $u ('cohortd.service', 'cohort-agent@.service') {
        open my $fh, '<', "$units/$u" or die;
        while (<$fh>) { push @pages, [$1, $2] while /man:([\w.-]+)\((\d)\)/g }
    }
    for (@pages) {
        my ($name, $sec) = @$_;
        mkdir "$root/usr/share";
        mkdir "$root/usr/share/man";
        mkdir "$root/usr/share/man/man$sec";
        if (-f "$mandir/$name.$sec") { copy("$mandir/$name.$sec", "$root/usr/share/man/man$sec/$name.$sec") or die }
        else { push @missing, "$name($sec)" }
    }
    my $man = which('man') && !@missing;
    diag(which('man') ? "man pages not built: @missing; verify runs with --man=no"
                      : 'no man(1) here; verify runs with --man=no') unless $man;
    local $ENV{MANPATH} = "$root/usr/share/man";
    my @verify = ($analyze, 'verify', $man ? '--man=yes' : '--man=no', "--root=$root");
    for my $u ('cohortd.service', 'cohort-agent@wm-police.service') {
        my ($rc, $out, $err) = run_cmd([@verify, $u]);
        is($rc, 0, "systemd-analyze verify $u: exit 0");
        is("$out$err", '', "systemd-analyze verify $u: no warnings");
    }
    # Controls: the same command reports a missing binary and a bad key.
    rename "$root/usr/bin/cohortd", "$root/usr/bin/cohortd.away" or die;
    my ($crc, $cout, $cerr) = run_cmd([@verify, 'cohortd.service']);
    isnt($crc, 0, 'control: verify fails when /usr/bin/cohortd is missing from the root');
    like("$cout$cerr", qr{/usr/bin/cohortd}, 'control: ... and names it');
    rename "$root/usr/bin/cohortd.away", "$root/usr/bin/cohortd" or die;
    {
        open my $in, '<', "$units/cohortd.service" or die;
        open my $out, '>', "$root/etc/systemd/system/cohortd-control.service" or die;
        while (<$in>) { print $out $_; print $out "NoSuchKey=1\n" if /^\[Service\]/ }
    }
    ($crc, $cout, $cerr) = run_cmd([@verify, 'cohortd-control.service']);
    like("$cout$cerr", qr/NoSuchKey/, 'control: verify reports an unknown key in a copy of the unit');
    unlink "$root/etc/systemd/system/cohortd-control.service";

    # (b) exposure. --threshold=20: exit status non-zero above 2.0.
    for my $u ('cohortd.service', 'cohort-agent@wm-police.service') {
        my ($rc, $out, $err) =
            run_cmd([$analyze, 'security', '--offline=true', "--root=$root", '--threshold=20', $u]);
        my ($score) = "$out$err" =~ /Overall exposure level for \Q$u\E:\s*([0-9]+(?:\.[0-9]+)?)/;
        ok(defined $score, "systemd-analyze security $u: an exposure score") or diag "$out$err";
        $score //= 99;
        diag("systemd-analyze security --offline=true $u: exposure $score");
        cmp_ok($score, '<=', 2.0, "$u: exposure $score <= 2.0");
        is($rc, 0, "$u: --threshold=20 (2.0) passes");
        if ($u eq 'cohortd.service') {
            my @bad = grep { /^\s*\S*✗/ } split /\n/, $out;
            note("not restricted (by design, see the unit): $_") for @bad;
        }
    }
}

# ----------------------------------------------------------------- (c) ---
my $dir = tmpdir();
my $nsock_path = "$dir/notify.sock";
my $ns = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $nsock_path)
    or die "notify socket $nsock_path: $!";
my $sel = IO::Select->new($ns);
my $t0 = time;

# Messages received so far: [{t => seconds since $t0, text, kv => {K => V}}].
my @msgs;
sub take {    # waits up to $secs for one message; returns it or undef
    my ($secs) = @_;
    return undef unless $sel->can_read($secs);
    my $buf = '';
    defined $ns->recv($buf, 65536) or return undef;
    my %kv = map { /^([A-Z_]+)=(.*)$/s ? ($1 => $2) : () } split /\n/, $buf;
    my $m = { t => time - $t0, text => $buf, kv => \%kv };
    push @msgs, $m;
    return $m;
}
# Reads until $cond->($msg) holds for a new message, or $secs pass.
sub wait_msg {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while ((my $left = $until - time) > 0) {
        my $m = take($left) or next;
        return $m if $cond->($m);
    }
    return undef;
}
sub drain { 1 while take(0) }
sub status_of { my ($m) = @_; $m && defined $m->{kv}{STATUS} ? $m->{kv}{STATUS} : '' }

# Starts cohortd (plain text unless @extra says otherwise) with NOTIFY_SOCKET
# and the given environment; WATCHDOG_PID => 'self' is the daemon's own pid
# (set by sh, which then execs cohortd in place).
my @started;    # daemons this test started: killed at the end if still running
my $main_pid = $$;
END { local $?; if ($$ == $main_pid) { for (@started) { kill 'KILL', $_ if waitpid($_, WNOHANG) == 0 } } }
sub start_notified {
    my (%o) = @_;
    my $d = { dir => $o{dir}, log => "$o{dir}/cohortd.log", from => 0, data => "$o{dir}/data",
              endpoint => $o{endpoint} // "ipc://$o{dir}/ingest", publish => "ipc://$o{dir}/pub",
              snapshot => "ipc://$o{dir}/snap", control => "ipc://$o{dir}/control.sock" };
    $d->{from} = -s $d->{log} // 0;
    my @cmd = (bin('cohortd'), '--data-dir', $d->{data}, '--ingest', $d->{endpoint},
               '--publish', $d->{publish}, '--snapshot', $d->{snapshot}, '--control',
               $d->{control}, @{ $o{args} // ['--plaintext'] });
    my $pid = fork() // die "fork: $!";
    push @started, $pid if $pid;
    if (!$pid) {
        open STDERR, '>>', $d->{log} or die;
        open STDOUT, '>>', $d->{log} or die;
        delete @ENV{qw(NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID)};
        $ENV{NOTIFY_SOCKET} = $nsock_path if $o{notify} // 1;
        $ENV{WATCHDOG_USEC} = $o{watchdog_usec} if $o{watchdog_usec};
        @cmd = (@{ $o{wrap} }, @cmd) if $o{wrap};    # it must exec the rest in place
        if (($o{watchdog_pid} // '') eq 'self') {
            exec 'sh', '-c', 'WATCHDOG_PID=$$ exec "$@"', 'sh', @cmd or die "exec: $!";
        }
        $ENV{WATCHDOG_PID} = $o{watchdog_pid} if defined $o{watchdog_pid};
        exec @cmd or die "exec: $!";
    }
    $d->{pid} = $pid;
    return $d;
}

# 1 if a stream connection to the ipc:// endpoint's socket file is accepted.
sub accepts {
    my ($ep) = @_;
    (my $path = $ep) =~ s{^ipc://}{};
    my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $path) or return 0;
    close $s;
    return 1;
}

my $d = start_notified(dir => $dir, watchdog_usec => 1_000_000, watchdog_pid => 'self');
my $first = take(20);
ok($first, 'a notify message arrives') or BAIL_OUT("no notify message; log:\n" . log_of($d));
# Checked at once: had READY=1 been sent before a bind, a socket would be missing.
my %up = map { $_ => accepts($d->{$_}) } qw(endpoint publish snapshot control);
my $log_at_ready = log_of($d);
is($first->{kv}{READY}, '1', 'the first message is READY=1') or diag $first->{text};
is_deeply(\%up, { map { $_ => 1 } keys %up },
          'when READY=1 arrives, ingest, publish, snapshot and control all accept connections');
like($log_at_ready, qr/ready:/, 'and the daemon had already logged its "ready:" line');
like(status_of($first), qr/^seq 0, 0 agents, 0 subscribers/, 'READY=1 comes with STATUS=seq 0, ...')
    or diag $first->{text};

# WATCHDOG=1 every WATCHDOG_USEC/2 = 0.5 s, from the loop.
my @dog;
my $until = time + 2.2;
while (time < $until) {
    my $m = take($until - time) or next;
    push @dog, $m->{t} if ($m->{kv}{WATCHDOG} // '') eq '1';
}
cmp_ok(scalar @dog, '>=', 3, 'WATCHDOG=1 arrives repeatedly (' . scalar(@dog) . ' in 2.2 s)');
cmp_ok(scalar @dog, '<=', 6, 'and not more often than every half interval');
my @gaps = map { $dog[$_] - $dog[$_ - 1] } 1 .. $#dog;
ok(@gaps && !grep({ $_ < 0.2 || $_ > 1.2 } @gaps), 'pings are about 0.5 s apart')
    or diag "gaps: @gaps";

# STATUS= follows the sequence.
my $N = 300;
write_jsonl("$dir/ev.jsonl", make_events($N, 61));
my ($rc, $res, $err) = agent_send($d, "$dir/ev.jsonl");
is($rc, 0, "$N events sent") or diag $err;
my $st = wait_msg(5, sub { status_of($_[0]) =~ /^seq $N,/ });
ok($st, "STATUS= moves to seq $N after the send") or diag join "\n", map { $_->{text} } @msgs[-5 .. -1];

# Connected subscribers and agents (plain text: counted all the same).
my $w = start_watch($d, ['--timeout-s', '30'], '');
$st = wait_msg(6, sub { status_of($_[0]) =~ /, 1 subscriber\b/ });
ok($st, 'a cohort-watch shows as "1 subscriber"') or diag status_of($msgs[-1]);
stop_watch($w);
$st = wait_msg(6, sub { status_of($_[0]) =~ /, 0 subscribers\b/ });
ok($st, 'and as "0 subscribers" once it has gone');
mkdir "$dir/spool" or die;
my $apid = fork() // die;
if (!$apid) {
    open STDOUT, '>', "$dir/agent.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec bin('cohort-agent'), 'watch', '--endpoint', $d->{endpoint}, '--outbox', "$dir/outbox",
        "$dir/spool" or die;
}
$st = wait_msg(6, sub { status_of($_[0]) =~ /, 1 agent,/ });
ok($st, 'a running cohort-agent watch shows as "1 agent"') or diag status_of($msgs[-1]);
kill 'TERM', $apid;
ok(defined wait_exit($apid, 10), 'the agent stops');
$st = wait_msg(6, sub { status_of($_[0]) =~ /, 0 agents,/ });
ok($st, 'and shows as "0 agents" once it has gone');

# SIGHUP: RELOADING=1, then READY=1.
drain();
kill 'HUP', $d->{pid};
my $rl = wait_msg(5, sub { defined $_[0]{kv}{RELOADING} || defined $_[0]{kv}{READY} });
is($rl && $rl->{kv}{RELOADING}, '1', 'SIGHUP: RELOADING=1 first') or diag $rl && $rl->{text};
like($rl ? $rl->{kv}{MONOTONIC_USEC} // '' : '', qr/^\d+$/, 'with MONOTONIC_USEC=');
my $rd = wait_msg(5, sub { defined $_[0]{kv}{READY} });
ok($rd && $rd->{kv}{READY} eq '1', 'then READY=1');

# SIGTERM: STOPPING=1, then a clean exit.
drain();
kill 'TERM', $d->{pid};
my $stop = wait_msg(10, sub { defined $_[0]{kv}{STOPPING} });
ok($stop && $stop->{kv}{STOPPING} eq '1', 'SIGTERM: STOPPING=1') or diag log_of($d);
like(status_of($stop), qr/^stopping at seq $N\b/, 'with a last STATUS= line');
my $status = wait_exit($d->{pid}, 30);
is($status, 0, 'the daemon exits 0');

# WATCHDOG_PID of another process: READY=1 but no pings. The watchdog
# settings are for that process, not this one (sd_watchdog_enabled).
drain();
my $d2 = start_notified(dir => $dir, watchdog_usec => 200_000, watchdog_pid => 1);
my $r2 = wait_msg(20, sub { defined $_[0]{kv}{READY} });
ok($r2, 'WATCHDOG_PID=1: READY=1 still arrives');
my $pings = 0;
$until = time + 1.0;
while (time < $until) { my $m = take($until - time) or next; $pings++ if $m->{kv}{WATCHDOG} }
is($pings, 0, 'WATCHDOG_PID=1: no WATCHDOG=1 (the interval is not for this pid)');
kill 'TERM', $d2->{pid};
is(wait_exit($d2->{pid}, 30), 0, 'and it exits 0');

# No NOTIFY_SOCKET: nothing at all, and the daemon runs as usual.
drain();
my $d3 = start_notified(dir => $dir, notify => 0, watchdog_usec => 200_000, watchdog_pid => 'self');
my $t = time;
sleep 0.05 until log_of($d3) =~ /ready:/ || time - $t > 20;
like(log_of($d3), qr/ready:/, 'without NOTIFY_SOCKET: the daemon becomes ready');
ok(!take(1.0), 'without NOTIFY_SOCKET: no message is sent');
kill 'TERM', $d3->{pid};
is(wait_exit($d3->{pid}, 30), 0, 'and it exits 0');

# ----------------------------------------------------------------- (d) ---
# CURVE: plain-text clients fail the handshake and are not counted.
{
    my $cd = tmpdir();
    mkdir "$cd/keys" or die;
    mkdir "$cd/data", 0700 or die;
    my %pub;
    for my $n (qw(board agent)) {
        my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$cd/keys/$n"]);
        die "keygen $n: $err" if $rc != 0;
        open my $fh, '<', "$cd/keys/$n.pub" or die;
        local $/;
        ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die;
    }
    open my $fh, '>', "$cd/data/access" or die;
    print $fh "$pub{board} board\n$pub{agent} agent wm-police\n";
    close $fh;
    drain();
    my $c = start_notified(dir => $cd, args => []);
    my $r = wait_msg(20, sub { defined $_[0]{kv}{READY} });
    ok($r, 'CURVE: READY=1') or diag log_of($c);
    my $spub = "$c->{data}/server.pub";
    local $ENV{COHORT_PLAINTEXT};
    delete $ENV{COHORT_PLAINTEXT};
    # plain-text clients: one subscriber, one agent; both fail their handshake
    mkdir "$cd/spool" or die;
    my $pw = start_watch($c, ['--plaintext', '--timeout-s', '30'], '');
    my $pa = fork() // die;
    if (!$pa) {
        open STDOUT, '>', "$cd/plain-agent.log" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec bin('cohort-agent'), 'watch', '--plaintext', '--endpoint', $c->{endpoint},
            '--outbox', "$cd/outbox-plain", "$cd/spool" or die;
    }
    my $t1 = time;
    sleep 0.1 until log_of($c) =~ /ingest: handshake failed/ && log_of($c) =~ /publish: handshake failed/
        || time - $t1 > 10;
    like(log_of($c), qr/ingest: handshake failed/, 'CURVE: the plain-text agent fails its handshake');
    like(log_of($c), qr/publish: handshake failed/, 'CURVE: the plain-text subscriber fails its handshake');
    sleep 1.5;    # a STATUS refresh after the failures
    drain();
    my $cur = (grep { status_of($_) } @msgs)[-1];
    like(status_of($cur), qr/, 0 agents, 0 subscribers/,
         'CURVE: failed handshakes are counted as neither agents nor subscribers')
        or diag status_of($cur);
    # keyed clients count
    my $kw = start_watch($c, ['--key', "$cd/keys/board.key", '--server-key', $spub,
                              '--timeout-s', '30'], 'cohort/');
    my $ka = fork() // die;
    if (!$ka) {
        open STDOUT, '>', "$cd/agent.log" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec bin('cohort-agent'), 'watch', '--key', "$cd/keys/agent.key", '--server-key', $spub,
            '--endpoint', $c->{endpoint}, '--outbox', "$cd/outbox", "$cd/spool" or die;
    }
    my $both = wait_msg(8, sub { status_of($_[0]) =~ /, 1 agent, 1 subscriber\b/ });
    ok($both, 'CURVE: the keyed agent and subscriber count: "1 agent, 1 subscriber"')
        or diag join "\n", map { status_of($_) } grep { status_of($_) } @msgs[-6 .. -1];
    kill 'TERM', $ka, $pa;
    wait_exit($_, 10) for $ka, $pa;
    stop_watch($_) for $kw, $pw;
    my $gone = wait_msg(8, sub { status_of($_[0]) =~ /, 0 agents, 0 subscribers/ });
    ok($gone, 'CURVE: and "0 agents, 0 subscribers" once they have gone');
    kill 'TERM', $c->{pid};
    is(wait_exit($c->{pid}, 30), 0, 'CURVE: the daemon exits 0');
}

# ----------------------------------------------------------------- (e) ---
# The units' seccomp rules for real: tests/tools/sandbox applies the
# SystemCallFilter= set and the RestrictAddressFamilies= list read from
# each unit (groups expanded by systemd-analyze, in the unit's order), and
# the fixed effects of SystemCallArchitectures=native,
# MemoryDenyWriteExecute=, RestrictNamespaces= and NoNewPrivileges= (checked
# to be in the units), the way systemd does. A
# call outside the set kills the process (SIGSYS) here, where systemd would
# return EPERM: stricter, so nothing goes unnoticed. Under it: the daemon
# with CURVE (first-run key made with libsodium) and its agents' endpoint
# on tcp://127.0.0.1, keyed agents' sends over TCP, an
# online backup (RocksDB checkpoint), SIGHUP, notify messages, a clean
# stop; and a cohort-agent watch under its own unit's set.
SKIP: {
    my $sandbox = eval { bin('sandbox') };
    skip 'systemd-analyze is not installed (.ci/setup installs systemd)', 15 unless $analyze;
    skip 'tests/tools/sandbox is not built (needs libseccomp-dev: .ci/setup)', 15 unless $sandbox;
    my %seen;
    my $expand;
    $expand = sub {
        my ($name) = @_;
        return ($name) unless $name =~ /^@/;
        my ($rc, $out, $err) = run_cmd([$analyze, 'syscall-filter', $name]);
        die "systemd-analyze syscall-filter $name: $err" if $rc != 0;
        return map { $expand->($_) } grep { !/^#/ } map { /^\s+(\S+)/ ? $1 : () } split /\n/, $out;
    };
    # The unit's allow list, as systemd builds it: the first (allow) line
    # sets it, later lines add, or remove with '~'.
    my $allow_file = sub {
        my ($unit) = @_;
        open my $fh, '<', "$units/$unit" or die "$unit: $!";
        my (%set, $first, %line);
        while (<$fh>) {
            $line{$1} = $2 if /^(\w+)=(.*)$/ && $1 ne 'SystemCallFilter';
            next unless /^SystemCallFilter=(~?)(.*)$/;
            my ($neg, @names) = ($1, split ' ', $2);
            die "$unit: the first SystemCallFilter= must be an allow list" if !$first++ && $neg;
            for my $n (map { $expand->($_) } @names) { if ($neg) { delete $set{$n} } else { $set{$n} = 1 } }
        }
        my $f = tmpdir() . "/allow";
        open my $out, '>', $f or die;
        print $out "$_\n" for sort keys %set;
        close $out;
        return ($f, scalar(keys %set), \%line);
    };
    my %fixed = (SystemCallArchitectures => 'native', MemoryDenyWriteExecute => 'yes', RestrictNamespaces => 'yes', NoNewPrivileges => 'yes',
                 SystemCallErrorNumber => 'EPERM');
    my ($dallow, $dn, $dl) = $allow_file->('cohortd.service');
    my ($aallow, $an, $al) = $allow_file->('cohort-agent@.service');
    is_deeply({ map { $_ => $dl->{$_} } keys %fixed }, \%fixed, 'cohortd.service has the settings sandbox reproduces');
    is_deeply({ map { $_ => $al->{$_} } keys %fixed }, \%fixed, 'cohort-agent@.service too');
    note("allowed system calls: cohortd.service $dn, cohort-agent\@.service $an");

    my $sd = tmpdir();
    mkdir "$sd/keys" or die;
    mkdir "$sd/data", 0700 or die;
    mkdir "$sd/spool" or die;
    my %pub;
    for my $n (qw(agent coord op)) {
        my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$sd/keys/$n"]);
        die "keygen $n: $err" if $rc != 0;
        open my $fh, '<', "$sd/keys/$n.pub" or die;
        local $/;
        ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die;
    }
    open my $fh, '>', "$sd/data/access" or die;
    print $fh "$pub{agent} agent wm-police\n$pub{coord} coordinator programmes=it-62\n$pub{op} operator\n";
    close $fh;
    # LeakSanitizer (sanitizer builds) needs ptrace, which no service gets.
    local $ENV{ASAN_OPTIONS} = join ':', grep { $_ } $ENV{ASAN_OPTIONS}, 'detect_leaks=0';
    local $ENV{COHORT_PLAINTEXT};
    delete $ENV{COHORT_PLAINTEXT};
    drain();
    # a free port on 127.0.0.1 for the agents' endpoint (tcp:// takes another path in libzmq)
    my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "no free port: $!";
    my $tcp = 'tcp://127.0.0.1:' . $probe->sockport;
    close $probe;
    my @dsand = ($sandbox, '--allow', $dallow, '--families', $dl->{RestrictAddressFamilies});
    my $c = start_notified(dir => $sd, args => [], endpoint => $tcp, watchdog_usec => 1_000_000,
                           watchdog_pid => 'self', wrap => [@dsand, '--on-deny', 'kill', '--']);
    my $r = wait_msg(20, sub { defined $_[0]{kv}{READY} });
    ok($r, 'sandboxed daemon (CURVE, first run): READY=1') or diag log_of($c);
    like(log_of($c), qr/first run: made the server keypair/, 'sandboxed daemon: made its keypair');
    my $spub = "$sd/data/server.pub";
    my @curve = ('--key', "$sd/keys/agent.key", '--server-key', $spub);
    # the definitions with the coordinator's key, then wm-police's events with its agent key
    my $ev = make_events(150, 62);    # setup, then attendance 1..8
    my @mine = grep { $_->{agency} eq 'wm-police' } @$ev[2 .. $#$ev];
    write_jsonl("$sd/defs.jsonl", [@$ev[0, 1]]);
    write_jsonl("$sd/ev.jsonl", \@mine);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--endpoint', $c->{endpoint},
                                    '--key', "$sd/keys/coord.key", '--server-key', $spub,
                                    "$sd/defs.jsonl"], timeout => 60);
    is($rc, 0, 'sandboxed daemon: a coordinator key sends the definitions') or diag "$out$err";
    ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--endpoint', $c->{endpoint}, @curve,
                                 "$sd/ev.jsonl"], timeout => 60);
    is($rc, 0, 'sandboxed daemon: an agent key sends ' . scalar(@mine) . ' events')
        or diag "$out$err\n" . log_of($c);
    {
        local $ENV{COHORT_KEY} = "$sd/keys/op.key";
        local $ENV{COHORT_SERVER_KEY} = $spub;
        ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--control', $c->{control},
                                     "$sd/backup"], timeout => 60);
    }
    is($rc, 0, 'sandboxed daemon: an online backup') or diag "$out$err\n" . log_of($c);
    drain();
    kill 'HUP', $c->{pid};
    ok(wait_msg(5, sub { defined $_[0]{kv}{READY} }), 'sandboxed daemon: SIGHUP reload, READY=1 again');
    ok(wait_msg(3, sub { defined $_[0]{kv}{WATCHDOG} }), 'sandboxed daemon: WATCHDOG=1');

    # the agent under its own unit's set: watch picks up a spool file
    my @more = grep { $_->{agency} eq 'wm-police' } @{ attendance_events(200, 62) }[8 .. 199];
    write_jsonl("$sd/spool/.drop.tmp", \@more);
    my $seq = 2 + @mine + @more;
    my $ap = fork() // die;
    if (!$ap) {
        open STDOUT, '>', "$sd/agent.log" or die;
        open STDERR, '>&', \*STDOUT or die;
        exec $sandbox, '--allow', $aallow, '--families', $al->{RestrictAddressFamilies}, '--on-deny',
            'kill', '--', bin('cohort-agent'), 'watch',
            @curve, '--endpoint', $c->{endpoint}, '--outbox', "$sd/outbox", "$sd/spool" or die;
    }
    rename "$sd/spool/.drop.tmp", "$sd/spool/drop.jsonl" or die;
    my $t2 = time;
    sleep 0.1 until -e "$sd/spool/done/drop.jsonl" || time - $t2 > 20;
    ok(-e "$sd/spool/done/drop.jsonl", 'sandboxed agent: a spool file is sent and moved to done/')
        or diag _slurp("$sd/agent.log");
    kill 'TERM', $ap;
    is(wait_exit($ap, 15), 0, 'sandboxed agent: exits 0 on SIGTERM (not killed by SIGSYS)')
        or diag _slurp("$sd/agent.log");
    ok(wait_msg(5, sub { status_of($_[0]) =~ /^seq $seq,/ }), "sandboxed daemon: STATUS=seq $seq");
    kill 'TERM', $c->{pid};
    is(wait_exit($c->{pid}, 30), 0, 'sandboxed daemon: exits 0 on SIGTERM (not killed by SIGSYS)')
        or diag log_of($c);

    # Control: the sandbox bites. Without the unit's SystemCallFilter=
    # sched_setscheduler line, and with EPERM for refused calls as systemd
    # gives them, libzmq aborts the daemon as its first thread starts.
    my $strict = tmpdir() . '/allow';
    {
        open my $in, '<', $dallow or die;
        open my $out, '>', $strict or die;
        print $out grep { $_ ne "sched_setscheduler\n" } <$in>;
    }
    my $x = start_notified(dir => tmpdir(), notify => 0,
                           wrap => [$sandbox, '--allow', $strict, '--on-deny', 'eperm', '--']);
    my $xs = wait_exit($x->{pid}, 20);
    kill 'KILL', $x->{pid} unless defined $xs;
    ok(defined $xs && ($xs & 127) == 6 && log_of($x) =~ /thread\.cpp/,
       'control: without sched_setscheduler, libzmq aborts (SIGABRT) on EPERM')
        or diag 'status ' . ($xs // 'none') . "\n" . log_of($x);
    # and without AF_NETLINK, binding a tcp:// endpoint aborts in libzmq
    (my $fam = $dl->{RestrictAddressFamilies}) =~ s/\s*AF_NETLINK//;
    $x = start_notified(dir => tmpdir(), notify => 0, endpoint => $tcp,
                        wrap => [$sandbox, '--allow', $dallow, '--families', $fam, '--on-deny', 'eperm', '--']);
    $xs = wait_exit($x->{pid}, 20);
    kill 'KILL', $x->{pid} unless defined $xs;
    ok(defined $xs && ($xs & 127) == 6 && log_of($x) =~ /ip_resolver\.cpp/,
       "control: with RestrictAddressFamilies=$fam, libzmq aborts (SIGABRT) binding $tcp")
        or diag 'status ' . ($xs // 'none') . "\n" . log_of($x);
}
sub _slurp { my ($p) = @_; open(my $f, '<', $p) or return ''; local $/; <$f> // '' }

done_testing();
