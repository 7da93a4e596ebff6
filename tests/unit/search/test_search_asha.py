"""ASHA against hand-computed runs (Li et al., 2018, Algorithm 2) and the rung ladder."""

from __future__ import annotations

from collections import Counter

import pytest

from hpo.search import Create, Finish, Promote, Stop, build_scheduler
from hpo.search.ladder import Ladder
from hpo.study.simulate import finished_cleanly, simulate

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}}


def asha(num_trials: int, max_concurrent: int = 1, **kw):
    kw = {"max_fidelity": 9, "min_fidelity": 1, "eta": 3} | kw
    return build_scheduler(
        "asha", SPACE, mode="min", num_trials=num_trials, max_concurrent=max_concurrent, **kw
    )


def by_index(sign: float):
    """Value = sign * trial number, the same at every rung: a fully predictable ranking."""
    return lambda trial_id, params, rung, fidelity: sign * int(trial_id[1:])


def short(actions) -> list[str]:
    out = []
    for a in actions:
        if isinstance(a, Create):
            out.append(f"C{a.trial_id[1:].lstrip('0') or '0'}@{a.fidelity}")
        elif isinstance(a, Promote):
            out.append(f"P{a.trial_id[1:].lstrip('0') or '0'}@{a.fidelity}")
        elif isinstance(a, Stop):
            out.append(f"S{a.trial_id[1:].lstrip('0') or '0'}")
        else:
            out.append("F")
    return out


