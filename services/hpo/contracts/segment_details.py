"""A training segment's details: what its heartbeats carry, and what an execution that ended
itself (stopped, preempted, hung) hands back in its error.

The next execution of the segment reads them to resume and to count what the earlier ones
spent (hpo.activities.attempts); the trial workflow reads a stopped or failed segment's spend
from them; `hpo sweep watch` reads a running segment's step and metrics. One model for all of
them. On the wire they stay a JSON object with these keys (as before the model existed), so
details recorded in older histories read back: a key they lack takes the default below.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class SegmentDetails(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # The totals over every execution of the segment so far (hpo.activities.attempts).
    segment_start_step: int = 0  # where its first execution started (its resume point)
    seconds: float = 0.0  # accelerator-seconds of every execution, this one included
    lost_seconds: float = 0.0
    retried_steps_saved: int = 0
    redone_steps: int = 0
    attempts: int = 0  # earlier executions
    preemptions: int = 0
    hangs: int = 0
    # This execution.
    step: int | None = None  # the step it reached (None: it reported none)
    checkpoint_key: str | None = None  # its newest checkpoint's manifest
    metrics: dict[str, Any] = {}  # what it reported last (as reported: never refused here)
    stopped_by_worker: bool = False  # its worker stopped (a preemption)
    attempt_start_step: int | None = None  # where it started (None: where the segment did)
    attempt_seconds: float = 0.0
    attempt_started_at: float | None = None  # unix seconds
    productive_seconds: float | None = None  # up to its last step or checkpoint (None: all)
    accelerators: float = 1.0
    ended: bool = False  # it ended itself (its measured seconds are all it held)

    @classmethod
    def read(cls, raw: Any) -> SegmentDetails | None:
        """Details as they arrive (a heartbeat's or an error's first detail); None when there are none."""
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, dict) or not raw:
            return None
        return cls.model_validate(raw)

    @property
    def attempt_start(self) -> int:
        return self.segment_start_step if self.attempt_start_step is None else self.attempt_start_step

    @property
    def reached(self) -> int:
        return self.attempt_start if self.step is None else self.step

    @property
    def productive(self) -> float:
        return self.attempt_seconds if self.productive_seconds is None else self.productive_seconds

    def wire(self) -> dict[str, Any]:
        """What a heartbeat or an error carries (a plain JSON object)."""
        return self.model_dump(mode="json")
