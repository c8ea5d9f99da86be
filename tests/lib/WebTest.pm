package WebTest;
# Shared setup of the cohort-web integration tests (8x-web-*.t): the real
# cohortd with CURVE and a key per agency, cohort-web with its own key (role
# web) and a self-signed certificate, users made with `cohort-web adduser`,
# and HTTPS requests with curl.
#
#   my $w = web_daemon(dir => $dir, agencies => [...], programme => 'it-NN[,it-MM]',
#                      keys => {name => 'role [agency]', ...});
#       keys coord (coordinator programmes=$o{programme}), web, op,
#       agent-<agency> for each agency and those of keys; cohortd started
#       with CURVE; returns
#       {dir, keys, pub => {name => public key}, d => daemon, curve => [...]}
#   web_send($w, $who, \@events)       -> ($rc, [results], $stderr)
#   web_docs($w)                       every status document, by the operator key: {topic => doc}
#   web_cert($dir)                     a self-signed certificate: $dir/web.crt, web.key
#   web_adduser($file, $name, $password, @role_and_agency) -> ($rc, $stderr)
#   web_start($w, users => FILE, listen => 'HOST:PORT', extra => "[web] lines")
#       writes $dir/web.conf, starts cohort-web, waits for "ready" and
#       "synced"; returns {pid, base, port, conf, log => sub}
#   web_stop($web)                     SIGTERM, waits
#   web_http($base, $path, jar => F, data => FORM, method => M)
#                                      -> ($status, {header => value}, $body)
#   web_login($base, $user, $password) -> ($jar, $status, $headers, $body)
use strict;
use warnings;
use Exporter 'import';
use CohortTest;
use AgentTest qw(wait_until);
use POSIX qw(:sys_wait_h);

our $starts = 0;
our @EXPORT = qw(web_daemon web_send web_docs web_cert web_adduser web_start web_stop web_http web_login);

sub web_daemon {
    my (%o) = @_;
    my $dir = $o{dir};
    my $keys = "$dir/keys";
    mkdir $keys or die "mkdir $keys: $!";
    mkdir "$dir/data", 0700 or die;
    my %pub;
    my %more = %{ $o{keys} // {} };
    for my $n ('coord', 'web', 'op', (map { "agent-$_" } @{ $o{agencies} }), sort keys %more) {
        my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'keygen', "$keys/$n"]);
        die "keygen $n: $err" if $rc != 0;
        open my $fh, '<', "$keys/$n.pub" or die;
        local $/;
        ($pub{$n}) = <$fh> =~ /public-key\s*=\s*(\S{40})/ or die;
    }
    open my $af, '>', "$dir/data/access" or die;
    print $af "$pub{coord} coordinator programmes=" . ($o{programme} // 'it-80') . "\n";
    print $af "$pub{web} web\n$pub{op} operator\n";
    print $af "$pub{\"agent-$_\"} agent $_\n" for @{ $o{agencies} };
    print $af "$pub{$_} $more{$_}\n" for sort keys %more;
    close $af;
    my $d = start_daemon(dir => $dir, curve => 1);
    return {dir => $dir, keys => $keys, pub => \%pub, d => $d,
            curve => ['--server-key', "$d->{data}/server.pub"]};
}

sub web_send {
    my ($w, $who, $events) = @_;
    my $f = tmpdir() . "/ev.jsonl";
    write_jsonl($f, $events);
    my ($rc, $out, $err) = run_cmd([bin('cohort-agent'), 'send', '--json', '--endpoint',
                                    $w->{d}{endpoint}, '--key', "$w->{keys}/$who.key",
                                    @{ $w->{curve} }, $f], timeout => 60);
    return ($rc, read_jsonl($out), $err);
}

sub web_docs {
    my ($w) = @_;
    my ($rc, $out) = run_cmd([bin('cohortctl'), 'snapshot', '--snapshot', $w->{d}{snapshot}, '--key',
                              "$w->{keys}/op.key", @{ $w->{curve} }, ''], timeout => 30);
    return { map { $_->{topic} => $_->{doc} } grep { defined $_->{topic} } @{ read_jsonl($out) } };
}

