#!/usr/bin/env bash
# One command for the kind integration test (tests/k8s/test_kind_sweep.py):
# tools, the worker image if the engine lacks it, then the test (cluster created and deleted).
# Needs kind and docker (or podman with ENGINE=podman) on this machine.
#   bash scripts/test_k8s_kind.sh            HPO_KIND_KEEP=1 keeps the cluster afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
bash scripts/install_k8s_tools.sh
export PATH="$PWD/.venv/bin:$PWD/.tools/bin:$PATH"
ENGINE=${ENGINE:-docker}
tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/hpo/Chart.yaml)
if ! "$ENGINE" image inspect "hpo-worker:$tag" >/dev/null 2>&1; then
  ENGINE=$ENGINE bash scripts/build_images.sh worker
fi
exec python -m pytest tests/k8s/test_kind_sweep.py -v -s -rs "$@"
