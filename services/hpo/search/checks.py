"""One checker for the search core's options: typed, finite and bounded.

Options reach the core from YAML and from Python, and the same values are then used inside a
workflow, where an unexpected type or a NaN would fail a workflow task instead of a spec. So
every option is checked when the scheduler is built: a bool is never a number, a string is
never a bool ("no" is not false), a float is finite, and every number has an upper bound that
keeps one decision cheap.
"""

from __future__ import annotations

import math
from typing import Any


def shown(value: Any) -> str:
    """A value as a message shows it: short, and safe for an int too long to print (Python
    refuses str() of an int over 4,300 digits)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def check_option(
    name: str, value: Any, kind: type, low: float | None = None, high: float | None = None
) -> Any:
    """``value`` as ``kind`` (an int is accepted where a float is wanted), or a ValueError naming ``name``."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:
            raise ValueError(f"{name} is {shown(value)}, too large for a number") from None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{name} must be {kind.__name__}, got {shown(value)}")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"{name} is {value!r}, must be a finite number")
    if low is not None and value < low:
        raise ValueError(f"{name} is {shown(value)}, must be >= {low}")
    if high is not None and value > high:
        raise ValueError(f"{name} is {shown(value)}, must be <= {high}")
    return value
