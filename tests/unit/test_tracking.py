"""The tracker-neutral translation of a sweep (pure), and the writers on a hand-built sweep:
MLflow on a local file store, TensorBoard event files read back from disk."""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path

import pytest

from hpo.contracts.messages import SegmentRecord, SweepStatus, TrainResult, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.results.tracking import (
    MAX_PARAM_VALUE,
    Point,
    TrackingUnavailable,
    curve_points,
    param_text,
    require,
    safe_name,
    sweep_record,
    trial_records,
)

T0 = 1_800_000_000.0


def _status(state: str = "completed") -> SweepStatus:
    spec = parse_spec(
        {
            "name": "demo",
            "task": {"entrypoint": "train:train"},
            "space": {
                "lr": {"type": "float", "low": 1.0e-4, "high": 1.0e-1, "log": True},
                "act": {"type": "categorical", "choices": ["relu", "gelu"]},
            },
            "trials": 3,
            "objective": {"metric": "error_rate", "mode": "min"},
            "training": {"max_steps": 4},
        }
    )
    best = TrialResult(
        trial_id="t0000",
        params={"lr": 0.01, "act": "relu", "layout": {"widths": [64, 32]}, "note": "x" * 7000},
        status="completed",
        rung=1,
        objective=0.1,
        validation={"error_rate": 0.1, "nll": 0.3},
        test={"error_rate": 0.12},
        train=TrainResult(step=4, train_seconds=2.5, resumed_from_step=2),
        segments=[
            SegmentRecord(
                rung=0, started_at=T0, finished_at=T0 + 10, step=2, objective=0.2, status="completed"
            ),
            SegmentRecord(
                rung=1, started_at=T0 + 20, finished_at=T0 + 30, step=4, objective=0.1, status="completed"
            ),
        ],
    )
    stopped = TrialResult(
        trial_id="t0001",
        params={"lr": 0.05, "act": "gelu"},
        status="stopped",
        objective=0.4,
        validation={"error_rate": 0.4, "nll": 0.9},
        train=TrainResult(step=2, train_seconds=1.0),
        segments=[SegmentRecord(rung=0, started_at=T0, finished_at=T0 + 9, step=2, objective=0.4)],
    )
    failed = TrialResult(trial_id="t0002", params={"lr": 0.09, "act": "gelu"}, status="failed", error="boom")
    return SweepStatus(
        sweep_id="demo-1",
        name="demo",
        spec=spec,
        state=state,  # type: ignore[arg-type]
        objective_metric="error_rate",
        mode="min",
        trials=[best, stopped, failed],
        best_trial_id="t0000",
        train_seconds=3.5,
    )


def _curves() -> dict[str, list[dict]]:
    rows = [
        {"step": s, "time": T0 + s, "loss": 1.0 / s, "lr_now": 0.01, "phase": "warm"} for s in range(1, 5)
    ]
    return {"t0000": rows, "t0001": [{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}]}


def test_names_and_values_fit_mlflow():
    assert safe_name("loss") == "loss" and safe_name("train/loss") == "train/loss"
    assert safe_name("top-1 acc (%)") == "top-1 acc ___"
    assert safe_name("../x") == "_.._x" and safe_name("/abs") == "__abs" and safe_name("") == "_"
    assert param_text(0.001) == "0.001" and param_text(True) == "True" and param_text(None) == "None"
    assert param_text({"b": [1, 2], "a": "x"}) == '{"a":"x","b":[1,2]}'
    long = param_text("x" * 7000)
    assert len(long) == MAX_PARAM_VALUE and long.endswith("...")


def test_curve_points_take_every_numeric_column_at_its_step_and_time():
    points = curve_points([{"step": 3, "time": 5.0, "loss": 0.5, "acc": 1, "tag": "a", "ok": True}], 9.0)
    assert points == [Point("loss", 0.5, 3, 5.0), Point("acc", 1.0, 3, 5.0)]
    assert curve_points([{"step": 1, "loss": 0.5}], 9.0) == [Point("loss", 0.5, 1, 9.0)]


