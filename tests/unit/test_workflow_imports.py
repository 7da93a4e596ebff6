"""Workflow modules stay light: no torch, transformers, boto3 or numpy in the sandbox."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "transformers", "boto3", "botocore", "numpy")


def test_workflow_modules_import_no_heavy_libraries():
    code = (
        "import sys\n"
        "import hpo.workflows.sweep, hpo.workflows.trial, hpo.workflows.predict\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""
