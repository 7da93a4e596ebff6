"""Training activity: one segment of one trial, through the trial API.

It finds the newest usable checkpoint (the last heartbeat's, or the newest complete manifest
in storage; a corrupt one is skipped for the one before it), loads the task (built-in, a
user's function, or a command), calls its train function with an hpo.Trial, and scores
what it returns. It never names a task, a hyperparameter or a metric.

Failures: hpo's own (S3 unreachable, a killed worker) are retried from the last checkpoint;
the training code's (an exception, a bad return value, a NaN objective) fail the trial once.
Training whose step stops advancing is ended as hung (progress.py) and retried from its
newest checkpoint, until its hangs fail the trial.
"""

from __future__ import annotations

import shutil
import time
import traceback
from pathlib import Path
from typing import Any, NoReturn

from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from hpo.activities.attempts import AttemptHistory
from hpo.activities.base import NON_RETRYABLE, ActivityBase, fail_fast_on_permanent_errors, user_facing
from hpo.activities.keepalive import heartbeating
from hpo.activities.progress import Hang
from hpo.activities.pruning import CurvePruner, rule_of
from hpo.activities.session import SegmentSession
from hpo.activities.sweep_watch import SweepWatch
from hpo.contracts import stubs
from hpo.contracts.messages import SegmentRequest, SegmentResult, TrainResult
from hpo.contracts.segment_details import SegmentDetails
from hpo.contracts.segment_outcome import HUNG, PREEMPTED, STOPPED
from hpo.engine.money import MISMATCH, mismatch_message, spec_currency
from hpo.storage.checkpoints import (
    CorruptCheckpoint,
    MissingCheckpoint,
    UnsafeKey,
    foreign_checkpoint,
    step_of,
    trial_prefix,
)
from hpo.tasks.registry import TaskContext, TaskImplementation, loaded_task
from hpo.telemetry.metrics import SegmentMetrics
from hpo.trial import RetryableTrialError, Trial, objective_value, validation_and_test


def resume_cause(attempt: int, rung: int, previous: SegmentDetails | None) -> str:
    """Why a segment resumed from a checkpoint: a first attempt on a higher rung continues the
    trial's lower rung; a retried attempt follows a preemption when the previous attempt's
    last heartbeat says its worker shut down, else a crash."""
    if attempt <= 1 and rung > 0:
        return "promotion"
    return "preemption" if previous is not None and previous.stopped_by_worker else "crash"


def _last_heartbeat() -> SegmentDetails | None:
    """What the previous attempt of this activity reported before it died, if anything."""
    details = activity.info().heartbeat_details
    return SegmentDetails.read(details[0]) if details else None


def _previous_execution(request: SegmentRequest) -> SegmentDetails | None:
    """The details of the execution this one follows. A retried attempt follows the attempt
    that died: its last heartbeat (which already carries the totals of every execution before
    it). A first attempt after a preemption follows the stopped execution, whose details the
    trial workflow hands back in `request.previous` (a retry gets the same request, so that
    must not win over the dead attempt's heartbeat, or the crash's seconds would vanish)."""
    heartbeat = _last_heartbeat()
    if activity.info().attempt > 1 and heartbeat is not None:
        return heartbeat
    return SegmentDetails.read(request.previous) or heartbeat


def _beat_every(request: SegmentRequest) -> float:
    """How often hpo's own thread heartbeats (never the user's loop): four beats a timeout, so
    a late one or two are no false alarm, and a dead worker is noticed within the timeout."""
    return max(1.0, request.spec.training.heartbeat_timeout_s / 4)


def _noticed_at(started_at: float) -> float:
    """When the execution this one follows was known to be over (unix seconds): when Temporal
    scheduled this attempt (a dead attempt's heartbeat timeout plus the retry backoff), never
    later than this attempt's start: time the retry waited for a free worker held no slot."""
    scheduled = activity.info().current_attempt_scheduled_time
    return min(scheduled.timestamp(), started_at) if scheduled is not None else started_at


