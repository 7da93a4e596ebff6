#!/usr/bin/env bash
# Installs the cluster add-ons hpo relies on into the current kubectl context:
#   keda        KEDA, scales the GPU training workers on the Temporal queue backlog
#   prometheus  kube-prometheus-stack, scrapes the workers' metrics (ServiceMonitor CRD)
#   gpu         NVIDIA device plugin, advertises nvidia.com/gpu (real GPU nodes only)
# Usage: k8s/install-addons.sh [keda] [prometheus] [gpu]     (default: keda prometheus)
# Needs helm and network access to the charts' repositories. Versions are pinned below;
# override with KEDA_VERSION=... etc.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
KEDA_VERSION=${KEDA_VERSION:-2.22.0}
DEVICE_PLUGIN_VERSION=${DEVICE_PLUGIN_VERSION:-0.17.1}
KPS_VERSION=${KPS_VERSION:-}   # empty: the repository's latest kube-prometheus-stack

addons=("$@")
[ ${#addons[@]} -gt 0 ] || addons=(keda prometheus)

for addon in "${addons[@]}"; do
  case "$addon" in
    keda)
      helm repo add kedacore https://kedacore.github.io/charts >/dev/null
      helm repo update kedacore >/dev/null
      helm upgrade --install keda kedacore/keda --version "$KEDA_VERSION" \
        --namespace keda --create-namespace -f "$here/addons/keda-values.yaml" --wait
      ;;
    prometheus)
      helm repo add prometheus-community https://prometheus-community.github.io/helm-charts >/dev/null
      helm repo update prometheus-community >/dev/null
      helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
        ${KPS_VERSION:+--version "$KPS_VERSION"} \
        --namespace monitoring --create-namespace -f "$here/addons/kube-prometheus-stack-values.yaml" --wait
      ;;
    gpu)
      helm repo add nvdp https://nvidia.github.io/k8s-device-plugin >/dev/null
      helm repo update nvdp >/dev/null
      helm upgrade --install nvidia-device-plugin nvdp/nvidia-device-plugin --version "$DEVICE_PLUGIN_VERSION" \
        --namespace nvidia-device-plugin --create-namespace -f "$here/addons/nvidia-device-plugin-values.yaml" --wait
      ;;
    *) echo "unknown add-on: $addon (keda, prometheus, gpu)" >&2; exit 2 ;;
  esac
done
