"""Space-filling startup points: the best of many random candidates by distance to the points so far.

A model-based searcher's first trials are spent before it has a model; independent random draws
clump and leave corners unseen, so the first fit extrapolates. Picking, among ``CANDIDATES``
random draws, the one farthest from every observed or running configuration (greedy maximin, as
in Latin-hypercube "maximin" designs) covers the space evenly, works for any mix of parameter
types, needs no state beyond the points themselves (a rebuild from history gives the same
answer) and spreads parallel startup proposals too, since running configurations count.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from hpo.search.space import CategoricalParam, Space

CANDIDATES = 100


def space_filling(space: Space, rng: random.Random, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A random configuration, far from ``points`` (the first one is a plain random draw)."""
    if not points:
        return space.sample(rng)
    encoded = [_unit(space, p) for p in points]
    best, best_distance = None, -1.0
    for _ in range(CANDIDATES):
        candidate = space.sample(rng)
        x = _unit(space, candidate)
        distance = min(sum((a - b) ** 2 for a, b in zip(x, y, strict=True)) for y in encoded)
        if distance > best_distance:
            best, best_distance = candidate, distance
    assert best is not None
    return best


def _unit(space: Space, params: Mapping[str, Any]) -> list[float]:
    """Each numeric parameter on [0, 1] of its internal (log where log) scale; a categorical is one
    coordinate per choice (one-hot), so two different choices are at distance 1, like two corners."""
    out: list[float] = []
    for p in space.params:
        value = params[p.name]
        if isinstance(p, CategoricalParam):
            index = p.index(value)
            out.extend(0.7071067811865476 if i == index else 0.0 for i in range(len(p.choices)))
        else:
            lo, hi = p.bounds
            out.append((p.to_internal(value) - lo) / (hi - lo) if hi > lo else 0.0)
    return out
