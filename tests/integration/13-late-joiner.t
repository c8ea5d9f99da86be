#!/usr/bin/perl
# Late joiners: one cohort-watch follows every topic from before the first
# event; a second joins in the middle of the stream (its snapshot handshake
# racing live updates). Once everything is pushed and published, both hold
# exactly the documents (and revs and seqs) of `cohortctl snapshot`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../lib";
use CohortTest;
use Test::More;
use Time::HiRes qw(sleep time);

bin('cohort-watch');    # dies (the test fails) if it is not built

my $d = start_daemon();
ok($d->{pid}, 'daemon started');
my $dir = $d->{dir};

# both example programmes, in 8 chunks, in order
my @lines;
for my $f (qw(step-forward leadership-in-partnership)) {
    open my $fh, '<', repo_root() . "/examples/$f.jsonl" or die;
    push @lines, grep { /\S/ && !/^\s*#/ } <$fh>;
}
my $N = @lines;
my $size = int($N / 8) + 1;
my @chunks;
while (my @c = splice @lines, 0, $size) { push @chunks, \@c }

my $w1 = start_watch($d, ['--timeout-s', '60'], '');
sleep 1.5;    # the first heartbeat (1 s) lets it subscribe and take its (empty) snapshot
my ($w2, $pushed) = (undef, 0);
for my $i (0 .. $#chunks) {
    if ($i == 3) {
        $w2 = start_watch($d, ['--timeout-s', '60'], '');
    }
    my $f = "$dir/chunk$i.jsonl";
    open my $fh, '>', $f or die;
    print $fh @{ $chunks[$i] };
    close $fh;
    my ($rc, $res, $err) = agent_send($d, $f);
    is($rc, 0, "chunk $i: " . scalar(@{ $chunks[$i] }) . ' events accepted') or diag $err;
    $pushed += grep { $_->{result} eq 'ACCEPTED' } @$res;
    sleep 0.3;    # spread the stream over the second watcher's handshake
}
is($pushed, $N, "all $N events accepted");
my ($snap, $end) = wait_snapshot($d, $N);
is($end->{seq}, $N, "status reflects seq $N");

# wait (bounded) for both watchers to reach the snapshot's state
my $same = sub {
    my ($t) = @_;
    return 0 unless keys %$t == keys %$snap;
    for my $k (keys %$snap) { return 0 unless $t->{$k} && $t->{$k}{rev} == $snap->{$k}{rev} }
    return 1;
};
my $until = time + 15;
while (time < $until) {
    my ($s1) = watch_state($w1);
    my ($s2) = watch_state($w2);
    last if $same->($s1) && $same->($s2);
    sleep 0.2;
}
is(stop_watch($w1), 0, 'first watcher exits 0 on SIGTERM');
is(stop_watch($w2), 0, 'second watcher exits 0 on SIGTERM');
my ($s1, $r1) = watch_state($w1);
my ($s2, $r2) = watch_state($w2);
my ($snap2, $end2) = snapshot_topics($d);
is_deeply($snap2, $snap, 'the daemon published nothing more meanwhile');

ok((grep { $_->{rev} > 1 } map { @{ watch_lines($_) } } $w1) > 0, 'the first watcher followed live updates');
is_deeply($r1, [], 'first watcher: no resync');
is_deeply($r2, [], 'second watcher: no resync');
is_deeply([sort keys %$s1], [sort keys %$snap], 'first watcher holds exactly the snapshot\'s ' . keys(%$snap) . ' topics');
is_deeply([sort keys %$s2], [sort keys %$snap], 'second watcher holds exactly the snapshot\'s topics');
is_deeply($s1, $snap, 'first watcher: every doc, rev and seq equal the snapshot');
is_deeply($s2, $snap, 'second (late) watcher: every doc, rev and seq equal the snapshot');
is_deeply($s1, $s2, 'the two watchers agree');
is(stop_daemon($d), 0, 'clean stop');
done_testing();
