"""`hpo sweep delete` and `hpo storage gc` refuse bad input before any server is asked: one
paragraph, exit 2, no traceback (the endpoints are closed ports: reaching them would fail
differently)."""

from __future__ import annotations

import os
import subprocess
import sys

from hpo.workers.stack import free_port


def hpo(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "HPO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "HPO_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,  # not a terminal
    )


def test_without_a_terminal_and_without_yes_it_refuses_at_once():
    result = hpo("sweep", "delete", "some-sweep")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "not deleting sweep some-sweep" in message and "pass --yes" in message
    assert "unreachable" not in message and "Traceback" not in message


def test_a_bad_sweep_id_is_refused():
    result = hpo("sweep", "delete", "Bad/ID", "--yes")
    assert result.returncode == 2
    assert "'Bad/ID' is not a valid sweep id" in result.stderr and "Traceback" not in result.stderr


def test_with_yes_it_needs_temporal_and_says_where():
    result = hpo("sweep", "delete", "some-sweep", "--yes")
    assert result.returncode == 2
    assert "is unreachable" in result.stderr and "Traceback" not in result.stderr


def test_storage_gc_only_lists():
    result = hpo("storage", "gc")
    assert result.returncode == 2
    assert "only lists, with --dry-run" in " ".join(result.stderr.split())