def _checkpoint_metrics(meta: dict[str, Any]) -> dict[str, float]:
    """The metrics last reported before a checkpoint, from its manifest (older checkpoints
    carry none): a segment resumed from its final checkpoint trains no step and reports
    nothing, yet its result must keep them."""
    metrics = meta.get("metrics")
    if not isinstance(metrics, dict):
        return {}
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(name, str) and isinstance(value, int | float) and not isinstance(value, bool)
    }


class TrainingActivities(ActivityBase):
    @activity.defn(name=stubs.TRAIN_SEGMENT)
    @fail_fast_on_permanent_errors
    def train_segment(self, request: SegmentRequest) -> SegmentResult:
        # The slot is held from now: the restore's download counts as this attempt's time.
        started = (time.monotonic(), time.time())
        self._refuse_another_currency(request)
        previous = _previous_execution(request)
        prefix = _trial_prefix(request)
        with self.scratch() as scratch_name:
            scratch = Path(scratch_name)
            with heartbeating(_beat_every(request), *([previous.wire()] if previous else [])):
                code_dir = self.code_dir(request.code)
                restored_key, restored_dir, restored_meta = self._restore(
                    prefix, request, scratch, previous.checkpoint_key if previous else None
                )
            restored_step = step_of(restored_key) if restored_key else 0
            if restored_key:
                activity.logger.info("trial %s resumes from step %d", request.trial_id, restored_step)
            telemetry = SegmentMetrics(request.sweep_id, request.trial_id)
            if restored_key:
                first = activity.info().attempt <= 1 and not request.previous
                telemetry.resumed(resume_cause(1 if first else 2, request.rung, previous))
            session = SegmentSession(
                checkpoints=self.checkpoints,
                prefix=prefix,
                scratch=scratch,
                meta=_meta(request),
                restored_key=restored_key,
                restored_step=restored_step,
                # Accelerator time counts every attempt, including the work a crash threw away.
                history=AttemptHistory.after(previous, restored_step, noticed_at=_noticed_at(started[1])),
                rung=request.rung,
                telemetry=telemetry,
                accelerators=self.settings.accelerators_per_trial,
                trial_id=request.trial_id,
                progress_timeout_s=request.spec.training.progress_timeout_s,
                max_hangs=request.spec.training.max_hangs,
                started=started,
                watch=SweepWatch(self.settings, request.sweep_id) if request.watch_sweep else None,
                pruner=self._pruner(request, prefix),
                checkpoint_max_bytes=self.settings.checkpoint_max_bytes,
            )
            session.metrics = _checkpoint_metrics(restored_meta)
            with telemetry.running(lambda: session.attempt_seconds):
                return self._train_and_score(request, session, code_dir, restored_step, restored_dir)

    def _pruner(self, request: SegmentRequest, prefix: str) -> CurvePruner | None:
        spec = request.spec
        if spec.pruner is None:
            return None
        return CurvePruner(rule_of(spec.pruner, spec.metric, spec.mode), self.store, prefix)

    def _refuse_another_currency(self, request: SegmentRequest) -> None:
        """hpo converts no currencies: a worker priced in another currency than the sweep's
        trains nothing for it (the sweep stops and says why; nothing is mixed)."""
        price = self.settings.price_per_hour
        expected = spec_currency(request.spec)
        if price > 0 and expected is not None and self.settings.currency != expected:
            raise user_facing(mismatch_message(self.settings.currency, price, expected), MISMATCH)

    def _train_and_score(
        self,
        request: SegmentRequest,
        session: SegmentSession,
        code_dir: Path | None,
        restored_step: int,
        restored_dir: Path | None,
    ) -> SegmentResult:
        spec = request.spec
        every = _beat_every(request)
        trial: Trial | None = None
        outcome: Any = None
        try:
            with (
                session.heartbeating(every),
                loaded_task(spec.task, code_dir, spec.training.stop_grace_s) as task,
            ):
                trial = Trial(
                    session=session,
                    sweep_id=request.sweep_id,
                    trial_id=request.trial_id,
                    params=request.params,
                    config=spec.task.config,
                    space=spec.space,
                    seed=request.seed,
                    rung=request.rung,
                    target_step=request.target_step,
                    max_steps=request.max_steps,
                    epochs=spec.training.epochs,
                    checkpoint_every=spec.training.checkpoint_every,
                    restored_step=restored_step,
                    restored_dir=restored_dir,
                    context=TaskContext(
                        spec=spec,
                        store=self.store,
                        heartbeat=session.beat,
                        snapshot=request.snapshot,
                        code_dir=code_dir,
                    ),
                )
                outcome = _train(task, trial, session)
        except BaseException:
            session.end()
            if session.hang is None:
                raise
            # A hang explains whatever came out of the interrupted code; while stopping, the
            # stop below says how the segment ended.
            if trial is None or not trial.stop_requested:
                raise _hung(session.hang, session) from None
        assert trial is not None
        # Only a stop the training saw ends the segment early: one that arrives after it finished
        # must not throw a complete result away.
        if trial.stop_requested:
            session.end()
            _stopped(request, session, trial)
        if session.hang is not None:
            # It returned after all, but only once interrupted: not a result to score.
            session.end()
            raise _hung(session.hang, session)
        validation, test = validation_and_test(outcome, request.trial_id)
        objective = objective_value(validation, spec.metric, request.trial_id)
        session.finish()
        history = session.history
        price = self.settings.price_per_hour
        return SegmentResult(
            train=TrainResult(
                step=trial.step,
                checkpoint_key=session.last_key,
                resumed_from_step=restored_step,
                start_step=history.segment_start_step,
                train_seconds=session.seconds,
                metrics=session.metrics,
                accelerators=self.settings.accelerators_per_trial,
                price_per_hour=price if price > 0 else None,
                currency=self.settings.currency if price > 0 else None,
                lost_seconds=history.lost_seconds,
                retried_steps_saved=history.retried_steps_saved,
                redone_steps=history.redone_steps,
                attempts=history.attempts + 1,
                preemptions=history.preemptions,
                retries=history.attempts - history.preemptions,
            ),
            validation=validation,
            test=test,
            objective=objective,
        )

    def _restore(
        self, trial: str, request: SegmentRequest, scratch: Path, from_heartbeat: str | None
    ) -> tuple[str | None, Path | None, dict[str, Any]]:
        """Download the newest usable checkpoint of this trial at or below its target step.

        The last heartbeat names the checkpoint the previous attempt reported; storage may
        hold a newer one (heartbeats are throttled) or may have pruned that one, so both
        sources are merged and tried newest first. Only checkpoints under this trial's own
        prefix whose manifest names this sweep, trial and params count: another trial's or
        another run's state is never resumed from.
        """
        candidates = set(self.checkpoints.manifests(trial))
        if from_heartbeat and from_heartbeat.startswith(f"{trial}/ckpt/"):
            candidates.add(from_heartbeat)
        for key in sorted(candidates, key=step_of, reverse=True):
            if request.target_step is not None and step_of(key) > request.target_step:
                continue
            directory = scratch / f"restored-{step_of(key)}"
            try:
                _, meta = self.checkpoints.load(key, directory)
            except CorruptCheckpoint as error:
                activity.logger.warning("skipping checkpoint: %s", error)
                continue
            except MissingCheckpoint:
                continue  # pruned after the heartbeat that named it
            foreign = foreign_checkpoint(
                key,
                meta,
                sweep_id=request.sweep_id,
                trial_id=request.trial_id,
                params=request.params,
                scope=request.scope,
            )
            if foreign:
                activity.logger.warning("skipping checkpoint: %s", foreign)
                shutil.rmtree(directory, ignore_errors=True)
                continue
            return key, directory, meta
        return None, None, {}


