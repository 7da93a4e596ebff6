"""Inference activity: labels and probabilities for texts, from a trial's checkpoint."""

from __future__ import annotations

from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.messages import Prediction, PredictRequest, PredictResult
from hpo.tasks import text_classification as tc


class InferenceActivities(ActivityBase):
    @activity.defn(name="predict_texts")
    @fail_fast_on_permanent_errors
    def predict_texts(self, request: PredictRequest) -> PredictResult:
        model, model_path, meta = self.load_trained_model(
            request.model, request.params, len(request.label_names), request.checkpoint_key
        )
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
