"""The closed set of decisions a scheduler hands to the orchestration.

A discriminated union on ``kind`` so a list of actions is one JSON document that a
workflow can log, put in a query answer, or carry across Continue-As-New.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class Create(BaseModel):
    """Start a new trial with ``params`` and train it up to ``fidelity`` (None: full training)."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["create"] = "create"
    trial_id: str
    params: dict[str, Any]
    rung: int = 0
    fidelity: int | None = None


class Promote(BaseModel):
    """Resume the same trial from its checkpoint and train on until ``fidelity``."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["promote"] = "promote"
    trial_id: str
    rung: int
    fidelity: int | None = None


class Stop(BaseModel):
    """A paused trial will never be promoted again: its checkpoint may be released."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["stop"] = "stop"
    trial_id: str
    reason: str = ""


class Finish(BaseModel):
    """No more work will ever be issued and nothing is running. Emitted exactly once."""

    model_config = ConfigDict(frozen=True)
    kind: Literal["finish"] = "finish"


Action = Annotated[Create | Promote | Stop | Finish, Field(discriminator="kind")]

#: ``ACTIONS.validate_json(ACTIONS.dump_json(actions))`` round-trips a list of actions.
ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])
