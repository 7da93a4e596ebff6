"""What earlier executions of one training segment spent and threw away (pure).

A segment may run several times: Temporal retries it after a crash or a hang, and the trial
workflow starts it again after a preemption. Each execution's heartbeat details (or, after a
preemption, the details it handed back) say when and where it started, how far it got and
what it spent; the next execution reads them once, here, and carries the totals forward. The
money ledger (hpo.engine.ledger) is built on these numbers.

How long an earlier execution held its slot:
- one that ended itself (a preemption, a hang, an error it raised) says so in its final
  details (`ended`): its own measured seconds;
- one that died without a word (SIGKILL, a lost node) measured itself only up to its last
  heartbeat, but held its slot until the sweep knew it was dead, i.e. until this execution
  was scheduled (its heartbeat timeout plus the retry's backoff): counted from its start
  (`attempt_started_at`, wall clock) to `noticed_at`.
Of that time, only the part that produced the steps this execution resumes from is kept; the
rest is lost, and the steps it trained past that checkpoint are trained again (`redone_steps`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from hpo.contracts.segment_details import SegmentDetails


@dataclass(frozen=True)
class AttemptHistory:
    segment_start_step: int  # where the segment's first execution started (its resume point)
    seconds: float = 0.0  # accelerator-seconds of the earlier executions
    lost_seconds: float = 0.0  # of those, the part that produced nothing this execution keeps
    retried_steps_saved: int = 0  # steps later executions did not retrain thanks to a checkpoint
    redone_steps: int = 0  # steps later executions trained again: past the checkpoint resumed from
    attempts: int = 0  # earlier executions
    preemptions: int = 0  # of those, ended by their worker stopping (not a failure)
    hangs: int = 0  # of those, ended for making no progress (training.progress_timeout_s)

    @classmethod
    def first(cls, start_step: int) -> AttemptHistory:
        return cls(segment_start_step=start_step)

    @classmethod
    def after(
        cls,
        previous: SegmentDetails | dict[str, Any] | None,
        restored_step: int,
        noticed_at: float | None = None,
    ) -> AttemptHistory:
        """The history once the previous execution's details are known and this execution
        restored `restored_step`; `noticed_at` (unix seconds) is when the previous one was
        known to be over, which only matters if it died without ending itself."""
        previous = SegmentDetails.read(previous)  # details as they came off the wire, too
        if previous is None:
            return cls.first(restored_step)
        attempt_start = previous.attempt_start
        reached = previous.reached
        held = held_seconds(previous, noticed_at)
        # Seconds until its last step or checkpoint: what its steps cost (a hang's stall and a
        # crash's silent tail produced none). Details from before this field: all of them.
        productive = min(previous.productive, held)
        trained = reached - attempt_start
        kept = min(max(restored_step - attempt_start, 0), max(trained, 0))
        kept_seconds = productive * kept / trained if trained > 0 else 0.0
        # "seconds" in the details is the running total, the previous execution's own included.
        earlier = max(previous.seconds - previous.attempt_seconds, 0.0)
        return cls(
            segment_start_step=previous.segment_start_step,
            seconds=earlier + held,
            lost_seconds=previous.lost_seconds + held - kept_seconds,
            retried_steps_saved=previous.retried_steps_saved
            + max(restored_step - previous.segment_start_step, 0),
            redone_steps=previous.redone_steps + max(reached - restored_step, 0),
            attempts=previous.attempts + 1,
            preemptions=previous.preemptions + (1 if previous.stopped_by_worker else 0),
            hangs=previous.hangs,
        )

    def details(self) -> dict[str, Any]:
        return asdict(self)


def held_seconds(previous: SegmentDetails, noticed_at: float | None) -> float:
    """Accelerator-seconds the previous execution held its slot (see the module docstring).
    Never less than it measured itself: clocks of two machines may disagree."""
    measured = previous.attempt_seconds
    if previous.ended or previous.attempt_started_at is None or noticed_at is None:
        return measured
    return max(measured, (noticed_at - previous.attempt_started_at) * previous.accelerators)
