#!/usr/bin/perl
# cohortctl over the daemon's control endpoint (issue 6), against the real
# daemon on ipc:// endpoints in a temp dir:
# - every command's --help exits 0 with its own usage (lines fit 80
#   columns); unknown commands, unknown options, options a command does not
#   take, bad values and missing arguments exit 2;
# - status: the right head seq, version, mode, data directory, and the
#   connected agents and subscribers (a cohort-agent watch and a
#   cohort-watch), back to 0 when they leave;
# - stats: counters move after a send (accepted, frames, commits);
# - tail --from N [--json] over control equals the offline output (the
#   store read directly), with more entries than a page (default and
#   --page 7), --limit, and past the head; the daemon counts its pages;
#   while an agent sends, tail stops at the head it started with;
# - --config FILE finds the daemon from its configuration file;
# - the control socket is mode 0660;
# - with no daemon (no socket file, or a stale one nothing listens on):
#   status and tail fall back to the store with a note, stats and backup
#   fail (1) saying they cannot reach it; a user who may not connect to the
#   socket is told "Permission denied" (1), with no fallback;
# - with CURVE: an operator key is served, an agent key is refused (1), no
#   key is a usage error (2); tail over CURVE equals the offline output;
#   cohortctl's connections make the daemon log no failed handshake;
# - progress: under a pseudo-terminal (script(1)) cohort-agent send,
#   cohortctl rebuild and restore draw a bar ("\r", percentage, rate, ETA);
#   without a terminal they print plain lines (every
#   COHORT_PROGRESS_INTERVAL_S, and a final line), none by default for a
#   short run, and none with --no-progress.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use Cwd qw(abs_path);
use Time::HiRes qw(sleep time);

my $ctl = bin('cohortctl');
sub ctl { run_cmd([$ctl, @_], timeout => 120) }

# ---- usage --------------------------------------------------------------
my @cmds = qw(status stats tail backup restore verify rebuild snapshot keygen);
{
    my ($rc, $out) = ctl('--help');
    is($rc, 0, 'cohortctl --help exits 0');
    like($out, qr/^  \Q$_\E\b/m, "  and lists $_") for @cmds;
    for my $c (@cmds) {
        ($rc, $out, my $err) = ctl($c, '--help');
        is($rc, 0, "cohortctl $c --help exits 0");
        like($out, qr/^Usage: cohortctl $c\b/, "  with $c\'s own usage");
        is(scalar(grep { length > 80 } split /\n/, $out), 0, '  every line fits 80 columns');
    }
    ($rc, $out) = ctl('help', 'tail');
    like($out, qr/^Usage: cohortctl tail /, 'cohortctl help tail');
    my @bad = ([['frobnicate'], qr/unknown command 'frobnicate'/],
               [[], qr/no command given/],
               [['status', '--bogus'], qr/unknown option --bogus/],
               [['status', '--from', '3'], qr/status does not take --from/],
               [['backup', '--json', '/tmp/x'], qr/backup does not take --json/],
               [['verify', '--control', 'ipc:///x'], qr/verify does not take --control/],
               [['tail', '--from', 'abc'], qr/--from: 'abc' is not a sequence number/],
               [['tail', '--from', '9223372036854775808'], qr/--from: '9223372036854775808' is not a sequence number/],
               [['tail', '--page', '0'], qr/--page: '0' is not 1-10000/],
               [['tail', '--from'], qr/--from needs a value/],
               [['backup'], qr/backup needs a BACKUP_DIR/],
               [['restore', '/x'], qr/restore needs BACKUP_DIR DATA_DIR/],
               [['keygen', 'a', 'b'], qr/unexpected argument 'b'/],
               [['status', 'extra'], qr/unexpected argument 'extra'/],
               [['help', 'nosuch'], qr/no such command/]);
    for my $b (@bad) {
        my ($rc, $out, $err) = ctl(@{ $b->[0] });
        is($rc, 2, "cohortctl @{ $b->[0] } exits 2");
        like($err, $b->[1], '  saying why');
    }
}

