"""Training activity: resumable, checkpointing, heartbeating.

On a retry it resumes from the checkpoint named in the last heartbeat or, failing
that, from the newest complete manifest in storage; a corrupt checkpoint is skipped
(with a warning) in favour of the one before it, never silently loaded.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import torch
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.activities.snapshot import load_split
from hpo.messages import TrainRequest, TrainResult
from hpo.storage.checkpoints import CorruptCheckpoint, MissingCheckpoint, step_of, trial_prefix
from hpo.tasks import text_classification as tc


def _last_heartbeat() -> dict[str, Any]:
    """What the previous attempt of this activity reported before it died, if anything."""
    details = activity.info().heartbeat_details
    return details[0] if details and isinstance(details[0], dict) else {}


class TrainingActivities(ActivityBase):
    @activity.defn(name="train_trial")
    @fail_fast_on_permanent_errors
    def train_trial(self, request: TrainRequest) -> TrainResult:
        started = time.monotonic()
        trial = trial_prefix(request.sweep_id, request.trial_id)
        model_path = tc.resolve_model_path(request.model.source)
        hp = tc.Hyperparameters.from_params(request.params)
        layers = tc.effective_layers(model_path, request.model.num_hidden_layers, hp.layers)
        data = load_split(self.store, request.snapshot, "train")
        run = tc.TrainingRun.create(
            model_path, layers, len(request.snapshot.label_names), hp, request.seed, request.total_steps
        )
        with self.scratch() as scratch:
            return self._train(request, run, data, trial, Path(scratch), started)

    def _train(
        self,
        request: TrainRequest,
        run: tc.TrainingRun,
        data: dict[str, torch.Tensor],
        trial: str,
        scratch: Path,
        started: float,
    ) -> TrainResult:
        previous = _last_heartbeat()
        # Accelerator time counts every attempt, including the work a crash threw away.
        spent_before = float(previous.get("seconds", 0.0))
        last_key = self._restore(run, trial, request.target_step, scratch, previous.get("checkpoint_key"))
        resumed_from = run.state.step
        if resumed_from:
            activity.logger.info(
                "trial %s resumes from step %d (%s)", request.trial_id, resumed_from, last_key
            )

        def on_step(step: int, loss: float) -> None:
            nonlocal last_key
            if step % request.checkpoint_every == 0 or step == request.target_step:
                last_key = self._checkpoint(run, trial, request, scratch)
                activity.logger.info(
                    "trial %s step %d/%d loss %.4f checkpointed",
                    request.trial_id,
                    step,
                    request.target_step,
                    loss,
                )
            activity.heartbeat(_progress(step, last_key, spent_before + time.monotonic() - started))
            if activity.is_cancelled():
                # Timed out or cancelled: a newer attempt owns this trial now; stop spending compute.
                raise CancelledError(f"trial {request.trial_id} attempt cancelled at step {step}")
            if activity.is_worker_shutdown():
                # Graceful stop (SIGTERM, scale-in): keep the work done so far, let another worker resume.
                if last_key is None or step_of(last_key) != step:
                    last_key = self._checkpoint(run, trial, request, scratch)
                    activity.heartbeat(_progress(step, last_key, spent_before + time.monotonic() - started))
                raise ApplicationError(
                    f"worker shutting down at step {step}; checkpoint saved", type="WorkerShutdown"
                )

        run.train_until(data, request.target_step, on_step)
        if last_key is None or step_of(last_key) != run.state.step:
            last_key = self._checkpoint(run, trial, request, scratch)
        return TrainResult(
            step=run.state.step,
            checkpoint_key=last_key,
            final_loss=run.state.losses[-1] if run.state.losses else float("nan"),
            resumed_from_step=resumed_from,
            train_seconds=spent_before + time.monotonic() - started,
            examples_seen=(run.state.step - resumed_from) * run.hp.batch_size,
        )

    def _checkpoint(self, run: tc.TrainingRun, trial: str, request: TrainRequest, scratch: Path) -> str:
        local = scratch / f"step-{run.state.step}"
        try:
            return self.checkpoints.save(trial, run.state.step, run.save(local), _meta(request))
        finally:
            shutil.rmtree(local, ignore_errors=True)

    def _restore(
        self, run: tc.TrainingRun, trial: str, target_step: int, scratch: Path, from_heartbeat: str | None
    ) -> str | None:
        """Load the newest usable checkpoint into `run`; returns its manifest key.

        The last heartbeat names the checkpoint the previous attempt reported; storage may
        hold a newer one (heartbeats are throttled) or may have pruned that one, so both
        sources are merged and tried newest first.
        """
        candidates = set(self.checkpoints.manifests(trial))
        if from_heartbeat:
            candidates.add(from_heartbeat)
        for key in sorted(candidates, key=step_of, reverse=True):
            if step_of(key) > target_step:
                continue
            try:
                files, _ = self.checkpoints.load(key, scratch / "restore")
            except CorruptCheckpoint as error:
                activity.logger.warning("skipping checkpoint: %s", error)
                continue
            except MissingCheckpoint:
                continue  # pruned after the heartbeat that named it
            run.restore(files)
            return key
        return None


def _progress(step: int, checkpoint_key: str | None, seconds: float) -> dict[str, Any]:
    return {"step": step, "checkpoint_key": checkpoint_key, "seconds": round(seconds, 3)}


def _meta(request: TrainRequest) -> dict[str, Any]:
    return {
        "trial_id": request.trial_id,
        "params": request.params,
        "label_names": request.snapshot.label_names,
        "snapshot": request.snapshot.key,
    }
