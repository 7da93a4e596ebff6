"""The ladder over time: each segment a bar on its lane, coloured by how its trial ended."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from hpo.contracts.messages import SegmentRecord, SweepStatus, TrialResult
from hpo.results.report.common import FAILED_COLOUR, FINISHED_COLOUR, base_layout, fmt
from hpo.results.report.outcomes import Outcome, outcomes, rung_steps, top_rung


@dataclass
class Bar:
    trial: TrialResult
    segment: SegmentRecord
    start: float
    end: float
    lane: int = 0
    lanes: int = 1

    @property
    def y(self) -> float:
        """Concurrent segments on one rung get lanes side by side within the rung's band."""
        spacing = min(0.22, 0.7 / self.lanes)
        return self.segment.rung + (self.lane - (self.lanes - 1) / 2) * spacing


def time_unit(span_s: float) -> tuple[float, str]:
    if span_s < 180:
        return 1.0, "seconds"
    if span_s < 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def segment_bars(status: SweepStatus) -> list[Bar]:
    """Every segment as a bar from its start to its end (a running one: to the latest event)."""
    segments = [(t, s) for t in status.trials for s in t.segments]
    if not segments:
        return []
    latest = max(max(s.started_at, s.finished_at or 0.0) for _, s in segments)
    bars = [Bar(t, s, s.started_at, s.finished_at or latest) for t, s in segments]
    _assign_lanes(bars)
    return bars


def _assign_lanes(bars: list[Bar]) -> None:
    """Greedy interval packing per rung: a lane is reused once its last bar has ended."""
    for rung in {bar.segment.rung for bar in bars}:
        on_rung = sorted((b for b in bars if b.segment.rung == rung), key=lambda b: (b.start, b.end))
        lane_ends: list[float] = []
        for bar in on_rung:
            free = next((i for i, end in enumerate(lane_ends) if end <= bar.start), None)
            if free is None:
                lane_ends.append(bar.end)
                bar.lane = len(lane_ends) - 1
            else:
                lane_ends[free] = bar.end
                bar.lane = free
        for bar in on_rung:
            bar.lanes = len(lane_ends)


def ladder_figure(status: SweepStatus) -> go.Figure | None:
    """Rungs over time: a bar per segment, promotions as ▲ with a dotted riser from the rung
    below, stops as ✕, failures as a red ✕, trials that reached the top as ★."""
    bars = segment_bars(status)
    if not bars:
        return None
    top = top_rung(status)
    origin = min(bar.start for bar in bars)
    unit, unit_name = time_unit(max(bar.end for bar in bars) - origin)

    def x(t: float) -> float:
        return (t - origin) / unit

    fig = go.Figure()
    endings = outcomes(status)
    _ladder_bars(fig, bars, endings, x)
    _ladder_markers(fig, bars, endings, x)
    steps = rung_steps(status.spec)
    ticks = list(range(top + 1))
    labels = [f"rung {k}" + (f"<br>{steps[k]} steps" if k < len(steps) else "") for k in ticks]
    base_layout(fig, 260 + 110 * (top + 1))
    fig.update_layout(
        xaxis={"title": f"{unit_name} since the sweep started", "rangemode": "tozero"},
        yaxis={"tickvals": ticks, "ticktext": labels, "range": [-0.6, top + 0.6], "zeroline": False},
        legend={"orientation": "h", "y": -0.22, "x": 0},
    )
    return fig


def _ladder_bars(fig: go.Figure, bars: list[Bar], endings: dict[str, Outcome], x: Any) -> None:
    shown: set[str] = set()
    for trial_bars in _by_trial(bars).values():
        ending = endings[trial_bars[0].trial.trial_id]
        xs: list[float | None] = []
        ys: list[float | None] = []
        text: list[str] = []
        for bar in trial_bars:
            seg = bar.segment
            hover = (
                f"{html.escape(bar.trial.trial_id)} rung {seg.rung}"
                f"<br>steps {seg.step if seg.step is not None else '…'}"
                f" · objective {fmt(seg.objective) if seg.objective is not None else '-'}"
                f"<br>{seg.train_seconds:.0f} accelerator-s · {seg.status}"
            )
            mid = (bar.start + bar.end) / 2
            xs += [x(bar.start), x(mid), x(bar.end), None]
            ys += [bar.y, bar.y, bar.y, None]
            text += [hover, hover, hover, ""]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": ending.colour, "width": 9},
                name=ending.legend,
                legendgroup=ending.legend,
                legendrank=ending.rank,
                showlegend=ending.legend not in shown,
                hovertext=text,
                hoverinfo="text",
            )
        )
        shown.add(ending.legend)
    if len(bars) <= 40:
        fig.add_trace(
            go.Scatter(
                x=[x(b.start) for b in bars],
                y=[b.y + 0.07 for b in bars],
                mode="text",
                text=[html.escape(b.trial.trial_id) for b in bars],
                textposition="top right",
                textfont={"size": 10, "color": "#555555"},
                hoverinfo="skip",
                showlegend=False,
            )
        )


def _by_trial(bars: list[Bar]) -> dict[str, list[Bar]]:
    grouped: dict[str, list[Bar]] = {}
    for bar in bars:
        grouped.setdefault(bar.trial.trial_id, []).append(bar)
    return grouped


def _ladder_markers(fig: go.Figure, bars: list[Bar], endings: dict[str, Outcome], x: Any) -> None:
    risers_x: list[float | None] = []
    risers_y: list[float | None] = []
    promoted: list[tuple[float, float, str]] = []
    ends: dict[str, list[tuple[float, float, str]]] = {"stopped": [], "failed": [], "finished": []}
    for trial_id, trial_bars in _by_trial(bars).items():
        for below, above in zip(trial_bars, trial_bars[1:], strict=False):
            if above.segment.rung > below.segment.rung:
                risers_x += [x(below.end), x(above.start), None]
                risers_y += [below.y, above.y, None]
                promoted.append(
                    (x(above.start), above.y, f"{trial_id} promoted to rung {above.segment.rung}")
                )
        last = trial_bars[-1]
        ending = endings[trial_id]
        key = "stopped" if ending.kind == "promoted" else ending.kind
        if key in ends and last.segment.finished_at is not None:
            ends[key].append((x(last.end), last.y, f"{trial_id} {ending.label}"))
    fig.add_trace(
        go.Scatter(
            x=risers_x,
            y=risers_y,
            mode="lines",
            line={"color": "#666666", "dash": "dot", "width": 1},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    style = {
        "promotion": ("triangle-up", "#313695", promoted),
        "stop": ("x-thin-open", "#555555", ends["stopped"]),
        "failure": ("x", FAILED_COLOUR, ends["failed"]),
        "reached the top": ("star", FINISHED_COLOUR, ends["finished"]),
    }
    for name, (symbol, colour, points) in style.items():
        if points:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    mode="markers",
                    marker={
                        "symbol": symbol,
                        "size": 13,
                        "color": colour,
                        "line": {"width": 2, "color": colour},
                    },
                    name=name,
                    hovertext=[html.escape(p[2]) for p in points],
                    hoverinfo="text",
                    legendrank=100,
                )
            )
