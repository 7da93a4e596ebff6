"""Steering commands, decided by the engine: each validated first, then applied."""

from __future__ import annotations

import pytest
from engine_driver import make_spec, result_of

from hpo.contracts.messages import ControlRequest
from hpo.engine.core import SweepEngine


def command(action: str, **fields: object) -> ControlRequest:
    return ControlRequest(action=action, **fields)  # type: ignore[arg-type]


def test_pause_holds_new_segments_and_resume_lets_them_start():
    engine = SweepEngine.start(make_spec(trials=4), scope="s", now=0.0)
    (a, b) = engine.starts(0.0)
    assert engine.control(command("pause")).state == "paused"
    with pytest.raises(ValueError, match="already paused"):
        engine.validate(command("pause"))
    engine.on_result(result_of(engine, a, 0.5), 1.0)
    assert engine.starts(1.0) == [], "paused: nothing new starts"
    result = engine.control(command("resume"))
    assert result.message == "resumed: 1 waiting segment(s) may start"
    assert [s.trial_id for s in engine.starts(2.0)] == ["t0002"]


def test_cancel_a_running_trial_then_a_queued_one():
    engine = SweepEngine.start(make_spec(trials=4, max_concurrent=1), scope="s", now=0.0)
    (a,) = engine.starts(0.0)
    assert engine.control(command("cancel_trial", trial_id=a.trial_id)).message.startswith("cancelling t0000")
    assert engine.cancels() == [("t0000", 0)]
    with pytest.raises(ValueError, match="already being cancelled"):
        engine.validate(command("cancel_trial", trial_id="t0000"))
    engine.on_result(result_of(engine, a, None, status="stopped"), 1.0)
    assert engine.state.table["t0000"].status == "cancelled"
    # The next trial is queued behind the slot; cancel it before it starts.
    queued = engine.state.pending[0].trial_id
    assert (
        engine.control(command("cancel_trial", trial_id=queued)).message
        == f"cancelled {queued} before it started"
    )
    assert engine.state.table[queued].status == "cancelled"
    with pytest.raises(ValueError, match=f"trial {queued} is cancelled, not running"):
        engine.validate(command("cancel_trial", trial_id=queued))
    with pytest.raises(ValueError, match="no trial 't0099'"):
        engine.validate(command("cancel_trial", trial_id="t0099"))
    assert engine.state.counts == {"cancelled": 2}


def test_a_cancel_that_arrives_as_the_segment_completes_keeps_its_result():
    engine = SweepEngine.start(make_spec(trials=2), scope="s", now=0.0)
    (a, _) = engine.starts(0.0)
    engine.control(command("cancel_trial", trial_id=a.trial_id))
    engine.on_result(result_of(engine, a, 0.25), 1.0)
    assert engine.state.table[a.trial_id].status == "completed"
    assert engine.state.table[a.trial_id].objective == 0.25


def test_extend_raises_limits_only_upwards_and_fills_the_new_slots():
    engine = SweepEngine.start(make_spec(trials=2, max_concurrent=1), scope="s", now=0.0)
    engine.starts(0.0)
    with pytest.raises(ValueError, match="trials can only grow"):
        engine.validate(command("extend", trials=1))
    with pytest.raises(ValueError, match="max_concurrent must be 1 to 10,000"):
        engine.validate(command("extend", max_concurrent=0))
    with pytest.raises(ValueError, match="extend needs at least one of"):
        engine.validate(command("extend"))
    result = engine.control(command("extend", trials=4, max_concurrent=3, max_wall_time=3600))
    assert result.message == "extended: trials 2 → 4, max_concurrent 1 → 3, max_wall_time 3600"
    assert len(engine.starts(1.0)) == 2 and len(engine.state.running) == 3
    with pytest.raises(ValueError, match="max_wall_time can only grow"):
        engine.validate(command("extend", max_wall_time=60))


def test_stop_cancels_the_running_and_drops_the_queued():
    engine = SweepEngine.start(make_spec(trials=5, max_concurrent=2), scope="s", now=0.0)
    (a, b) = engine.starts(0.0)
    result = engine.control(command("stop", reason="enough"))
    assert result.state == "stopping" and engine.state.stop_reason == "stopped by the user: enough"
    assert sorted(t for t, _ in engine.cancels()) == [a.trial_id, b.trial_id]
    assert not engine.state.pending
    with pytest.raises(ValueError, match="the sweep is stopping"):
        engine.validate(command("pause"))
    engine.on_result(result_of(engine, a, None, status="stopped"), 1.0)
    engine.on_result(result_of(engine, b, 0.5), 1.0)
    assert engine.over and not engine.stalled()
    engine.done = True
    assert engine.state_name() == "stopped"
    with pytest.raises(ValueError, match="the sweep has ended"):
        engine.validate(command("resume"))


@pytest.mark.parametrize(
    "error", [ZeroDivisionError("float division by zero"), TypeError("bad"), ValueError("no")]
)
def test_anything_the_search_core_raises_is_a_search_failure(error: Exception) -> None:
    from hpo.engine.core import SearchFailed, guarded

    def step() -> None:
        raise error

    with pytest.raises(SearchFailed) as raised:
        guarded(step)
    assert str(error) in str(raised.value) and str(raised.value).startswith("search: ")
