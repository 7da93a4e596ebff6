"""A sweep as its readers see it: the live workflow laid over the sweep's record.

Temporal runs a sweep and S3 remembers it. A recorded sweep's workflow answers with its
running segments and the events its record does not hold yet (and the finished trials its
engine still holds, which are the record's already); the rest of its trial table is in the
record (hpo.storage.sweep_record). Once Temporal has dropped the workflow (retention,
`temporal workflow delete`) the record alone answers, with the same output: `sweep status`,
`report`, `export`, `predict`, warm starts and `hpo.run`'s result all read through here, and
`sweep list --all` lists the sweeps that exist only in their record.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError

from hpo.contracts.messages import SweepStart, SweepStatus
from hpo.contracts.settings import Settings
from hpo.engine.trial_table import full_status
from hpo.storage.s3 import ObjectStore, StorageUnavailable
from hpo.storage.sweep_record import Record, RecordError, SweepRecord, run_prefix

UNFINISHED = ("running", "paused", "stopping")


class RecordUnreadable(RuntimeError):
    """The record could not be read (S3 down, a damaged piece): the message says which and why."""


def _read(settings: Settings, sweep_id: str, scope: str | None) -> Record | None:
    try:
        return SweepRecord(ObjectStore(settings)).read(sweep_id, scope)
    except (ClientError, BotoCoreError, StorageUnavailable) as error:
        raise _unreadable(settings, f"the record of sweep {sweep_id}", error) from None
    except RecordError as error:
        raise RecordUnreadable(str(error)) from None


def _unreadable(settings: Settings, what: str, error: Exception) -> RecordUnreadable:
    return RecordUnreadable(
        f"could not read {what} from S3 {settings.s3_endpoint} (bucket {settings.s3_bucket}): {error}"
    )


def with_record(settings: Settings, status: SweepStatus) -> SweepStatus:
    """A status from Temporal with its whole trial table (unchanged for a sweep without a record)."""
    if not status.recorded:
        return status
    record = _read(settings, status.sweep_id, status.scope)
    return full_status(status, record.events(before=status.record_seq) if record else [])


def recorded_status(settings: Settings, sweep_id: str) -> SweepStatus | None:
    """The sweep from its record alone; None when it has none."""
    record = _read(settings, sweep_id, None)
    if record is None:
        return None
    return status_from_record(record)


def status_from_record(record: Record) -> SweepStatus:
    status = record.status
    if status is None:  # pragma: no cover - the first piece of every record carries a status
        raise RecordUnreadable(f"the record of sweep {record.start.sweep_id} holds no status")
    if status.state in UNFINISHED:
        # Its workflow is gone and never wrote how it ended (terminated, or deleted, mid-run).
        status = status.model_copy(
            update={
                "state": "failed",
                "stop_reason": (
                    f"sweep {status.sweep_id} ended without recording how (its workflow was "
                    f"terminated or deleted while {status.state}); its record holds what it had"
                ),
            }
        )
    return full_status(status, record.events())


# ---- listing: the sweeps that exist only in their record -----------------------------------------
# Small JSON documents: read many at once.
READ_THREADS = 16


@dataclass(frozen=True)
class RecordedSweep:
    """A sweep as `hpo sweep list` shows it from its record: its newest run's start."""

    sweep_id: str
    name: str
    started_at: float  # unix seconds


def recorded_sweeps(settings: Settings, leave_out: set[str]) -> tuple[list[RecordedSweep], list[str]]:
    """Every sweep with a record, but those in `leave_out` (the ones Temporal listed), and why
    any record could not be read (one damaged record costs its own row, not the list's). A
    record with no start yet (being written) is left out."""
    store = ObjectStore(settings)
    records = SweepRecord(store)

    def start(sweep_id: str) -> RecordedSweep | str | None:
        try:
            scope = records.scope_of(sweep_id)
            key = f"{run_prefix(sweep_id, scope)}sweep.json" if scope else None
            if key is None or not store.exists(key):
                return None
            found = SweepStart.model_validate_json(store.get_bytes(key))
        except (RecordError, ValueError) as error:
            return f"the record of sweep {sweep_id} is damaged: {' '.join(str(error).split())}"
        return RecordedSweep(sweep_id, found.request.spec.name, found.started_at)

    try:
        candidates = [sweep_id for sweep_id in records.sweep_ids() if sweep_id not in leave_out]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            read = list(pool.map(start, candidates))
    except (ClientError, BotoCoreError, StorageUnavailable) as error:
        raise _unreadable(settings, "the sweeps' records", error) from None
    return [r for r in read if isinstance(r, RecordedSweep)], [r for r in read if isinstance(r, str)]


def recorded_state(settings: Settings, sweep_id: str) -> str:
    """How a sweep's record says it ended (as `recorded_status` does: "failed" for a sweep
    whose workflow went without recording how), "unreadable" for a damaged record."""
    try:
        record = _read(settings, sweep_id, None)
    except RecordUnreadable:
        return "unreadable"
    status = record.status if record is not None else None
    if status is None:
        return "unreadable"
    return "failed" if status.state in UNFINISHED else status.state
