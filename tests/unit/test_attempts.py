"""The ledger's inputs carried from one execution of a segment to the next."""

from types import SimpleNamespace

import pytest

from hpo.activities.attempts import AttemptHistory
from hpo.contracts.segment_details import SegmentDetails


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


# -- a crashed attempt pays for its slot until its retry was scheduled -------------------------

CRASHED = {
    "segment_start_step": 0,
    "attempt_start_step": 0,
    "step": 130,  # its last heartbeat, 23 s in
    "attempt_seconds": 23.0,
    "productive_seconds": 23.0,
    "seconds": 23.0,
    "attempt_started_at": 1000.0,
}


def test_a_sigkilled_attempt_counts_from_its_start_until_its_retry_was_scheduled():
    # The measured case: 23 s of training, the slot held 147 s (the heartbeat timeout waited out).
    history = AttemptHistory.after(CRASHED, restored_step=120, noticed_at=1147.0)
    assert history.seconds == pytest.approx(147.0)
    # Kept: what its 120 steps up to the checkpoint cost; lost: everything else it held.
    assert history.lost_seconds == pytest.approx(147.0 - 23.0 * 120 / 130)
    assert history.redone_steps == 10
    assert history.retried_steps_saved == 120
    assert history.attempts == 1 and history.preemptions == 0


def test_held_time_scales_with_the_accelerators_and_never_undercuts_what_was_measured():
    on_two = AttemptHistory.after({**CRASHED, "accelerators": 2.0}, restored_step=120, noticed_at=1147.0)
    assert on_two.seconds == pytest.approx(294.0)
    # Clocks of two machines disagree: a retry "noticed" before the last heartbeat keeps the measurement.
    skewed = AttemptHistory.after(CRASHED, restored_step=120, noticed_at=1010.0)
    assert skewed.seconds == 23.0
    assert skewed.lost_seconds == pytest.approx(23.0 * 10 / 130)


def test_an_attempt_that_ended_itself_counts_its_own_measurement():
    ended = {**CRASHED, "ended": True}
    history = AttemptHistory.after(ended, restored_step=120, noticed_at=5000.0)
    assert history.seconds == 23.0
    assert history.lost_seconds == pytest.approx(23.0 * 10 / 130)
    # Details from workers before attempt_started_at existed: as before, the measurement alone.
    old = {k: v for k, v in CRASHED.items() if k != "attempt_started_at"}
    assert AttemptHistory.after(old, restored_step=120, noticed_at=5000.0).seconds == 23.0


def test_a_hung_attempt_loses_its_stall_whole_and_keeps_its_steps():
    # Trained 0 -> 12 in 10 s, checkpointed at 12, then made no progress for 30 s.
    hung = {
        "segment_start_step": 0,
        "attempt_start_step": 0,
        "step": 12,
        "attempt_seconds": 40.0,
        "productive_seconds": 10.0,
        "seconds": 40.0,
        "attempt_started_at": 1000.0,
        "ended": True,
        "hangs": 1,
    }
    history = AttemptHistory.after(hung, restored_step=12, noticed_at=1042.0)
    assert history.seconds == 40.0
    assert history.lost_seconds == pytest.approx(30.0)
    assert history.redone_steps == 0 and history.hangs == 1
    # Its retry hangs at once, before any step: all of its time is lost, and hangs add up.
    again = {**history.details(), "attempt_start_step": 12, "step": 12, "attempt_seconds": 31.0,
             "productive_seconds": 0.0, "seconds": 71.0, "ended": True, "hangs": 2}  # fmt: skip
    second = AttemptHistory.after(again, restored_step=12)
    assert second.lost_seconds == pytest.approx(30.0 + 31.0)
    assert second.seconds == pytest.approx(71.0)
    assert second.hangs == 2 and second.attempts == 2


def test_redone_steps_add_up_over_crashes():
    # 0 -> 20 (checkpoint 10), crash; 10 -> 15 (no new checkpoint), crash; resume at 10 again.
    first = AttemptHistory.after({**CRASHED, "step": 20}, restored_step=10, noticed_at=1030.0)
    assert first.redone_steps == 10
    second_details = {**first.details(), "attempt_start_step": 10, "step": 15, "attempt_seconds": 2.0,
                      "productive_seconds": 2.0, "seconds": first.seconds + 2.0,
                      "attempt_started_at": 1040.0}  # fmt: skip
    second = AttemptHistory.after(second_details, restored_step=10, noticed_at=1050.0)
    assert second.redone_steps == 15
    assert second.seconds == pytest.approx(30.0 + 10.0)
    assert second.lost_seconds == pytest.approx(first.lost_seconds + 10.0)  # kept nothing of the second


def test_the_retry_knows_when_temporal_scheduled_it():
    import dataclasses
    from datetime import UTC, datetime

    from temporalio.testing import ActivityEnvironment

    from hpo.activities.segment import _noticed_at

    environment = ActivityEnvironment()
    scheduled = datetime.fromtimestamp(1147.0, tz=UTC)
    environment.info = dataclasses.replace(environment.info, current_attempt_scheduled_time=scheduled)
    # Started at 1200 after waiting for a free worker: the wait held no slot.
    assert environment.run(_noticed_at, 1200.0) == 1147.0
    # A scheduled time after this attempt's start (clocks disagree) is capped at the start.
    assert environment.run(_noticed_at, 1100.0) == 1100.0


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


def _previous(attempt: int, heartbeat: dict | None, handed_back: dict | None) -> SegmentDetails | None:
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
    assert _previous(2, KILLED, PREEMPTED) == SegmentDetails.read(KILLED)
    history = AttemptHistory.after(_previous(2, KILLED, PREEMPTED), restored_step=30)
    assert history.attempts == 2 and history.preemptions == 1
    assert history.seconds == 9.0 and history.lost_seconds == pytest.approx(5.0 * 5 / 15)


def test_the_first_attempt_after_a_preemption_follows_the_stopped_execution():
    assert _previous(1, None, PREEMPTED) == SegmentDetails.read(PREEMPTED)
    # A retry whose dead attempt never heartbeated still knows the preemption.
    assert _previous(2, None, PREEMPTED) == SegmentDetails.read(PREEMPTED)
    assert _previous(2, KILLED, None) == SegmentDetails.read(KILLED)
    assert _previous(1, None, None) is None


# -- what the trial workflow makes of a segment that failed saying what it spent ------------


def test_a_segment_failed_by_hangs_is_paid_for_and_one_failed_without_details_is_not():
    from temporalio.exceptions import ApplicationError

    from hpo.contracts.segment_outcome import HUNG
    from hpo.workflows.trial import spent_on_failure

    details = {
        **AttemptHistory(
            segment_start_step=0, seconds=40.0, lost_seconds=30.0, attempts=1, hangs=1
        ).details(),
        "step": 12,
        "checkpoint_key": "trials/s/r/t0003/ckpt/step-00000012",
        "seconds": 71.0,
        "lost_seconds": 61.0,  # final_details: this attempt's own loss included
        "redone_steps": 0,
        "hangs": 2,
    }
    error = ApplicationError("trial t0003 made no progress ...", details, type=HUNG, non_retryable=True)
    spent = spent_on_failure(error)
    assert spent is not None
    assert (spent.train_seconds, spent.lost_seconds, spent.step) == (71.0, 61.0, 12)
    assert spent.attempts == 2 and spent.retries == 1
    assert spent.checkpoint_key is None  # nothing to serve from a failed segment

    plain = ApplicationError("the training code raised ValueError", type="TrainingError", non_retryable=True)
    assert spent_on_failure(plain) is None
