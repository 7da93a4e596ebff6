"""A sweep request started by hand, around the CLI's validation, with a spec the validators
refuse: the workflow fails at once with a message naming the field, instead of the SDK
failing its first workflow task (payload decoding) and Temporal retrying that task forever."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sweeps import byo_spec, new_sweep_id
from temporalio.client import WorkflowFailureError

from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepRequest

pytestmark = pytest.mark.integration


def _bad_request(sweep_id: str, **spec_changes: Any) -> dict[str, Any]:
    """A valid request as JSON, then edited the way a hand-written one could be."""
    request = SweepRequest(sweep_id=sweep_id, spec=byo_spec()).model_dump(mode="json")
    for path, value in spec_changes.items():
        section = request["spec"]
        *parents, leaf = path.split("__")
        for parent in parents:
            section = section[parent]
        section[leaf] = value
    return request


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"algorithm__options": {"n_ei_candidates": 100_000_000}}, "n_ei_candidates"),
        ({"space__lr__low": -1.0}, "space.lr"),
        ({"seed": 2**40}, "seed"),
    ],
    ids=["searcher-option", "space-bound", "seed"],
)
async def test_a_hand_started_request_with_a_bad_spec_fails_the_workflow(stack, changes, named):
    client = await connect(stack.settings)
    sweep_id = new_sweep_id("bad-request")
    # A plain dict: the client sends it as JSON without validating it against SweepRequest.
    handle = await client.start_workflow(
        "SweepWorkflow", _bad_request(sweep_id, **changes), id=sweep_id, task_queue=stack.settings.sweep_queue
    )
    try:
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=30)
    finally:
        description = await handle.describe()
        if description.status is not None and description.status.name == "RUNNING":
            await handle.terminate("test over")
    cause = failed.value.cause
    assert named in str(cause), str(cause)
    assert "validation error" in str(cause)
