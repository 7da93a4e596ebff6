"""The ask/tell facade: drive any algorithm from your own loop (benchmarks, notebooks).

It is a thin shell over the same scheduler and state the workflow uses, in pull mode: each
``ask`` issues at most one job, so parallelism is simply how many asks you leave untold.

Warm start: ``create(..., prior=[(params, value), ...])`` or ``study.add_prior(params, value)``
feeds results of earlier runs to the searcher (see ``Scheduler.with_prior``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .actions import Create, Finish, Promote
from .auto import choose_searcher
from .factory import build_scheduler
from .fifo import FIFOScheduler
from .scheduler import Scheduler
from .space import Space, parse_space


@dataclass(frozen=True)
class Suggestion:
    trial_id: str
    params: dict[str, Any]
    #: Train (or continue training) this trial up to this many units; None: full training.
    fidelity: int | None
    rung: int = 0
    #: True when this continues an earlier trial from its checkpoint.
    resumed: bool = False


class Study:
    def __init__(
        self, scheduler: Scheduler[Any], prior: Iterable[tuple[Mapping[str, Any], float]] = ()
    ) -> None:
        self.scheduler = scheduler
        scheduler.pull = True
        self.state = scheduler.with_prior(scheduler.new_state(), prior)
        self._running: dict[str, int] = {}

    def add_prior(self, params: Mapping[str, Any], value: float) -> None:
        """A result of an earlier run (raw objective value) for the searcher to learn from. Not a
        trial: never asked, never in ``best``. Unlike a workflow's state, a study takes priors at
        any time; a ValueError says why one does not fit the space."""
        self.state = self.scheduler._add_prior(self.scheduler._copy(self.state), [(params, value)])

    @property
    def finished(self) -> bool:
        return self.state.finished

    def ask(self) -> Suggestion | None:
        """The next job, or None: either finished, or waiting for results of running trials."""
        self.state, actions = self.scheduler._request(self.state)
        for action in actions:
            if isinstance(action, Create):
                self._running[action.trial_id] = action.rung
                return Suggestion(action.trial_id, dict(action.params), action.fidelity, action.rung)
            if isinstance(action, Promote):
                self._running[action.trial_id] = action.rung
                params = dict(self.state.trials[action.trial_id].params)
                return Suggestion(action.trial_id, params, action.fidelity, action.rung, resumed=True)
            if isinstance(action, Finish):
                return None
        return None

    def tell(self, trial_id: str, value: float) -> None:
        rung = self._pop(trial_id)
        self.state, _ = self.scheduler.on_result(self.state, trial_id, rung, value)

    def tell_failure(self, trial_id: str, reason: str = "failed") -> None:
        self._pop(trial_id)
        self.state, _ = self.scheduler.on_failure(self.state, trial_id, reason)

    @property
    def best(self) -> tuple[dict[str, Any], float] | None:
        best = self.scheduler.best(self.state)
        return None if best is None else (best.params, best.value)

    def _pop(self, trial_id: str) -> int:
        if trial_id not in self._running:
            raise ValueError(f"trial {trial_id!r} was not asked, or was already told")
        return self._running.pop(trial_id)


#: Searchers offered here beyond the workflow's algorithms: their maths needs numpy/torch, so they
#: live in hpo.modelsearch (imported only when asked for) and "auto" picks between gp and tpe.
MODEL_BASED = ("gp", "optuna")
FACADE_ONLY = (*MODEL_BASED, "auto")


def create(
    algorithm: str,
    space: Mapping[str, Any] | Space,
    mode: Literal["min", "max"] = "min",
    seed: int = 0,
    prior: Iterable[tuple[Mapping[str, Any], float]] = (),
    **options: Any,
) -> Study:
    """``hpo.search.create("tpe", space, mode="min", seed=0, num_trials=100)``; ``prior``:
    ``(params, value)`` results of earlier runs to warm-start the searcher with.

    Beyond the workflow's algorithms: ``"gp"`` (Optuna's GPSampler; options ``n_startup_trials``,
    ``deterministic_objective``, ``max_observations``), ``"optuna"`` with ``sampler="TPESampler"``
    (or ``"GPSampler"``, ``"RandomSampler"``) and that sampler's options, and ``"auto"``, which picks
    ``gp`` or ``tpe`` from the space, ``num_trials`` and ``max_concurrent`` (see ``search/auto.py``).
    """
    if algorithm == "auto":
        parsed = parse_space(space)
        chosen = choose_searcher(parsed, options.get("num_trials"), options.get("max_concurrent", 1))
        return create(chosen, parsed, mode=mode, seed=seed, prior=prior, **options)
    if algorithm in MODEL_BASED:
        return Study(_model_based_scheduler(algorithm, parse_space(space), mode, seed, dict(options)), prior)
    return Study(build_scheduler(algorithm, space, mode=mode, seed=seed, **options), prior)


def _model_based_scheduler(
    algorithm: str, space: Space, mode: Literal["min", "max"], seed: int, options: dict[str, Any]
) -> Scheduler[Any]:
    # Imported here, never at module level: hpo.search runs inside Temporal's workflow sandbox,
    # which must not import optuna, numpy or torch (tests/unit/search/test_model_based.py checks).
    from ..modelsearch import ModelBasedSearcher

    common = {key: options.pop(key) for key in ("num_trials", "max_concurrent") if key in options}
    max_observations = options.pop("max_observations", None)
    if algorithm == "gp":
        sampler = "GPSampler"
    elif "sampler" not in options:
        raise ValueError("algorithm optuna needs sampler=, e.g. sampler='TPESampler'")
    else:
        sampler = options.pop("sampler")
    searcher = ModelBasedSearcher(space, sampler, options, max_observations=max_observations)
    return FIFOScheduler(space, searcher, algorithm=searcher.name, mode=mode, seed=seed, **common)
