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

from .checks import check_option, shown
from .rng import derive_seed
from .searcher import Observation, Searcher
from .space import CategoricalParam, FloatParam, Space

#: The largest grid, shuffled or not: its size is computed arithmetically before any point is
#: built, and a shuffled order is a list of this many ints inside the workflow.
MAX_GRID_POINTS = 1_000_000


def grid_size(space: Space, grid_points: int) -> int:
    """How many points the grid has at most, by arithmetic alone (an int range with fewer
    values than ``grid_points`` contributes its own size; a log-int axis may lose a few
    duplicates when built, never gain)."""
    size = 1
    for param in space.params:
        if isinstance(param, CategoricalParam):
            size *= len(param.choices)
        elif isinstance(param, FloatParam):
            size *= grid_points
        else:
            size *= min(param.size, grid_points)
    return size


class GridSearcher(Searcher):
    name = "grid"

    def __init__(self, space: Space, *, seed: int = 0, grid_points: int = 5, shuffle: bool = True) -> None:
        super().__init__(space)
        if isinstance(grid_points, bool) or not isinstance(grid_points, int) or grid_points < 1:
            raise ValueError(f"grid_points is {shown(grid_points)}, must be an integer >= 1")
        check_option("grid_points", grid_points, int, 1, MAX_GRID_POINTS)
        size = grid_size(space, grid_points)
        if size > MAX_GRID_POINTS:
            raise ValueError(
                f"the grid has {size:,} points (grid_points {grid_points} per numeric parameter); "
                f"at most {MAX_GRID_POINTS:,} are allowed: lower grid_points or use fewer parameters"
            )
        self.seed = seed
        self.grid_points = grid_points
        # Strictly a bool: "no" from a spec must not read as true.
        self.shuffle = check_option("shuffle", shuffle, bool)
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
