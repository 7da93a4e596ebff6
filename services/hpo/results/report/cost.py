"""Best result against money spent: the running best over accelerator time (or money)."""

from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go

from hpo.contracts.messages import SegmentRecord, SweepStatus
from hpo.results.report.common import FINISHED_COLOUR, RUNG_COLOURS, base_layout, better, fmt


@dataclass(frozen=True)
class CostPoint:
    hours: float  # accelerator-hours spent when this segment finished
    segment: SegmentRecord
    trial_id: str
    best: float | None  # best objective so far, any rung


def cost_points(status: SweepStatus) -> list[CostPoint]:
    """Finished segments in the order they finished, with cumulative accelerator-hours (failed
    ones cost money too) and the best objective seen so far."""
    finished = sorted(
        ((t.trial_id, s) for t in status.trials for s in t.segments if s.finished_at is not None),
        key=lambda item: (item[1].finished_at, item[0]),
    )
    points: list[CostPoint] = []
    hours, best = 0.0, None
    for trial_id, seg in finished:
        hours += seg.train_seconds / 3600
        if seg.objective is not None and (best is None or better(seg.objective, best, status.mode)):
            best = seg.objective
        points.append(CostPoint(hours, seg, trial_id, best))
    return points


def cost_figure(status: SweepStatus, points: list[CostPoint]) -> go.Figure | None:
    """Best objective so far (a step line) against accelerator-hours, and every result as a
    dot coloured by its rung: where the money went and when it paid off."""
    scored = [p for p in points if p.best is not None]
    if not scored:
        return None
    metric = status.objective_metric
    fig = go.Figure(
        go.Scatter(
            x=[0.0, *[p.hours for p in scored]],
            y=[scored[0].best, *[p.best for p in scored]],
            mode="lines",
            line={"shape": "hv", "color": FINISHED_COLOUR, "width": 3},
            name=f"best {metric} so far",
            hovertemplate="%{x:.3g} h · best %{y:.4g}<extra></extra>",
        )
    )
    for rung in sorted({p.segment.rung for p in points if p.segment.objective is not None}):
        on_rung = [p for p in points if p.segment.rung == rung and p.segment.objective is not None]
        fig.add_trace(
            go.Scatter(
                x=[p.hours for p in on_rung],
                y=[p.segment.objective for p in on_rung],
                mode="markers",
                marker={"size": 9, "color": RUNG_COLOURS[min(rung, len(RUNG_COLOURS) - 1)]},
                name=f"result at rung {rung}",
                hovertext=[
                    html.escape(f"{p.trial_id} rung {rung}: {fmt(p.segment.objective)}") for p in on_rung
                ],
                hoverinfo="text",
            )
        )
    base_layout(fig, 440)
    fig.update_layout(
        xaxis={
            "title": "accelerator-hours spent (cumulative)",
            "rangemode": "tozero",
            "exponentformat": "none",
        },
        yaxis_title=f"validation {metric}",
        legend={"orientation": "h", "y": -0.25, "x": 0},
    )
    return fig
