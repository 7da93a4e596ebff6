"""Exact conversion between hpo's Space and Optuna's distributions, both ways.

Floats and ints map to Optuna's Float/IntDistribution with the same bounds, step and log flag, so
Optuna's samplers see the same scale hpo's do. Categoricals are handed to Optuna as the *indexes*
of their choices: Optuna compares choices with ``==`` (so ``1``, ``1.0`` and ``True`` collide), while
hpo tells them apart by type (``CategoricalParam.index``); indexes keep every choice's exact Python
value and type on the way back. Optuna's samplers treat a categorical as unordered either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from hpo.search.space import CategoricalParam, FloatParam, Space


def to_optuna_distributions(space: Space) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for p in space.params:
        if isinstance(p, CategoricalParam):
            out[p.name] = CategoricalDistribution(tuple(range(len(p.choices))))
        elif isinstance(p, FloatParam):
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
        else:
            # parse_space refuses step together with log, as Optuna does.
            out[p.name] = IntDistribution(p.low, p.high, log=p.log, step=p.step)
    return out


def to_optuna_params(space: Space, params: Mapping[str, Any]) -> dict[str, Any]:
    """hpo's params in Optuna's form (a categorical becomes the index of its choice)."""
    out: dict[str, Any] = {}
    for p in space.params:
        value = params[p.name]
        out[p.name] = p.index(value) if isinstance(p, CategoricalParam) else value
    return out


def from_optuna_params(space: Space, params: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna's params back in hpo's form: ints as ``int``, floats as ``float``, inside the bounds."""
    out: dict[str, Any] = {}
    for p in space.params:
        value = params[p.name]
        if isinstance(p, CategoricalParam):
            out[p.name] = p.choices[int(value)]
        elif isinstance(p, FloatParam):
            out[p.name] = min(max(float(value), p.low), p.high)
        else:
            # Optuna returns Python ints already; int() guards against numpy integers.
            out[p.name] = min(max(int(value), p.low), p.high)
    return out
