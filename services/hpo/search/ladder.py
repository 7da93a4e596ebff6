"""The rung ladder shared by ASHA, Hyperband and BOHB: which fidelity each rung trains to.

Rungs are anchored at ``max_fidelity`` and step down by ``eta`` (``max / eta^k``) while they
stay >= ``min_fidelity``, as in Hyperband's ``r_i = R * eta^(i - s_max)``; with max 81, min 1
and eta 3 that is 1, 3, 9, 27, 81. Anchoring at the top means the last rung is always a
full ``eta`` step, never a stub like 81 -> 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def _integer(name: str, value: Any, low: int, algorithm: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer for {algorithm}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} is {value}, must be >= {low}")
    return value


@dataclass(frozen=True)
class Ladder:
    #: Cumulative training units a trial must have reached at each rung, strictly increasing.
    fidelities: tuple[int, ...]
    eta: int
    min_fidelity: int
    max_fidelity: int

    @property
    def top(self) -> int:
        return len(self.fidelities) - 1

    @classmethod
    def build(cls, *, max_fidelity: Any, min_fidelity: Any, eta: Any, algorithm: str) -> Ladder:
        if max_fidelity is None:
            raise ValueError(f"max_fidelity is required for {algorithm}")
        eta = _integer("eta", eta, 2, algorithm)
        max_fidelity = _integer("max_fidelity", max_fidelity, 1, algorithm)
        if min_fidelity is None:
            # Four rungs by default: enough to prune hard, few enough that rung 0 still says something.
            min_fidelity = max(1, max_fidelity // eta**3)
        min_fidelity = _integer("min_fidelity", min_fidelity, 1, algorithm)
        if min_fidelity > max_fidelity:
            raise ValueError(f"min_fidelity ({min_fidelity}) must be <= max_fidelity ({max_fidelity})")
        s_max = 0
        while min_fidelity * eta ** (s_max + 1) <= max_fidelity:
            s_max += 1
        fidelities = tuple(
            max(min_fidelity, round(max_fidelity / eta ** (s_max - k))) for k in range(s_max + 1)
        )
        return cls(fidelities, eta, min_fidelity, max_fidelity)

    def config(self) -> dict[str, Any]:
        return {"fidelities": list(self.fidelities), "eta": self.eta}
