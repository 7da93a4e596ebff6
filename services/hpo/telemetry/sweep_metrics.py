"""Sweep-level Prometheus gauges, set from SweepWorkflow through the SDK's workflow meter.

Only the sweep workflow knows trials by state, the best objective and the sweep's total
accelerator time, so it reports them itself: `workflow.metric_meter()` is exported by the
sweep worker's SDK exporter (served on its /metrics, see hpo.workers.metrics_endpoint) and
records nothing while a history replays, so a worker restart never reports stale values.
The SDK adds `namespace`, `task_queue` and `workflow_type` labels and, configured as hpo
configures it, exports these names unchanged (no unit suffix, gauges have no `_total`).

Workflow-sandbox rules: this module imports only the standard library, temporalio and
hpo.contracts.messages.
"""

from __future__ import annotations

from typing import get_args

from temporalio import workflow

from hpo.contracts.messages import SweepStatus, TrialStatus

TRIALS = "hpo_trials"
BEST_OBJECTIVE = "hpo_best_objective"
SWEEP_ACCELERATOR_SECONDS = "hpo_sweep_accelerator_seconds"
NAMES = (TRIALS, BEST_OBJECTIVE, SWEEP_ACCELERATOR_SECONDS)
STATES: tuple[str, ...] = get_args(TrialStatus)


def record(status: SweepStatus) -> None:
    """Set the sweep's gauges from its status; call it whenever the status changes."""
    counts: dict[str, int] = {}
    for trial in status.trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    best = status.best
    record_values(status.sweep_id, counts, status.train_seconds, best.objective if best else None)


def record_values(sweep_id: str, counts: dict[str, int], seconds: float, best: float | None) -> None:
    """Set the sweep's gauges: trials by state, accelerator-seconds, the best objective."""
    meter = workflow.metric_meter()
    sweep = {"sweep": sweep_id}
    trials = meter.create_gauge(TRIALS, "Trials of a sweep by state.")
    # Every state, zeros included: a state that empties must read 0, not keep its last count.
    for state in STATES:
        trials.set(counts.get(state, 0), {**sweep, "state": state})
    meter.create_gauge_float(
        SWEEP_ACCELERATOR_SECONDS,
        "Accelerator-seconds a sweep's trials spent, every rung and attempt included.",
        "s",
    ).set(seconds, sweep)
    if best is not None:
        meter.create_gauge_float(
            BEST_OBJECTIVE, "Objective of a sweep's best trial (see the sweep's objective mode)."
        ).set(best, sweep)
