"""XGBoost and LightGBM scripts (examples/boosting) as durable trials, boosting rounds as steps:
the training worker SIGKILLed mid-segment, the trial boosts on from its last checkpointed
booster and ends with the uninterrupted run's metrics; ASHA promotes by boosting on."""

from __future__ import annotations

from pathlib import Path

import pytest
from crashes import (
    asha_sweep_promoting_from_checkpoints,
    assert_resumed,
    example_spec,
    one_trial_spec,
    uninterrupted_and_killed,
)

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "boosting"
LIBRARIES = {"xgboost": ("xgboost.yaml", "logloss"), "lightgbm": ("lightgbm.yaml", "binary_logloss")}
# Enough data that a segment lasts seconds: long enough to kill it half-way.
ROUNDS, EVERY = 600, 50
BIG = {"rows": 40000, "features": 40}


def _example(library: str) -> Path:
    pytest.importorskip(library, reason=f"{library} is in hpo's integrations extra")
    return EXAMPLES / LIBRARIES[library][0]


@pytest.mark.parametrize("library", sorted(LIBRARIES))
async def test_a_sigkilled_boosting_trial_goes_on_from_its_round_with_identical_metrics(stack, library):
    spec = one_trial_spec(_example(library), ROUNDS, EVERY, task={"config": BIG})
    metric = LIBRARIES[library][1]
    baseline, crashed, killed_at = await uninterrupted_and_killed(stack, spec, library)

    resumed, uninterrupted = crashed.trials[0], baseline.trials[0]
    print(
        f"{library}: killed after round {killed_at}; resumed from {resumed.train.resumed_from_step}; "
        f"{metric} {resumed.validation[metric]!r} vs uninterrupted {uninterrupted.validation[metric]!r}"
    )
    assert_resumed(resumed, uninterrupted, killed_at, ROUNDS)
    assert abs(resumed.validation[metric] - uninterrupted.validation[metric]) <= 1e-6


@pytest.mark.parametrize("library", sorted(LIBRARIES))
async def test_asha_promotes_a_boosting_trial_by_boosting_on(stack, library):
    status = await asha_sweep_promoting_from_checkpoints(stack, example_spec(_example(library)), library)
    assert status.best is not None and status.best.objective > 0
