"""Child processes that do not outlive their parent (Linux's PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import signal

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
