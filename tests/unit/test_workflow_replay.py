"""Recorded workflow histories replay against the current workflow code.

A change that makes SweepWorkflow or TrialWorkflow non-deterministic for sweeps already
running fails here, before it reaches a cluster. Refresh a fixture with
`HPO_RECORD_HISTORIES=tests/fixtures/histories pytest tests/integration/test_sweep_e2e.py tests/integration/test_sweep_ladder.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hpo.workers.sweep import WORKFLOWS, workflow_runner

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
