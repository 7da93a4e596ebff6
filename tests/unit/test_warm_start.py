"""Warm start: results of earlier sweeps seed the searcher as priors, never as trials."""

from __future__ import annotations

import importlib.util
import json
import math
import statistics
import sys
from pathlib import Path
from typing import Any

import pytest

from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.results.warm_start import WarmStartError, collect_prior, prior_from_status
from hpo.search import (
    Create,
    build_scheduler,
    compatible_prior,
    create,
    parse_space,
)
from hpo.study.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
    "layers": {"type": "int", "low": 2, "high": 10, "step": 2},
    "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
}


def objective(p: dict[str, Any]) -> float:
    return (p["x"] - 0.8) ** 2 + (math.log10(p["lr"]) + 2) ** 2 + (0.3 if p["opt"] == "sgd" else 0.0)


def prior_points(n: int = 12) -> list[tuple[dict[str, Any], float]]:
    """Evaluations of an earlier run: a random sweep of the same space with another seed."""
    study = create("random", SPACE, seed=99, num_trials=n)
    out = []
    while (s := study.ask()) is not None:
        out.append((s.params, objective(s.params)))
        study.tell(s.trial_id, objective(s.params))
    return out


def first_params(scheduler: Any, prior: list[tuple[dict[str, Any], float]] = ()) -> list[dict[str, Any]]:
    state = scheduler.with_prior(scheduler.new_state(), prior)
    _, actions = scheduler.initial_actions(state)
    return [a.params for a in actions if isinstance(a, Create)]


# ---- the search core -------------------------------------------------------------------


def test_priors_inform_tpe_from_its_first_proposal_and_never_become_trials() -> None:
    prior = prior_points()
    # Priors that look far better than anything the function can give: if one leaked into the
    # trials or into best(), these would show.
    flattering = [(p, v - 100.0) for p, v in prior]
    tpe = build_scheduler("tpe", SPACE, seed=3, num_trials=6, max_concurrent=3)
    cold, warm = first_params(tpe), first_params(tpe, flattering)
    assert cold != warm  # 12 priors >= n_startup_trials: the model proposes at once

    sim = simulate(tpe, lambda tid, params, rung, fid: objective(params), prior=flattering, roundtrip=True)
    state = sim.state
    assert state is not None and len(state.prior) == 12
    assert sorted(state.trials) == [f"t{i:04d}" for i in range(6)]  # num_trials counts trials only
    best = tpe.best(state)
    assert best is not None and best.trial_id in state.trials and best.value > -1.0
    assert [o.params for o in tpe._observations(state)[:12]] == [p for p, _ in flattering]


def test_the_scheduler_applies_its_mode_to_priors() -> None:
    prior = [({"x": 0.5, "lr": 0.01, "layers": 4, "opt": "adam"}, 0.9)]
    for mode, loss in (("max", -0.9), ("min", 0.9)):
        tpe = build_scheduler("tpe", SPACE, mode=mode)
        state = tpe.with_prior(tpe.new_state(), prior)
        (obs,) = tpe._observations(state)
        assert obs.loss == loss and obs.params == prior[0][0]
        assert state.prior[0].value == 0.9  # stored raw, as trial values are


def test_same_prior_same_suggestions_and_order_matters() -> None:
    prior = prior_points()
    tpe = build_scheduler("tpe", SPACE, seed=5, num_trials=4, max_concurrent=4)
    assert first_params(tpe, prior) == first_params(tpe, [(dict(p), v) for p, v in prior])
    tpe2 = build_scheduler("tpe", SPACE, seed=5, num_trials=4, max_concurrent=4)
    assert first_params(tpe2, prior) == first_params(tpe, prior)
    # Order is kept (oldest first): TPE's ramp weighs the oldest observations less.
    state = tpe.with_prior(tpe.new_state(), prior)
    assert [(o.params, o.value) for o in state.prior] == prior


@pytest.mark.parametrize("algorithm", ["random", "grid"])
def test_random_and_grid_ignore_priors(algorithm: str) -> None:
    scheduler = build_scheduler(algorithm, SPACE, seed=2, num_trials=5, max_concurrent=5)
    assert first_params(scheduler, prior_points()) == first_params(scheduler)


def test_bohb_and_asha_tpe_see_priors_at_the_top_rung() -> None:
    prior = prior_points()
    for algorithm, options in (("bohb", {}), ("asha", {"searcher": "tpe"})):
        scheduler = build_scheduler(
            algorithm, SPACE, seed=1, num_trials=20, max_concurrent=8, max_fidelity=27, min_fidelity=3,
            **options,
        )  # fmt: skip
        cold, warm = first_params(scheduler), first_params(scheduler, prior)
        assert len(cold) == len(warm) == 8 and cold != warm, algorithm
        # After a round of rung-0 results, the model still uses the top rung (the priors).
        sim = simulate(scheduler, lambda tid, params, rung, fid: objective(params), prior=prior)
        assert sim.state is not None and len(sim.state.trials) == 20
        assert scheduler._rung_observations(sim.state)[:12] == scheduler._prior_observations(sim.state)


