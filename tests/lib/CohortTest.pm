# CohortTest: helpers for the black-box integration tests. They start the
# real binaries from the build directory ($COHORT_BUILD, default ./build)
# with a temporary data directory and an ipc:// endpoint inside it, so no
# test touches the network or another test's files.
package CohortTest;
use strict;
use warnings;
use Exporter 'import';
use File::Temp qw(tempdir);
use File::Spec;
use Cwd qw(abs_path);
use JSON::PP;
use Digest::SHA qw(sha1);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(wait_settled bin tmpdir start_daemon stop_daemon alive kill9_daemon wait_exit run_cmd
                 agent_send read_jsonl write_jsonl make_events setup_events attendance_events decode_reply zraw log_of
                 repo_root snapshot_topics wait_snapshot start_watch watch_lines watch_state stop_watch
                 pref free_port);

# A TCP port on 127.0.0.1 that was free a moment ago (another process may
# take it before the caller binds it).
sub free_port {
    require IO::Socket::INET;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1,
                                  Proto => 'tcp')
        or die "no free port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# Daemons start with --plaintext (development mode) unless start_daemon is
# given curve => 1, and the client tools are told the same through
# COHORT_PLAINTEXT; a CURVE test deletes it and passes keys.
$ENV{COHORT_PLAINTEXT} //= 1;

# A real /etc/cohortd/cohortd.conf must never change what a test runs: every
# cohortd started by a test (start_daemon or directly) reads this empty file
# instead (daemon/config.h: COHORTD_CONFIG). A test may still pass --config.
$ENV{COHORTD_CONFIG} = '/dev/null';
# Nor systemd's RUNTIME_DIRECTORY (if the tests run under a service), which
# would move every daemon's default control socket into one shared place.
delete $ENV{RUNTIME_DIRECTORY};

