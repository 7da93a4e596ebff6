"""Where a segment ends, in steps (pure: the engine projects costs with it, the trial workflow
tells the training activity)."""

from __future__ import annotations

from hpo.contracts.spec import SweepSpec


def segment_target(spec: SweepSpec, fidelity: int | None) -> int | None:
    """Its rung's fidelity, else the budget in steps, else None (the task trains its whole
    budget, e.g. training.epochs, which only the task can count)."""
    budget = spec.training.max_steps
    if fidelity is None:
        return budget
    return min(fidelity, budget) if budget is not None else fidelity
