"""What a scheduler remembers, as pydantic models that round-trip through JSON.

Everything a decision depends on is here, the RNG included (as a draw counter, see rng.py),
so a restored state continues exactly like the original: across Continue-As-New, replay,
or a process restart.
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

TrialStatus = Literal["running", "paused", "completed", "failed", "stopped"]


class TrialRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any]
    #: running: a Create/Promote is outstanding; paused: has a result at ``rung`` and may be
    #: promoted; completed: reached the top rung; failed; stopped: will never run again.
    status: TrialStatus = "running"
    rung: int = 0
    #: Raw objective values as reported, by rung (the scheduler applies the mode when ranking).
    values: dict[int, float] = Field(default_factory=dict)
    bracket: int | None = None
    error: str | None = None


class PriorObservation(BaseModel):
    """A configuration an earlier sweep evaluated (warm start): data for the searcher, not a trial."""

    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any]
    #: The raw objective as that sweep reported it (the scheduler applies the mode).
    value: float


class ArchivedObservation(BaseModel):
    """What a model-based searcher still learns from a trial ``compact`` retired."""

    model_config = ConfigDict(extra="forbid")

    number: int  # the trial's creation number (t0042 -> 42): observations stay in creation order
    params: dict[str, Any]
    value: float  # raw objective at the trial's final rung


class SchedulerState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: sha256 of the scheduler's configuration: a state is only valid for the scheduler that made it.
    fingerprint: str
    started: bool = False
    finished: bool = False
    #: Number of random draws so far: the RNG's whole state.
    draws: int = 0
    trials: dict[str, TrialRecord] = Field(default_factory=dict)
    #: Warm start (``Scheduler.with_prior``), oldest first. Never edited in place, so clones share it.
    prior: list[PriorObservation] = Field(default_factory=list)
    #: Finished trials ``Scheduler.compact`` dropped from ``trials`` (they never run again):
    #: counted here, and kept in ``archive`` where the searcher learns from them (bounded).
    retired: int = 0
    archive: list[ArchivedObservation] = Field(default_factory=list)

    def clone(self) -> Self:
        """A new state sharing the trial records: schedulers copy a record before editing it
        (``Scheduler._edit``), so each event costs O(trials) pointer copies, not a deep copy."""
        return self.model_copy(update={"trials": dict(self.trials)})
