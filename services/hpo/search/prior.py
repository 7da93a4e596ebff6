"""Warm start: results of earlier sweeps as prior observations for the searcher.

A prior is ``(params, value)``: a configuration some earlier sweep evaluated and the raw
objective it scored (the scheduler applies its mode, as for its own trials). Priors are data,
not trials: they never get a trial id, never count towards ``num_trials``, never rank in
``best()``. Model-based searchers (TPE, and BOHB's TPE at the top rung) see them as the oldest
observations; random and grid search ignore them. See ``Scheduler.with_prior``.

Only a prior that lies inside this sweep's space can be modelled, so ``compatible_prior``
sorts them out first and says why each one that does not fit was dropped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .space import CategoricalParam, IntParam, Param, Space

Prior = tuple[Mapping[str, Any], float]


def prior_problem(space: Space, params: Any, value: Any) -> str | None:
    """Why ``(params, value)`` cannot seed a searcher over ``space``; None when it can."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"its value is {value!r}, not a number"
    if not math.isfinite(value):
        return f"its value is {value}"
    if not isinstance(params, Mapping):
        return f"its params are {type(params).__name__}, not a mapping"
    missing = [name for name in space.names if name not in params]
    if missing:
        return f"parameter {missing[0]} is missing"
    extra = sorted(str(name) for name in params if name not in space.names)
    if extra:
        return f"parameter {extra[0]} is not in this space"
    for param in space.params:
        if not param.contains(params[param.name]):
            return _outside(param, params[param.name])
    return None


def _outside(param: Param, value: Any) -> str:
    if isinstance(param, CategoricalParam):
        return f"{param.name}={value!r} is not one of its choices {list(param.choices)}"
    if isinstance(param, IntParam):
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{param.name}={value!r} is not an integer"
        if param.low <= value <= param.high:
            return f"{param.name}={value} is not on its step of {param.step} from {param.low}"
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"{param.name}={value!r} is not a number"
    return f"{param.name}={value!r} is outside [{param.low}, {param.high}]"


def compatible_prior(space: Space, prior: Iterable[Prior]) -> tuple[list[Prior], list[str]]:
    """The priors that fit ``space`` (order kept), and one reason per prior dropped.

    A reason names the prior by its position: "prior 3: lr=0.5 is outside [0.0001, 0.1]".
    """
    kept: list[Prior] = []
    dropped: list[str] = []
    for i, (params, value) in enumerate(prior):
        problem = prior_problem(space, params, value)
        if problem is None:
            kept.append((params, value))
        else:
            dropped.append(f"prior {i}: {problem}")
    return kept, dropped
