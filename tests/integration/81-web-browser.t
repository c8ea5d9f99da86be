#!/usr/bin/perl
# cohort-web in a real browser (issue 19 §4): the real cohortd with CURVE
# and a key per agency, the agents' events, cohort-web with its own key and
# a self-signed certificate, then tests/browser/web.mjs (Debian's Chromium
# headless, puppeteer-core, axe-core) with a plan: log in as each role (the
# board, a coordinator, an operator and the HR teams of two agencies), every page in scope with its figures
# (checked against the status documents) and its charts (each an SVG with
# role img, a title and a description giving its figures, its table after
# it), pages out of scope 404 without
# the other agency's pseudonyms, no enum names, no serious accessibility
# violation, screenshots (in $COHORT_WEB_SHOTS, default a temporary
# directory), and a figure changing live when an agent sends an event.
# Skips when Chromium, node or tests/browser/node_modules are missing
# (bash .ci/setup installs them). Keys and daemon: tests/lib/WebTest.pm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use WebTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
my $root = repo_root();
my $chromium = $ENV{COHORT_CHROMIUM} // '/usr/bin/chromium';
sub which { for my $d (split /:/, $ENV{PATH}) { return "$d/$_[0]" if -x "$d/$_[0]" } undef }
plan skip_all => "no Chromium at $chromium (bash .ci/setup)" unless -x $chromium;
plan skip_all => 'no node (bash .ci/setup)' unless which('node');
plan skip_all => 'no openssl (bash .ci/setup)' unless which('openssl');
plan skip_all => 'tests/browser/node_modules is missing (bash .ci/setup runs npm ci there)'
    unless -d "$root/tests/browser/node_modules/puppeteer-core" && -d "$root/tests/browser/node_modules/axe-core";

