"""A median-pruned sweep of a function task stops its bad trials inside their segment: the same
best as the unpruned sweep, in less accelerator time, the savings in its ledger."""

from __future__ import annotations

import pytest
from sweeps import new_sweep_id, run_sweep
from test_steering import steady_spec

pytestmark = pytest.mark.integration


def _spec(algorithm: str, pruner: dict | None):
    return steady_spec(
        algorithm=algorithm,
        trials=12,
        max_concurrent=2,
        seed=3,
        task={"config": {"step_seconds": 0.05}},
        training={"max_steps": 60, "checkpoint_every": 20, "heartbeat_timeout_s": 10},
        **({"pruner": pruner} if pruner else {}),
    )


@pytest.mark.parametrize("algorithm", ["random", "tpe"])
async def test_a_median_pruned_sweep_reaches_the_same_best_for_less(stack, algorithm):
    worker = stack.start_worker("training")
    try:
        plain = await run_sweep(stack, _spec(algorithm, None), new_sweep_id(f"unpruned-{algorithm}"))
        pruned = await run_sweep(
            stack,
            _spec(algorithm, {"name": "median", "warmup_steps": 10, "min_trials": 2}),
            new_sweep_id(f"pruned-{algorithm}"),
        )
    finally:
        stack.processes.pop("training-worker", worker).stop()
    stopped = [t for t in pruned.trials if t.status == "stopped"]
    print(
        f"{algorithm}: unpruned best {plain.best.objective:.6f} in {plain.train_seconds:.1f} s "
        f"({plain.money.spent:.4f} spent); pruned best {pruned.best.objective:.6f} in "
        f"{pruned.train_seconds:.1f} s ({pruned.money.spent:.4f} spent, early stopping saved "
        f"{pruned.money.saved_by_early_stopping:.4f}); {len(stopped)} of {len(pruned.trials)} pruned"
    )
    assert plain.counts == {"completed": 12}
    assert stopped, "the median rule pruned nobody"
    assert all("pruned at step" in (t.error or "") for t in stopped), [t.error for t in stopped]
    # A pruned trial keeps its checkpoint and its curve, and stopped early.
    assert all(t.train is not None and t.train.checkpoint_key and t.train.step < 60 for t in stopped)
    assert pruned.money.saved_by_early_stopping > 0
    assert pruned.train_seconds < plain.train_seconds
    if algorithm == "random":  # the same 12 configurations: the best is never pruned
        assert pruned.best.trial_id == plain.best.trial_id
        assert pruned.best.objective == pytest.approx(plain.best.objective, abs=1e-12)
    else:
        assert pruned.best.objective <= plain.best.objective * 1.5
