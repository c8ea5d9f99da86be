#!/usr/bin/perl
# Pseudonymity is enforced, not optional (issue 13 item 6), against the real
# daemon over CURVE with an agency's agent key made by cohortctl keygen:
# - cohort-agent refuses a raw participantRef ("JOHN.SMITH.0042") or
#   mentorRef without a pseudonym key: INVALID, exit 1, nothing sent, the
#   value never printed; a staff number with --pseudonym-key, or a ref
#   already in the pseudonym form, goes through;
# - with --raw-refs the agent sends it, and the daemon (default ref_form =
#   pseudonym) rejects it REJECT_BAD_VALUE: never stored;
# - free text over its bound (note 121 bytes, grade 65) is REJECT_TOO_LONG;
# - a daemon with ref_form = any (the config file) or --ref-form any accepts
#   the raw ref, logs a warning, and --check-config shows the setting;
# - retention: --retention-days deletes done/ and failed/ files and
#   dead-letter lines older than N days, and keeps young ones (watch at
#   start; a file moved into done/ counts from the move); flush drops the
#   outbox records of events the daemon already acked while others still
#   wait; --retention-days 0 keeps everything.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until slurp count_dir drop_file);
use Test::More;
use JSON::PP;
use POSIX qw(strftime);
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};    # this test speaks CURVE
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $RAW = 'JOHN.SMITH.0042';
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
print $fh "$pub{'agent-a'} agent wm-police\n$pub{coord} coordinator programmes=*\n$pub{op} operator\n";
close $fh;
my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'keygen-pseudonym', "$keys/wm-police.pseudonym"]);
is($rc, 0, 'pseudonym key made') or diag $err;

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE, default settings') or BAIL_OUT(log_of($d));
my @curve = ('--server-key', "$d->{data}/server.pub");

# cohort-agent send --json with $who's key; returns (exit, [results], stderr, stdout).
sub agent {
    my ($d, $who, $events, @extra) = @_;
    my $f = tmpdir() . "/ev.jsonl";
    write_jsonl($f, $events);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint', $d->{endpoint},
                                    '--key', "$keys/$who.key", @curve, @extra, $f], timeout => 60);
    return ($rc, [map { decode_json($_) } grep { /^\{/ } split /\n/, $out], $err, $out);
}
sub results { join ',', map { $_->{result} . ($_->{code} ? ":$_->{code}" : '') } @{ $_[0] } }
# How many of the log's entries hold the raw ref (cohortctl tail, operator key).
sub stored {
    my ($d) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $d->{data},
                                    '--key', "$keys/op.key"], timeout => 60);
    die "cohortctl tail: $err" if $rc != 0;
    return scalar grep { /\Q$RAW\E/ } split /\n/, $out;
}

