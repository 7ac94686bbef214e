#!/usr/bin/env bash
# Installs the Debian packages Switchyard needs to build, test and run its demo.
# Idempotent: only missing packages are installed, and `apt-get update` runs at most once.
# Usage: scripts/install-deps.sh [build|test|bench|fuzz|deb]
set -euo pipefail
profile=${1:-test}
pkgs=(build-essential g++ pkg-config meson ninja-build libuv1-dev node-llhttp libyaml-cpp-dev
      libssl-dev doctest-dev libmaxminddb-dev libnghttp2-dev prometheus-cpp-dev libhiredis-dev
      libc-ares-dev liburing-dev
      python3 curl procps)
case "$profile" in
  test)  pkgs+=(python3-pytest python3-seccomp python3-yaml python3-websockets python3-h2 nghttp2-client nginx-light prometheus iproute2 dnsmasq-base strace
               libmaxmind-db-writer-perl redis-server nghttp2-server python3-grpcio) ;;
  bench) pkgs+=(nginx-light haproxy wrk nghttp2-client nghttp2-server iproute2 valgrind) ;;
  fuzz)  pkgs+=(clang libclang-rt-14-dev) ;;
  deb)   pkgs+=(debhelper dpkg-dev fakeroot lintian) ;;  # make deb (debian/)
  build) ;;
  *) echo "usage: $0 [build|test|bench|fuzz|deb]" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${missing[*]} (run as root or install them)" >&2; exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
