#!/usr/bin/perl
# Configuration files (daemon/config.c, agents/agent_config.c), black-box:
# - cohortd --check-config: the packaged example passes; a bad file gives one
#   exact "FILE:LINE: ..." line per mistake and exit 1; flags are merged in;
#   $RUNTIME_DIRECTORY moves the default control socket;
# - cohortd refuses to start on a bad file (exit 1, <3> lines);
# - a daemon started with nothing but --config FILE serves an agent, and a
#   flag wins over the file;
# - SIGHUP: a changed log_level takes effect, a changed endpoint is logged
#   as needing a restart (and the old one keeps serving), a bad file is
#   logged and changes nothing;
# - cohort-agent --config FILE: send with options from the file, a flag
#   winning over it, watch taking SPOOL from it, exact errors; the example
#   agent config parses.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

my $root = repo_root();

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    return $path;
}

# Waits (at most $secs s) until the daemon's log of this run matches $re.
sub wait_log {
    my ($d, $re, $secs) = @_;
    my $until = time + ($secs // 10);
    while (time < $until) {
        return 1 if log_of($d) =~ $re;
        sleep 0.05;
    }
    return 0;
}

# Starts cohortd with exactly @args (no defaults added), environment %env
# added; waits (at most 20 s) for "ready:". Returns a daemon hash for
# CohortTest's helpers.
sub start_plain {
    my ($dir, $env, @args) = @_;
    my $log = "$dir/cohortd.log";
    my $from = -s $log // 0;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDERR, '>>', $log or die;
        open STDOUT, '>>', $log or die;
        $ENV{$_} = $env->{$_} for keys %$env;
        exec bin('cohortd'), @args or die "exec: $!";
    }
    my $d = { pid => $pid, dir => $dir, log => $log, from => $from };
    my $until = time + 20;
    while (time < $until) {
        return $d if log_of($d) =~ /ready:/;
        if (waitpid($pid, WNOHANG) == $pid) { $d->{status} = $?; $d->{pid} = 0; return $d }
        sleep 0.05;
    }
    kill 'KILL', $pid;
    wait_exit($pid, 5);
    $d->{pid} = 0;
    return $d;
}

