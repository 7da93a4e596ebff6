"""What every part of the report shares: colours, limits, number formatting, the space's parameters."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import plotly.graph_objects as go

CurveRows = Sequence[Mapping[str, Any]]
OutcomeKind = Literal["finished", "promoted", "stopped", "waiting", "failed", "running"]

#: Fewer scored trials than this at one rung and the importance section shows a note instead:
#: PED-ANOVA compares the best trials' parameter densities with all trials', and with a
#: handful of points both densities are mostly the prior.
MIN_IMPORTANCE_TRIALS = 6
#: Points per learning curve in the page: enough for the shape, small enough for 100 trials.
MAX_CURVE_POINTS = 400
PNG_WIDTH, PNG_HEIGHT, PNG_SCALE = 1200, 600, 2

FINISHED_COLOUR = "#1a9850"
STOPPED_COLOUR = "#a0a0a0"
FAILED_COLOUR = "#d73027"
RUNNING_COLOUR = "#f28e2b"
WAITING_COLOUR = "#c9b37e"
#: One blue per rung reached by a promoted trial, darker the higher it climbed.
PROMOTED_COLOURS = ("#74add1", "#4575b4", "#313695", "#1b1e5a")
#: Markers of results per rung in the cost figure.
RUNG_COLOURS = ("#9ecae1", "#4292c6", "#08519c", "#08306b", "#041a3a")

BROWSER_HINT = (
    "install Chromium (`sudo bash scripts/install_report_tools.sh`, or `apt-get install chromium` on "
    "Debian/Ubuntu) or Chrome, or set BROWSER_PATH to a Chrome/Chromium executable"
)


class ImageExportUnavailable(RuntimeError):
    """No browser for kaleido: the HTML was written, the PNGs cannot be."""


def to_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def human_seconds(seconds: float) -> str:
    """Accelerator time in the unit a person reads at a glance (a tiny sweep is 0.005 h)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def thin(rows: CurveRows, limit: int = MAX_CURVE_POINTS) -> list[Mapping[str, Any]]:
    """Every k-th row and the last: a 100k-step curve must not make a 100 MB page."""
    if len(rows) <= limit:
        return list(rows)
    stride = math.ceil(len(rows) / limit)
    kept = list(rows[::stride])
    return kept if kept[-1] is rows[-1] else [*kept, rows[-1]]


def curve_metrics(curves: Mapping[str, CurveRows]) -> list[str]:
    """Numeric metrics the training reported, in the order first seen (usually loss first)."""
    names: dict[str, None] = {}
    for trial_id in sorted(curves):
        for row in curves[trial_id]:
            for name, value in row.items():
                if name not in ("step", "time") and to_number(value) is not None:
                    names.setdefault(name, None)
    return list(names)


def base_layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 70, "r": 30, "t": 40, "b": 60},
        font={"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        hoverlabel={"namelength": -1},
    )