def test_trial_records_carry_params_tags_curve_ladder_and_finals():
    best, stopped, failed = trial_records(_status(), _curves(), now=T0 + 100)
    assert best.params["lr"] == "0.01" and best.params["layout"] == '{"widths":[64,32]}'
    assert len(best.params["note"]) == MAX_PARAM_VALUE
    assert best.hparams["lr"] == 0.01 and best.hparams["layout"] == '{"widths":[64,32]}'
    assert best.tags["hpo.sweep_id"] == "demo-1" and best.tags["hpo.trial_id"] == "t0000"
    assert best.tags["hpo.status"] == "completed" and best.tags["hpo.rung"] == "1"
    assert best.tags["hpo.task"] == "train:train" and best.tags["hpo.best"] == "true"
    assert best.finals == {
        "val_error_rate": 0.1,
        "val_nll": 0.3,
        "test_error_rate": 0.12,
        "train_seconds": 2.5,
        "objective": 0.1,
    }
    series = {key: [(p.step, p.value) for p in best.points if p.key == key] for key in {"loss", "objective"}}
    assert series["loss"] == [(s, 1.0 / s) for s in range(1, 5)]
    assert series["objective"] == [(2, 0.2), (4, 0.1)]  # the ladder, one point per scored rung
    assert [p.timestamp for p in best.points if p.key == "loss"] == [T0 + s for s in range(1, 5)]
    assert best.state == "FINISHED" and (best.start, best.end) == (T0, T0 + 30)
    assert stopped.state == "FINISHED" and stopped.tags["hpo.best"] == "false"
    assert {p.timestamp for p in stopped.points if p.key == "loss"} == {T0 + 9}  # no row time: segment end
    assert failed.state == "FAILED" and failed.tags["hpo.error"] == "boom" and failed.points == []


def test_sweep_record_is_the_parent_run():
    record = sweep_record(_status(state="running"), now=T0 + 100)
    assert record.trial_id is None and record.name == "demo-1" and record.state == "RUNNING"
    assert record.params["trials"] == "3" and '"lr"' in record.params["space"]
    assert record.finals["best_objective"] == 0.1 and record.finals["trials_scored"] == 2.0
    assert {p.step for p in record.points} == {2}
    assert record.tags["hpo.best_trial_id"] == "t0000" and record.tags["hpo.kind"] == "sweep"


def test_missing_optional_package_names_the_extra(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(TrackingUnavailable, match=r"pip install 'hpo\[tracking\]'"):
        require("hpo_no_such_tracker", "Export")
    from hpo.cli.export import export
    from hpo.cli.ui import UserError
    from hpo.contracts.settings import Settings

    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    unreachable = Settings(temporal_address="127.0.0.1:9", s3_endpoint="http://127.0.0.1:9")
    with pytest.raises(UserError, match=r"TensorBoard export needs .*'tensorboardX'.*hpo\[tracking\]"):
        asyncio.run(export(unreachable, "any-sweep", None, Path("tb")))  # before any server is asked


def test_mlflow_export_is_nested_complete_and_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    mlflow = pytest.importorskip("mlflow")
    from hpo.results.tracking import export_mlflow

    # The file store (maintenance mode in MLflow 3) is opened without SQLite's 10 s of schema
    # migrations; the integration test exports to SQLite.
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    first = export_mlflow(_status(), _curves(), uri)
    assert (first.created, first.updated) == (3, 0) and first.points > 0
    second = export_mlflow(_status(), _curves(), uri)
    assert (second.created, second.updated, second.points) == (0, 3, 0)
    assert second.parent_run_id == first.parent_run_id

    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([first.experiment_id])
    assert len(runs) == 4
    trials = {r.data.tags["hpo.trial_id"]: r for r in runs if r.data.tags.get("hpo.kind") == "trial"}
    assert all(r.data.tags["mlflow.parentRunId"] == first.parent_run_id for r in trials.values())
    best = trials["t0000"]
    assert best.data.params["act"] == "relu" and best.data.metrics["val_nll"] == 0.3
    assert best.info.status == "FINISHED" and trials["t0002"].info.status == "FAILED"
    history = client.get_metric_history(best.info.run_id, "loss")
    assert [(m.step, m.value, m.timestamp) for m in history] == [
        (s, 1.0 / s, int((T0 + s) * 1000)) for s in range(1, 5)
    ]


def test_tensorboard_export_rewrites_one_event_file_per_trial(tmp_path: Path):
    pytest.importorskip("tensorboardX")
    from hpo.results.tracking import export_tensorboard, read_tensorboard

    for _ in range(2):
        root = export_tensorboard(_status(), _curves(), tmp_path)
    assert sorted(p.name for p in root.iterdir()) == ["t0000", "t0001", "t0002"]
    assert len(list((root / "t0000").glob("events.out.tfevents.*"))) == 1
    contents = read_tensorboard(root / "t0000")
    steps, values, times = zip(*contents.scalars["loss"], strict=True)
    assert steps == (1, 2, 3, 4) and times == tuple(T0 + s for s in steps)
    assert values == pytest.approx([1.0 / s for s in steps], rel=1e-6)  # TensorBoard keeps float32
    assert contents.hparams["act"] == "relu" and math.isclose(contents.hparams["lr"], 0.01)
    assert set(contents.hparam_metrics) == {
        "val_error_rate",
        "val_nll",
        "test_error_rate",
        "train_seconds",
        "objective",
    }
