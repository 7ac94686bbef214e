#!/bin/sh
# Runs the Switchyard integration suite against build/switchyard (or $SWITCHYARD_BIN).
# Usage: integration/run.sh [pytest args...]
#   integration/run.sh                          # everything
#   integration/run.sh -k keepalive -x          # a subset
#   integration/run.sh integration/test_core.py # one file (paths replace the default)
# Pytest's last line ("N passed, M failed ...") is the summary; the exit status is pytest's.
set -eu
cd "$(dirname "$0")/.."
: "${SWITCHYARD_BIN:=$(pwd)/build/switchyard}"
export SWITCHYARD_BIN

target=integration
for arg in "$@"; do
  case "$arg" in
    -*) ;;
    *) if [ -e "${arg%%::*}" ]; then target=; fi ;;
  esac
done
exec /usr/bin/python3 -m pytest -q -o cache_dir=integration/.pytest_cache $target "$@"
