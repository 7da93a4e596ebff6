"""Recorded workflow histories replay against the current workflow code.

A change that makes SweepWorkflow or TrialWorkflow non-deterministic for sweeps already
running fails here, before it reaches a cluster. Record the current
version's histories with `HPO_RECORD_HISTORIES=tests/fixtures/histories pytest tests/integration/test_sweep_e2e.py
tests/integration/test_sweep_ladder.py tests/integration/test_function_trials.py`; older ones stay as they are.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hpo.contracts.messages import SnapshotRef, SweepRequest, SweepStatus
from hpo.workers.sweep import WORKFLOWS, workflow_runner
from hpo.workflows.sweep import SweepWorkflow

HISTORIES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "histories").glob("*.json"))


def test_there_are_recorded_histories():
    assert HISTORIES, "tests/fixtures/histories holds no recorded workflow history"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_recorded_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None


@workflow.defn(name="SweepWorkflow", sandboxed=False)
class SweepWorkflowSkippingPreparation(SweepWorkflow):
    """A non-deterministic edit: the same workflow without its data-preparation step."""

    @workflow.run
    async def run(self, request: SweepRequest) -> SweepStatus:
        return await super().run(request)

    async def _prepare(self, request: SweepRequest) -> SnapshotRef | None:
        return None


async def test_a_non_deterministic_change_is_caught_by_replay():
    # The guard above is only worth having if it fails: replay a recorded sweep against an
    # edit that drops an activity, without a patch, and expect the replayer to refuse it.
    path = next(p for p in HISTORIES if p.stem == "sweep_random_v3")
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    replayer = Replayer(
        workflows=[SweepWorkflowSkippingPreparation, *WORKFLOWS[1:]], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondetermin" in str(result.replay_failure).lower()
