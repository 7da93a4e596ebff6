"""What the adapters take from a framework's logs as a metric: a finite int or float."""

from __future__ import annotations

import math
from typing import Any


def finite_number(value: Any) -> bool:
    """An int or float (not a bool, which Python counts as an int) that is neither NaN nor inf."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
