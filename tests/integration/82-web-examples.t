#!/usr/bin/perl
# cohort-web on the example programme Step Forward (examples/step-forward.jsonl),
# each agency's events sent with its own key by cohort-agent: the board and
# the HR teams of two agencies, a coordinator and an operator log in; every page in their scope shows the
# figures of the status documents (each data-figure cell against the
# document: mentors, promotions, assessments, releases of real-looking data),
# the overview lists exactly the documents in scope, and no page a user can
# reach shows another agency's pseudonyms. Events are sent per agency (the
# definitions first, mentor assignments last), not in time order: the
# releases differ from the demo's, the rule (page = document) does not.
# The keys and the daemon come from tests/lib/WebTest.pm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use WebTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use Time::HiRes qw(sleep time);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
for my $tool (qw(curl openssl)) {
    plan skip_all => "$tool is not installed (bash .ci/setup)" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}
my $root = repo_root();
my @events = @{ read_jsonl(do { open my $f, '<', "$root/examples/step-forward.jsonl" or die; local $/; <$f> }) };
my @agencies = do { my %s; grep { !$s{$_}++ && $_ ne 'wmcjb' } map { $_->{agency} } @events };
my $dir = tmpdir();
# The coordinator's key is wmcjb's (an agency that defines the programme).
my $wd = web_daemon(dir => $dir, agencies => \@agencies, programme => 'step-forward',
                    keys => {wmcjb => 'coordinator wmcjb programmes=step-forward'});
my ($d, $keys) = ($wd->{d}, $wd->{keys});
ok($d->{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($d));
my @curve = @{ $wd->{curve} };
sub send_as {
    my ($who, $evs) = @_;
    $who = "agent-$who" unless $who eq 'wmcjb';
    my $f = tmpdir() . "/ev.jsonl";
    write_jsonl($f, $evs);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--quiet', '--endpoint', $d->{endpoint},
                                    '--key', "$keys/$who.key", @curve, $f], timeout => 120);
    return ($rc, $err);
}
my ($rc, $err) = send_as('wmcjb', [grep { $_->{agency} eq 'wmcjb' } @events]);
is($rc, 0, 'the coordinator sends the programme and its cohort') or diag $err;
for my $mentors (0, 1) {
    for my $a (@agencies) {
        my @e = grep { $_->{agency} eq $a && !!$_->{mentorAssigned} == $mentors } @events;
        next unless @e;
        ($rc, $err) = send_as($a, \@e);
        if ($mentors) {    # out of time order, an assignment after a withdrawal may be rejected
            ok($rc == 0 || $err =~ /\d+ accepted/, "agent $a sends its mentor assignments") or diag $err;
            note $err if $rc;
        } else {
            is($rc, 0, "agent $a sends its events") or diag $err;
        }
    }
}
my %refs;
for my $e (@events) {
    push @{ $refs{ $e->{agency} } }, $e->{participantRegistered}{participantRef} if $e->{participantRegistered};
}
sub docs {
    my ($rc, $out) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $d->{snapshot}, '--key',
                              "$keys/op.key", @curve, ''], timeout => 30);
    return { map { $_->{topic} => $_->{doc} } grep { defined $_->{topic} } @{ read_jsonl($out) } };
}
my $docs;
my $prev = '';
ok(wait_until(40, sub { $docs = docs(); my $s = JSON::PP->new->canonical->encode([map { [$_, $docs->{$_}] } sort keys %$docs]);
    my $same = $s eq $prev; $prev = $s; sleep 0.5; $same && $docs->{'programme/step-forward'} }), 'the documents settled');

($rc, undef, $err) = run_cmd(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout',
    "$dir/web.key", '-out', "$dir/web.crt", '-days', '2', '-subj', '/CN=127.0.0.1']);
is($rc, 0, 'a self-signed certificate') or diag $err;
my %pw = (board1 => 'board password 1', 'hr-a' => 'hr of agency A', 'hr-b' => 'hr of agency B',
          coord1 => 'coordinator password', op1 => 'operator password');
my %own = ('hr-a' => 'wm-police', 'hr-b' => 'cps-wm');
my %line = (board1 => ['board'], 'hr-a' => ['agency-hr', 'wm-police'], 'hr-b' => ['agency-hr', 'cps-wm'],
            coord1 => ['coordinator', 'wmcjb'], op1 => ['operator']);
