"""The sweep and trial workflows on the real Temporal dev server with fake activities registered
under the real names: fast checks of orchestration paths that real training makes slow or rare
(a failed promotion, the release at the end, a failing release, a stalled scheduler)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from hpo.activities.record import RecordActivities
from hpo.activities.retention import kept_checkpoints
from hpo.cli.ui import root_cause
from hpo.connections.temporal import connect
from hpo.contracts import stubs
from hpo.contracts.messages import (
    Queues,
    ReleaseRequest,
    ReleaseResult,
    SegmentRequest,
    SegmentResult,
    SweepRequest,
    SweepStatus,
    TrainResult,
)
from hpo.contracts.spec import parse_spec
from hpo.results.sweep_view import with_record
from hpo.storage.s3 import ObjectStore
from hpo.workers.sweep import WORKFLOWS, workflow_runner

pytestmark = pytest.mark.integration


def ladder_spec(**overrides: Any):
    return parse_spec(
        {
            "name": "fake",
            "task": {"entrypoint": "fake:train"},
            "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
            "algorithm": {"name": "asha", "eta": 2, "min_fidelity": 1},
            "trials": 4,
            "max_concurrent": 4,
            "objective": {"metric": "score", "mode": "max"},
            "training": {"max_steps": 4},
            **overrides,
        }
    )


class FakeTraining:
    """train_segment and release_checkpoints as plain functions of their requests."""

    def __init__(
        self, settings: Any, fail_promotion_of: str | None = None, release_fails: bool = False
    ) -> None:
        self.kept: list[dict[str, str]] = []
        self.settings = settings
        self.segments: list[tuple[str, int, int | None]] = []
        self.released: list[ReleaseRequest] = []
        self.fail_promotion_of = fail_promotion_of
        self.release_fails = release_fails

    def activities(self) -> list[Any]:
        stack_settings = self.settings

        @activity.defn(name=stubs.TRAIN_SEGMENT)
        async def train_segment(request: SegmentRequest) -> SegmentResult:
            self.segments.append((request.trial_id, request.rung, request.target_step))
            if request.rung > 0 and request.trial_id == self.fail_promotion_of:
                raise ApplicationError("out of memory on rung 1", type="TrainingError", non_retryable=True)
            step = request.target_step or 4
            key = f"trials/{request.sweep_id}/{request.trial_id}/ckpt/step-{step:09d}/manifest.json"
            return SegmentResult(
                train=TrainResult(step=step, checkpoint_key=key, train_seconds=1.0),
                validation={"score": request.params["x"]},
                objective=request.params["x"],
            )

        @activity.defn(name=stubs.RELEASE_CHECKPOINTS)
        async def release_checkpoints(request: ReleaseRequest) -> ReleaseResult:
            self.released.append(request)
            if self.release_fails:
                raise ApplicationError("S3 said no", non_retryable=True)
            # What the real activity keeps: from the sweep's record, for a recorded sweep.
            keep = (
                kept_checkpoints(ObjectStore(stack_settings), request)
                if request.keep_from_record
                else request.keep
            )
            self.kept.append(keep)
            return ReleaseResult(released_bytes=100 * len(keep))

        return [train_segment, release_checkpoints]


async def _run(stack: Any, fake: FakeTraining, spec: Any) -> SweepStatus:
    client = await connect(stack.settings)
    queue = f"fake-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        # The sweep's record is real (S3): readers fold it, as they do every recorded sweep.
        activities=[*fake.activities(), RecordActivities(stack.settings).write_record],
        activity_executor=ThreadPoolExecutor(max_workers=2),
    ):
        sweep_id = f"fake-{uuid.uuid4().hex[:8]}"
        status = await client.execute_workflow(
            "SweepWorkflow",
            SweepRequest(sweep_id=sweep_id, spec=spec, queues=Queues(training=queue, sweep=queue)),
            id=sweep_id,
            task_queue=queue,
            result_type=SweepStatus,
        )
        return with_record(stack.settings, status)


async def test_a_failed_promotion_keeps_the_lower_rungs_result_and_is_not_released(stack):
    from hpo.contracts.spec import make_scheduler

    # The search core is deterministic: the same seed draws the same four trials in the sweep.
    spec = ladder_spec()
    scheduler = make_scheduler(spec)
    _, actions = scheduler.initial_actions(scheduler.new_state())
    drawn = {a.trial_id: a.params["x"] for a in actions if a.kind == "create"}
    best = max(drawn, key=drawn.__getitem__)  # the one ASHA promotes first
    fake = FakeTraining(stack.settings, fail_promotion_of=best)
    status = await _run(stack, fake, spec)

    failed = next(t for t in status.trials if t.trial_id == best)
    assert failed.status == "failed" and "out of memory on rung 1" in failed.error
    # What rung 0 measured stands: the trial keeps its objective and its rung-0 checkpoint.
    assert failed.objective == drawn[best] and failed.train is not None
    assert status.state == "completed"
    # Segments carry their rung's fidelity as the target step, and never exceed the budget.
    assert all(target in (1, 2, 4) for _, _, target in fake.segments)
    (release,) = fake.released
    (kept,) = fake.kept
    assert best not in kept
    scored = {t.trial_id for t in status.trials if t.status in ("completed", "stopped")}
    assert set(kept) == scored and status.released_bytes == 100 * len(scored)


async def test_a_failing_release_leaves_the_results_standing(stack):
    fake = FakeTraining(stack.settings, release_fails=True)
    status = await _run(stack, fake, ladder_spec(algorithm="random", trials=2))
    assert status.state == "completed" and [t.status for t in status.trials] == ["completed"] * 2
    assert status.released_bytes == 0 and len(fake.released) == 1


async def test_a_stalled_scheduler_fails_the_sweep_loudly(stack, monkeypatch):
    from hpo.search.fifo import FIFOScheduler

    # A search core that forgets to say Finish: nothing runs, nothing is left to wait for.
    monkeypatch.setattr(FIFOScheduler, "on_result", lambda self, state, *args: (state, []))
    with pytest.raises(WorkflowFailureError) as failed:
        await _run(stack, FakeTraining(stack.settings), ladder_spec(algorithm="random", trials=1))
    assert "search scheduler stalled" in root_cause(failed.value)
