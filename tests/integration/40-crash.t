#!/usr/bin/perl
# Crash soak: rounds of concurrent agents pushing while the daemon is
# `kill -9`ed at a random moment and restarted. Each round:
#   - two "setup" agents push the same setup events of a new programme
#     (programme, cohort, 20 participants through the enrolment funnel) one
#     at a time (--window 1, so resends never reorder them: the domain rules
#     need that order); they duplicate each other concurrently;
#   - COHORT_SOAK_AGENTS "attendance" agents push the attendance of the
#     programme set up in the round before (order-free), each event given
#     to one agent and some (30%) to a second one too, plus a few resends of
#     events stored in earlier rounds (always DUPLICATE);
#   - the daemon is killed at a random moment (a random share of the acks
#     in, plus a random sub-millisecond to 3 ms more, or 0-30 ms after the
#     agents start), the still-running agents are paused (SIGSTOP), the
#     daemon is sometimes also killed during start-up, and restarted (with a
#     random --checkpoint-every, so restores are checkpoint + log tail); the
#     restored status must equal a full replay (`cohortctl rebuild`, 0
#     differ) before the agents resume; sometimes it is killed a second time
#     after the agents resume;
#   - the agents (generous --deadline-s) must end with every event ACCEPTED
#     or DUPLICATE, each at the sequence the log holds it at, and the log's
#     new entries must be exactly the round's new events, gap-free.
# At the end: one more kill -9 and restart, a clean stop, `cohortctl verify`,
# the whole log (each event exactly once, nothing lost, nothing else), a
# rebuild, and the restored documents compared with those of a fresh daemon
# fed the exported log in order (rev, seq and epoch may differ; documents
# may not). If `cohort-agent --help` shows --outbox, every agent uses its
# own outbox, which must be empty after the round (`cohort-agent flush`
# sends nothing; no dead letters), and in some rounds (30%) an attendance
# agent is kill -9ed with the daemon and run again on the same file and
# outbox after the restart: the acks of the killed run must hold too, and
# the second run must deliver everything.
#
# Environment (defaults are the short CI version, well under a minute):
#   COHORT_SOAK_ROUNDS   rounds (default 20; 0 = until COHORT_SOAK_SECONDS)
#   COHORT_SOAK_EVENTS   distinct attendance events per round (default 1500)
#   COHORT_SOAK_AGENTS   attendance agents per round (default 3; plus 2 setup agents)
#   COHORT_SOAK_SEED     seed for every random choice (default: from time and pid)
#   COHORT_SOAK_SECONDS  time budget (default 300): with a round count, not
#                        finishing the rounds within it fails
#   COHORT_SOAK_CONTINUE 1: go on after a failing round (default: stop there)
#   COHORT_SOAK_KEEP     1: keep the temporary directory (it is always kept on failure)
# The seed is printed; timing is not reproducible, the choices are. Each
# round prints a TAP comment, and the end a "soak summary:" line.
# The long soak is tests/soak/crash-soak.sh (not run by default).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;
use File::Temp qw(tempdir);
use File::Path qw(remove_tree);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

sub env_uint {
    my ($name, $def) = @_;
    my $v = $ENV{$name};
    return $def if !defined $v || $v eq '';
    die "$name: expected a whole number, got '$v'\n" unless $v =~ /^\d+$/;
    return $v + 0;
}
my $ROUNDS = env_uint('COHORT_SOAK_ROUNDS', 20);
my $EVENTS = env_uint('COHORT_SOAK_EVENTS', 1500);
my $AGENTS = env_uint('COHORT_SOAK_AGENTS', 3);
my $SEED = env_uint('COHORT_SOAK_SEED', (int(time * 1000) ^ ($$ << 8)) % 4294967296);
my $BUDGET = env_uint('COHORT_SOAK_SECONDS', 300);
die "COHORT_SOAK_EVENTS and COHORT_SOAK_AGENTS must be at least 1\n" if $EVENTS < 1 || $AGENTS < 1;
die "COHORT_SOAK_ROUNDS is at most 60000\n" if $ROUNDS > 60000;
my $DEADLINE_S = 120;    # each agent's --deadline-s: retries outlast every restart
my $P_SECOND = 0.3;      # attendance events also given to a second agent
my $TAG0 = 1000;         # round r's programme is it-(TAG0 + r); ids depend on the tag
my $T0 = time;

# Every random choice comes from this generator (xorshift32), never from
# Perl's rand(), which File::Temp also draws from.
my $rs = ($SEED % 4294967296) || 0x9e3779b9;
sub rnd {    # uniform in [0, 1)
    $rs ^= ($rs << 13) & 0xffffffff;
    $rs ^= $rs >> 17;
    $rs ^= ($rs << 5) & 0xffffffff;
    return $rs / 4294967296;
}
rnd() for 1 .. 8;
sub pick { my @a = @_; return $a[int(rnd() * @a)] }

