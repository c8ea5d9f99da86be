#!/usr/bin/perl
# cohort-web end to end (issue 19): the real cohortd with CURVE and a key
# per agency, events sent by the agents, cohort-web with its own key (role
# web) and a self-signed certificate made here, driven over HTTPS with curl:
# - logging in as every role (board, coordinator, operator, agency-hr of each
#   agency): every role against every page and every export; pages in scope
#   show the figures of the status documents (each figure cell's data-value
#   equals the document's value at its data-figure path, in the document or
#   the context document its data-source names), pages out of scope answer
#   404 like a page that does not exist and never show the other agency's
#   pseudonyms;
# - exports (issue 19 §3): the XLSX of each page (read back with
#   Spreadsheet::ParseXLSX: a sheet per table of the page) and the CSV of
#   each of its tables: in scope, each exported figure equals the
#   document's value at the path of the page's cell at the same place, a
#   hidden cell is "hidden" in both, never a number, attachments with a
#   dated name and the security headers; out of scope or an unknown table,
#   404;
# - security headers on every response; a wrong password refused; CSRF
#   missing on the login form and on logout refused; logout ends the session;
# - Server-Sent Events: a stream per user gets the update of a topic in its
#   scope live when an agent sends an event, and nothing outside its scope;
# - the web key may not send events nor use the control endpoint;
# - the login rate limit (last: it locks the address out).
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
use POSIX qw(:sys_wait_h);

delete $ENV{COHORT_PLAINTEXT};
delete $ENV{COHORT_KEY};
delete $ENV{COHORT_SERVER_KEY};
for my $tool (qw(curl openssl)) {
    plan skip_all => "$tool is not installed (bash .ci/setup)" unless grep { -x "$_/$tool" } split /:/, $ENV{PATH};
}
plan skip_all => 'Spreadsheet::ParseXLSX is not installed (bash .ci/setup)' unless eval { require Spreadsheet::ParseXLSX; 1 };

my $dir = tmpdir();
my @agencies = qw(wm-police cps-wm hmcts-wm probation-wm);
my $wd = web_daemon(dir => $dir, agencies => \@agencies, programme => 'it-80');
my ($d, $keys) = ($wd->{d}, $wd->{keys});
ok($d->{pid}, 'cohortd started with CURVE') or BAIL_OUT(log_of($d));
my @curve = @{ $wd->{curve} };

