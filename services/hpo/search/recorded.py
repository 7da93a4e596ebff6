"""``RecordedSearcher``: a model-based searcher (GP, Optuna's samplers) seen from inside a workflow.

The model's maths needs numpy/scipy/torch, which the workflow sandbox must never import, and its
floating point may differ between machines, which replay must never notice. So this searcher does
not compute anything: it names the proposal it needs and the workflow asks an activity for it
(``hpo.activities.suggest``, which runs ``hpo.modelsearch.ModelBasedSearcher``), records the answer
in history and offers it back. Replay reads the answer from history instead of refitting a model.

The protocol relies on schedulers being copy-on-write (every public call works on a copy of the
state): a call that raises ``ProposalNeeded`` leaves the caller's state untouched, so after
``offer`` the same call with the same arguments takes the same path, draws the same seed, finds the
offered proposal and goes on (possibly to the next proposal it needs). Offers are keyed by
(index, seed), checked against the request they answer, and kept until the caller's call goes
through (a call needing three proposals is retried three times, each retry asking again for the
ones offered before); then the caller drops them (``drop_offers``).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .checks import check_option, shown
from .searcher import Observation, Searcher
from .space import Space

#: Optuna's samplers by accepted name (Optuna's class name, or its short alias) -> class name: the
#: one table, here because the workflow side needs it and may not import optuna
#: (hpo.modelsearch.samplers imports it as SAMPLERS). Names outside it are checked, with Optuna's
#: reasons, where optuna may be imported: spec.parse_spec on the client, and the suggest activity.
SAMPLER_NAMES = {
    "GPSampler": "GPSampler",
    "gp": "GPSampler",
    "TPESampler": "TPESampler",
    "tpe": "TPESampler",
    "RandomSampler": "RandomSampler",
    "random": "RandomSampler",
}
#: ModelBasedSearcher's default startup count (Optuna's samplers start with 10 random trials).
DEFAULT_STARTUP = 10
#: How a model-based searcher transforms the losses before fitting its model
#: (hpo.modelsearch.transform); the first is the default.
LOSS_TRANSFORMS = ("yeo-johnson", "none")


def check_loss_transform(value: Any) -> str:
    if value not in LOSS_TRANSFORMS:
        raise ValueError(f"loss_transform is {shown(value)}, must be one of {', '.join(LOSS_TRANSFORMS)}")
    return str(value)


def check_max_observations(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"max_observations must be a positive integer or null, got {shown(value)}")
    return value


@dataclass(frozen=True)
class ProposalRequest:
    """Everything the suggest activity needs to rebuild the searcher and reproduce one proposal."""

    index: int
    #: Seeds the activity's ``random.Random``; drawn from the scheduler's replay-safe RNG.
    seed: int
    observations: list[tuple[dict[str, Any], float]]
    pending: list[dict[str, Any]]
    space: dict[str, Any]
    searcher: dict[str, Any] = field(default_factory=dict)


class ProposalNeeded(Exception):
    """Raised out of a scheduler call: fetch ``request``'s proposal, ``offer`` it, call again."""

    def __init__(self, request: ProposalRequest) -> None:
        super().__init__(f"proposal {request.index} (seed {request.seed}) is computed outside the workflow")
        self.request = request