my $KEEP = $ENV{COHORT_SOAK_KEEP};
my $dir = tempdir('cohort-soak-XXXXXX', TMPDIR => 1, CLEANUP => 0);
my $MAIN = $$;
my @children;    # every agent and daemon this test started, killed at the end if still running
END {
    return unless defined $MAIN && $$ == $MAIN;    # not in a forked child whose exec failed
    local $?;    # waitpid below must not change the exit status
    for my $c (@children) {
        next unless $c->{pid} && !defined $c->{status};
        if (waitpid($c->{pid}, WNOHANG) == 0) { kill 'KILL', $c->{pid}; waitpid($c->{pid}, 0) }
    }
    if (defined $dir && -d $dir) {
        if (!$KEEP && Test::More->builder->is_passing) { remove_tree($dir) }
        else { print STDERR "# soak data kept in $dir (seed $SEED)\n" }
    }
}
note("seed $SEED: repeat the same choices with COHORT_SOAK_SEED=$SEED");
note("rounds $ROUNDS, events $EVENTS, agents $AGENTS (+2 setup), budget ${BUDGET}s, dir $dir");

my ($hrc, $help) = run_cmd([bin('cohort-agent'), '--help'], timeout => 30);
my $OUTBOX = $help =~ /--outbox\b/;
my $FLUSH = $OUTBOX && $help =~ /\bflush --outbox\b/;
note($OUTBOX ? 'cohort-agent has --outbox: each agent uses its own, which must be empty after the round; '
               . 'some agents are killed with the daemon and run again'
             : 'cohort-agent has no --outbox: agents run without one');

# ------------------------------------------------------------- events ---

my $js = JSON::PP->new->canonical;
sub lines_of { [map { { id => $_->{eventId}, agency => $_->{agency}, line => $js->encode($_) } } @{ $_[0] }] }

my %agency_of;     # eventId -> agency, for every event ever given to an agent
my %seq_of;        # eventId -> log sequence, for every event known to be in the log
my @pool;          # a bounded sample of stored events, for resends in later rounds
my $POOL_MAX = 5000;
my $pool_seen = 0;
sub pool_add {
    for my $e (@_) {
        $pool_seen++;
        if (@pool < $POOL_MAX) { push @pool, $e }
        else { my $k = int(rnd() * $pool_seen); $pool[$k] = $e if $k < $POOL_MAX }
    }
}

# ------------------------------------------------------------- daemon ---

my @CHECKPOINT_EVERY = (10, 50, 200, 100000);

# Starts cohortd in $dir with --checkpoint-every $cp (default: a random one).
sub start {
    my ($cp) = @_;
    $cp //= pick(@CHECKPOINT_EVERY);
    my $d = start_daemon(dir => $dir, args => ['--checkpoint-every', $cp]);
    $d->{cp} = $cp;
    push @children, $d;
    if (!$d->{pid}) {
        diag "cohortd did not start (status " . ($d->{status} // '?') . "):\n" . CohortTest::log_of($d);
        BAIL_OUT('cohortd did not start');
    }
    return $d;
}

# kill -9 and reap; never signals pid 0.
sub kill9 {
    my ($d) = @_;
    return unless $d->{pid};
    kill9_daemon($d);
}

# Starts cohortd (--checkpoint-every $cp) and kill -9s it $ms ms later,
# whatever it was doing (opening the store, replaying, checkpointing, or
# already ready).
sub startup_kill {
    my ($ms, $cp) = @_;
    my $from = -s "$dir/cohortd.log" // 0;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDERR, '>>', "$dir/cohortd.log" or die;
        open STDOUT, '>>', "$dir/cohortd.log" or die;
        exec bin('cohortd'), '--data-dir', "$dir/data", '--ingest', "ipc://$dir/ingest",
            '--publish', "ipc://$dir/pub", '--snapshot', "ipc://$dir/snap", '--checkpoint-every', $cp,
            '--plaintext'
            or die "exec: $!";
    }
    sleep($ms / 1000);
    kill 'KILL', $pid;
    wait_exit($pid, 10);
    my $ready = CohortTest::log_of({ log => "$dir/cohortd.log", from => $from }) =~ /ready:/ ? 'ready' : 'starting';
    return "startup-kill +${ms}ms ($ready)";
}

