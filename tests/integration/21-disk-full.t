#!/usr/bin/perl
# Disk full (issue 4). When RocksDB cannot write (ENOSPC) the daemon must
# stop acking: events get Ack.result UNAVAILABLE and are not stored; it logs
# the cause once at error level (a "<3>" line with RocksDB's reason); it
# keeps serving status snapshots; and once space is free again it recovers
# by itself, so a retrying agent ends with every event ACCEPTED exactly once
# and the log gap-free, also after a restart.
#
# The disk is filled two ways, each run where the machine allows it and
# skipped (with the reason) where it does not:
#   tmpfs    a real, size-limited tmpfs in a private mount namespace
#            (unshare -m as root, else unshare -rm); the daemon and every
#            tool that reads the store run inside it (nsenter), and a filler
#            file fills it. RocksDB preallocates each WAL file (fallocate of
#            about 70 MiB, failure ignored) and on tmpfs a successful
#            preallocation reserves the pages, so WAL appends would never
#            see ENOSPC; a ballast file therefore leaves only HEADROOM_KIB
#            free before the daemon starts, as on a nearly full disk.
#   faultfs  the LD_PRELOAD shim tests/tools/faultfs.c: writes, syncs and
#            fallocates under the data directory fail with ENOSPC while a
#            control file exists.
# Set COHORT_DISKFULL=tmpfs or =faultfs to run one only, and
# COHORT_DISKFULL_USERNS=1 to use the unprivileged namespace even as root.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use Time::Local qw(timegm);

my $TAG = 21;            # test data tag (ids and programme "it-21")
my $GOOD = 150;          # events stored before the disk fills (142 setup + 8 attendance)
my $LATER = 200;         # events sent by the background agent while the disk is full
my $HEADROOM_KIB = 4096; # tmpfs: free space left by the ballast
my $HOLD_S = 3;          # how long the disk stays full after the checks
my $only = $ENV{COHORT_DISKFULL} // '';

# Whatever happens (a die included), nothing this test started outlives it.
my @SPAWNED;
END {
    local $?;
    for my $p (grep { $_ } @SPAWNED) {
        next if waitpid($p, WNOHANG) != 0;    # already reaped or gone
        kill 'KILL', $p;
        waitpid($p, 0);
    }
}

