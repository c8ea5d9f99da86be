#!/usr/bin/perl
# 64-package.t: the Debian package. An integration test, heavier than most
# (it strips and packages the whole build: 3 s here for a release build, 8 s
# under ASan; cpack's timeout is 300 s): it runs
#   cpack -G DEB --config $COHORT_BUILD/CPackConfig.cmake -B TMP
# on the build directory under test (cpack first brings the build up to
# date, as `make package` does), then checks the .deb:
# - dpkg-deb -c: every program under usr/bin (mode 0755), the systemd units
#   under lib/systemd/system, the sysusers.d entry, /etc/cohortd/cohortd.conf,
#   the example agent and cohort-web configs, a man page usr/share/man/manN/NAME.N.gz for
#   every docs/man/NAME.N.md, usr/share/doc/cohortd/copyright, README.md
#   and every docs/*.md (at least protocol, operations, security,
#   reliability, status, performance) in usr/share/doc/cohortd, all owned by
#   root, and nothing else;
# - dpkg-deb -I: name, version (project() in CMakeLists.txt, release 1),
#   maintainer, section, the conffile /etc/cohortd/cohortd.conf, and Depends
#   with the shared libraries (libzmq5, librocksdb, libuv1, libprotobuf-c1,
#   libsodium, libjansson, libcsv, libinih, libmicrohttpd, libsystemd0,
#   libuuid1, libc6) and the sysusers provider;
# - the maintainer scripts postinst, prerm, postrm: mode 0755, #!/bin/sh,
#   pass `sh -n`;
# - unpacked (dpkg-deb -x): every program answers --version with the
#   package's version; every man page is valid gzip with the right .TH
#   line, and every cohort*(N) page it refers to is in the package; the
#   copyright file is machine-readable (DEP-5: Format, Files: *, a
#   Copyright and a License whose text is docs/LICENSE's), and the docs are
#   the source's files unchanged; the
#   units' ExecStart programs, --config file and man: Documentation= pages
#   are in the package, and their User= accounts are made by the sysusers
#   entry; cohortd --check-config accepts the packaged
#   /etc/cohortd/cohortd.conf;
# - the maintainer scripts really run (as root, only where unshare(1) can
#   mount an overlay on /etc in a private mount namespace, so the host's
#   /etc is never touched; skipped otherwise): postinst configure makes the
#   cohortd and cohort-agent users, /etc/cohortd/server.key (cohortd:cohortd
#   0600, a key pair matching server.pub, which is 0644 even under umask
#   077) and the access file (root:cohortd
#   0640, comments only), with which cohortd, run as user cohortd with the
#   packaged config, starts; run again (an upgrade) it changes no file and
#   restarts the running services (systemctl is a stand-in that logs), but
#   not cohortd if its config fails --check-config; prerm remove stops them;
#   postrm remove keeps the keys; postrm purge deletes the keys and access
#   file but not an operator's other files.
# Run alone: COHORT_BUILD=build prove -v tests/integration/64-package.t
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use File::Basename qw(dirname basename);
use Time::HiRes qw(time);

my $t0 = time;
my $root = repo_root();
my $build = dirname(bin('cohortd'));
my @programs = qw(cohortd cohortctl cohort-agent cohort-watch cohort-bench cohort-web);
my @units = ('cohortd.service', 'cohort-agent@.service', 'cohort-web.service', 'cohort-web-report.service',
             'cohort-web-report.timer');

sub slurp { my ($p) = @_; open my $f, '<', $p or return undef; local $/; my $t = <$f>; $t }

for my $tool (qw(cpack dpkg-deb dpkg-shlibdeps file gzip)) {
    ok((grep { -x "$_/$tool" } split /:/, $ENV{PATH}), "$tool is installed")
        or BAIL_OUT("$tool is missing: run .ci/setup");
}
ok(-f "$build/CPackConfig.cmake", "the build dir has CPackConfig.cmake") or BAIL_OUT("configure $build first");

