"""Segment curves merge into one learning curve per trial: later rungs and retries win."""

from hpo.storage.curves import curve_key, merge_curves


def test_later_segments_and_retries_override_earlier_steps():
    first = '{"step": 1, "loss": 1.0}\n{"step": 2, "loss": 0.9}\n{"step": 3, "loss": 0.8}\n'
    retry = '{"step": 3, "loss": 0.7}\n{"step": 4, "loss": 0.6}\n'  # resumed from step 2's checkpoint
    promoted = '{"step": 5, "loss": 0.5}\n'
    documents = [
        (curve_key("t", 1, 4), promoted),
        (curve_key("t", 0, 2), retry),
        (curve_key("t", 0, 0), first),
    ]
    rows = merge_curves(documents)
    assert [row["step"] for row in rows] == [1, 2, 3, 4, 5]
    assert [row["loss"] for row in rows] == [1.0, 0.9, 0.7, 0.6, 0.5]
    assert curve_key("trials/s/t0001", 2, 40) == "trials/s/t0001/curve/r2-000000040.jsonl"
