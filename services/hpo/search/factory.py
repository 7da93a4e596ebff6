"""``build_scheduler``: one entry point from the sweep spec's words to a scheduler object.

Options are checked eagerly, so a typo in a spec fails when the sweep is submitted rather
than hours later inside a workflow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .auto import NEW_TPE_OPTIONS, choose_searcher
from .checks import shown
from .fifo import FIFOScheduler
from .grid import GridSearcher
from .random_search import RandomSearcher
from .scheduler import Scheduler
from .searcher import Searcher
from .space import Space, parse_space

ALGORITHMS = ("random", "grid", "tpe", "gp", "optuna", "auto", "asha", "hyperband", "bohb")
MULTI_FIDELITY = ("asha", "hyperband", "bohb")
#: Searchers whose proposals a workflow fetches from the suggest activity (search/recorded.py).
MODEL_BASED = ("gp", "optuna")
#: What asha's and bohb's ``searcher`` option accepts.
SEARCHERS = ("random", "grid", "tpe", *MODEL_BASED, "auto")
#: Options a scheduler consumes itself before handing the rest to its searcher.
_SCHEDULER_OPTIONS = {"asha": {"searcher", "finish_best"}, "bohb": {"searcher"}}


def _take(options: dict[str, Any], allowed: set[str], algorithm: str) -> dict[str, Any]:
    unknown = sorted(set(options) - allowed, key=str)
    if unknown:
        hint_names = allowed | _SCHEDULER_OPTIONS.get(algorithm, set())
        hint = f" (allowed: {', '.join(sorted(hint_names))})" if hint_names else " (it takes none)"
        raise ValueError(f"unknown option {shown(unknown[0])} for algorithm {algorithm}{hint}")
    return options


def build_searcher(name: str, space: Space, seed: int, options: dict[str, Any], algorithm: str) -> Searcher:
    if name == "random":
        _take(options, set(), algorithm)
        return RandomSearcher(space)
    if name == "grid":
        return GridSearcher(space, seed=seed, **_take(options, {"grid_points", "shuffle"}, algorithm))
    if name == "tpe":
        from .tpe import TPE_OPTIONS, TPESearcher

        return TPESearcher(space, **_take(options, TPE_OPTIONS, algorithm))
    if name in MODEL_BASED:
        return _recorded_searcher(name, space, options)
    raise ValueError(f"searcher is {shown(name)}, must be one of {', '.join(SEARCHERS)}")


def _recorded_searcher(name: str, space: Space, options: dict[str, Any]) -> Searcher:
    """The options as hpo.search.create takes them: ``max_observations``, ``loss_transform``,
    ``random_fraction``, for optuna ``sampler``,
    and the sampler's own options (their names are checked where optuna may be imported)."""
    from .recorded import LOSS_TRANSFORMS, RecordedSearcher

    options = dict(options)
    max_observations = options.pop("max_observations", None)
    random_fraction = options.pop("random_fraction", 0.0)
    loss_transform = options.pop("loss_transform", LOSS_TRANSFORMS[0])
    if name == "gp":
        if "sampler" in options:
            raise ValueError("sampler is only an option of algorithm optuna (gp is GPSampler)")
        sampler = "GPSampler"
    elif "sampler" not in options:
        raise ValueError("algorithm optuna needs the option sampler, e.g. sampler: TPESampler")
    else:
        sampler = options.pop("sampler")
    return RecordedSearcher(
        space,
        sampler,
        options,
        max_observations=max_observations,
        random_fraction=random_fraction,
        loss_transform=loss_transform,
    )


def resolve_auto(name: str, space: Space, num_trials: int | None, max_concurrent: int) -> str:
    """``auto`` becomes gp or tpe (search/auto.py's rule); other names are returned as they are.
    Resolved when the scheduler is built, so the choice is part of its fingerprint."""
    return choose_searcher(space, num_trials, max_concurrent) if name == "auto" else name


def build_scheduler(
    algorithm: str,
    space: Mapping[str, Any] | Space,
    *,
    mode: Literal["min", "max"] = "min",
    seed: int = 0,
    num_trials: int | None = None,
    max_concurrent: int = 1,
    max_fidelity: int | None = None,
    min_fidelity: int | None = None,
    eta: int = 3,
    **options: Any,
) -> Scheduler[Any]:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm is {shown(algorithm)}, must be one of {', '.join(ALGORITHMS)}")
    parsed = parse_space(space)
    common: dict[str, Any] = {
        "mode": mode,
        "seed": seed,
        "num_trials": num_trials,
        "max_concurrent": max_concurrent,
    }
    if algorithm not in MULTI_FIDELITY:
        chosen_by_auto = algorithm == "auto"
        algorithm = resolve_auto(algorithm, parsed, num_trials, max_concurrent)
        if chosen_by_auto and algorithm == "tpe":
            # Only an unresolved ``auto`` (ask/tell, new sweeps) gets them: a sweep spec resolves
            # ``auto`` once when submitted, so a recorded one arrives here as "tpe", unchanged.
            options = NEW_TPE_OPTIONS | options
        for field, value in (("max_fidelity", max_fidelity), ("min_fidelity", min_fidelity)):
            if value is not None:
                raise ValueError(f"{field} is only used by {', '.join(MULTI_FIDELITY)}, not {algorithm}")
        searcher = build_searcher(algorithm, parsed, seed, dict(options), algorithm)
        return FIFOScheduler(parsed, searcher, algorithm=algorithm, **common)

    from .ladder import Ladder

    ladder = Ladder.build(max_fidelity=max_fidelity, min_fidelity=min_fidelity, eta=eta, algorithm=algorithm)
    if algorithm == "asha":
        from .asha import ASHAScheduler

        searcher_name = resolve_auto(options.pop("searcher", "random"), parsed, num_trials, max_concurrent)
        finish_best = options.pop("finish_best", True)
        searcher = build_searcher(searcher_name, parsed, seed, dict(options), algorithm)
        return ASHAScheduler(parsed, searcher, ladder=ladder, finish_best=finish_best, **common)
    from .hyperband import HyperbandScheduler

    searcher_name = "random"
    if algorithm == "bohb":
        # BOHB's model: TPE as Falkner et al. have it, or gp (a GP on the highest rung with enough
        # results, in the spirit of MOBSTER) or any Optuna sampler.
        searcher_name = resolve_auto(options.pop("searcher", "tpe"), parsed, num_trials, max_concurrent)
        if searcher_name == "random":
            raise ValueError(
                "bohb's searcher is its model; for random configurations use algorithm hyperband"
            )
    if searcher_name == "tpe":
        # Falkner et al. keep a third of BOHB's proposals uniformly random, for its guarantees.
        options.setdefault("random_fraction", 1 / 3)
    searcher = build_searcher(searcher_name, parsed, seed, dict(options), algorithm)
    return HyperbandScheduler(parsed, searcher, ladder=ladder, algorithm=algorithm, **common)
