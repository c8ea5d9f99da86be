#!/usr/bin/perl
# Staff numbers never leave the agent (issue 5). cohort-agent keygen-pseudonym
# makes a key (0600, never overwritten); bad key files are refused. With
# --pseudonym-key, records carrying staffNumber / staff_number /
# mentorStaffNumber (JSON Lines in send and send --outbox, CSV in watch) reach
# the daemon as participant refs p1:<base32(HMAC-SHA256(key, staff number))>,
# which this test computes independently (Digest::SHA). Checked: the daemon's
# log (cohortctl tail --json) holds the refs and no staff number; the bytes
# on the wire (recorded by tests/zcapture, a stand-in daemon) and the outbox
# and dead-letter files hold no staff number in any plain encoding; the same
# staff number gives the same ref across runs, send and watch, JSON and CSV;
# without the key, or with both a staff number and a ref, records are refused
# and nothing is sent.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(hmac_sha256);
use POSIX qw(:sys_wait_h);

my $dir = tmpdir();
my $agent = bin('cohort-agent');
my $key = "$dir/agency.key";
my @out_texts;    # everything the agents printed, checked for staff numbers at the end

sub agent {
    my ($args, %o) = @_;
    my ($rc, $out, $err) = run_cmd([$agent, @$args], timeout => $o{timeout} // 60);
    push @out_texts, $out, $err;
    return ($rc, $out, $err);
}

# ---- keygen and key files ----
my ($rc, $out, $err) = agent(['keygen-pseudonym', $key]);
is($rc, 0, 'keygen-pseudonym exits 0') or diag $err;
is((stat $key)[2] & 07777, 0600, 'the key file is mode 0600');
my $hex = slurp($key);
like($hex, qr/\A[0-9a-f]{64}\n\z/, 'it holds 64 hex digits and a newline');
($rc, $out, $err) = agent(['keygen-pseudonym', $key]);
isnt($rc, 0, 'keygen-pseudonym on an existing file fails');
like($err, qr/never overwritten/, 'saying a key is never overwritten');
is(slurp($key), $hex, 'the key file is unchanged');
my $kbytes = pack('H*', substr($hex, 0, 64));

sub put { my ($p, $t, $m) = @_; open my $fh, '>', $p or die; print $fh $t; close $fh; chmod $m, $p }
put("$dir/open.key", $hex, 0644);
put("$dir/short.key", substr($hex, 0, 62) . "\n", 0600);
put("$dir/empty.jsonl", '', 0644);
for my $bad (['open.key', qr/0600/, 'a key file others can read'],
             ['short.key', qr/64 hex digits/, 'a key of the wrong size'],
             ['missing.key', qr/cannot open/, 'a missing key file']) {
    ($rc, $out, $err) = agent(['send', '--endpoint', "ipc://$dir/nowhere", '--pseudonym-key',
                               "$dir/$bad->[0]", "$dir/empty.jsonl"]);
    is($rc, 2, "$bad->[2]: exit 2");
    like($err, $bad->[1], "$bad->[2]: says why");
}

# ---- the refs, computed independently ----
sub b32 { my $bits = unpack('B*', $_[0]); join '', map { ('a' .. 'z', 2 .. 7)[oct "0b$_"] } $bits =~ /(.{5})/g }
sub ref_of { my $s = uc $_[0]; $s =~ s/^\s+|\s+$//g; 'p1:' . b32(substr(hmac_sha256($s, $kbytes), 0, 20)) }

my %S = (a => 'WMP-889101', b => 'WMP-889110', c => 'WMP-889011', d => 'WMP-881909',
         m => 'WMP-880019');
my %R = map { $_ => ref_of($S{$_}) } keys %S;
is(scalar(keys %{ { reverse %R } }), 5, 'five staff numbers, five different refs');
is(ref_of(" wmp-889101\t"), $R{a}, '(normalisation: trimmed, upper-cased)');

# Every spelling of a staff number that must not appear anywhere; with
# $binary also its bare digits (not in text: a UUID or a timestamp could
# hold six given digits by chance).
sub forms {
    my ($s, $binary) = @_;
    (my $digits = $s) =~ s/^\D+//;
    return ($s, lc $s, ($binary ? $digits : ()), unpack('H*', $s), unpack('H*', lc $s),
            encode_base64($s, ''), encode_base64(lc $s, ''));
}
# Names of the staff numbers (any form) found in $bytes.
sub leaks {
    my ($bytes, $binary) = @_;
    return grep { my $k = $_; grep { index($bytes, $_) >= 0 } forms($S{$k}, $binary) } sort keys %S;
}

my $prog = 'ps-prog';
my %base = (agency => 'wm-police');
my @setup = (
    { agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
      programmeDefined => { programmeId => $prog, name => 'Pseudonym test',
          participantComponents => [{ kind => 'COACHING', count => 6, minutesEach => 120 }],
          mentorComponents => [{ kind => 'COACHING', count => 6, minutesEach => 120 }] } },
    { agency => 'wmcjb', occurredAt => '2009-01-12T10:00:00Z',
      cohortOpened => { programmeId => $prog, cohortId => 'c1', places => 100,
          startsOn => '2009-04-01', endsOn => '2009-09-30', agencies => ['wm-police'] } },
    (map { { %base, occurredAt => '2009-02-01T09:00:00Z',
             participantRegistered => { staffNumber => $_, role => 'PARTICIPANT', ethnicity => 'B1',
                 gender => 'FEMALE', disability => 'NOT_DISABLED' } } } $S{a}, $S{b}),
    { %base, occurredAt => '2009-02-01T09:00:00Z',
      participantRegistered => { staff_number => lc $S{m}, role => 'MENTOR', ethnicity => 'W1',
          gender => 'MALE', disability => 'NOT_DISABLED' } },
    (map { { %base, occurredAt => '2009-03-01T09:00:00Z',
             enrolmentChanged => { staffNumber => " \L$S{a} ", programmeId => $prog,
                 cohortId => 'c1', stage => $_ } } }
         qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)),
    { %base, occurredAt => '2009-03-02T09:00:00Z',
      mentorAssigned => { mentorStaffNumber => $S{m}, staffNumber => $S{a}, programmeId => $prog,
          cohortId => 'c1' } },
);
my @more = (
    (map { { %base, occurredAt => '2009-03-03T09:00:00Z',
             enrolmentChanged => { staff_number => $S{b}, programmeId => $prog, cohortId => 'c1',
                 stage => $_ } } }
         qw(APPLIED SHORTLISTED INTERVIEWED LINE_MANAGER_SUPPORTED OFFERED ENROLLED)),
    { %base, occurredAt => '2009-05-01T09:00:00Z',
      attendanceRecorded => { staffNumber => $S{a}, programmeId => $prog, cohortId => 'c1',
          component => 'COACHING', sessionId => 'coaching-1', sessionDate => '2009-05-01',
          status => 'PRESENT', minutes => 120 } },
);
write_jsonl("$dir/setup.jsonl", \@setup);
write_jsonl("$dir/more.jsonl", \@more);
my $nsetup = @setup;
my $nmore = @more;

# ---- (b) the bytes on the wire: a recording stand-in daemon ----
my $cap = "$dir/wire.bin";
my $cap_ep = "ipc://$dir/capture";
my $zc_out = "$dir/zcapture.out";
my $zpid = fork() // die;
if (!$zpid) {
    open STDOUT, '>', $zc_out or die;
    exec bin('zcapture'), $cap_ep, $cap, 120 or die;
}
ok(wait_until(10, sub { -S "$dir/capture" }), 'zcapture is listening');

($rc, $out, $err) = agent(['send', '--json', '--endpoint', $cap_ep, "$dir/setup.jsonl"]);
is($rc, 1, 'to the recorder without a key: exit 1');
my $res = read_jsonl($out);
is(scalar(grep { $_->{result} eq 'INVALID' } @$res), $nsetup - 2,
   'every record with a staff number is INVALID (the programme and cohort are sent)');
like($err . $out, qr/needs the agency's pseudonym key/, 'saying a pseudonym key is needed');
my $before = -s $cap // 0;
ok($before > 0, 'the two records without staff numbers did go out');
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $cap_ep, '--outbox', "$dir/ob-nokey",
                           "$dir/more.jsonl"]);
