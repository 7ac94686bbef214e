#!/usr/bin/env bash
# `make run`: three demo backends (the project's test origin) on 127.0.0.1:9001-9003 and the
# proxy on the demo config, in the foreground. Ctrl-C stops everything.
set -uo pipefail
bin=${1:-build/switchyard}
cfg=${2:-config/switchyard.yaml}
cd "$(dirname "$0")/.."
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap cleanup EXIT INT TERM
for i in 1 2 3; do
  /usr/bin/python3 integration/origin.py --host 127.0.0.1 --port 900$i --name web$i >/dev/null &
  pids+=($!)
done
"$bin" --check -c "$cfg" || exit 1
cat <<MSG

Switchyard is starting on the demo config ($cfg):
  proxy:      curl -i http://localhost:8080/     (answers rotate over web1, web2, web3)
  backends:   127.0.0.1:9001-9003 (X-Backend header names the one that answered)
  metrics:    point Prometheus at http://127.0.0.1:9901/metrics  (curl it to look)
  admin API:  curl http://127.0.0.1:9901/status
              curl -X POST http://127.0.0.1:9901/pools/web/backends/web2/drain   (then .../enable)
  access log: on this terminal (combined format); X-Request-Id on every answer
Press Ctrl-C to stop.

MSG
"$bin" -c "$cfg" &
pids+=($!)
wait "${pids[-1]}"
