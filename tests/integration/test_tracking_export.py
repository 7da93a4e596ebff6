"""`hpo export` on the real stack: a finished ASHA sweep of the bring-your-own example goes into
MLflow (SQLite store, read back with MLflow's own client) and TensorBoard event files, twice,
without duplicating a run or a point."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sweeps import byo_spec, new_sweep_id, run_sweep

from hpo.contracts.messages import SweepStatus
from hpo.storage.curves import read_curve
from hpo.storage.s3 import ObjectStore

pytestmark = pytest.mark.integration
mlflow = pytest.importorskip("mlflow")
pytest.importorskip("tensorboardX")


async def _export(stack: Any, sweep_id: str, uri: str, tensorboard: Path) -> str:
    command = [
        sys.executable,
        "-m",
        "hpo.cli",
        "export",
        sweep_id,
        "--mlflow",
        uri,
        "--tensorboard",
        str(tensorboard),
    ]
    done = await asyncio.to_thread(
        subprocess.run, command, env=stack.env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _check_mlflow(uri: str, status: SweepStatus, curves: dict[str, list[dict[str, Any]]]) -> dict[str, int]:
    """Runs, params, tags, metric histories and final metrics as MLflow reads them back;
    returns the number of points per run, to compare across exports."""
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(status.name)
    runs = client.search_runs(
        [experiment.experiment_id], filter_string=f"tags.`hpo.sweep_id` = '{status.sweep_id}'"
    )
    parents = [r for r in runs if r.data.tags["hpo.kind"] == "sweep"]
    assert len(parents) == 1 and len(runs) == 1 + len(status.trials)
    parent = parents[0]
    assert parent.info.run_name == status.sweep_id and parent.info.status == "FINISHED"
    assert parent.data.tags["hpo.best_trial_id"] == status.best_trial_id
    assert parent.data.metrics["best_objective"] == status.best.objective  # type: ignore[union-attr]
    trials = {r.data.tags["hpo.trial_id"]: r for r in runs if r.data.tags["hpo.kind"] == "trial"}
    points = {}
    for trial in status.trials:
        run = trials[trial.trial_id]
        assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert run.data.params == {name: str(value) for name, value in trial.params.items()}
        tags = run.data.tags
        assert (tags["hpo.status"], tags["hpo.rung"], tags["hpo.task"]) == (
            trial.status,
            str(trial.rung),
            "train:train",
        )
        assert trial.train is not None and trial.validation and trial.test
        expected = {f"val_{k}": v for k, v in trial.validation.items()}
        expected |= {f"test_{k}": v for k, v in trial.test.items()}
        expected |= {"train_seconds": trial.train.train_seconds, "objective": trial.objective}
        assert {k: run.data.metrics[k] for k in expected} == expected
        # The curve metric: one point per reported step, at the step's wall time.
        rows = curves[trial.trial_id]
        assert [r["step"] for r in rows] == list(range(1, trial.train.step + 1))
        history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
        assert [(m.step, m.value, m.timestamp) for m in history] == [
            (r["step"], r["loss"], round(r["time"] * 1000)) for r in rows
        ]
        ladder = client.get_metric_history(run.info.run_id, "objective")
        assert sorted(m.step for m in ladder) == [s.step for s in trial.segments if s.objective is not None]
        points[trial.trial_id] = sum(
            len(client.get_metric_history(run.info.run_id, k)) for k in run.data.metrics
        )
    return points


def _check_tensorboard(root: Path, status: SweepStatus, curves: dict[str, list[dict[str, Any]]]) -> None:
    from hpo.results.tracking import read_tensorboard

    assert sorted(p.name for p in root.iterdir()) == sorted(t.trial_id for t in status.trials)
    for trial in status.trials:
        assert (
            len(list((root / trial.trial_id).glob("events.out.tfevents.*"))) == 1
        )  # rewritten, not appended
        contents = read_tensorboard(root / trial.trial_id)
        rows = curves[trial.trial_id]
        assert [step for step, _, _ in contents.scalars["loss"]] == [r["step"] for r in rows]
        assert [v for _, v, _ in contents.scalars["loss"]] == pytest.approx(
            [r["loss"] for r in rows], rel=1e-6
        )
        assert trial.validation is not None
        for name, value in trial.validation.items():
            assert contents.scalars[f"val_{name}"][-1][1] == pytest.approx(value, rel=1e-6)
        assert contents.hparams == pytest.approx(trial.params)
        assert {f"val_{name}" for name in trial.validation} <= set(contents.hparam_metrics)


async def test_export_to_mlflow_and_tensorboard_twice_without_duplicates(stack, training_worker, tmp_path):
    spec = byo_spec(
        "function",
        trials=4,
        algorithm={"name": "asha", "eta": 2, "min_fidelity": 20},
        training={"max_steps": 80, "checkpoint_every": 20},
    )
    sweep_id = new_sweep_id("track")
    status = await run_sweep(stack, spec, sweep_id)
    assert status.state == "completed" and not [t.error for t in status.trials if t.status == "failed"]
    assert any(t.rung > 0 for t in status.trials), "ASHA promoted no trial"
    store = ObjectStore(stack.settings)
    curves = {t.trial_id: read_curve(store, sweep_id, t.trial_id, status.scope) for t in status.trials}
    uri, tensorboard = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "tb"

    first = await _export(stack, sweep_id, uri, tensorboard)
    assert f"{len(status.trials)} trial runs created, 0 updated" in first
    assert str(tensorboard / sweep_id) in first
    points = _check_mlflow(uri, status, curves)
    _check_tensorboard(tensorboard / sweep_id, status, curves)

    second = await _export(stack, sweep_id, uri, tensorboard)
    assert f"0 trial runs created, {len(status.trials)} updated, 0 metric points logged" in second
    assert _check_mlflow(uri, status, curves) == points
    _check_tensorboard(tensorboard / sweep_id, status, curves)


async def test_export_of_an_unknown_sweep_is_a_user_error(stack, tmp_path):
    command = [sys.executable, "-m", "hpo.cli", "export", "no-such-sweep", "--tensorboard", str(tmp_path)]
    done = await asyncio.to_thread(
        subprocess.run, command, env=stack.env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "no sweep 'no-such-sweep'" in done.stderr
