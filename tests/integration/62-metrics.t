#!/usr/bin/perl
# The Prometheus endpoint (--metrics 127.0.0.1:PORT) of the real daemon,
# scraped with a real HTTP client (HTTP::Tiny): the text parses as
# exposition format 0.0.4 (every sample after its family's # TYPE, one
# # TYPE per family, histogram buckets cumulative with +Inf == _count);
# after the real cohort-agent pushes events (accepted, a duplicate, events
# rejected by validation and by a domain rule), a malformed frame and a
# snapshot request, the counters have moved by exactly those amounts, the
# head gauge equals the log head, the batch histogram has counted every
# event once, the agencies' last-seen times are there, and RSS > 0; a
# connected agent and subscriber show in the gauges and go away; other
# paths are 404, POST is 405; a non-loopback address and a port in use are
# setup errors; SIGTERM still stops the daemon cleanly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest;
use Test::More;
use HTTP::Tiny;
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

my $http = HTTP::Tiny->new(timeout => 10);

# Starts the daemon (start_daemon's %o) with metrics on a free port;
# another process may take the port between free_port and the bind: then
# it tries again (5 times). Returns (daemon, port).
sub start_with_metrics {
    my (%o) = @_;
    my ($d, $port);
    for my $try (1 .. 5) {
        $port = free_port();
        $d = start_daemon(%o, args => ['--metrics', "127.0.0.1:$port"]);
        last if $d->{pid};
        last unless log_of($d) =~ /in use/;
    }
    return ($d, $port);
}
my ($d, $port) = start_with_metrics();
ok($d->{pid}, "daemon started with --metrics 127.0.0.1:$port") or BAIL_OUT(log_of($d));
like(log_of($d), qr{metrics: serving http://127\.0\.0\.1:$port/metrics}, 'it logs the address');
my $url = "http://127.0.0.1:$port/metrics";

# Scrapes (default: $url); returns ({"name{labels}" => value}, [format
# problems], response).
sub scrape {
    my ($u) = @_;
    my $r = $http->get($u // $url);
    die "GET $url: $r->{status} $r->{reason}\n$r->{content}" unless $r->{success};
    my (%v, @bad, %type, $fam, $ftype, $last_bucket, $inf);
    for my $l (split /\n/, $r->{content}) {
        if ($l =~ /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/) {
            push @bad, "second TYPE for $1" if $type{$1}++;
            ($fam, $ftype, $last_bucket, $inf) = ($1, $2, 0, undef);
            next;
        }
        next if $l =~ /^# HELP \S+ \S/;
        if ($l !~ /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/) {
            push @bad, "not a sample: $l";
            next;
        }
        my ($name, $labels, $val) = ($1, $2 // '', $3);
        push @bad, "bad value: $l" unless $val =~ /^[-+]?(\d+\.?\d*([eE][-+]?\d+)?|\+Inf|NaN)$/;
        $v{"$name$labels"} = $val;
        my $in = defined $fam && ($name eq $fam ||
            ($ftype eq 'histogram' && $name =~ /^\Q$fam\E_(bucket|sum|count)$/));
        push @bad, "sample $name without its family's TYPE before it" unless $in;
        next unless $in && $ftype eq 'histogram';
        if ($name eq "${fam}_bucket") {
            push @bad, "$fam: bucket not cumulative ($l)" if $val < $last_bucket;
            $last_bucket = $val;
            $inf = $val if $labels eq '{le="+Inf"}';
        } elsif ($name eq "${fam}_count") {
            push @bad, "$fam: +Inf bucket " . ($inf // 'missing') . " != _count $val"
                unless defined $inf && $inf == $val;
        }
    }
    return (\%v, \@bad, $r);
}

# Polls until cond(scrape) is true, for up to $secs seconds; returns the
# last scrape's values.
sub scrape_until {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (1) {
        my ($v) = scrape();
        return $v if $cond->($v) || time >= $until;
        sleep 0.1;
    }
}

my $t0 = time;
my ($v0, $bad0, $r0) = scrape();
is_deeply($bad0, [], 'the first scrape is well-formed exposition text') or diag explain $bad0;
like($r0->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'content type 0.0.4');
is($v0->{cohortd_log_head_sequence}, 0, 'an empty log: head 0');
is($v0->{cohortd_events_accepted_total}, 0, 'nothing accepted yet');
ok(exists $v0->{'cohortd_events_rejected_total{reason="UNAUTHORISED"}'},
   'every reject reason is there from the start (UNAUTHORISED)');
ok($v0->{cohortd_resident_memory_bytes} > 1_000_000, "RSS is reported ($v0->{cohortd_resident_memory_bytes} bytes)");
ok($v0->{cohortd_start_time_seconds} > $t0 - 60 && $v0->{cohortd_start_time_seconds} <= time,
   'start time is when the daemon started');
ok($v0->{cohortd_metrics_age_seconds} < 1, 'the rendering is fresh');
ok(exists $v0->{cohortd_agents_connected} && exists $v0->{cohortd_subscribers_connected},
   'connected agents and subscribers gauges');

# ---- events: accepted, a duplicate, rejected (validation and domain rule)
my $dir = $d->{dir};
my $setup = setup_events(62);
my $n = @$setup;
write_jsonl("$dir/setup.jsonl", $setup);
my ($rc, $res, $err) = agent_send($d, "$dir/setup.jsonl");
is($rc, 0, "$n setup events sent") or diag $err;
my ($head) = sort { $b <=> $a } map { $_->{seq} } @$res;
write_jsonl("$dir/dup.jsonl", [$setup->[5]]);
($rc, $res) = agent_send($d, "$dir/dup.jsonl");
is($res->[0]{result}, 'DUPLICATE', 'one event sent again: DUPLICATE');
my $att = attendance_events(3, 62);
$att->[0]{agency} = 'Not An Agency';                                 # validation
$att->[1]{attendanceRecorded}{participantRef} = pref('nobody-registered'); # domain rule
write_jsonl("$dir/mixed.jsonl", $att);
($rc, $res) = agent_send($d, "$dir/mixed.jsonl");
is_deeply([map { $_->{code} // $_->{result} } @$res],
          [qw(REJECT_BAD_AGENCY REJECT_UNKNOWN_PARTICIPANT ACCEPTED)],
          'then one bad agency, one unknown participant, one good event');
$head++;
my ($zrc) = zraw($d, 'hex:ffffffffff');
is($zrc, 0, 'a malformed frame was answered');
my ($topics, $end) = snapshot_topics($d);
ok($end, 'a snapshot was served');

my $v = scrape_until(5, sub { $_[0]{cohortd_snapshot_requests_total} >= 1 });
my ($v1, $bad1) = scrape();
is_deeply($bad1, [], 'the scrape after traffic is well-formed') or diag explain $bad1;
my $total = $n + 1 + 3;
is($v1->{cohortd_events_accepted_total}, $n + 1, "accepted moved by " . ($n + 1));
is($v1->{cohortd_events_duplicate_total}, 1, 'duplicate moved by 1');
is($v1->{'cohortd_events_rejected_total{reason="BAD_AGENCY"}'}, 1, 'rejected{BAD_AGENCY} moved by 1');
is($v1->{'cohortd_events_rejected_total{reason="UNKNOWN_PARTICIPANT"}'}, 1,
   'rejected{UNKNOWN_PARTICIPANT} (a domain rule, on the commit path) moved by 1');
my $rejected = 0;
$rejected += $v1->{$_} for grep { /^cohortd_events_rejected_total\{/ } keys %$v1;
is($rejected, 2, 'no other reject reason moved');
is($v1->{'cohortd_ingest_frames_refused_total{reason="MALFORMED"}'}, 1, 'frames refused{MALFORMED} moved by 1');
ok($v1->{cohortd_ingest_frames_total} >= 4, "frames counted ($v1->{cohortd_ingest_frames_total})");
is($v1->{cohortd_log_head_sequence}, $head, "head gauge = the last acked sequence ($head)");
is($v1->{cohortd_commit_batch_events_sum}, $total, "the batch histogram counted each of the $total events once");
ok($v1->{cohortd_commit_batch_events_count} >= 3 && $v1->{cohortd_commit_batch_events_count} <= $total,
   "in $v1->{cohortd_commit_batch_events_count} batches");
is($v1->{cohortd_commit_duration_seconds_count}, $v1->{cohortd_commit_batch_events_count} - 1,
   'commit durations: one per batch that stored events (all but the duplicate\'s)');
ok($v1->{cohortd_commit_duration_seconds_sum} > 0 && $v1->{cohortd_commit_duration_seconds_sum} < 60,
   "total commit time $v1->{cohortd_commit_duration_seconds_sum} s");
ok($v1->{cohortd_commits_total} >= $v1->{cohortd_commit_batch_events_count}, 'commits counted');
is($v1->{cohortd_snapshot_requests_total}, 1, 'snapshot requests moved by 1');
is($v1->{cohortd_snapshots_served_total}, 1, 'snapshots served moved by 1');
for my $ag (qw(wmcjb wm-police cps-wm hmcts-wm probation-wm)) {
    my $ts = $v1->{"cohortd_agency_last_seen_timestamp_seconds{agency=\"$ag\"}"};
    ok(defined $ts && $ts >= int($t0) && $ts <= time + 1, "agency $ag last seen " . ($ts // 'never'));
}
ok(!grep({ /Not An Agency|nobody-registered|\Q${\pref('nobody-registered')}\E/ } keys %$v1), 'no rejected agency id or participant ref in the metrics');
ok($v1->{cohortd_resident_memory_bytes} > 0, 'RSS > 0');

# ---- connected agents and subscribers
my $w = start_watch($d, [], 'cohort/');
$v = scrape_until(10, sub { $_[0]{cohortd_subscribers_connected} >= 1 });
is($v->{cohortd_subscribers_connected}, 1, 'a running cohort-watch is a connected subscriber');
stop_watch($w);
$v = scrape_until(10, sub { $_[0]{cohortd_subscribers_connected} == 0 });
is($v->{cohortd_subscribers_connected}, 0, 'and is gone when it stops');
mkdir "$dir/spool" or die;
my $a = start_agent($dir, 'watch', 'watch', '--endpoint', $d->{endpoint},
                    "$dir/spool");
$v = scrape_until(10, sub { $_[0]{cohortd_agents_connected} >= 1 });
is($v->{cohortd_agents_connected}, 1, 'a running cohort-agent watch is a connected agent');
kill 'TERM', $a->{pid};
ok(defined wait_exit($a->{pid}, 10), 'the agent stopped') or kill 'KILL', $a->{pid};
$v = scrape_until(10, sub { $_[0]{cohortd_agents_connected} == 0 });
is($v->{cohortd_agents_connected}, 0, 'and is gone when it stops');

# ---- other paths and methods
my $r = $http->get("http://127.0.0.1:$port/");
is($r->{status}, 404, 'GET / is 404');
$r = $http->get("http://127.0.0.1:$port/metrics/extra");
is($r->{status}, 404, 'GET /metrics/extra is 404');
$r = $http->post_form($url, { a => 1 });
is($r->{status}, 405, 'POST /metrics is 405');
like($r->{headers}{allow} // '', qr/GET/, 'with Allow: GET');
$r = $http->head($url);
is($r->{status}, 200, 'HEAD /metrics is 200');

# ---- setup errors
my $d2 = start_daemon(args => ['--metrics', "127.0.0.1:$port"]);
ok(!$d2->{pid} && ($d2->{status} >> 8) == 1, 'a second daemon on the same metrics port exits 1');
like(log_of($d2), qr/metrics.*127\.0\.0\.1:$port.*in use/i, 'saying the address is in use');
for my $bad ('0.0.0.0:9474', '192.168.1.1:9474', '[::]:9474') {
    my $d3 = start_daemon(args => ['--metrics', $bad]);
    ok(!$d3->{pid} && $d3->{status} != 0, "--metrics $bad is refused");
    like(log_of($d3), qr/loopback/, 'because it is not a loopback address');
}

is(stop_daemon($d), 0, 'SIGTERM: the daemon exits 0 with metrics on');
ok(!$http->get($url)->{success}, 'nothing serves metrics after it stopped');
my ($vrc, $vout) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}]);
like($vout, qr/head_seq $head /, "cohortctl verify: log head is $head, as the gauge said");
unlike(log_of($d), qr/t62p\d|nobody-registered/, 'no participant refs in the daemon log');

# ---- with CURVE: an agent key writing another agency's event is counted
# under reason="UNAUTHORISED"
{
    delete local $ENV{COHORT_PLAINTEXT};
    my $cdir = tmpdir();
    mkdir "$cdir/data", 0700 or die;
    my %pub;
    for my $k (qw(coord agent-wm)) {
        my ($krc, $kout, $kerr) = run_cmd([bin('cohortctl'), 'keygen', "$cdir/$k"]);
        die "keygen $k: $kerr" if $krc != 0;
        open my $fh, '<', "$cdir/$k.pub" or die;
        local $/;
        ($pub{$k}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die "no key in $k.pub";
    }
    open my $fh, '>', "$cdir/data/access" or die;
    print $fh "$pub{coord} coordinator programmes=it-63\n$pub{'agent-wm'} agent wm-police\n";
    close $fh;
    my ($cd, $cport) = start_with_metrics(dir => $cdir, curve => 1);
    ok($cd->{pid}, "CURVE daemon started with --metrics 127.0.0.1:$cport") or diag log_of($cd);
    my $cs = setup_events(63);
    my $send = sub {
        my ($key, $events) = @_;
        write_jsonl("$cdir/ev.jsonl", $events);
        my ($src, $sres) = agent_send($cd, "$cdir/ev.jsonl", '--key', "$cdir/$key.key",
                                      '--server-key', "$cd->{data}/server.pub");
        return join ',', map { $_->{code} // $_->{result} } @$sres;
    };
    is($send->('coord', [@$cs[0, 1]]), 'ACCEPTED,ACCEPTED', 'the coordinator defines the programme');
    is($cs->[2]{agency}, 'cps-wm', 'a cps-wm registration ...');
    is($send->('agent-wm', [$cs->[2]]), 'REJECT_UNAUTHORISED', '... sent with a wm-police key is REJECT_UNAUTHORISED');
    my ($cv, $cbad) = scrape("http://127.0.0.1:$cport/metrics");
    is_deeply($cbad, [], 'well-formed');
    is($cv->{'cohortd_events_rejected_total{reason="UNAUTHORISED"}'}, 1, 'rejected{UNAUTHORISED} is 1');
    is($cv->{cohortd_events_accepted_total}, 2, 'accepted is 2');
    ok(defined $cv->{'cohortd_agency_last_seen_timestamp_seconds{agency="wmcjb"}'}, 'wmcjb was seen');
    ok(!defined $cv->{'cohortd_agency_last_seen_timestamp_seconds{agency="cps-wm"}'},
       'cps-wm was not: only an agency whose key may write it counts');
    is(stop_daemon($cd), 0, 'the CURVE daemon exits 0');
}
done_testing();
