"""Training that hangs is noticed: a function trial that sleeps forever after its checkpoint,
heartbeating all the while, is ended as hung after training.progress_timeout_s, retried from
that checkpoint, and fails its trial at its training.max_hangs-th hang with a message that
says so; the hung attempts' time is in the ledger as lost work, and the sweep goes on."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweeps import new_sweep_id, run_sweep

from hpo.connections.temporal import connect
from hpo.contracts.spec import parse_spec
from hpo.engine import ledger

pytestmark = pytest.mark.integration

HANG = Path(__file__).resolve().parents[1] / "fixtures" / "hang"  # hang_trainer.py
TIMEOUT_S = 5


async def test_a_hung_function_trial_is_resumed_from_its_checkpoint_then_fails_clearly(
    stack, training_worker, tmp_path
):
    spec = parse_spec(
        {
            "name": "hang",
            "task": {
                "entrypoint": "hang_trainer:train",
                "code": str(HANG),
                "config": {"tally": str(tmp_path)},
            },
            "space": {"lr": {"type": "categorical", "choices": [0.1]}},
            "algorithm": "grid",
            "trials": 1,
            "max_concurrent": 1,
            "objective": {"metric": "loss", "mode": "min"},
            "training": {
                "max_steps": 10,
                "checkpoint_every": 3,
                "heartbeat_timeout_s": 5,
                "progress_timeout_s": TIMEOUT_S,
                "max_hangs": 2,
            },
        }
    )
    sweep_id = new_sweep_id("hang")
    status = await run_sweep(stack, spec, sweep_id)
    assert status.state == "completed"
    (trial,) = status.trials
    print(trial.error)
    assert trial.status == "failed"
    assert trial.error.startswith(
        f"TrialHung: trial {trial.trial_id} made no progress for {TIMEOUT_S} s at step 3, 2 times "
        "(training.progress_timeout_s): its training code hangs"
    ), trial.error
    assert "resumed from its newest checkpoint (step 3)" in trial.error

    # Two attempts of one activity (a hang spends a retry; history records the last one's
    # start), the second from the checkpoint.
    client = await connect(stack.settings)
    history = await client.get_workflow_handle(f"{sweep_id}.{trial.trial_id}.r0").fetch_history()
    attempts = [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [2]
    assert (tmp_path / f"{sweep_id}.{trial.trial_id}").read_text().split() == ["0", "3"]

    # Paid for: both stalls are lost work (the first attempt kept its three steps' cost).
    assert trial.train is not None and trial.train.attempts == 2 and trial.retries == 1
    (segment,) = trial.segments
    print(f"spent {segment.train_seconds:.1f} s, lost {segment.lost_seconds:.1f} s")
    assert segment.lost_seconds >= 2 * TIMEOUT_S
    assert segment.lost_seconds <= segment.train_seconds
    money = ledger.summarize(status.trials, status.spec)
    assert money.lost_to_faults == pytest.approx(segment.lost_seconds / 3600)
    assert money.spent - money.lost_to_faults + money.saved_by_early_stopping == pytest.approx(
        money.full_fidelity
    )
