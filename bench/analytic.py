"""Analytic test functions for the search benchmarks, all minimised, with known optima.

Each is a plain callable over a params dict plus its space in sweep-spec form, so the same
definition drives hpo and Optuna.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problem:
    name: str
    space: dict[str, dict[str, Any]]
    fn: Callable[[dict[str, Any]], float]
    optimum: float

    def regret(self, value: float) -> float:
        return max(value - self.optimum, 0.0)


def _box(names: list[str], low: float, high: float) -> dict[str, dict[str, Any]]:
    return {n: {"type": "float", "low": low, "high": high} for n in names}


def branin(p: dict[str, Any]) -> float:
    x, y = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * math.cos(x) + 10


_H3_A = [[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]]
_H3_P = [
    [0.3689, 0.1170, 0.2673],
    [0.4699, 0.4387, 0.7470],
    [0.1091, 0.8732, 0.5547],
    [0.0381, 0.5743, 0.8828],
]
_H6_A = [
    [10, 3, 17, 3.5, 1.7, 8],
    [0.05, 10, 17, 0.1, 8, 14],
    [3, 3.5, 1.7, 10, 17, 8],
    [17, 8, 0.05, 10, 0.1, 14],
]
_H6_P = [
    [0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
    [0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
    [0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
    [0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
]
HARTMANN_ALPHA = [1.0, 1.2, 3.0, 3.2]


def hartmann(x: list[float], a: list[list[float]], p: list[list[float]], alpha: list[float]) -> float:
    total = 0.0
    for i in range(4):
        inner = sum(a[i][j] * (x[j] - p[i][j]) ** 2 for j in range(len(x)))
        total -= alpha[i] * math.exp(-inner)
    return total


def hartmann3(p: dict[str, Any]) -> float:
    return hartmann([p[f"x{i}"] for i in range(1, 4)], _H3_A, _H3_P, HARTMANN_ALPHA)


def hartmann6(p: dict[str, Any], alpha: list[float] = HARTMANN_ALPHA) -> float:
    return hartmann([p[f"x{i}"] for i in range(1, 7)], _H6_A, _H6_P, alpha)


def rosenbrock4(p: dict[str, Any]) -> float:
    x = [p[f"x{i}"] for i in range(1, 5)]
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(3))


def six_hump_camel(p: dict[str, Any]) -> float:
    x, y = p["x1"], p["x2"]
    return (4 - 2.1 * x * x + x**4 / 3) * x * x + x * y + (-4 + 4 * y * y) * y * y


def styblinski_tang4(p: dict[str, Any]) -> float:
    return sum(x**4 - 16 * x**2 + 5 * x for x in (p[f"x{i}"] for i in range(1, 5))) / 2


_OPT_PENALTY = {"adam": 0.0, "adamw": 0.1, "sgd": 0.6, "rmsprop": 0.3}


def mixed(p: dict[str, Any]) -> float:
    """A training-run caricature: log-scale lr, integer depth, categorical optimiser, a ratio."""
    return (
        (math.log10(p["lr"]) + 3.3) ** 2
        + 0.05 * (p["layers"] - 5) ** 2
        + _OPT_PENALTY[p["optimizer"]]
        + 4 * (p["dropout"] - 0.15) ** 2
    )


_CELL_OPS = ["none", "skip", "conv1x1", "conv3x3", "pool"]
_CELL_EDGES = 6


def _cell_tables() -> tuple[list[list[float]], list[list[list[float]]]]:
    # Fixed draws (not a hash of anything), so every run and machine sees the same function.
    rng = random.Random(201)
    main = [[rng.gauss(0.0, 1.0) for _ in _CELL_OPS] for _ in range(_CELL_EDGES)]
    pair = [[[rng.gauss(0.0, 0.7) for _ in _CELL_OPS] for _ in _CELL_OPS] for _ in range(_CELL_EDGES - 1)]
    return main, pair


_CELL_MAIN, _CELL_PAIR = _cell_tables()


def cell(p: dict[str, Any]) -> float:
    """An architecture-cell caricature: six edges, five operations each, all categorical.

    Each edge's operation has its own effect, and neighbouring edges interact (an operation
    is worth more or less next to another), so the best cell is not the per-edge best and a
    searcher that models combinations of choices gets there sooner.
    """
    ops = [_CELL_OPS.index(p[f"edge{i}"]) for i in range(_CELL_EDGES)]
    value = sum(_CELL_MAIN[i][k] for i, k in enumerate(ops))
    return value + sum(_CELL_PAIR[i][ops[i]][ops[i + 1]] for i in range(_CELL_EDGES - 1))


def _cell_optimum() -> float:
    names = [f"edge{i}" for i in range(_CELL_EDGES)]
    return min(
        cell(dict(zip(names, ops, strict=True))) for ops in itertools.product(_CELL_OPS, repeat=_CELL_EDGES)
    )


PROBLEMS = [
    Problem(
        "branin",
        {"x1": {"type": "float", "low": -5, "high": 10}, "x2": {"type": "float", "low": 0, "high": 15}},
        branin,
        0.397887357729739,
    ),
    Problem("hartmann3", _box(["x1", "x2", "x3"], 0, 1), hartmann3, -3.86278214782076),
    Problem("hartmann6", _box([f"x{i}" for i in range(1, 7)], 0, 1), hartmann6, -3.32236801141551),
    Problem("rosenbrock4", _box([f"x{i}" for i in range(1, 5)], -5, 10), rosenbrock4, 0.0),
    Problem(
        "six_hump_camel",
        {"x1": {"type": "float", "low": -3, "high": 3}, "x2": {"type": "float", "low": -2, "high": 2}},
        six_hump_camel,
        -1.031628453489877,
    ),
    Problem(
        "styblinski_tang4",
        _box([f"x{i}" for i in range(1, 5)], -5, 5),
        styblinski_tang4,
        -39.16616570377142 * 4,
    ),
    Problem(
        "mixed",
        {
            "lr": {"type": "float", "low": 1e-6, "high": 1e-1, "log": True},
            "layers": {"type": "int", "low": 1, "high": 12},
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "adamw", "rmsprop"]},
            "dropout": {"type": "float", "low": 0.0, "high": 0.5},
        },
        mixed,
        0.0,
    ),
    Problem(
        "cell",
        {f"edge{i}": {"type": "categorical", "choices": list(_CELL_OPS)} for i in range(_CELL_EDGES)},
        cell,
        _cell_optimum(),
    ),
]
