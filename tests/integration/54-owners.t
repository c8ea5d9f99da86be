#!/usr/bin/perl
# Programmes and cohorts have owners (issue 13, item 5), against the real
# daemon over CURVE with keys made by `cohortctl keygen`:
# - the access file's programmes= says which coordinator and board keys may
#   define which programmes; the owner defines its programme and cohort;
# - another programme's coordinator (the lip-board attack: requirements
#   99 x 600 min, places 1, agencies cut to one) is rejected
#   REJECT_UNAUTHORISED, the refusal is logged with its fingerprint, and
#   the board's snapshot shows the definitions unchanged;
# - a coordinator key without programmes= cannot define even a new
#   programme;
# - every accepted definition is logged with the key that made it, and a
#   change that adds special-category aims (AIM_LGB) gets its own line;
# - a SIGHUP that gives a key ownership takes effect on its open
#   connection's next frame; a restart (replay of the log) gives the same
#   documents.
# On the code before ownership, the foreign definitions are ACCEPTED.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};

my $dir = tmpdir();
my $keys = "$dir/keys";
mkdir $keys or die;
mkdir "$dir/data", 0700 or die;

my %pub;
for my $n (qw(wmcjb lip none board)) {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
    die "keygen $n: $err" if $rc != 0;
    ($pub{$n}) = $out =~ /public-key = (\S{40})/ or die "no key for $n: $out";
}
sub fp { quotemeta substr($pub{ $_[0] }, 0, 8) }

my $SF = 'sf-54';
my $LIP = 'lip-54';
sub write_access {
    my ($lip_owns) = @_;
    open my $fh, '>', "$dir/data/access.tmp" or die;
    print $fh "# 54-owners\n",
        "$pub{wmcjb} coordinator wmcjb programmes=$SF\n",
        "$pub{lip} coordinator lip-board programmes=$lip_owns\n",
        "$pub{none} coordinator\n",
        "$pub{board} board\n";
    close $fh;
    rename "$dir/data/access.tmp", "$dir/data/access" or die;
}
write_access($LIP);

my $d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon started with CURVE') or BAIL_OUT(log_of($d));
like(log_of($d), qr/auth: 2 coordinator or board keys own no programme/,
     'keys that own no programme are counted at start');
my @curve = ('--server-key', "$d->{data}/server.pub");

my $n = 0;
sub id { sprintf('01900054-0054-7%03d-8000-%012d', $_[0], ++$n) }
sub programme {
    my ($agency, $prog, $count, $minutes, @aims) = @_;
    return { eventId => id(1), agency => $agency, occurredAt => '2009-01-12T10:00:00Z',
             programmeDefined => { programmeId => $prog, name => "Programme $prog",
                 participantComponents => [ { kind => 'TRAINING_COURSE', count => $count,
                                              minutesEach => $minutes } ],
                 aims => [ map { { group => $_, minPercent => 10 } } @aims ] } };
}
sub cohort {
    my ($agency, $prog, $places, @agencies) = @_;
    return { eventId => id(2), agency => $agency, occurredAt => '2009-01-19T10:00:00Z',
             cohortOpened => { programmeId => $prog, cohortId => 'c1', places => $places,
                 startsOn => '2009-04-01', endsOn => '2009-09-30', agencies => \@agencies } };
}
sub send_as {
    my ($who, @events) = @_;
    my $f = "$dir/ev-$n.jsonl";
    write_jsonl($f, \@events);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                    $d->{endpoint}, '--key', "$keys/$who.key", @curve, $f],
                                   timeout => 60);
    my @acks = map { decode_json($_) } grep { /^\{/ } split /\n/, $out;
    return join ',', map { $_->{result} . ($_->{code} ? ":$_->{code}" : '') } @acks;
}
# The board's view: {topic => doc} of programme/ and cohort/ topics.
sub board_view {
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot},
                                    '--key', "$keys/board.key", @curve],
                                   timeout => 30);
    return { map { $_->{topic} => $_->{doc} } grep { defined $_->{topic} } @{ read_jsonl($out) } };
}
my $json = JSON::PP->new->canonical;
sub docs_of { my ($v) = @_; $json->encode({ map { $_ => $v->{$_} } grep { /\Q$SF\E/ } keys %$v }) }

my @AG = qw(wm-police wmfs cps-wm);

# --- the owner defines its programme and cohort ---------------------------
is(send_as('wmcjb', programme('wmcjb', $SF, 1, 1440), cohort('wmcjb', $SF, 20, @AG)),
   'ACCEPTED,ACCEPTED', 'the owner (wmcjb) defines its programme and opens its cohort');
my $wmcjb = fp('wmcjb');
ok(wait_until(5, sub { log_of($d) =~ /ingest: programme \Q$SF\E defined at seq 1 by key $wmcjb \(coordinator:wmcjb\)/ }),
   'the definition is logged with the key, role and agency') or diag log_of($d);
like(log_of($d), qr/ingest: cohort \Q$SF\E\/c1 opened at seq 2 by key $wmcjb \(coordinator:wmcjb\)/,
     'so is the cohort');
