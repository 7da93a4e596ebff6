"""The one error path of the `hpo` command: any exception becomes an exit code and one paragraph.

A user reads what to fix (the field, the file, the server, the trial), never a traceback
unless they ask for one with `--debug`. Exit codes say whose fault it was:

  0    done (a sweep stopped early on purpose counts as done)
  1    the sweep itself failed, or none of its trials produced a score
  2    a user error: a bad spec, argument, file, input or setting, a server out of reach
  70   a bug in hpo (EX_SOFTWARE): the message says so and how to see the traceback
  130  interrupted (Ctrl-C)
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any

SWEEP_FAILED = 1
USER_ERROR = 2
INTERNAL_ERROR = 70
INTERRUPTED = 130

EXIT_CODES_HELP = (
    "exit codes: 0 done; 1 the sweep failed (or no trial produced a score); 2 a user error "
    "(bad spec, argument, file, input or setting; a server out of reach); 70 a bug in hpo; "
    "130 interrupted. --debug (before or after the command) adds the traceback to any error."
)


@dataclass(frozen=True)
class Explained:
    """What the CLI prints for an exception (nothing when `message` is None) and its exit code."""

    code: int
    message: str | None


def explain(error: BaseException, *, temporal_address: str | None = None) -> Explained:
    """The exit code and paragraph for `error`, whatever raised it."""
    from temporalio.client import WorkflowFailureError
    from temporalio.exceptions import FailureError
    from temporalio.service import RPCError

    from hpo.cli.follow import SweepFailed, failure_cause, lost_server
    from hpo.cli.ui import UserError
    from hpo.contracts.spec import SpecError

    if isinstance(error, KeyboardInterrupt):
        return Explained(INTERRUPTED, None)
    if isinstance(error, SweepFailed):  # before UserError, its base
        return Explained(SWEEP_FAILED, str(error))
    if isinstance(error, (UserError, SpecError)) or _unavailable(error):
        return Explained(USER_ERROR, f"error: {error}")
    if _settings_error(error):
        return Explained(USER_ERROR, f"error: process settings (environment): {_settings_fields(error)}")
    if isinstance(error, RPCError):
        where = f"Temporal at {temporal_address}" if temporal_address else "Temporal"
        if lost_server(error):
            return Explained(
                USER_ERROR,
                f"error: {where} is unreachable ({error.message}); start it with `hpo up` "
                "or point HPO_TEMPORAL_ADDRESS at a running server",
            )
        return Explained(USER_ERROR, f"error: {where} refused the request: {error.message}")
    if isinstance(error, (WorkflowFailureError, FailureError)):
        return Explained(SWEEP_FAILED, f"failed: {failure_cause(error)}")
    if isinstance(error, OSError) and error.filename is not None:
        # A path the user named (an --output, an --out, an input file): theirs to fix.
        return Explained(USER_ERROR, f"error: {error.filename}: {error.strerror or error}")
    return Explained(INTERNAL_ERROR, bug_report(error))


def bug_report(error: BaseException) -> str:
    return (
        f"hpo failed with an internal error, a bug in hpo rather than in your sweep: "
        f"{one_line(error)}. Rerun the command with --debug for the traceback, and report it "
        "with that traceback."
    )


def one_line(error: BaseException) -> str:
    """`Type: message`, the message's first line only."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__


def traceback_text(error: BaseException) -> str:
    return "".join(traceback.format_exception(error))


def _unavailable(error: BaseException) -> bool:
    """Temporal or S3 out of reach: named by hpo's own exceptions, which say the address."""
    from hpo.connections.temporal import TemporalUnavailable
    from hpo.storage.s3 import StorageUnavailable

    return isinstance(error, (TemporalUnavailable, StorageUnavailable))


def _settings_error(error: BaseException) -> bool:
    from pydantic import ValidationError

    return isinstance(error, ValidationError) and error.title == "Settings"


def _settings_fields(error: Any) -> str:
    """Each bad setting by its environment variable: `HPO_PRICE_PER_HOUR='abc': Input should be ...`."""
    from hpo.contracts.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    parts = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else ""
        field = Settings.model_fields.get(name)
        alias = getattr(field.validation_alias, "choices", None) if field else None
        variable = str(alias[0]) if alias else f"{prefix}{name}".upper()
        parts.append(f"{variable}={problem.get('input')!r}: {problem['msg']}")
    return "; ".join(parts)
