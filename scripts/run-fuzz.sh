#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD/fuzz for SECONDS each, on a scratch copy of its seed
# corpus (fuzz/corpus/<area>), so the repository's seeds stay small. Exit 1 on any crash.
set -uo pipefail
build=${1:-build-fuzz}
seconds=${2:-60}
cd "$(dirname "$0")/.."
status=0
for target in http_request_fuzzer:http config_fuzzer:config; do
  bin=${target%%:*}
  area=${target##*:}
  work=$(mktemp -d "/tmp/switchyard-fuzz-$area-XXXX")
  cp -r "fuzz/corpus/$area/." "$work/"
  echo "== fuzz $bin for ${seconds}s (seeds: fuzz/corpus/$area)"
  if ! "$build/fuzz/$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$build/fuzz/$bin-" -print_final_stats=1 "$work" >"$build/fuzz/$bin.log" 2>&1; then
    echo "FAILED: $bin found a crash; see $build/fuzz/$bin.log and the $bin-crash-* file"
    tail -40 "$build/fuzz/$bin.log"
    status=1
  else
    grep -E "^Done|stat::number_of_executed_units|stat::new_units_added" "$build/fuzz/$bin.log"
  fi
  rm -rf "$work"
done
exit $status
