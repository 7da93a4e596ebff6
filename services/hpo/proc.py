"""Process lifetime: children that do not outlive their parent (Linux's PR_SET_PDEATHSIG),
and an exit that skips the interpreter's teardown."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import NoReturn

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies: a killed `hpo up`
    or training worker must not leave servers or trials running as orphans."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):  # not Linux: best effort
        pass


def die_gracefully_with_parent() -> None:
    die_with_parent(signal.SIGTERM)


def exit_without_teardown(code: int) -> NoReturn:
    """Flush logs and stdio, then leave at once. The Temporal SDK's Rust threads may still call
    into Python while CPython finalizes, which aborts a process whose work is already done
    (SIGABRT, "PyGILState_Release: thread state must be current"; temporalio/sdk-python#300).
    Callers clean up in their own `finally` blocks first: nothing is left to the teardown."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