def _stopped(request: SegmentRequest, session: SegmentSession, trial: Trial) -> NoReturn:
    """End a segment whose training was told to stop, saying why it stopped."""
    if session.pruned is not None and not activity.is_cancelled() and not session.stopped_by_worker:
        # The spec's pruner stopped it: the trial ends here, with its checkpoint and its curve.
        raise ApplicationError(
            f"{session.pruned}; checkpoint at step {trial.saved_step}",
            session.details().wire(),
            type=STOPPED,
            non_retryable=True,
        )
    if session.sweep_ended is not None and not activity.is_cancelled():
        # Nobody will read this result but the sweep's record: the trial workflow writes it there.
        raise ApplicationError(
            f"stopped at step {trial.step} because {session.sweep_ended}; checkpoint at step {trial.saved_step}",
            session.details().wire(),
            type=STOPPED,
            non_retryable=True,
        )
    if activity.is_cancelled():
        if request.preemptible:
            # Cancelled: the sweep stopped this trial (stop, cancel-trial, a budget), or this
            # attempt timed out and a newer one owns the trial (then nobody reads this).
            raise ApplicationError(
                f"stopped at step {trial.step}; checkpoint at step {trial.saved_step}",
                session.details().wire(),
                type=STOPPED,
                non_retryable=True,
            )
        # Timed out or cancelled: a newer attempt owns this trial now.
        raise CancelledError(f"trial {request.trial_id} attempt cancelled at step {trial.step}")
    # Graceful stop (SIGTERM, scale-in): the work is in the checkpoint; another worker resumes.
    # The last heartbeat says so, for the retried attempt's resume cause; a trial workflow
    # that treats preemption apart from failure (request.preemptible) gets the details back
    # and starts the segment again without spending a retry.
    raise ApplicationError(
        f"worker shutting down at step {trial.step}; checkpoint at step {trial.saved_step}",
        session.details().wire(),
        type=PREEMPTED,
        non_retryable=request.preemptible,
    )


