"""The trial table's folds: the slim one the end of a sweep uses keeps what the full one keeps."""

from __future__ import annotations

from hpo.contracts.messages import TrainResult, TrialEvent, TrialResult
from hpo.engine.trial_table import fold, kept_checkpoints


def _result(
    trial_id: str, status: str, objective: float | None, key: str | None, rung: int = 0
) -> TrialResult:
    return TrialResult(
        trial_id=trial_id,
        params={"lr": 0.1},
        status=status,  # type: ignore[arg-type]
        rung=rung,
        objective=objective,
        train=TrainResult(step=10 * (rung + 1), checkpoint_key=key),
    )


def _events() -> list[TrialEvent]:
    return [
        TrialEvent(
            trial_id="t1",
            status="completed",
            params={"lr": 0.1},
            result=_result("t1", "completed", 0.5, "k1"),
        ),
        TrialEvent(
            trial_id="t2",
            status="completed",
            params={"lr": 0.2},
            result=_result("t2", "completed", 0.7, "k2"),
        ),
        TrialEvent(
            trial_id="t3", status="failed", params={"lr": 0.3}, result=_result("t3", "failed", None, "k3")
        ),
        # t1's promotion fails: the trial keeps the lower rung's result, and that checkpoint.
        TrialEvent(trial_id="t1", status="failed", result=_result("t1", "failed", None, "k1-r1", rung=1)),
        # t2 is stopped by the ladder between rungs (no segment, no result).
        TrialEvent(trial_id="t2", status="stopped"),
        # t4's promotion completes: the newer checkpoint is the one its score came from.
        TrialEvent(
            trial_id="t4",
            status="completed",
            params={"lr": 0.4},
            result=_result("t4", "completed", 0.9, "k4"),
        ),
        TrialEvent(
            trial_id="t4", status="completed", result=_result("t4", "completed", 0.3, "k4-r1", rung=1)
        ),
    ]


def test_kept_checkpoints_are_the_scored_ones():
    # t1 ended failed (its failed promotion), so retention leaves its checkpoints alone.
    assert kept_checkpoints(_events()) == {"t2": "k2", "t4": "k4-r1"}


def test_kept_checkpoints_agree_with_the_full_fold():
    whole = fold(_events())
    expected = {
        t.trial_id: t.train.checkpoint_key
        for t in whole.values()
        if t.status in ("completed", "stopped") and t.train and t.train.checkpoint_key
    }
    assert kept_checkpoints(_events()) == expected
    assert whole["t1"].train.checkpoint_key == "k1"  # the full fold keeps the lower rung's too