# ---- --check-config --------------------------------------------------------
my $example = "$root/examples/cohortd.conf";
my ($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', $example]);
is($rc, 0, 'the packaged example config passes --check-config') or diag $err;
is($err, "cohortd: $example: OK\n", 'and says OK, naming the file');
like($out, qr{^\[daemon\]\ndata_dir = /var/lib/cohortd\n}m, 'the settings in force are printed');
like($out, qr{^server_key = /etc/cohortd/server\.key$}m, 'with the packaged key path');
like($out, qr{^access_file = /etc/cohortd/access$}m, 'and access file');
like($out, qr{^control = ipc:///run/cohortd/control\.sock$}m, 'control under /run/cohortd');
like($out, qr{^metrics = 127\.0\.0\.1:9474$}m, 'metrics on loopback 9474');

my $dir = tmpdir();
my $bad = write_file("$dir/bad.conf", <<'EOF');
[daemon]
log_level = loud
data_dir = /tmp/x
data_dir = /tmp/y
[endpoints]
metrics = 0.0.0.0:9474
control = tcp://127.0.0.1:1
[extra]
foo = bar
[status]
suppress_k = 0
coalesce = 5
oops
EOF
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', $bad]);
is($rc, 1, '--check-config on a bad file exits 1');
is($out, '', 'and prints no settings');
is($err, <<"EOF", 'one exact line per mistake: file, line, option, why');
$bad:2: option 'log_level': unknown level 'loud' (error, warning, notice, info or debug)
$bad:4: option 'data_dir': given twice in [daemon] (first on line 3)
$bad:6: option 'metrics': '0.0.0.0' is not a loopback address: metrics are served only on 127.0.0.1, [::1] or localhost
$bad:7: option 'control': 'tcp://127.0.0.1:1' is not ipc://PATH (the socket file's permissions guard it) or none
$bad:8: unknown section [extra] (known: [daemon], [endpoints], [keys], [status])
$bad:11: option 'suppress_k': '0' is not a number from 1 to 1000
$bad:12: option 'coalesce': unknown in [status] (options there: suppress_k at_risk_ratio release_days coalesce_ms checkpoint_every)
$bad:13: expected 'option = value', '[section]' or a comment
cohortd: the configuration has errors
EOF

# The merged settings are checked too: plaintext with a non-local endpoint.
my $plain = write_file("$dir/plain.conf", "[keys]\nplaintext = true\n");
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', $plain, '--ingest',
                             'tcp://0.0.0.0:7400']);
is($rc, 1, 'plaintext from the file with a non-local --ingest: exit 1');
is($err, "cohortd: --ingest: tcp://0.0.0.0:7400 is not local, and plaintext is on ($plain:2): "
       . "plain text is for local development only (ipc://, or tcp:// on 127.0.0.1)\n"
       . "cohortd: the configuration has errors\n", 'naming the flag and the line');

# Flags are merged over the file; RUNTIME_DIRECTORY moves the default control socket.
my $small = write_file("$dir/small.conf", "[daemon]\ndata_dir = $dir/d\n[status]\nsuppress_k = 7\n");
{
    local $ENV{RUNTIME_DIRECTORY} = "$dir/run";
    ($rc, $out, $err) = run_cmd([bin('cohortd'), '--suppress-k', '9', '--check-config', '-c', $small]);
}
is($rc, 0, '--check-config with a flag over the file') or diag $err;
like($out, qr/^suppress_k = 9$/m, 'the flag wins');
like($out, qr{^data_dir = \Q$dir\E/d$}m, 'the file gives the rest');
like($out, qr{^control = ipc://\Q$dir\E/run/control\.sock$}m,
     'control defaults to $RUNTIME_DIRECTORY/control.sock');
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '-c', $small]);
like($out, qr{^control = ipc://\Q$dir\E/d/control\.sock$}m, 'else to DATA_DIR/control.sock');

# Without --config: $COHORTD_CONFIG (the tests' /dev/null; a missing one is an error).
{
    local $ENV{COHORTD_CONFIG} = "$dir/missing.conf";
    ($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config']);
}
is($rc, 1, 'a missing configuration file named in $COHORTD_CONFIG: exit 1');
is($err, "$dir/missing.conf: cannot read: No such file or directory\ncohortd: the configuration has errors\n",
   'saying which and why');

# Bad flag values are usage errors (2), with the same checks as the file.
($rc, $out, $err) = run_cmd([bin('cohortd'), '--metrics', '192.168.1.10:9474']);
is($rc, 2, '--metrics on a non-loopback address: exit 2');
is($err, "cohortd: --metrics: '192.168.1.10' is not a loopback address: metrics are served only on "
       . "127.0.0.1, [::1] or localhost\n", 'with a clear message');

# A daemon does not start on a bad file: exit 1, error-priority lines.
($rc, $out, $err) = run_cmd([bin('cohortd'), '--config', $bad], timeout => 20);
is($rc, 1, 'cohortd with a bad configuration file exits 1');
like($err, qr/^<3>\Q$bad\E:2: option 'log_level': unknown level 'loud'/m, 'logging each mistake at <3>');
like($err, qr/^<3>cannot start: the configuration has errors \(check it with cohortd --check-config\)$/m,
     'and why it stops');

# ---- a daemon from nothing but a configuration file ------------------------
my $conf = "$dir/cohortd.conf";
my $conf_text = <<"EOF";
# test daemon: ipc:// endpoints in a temporary directory
[daemon]
data_dir = $dir/data
log_level = info
[endpoints]
ingest = ipc://$dir/ingest
publish = ipc://$dir/pub
snapshot = ipc://$dir/snap
[keys]
plaintext = true
[status]
coalesce_ms = 7
EOF
write_file($conf, $conf_text);
mkdir "$dir/run";
my $d = start_plain($dir, { RUNTIME_DIRECTORY => "$dir/run" }, '--config', $conf);
ok($d->{pid}, 'cohortd starts with only --config FILE') or diag log_of($d);
like(log_of($d), qr/^<6>configuration: \Q$conf\E$/m, 'it logs the file it read');
like(log_of($d), qr/ready: data \Q$dir\E\/data, .*ingest ipc:\/\/\Q$dir\E\/ingest/, 'with the file\'s settings');
like(log_of($d), qr/ready: .*, status coalescing 7 ms, /, 'and the configured coalesce_ms (issue 16)');
ok(-S "$dir/run/control.sock", 'the control socket is in $RUNTIME_DIRECTORY');
@$d{qw(endpoint publish snapshot)} = ("ipc://$dir/ingest", "ipc://$dir/pub", "ipc://$dir/snap");
my $events = make_events(200, 60);
write_jsonl("$dir/ev.jsonl", $events);
my ($src, $res) = agent_send($d, "$dir/ev.jsonl");
is($src, 0, 'an agent sends to it') or diag log_of($d);
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @$res), 200, 'every event accepted');

# ---- SIGHUP ----------------------------------------------------------------
my @snap = snapshot_topics($d);
ok(@snap, 'a snapshot is served');
unlike(log_of($d), qr/^<7>/m, 'at log_level info there is no debug line');
(my $debug = $conf_text) =~ s/log_level = info/log_level = debug/;
write_file($conf, $debug);
kill 'HUP', $d->{pid};
ok(wait_log($d, qr/^<5>SIGHUP: log level debug \(was info\)$/m), 'SIGHUP: the new log level is logged')
    or diag log_of($d);
ok(wait_log($d, qr/^<6>SIGHUP: configuration reloaded from \Q$conf\E: log level debug, 0 options waiting for a restart$/m),
   'the reload is summed up, nothing waits for a restart');
@snap = snapshot_topics($d);
ok(wait_log($d, qr/^<7>publish: snapshot of \d+ topics served$/m, 5), 'debug lines now appear');

(my $moved = $debug) =~ s{ingest = ipc://\S+}{ingest = ipc://$dir/ingest2};
$moved =~ s/log_level = debug/log_level = warning/;
write_file($conf, $moved);
my $mark = length log_of($d);
kill 'HUP', $d->{pid};
ok(wait_log($d, qr/^<4>SIGHUP: option 'ingest' changed: needs a restart \(the running value stays in force until then\)$/m),
   'a changed endpoint is logged as needing a restart') or diag log_of($d);
like(substr(log_of($d), $mark), qr/^<5>SIGHUP: log level warning \(was debug\)$/m, 'the level change is logged before it applies');
unlike(substr(log_of($d), $mark), qr/^<6>/m, 'and info lines stop');
ok(!-e "$dir/ingest2", 'the new endpoint is not bound');
write_jsonl("$dir/ev2.jsonl", make_events(150, 61));
($src, $res) = agent_send($d, "$dir/ev2.jsonl");
is($src, 0, 'the old endpoint still serves');

write_file($conf, "[daemon]\nlog_level = debug\nbogus = 1\n");
$mark = length log_of($d);
kill 'HUP', $d->{pid};
ok(wait_log($d, qr/^<3>SIGHUP: the configuration has errors; the settings in force stay$/m),
   'a bad file on SIGHUP is logged') or diag log_of($d);
like(substr(log_of($d), $mark), qr/^<3>\Q$conf\E:3: option 'bogus': unknown in \[daemon\]/m, 'with its file:line');
@snap = snapshot_topics($d);
sleep 0.3;
unlike(substr(log_of($d), $mark), qr/^<7>/m, 'and the log level stays warning');
ok(alive($d), 'the daemon runs on');
is(stop_daemon($d), 0, 'and stops cleanly');

# ---- a flag wins over the file ---------------------------------------------
write_file($conf, $conf_text);
unlink "$dir/ingest"; # the first run's socket file
$d = start_plain($dir, {}, '--config', $conf, '--ingest', "ipc://$dir/ingest3");
ok($d->{pid}, 'cohortd --config FILE --ingest ENDPOINT starts') or diag log_of($d);
like(log_of($d), qr/ingest ipc:\/\/\Q$dir\E\/ingest3,/, 'it binds the flag\'s endpoint');
@$d{qw(endpoint publish snapshot)} = ("ipc://$dir/ingest3", "ipc://$dir/pub", "ipc://$dir/snap");
($src, $res) = agent_send($d, "$dir/ev2.jsonl");
is($src, 0, 'and serves there');
ok(!-e "$dir/ingest", 'not at the file\'s');
kill 'HUP', $d->{pid};
ok(wait_log($d, qr/SIGHUP: configuration reloaded from .*0 options waiting/), 'SIGHUP keeps the flag over the file: nothing to restart')
    or diag log_of($d);

# ---- cohort-agent --config -------------------------------------------------
delete local $ENV{COHORT_PLAINTEXT};
my $aconf = write_file("$dir/agent.conf", <<"EOF");
; the agent's settings
[agent]
endpoint = ipc://$dir/nowhere
plaintext = true
json = true
window = 16
EOF
write_jsonl("$dir/ev3.jsonl", make_events(150, 62));
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', $aconf, '--endpoint', "ipc://$dir/ingest3",
                             'send', "$dir/ev3.jsonl"], timeout => 60);
