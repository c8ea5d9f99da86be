#!/usr/bin/perl
# Hostile input, table-driven (issue 4). Every kind of bad input in @KINDS is
# sent as raw bytes (tests/lib/ProtoRaw.pm builds the frames, zraw sends
# them) to one live daemon, which must answer with exactly the refusal that
# docs/protocol.md documents: a frame-level FrameError, or per-event acks
# REJECTED with the exact RejectCode (docs/status.md for the domain rules).
# After every kind the daemon must still be running and take a good event
# (fresh event_id) as ACCEPTED at exactly the next sequence, which also
# proves that nothing of the bad input was stored.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use ProtoRaw qw(:all);
use Test::More;
use Time::HiRes qw(time);

my %FRAME = (OK => 0, MALFORMED => 1, TOO_LARGE => 2, UNKNOWN_TYPE => 3, TOO_MANY_EVENTS => 4,
             BAD_ENVELOPE => 5);
my %CODE = (BAD_EVENT_ID => 1, BAD_AGENCY => 2, BAD_TIMESTAMP => 3, NO_BODY => 4, MISSING_FIELD => 5,
            BAD_ENUM => 6, TOO_LONG => 7, BAD_DATE => 8, BAD_VALUE => 9, BAD_UTF8 => 10,
            UNKNOWN_PROGRAMME => 12, UNKNOWN_COHORT => 13, UNKNOWN_PARTICIPANT => 14,
            BAD_TRANSITION => 15, NO_LINE_MANAGER_SUPPORT => 16, NOT_ENROLLED => 17,
            AGENCY_NOT_IN_COHORT => 18, WRONG_ROLE => 19);
my %RESULT = (ACCEPTED => 1, DUPLICATE => 2, REJECTED => 3);

# ------------------------------------------------------------ builders ---

my $TS = 1238572800000000;    # 2009-04-01T08:00:00Z in microseconds
my $MiB = 1 << 20;
my $PROG = 'it-1';            # set up by setup_events(1): cohort c1, people t1p001..t1p020
my $n_id = 0;
my $rid = 1000;               # request ids: the last one used is what a reply must echo

# A fresh 16-byte event id.
sub eid { pack('N4', 0x0190bad1, 0x70000000, 0x80000000, ++$n_id) }

# An event: by default a valid ParticipantRegistered of wm-police with a fresh
# id. Any Event field may be given (undef leaves it out); body => BYTES
# replaces the ParticipantRegistered body, a body field by name replaces it
# with that body.
my @BODIES = qw(programme_defined cohort_opened participant_registered enrolment_changed
                attendance_recorded promotion_recorded mentor_assigned);
sub ev {
    my (%o) = @_;
    my $body = delete $o{body};
    my %e = (event_id => eid(), agency => 'wm-police', occurred_at => $TS, %o);
    $e{participant_registered} = $body // person('x-' . $n_id) unless grep { exists $o{$_} } @BODIES;
    return event(%e);
}
sub no_body { my (%o) = @_; event(event_id => eid(), agency => 'wm-police', occurred_at => $TS, %o) }