def test_with_prior_comes_before_initial_actions_and_checks_the_space() -> None:
    tpe = build_scheduler("tpe", SPACE)
    started, _ = tpe.initial_actions(tpe.new_state())
    with pytest.raises(ValueError, match="before initial_actions"):
        tpe.with_prior(started, prior_points(1))
    bad = [({"x": 2.0, "lr": 0.01, "layers": 4, "opt": "adam"}, 1.0)]
    with pytest.raises(ValueError, match=r"prior 0: x=2.0 is outside \[0.0, 1.0\].*compatible_prior"):
        tpe.with_prior(tpe.new_state(), bad)


def test_fingerprint_is_unchanged_by_priors() -> None:
    tpe = build_scheduler("tpe", SPACE, seed=4)
    before = tpe.fingerprint
    warm = tpe.with_prior(tpe.new_state(), prior_points())
    assert tpe.fingerprint == before and warm.fingerprint == tpe.new_state().fingerprint
    # A fresh scheduler built from the same spec loads the warm state.
    assert build_scheduler("tpe", SPACE, seed=4).load_state(warm.model_dump_json()) == warm


def test_state_json_round_trip_with_and_without_priors() -> None:
    prior = prior_points()
    for algorithm in ("tpe", "bohb"):
        options = {"max_fidelity": 9, "min_fidelity": 1} if algorithm == "bohb" else {}
        scheduler = build_scheduler(algorithm, SPACE, seed=7, num_trials=12, max_concurrent=2, **options)
        cold = scheduler.new_state()
        warm = scheduler.with_prior(cold, prior)
        assert cold.prior == []  # copy-on-write: the old state is untouched
        for state in (cold, warm):
            loaded = scheduler.load_state(state.model_dump_json())
            assert loaded == state
            # The restored state continues exactly like the original.
            assert scheduler.initial_actions(loaded)[1] == scheduler.initial_actions(state)[1]
        # A state written before warm start existed (no `prior` field) still loads.
        old = json.loads(cold.model_dump_json())
        del old["prior"]
        assert scheduler.load_state(json.dumps(old)) == cold


def test_compatible_prior_drops_what_lies_outside_the_space_with_reasons() -> None:
    space = parse_space(SPACE)
    good = {"x": 0.5, "lr": 0.01, "layers": 4, "opt": "adam"}
    prior = [
        (good, 1.0),
        ({**good, "x": 1.5}, 1.0),  # a wider range in the earlier sweep
        ({k: v for k, v in good.items() if k != "opt"}, 1.0),
        ({**good, "momentum": 0.9}, 1.0),
        ({**good, "opt": "rmsprop"}, 1.0),
        ({**good, "layers": 5}, 1.0),
        ({**good, "layers": 4.0}, 1.0),
        (good, float("nan")),
        ({**good, "x": 0.25}, 2),  # an int value is a number
        ({**good, "lr": 0.0}, 1.0),
    ]
    kept, dropped = compatible_prior(space, prior)
    assert kept == [prior[0], prior[8]]
    assert dropped == [
        "prior 1: x=1.5 is outside [0.0, 1.0]",
        "prior 2: parameter opt is missing",
        "prior 3: parameter momentum is not in this space",
        "prior 4: opt='rmsprop' is not one of its choices ['sgd', 'adam']",
        "prior 5: layers=5 is not on its step of 2 from 2",
        "prior 6: layers=4.0 is not an integer",
        "prior 7: its value is nan",
        "prior 9: lr=0.0 is outside [0.0001, 0.1]",
    ]


def test_the_study_takes_priors_too() -> None:
    prior = prior_points()
    by_argument = create("tpe", SPACE, seed=8, num_trials=3, prior=prior)
    by_method = create("tpe", SPACE, seed=8, num_trials=3)
    for params, value in prior:
        by_method.add_prior(params, value)
    a, b = by_argument.ask(), by_method.ask()
    assert a is not None and b is not None and a.params == b.params and a.trial_id == "t0000"
    assert a.params != create("tpe", SPACE, seed=8, num_trials=3).ask().params  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="parameter x is missing"):
        by_method.add_prior({"lr": 0.01, "layers": 4, "opt": "adam"}, 1.0)
    assert by_argument.best is None  # priors are not trials


# ---- the must-show: warm start beats cold start on a benchmark function ---------------------


def _bench_problems() -> list[Any]:
    """bench/analytic.py's definitions (bench/ is scripts, not a package)."""
    name = "hpo_bench_analytic"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "analytic.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name].PROBLEMS


def _tpe_run(problem: Any, seed: int, trials: int, prior: Any = ()) -> tuple[float, list[Any]]:
    study = create("tpe", problem.space, mode="min", seed=seed, num_trials=trials, prior=prior)
    history = []
    while (s := study.ask()) is not None:
        value = problem.fn(s.params)
        history.append((s.params, value))
        study.tell(s.trial_id, value)
    assert study.best is not None
    return study.best[1], history


