#!/usr/bin/perl
# Issue 15 item 1: `cohort-agent watch` and writers that create the file in
# place and write it slowly. Over CURVE with an agency key made by
# `cohortctl keygen`, watch runs as the issue ran it (--rescan-ms 100
# --outbox OB SPOOL, the default settle time) while writers fill files
# straight in the spool:
# - `( sleep 1; head -300 in.jsonl ) > SPOOL/x.jsonl`, exactly as reported
#   (the old code took the empty file in: 0 events, moved to done/);
# - a writer that pauses mid-line (the old code failed the file: half a
#   line is bad JSON) and one that pauses at a line boundary (the old code
#   took the first half and lost the rest);
# - a trickle (a line every 50 ms), a writer of 3-line bursts with pauses
#   shorter than the settle time, and a CSV writer pausing mid-row.
# Every event arrives exactly once (cohortctl tail), every file ends in
# done/, nothing in failed/. An empty file is never taken in. A file whose
# every event is rejected goes to failed/ with a reason, not done/; a file
# with some accepted stays in done/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use JSON::PP;
use IO::Handle;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;
my %pub;
for my $n (qw(agent-a coord op)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    ($pub{$n}) = slurp("$keys/$n.pub") =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
open my $fh, '>', "$dir/data/access" or die;
print $fh "$pub{'agent-a'} agent wm-police\n$pub{coord} coordinator programmes=it-38\n$pub{op} operator\n";
close $fh;
$ENV{COHORT_KEY} = "$keys/op.key";    # cohortctl tail (log_events); agents get --key

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");
sub send_file {
    my ($who, $file) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                                    '--key', "$keys/$who.key", @curve, $file], timeout => 60);
    return ($rc, read_jsonl($out), $err);
}

