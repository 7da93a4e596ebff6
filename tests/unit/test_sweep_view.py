"""A live sweep's answer laid over its record (hpo.engine.trial_table.full_status) shows the table the
engine itself shows: no finished segment counted twice, mid-sweep and at the end."""

from __future__ import annotations

from hpo.contracts.messages import SweepStatus, TrainResult, TrialEvent, TrialResult
from hpo.contracts.spec import parse_spec
from hpo.engine.core import StartSegment, SweepEngine
from hpo.engine.targets import segment_target
from hpo.engine.trial_table import full_status

SPEC = parse_spec(
    {
        "name": "view",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True}},
        "algorithm": {"name": "asha", "eta": 2, "min_fidelity": 10},
        "trials": 6,
        "max_concurrent": 2,
        "seed": 0,
        "training": {"max_steps": 40},
        "objective": {"metric": "loss", "mode": "min"},
    }
)


def _result(engine: SweepEngine, start: StartSegment) -> TrialResult:
    target = segment_target(engine.state.spec, start.fidelity) or 0
    return TrialResult(
        trial_id=start.trial_id,
        params=start.params,
        status="completed",
        rung=start.rung,
        objective=abs(float(start.params["lr"]) - 0.01) + 1.0 / (1 + start.rung),
        train=TrainResult(
            step=target, train_seconds=10.0, start_step=engine.state.reached.get(start.trial_id, 0)
        ),
    )


def _same(whole: SweepStatus, live: SweepStatus) -> None:
    assert whole.trials == live.trials
    assert whole.train_seconds == live.train_seconds
    assert whole.counts == live.counts and whole.best_trial_id == live.best_trial_id
    assert whole.money == live.money


def test_the_live_answer_over_the_record_is_the_engines_own_table_at_every_step():
    engine = SweepEngine.start(SPEC, scope="s1", now=0.0)
    recorded: list[TrialEvent] = []
    running: list[StartSegment] = []
    now, promoted_while_running = 0.0, False
    while not engine.over:
        running.extend(engine.starts(now))
        # Every other piece stays in flight while the sweep answers: its events are the
        # answer's `unrecorded`, the record holds the pieces before it.
        batch = engine.take_batch("sw")
        live = engine.status("sw")
        _same(full_status(live, recorded), live)
        if batch is not None:
            recorded.extend(batch.events)
            engine.written()
        live = engine.status("sw")
        _same(full_status(live, recorded), live)
        promoted_while_running |= any(t.status == "running" and len(t.segments) > 1 for t in live.trials)
        if not running:
            continue
        now += 1.0
        engine.on_result(_result(engine, running.pop(0)), now)
    assert promoted_while_running, "no promotion was running when the sweep answered"
    final = engine.status("sw")
    assert final.train_seconds == 10.0 * sum(len(t.segments) for t in final.trials)
    _same(full_status(final, recorded), final)
