"""Export a sweep to the experiment trackers teams already use: MLflow and TensorBoard.

Input is what hpo already keeps: the sweep's `SweepStatus` and each trial's learning curve
(`hpo.storage.curves.read_curve`). The translation into runs, params, tags and metric points
is pure (`sweep_record`, `trial_records`), so it is tested without any tracker; the writers
only replay those records. Nothing here names a task, a hyperparameter or a metric: every
name comes from the sweep's own spec and results.

Both trackers are optional (`pip install 'hpo[tracking]'`): MLflow through its client
(`mlflow` / `mlflow-skinny`), TensorBoard event files through `tensorboardX`, which writes the
same files as `torch.utils.tensorboard` without the tensorboard server and its dependencies.
"""

from __future__ import annotations

import importlib
import json
import posixpath
import re
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.contracts.messages import SweepStatus, TrialResult

EXTRA_HINT = "pip install 'hpo[tracking]'"
Curve = list[dict[str, Any]]
HParam = bool | int | float | str

# Columns of a curve row that are not metrics (see hpo.activities.session).
CURVE_COLUMNS = ("step", "time")
# MLflow's limits (mlflow.utils.validation): longer values are refused, not truncated.
MAX_NAME = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_PARAMS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
RUN_STATE = {"completed": "FINISHED", "stopped": "FINISHED", "failed": "FAILED", "running": "RUNNING"}
TERMINAL = ("FINISHED", "FAILED", "KILLED")


class TrackingError(RuntimeError):
    """A tracker refused the export (bad URI, unreachable server); the message says why."""


class TrackingUnavailable(TrackingError):
    """An optional tracker package is missing; the message says what to install."""


@dataclass(frozen=True)
class Point:
    """One metric value at a step; `timestamp` in unix seconds."""

    key: str
    value: float
    step: int
    timestamp: float


@dataclass
class RunRecord:
    """Everything a tracker needs about one run (the sweep, or one trial), tracker-neutral."""

    name: str
    trial_id: str | None  # None: the sweep's parent run
    params: dict[str, str]
    hparams: dict[str, HParam]
    tags: dict[str, str]
    points: list[Point]
    finals: dict[str, float]  # the run's final metrics (TensorBoard's hparams view compares these)
    state: str  # MLflow run status
    start: float | None = None
    end: float | None = None
    final_step: int = 0


# ---------------------------------------------------------------- pure: names and values


def safe_name(name: str) -> str:
    """A param or metric name MLflow accepts: trials of a command report any JSON key, and
    MLflow refuses names outside `[/\\w.\\- ]` or that look like relative paths."""
    clean = re.sub(r"[^/\w.\- ]", "_", str(name))[:MAX_NAME] or "_"
    if posixpath.normpath(clean) != clean or clean.startswith(("/", ".")):
        clean = ("_" + clean.replace("/", "_"))[:MAX_NAME]
    return clean


def param_text(value: Any, limit: int = MAX_PARAM_VALUE) -> str:
    """A hyperparameter as MLflow stores it (text): scalars as Python prints them, containers
    as compact JSON; longer than MLflow's limit is cut with a marker rather than refused."""
    if isinstance(value, str):
        text = value
    elif value is None or isinstance(value, bool | int | float):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hparam_value(value: Any) -> HParam:
    """A hyperparameter as TensorBoard's hparams view takes it: bool, number or text."""
    if isinstance(value, bool | int | float | str):
        return value
    return param_text(value)


def task_label(status: SweepStatus) -> str:
    """What trained the trials: a built-in task's name, a user's entrypoint, or a command."""
    task = status.spec.task
    return task.name or task.entrypoint or " ".join(task.command or []) or "unknown"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


# ---------------------------------------------------------------- pure: trial records


def curve_points(rows: Curve, fallback_time: float) -> list[Point]:
    """Every numeric metric of every curve row at its step; rows without a time (older
    curves) take `fallback_time`, non-numeric values are not metrics and are skipped."""
    points = []
    for row in rows:
        stamp = _number(row.get("time"))
        for key, value in row.items():
            number = _number(value)
            if key not in CURVE_COLUMNS and number is not None:
                points.append(Point(safe_name(key), number, int(row["step"]), stamp or fallback_time))
    return points


def final_metrics(trial: TrialResult) -> dict[str, float]:
    """The trial's scores as `val_<name>`, `test_<name>`, plus `objective` and `train_seconds`."""
    finals = {safe_name(f"val_{name}"): value for name, value in (trial.validation or {}).items()}
    finals.update({safe_name(f"test_{name}"): value for name, value in (trial.test or {}).items()})
    if trial.train is not None:
        finals["train_seconds"] = trial.train.train_seconds
    if trial.objective is not None:
        finals["objective"] = trial.objective
    return finals


