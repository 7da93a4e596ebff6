"""Model-based searchers (GP Bayesian optimisation, Optuna's samplers) that run OUTSIDE the workflow sandbox.

Their maths needs numpy, scipy and torch, which a Temporal workflow must never import, so this package
lives beside ``hpo.search`` rather than in it: ``hpo.search`` imports nothing from here (the façade
``hpo.search.create`` imports it lazily, only when asked for ``gp`` or ``optuna``). A workflow is
meant to reach these searchers through an activity whose answer is recorded in history.

Each searcher is stateless between calls, like the pure core's: the observations and the pending
configurations come in, one configuration goes out, and the same inputs give the same suggestion.
"""

from .distributions import from_optuna_params, to_optuna_distributions, to_optuna_params
from .samplers import SAMPLERS, build_sampler
from .searcher import ModelBasedSearcher

__all__ = [
    "SAMPLERS",
    "ModelBasedSearcher",
    "build_sampler",
    "from_optuna_params",
    "to_optuna_distributions",
    "to_optuna_params",
]
