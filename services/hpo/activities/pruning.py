"""The pruner a training segment consults (spec `pruner`): its own curve against the curves
the sweep's other trials have written to S3, judged by hpo.search.pruning's rule.

Other trials' curves are read from `trials/SWEEP/SCOPE/*/curve/` at most every REFRESH_S
seconds, and a curve file is read again only when its size changed; while a pruner is set,
each segment writes its curve every CURVE_EVERY_S seconds (not only at its checkpoints), so
the others judge against recent values.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hpo.contracts.spec import PrunerSpec
from hpo.search.pruning import Curve, PruningRule, decide
from hpo.storage.curves import merge_curves
from hpo.storage.s3 import ObjectStore

REFRESH_S = 5.0
CURVE_EVERY_S = 5.0


def rule_of(spec: PrunerSpec, metric: str, mode: str) -> PruningRule:
    """The spec's pruner as the pure rule (the same fields, plus what it judges: the sweep's
    objective metric and mode). A spec field the rule lacks fails here, not silently."""
    return PruningRule(metric=metric, mode=mode, **spec.model_dump())  # type: ignore[arg-type]


def curve_of(rows: list[dict[str, Any]], metric: str) -> list[tuple[int, float]]:
    """(step, value) of `metric` from curve rows, steps ascending; rows without it left out."""
    points = []
    for row in rows:
        value = row.get(metric)
        if isinstance(value, int | float) and not isinstance(value, bool):
            points.append((int(row["step"]), float(value)))
    return sorted(points)


class CurvePruner:
    def __init__(self, rule: PruningRule, store: ObjectStore, trial_prefix: str) -> None:
        self.rule = rule
        self.store = store
        self.trial_prefix = trial_prefix.rstrip("/")
        self.sweep_prefix = self.trial_prefix.rsplit("/", 1)[0] + "/"
        self._files: dict[str, tuple[int, str]] = {}  # key -> (size, text)
        self._others: list[Curve] = []
        self._read_at = -math.inf

    def decide(self, own_rows: list[dict[str, Any]]) -> str | None:
        """Why this trial must stop now, or None."""
        own = curve_of(own_rows, self.rule.metric)
        if not own:
            return None
        reason = decide(self.rule, own, self.others())
        return f"{reason} (pruner {self.rule.name})" if reason is not None else None

    def others(self) -> list[Curve]:
        now = time.monotonic()
        if now - self._read_at >= REFRESH_S:
            self._read_at = now
            self._others = self._read()
        return self._others

    def _read(self) -> list[Curve]:
        sizes = self.store.list_sizes(self.sweep_prefix)
        by_trial: dict[str, list[tuple[str, str]]] = {}
        for key, size in sizes.items():
            if "/curve/" not in key or not key.endswith(".jsonl") or key.startswith(self.trial_prefix + "/"):
                continue
            cached = self._files.get(key)
            if cached is None or cached[0] != size:
                cached = (size, self.store.get_bytes(key).decode())
                self._files[key] = cached
            by_trial.setdefault(key.split("/curve/")[0], []).append((key, cached[1]))
        curves = []
        for documents in by_trial.values():
            try:
                curves.append(curve_of(merge_curves(documents), self.rule.metric))
            except (ValueError, KeyError):  # a damaged curve judges nobody
                continue
        return [c for c in curves if c]
