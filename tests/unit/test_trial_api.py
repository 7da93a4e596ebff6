"""The trial API on its own (no servers): checkpoints round-trip, mistakes are named."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
import torch

import hpo
from hpo.trial import Trial, TrialError, objective_value, validation_and_test


class FolderSession:
    """A TrialSession that keeps checkpoints in local folders, as hpo keeps them in S3."""

    def __init__(self, root: Path) -> None:
        self.scratch = root / "scratch"
        self.scratch.mkdir(parents=True)
        self.saved: dict[int, Path] = {}
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.stop = False

    def save_checkpoint(self, step: int, directory: Path, info: dict) -> str:
        target = self.scratch.parent / f"ckpt-{step}"
        shutil.copytree(directory, target)
        self.saved[step] = target
        return str(target)

    def report(self, step: int, metrics: dict[str, float]) -> None:
        self.reports.append((step, metrics))

    def stopping(self) -> bool:
        return self.stop


def make_trial(session: FolderSession, restored_step: int = 0, restored_dir: Path | None = None) -> Trial:
    return Trial(
        session=session, sweep_id="s", trial_id="t0003", params={"lr": 0.1}, config={}, seed=3, rung=0,
        target_step=10, max_steps=10, restored_step=restored_step, restored_dir=restored_dir,
    )  # fmt: skip


def test_save_then_restore_gives_back_the_state_and_the_step(tmp_path):
    session = FolderSession(tmp_path)
    trial = make_trial(session)
    assert trial.restore() is None and trial.restored_dir() is None and trial.start_step == 0
    weights = {"w": torch.arange(6.0).reshape(2, 3)}
    trial.report(4, loss=0.25)
    trial.save({"model": weights, "step": 4, "note": "x", "history": [1.0, 2.0]})
    assert session.saved.keys() == {4} and trial.saved_step == 4 and trial.step == 4
    assert session.reports == [(4, {"loss": 0.25})]

    resumed = make_trial(FolderSession(tmp_path / "again"), restored_step=4, restored_dir=session.saved[4])
    state = resumed.restore()
    assert resumed.start_step == 4 and state["step"] == 4 and state["note"] == "x"
    assert torch.equal(state["model"]["w"], weights["w"])


class Opaque:
    """A class a weights_only load refuses to rebuild."""


def test_a_state_that_cannot_load_safely_is_refused_at_the_first_save(tmp_path):
    trial = make_trial(FolderSession(tmp_path))
    with pytest.raises(
        TrialError, match=r"trial t0003: trial.save\(\) got a state that cannot be loaded back"
    ):
        trial.save({"thing": Opaque()}, step=1)
    with pytest.raises(TrialError, match=r"trial.save\(\) cannot store the state"):
        trial.save({"thing": lambda: 1}, step=1)


def test_a_checkpoint_needs_a_step(tmp_path):
    trial = make_trial(FolderSession(tmp_path))
    with pytest.raises(TrialError, match="needs a step > 0"):
        trial.save({"x": 1})
    with pytest.raises(TrialError, match="must be an integer >= 0"):
        trial.report(-1, loss=1.0)
    with pytest.raises(TrialError, match="metric 'loss' is 'low', not a number"):
        trial.report(1, loss="low")


def test_directory_checkpoints_keep_any_files(tmp_path):
    session = FolderSession(tmp_path)
    trial = make_trial(session)
    with trial.checkpoint_dir(step=7) as directory:
        (directory / "weights.bin").write_bytes(b"\x01\x02")
        (directory / "sub").mkdir()
        (directory / "sub" / "meta.json").write_text("{}")
    saved = session.saved[7]
    assert (saved / "weights.bin").read_bytes() == b"\x01\x02" and (saved / "sub" / "meta.json").is_file()
    resumed = make_trial(FolderSession(tmp_path / "b"), restored_step=7, restored_dir=saved)
    assert resumed.restored_dir() == saved
    with pytest.raises(TrialError, match="written with trial.checkpoint_dir"):
        resumed.restore()


def test_an_error_inside_the_block_saves_nothing(tmp_path):
    session = FolderSession(tmp_path)
    trial = make_trial(session)
    with pytest.raises(RuntimeError), trial.checkpoint_dir(step=2) as directory:
        (directory / "half.bin").write_bytes(b"\0")
        raise RuntimeError("disk full")
    assert session.saved == {} and trial.saved_step is None


def test_should_stop_follows_the_session_and_stays_stopped(tmp_path, monkeypatch):
    session = FolderSession(tmp_path)
    trial = make_trial(session)
    assert not trial.should_stop()
    session.stop = True
    assert not trial.should_stop()  # asked again only after STOP_CHECK_S: cheap in a tight loop
    monkeypatch.setattr("hpo.trial.STOP_CHECK_S", 0.0)
    assert trial.should_stop()
    session.stop = False
    assert trial.should_stop()


def test_rng_capture_and_restore_replays_every_generator():
    import numpy

    random.seed(1)
    torch.manual_seed(1)
    numpy.random.seed(1)
    state = hpo.capture_rng()
    first = (random.random(), torch.rand(3).tolist(), numpy.random.rand(2).tolist())
    torch.rand(100)
    hpo.restore_rng(state)
    assert (random.random(), torch.rand(3).tolist(), numpy.random.rand(2).tolist()) == first


def test_rng_state_survives_a_weights_only_checkpoint(tmp_path):
    import numpy

    numpy.random.seed(5)
    path = tmp_path / "rng.pt"
    torch.save({"rng": hpo.capture_rng()}, path)
    expected = (random.random(), torch.rand(2).tolist(), numpy.random.rand(1).tolist())
    hpo.restore_rng(torch.load(path, weights_only=True)["rng"])
    assert (random.random(), torch.rand(2).tolist(), numpy.random.rand(1).tolist()) == expected


def test_results_are_validated_and_the_objective_found():
    assert validation_and_test({"acc": 1}, "t1") == ({"acc": 1.0}, {})
    result = hpo.Result(validation={"acc": 0.5}, test={"acc": 0.4})
    assert validation_and_test(result, "t1") == ({"acc": 0.5}, {"acc": 0.4})
    with pytest.raises(TrialError, match="validation metric 'acc' is inf"):
        validation_and_test({"acc": float("inf")}, "t1")
    with pytest.raises(TrialError, match="test metric 'acc' is nan"):
        validation_and_test(hpo.Result(validation={"acc": 1.0}, test={"acc": float("nan")}), "t1")
    with pytest.raises(TrialError, match="returned NoneType"):
        validation_and_test(None, "t1")
    assert objective_value({"acc": 0.5}, "acc", "t1") == 0.5
    with pytest.raises(TrialError, match=r"objective metric 'f1' is not among .* \(acc\)"):
        objective_value({"acc": 0.5}, "f1", "t1")