for my $u (sort keys %pw) {
    open my $p, '>', "$dir/pw" or die;
    print $p "$pw{$u}\n";
    close $p;
    ($rc, undef, $err) = run_cmd([bin('cohort-web'), 'adduser', "$dir/users", $u, @{ $line{$u} }], stdin => "$dir/pw");
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
my $base = "https://127.0.0.1:$port";

# curl: (status, {header => value}, body). Options: jar, data (form text), nofollow.
my $n = 0;
sub http {
    my ($path, %o) = @_;
    my $t = tmpdir();
    my @c = ('curl', '-sk', '--max-time', '20', '-o', "$t/body", '-D', "$t/head", '-w', '%{http_code}');
    push @c, '-b', $o{jar}, '-c', $o{jar} if $o{jar};
    push @c, '--data', $o{data} if defined $o{data};
    my ($rc, $code) = run_cmd([@c, "$base$path"], timeout => 30);
    open my $h, '<', "$t/head"; local $/; my $head = <$h> // '';
    open my $b, '<', "$t/body"; my $body = <$b> // '';
    my %h;
    for (split /\r?\n/, $head) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/ }
    $h{'set-cookie-all'} = join "\n", $head =~ /^set-cookie:\s*(.*?)\r?$/mig;
    return ($code + 0, \%h, $body);
}
sub login {
    my ($user, $pass, %o) = @_;
    my $jar = tmpdir() . "/jar";
    my ($c, $h, $b) = http('/login', jar => $jar);
    my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{64})"/;
    $csrf = '' if $o{nocsrf};
    my $form = "user=$user&password=" . join('', map { sprintf '%%%02X', ord } split //, $pass);
    $form .= "&csrf=$csrf" if $csrf;
    my @r = http('/login', jar => $jar, data => $form);
    return ($jar, @r);
}

sub unesc { my $s = shift; $s =~ s/&quot;/"/g; $s =~ s/&#39;/'/g; $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&amp;/&/g; $s }
sub figures_match {
    my ($body, $doc) = @_;
    my ($n, @bad) = (0);
    while ($body =~ /(?:data-source="([^"]+)" )?data-figure="([^"]+)" data-value="([^"]*)"/g) {
        my ($src, $path, $raw) = ($1, $2, unesc($3));
        my $v = defined $src ? $docs->{$src} : $doc;    # a context document's figure
        for my $k (split /\./, $path) { $v = ref $v eq 'ARRAY' ? $v->[$k] : $v->{$k} }
        my $got = JSON::PP->new->allow_nonref->decode($raw);
        my $same = (!defined $v && !defined $got) ||
                   (defined $v && defined $got && (ref $v && JSON::PP::is_bool($v) ? ($v ? 1 : 0) == ($got ? 1 : 0) : "$v" eq "$got" || ($v =~ /^[\d.]+$/ && $got =~ /^[\d.]+$/ && abs($v - $got) < 1e-9)));
        push @bad, "$path: page $raw, document " . (defined $v ? $v : 'null') unless $same;
        $n++;
    }
    return ($n, \@bad);
}

my %scope = (
    board1 => [grep { m{^(programme|cohort|release)/} } sort keys %$docs],
    'hr-a' => [grep { m{^agency/wm-police/} } sort keys %$docs],
    'hr-b' => [grep { m{^agency/cps-wm/} } sort keys %$docs],
    coord1 => [grep { m{^(programme|cohort|release)/} } sort keys %$docs],
    op1 => [grep { m{^(programme|cohort|release|agency)/} } sort keys %$docs],
);
ok(@{ $scope{board1} } >= 4 && @{ $scope{'hr-a'} } && @{ $scope{'hr-b'} }, 'documents for every user');
for my $u (sort keys %scope) {
    my ($jar, $c) = login($u, $pw{$u});
    is($c, 303, "$u logs in");
    my %in = map { $_ => 1 } @{ $scope{$u} };
    my ($hc, undef, $hb) = http('/', jar => $jar);
    my @links = $hb =~ /<li><a href="\/((?:programme|cohort|release|agency)\/[^"]+)"/g;
    is_deeply([sort @links], $scope{$u}, "$u /: lists exactly the documents in scope");
    # the operator reads everything, as its key does; nobody else sees pseudonyms but its own
    my @others = $u eq 'op1' ? () : map { @{ $refs{$_} // [] } } grep { !$own{$u} || $_ ne $own{$u} } @agencies;
    for my $topic (sort keys %$docs) {
        next unless $topic =~ m{^(programme|cohort|release|agency)/};
        my ($c, $h, $b) = http("/$topic", jar => $jar);
        my @leak = grep { index($b, $_) >= 0 } @others;
        if (!$in{$topic}) {
            ok($c == 404 && !@leak, "$u /$topic: 404, no other agency's pseudonym");
            next;
        }
        is($c, 200, "$u /$topic: 200");
        is_deeply(\@leak, [], "$u /$topic: no other agency's pseudonym");
        my ($n, $bad) = figures_match($b, $docs->{$topic});
        ok($n >= 3, "$u /$topic: $n figures");
        is_deeply($bad, [], "$u /$topic: every figure equals the status document's");
        (my $text = $b) =~ s/<[^>]*>//g;
        my @enums = $text =~ /\b([A-Z]{2,}(?:_[A-Z]+)+)\b/g;
        is_deeply(\@enums, [], "$u /$topic: labels, not enum names");
    }
}
kill 'TERM', $wpid;
is(wait_exit($wpid, 15), 0, 'cohort-web stops cleanly') or diag weblog();
is(stop_daemon($d), 0, 'cohortd stops cleanly');
done_testing();
