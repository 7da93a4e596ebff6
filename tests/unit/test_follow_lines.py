"""What a person following a sweep reads: events and live lines, from the sweep's own record."""

from __future__ import annotations

import io

from rich.console import Console

from hpo.cli.follow import say
from hpo.contracts.messages import SegmentRecord, TrainResult, TrialResult
from hpo.contracts.segment_details import SegmentDetails
from hpo.results.leaderboard import failure_reason, failures, running_line, sweep_events


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
    line = running_line(running, SegmentDetails(step=36, metrics={"loss": 0.25}), now=160.0)
    assert line == "t0003  rung 1  step 36/54  loss 0.25  ETA 1m00s"
    assert running_line(running, None, now=160.0) == "t0003  rung 1  step 0/54"


def test_a_failure_is_said_once_after_its_trial_id():
    raised = trial("failed", [], error="TrainingError: trial t0003: the training code raised ValueError: x")
    assert sweep_events(raised, ("running", 0), "acc") == [
        "t0003 failed: TrainingError: the training code raised ValueError: x"
    ]
    plain = trial("failed", [], error="trial t0003: validation metric 'acc' is nan")
    assert failure_reason(plain) == "validation metric 'acc' is nan"


def test_a_traceback_in_a_failure_comes_down_to_its_last_line():
    # What a process pool attaches to an exception (concurrent.futures' _RemoteTraceback).
    remote = '\n"""\nTraceback (most recent call last):\n  File "x.py", line 3\nKeyError: \'segments\'\n"""'
    assert failure_reason(trial("failed", [], error=remote)) == "KeyError: 'segments'"
    assert failure_reason(trial("failed", [], error=f"ValueError: bad{remote}")) == (
        "ValueError: bad KeyError: 'segments'"
    )


def test_only_failed_trials_are_failures():
    from hpo.contracts.messages import SweepStatus
    from hpo.contracts.spec import parse_spec

    spec = parse_spec(
        {
            "name": "x",
            "space": {"lr": {"type": "float", "low": 1e-5, "high": 1e-3}},
            "trials": 2,
            "training": {"max_steps": 40},
        }
    )
    status = SweepStatus(
        sweep_id="x-1", name="x", spec=spec, state="completed", objective_metric="acc", mode="max",
        trials=[trial("cancelled", [], error="stopped at step 5; checkpoint at step 5"),
                trial("failed", [], error="DatasetError: data.csv holds no rows")],
    )  # fmt: skip
    assert failures(status) == ["t0003: DatasetError: data.csv holds no rows"]


def test_an_event_line_is_printed_as_written_in_one_piece():
    out = io.StringIO()
    line = "t0003 failed: labels [bold]x[/bold] absent; " + "long " * 40
    say(Console(file=out, width=60), line)
    assert out.getvalue() == line + "\n"