my $dir = tmpdir();
my @agencies = qw(wm-police cps-wm hmcts-wm probation-wm);
my $wd = web_daemon(dir => $dir, agencies => \@agencies, programme => 'it-81');
my ($d, $keys) = ($wd->{d}, $wd->{keys});
ok($d->{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($d));
my @curve = @{ $wd->{curve} };
sub send_cmd {
    my ($who, $events) = @_;
    my $f = tmpdir() . "/ev.jsonl";
    write_jsonl($f, $events);
    return [bin('cohort-agent'), 'send', '--quiet', '--endpoint', $d->{endpoint}, '--key',
            "$keys/$who.key", @curve, $f];
}
my $setup = setup_events(81);
my %by;
push @{ $by{ $_->{agency} } }, $_ for @$setup[2 .. $#$setup];
my ($rc, undef, $err) = run_cmd(send_cmd('coord', [@$setup[0, 1]]), timeout => 60);
is($rc, 0, 'the coordinator sends the programme') or diag $err;
for my $a (@agencies) {
    ($rc, undef, $err) = run_cmd(send_cmd("agent-$a", $by{$a}), timeout => 60);
    is($rc, 0, "agent $a sends its people") or diag $err;
}
my %refs;
for my $e (@$setup) {
    push @{ $refs{ $e->{agency} } }, $e->{participantRegistered}{participantRef} if $e->{participantRegistered};
}
sub docs { web_docs($wd) }
my $docs;
ok(wait_until(20, sub { $docs = docs(); $docs->{'cohort/it-81/c1'} && $docs->{'agency/probation-wm/it-81/c1'}
    && $docs->{'cohort/it-81/c1'}{funnel}{participants}{total} == 20 }), 'the documents are published');

ok(eval { web_cert($dir); 1 }, 'a self-signed certificate') or diag $@;
my %pw = (board1 => 'board password 1', 'hr-a' => 'hr of agency A', 'hr-b' => 'hr of agency B',
          coord1 => 'coordinator pw 1', op1 => 'operator password 1');
my %line = (board1 => ['board'], 'hr-a' => ['agency-hr', 'wm-police'], 'hr-b' => ['agency-hr', 'cps-wm'],
            coord1 => ['coordinator'], op1 => ['operator']);
for my $u (sort keys %pw) {
    ($rc, $err) = web_adduser("$dir/users", $u, $pw{$u}, @{ $line{$u} });
    is($rc, 0, "adduser $u") or diag $err;
}
my $port = free_port();
open my $cf, '>', "$dir/web.conf" or die;
print $cf "[web]\nlisten = 127.0.0.1:$port\ntls-cert = $dir/web.crt\ntls-key = $dir/web.key\nusers = $dir/users\n\n"
        . "[cohortd]\npublish = $d->{publish}\nsnapshot = $d->{snapshot}\nserver-key = $d->{data}/server.pub\nkey = $keys/web.key\n";
close $cf;
my $wpid = fork() // die;
if (!$wpid) {
    open STDOUT, '>', "$dir/web.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec bin('cohort-web'), '--config', "$dir/web.conf" or die;
}
sub weblog { open my $f, '<', "$dir/web.log" or return ''; local $/; <$f> // '' }
ok(wait_until(20, sub { weblog() =~ /status feed: synced/ }), 'cohort-web is up and synced') or BAIL_OUT(weblog());

# The plan: figures from the documents, by the pages' data-figure cells.
my $c = $docs->{'cohort/it-81/c1'};
my $p = $docs->{'programme/it-81'};
sub fig { my ($path, $v) = @_; [qq{td[data-figure="$path"]}, "$v"] }
my @others_of_a = map { @{ $refs{$_} } } grep { $_ ne 'wm-police' } @agencies;
my @others_of_b = map { @{ $refs{$_} } } grep { $_ ne 'cps-wm' } @agencies;
my $agency_a = $docs->{'agency/wm-police/it-81/c1'};
my @att = grep { $_->{agency} eq 'wm-police' } @{ attendance_events(20, 81) };
my $live_ref = $att[0]{attendanceRecorded}{participantRef};
my ($live_i) = grep { $agency_a->{people}[$_]{ref} eq $live_ref } 0 .. $#{ $agency_a->{people} };
my $shots = $ENV{COHORT_WEB_SHOTS} // "$dir/shots";
my $plan = {
    url => "https://127.0.0.1:$port", shots => $shots, chromium => $chromium,
    wrong_password => { name => 'board1', password => 'not the password' },
    users => [
        { name => 'board1', password => $pw{board1}, label => 'board',
          pages => [
              { path => '/', shot => 'board-overview.png', figures => [['main', 'Integration test 81']] },
              { path => '/programme/it-81', shot => 'board-programme.png', charts => 3,
                figures => [fig('filled.places', $p->{filled}{places}),
                            fig('funnel_reached.participants.reached.APPLIED', $p->{funnel_reached}{participants}{reached}{APPLIED})],
                absent => [map { @{ $refs{$_} } } @agencies] },
              { path => '/cohort/it-81/c1', shot => 'board-cohort.png', charts => 4,
                figures => [fig('filled.participants', $c->{filled}{participants}),
                            fig('funnel.participants.total', $c->{funnel}{participants}{total}),
                            fig('completion.participants.enrolled', $c->{completion}{participants}{enrolled})],
                absent => [map { @{ $refs{$_} } } @agencies] },
              ($docs->{'release/cohort/it-81/c1'} ? { path => '/release/cohort/it-81/c1', shot => 'board-release.png', charts => 2,
                  figures => [fig('representation.total', $docs->{'release/cohort/it-81/c1'}{representation}{total} // 'hidden')] } : ()),
              { path => '/glossary', shot => 'glossary.png' } ],
          denied => [ { path => '/agency/wm-police/it-81/c1', absent => $refs{'wm-police'} } ] },
        { name => 'hr-a', password => $pw{'hr-a'}, label => 'HR of wm-police',
          pages => [
              { path => '/agency/wm-police/it-81/c1', shot => 'agency-wm-police.png', charts => 1,
                figures => [[qq{tr[data-ref="$refs{'wm-police'}[0]"] th}, $refs{'wm-police'}[0]]],
                absent => \@others_of_a } ],
          denied => [ { path => '/agency/cps-wm/it-81/c1', absent => $refs{'cps-wm'} },
                      { path => '/cohort/it-81/c1', absent => [] } ] },
        { name => 'hr-b', password => $pw{'hr-b'}, label => 'HR of cps-wm',
          pages => [ { path => '/agency/cps-wm/it-81/c1', absent => \@others_of_b } ],
          denied => [ { path => '/agency/wm-police/it-81/c1', absent => $refs{'wm-police'} } ] },
        { name => 'coord1', password => $pw{coord1}, label => 'coordinator',
          pages => [ { path => '/programme/it-81', shot => 'coordinator-programme.png', charts => 3,
                       figures => [fig('filled.places', $p->{filled}{places})],
                       absent => [map { @{ $refs{$_} } } @agencies] } ],
          denied => [ { path => '/agency/hmcts-wm/it-81/c1', absent => $refs{'hmcts-wm'} } ] },
        { name => 'op1', password => $pw{op1}, label => 'operator',
          pages => [ { path => '/agency/probation-wm/it-81/c1', shot => 'operator-agency.png', charts => 1,
                       figures => [[qq{tr[data-ref="$refs{'probation-wm'}[0]"] th}, $refs{'probation-wm'}[0]]] },
                     { path => '/cohort/it-81/c1', charts => 4,
                       figures => [fig('funnel.participants.total', $c->{funnel}{participants}{total})] } ],
          denied => [ { path => '/agency/nobody/it-81/c1', absent => [] } ] },
    ],
    live => { user => 'hr-a', path => '/agency/wm-police/it-81/c1', push => send_cmd('agent-wm-police', [$att[0]]),
              selector => qq{td[data-figure="people.$live_i.completion"]}, before => '0%', after => '6%' },
};
open my $pf, '>', "$dir/plan.json" or die;
print $pf JSON::PP->new->canonical->encode($plan);
close $pf;
local $ENV{COHORT_WEB_PLAN} = "$dir/plan.json";
($rc, my $out, $err) = run_cmd(['node', "$root/tests/browser/web.mjs"], timeout => 300);
my $lines = 0;
for (split /\n/, $out) {
    if (/^(not )?ok \d+ - (.*)$/) { ok(!$1, "browser: $2"); $lines++ }
    elsif (/^# (.*)/) { note $1 }
}
ok($lines > 20, "the browser run reported $lines checks") or diag "$out\n$err";
is($rc, 0, 'web.mjs passed') or diag $err;
note "screenshots in $shots";
kill 'TERM', $wpid;
is(wait_exit($wpid, 15), 0, 'cohort-web stops cleanly');
is(stop_daemon($d), 0, 'cohortd stops cleanly');
done_testing();