@pytest.mark.parametrize(
    ("max_fidelity", "min_fidelity", "eta", "expected"),
    [
        (81, 1, 3, (1, 3, 9, 27, 81)),  # Hyperband paper, R = 81
        (100, 1, 3, (1, 4, 11, 33, 100)),  # anchored at the top: no 81 -> 100 stub rung
        (1000, None, 3, (37, 111, 333, 1000)),  # default: four rungs
        (64, 4, 4, (4, 16, 64)),
        (10, 10, 3, (10,)),
        (30, 2, 2, (4, 8, 15, 30)),  # 30/2^k while >= 2, rounded: 3.75 -> 4
    ],
)
def test_ladder(max_fidelity: int, min_fidelity: int | None, eta: int, expected: tuple[int, ...]) -> None:
    ladder = Ladder.build(max_fidelity=max_fidelity, min_fidelity=min_fidelity, eta=eta, algorithm="asha")
    assert ladder.fidelities == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"eta": 1}, "eta is 1, must be >= 2"),
        ({"max_fidelity": None}, "max_fidelity is required for asha"),
        ({"max_fidelity": 0}, "max_fidelity is 0, must be >= 1"),
        ({"min_fidelity": 20}, r"min_fidelity \(20\) must be <= max_fidelity \(9\)"),
        ({"eta": 2.5}, "eta must be an integer for asha, got 2.5"),
        ({"reduction": 3}, "unknown option 'reduction' for algorithm asha"),
    ],
)
def test_validation_messages(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        asha(9, **kwargs)


def test_sequential_run_when_every_new_trial_is_worse_matches_synchronous_halving() -> None:
    # Hand-computed: after 3 results at rung 0 the best (t0) goes up; at 6 the top 2 (t0, t1);
    # at 9 the top 3. Rung 1 then has 3 results and promotes its best: 9 / 3 / 1, like SHA.
    # A trial is stopped the moment its rank can no longer make floor((results + still
    # possible) / 3): t3 ranks 4th of 4 with 5 configurations to come, so at most 3 go up;
    # after t6, rung 1 can hold at most t0, t1 and 3 more (t2, t7, t8), so t1 behind t0 is out.
    sim = simulate(asha(9), by_index(+1.0))
    assert short(sim.actions) == [
        "C0@1", "C1@1", "C2@1", "P0@3", "C3@1",
        "S3", "C4@1", "S4", "C5@1", "S5", "P1@3", "C6@1",
        "S6", "S1", "C7@1", "S7", "C8@1", "S8", "P2@3",
        "S2", "P0@9", "F",
    ]  # fmt: skip
    rungs = Counter((a.fidelity) for a in sim.actions if isinstance(a, (Create, Promote)))
    assert rungs == {1: 9, 3: 3, 9: 1}


def test_sequential_run_when_every_new_trial_is_better_promotes_asynchronously() -> None:
    # Hand-computed: each newcomer outranks the incumbents, so ASHA keeps promoting the new
    # best without waiting for a rung to fill, and rung 1 ends with 7 trials, rung 2 with 5
    # (the "incorrect promotions" Li et al. accept in exchange for never idling).
    sim = simulate(asha(9, eta=3), by_index(-1.0))
    creates = [a.trial_id for a in sim.actions if isinstance(a, Create)]
    promotes = [(a.trial_id, a.fidelity) for a in sim.actions if isinstance(a, Promote)]
    assert creates == [f"t{i:04d}" for i in range(9)]
    assert promotes == [
        ("t0002", 3),
        ("t0003", 3),
        ("t0004", 3),
        ("t0004", 9),
        ("t0005", 3),
        ("t0005", 9),
        ("t0006", 3),
        ("t0006", 9),
        ("t0007", 3),
        ("t0007", 9),
        ("t0008", 3),
        ("t0008", 9),
    ]
    assert finished_cleanly(sim)


def test_promotes_without_waiting_for_a_straggler() -> None:
    sched = asha(20, max_concurrent=3)
    state, actions = sched.initial_actions(sched.new_state())
    assert short(actions) == ["C0@1", "C1@1", "C2@1"]
    # t0 is a straggler; t1 and t2 report, new trials fill the slots.
    state, actions = sched.on_result(state, "t0001", 0, 1.0)
    assert short(actions) == ["C3@1"]
    state, actions = sched.on_result(state, "t0002", 0, 2.0)
    assert short(actions) == ["C4@1"]
    # Third result at rung 0: t3 is the best of three and goes up while t0 is still running.
    state, actions = sched.on_result(state, "t0003", 0, 0.5)
    assert short(actions) == ["P3@3"]
    assert state.trials["t0000"].status == "running"


def test_unpromotable_trials_are_stopped_as_soon_as_that_is_certain() -> None:
    sched = asha(3, max_concurrent=3)
    state, _ = sched.initial_actions(sched.new_state())
    state, actions = sched.on_result(state, "t0000", 0, 3.0)
    assert actions == []  # t1, t2 could still be worse: t0 may yet be the best
    state, actions = sched.on_result(state, "t0001", 0, 1.0)
    # Quota of rung 0 is at most floor(3 / 3) = 1 and t1 beats t0: t0 can never go up.
    assert short(actions) == ["S0"]
    state, actions = sched.on_result(state, "t0002", 0, 2.0)
    assert short(actions) == ["S2", "P1@3"]


def test_failed_trials_free_their_slot_and_leave_the_ranking() -> None:
    sched = asha(4, max_concurrent=2)
    state, _ = sched.initial_actions(sched.new_state())
    state, actions = sched.on_failure(state, "t0000", "CUDA OOM")
    assert short(actions) == ["C2@1"]
    assert state.trials["t0000"].status == "failed"
    assert sched.best(state) is None


def test_best_prefers_the_highest_rung() -> None:
    sim = simulate(asha(9), by_index(+1.0))
    assert sim.state is not None
    best = asha(9).best(sim.state)
    assert best is not None and best.trial_id == "t0000" and best.rung == 2


def test_finish_stops_the_trials_still_paused() -> None:
    sim = simulate(asha(4), by_index(+1.0))
    assert isinstance(sim.actions[-1], Finish)
    assert finished_cleanly(sim)


def test_small_sweeps_still_train_their_best_trial_to_max_fidelity() -> None:
    # Paper rule alone: 4 configurations, eta 3 -> one goes to rung 1, where floor(1/3) = 0
    # go further, and nobody is ever trained to max_fidelity.
    paper = simulate(asha(4, finish_best=False), by_index(+1.0))
    assert short(paper.actions) == ["C0@1", "C1@1", "S1", "C2@1", "S2", "P0@3", "S0", "C3@1", "S3", "F"]
    # finish_best (default): the winner of the highest rung is carried to the top before Finish.
    sim = simulate(asha(4), by_index(+1.0))
    assert short(sim.actions) == ["C0@1", "C1@1", "S1", "C2@1", "S2", "P0@3", "C3@1", "S3", "P0@9", "F"]
    assert sim.state is not None and sim.state.trials["t0000"].status == "completed"
    assert asha(4).best(sim.state).rung == 2  # type: ignore[union-attr]
