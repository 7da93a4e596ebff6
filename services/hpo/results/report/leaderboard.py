"""The leaderboard table's rows, best first (the page's template draws them)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.results.report.common import fmt
from hpo.results.report.outcomes import Outcome, outcomes
from hpo.results.report.parallel import space_params


@dataclass(frozen=True)
class Cell:
    text: str
    numeric: bool = True
    strong: bool = False


@dataclass(frozen=True)
class Row:
    cells: list[Cell]
    outcome: Outcome
    error: str | None  # shown as the outcome's tooltip
    best: bool


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[Row]


def _metric_names(trials: Iterable[TrialResult], attribute: str, skip: str | None) -> list[str]:
    names: set[str] = set()
    for trial in trials:
        names.update(getattr(trial, attribute) or {})
    names.discard(skip or "")
    return sorted(names)


def leaderboard_table(status: SweepStatus) -> Table:
    """The leaderboard, best first: objective, other validation metrics, test metrics
    (reported, never used to select), parameters, steps, outcome."""
    ranked = status.leaderboard()
    endings = outcomes(status)
    params = [p.name for p in space_params(status.spec)]
    others = _metric_names(ranked, "validation", status.objective_metric)
    tests = _metric_names(ranked, "test", None)
    header = (
        ["#", "trial", f"{status.objective_metric} ({status.mode})"]
        + others
        + [f"test {name}" for name in tests]
        + params
        + ["steps", "resumed from step", "accelerator seconds", "outcome"]
    )
    rows = [
        _row(rank, t, status, endings[t.trial_id], params, others, tests) for rank, t in enumerate(ranked, 1)
    ]
    return Table(header=header, rows=rows)


def _row(
    rank: int,
    trial: TrialResult,
    status: SweepStatus,
    ending: Outcome,
    params: list[str],
    others: list[str],
    tests: list[str],
) -> Row:
    validation, test, train = trial.validation or {}, trial.test or {}, trial.train
    cells = [
        Cell(str(rank) if trial.objective is not None else "-"),
        Cell(trial.trial_id, numeric=False),
        Cell(fmt(trial.objective) if trial.objective is not None else "-", strong=True),
        *[Cell(fmt(validation[n]) if n in validation else "-") for n in others],
        *[Cell(fmt(test[n]) if n in test else "-") for n in tests],
        *[Cell(fmt(trial.params[n]) if n in trial.params else "-") for n in params],
        Cell(str(train.step) if train else "-"),
        Cell(str(train.resumed_from_step) if train and train.resumed_from_step else "-"),
        Cell(_seconds(trial)),
    ]
    return Row(cells=cells, outcome=ending, error=trial.error, best=trial.trial_id == status.best_trial_id)


def _seconds(trial: TrialResult) -> str:
    """The trial's accelerator-seconds over all its segments (`train` holds the last one's)."""
    seconds = sum(s.train_seconds for s in trial.segments) or (
        trial.train.train_seconds if trial.train else None
    )
    if seconds is None:
        return "-"
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
