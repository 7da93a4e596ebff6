"""Faulty training code fails its trial once, with one message naming the trial and what is
wrong, never retried (a retry cannot fix it), and the sweep goes on to the end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sweeps import new_sweep_id, run_sweep

from hpo.connections.temporal import connect
from hpo.contracts.spec import SweepSpec, parse_spec

pytestmark = pytest.mark.integration

FAULTY = Path(__file__).resolve().parents[1] / "fixtures" / "faulty"


def faulty_spec(task: dict[str, Any], behaviours: list[str]) -> SweepSpec:
    return parse_spec(
        {
            "name": "faulty",
            "task": {**task, "code": str(FAULTY)},
            "space": {"behaviour": {"type": "categorical", "choices": behaviours}},
            "algorithm": "grid",
            "trials": len(behaviours),
            "max_concurrent": 2,
            "objective": {"metric": "score", "mode": "max"},
            "training": {"max_steps": 5, "heartbeat_timeout_s": 10},
        }
    )


async def _attempts(stack: Any, sweep_id: str, trial_id: str) -> list[int]:
    """The attempt number of every training activity the trial's workflow ran."""
    client = await connect(stack.settings)
    history = await client.get_workflow_handle(f"{sweep_id}.{trial_id}.r0").fetch_history()
    return [
        event.activity_task_started_event_attributes.attempt
        for event in history.events
        if event.HasField("activity_task_started_event_attributes")
    ]


CASES = {
    "nan": "validation metric 'score' is nan",
    "missing": "the objective metric 'score' is not among the validation metrics the training returned (other)",
    "raise": "the training code raised ValueError: batch 7 has no labels",
    "not_a_dict": "returned float, must return a dict of validation metrics",
}


async def test_function_faults_fail_their_trial_once_and_the_sweep_goes_on(stack, training_worker):
    sweep_id = new_sweep_id("faulty")
    status = await run_sweep(stack, faulty_spec({"entrypoint": "trainer:train"}, ["ok", *CASES]), sweep_id)
    assert status.state == "completed"
    by_behaviour = {t.params["behaviour"]: t for t in status.trials}
    assert by_behaviour["ok"].status == "completed" and by_behaviour["ok"].objective == 0.75
    assert status.best_trial_id == by_behaviour["ok"].trial_id
    for behaviour, message in CASES.items():
        trial = by_behaviour[behaviour]
        assert trial.status == "failed"
        print(f"{behaviour}: {trial.error}")
        assert f"trial {trial.trial_id}" in trial.error and message in trial.error, trial.error
        assert await _attempts(stack, sweep_id, trial.trial_id) == [1]
    assert "trainer.py" in by_behaviour["raise"].error  # the user's own frame, to find the line


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"entrypoint": "broken_import:train"}, "No module named 'hpo_not_installed_anywhere'"),
        ({"entrypoint": "trainer:trian"}, "module 'trainer' has no 'trian'"),
        ({"command": ["hpo-no-such-program"]}, "cannot run the command hpo-no-such-program"),
    ],
    ids=["import-error", "missing-function", "command-not-found"],
)
async def test_code_that_cannot_start_fails_each_trial_once(stack, training_worker, task, message):
    sweep_id = new_sweep_id("cannot-start")
    status = await run_sweep(stack, faulty_spec(task, ["ok", "raise"]), sweep_id)
    assert status.state == "completed"
    for trial in status.trials:
        print(trial.error)
        assert trial.status == "failed" and message in trial.error, trial.error
        assert await _attempts(stack, sweep_id, trial.trial_id) == [1]
    if "entrypoint" in task:
        assert "task.entrypoint" in status.trials[0].error


async def test_a_command_exiting_non_zero_fails_with_its_output(stack, training_worker):
    sweep_id = new_sweep_id("command-exit")
    status = await run_sweep(
        stack, faulty_spec({"command": ["python", "command.py"]}, ["ok", "exit"]), sweep_id
    )
    by_behaviour = {t.params["behaviour"]: t for t in status.trials}
    assert by_behaviour["ok"].status == "completed" and by_behaviour["ok"].objective == 0.75
    failed = by_behaviour["exit"]
    print(failed.error)
    assert failed.status == "failed"
    assert "exit" in failed.error and "3" in failed.error
    assert "CUDA error: device-side assert triggered" in failed.error
    assert await _attempts(stack, sweep_id, failed.trial_id) == [1]
