"""What every activity class shares: settings in, a lazily built store, code, error mapping."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from hpo.contracts.messages import CodeRef
from hpo.contracts.settings import Settings
from hpo.storage.checkpoints import CheckpointStore
from hpo.storage.s3 import ObjectStore

F = TypeVar("F", bound=Callable[..., Any])

# Errors a retry cannot fix: the trial fails at once and the sweep goes on.
NON_RETRYABLE = (
    "InvalidTrialConfig",
    "DatasetError",
    "Diverged",
    "CorruptCheckpoint",
    "UserCodeError",
    "TrialError",
    "CodeArchiveError",
    # A trial saved a checkpoint file under a name the format refuses: its code's fault.
    "UnsafeCheckpointName",
    # ... or left a link, a FIFO or too many bytes in its checkpoint directory.
    "UnsafeCheckpointFile",
    # A worker priced in another currency than the sweep's (hpo.engine.money).
    "CurrencyMismatch",
)


class UserFacingError(ApplicationError):
    """A non-retryable failure whose message is the whole story (a bad dataset, a bad config):
    it reaches Temporal with no cause.

    A process pool re-raises an activity's exception in the worker with the trial process's
    traceback attached as its `__cause__` (concurrent.futures' _RemoteTraceback), and Temporal
    sends the cause chain along: the user would read the message, then the same message again
    inside one or two remote tracebacks. This class ignores any cause set on it, there or here.
    """

    @property  # type: ignore[override]
    def __cause__(self) -> BaseException | None:
        return None

    @__cause__.setter
    def __cause__(self, _: BaseException | None) -> None:
        pass


def user_facing(message: str, kind: str) -> UserFacingError:
    return UserFacingError(message, type=kind, non_retryable=True)


class ActivityBase:
    """Activities receive their dependencies; the store is built on first use so the
    object pickles cleanly into a process-pool worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: ObjectStore | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"settings": self.settings, "_store": None}

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.settings)
        return self._store

    @property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.store)

    def scratch(self) -> tempfile.TemporaryDirectory[str]:
        """A private local directory under the cache dir, removed when the `with` block ends."""
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.settings.cache_dir)

    def code_dir(self, code: CodeRef | None) -> Path | None:
        """The sweep's shipped code, extracted once per worker; None when it ships none."""
        if code is None:
            return None
        from hpo.storage.code_archives import fetch

        settings = self.settings
        return fetch(
            self.store,
            code.key,
            code.sha256,
            settings.cache_dir,
            max_bytes=settings.code_max_bytes,
            max_files=settings.code_max_files,
        )


def fail_fast_on_permanent_errors(function: F) -> F:
    """Turn errors no retry can fix into non-retryable ApplicationErrors with their message
    alone: the user fixes the data or the config, a stack would only hide what to fix."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            kind = type(error).__name__
            if kind in NON_RETRYABLE:
                raise user_facing(str(error), kind) from None
            raise

    return wrapper  # type: ignore[return-value]