is(send_as('lip', programme('lip-board', $LIP, 6, 1440)), 'ACCEPTED',
   'lip-board defines its own programme');

my $before;
ok(wait_until(10, sub { my $v = board_view(); $before = $v;
                        $v->{"cohort/$SF/c1"} && $v->{"programme/$LIP"} }),
   'the board sees both programmes') or diag explain $before;
my $orig = docs_of($before);
like($orig, qr/"places":20/, 'the cohort has 20 places');

# --- the attack: another programme's coordinator overwrites them ----------
is(send_as('lip', programme('lip-board', $SF, 99, 600), cohort('lip-board', $SF, 1, 'cps-wm')),
   'REJECTED:REJECT_UNAUTHORISED,REJECTED:REJECT_UNAUTHORISED',
   "lip-board's coordinator may not redefine wmcjb's programme nor its cohort");
my $lip = fp('lip');
ok(wait_until(5, sub { log_of($d) =~ /ingest: key $lip \(coordinator:lip-board\) refused 2 definitions of programmes it does not own \(first: programme \Q$SF\E\)/ }),
   'the refusal is logged with the fingerprint and the programme') or diag log_of($d);
unlike(log_of($d), qr/ingest: (programme|cohort) \Q$SF\E\S* changed/, 'no change logged');

is(send_as('none', programme('wmcjb', 'new-54', 1, 60)), 'REJECTED:REJECT_UNAUTHORISED',
   'a coordinator key without programmes= cannot define even a new programme');
my $none = fp('none');
like(log_of($d), qr/ingest: key $none \(coordinator\) refused 1 definitions of programmes it does not own \(first: programme new-54\)/,
     '  logged');
is(send_as('board', cohort('wmcjb', $SF, 1, 'cps-wm')), 'REJECTED:REJECT_UNAUTHORISED',
   'a board key without programmes= cannot either');

# The lip key also sends a harmless frame after the attack: the view must
# still be the original one.
is(send_as('lip', cohort('lip-board', $LIP, 12, @AG)), 'ACCEPTED', 'lip-board opens its own cohort');
my $after;
ok(wait_until(10, sub { $after = board_view(); $after->{"cohort/$LIP/c1"} }),
   'the board sees the lip cohort') or diag explain $after;
is(docs_of($after), $orig, "wmcjb's programme and cohort documents are unchanged");
ok(!$after->{'programme/new-54'}, 'no programme new-54');

# --- the owner changes its programme, adding a special-category aim -------
is(send_as('wmcjb', programme('wmcjb', $SF, 2, 1440, 'AIM_FEMALE', 'AIM_LGB')), 'ACCEPTED',
   'the owner changes its programme');
ok(wait_until(5, sub { log_of($d) =~ /ingest: programme \Q$SF\E changed at seq \d+ by key $wmcjb \(coordinator:wmcjb\)/ }),
   'the change is logged with the key') or diag log_of($d);
like(log_of($d), qr/ingest: programme \Q$SF\E: positive-action aims over special-category strands added at seq \d+ \(AIM_LGB\) by key $wmcjb \(coordinator:wmcjb\)/,
     'adding an LGB aim is logged on its own line');
is(send_as('wmcjb', programme('wmcjb', $SF, 2, 1440, 'AIM_LGB')), 'ACCEPTED',
   'the owner redefines it again, the LGB aim kept');
my @special = log_of($d) =~ /special-category strands added/g;
is(scalar @special, 1, 'keeping an aim is not logged as adding it');

# --- SIGHUP: ownership granted takes effect without reconnecting ----------
write_access("$LIP,$SF");
kill 'HUP', $d->{pid};
ok(wait_until(5, sub { log_of($d) =~ /auth: reloaded 4 keys/ }), 'access file reloaded');
is(send_as('lip', cohort('lip-board', $SF, 25, @AG)), 'ACCEPTED',
   'once the access file lists it, lip-board may change the cohort');
my $lipfp = fp('lip');
ok(wait_until(5, sub { log_of($d) =~ /ingest: cohort \Q$SF\E\/c1 changed at seq \d+ by key $lipfp \(coordinator:lip-board\)/ }),
   '  logged as a change by that key');

# --- replay: the same documents after a restart ---------------------------
my $live;
ok(wait_until(10, sub { $live = board_view(); ($live->{"cohort/$SF/c1"} // '') =~ /"places":25/
                        || $json->encode($live->{"cohort/$SF/c1"} // {}) =~ /"places":25/ }),
   'the board sees 25 places') or diag explain $live->{"cohort/$SF/c1"};
stop_daemon($d);
$d = start_daemon(dir => $dir, curve => 1);
ok($d->{pid}, 'daemon restarted') or BAIL_OUT(log_of($d));
my $replayed;
ok(wait_until(10, sub { $replayed = board_view(); keys %$replayed >= keys %$live }),
   'snapshot after the restart');
is($json->encode($replayed), $json->encode($live), 'the same documents after the restart (replay)');
unlike(log_of($d), qr/refused by the domain rules/, 'no stored event refused on replay');
is(stop_daemon($d), 0, 'the daemon exits cleanly') or diag log_of($d);
done_testing();
