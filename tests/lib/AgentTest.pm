# AgentTest: helpers for the store-and-forward agent tests (30-3x): events
# without eventId (the agent derives ids from content), the log read back
# with `cohortctl tail --json` keyed by content, files dropped into a spool
# by tmp + rename, background agents, and bounded waits.
package AgentTest;
use strict;
use warnings;
use Exporter 'import';
use JSON::PP;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);
use CohortTest;

our @EXPORT = qw(noid event_key log_events log_keys drop_file start_agent agent_results
                 wait_until slurp csv_of count_dir);

my $js = JSON::PP->new->canonical;

# Copies of the events without eventId, each with its own occurredAt
# (2009-05-01 plus i seconds), so that no two have the same content.
sub noid {
    my ($events) = @_;
    my $i = 0;
    return [map {
        my %e = %$_;
        delete $e{eventId};
        my $s = $i++;
        $e{occurredAt} = sprintf('2009-05-%02dT%02d:%02d:%02dZ', 1 + int($s / 86400), int($s / 3600) % 24,
                                 int($s / 60) % 60, $s % 60);
        \%e
    } @$events];
}

# Drops keys whose value is a default (0, "", false, empty list), recursively:
# what the JSON mapping leaves out when it writes an event.
sub _strip {
    my ($v) = @_;
    if (ref $v eq 'HASH') {
        my %o;
        for my $k (keys %$v) {
            my $x = _strip($v->{$k});
            next if !defined $x;
            $o{$k} = $x;
        }
        return \%o;
    }
    if (ref $v eq 'ARRAY') { return @$v ? [map { _strip($_) } @$v] : undef }
    if (JSON::PP::is_bool($v)) { return $v ? JSON::PP::true : undef }
    return undef if !defined $v || $v eq '' || ($v =~ /^-?\d+$/ && $v == 0);
    return $v;
}

# What identifies an event's content: agency, occurredAt to the second, and
# the body (defaults dropped), as one string. eventId is not part of it.
sub event_key {
    my ($e) = @_;
    my %b = %$e;
    delete @b{qw(eventId agency occurredAt)};
    # The daemon stores a registration's protected characteristics sealed
    # (docs/security.md, "Erasure"), so `cohortctl tail` cannot show them:
    # compare registrations without them.
    if (ref $b{participantRegistered} eq 'HASH') {
        my %r = %{ $b{participantRegistered} };
        delete @r{qw(ethnicity gender disability ageBand sexualOrientation religion sealed)};
        $b{participantRegistered} = \%r;
    }
    return join('|', $e->{agency}, substr($e->{occurredAt} // '', 0, 19), $js->encode(_strip(\%b)));
}

# The log as [{seq, event}] from `cohortctl tail --json`.
sub log_events {
    my ($d) = @_;
    my ($rc, $out, $err) = run_cmd([bin('cohortctl'), 'tail', '--json', '--data-dir', $d->{data}],
                                   timeout => 120);
    die "cohortctl tail failed: $err" if $rc != 0;
    return read_jsonl($out);
}

# {key => count} of the log's events, and {eventId => count}.
sub log_keys {
    my ($d) = @_;
    my (%k, %id);
    for my $l (@{ log_events($d) }) {
        $k{ event_key($l->{event}) }++;
        $id{ $l->{event}{eventId} }++;
    }
    return (\%k, \%id);
}

# Writes $text to "$dir/.name.tmp" and renames it to "$dir/$name".
sub drop_file {
    my ($dir, $name, $text) = @_;
    my $tmp = "$dir/.$name.tmp";
    open my $fh, '>', $tmp or die "$tmp: $!";
    print $fh $text;
    close $fh or die "$tmp: $!";
    rename $tmp, "$dir/$name" or die "rename $tmp: $!";
}

# CSV text: a header of @$cols, then one row per hash in @$rows.
sub csv_of {
    my ($cols, $rows) = @_;
    my $q = sub { my $v = $_[0] // ''; $v =~ /[",\n]/ ? do { $v =~ s/"/""/g; qq("$v") } : $v };
    return join('', map { join(',', map { $q->($_) } @$_) . "\n" } $cols,
                map { my $r = $_; [map { $r->{$_} } @$cols] } @$rows);
}

# Starts cohort-agent with @args in the background, stdout and stderr to
# files in $dir named by $tag. Returns {pid, out, err}.
sub start_agent {
    my ($dir, $tag, @args) = @_;
    my $a = { out => "$dir/$tag.out", err => "$dir/$tag.err" };
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>>', $a->{out} or die;
        open STDERR, '>>', $a->{err} or die;
        open STDIN, '<', '/dev/null' or die;
        exec bin('cohort-agent'), @args or die "exec: $!";
    }
    $a->{pid} = $pid;
    return $a;
}

# The JSON result lines an agent printed so far (complete lines only).
sub agent_results {
    my ($a) = @_;
    my $text = slurp($a->{out});
    $text =~ s/[^\n]*\z//;
    return read_jsonl($text);
}

sub slurp { my ($f) = @_; open my $fh, '<', $f or return ''; local $/; return <$fh> // '' }

# Polls $cond every 50 ms for up to $secs seconds; returns its last value.
sub wait_until {
    my ($secs, $cond) = @_;
    my $until = time + $secs;
    while (1) {
        my $v = $cond->();
        return $v if $v || time >= $until;
        sleep 0.05;
    }
}

# Number of entries in a directory (without . and ..), optionally matching.
sub count_dir {
    my ($dir, $re) = @_;
    opendir my $dh, $dir or return 0;
    my $n = grep { !/^\.\.?$/ && (!$re || /$re/) } readdir $dh;
    closedir $dh;
    return $n;
}

1;
