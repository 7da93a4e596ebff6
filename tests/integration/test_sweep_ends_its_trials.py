"""A sweep that ends, by any road, ends its trials: terminated by hand or failed, its running
segments checkpoint and end within 2 minutes, release their workers, and the sweep's record
says how each ended (written by the trial itself once its sweep is gone)."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError
from temporalio.worker import Worker

from hpo.activities.record import RecordActivities
from hpo.activities.retention import RetentionActivities
from hpo.cli.commands import ship_code
from hpo.cli.ui import root_cause
from hpo.connections.temporal import connect
from hpo.contracts.messages import Queues, SweepRequest, SweepStatus, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.results.sweep_view import recorded_status
from hpo.workers.sweep import WORKFLOWS, workflow_runner

pytestmark = pytest.mark.integration

LASTING = Path(__file__).resolve().parents[1] / "fixtures" / "lasting"
WITHIN_S = 120.0  # what the issue asks: trials end within 2 minutes of their sweep


def lasting_spec() -> Any:
    return parse_spec(
        {
            "name": "lasting",
            "task": {"entrypoint": "lasting:train", "code": str(LASTING), "config": {"seconds": 300}},
            "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "algorithm": "random",
            "trials": 4,
            "max_concurrent": 2,
            "objective": {"metric": "loss", "mode": "min"},
            "training": {"max_steps": 300, "checkpoint_every": 10, "heartbeat_timeout_s": 10},
        }
    )


class SweepHere:
    """The sweep's workflows in this process (so a test may break its search core), its
    trials' training on the stack's real training worker."""

    def __init__(self, stack: Any) -> None:
        self.stack = stack
        self.queue = f"ends-{uuid.uuid4().hex[:8]}"
        self.sweep_id = f"ends-{uuid.uuid4().hex[:8]}"

    async def __aenter__(self) -> SweepHere:
        self.client: Client = await connect(self.stack.settings)
        settings = self.stack.settings
        self.worker = Worker(
            self.client,
            task_queue=self.queue,
            workflows=WORKFLOWS,
            workflow_runner=workflow_runner(),
            activities=[
                RecordActivities(settings).write_record,
                RetentionActivities(settings).release_checkpoints,
            ],
            activity_executor=ThreadPoolExecutor(max_workers=4),
        )
        await self.worker.__aenter__()
        spec = lasting_spec()
        self.handle = await self.client.start_workflow(
            "SweepWorkflow",
            SweepRequest(
                sweep_id=self.sweep_id,
                spec=spec,
                code=ship_code(settings, spec),
                queues=Queues(training=settings.training_queue, sweep=self.queue),
            ),
            id=self.sweep_id,
            task_queue=self.queue,
            result_type=SweepStatus,
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.worker.__aexit__(*exc)

    async def until_training(self, trial_id: str, timeout: float = 90) -> None:
        """Until `trial_id`'s segment has reported a step (its training runs)."""
        deadline = time.monotonic() + timeout
        handle = self.client.get_workflow_handle(f"{self.sweep_id}.{trial_id}.r0")
        while time.monotonic() < deadline:
            try:
                described = await handle.describe()
                pending = described.raw_description.pending_activities
                if pending and pending[0].heartbeat_details.payloads:
                    return
            except Exception:
                pass
            await asyncio.sleep(0.5)
        raise AssertionError(f"{trial_id} never started training")

    async def trial_ends(self, trial_id: str) -> tuple[float, TrialResult]:
        """Seconds until the trial's workflow closed, and its result."""
        began = time.monotonic()
        handle = self.client.get_workflow_handle(f"{self.sweep_id}.{trial_id}.r0", result_type=TrialResult)
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            assert time.monotonic() - began < WITHIN_S + 30, f"{trial_id} still runs after its sweep ended"
            await asyncio.sleep(1)
        return time.monotonic() - began, await handle.result()


def assert_recorded_as_stopped(stack: Any, sweep_id: str, trial_id: str, because: str) -> None:
    status = recorded_status(stack.settings, sweep_id)
    assert status is not None and status.state == "failed"
    trial = next(t for t in status.trials if t.trial_id == trial_id)
    assert trial.status == "stopped", trial
    assert because in (trial.error or ""), trial.error
    # It checkpointed on the way out, and what it spent is in the ledger.
    assert trial.train is not None and trial.train.checkpoint_key and trial.train.step > 0
    assert trial.segments and trial.segments[-1].train_seconds > 0
    assert status.money is not None and status.money.accelerator_hours > 0


async def test_a_sweep_terminated_by_hand_ends_its_trials(stack, training_worker):
    async with SweepHere(stack) as sweep:
        await sweep.until_training("t0001")
        await sweep.handle.terminate(reason="by hand, in a test")
        took, result = await sweep.trial_ends("t0001")
        print(f"t0001 ended {took:.1f} s after its sweep was terminated: {result.error}")
        assert took < WITHIN_S
        assert result.status == "stopped" and "has ended (terminated)" in (result.error or "")
        assert_recorded_as_stopped(stack, sweep.sweep_id, "t0001", "has ended (terminated)")


async def test_a_sweep_that_fails_ends_its_trials(stack, training_worker, monkeypatch):
    from hpo.search.fifo import FIFOScheduler

    # The search core breaks on the first result (t0000's, at once) while t0001 trains on.
    def broken(self: Any, state: Any, *args: Any) -> Any:
        raise ZeroDivisionError("a search core bug")

    monkeypatch.setattr(FIFOScheduler, "on_result", broken)
    async with SweepHere(stack) as sweep:
        with pytest.raises(WorkflowFailureError) as failed:
            await sweep.handle.result()
        assert "ZeroDivisionError: a search core bug" in root_cause(failed.value)
        took, result = await sweep.trial_ends("t0001")
        print(f"t0001 ended {took:.1f} s after its sweep failed: {result.error}")
        assert took < WITHIN_S
        assert result.status == "stopped"
        status = recorded_status(stack.settings, sweep.sweep_id)
        assert status is not None and status.state == "failed"
        assert "a search core bug" in (status.stop_reason or "")
        assert_recorded_as_stopped(stack, sweep.sweep_id, "t0001", "stopped at step")
