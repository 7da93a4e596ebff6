"""TPE: the Tree-structured Parzen Estimator (Bergstra et al., 2011; Watanabe, 2023).

Sort the observations by loss, split off the best ``gamma`` fraction, fit a Parzen estimator
``l(x)`` to them and ``g(x)`` to the rest, sample candidates from ``l`` and propose the one
maximising ``l(x) / g(x)`` (equivalent to expected improvement under the TPE model).

Choices, and why:
- multivariate by default: one kernel per observation across all parameters, so
  interactions (Branin's valley, learning rate x batch size) are modelled.
- running trials count as *bad* observations (a constant liar): parallel workers therefore
  get proposals away from each other instead of the same argmax.
- a Scott (normal-reference) bandwidth for the good set shrinks as the good points gather,
  which lets TPE refine a basin; Optuna's neighbour rule never goes below 1/(n_good+2) of
  the range, so its late proposals keep jittering around the optimum.
- the bad set keeps Optuna's neighbour rule: it only has to say "been there".
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from .parzen import ParzenEstimator
from .searcher import Observation, Searcher
from .space import Param, Space

TPE_OPTIONS = {
    "n_startup_trials",
    "n_ei_candidates",
    "gamma",
    "max_good",
    "prior_weight",
    "multivariate",
    "constant_liar",
    "bandwidth",
    "min_bandwidth",
    "random_fraction",
    "good_weights",
    "bad_bandwidth_clip",
}
_BANDWIDTHS = ("scott", "neighbour")


def _check(name: str, value: Any, kind: type, low: float | None = None, high: float | None = None) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise ValueError(f"{name} must be {kind.__name__}, got {value!r}")
    if kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {kind.__name__}, got {value!r}")  # noqa: TRY004
    if low is not None and value < low:
        raise ValueError(f"{name} is {value}, must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name} is {value}, must be <= {high}")
    return value


def ramp_weights(n: int, flat: int = 25) -> list[float]:
    """Bergstra et al. (2013): the newest ``flat`` observations weigh 1, older ones fade linearly."""
    if n <= flat:
        return [1.0] * n
    ramp = n - flat
    if ramp == 1:
        return [1.0 / n] + [1.0] * flat
    return [1.0 / n + (1.0 - 1.0 / n) * i / (ramp - 1) for i in range(ramp)] + [1.0] * flat


class TPESearcher(Searcher):
    name = "tpe"

    def __init__(
        self,
        space: Space,
        *,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: float = 0.1,
        max_good: int = 25,
        prior_weight: float = 1.0,
        multivariate: bool = True,
        constant_liar: bool = True,
        bandwidth: str = "scott",
        min_bandwidth: float | None = 0.005,
        random_fraction: float = 0.0,
        good_weights: str = "uniform",
        bad_bandwidth_clip: bool = True,
    ) -> None:
        super().__init__(space)
        self.n_startup_trials = _check("n_startup_trials", n_startup_trials, int, 1)
        self.n_ei_candidates = _check("n_ei_candidates", n_ei_candidates, int, 1)
        self.gamma = _check("gamma", gamma, float, 0.0, 1.0)
        if self.gamma == 0:
            raise ValueError("gamma is 0.0, must be > 0")
        self.max_good = _check("max_good", max_good, int, 1)
        self.prior_weight = _check("prior_weight", prior_weight, float, 0.0)
        self.multivariate = _check("multivariate", multivariate, bool)
        self.constant_liar = _check("constant_liar", constant_liar, bool)
        if bandwidth not in _BANDWIDTHS:
            raise ValueError(f"bandwidth is {bandwidth!r}, must be one of {', '.join(_BANDWIDTHS)}")
        self.bandwidth = bandwidth
        # None: Optuna's "magic clip", a floor of span / min(100, n + 2).
        self.min_bandwidth = (
            None if min_bandwidth is None else _check("min_bandwidth", min_bandwidth, float, 0.0, 1.0)
        )
        self.random_fraction = _check("random_fraction", random_fraction, float, 0.0, 1.0)
        self.good_weights = good_weights
        self.bad_bandwidth_clip = bad_bandwidth_clip

    def config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_startup_trials": self.n_startup_trials,
            "n_ei_candidates": self.n_ei_candidates,
            "gamma": self.gamma,
            "max_good": self.max_good,
            "prior_weight": self.prior_weight,
            "multivariate": self.multivariate,
            "constant_liar": self.constant_liar,
            "bandwidth": self.bandwidth,
            "min_bandwidth": self.min_bandwidth,
            "random_fraction": self.random_fraction,
            "good_weights": self.good_weights,
            "bad_bandwidth_clip": self.bad_bandwidth_clip,
        }

    @property
    def _floor(self) -> float:
        return -1.0 if self.min_bandwidth is None else self.min_bandwidth

    @property
    def wants_observations(self) -> bool:
        return True

    @property
    def min_observations(self) -> int:
        return self.n_startup_trials

    def n_good(self, n: int) -> int:
        return max(1, min(math.ceil(self.gamma * n), self.max_good))

    def suggest(
        self,
        rng: random.Random,
        index: int,
        observations: Sequence[Observation],
        pending: Sequence[dict[str, Any]],
    ) -> dict[str, Any]:
        if len(observations) < self.n_startup_trials:
            return self.space.sample(rng)
        if self.random_fraction > 0 and rng.random() < self.random_fraction:
            return self.space.sample(rng)
        params = self.space.params
        # Stable sort: equal losses keep trial order, so the split never depends on anything else.
        ranked = sorted(range(len(observations)), key=lambda i: observations[i].loss)
        n_good = self.n_good(len(observations))
        good_idx = sorted(ranked[:n_good])
        bad_idx = sorted(ranked[n_good:])
        good = [_encode(params, observations[i].params) for i in good_idx]
        bad = [_encode(params, observations[i].params) for i in bad_idx]
        if self.constant_liar:
            bad += [_encode(params, p) for p in pending]
        if self.good_weights == "rank":
            rank = {i: r for r, i in enumerate(ranked[:n_good])}
            good_w = [float(n_good - rank[i]) for i in good_idx]
        else:
            good_w = [1.0] * len(good)
        bad_w = ramp_weights(len(bad))
        if self.multivariate:
            x = self._propose(params, good, good_w, bad, bad_w, rng)
        else:
            x = []
            for j, p in enumerate(params):
                x += self._propose([p], [[g[j]] for g in good], good_w, [[b[j]] for b in bad], bad_w, rng)
        return _decode(params, x)

    def _propose(
        self,
        params: Sequence[Param],
        good: list[list[float]],
        good_w: list[float],
        bad: list[list[float]],
        bad_w: list[float],
        rng: random.Random,
    ) -> list[float]:
        pw = self.prior_weight
        l_est = ParzenEstimator(
            params, good, good_w, prior_weight=pw, bandwidth=self.bandwidth, min_bandwidth=self._floor
        )
        g_est = ParzenEstimator(
            params,
            bad,
            bad_w,
            prior_weight=pw,
            bandwidth="neighbour",
            min_bandwidth=-1.0 if self.bad_bandwidth_clip else self._floor,
        )
        best: list[float] = []
        best_score = -math.inf
        for _ in range(self.n_ei_candidates):
            candidate = l_est.sample(rng)
            score = l_est.log_pdf(candidate) - g_est.log_pdf(candidate)
            if score > best_score or not best:
                best, best_score = candidate, score
        return best


def _encode(params: Sequence[Param], values: dict[str, Any]) -> list[float]:
    out = []
    for p in params:
        v = values[p.name]
        out.append(float(p.index(v)) if hasattr(p, "choices") else p.to_internal(v))  # type: ignore[union-attr]
    return out


def _decode(params: Sequence[Param], x: Sequence[float]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p, xj in zip(params, x, strict=True):
        out[p.name] = p.choices[int(xj)] if hasattr(p, "choices") else p.from_internal(xj)  # type: ignore[union-attr]
    return out