is($rc, 0, 'cohort-agent --config FILE send: options from the file, --endpoint over it') or diag $err;
my $lines = read_jsonl($out);
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @$lines), 150, 'json = true from the file: JSON results, all accepted');

my $abad = write_file("$dir/agent-bad.conf", "[agent]\nwindow = 0\n");
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', $abad, 'send', "$dir/ev3.jsonl"]);
is($rc, 2, 'a bad value in the agent config: exit 2');
is($err, "cohort-agent: $abad:2: option 'window': expected a number from 1 to 65536\n", 'naming file, line and option');
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', $abad, '--window', '5', 'send', '/dev/null']);
is($rc, 2, 'a flag does not hide a bad value in the file');
write_file($abad, "[agent]\nendpoint = ipc:///x\nwindw = 5\nendpoint = ipc:///y\n");
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', $abad, 'send', "$dir/ev3.jsonl"]);
is($rc, 2, 'unknown and duplicate keys: exit 2');
my $known = 'endpoint outbox window timeout-ms deadline-s rescan-ms defer-s pseudonym-key key server-key '
          . 'plaintext json quiet';
like($err, qr/\Acohort-agent: \Q$abad\E:3: option 'windw': unknown \(options: \Q$known\E [^)]*spool\)\n/,
     'the unknown key named with its line, and the options there are');
