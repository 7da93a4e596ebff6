"""The sweep's record activity: each piece the sweep workflow hands over, written to S3."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from hpo.activities.base import ActivityBase
from hpo.contracts import stubs
from hpo.contracts.messages import RecordBatch, RecordWritten
from hpo.storage.checkpoints import UnsafeKey
from hpo.storage.sweep_record import SweepRecord


class RecordActivities(ActivityBase):
    @activity.defn(name=stubs.WRITE_RECORD)
    def write_record(self, batch: RecordBatch) -> RecordWritten:
        try:
            return SweepRecord(self.store).write(batch)
        except UnsafeKey as error:
            raise ApplicationError(str(error), type="UnsafeKey", non_retryable=True) from None