sub person {
    my ($ref, %o) = @_;
    msg('ParticipantRegistered', participant_ref => $ref, role => 1, ethnicity => 1, gender => 1,
        disability => 2, %o);
}
sub enrol {
    my ($ref, $stage, %o) = @_;
    msg('EnrolmentChanged', participant_ref => $ref, programme_id => $PROG, cohort_id => 'c1',
        stage => $stage, %o);
}
sub attend {
    my ($ref, %o) = @_;
    msg('AttendanceRecorded', participant_ref => $ref, programme_id => $PROG, cohort_id => 'c1',
        component => 3, session_id => 'coaching-1', session_date => '2009-05-01', status => 1,
        minutes => 120, %o);
}
sub component { msg('Component', kind => $_[0] // 3, count => 6, minutes_each => 120) }
sub programme {
    my (%o) = @_;
    msg('ProgrammeDefined', programme_id => 'bad-input', name => 'Bad input',
        participant_components => [component(1), component(3)], %o);
}
sub cohort {
    my (%o) = @_;
    msg('CohortOpened', programme_id => $PROG, cohort_id => 'c2', places => 10,
        starts_on => '2009-04-01', ends_on => '2009-09-30', agencies => ['wm-police'], %o);
}

# One batch request with a new request_id.
sub req { request(++$rid, @_) }

# Every stage number by name (EnrolmentStage).
my %STAGE = (APPLIED => 1, SHORTLISTED => 2, INTERVIEWED => 3, LINE_MANAGER_SUPPORTED => 4,
             OFFERED => 5, ENROLLED => 6, COMPLETED => 7, WITHDRAWN => 8);

# A valid request used by the truncation kinds: its lengths need two-byte
# varints (grade is long) so cuts can land inside a length prefix.
my $FULL_ID = eid();
my $FULL = msg('IngestRequest', request_id => 300,
               batch => batch(event(event_id => $FULL_ID, agency => 'wm-police', occurred_at => $TS,
                                    participant_registered => person('cut-1', grade => 'g' x 200))));
my $at_rid = length(fv(1, 300));                     # offset of the batch key
my $at_id = index($FULL, $FULL_ID);                  # offset of the event id's bytes
my $at_ts = index($FULL, varint($TS));               # offset of occurred_at's varint
my $at_grade = index($FULL, 'g' x 200);

# Rewrites the length prefix of the last length-delimited field inside an
# event so it claims $extra bytes more than there are, with every enclosing
# length kept consistent: protobuf-c must find the truncation in the inner
# message itself.
sub inner_truncated {
    my $body = person('cut-2');
    my $bad_body = key(12, 2) . varint(length($body) + 5) . $body;    # claims 5 bytes more
    my $e = fb(1, eid()) . fb(2, 'wm-police') . fv(3, $TS) . $bad_body;
    return msg('IngestRequest', request_id => ++$rid, batch => batch($e));
}

sub long_list { my ($n, $item) = @_; [map { $item } 1 .. $n] }

# --------------------------------------------------------------- kinds ---
# Each kind: [name, sub returning the frames (byte strings), expectation].
# Expectations: frame => NAME (FrameError, no acks; rid => the request_id the
# reply must echo, default 0 when the frame is unreadable or mis-enveloped,
# else the request's); acks => [RejectCode name or ACCEPTED, ...] per event;
# ping => 1 (answered like a ping: FRAME_OK, no acks); dropped => 1 (no reply
# at all); delim => 1 (REQ-style: the reply starts with an empty frame).

my @KINDS = (
    # --- not protobuf at all, or truncated at several cut points
    ['garbage bytes', sub { "\xff\xff\xff\xff\xff" }, { frame => 'MALFORMED' }],
    ['a text line', sub { "hello, daemon\n" }, { frame => 'MALFORMED' }],
    ['cut inside the request_id varint', sub { substr($FULL, 0, $at_rid - 1) }, { frame => 'MALFORMED' }],
    ['cut after the batch key', sub { substr($FULL, 0, $at_rid + 1) }, { frame => 'MALFORMED' }],
    ['cut inside the batch length prefix', sub { substr($FULL, 0, $at_rid + 2) }, { frame => 'MALFORMED' }],
    ['cut inside the event id', sub { substr($FULL, 0, $at_id + 8) }, { frame => 'MALFORMED' }],
    ['cut inside occurred_at', sub { substr($FULL, 0, $at_ts + 3) }, { frame => 'MALFORMED' }],
    ['cut inside a string', sub { substr($FULL, 0, $at_grade + 100) }, { frame => 'MALFORMED' }],
    ['cut one byte short', sub { substr($FULL, 0, length($FULL) - 1) }, { frame => 'MALFORMED' }],
    ['cut at a field boundary: no body left', sub { substr($FULL, 0, $at_rid) },
     { frame => 'UNKNOWN_TYPE', rid => 300 }],
    ['inner length overruns its event', \&inner_truncated, { frame => 'MALFORMED' }],
    ['length prefix of 2^63', sub { fv(1, 5) . key(2, 2) . varint(1 << 63) . 'abc' }, { frame => 'MALFORMED' }],
    ['11-byte varint', sub { key(1, 0) . ("\xff" x 10) . "\x01" . fb(3, '') }, { frame => 'MALFORMED' }],
    ['field number 0', sub { "\x00\x01" . ping(++$rid) }, { frame => 'MALFORMED' }],

    # --- wrong wire types for known fields (protobuf-c refuses the message)
    ['request_id as bytes', sub { fb(1, 'x') . fb(3, '') }, { frame => 'MALFORMED' }],
    ['request_id as fixed64', sub { f64(1, 5) . fb(3, '') }, { frame => 'MALFORMED' }],
    ['batch as a varint', sub { fv(1, ++$rid) . fv(2, 5) }, { frame => 'MALFORMED' }],
    ['ping as fixed32', sub { fv(1, ++$rid) . f32(3, 0) }, { frame => 'MALFORMED' }],
    ['Batch.events as a varint', sub { fv(1, ++$rid) . fb(2, fv(1, 1)) }, { frame => 'MALFORMED' }],
    ['event_id as a varint', sub { req(fv(1, 7) . fb(2, 'wm-police') . fv(3, $TS) . fb(12, person('w-1'))) },
     { frame => 'MALFORMED' }],
    ['agency as fixed32', sub { req(fb(1, eid()) . f32(2, 7) . fv(3, $TS) . fb(12, person('w-2'))) },
     { frame => 'MALFORMED' }],
    ['occurred_at as bytes', sub { req(fb(1, eid()) . fb(2, 'wm-police') . fb(3, varint($TS)) . fb(12, person('w-3'))) },
     { frame => 'MALFORMED' }],
    ['body as a varint', sub { req(fb(1, eid()) . fb(2, 'wm-police') . fv(3, $TS) . fv(13, 1)) },
     { frame => 'MALFORMED' }],
    ['enum stage as bytes', sub { req(no_body(enrolment_changed =>
         msg('EnrolmentChanged', participant_ref => pref('t1p004'), programme_id => $PROG, cohort_id => 'c1') . fb(4, "\x06"))) },
     { frame => 'MALFORMED' }],
    ['group wire types 3/4', sub { fv(1, ++$rid) . key(9, 3) . key(9, 4) . fb(3, '') }, { frame => 'MALFORMED' }],
    ['reserved wire type 6', sub { fv(1, ++$rid) . key(9, 6) . fb(3, '') }, { frame => 'MALFORMED' }],
    ['reserved wire type 7', sub { fv(1, ++$rid) . key(9, 7) . fb(3, '') }, { frame => 'MALFORMED' }],

    # --- sizes: frames and repeated fields
    ['exactly 4 MiB of garbage (size allowed)', sub { "\xff" x (4 * $MiB) }, { frame => 'MALFORMED' }],
    ['4 MiB + 1 byte', sub { "\xff" x (4 * $MiB + 1) }, { frame => 'TOO_LARGE' }],
    ['5 MiB valid request (padded)', sub { ping(++$rid) . fb(99, 'p' x (5 * $MiB)) }, { frame => 'TOO_LARGE' }],
    ['9 MiB: over ZMQ_MAXMSGSIZE', sub { "\xff" x (9 * $MiB) }, { dropped => 1 }],
    ['4097 events', sub { req(map { fb(1, 'x' x 16) } 1 .. 4097) }, { frame => 'TOO_MANY_EVENTS' }],
    ['4 MiB of empty events (2 M events)', sub { fv(1, ++$rid) . fb(2, "\x0a\x00" x (2 * $MiB - 8)) },
     { frame => 'TOO_MANY_EVENTS' }],
    ['4096 bad events (limit: frame taken)', sub { req(map { ev(event_id => 'short') } 1 .. 4096) },
     { acks => [('BAD_EVENT_ID') x 4096] }],
    ['65 cohort agencies', sub { req(ev(cohort_opened => cohort(agencies => long_list(65, 'wm-police')))) },
     { acks => ['TOO_LONG'] }],
    ['100000 cohort agencies', sub { req(ev(cohort_opened => cohort(agencies => long_list(100000, 'a')))) },
     { acks => ['TOO_LONG'] }],
    ['2 M empty cohort agencies (decodes too large)', sub { fv(1, ++$rid) . fb(2, fb(1, msg('Event',
         event_id => eid(), agency => 'wm-police', occurred_at => $TS) . fb(11, fb(6, "") x (2 * $MiB - 64)))) },
     { frame => 'TOO_LARGE' }],
    ['65 participant components', sub { req(ev(programme_defined =>
         programme(participant_components => [map { component($_ % 13 + 1) } 1 .. 65]))) },
     { acks => ['TOO_LONG'] }],
    ['65 aims', sub { req(ev(programme_defined =>
         programme(aims => long_list(65, msg('PositiveActionAim', group => 1, min_percent => 10))))) },
     { acks => ['TOO_LONG'] }],

    # --- strings: UTF-8 and lengths
    (map {
        my ($what, $bytes) = @$_;
        ["invalid UTF-8 in a name: $what", sub { req(ev(programme_defined => programme(name => "Bad $bytes input"))) },
         { acks => ['BAD_UTF8'] }]
     } (['lone continuation byte', "\x80"], ['overlong slash', "\xc0\xaf"], ['overlong 3-byte', "\xe0\x80\xaf"],
        ['UTF-16 surrogate', "\xed\xa0\x80"], ['above U+10FFFF', "\xf4\x90\x80\x80"], ['byte 0xff', "\xff"],
        ['byte 0xf5', "\xf5\x80\x80\x80"])),
    ['invalid UTF-8 cut at the end of a string', sub { req(ev(programme_defined => programme(name => "Euro \xe2\x82"))) },
     { acks => ['BAD_UTF8'] }],
    ['invalid UTF-8 in a ref', sub { req(ev(body => person("p\xc3("))) }, { acks => ['BAD_UTF8'] }],
    ['invalid UTF-8 in a list entry', sub { req(ev(cohort_opened => cohort(agencies => ['wm-police', "x\xff"]))) },
     { acks => ['BAD_UTF8'] }],
    ['invalid UTF-8 in a nested label', sub { req(ev(programme_defined => programme(participant_components =>
         [msg('Component', kind => 1, count => 1, minutes_each => 60, label => "\xfe\xfe")]))) },
     { acks => ['BAD_UTF8'] }],
    ['invalid UTF-8 in the agency', sub { req(ev(agency => "wm\xff")) }, { acks => ['BAD_AGENCY'] }],
    # a NUL byte would cut a C string short, so validation would see less
    # than the log stores: the whole frame is refused (codec.c)
    ['NUL byte in the agency', sub { req(ev(agency => "wm-police\0hidden")) }, { frame => 'MALFORMED', rid => 'last' }],
    ['NUL byte in a ref', sub { req(ev(body => person("ref\0hidden"))) }, { frame => 'MALFORMED', rid => 'last' }],
    ['NUL byte in a list entry', sub { req(ev(cohort_opened => cohort(agencies => ['wm-police', "\0"]))) },
     { frame => 'MALFORMED', rid => 'last' }],
    ['NUL byte in a nested label', sub { req(ev(programme_defined => programme(participant_components =>
         [msg('Component', kind => 1, count => 1, minutes_each => 60, label => "a\0b")]))) },
     { frame => 'MALFORMED', rid => 'last' }],
    ['NUL bytes in an event id are data (bytes field)', sub { req(ev(event_id => "\0" x 15 . chr($n_id % 250 + 1))) },
     { acks => ['ACCEPTED'] }],
    ['name of 513 bytes', sub { req(ev(programme_defined => programme(name => 'n' x 513))) }, { acks => ['TOO_LONG'] }],
    ['name of 3 MiB', sub { req(ev(programme_defined => programme(name => 'n' x (3 * $MiB)))) }, { acks => ['TOO_LONG'] }],
    ['note of 514 bytes of UTF-8', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 7, note => "\xc3\xa9" x 257))) },
     { acks => ['TOO_LONG'] }],
    ['grade of 600 bytes', sub { req(ev(body => person('g-1', grade => 'g' x 600))) }, { acks => ['TOO_LONG'] }],
    ['ref of 129 characters', sub { req(ev(body => person('r' x 129))) }, { acks => ['BAD_VALUE'] }],
    ['ref of 600 characters', sub { req(ev(body => person('r' x 600))) }, { acks => ['TOO_LONG'] }],
    ['ref with a space', sub { req(ev(body => person('p 1'))) }, { acks => ['BAD_VALUE'] }],
    ['programme_id of 65 characters', sub { req(ev(cohort_opened => cohort(programme_id => 'p' x 65))) },
     { acks => ['BAD_VALUE'] }],
    ['programme_id with a slash', sub { req(ev(cohort_opened => cohort(programme_id => 'it/1'))) },
     { acks => ['BAD_VALUE'] }],
    ['session_id in capitals', sub { req(ev(attendance_recorded => attend(pref('t1p004'), session_id => 'Coaching-1'))) },
     { acks => ['BAD_VALUE'] }],

    # --- the envelope fields: event id, agency, timestamp
    ['no event id', sub { req(ev(event_id => undef)) }, { acks => ['BAD_EVENT_ID'] }],
    ['empty event id', sub { req(ev(event_id => '')) }, { acks => ['BAD_EVENT_ID'] }],
    ['15-byte event id', sub { req(ev(event_id => 'e' x 15)) }, { acks => ['BAD_EVENT_ID'] }],
    ['17-byte event id', sub { req(ev(event_id => 'e' x 17)) }, { acks => ['BAD_EVENT_ID'] }],
    ['1000-byte event id (echo cut to 64)', sub { req(ev(event_id => 'E' x 1000)) }, { acks => ['BAD_EVENT_ID'] }],
    ['no agency', sub { req(ev(agency => undef)) }, { acks => ['BAD_AGENCY'] }],
    ['empty agency', sub { req(ev(agency => '')) }, { acks => ['BAD_AGENCY'] }],
    (map {
        my $a = $_;
        ["agency '" . ($a =~ s/[^ -~]/?/gr) . "'", sub { req(ev(agency => $a)) }, { acks => ['BAD_AGENCY'] }]
     } ('WM-Police', 'wm police', '.wm', '-wm', '_wm', 'wm/police', "wm-pol\xc3\xafce", "wm\tpolice", 'a' x 65)),
    ['occurred_at missing', sub { req(ev(occurred_at => undef)) }, { acks => ['BAD_TIMESTAMP'] }],
    ['occurred_at zero', sub { req(ev(occurred_at => 0)) }, { acks => ['BAD_TIMESTAMP'] }],
    ['occurred_at -1', sub { req(ev(occurred_at => -1)) }, { acks => ['BAD_TIMESTAMP'] }],
    ['occurred_at INT64_MIN', sub { req(ev(occurred_at => -9223372036854775807 - 1)) }, { acks => ['BAD_TIMESTAMP'] }],
    ['occurred_at 25 h ahead', sub { req(ev(occurred_at => int(time * 1e6) + 25 * 3600 * 1000000)) },
     { acks => ['BAD_TIMESTAMP'] }],
    ['occurred_at INT64_MAX', sub { req(ev(occurred_at => 9223372036854775807)) }, { acks => ['BAD_TIMESTAMP'] }],

    # --- bodies: missing, unknown, empty; enums; values; dates
    ['no body', sub { req(no_body()) }, { acks => ['NO_BODY'] }],
    ['unknown body type (field 99)', sub { req(no_body(_raw => fb(99, fb(1, 'x')))) }, { acks => ['NO_BODY'] }],
    ['empty body', sub { req(no_body(enrolment_changed => '')) }, { acks => ['MISSING_FIELD'] }],
    ['enrolment without cohort_id', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 7, cohort_id => undef))) },
     { acks => ['MISSING_FIELD'] }],
    ['programme without components', sub { req(ev(programme_defined => programme(participant_components => undef))) },
     { acks => ['MISSING_FIELD'] }],
    ['stage 0 (unspecified)', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 0))) }, { acks => ['BAD_ENUM'] }],
    ['stage 99', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 99))) }, { acks => ['BAD_ENUM'] }],
    ['stage -1', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), -1))) }, { acks => ['BAD_ENUM'] }],
    ['ethnicity 18', sub { req(ev(body => person('e-1', ethnicity => 18))) }, { acks => ['BAD_ENUM'] }],
    ['optional religion 10', sub { req(ev(body => person('e-2', religion => 10))) }, { acks => ['BAD_ENUM'] }],
    ['component kind 14 in a list', sub { req(ev(programme_defined => programme(participant_components =>
         [component(1), component(14)]))) }, { acks => ['BAD_ENUM'] }],
    ['attendance status 5', sub { req(ev(attendance_recorded => attend(pref('t1p004'), status => 5))) }, { acks => ['BAD_ENUM'] }],
    ['places 0', sub { req(ev(cohort_opened => cohort(places => 0))) }, { acks => ['BAD_VALUE'] }],
    ['places 100001', sub { req(ev(cohort_opened => cohort(places => 100001))) }, { acks => ['BAD_VALUE'] }],
    ['minutes 1441', sub { req(ev(attendance_recorded => attend(pref('t1p004'), minutes => 1441))) }, { acks => ['BAD_VALUE'] }],
    ['component count 0', sub { req(ev(programme_defined => programme(participant_components =>
         [msg('Component', kind => 1, count => 0, minutes_each => 60)]))) }, { acks => ['BAD_VALUE'] }],
    ['aim min_percent 101', sub { req(ev(programme_defined => programme(aims =>
         [msg('PositiveActionAim', group => 1, min_percent => 101)]))) }, { acks => ['BAD_VALUE'] }],
    ['date 2009-02-29', sub { req(ev(cohort_opened => cohort(starts_on => '2009-02-29'))) }, { acks => ['BAD_DATE'] }],
    ['date 2200-01-01', sub { req(ev(cohort_opened => cohort(ends_on => '2200-01-01'))) }, { acks => ['BAD_DATE'] }],
    ['date 01/04/2009', sub { req(ev(attendance_recorded => attend(pref('t1p004'), session_date => '01/04/2009'))) },
     { acks => ['BAD_DATE'] }],
    ['cohort ends before it starts', sub { req(ev(cohort_opened => cohort(starts_on => '2009-09-30', ends_on => '2009-04-01'))) },
     { acks => ['BAD_DATE'] }],

    # --- domain rules (need the state set up below)
    ['unknown programme (cohort)', sub { req(ev(cohort_opened => cohort(programme_id => 'no-such-programme'))) },
     { acks => ['UNKNOWN_PROGRAMME'] }],
    ['unknown programme (enrolment)', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 7, programme_id => 'nope'))) },
     { acks => ['UNKNOWN_PROGRAMME'] }],
    ['unknown cohort (enrolment)', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 7, cohort_id => 'c99'))) },
     { acks => ['UNKNOWN_COHORT'] }],
    ['unknown cohort (attendance)', sub { req(ev(attendance_recorded => attend(pref('t1p004'), cohort_id => 'c99'))) },
     { acks => ['UNKNOWN_COHORT'] }],
    ['unknown participant (enrolment)', sub { req(ev(enrolment_changed => enrol('ghost-1', 1))) },
     { acks => ['UNKNOWN_PARTICIPANT'] }],
    ['participant of another agency', sub { req(ev(agency => 'cps-wm', enrolment_changed => enrol(pref('t1p004'), 7))) },
     { acks => ['UNKNOWN_PARTICIPANT'] }],
    ['unknown participant (promotion)', sub { req(ev(promotion_recorded => msg('PromotionRecorded',
         participant_ref => 'ghost-2', kind => 1, effective_on => '2009-10-01'))) }, { acks => ['UNKNOWN_PARTICIPANT'] }],
    ['bad transition: ENROLLED to APPLIED', sub { req(ev(enrolment_changed => enrol(pref('t1p004'), 1))) },
     { acks => ['BAD_TRANSITION'] }],
    ['bad transition: APPLIED twice', sub { req(ev(enrolment_changed => enrol('applicant-1', 1))) },
     { acks => ['BAD_TRANSITION'] }],
    ['bad transition: APPLIED to ENROLLED', sub { req(ev(enrolment_changed => enrol('applicant-1', 6))) },
     { acks => ['BAD_TRANSITION'] }],
    ['offer without line manager support', sub { req(ev(enrolment_changed => enrol('applicant-1', 5))) },
     { acks => ['NO_LINE_MANAGER_SUPPORT'] }],
    ['attendance when not enrolled', sub { req(ev(attendance_recorded => attend('applicant-1'))) },
     { acks => ['NOT_ENROLLED'] }],
    ['promotion when enrolled nowhere', sub { req(ev(promotion_recorded => msg('PromotionRecorded',
         participant_ref => 'applicant-1', kind => 1, effective_on => '2009-10-01'))) }, { acks => ['NOT_ENROLLED'] }],
    ['agency not in the cohort', sub { req(ev(agency => 'wmfs', enrolment_changed => enrol('fire-1', 1))) },
     { acks => ['AGENCY_NOT_IN_COHORT'] }],
    ['mentor who is a participant', sub { req(ev(mentor_assigned => msg('MentorAssigned', mentor_ref => pref('t1p004'),
         participant_ref => pref('t1p008'), programme_id => $PROG, cohort_id => 'c1'))) }, { acks => ['WRONG_ROLE'] }],
    ['component not required for the role', sub { req(ev(attendance_recorded => attend(pref('t1p004'), component => 4))) },
     { acks => ['BAD_VALUE'] }],
    ['component listed twice', sub { req(ev(programme_defined => programme(participant_components =>
         [component(3), component(3)]))) }, { acks => ['BAD_VALUE'] }],

    # --- mixtures: every event gets its own answer, in order
    ['one bad event between two good ones', sub { req(ev(), ev(event_id => 'e' x 15), ev()) },
     { acks => ['ACCEPTED', 'BAD_EVENT_ID', 'ACCEPTED'] }],
    ['a bad event sent twice in one frame', sub { my $e = ev(enrolment_changed => enrol('ghost-3', 1)); req($e, $e) },
     { acks => ['UNKNOWN_PARTICIPANT', 'UNKNOWN_PARTICIPANT'] }],

    # --- request level: empty, unknown fields and types, two bodies
    ['empty batch', sub { msg('IngestRequest', request_id => ++$rid, batch => '') }, { acks => [] }],
    ['empty frame', sub { '' }, { frame => 'UNKNOWN_TYPE' }],
    ['request_id only', sub { fv(1, ++$rid) }, { frame => 'UNKNOWN_TYPE', rid => 'last' }],
    ['unknown body type (field 4)', sub { fv(1, ++$rid) . fb(4, fb(1, 'x')) }, { frame => 'UNKNOWN_TYPE', rid => 'last' }],
    ['only an unknown field', sub { fv(1, ++$rid) . fv(100, 1) }, { frame => 'UNKNOWN_TYPE', rid => 'last' }],
    ['unknown field beside a ping (ignored)', sub { ping(++$rid) . fb(100, 'zz') . f64(101, 1) }, { ping => 1 }],
    ['ping with unknown fields inside', sub { fv(1, ++$rid) . fb(3, fv(1, 5) . fb(2, "\xff")) }, { ping => 1 }],
    ['batch then ping: the last body wins', sub { msg('IngestRequest', request_id => ++$rid, batch => batch(ev()), ping => '') },
     { ping => 1 }],
    ['ping then a bad batch: the last body wins', sub { ping(++$rid) . fb(2, batch(ev(agency => ''))) },
     { acks => ['BAD_AGENCY'] }],

    # --- ZeroMQ envelope shapes
    ['two payload frames', sub { (ping(++$rid), ping(++$rid)) }, { frame => 'BAD_ENVELOPE' }],
    ['non-empty delimiter', sub { ('x', ping(++$rid)) }, { frame => 'BAD_ENVELOPE' }],
    ['five frames', sub { ('', '', '', '', ping(++$rid)) }, { frame => 'BAD_ENVELOPE' }],
    ['fifty empty frames', sub { ('') x 50 }, { frame => 'BAD_ENVELOPE' }],
    ['two 3 MiB frames', sub { ('a' x (3 * $MiB), 'b' x (3 * $MiB)) }, { frame => 'BAD_ENVELOPE' }],
    ['delimiter then garbage', sub { ('', "\xff\xff") }, { frame => 'MALFORMED', delim => 1 }],
    ['delimiter then nothing', sub { ('', '') }, { frame => 'UNKNOWN_TYPE', delim => 1 }],
    ['delimiter then 4097 events', sub { ('', req(map { fb(1, 'x') } 1 .. 4097)) }, { frame => 'TOO_MANY_EVENTS', delim => 1 }],
    ['delimiter then a bad event', sub { ('', req(ev(occurred_at => 0))) }, { acks => ['BAD_TIMESTAMP'], delim => 1 }],
);

