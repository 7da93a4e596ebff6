"""The search core: pure, deterministic searchers and schedulers (events in, actions out).

No Temporal, torch, I/O, clocks or global randomness in here: the same code runs inside a
workflow, in unit tests and in the benchmarks.

`create`, `Study` and `Suggestion` (the ask/tell facade for your own loop) live in hpo.study,
which computes model-based proposals with optuna in your process: they are loaded when first
asked for, so nothing that imports the core (a workflow) loads optuna.
"""

from typing import Any

from .actions import ACTIONS, Action, Create, Finish, Promote, Stop
from .factory import ALGORITHMS, MODEL_BASED, MULTI_FIDELITY, build_scheduler
from .prior import compatible_prior, prior_problem
from .recorded import ProposalNeeded, ProposalRequest, RecordedSearcher
from .scheduler import Best, Scheduler
from .searcher import Observation, Searcher
from .space import CategoricalParam, FloatParam, IntParam, Space, parse_space
from .state import PriorObservation, SchedulerState, TrialRecord

__all__ = [
    "ACTIONS",
    "ALGORITHMS",
    "MODEL_BASED",
    "MULTI_FIDELITY",
    "Action",
    "Best",
    "CategoricalParam",
    "Create",
    "Finish",
    "FloatParam",
    "IntParam",
    "Observation",
    "PriorObservation",
    "Promote",
    "ProposalNeeded",
    "ProposalRequest",
    "RecordedSearcher",
    "Scheduler",
    "SchedulerState",
    "Searcher",
    "Space",
    "Stop",
    "Study",
    "Suggestion",
    "TrialRecord",
    "build_scheduler",
    "compatible_prior",
    "create",
    "parse_space",
    "prior_problem",
]

_FACADE = ("Study", "Suggestion", "create")


def __getattr__(name: str) -> Any:
    if name in _FACADE:
        from hpo.study import ask_tell

        return getattr(ask_tell, name)
    raise AttributeError(f"module 'hpo.search' has no attribute {name!r}")
