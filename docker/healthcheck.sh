#!/bin/bash
# Container health probe: GET /healthz on Switchyard's admin listener; exit 0 on a 200 answer,
# 1 otherwise (503 while draining, refused, no answer). The image has no curl: bash's /dev/tcp
# carries one HTTP/1.0 request. The caller bounds the time (HEALTHCHECK --timeout).
# Usage: switchyard-healthcheck [HOST:PORT]   default: $SWITCHYARD_ADMIN or 127.0.0.1:9901
set -u
addr=${1:-${SWITCHYARD_ADMIN:-127.0.0.1:9901}}
host=${addr%:*}
port=${addr##*:}
host=${host#[}
host=${host%]}
if ! { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null; then
  echo "unhealthy: cannot connect to $addr" >&2
  exit 1
fi
printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$addr" >&3
IFS= read -r -t 3 status <&3 || status="no answer"
status=${status%$'\r'}
case "$status" in
  "HTTP/1."[01]" 200"*) exit 0 ;;
  *) echo "unhealthy: $addr/healthz: $status" >&2; exit 1 ;;
esac
