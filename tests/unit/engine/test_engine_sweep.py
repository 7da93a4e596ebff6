"""The engine runs whole sweeps with no server: trials, the ladder, the table, the record."""

from __future__ import annotations

from engine_driver import make_spec, result_of, run_to_the_end

from hpo.contracts.messages import ControlRequest
from hpo.engine.core import SweepEngine
from hpo.engine.trial_table import fold, full_status


def test_random_sweep_runs_every_trial_and_finishes():
    engine = SweepEngine.start(make_spec(trials=5), scope="s1", now=0.0)
    run_to_the_end(engine)
    state = engine.state
    assert state.finished and not state.stopping and engine.over and not engine.stalled()
    assert state.trials_created == 5
    assert state.counts == {"completed": 5}
    assert state.totals.segments == 5 and state.totals.seconds == 50.0 and state.totals.steps == 5 * 90


def test_asha_promotes_from_the_checkpoint_and_stops_the_rest():
    spec = make_spec(algorithm={"name": "asha", "eta": 3, "min_fidelity": 10}, trials=9, max_concurrent=3)
    engine = SweepEngine.start(spec, scope="s1", now=0.0)
    run_to_the_end(engine)
    table = engine.state.table
    top = [t for t in table.values() if t.rung == 2]
    assert top, "the best trial reaches the top rung"
    promoted = [t for t in table.values() if len(t.segments) > 1]
    # A promotion resumes where the lower rung ended: its segment starts at that rung's step.
    for trial in promoted:
        assert [s.resumed_from_step for s in trial.segments][1:] == [s.step for s in trial.segments][:-1]
    assert engine.state.counts.get("stopped", 0) > 0
    assert sum(engine.state.counts.values()) == 9


def test_the_record_folds_into_the_same_table_the_engine_shows():
    spec = make_spec(algorithm={"name": "asha", "eta": 3, "min_fidelity": 10}, trials=9, max_concurrent=3)
    engine = SweepEngine.start(spec, scope="s1", now=0.0)
    events = []
    running = []
    now = 0.0
    while True:
        running.extend(engine.starts(now))
        batch = engine.take_batch("sw")
        if batch is not None:
            events.extend(batch.events)
            engine.written()
        if engine.over:
            break
        now += 1
        start = running.pop(0)
        engine.on_result(
            result_of(
                engine,
                start,
                1.0 / (1 + int(start.trial_id[1:])),
                start_step=engine.state.reached.get(start.trial_id, 0),
            ),
            now,
        )
    live = engine.status("sw")
    assert fold(events) == {t.trial_id: t for t in live.trials}
    whole = full_status(engine.status("sw", slim=True), events)
    assert whole.trials == live.trials
    assert whole.counts == live.counts and whole.money == live.money


def test_a_failed_promotion_keeps_the_lower_rung_result():
    spec = make_spec(algorithm={"name": "asha", "eta": 3, "min_fidelity": 10}, trials=3, max_concurrent=3)
    engine = SweepEngine.start(spec, scope="s1", now=0.0)
    starts = engine.starts(0.0)
    for i, start in enumerate(starts):
        engine.on_result(result_of(engine, start, float(i)), 1.0)
    (promotion,) = engine.starts(1.0)
    assert promotion.rung == 1
    engine.on_result(result_of(engine, promotion, None, status="failed", start_step=10), 2.0)
    trial = engine.state.table[promotion.trial_id]
    assert trial.status == "failed" and trial.objective == 0.0 and trial.rung == 0
    assert len(trial.segments) == 2 and trial.segments[-1].status == "failed"


def test_a_result_for_a_segment_not_running_is_ignored():
    engine = SweepEngine.start(make_spec(), scope="s1", now=0.0)
    (first, _) = engine.starts(0.0)
    engine.on_result(result_of(engine, first, 0.5), 1.0)
    again = engine.on_result(result_of(engine, first, 0.5), 2.0)
    assert again is not None and "not running" in again
    assert engine.state.counts["completed"] == 1


def test_extending_a_finished_sweep_adds_trials_with_new_ids():
    engine = SweepEngine.start(make_spec(trials=3), scope="s1", now=0.0)
    run_to_the_end(engine)
    carried = engine.carry()
    again = SweepEngine.resume(carried)
    message = again.reopened(ControlRequest(action="extend", trials=5))
    assert message == "extended: trials 3 → 5"
    assert not again.state.finished
    run_to_the_end(again, now=100.0)
    assert again.state.trials_created == 5 and again.state.finished
    assert sorted(again.state.table) == ["t0000", "t0001", "t0002", "t0003", "t0004"]
    assert again.state.runs == 2
