"""Model-based searchers (hpo.modelsearch) and auto's rule: deterministic, exact, and outside the sandbox."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest

from hpo.search import Observation, create, parse_space
from hpo.search.auto import choose_searcher

modelsearch = pytest.importorskip("hpo.modelsearch")
ModelBasedSearcher = modelsearch.ModelBasedSearcher

SPACE = parse_space(
    {
        "lr": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
        "x": {"type": "float", "low": -1.0, "high": 1.0},
        "layers": {"type": "int", "low": 1, "high": 64, "log": True},
        "width": {"type": "int", "low": 8, "high": 64, "step": 8},
        # 1, 1.0 and True are equal in Python but different choices here.
        "opt": {"type": "categorical", "choices": ["adam", 1, 1.0, True, None]},
    }
)


def observations(n: int, seed: int = 0) -> list[Observation]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        p = SPACE.sample(rng)
        out.append(Observation(p, p["x"] ** 2 + abs(p["lr"] - 1e-2) + (p["opt"] != "adam")))
    return out


@pytest.mark.parametrize("sampler", ["gp", "TPESampler", "random"])
def test_same_inputs_same_suggestion_and_inside_the_space(sampler: str) -> None:
    searcher = ModelBasedSearcher(SPACE, sampler, {"n_startup_trials": 3} if sampler != "random" else {})
    obs, pending = observations(6), [SPACE.sample(random.Random(9))]
    first = searcher.suggest(random.Random(1), 7, obs, pending)
    again = searcher.suggest(random.Random(1), 7, obs, pending)
    assert first == again
    assert [type(v) for v in first.values()] == [type(v) for v in again.values()]
    assert SPACE.contains(first)


def test_types_survive_the_round_trip() -> None:
    searcher = ModelBasedSearcher(SPACE, "random")
    seen_types = set()
    for i in range(40):
        params = searcher.suggest(random.Random(i), i, [], [])
        assert SPACE.contains(params)
        assert type(params["layers"]) is int and type(params["width"]) is int and params["width"] % 8 == 0
        assert type(params["lr"]) is float and 1e-5 <= params["lr"] <= 1.0
        seen_types.add(type(params["opt"]))
    assert {int, float, bool, str} <= seen_types


def test_conversion_is_exact_both_ways() -> None:
    for o in observations(20):
        assert (
            modelsearch.from_optuna_params(SPACE, modelsearch.to_optuna_params(SPACE, o.params)) == o.params
        )


def test_pending_and_observed_configurations_are_not_suggested_again() -> None:
    tiny = parse_space(
        {"a": {"type": "int", "low": 0, "high": 2}, "b": {"type": "categorical", "choices": [1, 2]}}
    )
    searcher = ModelBasedSearcher(tiny, "TPESampler", {"n_startup_trials": 1})
    obs = [Observation({"a": 0, "b": 1}, 0.0), Observation({"a": 1, "b": 1}, 1.0)]
    pending = [{"a": 0, "b": 2}, {"a": 2, "b": 1}]
    taken = [o.params for o in obs] + pending
    for i in range(10):
        assert searcher.suggest(random.Random(i), 4, obs, pending) not in taken


def test_the_cap_keeps_the_best_and_the_most_recent() -> None:
    searcher = ModelBasedSearcher(SPACE, "random", max_observations=4)
    obs = [Observation(o.params, float(i)) for i, o in enumerate(observations(10))]
    kept = searcher._kept(obs)
    assert [o.loss for o in kept] == [0.0, 1.0, 8.0, 9.0]


@pytest.mark.parametrize(
    ("sampler", "options", "named"),
    [
        ("Nope", {}, "'Nope'"),
        ("CmaEsSampler", {}, "CmaEsSampler"),
        ("QMCSampler", {}, "QMCSampler"),
        ("gp", {"n_startup": 3}, "'n_startup'"),
        ("TPESampler", {"seed": 1}, "'seed'"),
        ("TPESampler", {"n_startup_trials": object()}, "'n_startup_trials'"),
    ],
)
def test_bad_sampler_or_option_is_a_value_error_naming_it(sampler: str, options: dict, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        ModelBasedSearcher(SPACE, sampler, options)


def test_facade_offers_gp_optuna_and_auto() -> None:
    space = {"x": {"type": "float", "low": -2.0, "high": 2.0}, "k": {"type": "int", "low": 1, "high": 4}}
    for algorithm, options in [
        ("gp", {"n_startup_trials": 2}),
        ("optuna", {"sampler": "TPESampler"}),
        ("auto", {}),
    ]:
        study = create(algorithm, space, mode="max", seed=3, num_trials=4, **options)
        while (s := study.ask()) is not None:
            study.tell(s.trial_id, -((s.params["x"] - 0.5) ** 2))
        assert study.best is not None
    with pytest.raises(ValueError, match="needs the option sampler"):
        create("optuna", space, num_trials=2)
    with pytest.raises(ValueError, match="unknown option 'n_startup'"):
        create("gp", space, num_trials=2, n_startup=3)


@pytest.mark.parametrize("algorithm", ["asha", "bohb"])
def test_facade_runs_multi_fidelity_with_a_gp_model(algorithm: str) -> None:
    """BOHB/MOBSTER-style: new configurations come from the GP once a rung has enough results."""
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "y": {"type": "float", "low": 0.0, "high": 1.0}}
    study = create(
        algorithm,
        space,
        seed=5,
        num_trials=24,
        max_fidelity=9,
        min_fidelity=1,
        searcher="gp",
        n_startup_trials=4,
    )
    assert study.scheduler.searcher.name == "gp"
    created = 0
    while (s := study.ask()) is not None:
        created += not s.resumed
        # A lower fidelity adds a bias the model must see through; full fidelity is exact.
        study.tell(s.trial_id, (s.params["x"] - 0.7) ** 2 + (s.params["y"] - 0.2) ** 2 + 0.1 / s.fidelity)
    assert created == 24
    best_params, best_value = study.best
    assert best_value < 0.05, study.best


def test_importing_the_search_core_imports_no_heavy_maths() -> None:
    code = "import sys, hpo.search; print(sorted({'optuna', 'numpy', 'torch', 'scipy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


NUMERIC = parse_space({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(4)})
CATEGORICAL = parse_space(
    {
        "a": {"type": "categorical", "choices": [1, 2]},
        "b": {"type": "categorical", "choices": [1, 2]},
        "c": {"type": "categorical", "choices": [1, 2]},
        "x": {"type": "float", "low": 0.0, "high": 1.0},
    }
)
WIDE = parse_space({f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(21)})


@pytest.mark.parametrize(
    ("space", "num_trials", "max_concurrent", "expected"),
    [
        (NUMERIC, 50, 1, "gp"),
        (NUMERIC, 200, 8, "gp"),
        (NUMERIC, 201, 1, "tpe"),  # large budget
        (NUMERIC, None, 1, "tpe"),  # unknown budget
        (NUMERIC, 50, 9, "tpe"),  # high parallelism
        (CATEGORICAL, 50, 1, "tpe"),  # mostly categorical
        (WIDE, 50, 1, "tpe"),  # too many parameters for a GP's length scales
    ],
)
def test_auto_rule(space, num_trials: int | None, max_concurrent: int, expected: str) -> None:
    assert choose_searcher(space, num_trials, max_concurrent) == expected
