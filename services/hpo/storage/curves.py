"""Learning curves: what `trial.report` recorded, one JSON-lines object per segment attempt.

Training writes `trials/SWEEP/SCOPE/TRIAL/curve/r{rung}-{start_step:09d}.jsonl` beside the
checkpoints (never into workflow history); readers merge them into one curve per trial, a
later rung or retry overriding the steps an earlier attempt also reported.
"""

from __future__ import annotations

import json
from typing import Any

from hpo.storage.checkpoints import trial_prefix
from hpo.storage.s3 import ObjectStore


def curve_key(trial: str, rung: int, start_step: int) -> str:
    return f"{trial}/curve/r{rung}-{start_step:09d}.jsonl"


def merge_curves(documents: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """(key, JSON-lines text) pairs -> one row per step, ordered by step; later keys win."""
    by_step: dict[int, dict[str, Any]] = {}
    for _, text in sorted(documents, key=lambda item: _order(item[0])):
        for line in text.splitlines():
            if line.strip():
                row = json.loads(line)
                by_step[int(row["step"])] = row
    return [by_step[step] for step in sorted(by_step)]


def _order(key: str) -> tuple[int, int]:
    name = key.rsplit("/", 1)[-1].removesuffix(".jsonl")  # r{rung}-{start}
    rung, _, start = name.removeprefix("r").partition("-")
    return int(rung), int(start)


def read_curve(
    store: ObjectStore, sweep_id: str, trial_id: str, scope: str | None = None
) -> list[dict[str, Any]]:
    """A trial's merged learning curve: rows {"step", "time", <reported metrics>...}. `scope`
    is the run's (SweepStatus.scope): a reused sweep id's earlier run has curves of its own."""
    keys = store.list_keys(f"{trial_prefix(sweep_id, trial_id, scope)}/curve/")
    return merge_curves([(key, store.get_bytes(key).decode()) for key in keys if key.endswith(".jsonl")])
