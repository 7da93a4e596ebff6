"""The image task end to end without servers: prepare into an in-memory store, train, resume, predict."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import hpo
from hpo.contracts.messages import SnapshotRef
from hpo.contracts.spec import parse_spec
from hpo.tasks import image_task
from hpo.tasks.datasets import DatasetError
from hpo.tasks.registry import TaskContext
from hpo.tasks.text_classification import InvalidTrialConfig
from hpo.trial import Checkpoint, Result

TINY = {"width": 4, "depth": 1, "batch_size": 16, "lr": 0.05}


class MemoryStore:
    """The slice of ObjectStore the task uses, over a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, data: bytes) -> None:
        self.objects[key] = data

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def exists(self, key: str) -> bool:
        return key in self.objects

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))


class FakeSession:
    """A TrialSession that keeps checkpoints (files and info) in memory and records reports."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.checkpoints: dict[int, tuple[dict[str, bytes], dict[str, Any]]] = {}
        self.reports: list[tuple[int, dict[str, float]]] = []
        self.stop_when: Callable[[], bool] = lambda: False

    def save_checkpoint(self, step: int, directory: Path, info: dict[str, Any]) -> str:
        files = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
        self.checkpoints[step] = (files, info)
        return f"checkpoint-{step}"

    def report(self, step: int, metrics: dict[str, float]) -> None:
        self.reports.append((step, metrics))

    def stopping(self) -> bool:
        return self.stop_when()

    def materialise(self, step: int, directory: Path) -> Path:
        directory.mkdir(parents=True)
        for name, data in self.checkpoints[step][0].items():
            (directory / name).write_bytes(data)
        return directory


def spec(max_examples: int = 160) -> Any:
    return parse_spec(
        {
            "name": "images",
            "task": "image-classification",
            "dataset": {"source": "synthetic-cifar", "max_examples": max_examples},
            "space": {"lr": {"type": "float", "low": 0.01, "high": 0.1}},
            "trials": 1,
            "training": {"max_steps": 20, "checkpoint_every": 10, "eval_batch_size": 64},
        }
    )


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    # Tiny models: one thread is as fast, and immune to other processes on the machine.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def context() -> TaskContext:
    context = TaskContext(spec=spec(), store=MemoryStore(), heartbeat=lambda *args: None)
    context.snapshot = image_task.prepare(context)
    return context


def make_trial(
    session: FakeSession,
    context: TaskContext,
    params: dict[str, Any] | None = None,
    target_step: int = 20,
    restored_step: int = 0,
    restored_dir: Path | None = None,
) -> hpo.Trial:
    return hpo.Trial(
        session=session,
        sweep_id="s",
        trial_id="t0001",
        params=TINY if params is None else params,
        config={},
        seed=5,
        rung=0,
        target_step=target_step,
        max_steps=20,
        checkpoint_every=10,
        restored_step=restored_step,
        restored_dir=restored_dir,
        context=context,
    )


def new_session(tmp_path: Path, name: str) -> FakeSession:
    scratch = tmp_path / name
    scratch.mkdir()
    return FakeSession(scratch)


def test_prepare_stores_splits_once(context):
    snapshot: SnapshotRef = context.snapshot
    assert snapshot.counts == {"train": 128, "validation": 16, "test": 16}
    assert snapshot.label_names[:3] == ["disc", "ring", "square"] and not snapshot.reused
    again = image_task.prepare(TaskContext(spec=spec(), store=context.store, heartbeat=lambda *a: None))
    assert again.reused and again.key == snapshot.key
    other = image_task.prepare(TaskContext(spec=spec(150), store=MemoryStore(), heartbeat=lambda *a: None))
    assert other.key != snapshot.key


def test_short_run_scores_validation_and_test(tmp_path, context):
    session = new_session(tmp_path, "run")
    outcome = image_task.train(make_trial(session, context, target_step=10))
    assert isinstance(outcome, Result)
    for split in (outcome.validation, outcome.test):
        assert set(split) == {"accuracy", "loss"} and 0 <= split["accuracy"] <= 1 and split["loss"] > 0
    assert [step for step, _ in session.reports] == list(range(1, 11))
    assert sorted(session.checkpoints) == [10]
    info = session.checkpoints[10][1]
    assert info["labels"] == context.snapshot.label_names and (info["width"], info["depth"]) == (4, 1)


def test_resume_reproduces_the_uninterrupted_run(tmp_path, context):
    params = {**TINY, "augment": True, "optimizer": "adamw", "lr": 0.003, "warmup_ratio": 0.2}
    straight = new_session(tmp_path, "straight")
    whole = image_task.train(make_trial(straight, context, params, target_step=20))
    assert sorted(straight.checkpoints) == [10, 20]

    first = new_session(tmp_path, "first")
    image_task.train(make_trial(first, context, params, target_step=10))
    restored = first.materialise(10, tmp_path / "restored")
    second = new_session(tmp_path, "second")
    resumed = image_task.train(
        make_trial(second, context, params, target_step=20, restored_step=10, restored_dir=restored)
    )
    assert second.reports == straight.reports[10:]
    assert [step for step, _ in second.reports] == list(range(11, 21))
    assert resumed == whole


def test_stopping_saves_and_returns_at_once(tmp_path, context, monkeypatch):
    monkeypatch.setattr("hpo.trial.STOP_CHECK_S", 0.0)  # ask the session at every step
    session = new_session(tmp_path, "stop")
    session.stop_when = lambda: len(session.reports) >= 3
    assert image_task.train(make_trial(session, context)) == Result(validation={})
    assert sorted(session.checkpoints) == [3]


@pytest.mark.parametrize(
    "params,named",
    [
        ({"lr": 0}, "lr"),
        ({"lr": "fast"}, "lr"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"batch_size": 1000}, "batch_size"),
        ({"batch_size": 16.5}, "batch_size"),
        ({"momentum": 1.0}, "momentum"),
        ({"depth": 0}, "depth"),
        ({"label_smoothing": -0.1}, "label_smoothing"),
        ({"augment": "maybe"}, "augment"),
        ({"dropout": 0.1}, "dropout"),
    ],
)
def test_bad_params_name_the_parameter(tmp_path, context, params, named):
    with pytest.raises(InvalidTrialConfig, match=rf"\b{named}\b"):
        image_task.train(make_trial(new_session(tmp_path, "bad"), context, {**TINY, **params}))


def test_predict_from_a_checkpoint(tmp_path, context):
    session = new_session(tmp_path, "predict")
    image_task.train(make_trial(session, context, target_step=10))
    files, info = session.checkpoints[10]
    directory = session.materialise(10, tmp_path / "ckpt")
    checkpoint = Checkpoint(directory=directory, step=10, trial_id="t0001", params=TINY, config={}, info=info)
    image = [[[10 * (x + y) % 256, 0, 255] for x in range(32)] for y in range(32)]
    predictions = image_task.predict(checkpoint, [image, [[128] * 32] * 32])
    assert len(predictions) == 2
    for prediction in predictions:
        assert prediction["label"] in context.snapshot.label_names
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(ValueError, match="input 0 has shape"):
        image_task.predict(checkpoint, [[[0, 0, 0]] * 8])


def test_prepare_names_the_dataset_in_its_errors():
    bad = spec().model_copy(
        update={"dataset": spec().dataset.model_copy(update={"labels": ["disc", "zebra"]})}
    )
    with pytest.raises(DatasetError, match=r"^dataset synthetic-cifar: dataset.labels names 'zebra'"):
        image_task.prepare(TaskContext(spec=bad, store=MemoryStore(), heartbeat=lambda *a: None))
