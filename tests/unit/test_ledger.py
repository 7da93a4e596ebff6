"""The money ledger, pure: its identity on hand-made and random sweeps, exact numbers, text."""

from __future__ import annotations

import io
import math
import random
from typing import Any

import pytest
from rich.console import Console

from hpo.contracts.messages import Money, SegmentRecord, SweepStatus, TrainResult, TrialResult
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.engine.ledger import (
    ACCELERATOR_SECONDS_DEFINITION,
    money_lines,
    price_for,
    project_cost,
    seconds_per_step,
    summarize,
)
from hpo.results.leaderboard import leaderboard


def make_spec(max_steps: int | None = 100, **extra: Any) -> SweepSpec:
    training = {"max_steps": max_steps} if max_steps is not None else {"epochs": 1}
    return parse_spec(
        {"name": "x", "space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-3}}, "trials": 4,
         "training": training, **extra}
    )  # fmt: skip


def seg(step: int | None, train: float, start: int = 0, *, at: float = 0.0, **fields: Any) -> SegmentRecord:
    return SegmentRecord(
        rung=fields.pop("rung", 0),
        started_at=at,
        step=step,
        train_seconds=train,
        resumed_from_step=start,
        **fields,
    )


def trial(trial_id: str, status: str, *segments: SegmentRecord) -> TrialResult:
    return TrialResult(trial_id=trial_id, params={}, status=status, segments=list(segments))  # type: ignore[arg-type]


def assert_identity(money: Money) -> None:
    left = money.spent - money.lost_to_faults + money.saved_by_early_stopping
    assert math.isclose(left, money.full_fidelity, rel_tol=1e-9, abs_tol=1e-9), money


# Hand-computed ASHA sweep, 100 steps full fidelity, 3.6 EUR per accelerator-hour = 0.001 EUR/s.
#   a: 0->10 (360 s), 10->30 (720 s), 30->100 (2520 s): completed; 36 s/step; resumed 10 + 30 steps
#   b: 0->10 (540 s, 180 s lost to a crash, 5 steps saved by the retry, 5 trained again): stopped; 36 s/step
#   c: failed before reporting a step (300 s, 100 s lost)
ASHA = [
    trial("a", "completed", seg(10, 360), seg(30, 720, 10, rung=1), seg(100, 2520, 30, rung=2)),
    trial("b", "stopped", seg(10, 540, lost_seconds=180, retried_steps_saved=5, redone_steps=5)),
    trial("c", "failed", seg(None, 300, lost_seconds=100, status="failed")),
]
EUR = {"price": {"per_accelerator_hour": 3.6, "currency": "EUR"}}


def test_exact_numbers_on_a_small_asha_sweep():
    money = summarize(ASHA, make_spec(**EUR))
    assert money.currency == "EUR" and money.price_per_hour == 3.6
    assert money.accelerator_hours == pytest.approx(4440 / 3600)
    assert money.spent == pytest.approx(4.44)
    assert money.lost_to_faults == pytest.approx(0.28)
    assert money.saved_by_early_stopping == pytest.approx(3.24)  # b: 36 s/step x 90 steps
    assert money.full_fidelity == pytest.approx(7.40)  # a 3.60 + b 3.60 + c's own 0.20
    assert money.saved_by_resuming == pytest.approx(1.62)  # a 36 x 40 + b 36 x 5 seconds
    assert money.redone_steps == 5
    assert_identity(money)


def test_random_search_at_full_fidelity_saves_nothing_by_early_stopping():
    trials = [trial(f"t{i}", "completed", seg(100, 1000 + i)) for i in range(4)]
    money = summarize(trials, make_spec(**EUR))
    assert money.saved_by_early_stopping == 0 and money.saved_by_resuming == 0
    assert money.full_fidelity == pytest.approx(money.spent)
    assert_identity(money)


def test_an_epochs_budget_has_no_full_fidelity_to_save_against():
    money = summarize(ASHA, make_spec(max_steps=None, **EUR))
    assert money.saved_by_early_stopping == 0
    assert money.full_fidelity == pytest.approx(money.spent - money.lost_to_faults)
    assert_identity(money)


def test_a_crash_loses_seconds_and_the_retry_saves_steps():
    crashed = trial("a", "completed", seg(100, 4000, lost_seconds=400, retried_steps_saved=50))
    money = summarize([crashed], make_spec(**EUR))
    assert money.lost_to_faults == pytest.approx(0.4)
    assert money.full_fidelity == pytest.approx(3.6)  # 36 s/step useful x 100 steps
    assert money.saved_by_resuming == pytest.approx(1.8)  # 50 steps not retrained
    assert_identity(money)


