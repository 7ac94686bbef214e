#!/usr/bin/env bash
# Installs a built switchyard .deb (make deb) on a fresh Debian bookworm with `apt install`,
# checks what it installed, purges it and checks that nothing is left behind.
# Where: a debian:bookworm container when a Docker engine answers; otherwise a throwaway
# debootstrap chroot (needs root and the debootstrap package; CHECK_DEB_BASE=DIR copies an
# existing bookworm chroot instead of bootstrapping one, which takes minutes).
# Usage: scripts/check-deb.sh build-deb/switchyard_VERSION_ARCH.deb
set -euo pipefail
deb=$(realpath "${1:?usage: scripts/check-deb.sh build-deb/switchyard_VERSION_ARCH.deb}")

# Runs inside the fresh system, with the package at /tmp/switchyard.deb.
inner='
set -eu
export DEBIAN_FRONTEND=noninteractive
fail() { echo "check-deb: FAIL: $*" >&2; exit 1; }
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends /tmp/switchyard.deb >/dev/null
files=$(dpkg-query -L switchyard)
getent passwd switchyard >/dev/null || fail "no user switchyard after install"
getent group switchyard >/dev/null || fail "no group switchyard after install"
dpkg-query -W -f="\${Conffiles}\n" switchyard | grep -q " /etc/switchyard/switchyard.yaml " ||
  fail "/etc/switchyard/switchyard.yaml is not a conffile"
test -x /usr/sbin/switchyard || fail "no /usr/sbin/switchyard"
for f in /lib/systemd/system/switchyard.service /etc/logrotate.d/switchyard \
         /usr/share/man/man8/switchyard.8.gz /usr/share/man/man5/switchyard.yaml.5.gz \
         /usr/share/doc/switchyard/copyright; do
  test -e "$f" || fail "$f not installed"
done
grep -q "^ExecStart=/usr/sbin/switchyard " /lib/systemd/system/switchyard.service ||
  fail "the unit does not start /usr/sbin/switchyard"
test ! -e /etc/systemd/system/multi-user.target.wants/switchyard.service ||
  fail "the package enabled the unit"
switchyard --check -c /etc/switchyard/switchyard.yaml
setpriv --reuid=switchyard --regid=switchyard --clear-groups \
  switchyard --check -c /etc/switchyard/switchyard.yaml >/dev/null ||
  fail "the service user cannot read its configuration"
switchyard -V
apt-get purge -y -q switchyard >/dev/null
if dpkg -s switchyard >/dev/null 2>&1; then fail "dpkg still knows switchyard after purge"; fi
for f in $files; do
  if [ -e "$f" ] && [ ! -d "$f" ]; then fail "$f left after purge"; fi
done
for d in /etc/switchyard /var/log/switchyard /usr/share/doc/switchyard; do
  test ! -e "$d" || fail "$d left after purge"
done
getent passwd switchyard >/dev/null && fail "user switchyard left after purge"
getent group switchyard >/dev/null && fail "group switchyard left after purge"
echo "check-deb: OK: installed, checked, purged, nothing left"
'

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
  exec docker run --rm -v "$deb:/tmp/switchyard.deb:ro" debian:bookworm bash -c "$inner"
fi

[ "$(id -u)" -eq 0 ] || { echo "check-deb: no Docker engine; the chroot needs root" >&2; exit 1; }
root=$(mktemp -d /var/tmp/switchyard-check-deb.XXXXXX)
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
if [ -n "${CHECK_DEB_BASE:-}" ]; then
  cp -a "$CHECK_DEB_BASE/." "$root/"
else
  command -v debootstrap >/dev/null || { echo "check-deb: install debootstrap" >&2; exit 1; }
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian >/dev/null
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
cp "$deb" "$root/tmp/switchyard.deb"
mount -t proc proc "$root/proc"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -c "$inner"
