"""What a sweep's engine remembers between events, as one pydantic model (pure, workflow-safe).

It is everything a run of the sweep workflow hands to the next one when it continues-as-new,
and its size does not grow with the number of finished trials: those live in the sweep's
record (hpo.storage.sweep_record), written as they finish. What it holds: the spec as
extended, the budget, the search core's state, the segments running and the jobs waiting for
a slot, the steering flags, running totals (money, steps, counts), a bounded window of the
trial table for queries, and the record events not yet written.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Literal

from pydantic import BaseModel

from hpo.contracts.messages import SegmentRecord, SnapshotRef, TrialEvent, TrialResult
from hpo.contracts.spec import BudgetSpec, SweepSpec

# Temporal refuses payloads over 2 MB by default: fail clearly well before that.
MAX_CARRIED_BYTES = 1_800_000
# Queries and the final status list every trial up to this many; beyond, the running ones and
# the top of the leaderboard, with counts of all (the whole table is in the record).
FULL_TABLE_LIMIT = 500
TOP_OF_LEADERBOARD = 100


class Job(BaseModel):
    """A segment the search core asked for that has not started yet (no slot, paused)."""

    kind: Literal["create", "promote"]
    trial_id: str
    rung: int
    fidelity: int | None = None
    params: dict[str, Any] = {}


class RunningSegment(BaseModel):
    """A segment in flight: what the trial table will need when its result arrives."""

    trial_id: str
    params: dict[str, Any]
    segment: SegmentRecord  # open: started_at, rung, target_step
    projected: float = 0.0  # accelerator-seconds committed to it by the budget check
    cancelling: bool = False  # the user cancelled the trial; its result is not back yet
    first: bool = True  # the trial's first segment (its event carries the params)


class Totals(BaseModel):
    """Running sums over ended segments: what budgets and projections need, in O(1)."""

    seconds: float = 0.0  # accelerator-seconds spent, every attempt
    useful_seconds: float = 0.0  # minus the work crashes, hangs and preemptions threw away
    steps: int = 0  # steps advanced
    segments: int = 0  # segments that ended (a projection before any step was measured)
    money: float = 0.0  # priced spend, in `currency`
    price_per_hour: float | None = None  # the newest known price (worker pool, else the spec's)
    currency: str | None = None  # the sweep's one currency, once known


class EngineState(BaseModel):
    spec: SweepSpec  # the spec as extended (trials, max_concurrent) while the sweep runs
    budget: BudgetSpec | None = None
    search: dict[str, Any] = {}  # the search core's state as JSON (filled when carried)
    snapshot: SnapshotRef | None = None
    scope: str
    started_at: float  # workflow time of the first run's start (wall-time budget)
    running: dict[str, RunningSegment] = {}
    pending: list[Job] = []
    # Where each trial that may still be promoted got to (its step): promotions' cost projections.
    reached: dict[str, int] = {}
    to_cancel: list[str] = []  # cancels to send (handlers are synchronous; the loop sends)
    paused: bool = False
    stopping: bool = False
    stop_reason: str | None = None
    finished: bool = False  # the search core said Finish
    released_bytes: int = 0
    totals: Totals = Totals()
    counts: dict[str, int] = {}  # trials by status, over the whole sweep
    trials_created: int = 0
    # The trials queries show: every trial while the sweep has at most FULL_TABLE_LIMIT, then
    # the running ones and the top of the leaderboard (the record has them all).
    table: dict[str, TrialResult] = {}
    runs: int = 1
    record_seq: int = 0  # pieces of the record written so far
    unrecorded: list[TrialEvent] = []  # events for the next piece of the record

    def pack(self) -> str:
        blob = base64.b64encode(zlib.compress(self.model_dump_json().encode(), 6))
        if len(blob) > MAX_CARRIED_BYTES:
            raise ValueError(
                f"the sweep's compact state is {len(blob) / 1e6:.1f} MB compressed, over what one "
                f"Temporal payload may carry ({MAX_CARRIED_BYTES / 1e6:.1f} MB): the search core's "
                "state is too large (a model-based searcher with a very high max_observations, or "
                "an ASHA/Hyperband sweep with very many paused trials); lower it or split the sweep"
            )
        return blob.decode()

    @classmethod
    def unpack(cls, blob: str) -> EngineState:
        return cls.model_validate_json(zlib.decompress(base64.b64decode(blob)))
