"""From a spec's task to the code that runs it: one registry for built-in and user tasks.

Activities alone load implementations (they import torch, transformers or a user's code);
everything that only needs to know what a task is reads `hpo.contracts.task_catalog`.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo.contracts.spec import SweepSpec, TaskSpec
from hpo.trial import Checkpoint, Trial


@dataclass
class TaskContext:
    """What hpo hands a built-in task beside the Trial: the spec, prepared data, storage."""

    spec: SweepSpec
    store: Any  # hpo.storage.s3.ObjectStore
    heartbeat: Callable[..., None]
    snapshot: Any = None  # hpo.contracts.messages.SnapshotRef of the prepared data
    code_dir: Path | None = None


@dataclass
class TaskImplementation:
    """A task's code: `train` is required; `prepare` makes data once per sweep; `predict`
    serves predictions from a checkpoint."""

    train: Callable[[Trial], Any]
    prepare: Callable[[TaskContext], Any] | None = None
    predict: Callable[[Checkpoint, list[Any]], list[Any]] | None = None


@contextlib.contextmanager
def loaded_task(
    task: TaskSpec, code_dir: Path | None, stop_grace_s: float = 60.0
) -> Iterator[TaskImplementation]:
    """The implementation of `task`; a user's modules are forgotten again afterwards, so the
    next sweep on this worker process imports its own version of them."""
    if task.name is not None:
        module, _, attribute = task.info.implementation.partition(":")
        yield getattr(importlib.import_module(module), attribute)
        return
    if task.command is not None:
        from hpo.tasks.command import CommandTask

        yield TaskImplementation(train=CommandTask(task.command, code_dir, stop_grace_s, task.env).train)
        return
    from hpo.tasks.user_code import import_callable, user_modules

    assert task.entrypoint is not None  # TaskSpec validation: exactly one kind
    with user_modules(code_dir):
        train = import_callable(task.entrypoint, code_dir, "task.entrypoint")
        predict = import_callable(task.predict, code_dir, "task.predict") if task.predict else None
        yield TaskImplementation(train=train, predict=predict)
