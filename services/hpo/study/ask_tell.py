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

from hpo.search.actions import Create, Finish, Promote
from hpo.search.factory import build_scheduler
from hpo.search.recorded import RecordedSearcher
from hpo.search.scheduler import Scheduler
from hpo.search.space import Space
from hpo.study.local import with_proposals


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
        self.state, actions = self._search(self.scheduler._request, self.state)
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
        self.state, _ = self._search(self.scheduler.on_result, self.state, trial_id, rung, value)

    def tell_failure(self, trial_id: str, reason: str = "failed") -> None:
        self._pop(trial_id)
        self.state, _ = self._search(self.scheduler.on_failure, self.state, trial_id, reason)

    @property
    def best(self) -> tuple[dict[str, Any], float] | None:
        best = self.scheduler.best(self.state)
        return None if best is None else (best.params, best.value)

    def _search(self, method: Any, *args: Any) -> Any:
        """A scheduler call, with any model-based proposal it needs computed here."""
        return with_proposals(self.scheduler.searcher, method, *args)

    def _pop(self, trial_id: str) -> int:
        if trial_id not in self._running:
            raise ValueError(f"trial {trial_id!r} was not asked, or was already told")
        return self._running.pop(trial_id)


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

    Every algorithm a sweep has: ``"gp"`` (Optuna's GPSampler fitted on Yeo-Johnson transformed
    losses; options ``n_startup_trials``, ``deterministic_objective``, ``max_observations``,
    ``loss_transform="none"`` for Optuna's own), ``"optuna"`` with ``sampler="TPESampler"``
    (or ``"GPSampler"``, ``"RandomSampler"``) and that sampler's options, ``"auto"`` (picks ``gp``
    or ``tpe`` from the space, ``num_trials`` and ``max_concurrent``, see ``search/auto.py``), and
    asha/hyperband/bohb with ``searcher="gp"`` (the model fitted on the highest rung with enough
    results). A model-based proposal is computed in this process by the same function a sweep's
    suggest activity runs, so the same seed gives the same configurations as a sweep.
    """
    scheduler = build_scheduler(algorithm, space, mode=mode, seed=seed, **options)
    if isinstance(scheduler.searcher, RecordedSearcher):
        # Check the sampler's options now (optuna may be imported here), not at the first proposal.
        from ..modelsearch.proposal import searcher_from_config

        searcher_from_config(scheduler.space.to_dict(), scheduler.searcher.config())
    return Study(scheduler, prior)
