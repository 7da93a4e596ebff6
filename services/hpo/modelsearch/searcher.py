"""``ModelBasedSearcher``: one Optuna sampler behind hpo's stateless ``Searcher`` interface.

Every call rebuilds an in-memory Optuna study from the observations (COMPLETE trials, loss
minimised) and the pending configurations (RUNNING trials), seeds a fresh sampler from the
proposal's RNG (itself derived from the sweep's seed and the proposal counter) and asks it for one
trial. Nothing survives between calls, so the same inputs always give the same suggestion and a
recorded suggestion can be reproduced from history alone. The price is refitting the model every
call, which Optuna's own GPSampler would partly cache; ``max_observations`` caps that cost.

Pending trials: GPSampler 5.0 conditions on RUNNING trials through q-batch log expected
improvement (qLogEI: the running points are sampled jointly from the GP posterior, a Monte-Carlo
"fantasy" rather than a constant liar or Kriging believer); TPESampler's ``constant_liar`` (on by
default) counts them as bad results. A suggestion that repeats a pending or already observed
configuration (likely in small discrete spaces) is replaced by a fresh random one, since a repeat
costs a whole training run and noise is the model's job, not repetition's.

Noise: GPSampler fits a noise variance (Gamma prior, floor 1e-6 on standardised losses) unless
``deterministic_objective=True``; TPE is rank-based and indifferent to it.

Losses: the sampler sees them Yeo-Johnson transformed (``loss_transform``, hpo.modelsearch.transform),
which is what makes this GP more sample-efficient than Optuna's GPSampler on its own (bench/README).
"""

from __future__ import annotations

import logging
import math
import random
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from hpo.search.recorded import LOSS_TRANSFORMS, ModelSearcherSettings
from hpo.search.searcher import Observation
from hpo.search.space import Space

from .distributions import from_optuna_params, to_optuna_distributions, to_optuna_params
from .samplers import build_sampler, check_options, sampler_class_name
from .transform import transformed


class _QuietStudyCreation(logging.Filter):
    """Drops Optuna's "A new study created in memory" line, which every suggestion would print."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("A new study created in memory")


logging.getLogger("optuna.storages._in_memory").addFilter(_QuietStudyCreation())

#: Random draws tried before a repeat is accepted (a tiny discrete space may be exhausted).
_DEDUP_TRIES = 100


class ModelBasedSearcher(ModelSearcherSettings):
    def __init__(
        self,
        space: Space,
        sampler: str = "GPSampler",
        sampler_options: Mapping[str, Any] | None = None,
        max_observations: int | None = None,
        loss_transform: str = LOSS_TRANSFORMS[0],
    ) -> None:
        sampler = sampler_class_name(sampler)
        options = dict(sampler_options or {})
        check_options(sampler, options)
        super().__init__(space, sampler, options, max_observations, loss_transform)
        self._distributions = to_optuna_distributions(space)

    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any] | None:
        seed = rng.randrange(2**31)
        with warnings.catch_warnings():
            # Experimental-argument warnings would repeat on every call of a durable sweep.
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study = self._study(seed, self._fitted(observations), pending)
            trial = study.ask(self._distributions)
        params = from_optuna_params(self.space, trial.params)
        return self._unrepeated(params, rng, observations, pending)

    def _kept(self, observations: Sequence[Observation]) -> list[Observation]:
        """Finite losses only (Optuna refuses NaN), capped to the best and the most recent ones.

        A GP fit costs O(n^3) per likelihood step, so a long sweep would slow every proposal; the
        cap keeps the best half (where the optimum is) and the most recent half (where the search is).
        """
        finite = [o for o in observations if math.isfinite(o.loss)]
        cap = self.max_observations
        if cap is None or len(finite) <= cap:
            return finite
        best = sorted(range(len(finite)), key=lambda i: (finite[i].loss, i))[: cap // 2]
        chosen = set(best)
        for i in range(len(finite) - 1, -1, -1):
            if len(chosen) >= cap:
                break
            chosen.add(i)
        return [finite[i] for i in sorted(chosen)]

    def _fitted(self, observations: Sequence[Observation]) -> list[Observation]:
        """The observations the model is fitted on: kept (``_kept``), their losses transformed."""
        kept = self._kept(observations)
        losses = transformed([o.loss for o in kept], self.loss_transform)
        return [Observation(o.params, loss) for o, loss in zip(kept, losses, strict=True)]

    def _study(
        self, seed: int, observations: Sequence[Observation], pending: Sequence[dict[str, Any]]
    ) -> optuna.Study:
        sampler = build_sampler(self.sampler, self.sampler_options, seed)
        study = optuna.create_study(direction="minimize", sampler=sampler)
        dists = self._distributions
        trials = [
            create_trial(value=o.loss, params=to_optuna_params(self.space, o.params), distributions=dists)
            for o in observations
        ]
        trials += [
            create_trial(
                state=TrialState.RUNNING, params=to_optuna_params(self.space, p), distributions=dists
            )
            for p in pending
        ]
        study.add_trials(trials)
        return study

    def _unrepeated(
        self,
        params: dict[str, Any],
        rng: random.Random,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        seen = {_key(o.params) for o in observations} | {_key(p) for p in pending}
        candidate = params
        for _ in range(_DEDUP_TRIES):
            if _key(candidate) not in seen:
                return candidate
            candidate = self.space.sample(rng)
        return params


def _key(params: Mapping[str, Any]) -> tuple[tuple[str, str, Any], ...]:
    # The type is part of the key: 1, 1.0 and True are different choices.
    return tuple(sorted((k, type(v).__name__, v) for k, v in params.items()))
