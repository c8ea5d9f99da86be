#!/usr/bin/perl
# cohort-web's dated board reports (issue 19 §3), end to end: the real
# cohortd with CURVE, two programmes sent by the agents, then
# - `cohort-web report` (the web key, Debian's headless Chromium) writes
#   DIR/<programme>/<date>/programme.html and .pdf and cohort-<C>.html and
#   .pdf for every programme and cohort; the HTML is standalone (its
#   report.css beside it, no script), its figures equal the status
#   documents' (live and released), a hidden figure is shown "hidden"; the
#   PDF is a PDF with pages whose text (pdftotext) has the figures;
# - its errors: a bad configuration, no Chromium, no daemon, a bad --topic:
#   clear and non-zero;
# - the server's archive: GET /reports lists exactly the reports in the
#   user's scope (board, coordinator, operator: all; agency HR: none), each
#   file is served in scope and 404 out of scope; path tricks (.., %2e%2e,
#   other dates, unknown cohorts, other names) are 404;
# - GET /report/programme/P and /report/cohort/P/C: the current report.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use WebTest;
use AgentTest qw(wait_until);
use Test::More;
use JSON::PP;
use POSIX qw(strftime);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
for my $tool (qw(curl openssl chromium pdftotext pdfinfo)) {
    plan skip_all => "$tool is not installed (bash .ci/setup)" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}
my $chromium = (grep { -x $_ } map { "$_/chromium" } split /:/, $ENV{PATH})[0];

