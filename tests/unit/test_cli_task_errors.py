"""Bring-your-own mistakes found by `hpo sweep run` before any server is asked: one message
naming the field, exit code 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from test_cli_errors import closed_endpoints, hpo

BYO = Path(__file__).resolve().parents[2] / "examples" / "byo"


def byo_spec_file(tmp_path: Path, code: Path, **task: object) -> Path:
    data = yaml.safe_load((BYO / "sweep.yaml").read_text())
    data["task"] = {"code": str(code), **task}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run_expecting_2(spec: Path, env: dict[str, str] | None = None) -> str:
    result = hpo("sweep", "run", str(spec), env={**closed_endpoints(), **(env or {})})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ({"entrypoint": "trian:train"}, "task.entrypoint: cannot import module 'trian'"),
        ({"entrypoint": "train:fit"}, "task.entrypoint: module 'train' has no 'fit'; its functions are"),
        (
            {"entrypoint": "train:train", "predict": "train:serve"},
            "task.predict: module 'train' has no 'serve'",
        ),
        ({"entrypoint": "train"}, "task.entrypoint is 'train', must look like 'module:function'"),
        ({"command": ["./missing.sh"]}, "task.command: ./missing.sh does not exist in task.code"),
    ],
    ids=["no-module", "no-function", "no-predict", "not-module-function", "no-script"],
)
def test_user_code_mistakes_are_named_before_anything_starts(tmp_path, task, expected):
    assert expected in run_expecting_2(byo_spec_file(tmp_path, BYO, **task))


def test_an_entrypoint_that_raises_on_import_shows_the_users_line(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("import json\nraise RuntimeError('forgot to set DATA_DIR')\n")
    message = run_expecting_2(byo_spec_file(tmp_path, code, entrypoint="train:train"))
    assert "task.entrypoint: importing 'train'" in message and "forgot to set DATA_DIR" in message
    assert 'train.py", line 2' in message


def test_a_code_directory_over_the_limit_is_refused(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text((BYO / "train.py").read_text())
    (code / "model.py").write_text((BYO / "model.py").read_text())
    (code / "weights.bin").write_bytes(b"\0" * 3_000_000)
    message = run_expecting_2(
        byo_spec_file(tmp_path, code, entrypoint="train:train"), env={"HPO_CODE_MAX_BYTES": "1000000"}
    )
    assert "task.code:" in message and "over the 1 MB limit" in message and "weights.bin (3.0 MB)" in message
    assert ".hpoignore" in message


def test_a_missing_code_directory_is_named(tmp_path):
    message = run_expecting_2(byo_spec_file(tmp_path, tmp_path / "nowhere", entrypoint="train:train"))
    assert "task.code:" in message and "nowhere is not a directory" in message
