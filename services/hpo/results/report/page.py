"""The page: its sections in order, drawn from a jinja2 template that escapes by default."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from plotly.offline import get_plotlyjs

from hpo.contracts.messages import SweepStatus
from hpo.results.report.captions import (
    cost_caption,
    curves_caption,
    importance_caption,
    ladder_caption,
    leaderboard_caption,
    parallel_caption,
    summary_line,
)
from hpo.results.report.common import CurveRows, fmt, human_seconds
from hpo.results.report.cost import cost_figure, cost_points
from hpo.results.report.curves import learning_curves_figure
from hpo.results.report.importance import importance, importance_figure
from hpo.results.report.ladder import ladder_figure, segment_bars
from hpo.results.report.leaderboard import Table, leaderboard_table
from hpo.results.report.parallel import parallel_figure


@dataclass
class Section:
    id: str
    title: str
    caption: str
    figure: go.Figure | None = None
    note: str | None = None
    table: Table | None = None  # the leaderboard's rows, drawn by the template


def build_sections(status: SweepStatus, curves: Mapping[str, CurveRows]) -> list[Section]:
    """The report's sections in page order; one with no data says why instead of a figure."""
    sections = []
    curves_fig = learning_curves_figure(status, curves)
    sections.append(
        Section(
            "learning-curves",
            "Learning curves",
            curves_caption(status, curves) if curves_fig else "No learning curve was reported.",
            curves_fig,
            None if curves_fig else "The training reported no metric with trial.report().",
        )
    )
    bars = segment_bars(status)
    ladder_fig = ladder_figure(status)
    sections.append(
        Section(
            "ladder",
            "The ladder over time",
            ladder_caption(status, bars) if bars else "No segment has started yet.",
            ladder_fig,
        )
    )
    parallel_fig = parallel_figure(status)
    sections.append(
        Section(
            "parallel-coordinates",
            "Parameters against the objective",
            parallel_caption(status) if parallel_fig else "No trial has been scored yet.",
            parallel_fig,
        )
    )
    result = importance(status)
    importance_fig = importance_figure(result)
    sections.append(
        Section(
            "importance",
            "Parameter importance",
            importance_caption(result, status)
            if importance_fig
            else "Which parameters set the best trials apart.",
            importance_fig,
            result.note,
        )
    )
    points = cost_points(status)
    cost_fig = cost_figure(status, points)
    sections.append(
        Section("cost", "Best result against money spent", cost_caption(status, points), cost_fig)
    )
    sections.append(
        Section("leaderboard", "Leaderboard", leaderboard_caption(status), table=leaderboard_table(status))
    )
    return sections


def _cards(status: SweepStatus) -> list[tuple[str, str]]:
    best = status.best
    seconds = sum(s.train_seconds for t in status.trials for s in t.segments) or status.train_seconds
    return [
        ("trials", str(len(status.trials))),
        (
            f"best {status.objective_metric}",
            fmt(best.objective) if best and best.objective is not None else "-",
        ),
        ("best trial", best.trial_id if best else "-"),
        ("accelerator time", human_seconds(seconds)),
        ("stopped early", str(sum(1 for t in status.trials if t.status == "stopped"))),
        ("failed", str(sum(1 for t in status.trials if t.status == "failed"))),
    ]


def _figure_html(section: Section) -> Markup | None:
    """A figure's div (plotly's own markup, trusted as such: the page's values are escaped)."""
    if section.figure is None:
        return None
    return Markup(
        section.figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{section.id}",
            config={"displaylogo": False, "responsive": True},
        )
    )


@cache
def _templates() -> Environment:
    # autoescape for every template: a trial id, an error message or a metric name is text.
    return Environment(
        loader=PackageLoader("hpo.results.report", "templates"),
        autoescape=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )


def render_html(status: SweepStatus, sections: list[Section], generated_at: datetime | None = None) -> str:
    """The whole page; plotly.js is inlined once in the head, before any figure needs it."""
    spec = status.spec
    objective = f"validation {status.objective_metric} ({status.mode})"
    return (
        _templates()
        .get_template("page.html.j2")
        .render(
            sweep_id=status.sweep_id,
            meta=f"{spec.name} · {spec.algorithm.name} · {status.state} · objective: {objective}",
            headline=summary_line(status),
            cards=_cards(status),
            sections=[(section, _figure_html(section)) for section in sections],
            plotly_js=Markup(get_plotlyjs()),
            generated=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        )
    )
