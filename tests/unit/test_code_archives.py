"""Code directories pack deterministically, skip what never ships, and extract safely."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from hpo.storage.code_archives import CodeArchiveError, code_files, pack
from hpo.tasks.user_code import UserCodeError, import_callable, user_modules


def make_code(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "train.py").write_text("def train(trial):\n    return {'x': 1.0}\n")
    (root / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    for skipped in (".git", "__pycache__", ".venv", "data"):
        (root / skipped).mkdir()
        (root / skipped / "big.bin").write_bytes(b"\0" * 10)
    (root / "notes.pyc").write_bytes(b"\0")
    (root / ".hpoignore").write_text("# data stays in S3\ndata\n*.ckpt\n")
    (root / "last.ckpt").write_bytes(b"\0")
    return root


def test_only_code_ships_and_the_archive_is_deterministic(tmp_path):
    code = make_code(tmp_path / "code")
    assert [name for name, _ in code_files(code)] == [".hpoignore", "pkg/__init__.py", "train.py"]
    first = pack(code)
    (code / "train.py").touch()  # a new mtime, same bytes: the same archive
    assert pack(code) == first
    with tarfile.open(fileobj=io.BytesIO(first), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == [".hpoignore", "pkg/__init__.py", "train.py"]


def test_over_the_limit_names_the_biggest_files(tmp_path):
    code = make_code(tmp_path / "code")
    (code / "weights.safetensors").write_bytes(b"\0" * 2000)
    with pytest.raises(CodeArchiveError, match=r"over the 0 MB limit .*weights.safetensors"):
        pack(code, limit_bytes=1000)


def test_user_modules_are_forgotten_after_use(tmp_path):
    first, second = tmp_path / "v1", tmp_path / "v2"
    for directory, value in ((first, 1), (second, 2)):
        directory.mkdir()
        (directory / "hpo_user_train.py").write_text(f"def train(trial):\n    return {value}\n")
    with user_modules(first):
        assert import_callable("hpo_user_train:train", first, "task.entrypoint")(None) == 1
    assert "hpo_user_train" not in sys.modules and str(first) not in sys.path
    with user_modules(second):
        # A second sweep with other code on the same worker process imports its own version.
        assert import_callable("hpo_user_train:train", second, "task.entrypoint")(None) == 2


def test_a_non_callable_entrypoint_is_named(tmp_path):
    (tmp_path / "hpo_user_cfg.py").write_text("train = 3\n")
    with user_modules(tmp_path), pytest.raises(UserCodeError, match="is a int, not a function"):
        import_callable("hpo_user_cfg:train", tmp_path, "task.entrypoint")