# ------------------------------------------------------------- sending ---

# Its refs (good-1, applicant-1, ...) are readable names, not pseudonyms: the
# daemon runs with the pseudonym check off, explicitly (issue 13;
# 36-pseudonym-enforced.t tests the check itself).
my $d = start_daemon(args => ['--ref-form', 'any']);
my $dir = $d->{dir};
my $nfile = 0;

# Sends the frames as one ZeroMQ message (each through a file: argv cannot
# hold megabytes); returns (zraw exit code, [reply frames as bytes]).
sub send_frames {
    my @args;
    for my $f (@_) {
        my $p = "$dir/frame-" . $nfile++;
        open my $fh, '>:raw', $p or die "$p: $!";
        print $fh $f;
        close $fh or die "$p: $!";
        push @args, "file:$p";
    }
    my ($rc, $rep) = zraw($d, @args);
    unlink "$dir/frame-$_" for $nfile - @_ .. $nfile - 1;
    return ($rc, [map { pack 'H*', $_ } @$rep]);
}

# Sends one good event (fresh id) and returns its ack, or undef.
my $head;
my $n_good = 0;
sub good_event {
    my $id = eid();
    my ($rc, $rep) = send_frames(request(++$rid, event(event_id => $id, agency => 'wm-police', occurred_at => $TS,
                                                       participant_registered => person('good-' . ++$n_good))));
    return undef if $rc != 0 || !@$rep;
    my $acks = acks_of(decode_msg($rep->[-1]));
    return @$acks == 1 && $acks->[0]{id} eq $id ? $acks->[0] : undef;
}