is($rc, 1, 'send --outbox without a key: exit 1');
is(scalar(grep { $_->{result} eq 'INVALID' } @{ read_jsonl($out) }), $nmore, 'all INVALID');
is(-s $cap, $before, 'nothing more reached the wire');

put("$dir/both.jsonl", encode_json({ %base, attendanceRecorded => { staffNumber => $S{c},
    participantRef => 'x1', programmeId => $prog, cohortId => 'c1' } }) . "\n", 0644);
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $cap_ep, '--pseudonym-key', $key,
                           "$dir/both.jsonl"]);
is($rc, 1, 'staffNumber and participantRef in one record: exit 1');
like($out, qr/"INVALID".*give one of them/, 'INVALID: give one of them');
is(-s $cap, $before, 'and nothing was sent');

($rc, $out, $err) = agent(['send', '--json', '--endpoint', $cap_ep, '--pseudonym-key', $key,
                           "$dir/setup.jsonl"]);
is($rc, 0, 'with the key, to the recorder: exit 0') or diag $err;
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @{ read_jsonl($out) }), $nsetup, 'all acked');
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $cap_ep, '--pseudonym-key', $key,
                           '--outbox', "$dir/ob-cap", "$dir/more.jsonl"]);
is($rc, 0, 'send --outbox with the key, to the recorder: exit 0') or diag $err;
kill 'TERM', $zpid;
ok(defined wait_exit($zpid, 10), 'zcapture stopped');
like(slurp($zc_out), qr/events=(\d+)/, 'zcapture counted events');
my ($nev) = slurp($zc_out) =~ /events=(\d+)/;
is($nev, 2 + $nsetup + $nmore, 'it saw every event that was sent');
my $wire = slurp($cap);
ok(length($wire) > $before, 'the wire carried the pseudonymised events');
for my $k (qw(a b m)) {
    ok(index($wire, $R{$k}) >= 0, "the wire carries the ref of staff number $k");
}
is(join(',', leaks($wire, 1)), '', 'the wire carries no staff number (plain, lower case, digits, hex, base64)');

