"""A Lightning script (examples/lightning) as a durable trial: the training worker SIGKILLed
mid-segment, mid-epoch, the trial resumes from Lightning's own checkpoint and ends with the
metrics of an uninterrupted run; an ASHA sweep of it promotes from those checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from crashes import (
    asha_sweep_promoting_from_checkpoints,
    example_spec,
    one_trial_spec,
    resumed_like_uninterrupted,
    uninterrupted_and_killed,
)

pytest.importorskip("lightning", reason="Lightning is in hpo's integrations extra")
pytest.importorskip("torchdata", reason="torchdata (StatefulDataLoader) is in hpo's integrations extra")

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lightning"
# 20,000 rows in batches of 32: 625 steps an epoch, so the kill comes mid-epoch.
STEPS, EVERY = 900, 100
BIG = {"rows": 20000, "features": 32, "data_seed": 0}


async def test_a_sigkilled_lightning_trial_resumes_with_identical_metrics(stack):
    spec = one_trial_spec(
        EXAMPLE / "sweep.yaml",
        STEPS,
        EVERY,
        task={"config": BIG},
        space={"batch_size": {"type": "categorical", "choices": [32]}},
    )
    baseline, crashed, killed_at = await uninterrupted_and_killed(stack, spec, "lightning")

    resumed, uninterrupted = resumed_like_uninterrupted(baseline, crashed, killed_at, STEPS)
    assert set(resumed.validation) == {"loss", "accuracy"}
    for name, value in uninterrupted.validation.items():
        assert abs(resumed.validation[name] - value) <= 1e-6, name


async def test_an_asha_sweep_of_the_lightning_example_promotes_from_its_checkpoints(stack):
    status = await asha_sweep_promoting_from_checkpoints(
        stack, example_spec(EXAMPLE / "sweep.yaml"), "lightning"
    )
    assert status.best is not None and 0.5 <= status.best.objective <= 1.0
