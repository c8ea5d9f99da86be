#!/usr/bin/perl
# What an eavesdropper on the wire sees: tshark captures loopback traffic on
# the daemon's own TCP ports (ingest, publish, snapshot, all on 127.0.0.1)
# while an agent pushes events and a board subscriber follows the status.
# With CURVE the capture holds the ZMTP greeting ("CURVE") but none of the
# marker strings the events carry (programme, cohort, participant refs,
# grades) nor the topic names. The control run, the same in --plaintext
# mode, shows the markers in the capture, so the capture would have caught
# them. Skipped where tshark is missing or cannot capture (not root).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $tshark = (grep { -x "$_/tshark" } split /:/, ($ENV{PATH} // '') . ':/usr/bin:/usr/sbin')[0];
plan skip_all => 'tshark is not installed' unless $tshark;
$tshark .= '/tshark';
{
    my ($rc, $out, $err) = run_cmd([$tshark, '-i', 'lo', '-a', 'duration:1', '-c', '1', '-q', '-w',
                                    tmpdir() . '/probe.pcap'], timeout => 20);
    plan skip_all => "tshark cannot capture on lo here: $err" if $rc != 0;
}

# Events whose strings are markers an eavesdropper would grep for.
my $M = 'zqxmark';
sub marked_events {
    my $s = setup_events(51);
    my $txt = JSON::PP->new->canonical->encode($s);
    $txt =~ s/it-51/$M-prog/g;
    $txt =~ s/"c1"/"$M-cohort"/g;
    # refs in the pseudonym form the daemon requires: p1:zqxmarkref + a, b, ... + padding
    for my $p (1 .. 20) {
        my ($from, $to) = (pref(sprintf('t51p%03d', $p)), "p1:$M" . 'ref' . ('a' .. 'z')[$p % 26]);
        $to .= 'a' x (35 - length $to);
        $txt =~ s/\Q$from\E/$to/g;
    }
    my $ev = JSON::PP->new->decode($txt);
    for (@$ev) { $_->{participantRegistered}{grade} = "$M-grade" if $_->{participantRegistered} }
    return $ev;
}

# One run: daemon on three fresh TCP ports, tshark on them, agent + watcher.
# Returns the capture's bytes.
sub run_capture {
    my ($curve) = @_;
    my $dir = tmpdir();
    my @ports = map { free_port() } 1 .. 3;
    my $pcap = "$dir/cap.pcap";
    my $filter = join ' or ', map { "tcp port $_" } @ports;
    my $tpid = fork() // die;
    if (!$tpid) {
        open STDOUT, '>', "$dir/tshark.out" or die;
        open STDERR, '>', "$dir/tshark.err" or die;
        exec $tshark, '-i', 'lo', '-f', $filter, '-w', $pcap, '-a', 'duration:60' or die;
    }
    wait_until(15, sub { AgentTest::slurp("$dir/tshark.err") =~ /Capturing on/ })
        or diag 'tshark: ' . AgentTest::slurp("$dir/tshark.err");
    local $ENV{COHORT_PLAINTEXT} = 1;
    delete $ENV{COHORT_PLAINTEXT} if $curve;
    my $keys = "$dir/keys";
    my @agent_keys = ();
    my @board_keys = ();
    mkdir "$dir/data", 0700 or die;
    if ($curve) {
        mkdir $keys or die;
        my %pub;
        for my $n (qw(coord agent board)) {
            my ($rc, $o, $e) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
            die $e if $rc;
            ($pub{$n}) = AgentTest::slurp("$keys/$n.pub") =~ /public-key\s*=\s*(\S{40})/;
        }
        open my $fh, '>', "$dir/data/access" or die;
        print $fh "$pub{coord} coordinator programmes=$M-prog\n$pub{agent} agent wm-police\n$pub{board} board\n";
        close $fh;
    }
    my $d = start_daemon(dir => $dir, curve => $curve, endpoint => "tcp://127.0.0.1:$ports[0]",
                         publish => "tcp://127.0.0.1:$ports[1]", snapshot => "tcp://127.0.0.1:$ports[2]");
    die 'daemon: ' . log_of($d) unless $d->{pid};
    my @sk = $curve ? ('--server-key', "$d->{data}/server.pub") : ();
    my $w = start_watch($d, [($curve ? ('--key', "$keys/board.key", @sk) : ()), '--timeout-s', '30'], '');
    wait_until(10, sub { @{ watch_lines($w) } > 0 });

    my $ev = marked_events();
    my @defs = @$ev[0, 1];
    my @wm = grep { $_->{agency} eq 'wm-police' } @$ev[2 .. $#$ev];
    my $ok = 1;
    for ([coord => \@defs], [agent => \@wm]) {
        my $f = "$dir/$_->[0].jsonl";
        write_jsonl($f, $_->[1]);
        my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--quiet', '--endpoint', $d->{endpoint},
                                        ($curve ? ('--key', "$keys/$_->[0].key", @sk) : ()), $f]);
        $ok &&= $rc == 0;
        diag "agent $_->[0]: $err" if $rc;
    }
    ok($ok, ($curve ? 'CURVE' : 'plaintext') . ': the marked events were accepted');
    ok(wait_until(10, sub { grep { ($_->{topic} // '') =~ /\Q$M\E-prog/ } @{ watch_lines($w) } }),
       ($curve ? 'CURVE' : 'plaintext') . ': the board watcher received the marked topics');
    stop_watch($w);
    stop_daemon($d);
    sleep 0.5;
    kill 'INT', $tpid;
    wait_exit($tpid, 15) // do { kill 'KILL', $tpid; wait_exit($tpid, 5) };
    my $bytes = AgentTest::slurp($pcap);
    my ($rc, $list) = run_cmd([$tshark, '-r', $pcap, '-T', 'fields', '-e', 'frame.number'], timeout => 30);
    my $frames = () = $list =~ /^\d+$/mg;
    ok($frames > 20, ($curve ? 'CURVE' : 'plaintext') . ": the capture holds the traffic ($frames frames)");
    return $bytes;
}

my $plain = run_capture(0);
like($plain, qr/\Q$M\Eref/, 'control run: plain text shows participant refs on the wire');
like($plain, qr/\Q$M\E-grade/, 'control run: plain text shows grades on the wire');

my $enc = run_capture(1);
like($enc, qr/CURVE/, 'the CURVE run captured the ZMTP greeting');
unlike($enc, qr/\Q$M\E/, 'with CURVE no marker string (refs, grades, programme, cohort, topics) is on the wire');
unlike($enc, qr/wm-police|cohort\/|programme\//, 'nor agency ids or topic names');

done_testing();
