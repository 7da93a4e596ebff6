"""Optuna samplers by name, with their options checked before anything runs.

Only samplers whose whole state is the trial history are offered: the searcher rebuilds an Optuna
study from (params, loss) pairs on every call, so a sampler that keeps state elsewhere would start
over each time. CMA-ES and NSGA-II/III keep their generations in trial system attributes and QMC
keeps its sequence position in a study attribute; they are refused with that reason rather than
silently degraded to sampling their first generation (or the first Sobol point) forever.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping
from typing import Any

import optuna

from hpo.search.checks import check_option
from hpo.search.recorded import SAMPLER_NAMES as SAMPLERS

_REFUSED = {
    "CmaEsSampler": "it keeps its state in trial system attributes, which a rebuild from (params, loss) lacks",
    "QMCSampler": "it keeps its sequence position in a study attribute, which a rebuild from (params, loss) lacks",
    "NSGAIISampler": "it keeps its generations in trial system attributes, which a rebuild lacks",
    "NSGAIIISampler": "it keeps its generations in trial system attributes, which a rebuild lacks",
    "GridSampler": "use algorithm 'grid'",
    "BruteForceSampler": "use algorithm 'grid'",
    "PartialFixedSampler": "it wraps another sampler and takes objects, not options",
}
#: Options that are ours to set (the seed comes from the sweep's seed and the proposal's index) or
#: that take Python objects, which a sweep spec cannot carry.
_RESERVED = {
    "seed",
    "independent_sampler",
    "constraints_func",
    "gamma",
    "weights",
    "categorical_distance_func",
}
#: Defaults that differ from Optuna's. GP: our rebuild per call has no use for Optuna's
#: "falling back to independent sampling" warning, which would fire for every pending trial.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "GPSampler": {"warn_independent_sampling": False},
    "TPESampler": {"multivariate": True},
}


#: Integer options are bounded so one spec cannot exhaust the worker that runs the suggest
#: activity: candidate and sample counts size arrays built per proposal; any other count
#: (startup trials, ...) never needs to exceed the spec's own bound on trials.
_SIZES = re.compile(r"candidates|samples|population|restarts")
MAX_CANDIDATES = 10_000
MAX_COUNT = 1_000_000


def sampler_class_name(name: Any) -> str:
    if isinstance(name, str) and name in SAMPLERS:
        return SAMPLERS[name]
    if isinstance(name, str) and name in _REFUSED:
        raise ValueError(f"sampler {name} is not offered: {_REFUSED[name]}")
    choices = ", ".join(sorted(set(SAMPLERS)))
    raise ValueError(f"sampler is {name!r}, must be one of {choices}")


def allowed_options(class_name: str) -> set[str]:
    init = getattr(optuna.samplers, class_name).__init__
    names = {p.name for p in inspect.signature(init).parameters.values() if p.kind == p.KEYWORD_ONLY}
    names |= {
        p.name for p in inspect.signature(init).parameters.values() if p.kind == p.POSITIONAL_OR_KEYWORD
    }
    return names - {"self"} - _RESERVED


def check_options(class_name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Unknown options and non-JSON values fail here, each message naming the option."""
    allowed = allowed_options(class_name)
    for key, value in options.items():
        if key == "seed":
            raise ValueError(f"option 'seed' of sampler {class_name} is set by hpo, from the sweep's seed")
        if key not in allowed:
            raise ValueError(
                f"unknown option {key!r} for sampler {class_name} (allowed: {', '.join(sorted(allowed))})"
            )
        if not _plain(value):
            raise ValueError(
                f"option {key!r} of sampler {class_name} must be a number, string, boolean, null or a "
                f"list/mapping of those, got {type(value).__name__}"
            )
        if isinstance(value, int) and not isinstance(value, bool):
            check_option(key, value, int, high=MAX_CANDIDATES if _SIZES.search(key) else MAX_COUNT)
    return {**_DEFAULTS.get(class_name, {}), **options}


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def build_sampler(name: str, options: Mapping[str, Any], seed: int) -> optuna.samplers.BaseSampler:
    """A fresh sampler; wrong option *values* surface as Optuna's own error, prefixed with the sampler."""
    class_name = sampler_class_name(name)
    checked = check_options(class_name, options)
    try:
        return getattr(optuna.samplers, class_name)(seed=seed, **checked)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"sampler {class_name}: {exc}") from exc
