"""Specs that used to pass validation and break later, or break validation itself (issue 9):
each now ends in one SpecError naming the field, quickly, through the doors users take
(`load_spec` for `hpo sweep run`, `parse_spec` for `hpo.run`)."""

from __future__ import annotations

import datetime
import math
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from hpo.contracts.spec import MAX_SEED, MAX_SPEC_BYTES, SpecError, load_spec, parse_spec
from hpo.workflows.legacy.steerable import guarded

BASE: dict[str, Any] = {
    "name": "t",
    "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
    "trials": 2,
    "training": {"max_steps": 27},
}
USER_TASK = {"task": {"entrypoint": "train:train"}, "objective": {"metric": "loss"}}
VALID_YAML = (
    "name: t\ntrials: 2\ntraining: {max_steps: 27}\nspace: {lr: {type: float, low: 1.0e-4, high: 1.0e-2}}\n"
)


def refused(**fields: Any) -> str:
    """The one-paragraph message parse_spec gives for BASE with `fields`, whitespace folded."""
    started = time.monotonic()
    with pytest.raises(SpecError) as raised:
        parse_spec({**BASE, **fields}, source="s.yaml")
    assert time.monotonic() - started < 2, "validation must not hang"
    return " ".join(str(raised.value).split())


def algorithm(name: str, **options: Any) -> dict[str, Any]:
    return {"algorithm": {"name": name, "options": options}}


# ---- algorithm.options that belong elsewhere in the spec ---------------------------------------
@pytest.mark.parametrize(
    ("option", "belongs"),
    [
        ("mode", "objective.mode"),
        ("seed", "top-level seed"),
        ("eta", "algorithm.eta"),
        ("max_fidelity", "training.max_steps"),
        ("min_fidelity", "algorithm.min_fidelity"),
        ("num_trials", "trials"),
        ("max_concurrent", "max_concurrent"),
        ("space", "space"),
    ],
)
def test_options_the_spec_sets_elsewhere_say_where_they_belong(option: str, belongs: str) -> None:
    message = refused(**algorithm("asha", **{option: 3}))
    assert f"algorithm.options.{option}: not a searcher option" in message and belongs in message


