#!/usr/bin/perl
# cohort-web as an operator runs it (issue 19 §2 "Operations"): the real
# cohortd with CURVE, cohort-web with its own key, over HTTPS:
# - it listens on IPv6 loopback ([::1]:PORT) as well as IPv4;
# - its Prometheus endpoint (loopback only) counts logins, failures and
#   reloads and shows the sessions, the held documents and the feed state;
#   any other path is 404, another method 405; a non-loopback metrics
#   address is refused by --check-config, naming it;
# - SIGHUP reads the users file again: a user added can log in after it
#   (not before), a user removed loses the session at once and cannot log
#   in, and a users file others may read is refused with the old users kept.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use AgentTest qw(wait_until);
use WebTest;
use Test::More;

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
for my $tool (qw(curl openssl)) {
    plan skip_all => "$tool is not installed (bash .ci/setup)" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}

my $dir = tmpdir();
my $w = web_daemon(dir => $dir, agencies => ['wm-police'], programme => 'it-83');
ok($w->{d}{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($w->{d}));
my $setup = setup_events(83);
my ($rc, $res, $err) = web_send($w, 'coord', [@$setup[0, 1]]);
is($rc, 0, 'the coordinator sends the programme and cohort') or diag $err;
web_cert($dir);
my $users = "$dir/users";
for ([qw(board1 board)], [qw(hr1 agency-hr wm-police)]) {
    my ($name, @line) = @$_;
    my ($arc, $aerr) = web_adduser($users, $name, "password of $name", @line);
    is($arc, 0, "adduser $name") or diag $aerr;
}

# --- configuration checks ---------------------------------------------------
{
    my $conf = "$dir/bad.conf";
    open my $f, '>', $conf or die;
    print $f "[web]\nlisten = 127.0.0.1:1\nmetrics = 0.0.0.0:9475\ntls-cert = $dir/web.crt\n"
        . "tls-key = $dir/web.key\nusers = $users\n[cohortd]\nplaintext = true\n";
    close $f;
    my ($c, undef, $e) = run_cmd([bin('cohort-web'), '--check-config', '--config', $conf]);
    isnt($c, 0, '--check-config refuses a metrics address that is not loopback');
    like($e, qr/bad\.conf:3: .*metrics address '0\.0\.0\.0:9475' is not a loopback address/,
         '  naming the file, line and address') or diag $e;
    open $f, '>', $conf or die;
    print $f "[web]\nlisten = example.org:8443\ntls-cert = $dir/web.crt\ntls-key = $dir/web.key\n"
        . "users = $users\n[cohortd]\nplaintext = true\n";
    close $f;
    ($c, undef, $e) = run_cmd([bin('cohort-web'), '--check-config', '--config', $conf]);
    isnt($c, 0, '--check-config refuses a listen address that is not an address');
    like($e, qr/listen address 'example\.org:8443'/, '  naming it') or diag $e;
}

# --- IPv6 -------------------------------------------------------------------
SKIP: {
    my $has6 = do { open my $f, '<', '/proc/net/if_inet6' or 0; local $/; my $t = $f ? <$f> : ''; $t =~ /^0{31}1 /m };
    skip 'no IPv6 loopback on this machine', 3 unless $has6;
    my $port = free_port();
    my $web6 = web_start($w, users => $users, listen => "[::1]:$port", port => $port);
    ok($web6->{ready}, 'cohort-web listens on [::1]') or diag $web6->{log}->();
    my ($jar, $c) = web_login($web6->{base}, 'board1', 'password of board1');
    is($c, 303, '  a board member logs in over IPv6');
    my ($c2, undef, $body) = web_http($web6->{base}, '/', jar => $jar);
    like($body, qr/<main/, '  and sees the overview') or diag "status $c2";
    web_stop($web6);
}

# --- metrics and reload -------------------------------------------------------
my $mport = free_port();
my $web = web_start($w, users => $users, extra => "metrics = 127.0.0.1:$mport\n");
ok($web->{ready} && $web->{synced}, 'cohort-web is ready and synced, with metrics')
    or BAIL_OUT($web->{log}->());
my $mbase = "http://127.0.0.1:$mport";
sub scrape {
    my ($rc, $out) = run_cmd(['curl', '-s', '--max-time', '10', "$mbase/metrics"], timeout => 20);
    my %m;
    for (split /\n/, $out // '') { $m{$1} = $2 if /^([a-z_]+(?:\{[^}]*\})?) (\S+)$/ }
    return \%m;
}
my $m0 = scrape();
is($m0->{cohort_web_status_synced}, 1, 'metrics: the status feed is synced');
cmp_ok($m0->{cohort_web_status_documents} // 0, '>=', 2, 'metrics: the documents held');
is($m0->{cohort_web_users}, 2, 'metrics: 2 users');
my ($jar_hr) = web_login($web->{base}, 'hr1', 'password of hr1');
my ($jarx, $cx) = web_login($web->{base}, 'board1', 'not the password');
is($cx, 401, 'a wrong password is refused');
my $m1 = scrape();
is($m1->{'cohort_web_logins_total{outcome="ok"}'} - $m0->{'cohort_web_logins_total{outcome="ok"}'}, 1,
   'metrics: one login counted');
is($m1->{'cohort_web_logins_total{outcome="failed"}'} - $m0->{'cohort_web_logins_total{outcome="failed"}'}, 1,
   'metrics: one failed login counted');
is($m1->{cohort_web_sessions}, 1, 'metrics: one session');
cmp_ok($m1->{'cohort_web_responses_total{class="4xx"}'}, '>=', 1, 'metrics: 4xx responses counted');
{
    my (undef, $o3) = run_cmd(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', "$mbase/other"], timeout => 20);
    is($o3, '404', 'metrics: another path is 404');
    my (undef, $o4) = run_cmd(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', "$mbase/metrics"], timeout => 20);
    is($o4, '405', 'metrics: POST is 405');
}
unlike(join("\n", keys %$m1), qr/board1|hr1|wm-police/, 'metrics name no user and no agency');

# SIGHUP: a user added can log in only after the reload.
my ($arc, $aerr) = web_adduser($users, 'board2', 'password of board2', 'board');
is($arc, 0, 'adduser board2 while cohort-web runs') or diag $aerr;
my (undef, $c_before) = web_login($web->{base}, 'board2', 'password of board2');
is($c_before, 401, 'board2 cannot log in before the reload');
kill 'HUP', $web->{pid};
ok(wait_until(10, sub { $web->{log}->() =~ /reloaded \S+: 3 users; 0 sessions ended/ }), 'SIGHUP reloads the users file')
    or diag $web->{log}->();
my ($jar_b2, $c_after) = web_login($web->{base}, 'board2', 'password of board2');
is($c_after, 303, 'board2 logs in after the reload');

# A user removed loses the session at once.
{
    my ($c) = web_http($web->{base}, '/', jar => $jar_hr);
    is($c, 200, 'hr1 is logged in');
    open my $in, '<', $users or die;
    my @keep = grep { !/^hr1 / } <$in>;
    close $in;
    open my $out, '>', "$users.new" or die;
    print $out @keep;
    close $out;
    chmod 0600, "$users.new";
    rename "$users.new", $users or die;
    kill 'HUP', $web->{pid};
    ok(wait_until(10, sub { $web->{log}->() =~ /reloaded \S+: 2 users; 1 sessions ended/ }), 'the reload ends hr1\'s session')
        or diag $web->{log}->();
    ($c) = web_http($web->{base}, '/', jar => $jar_hr);
    is($c, 303, 'hr1\'s next page goes to the login form');
    my (undef, $cl) = web_login($web->{base}, 'hr1', 'password of hr1');
    is($cl, 401, 'hr1 cannot log in');
    ($c) = web_http($web->{base}, '/', jar => $jar_b2);
    is($c, 200, 'board2 keeps the session');
}

# A file others may read is refused; the old users stay.
{
    chmod 0644, $users;
    kill 'HUP', $web->{pid};
    ok(wait_until(10, sub { $web->{log}->() =~ /reload refused, the old users stay: .*group or others may access it/ }),
       'a users file others may read is refused on reload') or diag $web->{log}->();
    chmod 0600, $users;
    my (undef, $c) = web_login($web->{base}, 'board1', 'password of board1');
    is($c, 303, 'board1 still logs in');
    my $m2 = scrape();
    is($m2->{'cohort_web_users_reloads_total{outcome="ok"}'}, 2, 'metrics: 2 reloads');
    is($m2->{'cohort_web_users_reloads_total{outcome="failed"}'}, 1, 'metrics: 1 refused reload');
    is($m2->{cohort_web_sessions_ended_by_reload_total}, 1, 'metrics: 1 session ended by a reload');
}
unlike($web->{log}->(), qr/password of/, 'no password is logged');

web_stop($web);
stop_daemon($w->{d});
done_testing();
