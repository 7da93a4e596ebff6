"""How each trial ended (finished, promoted, stopped, waiting, failed, running), in words and colours."""

from __future__ import annotations

from dataclasses import dataclass

from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.contracts.spec import SweepSpec
from hpo.results.report.common import (
    FAILED_COLOUR,
    FINISHED_COLOUR,
    PROMOTED_COLOURS,
    RUNNING_COLOUR,
    STOPPED_COLOUR,
    WAITING_COLOUR,
    OutcomeKind,
)


@dataclass(frozen=True)
class Outcome:
    """How a trial ended, as the figures colour it."""

    kind: OutcomeKind
    rung: int

    @property
    def label(self) -> str:
        if self.kind == "finished":
            return "finished"
        if self.kind == "promoted":
            return f"promoted to rung {self.rung}"
        if self.kind in ("stopped", "waiting"):
            return f"{self.kind} at rung {self.rung}"
        return f"{self.kind} (rung {self.rung})"

    @property
    def legend(self) -> str:
        """Figures group failed (and running) trials as one, whatever their rung."""
        return self.kind if self.kind in ("failed", "running") else self.label

    @property
    def colour(self) -> str:
        if self.kind == "promoted":
            return PROMOTED_COLOURS[min(self.rung, len(PROMOTED_COLOURS)) - 1]
        colours = {
            "finished": FINISHED_COLOUR,
            "failed": FAILED_COLOUR,
            "running": RUNNING_COLOUR,
            "waiting": WAITING_COLOUR,
        }
        return colours.get(self.kind, STOPPED_COLOUR)

    @property
    def rank(self) -> int:
        """Legend order: the trials that went furthest first."""
        order = {
            "finished": 0,
            "promoted": 10 - min(self.rung, 9),
            "stopped": 20,
            "waiting": 25,
            "failed": 30,
            "running": 40,
        }
        return order[self.kind]


def outcome(trial: TrialResult, top: int, *, sweep_running: bool = False) -> Outcome:
    """A trial that reached the top rung finished; one that climbed part of the way was promoted
    (then stopped, or left paused when the sweep ended); one that never left rung 0 was stopped.
    While the sweep runs, a scored trial below the top may still be promoted: it is waiting."""
    if trial.status in ("failed", "running"):
        return Outcome(trial.status, trial.rung)
    if trial.rung >= top:
        return Outcome("finished", trial.rung)
    if sweep_running and trial.status == "completed":
        return Outcome("waiting", trial.rung)
    if trial.rung > 0:
        return Outcome("promoted", trial.rung)
    return Outcome("stopped", trial.rung)


def rung_steps(spec: SweepSpec) -> list[int]:
    """The step each rung trains to, from the spec's ladder; [] when the algorithm has none."""
    from hpo.search.factory import MULTI_FIDELITY
    from hpo.search.ladder import Ladder

    if spec.algorithm.name not in MULTI_FIDELITY or spec.training.max_steps is None:
        return []
    try:
        ladder = Ladder.build(
            max_fidelity=spec.training.max_steps,
            min_fidelity=spec.algorithm.min_fidelity,
            eta=spec.algorithm.eta,
            algorithm=spec.algorithm.name,
        )
    except ValueError:
        return []
    return list(ladder.fidelities)


def top_rung(status: SweepStatus) -> int:
    """The ladder's top rung (0 without a ladder); a rung a trial reached counts too, so a
    status from an older ladder never shows a trial above the top."""
    reached = max((t.rung for t in status.trials), default=0)
    return max(len(rung_steps(status.spec)) - 1, reached)


def outcomes(status: SweepStatus) -> dict[str, Outcome]:
    """How each trial of the sweep ended (or stands, while it runs), by trial id."""
    top, running = top_rung(status), status.state == "running"
    return {t.trial_id: outcome(t, top, sweep_running=running) for t in status.trials}
