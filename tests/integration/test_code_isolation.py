"""Shipped code on a worker, against the real S3 server: crafted archives are refused with
nothing written outside the cache, the cache folder is private and verified before every use,
and a command trial on the real stack sees none of the worker's secrets."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import stat
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sweeps import new_sweep_id, run_sweep

from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.storage import code_archives
from hpo.storage.code_archives import CodeArchiveError, archive_key, fetch
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration


def _archive(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, 0o644
    return info


def _file(name: str, data: bytes = b"print('hi')\n") -> tuple[tarfile.TarInfo, bytes]:
    return _member(name), data


CRAFTED: dict[str, tuple[Callable[[], bytes], str]] = {
    "symlink": (
        lambda: _archive(
            (_member("escape", tarfile.SYMTYPE, "../../outside"), None), _file("escape/evil.py")
        ),
        r"entry 'escape' is a symbolic link \(to '../../outside'\)",
    ),
    "hardlink": (
        lambda: _archive((_member("passwd", tarfile.LNKTYPE, "/etc/passwd"), None)),
        r"entry 'passwd' is a hard link",
    ),
    "dotdot": (
        lambda: _archive(_file("../outside/evil.py")),
        r"entry '../outside/evil.py' is not allowed: .*'\.\.'",
    ),
    "absolute": (
        lambda: _archive(_file("/tmp/evil.py")),
        r"entry '/tmp/evil.py' is not allowed: it is absolute",
    ),
    "device": (lambda: _archive((_member("null", tarfile.CHRTYPE), None)), r"entry 'null' is a device"),
    "fifo": (lambda: _archive((_member("pipe", tarfile.FIFOTYPE), None)), r"entry 'pipe' is a FIFO"),
    "too-many": (
        lambda: _archive(*[_file(f"m{i}.py", b"") for i in range(30)]),
        r"it holds more than 20 entries \(HPO_CODE_MAX_FILES",
    ),
    "too-big": (
        lambda: _archive(_file("a.py", b"#" * 600_000), _file("b.py", b"#" * 600_000)),
        r"its files add up to more than 1 MB \(at 'b.py'\)",
    ),
}


@pytest.fixture()
def store(stack) -> ObjectStore:
    return ObjectStore(stack.settings)


def _upload(store: ObjectStore, data: bytes) -> tuple[str, str]:
    sha256 = hashlib.sha256(data).hexdigest()
    store.put_bytes(archive_key(sha256), data)
    return archive_key(sha256), sha256


def _everything(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize("case", list(CRAFTED))
def test_a_crafted_archive_is_refused_and_writes_nothing(store, tmp_path, case):
    build, why = CRAFTED[case]
    key, sha256 = _upload(store, build())
    cache = tmp_path / "deep" / "cache"
    with pytest.raises(CodeArchiveError, match=rf"code archive s3://.*{key} is refused: {why}"):
        fetch(store, key, sha256, cache, max_bytes=1_000_000, max_files=20)
    # Nothing outside the cache, and nothing left inside it but the (empty) private code folder.
    assert _everything(tmp_path) == ["deep", "deep/cache", "deep/cache/code"]
    assert not Path("/tmp/evil.py").exists()


def test_code_is_extracted_read_only_into_a_private_folder_and_reused(store, tmp_path):
    key, sha256 = _upload(store, _archive(_file("train.py"), _file("pkg/__init__.py", b"X = 1\n")))
    target = fetch(store, key, sha256, tmp_path / "cache")
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "pkg",
        "pkg/__init__.py",
        "train.py",
    ]
    assert stat.S_IMODE((tmp_path / "cache" / "code").stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "train.py").stat().st_mode) == 0o400
    (target / "__pycache__").mkdir()  # what the training writes beside its files is left alone
    assert fetch(store, key, sha256, tmp_path / "cache") == target
    assert (target / "__pycache__").is_dir()


def test_a_changed_copy_is_extracted_again_and_said_so(store, tmp_path, caplog):
    key, sha256 = _upload(store, _archive(_file("train.py", b"GOOD = True\n")))
    target = fetch(store, key, sha256, tmp_path / "cache")
    (target / "train.py").chmod(0o600)
    (target / "train.py").write_text("import os; os.system('steal')\n")  # planted by someone
    with caplog.at_level(logging.WARNING, logger="hpo.code"):
        again = fetch(store, key, sha256, tmp_path / "cache")
    assert (again / "train.py").read_text() == "GOOD = True\n"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "hpo.code"]
    assert f"{target} does not match the archive (train.py changed); extracting it again" in line


def test_a_cache_open_to_others_is_emptied_and_tightened(store, tmp_path, caplog):
    key, sha256 = _upload(store, _archive(_file("train.py", b"GOOD = True\n")))
    planted = tmp_path / "cache" / "code" / sha256
    planted.mkdir(parents=True)
    (planted / "train.py").write_text("EVIL = True\n")  # a folder planted under the right name
    (tmp_path / "cache" / "code").chmod(0o777)
    with caplog.at_level(logging.WARNING, logger="hpo.code"):
        target = fetch(store, key, sha256, tmp_path / "cache")
    assert (target / "train.py").read_text() == "GOOD = True\n"
    assert stat.S_IMODE((tmp_path / "cache" / "code").stat().st_mode) == 0o700
    assert any(
        "was open to other users; set it to 0700 and emptied it" in r.getMessage() for r in caplog.records
    )


def test_a_planted_folder_without_a_manifest_is_not_imported(store, tmp_path):
    key, sha256 = _upload(store, _archive(_file("train.py", b"GOOD = True\n")))
    planted = tmp_path / "cache" / "code" / sha256
    planted.mkdir(parents=True, mode=0o700)
    (tmp_path / "cache" / "code").chmod(0o700)
    (planted / "train.py").write_text("EVIL = True\n")
    assert (fetch(store, key, sha256, tmp_path / "cache") / "train.py").read_text() == "GOOD = True\n"


def test_a_code_cache_of_another_user_is_refused(store, tmp_path, monkeypatch):
    key, sha256 = _upload(store, _archive(_file("train.py")))
    (tmp_path / "cache" / "code").mkdir(parents=True, mode=0o700)
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)  # as if another user ran it
    with pytest.raises(
        CodeArchiveError, match=r"the code cache .* belongs to user id \d+, not to this worker's user"
    ):
        fetch(store, key, sha256, tmp_path / "cache")


def test_packing_round_trips_through_s3(store, tmp_path):
    code = tmp_path / "code"
    (code / "pkg").mkdir(parents=True)
    (code / "train.py").write_text("def train(trial):\n    return {}\n")
    (code / "pkg" / "run.sh").write_text("#!/bin/sh\n")
    (code / "pkg" / "run.sh").chmod(0o755)
    key, sha256 = code_archives.upload(store, code_archives.pack(code, warn=lambda line: None))
    target = fetch(store, key, sha256, tmp_path / f"cache-{uuid.uuid4().hex[:6]}")
    assert (target / "train.py").read_text() == (code / "train.py").read_text()
    assert os.access(target / "pkg" / "run.sh", os.X_OK)


def _one_trial_spec(name: str, task: dict[str, Any]) -> SweepSpec:
    """One trial of one step, maximising the metric x the code reports."""
    return parse_spec(
        {
            "name": name,
            "task": task,
            "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "algorithm": "random",
            "trials": 1,
            "objective": {"metric": "x", "mode": "max"},
            "training": {"max_steps": 1},
        }
    )


ENV_PROBE = """\
import json, os
names = sorted(os.environ)
print("hpo:result " + json.dumps({
    "aws": sum(n.startswith("AWS_") for n in names),
    "hpo_s3": sum(n.startswith("HPO_S3_") for n in names),
    "hpo_temporal": sum(n.startswith("HPO_TEMPORAL_") for n in names),
    "contract": int("HPO_TRIAL_ID" in os.environ and "HPO_PARAMS" in os.environ),
    "metrics_dir": int("PROMETHEUS_MULTIPROC_DIR" in os.environ),
    "x": float(json.loads(os.environ["HPO_PARAMS"])["x"]),
}))
"""


async def test_a_command_trial_on_the_stack_sees_none_of_the_workers_secrets(
    stack, training_worker, tmp_path
):
    code = tmp_path / "probe"
    code.mkdir()
    (code / "probe.py").write_text(ENV_PROBE)
    (code / ".env").write_text("AWS_SECRET_ACCESS_KEY=from-the-checkout\n")  # never shipped
    spec = _one_trial_spec("env-probe", {"command": ["python", "probe.py"], "code": str(code)})
    status = await run_sweep(stack, spec, new_sweep_id("env-probe"))
    (trial,) = status.trials
    assert trial.status == "completed", trial.error
    # The worker runs with S3 keys and a Temporal address in its environment; the command sees none.
    assert {k: trial.validation[k] for k in ("aws", "hpo_s3", "hpo_temporal", "metrics_dir", "contract")} == {
        "aws": 0,
        "hpo_s3": 0,
        "hpo_temporal": 0,
        "metrics_dir": 0,
        "contract": 1,
    }


LINKING_TRAINER = """\
import os


def train(trial):
    with trial.checkpoint_dir(1) as directory:
        (directory / "model.bin").write_text("weights")
        os.symlink("/etc/hostname", directory / "creds")  # a worker's file, carried out by a link
    return {"x": 1.0}
"""


async def test_a_symlink_in_a_checkpoint_fails_the_trial_naming_it(stack, training_worker, tmp_path):
    code = tmp_path / "linking"
    code.mkdir()
    (code / "linking_trainer.py").write_text(LINKING_TRAINER)
    spec = _one_trial_spec("ckpt-link", {"entrypoint": "linking_trainer:train", "code": str(code)})
    status = await run_sweep(stack, spec, new_sweep_id("ckpt-link"))
    (trial,) = status.trials
    assert trial.status == "failed"
    assert f"trial {trial.trial_id} at step 1: the checkpoint directory holds 'creds', a symbolic link" in (
        trial.error or ""
    )
