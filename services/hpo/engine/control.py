"""Whether a steering command (the `control` update) makes sense now (pure).

Each check raises ValueError with the message the user reads; nothing is changed by a check.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pydantic import ValidationError

from hpo.contracts.messages import ControlRequest
from hpo.contracts.spec import BudgetSpec
from hpo.engine.state import EngineState

BUDGETS = ("max_cost", "max_accelerator_hours", "max_wall_time")
EXTENDABLE = ("trials", *BUDGETS, "max_concurrent")


def check(
    command: ControlRequest, state: EngineState | None, done: bool, status_of: Callable[[str], str | None]
) -> None:
    """`status_of(trial_id)`: the status of a trial of this sweep, None for no such trial."""
    if state is None:
        raise ValueError("the sweep is still starting; try again in a moment")
    if done:
        raise ValueError("the sweep has ended")
    if state.stopping:
        raise ValueError(f"the sweep is stopping ({state.stop_reason})")
    action = command.action
    if action == "pause" and state.paused:
        raise ValueError("the sweep is already paused")
    if action == "resume" and not state.paused:
        raise ValueError("the sweep is not paused")
    if action == "cancel_trial":
        check_cancel(command.trial_id, state, status_of)
    if action == "extend":
        check_extend(command, state)


def check_cancel(trial_id: str | None, state: EngineState, status_of: Callable[[str], str | None]) -> None:
    if not trial_id:
        raise ValueError("cancel_trial needs a trial id")
    queued = any(job.trial_id == trial_id for job in state.pending)
    running = state.running.get(trial_id)
    if running is not None and running.cancelling:
        raise ValueError(f"trial {trial_id} is already being cancelled")
    if running is not None or queued:
        return
    status = status_of(trial_id)
    if status is None:
        raise ValueError(f"no trial {trial_id!r} in this sweep")
    raise ValueError(f"trial {trial_id} is {status}, not running; nothing to cancel")


def check_extend(command: ControlRequest, state: EngineState) -> None:
    if all(getattr(command, name) is None for name in EXTENDABLE):
        raise ValueError("extend needs at least one of " + ", ".join(EXTENDABLE))
    if command.trials is not None and not state.spec.trials <= command.trials <= 1_000_000:
        raise ValueError(f"trials can only grow (up to 1,000,000): {state.spec.trials} → {command.trials}")
    if command.max_concurrent is not None and not 1 <= command.max_concurrent <= 10_000:
        raise ValueError(f"max_concurrent must be 1 to 10,000, got {command.max_concurrent}")
    budget = state.budget or BudgetSpec()
    for name in BUDGETS:
        new, old = getattr(command, name), getattr(budget, name)
        if new is None:
            continue
        if not math.isfinite(new) or new <= 0:
            raise ValueError(f"{name} must be a positive number, got {new}")
        if old is not None and new < old:
            raise ValueError(f"{name} can only grow: {old:g} → {new:g}")
    extended_budget(state.budget, command)


def extended_budget(budget: BudgetSpec | None, command: ControlRequest) -> BudgetSpec | None:
    """The budget with the command's new limits, validated as a spec's budget is."""
    updates = {name: getattr(command, name) for name in BUDGETS if getattr(command, name) is not None}
    if not updates:
        return budget
    try:
        return BudgetSpec.model_validate((budget or BudgetSpec()).model_dump() | updates)
    except ValidationError as error:
        raise ValueError("; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in error.errors())) from None