def _ladder_points(trial: TrialResult) -> list[Point]:
    """The objective after each scored segment (rung), at the step the segment reached."""
    return [
        Point("objective", segment.objective, segment.step, segment.finished_at or segment.started_at)
        for segment in trial.segments
        if segment.objective is not None and segment.step is not None
    ]


def _dedupe(points: list[Point]) -> list[Point]:
    """One point per (metric, step), the later one winning: a final metric reported on the
    curve too, or a segment's objective that is also the final one, is logged once."""
    by_key = {(point.key, point.step): point for point in points}
    return sorted(by_key.values(), key=lambda point: (point.key, point.step))


def _trial_times(trial: TrialResult, rows: Curve) -> tuple[float | None, float | None]:
    """When the trial started and last finished a segment; the curve's first and last rows
    stand in for a trial without segment records."""
    starts = [s.started_at for s in trial.segments] + [_number(r.get("time")) for r in rows[:1]]
    ends = [s.finished_at for s in trial.segments] + [_number(r.get("time")) for r in rows[-1:]]
    known_starts = [t for t in starts if t is not None]
    known_ends = [t for t in ends if t is not None]
    return (min(known_starts) if known_starts else None), (max(known_ends) if known_ends else None)


def _trial_tags(status: SweepStatus, trial: TrialResult) -> dict[str, str]:
    tags = {
        "hpo.kind": "trial",
        "hpo.sweep_id": status.sweep_id,
        "hpo.trial_id": trial.trial_id,
        "hpo.status": trial.status,
        "hpo.rung": str(trial.rung),
        "hpo.task": task_label(status),
        "hpo.objective_metric": status.objective_metric,
        "hpo.mode": status.mode,
        "hpo.best": str(trial.trial_id == status.best_trial_id).lower(),
    }
    if trial.train is not None:
        tags["hpo.final_step"] = str(trial.train.step)
        tags["hpo.resumed_from_step"] = str(trial.train.resumed_from_step)
    if trial.error:
        tags["hpo.error"] = param_text(trial.error, MAX_TAG_VALUE)
    return tags


def trial_record(status: SweepStatus, trial: TrialResult, rows: Curve, now: float) -> RunRecord:
    """One trial as a run: its hyperparameters, tags, curve, rung ladder and final scores."""
    start, end = _trial_times(trial, rows)
    final_step = trial.train.step if trial.train else int(rows[-1]["step"]) if rows else 0
    finals = final_metrics(trial)
    stamp = end or now
    points = curve_points(rows, stamp) + _ladder_points(trial)
    points += [Point(key, value, final_step, stamp) for key, value in finals.items()]
    return RunRecord(
        name=trial.trial_id,
        trial_id=trial.trial_id,
        params={safe_name(key): param_text(value) for key, value in trial.params.items()},
        hparams={key: hparam_value(value) for key, value in trial.params.items()},
        tags=_trial_tags(status, trial),
        points=_dedupe(points),
        finals=finals,
        state=RUN_STATE.get(trial.status, "RUNNING"),
        start=start,
        end=end,
        final_step=final_step,
    )


def trial_records(
    status: SweepStatus, curves: Mapping[str, Curve], now: float | None = None
) -> list[RunRecord]:
    """Every trial of the sweep as a run, in trial order; a trial without a curve has none."""
    now = time.time() if now is None else now
    return [trial_record(status, trial, curves.get(trial.trial_id, []), now) for trial in status.trials]


def sweep_record(status: SweepStatus, now: float | None = None) -> RunRecord:
    """The sweep as the parent run: its spec as params (one per top-level field), the best
    objective so far at step = number of scored trials, so a re-export of a running sweep
    extends the series instead of overwriting it."""
    now = time.time() if now is None else now
    spec = status.spec.model_dump(mode="json", exclude_none=True)
    scored = [t for t in status.trials if t.objective is not None]
    best = status.best
    finals: dict[str, float] = {"train_seconds": status.train_seconds, "trials_scored": float(len(scored))}
    if best is not None and best.objective is not None:
        finals["best_objective"] = best.objective
    starts = [s.started_at for t in status.trials for s in t.segments]
    ends = [s.finished_at for t in status.trials for s in t.segments if s.finished_at is not None]
    tags = {
        "hpo.kind": "sweep",
        "hpo.sweep_id": status.sweep_id,
        "hpo.status": status.state,
        "hpo.task": task_label(status),
        "hpo.objective_metric": status.objective_metric,
        "hpo.mode": status.mode,
        "hpo.best_trial_id": status.best_trial_id or "",
    }
    stamp = max(ends) if ends else now
    return RunRecord(
        name=status.sweep_id,
        trial_id=None,
        params={safe_name(key): param_text(value) for key, value in spec.items()},
        hparams={},
        tags=tags,
        points=[Point(key, value, len(scored), stamp) for key, value in finals.items()],
        finals=finals,
        state="FINISHED" if status.state == "completed" else "RUNNING",
        start=min(starts) if starts else None,
        end=stamp if ends else None,
        final_step=len(scored),
    )


