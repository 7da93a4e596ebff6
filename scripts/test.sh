#!/usr/bin/env bash
# README command (2): install everything, then run every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Kubernetes tooling (helm, schema validation) for the chart tests, when the chart exists.
if [ -f scripts/install_k8s_tools.sh ]; then bash scripts/install_k8s_tools.sh; fi
# Chromium for `hpo report`'s PNGs (Debian's package; nothing to do when one is there). Without
# it the tests that need it skip and say why, rather than the whole run failing.
bash scripts/install_report_tools.sh || echo "test.sh: no Chromium: the report PNG tests will skip" >&2
# Debian's Prometheus for the test that scrapes real workers (never started as a service).
bash scripts/install_prometheus.sh || echo "test.sh: no Prometheus: its integration test cannot run" >&2
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
set +e
python -m pytest -ra "$@"
rc=$?
set -e
# pytest exits 5 when it collected nothing: that is a failure of the suite, say so.
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