# "projections at seq N: checkpoint C, R log entries replayed" of this run.
sub restore_line {
    my ($d) = @_;
    return CohortTest::log_of($d) =~ /projections at seq (\d+): checkpoint (\d+), (\d+) log entries replayed/
        ? ($1, $2, $3) : (-1, -1, -1);
}

# cohortctl opens the store read-only beside the running daemon. Should
# that open fail ("cannot open the store"), it is tried again (up to 5
# times, 0.1 s apart); each such failure is recorded and reported at the
# end. Returns (exit, stdout, stderr) of the last try.
my @open_failures;
sub ctl {
    my ($args, %o) = @_;
    my ($rc, $out, $err);
    for my $try (1 .. 5) {
        ($rc, $out, $err) = run_cmd([bin('cohortctl'), @$args], timeout => $o{timeout} // 120);
        last unless $rc == 1 && $err =~ /cannot open the store/;
        chomp(my $e = $err);
        push @open_failures, "cohortctl $args->[0] (try $try): $e";
        note("cohortctl $args->[0] could not open the store (try $try): $e");
        sleep 0.1;
    }
    return ($rc, $out, $err);
}

sub head_seq {
    my ($d) = @_;
    my ($rc, $out) = ctl(['status', '--data-dir', $d->{data}]);
    return $rc == 0 && $out =~ /head_seq (\d+)/ ? $1 : -1;
}

# The daemon just restarted with no agent sending: its restored status must
# be at the log's head and equal a full replay. Returns '' or what is wrong.
sub check_restored {
    my ($d) = @_;
    my ($seq, $cp, $rep) = restore_line($d);
    my $head = head_seq($d);
    return "no restore line in the daemon's log" if $seq < 0;
    return "restored to seq $seq but the log's head is $head" if $seq != $head;
    return "checkpoint $cp + $rep replayed != $seq" if $cp + $rep != $seq;
    my ($t, $end) = wait_snapshot($d, $head, 20);
    return 'no snapshot from the restarted daemon' unless $end;
    return "snapshot at seq $end->{seq}, log head $head" if $end->{seq} != $head;
    my $ntopics = grep { defined $t->{$_}{doc} } keys %$t;
    my ($rc, $out, $err) = ctl(['rebuild', '--data-dir', $d->{data}, '--snapshot', $d->{snapshot}]);
    return "rebuild exit $rc: $out$err" if $rc != 0 || $out !~ /^OK$/m;
    return "rebuild: unexpected report: $out"
        unless $out =~ /rebuild: (\d+) log entries replayed to seq (\d+), (\d+) topics, 0 differ/
        && $1 == $head && $2 == $head && $3 == $ntopics;
    return '';
}

# ------------------------------------------------------------- agents ---

# Starts cohort-agent send --json on the events (their lines written to
# DIR/NAME.jsonl, or that file as it is if $events is undef), with its own
# outbox DIR/NAME.outbox if the agent has --outbox; returns {name, pid, n,
# out, err, file, outbox, args}.
sub spawn_agent {
    my ($d, $name, $events, @args) = @_;
    my $a = { name => $name, file => "$dir/$name.jsonl", out => "$dir/$name.out",
              err => "$dir/$name.err", n => $events ? scalar @$events : undef, args => [@args] };
    if ($events) {    # else the file is there already
        open my $fh, '>', $a->{file} or die "$a->{file}: $!";
        print $fh $_->{line}, "\n" for @$events;
        close $fh or die "$a->{file}: $!";
    }
    $a->{outbox} = "$dir/$name.outbox" if $OUTBOX;
    return run_agent($d, $a);
}

# Runs (again) the agent described by $a; returns $a.
sub run_agent {
    my ($d, $a) = @_;
    my @args = @{ $a->{args} };
    push @args, '--outbox', $a->{outbox} if $a->{outbox};
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $a->{out} or die;
        open STDERR, '>', $a->{err} or die;
        open STDIN, '<', '/dev/null' or die;
        exec bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
            '--deadline-s', $DEADLINE_S, @args, $a->{file} or die "exec: $!";
    }
    $a->{pid} = $pid;
    delete $a->{status};
    $a->{t0} = time;
    push @children, $a;
    return $a;
}

# Reaps agents that have exited; returns how many are still running.
sub reap {
    my $running = 0;
    for my $a (@_) {
        next if defined $a->{status};
        if (waitpid($a->{pid}, WNOHANG) == $a->{pid}) { $a->{status} = $?; $a->{t1} = time }
        else { $running++ }
    }
    return $running;
}

sub signal_running {
    my ($sig, @agents) = @_;
    reap(@agents);
    my @r = grep { !defined $_->{status} } @agents;
    kill $sig, map { $_->{pid} } @r if @r;
    return scalar @r;
}

