"""Chaos (issue 9): one seeded random-search sweep of 8 tiny trials runs twice on the embedded
stack, clean and under faults at seeded random moments: the training worker SIGKILLed three
times and SIGTERMed once, the sweep worker SIGKILLed once, the S3 server frozen for 20 s, the
whole stack stopped and started again on its state. Both complete with the same trials, each
once, identical params and metrics (within 1e-6); the extra compute is printed.

The scenario lives in bench/chaos.py (scripts/chaos.sh runs it on MiniLM). Its own module and
its own stack: it kills and restarts every process of the stack, which a shared stack's
other tests must not see.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hpo.contracts.settings import Settings
from hpo.contracts.spec import SweepSpec, parse_spec
from hpo.workers.stack import EmbeddedStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TRAINER = ROOT / "tests" / "fixtures" / "chaos"  # chaos_trainer.py: exact resume, paced steps
MAX_STEPS = 40
SEED = 5  # the fault schedule's; the spec has its own


def _load_scenario():
    """bench/chaos.py (bench/ holds scripts, not a package)."""
    name = "hpo_bench_chaos"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "chaos.py")
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def chaos_spec(tally: Path) -> SweepSpec:
    return parse_spec(
        {
            "name": "chaos",
            "task": {
                "entrypoint": "chaos_trainer:train",
                "code": str(TRAINER),
                "config": {"step_seconds": 0.1, "tally": str(tally)},
            },
            "space": {
                "lr": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
                "momentum": {"type": "float", "low": 0.5, "high": 0.95},
                "dropout": {"type": "float", "low": 0.0, "high": 0.3},
                "hidden": {"type": "categorical", "choices": [8, 16, 32]},
            },
            "algorithm": "random",
            "trials": 8,
            "max_concurrent": 2,
            "objective": {"metric": "val_loss", "mode": "min"},
            "seed": 11,
            # Checkpoints every 5 steps (half a second) so a kill loses little; a short
            # heartbeat timeout so a SIGKILLed segment is retried within seconds.
            "training": {"max_steps": MAX_STEPS, "checkpoint_every": 5, "heartbeat_timeout_s": 5},
        }
    )


def steps_trained(tally: Path, sweep_id: str) -> Counter[str]:
    """Steps each trial trained (retrained ones included), from the trainer's tally files."""
    return Counter(
        {
            path.name.removeprefix(f"{sweep_id}."): len(path.read_text().split())
            for path in tally.glob(f"{sweep_id}.t*")
        }
    )


@dataclass
class Outcome:
    report: Any  # bench/chaos.py's Report
    spec: SweepSpec
    clean_steps: Counter[str]
    faulty_steps: Counter[str]


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Outcome:
    """The scenario, once for this module's tests: its own stack, which it kills and restarts."""
    chaos = _load_scenario()
    root = tmp_path_factory.mktemp("chaos")
    tally, work = root / "tally", root / "runs"
    tally.mkdir()
    work.mkdir()
    spec = chaos_spec(tally)
    stack = EmbeddedStack.for_home(root / "stack", Settings(), ephemeral_ports=True)
    try:
        stack.start()
        report = chaos.chaos(stack, spec, work, SEED)
    finally:
        stack.stop()
    result = Outcome(
        report,
        spec,
        steps_trained(tally, report.clean.sweep_id),
        steps_trained(tally, report.faulty.sweep_id),
    )
    clean, faulty = sum(result.clean_steps.values()), sum(result.faulty_steps.values())
    lines = [
        *chaos.report_lines(report),
        f"steps trained: clean {clean}, faulty {faulty} ({faulty - clean} retrained after faults; "
        f"per trial {dict(sorted(result.faulty_steps.items()))})",
    ]
    # Past pytest's output capture: the faults and the extra compute belong in every CI log.
    with pytestconfig.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n" + "\n".join(lines), flush=True)
    return result


def test_sweep_under_faults_ends_as_the_clean_run(outcome):
    chaos, report = _load_scenario(), outcome.report
    assert report.differences == []
    # Every fault was injected, in the planned order, each checked to have happened.
    assert [fault.kind for fault in report.faulty.injected] == [fault.kind for fault in report.planned]
    assert Counter(fault.kind for fault in report.faulty.injected) == Counter(chaos.FAULTS)
    # The clean run trained every step of every trial once: the tally counts truly. The faults
    # made the faulty run train some steps again (after the kills), never fewer.
    trials = [trial.trial_id for trial in report.clean.status.trials]
    assert outcome.clean_steps == Counter({trial: MAX_STEPS for trial in trials})
    assert set(outcome.faulty_steps) == set(trials)
    assert all(outcome.faulty_steps[t] >= MAX_STEPS for t in trials), outcome.faulty_steps
    assert sum(outcome.faulty_steps.values()) > sum(outcome.clean_steps.values())


def test_the_ledger_counts_every_fault(outcome):
    """Each SIGKILL of the training worker hit a segment mid-run (the scenario waits for a
    checkpoint with steps still to go): a retry each. The SIGTERM and the stack's stop are
    preemptions, not failures. A killed attempt held its slot until its retry was scheduled,
    at least the heartbeat timeout past its last heartbeat, none of it kept: lost."""
    chaos = _load_scenario()
    clean = chaos.Compute.of(outcome.report.clean.status)
    faulty = chaos.Compute.of(outcome.report.faulty.status)
    assert clean.lost_s == 0 and clean.attempts == outcome.spec.trials
    assert clean.retries == clean.preemptions == 0
    kills = sum(fault.kind == chaos.KILL_TRAINING for fault in outcome.report.faulty.injected)
    assert faulty.retries >= kills, faulty
    assert faulty.preemptions >= 2, faulty
    assert faulty.accelerator_s > clean.accelerator_s, (clean, faulty)
    assert faulty.lost_s >= kills * outcome.spec.training.heartbeat_timeout_s, faulty
    # Per trial: a trial that trained steps again lost an execution to a kill (a preempted one
    # checkpoints where it stops), and its ledger must say so, whatever ran before that kill.
    for trial in outcome.report.faulty.status.trials:
        retrained = outcome.faulty_steps[trial.trial_id] - MAX_STEPS
        if retrained > 0:
            assert trial.retries >= 1, (trial.trial_id, retrained, trial.train)
