#!/usr/bin/perl
# CURVE and authorisation, against the real daemon over real sockets:
# - the daemon makes its keypair on first run and refuses plain-text,
#   unknown and wrong-server-key clients, logging each refusal once with
#   the key's fingerprint;
# - an agent key writes only its own agency's events: a forged agency field
#   and a programme definition are rejected REJECT_UNAUTHORISED and never
#   stored; definitions go through with a coordinator key;
# - a subscriber gets only its role's topics, by subscription and by
#   snapshot (board: cohort/ and programme/; agency-hr: its own agency/);
# - only an operator key may use the control endpoint;
# - SIGHUP revocation: an open agent connection's next frame is refused
#   FRAME_UNAUTHORISED, and a revoked subscriber stops receiving updates.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;

# Keypairs, made the documented way.
my %pub;
for my $n (qw(agent-a agent-a2 agent-b coord board hr-a hr-b op stranger)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    open my $fh, '<', "$keys/$n.pub" or die;
    local $/;
    ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
sub fp { substr($pub{ $_[0] }, 0, 8) }

sub write_access {
    my (@skip) = @_;
    my %skip = map { $_ => 1 } @skip;
    my %line = ('agent-a' => 'agent wm-police', 'agent-a2' => 'agent wm-police',
                'agent-b' => 'agent cps-wm', coord => "coordinator programmes=it-50",
                board => 'board', 'hr-a' => 'agency-hr wm-police', 'hr-b' => 'agency-hr cps-wm',
                op => 'operator');
    open my $fh, '>', "$dir/data/access.tmp" or die;
    print $fh "# test access file\n";
    print $fh "$pub{$_} $line{$_}   # $_\n" for grep { !$skip{$_} } sort keys %line;
    close $fh;
    rename "$dir/data/access.tmp", "$dir/data/access" or die;
}
write_access();

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
like(log_of($d), qr/first run: made the server keypair/, 'server keypair made on first run');
like(log_of($d), qr/ready:.*CURVE \(server key/, 'ready line says CURVE');
my $spub = "$d->{data}/server.pub";
ok(-f $spub && -f "$d->{data}/server.key", 'server.key and server.pub written');
is((stat "$d->{data}/server.key")[2] & 0777, 0600, 'server.key is mode 0600');

my @curve = ('--server-key', $spub);
sub agent {
    my ($who, $events, @extra) = @_;
    my $f = tmpdir() . "/ev.jsonl";
    write_jsonl($f, $events);
    my @k = $who eq 'plain' ? ('--plaintext') : ('--key', "$keys/$who.key", @curve);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                    $d->{endpoint}, @k, @extra, $f], timeout => 60);
    return ($rc, [map { decode_json($_) } grep { /^\{/ } split /\n/, $out], $err);
}
sub results { join ',', map { $_->{result} . ($_->{code} ? ":$_->{code}" : '') } @{ $_[0] } }

my $setup = setup_events(50);
my @defs = @$setup[0, 1];
my %by_agency;
push @{ $by_agency{ $_->{agency} } }, $_ for @$setup[2 .. $#$setup];

# --- refused clients -------------------------------------------------------
{
    my ($rc, $res, $err) = agent('plain', [$defs[0]], '--deadline-s', '3', '--timeout-ms', '500');
    isnt($rc, 0, 'a plain-text client gets nothing stored');
    ok(!grep({ $_->{result} eq 'ACCEPTED' } @$res), 'no ACCEPTED for plain text');
    ok(wait_until(5, sub { log_of($d) =~ /ingest: handshake failed on \S+: (the client does not use CURVE|connection closed during the handshake)/ }),
       'plain-text refusal logged') or diag join '', grep { /handshake|auth:/ } split /^/, log_of($d);

    ($rc, $res, $err) = agent('stranger', [$defs[0]], '--deadline-s', '3', '--timeout-ms', '500');
    isnt($rc, 0, 'an unknown key gets nothing stored');
    my $fp = quotemeta fp('stranger');
    ok(wait_until(5, sub { log_of($d) =~ /refused key $fp \(unknown key\)/ }),
       'unknown key refusal logged with its fingerprint');

    # the right client key, but the wrong server key: the handshake fails
    ($rc, $res) = agent('agent-a', [$by_agency{'wm-police'}[0]], '--deadline-s', '3',
                        '--timeout-ms', '500', '--server-key', "$keys/board.pub");
    isnt($rc, 0, 'a client with the wrong server key gets nothing stored');
    ok(wait_until(5, sub { log_of($d) =~ /ingest: handshake failed on \S+: cannot decrypt/ }),
       'wrong server key logged');
}

# --- authorisation on ingest -----------------------------------------------
{
    my ($rc, $res) = agent('agent-a', \@defs);
    is(results($res), 'REJECTED:REJECT_UNAUTHORISED,REJECTED:REJECT_UNAUTHORISED',
       'an agent key may not send programme and cohort definitions');
    ($rc, $res) = agent('coord', \@defs);
    is(results($res), 'ACCEPTED,ACCEPTED', 'a coordinator key may');
    ($rc, $res) = agent('coord', [$by_agency{'wm-police'}[0]]);
    is(results($res), 'REJECTED:REJECT_UNAUTHORISED', 'a coordinator key may not send agency events');

    # agent-a (wm-police) forges a cps-wm registration: refused, not stored
    my @forged = map { +{ %$_ } } @{ $by_agency{'cps-wm'} }[0 .. 6];
    ($rc, $res) = agent('agent-a', \@forged);
    is(results($res), join(',', ('REJECTED:REJECT_UNAUTHORISED') x 7),
       'agency A cannot write records for agency B');
    like(log_of($d), qr/ingest: key \Q@{[fp('agent-a')]}\E \(agent:wm-police\) sent 7 events it may not write/,
         'forgery logged with the key fingerprint');

    ($rc, $res) = agent('agent-a', $by_agency{'wm-police'});
    is($rc, 0, 'agent A writes its own agency');
    ok(!grep({ $_->{result} ne 'ACCEPTED' } @$res), 'all ACCEPTED') or diag results($res);
    ($rc, $res) = agent('agent-b', $by_agency{'cps-wm'});
    is($rc, 0, 'agent B writes its own agency (the forged ids were never stored)');
    ok(!grep({ $_->{result} ne 'ACCEPTED' } @$res), 'all ACCEPTED, none DUPLICATE') or diag results($res);
}

# --- authorisation on status -------------------------------------------------
sub snap {
    my ($who, $prefix) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot},
                                    '--key', "$keys/$who.key", @curve, $prefix], timeout => 30);
    my @l = grep { defined $_->{topic} } @{ read_jsonl($out) };
    return ($rc, [sort map { $_->{topic} } @l], $err);
}
{
    my $head = 0;
    my ($rc, $topics) = snap('board', '');
    is($rc, 0, 'board snapshot of everything');
    ok(@$topics && !grep({ !m{^(cohort|programme|release)/} } @$topics), 'board gets only cohort/, programme/ and release/ topics')
        or diag "@$topics";
    ok(grep({ m{^cohort/it-50/c1$} } @$topics), 'including the cohort');
    ($rc, $topics, my $err) = snap('board', 'agency/');
    isnt($rc, 0, 'board asking for agency/ is refused');
    like($err, qr/may not read/, 'with the reason');
    ($rc, $topics) = snap('hr-a', '');
    is_deeply($topics, ['agency/wm-police/it-50/c1'], 'agency-hr A gets only its own agency topic');
    ($rc, $topics) = snap('hr-a', 'agency/cps-wm/');
    isnt($rc, 0, "agency-hr A asking for B's topics is refused");
    ($rc, $topics) = snap('agent-a', '');
    isnt($rc, 0, 'an agent key reads no topics');
}

