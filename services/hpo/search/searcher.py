"""Searchers propose configurations; schedulers (fifo, asha, hyperband) decide fidelity.

A searcher is stateless between calls: everything it needs arrives as arguments (the
observations the scheduler chose to show it, the configurations still running, the index of
this proposal and a seeded RNG). That is what makes the whole core replay-safe.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .space import Space


@dataclass(frozen=True)
class Observation:
    params: dict[str, Any]
    #: Lower is better: the scheduler has already applied the mode.
    loss: float


class Searcher(ABC):
    name: str = "searcher"

    def __init__(self, space: Space) -> None:
        self.space = space

    @abstractmethod
    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any] | None:
        """The ``index``-th configuration, or None when the searcher has nothing left to offer."""

    def capacity(self) -> int | None:
        """How many configurations this searcher can ever produce (None: unbounded)."""
        return None

    def config(self) -> dict[str, Any]:
        """Everything that changes decisions, for the scheduler's fingerprint."""
        return {"name": self.name}

    @property
    def min_observations(self) -> int:
        """How many observations the searcher needs before its model kicks in."""
        return 0

    @property
    def wants_observations(self) -> bool:
        """Model-based searchers need history; random and grid do not (saves work per proposal)."""
        return False
