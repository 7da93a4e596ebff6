"""The losses a model-based searcher fits: optionally power-transformed towards a normal shape.

A GP assumes its targets are roughly Gaussian. Real losses are not: a diverged run scores 100x
the good ones, a Rosenbrock valley spans four orders of magnitude, an accuracy table bunches
against its ceiling. Fitted on such values the GP spends its length-scales explaining the
outliers and its expected improvement is flat where the good configurations are. HEBO (Cowen-
Rivers et al., "HEBO: Pushing the limits of sample-efficient hyper-parameter optimisation",
JAIR 2022) showed a power transform of the outputs is one of the largest single gains for GP BO
on HPO tasks; we use the same Yeo-Johnson transform (scipy's, its lambda fitted by maximum
likelihood on the standardised losses).

The transform is monotone increasing, so the order of the losses, the incumbent and the meaning
of "improvement" are unchanged; only the model's view of distances between losses changes. A
rank-based sampler (TPE) is indifferent to it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np

#: Fewer losses than this carry too little information to fit lambda; they are left as they are.
_MIN_LOSSES = 3

__all__ = ["transformed"]


def transformed(losses: Sequence[float], how: str) -> list[float]:
    """``losses`` (finite) as the model should see them; the same order, ties kept."""
    if how == "none" or len(losses) < _MIN_LOSSES:
        return list(losses)
    y = np.asarray(losses, dtype=float)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # Losses near the float limits overflow the spread, and a degenerate lambda search (e.g.
        # two distinct values) warns and may overflow: results are checked, nothing is raised.
        warnings.simplefilter("ignore")
        spread = float(y.std())
        if not spread > 0 or not math.isfinite(spread):
            return list(losses)
        z = (y - y.mean()) / spread
        # Imported here: scipy.stats takes a second to import, which checking a spec (it builds
        # this searcher) should not pay.
        from scipy import stats

        try:
            out, _ = stats.yeojohnson(z)
        except (ValueError, FloatingPointError, OverflowError):
            return z.tolist()
    if not np.all(np.isfinite(out)) or not float(np.std(out)) > 0:
        return z.tolist()
    return out.tolist()