sub out_lines {
    my ($a) = @_;
    open my $fh, '<', $a->{out} or return 0;
    my $n = 0;
    $n++ while defined(my $l = <$fh>);
    return $n;
}

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return <$fh> // '' }

# The results an agent printed: [{line, id, result, seq}].
sub results {
    my ($a) = @_;
    my @r;
    my $text = slurp($a->{out});
    $text =~ s/[^\n]*\z//;    # a line cut short (an agent killed while writing)
    for my $l (split /\n/, $text) {
        if ($l =~ /^\{"line":(\d+),"eventId":"([0-9a-f-]{36})","result":"([A-Z]+)"(?:,"seq":(\d+))?/) {
            push @r, { line => $1, id => $2, result => $3, seq => $4 };
        } elsif ($l =~ /^\{/) {
            my $o = eval { decode_json($l) } // { result => "unparsable: $l" };
            push @r, { line => $o->{line}, id => $o->{eventId}, result => $o->{result}, seq => $o->{seq},
                       reason => $o->{reason} };
        }
    }
    return \@r;
}

# Calls $cb->(seq, agency, id) for each log entry from $from on, read beside
# the running (or stopped) daemon. The output goes through a file, so a long
# soak's log is never held in memory whole.
sub each_entry {
    my ($data, $from, $cb) = @_;
    my $f = "$dir/tail.txt";
    my $st;
    for my $try (1 .. 5) {
        my $pid = fork() // die "fork: $!";
        if (!$pid) {
            open STDOUT, '>', $f or die;
            open STDERR, '>', "$f.err" or die;
            exec bin('cohortctl'), 'tail', '--from', $from, '--data-dir', $data or die "exec: $!";
        }
        $st = wait_exit($pid, 600);
        if (!defined $st) { kill 'KILL', $pid; wait_exit($pid, 5) }
        last unless ($st // 0) == 1 << 8 && slurp("$f.err") =~ /cannot open the store/;
        chomp(my $e = slurp("$f.err"));
        push @open_failures, "cohortctl tail (try $try): $e";
        note("cohortctl tail could not open the store (try $try): $e");
        sleep 0.1;
    }
    if (($st // -1) != 0) {
        diag "cohortctl tail failed (" . ($st // 'timeout') . "): " . slurp("$f.err");
        BAIL_OUT('cohortctl tail failed');
    }
    open my $fh, '<', $f or die "$f: $!";
    my $n = 0;
    while (defined(my $l = <$fh>)) {
        die "cohortctl tail: unexpected line '$l'\n"
            unless $l =~ /^(\d+) (\S+) (\S+) \S+( \(characteristics sealed\))?$/;
        $cb->($1, $2, $3);
        $n++;
    }
    close $fh;
    unlink $f;
    return $n;
}

# ------------------------------------------------------------- run ---

my %tot = (sent => 0, acked => 0, accepted => 0, duplicate => 0, kills => 0, midpush => 0,
           startup_kills => 0, second_kills => 0, agent_kills => 0, undelivered => 0);
my @problems;    # "round N: ..." for the summary
sub problem { my ($r, $what) = @_; push @problems, "round $r: $what"; return 0 }

my $d = start;
# Round 0's setup, pushed without a crash, so round 1 has attendance to send.
{
    my $setup = lines_of(setup_events($TAG0));
    my $a = spawn_agent($d, 'r0-setup', $setup, '--window', '1');
    my $st = wait_exit($a->{pid}, $DEADLINE_S + 30);
    my $res = results($a);
    my $ok = defined $st && $st == 0 && @$res == @$setup && !grep { $_->{result} ne 'ACCEPTED' } @$res;
    ok($ok, 'round 0: the first programme set up (' . scalar(@$res) . ' events)') or diag slurp($a->{err});
    BAIL_OUT('cannot set up the first programme') unless $ok;
    for (@$res) { $seq_of{ $_->{id} } = $_->{seq} }
    for (@$setup) { $agency_of{ $_->{id} } = $_->{agency} }
    pool_add(@$setup);
    $tot{sent} += @$setup;
    $tot{acked} += @$res;
    $tot{accepted} += @$res;
}
my $head = head_seq($d);
is($head, scalar(keys %seq_of), "log head $head after round 0");

my $round = 0;
my $over_budget = 0;
while ($ROUNDS == 0 || $round < $ROUNDS) {
    if (time - $T0 > $BUDGET) { $over_budget = 1; last }
    $round++;
    my $r = $round;
    my $problems_before = @problems;
    my $rt0 = time;
    my $tag = $TAG0 + $r;

    # The round's events: new setup (tag), attendance of the previous tag.
    my $setup = lines_of(setup_events($tag));
    my $att = lines_of(attendance_events($EVENTS, $tag - 1));
    my @given = map { [] } 1 .. $AGENTS;
    for my $e (@$att) {
        my $p = int(rnd() * $AGENTS);
        push @{ $given[$p] }, $e;
        if ($AGENTS > 1 && rnd() < $P_SECOND) {
            my $q = ($p + 1 + int(rnd() * ($AGENTS - 1))) % $AGENTS;
            push @{ $given[$q] }, $e;
        }
    }
    my $resends = 0;
    if (@pool) {    # old, stored events at random places: always DUPLICATE
        for my $g (@given) {
            for (1 .. 1 + int(@$g * 0.03)) {
                splice @$g, int(rnd() * (@$g + 1)), 0, $pool[int(rnd() * @pool)];
                $resends++;
            }
        }
    }
    # A resend drawn twice would put one event twice in a file: keep the first.
    for my $g (@given) { my %s; @$g = grep { !$s{ $_->{id} }++ } @$g }
    my %new = map { $_->{id} => 1 } @$setup, @$att;
    $agency_of{ $_->{id} } = $_->{agency} for @$setup, @$att;

    my @agents;
    push @agents, spawn_agent($d, "r$r-setup$_", $setup, '--window', '1', '--timeout-ms', pick(200, 400))
        for 1 .. 2;
    for my $i (1 .. $AGENTS) {
        push @agents, spawn_agent($d, "r$r-att$i", $given[ $i - 1 ], '--window', pick(8, 64, 256),
                                  '--timeout-ms', pick(200, 300, 600));
    }
    my $total = 0;
    $total += $_->{n} for @agents;
    # The round's other random choices, all drawn now whatever happens, so
    # that a seed gives the same choices however the timing goes.
    my %R = (early => rnd() < 0.2, early_ms => rnd() * 30, frac => 0.02 + 0.96 * rnd(),
             extra => rnd() * 0.003, startup => rnd() < 0.25, startup_ms => int(rnd() * 100),
             second => rnd() < 0.25, second_ms => rnd() * 100, cp => [map { pick(@CHECKPOINT_EVERY) } 1 .. 3],
             agent_kill => rnd() < 0.3, victim => 2 + int(rnd() * $AGENTS));

    # Kill at a random moment.
    my ($how, $extra);
    if ($R{early}) {
        my $ms = $R{early_ms};
        $how = sprintf('early +%.1fms', $ms);
        sleep($ms / 1000);
    } else {
        my $f = $R{frac};
        $extra = $R{extra};
        # ~80 bytes per result line, plus the source with an outbox
        my $want = $f * $total * (80 + ($OUTBOX ? length("$dir/r$r-att1.jsonl") + 12 : 0));
        my $until = time + 60;
        while (time < $until && reap(@agents)) {
            my $bytes = 0;
            $bytes += (-s $_->{out} // 0) for @agents;
            last if $bytes >= $want;
            sleep 0.0005;
        }
        sleep $extra;
        $how = sprintf('at %.0f%% of results +%.1fms', $f * 100, $extra * 1000);
    }
    kill9($d);
    $tot{kills}++;
    # With an outbox, sometimes an attendance agent dies too (kill -9); it
    # is run again (same file, same outbox) once the daemon is back.
    my $victim;
    if ($OUTBOX && $R{agent_kill} && reap($agents[ $R{victim} ])) {
        $victim = $agents[ $R{victim} ];
        kill 'KILL', $victim->{pid};
        waitpid($victim->{pid}, 0);
        $victim->{status} = $?;
        $tot{agent_kills}++;
    }
    my $paused = signal_running('STOP', @agents);
    my $at_kill = 0;
    $at_kill += out_lines($_) for @agents;
    my $mid = $paused > 0 && $at_kill < $total;
    $tot{midpush}++ if $mid;
    my @notes = ("kill $how: $paused/" . scalar(@agents) . " agents running, $at_kill/$total results in");
    push @notes, "agent $victim->{name} killed too (" . out_lines($victim) . " of its $victim->{n} results in)" if $victim;

    if ($R{startup}) { push @notes, startup_kill($R{startup_ms}, $R{cp}[0]); $tot{startup_kills}++; $tot{kills}++ }
    $d = start($R{cp}[1]);
    my ($rseq, $rcp, $rrep) = restore_line($d);
    push @notes, "restored seq $rseq = checkpoint $rcp + $rrep replayed (checkpoint-every $d->{cp})";
    my $why = check_restored($d);
    ok($why eq '', "round $r: restored status after kill -9 equals a full replay") or problem($r, $why), diag $why;
    if ($victim) {    # the killed agent's run, then the same agent again
        my %again = (%$victim, name => "$victim->{name}.again", out => "$victim->{out}.again",
                     err => "$victim->{err}.again");
        $victim->{killed} = 1;
        push @agents, run_agent($d, \%again);
        $total += $again{n};
    }
    signal_running('CONT', @agents);

    if ($R{second} && reap(@agents)) {    # a second kill, once the agents are back
        my $ms = $R{second_ms};
        sleep($ms / 1000);
        kill9($d);
        $tot{kills}++;
        $tot{second_kills}++;
        my $p2 = signal_running('STOP', @agents);
        $tot{midpush}++ if $p2;
        $d = start($R{cp}[2]);
        my ($s2, $c2, $p2r) = restore_line($d);
        push @notes, sprintf('second kill +%.0fms (%d agents running): restored %d = %d + %d', $ms, $p2, $s2,
                             $c2, $p2r);
        my $why2 = check_restored($d);
        ok($why2 eq '', "round $r: restored status after the second kill equals a full replay")
            or problem($r, $why2), diag $why2;
        signal_running('CONT', @agents);
    }

    # The agents finish on the restarted daemon.
    my $until = time + $DEADLINE_S + 30;
    while (reap(@agents) && time < $until) {
        if (waitpid($d->{pid}, WNOHANG) == $d->{pid}) {    # the daemon died by itself
            $d->{status} = $?;
            $d->{pid} = 0;
            last;
        }
        sleep 0.01;
    }
    if (!$d->{pid}) {
        my $msg = "cohortd exited by itself (status $d->{status}):\n" . CohortTest::log_of($d);
        fail("round $r: the daemon keeps running");
        problem($r, 'the daemon exited by itself');
        diag $msg;
        signal_running('KILL', @agents);
        reap(@agents);
        last;
    }
    my $stuck = signal_running('KILL', @agents);
    reap(@agents);

    # Every event given to an agent: exactly one result, ACCEPTED or
    # DUPLICATE; the outbox (if any) empty.
    my @bad;
    my ($acked, $acc, $dup) = (0, 0, 0);
    push @bad, "$stuck agents still running after ${DEADLINE_S}s + 30s" if $stuck;
    my @acks;    # [id, seq, result, agent]
    for my $a (@agents) {
        my $res = results($a);
        my %by_line;
        for my $x (@$res) {
            $by_line{ $x->{line} // 0 }++;
            if ($x->{result} eq 'ACCEPTED' || $x->{result} eq 'DUPLICATE') {
                $acked++;
                $x->{result} eq 'ACCEPTED' ? $acc++ : $dup++;
                push @acks, [$x->{id}, $x->{seq}, $x->{result}, $a->{name}];
            } else {
                $tot{undelivered}++ if $x->{result} eq 'UNDELIVERED';
                push @bad, "$a->{name}: line $x->{line} $x->{result}" . ($x->{reason} ? " ($x->{reason})" : '')
                    if @bad < 10;
            }
        }
        next if $a->{killed};    # its acks count; the run again must deliver everything
        my $missing = grep { !$by_line{$_} } 1 .. $a->{n};
        # Run again, an agent first sends what its outbox kept, while it
        # reads the file again: a line whose first copy has left the outbox
        # by then is sent (and reported) twice, DUPLICATE the second time.
        my $twice = grep { $_ > ($a->{name} =~ /\.again$/ ? 2 : 1) } values %by_line;
        push @bad, "$a->{name}: $missing of $a->{n} events without a result" if $missing;
        push @bad, "$a->{name}: $twice events with too many results" if $twice;
        my $code = defined $a->{status} ? ($a->{status} & 127 ? 'signal ' . ($a->{status} & 127) : $a->{status} >> 8)
                                        : 'not reaped';
        push @bad, "$a->{name}: exit $code: " . slurp($a->{err}) if $code ne '0';
        if ($a->{outbox}) {
            # Empty: a flush (or, without one, a send of an empty input)
            # has nothing left to send, and no event went to the
            # dead-letter file.
            my @cmd = $FLUSH ? ('flush', '--json', '--outbox', $a->{outbox})
                             : ('send', '--json', '--outbox', $a->{outbox}, '/dev/null');
            my ($orc, $oout, $oerr) = run_cmd([bin('cohort-agent'), @cmd, '--endpoint', $d->{endpoint},
                                               '--deadline-s', 60], timeout => 90);
            my $left = () = $oout =~ /^\{/mg;
            push @bad, "$a->{name}: outbox not empty: $cmd[0] sent $left more events" if $left;
            push @bad, "$a->{name}: outbox $cmd[0] exit $orc: $oerr" if $orc;
            push @bad, "$a->{name}: dead letters: " . slurp("$a->{outbox}/dead-letter.jsonl")
                if -s "$a->{outbox}/dead-letter.jsonl";
        }
    }
    ok(!@bad, "round $r: every event given to an agent was delivered ($acked results ACCEPTED or DUPLICATE)")
        or problem($r, join('; ', @bad)), diag join("\n", @bad);

    # The log's new entries: exactly the round's new events, once each,
    # gap-free from the previous head; every ack at the sequence the log
    # holds the event at.
    my @lb;
    my $expect = $head + 1;
    my %fresh;
    my $nentries = each_entry($d->{data}, $head + 1, sub {
        my ($seq, $ag, $id) = @_;
        push @lb, "gap: seq $seq where $expect was expected" if $seq != $expect && @lb < 10;
        $expect = $seq + 1;
        if (exists $seq_of{$id} || $fresh{$id}) { push @lb, "event $id twice in the log (seq $seq)" if @lb < 10 }
        elsif (!$new{$id}) { push @lb, "event $id at seq $seq was never given to an agent" if @lb < 10 }
        elsif (($agency_of{$id} // '') ne $ag) { push @lb, "event $id stored under agency $ag" if @lb < 10 }
        $fresh{$id} = 1;
        $seq_of{$id} //= $seq;
    });
    my @lost = grep { !$fresh{$_} } keys %new;
    push @lb, scalar(@lost) . " events lost, e.g. $lost[0]" if @lost;
    for my $k (@acks) {
        my ($id, $seq, $res, $who) = @$k;
        my $at = $seq_of{$id};
        if (!defined $at) { push @lb, "$who: $id acked $res at seq $seq, not in the log" if @lb < 10; next }
        if ($seq != $at) { push @lb, "$who: $id acked $res at seq $seq, in the log at $at" if @lb < 10 }
        if ($res eq 'ACCEPTED' && !$fresh{$id}) { push @lb, "$who: $id ACCEPTED again (first stored earlier)" if @lb < 10 }
    }
    my $new_head = head_seq($d);
    push @lb, "log head $new_head, last entry " . ($expect - 1) if $new_head != $expect - 1;
    ok(!@lb, "round $r: the log gained exactly the " . scalar(keys %new) . ' new events, once each, at their acked sequences')
        or problem($r, join('; ', @lb)), diag join("\n", @lb);
    $head = $new_head;
    pool_add(@$setup, @$att);
    if (@problems == $problems_before && !$KEEP) {    # a passed round's files are not needed
        for my $a (@agents) { unlink $a->{file}, $a->{out}, $a->{err}; remove_tree($a->{outbox}) if $a->{outbox} }
    }

    $tot{sent} += $total;
    $tot{acked} += $acked;
    $tot{accepted} += $acc;
    $tot{duplicate} += $dup;
    note(sprintf("round %d: %s; sent %d (%d old resends), acked %d (%d accepted, %d duplicate), %d new in log, head %d; %.2fs",
                 $r, join('; ', @notes), $total, $resends, $acked, $acc, $dup, $nentries, $head,
                 time - $rt0));
    if (@problems && !$ENV{COHORT_SOAK_CONTINUE}) {
        diag "stopping after round $r, which failed (COHORT_SOAK_CONTINUE=1 goes on)";
        last;
    }
}
if (@problems && !$ENV{COHORT_SOAK_CONTINUE}) {
    # stopped at the failing round: the failures above say why
} elsif ($ROUNDS) {
    ok(!$over_budget && $round == $ROUNDS, "all $ROUNDS rounds within the ${BUDGET}s budget")
        or diag "only $round rounds in ${BUDGET}s";
} else {
    ok($round >= 1, "$round rounds in the ${BUDGET}s budget");
}
ok($tot{midpush} * 2 >= $tot{kills} - $tot{startup_kills},
   "most kills landed while agents were sending ($tot{midpush} of " . ($tot{kills} - $tot{startup_kills}) . ')');

# ------------------------------------------------------------- the end ---

# One more crash with nothing in flight, then compare the restored status
# with a clean restart and with a fresh daemon fed the exported log.
kill9($d);
$d = start;
my $why = check_restored($d);
ok($why eq '', 'final kill -9: restored status equals a full replay') or problem('end', $why), diag $why;
my ($tc) = wait_snapshot($d, $head, 20);
is(stop_daemon($d), 0, 'clean stop');
my ($vrc, $vout) = ctl(['verify', '--data-dir', $d->{data}], timeout => 300);
is($vrc, 0, 'cohortctl verify: gap-free, the dedupe index agrees') or diag $vout;

my (%count, $extra);
my $in_log = each_entry($d->{data}, 1, sub { $count{ $_[2] }++; $extra++ unless exists $agency_of{ $_[2] } });
my $lost = grep { !$count{$_} } keys %agency_of;
my $dups = grep { $_ > 1 } values %count;
is($in_log, scalar(keys %agency_of), "the log holds $in_log entries: every distinct event given to an agent");
is($lost, 0, 'no event lost');
is($dups, 0, 'no event stored twice');
is($extra // 0, 0, 'nothing in the log that no agent was given');

# A clean restart: the documents are those restored after the crash.
$d = start;
my ($tr, $er) = wait_snapshot($d, $head, 20);
sub docs { my ($t) = @_; return { map { $_ => $t->{$_}{doc} } grep { defined $t->{$_}{doc} } keys %{ $t // {} } } }
my $crash_docs = docs($tc);
ok(keys %$crash_docs >= 2 * ($round + 1),
   scalar(keys %$crash_docs) . " status documents after the final crash (at least a programme and a cohort topic for each of the " . ($round + 1) . ' programmes)');
is_deeply(docs($tr), $crash_docs, 'after a clean restart: the same documents as restored after kill -9');

# A fresh daemon fed the exported log in order has the same documents.
my $xpid = fork() // die "fork: $!";
if (!$xpid) {
    open STDOUT, '>', "$dir/export.json" or die;
    open STDERR, '>', "$dir/export.err" or die;
    exec bin('cohortctl'), 'tail', '--json', '--unseal', '--data-dir', $d->{data} or die "exec: $!";
}
is(wait_exit($xpid, 600), 0, 'cohortctl tail --json exports the log') or diag slurp("$dir/export.err");
is(stop_daemon($d), 0, 'clean stop');
my $nexport = 0;
{
    open my $in, '<', "$dir/export.json" or die;
    open my $out, '>', "$dir/replica.jsonl" or die;
    while (defined(my $l = <$in>)) {
        die "unexpected tail line: $l" unless $l =~ /^\{"seq":(\d+),"event":(.*)\}$/;
        print $out "$2\n";
        $nexport++;
    }
    close $out or die;
    unlink "$dir/export.json";
}
my $rdir = tempdir('cohort-soak-replica-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $rep = start_daemon(dir => $rdir);
push @children, $rep;
ok($rep->{pid}, 'replica daemon started');
my $ra = spawn_agent($rep, 'replica', undef, '--window', '1024', '--timeout-ms', '60000', '--deadline-s', 600);
my $rst = wait_exit($ra->{pid}, 660);
my $in_order = 0;
{
    open my $fh, '<', $ra->{out} or die;
    while (defined(my $l = <$fh>)) {
        $in_order++ if $l =~ /^\{"line":(\d+),"eventId":"[^"]+","result":"ACCEPTED","seq":(\d+)[,}]/ && $1 == $2;
    }
}
is($in_order, $nexport, "replica: every one of the $nexport events ACCEPTED at its original sequence")
    or diag slurp($ra->{err});
my ($trep) = wait_snapshot($rep, $nexport, 30);
my $rdocs = docs($trep);
my @differ = grep { !exists $crash_docs->{$_} || !exists $rdocs->{$_}
                    || $js->encode($crash_docs->{$_}) ne $js->encode($rdocs->{$_}) }
    sort(keys %{ { %$crash_docs, %$rdocs } });
is(scalar(@differ), 0, scalar(keys %$rdocs) . ' topics: every document equal to the replica\'s (fed the log in order)')
    or diag "differ: @differ[0 .. ($#differ < 9 ? $#differ : 9)]";
is(stop_daemon($rep), 0, 'replica: clean stop');

my $summary = sprintf('soak summary: seed %d, rounds %d, events sent %d, acked %d (%d accepted, %d duplicate), '
                      . 'in log %d, lost %d, duplicated %d; daemon kills %d (%d mid-push, %d at start-up, %d second); '
                      . 'agent kills %d; undelivered %d; %.1fs', $SEED, $round, $tot{sent}, $tot{acked}, $tot{accepted},
                      $tot{duplicate}, $in_log // 0, $lost, $dups, $tot{kills}, $tot{midpush},
                      $tot{startup_kills}, $tot{second_kills}, $tot{agent_kills}, $tot{undelivered}, time - $T0);
diag($_) for @problems;
diag("cohortctl could not open the store beside the daemon " . scalar(@open_failures)
     . " times (each retried): $open_failures[0]") if @open_failures;
diag($summary);
done_testing();
