#!/usr/bin/perl
# Power loss, faithfully: the daemon runs under tests/tools/crashrec.c, an
# LD_PRELOAD shim that records every write and sync it makes to its data
# directory. An agent pushes; the daemon is kill -9ed mid-push (after a
# random share of the acks). From the recording, crash states are built
# as a disk with a volatile write cache may leave them: every synced byte,
# plus a random subset (any order) of the 4 KiB pages written since each
# file's last sync, each in any of the versions it had since (a page
# written back half-filled, up to a record boundary, then not again: a
# hole in the middle of RocksDB's WAL); some states keep none, some all. Each state is
# started by a fresh daemon, which must come up, and then hold every event
# acked before the kill exactly once, at its acked sequence, in a gap-free
# log; a resend of the acked events is DUPLICATE at the same sequences.
# Each run pushes in three phases: a share of the events; events sized
# (one batch each) so that a WAL record starts a 32 KiB block (align():
# the boundary a hole RocksDB recovers past needs, rare by chance); the
# rest, the daemon killed mid-push. In odd runs the journal is made small
# (COHORT_TEST_JOURNAL_SIZE): phase 1 ends at its first wrap (a RocksDB
# WAL sync and a new epoch), phase 3 is killed just before the next.
# Every run has a hole state; against the store before the journal's
# write-back of holes (1dcfe65^) each of them fails.
#
# Model limits: directory operations (create, rename, unlink) are durable
# at once; a page written twice since the last sync may be in
# any of its versions since; writes through mmap and stdio are not seen (the store makes none).
#
# Environment (defaults are the CI version, well under a minute):
#   COHORT_CRASH_RUNS     recorded runs, one kill each (default 5)
#   COHORT_CRASH_STATES   crash states per run (default 4; at least 20 in all)
#   COHORT_CRASH_EVENTS   events per run (default 3000)
#   COHORT_CRASH_SEED     seed (default from time and pid; printed)
#   COHORT_CRASH_DEBUG    1: notes on the alignment's steps and timings
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);
use POSIX ':sys_wait_h';

my $RUNS = $ENV{COHORT_CRASH_RUNS} // 5;
my $STATES = $ENV{COHORT_CRASH_STATES} // 4;
my $N = $ENV{COHORT_CRASH_EVENTS} // 3000;
my $SEED = $ENV{COHORT_CRASH_SEED} // (time() ^ $$) & 0x7fffffff;
my $PAGE = 4096;
note("seed $SEED (COHORT_CRASH_SEED=$SEED to repeat)");
srand($SEED);

my $so = eval { bin('libcrashrec.so') };
plan skip_all => 'libcrashrec.so is not built' unless $so;