# ---- a plaintext daemon ----------------------------------------------------
my $dir = tmpdir();
my $N = 2500;    # more than a page (1000)
write_jsonl("$dir/a.jsonl", make_events($N, 63));
my $d = start_daemon(dir => $dir);
ok($d->{pid}, 'daemon started') or BAIL_OUT(log_of($d));
my $data = abs_path($d->{data});
my @dd = ('--data-dir', $d->{data});
is((stat "$d->{data}/control.sock")[2] & 0777, 0660, 'the control socket is mode 0660');

# A user who may not connect (not in the daemon's group: here nobody, for
# whom the data directory is closed) is told so, with no fallback to the
# store that would fail the same way.
SKIP: {
    my $setpriv = -x '/usr/bin/setpriv' ? '/usr/bin/setpriv' : undef;
    skip 'needs root and setpriv(1) to run cohortctl as another user', 3 unless $> == 0 && $setpriv;
    my ($rc, $out, $err) = run_cmd([$setpriv, '--reuid=65534', '--regid=65534', '--clear-groups',
                                    $ctl, 'status', @dd], timeout => 60);
    is($rc, 1, 'status by a user who may not use the control socket exits 1');
    like($err, qr/cannot reach the daemon's control socket \S+control\.sock: Permission denied \(operators must be in the daemon's group/,
         '  saying permission is denied, and why');
    unlike($err, qr/no daemon answers|reading the store/, '  not that no daemon answers, and no fallback to the store');
}

sub kv { my ($text) = @_; return { map { /^(\S+) (.*)$/ ? ($1 => $2) : () } split /\n/, $text } }
sub status_of { my ($rc, $out, $err) = ctl('status', @_); return ($rc, kv($out), $out, $err) }

