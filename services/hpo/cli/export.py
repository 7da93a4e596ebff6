"""`hpo export SWEEP_ID`: a sweep's trials, curves and scores into MLflow and/or TensorBoard.

The status comes from Temporal (a finished sweep's result needs no worker), the curves from
S3; `hpo.results.tracking` does the translation. Re-exporting is safe: MLflow runs are found again by
their tags and only updated, TensorBoard files are rewritten.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from hpo.cli.commands import _status_of, preflight
from hpo.cli.curves import read_curves
from hpo.cli.ui import UserError, console
from hpo.contracts.messages import SweepStatus
from hpo.contracts.settings import Settings

# MLflow's own default since 3.7: its file store (`file:./mlruns`) now refuses to open unless
# MLFLOW_ALLOW_FILE_STORE=true, so a default there would fail on a fresh install.
DEFAULT_MLFLOW_URI = "sqlite:///mlflow.db"


def _tracker_defaults() -> None:
    """MLflow retries an unreachable server for about four minutes by default (7 retries,
    doubling back-off); an export is a command the user reruns, so it fails within seconds
    unless MLflow's own variables say otherwise. And MLflow and Alembic log every schema
    migration of a new SQLite store at INFO."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _to_mlflow(status: SweepStatus, curves: dict[str, list[dict[str, Any]]], uri: str) -> None:
    from hpo.results import tracking

    try:
        done = tracking.export_mlflow(status, curves, uri)
    except tracking.TrackingError as error:
        raise UserError(str(error)) from None
    console.print(
        f"MLflow {uri}: experiment {done.experiment_name!r} ({done.experiment_id}), parent run "
        f"{done.parent_run_id}; {done.created} trial runs created, {done.updated} updated, "
        f"{done.points} metric points logged",
        # A path-like URI and ids: plain text, never wrapped, so a script can pick them up.
        markup=False,
        soft_wrap=True,
    )


def _to_tensorboard(status: SweepStatus, curves: dict[str, list[dict[str, Any]]], directory: Path) -> None:
    from hpo.results import tracking

    try:
        root = tracking.export_tensorboard(status, curves, directory)
    except tracking.TrackingUnavailable as error:
        raise UserError(str(error)) from None
    except OSError as error:
        raise UserError(f"TensorBoard export to {directory} failed: {error}") from None
    console.print(
        f"TensorBoard: {len(status.trials)} trials in {root} (view: tensorboard --logdir {directory})",
        markup=False,
        soft_wrap=True,
    )


def _require_trackers(mlflow: bool, tensorboard: bool) -> None:
    """A missing optional package fails before any server is asked, naming the extra."""
    from hpo.results import tracking

    try:
        if mlflow:
            tracking.require("mlflow", "MLflow export")
        if tensorboard:
            tracking.require("tensorboardX", "TensorBoard export")
    except tracking.TrackingUnavailable as error:
        raise UserError(str(error)) from None


async def export(
    settings: Settings, sweep_id: str, mlflow_uri: str | None, tensorboard_dir: Path | None
) -> int:
    """Export a sweep; with neither target given, to MLflow at DEFAULT_MLFLOW_URI."""
    if mlflow_uri is None and tensorboard_dir is None:
        mlflow_uri = DEFAULT_MLFLOW_URI
    _require_trackers(mlflow_uri is not None, tensorboard_dir is not None)
    client = await preflight(settings)
    status = await _status_of(client, sweep_id, settings)
    curves = read_curves(settings, status)
    _tracker_defaults()
    if mlflow_uri is not None:
        _to_mlflow(status, curves, mlflow_uri)
    if tensorboard_dir is not None:
        _to_tensorboard(status, curves, tensorboard_dir)
    if status.state != "completed":
        console.print(
            f"sweep {sweep_id} is still {status.state}: export again later to add what it does next"
        )
    return 0