sub send_as { web_send($wd, @_) }
my $setup = setup_events(80);
my ($rc, $res, $err) = send_as('coord', [@$setup[0, 1]]);
is($rc, 0, 'the coordinator sends the programme and cohort') or diag $err;
my %by;
push @{ $by{ $_->{agency} } }, $_ for @$setup[2 .. $#$setup];
for my $a (@agencies) {
    ($rc, $res, $err) = send_as("agent-$a", $by{$a});
    is($rc, 0, "agent $a sends its people") or diag $err;
}
my %refs;    # agency -> [its pseudonyms]
for my $e (@$setup) {
    push @{ $refs{ $e->{agency} } }, $e->{participantRegistered}{participantRef} if $e->{participantRegistered};
}

# The documents as the daemon publishes them (operator key: everything).
sub docs { web_docs($wd) }
my $docs;
ok(wait_until(20, sub { $docs = docs(); ($docs->{'agency/probation-wm/it-80/c1'} && $docs->{'cohort/it-80/c1'}
    && $docs->{'cohort/it-80/c1'}{funnel}{participants}{total} == 20) }), 'the daemon published the documents');

# --- the web key may read, nothing else ------------------------------------
{
    my ($rc, $res) = send_as('web', [$by{'wm-police'}[0]]);
    is(join(',', map { "$_->{result}:" . ($_->{code} // '') } @$res), 'REJECTED:REJECT_UNAUTHORISED',
       'a web key may not send events');
    my ($rc2, $out, $err2) = run_cmd([bin('cohortctl'), 'backup', '--data-dir', $d->{data},
                                      '--key', "$keys/web.key", "$dir/bk"], timeout => 60);
    isnt($rc2, 0, 'a web key may not use the control endpoint');
    like($err2, qr/operator/, '  (an operator key is needed)');
}

# --- cohort-web ------------------------------------------------------------
ok(eval { web_cert($dir); 1 }, 'a self-signed certificate') or diag $@;
my %pw = (board1 => 'board password 1', 'hr-a' => 'hr of agency A', 'hr-b' => 'hr of agency B',
          'hr-c' => 'hr of agency C', 'hr-d' => 'hr of agency D', coord1 => 'coordinator pw 1',
          op1 => 'operator password 1');
my %line = (board1 => ['board'], 'hr-a' => ['agency-hr', 'wm-police'], 'hr-b' => ['agency-hr', 'cps-wm'],
            'hr-c' => ['agency-hr', 'hmcts-wm'], 'hr-d' => ['agency-hr', 'probation-wm'],
            coord1 => ['coordinator'], op1 => ['operator']);
for my $u (sort keys %pw) {
    ($rc, $err) = web_adduser("$dir/users", $u, $pw{$u}, @{ $line{$u} });
    is($rc, 0, "adduser $u") or diag $err;
}
is((stat "$dir/users")[2] & 0777, 0600, 'the users file is mode 0600');
my $port = free_port();
open my $cf, '>', "$dir/web.conf" or die;
print $cf <<END;
# cohort-web for 80-web.t
[web]
listen = 127.0.0.1:$port
tls-cert = $dir/web.crt
tls-key = $dir/web.key
users = $dir/users

[cohortd]
publish = $d->{publish}
snapshot = $d->{snapshot}
server-key = $d->{data}/server.pub
key = $keys/web.key
END
close $cf;
($rc, my $out, $err) = run_cmd([bin('cohort-web'), '--check-config', '--config', "$dir/web.conf"]);
is($rc, 0, '--check-config passes') or diag $err;
my $wpid = fork() // die;
if (!$wpid) {
    open STDOUT, '>', "$dir/web.log" or die;
    open STDERR, '>&', \*STDOUT or die;
    exec bin('cohort-web'), '--config', "$dir/web.conf" or die;
}
sub weblog { open my $f, '<', "$dir/web.log" or return ''; local $/; <$f> // '' }
ok(wait_until(20, sub { weblog() =~ /ready: https/ }), 'cohort-web is ready') or BAIL_OUT(weblog());
ok(wait_until(20, sub { weblog() =~ /status feed: synced/ }), 'and synced with cohortd') or diag weblog();
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

# --- headers and the login form --------------------------------------------
{
    my ($c, $h, $b) = http('/login');
    is($c, 200, 'GET /login is 200');
    is($h->{'content-security-policy'}, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'", 'Content-Security-Policy');
    like($h->{'strict-transport-security'} // '', qr/^max-age=\d{7,}/, 'Strict-Transport-Security');
    is($h->{'x-content-type-options'}, 'nosniff', 'X-Content-Type-Options nosniff');
    is($h->{'referrer-policy'}, 'no-referrer', 'Referrer-Policy no-referrer');
    is($h->{'cache-control'}, 'no-store', 'Cache-Control no-store on pages');
    like($b, qr/<input[^>]*name="user"/, 'the form has a user field');
    like($b, qr/<input[^>]*name="password"[^>]*type="password"/, 'and a password field');
    like($b, qr/<button type="submit">/, 'and a submit button');
    unlike($b, qr/<script>|<style|style="|onclick=/i, 'no inline script or style');
    like($h->{'set-cookie-all'}, qr/__Host-cohort-login=[0-9a-f]{64}; Secure; HttpOnly; SameSite=Strict; Path=\//, 'login CSRF cookie set securely');
    ($c, $h) = http('/static/cohort-web.js');
    is($c, 200, 'the script is served by cohort-web');
    is($h->{'content-security-policy'}, "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'", '  with the headers too');
    ($c, $h) = http('/static/cohort-web.css');
    is($c, 200, 'the stylesheet is served');
    ($c, $h) = http('/cohort/it-80/c1');
    is($c, 303, 'a page without a session redirects');
    is($h->{location}, '/login', '  to /login');
    ($c) = http('/events');
    is($c, 401, '/events without a session is 401');
}
{
    my ($jar, $c, $h, $b) = login('board1', 'wrong password!');
    is($c, 401, 'a wrong password is refused');
    like($b, qr/Wrong user name or password/, '  saying so');
    unlike($h->{'set-cookie-all'}, qr/__Host-cohort=[0-9a-f]/, '  and no session cookie');
    ($jar, $c, $h, $b) = login('board1', $pw{board1}, nocsrf => 1);
    is($c, 403, 'a login without the CSRF token is refused, right password or not');
    unlike($h->{'set-cookie-all'}, qr/__Host-cohort=[0-9a-f]/, '  no session');
}

# --- every role against every page -----------------------------------------
# The figures of a page against the document: every data-figure cell.
sub unesc { my $s = shift; $s =~ s/&quot;/"/g; $s =~ s/&#39;/'/g; $s =~ s/&lt;/</g; $s =~ s/&gt;/>/g; $s =~ s/&amp;/&/g; $s }
sub figures_match {
    my ($body, $doc, $all) = @_;
    my ($n, @bad) = (0);
    while ($body =~ /(?:data-source="([^"]+)" )?data-figure="([^"]+)" data-value="([^"]*)"/g) {
        my ($src, $path, $raw) = ($1, $2, unesc($3));
        my $v = defined $src ? ($all // $docs)->{$src} : $doc;
        for my $k (split /\./, $path) { $v = ref $v eq 'ARRAY' ? $v->[$k] : $v->{$k} }
        my $got = JSON::PP->new->allow_nonref->decode($raw);
        my $same = (!defined $v && !defined $got) ||
                   (defined $v && defined $got && (ref $v && JSON::PP::is_bool($v) ? ($v ? 1 : 0) == ($got ? 1 : 0) : "$v" eq "$got" || ($v =~ /^[\d.]+$/ && $got =~ /^[\d.]+$/ && abs($v - $got) < 1e-9)));
        push @bad, "$path: page $raw, document " . (defined $v ? $v : 'null') unless $same;
        $n++;
    }
    return ($n, \@bad);
}
my @releases = map { "/$_" } sort grep { m{^release/} } keys %$docs;
ok(@releases >= 2, 'the daemon published releases: ' . join(' ', @releases));
my @all_pages = ('/', '/glossary', '/programme/it-80', '/cohort/it-80/c1', @releases,
                 map { "/agency/$_/it-80/c1" } @agencies);
my %scope = (
    board1 => { map { $_ => 1 } '/', '/glossary', '/programme/it-80', '/cohort/it-80/c1', @releases },
    coord1 => { map { $_ => 1 } '/', '/glossary', '/programme/it-80', '/cohort/it-80/c1', @releases },
    op1 => { map { $_ => 1 } @all_pages },
    'hr-a' => { map { $_ => 1 } '/', '/glossary', '/agency/wm-police/it-80/c1' },
    'hr-b' => { map { $_ => 1 } '/', '/glossary', '/agency/cps-wm/it-80/c1' },
    'hr-c' => { map { $_ => 1 } '/', '/glossary', '/agency/hmcts-wm/it-80/c1' },
    'hr-d' => { map { $_ => 1 } '/', '/glossary', '/agency/probation-wm/it-80/c1' },
);
my %own = ('hr-a' => 'wm-police', 'hr-b' => 'cps-wm', 'hr-c' => 'hmcts-wm', 'hr-d' => 'probation-wm');

# --- exports: the page's tables against the CSV and XLSX files --------------
# The cells of the table of section id on a page: per row its label and per
# cell {src, path, hidden, num}.
sub page_table {
    my ($body, $id) = @_;
    my ($sec) = $body =~ m{<section id="\Q$id\E"(.*?)</section>}s or return undef;
    my ($tbody) = $sec =~ m{<tbody>(.*?)</tbody>}s or return [];
    my @rows;
    for my $tr ($tbody =~ m{<tr[^>]*>(.*?)</tr>}gs) {
        my ($label) = $tr =~ m{<th scope="row"[^>]*>(.*?)</th>}s;
        my @cells;
        while ($tr =~ m{<td([^>]*)>(.*?)</td>}gs) {
            my ($attr, $text) = ($1, $2);
            my %c = (text => unesc($text), hidden => $attr =~ /hidden-cell/ ? 1 : 0, num => $attr =~ /class="num"/ ? 1 : 0);
            $c{src} = $1 if $attr =~ /data-source="([^"]+)"/;
            $c{path} = unesc($1) if $attr =~ /data-figure="([^"]+)"/;
            push @cells, \%c;
        }
        push @rows, { label => unesc($label // ''), cells => \@cells };
    }
    return \@rows;
}
sub resolve {
    my ($d, $path) = @_;
    for my $k (split /\./, $path) { return undef unless ref $d; $d = ref $d eq 'ARRAY' ? $d->[$k] : $d->{$k} }
    return $d;
}
# Whether x, exported for cell c, is right: "hidden" for a hidden cell and
# nothing else; a figure cell's number equal to the document's value (a
# count, a share as the fraction or a percentage, days as minutes / 480).
sub export_ok {
    my ($x, $c, $doc) = @_;
    $x //= '';
    return $x eq 'hidden' if $c->{hidden};
    return 0 if $x eq 'hidden';
    return 1 unless defined $c->{path};    # computed from published cells, or blank
    my $v = resolve(defined $c->{src} ? $docs->{ $c->{src} } : $doc, $c->{path});
    return $x !~ /\d/ if !defined $v;      # a null of a live document: words, no number
    return $x eq ($v ? 'Yes' : 'No') if JSON::PP::is_bool($v);
    return 1 unless $c->{num};              # text: a label of the value
    (my $n = $x) =~ s/%$//;
    my $pct = $n ne $x;
    return 0 unless $n =~ /^-?\d+(?:\.\d+)?(?:e-?\d+)?$/i;
    return abs($n - $v) < 1e-9 || ($pct && abs($n / 100 - $v) < 1e-9) || (!$pct && abs($n * 480 - $v) < 1e-6);
}
sub parse_csv {
    my ($text) = @_;
    my (@rows, @row);
    my ($f, $q) = ('', 0);
    my $i = 0;
    while ($i < length $text) {
        my $ch = substr($text, $i++, 1);
        if ($q) {
            if ($ch eq '"') { if (substr($text, $i, 1) eq '"') { $f .= '"'; $i++ } else { $q = 0 } }
            else { $f .= $ch }
        } elsif ($ch eq '"') { $q = 1 }
        elsif ($ch eq ',') { push @row, $f; $f = '' }
        elsif ($ch eq "\r") { }
        elsif ($ch eq "\n") { push @row, $f; push @rows, [@row]; @row = (); $f = '' }
        else { $f .= $ch }
    }
    push @rows, [@row, $f] if @row || length $f;
    return \@rows;
}
my %tables;    # page -> [section ids], as the operator (who sees every page) gets them
sub check_exports {
    my ($u, $p, $b, $jar, $in) = @_;
    my $topic = substr($p, 1);
    my @ids = @{ $tables{$p} // [] };
    my ($c, $h, $x) = http("/export/$topic.xlsx", jar => $jar);
    if (!$in) {
        my @codes = ($c, map { (http("/export/$topic/$_.csv", jar => $jar))[0] } @ids);
        is_deeply(\@codes, [(404) x @codes], "$u $p: out of scope, the XLSX and " . scalar(@ids) . ' CSV exports are 404');
        return;
    }
    is($c, 200, "$u $p: the XLSX export is 200");
    is($h->{'content-type'}, 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', "$u $p:   its type");
    (my $base = $topic) =~ s{/}{-}g;
    like($h->{'content-disposition'} // '', qr/^attachment; filename="\Q$base\E_\d{4}-\d\d-\d\d\.xlsx"$/, "$u $p:   an attachment with a dated name");
    ok(($h->{'content-security-policy'} // '') =~ /frame-ancestors 'none'/ && ($h->{'x-content-type-options'} // '') eq 'nosniff' &&
       ($h->{'cache-control'} // '') eq 'no-store' && ($h->{'strict-transport-security'} // '') =~ /max-age/, "$u $p:   with the security headers");
    my $t = tmpdir();
    open my $xf, '>', "$t/x.xlsx" or die; binmode $xf; print $xf $x; close $xf;
    my $wb = eval { Spreadsheet::ParseXLSX->new->parse("$t/x.xlsx") };
    ok($wb, "$u $p:   the XLSX reads back") or return;
    my @sheets = map { $_->get_name } $wb->worksheets;
    is_deeply(\@sheets, ['About', @ids], "$u $p:   a sheet per table of the page, in page order");
    my $doc = $docs->{$topic};
    my @bad;
    my ($nx, $ncsv, $nhid) = (0, 0, 0);
    for my $id (@ids) {
        my $rows = page_table($b, $id) // [];
        my $ws = $wb->worksheet($id);
        my ($cc, $ch, $csv) = http("/export/$topic/$id.csv", jar => $jar);
        push @bad, "$id.csv: HTTP $cc" if $cc != 200;
        push @bad, "$id.csv: type " . ($ch->{'content-type'} // '') unless ($ch->{'content-type'} // '') =~ m{^text/csv};
        push @bad, "$id.csv: disposition " . ($ch->{'content-disposition'} // '')
            unless ($ch->{'content-disposition'} // '') =~ /^attachment; filename="\Q${base}_${id}\E_\d{4}-\d\d-\d\d\.csv"$/;
        push @bad, "$id.csv: no CSP" unless ($ch->{'content-security-policy'} // '') =~ /default-src/;
        my $grid = parse_csv($csv);
        push @bad, "$id.csv: " . scalar(@$grid) . ' lines for ' . scalar(@$rows) . ' rows' if @$grid != @$rows + 1;
        for my $r (0 .. $#$rows) {
            my $row = $rows->[$r];
            push @bad, "$id.csv row $r: label '$grid->[$r + 1][0]'" if ($grid->[$r + 1][0] // '') ne $row->{label};
            push @bad, "$id sheet row $r: label" if !$ws || !$ws->get_cell($r + 2, 0) || $ws->get_cell($r + 2, 0)->unformatted ne $row->{label};
            for my $k (0 .. $#{ $row->{cells} }) {
                my $cell = $row->{cells}[$k];
                my $cv = $grid->[$r + 1][$k + 1];
                my $xc = $ws ? $ws->get_cell($r + 2, $k + 1) : undef;
                my $xv = $xc ? $xc->unformatted : undef;
                $ncsv++; $nx++; $nhid++ if $cell->{hidden};
                push @bad, "$id.csv $row->{label} col $k: '" . ($cv // '') . "' for " . ($cell->{path} // '-') unless export_ok($cv, $cell, $doc);
                push @bad, "$id.xlsx $row->{label} col $k: '" . ($xv // '') . "' for " . ($cell->{path} // '-') unless export_ok($xv, $cell, $doc);
            }
        }
    }
    is_deeply(\@bad, [], "$u $p: every exported cell (CSV $ncsv, XLSX $nx, $nhid hidden) equals the document's figure, hidden ones \"hidden\"");
    my ($c404) = http("/export/$topic/no-such-table.csv", jar => $jar);
    is($c404, 404, "$u $p: an unknown table's export is 404");
}
{
    my ($jar) = login('op1', $pw{op1});
    for my $p (grep { m{^/(programme|cohort|agency|release)/} } @all_pages) {
        my (undef, undef, $b) = http($p, jar => $jar);
        $tables{$p} = [$b =~ /<section id="([a-z0-9-]+)" aria-labelledby=/g];
    }
    ok((grep { @{ $tables{$_} } >= ($_ =~ /agency/ ? 1 : 3) } keys %tables) == keys %tables,
       'the operator sees the tables of every page: ' . join(' ', map { "$_: " . scalar @{ $tables{$_} } } sort keys %tables));
}
my %jar;
my (undef, undef, $nf_body) = http('/nothing-here');
for my $u (sort keys %scope) {
    my ($jar, $c, $h, $b) = login($u, $pw{$u});
    is($c, 303, "$u logs in");
    like($h->{'set-cookie-all'}, qr/__Host-cohort=[0-9a-f]{64}; Secure; HttpOnly; SameSite=Strict; Path=\//,
         '  session cookie __Host-, Secure, HttpOnly, SameSite=Strict');
    $jar{$u} = $jar;
    for my $p (@all_pages) {
        my ($c, $h, $b) = http($p, jar => $jar);
        my @others = $u eq 'op1' ? () : map { @{ $refs{$_} } } grep { !$own{$u} || $_ ne $own{$u} } @agencies;
        my @leak = grep { index($b, $_) >= 0 } @others;
        is_deeply(\@leak, [], "$u $p: no other agency's pseudonym");
        if (!$scope{$u}{$p}) {
            is($c, 404, "$u $p: out of scope, 404");
            check_exports($u, $p, $b, $jar, 0) if $p =~ m{^/(programme|cohort|agency|release)/};
            next;
        }
        is($c, 200, "$u $p: 200");
        is($h->{'cache-control'}, 'no-store', "$u $p: no-store");
        like($b, qr/<span id="live-state">/, "$u $p: has #live-state") unless $p eq '/glossary';
        (my $text = $b) =~ s/<[^>]*>//g;    # what is read: no attributes
        unlike($text, qr/\b(LINE_MANAGER_SUPPORTED|SUBSTANTIVE_PROMOTION|REMOVED_BY_BOARD|ENROLLED|AIM_[A-Z]+|CHINESE_OR_OTHER|[a-z_]+_minutes)\b/, "$u $p: no enum or field names in the text");
        if ($p =~ m{^/(programme|cohort|agency|release)/}) {
            my $doc = $docs->{ substr($p, 1) };
            my ($n, $bad) = figures_match($b, $doc);
            ok($n >= ($p =~ /agency|release/ ? 3 : 20), "$u $p: $n figures on the page");
            is_deeply($bad, [], "$u $p: every figure equals the status document's");
            like($b, qr/Figures as at <time datetime="\d{4}-\d\d-\d\dT/, "$u $p: figures as at");
            my $topic = substr($p, 1);
            ok(index($b, qq{<a href="/export/$topic.xlsx" download>}) >= 0, "$u $p: links to its XLSX export");
            my @csv = $b =~ m{<a href="/export/\Q$topic\E/([a-z0-9-]+)\.csv" download>}g;
            my @with_rows = grep { my $t = page_table($b, $_); $t && @$t } @{ $tables{$p} };
            is_deeply(\@csv, \@with_rows, "$u $p: and to each table's CSV export");
            my @charts = $b =~ /<svg class="chart" role="img" aria-labelledby="([a-z0-9-]+)-t \1-d"/g;
            my @desc = $b =~ /<desc id="[a-z0-9-]+-d">[^<]*\d/g;
            ok(@charts >= ($p =~ /agency/ ? 1 : 2) && @desc == @charts, "$u $p: " . scalar(@charts) . ' charts, each with a title and a description giving its figures');
            check_exports($u, $p, $b, $jar, 1);
        }
        if ($p =~ m{^/agency/}) {
            my @rows = $b =~ /<tr data-ref="([^"]+)"/g;
            is_deeply([sort @rows], [sort map { $_->{ref} } @{ $docs->{ substr($p, 1) }{people} }],
                      "$u $p: one row per person of the document");
        }
        if ($p =~ m{^/cohort/}) {
            like($b, qr/<svg class="chart" role="img" aria-labelledby="funnel-t funnel-d"/, "$u $p: funnel chart with a text alternative");
            my $ap = $docs->{'cohort/it-80/c1'}{funnel_reached}{participants}{reached}{APPLIED};
            like($b, qr/<desc id="funnel-d">Applied: $ap; Shortlisted: \d+; /, "$u $p: the description gives the figures");
        }
        if ($p eq '/') {
            my @links = $b =~ /<li><a href="\/((?:programme|cohort|release|agency)\/[^"]+)"/g;
            my @want = sort grep { $u eq 'op1' ? m{^(programme|cohort|release|agency)/} : $own{$u} ? m{^agency/\Q$own{$u}\E/} : m{^(programme|cohort|release)/} } keys %$docs;
            is_deeply([sort @links], \@want, "$u /: lists exactly the documents in scope");
        }
    }
    my ($c2, undef, $b2) = http('/agency/nobody/it-80/c1', jar => $jar);
    is($c2, 404, "$u: a page that does not exist is 404");
    if ($u ne 'op1') {
        my ($c3, undef, $b3) = http($own{$u} ? '/cohort/it-80/c1' : '/agency/wm-police/it-80/c1', jar => $jar);
        is($b3, $b2, "$u: an out-of-scope page is the same 404 page as one that does not exist");
    }
}

# --- live updates over Server-Sent Events ------------------------------------
{
    my %s;
    for my $u (qw(board1 hr-a hr-b)) {
        my $f = tmpdir() . "/sse";
        my $pid = fork() // die;
        if (!$pid) {
            open STDOUT, '>', $f or die;
            open STDERR, '>', '/dev/null' or die;
            exec 'curl', '-skN', '--max-time', '40', '-b', $jar{$u}, "$base/events" or die;
        }
        $s{$u} = { pid => $pid, file => $f };
    }
    my $read = sub { open my $fh, '<', $_[0] or return ''; local $/; <$fh> // '' };
    ok(wait_until(10, sub { !grep { $read->($s{$_}{file}) !~ /: connected/ } keys %s }), 'three event streams open');
    # an agent of agency A sends attendance of one of its people
    my @att = grep { $_->{agency} eq 'wm-police' } @{ attendance_events(20, 80) };
    my $t0 = time;
    my ($rc, $res) = send_as('agent-wm-police', [$att[0]]);
    is(join(',', map { $_->{result} } @$res), 'ACCEPTED', 'agency A sends an attendance record');
    ok(wait_until(15, sub { $read->($s{'hr-a'}{file}) =~ m{event: update\ndata: agency/wm-police/it-80/c1\n} }),
       'HR of agency A gets its agency topic live') or diag $read->($s{'hr-a'}{file});
    ok(wait_until(15, sub { $read->($s{board1}{file}) =~ m{event: update\ndata: cohort/it-80/c1\n} }),
       'the board gets the cohort topic live') or diag $read->($s{board1}{file});
    note sprintf 'live updates arrived within %.1f s', time - $t0;
    sleep 1;
    my $b = $read->($s{'hr-b'}{file});
    unlike($b, qr{data: (agency/wm-police|cohort/|programme/)}, 'HR of agency B gets nothing outside its scope');
    unlike($read->($s{board1}{file}), qr{data: agency/}, 'the board gets no agency topic');
    unlike($read->($s{'hr-a'}{file}), qr{data: (cohort|programme|release)/}, 'HR of agency A gets no board topic');
    # the page now shows the new figures
    my $new;
    ok(wait_until(10, sub { $new = docs(); $new->{'agency/wm-police/it-80/c1'} &&
        encode_json($new->{'agency/wm-police/it-80/c1'}) ne encode_json($docs->{'agency/wm-police/it-80/c1'}) }),
       'the agency document changed');
    my (undef, undef, $pg) = http('/agency/wm-police/it-80/c1', jar => $jar{'hr-a'});
    my ($n, $bad) = figures_match($pg, $new->{'agency/wm-police/it-80/c1'});
    is_deeply($bad, [], 'the agency page shows the new figures');
    # logout (below) ends a stream; stop the others
    kill 'TERM', $s{$_}{pid} for grep { $_ ne 'hr-b' } keys %s;
    waitpid($s{$_}{pid}, 0) for grep { $_ ne 'hr-b' } keys %s;
    $s{keep} = $s{'hr-b'};
    # --- logout: CSRF required; it ends the session and its stream --------------
    my (undef, undef, $home) = http('/', jar => $jar{'hr-b'});
    my ($csrf) = $home =~ /name="csrf" value="([0-9a-f]{64})"/;
    ok($csrf, 'pages carry the session CSRF token in the logout form');
    my ($c) = http('/logout', jar => $jar{'hr-b'}, data => 'x=1');
    is($c, 403, 'logout without the CSRF token is refused');
    ($c) = http('/', jar => $jar{'hr-b'});
    is($c, 200, '  and the session lives on');
    ($c) = http('/logout', jar => $jar{'hr-b'}, data => 'csrf=' . ('0' x 64));
    is($c, 403, 'a wrong CSRF token is refused too');
    ($c) = http('/logout', jar => $jar{'hr-b'}, data => "csrf=$csrf");
    is($c, 303, 'logout with the token');
    ($c) = http('/agency/cps-wm/it-80/c1', jar => $jar{'hr-b'});
    is($c, 303, '  after which pages redirect to the login');
    ok(defined wait_exit($s{keep}{pid}, 10), 'and the open event stream ends');
}

# --- rate limit (last: it locks this address out) ---------------------------
{
    my @codes;
    for my $i (1 .. 5) { my (undef, $c) = login('hr-a', "not the password $i"); push @codes, $c }
    is($codes[-1], 429, 'repeated failures: refused with 429') or diag "@codes";
    my (undef, $c, undef, $b) = login('hr-a', $pw{'hr-a'});
    is($c, 429, 'then even the right password is refused for a while');
    like($b, qr/Too many failed logins/, '  saying so');
}

kill 'TERM', $wpid;
my $st = wait_exit($wpid, 15);
is($st, 0, 'cohort-web stops cleanly on SIGTERM') or diag weblog();
unlike(weblog(), qr/\Q$pw{board1}\E|\Q$pw{'hr-a'}\E/, 'no password in the log');
is(stop_daemon($d), 0, 'cohortd stops cleanly');
done_testing();
