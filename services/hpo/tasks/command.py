"""Command trials: any program in any framework or language, run once per training segment.

hpo runs `task.command` as given (no shell) in `task.code`'s directory (the worker's current
directory when unset), in its own process group, killed if the worker dies.

Environment: an allow-list of the worker's (PATH, HOME, locale, TMPDIR, PYTHON*, CUDA_*,
NVIDIA_*, OMP_*, TORCH_*, HF_* and the like; never the worker's HPO_* settings, AWS_* or any
name with TOKEN, SECRET, PASSWORD or KEY in it: see tasks/command_env.py), the worker's
variables named by task.env, and

    HPO_PARAMS           JSON object of this trial's hyperparameters
    HPO_CONFIG           JSON object of task.config
    HPO_TRIAL_ID         e.g. t0001
    HPO_SWEEP_ID
    HPO_SEED             the trial's seed: the same on every attempt and rung
    HPO_RUNG             rung of the ladder this segment trains to (0 without early stopping)
    HPO_START_STEP       step of the checkpoint this segment resumes from; 0 on a fresh start
    HPO_TARGET_STEP      train until this step, then print the result and exit
    HPO_MAX_STEPS        the full budget in steps (for schedules)
    HPO_EPOCHS           the full budget in epochs, when the spec gives training.epochs
    HPO_CHECKPOINT_EVERY how often the spec asks for a checkpoint, in steps (a hint)
    HPO_CHECKPOINT_DIR   a writable directory for checkpoint files; on a resume it already
                         holds the files of the checkpoint at HPO_START_STEP
    PYTHONUNBUFFERED=1

(HPO_TARGET_STEP, HPO_MAX_STEPS, HPO_EPOCHS and HPO_CHECKPOINT_EVERY are empty strings when
unset: the budget is in steps or in epochs, never both.)

The command talks to hpo with lines on stdout (stderr is merged into it; flush each line):

    hpo:report {"step": 5, "loss": 0.3}    metrics at a step: the learning curve
    hpo:checkpoint {"step": 5}             after writing the files into HPO_CHECKPOINT_DIR:
                                           hpo pauses the process (SIGSTOP) as soon as it reads
                                           the line, copies the directory as the checkpoint at
                                           that step, and resumes it (SIGCONT)
    hpo:result {"accuracy": 0.9}           the segment's validation metrics (the last one wins);
    hpo:result {"validation": {...}, "test": {...}}   with test metrics for the leaderboard

Every other line is logged, at most LOG_PER_S lines a second (a count of the rest is logged
instead). A malformed `hpo:` line fails the trial, and so does a metric that is not a finite
number (NaN, Infinity: the training diverged?). A line longer than MAX_LINE_CHARS is cut there
(a cut `hpo:` line is malformed); the failure message shows the last TAIL_LINES lines of the
output, each cut at TAIL_LINE_CHARS, so neither the trial process nor the message grows with
the output.

Stopping: when the worker stops (scale-in, cancellation), hpo sends SIGTERM to the process
group; the command should write a checkpoint, print `hpo:checkpoint`, and exit. After
training.stop_grace_s seconds it is killed (SIGKILL); the trial resumes from its newest
checkpoint elsewhere.

Exit: 0 after printing `hpo:result`. A non-zero exit fails the trial with the output's tail;
death by a signal hpo did not send (e.g. the out-of-memory killer) retries the attempt from
the last checkpoint.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import os
import queue
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from hpo.proc import die_with_parent
from hpo.storage.checkpoint_files import checkpoint_files
from hpo.tasks.command_env import command_environment
from hpo.trial import Result, RetryableTrialError, Trial, TrialError

log = logging.getLogger("hpo.trial")

PREFIX = "hpo:"
USAGE = {
    "report": 'hpo:report {"step": 5, "loss": 0.3}',
    "checkpoint": 'hpo:checkpoint {"step": 5}',
    "result": 'hpo:result {"accuracy": 0.9} or hpo:result {"validation": {...}, "test": {...}}',
}
POLL_S = 0.5  # how often a silent command is checked for a stop request
DRAIN_S = 5.0  # how long leftovers of an exited command may keep its stdout open
TAIL_LINES = 20
TAIL_LINE_CHARS = 500  # of each line kept for the failure message (and logged)
MAX_LINE_CHARS = 256 * 1024  # read of one line; the rest of a longer line is skipped
LOG_PER_S = 200  # lines logged per second at most
QUEUED_LINES = 1024  # between the reader and the handler: a command that outruns hpo waits


class CommandTask:
    """`task.command`: `train` runs the command for one segment of a trial."""

    def __init__(
        self, command: list[str], code_dir: Path | None, stop_grace_s: float, env: list[str] | None = None
    ) -> None:
        self.command = list(command)
        self.code_dir = code_dir
        self.stop_grace_s = stop_grace_s
        self.env = list(env or [])  # task.env: the worker's variables it asks for by name

    def train(self, trial: Trial) -> Result | dict[str, float]:
        # The session's scratch is removed after the segment; trial.py offers no public handle.
        workdir = Path(tempfile.mkdtemp(prefix="command-checkpoint-", dir=trial._session.scratch))
        try:
            restored = trial.restored_dir()
            if restored is not None:
                shutil.copytree(restored, workdir, dirs_exist_ok=True)
            return _Run(self, trial, workdir).run()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


class _Run:
    """One process for one segment: its output, its signals, its outcome."""

    def __init__(self, task: CommandTask, trial: Trial, workdir: Path) -> None:
        self.task = task
        self.trial = trial
        self.workdir = workdir
        self.label = shlex.join(task.command)
        self.output: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.log_window = (0.0, 0, 0)  # (second it started, lines logged, lines not logged)
        self.result: Result | dict[str, float] | None = None
        self.stop_deadline: float | None = None  # set once SIGTERM was sent
        self.pid: int | None = None  # of the command, the leader of its process group

    def run(self) -> Result | dict[str, float]:
        cwd = self.task.code_dir if self.task.code_dir is not None else Path.cwd()
        try:
            process = subprocess.Popen(
                self.task.command,
                cwd=cwd,
                env=self._environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
                errors="replace",
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        except (FileNotFoundError, PermissionError, NotADirectoryError) as error:
            raise TrialError(
                f"trial {self.trial.trial_id}: cannot run the command {self.label} in {cwd}: "
                f"{error.strerror}: {error.filename}; check task.command and task.code"
            ) from None
        self.pid = process.pid
        try:
            returncode = self._follow(process)
        finally:
            self._signal(signal.SIGKILL)  # helpers it started must not outlive the segment
            process.wait()
        return self._outcome(returncode)

    def _environment(self) -> dict[str, str]:
        trial = self.trial

        def optional(value: object) -> str:
            return "" if value is None else str(value)

        contract = {
            # `python` in a command means the worker's interpreter (its virtualenv), not whatever
            # the machine's PATH finds first.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            # The worker shares its cores between concurrent trials: a command gets this trial's share.
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", str(_threads())),
            "HPO_PARAMS": json.dumps(trial.params, default=_plain),
            "HPO_CONFIG": json.dumps(trial.config, default=_plain),
            "HPO_TRIAL_ID": trial.trial_id,
            "HPO_SWEEP_ID": trial.sweep_id,
            "HPO_SEED": str(trial.seed),
            "HPO_RUNG": str(trial.rung),
            "HPO_START_STEP": str(trial.start_step),
            "HPO_TARGET_STEP": optional(trial.target_step),
            "HPO_MAX_STEPS": optional(trial.max_steps),
            "HPO_EPOCHS": optional(trial.epochs),
            "HPO_CHECKPOINT_EVERY": optional(trial.checkpoint_every),
            "HPO_CHECKPOINT_DIR": str(self.workdir),
            "PYTHONUNBUFFERED": "1",
        }
        return command_environment(os.environ, contract, self.task.env)

    def _follow(self, process: subprocess.Popen[str]) -> int:
        """Handle its output until it has exited and its stdout is closed; its exit code."""
        assert process.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue(maxsize=QUEUED_LINES)
        # A thread reads, so that a silent command still gets its stop request in time.
        threading.Thread(target=self._read, args=(process.stdout, lines), daemon=True).start()
        eof = False
        exited_at: float | None = None
        while True:
            idle = True
            if eof:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=self._poll_timeout())
            else:
                try:
                    line = lines.get(timeout=self._poll_timeout())
                except queue.Empty:
                    pass
                else:
                    idle = False
                    if line is None:  # the end of its output
                        eof = True
                    else:
                        self._handle(line)
            returncode = process.poll()
            if returncode is not None:
                if eof:
                    return returncode
                # Something it started may still hold its stdout open: kill it, read the rest.
                if exited_at is None:
                    exited_at = time.monotonic()
                    self._signal(signal.SIGKILL)
                elif idle and time.monotonic() - exited_at > DRAIN_S:
                    return returncode  # a helper in a session of its own keeps the pipe open
            elif self.stop_deadline is None and self.trial.should_stop():
                log.info("trial %s: stopping: SIGTERM to %s", self.trial.trial_id, self.label)
                self._signal(signal.SIGTERM)
                self.stop_deadline = time.monotonic() + self.task.stop_grace_s
            elif self.stop_deadline is not None and time.monotonic() >= self.stop_deadline:
                log.warning(
                    "trial %s: %s still runs %g s after SIGTERM: SIGKILL",
                    self.trial.trial_id,
                    self.label,
                    self.task.stop_grace_s,
                )
                self._signal(signal.SIGKILL)

    def _poll_timeout(self) -> float:
        if self.stop_deadline is None:
            return POLL_S
        return max(0.01, min(POLL_S, self.stop_deadline - time.monotonic()))

    def _read(self, stream: TextIO, lines: queue.Queue[str | None]) -> None:
        # This thread closes the pipe: a close from another thread would wait for this read.
        try:
            with stream:
                for line in bounded_lines(stream, MAX_LINE_CHARS):
                    if line.startswith(PREFIX + "checkpoint"):
                        # Pause at once, not when the main thread gets to the line: the files
                        # must not change between the print and the copy.
                        self._signal(signal.SIGSTOP)
                    lines.put(line)
        finally:
            lines.put(None)

    def _handle(self, line: str) -> None:
        if not line.startswith(PREFIX):
            shown = line if len(line) <= TAIL_LINE_CHARS else line[:TAIL_LINE_CHARS] + " [cut]"
            self.output.append(shown)
            self._log(shown)
            return
        verb, _, payload = line[len(PREFIX) :].partition(" ")
        if verb not in USAGE:
            raise self._malformed(line, f"unknown verb {verb!r}", ", or ".join(USAGE.values()))
        try:
            fields = json.loads(payload)
        except ValueError as error:
            raise self._malformed(line, f"not JSON ({error})", USAGE[verb]) from None
        if not isinstance(fields, dict):
            raise self._malformed(line, "not a JSON object", USAGE[verb])
        if verb == "result":
            self.result = self._parse_result(line, fields)
            return
        step = fields.pop("step", None)
        least = 1 if verb == "checkpoint" else 0
        if isinstance(step, bool) or not isinstance(step, int) or step < least:
            raise self._malformed(line, f'"step" is {step!r}, must be an integer >= {least}', USAGE[verb])
        if verb == "report":
            self._check_metrics(line, fields, verb)
            self.trial.report(step, **fields)
        else:
            self._checkpoint(step)

    def _parse_result(self, line: str, fields: dict[str, Any]) -> Result | dict[str, float]:
        if "validation" in fields:
            validation, test = fields.get("validation"), fields.get("test", {})
            if (
                set(fields) - {"validation", "test"}
                or not isinstance(validation, dict)
                or not isinstance(test, dict)
            ):
                problem = "with validation, the only keys are validation and test, both objects"
                raise self._malformed(line, problem, USAGE["result"])
            self._check_metrics(line, validation, "result")
            self._check_metrics(line, test, "result")
            return Result(validation=validation, test=test)
        self._check_metrics(line, fields, "result")
        return fields

    def _check_metrics(self, line: str, metrics: dict[str, Any], verb: str) -> None:
        for name, value in metrics.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._malformed(line, f"metric {name!r} is {_shown(value)}, not a number", USAGE[verb])
            if not _finite(value):
                problem = f"metric {name!r} is {_shown(value)}, not a finite number (the training diverged?)"
                raise self._malformed(line, problem, USAGE[verb] + " with finite numbers only")

    def _log(self, line: str) -> None:
        """Log `line` unless this second already logged LOG_PER_S lines; count those that were not."""
        now = time.monotonic()
        started, logged, dropped = self.log_window
        if now - started >= 1.0:
            if dropped:
                log.info("trial %s: (%d more lines of output not logged)", self.trial.trial_id, dropped)
            started, logged, dropped = now, 0, 0
        if logged < LOG_PER_S:
            log.info("trial %s: %s", self.trial.trial_id, line)
            logged += 1
        else:
            dropped += 1
        self.log_window = (started, logged, dropped)

    def _checkpoint(self, step: int) -> None:
        with self.trial.checkpoint_dir(step) as directory:
            self._signal(signal.SIGSTOP)  # usually paused already by the reader
            try:
                if not any(self.workdir.iterdir()):
                    raise TrialError(
                        f"trial {self.trial.trial_id}: the command printed hpo:checkpoint at step {step} "
                        f"but HPO_CHECKPOINT_DIR ({self.workdir}) is empty; write the checkpoint's files "
                        "into it before printing the line"
                    )
                # Regular files only (the process is paused: nothing changes in between): a link
                # would carry the worker's own files into S3, a FIFO would block the copy.
                checkpoint_files(self.workdir, sys.maxsize, f"trial {self.trial.trial_id} at step {step}")
                shutil.copytree(self.workdir, directory, dirs_exist_ok=True, symlinks=True)
            finally:
                # Resume before the upload (when the block ends): the copy is already consistent.
                self._signal(signal.SIGCONT)

    def _outcome(self, returncode: int) -> Result | dict[str, float]:
        trial_id = self.trial.trial_id
        if self.stop_deadline is not None:
            log.info("trial %s: %s stopped (exit code %d)", trial_id, self.label, returncode)
            return self.result if self.result is not None else {}
        if returncode > 0:
            raise TrialError(
                f"trial {trial_id}: the command {self.label} exited with code {returncode}; "
                f"its last output:\n{self._tail()}"
            )
        if returncode < 0:
            try:
                name = signal.Signals(-returncode).name
            except ValueError:
                name = f"signal {-returncode}"
            raise RetryableTrialError(
                f"trial {trial_id}: the command {self.label} was killed by {name}, not by hpo (the "
                f"out-of-memory killer?); its last output:\n{self._tail()}"
            )
        if self.result is None:
            raise TrialError(
                f"trial {trial_id}: the command {self.label} exited without printing its validation "
                'metrics; it must print a line hpo:result {"accuracy": 0.9} (any metrics) on stdout '
                f"before it exits; its last output:\n{self._tail()}"
            )
        return self.result

    def _tail(self) -> str:
        lines = list(self.output)[-TAIL_LINES:]
        return "\n".join(lines) if lines else "(no output)"

    def _malformed(self, line: str, problem: str, usage: str) -> TrialError:
        self._signal(signal.SIGKILL)
        shown = line if len(line) <= 300 else line[:300] + "..."
        return TrialError(
            f"trial {self.trial.trial_id}: the command printed {shown!r}: {problem}; it must look like {usage}"
        )

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the command's whole process group (its helpers and data loaders too)."""
        if self.pid is None:
            return  # killpg(0) would signal hpo's own group
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)


def bounded_lines(stream: TextIO, limit: int) -> Iterator[str]:
    """The stream's lines without their ends, each cut at `limit` characters: the rest of a
    longer line is read and dropped, never held."""
    while True:
        line = stream.readline(limit)
        if not line:
            return
        if not line.endswith("\n") and len(line) >= limit:
            rest = line
            while rest and not rest.endswith("\n"):
                rest = stream.readline(limit)
        yield line.rstrip("\r\n")


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _shown(value: Any) -> str:
    text = repr(value) if not isinstance(value, int) or value.bit_length() <= 64 else "a huge integer"
    return text if len(text) <= 80 else text[:77] + "..."


def _plain(value: Any) -> Any:
    """numpy scalars and the like as JSON numbers, anything else as its text."""
    item = getattr(value, "item", None)
    return item() if callable(item) else str(value)


def _threads() -> int:
    torch = sys.modules.get("torch")
    return int(torch.get_num_threads()) if torch is not None else (os.cpu_count() or 1)