my $PROG = 'it-36';
my $setup = setup_events(36);
my ($arc, $ares, $aerr) = agent($d, 'coord', [@$setup[0, 1]]);
is(results($ares), 'ACCEPTED,ACCEPTED', 'the coordinator defines the programme and cohort') or diag $aerr;
($arc, $ares, $aerr) = agent($d, 'agent-a', [grep { $_->{agency} eq 'wm-police' } @$setup[2 .. $#$setup]]);
is($arc, 0, 'the agency registers and enrols its people (refs in the pseudonym form, no key)') or diag $aerr;
my ($mentee) = map { $_->{participantRegistered}{participantRef} }
               grep { $_->{agency} eq 'wm-police' && $_->{participantRegistered} } @$setup;

my $n = 0;
sub person {
    my ($ref, %o) = @_;
    return { eventId => sprintf('01936000-0000-7000-8000-%012d', ++$n), agency => 'wm-police',
             occurredAt => '2009-02-01T09:00:00Z',
             participantRegistered => { participantRef => $ref, role => $o{role} // 'PARTICIPANT',
                                        ethnicity => 'B1', gender => 'FEMALE', disability => 'NOT_DISABLED',
                                        ($o{grade} ? (grade => $o{grade}) : ()) } };
}
sub mentor {
    my ($mref) = @_;
    return { eventId => sprintf('01936000-0000-7000-8000-%012d', ++$n), agency => 'wm-police',
             occurredAt => '2009-03-02T09:00:00Z',
             mentorAssigned => { mentorRef => $mref, participantRef => $mentee, programmeId => $PROG,
                                 cohortId => 'c1' } };
}

# ---- the agent refuses a raw ref without a key or --raw-refs
my ($rc1, $res1, $err1, $out1) = agent($d, 'agent-a', [person($RAW)]);
is($rc1, 1, 'raw participantRef without a pseudonym key: exit 1');
is(results($res1), 'INVALID', '... the record is INVALID, nothing sent');
like($res1->[0]{reason} // '', qr/participantRef: not a pseudonym.*--pseudonym-key.*--raw-refs/,
     '... saying it is not a pseudonym and what to do');
unlike($out1 . $err1, qr/JOHN|SMITH|0042/, '... never printing the value');
my ($rc2, $res2) = agent($d, 'agent-a', [mentor('M.JONES')]);
is(results($res2), 'INVALID', 'raw mentorRef: INVALID too');
my ($rc3, $res3) = agent($d, 'agent-a', [person($RAW)], '--pseudonym-key', "$keys/wm-police.pseudonym");
is(results($res3), 'INVALID', 'a raw participantRef is refused with a key too (the key is for staffNumber)');
is(stored($d), 0, 'nothing with the raw ref reached the log');

# ---- the daemon rejects it by default, when the agent is told to send it
my ($rc4, $res4, $err4) = agent($d, 'agent-a', [person($RAW), mentor('M.JONES')], '--raw-refs');
is($rc4, 1, 'with --raw-refs: sent, and the run fails');
is(results($res4), 'REJECTED:REJECT_BAD_VALUE,REJECTED:REJECT_BAD_VALUE',
   'the daemon (default ref_form) rejects raw participantRef and mentorRef REJECT_BAD_VALUE') or diag $err4;
like($res4->[0]{reason} // '', qr/participant_ref is not a pseudonym/, '... saying why');
like($res4->[1]{reason} // '', qr/mentor_ref is not a pseudonym/, '... for the mentor too');
is(stored($d), 0, '... and never stores them');
unlike(log_of($d), qr/JOHN|SMITH/, 'the daemon log never names the raw ref');

# ---- what the agent makes, or is given in the form, is accepted
my $staff = { %{ person('x') } };
$staff->{participantRegistered} = { %{ $staff->{participantRegistered} } };
delete $staff->{participantRegistered}{participantRef};
$staff->{participantRegistered}{staffNumber} = 'WM-0042';
my ($rc5, $res5, $err5) = agent($d, 'agent-a', [$staff, person(pref('already-a-pseudonym'))],
                                '--pseudonym-key', "$keys/wm-police.pseudonym");
is(results($res5), 'ACCEPTED,ACCEPTED', 'a staff number with the key, and a ref in the form: ACCEPTED') or diag $err5;

# ---- free text is bounded
my $long_note = { eventId => sprintf('01936000-0000-7000-8000-%012d', ++$n), agency => 'wm-police',
                  occurredAt => '2009-03-03T09:00:00Z',
                  enrolmentChanged => { participantRef => $mentee, programmeId => $PROG, cohortId => 'c1',
                                        stage => 'COMPLETED', note => 'n' x 121 } };
my ($rc6, $res6) = agent($d, 'agent-a', [$long_note, person(pref('long-grade'), grade => 'g' x 65),
                                         person(pref('ok-grade'), grade => 'g' x 64)]);
is(results($res6), 'REJECTED:REJECT_TOO_LONG,REJECTED:REJECT_TOO_LONG,ACCEPTED',
   'a 121-byte note and a 65-byte grade: REJECT_TOO_LONG; a 64-byte grade is fine');
stop_daemon($d);

# ---- ref_form = any: the operator switches the check off, explicitly
my $conf = "$dir/cohortd.conf";
open $fh, '>', $conf or die;
print $fh "[daemon]\nref_form = any\n";
close $fh;
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', $conf, '--data-dir', "$dir/data"]);
is($rc, 0, '--check-config accepts ref_form = any') or diag $err;
like($out, qr/^ref_form = any$/m, '... and shows it in force');
($rc, $out, $err) = run_cmd([bin('cohortd'), '--check-config', '--config', '/dev/null', '--ref-form', 'raw']);
isnt($rc, 0, '--ref-form raw is refused');
($rc, $out) = run_cmd([bin('cohortd'), '--check-config', '--config', '/dev/null', '--data-dir', "$dir/data"]);
like($out, qr/^ref_form = pseudonym$/m, 'the default is ref_form = pseudonym');

$d = start_daemon(dir => $dir, curve => 1, args => ['--config', $conf]);
ok($d->{pid}, 'daemon restarted with ref_form = any in its configuration file') or BAIL_OUT(log_of($d));
like(log_of($d), qr/ref_form = any: participant and mentor refs are not checked/, '... and warns about it');
my ($rc7, $res7, $err7) = agent($d, 'agent-a', [person($RAW)], '--raw-refs');
is(results($res7), 'ACCEPTED', 'the raw ref sent with --raw-refs is accepted') or diag $err7;
stop_daemon($d);
$d = start_daemon(dir => $dir, curve => 1, args => ['--ref-form', 'any']);
my ($rc8, $res8) = agent($d, 'agent-a', [mentor('M.JONES'), person('ANOTHER.ONE')], '--raw-refs');
like(results($res8), qr/^REJECTED:REJECT_UNKNOWN_PARTICIPANT,ACCEPTED$/,
     '--ref-form any: raw refs pass validation (the mentor is unknown: a domain rule)');
my ($rc9, $res9) = agent($d, 'agent-a', [person('YET.ANOTHER')]);
is(results($res9), 'INVALID', '... the agent still refuses them without --raw-refs');
stop_daemon($d);

# ---------------------------------------------------------------- retention
# Agency-side copies: done/, failed/, the dead-letter file, acked outbox
# records. Old ones (mtime or deadLetteredAt 40 days ago) go, young ones stay.
$d = start_daemon(dir => $dir, curve => 1);
my $spool = "$dir/spool";
my $ob = "$spool/.outbox";
mkdir $spool or die;
mkdir "$spool/$_" or die for qw(done failed);
mkdir $ob, 0700 or die;
sub put { my ($p, $t) = @_; open my $f, '>', $p or die "$p: $!"; print $f $t; close $f }
sub old { system('touch', '-d', '40 days ago', @_) == 0 or die "touch: $?" }
put("$spool/done/old.jsonl", "{}\n");
put("$spool/done/young.jsonl", "{}\n");
put("$spool/failed/old.csv", "a\n");
put("$spool/failed/old.csv.reason", "row 2: ...\n");
put("$spool/failed/young.csv", "a\n");
old("$spool/done/old.jsonl", "$spool/failed/old.csv", "$spool/failed/old.csv.reason");
my $then = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 40 * 86400));
my $now = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time - 60));
put("$ob/dead-letter.jsonl",
    qq({"eventId":"x","code":"REJECT_BAD_VALUE","reason":"r","source":"s","line":1,"entry":1,"deadLetteredAt":"$then","event":{"note":"OLD-DEAD-LETTER"}}\n)
  . qq({"eventId":"y","code":"REJECT_BAD_VALUE","reason":"r","source":"s","line":2,"entry":2,"deadLetteredAt":"$now","event":{"note":"YOUNG-DEAD-LETTER"}}\n));
# an export file written long ago, dropped now: it counts from its move to done/
my $fresh = [grep { $_->{agency} eq 'wm-police' } @{ attendance_events(8, 36) }];
open $fh, '>', "$spool/.late.jsonl.tmp" or die;
print $fh encode_json($_), "\n" for @$fresh;
close $fh;
old("$spool/.late.jsonl.tmp");
rename "$spool/.late.jsonl.tmp", "$spool/late.jsonl" or die;

my @wargs = ('watch', '--json', '--endpoint', $d->{endpoint}, '--key', "$keys/agent-a.key", @curve,
             '--rescan-ms', 200, '--retention-days', 30);
my $w = AgentTest::start_agent($dir, 'watch', @wargs, $spool);
ok(wait_until(15, sub { !-e "$spool/done/old.jsonl" && -e "$spool/done/late.jsonl" }),
   'watch: the old file in done/ is deleted, the new export taken in') or diag slurp("$dir/watch.err");
ok(!-e "$spool/failed/old.csv" && !-e "$spool/failed/old.csv.reason", 'the old failed/ file and its reason too');
ok(-e "$spool/done/young.jsonl" && -e "$spool/failed/young.csv", 'young files in done/ and failed/ stay');
my $dl = slurp("$ob/dead-letter.jsonl");
unlike($dl, qr/OLD-DEAD-LETTER/, 'the dead letter from 40 days ago is gone');
like($dl, qr/YOUNG-DEAD-LETTER/, 'the recent one stays');
like(slurp("$dir/watch.err"), qr/retention 30 days: removed 3 files from done\/ and failed\/, 1 dead letters/,
     'watch says what it removed (counts only)');
ok(wait_until(20, sub { grep({ ($_->{result} // '') eq 'ACCEPTED' } @{ AgentTest::agent_results($w) }) == @$fresh }),
   'the export is delivered');
kill 'TERM', $w->{pid};
is(CohortTest::wait_exit($w->{pid}, 20) >> 8, 0, 'watch stops cleanly');
$w = AgentTest::start_agent($dir, 'watch2', @wargs, $spool);
sleep 1.5;
kill 'TERM', $w->{pid};
CohortTest::wait_exit($w->{pid}, 20);
ok(-e "$spool/done/late.jsonl", 'the file written 40 days ago but moved to done/ now survives the next sweep');

# flush (and send --outbox) sweep the outbox they open: dead letters here;
# the acked outbox records are t_outbox's (outbox_expire).
my $ob2 = "$dir/outbox2";
mkdir $ob2, 0700 or die;
put("$ob2/dead-letter.jsonl",
    qq({"eventId":"x","code":"REJECT_BAD_VALUE","entry":1,"deadLetteredAt":"$then","event":{"note":"OLD-DEAD-LETTER"}}\n));
my $flush = sub {
    return run_cmd([bin('cohort-agent'), 'flush', '--json', '--endpoint', $d->{endpoint}, '--key',
                    "$keys/agent-a.key", @curve, '--outbox', $ob2, @_], timeout => 60);
};
my ($rcf, $outf, $errf) = $flush->('--retention-days', 0);
is($rcf, 0, 'flush --retention-days 0: nothing to send') or diag $errf;
like(slurp("$ob2/dead-letter.jsonl"), qr/OLD-DEAD-LETTER/, '... and 0 keeps the old dead letter');
($rcf, $outf, $errf) = $flush->();
is($rcf, 0, 'flush with the default retention (30 days)') or diag $errf;
ok(!-e "$ob2/dead-letter.jsonl", '... deletes the dead-letter file whose only line is 40 days old');
like($errf, qr/retention 30 days: removed 1 dead letters/, '... and says so');

stop_daemon($d);
done_testing();
