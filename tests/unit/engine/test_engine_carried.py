"""What a sweep carries across continue-as-new does not grow with the trials it has finished."""

from __future__ import annotations

import time

from engine_driver import make_spec, result_of

from hpo.engine.core import SweepEngine
from hpo.engine.state import FULL_TABLE_LIMIT, TOP_OF_LEADERBOARD

RUN = 1_000  # trials per run of the workflow: it continues-as-new in between, as a real sweep does


def carried_sizes(trials: int, measure_at: set[int], **spec: object) -> dict[int, int]:
    """Drive a sweep of `trials` to the end, carrying its state every RUN trials; the size of
    the carried state (bytes) after each of `measure_at` finished trials."""
    engine = SweepEngine.start(make_spec(trials=trials, max_concurrent=8, **spec), scope="s1", now=0.0)
    sizes: dict[int, int] = {}
    running = []
    finished = 0
    now = 0.0
    while True:
        running.extend(engine.starts(now))
        if engine.take_batch("sw") is not None:
            engine.written()
        if engine.over:
            break
        start = running.pop(0)
        now += 1.0
        engine.on_result(result_of(engine, start, float(start.params["lr"])), now)
        finished += 1
        if finished % RUN == 0 or finished in measure_at:
            if engine.take_batch("sw") is not None:
                engine.written()
            carried = engine.carry()
            if finished in measure_at:
                sizes[finished] = len(carried)
            engine = SweepEngine.resume(carried)
    return sizes


def test_carried_state_is_flat_from_1000_to_100000_finished_trials():
    began = time.process_time()
    sizes = carried_sizes(100_000, {1_000, 10_000, 100_000 - 8})
    small, large = sizes[1_000], sizes[100_000 - 8]
    assert abs(large - small) <= 0.10 * small, sizes
    assert sizes[10_000] <= 1.10 * small, sizes
    # A regression to O(trials^2) work per sweep would show here long before CI's limit.
    assert time.process_time() - began < 120


def test_the_table_queries_show_is_bounded_past_the_full_table_limit():
    engine = SweepEngine.start(make_spec(trials=FULL_TABLE_LIMIT + 50, max_concurrent=4), scope="s1", now=0.0)
    running = []
    now = 0.0
    while not engine.over:
        running.extend(engine.starts(now))
        if not running:
            break
        start = running.pop(0)
        now += 1
        engine.on_result(result_of(engine, start, float(start.params["lr"])), now)
    status = engine.status("sw")
    assert len(status.trials) == TOP_OF_LEADERBOARD
    assert status.trials_total == FULL_TABLE_LIMIT + 50
    assert status.counts == {"completed": FULL_TABLE_LIMIT + 50}
    # The leaderboard kept is the true top: the lowest lr values of all trials.
    assert status.best_trial_id == min(status.trials, key=lambda t: t.objective or 1).trial_id
