"""The Python API: `hpo.run(train, space=..., ...)` sweeps a function from a script or a
notebook (runner), on a stack of its own or a running one, in a child process (child)."""

from hpo.api.runner import run

__all__ = ["run"]