my $setup = setup_events(38);
write_jsonl("$dir/defs.jsonl", [@$setup[0, 1]]);
my ($rc, $res, $err) = send_file('coord', "$dir/defs.jsonl");
is($rc, 0, 'the coordinator defines programme and cohort') or diag $err;
write_jsonl("$dir/people.jsonl", [grep { $_->{agency} eq 'wm-police' } @$setup[2 .. $#$setup]]);
($rc, $res, $err) = send_file('agent-a', "$dir/people.jsonl");
is($rc, 0, 'wm-police registers and enrols its people') or diag $err;
my $base = scalar @{ log_events($d) };

# Distinct attendance events of wm-police's people, without eventId.
my $att = noid([grep { $_->{agency} eq 'wm-police' } @{ attendance_events(2400, 38) }]);
my $js = JSON::PP->new->canonical;
my $next = 0;
sub take { my ($n) = @_; my @e = @$att[$next .. $next + $n - 1]; $next += $n; return \@e }
sub lines_of { join '', map { $js->encode($_) . "\n" } @{ $_[0] } }

my $spool = "$dir/spool";
mkdir $spool or die;
my $w = start_agent($dir, 'watch', 'watch', '--json', '--endpoint', $d->{endpoint}, '--key', "$keys/agent-a.key",
                    @curve, '--rescan-ms', 100, '--defer-s', 0, '--outbox', "$dir/OB", $spool);
ok(wait_until(10, sub { slurp($w->{err}) =~ /watching/ }), 'watch started (--rescan-ms 100, default settle)')
    or diag slurp($w->{err});

# A writer: a child that creates $name in the spool and writes @parts,
# sleeping $pause s between them (unbuffered).
my @kids;
sub writer {
    my ($name, $pause, @parts) = @_;
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open my $o, '>', "$spool/$name" or POSIX::_exit(1);
        $o->autoflush(1);
        for my $i (0 .. $#parts) {
            sleep $pause if $i > 0;
            print $o $parts[$i];
        }
        close $o;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}

my %expect;    # event_key => 1
sub expect { $expect{ event_key($_) } = 1 for @{ $_[0] } }

# 1. exactly as the issue reproduces it
my $in = take(300);
expect($in);
open my $ih, '>', "$dir/in.jsonl" or die;
print $ih lines_of($in);
close $ih;
push @kids, do {
    my $pid = fork() // die;
    if (!$pid) { exec 'sh', '-c', "( sleep 1; head -300 '$dir/in.jsonl' ) > '$spool/x.jsonl'" or POSIX::_exit(1) }
    $pid;
};

# 2. pauses mid-line and at a line boundary (1.2 s: under the 2 s settle time)
my $mid = take(40);
expect($mid);
my $text = lines_of($mid);
my $cut = index($text, "\n", int(length($text) / 2)) - 10;    # inside a line
writer('mid-line.jsonl', 1.2, substr($text, 0, $cut), substr($text, $cut));
my $bnd = take(40);
expect($bnd);
$text = lines_of($bnd);
$cut = index($text, "\n", int(length($text) / 2)) + 1;          # just after a newline
writer('boundary.jsonl', 1.2, substr($text, 0, $cut), substr($text, $cut));

# 3. other speeds: a trickle of lines, bursts with pauses, a CSV mid-row
my $tr = take(40);
expect($tr);
writer('trickle.jsonl', 0.05, map { $js->encode($_) . "\n" } @$tr);
my $bu = take(30);
expect($bu);
my @bursts;
for (my $i = 0; $i < @$bu; $i += 3) { push @bursts, lines_of([@$bu[$i .. ($i + 2 > $#$bu ? $#$bu : $i + 2)]]) }
writer('bursts.jsonl', 0.7, @bursts);
my $cv = take(20);
expect($cv);
my @cols = qw(agency participantRef programmeId cohortId component sessionId sessionDate status minutes occurredAt);
my $csv = csv_of(\@cols, [map { +{ agency => $_->{agency}, occurredAt => $_->{occurredAt}, %{ $_->{attendanceRecorded} } } } @$cv]);
$cut = index($csv, "\n", int(length($csv) / 3)) - 7;
writer('slow.csv', 1.2, substr($csv, 0, $cut), substr($csv, $cut, 40), substr($csv, $cut + 40));

# 4. an empty file that stays empty
open my $eh, '>', "$spool/empty.jsonl" or die;
close $eh;

my $want = scalar keys %expect;
my $until = time + 60;
my $bad = 0;
for my $k (@kids) { my $st = wait_exit($k, $until - time); $bad++ if !defined $st || $st != 0 }
is($bad, 0, 'the writers finished');
ok(wait_until(60, sub { count_dir("$spool/done", qr/\.(jsonl|csv)$/) >= 6 }), 'the six written files are in done/')
    or diag slurp($w->{err});
ok(wait_until(60, sub { scalar(@{ log_events($d) }) >= $base + $want }), "$want events reached the log")
    or diag slurp($w->{err});
sleep 0.5;
my ($k) = log_keys($d);
my %got;
$got{$_} = $k->{$_} for grep { $expect{$_} } keys %$k;
is(scalar(keys %got), $want, "every one of the $want events is in the log");
is(scalar(grep { $_ != 1 } values %got), 0, '... exactly once');
is(scalar(@{ log_events($d) }), $base + $want, '... and nothing else was added');
is(count_dir("$spool/failed"), 0, 'nothing in failed/') or diag slurp($w->{err});
ok(-e "$spool/empty.jsonl" && !-e "$spool/done/empty.jsonl", 'the empty file is left in the spool');
is(scalar(() = slurp($w->{err}) =~ /empty\.jsonl is empty; not taken in/g), 1, '... and that is said once');
unlike(slurp($w->{err}), qr/took in 0 /, 'no file was taken in with 0 events');
my @r = @{ agent_results($w) };
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @r), $want, "watch reported $want ACCEPTED");

# 5. a file whose every event is rejected goes to failed/, not done/
my $nobody = { agency => 'wm-police', occurredAt => '2009-07-01T09:00:00Z',
               enrolmentChanged => { participantRef => pref('nobody-at-all'), programmeId => 'it-38', cohortId => 'c1',
                                     stage => 'APPLIED' } };
my $nobody2 = { %$nobody, occurredAt => '2009-07-02T09:00:00Z' };
drop_file($spool, 'all-rejected.jsonl', lines_of([$nobody, $nobody2]));
my $ok1 = take(1);
drop_file($spool, 'some-rejected.jsonl', lines_of([{ %$nobody, occurredAt => '2009-07-03T09:00:00Z' }, @$ok1]));
ok(wait_until(90, sub { -e "$spool/failed/all-rejected.jsonl" }), 'a file whose every event was dead-lettered is in failed/')
    or diag slurp($w->{err});
ok(!-e "$spool/done/all-rejected.jsonl", '... not in done/');
like(slurp("$spool/failed/all-rejected.jsonl.reason"), qr/every event of it was rejected.*REJECT_UNKNOWN_PARTICIPANT/,
     '... with a reason naming the code');
ok(wait_until(90, sub { (grep { ($_->{source} // '') eq 'some-rejected.jsonl' } @{ agent_results($w) }) == 2 }),
   'the mixed file was answered');
ok(-e "$spool/done/some-rejected.jsonl" && !-e "$spool/failed/some-rejected.jsonl", '... and stays in done/');

kill 'TERM', $w->{pid};
is(wait_exit($w->{pid}, 20) >> 8, 0, 'watch stops with exit 0');
done_testing();
