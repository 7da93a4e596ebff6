"""The learning curves figure: every trial's reported metrics against step, rungs marked."""

from __future__ import annotations

import html
from collections.abc import Mapping

import plotly.graph_objects as go

from hpo.contracts.messages import SweepStatus
from hpo.results.report.common import CurveRows, base_layout, curve_metrics, thin, to_number
from hpo.results.report.outcomes import outcomes, rung_steps


def learning_curves_figure(status: SweepStatus, curves: Mapping[str, CurveRows]) -> go.Figure | None:
    """One line per trial over steps, coloured by how the trial ended; a menu picks the metric.
    Stopped trials are drawn first and thin, so the ones that went furthest stay on top."""
    metrics = curve_metrics(curves)
    if not metrics:
        return None
    endings = outcomes(status)
    fig = go.Figure()
    columns: list[dict[str, list[float | None]]] = []
    trials = sorted(status.trials, key=lambda t: (-endings[t.trial_id].rank, t.trial_id))
    for trial in trials:
        rows = thin(curves.get(trial.trial_id, []))
        if not rows:
            continue
        ending = endings[trial.trial_id]
        columns.append({m: [to_number(row.get(m)) for row in rows] for m in metrics})
        fig.add_trace(
            go.Scatter(
                x=[row["step"] for row in rows],
                y=columns[-1][metrics[0]],
                mode="lines",
                name=trial.trial_id,
                legendgroup=ending.legend,
                legendgrouptitle_text=ending.legend,
                legendrank=ending.rank,
                line={"color": ending.colour, "width": 1.4 if ending.kind == "stopped" else 2.4},
                opacity=0.75 if ending.kind == "stopped" else 1.0,
                hovertemplate=(
                    f"{html.escape(trial.trial_id)} · step %{{x}} · %{{y:.4g}}<extra>{ending.label}</extra>"
                ),
            )
        )
    _rung_lines(fig, rung_steps(status.spec))
    _metric_menu(fig, metrics, columns)
    base_layout(fig, 520)
    fig.update_layout(
        xaxis_title="step",
        yaxis_title=metrics[0],
        legend={"groupclick": "toggleitem", "tracegroupgap": 6},
    )
    return fig


def _rung_lines(fig: go.Figure, steps: list[int]) -> None:
    """Dotted lines where each rung is scored: where ASHA compared the curves."""
    for rung, step in enumerate(steps):
        fig.add_vline(
            x=step,
            line={"dash": "dot", "color": "#bbbbbb", "width": 1},
            annotation_text=f"rung {rung}",
            annotation_position="top",
            annotation_font={"size": 11, "color": "#888888"},
        )


def _metric_menu(fig: go.Figure, metrics: list[str], columns: list[dict[str, list[float | None]]]) -> None:
    if len(metrics) < 2:
        return
    buttons = [
        {
            "label": name,
            "method": "update",
            "args": [{"y": [column[name] for column in columns]}, {"yaxis.title.text": name}],
        }
        for name in metrics
    ]
    fig.update_layout(
        updatemenus=[
            {"buttons": buttons, "x": 0.0, "xanchor": "left", "y": 1.12, "yanchor": "top", "showactive": True}
        ],
        annotations=[
            *fig.layout.annotations,
            {
                "text": "metric",
                "x": 0.0,
                "xref": "paper",
                "xanchor": "right",
                "y": 1.1,
                "yref": "paper",
                "showarrow": False,
                "font": {"color": "#666666"},
            },
        ],
    )
