#!/usr/bin/env bash
# A headless browser for `hpo report`'s PNGs: plotly's kaleido renders figures by driving
# Chrome/Chromium, and no wheel ships one. Installs Debian's `chromium` with apt when no
# Chrome/Chromium is found (BROWSER_PATH, PATH, the usual /usr/bin paths); idempotent, quiet,
# needs root or password-less sudo. The HTML report itself needs none of this.
# scripts/test.sh calls it; the unit test of the PNGs skips (with the reason) without a browser.
set -euo pipefail

have_browser() {
  if [ -n "${BROWSER_PATH:-}" ] && [ -x "$BROWSER_PATH" ]; then return 0; fi
  local name
  for name in chromium chromium-browser google-chrome google-chrome-stable chrome; do
    if command -v "$name" >/dev/null 2>&1; then return 0; fi
  done
  return 1
}

if have_browser; then exit 0; fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_report_tools: no Chrome/Chromium and no apt-get; install Chromium or Chrome, or set" \
       "BROWSER_PATH to one (hpo report's PNG export needs it)" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  as_root=(env)
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n env)
else
  echo "install_report_tools: installing chromium needs root or password-less sudo;" \
       "run: sudo apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# --no-install-recommends: the browser and its libraries, not a desktop's worth of fonts and themes.
# Lock::Timeout: wait for another apt (a parallel set-up script) instead of failing at once.
apt=("${as_root[@]}" DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600)
if ! { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
  tail -n 20 "$log" >&2
  echo "install_report_tools: apt-get install chromium failed (output above)" >&2
  exit 1
fi
echo "install_report_tools: $(dpkg-query -W -f='chromium ${Version}' chromium 2>/dev/null || echo chromium) installed"
