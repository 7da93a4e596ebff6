"""Hang detection, pure: when a segment counts as hung, and what its failure says."""

from __future__ import annotations

import pytest

from hpo.activities.progress import Hang, Progress, watch_interval


def test_only_a_step_past_the_furthest_one_is_progress():
    progress = Progress(timeout_s=30, step=10, since=100.0)
    assert not progress.advance(10, 110.0)  # the restored step, re-reported
    assert not progress.advance(7, 115.0)  # a step back (an evaluation logged at an old step)
    assert progress.stalled_s(125.0) == 25.0 and not progress.hung(125.0)
    assert progress.hung(130.0)
    assert progress.advance(11, 131.0)
    assert progress.step == 11 and progress.stalled_s(131.0) == 0.0
    assert not progress.hung(160.9) and progress.hung(161.0)


def test_the_clock_starts_again_when_the_training_code_starts():
    progress = Progress(timeout_s=30, step=0, since=0.0)
    progress.restart(50.0)  # the restore's download took 50 s: not the training's
    assert not progress.hung(79.0) and progress.hung(80.0)


def test_the_watch_interval_ends_a_hang_within_a_tenth_of_the_timeout():
    assert watch_interval(1800, 30.0) == 30.0  # the heartbeat interval
    assert watch_interval(5, 30.0) == 0.5
    assert watch_interval(1, 30.0) == 0.2  # never busier than this
    assert watch_interval(30, 1.25) == 1.25


def hang(count: int, max_hangs: int = 3, resume_step: int | None = 10) -> Hang:
    return Hang(
        trial_id="t0003", step=12, timeout_s=30, count=count, max_hangs=max_hangs, resume_step=resume_step
    )


@pytest.mark.parametrize(
    ("count", "attempt", "max_attempts", "final"),
    [
        (1, 1, 8, False),
        (2, 2, 8, False),
        (3, 3, 8, True),  # the max_hangs-th hang
        (1, 8, 8, True),  # the retry budget's last attempt: nothing would retry it
        (1, 1, 1, True),  # max_retries: 0
        (2, 40, 0, False),  # maximum_attempts 0: unlimited retries
        (2, 40, None, False),
    ],
)
def test_which_hang_fails_the_trial(count, attempt, max_attempts, final):
    assert hang(count).final(attempt, max_attempts) is final


def test_the_final_message_says_what_happened_how_often_and_what_to_do():
    message = hang(3).message(final=True)
    assert message.startswith(
        "trial t0003 made no progress for 30 s at step 12, 3 times (training.progress_timeout_s): "
        "its training code hangs"
    )
    assert "resumed from its newest checkpoint (step 10)" in message
    assert "raise training.progress_timeout_s" in message
    assert "\n" not in message


def test_a_retried_hang_says_it_is_retried_and_when_the_trial_fails():
    message = hang(1, resume_step=None).message(final=False)
    assert message == (
        "trial t0003 made no progress for 30 s at step 12, once (training.progress_timeout_s): its "
        "training was ended and is retried from step 0 (it saved no checkpoint); at 3 hangs "
        "(training.max_hangs) the trial fails"
    )
