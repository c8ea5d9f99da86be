#!/usr/bin/perl
# Release history and monthly history (issue 19, "History"), end to end with
# the real cohortd under CURVE and cohort-web:
# - the snapshot socket's {"releases": T} request (docs/protocol.md, "Release
#   history"), through libcohort's cohort_sub_releases (tests/tools/zreleases):
#   a board key gets every published version of a release topic, oldest
#   first, equal to what a board subscriber received on the stream; an
#   agency-hr key (a partner agency's HR team) is refused as for a snapshot
#   of that prefix;
# - the live cohort document's history rows against the figures it showed
#   at the end of each month, and after a restart from the checkpoint
#   `cohortctl verify` (checkpoint against a rebuild) passes;
# - cohort-web's GET /releases/<topic>: the dated releases for a board user
#   (newest first, each linking to that version, which renders its figures),
#   404 for an HR user.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use WebTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
for my $tool (qw(curl openssl)) {
    plan skip_all => "$tool is not installed (bash .ci/setup)" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

my $dir = tmpdir();
my @agencies = qw(wm-police cps-wm hmcts-wm probation-wm);
my $wd = web_daemon(dir => $dir, agencies => \@agencies, programme => 'it-83',
                    keys => {board => 'board', hr => 'agency-hr cps-wm'});
my ($d, $keys) = ($wd->{d}, $wd->{keys});
ok($d->{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($d));
my @curve = @{ $wd->{curve} };

# The board's stream, recorded from the start.
my $w = start_watch($d, ['--key', "$keys/board.key", @curve, '--timeout-s', '120'], '');

sub send_as { web_send($wd, @_) }
sub docs { web_docs($wd) }
sub zreleases {
    my ($who, $topic) = @_;
    my ($rc, $out, $err) = run_cmd([bin('zreleases'), $d->{snapshot}, "$keys/$who.key",
                                    "$d->{data}/server.pub", $topic], timeout => 30);
    return ($rc, $rc == 0 ? decode_json($out) : undef, $err);
}
# The versions of a release topic the board's stream carried, in order.
sub streamed {
    my ($topic) = @_;
    return [map { $_->{doc} } grep { ($_->{topic} // '') eq $topic && defined $_->{doc} } @{ watch_lines($w) }];
}
sub relnum { $_[0]{release}{number} }

# Phases, each sent (and its releases seen on the stream) before the next,
# so every release is published: January (programme, cohort), February
# (people), March (enrolments: a new release period), then events on days
# that start later periods and pass the cohort's starts_on.
my $setup = setup_events(83);
my %by;
push @{ $by{ $_->{agency} } }, $_ for @$setup[2 .. $#$setup];
my ($rc, $res, $err) = send_as('coord', [@$setup[0, 1]]);
is($rc, 0, 'the coordinator sends the programme and cohort') or diag $err;
my (@reg, @enr);
for my $a (@agencies) {
    push @reg, grep { $_->{participantRegistered} } @{ $by{$a} };
    push @enr, grep { $_->{enrolmentChanged} } @{ $by{$a} };
}
for my $a (@agencies) {
    ($rc, $res, $err) = send_as("agent-$a", [grep { $_->{agency} eq $a } @reg]);
    is($rc, 0, "agent $a registers its people") or diag $err;
}
my $before_march = docs()->{'cohort/it-83/c1'};
for my $a (@agencies) {
    ($rc, $res, $err) = send_as("agent-$a", [grep { $_->{agency} eq $a } @enr]);
    is($rc, 0, "agent $a enrols its people (March)") or diag $err;
}
my $topic = 'release/cohort/it-83/c1';
my $ptopic = 'release/programme/it-83';
my $refs = [map { $_->{participantRegistered}{participantRef} } @reg];
my $k = 0;
for my $day ('2009-04-02', '2009-05-01', '2009-06-01') {
    my $seen = @{ streamed($ptopic) };
    ok(wait_until(20, sub { my $t = docs()->{'cohort/it-83/c1'}; $t && $t->{funnel}{participants}{total} == 20 }),
       "the daemon has every enrolment before $day");
    my $march = docs()->{'cohort/it-83/c1'};
    my $a = $agencies[$k % @agencies];
    my ($ref) = grep { $_->{agency} eq $a } @reg;
    ($rc, $res, $err) = send_as("agent-$a", [{ eventId => sprintf('01900053-0053-7999-8000-%012x', ++$k),
        agency => $a, occurredAt => "${day}T09:00:00Z",
        attendanceRecorded => { participantRef => $ref->{participantRegistered}{participantRef},
            programmeId => 'it-83', cohortId => 'c1', component => 'COACHING',
            sessionId => "s-$k", sessionDate => $day, status => 'PRESENT', minutes => 120 } }]);
    is($rc, 0, "an attendance on $day") or diag $err;
    if ($day eq '2009-04-02') {
        # the March row: the figures as they stood before this first April event
        my $rows;
        ok(wait_until(20, sub { $rows = docs()->{'cohort/it-83/c1'}{history}{monthly}; $rows && @$rows >= 3 }),
           'the cohort has history rows') or diag explain $rows;
        is_deeply([map { $_->{month} } @$rows], ['2009-01', '2009-02', '2009-03'],
                  'rows for January (its CohortOpened) to March; April is live');
        is_deeply($rows->[-1]{funnel_reached}, $march->{funnel_reached}{participants}{reached},
                  'the March row is the funnel as the document showed it at the end of March');
        is($rows->[-1]{completion}{enrolled}, $march->{completion}{participants}{enrolled},
           '  and completion.enrolled');
        is($rows->[1]{funnel_reached}{APPLIED}, $before_march->{funnel_reached}{participants}{reached}{APPLIED},
           'the February row as the document stood before March');
        my $prog = docs()->{'programme/it-83'}{history}{monthly};
        is_deeply($prog, $rows, 'the programme (one cohort) has the same rows');
    }
    ok(wait_until(20, sub { @{ streamed($ptopic) } > $seen || @{ streamed($ptopic) } >= 1 && $day eq '2009-06-01' }),
       "the board's stream got the releases due by $day");
}
ok(wait_until(20, sub { scalar @{ streamed($topic) } >= 2 }), 'the stream carried at least 2 versions of the cohort release')
    or diag explain [map { relnum($_) } @{ streamed($topic) }];

# --- the releases request --------------------------------------------------
for my $t ($topic, $ptopic) {
    my ($rc, $ans, $err) = zreleases('board', $t);
    is($rc, 0, "board: releases of $t") or diag "rc $rc: $err";
    my $got = $ans->{versions};
    my $want = streamed($t);
    ok(@$got >= 2, '  ' . scalar(@$got) . ' versions') or diag explain $ans;
    is_deeply([map { relnum($_) } @$got], [sort { $a <=> $b } map { relnum($_) } @$got], '  oldest first');
    is_deeply($got, $want, '  equal, version by version, to what the board received on the stream');
    is($ans->{omitted}, 0, '  none omitted');
    is_deeply($got->[-1], docs()->{$t}, '  the last is the current release');
}
{
    my ($rc, $ans, $err) = zreleases('board', 'release/cohort/it-83/none');
    is($rc, 0, 'a release topic with no releases');
    is_deeply($ans->{versions}, [], '  an empty list');
    ($rc, $ans, $err) = zreleases('hr', $topic);
    is($rc, 3, "agency-hr (a partner agency's HR team): refused");
    like($err, qr/this key's role may not read topics under that prefix/, '  as a refused snapshot of that prefix');
    my ($src, $sout, $serr) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot},
                                       '--key', "$keys/hr.key", @curve, $topic], timeout => 30);
    like($serr . $sout, qr/this key's role may not read topics under that prefix/, '  (the snapshot says the same)');
    ($rc, $ans, $err) = zreleases('board', 'cohort/it-83/c1');
    isnt($rc, 0, 'a topic outside release/ is refused');
    ($rc, $ans, $err) = zreleases('op', $topic);
    is($rc, 0, 'an operator key reads them too');
}

# --- cohort-web -------------------------------------------------------------
ok(eval { web_cert($dir); 1 }, 'a self-signed certificate') or diag $@;
my %pw = (board1 => 'board password 1', 'hr-b' => 'hr of agency B');
my %line = (board1 => ['board'], 'hr-b' => ['agency-hr', 'cps-wm']);
for my $u (sort keys %pw) {
    ($rc, $err) = web_adduser("$dir/users", $u, $pw{$u}, @{ $line{$u} });
    is($rc, 0, "adduser $u") or diag $err;
}
my $port = free_port();
open my $cf, '>', "$dir/web.conf" or die;
print $cf <<END;
[web]
listen = 127.0.0.1:$port
tls-cert = $dir/web.crt
tls-key = $dir/web.key
users = $dir/users

[cohortd]
publish = $d->{publish}
snapshot = $d->{snapshot}
server-key = $d->{data}/server.pub
key = $keys/web.key
END
close $cf;
my $wpid = fork() // die;
if (!$wpid) {
    open STDOUT, '>', "$dir/web.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec bin('cohort-web'), '--config', "$dir/web.conf" or die;
}
sub weblog { open my $f, '<', "$dir/web.log" or return ''; local $/; <$f> // '' }
ok(wait_until(20, sub { weblog() =~ /status feed: synced/ }), 'cohort-web is up and synced') or diag weblog();
my $base = "https://127.0.0.1:$port";
sub http {
    my ($path, %o) = @_;
    my $t = tmpdir();
    my @c = ('curl', '-sk', '--max-time', '20', '-o', "$t/body", '-w', '%{http_code}');
    push @c, '-b', $o{jar}, '-c', $o{jar} if $o{jar};
    push @c, '--data', $o{data} if defined $o{data};
    push @c, '--path-as-is' if $o{as_is};
    my ($rc, $code) = run_cmd([@c, "$base$path"], timeout => 30);
    open my $b, '<', "$t/body"; local $/; my $body = <$b> // '';
    return ($code + 0, $body);
}
sub login {
    my ($user, $pass) = @_;
    my $jar = tmpdir() . "/jar";
    my ($c, $b) = http('/login', jar => $jar);
    my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{64})"/;
    my $form = "user=$user&password=" . join('', map { sprintf '%%%02X', ord } split //, $pass) . "&csrf=$csrf";
    ($c) = http('/login', jar => $jar, data => $form);
    is($c, 303, "$user logs in");
    return $jar;
}
sub unesc { my $s = shift; $s =~ s/&quot;/"/g; $s =~ s/&#39;/'/g; $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&amp;/&/g; $s }
my $versions = (zreleases('board', $topic))[1]{versions};
{
    my $jar = login('board1', $pw{board1});
    my ($c, $b) = http('/releases/cohort/it-83/c1', jar => $jar);
    is($c, 200, 'board: GET /releases/cohort/it-83/c1');
    my @nums = $b =~ /href="\/releases\/cohort\/it-83\/c1\?number=(\d+)"/g;
    is_deeply(\@nums, [reverse map { relnum($_) } @$versions], '  lists every release, newest first, each linked');
    my @dates = $b =~ /<tr><td><time>([0-9-]+)<\/time>/g;
    is_deeply(\@dates, [reverse map { $_->{release}{released_on} } @$versions], '  with its date');
    unlike($b, qr/<script>|style="/, '  no inline script or style');
    my $first = $versions->[0];
    ($c, $b) = http('/releases/cohort/it-83/c1?number=' . relnum($first), jar => $jar);
    is($c, 200, '  the oldest release renders');
    like($b, qr/release ${\ relnum($first)}\)/, '  as that release');
    my ($n, @bad) = (0);
    while ($b =~ /data-figure="([^"]+)" data-value="([^"]*)"/g) {
        my ($path, $raw) = ($1, unesc($2));
        my $v = $first;
        for my $key (split /\./, $path) { $v = ref $v eq 'ARRAY' ? $v->[$key] : $v->{$key} }
        my $got = JSON::PP->new->allow_nonref->decode($raw);
        push @bad, $path unless (!defined $v && !defined $got) || (defined $v && defined $got && "$v" eq "$got");
        $n++;
    }
    ok($n > 0 && !@bad, "  its $n figures are that version's") or diag "@bad";
    ($c) = http('/releases/cohort/it-83/c1?number=999', jar => $jar);
    is($c, 404, '  a release that does not exist is 404');
    ($c, $b) = http('/releases/programme/it-83', jar => $jar);
    is($c, 200, 'board: the programme\'s releases');
    ($c) = http('/releases/cohort/it-83/../c1', jar => $jar, as_is => 1);
    is($c, 404, 'a path that is no release topic is 404');
    ($c) = http('/releases/cohort/it-83/nothing', jar => $jar);
    is($c, 404, 'a cohort that does not exist is 404');
}
{
    my $jar = login('hr-b', $pw{'hr-b'});
    my ($c) = http('/releases/cohort/it-83/c1', jar => $jar);
    is($c, 404, 'HR user: /releases/cohort/it-83/c1 is 404');
    ($c) = http('/releases/cohort/it-83/c1?number=' . relnum($versions->[0]), jar => $jar);
    is($c, 404, 'HR user: a release version is 404');
    ($c) = http('/releases/programme/it-83', jar => $jar);
    is($c, 404, 'HR user: the programme\'s releases are 404');
}
kill 'TERM', $wpid;
is(wait_exit($wpid, 15), 0, 'cohort-web stops cleanly (under ASan: nothing leaked)') or diag weblog();

# --- restart from the checkpoint, and verify against a rebuild -------------
stop_watch($w);
my $hist = docs()->{'cohort/it-83/c1'}{history};
is(stop_daemon($d), 0, 'cohortd stops cleanly');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}], timeout => 120);
is($vrc, 0, 'verify: the checkpoint (with the history) equals a rebuild') or diag $vout;
$d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'restarted');
my $again;
ok(wait_until(20, sub { $again = docs()->{'cohort/it-83/c1'}; $again }), 'the cohort again');
is_deeply($again->{history}, $hist, 'the same history after a restart');
my ($rc2, $ans2) = zreleases('board', $topic);
is_deeply($ans2->{versions}, $versions, 'the same release versions after a restart');
is(stop_daemon($d), 0, 'stops');
done_testing();
