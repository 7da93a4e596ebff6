"""Leaderboards and progress lines: pure formatting of a SweepStatus."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hpo.messages import SweepStatus, TrialResult, ranked_trials

PARAM_FORMATS = {"lr": "{:.2e}", "warmup_ratio": "{:.3f}", "weight_decay": "{:.3g}"}


def format_params(params: dict[str, object]) -> str:
    parts = []
    for name in sorted(params):
        value = params[name]
        template = PARAM_FORMATS.get(name, "{}")
        parts.append(f"{name}={template.format(value)}")
    return " ".join(parts)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def leaderboard(status: SweepStatus) -> Group:
    table = Table(
        title=f"sweep {status.sweep_id} ({status.state}), objective: validation {status.objective_metric}"
    )
    for column in (
        "rank",
        "trial",
        "status",
        "params",
        "steps",
        "resumed",
        "val acc %",
        "test acc %",
        "train s",
    ):
        table.add_column(column, justify="right" if column not in ("trial", "status", "params") else "left")
    for rank, trial in enumerate(ranked_trials(status.trials, status.mode), start=1):
        train = trial.train
        table.add_row(
            str(rank) if trial.objective is not None else "-",
            trial.trial_id,
            trial.status,
            format_params(trial.params),
            str(train.step) if train else "-",
            str(train.resumed_from_step) if train and train.resumed_from_step else "-",
            _pct(trial.validation.accuracy if trial.validation else None),
            _pct(trial.test.accuracy if trial.test else None),
            f"{train.train_seconds:.0f}" if train else "-",
        )
    # The footer below the table, not a caption: a caption wraps to the table's width.
    return Group(table, Text(_footer(status)))


def _footer(status: SweepStatus) -> str:
    footer = f"training time {status.train_seconds:.0f} s over all trials, rungs and attempts"
    if status.released_bytes:
        footer += (
            f"; {status.released_bytes / 1e6:.1f} MB of superseded checkpoints released "
            "(each trial keeps the one it was scored on)"
        )
    return footer


def failures(status: SweepStatus) -> list[str]:
    return [f"{t.trial_id}: {t.error}" for t in status.trials if t.error]


def progress_line(trial: TrialResult) -> str:
    if trial.status == "completed" and trial.validation and trial.test:
        return (
            f"{trial.trial_id} completed: val acc {_pct(trial.validation.accuracy)}%, "
            f"test acc {_pct(trial.test.accuracy)}%  ({format_params(trial.params)})"
        )
    if trial.status == "failed":
        return f"{trial.trial_id} failed: {trial.error}"
    return f"{trial.trial_id} {trial.status} ({format_params(trial.params)})"
