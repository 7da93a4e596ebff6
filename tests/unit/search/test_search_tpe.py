"""TPE: concentrates on the good region, handles every parameter kind, spreads parallel proposals,
beats random search on all-categorical spaces."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from hpo.search import create
from hpo.search.auto import NEW_TPE_OPTIONS
from hpo.search.factory import build_scheduler
from hpo.search.parzen import log_normal_mass
from hpo.search.searcher import Observation
from hpo.search.space import parse_space
from hpo.search.tpe import TPESearcher, ramp_weights


def run(algorithm: str, space: dict, fn, trials: int, seed: int, **options) -> list[dict]:
    study = create(algorithm, space, mode="min", seed=seed, num_trials=trials, **options)
    proposals = []
    while (s := study.ask()) is not None:
        proposals.append(s.params)
        study.tell(s.trial_id, fn(s.params))
    return proposals


@pytest.mark.parametrize("multivariate", [True, False])
def test_concentrates_on_the_good_region_of_a_quadratic(multivariate: bool) -> None:
    space = {"x": {"type": "float", "low": -10.0, "high": 10.0}}

    def quad(p: dict) -> float:
        return (p["x"] - 3.0) ** 2

    for seed in range(3):
        tpe = [abs(p["x"] - 3.0) for p in run("tpe", space, quad, 60, seed, multivariate=multivariate)]
        rnd = [abs(p["x"] - 3.0) for p in run("random", space, quad, 60, seed)]
        # Uniform proposals sit 5.5 from the optimum on median and within 2 of it 20 % of the
        # time; after 30 trials TPE's proposals should mostly be in the optimum's basin.
        assert statistics.median(tpe[30:]) < 2.0
        assert sum(d < 2.0 for d in tpe[30:]) >= 18
        assert sum(d < 2.0 for d in rnd[30:]) < 12
        assert min(tpe) < min(rnd) and min(tpe) < 0.05


def test_handles_log_int_and_categorical_parameters() -> None:
    space = {
        "lr": {"type": "float", "low": 1e-6, "high": 1.0, "log": True},
        "layers": {"type": "int", "low": 2, "high": 20, "step": 2},
        "width": {"type": "int", "low": 8, "high": 1024, "log": True},
        "opt": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop", None]},
    }

    def loss(p: dict) -> float:
        return (
            (math.log10(p["lr"]) + 3) ** 2
            + 0.1 * abs(p["layers"] - 8)
            + abs(math.log2(p["width"]) - 7)
            + (0 if p["opt"] == "adam" else 1)
        )

    proposals = run("tpe", space, loss, 80, seed=1)
    late = proposals[40:]
    assert all(parse_space(space).contains(p) for p in proposals)
    assert sum(p["opt"] == "adam" for p in late) > 25
    assert sum(1e-4 <= p["lr"] <= 1e-2 for p in late) > 25
    assert sum(32 <= p["width"] <= 512 for p in late) > 25


def test_startup_trials_are_random() -> None:
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}}
    tpe = run("tpe", space, lambda p: p["x"], 8, seed=4, n_startup_trials=8)
    rnd = run("random", space, lambda p: p["x"], 8, seed=4)
    assert tpe == rnd


def test_constant_liar_spreads_parallel_proposals() -> None:
    space = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "y": {"type": "float", "low": 0.0, "high": 1.0}}
    rng = random.Random(0)
    observations = [
        Observation({"x": x, "y": y}, (x - 0.2) ** 2 + (y - 0.7) ** 2)
        for x, y in ((rng.random(), rng.random()) for _ in range(30))
    ]
    searcher = TPESearcher(parse_space(space), n_startup_trials=5)
    pending: list[dict] = []
    for i in range(4):
        pending.append(searcher.suggest(random.Random(i), i, observations, pending))
    spread = min(
        math.dist((a["x"], a["y"]), (b["x"], b["y"])) for i, a in enumerate(pending) for b in pending[i + 1 :]
    )
    assert spread > 1e-3
    # Without the liar the same RNG stream gives the same point every time.
    liar_off = TPESearcher(parse_space(space), n_startup_trials=5, constant_liar=False)
    same = [liar_off.suggest(random.Random(0), i, observations, pending) for i in range(2)]
    assert same[0] == same[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"gamma": 0}, "gamma is 0.0, must be > 0"),
        ({"gamma": 1.5}, "gamma is 1.5, must be <= 1.0"),
        ({"n_startup_trials": 0}, "n_startup_trials is 0, must be >= 1"),
        ({"prior_weight": -1}, "prior_weight is -1.0, must be >= 0.0"),
        ({"multivariate": "yes"}, "multivariate must be bool, got 'yes'"),
        ({"local_fraction": 2}, "local_fraction is 2.0, must be <= 1.0"),
        ({"n_ei": 10}, "unknown option 'n_ei' for algorithm tpe"),
    ],
)
def test_option_validation(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create("tpe", {"x": {"type": "float", "low": 0, "high": 1}}, **options)


def test_ramp_weights_fade_old_observations() -> None:
    assert ramp_weights(3) == [1.0, 1.0, 1.0]
    w = ramp_weights(30)
    assert len(w) == 30 and w[-25:] == [1.0] * 25 and w[0] == pytest.approx(1 / 30)
    assert w[:5] == sorted(w[:5])


def test_log_normal_mass_is_accurate_in_the_tails() -> None:
    assert math.exp(log_normal_mass(-1.0, 1.0)) == pytest.approx(0.682689492, rel=1e-9)
    assert log_normal_mass(30.0, 31.0) == pytest.approx(-454.3, rel=1e-3)  # 1 - erf would give -inf
    assert log_normal_mass(-31.0, -30.0) == pytest.approx(log_normal_mass(30.0, 31.0))


# ---- all-categorical spaces: local proposals move choices instead of re-running the incumbent

CHOICES = ["a", "b", "c", "d", "e"]
NAMES = [f"op{i}" for i in range(4)]
CELL_SPACE = {name: {"type": "categorical", "choices": CHOICES} for name in NAMES}


def _tables() -> tuple[list[list[float]], list[list[list[float]]]]:
    rng = random.Random(7)  # a fixed function, not a per-test draw
    main = [[rng.gauss(0.0, 1.0) for _ in CHOICES] for _ in NAMES]
    pair = [[[rng.gauss(0.0, 0.7) for _ in CHOICES] for _ in CHOICES] for _ in NAMES[1:]]
    return main, pair


MAIN, PAIR = _tables()


def cell(p: dict) -> float:
    """Per-choice effects plus interactions of neighbours: one clear best of 625 combinations."""
    ops = [CHOICES.index(p[name]) for name in NAMES]
    return sum(MAIN[i][k] for i, k in enumerate(ops)) + sum(PAIR[i][ops[i]][ops[i + 1]] for i in range(3))


BEST = min(cell(dict(zip(NAMES, ops, strict=True))) for ops in itertools.product(CHOICES, repeat=4))


def run_cell(algorithm: str, trials: int, seed: int, **options) -> list[dict]:
    return run(algorithm, CELL_SPACE, cell, trials, seed, **options)


def regret(proposals: list[dict]) -> float:
    return min(cell(p) for p in proposals) - BEST


def repeats(proposals: list[dict]) -> int:
    seen = {tuple(p.values()) for p in proposals}
    return len(proposals) - len(seen)


def test_auto_tpe_beats_random_search_on_an_all_categorical_space() -> None:
    seeds = range(6)
    tpe = [regret(run_cell("auto", 50, seed)) for seed in seeds]
    rnd = [regret(run_cell("random", 50, seed)) for seed in seeds]
    assert statistics.median(tpe) < 0.5 * statistics.median(rnd)
    # The best two of 625 combinations lie within 0.3; 50 random draws find one 15 % of the time.
    assert sum(r < 0.3 for r in tpe) >= 5
    assert sum(r < 0.3 for r in rnd) <= 2


def test_local_proposals_no_longer_rerun_the_incumbent() -> None:
    # Without categorical moves a local proposal on this space *is* the incumbent, so about a
    # third of the model's 40 proposals per run were repeats: the bug that left TPE level with
    # random search. (The rest of the repeats are l/g's own argmax, as in Optuna.)
    old = sum(repeats(run_cell("tpe", 50, seed)) for seed in range(3))
    new = sum(repeats(run_cell("tpe", 50, seed, **NEW_TPE_OPTIONS)) for seed in range(3))
    assert old >= 35
    assert new <= 30


def test_categorical_moves_leave_numeric_proposals_and_old_fingerprints_alone() -> None:
    numeric = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "n": {"type": "int", "low": 1, "high": 9}}

    def loss(p: dict) -> float:
        return (p["x"] - 0.3) ** 2 + p["n"]

    assert run("tpe", numeric, loss, 30, 3, categorical_moves=True) == run("tpe", numeric, loss, 30, 3)
    legacy = build_scheduler("tpe", CELL_SPACE, seed=0)
    assert "categorical_moves" not in legacy.searcher.config()
    assert (
        build_scheduler("tpe", CELL_SPACE, seed=0, categorical_moves=False).fingerprint == legacy.fingerprint
    )
    assert build_scheduler("tpe", CELL_SPACE, seed=0, **NEW_TPE_OPTIONS).fingerprint != legacy.fingerprint


def test_a_single_choice_categorical_never_moves_out_of_its_choices() -> None:
    space = {"only": {"type": "categorical", "choices": ["x"]}, **CELL_SPACE}
    proposals = run("tpe", space, cell, 40, 1, **NEW_TPE_OPTIONS)
    assert {p["only"] for p in proposals} == {"x"}
