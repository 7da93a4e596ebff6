"""What every activity class shares: settings in, a lazily built store, error mapping."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from hpo.settings import Settings
from hpo.storage.checkpoints import CheckpointStore
from hpo.storage.s3 import ObjectStore

F = TypeVar("F", bound=Callable[..., Any])

# Errors a retry cannot fix: the trial fails at once and the sweep goes on.
NON_RETRYABLE = ("InvalidTrialConfig", "DatasetError", "Diverged", "CorruptCheckpoint")


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


def fail_fast_on_permanent_errors(function: F) -> F:
    """Turn errors no retry can fix into non-retryable ApplicationErrors with their message."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:
            kind = type(error).__name__
            if kind in NON_RETRYABLE:
                raise ApplicationError(str(error), type=kind, non_retryable=True) from error
            raise

    return wrapper  # type: ignore[return-value]
