"""A Hugging Face Trainer script (examples/transformers) as a durable trial: the training
worker SIGKILLed mid-segment, the trial resumes from Trainer's own checkpoint and ends with
the metrics of an uninterrupted run; an ASHA sweep of it promotes from those checkpoints."""

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

pytest.importorskip("accelerate", reason="Trainer needs accelerate: the integrations extra installs it")

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transformers"
STEPS, EVERY = 240, 40


async def test_a_sigkilled_trainer_trial_resumes_with_identical_metrics(stack):
    spec = one_trial_spec(EXAMPLE / "sweep.yaml", STEPS, EVERY)
    baseline, crashed, killed_at = await uninterrupted_and_killed(stack, spec, "hf")

    resumed, uninterrupted = resumed_like_uninterrupted(baseline, crashed, killed_at, STEPS)
    assert set(resumed.validation) >= {"loss", "accuracy"}
    for name, value in uninterrupted.validation.items():
        assert abs(resumed.validation[name] - value) <= 1e-6, name
    # The curve's last point too (Trainer's last log), timings aside.
    timed = ("runtime", "per_second")
    last = {k: v for k, v in uninterrupted.train.metrics.items() if not any(t in k for t in timed)}
    assert last, uninterrupted.train.metrics
    for name, value in last.items():
        assert abs(resumed.train.metrics[name] - value) <= 1e-6, name


async def test_an_asha_sweep_of_the_trainer_example_promotes_from_its_checkpoints(stack):
    # Each rung continued where the one below ended: Trainer resumed its own checkpoint.
    status = await asha_sweep_promoting_from_checkpoints(stack, example_spec(EXAMPLE / "sweep.yaml"), "hf")
    assert status.best is not None and 0.0 <= status.best.objective <= 1.0
