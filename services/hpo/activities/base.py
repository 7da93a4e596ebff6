"""What every activity class shares: settings in, a lazily built store, error mapping."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from temporalio.exceptions import ApplicationError

from hpo.settings import Settings
from hpo.spec import ModelSpec
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

    def scratch(self) -> tempfile.TemporaryDirectory[str]:
        """A private local directory under the cache dir, removed when the `with` block ends."""
        self.settings.cache_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryDirectory(dir=self.settings.cache_dir)

    def load_trained_model(
        self, model: ModelSpec, params: dict[str, Any], num_labels: int, checkpoint_key: str
    ) -> tuple[Any, Path, dict[str, Any]]:
        """A trial's model with the weights of one checkpoint; also the base model path and
        the checkpoint's meta. The checkpoint is verified against its manifest first."""
        from hpo.tasks import text_classification as tc  # torch: only where a model is loaded

        model_path = tc.resolve_model_path(model.source)
        hp = tc.Hyperparameters.from_params(params)
        layers = tc.effective_layers(model_path, model.num_hidden_layers, hp.layers)
        with self.scratch() as scratch:
            files, meta = self.checkpoints.load(checkpoint_key, Path(scratch))
            network = tc.load_weights(model_path, layers, num_labels, files["model.safetensors"])
        return network, model_path, meta


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
