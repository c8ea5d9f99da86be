#!/usr/bin/perl
# cohortctl audit-disclosure (issue 14), black-box:
# - usage: --help (80 columns), bad --k, --history with a SNAPSHOT-FILE, a
#   missing file, a line that is not JSON, an input without a document: 2;
# - the recorded fixture tests/integration/data/board-step-forward.jsonl
#   (the board's every version of Step Forward's cohort under the current
#   rules, recorded by tests/tools/record-board-stream and trimmed by
#   tests/tools/trim-board-stream): exit 1, and the issue's leaks are found:
#   the differencing at enrolment steps (hmps-wm's newcomer is O9 and
#   female, yot-wm's is Asian and female, probation-wm's leaver was M2) and
#   cells pinned within one document; the human lines say the same;
# - the examples recorded now with the same recorder: the history leaks in
#   both programmes and their roll-ups; the final snapshot pins Leadership
#   in Partnership's four small ethnic groups to 1 each;
# - live, against the real daemon with CURVE (keys from cohortctl keygen,
#   the access file, a board key for cohort-watch and cohortctl snapshot):
#   ten people enrolled with no cell below k give a snapshot with nothing to
#   find (exit 0); one LGB person more leaves the snapshot clean but the
#   recorded history shows the AIM_LGB actual_percent going from 0 to null
#   at their enrolment (exit 1, the LGB count pinned to the newcomer).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

my $ctl = bin('cohortctl');
my $fixture = repo_root() . '/tests/integration/data/board-step-forward.jsonl';
my $COHORT = 'cohort/step-forward/2009-1';
sub audit { run_cmd([$ctl, 'audit-disclosure', @_], timeout => 60) }