def test_warm_started_tpe_finds_a_better_best_in_the_same_number_of_trials() -> None:
    problem = next(p for p in _bench_problems() if p.name == "hartmann6")
    # The earlier sweep: 30 TPE trials on the same function, another seed.
    _, earlier = _tpe_run(problem, seed=1000, trials=30)
    seeds = range(11)
    cold = [_tpe_run(problem, seed, 15)[0] for seed in seeds]
    warm = [_tpe_run(problem, seed, 15, prior=earlier)[0] for seed in seeds]
    cold_median, warm_median = statistics.median(cold), statistics.median(warm)
    wins = sum(w < c for w, c in zip(warm, cold, strict=True))
    print(
        f"\nhartmann6, 15 TPE trials x {len(seeds)} seeds (optimum {problem.optimum:.4f}); "
        f"earlier sweep: 30 trials, best {min(v for _, v in earlier):.4f}\n"
        f"median best: cold {cold_median:.4f}, warm {warm_median:.4f}; warm better on {wins}/{len(seeds)} seeds"
    )
    assert warm_median < cold_median
    assert wins > len(seeds) // 2


# ---- priors from earlier sweeps' statuses (hpo.results.warm_start, no server needed) ---------------


def _spec(**overrides: Any) -> Any:
    data = {
        "name": "new", "task": {"entrypoint": "train:train"}, "trials": 5,
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                  "opt": {"type": "categorical", "choices": ["sgd", "adam"]}},
        "objective": {"metric": "val_loss", "mode": "min"}, "training": {"max_steps": 10},
    }  # fmt: skip
    return parse_spec({**data, **overrides})


def _status(
    sweep_id: str, trials: list[TrialResult], metric: str = "val_loss", mode: str = "min"
) -> SweepStatus:
    spec = _spec(name="old")
    return SweepStatus(
        sweep_id=sweep_id, name="old", spec=spec, state="completed", objective_metric=metric, mode=mode,
        trials=trials,
    )  # fmt: skip


def _trial(
    tid: str, lr: float, value: float | None, status: str = "completed", opt: str = "adam"
) -> TrialResult:
    return TrialResult(trial_id=tid, params={"lr": lr, "opt": opt}, status=status, objective=value, rung=1)


def test_priors_from_statuses_keep_scored_trials_in_the_space() -> None:
    spec = _spec(warm_start=["sweep-a", "sweep-b"])
    a = _status("sweep-a", [
        _trial("t0000", 0.01, 0.5),
        _trial("t0001", 0.02, 0.4, status="stopped"),  # stopped early: its value at its last rung
        _trial("t0002", 0.03, None, status="failed"),
        _trial("t0003", 0.3, 0.2),  # the earlier sweep searched a wider lr range
        _trial("t0004", 0.04, None, status="running"),
    ])  # fmt: skip
    b = _status("sweep-b", [_trial("t0000", 0.001, 0.6, opt="rmsprop"), _trial("t0001", 0.002, 0.7)])
    warm = collect_prior(spec, [a, b])
    assert [(p.source, p.value, p.params) for p in warm.prior] == [
        ("sweep-a/t0000", 0.5, {"lr": 0.01, "opt": "adam"}),
        ("sweep-a/t0001", 0.4, {"lr": 0.02, "opt": "adam"}),
        ("sweep-b/t0001", 0.7, {"lr": 0.002, "opt": "adam"}),
    ]
    assert warm.dropped == [
        "sweep-a/t0003: lr=0.3 is outside [0.0001, 0.1]",
        "sweep-b/t0000: opt='rmsprop' is not one of its choices ['sgd', 'adam']",
    ]
    assert warm.summary() == (
        "warm start: 3 trials from sweep-a, sweep-b (2 outside this space dropped, "
        "e.g. sweep-a/t0003: lr=0.3 is outside [0.0001, 0.1])"
    )
    # The priors fit the sweep's own scheduler as they are.
    from hpo.contracts.spec import make_scheduler

    scheduler = make_scheduler(spec)
    state = scheduler.with_prior(scheduler.new_state(), [(p.params, p.value) for p in warm.prior])
    assert len(state.prior) == 3


def test_a_sweep_with_another_objective_cannot_warm_start() -> None:
    spec = _spec()
    other = _status("sweep-x", [_trial("t0000", 0.01, 0.9)], metric="accuracy", mode="max")
    with pytest.raises(WarmStartError) as raised:
        prior_from_status(spec, other)
    assert str(raised.value).startswith(
        "warm_start: sweep sweep-x optimised accuracy (max), this sweep val_loss (min)"
    )
    flipped = _status("sweep-y", [], metric="val_loss", mode="max")
    with pytest.raises(
        WarmStartError, match=r"sweep-y optimised val_loss \(max\), this sweep val_loss \(min\)"
    ):
        prior_from_status(spec, flipped)


def test_a_large_sweep_that_reported_part_of_its_trials_is_mentioned() -> None:
    status = _status("sweep-big", [_trial("t0000", 0.01, 0.5)]).model_copy(update={"trials_total": 900})
    warm = collect_prior(_spec(), [status])
    assert warm.summary() == "warm start: 1 trial from sweep-big (sweep-big reported 1 of its 900 trials)"