def _hung(hang: Hang, session: SegmentSession) -> ApplicationError:
    """The error that ends a hung attempt: retried, unless this hang fails the trial. Its
    details are what the trial spent and lost, for the workflow when nothing retries it."""
    info = activity.info()
    policy = info.retry_policy
    final = hang.final(info.attempt, policy.maximum_attempts if policy is not None else None)
    return ApplicationError(
        hang.message(final), session.final_details().wire(), type=HUNG, non_retryable=final
    )


def _train(task: TaskImplementation, trial: Trial, session: SegmentSession) -> Any:
    """Run the training code; an error becomes retryable only when hpo's side caused it."""
    try:
        return task.train(trial)
    except Exception as error:
        if session.infra_error is not None:
            raise session.infra_error from error
        if isinstance(error, RetryableTrialError) or _is_storage_error(error):
            raise
        kind = type(error).__name__
        if kind in NON_RETRYABLE:
            raise
        # The user's own frames are in the message; hpo's and the process pool's are noise.
        raise user_facing(
            f"trial {trial.trial_id}: the training code raised {kind}: {error}\n{_user_frames(error)}",
            "TrainingError",
        ) from None


def _is_storage_error(error: BaseException) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    return isinstance(error, (BotoCoreError, ClientError))


HPO_PACKAGE = str(Path(__file__).resolve().parents[1])


def _user_frames(error: BaseException, limit: int = 6) -> str:
    """Where in the training code it went wrong: the last frames outside hpo itself."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith(HPO_PACKAGE)]
    lines = traceback.format_list(frames[-limit:]) if frames else []
    return "".join(lines).rstrip()


def _trial_prefix(request: SegmentRequest) -> str:
    try:
        return trial_prefix(request.sweep_id, request.trial_id, request.scope)
    except UnsafeKey as error:
        raise user_facing(str(error), "UnsafeKey") from None


def _meta(request: SegmentRequest) -> dict[str, Any]:
    """Checkpoints describe themselves: enough to serve predictions from one alone."""
    return {
        "sweep_id": request.sweep_id,
        "scope": request.scope,
        "trial_id": request.trial_id,
        "params": request.params,
        "seed": request.seed,
        "task": request.spec.task.model_dump(mode="json"),
        "config": request.spec.task.config,
        "code": request.code.model_dump(mode="json") if request.code else None,
        "snapshot": request.snapshot.key if request.snapshot else None,
        "saved_at": time.time(),
    }
