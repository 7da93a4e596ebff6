"""Evaluation activity: validation metrics (the objective) and test metrics of a checkpoint."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

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
        model = self._load_model(request)
        metrics = {}
        for split in ("validation", "test"):
            data = load_split(self.store, request.snapshot, split)
            metrics[split] = Metrics(**tc.evaluate(model, data, request.batch_size))
            activity.heartbeat({"split": split})
        return EvalResult(**metrics, seconds=time.monotonic() - started)

    def _load_model(self, request: EvalRequest):  # type: ignore[no-untyped-def]
        model_path = tc.resolve_model_path(request.model.source)
        hp = tc.Hyperparameters.from_params(request.params)
        layers = tc.effective_layers(model_path, request.model.num_hidden_layers, hp.layers)
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.cache_dir) as scratch:
            files, _ = self.checkpoints.load(request.checkpoint_key, Path(scratch))
            return tc.load_weights(
                model_path, layers, len(request.snapshot.label_names), files["model.safetensors"]
            )
