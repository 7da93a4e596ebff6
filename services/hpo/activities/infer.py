"""Inference activity: labels and probabilities for texts, from a trial's checkpoint."""

from __future__ import annotations

import tempfile
from pathlib import Path

from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.messages import Prediction, PredictRequest, PredictResult
from hpo.tasks import text_classification as tc


class InferenceActivities(ActivityBase):
    @activity.defn(name="predict_texts")
    @fail_fast_on_permanent_errors
    def predict_texts(self, request: PredictRequest) -> PredictResult:
        model_path = tc.resolve_model_path(request.model.source)
        hp = tc.Hyperparameters.from_params(request.params)
        layers = tc.effective_layers(model_path, request.model.num_hidden_layers, hp.layers)
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.cache_dir) as scratch:
            files, meta = self.checkpoints.load(request.checkpoint_key, Path(scratch))
            model = tc.load_weights(model_path, layers, len(request.label_names), files["model.safetensors"])
        probabilities = tc.predict(model, tc.load_tokenizer(model_path), request.texts, request.max_length)
        predictions = []
        for text, row in zip(request.texts, probabilities, strict=True):
            best = max(range(len(row)), key=row.__getitem__)
            predictions.append(
                Prediction(
                    text=text,
                    label=request.label_names[best],
                    probabilities=dict(zip(request.label_names, row, strict=True)),
                )
            )
        return PredictResult(trial_id=str(meta["trial_id"]), predictions=predictions)
