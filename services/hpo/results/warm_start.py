"""Warm start: read the finished trials of earlier sweeps (``spec.warm_start``) as priors.

The earlier sweeps' statuses come from Temporal (a completed sweep's result, or a running
one's ``status`` query); turning them into ``PriorTrial``s is pure (``collect_prior``): the
objective must be the same metric in the same direction, and each trial's params must lie in
this sweep's space (``hpo.search.compatible_prior``), else the trial is dropped with a reason.
A trial's value is its objective at the highest rung it reached (``TrialResult.objective``).

The sweep workflow hands the priors to its scheduler (``Scheduler.with_prior``): they inform
TPE/BOHB from the first proposal on, and are never trials of the new sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from hpo.contracts.messages import PriorTrial, SweepStatus
from hpo.contracts.settings import Settings
from hpo.contracts.spec import SweepSpec
from hpo.search import parse_space, prior_problem

STATUS_QUERY_TIMEOUT = timedelta(seconds=30)
#: Trial states whose objective is a real measurement (failed trials are left out).
SCORED = ("completed", "stopped")


class WarmStartError(ValueError):
    """An earlier sweep cannot warm-start this one; the message is one paragraph for the user."""


@dataclass
class WarmStart:
    sweeps: list[str]
    prior: list[PriorTrial] = field(default_factory=list)
    #: One "SWEEP/TRIAL: reason" per trial left out because it does not fit this space.
    dropped: list[str] = field(default_factory=list)
    #: Caveats worth a mention (a large sweep that reported only the top of its leaderboard).
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: "warm start: 37 trials from sweep-a, sweep-b (3 outside this space dropped,
        e.g. sweep-a/t0004: lr=0.5 is outside [0.0001, 0.1])"."""
        n = len(self.prior)
        line = f"warm start: {n} trial{'' if n == 1 else 's'} from {', '.join(self.sweeps)}"
        extra = []
        if self.dropped:
            extra.append(f"{len(self.dropped)} outside this space dropped, e.g. {self.dropped[0]}")
        extra += self.notes
        return line + (f" ({'; '.join(extra)})" if extra else "")


def prior_from_status(spec: SweepSpec, status: SweepStatus) -> tuple[list[PriorTrial], list[str]]:
    """The scored trials of an earlier sweep that fit ``spec``, and why the others were dropped."""
    if (status.objective_metric, status.mode) != (spec.metric, spec.mode):
        raise WarmStartError(
            f"warm_start: sweep {status.sweep_id} optimised {status.objective_metric} ({status.mode}), "
            f"this sweep {spec.metric} ({spec.mode}); its results say nothing about this objective, "
            "so remove it from warm_start (or optimise the same metric in the same direction)"
        )
    space = parse_space(spec.space)
    prior: list[PriorTrial] = []
    dropped: list[str] = []
    for trial in status.trials:
        if trial.status not in SCORED or trial.objective is None:
            continue
        source = f"{status.sweep_id}/{trial.trial_id}"
        problem = prior_problem(space, trial.params, trial.objective)
        if problem is None:
            prior.append(PriorTrial(params=dict(trial.params), value=trial.objective, source=source))
        else:
            dropped.append(f"{source}: {problem}")
    return prior, dropped


def collect_prior(spec: SweepSpec, statuses: Sequence[SweepStatus]) -> WarmStart:
    """Priors from earlier sweeps' statuses, in the order given (trials in each sweep's order)."""
    result = WarmStart(sweeps=[s.sweep_id for s in statuses])
    for status in statuses:
        prior, dropped = prior_from_status(spec, status)
        result.prior += prior
        result.dropped += dropped
        if status.trials_total > len(status.trials):
            result.notes.append(
                f"{status.sweep_id} reported {len(status.trials)} of its {status.trials_total} trials"
            )
    return result


async def read_sweep(client: Client, sweep_id: str, settings: Settings | None = None) -> SweepStatus:
    """An earlier sweep's status with its whole trial table: its workflow's (the result once
    completed, else its ``status`` query) over its record, or its record alone once Temporal
    has dropped it (hpo.results.sweep_view). Without ``settings`` only Temporal is read."""
    from hpo.results.sweep_view import RecordUnreadable, recorded_status, with_record

    if settings is None:
        return await _temporal_sweep(client, sweep_id)  # type: ignore[return-value]  # raises when missing
    try:
        status = await _temporal_sweep(client, sweep_id, missing_ok=True)
        if status is not None:
            return with_record(settings, status)
        found = recorded_status(settings, sweep_id)
    except RecordUnreadable as error:
        raise WarmStartError(f"warm_start: {error}") from None
    if found is None:  # neither in Temporal nor in S3: say so as Temporal does
        return await _temporal_sweep(client, sweep_id)  # type: ignore[return-value]
    return found


async def _temporal_sweep(client: Client, sweep_id: str, missing_ok: bool = False) -> SweepStatus | None:
    handle = client.get_workflow_handle(sweep_id, result_type=SweepStatus)
    try:
        described = await handle.describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            if missing_ok:
                return None
            raise WarmStartError(
                f"warm_start: no sweep {sweep_id!r} on this Temporal server ({error.message}); "
                "warm_start lists the ids of earlier sweeps, as `hpo sweep run` printed them "
                "(see them with `hpo sweep status ID`)"
            ) from None
        raise WarmStartError(f"warm_start: could not read sweep {sweep_id!r} ({error.message})") from None
    if described.workflow_type != "SweepWorkflow":
        raise WarmStartError(
            f"warm_start: {sweep_id!r} is a {described.workflow_type} workflow, not a sweep; "
            "warm_start lists the ids of earlier sweeps"
        )
    if described.status == WorkflowExecutionStatus.COMPLETED:
        # The final status is the workflow's result, in its history: no sweep worker needed.
        return await handle.result()
    try:
        return await handle.query("status", result_type=SweepStatus, rpc_timeout=STATUS_QUERY_TIMEOUT)
    except (RPCError, WorkflowQueryFailedError) as error:
        state = described.status.name.lower() if described.status else "unknown"
        reason = error.message if isinstance(error, RPCError) else str(error)
        raise WarmStartError(
            f"warm_start: sweep {sweep_id!r} is {state} and did not answer its status query "
            f"({reason}); a sweep worker must be running (`hpo up` or `hpo worker sweep`), "
            "or remove the sweep from warm_start"
        ) from None


async def fetch_warm_start(
    client: Client, spec: SweepSpec, sweep_ids: Sequence[str], settings: Settings | None = None
) -> WarmStart:
    """Read each earlier sweep (duplicates once, in order) and collect its priors."""
    statuses = [await read_sweep(client, sweep_id, settings) for sweep_id in dict.fromkeys(sweep_ids)]
    return collect_prior(spec, statuses)


async def fetch_prior(
    client: Client, spec: SweepSpec, sweep_ids: list[str], settings: Settings | None = None
) -> list[PriorTrial]:
    """The priors of ``sweep_ids`` for a sweep of ``spec`` (``source`` is "SWEEP/TRIAL")."""
    return (await fetch_warm_start(client, spec, sweep_ids, settings)).prior