# ---------------------------------------------------------------- optional packages


def require(module: str, purpose: str) -> Any:
    """Import an optional tracker package, or say in one line which extra brings it."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise TrackingUnavailable(
            f"{purpose} needs the optional package {module.split('.')[0]!r} ({error}); "
            f"install it with: {EXTRA_HINT}"
        ) from None


# ---------------------------------------------------------------- MLflow


@dataclass
class MlflowExport:
    """Where an MLflow export went and what it changed (a second export creates nothing)."""

    tracking_uri: str
    experiment_id: str
    experiment_name: str
    parent_run_id: str
    points: int = 0  # metric points logged by this export
    created: int = 0
    updated: int = 0


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(round(seconds * 1000))


def _experiment_id(client: Any, name: str) -> str:
    """The experiment named after the sweep (shared by all sweeps of that name)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return str(client.create_experiment(name, tags={"hpo.sweep_name": name}))
    if experiment.lifecycle_stage == "deleted":
        client.restore_experiment(experiment.experiment_id)
    return str(experiment.experiment_id)


def _existing_runs(client: Any, experiment_id: str, sweep_id: str) -> dict[str | None, Any]:
    """This sweep's runs already in the experiment, by trial id (None: the parent run).
    Matched on our tags, so re-exports find them; deleted runs are recreated."""
    safe = re.fullmatch(r"[\w.\-:]+", sweep_id) is not None
    query = f"tags.`hpo.sweep_id` = '{sweep_id}'" if safe else ""
    runs: dict[str | None, Any] = {}
    token = None
    while True:
        page = client.search_runs([experiment_id], filter_string=query, max_results=1000, page_token=token)
        for run in page:
            tags = run.data.tags
            if tags.get("hpo.sweep_id") == sweep_id:
                runs[tags.get("hpo.trial_id") if tags.get("hpo.kind") == "trial" else None] = run
        token = page.token
        if not token:
            return runs


def _logged_steps(client: Any, run: Any) -> dict[str, set[int]]:
    """Steps already logged per metric, so a re-export appends only new points."""
    if run is None:
        return {}
    return {
        key: {m.step for m in client.get_metric_history(run.info.run_id, key)} for key in run.data.metrics
    }


def _sync_run(
    client: Any, experiment_id: str, record: RunRecord, run: Any, parent_id: str | None
) -> tuple[str, int]:
    """Create the run or bring an existing one up to date: missing params, changed tags,
    new metric points, its state. Returns its id and the number of points logged."""
    entities = importlib.import_module("mlflow.entities")
    tags = dict(record.tags)
    if parent_id is not None:
        tags["mlflow.parentRunId"] = parent_id
    logged = _logged_steps(client, run)
    if run is None:
        run = client.create_run(experiment_id, start_time=_ms(record.start), tags=tags, run_name=record.name)
    run_id = run.info.run_id
    params = [entities.Param(k, v) for k, v in record.params.items() if k not in run.data.params]
    changed = [entities.RunTag(k, v) for k, v in tags.items() if run.data.tags.get(k) != v]
    metrics = [
        entities.Metric(p.key, p.value, _ms(p.timestamp), p.step)
        for p in record.points
        if p.step not in logged.get(p.key, set())
    ]
    for chunk in _chunks(params, MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, params=chunk)
    for chunk in _chunks(changed, MAX_PARAMS_PER_BATCH):
        client.log_batch(run_id, tags=chunk)
    for chunk in _chunks(metrics, MAX_METRICS_PER_BATCH):
        client.log_batch(run_id, metrics=chunk)
    _sync_state(client, run, record)
    return run_id, len(metrics)