def test_a_failed_trial_counts_what_it_spent_minus_what_it_lost():
    failed = trial(
        "f", "failed", seg(40, 1440), seg(None, 500, 40, rung=1, lost_seconds=200, status="failed")
    )
    money = summarize([failed], make_spec(**EUR))
    assert money.saved_by_early_stopping == 0
    assert money.full_fidelity == pytest.approx((1940 - 200) / 1000)
    assert_identity(money)


def test_running_and_stepless_trials_use_the_sweep_average():
    trials = [
        trial("a", "completed", seg(100, 3600)),
        trial("r", "running", seg(20, 720), seg(None, 0, 20, rung=1)),
        # Stopped at step 30 without advancing a step of its own (resumed at 30): 36 s/step average.
        trial("s", "stopped", seg(30, 0, 30)),
    ]
    money = summarize(trials, make_spec(**EUR))
    assert money.saved_by_early_stopping == pytest.approx(36 * 70 / 1000)
    assert_identity(money)
    assert_identity(
        summarize([trial("z", "stopped", seg(5, 10, 5))], make_spec(**EUR))
    )  # no measured cost: 0


def test_without_a_price_amounts_are_accelerator_hours():
    money = summarize(ASHA, make_spec())
    assert money.currency is None and money.price_per_hour is None
    assert money.spent == pytest.approx(4440 / 3600) == money.accelerator_hours
    assert money.full_fidelity == pytest.approx(7400 / 3600)
    assert_identity(money)


def test_a_worker_price_overrides_the_spec_price():
    trials = [
        trial("a", "completed", seg(100, 3600, price_per_hour=7.2, currency="EUR", at=2.0)),
        trial("b", "completed", seg(100, 3600, at=1.0)),  # no worker price: the spec's 3.6
    ]
    money = summarize(trials, make_spec(**EUR))
    assert money.spent == pytest.approx(7.2 + 3.6)
    assert money.price_per_hour == 7.2
    assert price_for(make_spec(**EUR), trials) == (7.2, "EUR")
    assert_identity(money)


def test_a_worker_price_in_another_currency_is_priced_at_the_spec_price():
    trials = [trial("a", "completed", seg(100, 3600, price_per_hour=10.0, currency="USD"))]
    money = summarize(trials, make_spec(**EUR))
    assert (money.currency, money.spent) == ("EUR", pytest.approx(3.6))
    assert price_for(make_spec(**EUR), trials) == (3.6, "EUR")


def test_without_a_spec_price_the_budget_currency_then_the_newest_worker_price_decides():
    trials = [
        trial("a", "completed", seg(100, 3600, price_per_hour=3.6, currency="EUR", at=1.0)),
        trial("b", "completed", seg(100, 3600, price_per_hour=10.0, currency="USD", at=2.0)),
    ]
    money = summarize(trials, make_spec(budget={"max_cost": 25, "currency": "EUR"}))
    assert (money.currency, money.spent) == ("EUR", pytest.approx(7.2))
    money = summarize(trials, make_spec())
    assert (money.currency, money.spent) == ("USD", pytest.approx(20.0))  # EUR segment at 10 USD
    assert price_for(make_spec(), trials) == (10.0, "USD")
    assert price_for(make_spec(), []) == (None, None)


def test_a_trial_recorded_without_segments_counts_its_train_result():
    old = TrialResult(
        trial_id="o", params={}, status="completed", train=TrainResult(step=100, train_seconds=3600.0)
    )
    assert summarize([old], make_spec(**EUR)).spent == pytest.approx(3.6)
    crashed = old.model_copy(update={"train": TrainResult(step=100, train_seconds=3600.0, redone_steps=7)})
    assert summarize([crashed], make_spec(**EUR)).redone_steps == 7


def test_seconds_per_step_and_project_cost():
    assert seconds_per_step([]) is None
    assert seconds_per_step(ASHA) == pytest.approx(36.0)  # (3600 + 360) s over 110 steps
    assert project_cost(50, ASHA, make_spec(**EUR)) == (pytest.approx(1800.0), pytest.approx(1.8))
    assert project_cost(50, ASHA, make_spec()) == (pytest.approx(1800.0), None)
    assert project_cost(50, [], make_spec(**EUR)) == (0.0, 0.0)


