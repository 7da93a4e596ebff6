"""Named pools of training workers (A100s here, L4s there), and which task queue each polls.

A deployment lists its pools in HPO_POOLS, comma-separated, the default first (the chart sets it
from `trainingWorkers`). The first pool's workers poll HPO_TRAINING_QUEUE; pool NAME's poll
`<HPO_TRAINING_QUEUE>-NAME`. A sweep picks its pool with the spec's `pool:` (default: the first).
Each pool's workers report their own price and accelerators per trial with every segment
(HPO_PRICE_PER_HOUR, HPO_CURRENCY, HPO_ACCELERATORS_PER_TRIAL on that pool's workers), so the
ledger prices each segment at the pool that trained it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the spec imports POOL_NAME; settings stay out of its imports
    from hpo.contracts.settings import Settings

# A Kubernetes-name-like pool name: it becomes part of a task queue and of Deployment names.
POOL_NAME = r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$"
DEFAULT_POOL = "default"


class UnknownPool(ValueError):
    """The spec names a pool this deployment does not have."""


def pool_names(settings: Settings) -> list[str]:
    """The deployment's pools in order, the default first; one pool, "default", when unset."""
    names = [name.strip() for name in settings.pools.split(",") if name.strip()]
    return names or [DEFAULT_POOL]


def pool_queue(settings: Settings, pool: str | None) -> str:
    """The task queue `pool`'s training workers poll (None: the default pool's)."""
    names = pool_names(settings)
    if pool is None or pool == names[0]:
        return settings.training_queue
    if pool not in names:
        configured = (
            ", ".join(names) if settings.pools.strip() else "none besides the default (HPO_POOLS is unset)"
        )
        raise UnknownPool(
            f"pool: {pool!r} is not a pool of training workers here; the pools are: {configured}. "
            "Name one of them in the spec's `pool:`, or list the pools (the default first) in HPO_POOLS "
            "where you run hpo, as the chart's trainingWorkers do"
        )
    return f"{settings.training_queue}-{pool}"