# ---- the real daemon: send, send --outbox (first held in the outbox), watch CSV ----
my $d = start_daemon(dir => $dir);
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $d->{endpoint}, '--pseudonym-key', $key,
                           "$dir/setup.jsonl"]);
is($rc, 0, 'send with the key: exit 0') or diag "$out$err";
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @{ read_jsonl($out) }), $nsetup, 'all ACCEPTED');

my $ob = "$dir/outbox";
($rc, $out, $err) = agent(['send', '--json', '--endpoint', "ipc://$dir/nowhere", '--deadline-s', 1,
                           '--pseudonym-key', $key, '--outbox', $ob, "$dir/more.jsonl"]);
is($rc, 3, 'send --outbox, daemon unreachable: exit 3 (held in the outbox)');
my $obytes = join '', map { slurp($_) } glob("$ob/* $ob/.*");
ok(index($obytes, $R{a}) >= 0 && index($obytes, $R{b}) >= 0, 'the outbox holds the refs');
is(join(',', leaks($obytes, 1)), '', 'and no staff number');
($rc, $out, $err) = agent(['flush', '--json', '--endpoint', $d->{endpoint}, '--outbox', $ob]);
is($rc, 0, 'flush delivers them') or diag "$out$err";
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @{ read_jsonl($out) }), $nmore, 'all ACCEPTED');

my $spool = "$dir/spool";
mkdir $spool or die;
my $w = start_agent($dir, 'watch', 'watch', '--json', '--endpoint', $d->{endpoint},
                    '--pseudonym-key', $key, '--rescan-ms', 100, $spool);
drop_file($spool, '01-participants.csv',
          csv_of([qw(agency staffNumber role ethnicity gender disability occurredAt)],
                 [map { { agency => 'wm-police', staffNumber => $_, role => 'participant',
                          ethnicity => 'A1', gender => 'male', disability => 'not_disabled',
                          occurredAt => '2009-02-02T09:00:00Z' } } $S{c}, lc $S{d}]));
drop_file($spool, '02-attendance.csv',
          csv_of([qw(agency), 'Staff Number', qw(programmeId cohortId component sessionId sessionDate status minutes)],
                 [{ agency => 'wm-police', 'Staff Number' => " \L$S{a} ", programmeId => $prog,
                    cohortId => 'c1', component => 'coaching', sessionId => 'coaching-2',
                    sessionDate => '2009-05-08', status => 'present', minutes => 120 }]));
ok(wait_until(30, sub { count_dir("$spool/done") == 2 && @{ agent_results($w) } >= 3 }),
   'watch took both CSV files in and had them acked');
is(scalar(grep { $_->{result} eq 'ACCEPTED' } @{ agent_results($w) }), 3, 'three events ACCEPTED');
kill 'TERM', $w->{pid};
is(wait_exit($w->{pid}, 20), 0, 'watch stops cleanly');
push @out_texts, slurp($w->{out}), slurp($w->{err});
my $spool_ob = join '', map { slurp($_) } glob("$spool/.outbox/* $spool/.outbox/.*");
is(join(',', leaks($spool_ob, 1)), '', "watch's outbox holds no staff number");