def test_money_lines_with_a_currency():
    lines = money_lines(summarize(ASHA, make_spec(**EUR)))
    assert lines == [
        "spent 4.44 EUR (0.28 EUR lost to crashes, hangs and preemptions, 5 steps trained again) "
        "over 1.23 accelerator-hours",
        "full fidelity would have cost 7.40 EUR: early stopping saved 3.24 EUR (44%)",
        "resuming from checkpoints saved 1.62 EUR (vs restarting promotions and retries at step 0)",
        ACCELERATOR_SECONDS_DEFINITION,
    ]


def test_money_lines_without_a_price_and_with_nothing_spent():
    lines = money_lines(summarize([trial("a", "completed", seg(100, 30))], make_spec()))
    assert lines[0] == "spent 30 accelerator-seconds"
    assert "no price set" in lines[1]
    assert lines[2].startswith(
        "full fidelity would have cost 30 accelerator-seconds: early stopping saved nothing"
    )
    assert lines[-1].startswith("accelerator-seconds = wall seconds")
    assert money_lines(summarize([], make_spec(**EUR))) == [
        "nothing spent yet: no training segment has reported its accelerator-seconds"
    ]


def test_the_leaderboard_prints_the_ledger_when_the_sweep_has_one():
    spec = make_spec(**EUR)
    status = SweepStatus(
        sweep_id="s", name="x", spec=spec, state="completed", objective_metric="accuracy", mode="max",
        trials=ASHA, money=summarize(ASHA, spec),
    )  # fmt: skip
    out = io.StringIO()
    Console(file=out, width=200).print(leaderboard(status))
    assert "spent 4.44 EUR (0.28 EUR lost to crashes, hangs and preemptions, 5 steps" in out.getvalue()
    assert ACCELERATOR_SECONDS_DEFINITION in " ".join(out.getvalue().split())  # wrapped
    out = io.StringIO()
    Console(file=out, width=200).print(leaderboard(status.model_copy(update={"money": None})))
    assert "spent" not in out.getvalue()


# Random segment tables: any statuses, steps, losses, prices and currencies. A seeded stdlib
# generator (no property-testing dependency): the same 400 sweeps on every run.
def random_sweep(rng: random.Random) -> tuple[list[TrialResult], SweepSpec]:
    def maybe(value: Any) -> Any:
        return value if rng.random() < 0.6 else None

    def random_segment() -> SegmentRecord:
        return SegmentRecord(
            rung=rng.randint(0, 3),
            started_at=rng.uniform(0, 1e6),
            step=maybe(rng.randint(0, 2000)),
            train_seconds=rng.choice([0.0, rng.uniform(0, 1e5)]),
            resumed_from_step=rng.choice([0, rng.randint(0, 2000)]),
            lost_seconds=rng.choice([0.0, rng.uniform(0, 1e5)]),
            retried_steps_saved=rng.choice([0, rng.randint(0, 500)]),
            price_per_hour=maybe(rng.choice([0.0, rng.uniform(0, 100)])),
            currency=rng.choice([None, "USD", "EUR"]),
            redone_steps=rng.choice([0, rng.randint(0, 500)]),
        )

    statuses = ["running", "completed", "failed", "stopped", "cancelled"]
    trials = [
        trial(f"t{i}", rng.choice(statuses), *(random_segment() for _ in range(rng.randint(0, 4))))
        for i in range(rng.randint(0, 8))
    ]
    price = rng.choice([{}, EUR, {"price": {"per_accelerator_hour": 0.0, "currency": "EUR"}}])
    budget = rng.choice([{}, {"budget": {"max_cost": 25, "currency": "EUR"}}])
    return trials, make_spec(maybe(rng.randint(1, 2000)), **price, **budget)


@pytest.mark.parametrize("seed", range(400))
def test_the_identity_holds_on_random_sweeps(seed: int):
    trials, spec = random_sweep(random.Random(seed))
    money = summarize(trials, spec)
    assert_identity(money)
    for amount in (money.spent, money.lost_to_faults, money.saved_by_early_stopping, money.saved_by_resuming):
        assert amount >= 0
    assert money.lost_to_faults <= money.spent + 1e-9
    assert money.full_fidelity >= money.spent - money.lost_to_faults - 1e-9
    assert (money.currency is None) == (price_for(spec, trials) == (None, None))
    assert money.redone_steps == sum(s.redone_steps for t in trials for s in t.segments)
    assert money_lines(money)
