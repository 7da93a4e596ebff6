"""The ledger's inputs carried from one execution of a segment to the next."""

from types import SimpleNamespace

import pytest

from hpo.activities.attempts import AttemptHistory


def test_first_execution_has_nothing_behind_it():
    history = AttemptHistory.after({}, restored_step=40)
    assert history == AttemptHistory(segment_start_step=40)


def test_crash_loses_the_work_past_the_checkpoint_pro_rata():
    # Started at 40, reached 100 in 60 s, the checkpoint we resume from is at 70.
    previous = {
        "segment_start_step": 40,
        "attempt_start_step": 40,
        "step": 100,
        "attempt_seconds": 60.0,
        "seconds": 60.0,
    }
    history = AttemptHistory.after(previous, restored_step=70)
    assert history.lost_seconds == pytest.approx(30.0)
    assert history.retried_steps_saved == 30
    assert history.attempts == 1 and history.preemptions == 0
    assert history.seconds == 60.0


def test_preemption_after_a_checkpoint_at_the_last_step_loses_nothing_and_counts():
    previous = {
        "segment_start_step": 0,
        "attempt_start_step": 0,
        "step": 50,
        "attempt_seconds": 10.0,
        "seconds": 10.0,
        "stopped_by_worker": True,
    }
    history = AttemptHistory.after(previous, restored_step=50)
    assert history.lost_seconds == 0.0
    assert history.preemptions == 1 and history.attempts == 1


def test_totals_accumulate_and_an_execution_without_progress_is_all_lost():
    first = AttemptHistory.after(
        {
            "segment_start_step": 0,
            "attempt_start_step": 0,
            "step": 20,
            "attempt_seconds": 8.0,
            "seconds": 8.0,
        },
        restored_step=10,
    )
    second_details = {
        **first.details(),
        "attempt_start_step": 10,
        "step": 10,
        "attempt_seconds": 3.0,
        "seconds": 11.0,
    }
    second = AttemptHistory.after(second_details, restored_step=10)
    assert second.lost_seconds == pytest.approx(4.0 + 3.0)
    assert second.attempts == 2
    assert second.retried_steps_saved == 20
    assert second.seconds == 11.0


# -- which execution a segment follows (activities.segment._previous_execution) ------------

PREEMPTED = {
    "segment_start_step": 0,
    "attempt_start_step": 0,
    "step": 20,
    "attempt_seconds": 4.0,
    "seconds": 4.0,
    "stopped_by_worker": True,
    "attempts": 0,
}
KILLED = {
    **PREEMPTED,
    "attempt_start_step": 20,
    "step": 35,
    "seconds": 9.0,
    "attempt_seconds": 5.0,
    "stopped_by_worker": False,
    "attempts": 1,
    "preemptions": 1,
}


def _previous(attempt: int, heartbeat: dict | None, handed_back: dict | None) -> dict:
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from hpo.activities.segment import _previous_execution

    environment = ActivityEnvironment()
    environment.info = dataclasses.replace(
        environment.info, attempt=attempt, heartbeat_details=[heartbeat] if heartbeat else []
    )
    request = SimpleNamespace(previous=handed_back)
    return environment.run(_previous_execution, request)


def test_a_retry_after_a_preemption_follows_the_attempt_that_died_not_the_preemption():
    # The restarted execution (given the preempted one's details) was SIGKILLed at step 35:
    # its retry gets the same request, but the crash's seconds and lost work come from the
    # dead attempt's heartbeat, which already carries the preemption's totals.
    assert _previous(2, KILLED, PREEMPTED) == KILLED
    history = AttemptHistory.after(_previous(2, KILLED, PREEMPTED), restored_step=30)
    assert history.attempts == 2 and history.preemptions == 1
    assert history.seconds == 9.0 and history.lost_seconds == pytest.approx(5.0 * 5 / 15)


def test_the_first_attempt_after_a_preemption_follows_the_stopped_execution():
    assert _previous(1, None, PREEMPTED) == PREEMPTED
    # A retry whose dead attempt never heartbeated still knows the preemption.
    assert _previous(2, None, PREEMPTED) == PREEMPTED
    assert _previous(2, KILLED, None) == KILLED
    assert _previous(1, None, None) == {}