# ---------------------------------------------------------------- setup ---

# The programme it-1 with cohort c1 and 20 enrolled people (setup_events),
# then: applicant-1 of wm-police APPLIED in it-1/c1 (not enrolled), and
# fire-1 registered by wmfs, an agency that does not take part in c1.
write_jsonl("$dir/setup.jsonl", setup_events(1));
my ($arc, $res) = agent_send($d, "$dir/setup.jsonl");
is($arc, 0, 'setup: cohort-agent sent the programme, cohort and 20 enrolled people');
my ($src, $srep) = send_frames(req(ev(body => person('applicant-1')),
                                   ev(enrolment_changed => enrol('applicant-1', $STAGE{APPLIED})),
                                   ev(agency => 'wmfs', body => person('fire-1'))));
my $sacks = acks_of(decode_msg($srep->[-1] // ''));
is_deeply([map { $_->{result} } @$sacks], [1, 1, 1], 'setup: applicant-1 and fire-1 ACCEPTED')
    or diag explain $sacks;
my $g = good_event();
ok($g && $g->{result} == $RESULT{ACCEPTED}, 'setup: a good event is ACCEPTED') or BAIL_OUT('daemon not taking events');
$head = $g->{seq};
is($head, @$res + 3 + 1, 'setup: sequences are gap-free so far');

# ------------------------------------------------------------- the table ---

my %seen;
for my $k (@KINDS) {
    my ($name, $make, $want) = @$k;
    die "duplicate kind name $name\n" if $seen{$name}++;
    my $rid0 = $rid;
    my @frames = $make->();
    my $last_rid = $rid > $rid0 ? $rid : 0;
    # The events sent (for the ack echo check): the batch of a well-formed request.
    my @sent;
    if ($want->{acks}) {
        my $r = decode_msg($frames[-1]);
        @sent = map { decode_msg($_)->{1}[0] // '' } @{ decode_msg($r->{2}[-1] // '')->{1} // [] };
    }
    my $t0 = time;
    my ($rc, $rep) = send_frames(@frames);
    my $dt = time - $t0;

    subtest $name => sub {
        if ($want->{dropped}) {
            is($rc, 3, 'no reply: ZeroMQ dropped the connection (zraw timed out)');
            is(scalar @$rep, 0, 'no reply frames');
        } else {
            is($rc, 0, 'a reply came back') or diag sprintf('after %.1f s', $dt);
            is(scalar @$rep, $want->{delim} ? 2 : 1, 'reply frame count');
            is($rep->[0], '', 'REQ-style: the reply starts with the empty delimiter') if $want->{delim};
            my $r = eval { decode_msg($rep->[-1] // '') } // {};
            my $err = $r->{3}[0] // 0;
            my $acks = acks_of($r);
            if (my $fe = $want->{frame}) {
                my $wrid = !exists $want->{rid} ? ($fe =~ /^(MALFORMED|TOO_LARGE|BAD_ENVELOPE)$/ ? 0 : $last_rid)
                         : $want->{rid} eq 'last' ? $last_rid : $want->{rid};
                is($err, $FRAME{$fe}, "FRAME_$fe");
                is(scalar @$acks, 0, 'no acks');
                like($r->{4}[0] // '', qr/^[ -~]+$/, 'a printable reason');
                is($r->{1}[0] // 0, $wrid, "request_id echoed as $wrid");
                is($r->{5}[0] // 0, $head, 'head_seq unchanged');
            } else {
                is($err, 0, 'FRAME_OK');
                is($r->{1}[0] // 0, $last_rid, 'request_id echoed');
                if ($want->{ping}) {
                    is(scalar @$acks, 0, 'answered as a ping: no acks');
                } else {
                    my @w = @{ $want->{acks} };
                    is(scalar @$acks, scalar @w, scalar(@w) . ' acks');
                    my ($bad, $acc) = (0, 0);
                    for my $i (0 .. $#w) {
                        my ($a, $exp) = ($acks->[$i] // {}, $w[$i]);
                        my $ok = ($a->{id} // '') eq substr($sent[$i] // '', 0, 64);
                        if ($exp eq 'ACCEPTED') {
                            $ok &&= $a->{result} == $RESULT{ACCEPTED} && $a->{seq} == $head + 1;
                            $head++ if $ok;
                            $acc++;
                        } else {
                            $ok &&= $a->{result} == $RESULT{REJECTED} && $a->{code} == $CODE{$exp}
                                && $a->{seq} == 0 && $a->{reason} =~ /^[ -~]+$/
                                && $a->{reason} !~ /t1p0|ghost|applicant|fire-1/;    # never a ref
                        }
                        next if $ok;
                        diag explain { ack => $i, want => $exp, got => { %$a, id => unpack('H*', $a->{id} // '') } }
                            if $bad++ < 3;
                    }
                    is($bad, 0, join(', ', map { $_ eq 'ACCEPTED' ? $_ : "REJECTED $_" }
                                     @w > 3 ? ($w[0], '...') : @w)
                                . ' (event ids echoed, first 64 bytes; printable reason without refs)');
                    is($r->{5}[0] // 0, $head, 'head_seq is the last durable sequence');
                }
            }
        }
        ok(alive($d), 'daemon still running');
        my $ok = good_event();
        ok($ok && $ok->{result} == $RESULT{ACCEPTED}, 'then a good event is ACCEPTED');
        is($ok ? $ok->{seq} : 0, $head + 1, '... at the next sequence: nothing of the bad input was stored');
        $head = $ok->{seq} if $ok;
    };
}

cmp_ok(scalar @KINDS, '>=', 30, scalar(@KINDS) . ' kinds of bad input');

# Memory: frames that decode huge are refused before they can pile up. Each
# of these 4 MiB frames would take ~200 MB decoded (2 M tiny strings); the
# decode budget (32 MiB a frame) refuses them, so 12 in a row leave the
# peak far below 12 x 200 MB.
{
    my $big = fv(1, ++$rid) . fb(2, fb(1, msg('Event', event_id => eid(), agency => 'wm-police',
                                                occurred_at => $TS) . fb(11, fb(6, "") x (2 * $MiB - 64))));
    my $refused = 0;
    for (1 .. 12) {
        my ($rc, $rep) = send_frames($big);
        $refused++ if $rc == 0 && @$rep && (decode_msg($rep->[-1])->{3}[0] // 0) == 2;
    }
    is($refused, 12, '12 frames that would decode to ~200 MB each: all FRAME_TOO_LARGE');

    open my $st, '<', "/proc/$d->{pid}/status" or die;
    my ($hwm) = map { /^VmHWM:\s+(\d+)/ ? $1 : () } <$st>;
    # (AddressSanitizer's shadow memory and quarantine inflate RSS several
    # times: the bound is checked in the normal build only.)
    my ($lrc, $ldd) = run_cmd(['ldd', bin('cohortd')]);
    cmp_ok($hwm / 1024, '<', $ldd =~ /libasan/ ? 2000 : 400,
           sprintf('daemon peak RSS stays bounded: %.0f MiB', $hwm / 1024));
    # Pings keep their (ignored) unknown fields in the open batch's arena;
    # 20 pings of ~4 MB once filled it and paused the socket for good.
    my $fat_ping = ping(++$rid) . fb(15, 'x' x (4 * $MiB - 64));
    my $pongs = 0;
    for (1 .. 20) {
        my ($rc, $rep) = send_frames($fat_ping);
        $pongs++ if $rc == 0 && @$rep;
    }
    is($pongs, 20, '20 pings of ~4 MB are all answered');
    my $ok = good_event();
    ok($ok && $ok->{result} == $RESULT{ACCEPTED}, 'then a good event is ACCEPTED');
}
unlike(log_of($d), qr/t1p0|ghost|applicant|fire-1/, 'the log names no participant');
is(stop_daemon($d), 0, 'clean exit');
my ($vrc, $vout, $verr) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}]);
is($vrc, 0, 'cohortctl verify: the log is gap-free and the dedupe index agrees') or diag $vout, $verr;
done_testing();
