"""Grid search: the Cartesian product of every parameter's grid, optionally in shuffled order.

Numeric ranges are cut into ``grid_points`` evenly spaced values on the internal scale (so a
log-float gets log-spaced points); int ranges with few values are enumerated exactly. The
order is a seeded permutation by default, so a sweep stopped early (``num_trials`` smaller
than the grid) still covers the space evenly instead of only varying the last parameter.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from .rng import derive_seed
from .searcher import Observation, Searcher
from .space import Space

_MAX_SHUFFLED = 1_000_000


class GridSearcher(Searcher):
    name = "grid"

    def __init__(self, space: Space, *, seed: int = 0, grid_points: int = 5, shuffle: bool = True) -> None:
        super().__init__(space)
        if isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points < 1:
            raise ValueError(f"grid_points is {grid_points!r}, must be an integer >= 1")
        self.seed = seed
        self.grid_points = grid_points
        self.shuffle = bool(shuffle)
        self.axes: list[list[Any]] = [p.grid(grid_points) for p in space.params]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "grid_points": self.grid_points, "shuffle": self.shuffle}

    def capacity(self) -> int:
        return math.prod(len(axis) for axis in self.axes)

    @cached_property
    def _order(self) -> list[int] | None:
        n = self.capacity()
        if not self.shuffle:
            return None
        if n > _MAX_SHUFFLED:
            raise ValueError(
                f"grid has {n} points; at most {_MAX_SHUFFLED} can be shuffled (lower grid_points)"
            )
        order = list(range(n))
        random.Random(derive_seed(self.seed, "grid")).shuffle(order)
        return order

    def point(self, index: int) -> dict[str, Any]:
        flat = self._order[index] if self._order is not None else index
        params: dict[str, Any] = {}
        # Mixed radix, last parameter fastest, as in itertools.product.
        for param, axis in zip(reversed(self.space.params), reversed(self.axes), strict=True):
            flat, digit = divmod(flat, len(axis))
            params[param.name] = axis[digit]
        return {name: params[name] for name in self.space.names}

    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any] | None:
        if index >= self.capacity():
            return None
        return self.point(index)
