"""Parameters against the objective: parallel coordinates of the scored trials."""

from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from hpo.contracts.messages import SweepStatus
from hpo.contracts.spec import SweepSpec
from hpo.results.report.common import base_layout, to_number
from hpo.results.report.outcomes import top_rung
from hpo.search.space import CategoricalParam, FloatParam, IntParam, Param, parse_space


def space_params(spec: SweepSpec) -> list[Param]:
    return list(parse_space(spec.space).params)


def is_log(param: Param) -> bool:
    return isinstance(param, (FloatParam, IntParam)) and param.log


def _encode(param: Param, value: Any) -> float | None:
    """A parameter value on its parallel-coordinates axis: log10 on a log scale, the index
    of a categorical choice; None for a value outside the space (an older spec)."""
    if isinstance(param, CategoricalParam):
        try:
            return float(param.index(value))
        except ValueError:
            return None
    number = to_number(value)
    if number is None or (param.log and number <= 0):
        return None
    return math.log10(number) if param.log else number


def log_ticks(low: float, high: float) -> list[float]:
    """Round ticks for a log axis: decades when it spans three or more, else 1-2-5 steps, else
    five evenly spaced values (a narrow range such as 1e-3..5e-3)."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas in ((1,), (1, 2, 5)):
        ticks = [m * 10.0**k for k in range(first, last + 1) for m in mantissas]
        ticks = [float(f"{t:.12g}") for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]
        if len(ticks) >= 3:
            return ticks
    lo, hi = math.log10(low), math.log10(high)
    return [float(f"{10 ** (lo + (hi - lo) * i / 4):.2g}") for i in range(5)]


def _dimension(param: Param, values: list[float]) -> dict[str, Any]:
    if isinstance(param, CategoricalParam):
        count = len(param.choices)
        return {
            "label": param.name,
            "values": values,
            "tickvals": list(range(count)),
            "ticktext": [str(c) for c in param.choices],
            "range": [0, max(count - 1, 1)],
        }
    if param.log:
        ticks = log_ticks(param.low, param.high)
        return {
            "label": f"{param.name} (log)",
            "values": values,
            "range": [math.log10(param.low), math.log10(param.high)],
            "tickvals": [math.log10(t) for t in ticks],
            "ticktext": [f"{t:g}" for t in ticks],
        }
    return {"label": param.name, "values": values, "range": [param.low, param.high]}


def parallel_figure(status: SweepStatus) -> go.Figure | None:
    """Each scored trial a line through its parameters to its objective; colour = objective,
    brighter is better whatever the mode."""
    params = space_params(status.spec)
    rows = []
    for trial in status.trials:
        encoded = [_encode(p, trial.params.get(p.name)) for p in params]
        if trial.objective is not None and all(v is not None for v in encoded):
            rows.append((trial, encoded))
    if not rows:
        return None
    dimensions = [_dimension(p, [r[1][i] for r in rows]) for i, p in enumerate(params)]
    top = top_rung(status)
    if top > 0:
        dimensions.append(
            {
                "label": "rung reached",
                "values": [t.rung for t, _ in rows],
                "tickvals": list(range(top + 1)),
                "range": [0, top],
            }
        )
    objectives = [t.objective for t, _ in rows]
    dimensions.append({"label": f"{status.objective_metric} ({status.mode})", "values": objectives})
    fig = go.Figure(
        go.Parcoords(
            dimensions=dimensions,
            line={
                "color": objectives,
                "colorscale": "Viridis",
                "reversescale": status.mode == "min",
                "showscale": True,
                "colorbar": {"title": {"text": status.objective_metric}},
            },
            labelfont={"size": 13},
            tickfont={"size": 11},
        )
    )
    base_layout(fig, 480)
    fig.update_layout(margin={"l": 80, "r": 40, "t": 70, "b": 40})
    return fig
