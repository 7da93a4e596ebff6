"""Calls into the search core: pure and deterministic, so whatever one raises would raise again
on every retry, and the sweep fails with its message instead (SearchFailed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hpo.search.recorded import ProposalNeeded

T = TypeVar("T")


class SearchFailed(Exception):
    """The search core refused a configuration or broke: the same on every retry, so the
    sweep fails with this message."""


def guarded(step: Callable[..., T], *args: Any) -> T:
    """Every call into the search core goes through here: it is pure and deterministic, so
    whatever it raises would raise again on every retry."""
    try:
        return step(*args)
    except (ProposalNeeded, SearchFailed):
        raise
    except Exception as error:
        kind = "" if isinstance(error, ValueError) else f"{type(error).__name__}: "
        raise SearchFailed(f"search: {kind}{error}") from error