class ModelSearcherSettings(Searcher):
    """What a model-based searcher is, the same on both sides: RecordedSearcher in the workflow
    and hpo.modelsearch's ModelBasedSearcher in the activity that answers it. Both must give the
    same name, config and startup count, or fingerprints and rung selection would differ."""

    #: Share of proposals drawn uniformly at random instead of from the model (see RecordedSearcher).
    random_fraction: float = 0.0

    def __init__(
        self,
        space: Space,
        sampler: str,
        sampler_options: dict[str, Any],
        max_observations: int | None,
        loss_transform: str,
    ) -> None:
        super().__init__(space)
        self.loss_transform = check_loss_transform(loss_transform)
        self.sampler = sampler
        self.sampler_options = sampler_options
        self.max_observations = check_max_observations(max_observations)
        self.name = "gp" if sampler == "GPSampler" else f"optuna:{sampler}"

    @property
    def wants_observations(self) -> bool:
        return True

    @property
    def min_observations(self) -> int:
        # Rung selection (_rung_observations) waits for the model's startup.
        return int(self.sampler_options.get("n_startup_trials", DEFAULT_STARTUP))

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "name": self.name,
            "sampler": self.sampler,
            "options": dict(self.sampler_options),
            "max_observations": self.max_observations,
        }
        # Options added later enter only when not their default, so the config of a searcher
        # without them (fingerprints, recorded requests of sweeps started before they existed)
        # stays exactly what it was, and such requests are answered with the default.
        if self.random_fraction:
            config["random_fraction"] = self.random_fraction
        if self.loss_transform != LOSS_TRANSFORMS[0]:
            config["loss_transform"] = self.loss_transform
        return config


class RecordedSearcher(ModelSearcherSettings):
    def __init__(
        self,
        space: Space,
        sampler: str = "GPSampler",
        sampler_options: Mapping[str, Any] | None = None,
        max_observations: int | None = None,
        random_fraction: float = 0.0,
        loss_transform: str = LOSS_TRANSFORMS[0],
    ) -> None:
        if not isinstance(sampler, str):
            raise ValueError(f"sampler must be a string, got {shown(sampler)}")
        options = dict(sampler_options or {})
        if any(not isinstance(key, str) for key in options):
            raise ValueError("sampler options must be named by strings")
        startup = options.get("n_startup_trials", DEFAULT_STARTUP)
        if isinstance(startup, bool) or not isinstance(startup, int) or startup < 0:
            raise ValueError(f"n_startup_trials must be a non-negative integer, got {shown(startup)}")
        super().__init__(
            space, SAMPLER_NAMES.get(sampler, sampler), options, max_observations, loss_transform
        )
        #: Share of proposals drawn uniformly at random instead of from the model (BOHB keeps a
        #: third: under multi-fidelity the model sees biased low-fidelity results, and random
        #: configurations keep the search from settling on a basin only the cheap rungs favour).
        self.random_fraction = check_option("random_fraction", random_fraction, float, 0.0, 1.0)
        self._offers: dict[tuple[int, int], tuple[ProposalRequest, dict[str, Any]]] = {}
        self._taken: set[tuple[int, int]] = set()

    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any] | None:
        if self.random_fraction > 0 and rng.random() < self.random_fraction:
            return self.space.sample(rng)
        request = ProposalRequest(
            index=index,
            seed=rng.randrange(2**63),
            observations=[(dict(o.params), float(o.loss)) for o in observations],
            pending=[dict(p) for p in pending],
            space=self.space.to_dict(),
            searcher=self.config(),
        )
        key = (request.index, request.seed)
        offered = self._offers.get(key)
        if offered is None:
            raise ProposalNeeded(request)
        self._taken.add(key)
        asked, params = offered
        if asked != request:
            # The retried call saw other inputs: a scheduler mutated state it should have copied.
            raise AssertionError(f"proposal {index} was offered for other observations or pending trials")
        return dict(params)

    def offer(self, request: ProposalRequest, params: dict[str, Any]) -> None:
        """The activity's answer to ``request``, consumed by the next identical ``suggest``."""
        self._offers[(request.index, request.seed)] = (request, dict(params))

    def unconsumed(self) -> int:
        """Offers the last calls did not take: zero after a completed call that asked for them all."""
        return len(set(self._offers) - self._taken)

    def drop_offers(self) -> None:
        """Forget offers a completed call did not take (only possible when the scheduler's limits
        changed between the question and the retry): the next call starts clean, so no offer ever
        outlives the call it answered, nor needs carrying across Continue-As-New."""
        self._offers.clear()
        self._taken.clear()
