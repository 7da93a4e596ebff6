"""The money ledger of a sweep: what it spent, what it lost, what it saved. Pure.

Imported by the sweep workflow (its status and its budget checks), so: pydantic and the
standard library only, no I/O, no clock, the same answer for the same input.

**accelerator-seconds** = wall seconds a training segment held its worker slot × the
accelerators it held (GPUs; on a CPU worker the slot counts as one accelerator), every
attempt counted, crashed, hung and preempted ones included. Workers measure them
(`SegmentRecord.train_seconds`). A crashed attempt (SIGKILL, a lost node) cannot measure its
own end: it counts from its start until its retry was scheduled, when the sweep knew it was
dead (its heartbeat timeout plus the retry backoff; hpo.activities.attempts). `lost_seconds`
is the part of the attempts a fault ended (crash, hang, preemption) that produced nothing
the next attempt kept: all their time except what their steps up to the checkpoint it
resumed from cost, so a crash's silent tail and a hang's stall are lost whole.
`redone_steps` counts the steps trained again (an attempt's furthest step − the step its
successor restored); their cost is in lost_seconds.

**Prices.** A segment is priced at its worker pool's price (HPO_PRICE_PER_HOUR /
HPO_CURRENCY, the chart's `trainingWorker.pricing`) when it has one, else at the spec's
`price:`. The sweep has one currency: the spec price's, else the budget's when some worker
prices in it, else the newest priced segment's. A worker price in another currency is
ignored (no exchange rates here): that segment is priced at the spec's price, or at the
newest worker price in the sweep's currency. A worker price without a currency is in USD
(the workers' default). With no price anywhere, `Money.currency` is None and every amount
is in accelerator-hours.

**Per trial i** (amounts priced segment by segment):
- steps advanced A_i = Σ over segments that reported a step of (step − resumed_from_step);
- cost per step c_i = (train − lost amount of those segments) / A_i; a trial with A_i = 0
  uses the sweep-wide cost per step (0 before any step);
- useful_i = spent_i − lost_i (over all its segments);
- early stopping saved_i = c_i × (F − reached_i) when the trial ended below full fidelity F
  (`training.max_steps`) having trained: status completed or stopped (ASHA did not promote
  it, or a stop or budget ended the sweep), 0 < reached_i < F; else 0. A failed, cancelled
  or running trial saves nothing: its counterfactual is its own work so far (it would have
  failed, been cancelled, or is still going). With no max_steps (an epochs budget), F is
  each trial's own final step and nothing is saved;
- full_i = useful_i + saved_i, which is c_i × F whenever the trial's segments chain (each
  resumes where the previous one ended, the first at step 0);
- resuming saved c_i × (Σ resumed_from_step over its segments + Σ retried_steps_saved):
  what restarting every promotion and retry at step 0 would have added.

**The identity**, exact up to float rounding for every input, by construction:
``spent − lost_to_faults + saved_by_early_stopping == full_fidelity``.
"""

from __future__ import annotations

from collections.abc import Iterable

from hpo.contracts.messages import Money, SegmentRecord, TrialResult
from hpo.contracts.spec import SweepSpec

ACCELERATOR_SECONDS_DEFINITION = (
    "accelerator-seconds = wall seconds a training segment held its worker slot × the "
    "accelerators it held (GPUs; on a CPU worker the slot counts as one accelerator), "
    "every attempt counted, crashed, hung and preempted ones included"
)
HOUR = 3600.0
DEFAULT_CURRENCY = "USD"  # what a worker price without a currency is in (Settings.currency)
EARLY_STOPPED = ("completed", "stopped")


def segments_of(trial: TrialResult) -> list[SegmentRecord]:
    """The trial's segments; a trial recorded before segments were kept counts as one."""
    if trial.segments or trial.train is None:
        return trial.segments
    train = trial.train
    return [
        SegmentRecord(
            rung=trial.rung,
            started_at=0.0,
            step=train.step,
            status=trial.status,
            train_seconds=train.train_seconds,
            resumed_from_step=train.resumed_from_step,
            lost_seconds=train.lost_seconds,
            retried_steps_saved=train.retried_steps_saved,
            redone_steps=train.redone_steps,
            accelerators=train.accelerators,
            price_per_hour=train.price_per_hour,
            currency=train.currency,
        )
    ]


