"""The space parser: spec dict in, exact messages out, sampling and grids inside the bounds."""

from __future__ import annotations

import random

import pytest

from hpo.search import CategoricalParam, FloatParam, IntParam, parse_space

SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32]},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    "layers": {"type": "int", "low": 1, "high": 6},
    "heads": {"type": "int", "low": 2, "high": 12, "step": 2},
    "width": {"type": "int", "low": 16, "high": 1024, "log": True},
}


def test_parses_every_kind_in_order() -> None:
    space = parse_space(SPACE)
    assert space.names == list(SPACE)
    assert space.params[0] == FloatParam("lr", 1e-5, 1e-3, log=True)
    assert space.params[1] == CategoricalParam("batch_size", (16, 32))
    assert space.params[4] == IntParam("heads", 2, 12, step=2)
    assert parse_space(space) is space


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "space must be a mapping of parameter name to definition"),
        ({}, "space must define at least one parameter"),
        ({"lr": 0.1}, "space.lr: must be a mapping with a type"),
        ({"lr": {"low": 1}}, r"space.lr: type is required \(float, int or categorical\)"),
        ({"lr": {"type": "uniform"}}, "space.lr: type is 'uniform', must be one of float, int, categorical"),
        (
            {"lr": {"type": "float", "low": 0, "high": 1, "lo": 2}},
            "space.lr: unknown field 'lo' for type float",
        ),
        ({"lr": {"type": "float", "high": 1}}, "space.lr: low is required"),
        ({"lr": {"type": "float", "low": "a", "high": 1}}, "space.lr: low must be a number, got 'a'"),
        ({"lr": {"type": "float", "low": 0, "high": float("inf")}}, "space.lr: high must be finite"),
        ({"lr": {"type": "float", "low": 1, "high": 1}}, r"space.lr: low \(1.0\) must be < high \(1.0\)"),
        (
            {"lr": {"type": "float", "low": 0, "high": 1, "log": True}},
            "space.lr: low must be > 0 on a log scale",
        ),
        ({"lr": {"type": "float", "low": 0, "high": 1, "log": "yes"}}, "space.lr: log must be true or false"),
        (
            {"lr": {"type": "float", "low": 0, "high": 1, "step": 0.1}},
            "space.lr: step is only supported for type int",
        ),
        ({"n": {"type": "int", "low": 0.5, "high": 4}}, "space.n: low must be an integer, got 0.5"),
        ({"n": {"type": "int", "low": True, "high": 4}}, "space.n: low must be an integer, got True"),
        (
            {"n": {"type": "int", "low": 0, "high": 5, "step": 2}},
            r"space.n: high - low \(5\) must be a multiple of step \(2\)",
        ),
        ({"n": {"type": "int", "low": 0, "high": 4, "step": 0}}, "space.n: step is 0, must be >= 1"),
        (
            {"n": {"type": "int", "low": 1, "high": 9, "step": 2, "log": True}},
            "space.n: step cannot be combined with log",
        ),
        ({"c": {"type": "categorical"}}, "space.c: choices is required"),
        ({"c": {"type": "categorical", "choices": "abc"}}, "space.c: choices must be a list"),
        ({"c": {"type": "categorical", "choices": []}}, "space.c: choices must not be empty"),
        (
            {"c": {"type": "categorical", "choices": [1, 1]}},
            "space.c: choices must be unique, 1 appears twice",
        ),
        (
            {"c": {"type": "categorical", "choices": [[1]]}},
            "space.c: choices must be strings, numbers, booleans or null",
        ),
        (
            {"c": {"type": "categorical", "choices": [1], "low": 0}},
            "space.c: unknown field 'low' for type categorical",
        ),
    ],
)
def test_errors_name_the_parameter_and_the_field(spec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_space(spec)


def test_true_and_1_are_different_choices() -> None:
    c = parse_space({"c": {"type": "categorical", "choices": [1, True, 1.5]}}).params[0]
    assert isinstance(c, CategoricalParam)
    assert c.index(True) == 1 and c.index(1) == 0
    assert not c.contains(2)


def test_samples_stay_inside_and_cover_the_range() -> None:
    space = parse_space(SPACE)
    rng = random.Random(0)
    samples = [space.sample(rng) for _ in range(2000)]
    assert all(space.contains(s) for s in samples)
    assert {s["layers"] for s in samples} == set(range(1, 7))
    assert {s["heads"] for s in samples} == {2, 4, 6, 8, 10, 12}
    assert {16, 1024} <= {s["width"] for s in samples}
    # log-uniform: about half the learning rates fall below the geometric midpoint 1e-4
    assert 0.45 < sum(s["lr"] < 1e-4 for s in samples) / len(samples) < 0.55


def test_internal_round_trip_and_clipping() -> None:
    space = parse_space(SPACE)
    for p in space.params:
        if isinstance(p, CategoricalParam):
            continue
        lo, hi = p.bounds
        assert p.from_internal(lo - 10) == p.low and p.from_internal(hi + 10) == p.high
        assert p.from_internal(p.to_internal(p.low)) == p.low


def test_grids_are_tidy() -> None:
    space = parse_space(SPACE)
    grids = {p.name: p.grid(5) for p in space.params}
    assert grids["lr"] == [
        1e-5,
        pytest.approx(3.16227766017e-05),
        1e-4,
        pytest.approx(3.16227766017e-4),
        1e-3,
    ]
    assert grids["warmup_ratio"] == [0.0, 0.05, 0.1, 0.15, 0.2]
    assert grids["layers"] == [1, 2, 3, 5, 6]  # 6 values, 5 points: 1, 2.25, 3.5, 4.75, 6 rounded
    assert grids["batch_size"] == [16, 32]


def test_contains_checks_names_types_and_steps() -> None:
    space = parse_space(SPACE)
    good = {"lr": 1e-4, "batch_size": 16, "warmup_ratio": 0.1, "layers": 2, "heads": 4, "width": 100}
    assert space.contains(good)
    assert not space.contains({**good, "heads": 5})
    assert not space.contains({**good, "layers": 2.0})
    assert not space.contains({**good, "lr": 1.0})
    assert not space.contains({k: v for k, v in good.items() if k != "lr"})
    assert not space.contains({**good, "extra": 1})
