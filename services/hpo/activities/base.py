"""What every activity class shares: settings in, a lazily built store, code, error mapping."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from hpo.messages import CodeRef
from hpo.settings import Settings
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
)


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

        return fetch(self.store, code.key, code.sha256, self.settings.cache_dir)


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