def _lost(segment: SegmentRecord) -> float:
    """Lost accelerator-seconds, within [0, train_seconds]."""
    return min(max(segment.lost_seconds, 0.0), max(segment.train_seconds, 0.0))


def _advanced(segment: SegmentRecord) -> int:
    return max((segment.step or 0) - segment.resumed_from_step, 0)


def _measured(trials: Iterable[TrialResult]) -> Iterable[SegmentRecord]:
    """Segments that reported the step they reached: the ones a cost per step is measured on."""
    return (s for t in trials for s in segments_of(t) if s.step is not None)


def seconds_per_step(trials: list[TrialResult]) -> float | None:
    """Sweep-wide useful accelerator-seconds (lost work excluded) per step trained so far;
    None before any step."""
    steps = seconds = 0.0
    for segment in _measured(trials):
        steps += _advanced(segment)
        seconds += segment.train_seconds - _lost(segment)
    return seconds / steps if steps > 0 else None


def _worker_price(segment: SegmentRecord) -> tuple[float, str] | None:
    price = segment.price_per_hour
    if price is None or price <= 0:
        return None
    return price, segment.currency or DEFAULT_CURRENCY


def _newest_worker_prices(trials: list[TrialResult]) -> list[tuple[float, str]]:
    """Worker prices of every segment, newest first (by start time, then recording order)."""
    priced = [
        (segment.started_at, order, price)
        for order, segment in enumerate(s for t in trials for s in segments_of(t))
        if (price := _worker_price(segment)) is not None
    ]
    return [price for _, _, price in sorted(priced, key=lambda p: (p[0], p[1]), reverse=True)]


def _currency(spec: SweepSpec, worker_prices: list[tuple[float, str]]) -> str | None:
    """The sweep's one currency (see the module docstring); None: no price known."""
    if spec.price is not None:
        return spec.price.currency
    budget = spec.budget.currency if spec.budget is not None else None
    if budget is not None and any(currency == budget for _, currency in worker_prices):
        return budget
    return worker_prices[0][1] if worker_prices else None


def price_for(spec: SweepSpec, trials: list[TrialResult]) -> tuple[float | None, str | None]:
    """(price per accelerator-hour, currency) a projection of the next segment uses: the
    newest segment's worker price in the sweep's currency, else the spec's; (None, None)
    with no price known."""
    worker_prices = _newest_worker_prices(trials)
    currency = _currency(spec, worker_prices)
    newest = next((price for price, c in worker_prices if c == currency), None)
    if newest is not None:
        return newest, currency
    if spec.price is not None:
        return spec.price.per_accelerator_hour, spec.price.currency
    return None, None


def project_cost(steps: int, trials: list[TrialResult], spec: SweepSpec) -> tuple[float, float | None]:
    """(accelerator-seconds, money or None without a price) that training `steps` more steps
    should cost at the sweep's measured cost per step: what the sweep checks against its
    budget before starting a segment. 0 before any step was measured."""
    seconds = max(steps, 0) * (seconds_per_step(trials) or 0.0)
    price, _ = price_for(spec, trials)
    return seconds, (seconds / HOUR * price if price is not None else None)


