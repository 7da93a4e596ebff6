"""The trial API: the one seam between hpo and training code.

hpo calls a user's function once per training segment (a rung of the ladder, or the whole
budget) on a training worker, with an `hpo.Trial`. The function reads its hyperparameters,
restores the newest checkpoint, trains to `target_step`, reports metrics, saves checkpoints
and returns its validation metrics. Everything else (S3, manifests, heartbeats, resume
after a crash, the checkpoint on SIGTERM, accelerator-seconds) belongs to hpo, behind a
`TrialSession` that the training activity provides.

Nothing here imports Temporal or boto3; torch is imported only when a state is saved or
restored, so a function that never calls `save` needs no torch at all.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

STATE_FILE = "state.pt"
STOP_CHECK_S = 0.2


class TrialError(ValueError):
    """Training code used the trial API wrongly; the message says how to fix it."""


class RetryableTrialError(RuntimeError):
    """A failure of the machine, not of the training code (e.g. a command killed by the OOM
    killer): the attempt is retried from the last checkpoint."""


class TrialHung(BaseException):
    """Raised into training code whose step has not advanced for training.progress_timeout_s:
    hpo ends the attempt and retries it from the newest checkpoint. A BaseException, like
    KeyboardInterrupt, so that a retry loop's `except Exception` does not swallow it."""


class TrialSession(Protocol):
    """What a Trial needs from the worker running it (S3 and heartbeats in production)."""

    scratch: Path

    def save_checkpoint(self, step: int, directory: Path, info: dict[str, Any]) -> str: ...
    def report(self, step: int, metrics: dict[str, float]) -> None: ...
    def stopping(self) -> bool: ...


@dataclass
class Result:
    """What a segment returns when it has test metrics too (a plain dict means validation only).

    `validation` holds the objective; `test` is reported on the leaderboard, never used to select.
    """

    validation: dict[str, float]
    test: dict[str, float] = field(default_factory=dict)


