"""Warm start on the real stack: a second sweep reads the first one's trials as priors, and its
TPE proposes from them from its first trial on.

Needs the sweep workflow to hand ``request.warm_start`` to its scheduler
(``scheduler.with_prior(state, [(p.params, p.value) for p in request.warm_start])``).
"""

from __future__ import annotations

import pytest
from sweeps import byo_spec, new_sweep_id, run_sweep

from hpo.cli.commands import run_and_follow
from hpo.connections.temporal import connect
from hpo.contracts.spec import make_scheduler
from hpo.results.warm_start import WarmStartError, fetch_warm_start
from hpo.search import Create

pytestmark = pytest.mark.integration


def _first_proposals(spec, prior):
    scheduler = make_scheduler(spec)
    state = scheduler.with_prior(scheduler.new_state(), prior)
    _, actions = scheduler.initial_actions(state)
    return {a.trial_id: a.params for a in actions if isinstance(a, Create)}


async def test_a_second_sweep_starts_from_the_first_ones_trials(stack, training_worker, capsys):
    earlier = byo_spec(name="warm-a", trials=4, algorithm="random", seed=1, training={"max_steps": 20})
    earlier_id = new_sweep_id("warm-a")
    first = await run_sweep(stack, earlier, earlier_id)
    scored = [t for t in first.trials if t.status == "completed" and t.objective is not None]
    assert len(scored) >= 2, [(t.trial_id, t.error) for t in first.trials]

    spec = byo_spec(
        name="warm-b",
        trials=2,
        algorithm={"name": "tpe", "min_fidelity": None, "options": {"n_startup_trials": 2}},
        training={"max_steps": 20},
        warm_start=[earlier_id],
    )
    client = await connect(stack.settings)
    warm = await fetch_warm_start(client, spec, spec.warm_start)
    assert [(p.source, p.params, p.value) for p in warm.prior] == [
        (f"{earlier_id}/{t.trial_id}", t.params, t.objective) for t in scored
    ]
    assert warm.dropped == []

    # Wrong ids and another objective are refused with one clear paragraph.
    with pytest.raises(WarmStartError, match="warm_start: no sweep 'warm-nope-0' on this Temporal server"):
        await fetch_warm_start(client, spec, ["warm-nope-0"])
    flipped = byo_spec(
        name="warm-c", objective={"metric": "error_rate", "mode": "max"}, warm_start=[earlier_id]
    )
    with pytest.raises(WarmStartError, match=rf"sweep {earlier_id} optimised error_rate \(min\), this sweep"):
        await fetch_warm_start(client, flipped, flipped.warm_start)

    # `hpo sweep run`'s path: fetch, say so, hand the priors to the sweep.
    final = await run_and_follow(stack.settings, spec, new_sweep_id("warm-b"))
    assert final is not None and final.state == "completed"
    assert f"warm start: {len(scored)} trials from {earlier_id}" in capsys.readouterr().out
    prior = [(p.params, p.value) for p in warm.prior]
    expected = _first_proposals(final.spec, prior)
    assert expected != _first_proposals(final.spec, [])  # the priors change TPE's first proposals
    assert {t.trial_id: t.params for t in final.trials} == expected
    assert len(final.trials) == 2  # priors are not trials
