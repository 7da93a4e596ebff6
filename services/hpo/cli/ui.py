"""What every command shares: the console it prints on, and the error a user can fix."""

from __future__ import annotations

from rich.console import Console

# A wide console when piped (CI logs, `tee`): the leaderboard must not wrap into noise.
console = Console(highlight=False, width=None if Console().is_terminal else 160)


class UserError(RuntimeError):
    """Anything the user can fix; printed as one paragraph, exit code 2."""


def root_cause(error: BaseException) -> str:
    """The innermost message of a Temporal failure chain (workflow -> activity -> application)."""
    while error.__cause__ is not None or getattr(error, "cause", None) is not None:
        error = getattr(error, "cause", None) or error.__cause__  # type: ignore[assignment]
    return str(error)
