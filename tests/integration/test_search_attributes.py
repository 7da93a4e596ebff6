"""Sweeps and their trials carry search attributes, so the Temporal Web UI filters them."""

from __future__ import annotations

import asyncio
import time

import pytest
from sweeps import byo_spec, new_sweep_id

from hpo.cli.commands import run_and_follow
from hpo.connections.temporal import connect
from hpo.contracts.search_attributes import STATE

pytestmark = pytest.mark.integration


async def test_a_sweep_and_its_trials_are_found_by_search_attributes(stack, training_worker):
    spec = byo_spec(name="tagged-sweep", trials=2, algorithm="random", training={"max_steps": 20})
    sweep_id = new_sweep_id("tagged")
    final = await run_and_follow(stack.settings, spec, sweep_id)
    assert final is not None and final.state == "completed"

    client = await connect(stack.settings)
    query = 'HpoSweepName = "tagged-sweep" AND HpoAlgorithm = "random"'
    deadline, found = time.monotonic() + 30, []
    while time.monotonic() < deadline:  # visibility is eventually consistent
        found = [w async for w in client.list_workflows(query)]
        if len(found) >= 3:
            break
        await asyncio.sleep(0.5)
    ids = sorted(w.id for w in found)
    assert ids == sorted([sweep_id, f"{sweep_id}.t0000.r0", f"{sweep_id}.t0001.r0"])
    sweep = next(w for w in found if w.id == sweep_id)
    deadline = time.monotonic() + 30
    while sweep.typed_search_attributes.get(STATE) != "completed" and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        sweep = await client.get_workflow_handle(sweep_id).describe()
    assert sweep.typed_search_attributes.get(STATE) == "completed"