# cohortctl rebuild with the documented keys: a board key compares what it
# may read (the agency/ topics are left out and said so), an operator key
# everything; both OK (issue 16: the board key always said MISMATCH).
for my $who (qw(board op)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'rebuild', '--snapshot', $d->{snapshot},
                                    '--data-dir', $d->{data}, '--key', "$keys/$who.key", @curve],
                                   timeout => 60);
    is($rc, 0, "cohortctl rebuild with the $who key: OK") or diag "$out$err";
    like($out, qr/\bOK$/m, "... prints OK ($who)");
    if ($who eq 'board') {
        like($out, qr/rebuild: [1-9]\d* topics this key may not read were not compared/,
             '... and says the agency topics were not compared');
    } else {
        unlike($out, qr/may not read/, '... an operator key compares every topic');
    }
}

# Live updates: each watcher subscribes to everything ("") and must only
# ever print topics of its role.
sub watch {
    my ($who) = @_;
    return start_watch($d, ['--key', "$keys/$who.key", @curve, '--timeout-s', '40'], '');
}
my %w = map { $_ => watch($_) } qw(board hr-a hr-b);
ok(wait_until(15, sub { !grep { !@{ watch_lines($w{$_}) } } keys %w }), 'watchers synced')
    or diag(join "\n", map { "$_: " . AgentTest::slurp($w{$_}{err}) } keys %w);
