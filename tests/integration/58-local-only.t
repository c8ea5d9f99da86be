#!/usr/bin/perl
# Plain-text mode stays local (issue 13 item 3). libzmq reads
# tcp://SOURCE;DESTINATION and binds DESTINATION, so
# `cohortd --plaintext -i "tcp://127.0.0.1:0;0.0.0.0:PORT"` listened on every
# address. Endpoints are parsed strictly (daemon/endpoint.c), by the daemon
# and by --check-config:
# - the ';' form is refused, as a flag and in the file, in any mode;
# - host names are refused (issue 15 item 5: tcp://cohortd.example.org:7537);
# - in plaintext mode an interface name or * (not plainly loopback) is refused;
# - plaintext on 127.0.0.0/8 and ipc:// still starts and serves.
# Each refused start must exit at once (bounded by a timeout) and leave no
# listener on PORT.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use IO::Socket::INET;

delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
delete $ENV{COHORT_CONFIG};

my $dir = tmpdir();
mkdir "$dir/d", 0700 or die;

# A free port: bound and released (nothing else of ours takes it meanwhile).
my $probe = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1) or die;
my $port = $probe->sockport;
close $probe;

# 1 if something accepts a TCP connection on 127.0.0.1:$port.
sub listening {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Timeout => 1);
    return $s ? 1 : 0;
}

my $semi = "tcp://127.0.0.1:0;0.0.0.0:$port";
my @rest = ('--data-dir', "$dir/d", '--publish', "ipc://$dir/pub", '--snapshot', "ipc://$dir/snap",
            '--control', "ipc://$dir/ctl");
my ($rc, $out, $err) = run_cmd([bin('cohortd'), '--plaintext', '--ingest', $semi, @rest],
                               timeout => 5);
is($rc, 2, "cohortd --plaintext -i '$semi' does not start (exit $rc)");
like($err, qr/\Q$semi\E' has a ';'/, 'and says the ; form is refused');
is(listening(), 0, "nothing listens on port $port");

($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--plaintext', '--ingest', $semi,
                             @rest], timeout => 5);
isnt($rc, 0, '--check-config refuses it too');
like($err, qr/has a ';'/, 'saying why');

# In the file, in CURVE mode too, for every endpoint option.
for my $opt (qw(ingest publish snapshot)) {
    my $conf = "$dir/$opt.conf";
    open my $f, '>', $conf or die;
    print $f "[daemon]\ndata_dir = $dir/d\n[endpoints]\n$opt = $semi\n";
    close $f;
    ($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', $conf], timeout => 5);
    is($rc, 1, "--check-config: $opt = $semi in the file is refused (CURVE mode)");
    like($err, qr/^\Q$conf\E:4: option '$opt': '\Q$semi\E' has a ';'/m,
         'naming the file, line and option');
}

# Host names: libzmq resolves none when binding; --check-config says so.
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--data-dir', "$dir/d",
                             '--publish', 'tcp://cohortd.example.org:7537'], timeout => 5);
isnt($rc, 0, '--check-config refuses tcp://cohortd.example.org:7537');
like($err, qr/no host names/, 'saying no host names');

# Plaintext: only plainly loopback addresses or ipc://.
for my $ep ("tcp://lo:$port", "tcp://*:$port", "tcp://0.0.0.0:$port") {
    ($rc, $out, $err) = run_cmd([bin('cohortd'), '--plaintext', '--ingest', $ep, @rest],
                                timeout => 5);
    is($rc, 1, "plaintext with $ep does not start (exit 1)");
    like($err, qr/\Q$ep\E is not local, and plaintext is on/, 'and says it is not local');
    is(listening(), 0, "nothing listens on port $port");
}

# What is allowed still works: plaintext on 127.0.0.0/8 (any address there).
my $d = start_daemon(dir => $dir, endpoint => "tcp://127.0.0.1:$port");
ok($d && $d->{pid}, "plaintext on tcp://127.0.0.1:$port starts") or diag log_of($d);
is(listening(), 1, 'and listens there');
write_jsonl("$dir/ev.jsonl", setup_events(1));
my ($arc, $res) = agent_send($d, "$dir/ev.jsonl");
is($arc, 0, 'an agent is served there');
ok(@$res && !grep({ $_->{result} !~ /^(accepted|duplicate)$/i } @$res), 'and its events accepted')
    or diag explain $res;
stop_daemon($d);

done_testing();
