#!/usr/bin/env bash
# Prometheus server for tests/integration/test_prometheus.py (a real Prometheus scrapes the
# workers), from Debian's `prometheus` package. Idempotent and quiet: does nothing when a
# `prometheus` binary is already on PATH. Installs as root, or through sudo when not root.
# It never starts the packaged service: the test runs its own server on a free port with
# its own config. scripts/test.sh calls it.
set -euo pipefail

if command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_prometheus: no apt-get here; install Prometheus yourself (the Prometheus test skips without it)" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install_prometheus: not root and no sudo; the Prometheus test skips without it" >&2
  exit 0
fi

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d whether a package may start
# its service; 101 means "no". Ours stands in for whatever policy is there during the install.
policy=/usr/sbin/policy-rc.d
saved=""
restore_policy() {
  "${as_root[@]}" rm -f "$policy"
  if [ -n "$saved" ]; then "${as_root[@]}" mv "$saved" "$policy"; fi
}
if [ -e "$policy" ]; then
  saved="$policy.hpo-saved"
  "${as_root[@]}" mv "$policy" "$saved"
fi
trap restore_policy EXIT
printf '#!/bin/sh\nexit 101\n' | "${as_root[@]}" tee "$policy" >/dev/null
"${as_root[@]}" chmod 755 "$policy"

# Quiet: the maintainer scripts' chatter is shown only when the install fails.
log=$(mktemp)
trap 'restore_policy; rm -f "$log"' EXIT
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq -o=Dpkg::Use-Pty=0)
if ! apt-cache show prometheus >/dev/null 2>&1; then
  "${apt_get[@]}" update >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
fi
"${apt_get[@]}" install -y --no-install-recommends prometheus >"$log" 2>&1 || { cat "$log" >&2; exit 1; }

# On a systemd host the package also enables the unit for the next boot: the tests never
# need it, so leave no Prometheus service behind.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  "${as_root[@]}" systemctl disable --now --quiet prometheus.service 2>/dev/null || true
fi
echo "install_prometheus: $(prometheus --version 2>&1 | head -n 1)"