def summarize(trials: list[TrialResult], spec: SweepSpec) -> Money:
    """The ledger of `trials` (see the module docstring for every definition)."""
    worker_prices = _newest_worker_prices(trials)
    currency = _currency(spec, worker_prices)
    fallback = (
        spec.price.per_accelerator_hour
        if spec.price is not None
        else next((price for price, c in worker_prices if c == currency), None)
    )

    def rate(segment: SegmentRecord) -> float:
        """Amount per accelerator-second: money, or hours when no price is known."""
        if currency is None:
            return 1.0 / HOUR
        own = _worker_price(segment)
        price = own[0] if own is not None and own[1] == currency else fallback
        return (price or 0.0) / HOUR

    per_trial = []  # (spent, lost, measured useful amount, steps advanced)
    for trial in trials:
        segments = segments_of(trial)
        measured = [s for s in segments if s.step is not None]
        per_trial.append(
            (
                sum(s.train_seconds * rate(s) for s in segments),
                sum(_lost(s) * rate(s) for s in segments),
                sum((s.train_seconds - _lost(s)) * rate(s) for s in measured),
                sum(_advanced(s) for s in measured),
            )
        )
    all_steps = sum(p[3] for p in per_trial)
    average = sum(p[2] for p in per_trial) / all_steps if all_steps > 0 else 0.0

    full_steps = spec.training.max_steps
    spent = lost_to_faults = early_stopping = resuming = full = 0.0
    for trial, (spent_i, lost_i, useful, advanced) in zip(trials, per_trial, strict=True):
        segments = segments_of(trial)
        per_step = useful / advanced if advanced > 0 else average
        reached = max((s.step for s in segments if s.step is not None), default=0)
        saved = 0.0
        if trial.status in EARLY_STOPPED and full_steps is not None and 0 < reached < full_steps:
            saved = per_step * (full_steps - reached)
        resumed = sum(s.resumed_from_step + s.retried_steps_saved for s in segments)
        spent += spent_i
        lost_to_faults += lost_i
        early_stopping += saved
        resuming += per_step * max(resumed, 0)
        full += (spent_i - lost_i) + saved
    return Money(
        currency=currency,
        price_per_hour=price_for(spec, trials)[0] if currency is not None else None,
        accelerator_hours=sum(s.train_seconds for t in trials for s in segments_of(t)) / HOUR,
        spent=spent,
        lost_to_faults=lost_to_faults,
        full_fidelity=full,
        saved_by_early_stopping=early_stopping,
        saved_by_resuming=resuming,
        redone_steps=sum(max(s.redone_steps, 0) for t in trials for s in segments_of(t)),
    )


def _amount(value: float, currency: str | None) -> str:
    """An amount as a person reads it: money with its currency, else accelerator time."""
    if currency is not None:
        number = f"{value:,.2f}" if abs(value) >= 0.1 or value == 0 else f"{value:.2g}"
        return f"{number} {currency}"
    if value < 0.1:
        return f"{value * HOUR:,.0f} accelerator-seconds"
    return f"{value:,.2f} accelerator-hours"


def money_lines(money: Money) -> list[str]:
    """The ledger for people: printed after the leaderboard by `hpo sweep run|status|watch`."""
    currency = money.currency
    hours = money.accelerator_hours
    if hours <= 0:
        return ["nothing spent yet: no training segment has reported its accelerator-seconds"]
    over = f" over {_amount(hours, None)}" if currency is not None else ""
    redone = f", {money.redone_steps:,} steps trained again" if money.redone_steps > 0 else ""
    lost = (
        f" ({_amount(money.lost_to_faults, currency)} lost to crashes, hangs and preemptions{redone})"
        if money.lost_to_faults > 0
        else ""
    )
    lines = [f"spent {_amount(money.spent, currency)}{lost}{over}"]
    if currency is None:
        lines.append(
            "no price set (spec `price:` or the chart's `trainingWorker.pricing`): amounts in accelerator time"
        )
    full = f"full fidelity would have cost {_amount(money.full_fidelity, currency)}"
    if money.saved_by_early_stopping > 0:
        share = money.saved_by_early_stopping / money.full_fidelity if money.full_fidelity > 0 else 0.0
        lines.append(
            f"{full}: early stopping saved {_amount(money.saved_by_early_stopping, currency)} ({share:.0%})"
        )
    else:
        lines.append(f"{full}: early stopping saved nothing (no trial ended below its full budget)")
    if money.saved_by_resuming > 0:
        lines.append(
            f"resuming from checkpoints saved {_amount(money.saved_by_resuming, currency)} "
            "(vs restarting promotions and retries at step 0)"
        )
    lines.append(ACCELERATOR_SECONDS_DEFINITION)
    return lines
