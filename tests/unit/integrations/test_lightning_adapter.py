"""The Lightning example run by hpo's adapter with checkpoints in local folders (no server):
a segment stopped at any step (mid-epoch, at an epoch's end) and resumed from Lightning's own
checkpoint ends with exactly the uninterrupted run's metrics; mistakes are named."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("lightning", reason="Lightning is in hpo's integrations extra")
pytest.importorskip("torchdata", reason="torchdata is in hpo's integrations extra")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The example under a name of its own: a module called `train` in sys.modules would stand in
# for other tests' `train` modules (the collection imports every test module first).
_EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "lightning" / "train.py"
_loader = importlib.util.spec_from_file_location("hpo_lightning_example_train", _EXAMPLE)
assert _loader is not None and _loader.loader is not None
example = importlib.util.module_from_spec(_loader)
_loader.loader.exec_module(example)
from test_trial_api import FolderSession  # noqa: E402

from hpo.integrations.lightning import resume_from, trainer_arguments, validation  # noqa: E402
from hpo.trial import Trial  # noqa: E402

PARAMS = {"lr": 0.01, "weight_decay": 0.01, "dropout": 0.2, "batch_size": 32}
CONFIG = {"rows": 1600, "features": 8}  # 50 batches an epoch
STEPS = 120


def _trial(root: Path, target: int | None, restored: tuple[int, Path] | None = None, **fields: Any) -> Trial:
    step, folder = restored or (0, None)
    return Trial(
        session=FolderSession(root), sweep_id="s", trial_id="t0003", params=PARAMS, config=CONFIG, seed=3,
        rung=0, target_step=target, max_steps=fields.get("max_steps", STEPS), epochs=fields.get("epochs"),
        checkpoint_every=20, restored_step=step, restored_dir=folder,
    )  # fmt: skip


def _train(trial: Trial) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's hints about workers and loggers
        return example.train(trial)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    return _train(_trial(tmp_path_factory.mktemp("whole"), STEPS))


@pytest.mark.parametrize("cut", [30, 50])  # mid-epoch; the first epoch's last batch
def test_a_segment_resumed_from_its_checkpoint_ends_as_the_uninterrupted_run(tmp_path, uninterrupted, cut):
    first = _trial(tmp_path / "first", cut)
    _train(first)
    session: Any = first._session
    assert sorted(session.saved) == sorted({20, 40, cut} & set(range(cut + 1)))
    # The curve: Lightning's logged metrics at its logging interval (50 steps) and after each
    # validation (the epoch's end, the validate() that ends the segment).
    assert {step for step, _ in session.reports} == {50, cut} & set(range(cut + 1))
    assert "val_accuracy" in session.reports[-1][1]
    assert any("train_loss" in m for _, m in session.reports)

    resumed = _train(_trial(tmp_path / "second", STEPS, restored=(cut, session.saved[cut])))
    assert set(resumed) == {"loss", "accuracy"}
    for name, value in uninterrupted.items():
        assert abs(resumed[name] - value) <= 1e-6, (name, resumed[name], value)


def test_a_stop_request_checkpoints_and_ends_training(tmp_path):
    trial = _trial(tmp_path, STEPS)
    session: Any = trial._session
    session.stop = True
    _train(trial)
    assert list(session.saved) == [1]  # stopped after the first step, its checkpoint kept


def test_budgets_and_mistakes_are_named(tmp_path):
    assert trainer_arguments(_trial(tmp_path / "a", None, max_steps=None, epochs=3.0))["max_epochs"] == 3
    with pytest.raises(ValueError, match=r"training.epochs is 2.5"):
        trainer_arguments(_trial(tmp_path / "b", None, max_steps=None, epochs=2.5))
    (tmp_path / "foreign").mkdir()
    with pytest.raises(ValueError, match=r"t0003: its checkpoint at step 7 holds no lightning.ckpt"):
        resume_from(_trial(tmp_path / "c", STEPS, restored=(7, tmp_path / "foreign")))
    torch = pytest.importorskip("torch")
    metrics = {
        "val_accuracy": torch.tensor(0.5),
        "val_loss": 0.25,
        "curve": torch.ones(3),
        "nan": float("nan"),
    }
    assert validation(metrics, prefix="val_") == {"accuracy": 0.5, "loss": 0.25}
