"""A sweep as its readers see it: the live workflow laid over the sweep's record.

Temporal runs a sweep and S3 remembers it. A recorded sweep's workflow answers with its
running trials and the events its record does not hold yet; the rest of its trial table is in
the record (hpo.storage.sweep_record). Once Temporal has dropped the workflow (retention,
`temporal workflow delete`) the record alone answers, with the same output: `sweep status`,
`report`, `export`, `predict`, warm starts and `hpo.run`'s result all read through here.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from hpo.engine.trial_table import full_status
from hpo.messages import SweepStatus
from hpo.settings import Settings
from hpo.storage.s3 import ObjectStore, StorageUnavailable
from hpo.storage.sweep_record import Record, RecordError, SweepRecord

UNFINISHED = ("running", "paused", "stopping")


class RecordUnreadable(RuntimeError):
    """The record could not be read (S3 down, a damaged piece): the message says which and why."""


def _read(settings: Settings, sweep_id: str, scope: str | None) -> Record | None:
    try:
        return SweepRecord(ObjectStore(settings)).read(sweep_id, scope)
    except (ClientError, BotoCoreError, StorageUnavailable) as error:
        raise RecordUnreadable(
            f"could not read the record of sweep {sweep_id} from S3 {settings.s3_endpoint} "
            f"(bucket {settings.s3_bucket}): {error}"
        ) from None
    except RecordError as error:
        raise RecordUnreadable(str(error)) from None


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
