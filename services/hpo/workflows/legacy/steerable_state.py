"""FROZEN (see hpo.workflows.legacy). What a steerable sweep remembers, as one pydantic model (workflow-safe: pydantic + stdlib).

It is the whole state a run of the sweep hands to the next one when it continues-as-new: the
search core's state, the trial table, the jobs waiting for a slot, the steering flags and the
running totals the budgets are checked against. Carried zlib-compressed: a 10,000-trial
table is a few hundred kB of JSON before compression.
"""

from __future__ import annotations

import base64
import zlib
from typing import Any, Literal

from pydantic import BaseModel

from hpo.contracts.messages import SnapshotRef, TrialResult
from hpo.contracts.spec import BudgetSpec, SweepSpec

# Temporal refuses payloads over 2 MB by default: fail clearly well before that.
MAX_CARRIED_BYTES = 1_800_000


class Job(BaseModel):
    """A segment the search core asked for that has not started yet (no slot, paused)."""

    kind: Literal["create", "promote"]
    trial_id: str
    rung: int
    fidelity: int | None = None
    params: dict[str, Any] = {}


class Totals(BaseModel):
    """Running sums over finished segments: what budgets and projections need, in O(1)."""

    seconds: float = 0.0  # accelerator-seconds spent, every attempt
    useful_seconds: float = 0.0  # minus the work crashes and preemptions threw away
    steps: int = 0  # steps advanced
    segments: int = 0  # segments that ended (a projection before any step was measured)
    money: float = 0.0  # priced spend, where a price was known
    price_per_hour: float | None = None  # the newest known price (worker pool, else the spec's)
    currency: str | None = None


class SweepState(BaseModel):
    spec: SweepSpec  # the spec as extended (trials, max_concurrent) while the sweep runs
    budget: BudgetSpec | None = None
    scheduler: dict[str, Any]  # the search core's state as JSON
    snapshot: SnapshotRef | None = None
    scope: str
    started_at: float  # workflow time of the first run's start (wall-time budget)
    trials: dict[str, TrialResult] = {}
    running: dict[str, int] = {}  # trial id -> rung of the segment in flight
    # Projected accelerator-seconds of each running segment: committed budget.
    committed: dict[str, float] = {}
    pending: list[Job] = []
    cancelling: list[str] = []  # cancel requested, result not back yet
    to_cancel: list[str] = []  # cancel to send (handlers are synchronous; the loop sends)
    paused: bool = False
    stopping: bool = False
    stop_reason: str | None = None
    finished: bool = False  # the search core said Finish
    released_bytes: int = 0
    totals: Totals = Totals()
    runs: int = 1

    def pack(self) -> str:
        blob = base64.b64encode(zlib.compress(self.model_dump_json().encode(), 6))
        if len(blob) > MAX_CARRIED_BYTES:
            raise ValueError(
                f"the sweep's compact state is {len(blob) / 1e6:.1f} MB compressed, over what one "
                f"Temporal payload may carry ({MAX_CARRIED_BYTES / 1e6:.1f} MB): split the sweep "
                "(fewer trials per sweep, warm_start from the earlier one)"
            )
        return blob.decode()

    @classmethod
    def unpack(cls, blob: str) -> SweepState:
        return cls.model_validate_json(zlib.decompress(base64.b64decode(blob)))