sub slurp { my ($f) = @_; open my $fh, '<:raw', $f or return ''; local $/; return <$fh> // '' }

sub spew {
    my ($f, $data) = @_;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh $data;
    close $fh or die "$f: $!";
}

# The records of the shim's file: [op, path, off, data].
sub records {
    my ($file) = @_;
    my $d = slurp($file);
    my (@r, $p);
    for ($p = 0; $p + 21 <= length $d;) {
        my ($op, $pl, $off, $len) = unpack('a1 V Q< Q<', substr($d, $p, 21));
        last if $p + 21 + $pl + $len > length $d;
        push @r, [$op, substr($d, $p + 21, $pl), $off, substr($d, $p + 21 + $pl, $len)];
        $p += 21 + $pl + $len;
    }
    return \@r;
}

# The files as the page cache held them (cur) and as synced (dur), and for
# each page written since its file's last sync, every version it had after
# one of those writes (vers: a page cache page may be written back at any
# of them, e.g. half-filled up to a record boundary), after the records.
sub model {
    my ($recs) = @_;
    my (%cur, %dur, %vers);
    for my $r (@$recs) {
        my ($op, $p, $off, $data) = @$r;
        if ($op eq 'W') {
            $cur{$p} //= '';
            $cur{$p} .= "\0" x ($off - length $cur{$p}) if length $cur{$p} < $off;
            substr($cur{$p}, $off, length $data) = $data;
            for my $pg (int($off / $PAGE) .. int(($off + length($data) - 1) / $PAGE)) {
                push @{ $vers{$p}{$pg} }, substr($cur{$p}, $pg * $PAGE, $PAGE);
            }
        } elsif ($op eq 'S') {
            $dur{$p} = $cur{$p} // '';
            $vers{$p} = {};
        } elsif ($op eq 'T') {
            for my $h (\%cur, \%dur) {
                $h->{$p} //= '';
                if (length $h->{$p} > $off) { substr($h->{$p}, $off) = '' }
                elsif ($h == \%cur) { $h->{$p} .= "\0" x ($off - length $h->{$p}) }
            }
        } elsif ($op eq 'R') {
            for my $h (\%cur, \%dur, \%vers) { $h->{$data} = delete $h->{$p} if exists $h->{$p} }
        } elsif ($op eq 'U') {
            delete $_->{$p} for \%cur, \%dur, \%vers;
        }
    }
    return (\%cur, \%dur, \%vers);
}

# Writes into $out (a copy of the data directory after the kill) the crash
# state: each recorded file as synced, then each page written since its
# sync, with probability $keep, in one of its versions since (the newest
# with probability 1/2, else any; $keep 1: all, the newest, as the page
# cache held them): pages are written back in any order. $m: model()'s
# result for $recs. With $hole (holes()' result), one of those pages in
# its older version, every other the newest.
# Returns (pages kept, of which older versions, pages dropped).
sub crash_state {
    my ($recs, $m, $data, $out, $keep, $hole) = @_;
    my ($cur, $dur, $vers) = @$m;
    my %pick;    # file => page => version index, for a hole state
    if ($hole) {
        my @c = @$hole;
        if (@c) {
            my ($p, $pg, $i) = @{ $c[ int rand @c ] };
            $pick{$p}{$pg} = $i;
            $keep = 1;
        }
    }
    system('cp', '-a', $data, $out) == 0 or die "cp -a $data $out failed";
    my %touched = map { ($_->[1] => 1, ($_->[0] eq 'R' ? ($_->[3] => 1) : ())) } @$recs;
    unlink "$out/$_" for keys %touched;
    unlink "$out/control.sock";    # a socket does not outlive the host's power
    my ($kept, $older, $dropped) = (0, 0, 0);
    for my $p (sort keys %$cur) {
        my $s = $dur->{$p} // '';
        for my $pg (sort { $a <=> $b } keys %{ $vers->{$p} // {} }) {
            next if $pg * $PAGE >= length $cur->{$p};
            if (rand() < $keep) {
                my $v = $vers->{$p}{$pg};
                my $i = $hole ? $pick{$p}{$pg} // $#$v : $keep >= 1 || rand() < 0.5 ? $#$v : int rand @$v;
                my $bytes = $v->[$i];
                $s .= "\0" x ($pg * $PAGE - length $s) if length $s < $pg * $PAGE;
                substr($s, $pg * $PAGE, length $bytes) = $bytes;
                $kept++;
                $older++ if $i < $#$v;
            } else {
                $dropped++;
            }
        }
        spew("$out/$p", $s);
    }
    return ($kept, $older, $dropped);
}

# The holes RocksDB 7.8 recovers past: in a WAL file (*.log), a page with
# an older version (written up to a record boundary, zeros after) in the
# 32 KiB block before one that starts with a whole record (type 1, full,
# or 2, first), so that RocksDB, which reads the zero header as padding and
# skips to the next block, goes on there. Returns [file, page, version].
sub holes {
    my ($cur, $vers) = @_;
    my @c;
    for my $p (grep { /\.log$/ } keys %$cur) {
        for my $b (1 .. int((length($cur->{$p}) - 1) / 32768)) {
            my $type = ord(substr($cur->{$p}, $b * 32768 + 6, 1));
            next unless $type == 1 || $type == 2;
            for my $pg (($b - 1) * 8 .. $b * 8 - 1) {
                my $v = $vers->{$p}{$pg} or next;
                push @c, [$p, $pg, $_] for 0 .. $#$v - 1;
            }
        }
    }
    return @c;
}

sub out_lines { my $n = () = slurp($_[0]) =~ /\n/g; $n }

# eventId, seq and result of a line of `cohort-agent send --json` or
# `cohortctl tail --json` (neither has those keys anywhere else); a regex,
# as JSON::PP takes seconds for the thousands of lines of each state.
sub fields {
    my ($l) = @_;
    my %o;
    $o{eventId} = $1 if $l =~ /"eventId":"([^"]*)"/;
    $o{seq} = $1 if $l =~ /"seq":(\d+)/;
    $o{result} = $1 if $l =~ /"result":"([A-Z_]+)"/;
    return \%o;
}