# ---- the spec file itself -------------------------------------------------------------------------
def load_refused(path: Path) -> str:
    started = time.monotonic()
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert time.monotonic() - started < 2
    message = str(raised.value)
    assert "\n" not in message.strip() or message.startswith(str(path)), message
    return message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes(range(256)), "is not UTF-8 text"),
        ("name: café\n".encode("latin-1"), "is not UTF-8 text"),
        ("name: t\n".encode("utf-16"), "is not UTF-8 text"),
        ("name: t\n".encode("utf-16-le"), "holds NUL characters"),
        (("a: " + "[" * 5000 + "]" * 5000).encode(), "nested deeper than 32 levels"),
        (("trials: " + "9" * 5000 + "\n").encode(), "integer too long to read (over 4,300 digits)"),
        (VALID_YAML.replace("1.0e-2", "1.0e+400").encode(), "space.lr.high: inf is not a finite number"),
        (VALID_YAML.replace("low: 1.0e-4", "low: .nan").encode(), "space.lr.low: nan is not a finite number"),
        (b"- just\n- a list\n", "must hold a mapping of spec fields"),
    ],
    ids=[
        "binary",
        "latin-1",
        "utf-16",
        "utf-16-no-bom",
        "nested-5000",
        "int-5000-digits",
        "1e400",
        "nan",
        "list",
    ],
)
def test_unreadable_spec_files_are_named(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(content)
    assert expected in load_refused(path)


def test_missing_directory_oversized_and_unreadable_files(tmp_path: Path, monkeypatch) -> None:
    assert "does not exist" in load_refused(tmp_path / "nowhere.yaml")
    assert "is not a file" in load_refused(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_SPEC_BYTES + b"\n")
    assert "is over 4 MB" in load_refused(big)
    locked = tmp_path / "locked.yaml"
    locked.write_text(VALID_YAML)

    # Permissions cannot be taken from root (CI runs as root), so the OS refusal is simulated.
    def deny(self: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    assert "cannot read spec file" in load_refused(locked) and "Permission denied" in load_refused(locked)


def _deep(levels: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(levels):
        value = {"d": value}
    return value


# ---- values anywhere in the spec -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"dataset": {"source": "data\udcff.csv"}}, "dataset.source"),
        ({"name": "t\ud800"}, "name"),
        ({**USER_TASK, "task": {"entrypoint": "train:train", "config": {"path": "\udc80"}}}, "task.config.path"),
        ({"dataset": {"source": "a\x00.csv"}}, "dataset.source"),
        ({"space": {"lr": {"type": "float", "low": 1e-4, "high": math.inf}}}, "space.lr.high"),
        ({"space": {"lr": {"type": "float", "low": math.nan, "high": 1.0}}}, "space.lr.low"),
        ({"budget": {"max_cost": math.nan}}, "budget.max_cost"),
        ({"budget": {"max_wall_time": math.inf}}, "budget.max_wall_time"),
        ({"price": {"per_accelerator_hour": math.inf}}, "price.per_accelerator_hour"),
        ({"training": {"epochs": math.inf}}, "training.epochs"),
        ({"trials": 10**5000}, "trials"),
        ({"seed": datetime.date(2024, 1, 1)}, "seed"),
        ({**USER_TASK, "task": {"entrypoint": "train:train", "config": {1: "x"}}}, "task.config: keys must be strings"),
        ({**USER_TASK, "task": {"entrypoint": "train:train", "config": _deep(40)}}, "nested deeper"),
    ],
    ids=["surrogate-source", "surrogate-name", "surrogate-config", "nul", "inf-bound", "nan-bound", "nan-budget",
         "inf-wall-time", "inf-price", "inf-epochs", "huge-int", "date", "int-key", "deep"],
)  # fmt: skip
def test_values_no_field_can_hold_are_named(fields: dict[str, Any], named: str) -> None:
    message = refused(**fields)
    assert named in message, message
    message.encode("utf-8")  # the message itself prints anywhere: no surrogate copied into it


def test_a_python_caller_gets_a_spec_error_for_a_non_mapping() -> None:
    with pytest.raises(SpecError, match="must be a mapping of spec fields"):
        parse_spec(["name", "t"], source="hpo.run()")  # type: ignore[arg-type]


# ---- seeds ------------------------------------------------------------------------------------
def test_seeds_stay_within_what_every_consumer_accepts() -> None:
    assert parse_spec({**BASE, "seed": MAX_SEED}).seed == 2**32 - 1
    for seed in (2**32, 9_300_000_000_000, -1):
        assert "seed" in refused(seed=seed)
    assert "dataset.split.seed" in refused(dataset={"split": {"seed": -1}})


# ---- searcher options: typed, finite, bounded -------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (algorithm("grid", grid_points=100_000_000), "algorithm.options.grid_points is 100000000, must be <= 1000000"),
        ({"space": {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(7)}, **USER_TASK,
          **algorithm("grid", grid_points=10)}, "the grid has 10,000,000 points"),
        (algorithm("grid", shuffle="no"), "algorithm.options.shuffle must be bool, got 'no'"),
        (algorithm("tpe", n_ei_candidates=100_000_000), "algorithm.options.n_ei_candidates is 100000000, must be <= 10000"),
        (algorithm("tpe", n_ei_candidates=1e8), "algorithm.options.n_ei_candidates must be int"),
        (algorithm("tpe", min_bandwidth=math.nan), "algorithm.options.min_bandwidth: nan is not a finite number"),
        (algorithm("tpe", min_bandwidth=0), "algorithm.options.min_bandwidth is 0.0, must be > 0"),
        (algorithm("tpe", gamma=math.inf), "algorithm.options.gamma: inf is not a finite number"),
        (algorithm("tpe", multivariate="no"), "algorithm.options.multivariate must be bool"),
        (algorithm("tpe", prior_weight=1e300), "algorithm.options.prior_weight is 1e+300, must be <= 1000000.0"),
        (algorithm("tpe", local_scale=-1), "algorithm.options.local_scale is -1.0, must be >= 0.0"),
        (algorithm("asha", finish_best="no"), "algorithm.options.finish_best must be true or false"),
        (algorithm("asha", searcher=["tpe"]), "algorithm.options.searcher is ['tpe'], must be one of random, grid, tpe"),
        (algorithm("bohb", random_fraction=2), "algorithm.options.random_fraction is 2.0, must be <= 1.0"),
        (algorithm("random", gamma=0.1), "algorithm.options: unknown option 'gamma' for algorithm random"),
        (algorithm("gp", loss_transform="log"), "algorithm.options.loss_transform is 'log', must be one of yeo-johnson, none"),
        (algorithm("optuna", sampler="tpe", n_ei_candidates=10**12),
         "algorithm.options: n_ei_candidates is 1000000000000, must be <= 10000"),
        (algorithm("optuna", sampler="gp", n_startup_trials=10**15),
         "algorithm.options: n_startup_trials is 1000000000000000, must be <= 1000000"),
    ],
    ids=["grid-1e8", "grid-10m", "shuffle-no", "n-ei-1e8", "n-ei-float", "min-bandwidth-nan", "min-bandwidth-0",
         "gamma-inf", "multivariate-no", "prior-weight", "local-scale", "finish-best-no", "searcher-list",
         "bohb-random-fraction", "unknown", "loss-transform", "optuna-candidates", "optuna-startup"],
)  # fmt: skip
def test_searcher_options_are_checked_and_named(fields: dict[str, Any], expected: str) -> None:
    assert expected in refused(**fields)


