"""The search core's contract, checked for every algorithm the same way.

Same seed and events give the same actions; a state that goes through JSON mid-run continues
identically; proposals stay inside the space; failures never stall a sweep; concurrency is
respected; Finish comes exactly once, last.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import pytest

from hpo.search import ACTIONS, Create, Finish, Promote, Stop, build_scheduler
from hpo.study.simulate import finished_cleanly, simulate

SPACE = {
    "lr": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
    "batch_size": {"type": "categorical", "choices": [16, 32, 64]},
    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
    "layers": {"type": "int", "low": 1, "high": 7, "step": 2},
    "hidden": {"type": "int", "low": 16, "high": 512, "log": True},
}

# (algorithm, extra options): every public algorithm, plus ASHA driven by TPE.
CASES: list[tuple[str, dict[str, Any]]] = [
    ("random", {"num_trials": 14}),
    ("grid", {"num_trials": 14, "grid_points": 2}),
    ("grid", {"grid_points": 2}),  # runs the whole 2x3x2x2x2 grid, then finishes
    ("tpe", {"num_trials": 16, "n_startup_trials": 4}),
    ("tpe", {"num_trials": 14, "n_startup_trials": 4, "multivariate": False}),
    ("asha", {"num_trials": 20, "max_fidelity": 27, "min_fidelity": 1}),
    ("asha", {"num_trials": 20, "max_fidelity": 27, "searcher": "tpe", "n_startup_trials": 4}),
    ("hyperband", {"max_fidelity": 9, "min_fidelity": 1}),
    ("hyperband", {"num_trials": 30, "max_fidelity": 9, "min_fidelity": 1}),
    ("bohb", {"num_trials": 30, "max_fidelity": 9, "min_fidelity": 1, "n_startup_trials": 3}),
]
IDS = [f"{a}-{i}" for i, (a, _) in enumerate(CASES)]


def objective(fail_rate: float):
    """A deterministic objective with a few failures chosen by crc32 (never by hash())."""

    def evaluate(trial_id: str, params: dict[str, Any], rung: int, fidelity: int | None) -> float | None:
        if zlib.crc32(f"{trial_id}/{rung}".encode()) % 1000 < fail_rate * 1000:
            return None
        score = -((math.log10(params["lr"]) + 4) ** 2) - 0.1 * params["layers"] + params["batch_size"] / 64
        return score + 0.05 * rung

    return evaluate


def make(algorithm: str, options: dict[str, Any], *, seed: int = 7, max_concurrent: int = 3):
    return build_scheduler(algorithm, SPACE, mode="max", seed=seed, max_concurrent=max_concurrent, **options)


def dump(actions) -> bytes:
    return ACTIONS.dump_json(actions)


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_same_seed_and_events_give_same_actions(algorithm: str, options: dict[str, Any]) -> None:
    a = simulate(make(algorithm, options), objective(0.1))
    b = simulate(make(algorithm, options), objective(0.1))
    assert dump(a.actions) == dump(b.actions)
    assert a.state is not None and b.state is not None
    assert a.state.model_dump_json() == b.state.model_dump_json()


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_different_seed_gives_different_proposals(algorithm: str, options: dict[str, Any]) -> None:
    a = simulate(make(algorithm, options, seed=1), objective(0.0))
    b = simulate(make(algorithm, options, seed=2), objective(0.0))
    creates_a = [x.params for x in a.actions if isinstance(x, Create)]
    creates_b = [x.params for x in b.actions if isinstance(x, Create)]
    assert creates_a != creates_b


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_json_roundtrip_mid_run_continues_identically(algorithm: str, options: dict[str, Any]) -> None:
    plain = simulate(make(algorithm, options), objective(0.1))
    restored = simulate(make(algorithm, options), objective(0.1), roundtrip=True)
    assert dump(plain.actions) == dump(restored.actions)
    # And the actions themselves survive JSON.
    assert ACTIONS.validate_json(dump(plain.actions)) == plain.actions


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_never_proposes_outside_the_space(algorithm: str, options: dict[str, Any]) -> None:
    sched = make(algorithm, options)
    sim = simulate(sched, objective(0.0))
    creates = [a for a in sim.actions if isinstance(a, Create)]
    assert creates
    for create in creates:
        assert sched.space.contains(create.params), create.params


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
@pytest.mark.parametrize("fail_rate", [0.0, 0.3, 1.0])
def test_failures_never_stall_and_finish_comes_once(
    algorithm: str, options: dict[str, Any], fail_rate: float
) -> None:
    sim = simulate(make(algorithm, options), objective(fail_rate))
    assert finished_cleanly(sim)
    assert sim.state is not None
    if "num_trials" in options and fail_rate < 1.0:
        assert len(sim.state.trials) == options["num_trials"]


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
@pytest.mark.parametrize("max_concurrent", [1, 2, 5])
def test_respects_max_concurrent(algorithm: str, options: dict[str, Any], max_concurrent: int) -> None:
    sim = simulate(make(algorithm, options, max_concurrent=max_concurrent), objective(0.1))
    assert sim.max_active <= max_concurrent
    assert finished_cleanly(sim)


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_promotions_continue_paused_trials_one_rung_up(algorithm: str, options: dict[str, Any]) -> None:
    sim = simulate(make(algorithm, options), objective(0.1))
    rung: dict[str, int] = {}
    fidelity: dict[str, int | None] = {}
    stopped: set[str] = set()
    for action in sim.actions:
        if isinstance(action, Create):
            assert action.trial_id not in rung
            rung[action.trial_id], fidelity[action.trial_id] = action.rung, action.fidelity
        elif isinstance(action, Promote):
            assert action.trial_id not in stopped
            assert action.rung == rung[action.trial_id] + 1
            assert action.fidelity is not None and action.fidelity > (fidelity[action.trial_id] or 0)
            rung[action.trial_id], fidelity[action.trial_id] = action.rung, action.fidelity
        elif isinstance(action, Stop):
            assert action.trial_id not in stopped
            stopped.add(action.trial_id)


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_states_are_copy_on_write_and_events_are_checked(algorithm: str, options: dict[str, Any]) -> None:
    sched = make(algorithm, options)
    state0 = sched.new_state()
    state1, actions = sched.initial_actions(state0)
    assert not state0.started and state0.trials == {}
    first = next(a for a in actions if isinstance(a, Create))
    snapshot = state1.model_dump_json()
    state2, _ = sched.on_result(state1, first.trial_id, first.rung, 0.5)
    assert state1.model_dump_json() == snapshot
    with pytest.raises(ValueError, match="not running"):
        sched.on_result(state2, first.trial_id, first.rung, 0.5)
    with pytest.raises(ValueError, match="unknown trial"):
        sched.on_failure(state2, "t9999", "boom")
    with pytest.raises(ValueError, match="already called"):
        sched.initial_actions(state1)


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_events_after_finish_are_rejected(algorithm: str, options: dict[str, Any]) -> None:
    sched = make(algorithm, options)
    sim = simulate(sched, objective(0.0))
    assert sim.state is not None and sim.state.finished
    any_trial = next(iter(sim.state.trials))
    with pytest.raises(ValueError, match="finished"):
        sched.on_failure(sim.state, any_trial, "late")


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_state_from_another_configuration_is_refused(algorithm: str, options: dict[str, Any]) -> None:
    state = make(algorithm, options, seed=1).new_state()
    with pytest.raises(ValueError, match="different configuration"):
        make(algorithm, options, seed=2).load_state(state.model_dump_json())


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_non_finite_values_count_as_failures(algorithm: str, options: dict[str, Any]) -> None:
    sched = make(algorithm, options, max_concurrent=1)
    state, actions = sched.initial_actions(sched.new_state())
    create = next(a for a in actions if isinstance(a, Create))
    state, _ = sched.on_result(state, create.trial_id, create.rung, float("nan"))
    assert state.trials[create.trial_id].status == "failed"
    state.model_dump_json()  # still serialisable


def test_finish_is_the_only_action_when_every_trial_fails() -> None:
    sim = simulate(make("random", {"num_trials": 3}, max_concurrent=1), objective(1.0))
    assert [type(a) for a in sim.actions] == [Create, Create, Create, Finish]


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_limits_can_change_mid_run(algorithm: str, options: dict[str, Any]) -> None:
    # "Extend budget" and "change parallelism" rebuild the scheduler with new limits.
    sched = make(algorithm, options, max_concurrent=2)
    state, actions = sched.initial_actions(sched.new_state())
    bigger = make(algorithm, {**options, "num_trials": options.get("num_trials", 20) + 5}, max_concurrent=4)
    state = bigger.load_state(state.model_dump_json())
    first = next(a for a in actions if isinstance(a, Create))
    state, more = bigger.on_result(state, first.trial_id, first.rung, 0.1)
    assert sum(1 for r in state.trials.values() if r.status == "running") <= 4


@pytest.mark.parametrize(("algorithm", "options"), CASES, ids=IDS)
def test_old_states_never_change(algorithm: str, options: dict[str, Any]) -> None:
    # States share trial records between events (copy-on-write); none may leak an edit.
    sched = make(algorithm, options)
    evaluate = objective(0.2)
    state, actions = sched.initial_actions(sched.new_state())
    history = [(state, state.model_dump_json())]
    running = [a for a in actions if isinstance(a, (Create, Promote))]
    while running:
        job = running.pop(0)
        value = evaluate(job.trial_id, state.trials[job.trial_id].params, job.rung, job.fidelity)
        if value is None:
            state, actions = sched.on_failure(state, job.trial_id, "boom")
        else:
            state, actions = sched.on_result(state, job.trial_id, job.rung, value)
        history.append((state, state.model_dump_json()))
        running += [a for a in actions if isinstance(a, (Create, Promote))]
    assert state.finished
    for old, dumped in history:
        assert old.model_dump_json() == dumped
