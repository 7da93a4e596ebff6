"""Random search: independent uniform draws on the internal scale (log-uniform for log params)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from .searcher import Observation, Searcher


class RandomSearcher(Searcher):
    name = "random"

    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        return self.space.sample(rng)
