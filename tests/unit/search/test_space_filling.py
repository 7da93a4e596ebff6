"""The model-based searchers' startup design: spread out, deterministic, any parameter type."""

from __future__ import annotations

import itertools
import math
import random
import statistics

from hpo.modelsearch.design import space_filling
from hpo.search import parse_space

SPACE = parse_space(
    {
        "x": {"type": "float", "low": 0.0, "high": 1.0},
        "y": {"type": "float", "low": 1e-4, "high": 1.0, "log": True},
    }
)


def _unit(p: dict) -> tuple[float, float]:
    return p["x"], (math.log(p["y"]) - math.log(1e-4)) / (-math.log(1e-4))


def _min_gap(points: list[dict]) -> float:
    return min(math.dist(_unit(a), _unit(b)) for a, b in itertools.combinations(points, 2))


def test_startup_points_are_spread_wider_than_random_draws() -> None:
    spread, plain = [], []
    for seed in range(20):
        rng = random.Random(seed)
        points: list[dict] = []
        for _ in range(10):
            points.append(space_filling(SPACE, rng, points))
        spread.append(_min_gap(points))
        rng = random.Random(seed)
        plain.append(_min_gap([SPACE.sample(rng) for _ in range(10)]))
    # Ten random points in the unit square typically come within ~0.05 of each other; a greedy
    # maximin design keeps them about 0.2 apart.
    assert statistics.median(spread) > 3 * statistics.median(plain), (spread, plain)
    assert min(spread) > 0.1


def test_the_same_points_and_seed_give_the_same_proposal() -> None:
    points = [SPACE.sample(random.Random(i)) for i in range(3)]
    assert space_filling(SPACE, random.Random(7), points) == space_filling(SPACE, random.Random(7), points)


def test_categoricals_and_ints_are_covered_before_repeating() -> None:
    space = parse_space(
        {"c": {"type": "categorical", "choices": ["a", "b", "c"]}, "k": {"type": "int", "low": 1, "high": 2}}
    )
    rng = random.Random(0)
    points: list[dict] = []
    for _ in range(6):
        points.append(space_filling(space, rng, points))
    assert len({(p["c"], p["k"]) for p in points}) == 6  # all six combinations, none twice