class Trial:
    """One trial's view of its segment. Attributes are read-only by convention."""

    def __init__(
        self,
        *,
        session: TrialSession,
        sweep_id: str,
        trial_id: str,
        params: Mapping[str, Any],
        config: Mapping[str, Any],
        seed: int,
        rung: int,
        target_step: int | None,
        max_steps: int | None,
        epochs: float | None = None,
        checkpoint_every: int | None = None,
        restored_step: int = 0,
        restored_dir: Path | None = None,
        context: Any = None,
        space: Mapping[str, Any] | None = None,
    ) -> None:
        self._session = session
        self.sweep_id = sweep_id
        self.trial_id = trial_id
        #: This trial's hyperparameters: the names the spec's space defines.
        self.params: dict[str, Any] = dict(params)
        #: Constant settings from the spec's task.config.
        self.config: dict[str, Any] = dict(config)
        #: The spec's search space as written (name -> {type, low, high, ...}): what
        #: `params` were drawn from (adapters such as hpo.integrations.optuna check against it).
        self.space: dict[str, Any] = dict(space or {})
        #: Seed for this trial: the same on every attempt and rung, different per trial.
        self.seed = seed
        #: Rung of the ladder this segment trains to (0 without early stopping).
        self.rung = rung
        #: Train until this step in this segment; None when the budget is not in steps
        #: (training.epochs): then train your whole budget.
        self.target_step = target_step
        #: The full budget in steps (for learning-rate schedules); None when it is in epochs.
        self.max_steps = max_steps
        #: The full budget in epochs when the spec gives training.epochs.
        self.epochs = epochs
        #: How often the spec asks for a checkpoint, in steps (a hint; save when it suits you).
        self.checkpoint_every = checkpoint_every
        #: Step of the checkpoint this segment starts from; 0 on a fresh start.
        self.start_step = restored_step
        self._restored_dir = restored_dir
        #: What built-in tasks receive from hpo (prepared data); None for your own training.
        self.context = context
        self._step = restored_step
        self._saved_step: int | None = restored_step if restored_dir is not None else None
        self._checked_state = False
        self._info: dict[str, Any] = {}
        self._stopping = False
        self._stop_checked_at = float("-inf")

    # -- resume -------------------------------------------------------------------------

    def restore(self) -> Any | None:
        """The state the newest checkpoint saved with `save`, or None on a fresh start.

        Loaded with torch.load(weights_only=True) onto the CPU: tensors, numbers, strings,
        lists, tuples and dicts (what `model.state_dict()` and `optimizer.state_dict()` hold).
        """
        if self._restored_dir is None:
            return None
        path = self._restored_dir / STATE_FILE
        if not path.is_file():
            raise TrialError(
                f"trial {self.trial_id}: the checkpoint at step {self.start_step} was written with "
                "trial.checkpoint_dir(), not trial.save(); read it with trial.restored_dir()"
            )
        import torch

        return torch.load(str(path), weights_only=True, map_location="cpu")

    def restored_dir(self) -> Path | None:
        """The files of the newest checkpoint (read-only), or None on a fresh start."""
        return self._restored_dir

    # -- progress -----------------------------------------------------------------------

    @property
    def step(self) -> int:
        """The latest step reported or saved in this segment (start_step before any)."""
        return self._step

    def report(self, step: int, **metrics: float) -> None:
        """Intermediate metrics at `step`: the learning curve and live progress."""
        self._step = _check_step(step, self.trial_id, "report")
        clean = {name: _number(value, name, self.trial_id) for name, value in metrics.items()}
        self._session.report(self._step, clean)

    def should_stop(self) -> bool:
        """True once the worker is stopping (SIGTERM, scale-in, cancellation), the sweep asks the
        trial to stop, or the spec's pruner stops it: save and return.

        Cheap to call every step: the worker is asked at most every STOP_CHECK_S seconds (the
        answer crosses a process boundary), and once stopping, always stopping."""
        now = time.monotonic()
        if not self._stopping and now - self._stop_checked_at >= STOP_CHECK_S:
            self._stop_checked_at = now
            self._stopping = self._session.stopping()
        return self._stopping

    def should_prune(self) -> bool:
        """`should_stop()` by Optuna's name: True also once the spec's pruner judges this trial's
        curve bad against the other trials' (then save if you like, and return)."""
        return self.should_stop()

    @property
    def stop_requested(self) -> bool:
        """Whether the training was told to stop (should_stop() returned True to it)."""
        return self._stopping

    def describe(self, **info: Any) -> None:
        """Facts stored with every later checkpoint (e.g. label names), for `predict`."""
        self._info.update(info)

    # -- checkpoints --------------------------------------------------------------------

    def save(self, state: Any, step: int | None = None) -> None:
        """Checkpoint `state` at `step` (default: the latest reported step).

        The state must load back with torch.load(weights_only=True): tensors, numbers,
        strings, lists, tuples and dicts. hpo uploads it (data first, manifest last).
        """
        import torch

        with self.checkpoint_dir(step) as directory:
            path = directory / STATE_FILE
            try:
                torch.save(state, str(path))
            except (TypeError, AttributeError, pickle.PicklingError) as error:
                raise TrialError(
                    f"trial {self.trial_id}: trial.save() cannot store the state ({error}); save tensors, "
                    "numbers, strings, lists and dicts, e.g. model.state_dict() and optimizer.state_dict()"
                ) from None
            if not self._checked_state:
                # Find an unloadable state at the first save, not at the resume hours later.
                try:
                    torch.load(str(path), weights_only=True, map_location="cpu")
                except Exception as error:
                    raise TrialError(
                        f"trial {self.trial_id}: trial.save() got a state that cannot be loaded back "
                        f"safely ({str(error).splitlines()[0][:300]}); save tensors, numbers, strings, "
                        "lists and dicts, e.g. model.state_dict() and optimizer.state_dict(), or use "
                        "trial.checkpoint_dir() for files in your own format"
                    ) from None
                self._checked_state = True

    @contextlib.contextmanager
    def checkpoint_dir(self, step: int | None = None) -> Iterator[Path]:
        """A fresh local directory: write any files into it; when the block ends without an
        error they become the checkpoint at `step` (default: the latest reported step)."""
        at = self._step if step is None else _check_step(step, self.trial_id, "checkpoint")
        if at <= 0:
            raise TrialError(
                f"trial {self.trial_id}: a checkpoint needs a step > 0; call trial.report(step, ...) "
                "first or pass step= to save()/checkpoint_dir()"
            )
        directory = Path(tempfile.mkdtemp(prefix=f"ckpt-{at}-", dir=self._session.scratch))
        try:
            yield directory
            self._session.save_checkpoint(at, directory, dict(self._info))
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        self._step = max(self._step, at)
        self._saved_step = at

    @property
    def saved_step(self) -> int | None:
        """Step of the newest checkpoint this trial has (restored or saved), None if none."""
        return self._saved_step

    @property
    def device(self) -> str:
        """ "cuda" on a GPU worker, else "cpu"."""
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"


