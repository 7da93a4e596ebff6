"""A deterministic discrete-event driver for any scheduler (tests, benchmarks, dry runs).

It plays the orchestration's part: run each Create/Promote as a job whose duration is the
training it adds (fidelity units since the trial's last rung; 1 for full-fidelity
algorithms unless ``full_cost`` says otherwise), finish jobs in order of simulated time, and
feed results or failures back. Optionally each state goes through JSON before the next event,
exactly as a workflow carrying it across Continue-As-New would.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpo.search.actions import Action, Create, Finish, Promote
from hpo.search.scheduler import Scheduler
from hpo.search.state import SchedulerState
from hpo.study.local import with_proposals

#: (trial_id, params, rung, fidelity) -> value, or None to report a failure.
Evaluate = Callable[[str, dict[str, Any], int, int | None], float | None]


@dataclass
class Simulation:
    actions: list[Action] = field(default_factory=list)
    #: (time, trial_id, rung, value or None) per reported event, in order.
    events: list[tuple[float, str, int, float | None]] = field(default_factory=list)
    #: Training units spent in total (the "compute" of a sweep).
    compute: float = 0.0
    max_active: int = 0
    state: SchedulerState | None = None
    #: (compute so far, trial_id, rung, value) for each successful result, in time order.
    trace: list[tuple[float, str, int, float]] = field(default_factory=list)


def simulate(
    scheduler: Scheduler[Any],
    evaluate: Evaluate,
    *,
    roundtrip: bool = False,
    full_cost: float = 1.0,
    max_events: int = 1_000_000,
    stop_when: Callable[[Simulation], bool] | None = None,
    prior: Iterable[tuple[Mapping[str, Any], float]] = (),
) -> Simulation:
    """Run to Finish, or until ``stop_when(sim)`` holds after an event (budgets in benchmarks);
    ``prior`` warm-starts the scheduler (``Scheduler.with_prior``)."""
    sim = Simulation()
    state = scheduler.with_prior(scheduler.new_state(), prior)
    # gp/optuna searchers: with_proposals computes their proposals here, as the suggest activity would.
    state, actions = with_proposals(scheduler.searcher, scheduler.initial_actions, state)
    reached: dict[str, int] = {}  # fidelity each trial has trained to
    params: dict[str, dict[str, Any]] = {}
    queue: list[tuple[float, int, str, int, int | None]] = []
    clock = 0.0
    seq = 0
    for _ in range(max_events):
        for action in actions:
            sim.actions.append(action)
            if isinstance(action, (Create, Promote)):
                if isinstance(action, Create):
                    params[action.trial_id] = dict(action.params)
                if action.fidelity is None:
                    cost = full_cost
                else:
                    cost = float(action.fidelity - reached.get(action.trial_id, 0))
                    reached[action.trial_id] = action.fidelity
                sim.compute += cost
                heapq.heappush(queue, (clock + cost, seq, action.trial_id, action.rung, action.fidelity))
                seq += 1
        sim.max_active = max(sim.max_active, len(queue))
        if not queue:
            break
        clock, _, trial_id, rung, fidelity = heapq.heappop(queue)
        value = evaluate(trial_id, params[trial_id], rung, fidelity)
        if roundtrip:
            state = scheduler.load_state(state.model_dump_json())
        sim.events.append((clock, trial_id, rung, value))
        if value is None:
            state, actions = with_proposals(
                scheduler.searcher, scheduler.on_failure, state, trial_id, "simulated failure"
            )
        else:
            sim.trace.append((sim.compute - sum(q[0] - clock for q in queue), trial_id, rung, value))
            state, actions = with_proposals(
                scheduler.searcher, scheduler.on_result, state, trial_id, rung, value
            )
        if stop_when is not None and stop_when(sim):
            break
    else:
        raise RuntimeError("simulation did not finish")
    sim.state = state
    return sim


def finished_cleanly(sim: Simulation) -> bool:
    """Finish exactly once, last, and no trial left paused."""
    finishes = [i for i, a in enumerate(sim.actions) if isinstance(a, Finish)]
    if finishes != [len(sim.actions) - 1] or sim.state is None:
        return False
    return all(rec.status in ("completed", "failed", "stopped") for rec in sim.state.trials.values())
