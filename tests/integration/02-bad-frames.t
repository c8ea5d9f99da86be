#!/usr/bin/perl
# Malformed, oversized, unknown-type and wrongly-enveloped frames each get a
# clear frame-level refusal (or, past ZMQ_MAXMSGSIZE, a dropped connection);
# the daemon keeps running and stores the next good events.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my %FRAME = (MALFORMED => 1, TOO_LARGE => 2, UNKNOWN_TYPE => 3, TOO_MANY_EVENTS => 4,
             BAD_ENVELOPE => 5);

sub varint { my $v = shift; my $o = ''; while ($v >= 0x80) { $o .= chr(($v & 0x7f) | 0x80); $v >>= 7 } $o . chr($v) }
sub fld_v { my ($n, $v) = @_; varint($n << 3) . varint($v) }
sub fld_b { my ($n, $b) = @_; varint(($n << 3) | 2) . varint(length $b) . $b }
sub hex_of { 'hex:' . unpack('H*', $_[0]) }

my $d = start_daemon();
my $dir = $d->{dir};

sub refused {
    my ($name, $want, @frames) = @_;
    my ($rc, $rep) = zraw($d, @frames);
    is($rc, 0, "$name: a reply came back");
    my $f = decode_reply($rep->[-1] // '');
    is($f->{3}[0] // 0, $FRAME{$want}, "$name: FRAME_$want");
    ok(length($f->{4}[0] // ''), "$name: with a reason") if $f->{4};
    return $f;
}

refused('garbage', 'MALFORMED', 'hex:ffffffffff');
refused('truncated batch', 'MALFORMED', hex_of(fld_v(1, 9) . varint(0x12) . varint(50) . 'abc'));
my $f = refused('request id only', 'UNKNOWN_TYPE', hex_of(fld_v(1, 9)));
is($f->{1}[0], 9, 'request_id is echoed even when refused');
refused('unknown body type', 'UNKNOWN_TYPE', hex_of(fld_v(1, 3) . fld_b(100, '')));
refused('empty frame', 'UNKNOWN_TYPE', 'hex:');
refused('5 MiB frame', 'TOO_LARGE', 'size:' . (5 << 20));
refused('three non-empty frames', 'BAD_ENVELOPE', 'hex:0801', 'hex:0801');

# 4097 tiny (invalid) events: refused as a whole before validation
my $ev = fld_b(1, 'x' x 16);
my $batch = fld_b(2, join('', map { fld_b(1, $ev) } 1 .. 4097));
open my $fh, '>', "$dir/big.bin" or die;
print $fh fld_v(1, 5) . $batch;
close $fh;
refused('4097 events', 'TOO_MANY_EVENTS', "file:$dir/big.bin");

# events with a wrong-length id and an unknown enum value are rejected per event
my $bad_id = fld_b(1, 'short') . fld_b(2, 'wm-police') . fld_v(3, 1238572800000000);
my $bad_enum = fld_b(1, 'y' x 16) . fld_b(2, 'wm-police') . fld_v(3, 1238572800000000)
    . fld_b(13, fld_b(1, 'p1') . fld_b(2, 'sf') . fld_b(3, 'c1') . fld_v(4, 99));
my ($rc, $rep) = zraw($d, hex_of(fld_v(1, 11) . fld_b(2, fld_b(1, $bad_id) . fld_b(1, $bad_enum))));
my $r = decode_reply($rep->[-1]);
is(scalar @{ $r->{2} // [] }, 2, 'two acks for two events');
my @acks = map { decode_reply(unpack 'H*', $_) } @{ $r->{2} };
is($acks[0]{2}[0], 3, 'wrong-length id: REJECTED');
is($acks[0]{4}[0], 1, '... with REJECT_BAD_EVENT_ID');
is($acks[1]{4}[0], 6, 'unknown enum value: REJECT_BAD_ENUM');

# REQ-style envelope (empty delimiter) is answered in kind
($rc, $rep) = zraw($d, 'hex:', hex_of(fld_v(1, 21) . fld_b(3, '')));
is(scalar @$rep, 2, 'REQ-style request: reply has the delimiter');
is(decode_reply($rep->[1])->{1}[0], 21, 'and answers the ping');

# over ZMQ_MAXMSGSIZE (8 MiB): the connection is dropped, no reply, no crash
($rc) = zraw($d, 'size:' . (9 << 20));
is($rc, 3, '9 MiB frame: dropped without a reply');

ok(alive($d), 'daemon still running after all bad frames');
my ($arc, $res) = agent_send($d, repo_root() . '/examples/step-forward.jsonl');
is($arc, 0, 'and it still accepts good events');
ok(@$res && !(grep { $_->{result} ne 'ACCEPTED' } @$res), 'all of them ACCEPTED');
is(stop_daemon($d), 0, 'clean exit');
done_testing();