def _check_step(step: Any, trial_id: str, what: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        # numpy and torch integers are fine; anything else is a mistake worth naming.
        try:
            as_int = int(step)
        except (TypeError, ValueError):
            as_int = -1
        if as_int < 0 or as_int != step:
            raise TrialError(f"trial {trial_id}: {what} step is {step!r}, must be an integer >= 0")
        return as_int
    return step


def _number(value: Any, name: str, trial_id: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TrialError(f"trial {trial_id}: metric {name!r} is {value!r}, not a number") from None
    return number


def validation_and_test(outcome: Any, trial_id: str) -> tuple[dict[str, float], dict[str, float]]:
    """The metrics a segment returned: a dict (validation) or a Result (validation + test)."""
    if isinstance(outcome, Result):
        validation, test = outcome.validation, outcome.test
    elif isinstance(outcome, Mapping):
        validation, test = outcome, {}
    else:
        raise TrialError(
            f"trial {trial_id}: the training function returned {type(outcome).__name__}, must return "
            "a dict of validation metrics (e.g. {'accuracy': 0.91}) or hpo.Result(validation=..., test=...)"
        )
    return _finite(validation, "validation", trial_id), _finite(test, "test", trial_id)


def _finite(metrics: Mapping[str, Any], split: str, trial_id: str) -> dict[str, float]:
    clean = {str(name): _number(value, str(name), trial_id) for name, value in metrics.items()}
    for name, value in clean.items():
        if not math.isfinite(value):
            raise TrialError(
                f"trial {trial_id}: {split} metric {name!r} is {value} (not a finite number): the training "
                "diverged or the metric is undefined; check the learning rate and the metric code"
            )
    return clean


def objective_value(validation: dict[str, float], metric: str, trial_id: str) -> float:
    """The objective from a segment's validation metrics, or a message naming what is wrong."""
    if metric not in validation:
        returned = ", ".join(sorted(validation)) or "nothing"
        raise TrialError(
            f"trial {trial_id}: the objective metric {metric!r} is not among the validation metrics "
            f"the training returned ({returned}); return it, or set objective.metric to one of those"
        )
    return validation[metric]


@dataclass
class Checkpoint:
    """A trial's checkpoint, as a predict hook receives it."""

    directory: Path
    step: int
    trial_id: str
    params: dict[str, Any]
    config: dict[str, Any]
    #: What the training stored with trial.describe() (e.g. label names).
    info: dict[str, Any]

    def state(self) -> Any:
        """The state saved with trial.save() (weights_only, on the CPU)."""
        import torch

        return torch.load(str(self.directory / STATE_FILE), weights_only=True, map_location="cpu")