def _sync_state(client: Any, run: Any, record: RunRecord) -> None:
    if record.state in TERMINAL:
        moved = record.end is not None and run.info.end_time != _ms(record.end)
        if run.info.status != record.state or moved:
            client.set_terminated(run.info.run_id, status=record.state, end_time=_ms(record.end))
    elif run.info.status != record.state:
        client.update_run(run.info.run_id, status=record.state)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def export_mlflow(status: SweepStatus, curves: Mapping[str, Curve], tracking_uri: str) -> MlflowExport:
    """The sweep as one parent run (named after the sweep id) in the experiment named after
    the sweep, with one nested run per trial. Idempotent: runs are found again by their
    `hpo.sweep_id` / `hpo.trial_id` tags and only what changed is logged."""
    mlflow = require("mlflow", "MLflow export")
    try:
        return _export_mlflow(mlflow.MlflowClient(tracking_uri), status, curves, tracking_uri)
    except mlflow.exceptions.MlflowException as error:
        raise TrackingError(f"MLflow at {tracking_uri}: {error.message}") from error


def _export_mlflow(
    client: Any, status: SweepStatus, curves: Mapping[str, Curve], tracking_uri: str
) -> MlflowExport:
    experiment_id = _experiment_id(client, status.name)
    existing = _existing_runs(client, experiment_id, status.sweep_id)
    parent_id, points = _sync_run(client, experiment_id, sweep_record(status), existing.get(None), None)
    result = MlflowExport(tracking_uri, experiment_id, status.name, parent_id, points=points)
    for record in trial_records(status, curves):
        run = existing.get(record.trial_id)
        result.points += _sync_run(client, experiment_id, record, run, parent_id)[1]
        result.created += run is None
        result.updated += run is not None
    return result


# ---------------------------------------------------------------- TensorBoard


def export_tensorboard(status: SweepStatus, curves: Mapping[str, Curve], directory: Path) -> Path:
    """One event-file directory per trial under DIRECTORY/SWEEP_ID: every metric point as a
    scalar at its step and wall time, and an hparams summary (params and final metrics) for
    TensorBoard's HParams view. A re-export rewrites each trial's file instead of appending,
    which TensorBoard would show as duplicate points."""
    writer_module = require("tensorboardX", "TensorBoard export")
    summary = require("tensorboardX.summary", "TensorBoard export")
    root = directory / status.sweep_id
    for record in trial_records(status, curves):
        run_dir = root / record.name
        for old in run_dir.glob("events.out.tfevents.*"):
            old.unlink()
        writer = writer_module.SummaryWriter(logdir=str(run_dir), flush_secs=3600)
        try:
            for point in record.points:
                writer.add_scalar(point.key, point.value, point.step, walltime=point.timestamp)
            for part in summary.hparams(record.hparams, record.finals):
                writer.file_writer.add_summary(part, record.final_step, walltime=record.end)
        finally:
            writer.close()
    return root


@dataclass
class EventFileContents:
    """What TensorBoard reads from a run directory: scalars and the hparams session."""

    scalars: dict[str, list[tuple[int, float, float]]]  # tag -> [(step, value, wall_time)]
    hparams: dict[str, HParam]
    hparam_metrics: list[str]


def read_tensorboard(run_dir: Path) -> EventFileContents:
    """Read back a run directory's event files with the protos tensorboardX ships, without
    the tensorboard package: to check an export, or to script over one."""
    event_pb2 = require("tensorboardX.proto.event_pb2", "Reading TensorBoard files")
    plugin_pb2 = require("tensorboardX.proto.plugin_hparams_pb2", "Reading TensorBoard files")
    contents = EventFileContents(scalars={}, hparams={}, hparam_metrics=[])
    for path in sorted(run_dir.glob("events.out.tfevents.*")):
        for data in _records(path.read_bytes()):
            event = event_pb2.Event.FromString(data)
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "hparams":
                    _read_hparams(
                        plugin_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content), contents
                    )
                elif value.HasField("simple_value"):
                    series = contents.scalars.setdefault(value.tag, [])
                    series.append((event.step, value.simple_value, event.wall_time))
    return contents


def _read_hparams(data: Any, contents: EventFileContents) -> None:
    if data.HasField("experiment"):
        contents.hparam_metrics = [info.name.tag for info in data.experiment.metric_infos]
    if data.HasField("session_start_info"):
        for name, value in data.session_start_info.hparams.items():
            kind = value.WhichOneof("kind")
            contents.hparams[name] = getattr(value, kind) if kind else ""


def _records(data: bytes) -> Iterator[bytes]:
    """TFRecord framing: u64 length, u32 crc of it, the payload, u32 crc of it."""
    offset = 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        start = offset + 12
        yield data[start : start + length]
        offset = start + length + 4