# watch without the key: the file fails, nothing is sent
my $spool2 = "$dir/spool2";
mkdir $spool2 or die;
my $w2 = start_agent($dir, 'watch2', 'watch', '--json', '--endpoint', $d->{endpoint},
                     '--rescan-ms', 100, $spool2);
drop_file($spool2, '01-participants.csv',
          csv_of([qw(agency staffNumber role ethnicity gender disability)],
                 [{ agency => 'wm-police', staffNumber => $S{c}, role => 'participant',
                    ethnicity => 'A1', gender => 'male', disability => 'not_disabled' }]));
# -s, not -e: the reason file is created, then written (spool.c fail_from).
ok(wait_until(20, sub { -s "$spool2/failed/01-participants.csv.reason" }),
   'watch without a key: the CSV with staff numbers fails');
like(slurp("$spool2/failed/01-participants.csv.reason"), qr/needs the agency's pseudonym key/,
     'the reason says the key is needed');
kill 'TERM', $w2->{pid};
wait_exit($w2->{pid}, 20);
push @out_texts, slurp($w2->{out}), slurp($w2->{err}), slurp("$spool2/failed/01-participants.csv.reason");

# a rejected event: the dead letter shows the ref
put("$dir/reject.jsonl", encode_json({ %base, occurredAt => '2009-05-02T09:00:00Z',
    attendanceRecorded => { staffNumber => $S{d}, programmeId => $prog, cohortId => 'c1',
        component => 'COACHING', sessionId => 'coaching-1', sessionDate => '2009-05-01',
        status => 'PRESENT', minutes => 120 } }) . "\n", 0644);
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $d->{endpoint}, '--pseudonym-key', $key,
                           '--outbox', "$dir/ob-dead", "$dir/reject.jsonl"]);
is($rc, 1, 'an event for someone not enrolled: REJECTED, exit 1');
my $dead = slurp("$dir/ob-dead/dead-letter.jsonl");
my ($dl) = @{ read_jsonl($dead) };
is($dl->{event}{attendanceRecorded}{participantRef}, $R{d}, 'the dead letter shows the ref');
is(join(',', leaks($dead)), '', 'and no staff number');

# ---- (a), (c): the daemon's log ----
my ($trc, $tail, $terr) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $d->{data}],
                                  timeout => 60);
is($trc, 0, 'cohortctl tail --json');
is(join(',', leaks($tail)), '', 'the log holds no staff number');
my $log = read_jsonl($tail);
is(scalar(@$log), $nsetup + $nmore + 3, 'the log holds every event sent');
my (%refs_by_body, %known);
@known{ values %R } = ();
for my $l (@$log) {
    my $e = $l->{event};
    my ($body) = grep { ref $e->{$_} eq 'HASH' } keys %$e;
    for my $f (qw(participantRef mentorRef)) {
        next unless defined $e->{$body}{$f};
        push @{ $refs_by_body{"$body.$f"} }, $e->{$body}{$f};
        ok(exists $known{ $e->{$body}{$f} }, "$body.$f is an expected ref") or diag $e->{$body}{$f};
    }
}
is($refs_by_body{'mentorAssigned.mentorRef'}[0], $R{m}, 'mentorStaffNumber became the mentor ref');
is($refs_by_body{'mentorAssigned.participantRef'}[0], $R{a}, 'staffNumber in mentorAssigned');
is(join(',', sort @{ $refs_by_body{'attendanceRecorded.participantRef'} }), join(',', ($R{a}) x 2),
   'the same staff number, by JSON (send --outbox) and CSV (watch), in another spelling: the same ref');
is((grep { $_ eq $R{a} } @{ $refs_by_body{'enrolmentChanged.participantRef'} }), 6,
   'the lower-case, padded spelling gave the same ref in all six enrolments');
is(join(',', sort @{ $refs_by_body{'participantRegistered.participantRef'} }),
   join(',', sort @R{qw(a b m c d)}), 'registrations from send and watch carry the expected refs');

# the same input again, later run: the same refs, so the same derived ids
($rc, $out, $err) = agent(['send', '--json', '--endpoint', $d->{endpoint}, '--pseudonym-key', $key,
                           '--outbox', "$dir/ob-again", "$dir/more.jsonl"]);
is($rc, 0, 'more.jsonl again through another outbox: exit 0');
is(scalar(grep { $_->{result} eq 'DUPLICATE' } @{ read_jsonl($out) }), $nmore,
   'all DUPLICATE: same refs in a new run, so the same content-derived ids');

is(join(',', leaks(join '', @out_texts)), '', "no agent output or log line holds a staff number");
is(stop_daemon($d), 0, 'the daemon stops cleanly');
done_testing();