sub have { my ($p) = @_; grep { -x "$_/$p" } split /:/, $ENV{PATH} // '' }

# ---------------------------------------------------------------- tmpfs ---

# Tries to hold a private mount namespace with a tmpfs mounted at DIR/fs
# that supports O_DIRECT (RocksDB flushes with it). Returns the mechanism,
# or (undef, why not).
sub tmpfs_mech {
    my ($dir) = @_;
    return (undef, 'unshare or nsenter is not installed') unless have('unshare') && have('nsenter');
    my @tries = ($> == 0 && !$ENV{COHORT_DISKFULL_USERNS}) ? ([0], [1]) : ([1]);
    my @why;
    for my $t (@tries) {
        my ($userns) = @$t;
        my $mnt = "$dir/fs";
        my $flag = "$dir/fs.ready";
        mkdir $mnt;
        unlink $flag;
        my $pid = fork() // die "fork: $!";
        push @SPAWNED, $pid;
        if (!$pid) {
            open STDOUT, '>', "$dir/holder.log" or die;
            open STDERR, '>&', \*STDOUT or die;
            exec 'unshare', ($userns ? ('-r') : ()), '-m', '--propagation', 'private', 'sh', '-c',
                'mount -t tmpfs -o size=32m tmpfs "$1" || exit 3; '
                . 'dd if=/dev/zero of="$1/probe" bs=4096 count=1 oflag=direct 2>/dev/null '
                . '|| exit 4; '
                . 'rm -f "$1/probe"; : > "$2"; exec sleep 600', 'sh', $mnt, $flag
                or die "exec unshare: $!";
        }
        my $until = time + 10;
        my $st;
        while (time < $until && !-e $flag) {
            if (waitpid($pid, WNOHANG) == $pid) { $st = $?; last }
            sleep 0.02;
        }
        my $how = $userns ? 'unshare -rm' : 'unshare -m';
        if (-e $flag) {
            my @enter = ('nsenter', '-t', $pid, ($userns ? ('-U', '--preserve-credentials') : ()),
                         '-m', '--');
            symlink("$mnt/db", "$dir/data") or die "symlink: $!";
            return { name => "tmpfs ($how)", holder => $pid, enter => \@enter, mnt => $mnt };
        }
        if (!defined $st) { kill 'KILL', $pid; wait_exit($pid, 5); $st = -1 }
        my $code = $st >> 8;
        my $out = do { local (@ARGV, $/) = ("$dir/holder.log"); <> // '' };
        $out =~ s/\s+/ /g;
        push @why, "$how: " . ($code == 3 ? "cannot mount tmpfs ($out)"
                             : $code == 4 ? 'tmpfs without O_DIRECT (RocksDB needs it)'
                             : "failed ($out)");
    }
    return (undef, join('; ', @why));
}

# Runs a command inside the mechanism's view of the data directory.
sub run_in {
    my ($m, $cmd, %o) = @_;
    return run_cmd([@{ $m->{enter} // [] }, @$cmd], %o);
}

# Free KiB on the tmpfs, or undef.
sub avail_kib {
    my ($m) = @_;
    my ($rc, $out) = run_in($m, ['df', '-k', '--output=avail', $m->{mnt}]);
    return $rc == 0 && $out =~ /(\d+)\s*\z/ ? $1 : undef;
}

sub tmpfs_prepare {
    my ($m) = @_;
    my $free = avail_kib($m) // return 'df failed';
    my $n = $free - $HEADROOM_KIB;
    return "tmpfs too small ($free KiB)" if $n < 1024;
    my ($rc, undef, $err) = run_in($m, ['dd', 'if=/dev/zero', "of=$m->{mnt}/ballast", 'bs=1024',
                                        "count=$n"]);
    return "ballast: $err" if $rc != 0;
    ($rc, undef, $err) = run_in($m, ['mkdir', "$m->{mnt}/db"]);    # DIR/data points here
    return $rc == 0 ? undef : "mkdir db: $err";
}

sub tmpfs_fill {
    my ($m) = @_;
    run_in($m, ['dd', 'if=/dev/zero', "of=$m->{mnt}/filler", 'bs=65536']);    # stops at ENOSPC
    my $free = avail_kib($m);
    return undef if defined $free && $free == 0;
    return 'the tmpfs still has ' . ($free // '?') . ' KiB free';
}

sub tmpfs_free {
    my ($m) = @_;
    my ($rc, undef, $err) = run_in($m, ['rm', '-f', "$m->{mnt}/filler"]);
    my $free = avail_kib($m) // 0;
    return $rc == 0 && $free > 1024 ? undef : "rm filler: $err, $free KiB free";
}

sub tmpfs_done {
    my ($m) = @_;
    kill 'TERM', $m->{holder};
    wait_exit($m->{holder}, 10) // do { kill 'KILL', $m->{holder}; wait_exit($m->{holder}, 5) };
}

# -------------------------------------------------------------- faultfs ---

# The LD_PRELOAD shim, if built and effective here (checked on dd).
sub faultfs_mech {
    my ($dir) = @_;
    my $so = eval { bin('libfaultfs.so') } or return (undef, 'libfaultfs.so is not built');
    mkdir "$dir/data" or die "mkdir: $!";
    mkdir "$dir/probe" or die "mkdir: $!";
    my %env = (LD_PRELOAD => $so, FAULTFS_DIR => "$dir/data", FAULTFS_CTL => "$dir/disk-full",
               FAULTFS_LOG => "$dir/faultfs.log");
    {   # the probe: with the control file present, dd cannot write under the directory
        local $ENV{LD_PRELOAD} = $so;
        local $ENV{FAULTFS_DIR} = "$dir/probe";
        local $ENV{FAULTFS_CTL} = "$dir/probe.ctl";
        open my $c, '>', "$dir/probe.ctl" or die;
        close $c;
        my ($rc, undef, $err) = run_cmd(['dd', 'if=/dev/zero', "of=$dir/probe/f", 'bs=512',
                                         'count=1']);
        unlink "$dir/probe.ctl";
        return (undef, "the LD_PRELOAD shim has no effect on dd here (exit $rc: $err)")
            unless $rc != 0 && $err =~ /No space left on device/;
    }
    return { name => 'faultfs (LD_PRELOAD)', env => \%env, ctl => "$dir/disk-full",
             log => "$dir/faultfs.log" };
}

sub faultfs_fill {
    my ($m) = @_;
    open my $c, '>', $m->{ctl} or return "$m->{ctl}: $!";
    close $c;
    return undef;
}

sub faultfs_free {
    my ($m) = @_;
    return unlink($m->{ctl}) ? undef : "$m->{ctl}: $!";
}

# ------------------------------------------------------------- helpers ---

# Starts the daemon the mechanism's way (namespace or preloaded shim).
sub start_in {
    my ($m, $dir) = @_;
    local %ENV = %ENV;
    if ($m->{env}) {
        $ENV{$_} = $m->{env}{$_} for keys %{ $m->{env} };
        $ENV{ASAN_OPTIONS} = join(':', grep { length } $ENV{ASAN_OPTIONS} // '',
                                  'verify_asan_link_order=0');
    }
    my $d = start_daemon(dir => $dir, wrap => $m->{enter});
    push @SPAWNED, $d->{pid};
    return $d;
}


# Starts a command in the background with stdout to $out; returns its pid.
sub start_bg {
    my ($cmd, $out) = @_;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $out or die;
        open STDERR, '>', "$out.err" or die;
        open STDIN, '<', '/dev/null' or die;
        exec @$cmd or die "exec: $!";
    }
    push @SPAWNED, $pid;
    return $pid;
}

sub slurp { my ($p) = @_; open my $f, '<', $p or return ''; local $/; <$f> // '' }

# Minimal protobuf encoding of one AttendanceRecorded event (as made by
# attendance_events) in an IngestRequest, for zraw.
sub pv {
    my ($v) = @_;
    my $o = '';
    while ($v >= 0x80) { $o .= chr(($v & 0x7f) | 0x80); $v >>= 7 }
    return $o . chr($v);
}
sub pfv { my ($n, $v) = @_; pv($n << 3) . pv($v) }
sub pfb { my ($n, $b) = @_; pv(($n << 3) | 2) . pv(length $b) . $b }
sub attendance_frame {
    my ($request_id, $e) = @_;
    my $a = $e->{attendanceRecorded};
    my %component = (COACHING => 3);
    my %status = (PRESENT => 1, ABSENT => 4);
    my ($y, $mo, $dd, $h, $mi, $s) = $e->{occurredAt} =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)Z$/
        or die "occurredAt $e->{occurredAt}";
    my $body = pfb(1, $a->{participantRef}) . pfb(2, $a->{programmeId}) . pfb(3, $a->{cohortId})
        . pfv(4, $component{ $a->{component} }) . pfb(5, $a->{sessionId})
        . pfb(6, $a->{sessionDate}) . pfv(7, $status{ $a->{status} })
        . ($a->{minutes} ? pfv(8, $a->{minutes}) : '');
    (my $hex = $e->{eventId}) =~ s/-//g;
    my $ev = pfb(1, pack('H*', $hex)) . pfb(2, $e->{agency})
        . pfv(3, timegm($s, $mi, $h, $dd, $mo - 1, $y) * 1_000_000) . pfb(14, $body);
    return pfv(1, $request_id) . pfb(2, pfb(1, $ev));
}

# Sends one event with zraw; returns (reply hash, [ack hashes]) or ().
sub raw_send {
    my ($d, $request_id, $e) = @_;
    my ($rc, $rep) = zraw($d, 'hex:' . unpack('H*', attendance_frame($request_id, $e)));
    return () if $rc != 0 || !@$rep;
    my $r = eval { decode_reply($rep->[0]) };
    my $acks = $r && eval { [map { decode_reply(unpack 'H*', $_) } @{ $r->{2} // [] }] };
    diag("undecodable reply: @$rep ($@)") unless $acks;
    return $acks ? ($r, $acks) : ();
}

sub uuid { my $h = unpack('H*', $_[0]); $h =~ s/^(.{8})(.{4})(.{4})(.{4})/$1-$2-$3-$4-/; $h }

# The whole log via cohortctl tail --json (inside the mechanism's view).
sub tail_log {
    my ($m, $d) = @_;
    my ($rc, $out, $err) = run_in($m, [bin('cohortctl'), 'tail', '--json', '--from', 1,
                                       '--data-dir', $d->{data}], timeout => 60);
    return $rc == 0 ? read_jsonl($out) : undef;
}

# Waits (bounded) until the daemon's log matches $re; returns the log.
sub wait_log {
    my ($d, $re, $secs) = @_;
    my $until = time + $secs;
    while (time < $until) {
        my $l = log_of($d);
        return $l if $l =~ $re;
        last unless alive($d);
        sleep 0.05;
    }
    return undef;
}

# ------------------------------------------------------------ scenario ---

# Runs the whole story; $live gets the daemon and the background agent so
# the caller can stop them whatever happens.
sub scenario {
    my ($m, $dir, $fill, $free, $live) = @_;
    my $d = $live->{d} = start_in($m, $dir);
    ok($d->{pid}, "$m->{name}: daemon started") or return diag(log_of($d));
    # with 4 MiB free there is no room for the 16 MiB ack journal
    like(log_of($d), qr/<4>store: no ack journal \(.*No space left on device\)/,
         "$m->{name}: starts without the ack journal, and says so")
        if $m->{name} =~ /^tmpfs/;

    # 1. Events stored while there is space.
    my $good = make_events($GOOD, $TAG);
    write_jsonl("$dir/good.jsonl", $good);
    my ($rc, $res, $err) = agent_send($d, "$dir/good.jsonl");
    my %ack;    # eventId => seq, for every ACCEPTED ack
    $ack{ $_->{eventId} } = $_->{seq} for grep { $_->{result} eq 'ACCEPTED' } @$res;
    is(scalar(keys %ack), $GOOD, "all $GOOD events ACCEPTED before the disk fills")
        or return diag($err, log_of($d));

    # 2. Fill the disk; an agent keeps sending (retrying UNAVAILABLE).
    my $why = $fill->($m);
    ok(!defined $why, 'disk filled') or return diag($why);
    my @att = @{ attendance_events(8 + $LATER + 1, $TAG) };
    my @later = @att[8 .. 8 + $LATER - 1];
    my $raw = $att[8 + $LATER];
    write_jsonl("$dir/later.jsonl", \@later);
    my $bg = $live->{bg} = start_bg([bin('cohort-agent'), 'send', '--json', '--deadline-s', 30,
                                     '--endpoint', $d->{endpoint}, "$dir/later.jsonl"],
                                    "$dir/later.out");

    # 3. The failure is logged once at error level, with RocksDB's reason.
    my $log = wait_log($d, qr/^<3>[^\n]*No space left on device/m, 15);
    ok(defined $log, 'error-level log line with "No space left on device"')
        or diag(log_of($d));
    ok(alive($d), 'daemon still running after the failed write')
        or return diag(log_of($d));
    if ($m->{log}) {
        like(slurp($m->{log}), qr/^faultfs: \w+ \Q$dir\E\/data\//m,
             'faultfs injected the failure into the store\'s files');
    }

    # 4. A raw send is answered UNAVAILABLE, without a sequence.
    my ($r, $acks) = raw_send($d, 7, $raw);
    ok($r, 'raw send answered while the disk is full') or diag(log_of($d));
    is(scalar @{ $acks // [] }, 1, 'one ack');
    is($acks->[0]{2}[0], 4, 'ack result UNAVAILABLE (4)');
    ok(!$acks->[0]{3} || !$acks->[0]{3}[0], 'no sequence in the UNAVAILABLE ack');
    is($r->{5}[0] // 0, $GOOD, "reply head_seq still $GOOD");

    # 5. Reads are still served, and nothing new became durable.
    my ($topics, $end) = snapshot_topics($d);
    ok($end, 'snapshot answered while the disk is full');
    ok($topics && grep({ /it-$TAG/ } keys %$topics), 'snapshot has the programme\'s topics');
    is($end->{seq}, $GOOD, "snapshot at seq $GOOD: nothing acked while full") if $end;
    sleep $HOLD_S;
    is(waitpid($bg, WNOHANG), 0, "the agent is still waiting after ${HOLD_S} s more of full disk");
    ok(alive($d), 'daemon still running while the disk is full')
        or return diag(log_of($d));
    my ($outage) = log_of($d) =~ /^<\d>[^\n]*ready:[^\n]*\n(.*)\z/s;
    my @lines = split /\n/, $outage // '';
    ok(@lines <= 5, 'at most 5 lines logged while the disk is full (no log flood)')
        or diag($outage);

    # 6. Free the space: the daemon recovers by itself and the agent finishes.
    $why = $free->($m);
    ok(!defined $why, 'space freed') or diag($why);
    my $t_free = time;
    my $st = wait_exit($bg, 60);
    if (!defined $st) { kill 'KILL', $bg; wait_exit($bg, 5) }
    is(defined $st ? $st >> 8 : -1, 0, 'background agent exited 0')
        or diag(slurp("$dir/later.out.err"), log_of($d));
    ok(time - $t_free < 15, 'it finished within 15 s of the space being freed');
    my $lres = read_jsonl(slurp("$dir/later.out"));
    my @acc = grep { $_->{result} eq 'ACCEPTED' } @$lres;
    is(scalar @acc, $LATER, "all $LATER events sent while full ended ACCEPTED")
        or diag(join "\n", map { encode_json($_) }
                (grep { $_->{result} ne 'ACCEPTED' } @$lres)[0 .. 4]);
    note(sprintf 'agent finished %.1f s after the space was freed', time - $t_free);
    $ack{ $_->{eventId} } = $_->{seq} for @acc;
    like(log_of($d), qr/^<[0-6]>[^\n]*(?:succeed again|recover|reopen|resum)/mi,
         'recovery is logged');

    # 7. The event answered UNAVAILABLE was not stored: it is new now.
    ($r, $acks) = raw_send($d, 8, $raw);
    is($acks && $acks->[0]{2}[0], 1, 'the UNAVAILABLE event, resent, is ACCEPTED (not DUPLICATE)');
    my $total = $GOOD + $LATER + 1;
    is($acks && $acks->[0]{3}[0], $total, "at seq $total");
    $ack{ uuid($acks->[0]{1}[0]) } = $acks->[0]{3}[0] if $acks && $acks->[0]{3};

    # 8. The log: each event exactly once, no gaps, and exactly what was acked.
    my $check = sub {
        my ($what) = @_;
        my $entries = tail_log($m, $d);
        ok($entries, "$what: cohortctl tail --json works") or return;
        is_deeply([map { $_->{seq} } @$entries], [1 .. $total], "$what: seqs 1..$total, no gaps");
        my %seen;
        $seen{ $_->{event}{eventId} }++ for @$entries;
        is(scalar(grep { $_ > 1 } values %seen), 0, "$what: no event stored twice");
        is_deeply({ map { $_->{event}{eventId} => $_->{seq} } @$entries }, \%ack,
                  "$what: the log holds exactly the acked events at their acked seqs");
        return $entries;
    };
    my $before = $check->('live');

    # 9. Restart: the log is intact and verify agrees.
    is(stop_daemon($d), 0, 'clean stop');
    $d = $live->{d} = start_in($m, $dir);
    ok($d->{pid}, 'restarted') or return diag(log_of($d));
    like(log_of($d), qr/log head seq $total\b/, "restart reports head seq $total");
    my ($vrc, $vout) = run_in($m, [bin('cohortctl'), 'verify', '--data-dir', $d->{data}],
                              timeout => 60);
    is($vrc, 0, 'cohortctl verify OK') or diag($vout);
    like($vout, qr/entries $total .*gaps 0/, "verify: $total entries, no gaps");
    my $after = $check->('after restart');
    is_deeply($after, $before, 'log unchanged by the restart') if $before && $after;
    is(stop_daemon($d), 0, 'clean stop after restart');
}

# Stops whatever a scenario left running (after a failure).
sub cleanup {
    my ($live) = @_;
    stop_daemon($live->{d}) if $live->{d} && $live->{d}{pid};
    if ($live->{bg} && waitpid($live->{bg}, WNOHANG) == 0) {
        kill 'KILL', $live->{bg};
        wait_exit($live->{bg}, 5);
    }
}

# ----------------------------------------------------------------- main ---

for my $kind (qw(tmpfs faultfs)) {
    subtest $kind => sub {
        plan skip_all => "COHORT_DISKFULL=$only" if $only && $only ne $kind;
        my $dir = tmpdir();
        my ($m, $why) = $kind eq 'tmpfs' ? tmpfs_mech($dir) : faultfs_mech($dir);
        plan skip_all => "$kind: $why" unless $m;
        if ($kind eq 'tmpfs') {
            if (my $e = tmpfs_prepare($m)) { tmpfs_done($m); plan skip_all => "tmpfs: $e" }
            note("tmpfs: " . (avail_kib($m) // '?') . " KiB free before the daemon starts");
            my %live;
            eval { scenario($m, $dir, \&tmpfs_fill, \&tmpfs_free, \%live); 1 }
                or fail("scenario died: $@");
            cleanup(\%live);
            tmpfs_done($m);
        } else {
            my %live;
            eval { scenario($m, $dir, \&faultfs_fill, \&faultfs_free, \%live); 1 }
                or fail("scenario died: $@");
            cleanup(\%live);
        }
    };
}
done_testing();
