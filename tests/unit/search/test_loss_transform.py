"""The model-based searcher's loss transform (hpo.modelsearch.transform): monotone, safe, optional."""

from __future__ import annotations

import math
import random

import pytest

from hpo.search import Observation, build_scheduler, parse_space
from hpo.search.recorded import RecordedSearcher

transform = pytest.importorskip("hpo.modelsearch.transform")
ModelBasedSearcher = pytest.importorskip("hpo.modelsearch").ModelBasedSearcher

SPACE = parse_space(
    {"x": {"type": "float", "low": -2.0, "high": 2.0}, "y": {"type": "float", "low": -1.0, "high": 3.0}}
)


def rosenbrock(p: dict) -> float:
    return (1 - p["x"]) ** 2 + 100 * (p["y"] - p["x"] ** 2) ** 2


def test_order_and_ties_are_kept_and_skew_is_reduced() -> None:
    rng = random.Random(0)
    losses = [rosenbrock(SPACE.sample(rng)) for _ in range(40)] + [0.5, 0.5]
    out = transform.transformed(losses, "yeo-johnson")
    order = sorted(range(len(losses)), key=lambda i: (losses[i], i))
    assert sorted(range(len(out)), key=lambda i: (out[i], i)) == order
    assert out[-1] == out[-2]

    def skew(values: list[float]) -> float:
        m = sum(values) / len(values)
        sd = math.sqrt(sum((v - m) ** 2 for v in values) / len(values))
        return sum(((v - m) / sd) ** 3 for v in values) / len(values)

    assert skew(losses) > 1.5  # Rosenbrock's values are heavily right-skewed...
    assert abs(skew(out)) < 0.5  # ...the model sees them nearly symmetric


@pytest.mark.parametrize(
    "losses",
    [
        [],
        [1.0],
        [1.0, 2.0],
        [3.0, 3.0, 3.0, 3.0],
        [0.0, 0.0, 1.0],
        [1e300, -1e300, 0.0],
        [1e-300, 2e-300, 0.0],
    ],
)
def test_degenerate_losses_give_finite_values_in_the_same_order(losses: list[float]) -> None:
    out = transform.transformed(losses, "yeo-johnson")
    assert len(out) == len(losses)
    assert all(math.isfinite(v) for v in out)
    for i in range(len(losses)):
        for j in range(len(losses)):
            if losses[i] < losses[j]:
                assert out[i] < out[j]


def test_none_leaves_the_losses_alone() -> None:
    assert transform.transformed([5.0, 1.0, 300.0], "none") == [5.0, 1.0, 300.0]


def test_the_transform_changes_the_gp_suggestion_and_none_is_optunas_own() -> None:
    rng = random.Random(3)
    params = [SPACE.sample(rng) for _ in range(14)]
    observations = [Observation(p, rosenbrock(p)) for p in params]
    default = ModelBasedSearcher(SPACE, "gp").suggest(random.Random(1), 14, observations, [])
    plain = ModelBasedSearcher(SPACE, "gp", loss_transform="none").suggest(
        random.Random(1), 14, observations, []
    )
    assert default != plain
    assert SPACE.contains(default) and SPACE.contains(plain)


def test_the_option_is_checked_and_only_recorded_when_not_the_default() -> None:
    default = build_scheduler("gp", {"x": {"type": "float", "low": 0.0, "high": 1.0}}, num_trials=5)
    assert "loss_transform" not in default.searcher.config()
    plain = build_scheduler("gp", {"x": {"type": "float", "low": 0.0, "high": 1.0}}, loss_transform="none")
    assert plain.searcher.config()["loss_transform"] == "none"
    assert plain.fingerprint != default.fingerprint
    with pytest.raises(ValueError, match="loss_transform is 'log', must be one of yeo-johnson, none"):
        RecordedSearcher(SPACE, loss_transform="log")
    with pytest.raises(ValueError, match="loss_transform"):
        ModelBasedSearcher(SPACE, "gp", loss_transform=None)
