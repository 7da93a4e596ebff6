"""Parzen estimators for TPE, in pure Python so they are bit-for-bit replayable in a workflow.

A mixture of product kernels over the *internal* coordinates of a space (see space.py):
truncated Gaussians for floats, discretised truncated Gaussians for ints (the mass of the
integer's bin), and smoothed one-hot tables for categoricals, plus one broad *prior* kernel
that keeps every region reachable. In multivariate mode each kernel is one observation across
all dimensions, so ``l(x)`` sees correlations between parameters.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from .space import CategoricalParam, IntParam, Param

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_SQRT2 = math.sqrt(2.0)
_TINY = 1e-300


def log_normal_mass(a: float, b: float) -> float:
    """log(Phi(b) - Phi(a)) for a < b, accurate in both tails (erfc, not 1 - erf)."""
    if a >= 0:
        mass = 0.5 * (math.erfc(a / _SQRT2) - math.erfc(b / _SQRT2))
    elif b <= 0:
        mass = 0.5 * (math.erfc(-b / _SQRT2) - math.erfc(-a / _SQRT2))
    else:
        mass = 1.0 - 0.5 * (math.erfc(-a / _SQRT2) + math.erfc(b / _SQRT2))
    if mass > 0:
        return math.log(mass)
    # Far in a tail both terms round to the same float: fall back to width x density.
    mid = 0.5 * (a + b)
    return math.log(max(b - a, _TINY)) - 0.5 * mid * mid - _LOG_SQRT_2PI


@dataclass(frozen=True)
class Dimension:
    """One parameter's kernels: ``mus``/``sigmas`` for numbers, ``table`` rows for categories."""

    param: Param
    lo: float
    hi: float
    mus: list[float]
    sigmas: list[float]
    #: log of each truncated kernel's mass inside [lo, hi], precomputed once per fit.
    log_norms: list[float]
    table: list[list[float]] | None = None

    def log_pdf(self, k: int, x: float) -> float:
        if self.table is not None:
            return self.table[k][int(x)]
        mu, sigma = self.mus[k], self.sigmas[k]
        param = self.param
        if isinstance(param, IntParam):
            left, right = _bin(param, x)
            return log_normal_mass((left - mu) / sigma, (right - mu) / sigma) - self.log_norms[k]
        z = (x - mu) / sigma
        return -0.5 * z * z - math.log(sigma) - _LOG_SQRT_2PI - self.log_norms[k]

    def sample(self, k: int, rng: random.Random) -> float:
        if self.table is not None:
            return float(_choice(self.table[k], rng))
        mu, sigma = self.mus[k], self.sigmas[k]
        x = mu
        for _ in range(64):
            x = rng.gauss(mu, sigma)
            if self.lo <= x <= self.hi:
                break
        else:
            x = min(max(x, self.lo), self.hi)
        if isinstance(self.param, IntParam):
            # Snap to the integer grid so density and proposal refer to the same value.
            return self.param.to_internal(self.param.from_internal(x))
        return x


def _bin(param: IntParam, x: float) -> tuple[float, float]:
    value = param.from_internal(x)
    if param.log:
        return math.log(value - 0.5), math.log(value + 0.5)
    return value - param.step / 2, value + param.step / 2


def _choice(log_row: list[float], rng: random.Random) -> int:
    u = rng.random()
    acc = 0.0
    for i, lp in enumerate(log_row):
        acc += math.exp(lp)
        if u < acc:
            return i
    return len(log_row) - 1


def logsumexp(values: Sequence[float]) -> float:
    m = max(values)
    if m == -math.inf:
        return m
    return m + math.log(sum(math.exp(v - m) for v in values))


class ParzenEstimator:
    """Mixture of product kernels: one per observation (weighted) plus the prior."""

    def __init__(
        self,
        params: Sequence[Param],
        points: Sequence[Sequence[float]],
        weights: Sequence[float],
        *,
        prior_weight: float,
        min_bandwidth: float,
    ) -> None:
        n = len(points)
        raw = [*weights, prior_weight] if n else [1.0]
        total = sum(raw)
        self.log_weights = [math.log(w / total) if w > 0 else -math.inf for w in raw]
        self.n_kernels = len(raw)
        self.dims = [
            _fit_dimension(p, [pt[j] for pt in points], prior_weight, min_bandwidth)
            for j, p in enumerate(params)
        ]

    def log_pdf(self, x: Sequence[float]) -> float:
        terms = []
        for k, lw in enumerate(self.log_weights):
            if lw == -math.inf:
                continue
            acc = lw
            for dim, xj in zip(self.dims, x, strict=True):
                acc += dim.log_pdf(k, xj)
            terms.append(acc)
        return logsumexp(terms)

    def sample(self, rng: random.Random) -> list[float]:
        u = rng.random()
        acc = 0.0
        k = self.n_kernels - 1
        for i, lw in enumerate(self.log_weights):
            acc += math.exp(lw)
            if u < acc:
                k = i
                break
        return [dim.sample(k, rng) for dim in self.dims]


def _fit_dimension(param: Param, xs: list[float], prior_weight: float, min_bandwidth: float) -> Dimension:
    n = len(xs)
    if isinstance(param, CategoricalParam):
        c = len(param.choices)
        # Each observation keeps most of its mass on its own choice; the prior's share is
        # spread evenly, so an unseen choice is never impossible.
        rows = []
        for x in xs:
            row = [prior_weight / (n + 1)] * c
            row[int(x)] += 1.0
            s = sum(row)
            rows.append([math.log(v / s) for v in row])
        rows.append([-math.log(c)] * c)
        return Dimension(param, 0.0, float(c - 1), [], [], [], rows)
    lo, hi = param.bounds
    span = hi - lo
    sigmas = _neighbour(xs, lo, hi, n, min_bandwidth)
    mus = [*xs, 0.5 * (lo + hi)]
    sigmas = [*sigmas, span]
    log_norms = [log_normal_mass((lo - mu) / s, (hi - mu) / s) for mu, s in zip(mus, sigmas, strict=True)]
    return Dimension(param, lo, hi, mus, sigmas, log_norms)


def _neighbour(xs: list[float], lo: float, hi: float, n: int, min_bandwidth: float) -> list[float]:
    """Optuna's rule: the wider gap to a neighbour, clipped to [span / min(100, n + 2), span].

    ``min_bandwidth`` < 0 keeps Optuna's "magic clip"; otherwise the floor is that fraction of the span.
    """
    if not xs:
        return []
    span = hi - lo
    order = sorted(range(n), key=lambda i: xs[i])
    ext = [lo, *(xs[i] for i in order), hi]
    sig = [max(ext[i + 1] - ext[i], ext[i + 2] - ext[i + 1]) for i in range(n)]
    if n >= 2:
        sig[0] = ext[2] - ext[1]
        sig[-1] = ext[-2] - ext[-3]
    floor = span / min(100.0, 2.0 + n) if min_bandwidth < 0 else span * min_bandwidth
    out = [0.0] * n
    for rank, i in enumerate(order):
        out[i] = min(max(sig[rank], floor), span)
    return out