sub web_cert {
    my ($dir) = @_;
    my ($rc, undef, $err) = run_cmd(['openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes',
        '-keyout', "$dir/web.key", '-out', "$dir/web.crt", '-days', '2', '-subj', '/CN=127.0.0.1']);
    die "openssl: $err" if $rc != 0;
}

sub web_adduser {
    my ($file, $name, $password, @line) = @_;
    my $pw = tmpdir() . "/pw";
    open my $p, '>', $pw or die;
    print $p "$password\n";
    close $p;
    my ($rc, undef, $err) = run_cmd([bin('cohort-web'), 'adduser', $file, $name, @line], stdin => $pw);
    return ($rc, $err);
}

sub web_start {
    my ($w, %o) = @_;
    my $dir = $w->{dir};
    my $port = $o{port} // free_port();
    my $listen = $o{listen} // "127.0.0.1:$port";
    my $conf = "$dir/web.conf";
    open my $cf, '>', $conf or die;
    print $cf "[web]\nlisten = $listen\ntls-cert = $dir/web.crt\ntls-key = $dir/web.key\n";
    print $cf "users = $o{users}\n", $o{extra} // '';
    print $cf "\n[cohortd]\npublish = $w->{d}{publish}\nsnapshot = $w->{d}{snapshot}\n";
    print $cf "server-key = $w->{d}{data}/server.pub\nkey = $w->{keys}/web.key\n";
    close $cf;
    # A log of its own per start: a second start must never read the first
    # one's "ready" line.
    my $log = "$dir/web-" . ++$WebTest::starts . ".log";
    unlink $log;
    my $pid = fork() // die;
    if (!$pid) {
        open STDOUT, '>', $log or die;
        open STDERR, '>&', \*STDOUT or die;
        exec bin('cohort-web'), '--config', $conf or die;
    }
    my $logsub = sub { open my $f, '<', $log or return ''; local $/; <$f> // '' };
    my $web = {pid => $pid, port => $port, conf => $conf, log => $logsub};
    my ($host) = $listen =~ /^(.*):\d+$/;
    $web->{base} = "https://$host:$port";
    $web->{ready} = wait_until(20, sub { $logsub->() =~ /ready: https/ || waitpid($pid, WNOHANG) == $pid });
    $web->{ready} &&= $logsub->() =~ /ready: https/;
    $web->{synced} = $web->{ready} && wait_until(20, sub { $logsub->() =~ /status feed: synced/ });
    return $web;
}

sub web_stop {
    my ($web) = @_;
    return unless $web && $web->{pid};
    kill 'TERM', $web->{pid};
    wait_until(10, sub { waitpid($web->{pid}, WNOHANG) == $web->{pid} }) or kill 'KILL', $web->{pid};
    delete $web->{pid};
}

sub web_http {
    my ($base, $path, %o) = @_;
    my $t = tmpdir();
    my @c = ('curl', '-sk', '--max-time', '20', '-o', "$t/body", '-D', "$t/head", '-w', '%{http_code}');
    push @c, '-g';    # [::1] is an address, not a glob
    push @c, '-b', $o{jar}, '-c', $o{jar} if $o{jar};
    push @c, '--data', $o{data} if defined $o{data};
    push @c, '-X', $o{method} if $o{method};
    my ($rc, $code) = run_cmd([@c, "$base$path"], timeout => 30);
    open my $h, '<', "$t/head"; local $/; my $head = <$h> // '';
    open my $b, '<', "$t/body"; my $body = <$b> // '';
    my %h;
    for (split /\r?\n/, $head) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/ }
    $h{'set-cookie-all'} = join "\n", $head =~ /^set-cookie:\s*(.*?)\r?$/mig;
    return (($code || 0) + 0, \%h, $body);
}

sub web_login {
    my ($base, $user, $pass) = @_;
    my $jar = tmpdir() . "/jar";
    my ($c, $h, $b) = web_http($base, '/login', jar => $jar);
    my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{64})"/;
    my $form = "user=$user&password=" . join('', map { sprintf '%%%02X', ord } split //, $pass);
    $form .= "&csrf=$csrf" if $csrf;
    my @r = web_http($base, '/login', jar => $jar, data => $form);
    return ($jar, @r);
}

1;
