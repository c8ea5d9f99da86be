# ProtoRaw: a tiny protobuf wire-format encoder and decoder for tests that
# must build frames no well-behaved library would produce (truncated, wrong
# wire types, unknown fields, out-of-range values). Encoding is by field
# number, so a test says exactly which bytes go on the wire. The messages of
# proto/cohort.proto are described in %SCHEMA by field name, so well-formed
# events can be written by name (msg/event/request) and then broken.
package ProtoRaw;
use strict;
use warnings;
use Exporter 'import';

our @EXPORT_OK = qw(varint key fv fb f32 f64 msg event request batch ping decode_msg acks_of);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

# A base-128 varint. Negative numbers are sent as 10-byte two's complement
# (as int64 fields are); $v may also be an unsigned 64-bit integer.
sub varint {
    my ($v) = @_;
    $v = $v & ~0;    # unsigned 64-bit view (Perl bit ops are unsigned)
    my $o = '';
    while ($v >= 0x80) { $o .= chr(($v & 0x7f) | 0x80); $v >>= 7 }
    return $o . chr($v);
}

# A field key: field number and wire type (0 varint, 1 fixed64, 2 bytes, 5 fixed32).
sub key { my ($n, $wt) = @_; varint(($n << 3) | $wt) }

# Fields by wire type.
sub fv  { my ($n, $v) = @_; key($n, 0) . varint($v) }
sub fb  { my ($n, $b) = @_; key($n, 2) . varint(length $b) . $b }
sub f32 { my ($n, $v) = @_; key($n, 5) . pack('V', $v) }
sub f64 { my ($n, $v) = @_; key($n, 1) . pack('Q<', $v) }

# Field name => [number, kind]; kind: 'v' varint (ints, enums, bools),
# 's' string or bytes, 'm' an already encoded sub-message. A value that is
# an array ref is a repeated field (one entry per element).
our %SCHEMA = (
    IngestRequest => { request_id => [1, 'v'], batch => [2, 'm'], ping => [3, 'm'] },
    Batch => { events => [1, 'm'] },
    Event => { event_id => [1, 's'], agency => [2, 's'], occurred_at => [3, 'v'],
               programme_defined => [10, 'm'], cohort_opened => [11, 'm'],
               participant_registered => [12, 'm'], enrolment_changed => [13, 'm'],
               attendance_recorded => [14, 'm'], promotion_recorded => [15, 'm'],
               mentor_assigned => [16, 'm'] },
    Component => { kind => [1, 'v'], count => [2, 'v'], minutes_each => [3, 'v'], label => [4, 's'] },
    PositiveActionAim => { group => [1, 'v'], min_percent => [2, 'v'] },
    ProgrammeDefined => { programme_id => [1, 's'], name => [2, 's'], participant_components => [3, 'm'],
                          mentor_components => [4, 'm'], aims => [5, 'm'], duration_months => [6, 'v'] },
    CohortOpened => { programme_id => [1, 's'], cohort_id => [2, 's'], places => [3, 'v'],
                      starts_on => [4, 's'], ends_on => [5, 's'], agencies => [6, 's'] },
    ParticipantRegistered => { participant_ref => [1, 's'], role => [2, 'v'], ethnicity => [3, 'v'],
                               gender => [4, 'v'], disability => [5, 'v'], age_band => [6, 'v'],
                               sexual_orientation => [7, 'v'], religion => [8, 'v'], grade => [9, 's'],
                               officer => [10, 'v'] },
    EnrolmentChanged => { participant_ref => [1, 's'], programme_id => [2, 's'], cohort_id => [3, 's'],
                          stage => [4, 'v'], note => [5, 's'] },
    AttendanceRecorded => { participant_ref => [1, 's'], programme_id => [2, 's'], cohort_id => [3, 's'],
                            component => [4, 'v'], session_id => [5, 's'], session_date => [6, 's'],
                            status => [7, 'v'], minutes => [8, 'v'] },
    PromotionRecorded => { participant_ref => [1, 's'], kind => [2, 'v'], from_grade => [3, 's'],
                           to_grade => [4, 's'], effective_on => [5, 's'], programme_id => [6, 's'],
                           cohort_id => [7, 's'] },
    MentorAssigned => { mentor_ref => [1, 's'], participant_ref => [2, 's'], programme_id => [3, 's'],
                        cohort_id => [4, 's'] },
);

# Encodes message $type from name => value pairs, in field-number order
# (undef values are left out). The key '_raw' appends its bytes as they are
# (unknown fields, duplicates, broken encodings).
sub msg {
    my ($type, %f) = @_;
    my $s = $SCHEMA{$type} or die "ProtoRaw: unknown message $type\n";
    my $raw = delete $f{_raw} // '';
    my $o = '';
    for my $name (sort { $s->{$a}[0] <=> $s->{$b}[0] } grep { defined $f{$_} } keys %f) {
        my $d = $s->{$name} or die "ProtoRaw: $type has no field $name\n";
        my ($n, $kind) = @$d;
        for my $v (ref $f{$name} eq 'ARRAY' ? @{ $f{$name} } : ($f{$name})) {
            $o .= $kind eq 'v' ? fv($n, $v) : fb($n, $v);
        }
    }
    return $o . $raw;
}

# Shorthands: an Event, a Batch of events, a batch IngestRequest, a Ping request.
sub event { msg('Event', @_) }
sub batch { msg('Batch', events => [@_]) }
sub request { my ($id, @events) = @_; msg('IngestRequest', request_id => $id, batch => batch(@events)) }
sub ping { my ($id) = @_; msg('IngestRequest', request_id => $id, ping => '') }

# Decodes one message level: field number => [values] (varints as numbers,
# length-delimited as raw bytes, fixed as numbers). Dies on bad input.
sub decode_msg {
    my ($b) = @_;
    my (%f, $pos);
    $pos = 0;
    my $vi = sub {
        my ($v, $shift) = (0, 0);
        while (1) {
            die "ProtoRaw: truncated varint\n" if $pos >= length $b;
            my $c = ord substr($b, $pos++, 1);
            $v |= ($c & 0x7f) << $shift;
            $shift += 7;
            last unless $c & 0x80;
        }
        return $v;
    };
    while ($pos < length $b) {
        my $k = $vi->();
        my ($n, $wt) = ($k >> 3, $k & 7);
        if ($wt == 0) { push @{ $f{$n} }, $vi->() }
        elsif ($wt == 2) {
            my $l = $vi->();
            die "ProtoRaw: truncated field $n\n" if $pos + $l > length $b;
            push @{ $f{$n} }, substr($b, $pos, $l);
            $pos += $l;
        }
        elsif ($wt == 1) { push @{ $f{$n} }, unpack('Q<', substr($b, $pos, 8)); $pos += 8 }
        elsif ($wt == 5) { push @{ $f{$n} }, unpack('V', substr($b, $pos, 4)); $pos += 4 }
        else { die "ProtoRaw: wire type $wt\n" }
    }
    return \%f;
}

# The acks of a decoded IngestReply, each as {id, result, seq, code, reason}.
sub acks_of {
    my ($reply) = @_;
    return [map {
        my $a = decode_msg($_);
        { id => $a->{1}[0] // '', result => $a->{2}[0] // 0, seq => $a->{3}[0] // 0,
          code => $a->{4}[0] // 0, reason => $a->{5}[0] // '' }
    } @{ $reply->{2} // [] }];
}

1;
