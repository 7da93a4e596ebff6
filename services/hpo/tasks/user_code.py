"""Import a user's `module:function` from their code directory, with messages that say
which field is wrong, and forget their modules afterwards."""

from __future__ import annotations

import contextlib
import importlib
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


class UserCodeError(ValueError):
    """The user's code cannot be imported or is not what the spec says it is."""


@contextlib.contextmanager
def user_modules(code_dir: Path | None) -> Iterator[None]:
    """Put `code_dir` first on sys.path for the block; then drop it and every module loaded
    from it, so two sweeps with different versions of `train.py` never share one."""
    before = set(sys.modules)
    root = str(code_dir.resolve()) if code_dir is not None else None
    if root is not None:
        sys.path.insert(0, root)
    try:
        yield
    finally:
        if root is not None:
            with contextlib.suppress(ValueError):
                sys.path.remove(root)
        if root is not None:
            for name in set(sys.modules) - before:
                if _loaded_from(sys.modules.get(name), root):
                    del sys.modules[name]


def _loaded_from(module: Any, root: str) -> bool:
    location = getattr(module, "__file__", None)
    if isinstance(location, str):
        return location.startswith(root)
    # Namespace packages have no __file__, only __path__ entries (some modules fake one).
    try:
        return any(str(place).startswith(root) for place in getattr(module, "__path__", None) or [])
    except TypeError:
        return False


def import_callable(reference: str, code_dir: Path | None, field: str) -> Callable[..., Any]:
    """`module:function` imported from `code_dir` (already on sys.path) or the environment."""
    module_name, _, attribute = reference.partition(":")
    where = f"from {code_dir}" if code_dir is not None else "(no task.code directory is set)"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            raise UserCodeError(
                f"{field}: cannot import module {module_name!r} {where}: no such module; check the "
                "spelling and that task.code names the directory holding it"
            ) from None
        raise UserCodeError(
            f"{field}: importing {module_name!r} {where} failed: {error} (a dependency your code imports "
            "is not installed on this machine)"
        ) from None
    except BaseException as error:
        raise UserCodeError(
            f"{field}: importing {module_name!r} {where} raised {type(error).__name__}: {error}\n"
            + _user_frames(error)
        ) from None
    function = getattr(module, attribute, None)
    if function is None:
        available = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise UserCodeError(
            f"{field}: module {module_name!r} has no {attribute!r}"
            + (f"; its functions are {', '.join(available[:12])}" if available else "")
        )
    if not callable(function):
        raise UserCodeError(f"{field}: {reference} is a {type(function).__name__}, not a function")
    return function  # type: ignore[no-any-return]


def _user_frames(error: BaseException, limit: int = 6) -> str:
    """The last frames of a traceback: where in the user's code it went wrong."""
    lines = traceback.format_exception(type(error), error, error.__traceback__)
    return "".join(lines[-limit:]).rstrip()


def check_entrypoint(reference: str, code_dir: Path | None, field: str) -> None:
    """Import the entrypoint here, before anything starts, where the code is at hand."""
    with user_modules(code_dir):
        import_callable(reference, code_dir, field)
