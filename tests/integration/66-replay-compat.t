#!/usr/bin/perl
# Replay compatibility (issue 18, "Done means"): a log written by an older
# build gives the same documents for every figure that already existed.
#
# Each fixture under data/compat-*/ was recorded once, by
# tests/tools/record-compat, from the examples of its day: backup/ is the
# store as that build wrote it (`cohortctl backup`), documents.jsonl every
# status document it published (topic and doc; the envelope's rev and seq
# are publication counters, not figures). This test restores the store with
# today's cohortctl, starts today's daemon on it, and checks that:
# - every recorded topic is published again, and in every recorded
#   document each value is still there, equal, at the same place (new
#   fields may be added; none may change or go);
# - the whole log replays (cohortctl rebuild: fresh projections from
#   sequence 1, compared with the live documents) to exactly what the
#   daemon publishes, so the live figures are the replay's and not only a
#   checkpoint's;
# - the log still verifies (cohortctl verify).
# Never re-record a fixture: record a new one when the examples change.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use JSON::PP;

# Where new differs from old: the paths of old values that new lacks or
# changed ("" when new holds all of old).
sub missing {
    my ($old, $new, $path) = @_;
    my @d;
    if (ref $old eq 'HASH') {
        return ("$path: an object became " . (ref $new || 'a scalar')) unless ref $new eq 'HASH';
        for my $k (sort keys %$old) {
            if (!exists $new->{$k}) { push @d, "$path/$k: gone"; next }
            push @d, missing($old->{$k}, $new->{$k}, "$path/$k");
        }
    } elsif (ref $old eq 'ARRAY') {
        return ("$path: an array became " . (ref $new || 'a scalar')) unless ref $new eq 'ARRAY';
        return ("$path: " . scalar(@$old) . ' entries became ' . scalar(@$new)) if @$old != @$new;
        push @d, missing($old->[$_], $new->[$_], "$path/$_") for 0 .. $#$old;
    } else {
        my $same = !defined $old               ? !defined $new
                 : JSON::PP::is_bool($old)     ? JSON::PP::is_bool($new) && !!$old == !!$new
                 : !defined $new || ref $new   ? 0
                 :                               $old eq $new;
        push @d, "$path: " . encode_json([$old]) . ' became ' . encode_json([$new]) unless $same;
    }
    return @d;
}

my @fixtures = sort glob("$FindBin::Bin/data/compat-*");
ok(@fixtures >= 1, 'at least one recorded fixture') or BAIL_OUT('no data/compat-* fixture');

for my $fx (@fixtures) {
    my ($name) = $fx =~ m{/(compat-[^/]+)$};
    my $dir = tmpdir();
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'restore', "$fx/backup", "$dir/data"],
                                   timeout => 60);
    is($rc, 0, "$name: today's cohortctl restores the recorded store") or diag $err;
    my $d = start_daemon(dir => $dir);
    ok($d->{pid}, "$name: today's daemon starts on it") or diag log_of($d);
    my ($topics, $end) = wait_snapshot($d, 1, 20);
    ok($end, "$name: it publishes a snapshot") or next;

    my $want = read_jsonl(do { local $/; open my $f, '<', "$fx/documents.jsonl" or die; <$f> });
    my (@gone, @differ);
    for my $w (@$want) {
        my $t = $topics->{ $w->{topic} };
        if (!$t) { push @gone, $w->{topic}; next }
        my @m = missing($w->{doc}, $t->{doc}, $w->{topic});
        push @differ, @m;
    }
    is(scalar(@gone), 0, "$name: every recorded topic (" . scalar(@$want) . ') is published again')
        or diag join("\n", @gone);
    is(scalar(@differ), 0, "$name: every recorded figure is unchanged")
        or diag join("\n", @differ[0 .. ($#differ < 40 ? $#differ : 40)]);

    ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'rebuild', '--snapshot', $d->{snapshot},
                                 '--data-dir', $d->{data}, '--no-progress'], timeout => 120);
    is($rc, 0, "$name: cohortctl rebuild exits 0") or diag "$out\n$err";
    like($out, qr/0 differ/, "$name: the whole log replays to what the daemon publishes")
        or diag $out;
    is(stop_daemon($d), 0, "$name: clean stop");
    ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'verify', '--data-dir', $d->{data}],
                                timeout => 60);
    is($rc, 0, "$name: cohortctl verify passes") or diag "$out\n$err";
}

done_testing();