def test_a_million_point_grid_is_accepted_without_enumerating_it() -> None:
    space = {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(6)}
    started = time.monotonic()
    spec = parse_spec({**BASE, **USER_TASK, "space": space, **algorithm("grid", grid_points=10)})
    assert spec.algorithm.options == {"grid_points": 10} and time.monotonic() - started < 2


# ---- the space ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("space", "expected"),
    [
        ({"x": {"type": "float", "low": 1.0, "high": 1.0 + 1e-15}}, "space.x: low (1.0) and high"),
        ({"x": {"type": "float", "low": -1e200, "high": 1e200}}, "space.x: low is -1e+200, must be within"),
        ({"n": {"type": "int", "low": 0, "high": 10**18}}, "space.n: high is 1000000000000000000, must be within"),
        ({"c": {"type": "categorical", "choices": list(range(10_001))}}, "space.c: 10001 choices, at most 10000"),
        ({"c": {"type": "categorical", "choices": [2**62]}}, "space.c: integer choices must be within"),
        ({"c": {"type": "categorical", "choices": ["a\nb"]}}, "space.c: choice 'a\\nb' holds control"),
        ({"c": {"type": "categorical", "choices": ["x" * 1001]}}, "space.c: a choice is 1001 characters"),
        ({"bad name": {"type": "float", "low": 0, "high": 1}}, "parameter name 'bad name' must start"),
        ({f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(101)}, "space has 101 parameters"),
    ],
    ids=["too-close", "huge-float", "huge-int", "many-choices", "big-int-choice", "control-char", "long-choice",
         "name", "many-params"],
)  # fmt: skip
def test_space_definitions_are_bounded(space: dict[str, Any], expected: str) -> None:
    assert expected in refused(space=space, **USER_TASK)


# ---- built-in tasks: the values they can train with ----------------------------------------------
@pytest.mark.parametrize(
    ("task", "space", "expected"),
    [
        ("text-classification", {"lr": {"type": "float", "low": 0.0, "high": 0.1}},
         "space.lr: low is 0.0, but text-classification's lr must be > 0"),
        ("text-classification", {"lr": {"type": "categorical", "choices": [1e-3, -1e-3]}},
         "space.lr: a choice is -0.001, but text-classification's lr must be > 0"),
        ("text-classification", {"weight_decay": {"type": "float", "low": -0.1, "high": 0.1}},
         "space.weight_decay: low is -0.1, but text-classification's weight_decay must be >= 0"),
        ("text-classification", {"warmup_ratio": {"type": "float", "low": 0.0, "high": 1.5}},
         "space.warmup_ratio: high is 1.5, but text-classification's warmup_ratio must be <= 1"),
        ("text-classification", {"batch_size": {"type": "int", "low": 0, "high": 8}},
         "space.batch_size: low is 0, but text-classification's batch_size must be >= 1"),
        ("image-classification", {"momentum": {"type": "float", "low": 0.5, "high": 1.0}},
         "space.momentum: high is 1.0, but image-classification's momentum must be < 1"),
        ("image-classification", {"optimizer": {"type": "categorical", "choices": ["sgd", "lbfgs"]}},
         "space.optimizer: a choice is 'lbfgs', but image-classification's optimizer must be one of sgd, adam"),
        ("image-classification", {"augment": {"type": "categorical", "choices": [True, "maybe"]}},
         "space.augment: a choice is 'maybe', but image-classification's augment must be true or false"),
        ("image-classification", {"depth": {"type": "int", "low": 1, "high": 6}},
         "space.depth: high is 6, but image-classification's depth must be <= 5"),
    ],
)  # fmt: skip
def test_built_in_task_parameters_stay_in_range(task: str, space: dict[str, Any], expected: str) -> None:
    assert expected in refused(task=task, space=space)


def test_values_the_built_in_tasks_read_loosely_are_still_accepted() -> None:
    # The image task reads optimizer case-insensitively and augment as a bool or 0/1.
    space = {
        "optimizer": {"type": "categorical", "choices": ["SGD", "adamw"]},
        "augment": {"type": "categorical", "choices": [False, True]},
        "momentum": {"type": "float", "low": 0.0, "high": 0.99},
    }
    assert parse_spec({**BASE, "task": "image-classification", "space": space}).space == space


# ---- s3 URIs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", ["s3://Bad_Bucket/data.csv", "s3://bucket", "s3://bucket/"])
def test_s3_sources_are_checked_when_the_spec_is(uri: str) -> None:
    assert "dataset.source: " in refused(dataset={"source": uri})


# ---- inside the workflow --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "error", [ZeroDivisionError("float division by zero"), TypeError("bad"), ValueError("no")]
)
def test_anything_the_search_core_raises_fails_the_sweep_not_the_task(error: Exception) -> None:
    def step() -> None:
        raise error

    with pytest.raises(ApplicationError) as raised:
        guarded(step)
    assert raised.value.non_retryable and raised.value.type == "InvalidSearch"
    assert str(error) in str(raised.value)
