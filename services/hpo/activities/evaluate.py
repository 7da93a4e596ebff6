"""Evaluation activity: validation metrics (the objective) and test metrics of a checkpoint."""

from __future__ import annotations

import functools
import time

from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.activities.snapshot import load_split
from hpo.messages import EvalRequest, EvalResult, Metrics
from hpo.tasks import text_classification as tc


class EvaluationActivities(ActivityBase):
    @activity.defn(name="evaluate_trial")
    @fail_fast_on_permanent_errors
    def evaluate_trial(self, request: EvalRequest) -> EvalResult:
        started = time.monotonic()
        model, _, _ = self.load_trained_model(
            request.model, request.params, len(request.snapshot.label_names), request.checkpoint_key
        )
        metrics = {}
        for split in ("validation", "test"):
            data = load_split(self.store, request.snapshot, split)
            # A heartbeat per batch: a large validation set must not look like a dead worker.
            scores = tc.evaluate(
                model, data, request.batch_size, on_batch=functools.partial(activity.heartbeat, split)
            )
            metrics[split] = Metrics(**scores)
        return EvalResult(**metrics, seconds=time.monotonic() - started)
