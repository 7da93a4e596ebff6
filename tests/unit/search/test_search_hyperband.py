"""Hyperband and BOHB against the bracket table of Li et al. (2017), Table 1 (R = 81, eta = 3)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from hpo.search import Create, Promote, Stop, build_scheduler
from hpo.search.hyperband import bracket_size
from hpo.study.simulate import finished_cleanly, simulate

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "k": {"type": "categorical", "choices": ["a", "b"]}}

# Li et al. (2017), Table 1: for each bracket s, the (n_i, r_i) of its successive-halving rungs.
PAPER_R81_ETA3 = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def value(trial_id: str, params: dict, rung: int, fidelity: int | None) -> float:
    return params["x"] + (0.3 if params["k"] == "b" else 0.0) - 0.001 * rung


def rung_sizes(actions) -> dict[int, list[tuple[int, int]]]:
    """bracket -> [(trials started at that fidelity, fidelity)], read off the action stream."""
    bracket_of: dict[str, int] = {}
    counts: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    first_fidelity: dict[int, int] = {}
    for a in actions:
        if isinstance(a, Create):
            # Brackets start at rung s_max - s, i.e. their first fidelity identifies them.
            assert a.fidelity is not None
            s = {1: 4, 3: 3, 9: 2, 27: 1, 81: 0}[a.fidelity]
            bracket_of[a.trial_id] = s
            first_fidelity[s] = a.fidelity
            counts[s][a.fidelity] += 1
        elif isinstance(a, Promote):
            assert a.fidelity is not None
            counts[bracket_of[a.trial_id]][a.fidelity] += 1
    return {s: [(n, r) for r, n in sorted(c.items())] for s, c in counts.items()}


@pytest.mark.parametrize("algorithm", ["hyperband", "bohb"])
@pytest.mark.parametrize("max_concurrent", [1, 7])
def test_one_iteration_matches_the_paper_table(algorithm: str, max_concurrent: int) -> None:
    sched = build_scheduler(
        algorithm, SPACE, seed=3, max_concurrent=max_concurrent, max_fidelity=81, min_fidelity=1, eta=3
    )
    assert [bracket_size(s, 4, 3) for s in (4, 3, 2, 1, 0)] == [81, 34, 15, 8, 5]
    sim = simulate(sched, value)
    assert rung_sizes(sim.actions) == PAPER_R81_ETA3
    assert sim.state is not None and len(sim.state.trials) == 143
    assert finished_cleanly(sim)


def test_rungs_are_synchronous_and_losers_are_stopped() -> None:
    sched = build_scheduler("hyperband", SPACE, max_concurrent=9, max_fidelity=9, min_fidelity=1, eta=3)
    # s_max = 2: brackets 9@1 -> 3@3 -> 1@9, then 5@3 -> 1@9, then 3@9.
    state, actions = sched.initial_actions(sched.new_state())
    assert [a.fidelity for a in actions] == [1] * 9
    started = []
    for i in range(8):
        state, actions = sched.on_result(state, f"t{i:04d}", 0, float(i))
        # Waiting for the ninth: each free slot starts the next brackets, nobody is promoted.
        assert [type(a) for a in actions] == [Create]
        started.append(actions[0].fidelity)
    assert started == [3] * 5 + [9] * 3
    state, actions = sched.on_result(state, "t0008", 0, -1.0)
    stops = sorted(a.trial_id for a in actions if isinstance(a, Stop))
    promotes = [(a.trial_id, a.fidelity) for a in actions if isinstance(a, Promote)]
    assert stops == ["t0002", "t0003", "t0004", "t0005", "t0006", "t0007"]
    assert promotes == [("t0008", 3)]  # one free slot; t0000 and t0001 are queued next
    sim = simulate(sched, value)
    stopped = [a.trial_id for a in sim.actions if isinstance(a, Stop)]
    assert len(stopped) == len(set(stopped)) == (9 - 1) + (5 - 1)  # the 9@1 top rung completes
    assert finished_cleanly(sim)


def test_num_trials_repeats_brackets_and_truncates_the_last() -> None:
    sched = build_scheduler("hyperband", SPACE, num_trials=22, max_fidelity=9, min_fidelity=1, eta=3)
    sim = simulate(sched, value)
    creates = [a for a in sim.actions if isinstance(a, Create)]
    assert len(creates) == 22
    # One iteration is 9 + 5 + 3 = 17; the next starts again with the most aggressive bracket.
    assert [a.fidelity for a in creates[17:]] == [1] * 5
    assert finished_cleanly(sim)


def test_a_failed_rung_does_not_stall_its_bracket() -> None:
    sched = build_scheduler("hyperband", SPACE, max_concurrent=2, max_fidelity=9, min_fidelity=1, eta=3)

    def flaky(trial_id: str, params: dict, rung: int, fidelity: int | None) -> float | None:
        return None if int(trial_id[1:]) % 2 == 0 else value(trial_id, params, rung, fidelity)

    sim = simulate(sched, flaky)
    assert finished_cleanly(sim)


def test_bohb_models_the_highest_budget_with_enough_results() -> None:
    sched = build_scheduler(
        "bohb", SPACE, seed=0, max_concurrent=1, max_fidelity=81, min_fidelity=1, eta=3, n_startup_trials=5
    )
    sim = simulate(sched, value)
    assert sim.state is not None
    # With a model, categorical "a" (0.3 better) should dominate the later proposals.
    late = [rec.params["k"] for tid, rec in list(sim.state.trials.items())[60:]]
    assert late.count("a") > 0.6 * len(late)  # a third of BOHB's proposals stay random
    hb = simulate(build_scheduler("hyperband", SPACE, seed=0, max_fidelity=81, min_fidelity=1, eta=3), value)
    assert hb.state is not None
    late_hb = [rec.params["k"] for tid, rec in list(hb.state.trials.items())[60:]]
    assert late.count("a") > late_hb.count("a") + 10
