"""One recorded proposal, computed: what the suggest activity and the ask/tell façade both run.

A ``RecordedSearcher`` (hpo.search.recorded) names the proposal it needs in a ``ProposalRequest``;
this rebuilds the model-based searcher from the request's config and asks it once, seeded by the
request. The sweep's activity and a user's own loop (``hpo.search.create``, ``simulate``) go
through the same function, so the same request gives the same configuration in both.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from hpo.search.recorded import LOSS_TRANSFORMS, ProposalRequest
from hpo.search.searcher import Observation
from hpo.search.space import parse_space

from .searcher import ModelBasedSearcher


def searcher_from_config(space: Any, config: Mapping[str, Any]) -> ModelBasedSearcher:
    """RecordedSearcher.config() back into the searcher; ValueError names what the sampler refuses."""
    return ModelBasedSearcher(
        parse_space(space),
        config.get("sampler", "GPSampler"),
        config.get("options") or {},
        max_observations=config.get("max_observations"),
        loss_transform=config.get("loss_transform", LOSS_TRANSFORMS[0]),
    )


def propose(
    space: Mapping[str, Any],
    config: Mapping[str, Any],
    seed: int,
    index: int,
    observations: Sequence[tuple[Mapping[str, Any], float]],
    pending: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    searcher = searcher_from_config(space, config)
    seen = [Observation(dict(params), float(loss)) for params, loss in observations]
    params = searcher.suggest(random.Random(seed), index, seen, [dict(p) for p in pending])
    if params is None or not searcher.space.contains(params):
        raise ValueError(f"{searcher.name} proposed {params!r} outside the space")
    return params


def answer(request: ProposalRequest) -> dict[str, Any]:
    """The configuration a ``ProposalRequest`` asks for."""
    return propose(
        request.space, request.searcher, request.seed, request.index, request.observations, request.pending
    )
