#!/usr/bin/env bash
# Smoke test of a built hpo image without a cluster: inside one container (no network,
# read-only root filesystem, the chart's non-root uid) start the embedded Temporal dev
# server and S3 server the image ships, both workers, and run exactly what the ladder
# CronJob's pod runs, `hpo sweep run /etc/hpo/sweeps/ladder.yaml --id sweep`, with the spec
# the chart renders from charts/hpo/ci/kind-cpu-values.yaml (or SPEC=path/to/spec.yaml).
# Usage: scripts/smoke_test_image.sh [image]        (default hpo-worker:<chart appVersion>)
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${ENGINE:-docker}
tag=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/hpo/Chart.yaml)
image=${1:-hpo-worker:$tag}
helm=$(command -v helm || echo .tools/bin/helm)
specdir=$(mktemp -d)
trap 'rm -rf "$specdir"' EXIT
if [ -n "${SPEC:-}" ]; then
  cp "$SPEC" "$specdir/ladder.yaml"
else
  "$helm" template hpo charts/hpo -f charts/hpo/ci/kind-cpu-values.yaml -s templates/configmap-sweeps.yaml \
    | .venv/bin/python -c 'import sys, yaml; print(yaml.safe_load(sys.stdin)["data"]["ladder.yaml"])' \
    > "$specdir/ladder.yaml"
fi
chmod -R a+rX "$specdir"
# `weed mini` listens on 9101 among others: the training worker's metrics go to 9110.
exec "$ENGINE" run --rm --network none --read-only --user 10001:10001 \
  --tmpfs /tmp:size=3g --tmpfs /var/cache/hpo:size=2g,uid=10001 \
  -v "$specdir":/etc/hpo/sweeps:ro \
  -e AWS_ACCESS_KEY_ID=hpo -e AWS_SECRET_ACCESS_KEY=smoke-test-secret -e HPO_S3_ENDPOINT=http://127.0.0.1:8333 \
  --entrypoint sh "$image" -ec '
    temporal server start-dev --headless --ip 127.0.0.1 --port 7233 --db-filename /tmp/temporal.db >/tmp/temporal.log 2>&1 &
    weed mini -dir=/tmp/s3 -ip=127.0.0.1 -ip.bind=127.0.0.1 >/tmp/weed.log 2>&1 &
    for i in $(seq 60); do hpo check >/dev/null 2>&1 && break; sleep 1; done
    hpo check
    HPO_METRICS_PORT=9100 hpo worker sweep >/tmp/sweep-worker.log 2>&1 &
    HPO_METRICS_PORT=9110 hpo worker training >/tmp/training-worker.log 2>&1 &
    python3 -c "import time, urllib.request as u; time.sleep(10); u.urlopen(\"http://127.0.0.1:9100/metrics\"); print(\"sweep worker /metrics ok\")"
    if hpo sweep run /etc/hpo/sweeps/ladder.yaml --id sweep; then echo "smoke test passed"; else
      echo "smoke test FAILED"; tail -n 30 /tmp/sweep-worker.log /tmp/training-worker.log; exit 1; fi'