# The findings of a --json run, without the end line.
sub findings {
    my ($out) = @_;
    my @l = @{ read_jsonl($out) };
    my ($end) = grep { $_->{end} } @l;
    return ([grep { !$_->{end} } @l], $end);
}
sub pick {
    my ($f, %w) = @_;
    return grep { my $x = $_; !grep { ($x->{$_} // '') ne $w{$_} } keys %w } @$f;
}

# ---- usage --------------------------------------------------------------
{
    my ($rc, $out) = audit('--help');
    is($rc, 0, '--help exits 0');
    like($out, qr/^Usage: cohortctl audit-disclosure /, '  with its own usage');
    is(scalar(grep { length > 80 } split /\n/, $out), 0, '  every line fits 80 columns');
    ($rc, $out) = run_cmd([$ctl, '--help']);
    like($out, qr/^  audit-disclosure\b/m, 'cohortctl --help lists it');
    my $dir = tmpdir();
    open my $fh, '>', "$dir/bad.jsonl" or die;
    print $fh qq({"topic":"cohort/x/c1","seq":1,"doc":{}}\n{oops\n);
    close $fh;
    open $fh, '>', "$dir/none.jsonl" or die;
    print $fh qq({"topic":"agency/a/x/c1","seq":1,"doc":{"people":[]}}\n{"end":true,"seq":1,"count":1}\n);
    close $fh;
    for my $c ([['--k', '0', $fixture], qr/--k: '0' is not 1-1000/],
               [['--history', $fixture, $fixture], qr/not both/],
               [["$dir/missing.jsonl"], qr/cannot open .*missing\.jsonl/],
               [["$dir/bad.jsonl"], qr/bad\.jsonl:2: not JSON/],
               [["$dir/none.jsonl"], qr/no cohort or programme document/],
               [['--from', '3', $fixture], qr/does not take --from/]) {
        my ($rc, $out, $err) = audit(@{ $c->[0] });
        is($rc, 2, "audit-disclosure @{$c->[0]} exits 2");
        like($err, $c->[1], "  and says why");
    }
}

# ---- the recorded stream of the current rules ---------------------------
ok(-s $fixture && -s $fixture < 1_000_000, 'the fixture is there and under 1 MB');
{
    my ($rc, $out, $err) = audit('--history', $fixture, '--json');
    is($rc, 1, 'the recorded history: exit 1 (leaks found)');
    my ($f, $end) = findings($out);
    is($end->{findings}, scalar @$f, 'the end line counts them');
    is($end->{k}, 5, 'at the default k = 5');
    my @d = pick($f, rule => 'difference', topic => $COHORT);
    ok(@d >= 20, 'differencing findings at many steps (' . scalar(@d) . ')');

    # seq 147: hmps-wm's second participant joins; O9 goes 0 -> suppressed.
    my ($o9) = pick($f, rule => 'difference', topic => $COHORT, seq => 147,
                    cell => 'representation.ethnicity.O9');
    ok($o9, 'seq 147: ethnicity.O9 changes with the newcomer')
        and is_deeply([@$o9{qw(lo hi from_seq)}], [1, 1, 146], '  exactly 1, from seq 146');
    like($o9->{detail} // '', qr/hmps-wm ENROLLED 1 -> 2/, '  hmps-wm ENROLLED 1 -> 2');
    like($o9->{detail} // '', qr/^0 -> suppressed/, '  from 0 to suppressed');
    ok(pick($f, rule => 'difference', topic => $COHORT, seq => 147,
            cell => 'representation.gender.FEMALE', lo => 1, hi => 1), '  and she is female');

    # seq 148: yot-wm's only participant: Asian and female.
    my ($as) = pick($f, rule => 'difference', topic => $COHORT, seq => 148,
                    cell => 'representation.ethnic_group.ASIAN', lo => 1, hi => 1);
    ok($as, 'seq 148: ASIAN +1');
    like($as->{detail} // '', qr/6 -> 7: .*yot-wm ENROLLED 0 -> 1/, '  6 -> 7 as yot-wm enrols');
    ok(pick($f, rule => 'difference', topic => $COHORT, seq => 148,
            cell => 'representation.gender.FEMALE', lo => 1), '  and FEMALE +1');

    # seq 223: probation-wm's withdrawal takes M2 from suppressed to 0.
    my ($m2) = pick($f, rule => 'difference', topic => $COHORT, seq => 223,
                    cell => 'representation.ethnicity.M2', lo => -1, hi => -1);
    ok($m2, 'seq 223: the person who withdrew was M2');
    like($m2->{detail} // '', qr/suppressed -> 0: exactly 1 of the people who left .*probation-wm WITHDRAWN 0 -> 1/,
         '  suppressed -> 0 as probation-wm WITHDRAWN 0 -> 1');

    # Ethnicity codes pinned to the person who joined, step by step.
    my %code_steps;
    for my $x (pick($f, rule => 'difference', topic => $COHORT)) {
        $code_steps{ $x->{seq} }++ if $x->{cell} =~ /ethnicity\./ && $x->{lo} == $x->{hi};
    }
    ok(keys %code_steps >= 4, 'an ethnicity code is pinned at ' . scalar(keys %code_steps) . ' steps');

    # Within one document: the first enrolment's Asian group is pinned by
    # the zeros and the enrolled count.
    my @p = pick($f, rule => 'pinned', scope => 'document', topic => $COHORT);
    ok(@p >= 10, 'cells pinned within one document (' . scalar(@p) . ')');
    ok(pick($f, rule => 'pinned', topic => $COHORT, seq => 134,
            cell => 'representation.ethnicity.A1', lo => 1, hi => 1),
       'seq 134: the first participant\'s A1 pinned to 1 by the published zeros');
    ok(!pick($f, rule => 'published-small'), 'nothing published below k (the rule holds per cell)');

    ($rc, $out, $err) = audit('--history', $fixture);
    is($rc, 1, 'human output: exit 1');
    like($out, qr{^\Q$COHORT\E representation\.ethnicity\.O9 seq 146 -> 147: 0 -> suppressed: exactly 1 of the people who joined \(enrolled 13 -> 14; hmps-wm ENROLLED 1 -> 2\) is in it \[difference, history\]$}m,
         '  one line per finding: topic, cell, versions, how, [rule, scope]');
    like($err, qr/\d+ findings at k = 5/, '  a count on stderr');
    is(scalar(split /\n/, $out), $end->{findings}, '  as many lines as --json findings');

    # The last version alone, as a snapshot file.
    my $dir = tmpdir();
    open my $in, '<', $fixture or die;
    my $last;
    $last = $_ while <$in>;
    open my $fh, '>', "$dir/last.jsonl" or die;
    print $fh $last;
    close $fh;
    ($rc, $out) = audit("$dir/last.jsonl", '--json');
    my ($sf) = findings($out);
    ok(!grep({ $_->{rule} eq 'difference' } @$sf), 'a snapshot is not differenced');
    ($rc, $out) = audit('--k', '1', '--history', $fixture, '--json');
    ($sf) = findings($out);
    ok(@$sf && !grep({ $_->{rule} ne 'pinned' } @$sf),
       'with --k 1 only suppressed cells pinned to a value are left');
}

# ---- the examples, recorded now -----------------------------------------
# Both example programmes through a real daemon (CURVE, per-agency keys, a
# board key for cohort-watch), one event per commit: the recorder that made
# the fixture, run again.
{
    my $dir = tmpdir();
    my $build = $ENV{COHORT_BUILD} // repo_root() . '/build';
    my ($rc, $out, $err) = run_cmd([repo_root() . '/tests/tools/record-board-stream', $build,
                                    "$dir/board.jsonl"], timeout => 120);
    is($rc, 0, 'record-board-stream records the examples') or diag($err);
    like($err, qr/892 events, \d+ lines/, '  all 892 example events');
    ($rc, $out) = audit('--history', "$dir/board.jsonl", '--json');
    is($rc, 1, 'the examples\' history: exit 1');
    my ($f) = findings($out);
    for my $p (qw(step-forward leadership-in-partnership)) {
        ok(pick($f, rule => 'difference', topic => "cohort/$p/2009-1"), "  differencing in $p");
        ok(pick($f, rule => 'difference', topic => "programme/$p"), "  and in its roll-up");
    }
    # The examples' final state, as a snapshot: the last version of each topic.
    my %last;
    for my $l (@{ read_jsonl(do { local (@ARGV, $/) = ("$dir/board.jsonl"); <> }) }) {
        $last{ $l->{topic} } = $l if defined $l->{topic};
    }
    write_jsonl("$dir/final.jsonl", [map { $last{$_} } sort keys %last]);
    ($rc, $out) = audit("$dir/final.jsonl", '--json');
    ($f) = findings($out);
    is($rc, 1, 'the examples\' final snapshot: exit 1');
    # Leadership in Partnership ends with 24 enrolled, WHITE 15 and ASIAN 5
    # shown: the four other groups, each suppressed (so at least 1), share
    # the 4 left and are each pinned to 1 (the issue's within-document leak).
    my $lip = 'cohort/leadership-in-partnership/2009-1';
    for my $g (qw(MIXED BLACK CHINESE_OR_OTHER NOT_STATED)) {
        ok(pick($f, rule => 'pinned', topic => $lip, cell => "representation.ethnic_group.$g",
                lo => 1, hi => 1), "  $lip: $g pinned to 1");
    }
    ok(!pick($f, rule => 'pinned', topic => $COHORT),
       '  Step Forward\'s final document alone pins nothing (its history does)');
}

# ---- live: the real daemon with CURVE -----------------------------------
delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;
my %pub;
for my $n (qw(police coord board)) {
    my ($rc, $out, $err) = run_cmd([$ctl, 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    open my $fh, '<', "$keys/$n.pub" or die;
    local $/;
    ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $n.pub";
}
{
    open my $fh, '>', "$dir/data/access" or die;
    print $fh "$pub{police} agent wm-police\n$pub{coord} coordinator wmcjb programmes=al\n$pub{board} board\n";
    close $fh;
}
my $d = start_daemon(dir => $dir, curve => 1, args => ['--coalesce-ms', '0']);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");

my $n = 0;
sub id { sprintf('01900000-0000-7000-8000-%012x', ++$n) }
sub send_as {
    my ($who, $events) = @_;
    my $f = tmpdir() . '/ev.jsonl';
    write_jsonl($f, $events);
    my ($rc, $res, $err) = agent_send($d, $f, '--key', "$keys/$who.key", @curve, '--window', '1');
    is($rc, 0, "$who sends " . scalar(@$events) . ' events') or diag($err);
}
sub person {
    my ($ref, $eth, $gender, $ori) = @_;
    my @e = ({ eventId => id(), agency => 'wm-police', occurredAt => '2009-02-01T09:00:00Z',
               participantRegistered => { participantRef => $ref, role => 'PARTICIPANT',
                   ethnicity => $eth, gender => $gender, disability => 'NOT_DISABLED',
                   sexualOrientation => $ori } });
    for my $s (qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)) {
        push @e, { eventId => id(), agency => 'wm-police', occurredAt => '2009-03-01T09:00:00Z',
                   enrolmentChanged => { participantRef => $ref, programmeId => 'al',
                                         cohortId => 'c1', stage => $s } };
    }
    return @e;
}
send_as('coord', [
    { eventId => id(), agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
      programmeDefined => { programmeId => 'al', name => 'Audit live',
          participantComponents => [{ kind => 'COACHING', count => 6, minutesEach => 120 }],
          aims => [{ group => 'AIM_LGB', minPercent => 5 }, { group => 'AIM_BME', minPercent => 20 }] } },
    { eventId => id(), agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
      cohortOpened => { programmeId => 'al', cohortId => 'c1', places => 20,
          startsOn => '2009-04-01', endsOn => '2009-09-30', agencies => ['wm-police'] } }]);
send_as('police', [(map { person(pref("w$_"), 'W1', 'FEMALE', 'HETEROSEXUAL') } 1 .. 5),
                   (map { person(pref("a$_"), 'A1', 'MALE', 'HETEROSEXUAL') } 1 .. 5)]);
my $head = $n;

sub snapshot_file {
    my ($name, $seq) = @_;
    my $until = time + 20;
    my ($rc, $out, $err);
    while (time < $until) {
        ($rc, $out, $err) = run_cmd([$ctl, 'snapshot', '--snapshot', $d->{snapshot},
                                     '--key', "$keys/board.key", @curve, 'cohort/'], timeout => 30);
        last if $rc == 0 && $out =~ /"end":true,"seq":(\d+)/ && $1 >= $seq;
        sleep 0.1;
    }
    my $f = "$dir/$name";
    open my $fh, '>', $f or die;
    print $fh $out;
    close $fh;
    return $f;
}
my $snap1 = snapshot_file('snap1.jsonl', $head);
my ($rc, $out, $err) = audit($snap1);
is($rc, 0, 'ten people, no cell below k: the live snapshot has nothing to find') or diag($out, $err);
like($err, qr/0 findings at k = 5/, '  and says so');

my $w = start_watch($d, ['--key', "$keys/board.key", @curve, '--timeout-s', '60'], 'cohort/', 'programme/');
ok(wait_until(20, sub { grep { ($_->{topic} // '') eq 'cohort/al/c1' } @{ watch_lines($w) } }),
   'cohort-watch (board key) has the snapshot');
send_as('police', [person(pref('l1'), 'W1', 'MALE', 'LGB')]);
ok(wait_until(20, sub { grep { ($_->{seq} // 0) >= $n } @{ watch_lines($w) } }),
   'cohort-watch has every version up to the last event');
is(stop_watch($w), 0, 'cohort-watch stopped');

my $snap2 = snapshot_file('snap2.jsonl', $n);
($rc, $out, $err) = audit($snap2);
is($rc, 0, 'one LGB person more: the snapshot alone hides them') or diag($out, $err);
($rc, $out, $err) = audit('--history', $w->{out}, '--json');
is($rc, 1, 'the recorded history gives them away (exit 1)');
my ($f) = findings($out);
my ($lgb) = pick($f, rule => 'difference', topic => 'cohort/al/c1', cell => 'representation.lgb');
ok($lgb && $lgb->{lo} == 1 && $lgb->{hi} == 1 && $lgb->{seq} == $n,
   'AIM_LGB 0 -> null at the enrolment: the newcomer is LGB')
    or diag(explain($f));
like($lgb->{detail} // '', qr/wm-police ENROLLED 10 -> 11/, '  named by the step');
ok(pick($f, rule => 'difference', topic => 'programme/al', cell => 'representation.lgb'),
   '  and in the programme roll-up');

is(stop_daemon($d), 0, 'daemon stopped cleanly');
done_testing();