like($err, qr/\ncohort-agent: \Q$abad\E:4: option 'endpoint': given twice in \[agent\] \(first on line 2\)\n\z/,
     'then the duplicate with both lines');
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', "$dir/none.conf", 'send', "$dir/ev3.jsonl"]);
is($rc, 2, 'a missing agent config: exit 2');
is($err, "cohort-agent: $dir/none.conf: cannot read: No such file or directory\n", 'saying so');

# watch takes SPOOL from the file.
mkdir "$dir/spool";
my $wconf = write_file("$dir/agent-watch.conf", "[agent]\nendpoint = ipc://$dir/ingest3\nplaintext = true\n"
                                              . "spool = $dir/spool\nrescan-ms = 100\n");
my $wpid = fork() // die;
if (!$wpid) {
    open STDOUT, '>', "$dir/watch.out" or die;
    open STDERR, '>', "$dir/watch.err" or die;
    exec bin('cohort-agent'), '--config', $wconf, 'watch' or die;
}
write_jsonl("$dir/spool/.e.tmp", make_events(150, 63));
rename "$dir/spool/.e.tmp", "$dir/spool/e.jsonl";
my $until = time + 20;
sleep 0.1 while time < $until && !-e "$dir/spool/done/e.jsonl";
ok(-e "$dir/spool/done/e.jsonl", 'cohort-agent --config FILE watch: SPOOL from spool = in the file');
my $got = 0;
$until = time + 20;
while (time < $until) {
    local $ENV{COHORT_PLAINTEXT} = 1; # cohortctl snapshot
    my @r = snapshot_topics($d);
    last if @r && ($got = $r[1]{seq}) >= 650;
    sleep 0.1;
}
is($got, 650, 'and its events reach the daemon (200 + 150 + 150 + 150)');
kill 'TERM', $wpid;
my $wst = wait_exit($wpid, 10);
is(defined $wst ? $wst >> 8 : -1, 0, 'watch stops cleanly');

# The example agent config parses (its key files do not exist here: give real ones).
my ($krc, undef, $kerr) = run_cmd([bin('cohortctl'), 'keygen', "$dir/agentkey"]);
is($krc, 0, 'keygen for the example') or diag $kerr;
($rc, $out, $err) = run_cmd([bin('cohort-agent'), '--config', "$root/examples/cohort-agent.conf", '--key',
                             "$dir/agentkey.key", '--server-key', "$dir/agentkey.pub", '--endpoint',
                             "ipc://$dir/nowhere", 'send', '/dev/null'], timeout => 30);
is($rc, 0, 'the example agent config parses; flags replace its key paths') or diag $err;

is(stop_daemon($d), 0, 'the daemon stops cleanly');
done_testing();
