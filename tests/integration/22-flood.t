#!/usr/bin/perl
# Backpressure (issue 4): memory stays bounded under overload, and slow
# status consumers do not hold up ingest.
#
# flood: for FLOOD_S seconds, at once,
#   - cohort-bench with 4 agents, each with a 65,536-event window;
#   - 4 raw DEALERs (zflood --kind reject) sending well-formed ~4 MB frames
#     of events the domain rules refuse, never reading a reply;
#   - 2 raw DEALERs (zflood --kind junk) sending 8 MiB frames of junk
#     (the largest ZMQ_MAXMSGSIZE lets in), never reading a reply.
#   The daemon's peak resident memory (VmHWM, from /proc/PID/status) must
#   stay under BOUND_MIB, and afterwards it must still ack a good event
#   promptly, stop cleanly and pass cohortctl verify.
# slow consumers: 8 SUB sockets on the publish endpoint and 8 snapshot
#   clients that send SNAP_REQUESTS requests each, none of them ever
#   reading; meanwhile a bounded push (100,000 events) must complete in
#   reasonable time, a fresh snapshot client must be answered, and the
#   peak resident memory must stay under BOUND_MIB.
# Under AddressSanitizer (shadow memory, quarantine) the memory bound is
# not checked; the measured figures are printed either way (prove -v).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

# The documented bound on the daemon's peak RSS under these loads
# (docs/reliability.md): RocksDB (two 64 MiB write buffers for each of the
# log and dedupe families, a 64 MiB block cache: 320 MiB) + the ingest
# pipeline (three batches in flight, each at most 16 MiB of events, 32 MiB
# decoded plus one frame: about 200 MiB) + what ZeroMQ may hold for the ten
# flooding connections (3 frames each, up to 8 MiB: about 110 MiB here) + at
# most 32 MiB of large replies, with some headroom for the allocator
# (docs/operations.md "Memory"; 25-memory-bound.t floods 256 connections).
my $BOUND_MIB = 768;
my $FLOOD_S = 15;          # length of the flood
my $SNAP_REQUESTS = 10000; # snapshot requests per slow snapshot client
my $PUSH = 100000;         # events of the bounded push beside the slow consumers

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

my $asan = do {
    my ($rc, $out) = run_cmd(['ldd', bin('cohortd')]);
    $out =~ /libasan/;
};

# VmRSS and VmHWM of a process, in KiB ((undef, undef) once it is gone).
sub mem {
    my ($pid) = @_;
    open my $f, '<', "/proc/$pid/status" or return (undef, undef);
    local $/;
    my $s = <$f> // '';
    return ($s =~ /^VmRSS:\s+(\d+)/m ? $1 : undef, $s =~ /^VmHWM:\s+(\d+)/m ? $1 : undef);
}


# Starts a command in the background, stdout and stderr to files.
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

# Waits (bounded) until a file has a line "ready" (zflood connected).
sub wait_ready {
    my ($path, $pid, $secs) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return 1 if slurp($path) =~ /^ready$/m;
        return 0 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    return 0;
}

# Waits for background pids (bounded), sampling the daemon's RSS every
# 100 ms; kills what is left. Returns (peak sampled RSS KiB, {pid => exit}).
sub watch {
    my ($d, $secs, @pids) = @_;
    my (%left, %code) = map { $_ => 1 } @pids;
    my $peak = 0;
    my $until = time + $secs;
    while (%left && time < $until) {
        my ($rss) = mem($d->{pid});
        $peak = $rss if defined $rss && $rss > $peak;
        for my $p (keys %left) {
            if (waitpid($p, WNOHANG) == $p) { $code{$p} = $? >> 8; delete $left{$p} }
        }
        sleep 0.1;
    }
    for my $p (keys %left) { kill 'KILL', $p; wait_exit($p, 5); $code{$p} = -1 }
    return ($peak, \%code);
}

sub mib { sprintf '%.0f MiB', $_[0] / 1024 }

