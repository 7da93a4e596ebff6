"""Sweep worker: the workflows, checkpoint retention and model-based proposals on the sweep queue (CPU).

It imports no torch itself; the suggest activity loads optuna and torch on its first call only.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from hpo.activities.record import RecordActivities
from hpo.activities.retention import RetentionActivities
from hpo.activities.suggest import SuggestActivities
from hpo.connections.temporal import connect
from hpo.contracts.settings import Settings
from hpo.workers.metrics_endpoint import worker_runtime
from hpo.workers.run import GRACEFUL_SHUTDOWN, run_until_signalled, stop_on_signals
from hpo.workflows.predict import PredictWorkflow
from hpo.workflows.sweep import SweepWorkflow
from hpo.workflows.trial import TrialWorkflow

WORKFLOWS = [SweepWorkflow, TrialWorkflow, PredictWorkflow]
# Pure, deterministic modules the workflows use: imported once, outside the sandbox, so
# modules the search core imports lazily (one per algorithm) are shared, not re-imported.
PASSTHROUGH = (
    "hpo.search",
    "hpo.contracts.messages",
    "hpo.contracts.spec",
    "hpo.contracts.settings",
    "hpo.contracts.stubs",
    "hpo.contracts.task_catalog",
    "hpo.trial",
    "hpo.rng",
    "hpo.contracts.search_attributes",
    "hpo.engine",
    "hpo.engine.ledger",
)


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )


async def run_sweep_worker(settings: Settings, concurrency: int = 2) -> None:
    stop = stop_on_signals()
    client = await connect(settings, worker_runtime(settings.metrics_port, host=settings.metrics_host))
    worker = Worker(
        client,
        task_queue=settings.sweep_queue,
        workflows=WORKFLOWS,
        workflow_runner=workflow_runner(),
        activities=[
            RetentionActivities(settings).release_checkpoints,
            RecordActivities(settings).write_record,
            SuggestActivities().suggest_configuration,
        ],
        activity_executor=ThreadPoolExecutor(max_workers=concurrency),
        max_concurrent_activities=concurrency,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    await run_until_signalled(worker, "sweep", stop)