my ($project_version) = (slurp("$root/CMakeLists.txt") // '') =~ /^project\(cohortd\s+VERSION\s+(\S+)/m;
ok($project_version, "project() version in CMakeLists.txt: " . ($project_version // 'none'));
my $version = "$project_version-1";

# ---- build the package ------------------------------------------------------
my $tmp = tmpdir();
my ($rc, $out, $err) = run_cmd(['cpack', '-G', 'DEB', '--config', "$build/CPackConfig.cmake",
                                '-B', "$tmp/out"], timeout => 300);
is($rc, 0, 'cpack -G DEB succeeds') or diag("$out\n$err");
my @debs = glob("$tmp/out/*.deb");
is(scalar(@debs), 1, 'it makes one .deb') or BAIL_OUT('no package: ' . join(' ', @debs));
my $deb = $debs[0];
like(basename($deb), qr/^cohortd_\Q$version\E_[a-z0-9]+\.deb$/, "named cohortd_${version}_ARCH.deb");

# ---- contents: dpkg-deb -c --------------------------------------------------
($rc, $out, $err) = run_cmd(['dpkg-deb', '-c', $deb]);
is($rc, 0, 'dpkg-deb -c reads it') or diag($err);
my %entry;    # path without the leading "./" => { mode, owner }
for my $l (split /\n/, $out) {
    my ($mode, $owner, $path) = $l =~ m{^(\S+)\s+(\S+)\s+\d+\s+\S+\s+\S+\s+\./(.*?)(?: -> .*)?$} or next;
    $path =~ s{/$}{};
    $entry{$path} = { mode => $mode, owner => $owner } if length $path;
}
my @expected = ((map { "usr/bin/$_" } @programs), (map { "lib/systemd/system/$_" } @units),
                'usr/lib/sysusers.d/cohortd.conf', 'etc/cohortd/cohortd.conf',
                'usr/share/doc/cohortd/examples/cohort-agent.conf',
                'usr/share/doc/cohortd/examples/cohort-web.conf');
my $docdir = 'usr/share/doc/cohortd';
my @docs = ('README.md', map { basename($_) } glob("$root/docs/*.md"));
for my $d (qw(protocol operations security reliability status performance)) {
    ok((grep { $_ eq "$d.md" } @docs), "docs/$d.md exists, to be shipped");
}
push @expected, "$docdir/copyright", map { "$docdir/$_" } @docs;
my @pages = map { basename($_, '.md') } glob("$root/docs/man/*.md");
ok(scalar(@pages) >= 3, 'docs/man has man page sources: ' . join(' ', @pages));
for my $p (@pages) {
    my ($sec) = $p =~ /\.(\d)$/;
    push @expected, "usr/share/man/man$sec/$p.gz";
}
for my $f (@expected) {
    ok($entry{$f} && $entry{$f}{mode} =~ /^-/, "the package has /$f");
}
for my $p (@programs) {
    is($entry{"usr/bin/$p"}{mode} // '', '-rwxr-xr-x', "/usr/bin/$p is mode 0755");
}
my %allowed = map { $_ => 1 } @expected;
for my $f (@expected) { my $d = $f; $allowed{$d} = 1 while ($d =~ s{/[^/]+$}{}) }
my @extra = grep { !$allowed{$_} } sort keys %entry;
is_deeply(\@extra, [], 'and nothing else (no test tools, no build paths)');
my @notroot = grep { $entry{$_}{owner} ne 'root/root' } sort keys %entry;
is_deeply(\@notroot, [], 'every file is owned by root/root');

# ---- control: dpkg-deb -I ---------------------------------------------------
($rc, $out, $err) = run_cmd(['dpkg-deb', '-I', $deb]);
is($rc, 0, 'dpkg-deb -I reads it') or diag($err);
my %ctl;
$ctl{$1} = $2 while $out =~ /^ (\S+): (.*)$/mg;
is($ctl{Package}, 'cohortd', 'Package: cohortd');
is($ctl{Version}, $version, "Version: $version");
like($ctl{Maintainer} // '', qr/^\S.* <[^@\s]+@[^@\s]+>$/, 'Maintainer: Name <email>');
ok($ctl{Section} && $ctl{Priority}, "Section: $ctl{Section}, Priority: $ctl{Priority}");
like($out, qr/^ Description: \S.*\n(?:  \S.*\n)+/m, 'a Description with an extended text');
my $dep = $ctl{Depends} // '';
for my $lib (qw(libzmq5 librocksdb libuv1 libprotobuf-c1 libsodium libjansson libcsv libinih
                 libmicrohttpd libsystemd0 libuuid1 libc6)) {
    like($dep, qr/(?:^|, )\Q$lib\E[\d.]*(?: \(|,|$)/, "Depends on $lib");
}
like($dep, qr/(^|, )systemd \| [^,]*systemd-sysusers/, 'Depends on a systemd-sysusers provider');
($rc, $out) = run_cmd(['dpkg-deb', '-I', $deb, 'conffiles']);
is($out, "/etc/cohortd/cohortd.conf\n", 'conffiles: /etc/cohortd/cohortd.conf');

my $ctrl = "$tmp/control";
($rc, $out, $err) = run_cmd(['dpkg-deb', '-e', $deb, $ctrl]);
is($rc, 0, 'dpkg-deb -e extracts the control area') or diag($err);
for my $s (qw(postinst prerm postrm)) {
    my @st = stat "$ctrl/$s";
    is(@st ? sprintf('%04o', $st[2] & 07777) : 'missing', '0755', "$s is there, mode 0755");
    like(slurp("$ctrl/$s") // '', qr{\A#!/bin/sh\n}, "$s starts with #!/bin/sh");
    ($rc, $out, $err) = run_cmd(['sh', '-n', "$ctrl/$s"]);
    is($rc, 0, "$s passes sh -n") or diag($err);
}

# ---- the unpacked package ---------------------------------------------------
my $x = "$tmp/root";
($rc, $out, $err) = run_cmd(['dpkg-deb', '-x', $deb, $x]);
is($rc, 0, 'dpkg-deb -x unpacks it') or diag($err);
for my $p (@programs) {
    ($rc, $out, $err) = run_cmd(["$x/usr/bin/$p", '--version']);
    is($rc, 0, "unpacked $p --version exits 0") or diag($err);
    like($out, qr/^\Q$p $project_version\E$/m, "and prints '$p $project_version'");
}
for my $p (@pages) {
    my ($name, $sec) = $p =~ /^(.*)\.(\d)$/;
    ($rc, $out, $err) = run_cmd(['gzip', '-dc', "$x/usr/share/man/man$sec/$p.gz"]);
    is($rc, 0, "$p.gz is valid gzip") or diag($err);
    like($out, qr/^\.TH \Q$name\E \Q$sec\E .*\Q$project_version\E/m, "$p has its .TH line with the version");
    (my $text = $out) =~ s/\\f(?:\[[^]]*\]|\(..|.)//g;    # font changes out: \fBcohortd\fP(8)
    my %refs;
    $refs{"$1($2)"} = "usr/share/man/man$2/$1.$2.gz" while $text =~ /\b(cohort[\w.\@-]*)\((\d)\)/g;
    my @missing = grep { !$entry{ $refs{$_} } } sort keys %refs;
    is_deeply(\@missing, [], "$p: every cohort page it refers to is in the package")
        or diag('missing: ' . join(' ', @missing));
}
# The copyright file (Debian policy 12.5) in the machine-readable format
# (DEP-5), with the licence text of docs/LICENSE.
my $copyright = slurp("$x/$docdir/copyright") // '';
like($copyright, qr{\AFormat: https://www\.debian\.org/doc/packaging-manuals/copyright-format/1\.0/\n},
     'copyright: DEP-5 Format line first');
like($copyright, qr/^Upstream-Name: cohortd$/m, 'copyright: Upstream-Name: cohortd');
my @para = split /\n\n+/, $copyright;
my ($files) = grep { /^Files: \*$/m } @para;
like($files // '', qr/^Copyright: \d{4}.*\S/m, 'copyright: a Files: * paragraph with a Copyright');
my ($lic) = ($files // '') =~ /^License: (\S+)$/m;
ok($lic, 'and a License: ' . ($lic // 'none'));
$lic //= '-';
my ($text) = grep { /\ALicense: \Q$lic\E\n/ } @para;
ok($text, "copyright: a stand-alone License: $lic paragraph with its text") and do {
    (my $body = $text) =~ s/\ALicense: .*\n//;
    $body =~ s/^ \.$//mg;
    $body =~ s/^ //mg;
    my ($want) = (slurp("$root/docs/LICENSE") // '') =~ /^(Permission is hereby granted.*)\z/ms;
    s/\s+\z/\n/ for $body, $want;
    is($body, $want, 'whose text is the licence of docs/LICENSE');
};
my ($holder) = (slurp("$root/docs/LICENSE") // '') =~ /^Copyright \(c\) (.*)$/m;
$holder //= '-';
like($files // '', qr/^Copyright: \Q$holder\E$/m, "copyright: Copyright: $holder, as in docs/LICENSE");
for my $d (@docs) {
    my $src = $d eq 'README.md' ? "$root/README.md" : "$root/docs/$d";
    is(slurp("$x/$docdir/$d") // '', slurp($src), "/$docdir/$d is the source's $d");
}
my $sysusers = slurp("$x/usr/lib/sysusers.d/cohortd.conf") // '';
my %sysuser = map { $_ => 1 } $sysusers =~ /^\s*u\s+(\S+)/mg;
for my $u (grep { /\.service$/ } @units) {    # (a timer starts its service)
    my $text = slurp("$x/lib/systemd/system/$u") // '';
    my ($exec) = $text =~ /^ExecStart=[-\@:+!]*(\S+)/m;
    ok($exec && -x "$x$exec", "$u: ExecStart program " . ($exec // 'none') . ' is in the package');
    my ($user) = $text =~ /^User=(\S+)/m;
    ok($user && $sysuser{$user}, "$u: User=" . ($user // 'none') . ' is made by the sysusers entry');
    for my $doc ($text =~ /^Documentation=(.*)$/mg) {
        for my $page ($doc =~ /\bman:([^\s()]+\(\d\))/g) {
            my ($n, $sec) = $page =~ /^(.*)\((\d)\)$/;
            ok($entry{"usr/share/man/man$sec/$n.$sec.gz"}, "$u: Documentation=man:$page is in the package");
        }
    }
}
my ($conf) = (slurp("$x/lib/systemd/system/cohortd.service") // '') =~ /^ExecStart=.*--config[= ](\S+)/m;
is($conf, '/etc/cohortd/cohortd.conf', 'cohortd.service reads /etc/cohortd/cohortd.conf');
ok($conf && -f "$x$conf", 'which the package installs');
($rc, $out, $err) = run_cmd(["$x/usr/bin/cohortd", '--check-config', '--config', "$x/etc/cohortd/cohortd.conf"]);
is($rc, 0, 'cohortd --check-config accepts the packaged cohortd.conf') or diag("$out\n$err");

# ---- the maintainer scripts, in a private mount namespace ---------------------
my $NS_TESTS = 23;
SKIP: {
    skip 'running the maintainer scripts needs root (an overlay on /etc)', $NS_TESTS if $> != 0;
    my $ovl = "$tmp/ovl";
    mkdir "$ovl$_" or die "$ovl$_: $!" for ('', '/upper', '/work', '/bin');
    chmod 0755, $tmp, $ovl or die;    # user cohortd reaches $ovl/run
    my $mount = "mount -t overlay overlay -o lowerdir=/etc,upperdir=$ovl/upper,workdir=$ovl/work /etc";
    ($rc, $out, $err) = run_cmd(['unshare', '-m', 'sh', '-c', "mount --make-rprivate / && $mount && echo mounted"]);
    skip "cannot mount an overlay on /etc in a mount namespace: $err", $NS_TESTS
        unless $rc == 0 && $out =~ /mounted/;
    system('rm', '-rf', "$ovl/upper", "$ovl/work") == 0 or die;
    mkdir "$ovl$_" or die for ('/upper', '/work');

    # Stand-ins for systemctl and deb-systemd-invoke: they log their
    # arguments; `systemctl list-units` answers that cohortd and one agent
    # instance run.
    my $calls = "$ovl/calls";
    for my $tool (qw(systemctl deb-systemd-invoke)) {
        open my $f, '>', "$ovl/bin/$tool" or die;
        print $f "#!/bin/sh\necho \"$tool \$*\" >> $calls\n"
               . "case \"\$*\" in *list-units*) printf '%s\\n' "
               . "'cohortd.service loaded active running cohortd' "
               . "'cohort-agent\@wm-police.service loaded active running agent';; esac\nexit 0\n";
        close $f;
        chmod 0755, "$ovl/bin/$tool" or die;
    }

    # Inside: /etc is an overlay (writes go to $ovl/upper) holding what dpkg
    # would have unpacked (cohortd.conf, the sysusers entry, found by name in
    # /etc/sysusers.d); /run/systemd is a tmpfs with system/ (so the scripts
    # believe systemd runs, and talk to the stand-ins); the unpacked
    # programs come next in PATH. Each step logs "== STEP" to the calls
    # file, prints "STEP rc=N" and facts as "STEP.key=value" lines.
    my $script = <<"EOF";
set -u
umask 022
mount --make-rprivate / || exit 90
$mount || exit 91
mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/system || exit 92
export PATH="$ovl/bin:$x/usr/bin:\$PATH"
mkdir -p /etc/sysusers.d /etc/cohortd
cp "$x/usr/lib/sysusers.d/cohortd.conf" /etc/sysusers.d/cohortd.conf
cp "$x/etc/cohortd/cohortd.conf" /etc/cohortd/cohortd.conf
facts() {
  for u in cohortd cohort-agent; do echo "user.\$u=\$(getent passwd \$u | cut -d: -f1,7)"; done
  for f in server.key server.pub access; do
    echo "stat.\$f=\$(stat -c '%U:%G %a' /etc/cohortd/\$f 2>/dev/null || echo missing)"
    echo "sum.\$f=\$(md5sum < /etc/cohortd/\$f 2>/dev/null | cut -c1-32)"
  done
  echo "keypub=\$(sed -n 's/^public-key = //p' /etc/cohortd/server.key 2>/dev/null)"
  echo "pubpub=\$(sed -n 's/^public-key = //p' /etc/cohortd/server.pub 2>/dev/null)"
  echo "secret=\$(grep -c '^secret-key = ' /etc/cohortd/server.key 2>/dev/null)"
  echo "access.noncomment=\$(grep -vc '^#' /etc/cohortd/access 2>/dev/null)"
  echo "access.comment=\$(grep -c '^#' /etc/cohortd/access 2>/dev/null)"
  echo "other=\$(ls /etc/cohortd/agent-x.conf 2>/dev/null)"
}
step() {
  name=\$1; shift
  echo "== \$name" >> $calls
  sh "\$@" > $ovl/\$name.out 2>&1; echo "\$name rc=\$?"
  facts | sed "s/^/\$name./"
}
# A strict umask (as root's may be): the modes below must not depend on it.
umask 077
step install $ctrl/postinst configure ''
umask 022
# The daemon as the service runs it (user cohortd, the packaged config with
# the keys the postinst made), but with its data and endpoints here.
mkdir $ovl/run && chown cohortd:cohortd $ovl/run
setpriv --reuid=cohortd --regid=cohortd --init-groups env COHORTD_CONFIG= \\
  cohortd --config /etc/cohortd/cohortd.conf --data-dir $ovl/run/data --ingest ipc://$ovl/run/in \\
  --publish ipc://$ovl/run/pub --snapshot ipc://$ovl/run/snap --control none --metrics none \\
  > $ovl/daemon.log 2>&1 &
pid=\$!
i=0
while [ \$i -lt 300 ] && kill -0 \$pid 2>/dev/null && ! grep -q 'ready:' $ovl/daemon.log; do
  sleep 0.1; i=\$((i + 1))
done
grep -q 'ready:' $ovl/daemon.log && echo "daemon.ready=1"
kill -TERM \$pid 2>/dev/null; wait \$pid; echo "daemon.exit=\$?"
step upgrade $ctrl/postinst configure '$version'
cp /etc/cohortd/cohortd.conf /etc/cohortd/cohortd.conf.good
echo 'no_such_option = 1' >> /etc/cohortd/cohortd.conf
step badconf $ctrl/postinst configure '$version'
mv /etc/cohortd/cohortd.conf.good /etc/cohortd/cohortd.conf
echo '# an operator file' > /etc/cohortd/agent-x.conf
step prerm $ctrl/prerm remove
rm /etc/cohortd/cohortd.conf
step remove $ctrl/postrm remove
step purge $ctrl/postrm purge
EOF
    ($rc, $out, $err) = run_cmd(['unshare', '-m', 'sh', '-c', $script], timeout => 60);
    is($rc, 0, 'the namespace script ran') or diag("$out\n$err");
    my %f = $out =~ /^(\S+?)=(.*)$/mg;
    my %step = $out =~ /^(\S+) rc=(\d+)$/mg;
    my %called;
    my $cur = '';
    for my $l (split /\n/, slurp($calls) // '') {
        if ($l =~ /^== (\S+)$/) { $cur = $1; $called{$cur} = []; next }
        push @{ $called{$cur} }, $l unless $l =~ /list-units/;
    }
    is_deeply([@step{qw(install upgrade badconf prerm remove purge)}], [0, 0, 0, 0, 0, 0],
              'postinst configure (install, upgrade, upgrade with a bad config), prerm remove, '
              . 'postrm remove and purge exit 0')
        or diag($out . join('', map { "$_: " . (slurp("$ovl/$_.out") // '') } qw(install upgrade)));
    like($f{'install.user.cohortd'} // '', qr/^cohortd:\S*nologin$/, 'install: user cohortd made, no login shell');
    is(($f{'daemon.ready'} // 0) . ' ' . ($f{'daemon.exit'} // '?'), '1 0',
       'cohortd runs as user cohortd with the packaged config and the keys the postinst made')
        or diag(slurp("$ovl/daemon.log"));
    like($f{'install.user.cohort-agent'} // '', qr/^cohort-agent:/, 'install: user cohort-agent made');
    is($f{'install.stat.server.key'}, 'cohortd:cohortd 600', 'install: server.key is cohortd:cohortd 0600');
    is($f{'install.stat.server.pub'}, 'root:root 644', 'install: server.pub is root:root 0644');
    ok(length($f{'install.keypub'} // '') == 40 && ($f{'install.keypub'} // '') eq ($f{'install.pubpub'} // '')
       && ($f{'install.secret'} // '') eq '1', 'install: server.key holds a secret key and the public key of server.pub');
    is($f{'install.stat.access'}, 'root:cohortd 640', 'install: access is root:cohortd 0640');
    ok(($f{'install.access.comment'} // 0) > 0 && ($f{'install.access.noncomment'} // '') eq '0',
       'install: access has a comment header and no keys');
    is_deeply($called{install}, ['systemctl --system daemon-reload'],
              'install: systemd reloads; nothing is enabled, started or restarted');
    is_deeply([@f{map { "upgrade.$_" } qw(sum.server.key sum.server.pub sum.access stat.server.key stat.access)}],
              [@f{map { "install.$_" } qw(sum.server.key sum.server.pub sum.access stat.server.key stat.access)}],
              'upgrade: keys and access file unchanged');
    is_deeply($called{upgrade}, ['systemctl --system daemon-reload', 'deb-systemd-invoke try-restart cohortd.service',
                                 'deb-systemd-invoke try-restart cohort-agent@wm-police.service'],
              'upgrade: systemd reloads, running cohortd and agent instances are restarted');
    is_deeply($called{badconf}, ['systemctl --system daemon-reload',
                                 'deb-systemd-invoke try-restart cohort-agent@wm-police.service'],
              'upgrade with a config that fails --check-config: cohortd is not restarted');
    like(slurp("$ovl/badconf.out") // '', qr/not restarted/, 'and the postinst says so');
    is_deeply($called{prerm}, ['deb-systemd-invoke stop cohortd.service',
                               'deb-systemd-invoke stop cohort-agent@wm-police.service'],
              'prerm remove: cohortd and the agent instances are stopped');
    is($f{'remove.sum.server.key'}, $f{'install.sum.server.key'}, 'remove: server.key kept');
    is($f{'remove.sum.access'}, $f{'install.sum.access'}, 'remove: access kept');
    is($f{'purge.stat.server.key'}, 'missing', 'purge: server.key deleted');
    is($f{'purge.stat.server.pub'}, 'missing', 'purge: server.pub deleted');
    is($f{'purge.stat.access'}, 'missing', 'purge: access deleted');
    is($f{'purge.other'}, '/etc/cohortd/agent-x.conf', "purge: an operator's own file in /etc/cohortd kept");
    is_deeply($called{purge}, ['systemctl --system daemon-reload'], 'purge: systemd reloads');
}
ok(!-e "/etc/cohortd/agent-x.conf", "the host's /etc was not touched");

diag(sprintf('64-package.t took %.1f s', time - $t0));
done_testing();
