#!/usr/bin/env bash
# Runs the doctest unit tests, then the integration suite against the real binary, and ends
# with one summary line. Exit status: 0 only when both pass.
set -uo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
echo "== unit tests"
"$build/tests/unit_tests" --no-intro
unit=$?
echo "== integration tests"
SWITCHYARD_BIN="$PWD/$build/switchyard" integration/run.sh
integ=$?
echo "== summary: unit $([ $unit -eq 0 ] && echo passed || echo FAILED), integration $([ $integ -eq 0 ] && echo passed || echo FAILED)"
[ $unit -eq 0 ] && [ $integ -eq 0 ]