# The acks in an agent's --json output: eventId => seq (a line cut short
# by a kill is left out).
sub acks_of {
    my ($text) = @_;
    $text =~ s/[^\n]*\z//;
    my %a;
    for my $l (split /\n/, $text) {
        my $o = fields($l);
        $a{ $o->{eventId} } = $o->{seq} if ($o->{result} // '') =~ /^(ACCEPTED|DUPLICATE)$/;
    }
    return \%a;
}

# Reads the records the shim appended since the last call (state in $st:
# file, off) and keeps what the kill triggers look at: jend, where the
# last journal write of records (not the zeros of its creation) ended; epochs, journal epochs begun at offset 0;
# walsyncs, syncs of RocksDB's WAL (a journal wrap, or a large sync).
sub rec_poll {
    my ($st) = @_;
    open my $fh, '<:raw', $st->{file} or return;
    seek $fh, $st->{off}, 0;
    local $/;
    my $d = <$fh> // '';
    my $p = 0;
    while ($p + 21 <= length $d) {
        my ($op, $pl, $off, $len) = unpack('a1 V Q< Q<', substr($d, $p, 21));
        last if $p + 21 + $pl + $len > length $d;
        my $path = substr($d, $p + 21, $pl);
        if ($op eq 'W' && $path eq 'journal' && substr($d, $p + 21 + $pl, 4) eq 'CJR1') {
            $st->{epochs}++ if $off == 0;
            $st->{jend} = $off + $len;
        } elsif ($op eq 'S' && $path =~ /\.log$/) {
            $st->{walsyncs}++;
        }
        $p += 21 + $pl + $len;
    }
    $st->{off} += $p;
}

# The current WAL file of the data directory $data (the newest *.log).
sub wal_of {
    my ($data) = @_;
    my @l = sort { $a->[0] <=> $b->[0] } map { m{/(\d+)\.log$} ? [$1, $_] : () } glob("$data/*.log");
    return @l ? $l[-1][1] : undef;
}

# Waits (up to 5 s) until the WAL has not grown for 100 ms: the daemon has
# written what it took in. Returns its size.
sub wal_quiet {
    my ($data) = @_;
    my ($last, $since, $until) = (-1, time, time + 5);
    while (time < $until) {
        my $s = -s (wal_of($data) // '') // 0;
        ($last, $since) = ($s, time) if $s != $last;
        last if time - $since >= 0.1;
        sleep 0.01;
    }
    return $last;
}

# Makes the next record of RocksDB's WAL start a 32 KiB block (so a hole
# in the block before is one RocksDB 7.8 recovers past: see holes()).
# RocksDB starts a record in the next block when fewer than 7 bytes (a
# header) are left in the block; such a boundary is rare by chance (about
# 1 in 100 with this workload). So events are sent one per batch (window
# 1), each an attendance of one participant with a session id of 1-64
# characters: each adds a record of r0 + that length bytes, r0 measured
# first; their sizes are chosen from the WAL's size so that a record ends
# in the last 7 bytes of a block, then one more event starts the next.
# Every event is acked (the journal synced: RocksDB's WAL is not). Returns
# the boundary's offset (0 if not reached in 12 sends) and the events sent,
# with their acks added to %$acked.
sub align {
    my ($d, $dir, $tag, $acked) = @_;
    my $tmpl = attendance_events(1, $tag)->[0];
    my (@sent, $n);
    my $size = sub { -s (wal_of($d->{data}) // '') // 0 };
    my $send = sub {
        my @ev;
        for my $len (@_) {
            my %e = (%$tmpl, eventId => sprintf('%08x-%04x-7%03x-8000-%012x', 0x01900000 + $tag, $tag, 4, ++$n));
            $e{attendanceRecorded} = { %{ $tmpl->{attendanceRecorded} }, sessionId => 's' x $len };
            push @ev, \%e;
        }
        write_jsonl("$dir/align.jsonl", \@ev);
        my ($rc, $res) = agent_send($d, "$dir/align.jsonl", '--window', 1);
        for (@$res) { $acked->{ $_->{eventId} } = $_->{seq} if ($_->{result} // '') =~ /^(ACCEPTED|DUPLICATE)$/ }
        push @sent, @ev;
        return wal_quiet($d->{data});
    };
    # r0: a record's bytes less its session id's length, for lengths LO-HI
    # (above LO the encoded event's length prefixes keep their size)
    my ($lo, $hi, $r0) = (25, 58);
    for (1 .. 3) {
        my $p0 = $size->();
        my ($p1, $p2) = ($send->($lo), $send->($hi));
        note("align: calibrating: $p0 $p1 $p2") if $ENV{COHORT_CRASH_DEBUG};
        if (int($p0 / 32768) == int($p2 / 32768) && $p2 - $p1 == $p1 - $p0 + $hi - $lo) { $r0 = $p1 - $p0 - $lo; last }
    }
    note("align: no r0") if !$r0 && $ENV{COHORT_CRASH_DEBUG};
    return (0, \@sent) unless $r0;
    for (1 .. 12) {
        my $p = $size->();
        my $b = (int($p / 32768) + 1) * 32768;
        my $left = $b - $p;
        note("align: r0 $r0, WAL at $p, $left bytes to the boundary") if $ENV{COHORT_CRASH_DEBUG};
        if ($left >= $r0 + $lo && $left <= $r0 + $hi + 6) {
            my $q = $send->($left - $r0 > $hi ? $hi : $left - $r0);
            next unless $q >= $b - 6 && $q <= $b;
            $send->($lo + int rand($hi - $lo + 1));
            open my $fh, '<:raw', wal_of($d->{data}) or next;
            seek $fh, $b, 0;
            read($fh, my $h, 7) == 7 or next;
            my ($len, $type) = unpack('x4 v C', $h);
            return ($b, \@sent) if $len && ($type == 1 || $type == 2);
        } elsif ($left > $r0 + $hi + 6) {
            # k events leaving about r0 + (LO + HI) / 2 bytes before the boundary
            my $mid = $r0 + int(($lo + $hi) / 2);
            my $k = int(($left - $mid) / ($r0 + $hi)) + 1;
            my $sum = $left - $mid - $k * $r0;
            my @l = map { my $l = int($sum / $k) + ($_ < $sum % $k ? 1 : 0); $l < $lo ? $lo : $l > $hi ? $hi : $l } 0 .. $k - 1;
            $send->(@l);
        } else {
            $send->($hi);    # too close: past the boundary, to the next one
        }
    }
    return (0, \@sent);
}

my $t0 = time;
my ($nstates, $nacked, $nwrap, $nholes, $naligned, $nholestates, $nnearwrap, $nafterwrap) = (0) x 8;
for my $run (1 .. $RUNS) {
    # odd runs: a 256 KiB journal, which wraps; even runs: the real 16 MiB,
    # so RocksDB's WAL is not synced for the whole run: a long unsynced
    # tail, with small batches
    my $small = $run % 2;
    my $jsize = $small ? 256 * 1024 : 16 << 20;
    local $ENV{COHORT_TEST_JOURNAL_SIZE} = $jsize;
    my $dir = tmpdir();
    my $events = make_events($N, 10 + $run);
    make_path("$dir/data");
    chmod 0700, "$dir/data";
    my $d;
    {
        local $ENV{LD_PRELOAD} = $so;
        local $ENV{CRASHREC_DIR} = "$dir/data";
        local $ENV{CRASHREC_LOG} = "$dir/rec";
        local $ENV{ASAN_OPTIONS} = join(':', grep { $_ } $ENV{ASAN_OPTIONS}, 'verify_asan_link_order=0');
        $d = start_daemon(dir => $dir);
    }
    my $rec = { file => "$dir/rec", off => 0, jend => 0, epochs => 0, walsyncs => 0 };
    my $window = $small ? (4, 16, 64)[ int rand 3 ] : (4, 16)[ int rand 2 ];
    my %acked;
    # Pushes @$evs (window $window) and stops once $stop->() is true:
    # then kills the agent (phase 1) or the daemon and the agent (phase 3).
    # Returns how it ended.
    my $push = sub {
        my ($evs, $phase, $stop) = @_;
        write_jsonl("$dir/push$phase.jsonl", $evs);
        my $apid = fork() // die "fork: $!";
        if (!$apid) {
            open STDOUT, '>', "$dir/agent$phase.out" or die;
            open STDERR, '>', "$dir/agent$phase.err" or die;
            exec bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint}, '--window',
                $window, "$dir/push$phase.jsonl" or die "exec: $!";
        }
        my $until = time + 30;
        my $why = 'the push ended';
        while (time < $until && waitpid($apid, WNOHANG) == 0) {
            rec_poll($rec);
            if (my $w = $stop->()) { $why = $w; last }
            sleep 0.002;
        }
        if ($phase == 3) {
            sleep rand(0.004);
            kill9_daemon($d);
        }
        kill 'KILL', $apid;
        waitpid($apid, 0);
        my $a = acks_of(slurp("$dir/agent$phase.out"));
        @acked{ keys %$a } = values %$a;
        return $why;
    };
    # phase 1: a share of the events, up to a random count of acks or, with
    # the small journal, to its first wrap (a RocksDB WAL sync); the agent
    # is stopped there, the daemon keeps running
    my @rest = @$events;
    rec_poll($rec);
    my $syncs0 = $rec->{walsyncs};
    my $want1 = int(@rest * (0.05 + 0.3 * rand()));
    $push->(\@rest, 1,
            $small ? sub { $rec->{walsyncs} > $syncs0 ? 'the journal wrapped' : '' }
                   : sub { out_lines("$dir/agent1.out") >= $want1 ? 'acks' : '' });
    wal_quiet($d->{data});
    @rest = grep { !exists $acked{ $_->{eventId} } } @rest;
    # phase 2: a record starting a 32 KiB block of the WAL, after acked
    # events in unsynced pages
    my ($boundary, $extra) = align($d, $dir, 10 + $run, \%acked);
    $naligned++ if $boundary;
    note(sprintf('%.1f s: aligned', time - $t0)) if $ENV{COHORT_CRASH_DEBUG};
    # phase 3: the rest, the daemon killed mid-push: with the small journal
    # as it is about to wrap (when its records reach within a random 16-40
    # KiB of its end: one to three flushes before the wrap's WAL sync), or
    # right after the wrap if a flush wraps it first; with the large one
    # after a random share of the acks
    rec_poll($rec);
    $syncs0 = $rec->{walsyncs};
    my $want = int(@rest * (0.2 + 0.75 * rand()));
    my $near = (16 << 10) + int rand(24 << 10);
    my $why = $push->(\@rest, 3,
                      $small ? sub { $rec->{walsyncs} > $syncs0 ? 'right after a journal wrap (WAL synced)'
                                     : $rec->{jend} >= $jsize - $near ? "the journal within $near bytes of its end" : '' }
                             : sub { out_lines("$dir/agent3.out") >= $want ? 'acks' : '' });
    rec_poll($rec);
    my $afterwrap = $rec->{walsyncs} > $syncs0;    # RocksDB's WAL synced after the alignment
    $nnearwrap++ if $small && !$afterwrap;
    $nafterwrap++ if $small && $afterwrap;
    my @all = (@$events, @$extra);
    write_jsonl("$dir/all.jsonl", \@all);
    my $recs = records("$dir/rec");
    # epochs the journal started at offset 0 (the first at the daemon's start)
    my $resets = grep { $_->[0] eq 'W' && $_->[1] eq 'journal' && $_->[2] == 0 && $_->[3] =~ /^CJR1/ } @$recs;
    $nwrap++ if $resets > 1;
    note(sprintf('%.1f s: killed', time - $t0)) if $ENV{COHORT_CRASH_DEBUG};
    my $m = [model($recs)];
    my @cands = holes($m->[0], $m->[2]);
    my $nholes_here = @cands;
    $nholestates++ if @cands;
    $nacked += keys %acked;
    note(sprintf('run %d: journal %s, window %d, WAL block boundary made at %s; killed (%s) after %d acks; %d records, %d journal epochs started, %d holes RocksDB recovers past to choose from',
                 $run, $small ? '256 KiB' : '16 MiB', $window, $boundary || 'none', $why, scalar keys %acked,
                 scalar @$recs, $resets, $nholes_here));
    ok(keys %acked > 0, "run $run: events were acked before the kill");
    ok($boundary, "run $run: a WAL record starts a 32 KiB block (after acked, unsynced events)");
    ok(@cands || $afterwrap, "run $run: a hole RocksDB recovers past is there to make (none only when the kill came after a WAL sync)");

    for my $st (1 .. $STATES) {
        # the first state of a run keeps no unsynced page, the second all
        # (the newest versions),
        # the third makes a hole RocksDB recovers past (if the WAL has one
        # to make), the others keep a random share
        my $keep = (0, 0.3, 0.5, 0.8, 1)[ $st == 1 ? 0 : $st == 2 ? 4 : int rand 5 ];
        my $sdir = tmpdir();
        my ($kept, $older, $dropped) = crash_state($recs, $m, "$dir/data", "$sdir/data", $keep, $st == 3 && \@cands);
        # what RocksDB alone recovers (a read-only open does not apply the journal)
        my ($rrc, $rout) = run_cmd([bin('cohortctl'), 'tail', '--data-dir', "$sdir/data"], timeout => 60);
        my ($rn, $rgap, $rhead) = (0, 0, 0);
        for my $l (split /\n/, $rout) {
            next unless $l =~ /^(\d+) /;
            $rgap += $1 - $rhead - 1 if $1 > $rhead + 1;
            ($rhead, $rn) = ($1, $rn + 1);
        }
        $nholes++ if $rgap;
        my $what = "run $run state $st (unsynced pages: kept $kept, $older of them older versions, dropped $dropped; RocksDB alone: head $rhead, $rgap missing below it)";
        $nstates++;
        ok($rgap > 0, "$what: a hole state: RocksDB alone (a read-only open) recovers past the hole, leaving a gap below its head")
            if $st == 3 && @cands;
        note(sprintf('%.1f s: state built', time - $t0)) if $ENV{COHORT_CRASH_DEBUG};
        my $c = start_daemon(dir => $sdir);
        if (!alive($c)) {
            fail("$what: the daemon starts");
            diag(log_of($c));
            next;
        }
        my ($arc, $aout) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $c->{endpoint},
                                    '--window', 1024, "$dir/all.jsonl"], timeout => 120);
        is(stop_daemon($c), 0, "$what: the daemon starts, takes a resend, stops cleanly");
        my %res = map { my $o = fields($_); ($o->{eventId} // '' => $o) } split /\n/, $aout;
        my ($trc, $out) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', "$sdir/data"],
                                  timeout => 60);
        my (%at, @dups, $gaps, $next);
        $next = 1;
        $gaps = 0;
        for my $l (split /\n/, $out) {
            my $e = fields($l);
            my $id = $e->{eventId};
            push @dups, $id if exists $at{$id};
            $at{$id} = $e->{seq};
            $gaps++ if $e->{seq} != $next;
            $next = $e->{seq} + 1;
        }
        my @lost = grep { !defined $at{$_} } keys %acked;
        my @moved = grep { defined $at{$_} && $at{$_} != $acked{$_} } keys %acked;
        my @notdup = grep { ($res{$_}{result} // '') ne 'DUPLICATE' || ($res{$_}{seq} // 0) != $acked{$_} }
            keys %acked;
        ok($trc == 0 && !@lost && !@moved && !@dups && !$gaps && keys %at == @all,
           "$what: every acked event once, at its acked seq; the log gap-free and complete after the resend")
            or diag(sprintf('tail rc %d; %d lost (%s), %d moved, %d twice, %d gaps, %d events in the log; daemon log: %s',
                            $trc, scalar @lost, join(' ', (sort { $acked{$a} <=> $acked{$b} } @lost)[0 .. ($#lost < 4 ? $#lost : 4)]),
                            scalar @moved, scalar @dups, $gaps, scalar keys %at, log_of($c)));
        ok(!@notdup, "$what: the resend of each acked event is DUPLICATE at its acked seq")
            or diag(scalar(@notdup) . ' not');
        remove_tree($sdir);
    }
    remove_tree($dir);
}
cmp_ok($nstates, '>=', 20, "$nstates crash states checked ($nacked acks; the journal wrapped in $nwrap of $RUNS runs; "
       . "a block boundary made in $naligned runs, a hole to make in $nholestates; small journal: killed just before a wrap "
       . "$nnearwrap times, right after one $nafterwrap times; RocksDB alone had a hole below its head in $nholes states)")
    if $RUNS * $STATES >= 20;
note(sprintf('%.1f s', time - $t0));
done_testing();
