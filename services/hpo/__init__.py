"""hpo: durable hyperparameter optimization on Temporal and S3.

The trial API for your own training code::

    import hpo

    def train(trial: hpo.Trial) -> dict[str, float]:
        state = trial.restore()
        ...
        trial.report(step, loss=loss)
        trial.save({"model": model.state_dict(), "step": step, "rng": hpo.capture_rng()})
        return {"accuracy": accuracy}

and `hpo.run(train, space=..., trials=..., objective=...)` to sweep it from Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.rng import capture_rng, restore_rng
from hpo.trial import Checkpoint, Result, Trial, TrialError

__version__ = "0.1.0"
__all__ = ["Checkpoint", "Result", "Trial", "TrialError", "capture_rng", "restore_rng", "run"]

if TYPE_CHECKING:
    from hpo.api.runner import run


def __getattr__(name: str) -> Any:
    # `hpo.run` pulls in Temporal and the stack: load it only when it is used.
    if name == "run":
        from hpo.api.runner import run

        return run
    raise AttributeError(f"module 'hpo' has no attribute {name!r}")
