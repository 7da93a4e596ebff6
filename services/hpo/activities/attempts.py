"""What earlier executions of one training segment spent and threw away (pure).

A segment may run several times: Temporal retries it after a crash, and the trial workflow
starts it again after a preemption. Each execution's heartbeat details (or, after a
preemption, the details it handed back) say where it started, how far it got and what it
spent; the next execution reads them once, here, and carries the totals forward. The money
ledger (hpo.ledger) is built on these numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class AttemptHistory:
    segment_start_step: int  # where the segment's first execution started (its resume point)
    seconds: float = 0.0  # accelerator-seconds of the earlier executions
    lost_seconds: float = 0.0  # of those, the part spent on steps no checkpoint kept
    retried_steps_saved: int = 0  # steps later executions did not retrain thanks to a checkpoint
    attempts: int = 0  # earlier executions
    preemptions: int = 0  # of those, ended by their worker stopping (not a failure)

    @classmethod
    def first(cls, start_step: int) -> AttemptHistory:
        return cls(segment_start_step=start_step)

    @classmethod
    def after(cls, previous: dict[str, Any], restored_step: int) -> AttemptHistory:
        """The history once the previous execution's details are known and this execution
        restored `restored_step`. Work the previous execution did past the checkpoint we resume
        from is lost, pro rata of its steps (its seconds after its last heartbeat are unknown
        and not counted)."""
        if not previous:
            return cls.first(restored_step)
        start = int(previous.get("segment_start_step", 0))
        attempt_start = int(previous.get("attempt_start_step", start))
        reached = int(previous.get("step", attempt_start))
        attempt_seconds = float(previous.get("attempt_seconds", 0.0))
        trained = reached - attempt_start
        kept = min(max(restored_step - attempt_start, 0), max(trained, 0))
        lost = attempt_seconds * (1.0 - kept / trained) if trained > 0 else attempt_seconds
        return cls(
            segment_start_step=start,
            seconds=float(previous.get("seconds", 0.0)),
            lost_seconds=float(previous.get("lost_seconds", 0.0)) + lost,
            retried_steps_saved=int(previous.get("retried_steps_saved", 0)) + max(restored_step - start, 0),
            attempts=int(previous.get("attempts", 0)) + 1,
            preemptions=int(previous.get("preemptions", 0)) + (1 if previous.get("stopped_by_worker") else 0),
        )

    def details(self) -> dict[str, Any]:
        return asdict(self)
