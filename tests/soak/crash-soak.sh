#!/bin/sh
# crash-soak.sh: the long crash soak, on demand (never run by default).
# Runs tests/integration/40-crash.t with big numbers: many rounds of
# concurrent agents pushing while cohortd is kill -9ed at random moments
# and restarted; every acked event must be in the log exactly once, every
# event given to an agent delivered, and the restored status equal to a
# full replay of the log.
#
#   tests/soak/crash-soak.sh [BUILD_DIR]      (default: $COHORT_BUILD or ./build)
#   make -C BUILD_DIR soak                    (the same, for that build)
#
# Knobs (environment; the defaults here are the long soak, 40-crash.t's own
# defaults are the short CI version):
#   COHORT_SOAK_ROUNDS   (200; 0 = until COHORT_SOAK_SECONDS runs out)
#   COHORT_SOAK_EVENTS   distinct attendance events per round (10000)
#   COHORT_SOAK_AGENTS   attendance agents per round (6; plus 2 setup agents)
#   COHORT_SOAK_SEED     seed for the random choices (printed; default random)
#   COHORT_SOAK_SECONDS  time budget (7200)
#   COHORT_SOAK_CONTINUE 1: go on after a failing round (default: stop there)
#   COHORT_SOAK_KEEP     1: keep the data directory (always kept on failure)
# Prints one TAP comment per round and a final "soak summary:" line.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -gt 1 ]; then
    echo "usage: $0 [BUILD_DIR]" >&2
    exit 2
fi
build=${1:-${COHORT_BUILD:-$root/build}}
build=$(cd "$build" && pwd)
for p in cohortd cohortctl cohort-agent; do
    if [ ! -x "$build/$p" ]; then
        echo "$0: no $build/$p: build first (cmake --build $build)" >&2
        exit 2
    fi
done
export COHORT_BUILD="$build"
export COHORT_SOAK_ROUNDS="${COHORT_SOAK_ROUNDS:-200}"
export COHORT_SOAK_EVENTS="${COHORT_SOAK_EVENTS:-10000}"
export COHORT_SOAK_AGENTS="${COHORT_SOAK_AGENTS:-6}"
export COHORT_SOAK_SECONDS="${COHORT_SOAK_SECONDS:-7200}"
echo "# crash soak: build $build, rounds $COHORT_SOAK_ROUNDS, events $COHORT_SOAK_EVENTS," \
     "agents $COHORT_SOAK_AGENTS, budget ${COHORT_SOAK_SECONDS}s"
exec prove -v --timer "$root/tests/integration/40-crash.t"
