"""The sweep engine's one rule for money: what a segment cost, in which currency, and whether
the next one still fits the budget (pure).

A segment is priced at its worker pool's price when it has one, else at the spec's `price:`.
The sweep counts money in one currency: the spec price's, else the budget's, else the first
worker price's. hpo converts no currencies: a worker price in another currency is refused
(the sweep stops and says so), never mixed into the totals.
"""

from __future__ import annotations

from hpo.contracts.messages import SegmentRecord
from hpo.contracts.spec import BudgetSpec, SweepSpec
from hpo.engine.ledger import DEFAULT_CURRENCY
from hpo.engine.state import Job, Totals

HOUR = 3600.0


class CurrencyMismatch(ValueError):
    """A worker priced a segment in another currency than the sweep counts in."""


def mismatch_message(worker_currency: str, price: float, expected: str) -> str:
    return (
        f"a training worker prices its accelerators in {worker_currency} ({price:g}/h) but this sweep "
        f"counts money in {expected} (its spec's price.currency or budget.currency, or the first "
        "worker price); hpo converts no currencies: set HPO_CURRENCY on the training workers (chart: "
        f"trainingWorker.pricing.currency) to {expected}, or the spec's currency to {worker_currency}"
    )


def spec_currency(spec: SweepSpec) -> str | None:
    """The currency the spec counts money in, if it names one (price, else budget)."""
    if spec.price is not None:
        return spec.price.currency
    return spec.budget.currency if spec.budget is not None else None


def sweep_currency(spec: SweepSpec, budget: BudgetSpec | None, totals: Totals) -> str | None:
    if spec.price is not None:
        return spec.price.currency
    if budget is not None and budget.currency:
        return budget.currency
    return totals.currency


MISMATCH = "CurrencyMismatch"  # the error type a worker refuses a segment with


def segment_price(
    segment: SegmentRecord, spec: SweepSpec, budget: BudgetSpec | None, totals: Totals
) -> tuple[float | None, str | None]:
    """(price per accelerator-hour, currency) of an ended segment; (None, None) with no price
    known. Raises CurrencyMismatch for a worker price in another currency than the sweep's."""
    if segment.price_per_hour is not None and segment.price_per_hour > 0:
        currency = segment.currency or DEFAULT_CURRENCY
        expected = sweep_currency(spec, budget, totals)
        if expected is not None and currency != expected:
            raise CurrencyMismatch(mismatch_message(currency, segment.price_per_hour, expected))
        return segment.price_per_hour, currency
    if spec.price is not None:
        return spec.price.per_accelerator_hour, spec.price.currency
    return None, None


def add_segment(totals: Totals, segment: SegmentRecord, spec: SweepSpec, budget: BudgetSpec | None) -> None:
    """An ended segment added to the running totals (the seconds always; the money only when
    its price is in the sweep's currency: a CurrencyMismatch leaves the money untouched)."""
    totals.segments += 1
    totals.seconds += segment.train_seconds
    totals.useful_seconds += segment.train_seconds - min(
        max(segment.lost_seconds, 0.0), segment.train_seconds
    )
    totals.steps += max((segment.step or 0) - segment.resumed_from_step, 0)
    price, currency = segment_price(segment, spec, budget, totals)
    if price is not None:
        totals.price_per_hour, totals.currency = price, currency
        totals.money += segment.train_seconds / HOUR * price


def projected_seconds(totals: Totals, steps: int | None, running: int) -> float | None:
    """Accelerator-seconds the next segment should cost (measured per step, else per segment);
    None when nothing is measured yet."""
    if totals.steps > 0 and steps is not None:
        return totals.useful_seconds / totals.steps * steps
    if totals.segments:
        return totals.seconds / totals.segments
    return None


def affordable(
    job: Job,
    steps: int | None,
    totals: Totals,
    committed: float,
    running: int,
    spec: SweepSpec,
    budget: BudgetSpec | None,
) -> tuple[str, str, float]:
    """("go" | "wait" | "stop", why, projected accelerator-seconds) for starting `job`."""
    if budget is None or (budget.max_cost is None and budget.max_accelerator_hours is None):
        return "go", "", 0.0
    projected = projected_seconds(totals, steps, running)
    if projected is None:
        # Nothing measured yet: one segment at a time until a step's cost is known.
        return ("wait" if running else "go"), "", 0.0
    if budget.max_accelerator_hours is not None:
        used = (totals.seconds + committed) / HOUR
        if used + projected / HOUR > budget.max_accelerator_hours:
            return (
                "stop",
                f"budget max_accelerator_hours reached: {used:.3f} h spent or committed, the next segment "
                f"(~{projected / HOUR:.3f} h) would pass the limit of {budget.max_accelerator_hours:g} h",
                projected,
            )
    if budget.max_cost is not None:
        price = totals.price_per_hour
        currency = totals.currency
        if price is None and spec.price is not None:
            price, currency = spec.price.per_accelerator_hour, spec.price.currency
        if price is None:
            return (
                "stop",
                "budget max_cost is set but no price is known: set price.per_accelerator_hour in the spec "
                "or HPO_PRICE_PER_HOUR (chart: pricing.perAcceleratorHour) on the training workers",
                projected,
            )
        spent = totals.money + committed / HOUR * price
        cost = projected / HOUR * price
        if spent + cost > budget.max_cost:
            return (
                "stop",
                f"budget max_cost reached: {spent:.2f} {currency} spent or committed, the next segment "
                f"(~{cost:.2f} {currency}) would pass the limit of {budget.max_cost:g} {budget.currency or currency}",
                projected,
            )
    return "go", "", projected


def spent_reason(totals: Totals, budget: BudgetSpec | None) -> str | None:
    """Why the sweep must stop now, having spent its budget; None while it has not."""
    if budget is None:
        return None
    if budget.max_cost is not None and totals.price_per_hour is not None and totals.money >= budget.max_cost:
        return f"budget max_cost reached: {totals.money:.2f} {totals.currency} spent"
    if budget.max_accelerator_hours is not None and totals.seconds / HOUR >= budget.max_accelerator_hours:
        return f"budget max_accelerator_hours reached: {totals.seconds / HOUR:.3f} h spent"
    return None