my ($rc, $st, $out, $err) = status_of(@dd);
is($rc, 0, 'status exits 0') or diag $err;
is($st->{head_seq}, 0, 'head_seq 0 before any event');
like($out, qr/^head_seq 0\n/, 'head_seq is the first line');
is($st->{mode}, 'plaintext', 'mode plaintext');
is($st->{data_dir}, $data, 'the data directory, absolute');
is($st->{control}, "ipc://$d->{data}/control.sock", 'the control endpoint');
is($st->{pid}, $d->{pid}, "the daemon's pid");
like($st->{version} // '', qr/^\d+\.\d+\.\d+/, 'a version');
unlike($err, qr/reading the store/, 'asked the daemon, not the store');
($rc, $out) = ctl('status', '--json', @dd);
my $sj = eval { decode_json($out) } // {};
is($sj->{head_seq}, 0, 'status --json: one object with head_seq');

sub stats_of { my ($rc, $out, $err) = ctl('stats', @_); return ($rc, kv($out), $err) }
my ($src, $s0, $serr) = stats_of(@dd);
is($src, 0, 'stats exits 0') or diag $serr;
is($s0->{'ingest.accepted'}, 0, 'ingest.accepted 0 before a send');
ok(defined $s0->{'publish.published'} && defined $s0->{'control.requests'},
   'with publish and control counters');

my ($arc, $res) = agent_send($d, "$dir/a.jsonl");
is($arc, 0, "$N events sent");
($rc, $st) = status_of(@dd);
is($st->{head_seq}, $N, "status: head_seq $N after the send");
my ($s1) = (stats_of(@dd))[1];
is($s1->{'ingest.accepted'} - $s0->{'ingest.accepted'}, $N, "stats: ingest.accepted moved by $N");
ok($s1->{'ingest.frames'} > $s0->{'ingest.frames'}, 'ingest.frames moved');
ok($s1->{'ingest.commits'} > $s0->{'ingest.commits'}, 'ingest.commits moved');
is($s1->{'ingest.head_seq'}, $N, "ingest.head_seq $N");
is($s1->{'control.statuses'} - $s0->{'control.statuses'}, 1, 'control.statuses counts the status request between');
($rc, $out) = ctl('stats', '--json', @dd);
my $sjs = eval { decode_json($out) } // {};
is($sjs->{ingest}{accepted}, $N, 'stats --json: the same counters as an object');

# ---- tail over control equals the store read directly ----------------------
my $tails0 = $s1->{'control.tails'};
my @tail_cases = ([], ['--json'], ['--from', 777, '--json'], ['--from', 1200, '--limit', 10],
                  ['--from', 5, '--limit', 2100, '--page', 7, '--json'], ['--from', $N - 2],
                  ['--from', $N + 1, '--json']);
for my $t (@tail_cases) {
    my ($rc1, $on, $e1) = ctl('tail', @$t, @dd);
    my ($rc2, $off, $e2) = ctl('tail', @$t, '--offline', @dd);
    is($rc1 + $rc2, 0, "tail @$t: over control and offline") or diag "$e1$e2";
    unlike($e1, qr/reading the store/, '  the first asked the daemon');
    ok($on eq $off, '  same output, byte for byte (' . scalar(() = $on =~ /\n/g) . ' lines)');
}
{
    my ($rc, $out) = ctl('tail', '--json', @dd);
    my @l = split /\n/, $out;
    is(scalar @l, $N, "tail --json: $N lines");
    is_deeply([map { /^\{"seq":(\d+),"event":\{/ ? $1 : -1 } @l], [1 .. $N], '  seq 1..N in order');
    my %want = map { $_->{eventId} => 1 } @{ make_events($N, 63) };
    is(scalar(grep { /"eventId":"([^"]+)"/ && $want{$1} } @l), $N, '  each a sent event');
}
my ($s2) = (stats_of(@dd))[1];
# pages: 3 + 3 + 2 + 1 + 300 + 1 + 1, doubled for the check above: 3 more
my $pages = 3 + 3 + 2 + 1 + 300 + 1 + 1 + 3;
is($s2->{'control.tails'} - $tails0, $pages, "the daemon served $pages tail pages (1000 a page, --page 7)");

# ---- --config FILE --------------------------------------------------------
{
    open my $fh, '>', "$dir/cohortd.conf" or die;
    print $fh "[daemon]\ndata_dir = $d->{data}\n[keys]\nplaintext = true\n";
    close $fh;
    local $ENV{COHORT_PLAINTEXT};
    delete $ENV{COHORT_PLAINTEXT};
    my ($rc, $st, $out, $err) = status_of('--config', "$dir/cohortd.conf");
    is($rc, 0, 'status --config FILE: the daemon found from its configuration') or diag $err;
    is($st->{head_seq}, $N, "  head_seq $N");
    is($st->{data_dir}, $data, '  its data directory');
    open $fh, '>', "$dir/bad.conf" or die;
    print $fh "[daemon]\nno_such_option = 1\n";
    close $fh;
    ($rc, $out, $err) = ctl('status', '--config', "$dir/bad.conf");
    is($rc, 2, 'a bad configuration file is a usage error (2)');
    like($err, qr/bad\.conf:2: .*no_such_option/, '  naming the file, line and option');
}

# ---- connected agents and subscribers --------------------------------------
{
    my $spool = "$dir/spool";
    mkdir $spool or die;
    my $ag = AgentTest::start_agent($dir, 'watch-agent', 'watch', '--endpoint', $d->{endpoint}, $spool);
    my $w = start_watch($d, [], 'cohort/');
    my $w2 = start_watch($d, [], 'programme/');
    my $seen = wait_until(20, sub { my $s = (status_of(@dd))[1]; $s->{agents} == 1 && $s->{subscribers} == 2 ? $s : undef });
    ok($seen, 'status: 1 agent and 2 subscribers connected')
        or diag explain [status_of(@dd)];
    my ($s) = (stats_of(@dd))[1];
    is($s->{'ingest.peers'}, 1, 'stats: ingest.peers 1');
    is($s->{'publish.peers'}, 2, 'stats: publish.peers 2');
    kill 'TERM', $ag->{pid};
    wait_exit($ag->{pid}, 10);
    stop_watch($_) for $w, $w2;
    ok(wait_until(20, sub { my $s = (status_of(@dd))[1]; $s->{agents} == 0 && $s->{subscribers} == 0 }),
       'back to 0 agents and 0 subscribers when they leave');
}

# ---- progress, on a pseudo-terminal and off it -----------------------------
SKIP: {
    my $script = -x '/usr/bin/script' ? '/usr/bin/script' : undef;
    skip 'script(1) (util-linux) is not installed', 9 unless $script;
    my $slow = "$dir/slow.jsonl";
    write_jsonl($slow, make_events(15000, 64));
    my $agent = bin('cohort-agent');
    # -q: results do not go to the terminal, so the bar is drawn.
    my $cmd = "$agent send -q --window 2 --endpoint $d->{endpoint} $slow";
    my ($rc, $out) = run_cmd([$script, '-qec', $cmd, '/dev/null'], timeout => 120);
    is($rc, 0, 'cohort-agent send under a pseudo-terminal') or diag $out;
    like($out, qr/\rsend \[[#.]+\]\s+\d+%  [\d,]+ events  [\d,.]+\/s  ETA \d+:\d\d\e\[K/,
         '  draws a bar: percentage, count, rate, ETA');
    like($out, qr/\rsend \[#+\] 100%  15,000 events in \d+:\d\d \([\d,]+\/s\)\e\[K\r?\n/,
         '  and leaves the final state on its line');
    ($rc, $out) = run_cmd([$script, '-qec', "$agent send -q --no-progress --endpoint $d->{endpoint} "
                           . "$dir/a.jsonl", '/dev/null'], timeout => 120);
    unlike($out, qr/\r(?!\n)|\e\[K/, '  --no-progress: no bar');
    ($rc, $out) = run_cmd([$script, '-qec', "$ctl rebuild --data-dir $d->{data} --snapshot $d->{snapshot}",
                           '/dev/null'], timeout => 120);
    like($out, qr/\rrebuild \[#+\] 100%  [\d,]+ events in /, 'cohortctl rebuild draws a bar');

    # not a terminal: plain lines, every interval and at the end. The run
    # (15,000 duplicates, one in flight at a time) must outlast one interval:
    # at 1 s it did not on a fast machine (CI, stop 23); at 0.1 s it gives
    # about 8 lines here.
    local $ENV{COHORT_PROGRESS_INTERVAL_S} = '0.1';
    my $err;
    ($rc, $out, $err) = run_cmd([$agent, 'send', '-q', '--window', '1', '--endpoint', $d->{endpoint},
                                 $slow], timeout => 120);
    is($rc, 0, 'cohort-agent send to a file, stderr not a terminal');
    like($err, qr/^send: [\d,]+ events \(\d+%\), [\d,.]+\/s, ETA \d+:\d\d$/m,
         '  prints plain progress lines every interval') or diag $err;
    like($err, qr/^send: 15,000 events in \d+:\d\d \([\d,.]+\/s\)$/m, '  and a final line');
    unlike($err, qr/[\r\e]/, '  with no terminal control characters');
}
{
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '-q', '--endpoint', $d->{endpoint},
                                    "$dir/a.jsonl"]);
    unlike($err, qr/^send:/m, 'a short run, not a terminal: no progress lines by default');
    ($rc, $out, $err) = ctl('backup', '--progress', @dd, "$dir/bk");
    is($rc, 0, 'cohortctl backup --progress') or diag $err;
    like($out, qr/^backup \Q$dir\E\/bk\nhead_seq (\d+)\n\z/, '  stdout: only the backup and its head');
    like($err, qr/^backup: [\d,]+ events in \d+:\d\d \(/m, '  stderr: the final progress line');
    ($rc, $out, $err) = ctl('restore', '--progress', "$dir/bk", "$dir/restored");
    is($rc, 0, 'cohortctl restore --progress') or diag $err;
    like($err, qr/^restore: [\d.]+ [KMG]?i?B in \d+:\d\d \(/m, '  a final progress line in bytes');
    ($rc, $out, $err) = ctl('restore', "$dir/bk", "$dir/restored2");
    unlike($err, qr/^restore:/m, '  none by default for a short run');
}

# ---- tail while the log grows: the log as it was when tail started --------
{
    write_jsonl("$dir/more.jsonl", make_events(4000, 66));
    my $ag = AgentTest::start_agent($dir, 'more', 'send', '-q', '--window', '1', '--endpoint',
                                    $d->{endpoint}, "$dir/more.jsonl");
    my ($h0) = (status_of(@dd))[1]->{head_seq};
    wait_until(20, sub { (status_of(@dd))[1]->{head_seq} > $h0 + 200 });
    my ($h1) = (status_of(@dd))[1]->{head_seq};
    my ($rc, $on, $err) = ctl('tail', '--json', '--page', 5, '--from', $h1 - 1000, @dd);
    my ($h2) = (status_of(@dd))[1]->{head_seq};
    is($rc, 0, 'tail while an agent sends') or diag $err;
    my @seq = map { /^\{"seq":(\d+),/ ? $1 : -1 } split /\n/, $on;
    is_deeply(\@seq, [$h1 - 1000 .. $seq[-1]], '  contiguous from --from (200 pages of 5)') if @seq;
    ok(@seq && $seq[-1] >= $h1 && $seq[-1] < $h2,
       "  up to the head when it started ($seq[-1], between $h1 and $h2): it does not chase the log");
    my ($rc2, $off) = ctl('tail', '--json', '--offline', '--from', $h1 - 1000, '--limit', scalar @seq, @dd);
    ok($on eq $off, '  the same entries as the store holds');
    is(wait_exit($ag->{pid}, 120) >> 8, 0, 'the agent finished');
}

# ---- no daemon: fallback and failures --------------------------------------
my ($on_all) = (ctl('tail', '--json', @dd))[1];
is(stop_daemon($d), 0, 'daemon stops cleanly');
ok(-e "$d->{data}/control.sock", 'its socket file may remain');
($rc, $st, $out, $err) = status_of(@dd);
is($rc, 0, 'status without a daemon: exits 0');
is($out, "head_seq " . ($st->{head_seq} // -1) . "\n", '  prints head_seq only');
ok($st->{head_seq} >= $N, '  read from the store');
like($err, qr/no daemon answers on ipc:\/\/\S+control\.sock; reading the store in \S+ directly/, '  and says so');
my ($rc2, $off_all, $e2) = ctl('tail', '--json', @dd);
is($rc2, 0, 'tail without a daemon reads the store');
ok($off_all eq $on_all, '  the same output as over control');
{
    # A socket file left behind with nothing listening (a daemon killed
    # before it could remove it): told from a live daemon at once.
    use IO::Socket::UNIX;
    unlink "$d->{data}/control.sock";
    my $stale = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Local => "$d->{data}/control.sock", Listen => 1)
        or die "stale socket: $!";
    close $stale;
    ok(-S "$d->{data}/control.sock", 'a stale control socket file');
    my $t = time;
    my ($rc, $st, $out, $err) = status_of(@dd);
    is($rc, 0, 'status with only a stale socket: exits 0');
    like($err, qr/no daemon answers on ipc:\/\/\S+control\.sock; reading the store/, '  reading the store, and saying so');
    ok(time - $t < 10, sprintf('  without waiting for the request timeout (%.1f s)', time - $t));
    ($rc, $out, $err) = ctl('stats', @dd);
    is($rc, 1, 'stats with only a stale socket fails (1)');
    like($err, qr/cannot reach the daemon's control socket \S+: Connection refused/, '  saying nothing listens');
    unlink "$d->{data}/control.sock";
}
($rc, $out, $err) = ctl('stats', @dd);
is($rc, 1, 'stats without a daemon fails (1)');
like($err, qr/cannot reach the daemon's control socket/, '  saying it cannot reach it');
($rc, $out, $err) = ctl('status', '--control', "ipc://$dir/nowhere");
is($rc, 1, 'status with only --control and no daemon fails (1)');
like($err, qr/cannot reach the daemon's control socket/, '  (no data directory to fall back to)');

# ---- CURVE: operators only --------------------------------------------------
{
    local $ENV{COHORT_PLAINTEXT};
    delete $ENV{COHORT_PLAINTEXT};
    delete local $ENV{COHORT_KEY};
    delete local $ENV{COHORT_SERVER_KEY};
    my $cdir = tmpdir();
    my $keys = "$cdir/keys";
    mkdir $keys or die;
    mkdir "$cdir/data", 0700 or die;
    my %pub;
    for my $n (qw(op coord agent)) {
        my ($rc, $out, $err) = ctl('keygen', "$keys/$n");
        die "keygen $n: $err" if $rc;
        ($pub{$n}) = $out =~ /public-key = (\S+)/;
    }
    open my $fh, '>', "$cdir/data/access" or die;
    print $fh "$pub{op} operator\n$pub{coord} coordinator programmes=it-65\n$pub{agent} agent wm-police\n";
    close $fh;
    my $c = start_daemon(dir => $cdir, curve => 1);
    ok($c->{pid}, 'a CURVE daemon started') or diag log_of($c);
    my @cd = ('--data-dir', $c->{data});
    # the definitions with the coordinator's key, then wm-police's events with its agent's
    my @all = @{ make_events(400, 65) };
    my @wm = grep { $_->{agency} eq 'wm-police' } @all;
    write_jsonl("$cdir/defs.jsonl", [@all[0, 1]]);
    write_jsonl("$cdir/wm.jsonl", \@wm);
    my $want = 2 + @wm;
    my ($rc, $out, $err);
    for my $f (['coord', 'defs'], ['agent', 'wm']) {
        ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '-q', '--endpoint', $c->{endpoint},
                                     '--key', "$keys/$f->[0].key", '--server-key',
                                     "$c->{data}/server.pub", "$cdir/$f->[1].jsonl"], timeout => 120);
        is($rc, 0, "$f->[1] events sent with the $f->[0] key") or diag $err;
    }

    my ($st2, $o2);
    ($rc, $st2, $o2, $err) = status_of(@cd, '--key', "$keys/op.key");
    is($rc, 0, 'status with an operator key (server key from DATA-DIR/server.pub)') or diag $err;
    is($st2->{mode}, 'curve', '  mode curve');
    is($st2->{client_keys}, 3, '  3 client keys');
    is($st2->{head_seq}, $want, "  head_seq $want");
    ($rc, $out, $err) = ctl('status', @cd, '--key', "$keys/agent.key");
    is($rc, 1, 'status with an agent key is refused (1)');
    like($err, qr/not authorised: an operator key is needed/, '  saying an operator key is needed');
    ($rc, $out, $err) = ctl('stats', @cd, '--key', "$keys/agent.key");
    is($rc, 1, 'stats with an agent key is refused (1)');
    ($rc, $out, $err) = ctl('tail', @cd, '--key', "$keys/agent.key");
    is($rc, 1, 'tail with an agent key is refused (1)');
    is($out, '', '  and prints no entry');
    ($rc, $out, $err) = ctl('status', @cd);
    is($rc, 2, 'status with no key is a usage error (2)');
    like($err, qr/no client key/, '  saying a key is needed');
    my ($rc1, $on, $e1) = ctl('tail', '--json', '--page', 50, @cd, '--key', "$keys/op.key");
    my ($rc3, $off, $e3) = ctl('tail', '--json', '--offline', @cd);
    is($rc1 + $rc3, 0, 'tail over CURVE with the operator key, and offline') or diag "$e1$e3";
    ok($on ne '' && $on eq $off, '  the same output (' . scalar(() = $on =~ /\n/g) . ' lines)');
    my ($sx) = (stats_of(@cd, '--key', "$keys/op.key"))[1];
    is($sx->{'ingest.accepted'}, $want, "stats with the operator key: ingest.accepted $want");
    ok($sx->{'control.failed'} >= 3, '  control.failed counts the refusals');
    # cohortctl tells a live daemon from a stale socket without a probe
    # connection of its own, which the daemon would log as a failed CURVE
    # handshake ("connection closed during the handshake ...").
    unlike(log_of($c), qr/control: handshake failed/, "cohortctl's connections log no failed handshake")
        or diag(join "\n", grep { /handshake failed/ } split /\n/, log_of($c));
    is(stop_daemon($c), 0, 'the CURVE daemon stops cleanly');
}

done_testing();
