"""An Optuna objective with optuna-integration's XGBoost pruning callback (examples/optuna),
unchanged but for hpo's two lines, runs as a durable TPE sweep on the real stack."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import pytest
from sweeps import new_sweep_id, run_sweep

from hpo.contracts.spec import load_spec

pytest.importorskip("optuna_integration", reason="optuna-integration is in hpo's integrations extra")
pytest.importorskip("xgboost", reason="xgboost is in hpo's integrations extra")

pytestmark = pytest.mark.integration

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "optuna"


def test_the_space_derived_from_the_objective_is_the_specs():
    import hpo.integrations.optuna as hpo_optuna

    sys.path.insert(0, str(EXAMPLE))
    try:
        module = importlib.import_module("objective")
    finally:
        sys.path.remove(str(EXAMPLE))
    assert hpo_optuna.space_of(module.objective) == load_spec(EXAMPLE / "sweep.yaml").space


async def test_an_optuna_objective_runs_as_a_tpe_sweep(stack):
    spec = load_spec(EXAMPLE / "sweep.yaml")
    worker = stack.start_worker("training")
    try:
        status = await run_sweep(stack, spec, new_sweep_id("optuna-objective"))
    finally:
        stack.processes.pop("training-worker", worker).stop()
    assert status.counts == {"completed": spec.trials}, [t.error for t in status.trials]
    for trial in status.trials:
        assert set(trial.params) == set(spec.space)
        assert trial.validation is not None and math.isfinite(trial.validation["value"])
        assert 0.0 < trial.validation["value"] < 0.7  # a logloss better than chance
        assert trial.train is not None and "value" in trial.train.metrics  # the pruning callback's reports
    assert status.best is not None and status.best.objective == min(t.objective for t in status.trials)
