"""Leaderboards and progress lines: pure formatting of a SweepStatus.

The objective's own metric comes first, then whatever else the task reported: nothing
here knows which task ran.
"""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from hpo.messages import SweepStatus, TrialResult, ranked_trials

MAX_OTHER_METRICS = 3


def _value(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def format_params(params: dict[str, object]) -> str:
    return " ".join(f"{name}={_value(params[name])}" for name in sorted(params))


def _metric(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _other_metrics(status: SweepStatus) -> list[str]:
    names: set[str] = set()
    for trial in status.trials:
        names.update(trial.validation or {})
    names.discard(status.objective_metric)
    return sorted(names)[:MAX_OTHER_METRICS]


def leaderboard(status: SweepStatus) -> Group:
    metric = status.objective_metric
    table = Table(
        title=f"sweep {status.sweep_id} ({status.state}), objective: validation {metric} ({status.mode})"
    )
    others = _other_metrics(status)
    has_test = any(trial.test and metric in trial.test for trial in status.trials)
    columns = ["rank", "trial", "status", "params", "steps", "resumed", f"val {metric}"]
    columns += [f"val {name}" for name in others] + ([f"test {metric}"] if has_test else []) + ["train s"]
    for column in columns:
        table.add_column(column, justify="left" if column in ("trial", "status", "params") else "right")
    for rank, trial in enumerate(ranked_trials(status.trials, status.mode), start=1):
        train = trial.train
        validation = trial.validation or {}
        row = [
            str(rank) if trial.objective is not None else "-",
            trial.trial_id,
            trial.status,
            format_params(trial.params),
            str(train.step) if train else "-",
            str(train.resumed_from_step) if train and train.resumed_from_step else "-",
            _metric(trial.objective),
        ]
        row += [_metric(validation.get(name)) for name in others]
        if has_test:
            row.append(_metric((trial.test or {}).get(metric)))
        row.append(f"{train.train_seconds:.0f}" if train else "-")
        table.add_row(*row)
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


def progress_line(trial: TrialResult, metric: str) -> str:
    if trial.status == "completed" and trial.objective is not None:
        test = (trial.test or {}).get(metric)
        scores = f"val {metric} {trial.objective:.4f}" + (
            f", test {metric} {test:.4f}" if test is not None else ""
        )
        return f"{trial.trial_id} completed (rung {trial.rung}): {scores}  ({format_params(trial.params)})"
    if trial.status == "failed":
        return f"{trial.trial_id} failed: {trial.error}"
    return f"{trial.trial_id} {trial.status} (rung {trial.rung}) ({format_params(trial.params)})"
