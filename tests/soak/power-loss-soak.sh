#!/bin/sh
# power-loss-soak.sh: the long power-loss soak, on demand (never run by
# default). Runs tests/integration/07-crash-states.t with big numbers: many
# recorded runs, each kill -9ed mid-push, and many crash states built from
# each (synced data plus any subset and versions of the unsynced pages);
# every acked event must be in each state exactly once at its sequence.
#
#   tests/soak/power-loss-soak.sh [BUILD_DIR]   (default: $COHORT_BUILD or ./build)
#
# Knobs (environment; defaults here are the long soak, the test's own are CI's):
#   COHORT_CRASH_RUNS    recorded runs (50)
#   COHORT_CRASH_STATES  crash states per run (8)
#   COHORT_CRASH_EVENTS  events per run (3000)
#   COHORT_CRASH_SEED    seed for the random choices (printed; default random)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -gt 1 ]; then
    echo "usage: $0 [BUILD_DIR]" >&2
    exit 2
fi
build=${1:-${COHORT_BUILD:-$root/build}}
build=$(cd "$build" && pwd)
for p in cohortd cohortctl cohort-agent tests/libcrashrec.so; do
    if [ ! -e "$build/$p" ]; then
        echo "$0: no $build/$p: build first (cmake --build $build)" >&2
        exit 2
    fi
done
export COHORT_BUILD="$build"
export COHORT_CRASH_RUNS="${COHORT_CRASH_RUNS:-50}"
export COHORT_CRASH_STATES="${COHORT_CRASH_STATES:-8}"
export COHORT_CRASH_EVENTS="${COHORT_CRASH_EVENTS:-3000}"
echo "# power-loss soak: build $build, runs $COHORT_CRASH_RUNS, states per run $COHORT_CRASH_STATES"
exec prove -v --timer "$root/tests/integration/07-crash-states.t"
