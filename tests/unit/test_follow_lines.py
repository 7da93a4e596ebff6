"""What a person following a sweep reads: events and live lines, from the sweep's own record."""

from __future__ import annotations

from hpo.messages import SegmentRecord, TrainResult, TrialResult
from hpo.report import running_line, sweep_events


def trial(status: str, segments: list[SegmentRecord], **fields) -> TrialResult:
    return TrialResult(trial_id="t0003", params={"lr": 0.01}, status=status, segments=segments, **fields)


def test_a_promotion_says_from_which_step_to_which():
    first = SegmentRecord(
        rung=0, started_at=0, finished_at=10, target_step=18, step=18, objective=0.7, status="completed"
    )
    second = SegmentRecord(rung=1, started_at=10, target_step=54)
    started = sweep_events(
        trial("running", [first.model_copy(update={"finished_at": None, "step": None})]), None, "acc"
    )
    assert started == ["t0003 started: rung 0, to 18 steps  (lr=0.01)"]
    done = trial("completed", [first], objective=0.7, rung=0, validation={"acc": 0.7}, test={"acc": 0.65})
    assert sweep_events(done, ("running", 1), "acc") == [
        "t0003 completed rung 0: val acc 0.7000, test acc 0.6500"
    ]
    promoted = trial("running", [first, second], objective=0.7, rung=1)
    assert sweep_events(promoted, ("completed", 1), "acc") == ["t0003 promoted to rung 1: 18 -> 54 steps"]
    stopped = trial("stopped", [first], objective=0.7)
    assert sweep_events(stopped, ("completed", 1), "acc") == [
        "t0003 stopped at rung 0 (not promoted): val acc 0.7000"
    ]
    failed = trial("failed", [first], error="TrainingError: boom")
    assert sweep_events(failed, ("running", 1), "acc") == ["t0003 failed: TrainingError: boom"]
    assert sweep_events(done, ("completed", 1), "acc") == []  # nothing new, nothing printed


def test_a_running_line_shows_progress_metrics_and_an_eta():
    first = SegmentRecord(rung=0, started_at=0, finished_at=10, target_step=18, step=18, status="completed")
    second = SegmentRecord(rung=1, started_at=100.0, target_step=54)
    running = trial("running", [first, second], train=TrainResult(step=18))
    # 18 steps done of the 36 this segment trains, in 60 s: 60 s to go.
    line = running_line(running, {"step": 36, "metrics": {"loss": 0.25}}, now=160.0)
    assert line == "t0003  rung 1  step 36/54  loss 0.25  ETA 1m00s"
    assert running_line(running, None, now=160.0) == "t0003  rung 1  step 0/54"
