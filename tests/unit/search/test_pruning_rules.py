"""The stopping rules inside a trial, on hand-made curves (Optuna's pruners' semantics)."""

from __future__ import annotations

import math

from hpo.search.pruning import PruningRule, decide, percentile


def rule(name: str = "median", mode: str = "min", **options) -> PruningRule:
    return PruningRule(name=name, mode=mode, metric="loss", **options)  # type: ignore[arg-type]


def curve(*values: float, start: int = 1) -> list[tuple[int, float]]:
    return [(start + i, v) for i, v in enumerate(values)]


OTHERS = [
    curve(1.0, 0.9, 0.8),
    curve(0.9, 0.7, 0.6),
    curve(1.2, 1.1, 1.0),
    curve(0.5, 0.4, 0.3),
    curve(0.8, 0.7, 0.7),
]


def test_median_stops_a_trial_worse_than_the_median_at_its_step():
    assert decide(rule(min_trials=5), curve(1.5, 1.4), OTHERS) is not None  # median at step 2: 0.7
    assert decide(rule(min_trials=5), curve(1.5, 0.6), OTHERS) is None  # its best beats it


def test_median_waits_for_enough_trials_and_for_the_warm_up():
    assert decide(rule(min_trials=6), curve(1.5, 1.4), OTHERS) is None
    assert decide(rule(min_trials=5, warmup_steps=3), curve(1.5, 1.4), OTHERS) is None


def test_only_trials_that_reached_the_step_count():
    short = [curve(0.1)] * 5  # they stopped at step 1
    assert decide(rule(min_trials=5), curve(9.0, 9.0), short) is None


def test_max_mode_mirrors_the_percentile():
    scores = [[(s, -v) for s, v in c] for c in OTHERS]
    assert decide(rule(mode="max", min_trials=5), curve(-1.5, -1.4), scores) is not None
    assert decide(rule(mode="max", min_trials=5), curve(-1.5, -0.6), scores) is None


def test_percentile_keeps_only_the_top_share():
    # 25th percentile of the others at step 2 (0.4, 0.7, 0.7, 0.9, 1.1) is 0.7: 0.8 is pruned.
    assert decide(rule("percentile", percentile=25.0, min_trials=5), curve(0.9, 0.8), OTHERS) is not None
    assert decide(rule("percentile", percentile=75.0, min_trials=5), curve(0.9, 0.8), OTHERS) is None


def test_patience_and_threshold():
    stalled = curve(1.0, 0.5, 0.6, 0.55, 0.7)
    assert decide(rule("patience", patience=3), stalled, []) is not None
    assert decide(rule("patience", patience=3), curve(1.0, 0.9, 0.8, 0.7, 0.6), []) is None
    assert decide(rule("threshold", upper=2.0), curve(1.0, 2.5), []) is not None
    assert decide(rule("threshold", upper=2.0, lower=0.1), curve(1.0, 1.5), []) is None


def test_a_non_finite_value_always_stops_and_intervals_skip_steps():
    assert decide(rule(min_trials=99), curve(1.0, math.nan), []) is not None
    every_two = rule(min_trials=5, interval_steps=2)
    assert decide(every_two, curve(1.5, 1.4), OTHERS) is not None  # step 2 opens steps 2-3
    assert decide(every_two, curve(1.5, 1.4, 1.3), OTHERS) is None  # step 3 shares step 2's interval


def test_percentile_interpolates_like_numpy():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50.0) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 25.0) == 1.75
    assert percentile([5.0], 90.0) == 5.0


def test_successive_halving_keeps_the_top_third_at_each_rung():
    halving = rule("successive_halving", min_resource=2, eta=3, min_trials=1)
    # At rung step 2 the others have 0.9, 0.7, 1.1, 0.4, 0.7: with 1.5 this trial ranks last.
    assert "rung step 2" in (decide(halving, curve(1.6, 1.5), OTHERS) or "")
    assert decide(halving, curve(0.5, 0.3), OTHERS) is None  # the best at rung step 2
    # Between rungs nothing is judged (step 3 is no rung; step 2 was judged already).
    assert decide(halving, curve(0.5, 0.3, 9.0), OTHERS) is None
