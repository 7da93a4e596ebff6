"""The hang watchdog on real threads, signals and processes (no Temporal server: the activity
context is temporalio's ActivityEnvironment, which records the heartbeats)."""

from __future__ import annotations

import os
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

import hpo
from hpo.activities.attempts import AttemptHistory
from hpo.activities.session import SegmentSession
from hpo.tasks.command import CommandTask
from hpo.telemetry.metrics import SegmentMetrics
from hpo.trial import TrialHung

TIMEOUT = 0.6  # seconds without a new step before a segment counts as hung


def make_session(scratch: Path, history: AttemptHistory | None = None) -> SegmentSession:
    return SegmentSession(
        checkpoints=None,  # type: ignore[arg-type]  # nothing here saves a checkpoint
        prefix="trials/s/t0001",
        scratch=scratch,
        meta={},
        restored_key=None,
        restored_step=0,
        history=history or AttemptHistory.first(0),
        rung=0,
        telemetry=SegmentMetrics("s", "t0001"),
        trial_id="t0001",
        progress_timeout_s=TIMEOUT,
        max_hangs=2,
    )


def make_trial(session: SegmentSession) -> hpo.Trial:
    return hpo.Trial(
        session=session, sweep_id="s", trial_id="t0001", params={}, config={}, seed=0, rung=0,
        target_step=100, max_steps=100,
    )  # fmt: skip


def supervised(session: SegmentSession, train: Any) -> tuple[list[Any], float]:
    """Run `train(trial)` as the training activity does (heartbeating, in this thread); the
    heartbeats it sent and how long it ran."""
    environment = ActivityEnvironment()
    beats: list[Any] = []
    environment.on_heartbeat = lambda *details: beats.append(details[0])

    def activity() -> Any:
        with session.heartbeating(every=0.2):
            return train(make_trial(session))

    started = time.monotonic()
    try:
        environment.run(activity)
    finally:
        elapsed = time.monotonic() - started
    return beats, elapsed


def test_a_function_sleeping_in_the_main_thread_is_ended_as_hung(tmp_path):
    session = make_session(tmp_path)

    def train(trial: hpo.Trial) -> None:
        trial.report(3, loss=0.5)
        time.sleep(3600)  # a blocking call: the signal wakes it

    with pytest.raises(TrialHung):
        supervised(session, train)
    assert session.hang is not None and session.hang.step == 3 and session.hang.count == 1
    # Its last heartbeat carries the hang, for the retry to count it.
    assert session.details().hangs == 1


def test_reports_without_a_new_step_are_no_progress_and_new_steps_are(tmp_path):
    session = make_session(tmp_path)

    def spinning(trial: hpo.Trial) -> None:
        while True:  # an except-Exception retry loop around a stuck loader, reporting the same step
            try:
                trial.report(1, loss=0.5)
                time.sleep(0.01)
            except Exception:
                pass

    started = time.monotonic()
    with pytest.raises(TrialHung):
        supervised(session, spinning)
    assert TIMEOUT <= time.monotonic() - started < TIMEOUT + 1.5

    session = make_session(tmp_path)

    def training(trial: hpo.Trial) -> dict[str, float]:
        for step in range(1, 31):  # 3 s, five timeouts long, one step every 0.1 s
            time.sleep(0.1)
            trial.report(step, loss=1.0 / step)
        return {"loss": 0.1}

    beats, _ = supervised(session, training)
    assert session.hang is None
    assert beats and beats[-1]["hangs"] == 0 and beats[-1]["step"] >= 25


def test_a_function_in_another_thread_is_interrupted_at_its_next_bytecode(tmp_path):
    session = make_session(tmp_path)
    raised: list[BaseException] = []

    def in_thread() -> None:
        def train(trial: hpo.Trial) -> None:
            trial.report(2, loss=0.5)
            while True:
                time.sleep(0.05)

        try:
            supervised(session, train)
        except BaseException as error:
            raised.append(error)

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join(TIMEOUT + 5)
    assert not thread.is_alive(), "the hung function was not interrupted"
    assert len(raised) == 1 and isinstance(raised[0], TrialHung)
    assert session.hang is not None and session.hang.step == 2


def test_an_interrupt_waits_for_hpos_own_exchange_with_the_worker_to_finish():
    from hpo.activities.interrupt import Interrupter

    finished = []
    with Interrupter() as interrupter:
        threading.Timer(0.2, interrupter.interrupt).start()
        with pytest.raises(TrialHung), interrupter.shielded():
            time.sleep(0.6)  # woken by the signal, which only notes the interrupt
            finished.append(True)
    assert finished == [True]
    assert not interrupter.interrupt()  # disarmed: the training has ended


def test_a_hung_command_is_ended_with_its_whole_process_group(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(
        textwrap.dedent(
            """
            import os, subprocess, sys, time
            helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
            open(os.environ["PIDS"], "w").write(f"{os.getpid()} {helper.pid}")
            print('hpo:report {"step": 4, "loss": 0.5}', flush=True)
            print("waiting for the other ranks...", flush=True)
            time.sleep(3600)
            """
        )
    )
    pids = tmp_path / "pids"
    os.environ["PIDS"] = str(pids)
    try:
        # PIDS reaches the command only because task.env asks for it (an allow-listed environment).
        task = CommandTask([sys.executable, "train.py"], code, stop_grace_s=5, env=["PIDS"])
        session = make_session(tmp_path)
        with pytest.raises(TrialHung):
            supervised(session, task.train)
    finally:
        del os.environ["PIDS"]
    assert session.hang is not None and session.hang.step == 4  # a log line is not progress
    # The command and the helper it started: both killed (gone, or a zombie nobody reaped yet).
    for pid in map(int, pids.read_text().split()):
        assert _dead(pid), pid


def _dead(pid: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_the_hang_count_carries_over_from_earlier_attempts(tmp_path):
    session = make_session(tmp_path, AttemptHistory(segment_start_step=0, attempts=1, hangs=1))

    def train(trial: hpo.Trial) -> None:
        time.sleep(3600)

    with pytest.raises(TrialHung):
        supervised(session, train)
    assert session.hang is not None and session.hang.count == 2
    assert session.hang.final(attempt=2, max_attempts=8)  # max_hangs=2
    final = session.final_details()
    assert final.hangs == 2 and final.ended is True
    # Nothing kept of an attempt that made no step: all its time is lost.
    assert final.lost_seconds == pytest.approx(final.attempt_seconds, abs=1e-3)
    assert final.lost_seconds >= TIMEOUT


def _stubborn_trial_process(scratch: str) -> None:
    """A trial process whose training swallows the interrupt and blocks on (a NCCL wait, say)."""
    import hpo.activities.interrupt as interrupt

    interrupt.ESCALATE_AFTER_S = 0.5

    def train(trial: hpo.Trial) -> None:
        while True:
            try:
                time.sleep(3600)
            except BaseException:
                pass

    supervised(make_session(Path(scratch)), train)


def test_training_that_will_not_stop_ends_its_trial_process(tmp_path):
    import multiprocessing

    from hpo.activities.interrupt import EXIT_HUNG

    process = multiprocessing.get_context("spawn").Process(
        target=_stubborn_trial_process, args=(str(tmp_path),)
    )
    process.start()
    process.join(30)
    assert process.exitcode == EXIT_HUNG
