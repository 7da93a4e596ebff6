"""A synthetic tabular task (binary labels from a noisy rule), the same on every worker."""

from __future__ import annotations

import numpy as np


def tabular(rows: int, features: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, features))
    weights = rng.normal(size=features)
    y = ((x @ weights + np.sin(3 * x[:, 0]) + rng.normal(scale=1.0, size=rows)) > 0).astype(np.int64)
    cut = int(rows * 0.8)
    return x[:cut], y[:cut], x[cut:], y[cut:]
