"""The ask/tell facade and grid search, driven by hand."""

from __future__ import annotations

import itertools

import pytest

from hpo.search import build_scheduler, create
from hpo.study.simulate import simulate

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "c": {"type": "categorical", "choices": ["a", "b", "c"]},
}


def test_ask_tell_random_runs_num_trials_and_reports_the_best() -> None:
    study = create("random", SPACE, mode="max", seed=0, num_trials=5)
    seen = []
    while (s := study.ask()) is not None:
        assert s.fidelity is None and not s.resumed
        seen.append(s.params["x"])
        study.tell(s.trial_id, s.params["x"])
    assert len(seen) == 5 and study.finished
    assert study.best is not None and study.best[1] == max(seen)


def test_parallel_asks_are_distinct_and_told_out_of_order() -> None:
    study = create("tpe", SPACE, seed=1, num_trials=12, n_startup_trials=3)
    batch = [study.ask() for _ in range(4)]
    assert all(b is not None for b in batch)
    assert len({b.trial_id for b in batch if b}) == 4
    for b in reversed(batch):
        assert b is not None
        study.tell(b.trial_id, b.params["x"])
    with pytest.raises(ValueError, match="was not asked, or was already told"):
        study.tell(batch[0].trial_id, 0.0)  # type: ignore[union-attr]


def test_ask_returns_none_while_hyperband_waits_then_resumes() -> None:
    study = create("hyperband", SPACE, max_fidelity=9, min_fidelity=1, eta=3)
    asked = []
    while (s := study.ask()) is not None:
        asked.append(s)
    # Nothing told yet: all 17 configurations of the iteration are out, nothing can be promoted.
    assert len(asked) == 17 and not study.finished
    for s in asked:
        study.tell(s.trial_id, s.params["x"])
    promoted = study.ask()
    assert promoted is not None and promoted.resumed and promoted.fidelity == 3


def test_multi_fidelity_suggestions_carry_the_fidelity() -> None:
    study = create("asha", SPACE, num_trials=9, max_fidelity=27, min_fidelity=3, eta=3)
    fidelities = []
    while (s := study.ask()) is not None:
        fidelities.append(s.fidelity)
        study.tell(s.trial_id, s.params["x"])
    assert set(fidelities) == {3, 9, 27} and study.finished
    assert study.best is not None


def test_failures_through_the_facade() -> None:
    study = create("random", SPACE, num_trials=3)
    while (s := study.ask()) is not None:
        study.tell_failure(s.trial_id, "OOM")
    assert study.finished and study.best is None


def test_grid_enumerates_the_product_once_then_finishes() -> None:
    sched = build_scheduler("grid", SPACE, grid_points=3, max_concurrent=2)
    sim = simulate(sched, lambda tid, p, r, f: p["x"])
    points = sorted((a.params["x"], a.params["c"]) for a in sim.actions if a.kind == "create")
    assert points == sorted(itertools.product([0.0, 0.5, 1.0], ["a", "b", "c"]))


def test_grid_unshuffled_is_itertools_order() -> None:
    study = create("grid", SPACE, grid_points=2, shuffle=False)
    order = []
    while (s := study.ask()) is not None:
        order.append((s.params["x"], s.params["c"]))
        study.tell(s.trial_id, 0.0)
    assert order == list(itertools.product([0.0, 1.0], ["a", "b", "c"]))


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "message"),
    [
        (
            "cmaes",
            {},
            "algorithm is 'cmaes', must be one of random, grid, tpe, gp, optuna, auto, asha, hyperband, bohb",
        ),
        ("random", {"max_fidelity": 10}, "max_fidelity is only used by asha, hyperband, bohb, not random"),
        ("random", {"max_concurrent": 0}, "max_concurrent is 0, must be >= 1"),
        ("random", {"num_trials": 0}, "num_trials is 0, must be >= 1"),
        ("random", {"mode": "maximize"}, "mode is 'maximize', must be 'min' or 'max'"),
        ("random", {"gamma": 0.2}, "unknown option 'gamma' for algorithm random"),
        ("grid", {"grid_points": 0}, "grid_points is 0, must be an integer >= 1"),
        ("hyperband", {"max_fidelity": 9, "gamma": 0.2}, "unknown option 'gamma' for algorithm hyperband"),
    ],
)
def test_build_scheduler_validation(algorithm: str, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_scheduler(algorithm, SPACE, **kwargs)