my $root = abs_path(File::Spec->catdir((File::Spec->splitpath(abs_path(__FILE__)))[1], '..', '..'));
sub repo_root { $root }
my $build = abs_path($ENV{COHORT_BUILD} // "$root/build") // ($ENV{COHORT_BUILD} // "$root/build");

# Path of a built program: bin('cohortd'), bin('zraw') (test tool).
sub bin {
    my ($name) = @_;
    for my $p ("$build/$name", "$build/tests/$name") { return $p if -x $p }
    die "no built $name under $build (build first, or set COHORT_BUILD)\n";
}

my @tmpdirs;
sub tmpdir { my $d = tempdir('cohort-it-XXXXXX', TMPDIR => 1, CLEANUP => 1); push @tmpdirs, $d; $d }

# A daemon killed with -9 leaves RocksDB's info log in /dev/shm (named after
# its data directory, see daemon/store.c); remove those of our temp dirs.
END {
    for my $d (@tmpdirs) {
        (my $flat = abs_path($d) // $d) =~ s{^/}{};
        $flat =~ s/[^A-Za-z0-9.-]/_/g;
        unlink glob("/dev/shm/${flat}_*LOG*");
    }
}

# Starts cohortd on ipc://DIR/ingest with data in DIR/data. Returns a hash
# with pid, endpoint, log path. Waits (bounded) for its "ready" line.
# Options: dir, endpoint, publish, snapshot, args (extra cohortd flags), wrap
# (words run before cohortd, which they must exec in place, e.g. nsenter).
sub start_daemon {
    my (%o) = @_;
    my $dir = $o{dir} // tmpdir();
    my $ep = $o{endpoint} // "ipc://$dir/ingest";
    my $pub = $o{publish} // "ipc://$dir/pub";      # status on ipc:// too: no TCP ports
    my $snap = $o{snapshot} // "ipc://$dir/snap";
    my $log = "$dir/cohortd.log";
    my $from = -s $log // 0;    # earlier runs in the same dir appended before this
    my @cmd = (@{ $o{wrap} // [] }, bin('cohortd'), '--data-dir', "$dir/data", '--ingest', $ep,
               '--publish', $pub, '--snapshot', $snap, ($o{curve} ? () : ('--plaintext')),
               @{ $o{args} // [] });
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDERR, '>>', $log or die;
        open STDOUT, '>>', $log or die;
        exec @cmd or die "exec: $!";
    }
    my $d = { pid => $pid, endpoint => $ep, dir => $dir, log => $log, data => "$dir/data",
              from => $from, publish => $pub, snapshot => $snap };
    my $until = time + 20;
    while (time < $until) {
        return $d if log_of($d) =~ /ready:/;
        if (waitpid($pid, WNOHANG) == $pid) { $d->{status} = $?; $d->{pid} = 0; return $d }
        sleep 0.05;
    }
    die "cohortd did not become ready within 20 s:\n" . log_of($d);
}

# This daemon run's log (not earlier runs that shared the directory).
sub log_of {
    my ($d) = @_;
    open my $fh, '<', $d->{log} or return '';
    seek $fh, $d->{from} // 0, 0;
    local $/;
    return <$fh> // '';
}

# True while the daemon runs (kill 0 alone is also true for a daemon that
# died and is not reaped yet); reaps it and records its status otherwise.
sub alive {
    my ($d) = @_;
    return 0 unless $d->{pid};
    if (waitpid($d->{pid}, WNOHANG) == $d->{pid}) { $d->{status} = $?; $d->{pid} = 0; return 0 }
    return kill(0, $d->{pid}) ? 1 : 0;
}

sub _slurp { my ($p) = @_; open(my $f, '<', $p) or return '?'; local $/; return <$f> // '' }

# Waits up to $secs for a child to exit; returns its wait status or undef.
sub wait_exit {
    my ($pid, $secs) = @_;
    my $until = time + $secs;
    while (time < $until) {
        return $? if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    return undef;
}

# SIGTERM (or the given signal) and wait; returns the exit status.
sub stop_daemon {
    my ($d, $sig) = @_;
    return $d->{status} unless $d->{pid};
    kill $sig // 'TERM', $d->{pid};
    my $st = wait_exit($d->{pid}, 30);
    if (!defined $st) {
        # Hung: say where each thread waits (kernel wchan, thread name)
        # before killing, so a rare hang can be diagnosed from the CI log.
        for my $t (glob "/proc/$d->{pid}/task/*") {
            my ($comm, $wchan) = map { _slurp("$t/$_") } qw(comm wchan);
            chomp $comm;
            print STDERR "# stop_daemon: pid $d->{pid} did not exit in 30 s; thread $comm waits in $wchan\n";
        }
        kill 'KILL', $d->{pid};
        $st = wait_exit($d->{pid}, 5);
    }
    $d->{pid} = 0;
    return $st;
}

sub kill9_daemon {
    my ($d) = @_;
    kill 'KILL', $d->{pid};
    wait_exit($d->{pid}, 10);
    $d->{pid} = 0;
}

# Runs a command, bounded by $o{timeout} seconds (default 60). Returns
# (exit code, stdout, stderr).
sub run_cmd {
    my ($cmd, %o) = @_;
    my $dir = tmpdir();
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$dir/out" or die;
        open STDERR, '>', "$dir/err" or die;
        open STDIN, '<', ($o{stdin} // '/dev/null') or die;
        exec @$cmd or die "exec @$cmd: $!";
    }
    my $st = wait_exit($pid, $o{timeout} // 60);
    if (!defined $st) { kill 'KILL', $pid; wait_exit($pid, 5); $st = -1 << 8 }
    my $slurp = sub { open my $f, '<', $_[0] or return ''; local $/; <$f> // '' };
    return ($st >> 8, $slurp->("$dir/out"), $slurp->("$dir/err"));
}

# cohort-agent send --json; returns (exit, [results], stderr).
sub agent_send {
    my ($d, $file, @extra) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                    $d->{endpoint}, @extra, $file], timeout => 120);
    my @res = map { decode_json($_) } grep { /^\{/ } split /\n/, $out;
    return ($rc, \@res, $err);
}

sub read_jsonl {
    my ($text) = @_;
    return [map { decode_json($_) } grep { /^\{/ } split /\n/, $text];
}

sub write_jsonl {
    my ($path, $events) = @_;
    open my $fh, '>', $path or die "$path: $!";
    my $js = JSON::PP->new->canonical;
    print $fh $js->encode($_), "\n" for @$events;
    close $fh;
}

# A participant ref in the pseudonym form the daemon requires by default
# (docs/protocol.md: "p1:" and the base32 of 20 bytes, 32 of [a-z2-7]) for a
# test's label, e.g. pref('t1p004'): the same label always gives the same ref.
sub pref {
    my ($label) = @_;
    my $bits = unpack('B*', sha1($label));
    return 'p1:' . join('', map { ('a' .. 'z', 2 .. 7)[oct("0b$_")] } $bits =~ /(.{5})/g);
}

my @AGENCIES = qw(wm-police cps-wm hmcts-wm probation-wm);
my $PEOPLE = 20;

sub _id { my ($tag, $kind, $i) = @_; sprintf('%08x-%04x-7%03x-8000-%012x', 0x01900000 + $tag, $tag, $kind, $i) }

# Events that set up programme "it-TAG", cohort "c1" and 20 enrolled
# participants (ids fixed by TAG, so sets with different tags never clash).
sub setup_events {
    my ($tag) = @_;
    my $prog = "it-$tag";
    my @ev = (
        { eventId => _id($tag, 1, 1), agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
          programmeDefined => { programmeId => $prog, name => "Integration test $tag",
              participantComponents => [
                  { kind => 'TRAINING_COURSE', count => 1, minutesEach => 1440 },
                  { kind => 'COACHING', count => 6, minutesEach => 120 } ] } },
        { eventId => _id($tag, 1, 2), agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
          cohortOpened => { programmeId => $prog, cohortId => 'c1', places => 1000,
              startsOn => '2009-04-01', endsOn => '2009-09-30', agencies => \@AGENCIES } },
    );
    my $n = 3;
    for my $p (1 .. $PEOPLE) {
        my $ag = $AGENCIES[$p % @AGENCIES];
        my $ref = pref(sprintf('t%dp%03d', $tag, $p));
        push @ev, { eventId => _id($tag, 2, $n++), agency => $ag, occurredAt => '2009-02-01T09:00:00Z',
            participantRegistered => { participantRef => $ref, role => 'PARTICIPANT',
                ethnicity => (qw(B1 A1 M1 W1 O9))[$p % 5], gender => ($p % 2 ? 'FEMALE' : 'MALE'),
                disability => 'NOT_DISABLED' } };
        for my $stage (qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)) {
            push @ev, { eventId => _id($tag, 2, $n++), agency => $ag, occurredAt => '2009-03-01T09:00:00Z',
                enrolmentChanged => { participantRef => $ref, programmeId => $prog, cohortId => 'c1',
                    stage => $stage } };
        }
    }
    return \@ev;
}

# $n attendance events (coaching sessions, cycling over the 20 people and 6
# sessions, so later ones are corrections) for the setup of the same TAG.
sub attendance_events {
    my ($n, $tag) = @_;
    my @ev;
    for my $i (1 .. $n) {
        my $p = $i % $PEOPLE + 1;
        push @ev, {
            eventId => _id($tag, 3, $i),
            agency => $AGENCIES[$p % @AGENCIES],
            occurredAt => '2009-05-01T09:00:00Z',
            attendanceRecorded => {
                participantRef => pref(sprintf('t%dp%03d', $tag, $p)),
                programmeId => "it-$tag", cohortId => 'c1',
                component => 'COACHING', sessionId => 'coaching-' . ($i % 6 + 1),
                sessionDate => '2009-05-01', status => ($i % 7 ? 'PRESENT' : 'ABSENT'),
                minutes => ($i % 7 ? 120 : 0),
            },
        };
    }
    return \@ev;
}

# Exactly $n valid events: the setup for TAG, then attendance.
sub make_events {
    my ($n, $tag) = @_;
    $tag //= 1;
    my $s = setup_events($tag);
    die "make_events: need at least " . scalar(@$s) . " events\n" if $n < @$s;
    return [@$s, @{ attendance_events($n - @$s, $tag) }];
}

# The daemon's current status documents under $prefix (default: all), from
# `cohortctl snapshot`. Returns ({topic => {rev, seq, doc}}, end marker
# {end, seq, count}), or () if the snapshot failed.
sub snapshot_topics {
    my ($d, $prefix) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot},
                                    $prefix // ''], timeout => 30);
    return () if $rc != 0;
    my (%t, $end);
    for my $l (@{ read_jsonl($out) }) {
        if ($l->{end}) { $end = $l }
        else { $t{ $l->{topic} } = { rev => $l->{rev}, seq => $l->{seq}, doc => $l->{doc} } }
    }
    return () unless $end;
    return (\%t, $end);
}

# Polls snapshot_topics until its end marker reflects at least log sequence
# $seq (status is published shortly after the ack), for up to $secs seconds
# (default 10). Returns what snapshot_topics returns (the last try).
sub wait_snapshot {
    my ($d, $seq, $secs, $prefix) = @_;
    my $until = time + ($secs // 10);
    my @r;
    while (1) {
        @r = snapshot_topics($d, $prefix);
        return @r if @r && $r[1]{seq} >= $seq;
        return @r if time >= $until;
        sleep 0.05;
    }
}

# Like wait_snapshot, then also until the documents stop changing: the end
# marker's seq is the log head, and a topic the render scheduler holds back
# (coalesce_ms, the render gate; longer under ASan) is published a little
# later. Settled = no topic held back (the end marker's pending is 0) and
# the same (topic, rev) set in two snapshots 300 ms apart, within $secs
# seconds (default 20). Returns the last snapshot.
sub wait_settled {
    my ($d, $seq, $secs, $prefix) = @_;
    my $until = time + ($secs // 20);
    my @r = wait_snapshot($d, $seq, $secs, $prefix);
    while (@r && time < $until) {
        sleep 0.3;
        my @n = snapshot_topics($d, $prefix);
        return @r unless @n;
        my $same = join(',', map { "$_=$r[0]{$_}{rev}" } sort keys %{ $r[0] }) eq
                   join(',', map { "$_=$n[0]{$_}{rev}" } sort keys %{ $n[0] });
        @r = @n;
        return @r if $same && !($r[1]{pending} // 0);
    }
    return @r;
}

# Starts `cohort-watch --json` on the daemon's status endpoints in the
# background (stdout to a file), with @$args before the prefixes. Its own
# --timeout-s (default 60) bounds it. Returns {pid, out, err}.
sub start_watch {
    my ($d, $args, @prefixes) = @_;
    my $dir = tmpdir();
    my @a = @{ $args // [] };
    push @a, '--timeout-s', '60' unless grep { $_ eq '--timeout-s' } @a;
    my $w = { out => "$dir/out", err => "$dir/err" };
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', $w->{out} or die;
        open STDERR, '>', $w->{err} or die;
        open STDIN, '<', '/dev/null' or die;
        exec bin('cohort-watch'), '--json', '--publish', $d->{publish}, '--snapshot',
            $d->{snapshot}, @a, @prefixes or die "exec: $!";
    }
    $w->{pid} = $pid;
    return $w;
}

# The complete JSON lines a watcher has printed so far (decoded).
sub watch_lines {
    my ($w) = @_;
    open my $fh, '<', $w->{out} or return [];
    local $/;
    my $text = <$fh> // '';
    $text =~ s/[^\n]*\z//;    # a line still being written
    return [map { decode_json($_) } grep { /^\{/ } split /\n/, $text];
}

# A watcher's state from its output: (last applied {rev, seq, doc} per
# topic, removals dropped; [resync reasons]).
sub watch_state {
    my ($w) = @_;
    my (%t, @resync);
    for my $l (@{ watch_lines($w) }) {
        if (exists $l->{resync}) { push @resync, $l->{resync}; next }
        next unless defined $l->{topic};
        if (defined $l->{doc}) { $t{ $l->{topic} } = { rev => $l->{rev}, seq => $l->{seq}, doc => $l->{doc} } }
        else { delete $t{ $l->{topic} } }
    }
    return (\%t, \@resync);
}

# SIGTERM a watcher and wait (bounded); returns its exit code, or undef.
sub stop_watch {
    my ($w) = @_;
    return $w->{code} if exists $w->{code};
    kill 'TERM', $w->{pid};
    my $st = wait_exit($w->{pid}, 10);
    if (!defined $st) { kill 'KILL', $w->{pid}; wait_exit($w->{pid}, 5); return $w->{code} = undef }
    return $w->{code} = $st >> 8;
}

# Sends raw frames with the zraw tool; returns (exit, [reply frames as hex]).
sub zraw {
    my ($d, @frames) = @_;
    my ($rc, $out) = run_cmd([bin('zraw'), $d->{endpoint}, @frames], timeout => 30);
    my @rep = split /\n/, $out, -1;
    pop @rep if @rep && $rep[-1] eq '';    # the text's final newline
    return ($rc, \@rep);
}

# Decodes the top level of a protobuf message given as hex: returns a hash
# of field number => [values] (varints as numbers, bytes as raw strings).
sub decode_reply {
    my ($hex) = @_;
    my $b = pack('H*', $hex);
    my %f;
    my $pos = 0;
    my $varint = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            die "truncated varint" if $pos >= length $b;
            my $c = ord substr($b, $pos++, 1);
            $v += ($c & 0x7f) * (2 ** $shift);
            $shift += 7;
            last unless $c & 0x80;
        }
        return $v;
    };
    while ($pos < length $b) {
        my $key = $varint->();
        my ($num, $wt) = ($key >> 3, $key & 7);
        if ($wt == 0) { push @{ $f{$num} }, $varint->() }
        elsif ($wt == 2) { my $l = $varint->(); push @{ $f{$num} }, substr($b, $pos, $l); $pos += $l }
        else { die "unexpected wire type $wt" }
    }
    return \%f;
}

1;
