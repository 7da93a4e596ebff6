"""Stopping rules inside a trial (pure): is this trial's learning curve so far bad enough,
against the curves the sweep's other trials reported, to stop it now?

Optuna's pruners' semantics where they exist: `median` and `percentile` compare the trial's
best value so far with the percentile of the other trials' values at the same step (each
other trial's latest value at or before that step, from trials that reached it), once
`min_trials` of them did; `patience` stops a trial whose best has not improved by `min_delta`
in its last `patience` reports; `threshold` stops one outside [lower, upper]. None of them
decides before `warmup_steps`, and each decides only at the first report of every
`interval_steps` steps past the warm-up; `successive_halving` (asynchronous, as Optuna's
SuccessiveHalvingPruner) judges only at rung steps `min_resource * eta**k` and keeps a trial
there if it is in the top 1/eta of the trials that reached that rung. A non-finite value
always stops the trial.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Curve = Sequence[tuple[int, float]]  # (step, value), steps ascending
RULES = ("median", "percentile", "patience", "threshold", "successive_halving")


@dataclass(frozen=True)
class PruningRule:
    name: Literal["median", "percentile", "patience", "threshold", "successive_halving"]
    mode: Literal["min", "max"]
    metric: str
    percentile: float = 50.0
    warmup_steps: int = 0
    min_trials: int = 5
    interval_steps: int = 1
    patience: int = 10
    min_delta: float = 0.0
    lower: float | None = None
    upper: float | None = None
    min_resource: int = 1
    eta: int = 3


def decide(rule: PruningRule, own: Curve, others: Iterable[Curve]) -> str | None:
    """Why the trial must stop now, or None to let it go on."""
    if not own:
        return None
    step, value = own[-1]
    if not math.isfinite(value):
        return f"pruned at step {step}: {rule.metric} is {value}"
    if step < rule.warmup_steps or not _first_in_interval(rule, own):
        return None
    if rule.name == "threshold":
        return _threshold(rule, step, value)
    if rule.name == "patience":
        return _patience(rule, own)
    if rule.name == "successive_halving":
        return _halving(rule, own, others)
    return _percentile(rule, own, others)


def _first_in_interval(rule: PruningRule, own: Curve) -> bool:
    if rule.interval_steps <= 1:
        return True
    bucket = (own[-1][0] - rule.warmup_steps) // rule.interval_steps
    earlier = [s for s, _ in own[:-1] if s >= rule.warmup_steps]
    return not earlier or (earlier[-1] - rule.warmup_steps) // rule.interval_steps < bucket


def _threshold(rule: PruningRule, step: int, value: float) -> str | None:
    if rule.lower is not None and value < rule.lower:
        return f"pruned at step {step}: {rule.metric} {value:.6g} is below the lower threshold {rule.lower:g}"
    if rule.upper is not None and value > rule.upper:
        return f"pruned at step {step}: {rule.metric} {value:.6g} is above the upper threshold {rule.upper:g}"
    return None


def _patience(rule: PruningRule, own: Curve) -> str | None:
    values = [v for _, v in own]
    if len(values) <= rule.patience:
        return None
    before, window = values[: -rule.patience], values[-rule.patience :]
    if rule.mode == "min":
        stalled = min(window) > min(before) - rule.min_delta
    else:
        stalled = max(window) < max(before) + rule.min_delta
    if not stalled:
        return None
    return (
        f"pruned at step {own[-1][0]}: {rule.metric} has not improved by {rule.min_delta:g} "
        f"in its last {rule.patience} reports"
    )


def _percentile(rule: PruningRule, own: Curve, others: Iterable[Curve]) -> str | None:
    step = own[-1][0]
    values = [v for v in (_value_at(curve, step) for curve in others) if v is not None]
    if len(values) < rule.min_trials:
        return None
    best = min(v for _, v in own) if rule.mode == "min" else max(v for _, v in own)
    # For max, the trial must beat the top `percentile` of the others' values from below.
    cut = percentile(values, rule.percentile if rule.mode == "min" else 100.0 - rule.percentile)
    worse = best > cut if rule.mode == "min" else best < cut
    if not worse:
        return None
    what = "median" if rule.name == "median" else f"{rule.percentile:g}th percentile"
    return (
        f"pruned at step {step}: its best {rule.metric} {best:.6g} is worse than the {what} "
        f"({cut:.6g}) of {len(values)} other trials at that step"
    )


def _halving(rule: PruningRule, own: Curve, others: Iterable[Curve]) -> str | None:
    """At the rungs this report crossed since the last one: in the top 1/eta, or stopped."""
    step = own[-1][0]
    before = own[-2][0] if len(own) > 1 else 0
    rung_step = rule.min_resource
    while rung_step <= step:
        if rung_step > before:
            values = [v for v in (_value_at(curve, rung_step) for curve in others) if v is not None]
            mine = _value_at(own, rung_step)
            if mine is not None and len(values) + 1 >= max(rule.min_trials, rule.eta):
                ranked = sorted([*values, mine], reverse=rule.mode == "max")
                keep = max(len(ranked) // rule.eta, 1)
                if ranked.index(mine) >= keep:
                    return (
                        f"pruned at step {step}: at rung step {rung_step} its {rule.metric} {mine:.6g} is not "
                        f"in the top 1/{rule.eta} of the {len(ranked)} trials that reached it"
                    )
        rung_step *= rule.eta
    return None


def _value_at(curve: Curve, step: int) -> float | None:
    """An other trial's latest finite value at or before `step`, if it trained that far."""
    if not curve or curve[-1][0] < step:
        return None
    value = None
    for s, v in curve:
        if s > step:
            break
        if math.isfinite(v):
            value = v
    return value


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * min(max(q, 0.0), 100.0) / 100.0
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