my $dir = tmpdir();
my @agencies = qw(wm-police cps-wm hmcts-wm probation-wm);
my $wd = web_daemon(dir => $dir, agencies => \@agencies, programme => 'it-84,it-85');
my ($d, $keys) = ($wd->{d}, $wd->{keys});
my $wpid;    # cohort-web, once started
# On a failure that ends the test early (BAIL_OUT, die), stop what it started.
END { kill 'TERM', $wpid if $wpid; kill 'TERM', $d->{pid} if $d && $d->{pid} }
ok($d->{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($d));
my @curve = @{ $wd->{curve} };
sub send_as { web_send($wd, @_) }
for my $tag (84, 85) {
    my $setup = setup_events($tag);
    my ($rc, undef, $err) = send_as('coord', [@$setup[0, 1]]);
    is($rc, 0, "the coordinator sends programme it-$tag") or diag $err;
    my %by;
    push @{ $by{ $_->{agency} } }, $_ for @$setup[2 .. $#$setup];
    for my $a (@agencies) {
        ($rc, undef, $err) = send_as("agent-$a", $by{$a});
        is($rc, 0, "agent $a sends its people of it-$tag") or diag $err;
    }
    my @att = @{ attendance_events(20, $tag) };
    for my $a (@agencies) {
        my @mine = grep { $_->{agency} eq $a } @att;
        ($rc, undef, $err) = send_as("agent-$a", \@mine);
        is($rc, 0, "agent $a sends attendance of it-$tag") or diag $err;
    }
}
sub docs { web_docs($wd) }
my $docs;
ok(wait_until(30, sub { $docs = docs(); ($docs->{'cohort/it-85/c1'} && $docs->{'release/cohort/it-84/c1'}
    && $docs->{'cohort/it-85/c1'}{funnel}{participants}{total} == 20) }), 'the daemon published the documents')
    or BAIL_OUT('no documents: ' . join(' ', sort keys %$docs));
my @topics = sort grep { m{^(programme|cohort)/} } keys %$docs;
is_deeply(\@topics, [qw(cohort/it-84/c1 cohort/it-85/c1 programme/it-84 programme/it-85)], 'two programmes, a cohort each');

# --- configuration ---------------------------------------------------------
my ($rc, $out, $err);
ok(eval { web_cert($dir); 1 }, 'a self-signed certificate') or diag $@;
my %pw = (board1 => 'board password 1', coord1 => 'coordinator pw 1', 'hr-a' => 'hr of agency A',
          op1 => 'operator password');
my %line = (board1 => ['board'], coord1 => ['coordinator'], 'hr-a' => ['agency-hr', 'wm-police'],
            op1 => ['operator']);
for my $u (sort keys %pw) {
    ($rc, $err) = web_adduser("$dir/users", $u, $pw{$u}, @{ $line{$u} });
    is($rc, 0, "adduser $u") or diag $err;
}
my $port = free_port();
my $reports = "$dir/reports";
sub conf {
    my ($path, %o) = @_;
    open my $cf, '>', $path or die;
    print $cf <<END;
[web]
listen = 127.0.0.1:$port
tls-cert = $dir/web.crt
tls-key = $dir/web.key
users = $dir/users

[cohortd]
publish = @{[ $o{publish} // $d->{publish} ]}
snapshot = @{[ $o{snapshot} // $d->{snapshot} ]}
server-key = $d->{data}/server.pub
key = $keys/web.key

[report]
dir = $reports
chromium = @{[ $o{chromium} // $chromium ]}
sync-timeout-s = @{[ $o{sync} // 30 ]}
print-timeout-s = 120
END
    print $cf $o{extra} if $o{extra};
    close $cf;
    return $path;
}
conf("$dir/web.conf");

# --- the command's errors --------------------------------------------------
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', conf("$dir/bad.conf", extra => "colour = blue\n")]);
is($rc, 2, 'report: a bad configuration exits 2');
like($err, qr{bad\.conf:\d+: .*unknown option}, '  naming the file, line and why') or diag $err;
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', "$dir/missing.conf"]);
is($rc, 2, 'report: a missing configuration exits 2');
like($err, qr{missing\.conf}, '  naming it') or diag $err;
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', conf("$dir/nochrome.conf", chromium => "$dir/no/chromium")]);
is($rc, 1, 'report: no Chromium exits 1');
like($err, qr{Chromium is missing: \Q$dir\E/no/chromium is not an executable file.*apt-get install chromium.*\[report\] chromium}, '  saying what is missing and how to get it') or diag $err;
my ($p1, $p2) = (free_port(), free_port());
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config',
    conf("$dir/nodaemon.conf", publish => "tcp://127.0.0.1:$p1", snapshot => "tcp://127.0.0.1:$p2", sync => 2)], timeout => 30);
is($rc, 1, 'report: no daemon exits 1');
like($err, qr{no complete status from cohortd within 2 s .*is cohortd running}, '  saying so') or diag $err;
ok(!-e $reports, '  and writes nothing');
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', "$dir/web.conf", '--topic', 'agency/wm-police/it-84/c1']);
is($rc, 2, 'report: a --topic that is not a report exits 2');
like($err, qr{not programme/PROGRAMME or cohort/PROGRAMME/COHORT}, '  saying so') or diag $err;
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', "$dir/web.conf", '--topic', 'cohort/it-84/nope',
                             '--out', "$dir/one"], timeout => 120);
is($rc, 1, 'report: a cohort cohortd does not publish exits 1');
like($err, qr{cohort/it-84/nope: cohortd publishes no cohort/it-84/nope}, '  saying so') or diag $err;

# --- the reports -----------------------------------------------------------
($rc, $out, $err) = run_cmd([bin('cohort-web'), 'report', '--config', "$dir/web.conf"], timeout => 600);
is($rc, 0, 'cohort-web report exits 0') or diag "$out\n$err";
like($out, qr/4 of 4 reports written in \Q$reports\E/, '  4 reports') or do { open my $o, '>', '/tmp/c-out.txt'; print $o "out: $out\nerr: $err"; close $o; BAIL_OUT('see') };
my $date = strftime('%Y-%m-%d', gmtime);
sub slurp { open my $f, '<', $_[0] or return ''; local $/; <$f> // '' }
sub unesc { my $s = shift; $s =~ s/&quot;/"/g; $s =~ s/&#39;/'/g; $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&amp;/&/g; $s }
# Every figure cell of html against doc: (how many, [differences], [shown texts],
# hidden cells). release: doc is a release, whose nulls are hidden figures.
sub figures_match {
    my ($html, $doc, $release) = @_;
    my ($n, $hidden, @bad, @shown) = (0, 0);
    while ($html =~ /<t[dh]([^>]*)\bdata-figure="([^"]+)"[^>]*\bdata-value="([^"]*)"[^>]*>(.*?)<\/t[dh]>/gs) {
        my ($attrs, $path, $raw, $text) = ($1, $2, unesc($3), $4);
        $text =~ s/<[^>]*>//g;
        $text = unesc($text);
        # a cell of the context document (the programme's, beside a cohort or a release)
        my ($source) = $attrs =~ /data-source="([^"]+)"/;
        my $v = $source ? $docs->{$source} : $doc;
        for my $k (split /\./, $path) { $v = ref $v eq 'ARRAY' ? $v->[$k] : ref $v eq 'HASH' ? $v->{$k} : undef }
        my $got = JSON::PP->new->allow_nonref->decode($raw);
        my $same = (!defined $v && !defined $got) ||
                   (defined $v && defined $got && (ref $v && JSON::PP::is_bool($v) ? ($v ? 1 : 0) == ($got ? 1 : 0) : "$v" eq "$got" || ($v =~ /^-?[\d.e+-]+$/ && $got =~ /^-?[\d.e+-]+$/ && abs($v - $got) < 1e-9)));
        push @bad, "$path: report $raw, document " . (defined $v ? encode_json([$v]) : 'null') unless $same;
        if (!defined $got && $release && !$source) {    # null in a release: hidden (in a live one: none)
            $hidden++;
            push @bad, "$path: hidden but shown as '$text'" unless $text =~ /^\s*hidden\s*$/;
        }
        push @shown, $text;
        $n++;
    }
    return ($n, \@bad, \@shown, $hidden);
}
# The text of the part with this id (live or release) of a report.
sub part_of { my ($html, $id) = @_; $html =~ m{<section class="part" id="$id".*?(?=<section class="part" id=|<footer class="about")}s ? $& : '' }
my %file;    # topic -> [html, pdf]
for my $t (@topics) {
    my ($kind, $p, $c) = split m{/}, $t;
    my $base = $c ? "cohort-$c" : 'programme';
    my ($html, $pdf) = ("$reports/$p/$date/$base.html", "$reports/$p/$date/$base.pdf");
    $file{$t} = [$html, $pdf];
    ok(-s $html, "$t: $base.html written");
    ok(-s $pdf, "$t: $base.pdf written");
    ok(-s "$reports/$p/$date/report.css", "$t: report.css beside it");
    like($out, qr{\Q$t\E: \Q$html\E and \Q$pdf\E}, "$t: the command names both files");
    my $h = slurp($html);
    my $name = $docs->{"programme/$p"}{name};
    like($h, qr{<title>Board report: \Q$name\E}, "$t: titled Board report: $name");
    like($h, qr{<h1>Board report: \Q$name\E</h1>}, "$t: and headed so");
    like($h, qr{Figures as at <time datetime="${date}T\d\d:\d\d:\d\dZ">}, "$t: figures as at today");
    like($h, qr{<nav class="contents"}, "$t: a contents list");
    like($h, qr{<link rel="stylesheet" href="report.css">}, "$t: its stylesheet linked beside it");
    unlike($h =~ s/xmlns="[^"]*"//gr, qr{<script|https?://|src="/|href="/}i, "$t: no script, nothing from elsewhere (but SVG's namespace)");
    my ($n, $bad, $shown, $hidden) = figures_match(part_of($h, 'live'), $docs->{$t});
    ok($n >= 10, "$t: $n live figures");
    is_deeply($bad, [], "$t: every live figure equals the status document's");
    my ($rn, $rbad, $rshown, $rhidden) = (0, [], [], 0);
    if ($docs->{"release/$t"}) {    # it-84's; it-85 came after the log clock passed its dates
        ($rn, $rbad, $rshown, $rhidden) = figures_match(part_of($h, 'release'), $docs->{"release/$t"}, 1);
        ok($rn >= 3, "$t: $rn released figures ($rhidden hidden)");
        is_deeply($rbad, [], "$t: every released figure equals the release's, a hidden one shown 'hidden'");
        like($h, qr{those of the latest release \(number \d+, released on <time>\d{4}-\d\d-\d\d</time>\)}, "$t: which release");
    } else {
        like($h, qr{No breakdowns by ethnic group, gender or disability have been released yet}, "$t: no release yet, said so");
        is(part_of($h, 'release'), '', "$t: and no released part");
    }
    # the PDF
    open my $pf, '<', $pdf or die;
    read $pf, my $magic, 5;
    is($magic, '%PDF-', "$t: the PDF starts %PDF-");
    my ($prc, $info) = run_cmd(['pdfinfo', $pdf]);
    my ($pages) = $info =~ /^Pages:\s+(\d+)/m;
    ok($prc == 0 && $pages && $pages >= 2, "$t: the PDF has pages (" . ($pages // '?') . ')');
    my ($trc, $text) = run_cmd(['pdftotext', '-layout', $pdf, '-'], timeout => 60);
    (my $flat = $text) =~ s/\s+/ /g;
    like($flat, qr{Board report: \Q$name\E}, "$t: the PDF's text has the title");
    like($flat, qr{Figures as at}, "$t: and the date");
    like($flat, qr{Page 1 of $pages}, "$t: and page numbers") if $pages;
    my @missing = grep { my $s = $_; $s =~ s/\s+/ /g; $s =~ s/^ | $//g; length $s && index($flat, $s) < 0 } @$shown, @$rshown;
    is_deeply(\@missing, [], "$t: every figure of the report is in the PDF's text");
    # nothing in the PDF that the checked HTML does not show: every number
    # of its text is in the HTML's text (or is a page number)
    (my $htext = $h) =~ s/<[^>]*>/ /g;
    my %in_html = map { $_ => 1 } unesc($htext) =~ /(\d+(?:[.,]\d+)*)/g;
    (my $body = $text) =~ s/^\s*(?:\d+|[a-z])\.\s//mg;    # the contents list's numbering
    $body =~ s/Page \d+ of \d+//g;
    my @extra = grep { !$in_html{$_} } $body =~ /(\d+(?:[.,]\d+)*)/g;
    is_deeply(\@extra, [], "$t: no number in the PDF that the report's page does not show");
    my $pdf_hidden = () = $flat =~ /\bhidden\b/g;
    ok($pdf_hidden >= $hidden + $rhidden, "$t: the PDF shows 'hidden' at least as often as the HTML's hidden cells ($pdf_hidden >= " . ($hidden + $rhidden) . ')');
}
ok($docs->{'release/programme/it-84'}, 'a programme release exists (its breakdowns are in the report)');
my $css = slurp("$reports/it-84/$date/report.css");
like($css, qr/\@page\b.*counter\(page\)/s, 'report.css numbers the pages');
like($css, qr/\@media print.*break-before: page/s, '  and breaks pages between the parts');

# --- under the timer unit's rules --------------------------------------------
# systemd/cohort-web-report.service's system call filter, address families,
# MemoryDenyWriteExecute=, RestrictNamespaces= and NoNewPrivileges=, applied
# by tests/tools/sandbox as in 61-systemd.t: cohort-web report and the
# Chromium it runs still print.
SKIP: {
    my $sandbox = eval { bin('sandbox') };
    skip 'tests/tools/sandbox is not built (needs libseccomp-dev: .ci/setup)', 3 unless $sandbox;
    my ($analyze) = grep { -x $_ } map { "$_/systemd-analyze" } split /:/, $ENV{PATH};
    skip 'systemd-analyze is not installed (.ci/setup)', 3 unless $analyze;
    my $expand;
    $expand = sub {
        my ($name) = @_;
        return ($name) unless $name =~ /^@/;
        my ($rc, $out) = run_cmd([$analyze, 'syscall-filter', $name]);
        return map { $expand->($_) } grep { !/^#/ } map { /^\s+(\S+)/ ? $1 : () } split /\n/, $out;
    };
    my (%set, %line, $first);
    open my $u, '<', repo_root() . '/systemd/cohort-web-report.service' or die;
    while (<$u>) {
        $line{$1} = $2 if /^(\w+)=(.*)$/ && $1 ne 'SystemCallFilter';
        next unless /^SystemCallFilter=(~?)(.*)$/;
        my ($neg, @names) = ($1, split ' ', $2);
        die 'the first SystemCallFilter= must allow' if !$first++ && $neg;
        for my $n (map { $expand->($_) } @names) { if ($neg) { delete $set{$n} } else { $set{$n} = 1 } }
    }
    is_deeply([@line{qw(MemoryDenyWriteExecute RestrictNamespaces NoNewPrivileges SystemCallErrorNumber)}],
              [qw(yes yes yes EPERM)], 'the unit has the settings sandbox reproduces');
    open my $af, '>', "$dir/allow" or die;
    print $af "$_\n" for sort keys %set;
    close $af;
    # LeakSanitizer cannot work under seccomp (it needs ptrace), as in 61-systemd.t
    local $ENV{ASAN_OPTIONS} = join ':', grep { $_ } $ENV{ASAN_OPTIONS}, 'detect_leaks=0';
    my ($rc, $out, $err) = run_cmd([$sandbox, '--allow', "$dir/allow", '--families', $line{RestrictAddressFamilies}, '--',
        bin('cohort-web'), 'report', '--config', "$dir/web.conf", '--out', "$dir/sandboxed", '--topic', 'programme/it-84'],
        timeout => 300);
    is($rc, 0, 'cohort-web report under the unit\'s seccomp rules and MemoryDenyWriteExecute=yes') or diag "$out\n$err";
    open my $pf, '<', "$dir/sandboxed/it-84/$date/programme.pdf";
    my $magic = '';
    read $pf, $magic, 5 if $pf;
    is($magic, '%PDF-', '  and Chromium printed the PDF');
}

# --- the server: the archive ------------------------------------------------
$wpid = fork() // die;
if (!$wpid) {
    open STDOUT, '>', "$dir/web.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec bin('cohort-web'), '--config', "$dir/web.conf" or die;
}
sub weblog { slurp("$dir/web.log") }
ok(wait_until(20, sub { weblog() =~ /ready: https/ }), 'cohort-web is ready') or BAIL_OUT(weblog());
ok(wait_until(20, sub { weblog() =~ /status feed: synced/ }), 'and synced') or diag weblog();
my $base = "https://127.0.0.1:$port";
sub http {
    my ($path, %o) = @_;
    my $t = tmpdir();
    my @c = ('curl', '-sk', '--path-as-is', '--max-time', '20', '-o', "$t/body", '-D', "$t/head", '-w', '%{http_code}');
    push @c, '-b', $o{jar}, '-c', $o{jar} if $o{jar};
    push @c, '--data', $o{data} if defined $o{data};
    my ($rc, $code) = run_cmd([@c, "$base$path"], timeout => 30);
    my $head = slurp("$t/head");
    my $body = slurp("$t/body");
    my %h;
    for (split /\r?\n/, $head) { $h{ lc $1 } = $2 if /^([^:]+):\s*(.*)$/ }
    return ($code + 0, \%h, $body);
}
sub login {
    my ($user, $pass) = @_;
    my $jar = tmpdir() . "/jar";
    my ($c, $h, $b) = http('/login', jar => $jar);
    my ($csrf) = $b =~ /name="csrf" value="([0-9a-f]{64})"/;
    my $form = "user=$user&password=" . join('', map { sprintf '%%%02X', ord } split //, $pass) . "&csrf=$csrf";
    ($c) = http('/login', jar => $jar, data => $form);
    is($c, 303, "$user logs in");
    return $jar;
}
{
    my ($c, $h) = http('/reports');
    is($c, 303, '/reports without a session redirects to the login');
    ($c) = http("/reports/it-84/$date/programme.pdf");
    is($c, 303, 'a report file without a session too');
}
my (undef, undef, $nf) = http('/nothing-here', jar => login('board1', $pw{board1}));
my %ctype = (html => 'text/html; charset=utf-8', pdf => 'application/pdf', css => 'text/css; charset=utf-8');
my @tricks = ("/reports/it-84/$date/../$date/programme.html", "/reports/it-84/%2e%2e/it-84/$date/programme.html",
    "/reports/%2e%2e/%2e%2e/etc/passwd", "/reports/..%2f..%2fetc/passwd", "/reports/it-84/$date/%2e%2e",
    "/reports/it-84/2020-01-01/programme.html", "/reports/it-84/2026-02-30/programme.html",
    "/reports/it-84/$date/cohort-nope.html", "/reports/it-84/$date/cohort-c1.pdf.part",
    "/reports/it-84/$date/programme.html.tmp", "/reports/it-84/$date//programme.html",
    "/reports/it-84/$date/programme.html/", "/reports/it-84/$date", "/reports/it-84/",
    "/reports/it-84/$date/cohort-..%2f..%2fit-85.html", "/reports/.it-84/$date/programme.html",
    "/reports/it-84/$date/programme.txt", "/reports/it-84/" . substr($date, 0, 8) . "1/programme.html",
    "/reports/it-86/$date/programme.html", "/report/programme/it-86", "/report/cohort/it-84/nope",
    "/report/agency/wm-police/it-84/c1", "/report/programme/../cohort/it-84/c1", "/report/programme/it-84/");
my %scope = (board1 => 1, coord1 => 1, op1 => 1, 'hr-a' => 0);
for my $u (sort keys %scope) {
    my $jar = login($u, $pw{$u});
    my ($c, $h, $b) = http('/reports', jar => $jar);
    is($c, 200, "$u /reports: 200");
    is($h->{'cache-control'}, 'no-store', "$u /reports: no-store");
    like($b, qr{<form method="post" action="/logout"[^>]*>\s*<input type="hidden" name="csrf" value="[0-9a-f]{64}">},
         "$u /reports: the site's header, with the logout form");
    my @listed = $b =~ /<tr data-report="([^"]+)"/g;
    my @want = $scope{$u} ? ("it-84/$date/programme", "it-84/$date/cohort-c1", "it-85/$date/programme", "it-85/$date/cohort-c1") : ();
    is_deeply(\@listed, \@want, "$u /reports: lists exactly the reports in scope, newest first");
    like($b, qr/There are no reports for you yet/, "$u /reports: says there are none") unless $scope{$u};
    like($b, qr{<td>Integration test 85</td><td>The whole programme</td>}, "$u /reports: programmes by name") if $scope{$u};
    for my $t (@topics) {
        for my $i (0, 1) {
            my $f = $file{$t}[$i];
            (my $url = $f) =~ s{^\Q$reports\E}{/reports};
            my ($c, $h, $b) = http($url, jar => $jar);
            if ($scope{$u}) {
                is($c, 200, "$u $url: 200");
                my ($ext) = $url =~ /\.(\w+)$/;
                is($h->{'content-type'}, $ctype{$ext}, "$u $url: $ctype{$ext}");
                ok($b eq slurp($f), "$u $url: the file as written");
            } else {
                is($c, 404, "$u $url: out of scope, 404");
                is($b, $nf, "$u $url: the same 404 page as a page that does not exist");
            }
        }
        my ($c2, undef, $b2) = http("/report/$t", jar => $jar);
        if ($scope{$u}) {
            is($c2, 200, "$u /report/$t: the current report, 200");
            my ($n, $bad) = figures_match(part_of($b2, 'live'), $docs->{$t});
            ok($n >= 10 && !@$bad, "$u /report/$t: $n figures, each the document's") or diag explain $bad;
            like($b2, qr{<link rel="stylesheet" href="/static/cohort-report.css">}, "$u /report/$t: the print stylesheet");
        } else {
            is($c2, 404, "$u /report/$t: out of scope, 404");
        }
    }
    my (undef, undef, $home) = http('/', jar => $jar);
    if ($scope{$u}) {
        like($home, qr{<a href="/reports">Board reports</a>}, "$u: the menu links the board reports");
        my (undef, undef, $pg) = http('/cohort/it-84/c1', jar => $jar);
        like($pg, qr{<a href="/report/cohort/it-84/c1">}, "$u: a cohort's page links its report, to print");
    } else {
        unlike($home, qr{href="/reports?/}, "$u: no link to board reports");
    }
    my ($c3) = http("/reports/it-84/$date/report.css", jar => $jar);
    is($c3, $scope{$u} ? 200 : 404, "$u report.css: " . ($scope{$u} ? 200 : 404));
    for my $trick (@tricks) {
        my ($c, undef, $b) = http($trick, jar => $jar);
        is($c, 404, "$u $trick: 404");
    }
}
{
    my ($c) = http('/static/cohort-report.css');
    is($c, 200, '/static/cohort-report.css is served');
}
kill 'TERM', $wpid;
waitpid($wpid, 0);
$wpid = 0;
unlike(weblog(), qr/AddressSanitizer|LeakSanitizer|runtime error/, 'cohort-web: no sanitizer report');
stop_daemon($d);
$d->{pid} = 0;
done_testing();
