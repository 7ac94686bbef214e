#!/usr/bin/env bash
# `make bench`: installs what is missing (nginx-light, haproxy, wrk), builds Switchyard and runs
# the side-by-side benchmark (integration/bench/bench.py). Arguments select cases:
#   integration/bench/run.sh                    # small large post tls h2 lowconc conns
#   integration/bench/run.sh small post         # a subset
#   BENCH_DURATION=2 BENCH_RUNS=1 BENCH_WARMUP=1 integration/bench/run.sh   # smoke run
# Set BENCH_NO_BUILD=1 to benchmark the existing binary without rebuilding.
# The table is printed and written to integration/bench/results.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}

scripts/install-deps.sh bench
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  if ! make --no-print-directory BUILD="$BUILD" build >&2; then
    echo "bench: error: build failed (set BENCH_NO_BUILD=1 to benchmark the existing binary)" >&2
    exit 1
  fi
fi
export SWITCHYARD_BIN=${SWITCHYARD_BIN:-$PWD/$BUILD/switchyard}

if [ -z "${BENCH_COMMAND:-}" ]; then
  BENCH_COMMAND="integration/bench/run.sh${*:+ $*}"
fi
# Prefix the settings that were given, so results.md shows the exact command.
for v in BENCH_IO_URING BENCH_H2_STREAMS BENCH_H2_CONNS BENCH_IDLE_CONNS BENCH_THREADS BENCH_CONNS BENCH_WARMUP BENCH_RUNS BENCH_DURATION; do
  if [ -n "${!v:-}" ]; then BENCH_COMMAND="$v=${!v} $BENCH_COMMAND"; fi
done
export BENCH_COMMAND

# bench.py stops every process it started on exit (normal exit, error or signal).
exec /usr/bin/python3 integration/bench/bench.py "$@"