sub check_bound {
    my ($what, $hwm) = @_;
  SKIP: {
        skip "$what: memory bound not checked under AddressSanitizer", 1 if $asan;
        ok(defined $hwm && $hwm < $BOUND_MIB * 1024,
           "$what: daemon peak RSS (VmHWM) " . mib($hwm // 0) . " < $BOUND_MIB MiB");
    }
}

# A good event, new to the daemon, is acked ACCEPTED promptly.
sub good_event_acked {
    my ($d, $tag, $secs) = @_;
    my $dir = tmpdir();
    write_jsonl("$dir/one.jsonl", [setup_events($tag)->[0]]);
    my $t0 = time;
    my ($rc, $res, $err) = agent_send($d, "$dir/one.jsonl", '--deadline-s', 20);
    my $took = time - $t0;
    is($res->[0]{result} // '', 'ACCEPTED', 'a good event is ACCEPTED afterwards') or diag($err);
    ok($took < $secs, sprintf('... within %d s (took %.2f s)', $secs, $took));
}

subtest flood => sub {
    my $d = start_daemon();
    push @SPAWNED, $d->{pid};
    ok($d->{pid}, 'daemon started') or return diag(log_of($d));
    my ($rss0) = mem($d->{pid});
    my $dir = tmpdir();
    my $bench = start_bg([bin('cohort-bench'), '--endpoint', $d->{endpoint}, '--agents', 4,
                          '--window', 65536, '--size', 216, '--events', 1000000,
                          '--duration-s', $FLOOD_S, '--json'], "$dir/bench");
    my $rej = start_bg([bin('zflood'), 'ingest', $d->{endpoint}, '--conns', 4, '--kind', 'reject',
                        '--size', 4000000, '--seconds', $FLOOD_S], "$dir/reject");
    my $junk = start_bg([bin('zflood'), 'ingest', $d->{endpoint}, '--conns', 2, '--kind', 'junk',
                         '--size', 8 << 20, '--seconds', $FLOOD_S], "$dir/junk");
    my ($peak, $code) = watch($d, $FLOOD_S + 45, $bench, $rej, $junk);
    my (undef, $hwm) = mem($d->{pid});
    ok(alive($d), 'daemon survived the flood') or return diag(log_of($d));
    is($code->{$rej}, 0, 'reject flooder ran') or diag(slurp("$dir/reject.err"));
    is($code->{$junk}, 0, 'junk flooder ran') or diag(slurp("$dir/junk.err"));
    my $b = eval { decode_json((grep { /^\{/ } split /\n/, slurp("$dir/bench"))[-1]) } // {};
    ok(($b->{events} // 0) > 0, 'the bench agents got events acked during the flood')
        or diag(slurp("$dir/bench.err"));
    note(sprintf 'flood: rss before %s, peak sampled %s, VmHWM %s; bench %s events acked '
                 . '(%.0f/s); reject %s; junk %s', mib($rss0 // 0), mib($peak), mib($hwm // 0),
         $b->{events} // '?', $b->{events_per_sec} // 0, slurp("$dir/reject") =~ s/\s+/ /gr,
         slurp("$dir/junk") =~ s/\s+/ /gr);
    check_bound('flood', $hwm);
    good_event_acked($d, 22, 5);
    is(stop_daemon($d), 0, 'clean stop after the flood') or diag(log_of($d));
    my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}],
                               timeout => 120);
    is($vrc, 0, 'cohortctl verify OK') or diag($vout);
};

subtest 'slow consumers' => sub {
    my $d = start_daemon();
    push @SPAWNED, $d->{pid};
    ok($d->{pid}, 'daemon started') or return diag(log_of($d));
    my $dir = tmpdir();
    write_jsonl("$dir/setup.jsonl", make_events(150, 22));
    my ($rc, $res) = agent_send($d, "$dir/setup.jsonl");
    is($rc, 0, 'setup events stored (status topics exist)');
    my ($topics) = snapshot_topics($d);
    note('topics before: ' . scalar(keys %{ $topics // {} }));
    my ($rss0) = mem($d->{pid});
    my $slow = start_bg([bin('zflood'), 'slow', $d->{publish}, $d->{snapshot}, '--conns', 8,
                         '--requests', $SNAP_REQUESTS, '--seconds', 120], "$dir/slow");
    ok(wait_ready("$dir/slow", $slow, 10), 'slow consumers connected')
        or diag(slurp("$dir/slow.err"));
    sleep 1;    # let their requests arrive first
    my $t0 = time;
    my $bench = start_bg([bin('cohort-bench'), '--endpoint', $d->{endpoint}, '--agents', 4,
                          '--window', 64, '--events', $PUSH, '--duration-s', 60, '--json'],
                         "$dir/bench");
    my ($peak, $code) = watch($d, 90, $bench);
    my $took = time - $t0;
    my $b = eval { decode_json((grep { /^\{/ } split /\n/, slurp("$dir/bench"))[-1]) } // {};
    is($code->{$bench}, 0, 'bounded push beside slow consumers: bench exit 0')
        or diag(slurp("$dir/bench.err"));
    is($b->{events}, $PUSH, "all $PUSH events acked");
    ok($took < 30, sprintf('... within 30 s (took %.1f s)', $took));
    ok(alive($d), 'daemon still running') or return diag(log_of($d));
    my $t1 = time;
    my ($t, $end) = wait_snapshot($d, 150 + $PUSH + ($b->{setup_stored} // 0), 10);
    my $waited = time - $t1;
    ok($end && $waited < 10, sprintf('a fresh snapshot client is answered (%.2f s)', $waited));
    good_event_acked($d, 23, 5);
    my (undef, $hwm) = mem($d->{pid});
    kill 'TERM', $slow;
    wait_exit($slow, 10) // do { kill 'KILL', $slow; wait_exit($slow, 5) };
    note(sprintf 'slow consumers: rss before %s, peak sampled %s, VmHWM %s; push took %.1f s; %s',
         mib($rss0 // 0), mib($peak), mib($hwm // 0), $took, slurp("$dir/slow") =~ s/\s+/ /gr);
    check_bound('slow consumers', $hwm);
    is(stop_daemon($d), 0, 'clean stop') or diag(log_of($d));
};

done_testing();
