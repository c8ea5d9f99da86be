#!/usr/bin/perl
# cohortctl keygen NAME: writes NAME.key (public and secret key, mode 0600
# whatever the umask) and NAME.pub (public key), as 'public-key = Z85' and
# 'secret-key = Z85' lines with valid 40-character Z85 keys; the two files
# and the printed key agree; every run makes a new key; it never overwrites
# (either file existing, even as a dangling symlink, refuses and creates
# nothing) and exits 1 then, 2 on a usage error. (That the secret key makes
# the public key is checked in the unit test t_auth with zmq_curve_public.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;

my $Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#';
my %IDX;
@IDX{ split //, $Z85 } = 0 .. 84;

# 1 if $k is 40 characters of canonical Z85 (every 5-character group below
# 2^32), i.e. decodes to 32 bytes.
sub z85_ok {
    my ($k) = @_;
    return 0 unless defined $k && length($k) == 40;
    for my $g (0 .. 7) {
        my $v = 0;
        for my $c (split //, substr($k, $g * 5, 5)) {
            return 0 unless exists $IDX{$c};
            $v = $v * 85 + $IDX{$c};
        }
        return 0 if $v > 0xffffffff;
    }
    return 1;
}

sub slurp { my ($p) = @_; open my $f, '<', $p or return undef; local $/; my $t = <$f>; $t }
sub mode_of { my @s = lstat $_[0]; @s ? sprintf('%04o', $s[2] & 07777) : 'none' }

# name => value of the 'name = value' lines; dies on anything else.
sub fields {
    my ($text) = @_;
    my %f;
    for my $l (split /\n/, $text // '') {
        next if $l =~ /^\s*(#|$)/;
        $l =~ /^(public-key|secret-key) = (\S{40})$/ or return { bad => $l };
        $f{$1} = $2;
    }
    return \%f;
}

my $dir = tmpdir();
my $kg = sub { run_cmd([bin('cohortctl'), 'keygen', @_]) };

# ---- a keypair, under the usual umask -----------------------------------
umask 022;
my ($rc, $out, $err) = $kg->("$dir/wm-police");
is($rc, 0, 'keygen exits 0') or diag($err);
is(mode_of("$dir/wm-police.key"), '0600', 'NAME.key has mode 0600');
is(mode_of("$dir/wm-police.pub"), '0644', 'NAME.pub has mode 0644');
my $key = fields(slurp("$dir/wm-police.key"));
my $pub = fields(slurp("$dir/wm-police.pub"));
ok(!$key->{bad} && !$pub->{bad}, 'both files hold only comments and key lines');
ok(z85_ok($key->{'secret-key'}), 'NAME.key has a valid Z85 secret key');
ok(z85_ok($key->{'public-key'}), 'NAME.key has a valid Z85 public key');
ok(z85_ok($pub->{'public-key'}) && !exists $pub->{'secret-key'},
   'NAME.pub has a valid Z85 public key and no secret');
is($key->{'public-key'}, $pub->{'public-key'}, 'the two files have the same public key');
isnt($key->{'secret-key'}, $key->{'public-key'}, 'the secret key is not the public key');
like($out, qr/^public-key = \Q$pub->{'public-key'}\E$/m, 'keygen prints the public key');
unlike($out . $err, qr/\Q$key->{'secret-key'}\E/, 'and never the secret key');

# ---- umask 0 does not widen the secret file -----------------------------
umask 0;
($rc, $out, $err) = $kg->("$dir/board");
is($rc, 0, 'keygen under umask 0 exits 0');
is(mode_of("$dir/board.key"), '0600', 'NAME.key is still 0600 under umask 0');
umask 022;
my $other = fields(slurp("$dir/board.key"));
ok(z85_ok($other->{'secret-key'}) && $other->{'secret-key'} ne $key->{'secret-key'}
   && $other->{'public-key'} ne $key->{'public-key'}, 'a second keygen makes a different keypair');

# ---- never overwrites ---------------------------------------------------
my ($before_key, $before_pub) = (slurp("$dir/wm-police.key"), slurp("$dir/wm-police.pub"));
($rc, $out, $err) = $kg->("$dir/wm-police");
is($rc, 1, 'keygen on an existing NAME exits 1');
like($err, qr/wm-police\.key exists; refusing to overwrite/, 'and says which file exists');
is(slurp("$dir/wm-police.key"), $before_key, 'NAME.key is unchanged');
is(slurp("$dir/wm-police.pub"), $before_pub, 'NAME.pub is unchanged');

unlink "$dir/wm-police.key";
($rc, $out, $err) = $kg->("$dir/wm-police");
is($rc, 1, 'keygen exits 1 when only NAME.pub exists');
like($err, qr/wm-police\.pub exists/, 'naming it');
ok(!-e "$dir/wm-police.key", 'and creates no NAME.key');
is(slurp("$dir/wm-police.pub"), $before_pub, 'NAME.pub is unchanged');

symlink("$dir/elsewhere", "$dir/linked.key") or die "symlink: $!";
($rc, $out, $err) = $kg->("$dir/linked");
is($rc, 1, 'keygen exits 1 when NAME.key is a dangling symlink');
ok(!-e "$dir/elsewhere" && !-e "$dir/linked.pub", 'and writes nothing through it, nor NAME.pub');

# ---- failures and usage -------------------------------------------------
($rc, $out, $err) = $kg->("$dir/no-such-dir/x");
is($rc, 1, 'keygen into a missing directory exits 1');
like($err, qr/no-such-dir\/x\.key: No such file or directory/, 'naming the file and why');
ok(!-e "$dir/no-such-dir", 'and creates nothing');
($rc, $out, $err) = $kg->();
is($rc, 2, 'keygen without NAME is a usage error (2)');
like($err, qr/keygen needs a NAME/, 'saying what is missing');
($rc) = $kg->("$dir/a", "$dir/b");
is($rc, 2, 'keygen with two names is a usage error (2)');
ok(!-e "$dir/a.key", 'and writes nothing');
($rc, $out) = run_cmd([bin('cohortctl'), '--help']);
like($out, qr/^  keygen NAME/m, '--help documents keygen');

done_testing();
