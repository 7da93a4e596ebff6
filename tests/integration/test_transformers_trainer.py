"""A Hugging Face Trainer script (examples/transformers) as a durable trial: the training
worker SIGKILLed mid-segment, the trial resumes from Trainer's own checkpoint and ends with
the metrics of an uninterrupted run; an ASHA sweep of it promotes from those checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
from crashes import asha_sweep_promoting_from_checkpoints, assert_resumed, uninterrupted_and_killed
from sweeps import _merged

from hpo.contracts.spec import load_spec, parse_spec

pytest.importorskip("accelerate", reason="Trainer needs accelerate: the integrations extra installs it")

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "transformers"
STEPS, EVERY = 240, 40


def _spec(**overrides):
    spec = load_spec(EXAMPLE / "sweep.yaml").model_dump(mode="json", exclude_none=True)
    return parse_spec(_merged(spec, overrides))


async def test_a_sigkilled_trainer_trial_resumes_with_identical_metrics(stack):
    spec = _spec(
        algorithm="random",
        trials=1,
        max_concurrent=1,
        training={"max_steps": STEPS, "checkpoint_every": EVERY, "heartbeat_timeout_s": 5},
    )
    baseline, crashed, killed_at = await uninterrupted_and_killed(stack, spec, "hf")

    resumed, uninterrupted = crashed.trials[0], baseline.trials[0]
    print(
        f"killed after checkpoint step {killed_at}; resumed from {resumed.train.resumed_from_step}; "
        f"validation {resumed.validation} vs uninterrupted {uninterrupted.validation}"
    )
    assert_resumed(resumed, uninterrupted, killed_at, STEPS)
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
    status = await asha_sweep_promoting_from_checkpoints(stack, _spec(), "hf")
    assert status.best is not None and 0.0 <= status.best.objective <= 1.0