my $att = attendance_events(40, 50);
{
    my @a = grep { $_->{agency} eq 'wm-police' } @$att;
    my @b = grep { $_->{agency} eq 'cps-wm' } @$att;
    my ($rc1) = agent('agent-a', \@a);
    my ($rc2) = agent('agent-b', \@b);
    is("$rc1/$rc2", '0/0', 'attendance from both agencies accepted');
}
my %seen;
ok(wait_until(15, sub {
    for my $k (keys %w) { $seen{$k}{ $_->{topic} }++ for grep { defined $_->{topic} } @{ watch_lines($w{$k}) } }
    $seen{'hr-a'}{'agency/wm-police/it-50/c1'} && $seen{'hr-b'}{'agency/cps-wm/it-50/c1'}
        && $seen{board}{'cohort/it-50/c1'};
}), 'each watcher got its own topics');
sleep 1.2;    # heartbeats, and any update that should not come
%seen = ();
for my $k (keys %w) { $seen{$k}{ $_->{topic} }++ for grep { defined $_->{topic} } @{ watch_lines($w{$k}) } }
is_deeply([sort grep { !m{^(cohort|programme|release)/} } keys %{ $seen{board} }], [], 'board never saw an agency topic');
is_deeply([sort keys %{ $seen{'hr-a'} }], ['agency/wm-police/it-50/c1'], 'HR A saw only its agency topic');
is_deeply([sort keys %{ $seen{'hr-b'} }], ['agency/cps-wm/it-50/c1'], 'HR B saw only its agency topic');

# --- control endpoint -------------------------------------------------------
{
    my $ctl = "ipc://$d->{data}/control.sock";
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--data-dir', $d->{data},
                                    '--key', "$keys/board.key", "$dir/bk1"], timeout => 60);
    isnt($rc, 0, 'a board key may not back up');
    like($err, qr/operator/, 'refused: an operator key is needed');
    ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'backup', '--data-dir', $d->{data},
                                 '--key', "$keys/op.key", "$dir/bk2"], timeout => 60);
    is($rc, 0, 'an operator key may (server key defaults to DATA-DIR/server.pub)') or diag $err;
}

