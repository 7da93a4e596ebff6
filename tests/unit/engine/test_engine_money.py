"""The engine's one rule for money: budgets stop the sweep, projections hold back segments,
a crashed segment's lost time counts, and a second currency is refused, never mixed."""

from __future__ import annotations

import pytest
from engine_driver import make_spec, result_of

from hpo.contracts.messages import SegmentRecord
from hpo.engine.core import SweepEngine
from hpo.engine.money import CurrencyMismatch, segment_price
from hpo.engine.state import Totals


def priced(**budget: object):
    return make_spec(
        trials=20, max_concurrent=2, price={"per_accelerator_hour": 3600.0, "currency": "EUR"}, budget=budget
    )


def test_max_cost_stops_the_sweep_before_a_segment_would_pass_it():
    # 10 s a segment at 1 EUR a second: 10 EUR each, the limit is 35 EUR.
    engine = SweepEngine.start(priced(max_cost=35.0), scope="s", now=0.0)
    now = 0.0
    started = []
    for _ in range(20):
        started.extend(engine.starts(now))
        if not started:
            break
        now += 1
        engine.on_result(result_of(engine, started.pop(0), 0.5, seconds=10.0), now)
    state = engine.state
    assert state.stopping and state.stop_reason is not None
    assert state.stop_reason.startswith("budget max_cost reached"), state.stop_reason
    assert "EUR" in state.stop_reason
    assert state.totals.money <= 35.0 + 1e-9
    assert state.totals.currency == "EUR"


def test_nothing_measured_runs_one_segment_at_a_time():
    engine = SweepEngine.start(priced(max_cost=1000.0), scope="s", now=0.0)
    first = engine.starts(0.0)
    assert len(first) == 1, "the first segment's cost is unknown: the others wait for it"
    engine.on_result(result_of(engine, first[0], 0.5, seconds=10.0), 1.0)
    assert len(engine.starts(1.0)) == 2


def test_a_worker_price_in_another_currency_stops_the_sweep_with_a_clear_message():
    engine = SweepEngine.start(priced(), scope="s", now=0.0)
    (a, b) = engine.starts(0.0)
    engine.on_result(result_of(engine, a, 0.5, seconds=10.0, price_per_hour=2.0, currency="USD"), 1.0)
    state = engine.state
    assert state.stopping and state.to_cancel == [b.trial_id]
    reason = state.stop_reason or ""
    assert "USD" in reason and "EUR" in reason and "converts no currencies" in reason
    # Its seconds count, its money is not mixed in.
    assert state.totals.seconds == 10.0 and state.totals.money == 0.0


def test_the_first_worker_currency_is_the_sweep_currency_without_a_spec_one():
    totals = Totals()
    spec = make_spec()
    segment = SegmentRecord(rung=0, started_at=0.0, train_seconds=10.0, price_per_hour=1.0, currency="GBP")
    assert segment_price(segment, spec, None, totals) == (1.0, "GBP")
    totals.currency = "GBP"
    other = segment.model_copy(update={"currency": "USD"})
    with pytest.raises(CurrencyMismatch, match="USD.*GBP"):
        segment_price(other, spec, None, totals)


def test_lost_seconds_count_as_spent_but_not_as_useful_work():
    engine = SweepEngine.start(make_spec(trials=2), scope="s", now=0.0)
    (a, b) = engine.starts(0.0)
    engine.on_result(result_of(engine, a, 0.5, seconds=30.0, lost=12.0, redone_steps=40), 1.0)
    engine.on_result(result_of(engine, b, 0.4, seconds=10.0), 2.0)
    totals = engine.state.totals
    assert totals.seconds == 40.0 and totals.useful_seconds == 28.0
    status = engine.status("sw")
    assert status.money is not None and status.money.lost_to_faults == pytest.approx(12.0 / 3600)


def test_max_accelerator_hours_and_wall_time():
    engine = SweepEngine.start(
        make_spec(trials=50, budget={"max_accelerator_hours": 0.01}), scope="s", now=0.0
    )
    now, started = 0.0, []
    while not engine.state.stopping:
        started.extend(engine.starts(now))
        if not started:
            break
        now += 1
        engine.on_result(result_of(engine, started.pop(0), 0.5, seconds=10.0), now)
    assert engine.state.stop_reason and engine.state.stop_reason.startswith("budget max_accelerator_hours")
    assert engine.state.totals.seconds <= 36.0 + 10.0

    timed = SweepEngine.start(make_spec(budget={"max_wall_time": 60}), scope="s", now=1000.0)
    assert timed.wall_time_left(1030.0) == 30.0
    timed.tick(1061.0)
    assert timed.state.stopping and timed.state.stop_reason == "budget max_wall_time reached: 60 s"