# --- revocation on SIGHUP ----------------------------------------------------
{
    # an agent connection that stays open: cohort-agent watch on a spool
    my $spool = "$dir/spool";
    my $ob = "$dir/outbox";
    mkdir $spool or die;
    my $apid = fork() // die;
    if (!$apid) {
        open STDOUT, '>', "$dir/aw.out" or die;
        open STDERR, '>', "$dir/aw.err" or die;
        exec bin('cohort-agent'), 'watch', '--json', '--endpoint', $d->{endpoint}, '--key',
            "$keys/agent-a.key", @curve, '--outbox', $ob, '--rescan-ms', '100', '--defer-s', '0',
            $spool or die;
    }
    my $more = attendance_events(80, 50);
    my @a = grep { $_->{agency} eq 'wm-police' } @$more[40 .. 79];
    my $jl = sub { join '', map { encode_json($_) . "\n" } @_ };
    AgentTest::drop_file($spool, 'one.jsonl', $jl->(@a[0 .. 4]));
    ok(wait_until(15, sub { (() = AgentTest::slurp("$dir/aw.out") =~ /"ACCEPTED"/g) == 5 }),
       'open agent connection: first file accepted');

    my $fp_hr = quotemeta fp('hr-a');
    my $n_hr = @{ watch_lines($w{'hr-a'}) };
    write_access('agent-a', 'hr-a');
    kill 'HUP', $d->{pid};
    ok(wait_until(5, sub { log_of($d) =~ /auth: reloaded 6 keys .*\(2 revoked or changed\)/ }),
       'SIGHUP reloaded the access file');
    ok(wait_until(5, sub { log_of($d) =~ /publish: 1 subscriber connection of revoked or changed keys get nothing more/ }),
       'the revoked key\'s subscriber connection is cut off (the others keep theirs)');

    AgentTest::drop_file($spool, 'two.jsonl', $jl->(@a[5 .. 9]));
    ok(wait_until(20, sub { AgentTest::slurp("$dir/aw.out") =~ /FRAME_UNAUTHORISED|unauthori[sz]ed/i
                            || AgentTest::slurp("$dir/aw.err") =~ /UNAUTHORISED|no longer allowed/i
                            || !kill(0, $apid) }),
       'the revoked key\'s open connection is refused');
    my $st = wait_exit($apid, 15);
    if (!defined $st) { kill 'KILL', $apid; wait_exit($apid, 5) }
    is(defined $st ? $st >> 8 : -1, 3, 'the agent stops with status 3, events kept in its outbox');
    is((() = AgentTest::slurp("$dir/aw.out") =~ /"ACCEPTED"/g), 5, 'nothing after the revocation was accepted');

    # hr-a was revoked: it reconnects, is refused, and gets no more updates
    ok(wait_until(10, sub { log_of($d) =~ /refused key $fp_hr \(unknown key\)/ }),
       'the revoked subscriber is refused when it reconnects');
    my $mark_a = @{ watch_lines($w{'hr-a'}) };
    my $mark_b = @{ watch_lines($w{'hr-b'}) };
    my $mark_board = @{ watch_lines($w{board}) };
    my @b = grep { $_->{agency} eq 'cps-wm' } @$more[40 .. 79];
    my ($rcb) = agent('agent-b', \@b);
    is($rcb, 0, 'agent B (not revoked) still writes');
    ok(wait_until(15, sub { grep { defined $_->{topic} } @{ watch_lines($w{'hr-b'}) }[$mark_b .. $#{ watch_lines($w{'hr-b'}) }] }),
       'HR B (not revoked) gets updates again');
    # wm-police's own topic changes (a second wm-police agent key), and the
    # board sees that change: HR A must not.
    my ($rca2, $resa2) = agent('agent-a2', [@a[5 .. 9]]);
    is(results($resa2), 'ACCEPTED,ACCEPTED,ACCEPTED,ACCEPTED,ACCEPTED', 'a second wm-police key (not revoked) writes');
    my $board_seq = 0;
    ok(wait_until(15, sub {
        my @n = @{ watch_lines($w{board}) };
        grep { defined $_->{topic} && $_->{topic} eq 'cohort/it-50/c1' } @n[$mark_board .. $#n];
    }), 'the board sees the new wm-police attendance');
    sleep 1;
    my @after = @{ watch_lines($w{'hr-a'}) }[$mark_a .. $#{ watch_lines($w{'hr-a'}) }];
    is(scalar(grep { defined $_->{topic} } @after), 0, 'HR A (revoked) got no update after the revocation');
    my ($rc_s) = snap('hr-a', '');
    isnt($rc_s, 0, 'and its snapshot requests fail');
}

stop_watch($_) for values %w;
stop_daemon($d);
unlike(log_of($d), qr/secret-key|AddressSanitizer/, 'no secret key or sanitizer report in the log');
done_testing();
