"""`hpo report`: one self-contained HTML page of a sweep, and a PNG of each of its figures.

Pure formatting of a SweepStatus and each trial's learning curve (the rows
`hpo.storage.curves.read_curve` returns); no Temporal, no S3, so a unit test builds a report
from a status written by hand. Nothing here names a task, a hyperparameter or a metric: the
objective comes from the status, the parameters from the spec's space, the curve metrics from
whatever the training reported.

The HTML carries plotly.js inline, once, so it opens offline and can be mailed as one file.
The PNGs are rendered by plotly's kaleido, which drives a headless Chrome/Chromium; without
one, the HTML is still written and `ImageExportUnavailable` says what to install.
"""

from __future__ import annotations

import html
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from hpo.contracts.messages import SegmentRecord, SweepStatus, TrialResult
from hpo.contracts.spec import SweepSpec
from hpo.search.space import CategoricalParam, FloatParam, IntParam, Param, parse_space

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


# --------------------------------------------------------------------------- how trials ended


@dataclass(frozen=True)
class Outcome:
    """How a trial ended, as the figures colour it."""

    kind: OutcomeKind
    rung: int

    @property
    def label(self) -> str:
        if self.kind == "finished":
            return "finished"
        if self.kind == "promoted":
            return f"promoted to rung {self.rung}"
        if self.kind in ("stopped", "waiting"):
            return f"{self.kind} at rung {self.rung}"
        return f"{self.kind} (rung {self.rung})"

    @property
    def legend(self) -> str:
        """Figures group failed (and running) trials as one, whatever their rung."""
        return self.kind if self.kind in ("failed", "running") else self.label

    @property
    def colour(self) -> str:
        if self.kind == "promoted":
            return PROMOTED_COLOURS[min(self.rung, len(PROMOTED_COLOURS)) - 1]
        colours = {
            "finished": FINISHED_COLOUR,
            "failed": FAILED_COLOUR,
            "running": RUNNING_COLOUR,
            "waiting": WAITING_COLOUR,
        }
        return colours.get(self.kind, STOPPED_COLOUR)

    @property
    def rank(self) -> int:
        """Legend order: the trials that went furthest first."""
        order = {
            "finished": 0,
            "promoted": 10 - min(self.rung, 9),
            "stopped": 20,
            "waiting": 25,
            "failed": 30,
            "running": 40,
        }
        return order[self.kind]


def outcome(trial: TrialResult, top: int, *, sweep_running: bool = False) -> Outcome:
    """A trial that reached the top rung finished; one that climbed part of the way was promoted
    (then stopped, or left paused when the sweep ended); one that never left rung 0 was stopped.
    While the sweep runs, a scored trial below the top may still be promoted: it is waiting."""
    if trial.status in ("failed", "running"):
        return Outcome(trial.status, trial.rung)
    if trial.rung >= top:
        return Outcome("finished", trial.rung)
    if sweep_running and trial.status == "completed":
        return Outcome("waiting", trial.rung)
    if trial.rung > 0:
        return Outcome("promoted", trial.rung)
    return Outcome("stopped", trial.rung)


def rung_steps(spec: SweepSpec) -> list[int]:
    """The step each rung trains to, from the spec's ladder; [] when the algorithm has none."""
    from hpo.search.factory import MULTI_FIDELITY
    from hpo.search.ladder import Ladder

    if spec.algorithm.name not in MULTI_FIDELITY or spec.training.max_steps is None:
        return []
    try:
        ladder = Ladder.build(
            max_fidelity=spec.training.max_steps,
            min_fidelity=spec.algorithm.min_fidelity,
            eta=spec.algorithm.eta,
            algorithm=spec.algorithm.name,
        )
    except ValueError:
        return []
    return list(ladder.fidelities)


def top_rung(status: SweepStatus) -> int:
    """The ladder's top rung (0 without a ladder); a rung a trial reached counts too, so a
    status from an older ladder never shows a trial above the top."""
    reached = max((t.rung for t in status.trials), default=0)
    return max(len(rung_steps(status.spec)) - 1, reached)


def outcomes(status: SweepStatus) -> dict[str, Outcome]:
    """How each trial of the sweep ended (or stands, while it runs), by trial id."""
    top, running = top_rung(status), status.state == "running"
    return {t.trial_id: outcome(t, top, sweep_running=running) for t in status.trials}


# --------------------------------------------------------------------------- small helpers


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _fmt(value: Any) -> str:
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


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _thin(rows: CurveRows, limit: int = MAX_CURVE_POINTS) -> list[Mapping[str, Any]]:
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
                if name not in ("step", "time") and _number(value) is not None:
                    names.setdefault(name, None)
    return list(names)


def _base_layout(fig: go.Figure, height: int) -> None:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 70, "r": 30, "t": 40, "b": 60},
        font={"family": "Inter, system-ui, -apple-system, Segoe UI, sans-serif", "size": 13},
        hoverlabel={"namelength": -1},
    )


# --------------------------------------------------------------------------- learning curves


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
        rows = _thin(curves.get(trial.trial_id, []))
        if not rows:
            continue
        ending = endings[trial.trial_id]
        columns.append({m: [_number(row.get(m)) for row in rows] for m in metrics})
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
    _base_layout(fig, 520)
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


# --------------------------------------------------------------------------- the ladder


@dataclass
class _Bar:
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


def _time_unit(span_s: float) -> tuple[float, str]:
    if span_s < 180:
        return 1.0, "seconds"
    if span_s < 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def _bars(status: SweepStatus) -> list[_Bar]:
    """Every segment as a bar from its start to its end (a running one: to the latest event)."""
    segments = [(t, s) for t in status.trials for s in t.segments]
    if not segments:
        return []
    latest = max(max(s.started_at, s.finished_at or 0.0) for _, s in segments)
    bars = [_Bar(t, s, s.started_at, s.finished_at or latest) for t, s in segments]
    _assign_lanes(bars)
    return bars


def _assign_lanes(bars: list[_Bar]) -> None:
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
    bars = _bars(status)
    if not bars:
        return None
    top = top_rung(status)
    origin = min(bar.start for bar in bars)
    unit, unit_name = _time_unit(max(bar.end for bar in bars) - origin)

    def x(t: float) -> float:
        return (t - origin) / unit

    fig = go.Figure()
    endings = outcomes(status)
    _ladder_bars(fig, bars, endings, x)
    _ladder_markers(fig, bars, endings, x)
    steps = rung_steps(status.spec)
    ticks = list(range(top + 1))
    labels = [f"rung {k}" + (f"<br>{steps[k]} steps" if k < len(steps) else "") for k in ticks]
    _base_layout(fig, 260 + 110 * (top + 1))
    fig.update_layout(
        xaxis={"title": f"{unit_name} since the sweep started", "rangemode": "tozero"},
        yaxis={"tickvals": ticks, "ticktext": labels, "range": [-0.6, top + 0.6], "zeroline": False},
        legend={"orientation": "h", "y": -0.22, "x": 0},
    )
    return fig


def _ladder_bars(fig: go.Figure, bars: list[_Bar], endings: dict[str, Outcome], x: Any) -> None:
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
                f" · objective {_fmt(seg.objective) if seg.objective is not None else '-'}"
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


def _by_trial(bars: list[_Bar]) -> dict[str, list[_Bar]]:
    grouped: dict[str, list[_Bar]] = {}
    for bar in bars:
        grouped.setdefault(bar.trial.trial_id, []).append(bar)
    return grouped


def _ladder_markers(fig: go.Figure, bars: list[_Bar], endings: dict[str, Outcome], x: Any) -> None:
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


# --------------------------------------------------------------------------- parameters


def _space(spec: SweepSpec) -> list[Param]:
    return list(parse_space(spec.space).params)


def _is_log(param: Param) -> bool:
    return isinstance(param, (FloatParam, IntParam)) and param.log


def _encode(param: Param, value: Any) -> float | None:
    """A parameter value on its parallel-coordinates axis: log10 on a log scale, the index
    of a categorical choice; None for a value outside the space (an older spec)."""
    if isinstance(param, CategoricalParam):
        try:
            return float(param.index(value))
        except ValueError:
            return None
    number = _number(value)
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
    params = _space(status.spec)
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
    _base_layout(fig, 480)
    fig.update_layout(margin={"l": 80, "r": 40, "t": 70, "b": 40})
    return fig


# --------------------------------------------------------------------------- importance


@dataclass(frozen=True)
class Importance:
    """Parameter importances (shares summing to 1) from `trials` results at `rung`, or a note."""

    values: dict[str, float] = field(default_factory=dict)
    rung: int = 0
    trials: int = 0
    note: str | None = None


def _results_by_rung(status: SweepStatus) -> dict[int, dict[str, float]]:
    """Each trial's objective per rung it was scored at: only results at one rung are
    comparable (same training budget)."""
    by_rung: dict[int, dict[str, float]] = {}
    for trial in status.trials:
        for seg in trial.segments:
            if seg.objective is not None and math.isfinite(seg.objective):
                by_rung.setdefault(seg.rung, {})[trial.trial_id] = seg.objective
        if not trial.segments and trial.objective is not None:  # a status without segments
            by_rung.setdefault(trial.rung, {})[trial.trial_id] = trial.objective
    return by_rung


def importance(status: SweepStatus) -> Importance:
    """PED-ANOVA (Optuna's implementation) over an in-memory study of the trials' results at
    the rung with the most of them; a note when there are too few to say anything."""
    params = _space(status.spec)
    by_rung = _results_by_rung(status)
    if len(params) < 2:
        return Importance(note="The space has one parameter: there is nothing to rank it against.")
    if not by_rung:
        return Importance(note="No trial has a result yet.")
    rung = max(by_rung, key=lambda k: (len(by_rung[k]), k))
    results = by_rung[rung]
    if len(results) < MIN_IMPORTANCE_TRIALS:
        return Importance(
            rung=rung,
            trials=len(results),
            note=(
                f"Too few trials for parameter importance: {_plural(len(results), 'trial')} scored at "
                f"rung {rung}, at least {MIN_IMPORTANCE_TRIALS} are needed."
            ),
        )
    values = _ped_anova(status, results)
    if not values or not any(v > 0 for v in values.values()):
        return Importance(
            rung=rung, trials=len(results), note="No parameter set the best trials apart from the rest."
        )
    return Importance(values=values, rung=rung, trials=len(results))


def _ped_anova(status: SweepStatus, results: dict[str, float]) -> dict[str, float]:
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    from hpo.modelsearch.distributions import to_optuna_distributions, to_optuna_params

    # The searchers' own conversion: categorical choices go to Optuna as indexes, so choices
    # Optuna would call equal (1, 1.0, True) stay apart and none of their trials drop out.
    space = parse_space(status.spec.space)
    distributions = to_optuna_distributions(space)
    trials = {t.trial_id: t for t in status.trials}
    frozen = []
    for trial_id, value in results.items():
        try:
            frozen.append(
                optuna.trial.create_trial(
                    params=to_optuna_params(space, trials[trial_id].params),
                    distributions=distributions,
                    value=value,
                )
            )
        except (KeyError, ValueError):  # a value outside today's space: leave that trial out
            continue
    if len(frozen) < MIN_IMPORTANCE_TRIALS:
        return {}
    # Optuna's advice: at least ~5 trials in the top quantile, never more than half of them.
    quantile = min(0.5, max(0.1, 5 / len(frozen)))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            study = optuna.create_study(direction="maximize" if status.mode == "max" else "minimize")
            study.add_trials(frozen)
            evaluator = PedAnovaImportanceEvaluator(target_quantile=quantile)
            return dict(get_param_importances(study, evaluator=evaluator, normalize=True))
    finally:
        optuna.logging.set_verbosity(verbosity)


def importance_figure(result: Importance) -> go.Figure | None:
    if not result.values:
        return None
    ordered = sorted(result.values.items(), key=lambda item: item[1])
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in ordered],
            y=[name for name, _ in ordered],
            orientation="h",
            marker={"color": "#4575b4"},
            text=[f"{v:.0%}" for _, v in ordered],
            textposition="outside",
            hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        )
    )
    _base_layout(fig, 160 + 40 * len(ordered))
    fig.update_layout(
        xaxis={"title": "share of importance (PED-ANOVA)", "tickformat": ".0%", "range": [0, 1.1]},
        yaxis={"automargin": True},
    )
    return fig


# --------------------------------------------------------------------------- cost


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
        if seg.objective is not None and (best is None or _better(seg.objective, best, status.mode)):
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
                    html.escape(f"{p.trial_id} rung {rung}: {_fmt(p.segment.objective)}") for p in on_rung
                ],
                hoverinfo="text",
            )
        )
    _base_layout(fig, 440)
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


# --------------------------------------------------------------------------- leaderboard


def _metric_names(trials: Iterable[TrialResult], attribute: str, skip: str | None) -> list[str]:
    names: set[str] = set()
    for trial in trials:
        names.update(getattr(trial, attribute) or {})
    names.discard(skip or "")
    return sorted(names)


def leaderboard_html(status: SweepStatus) -> str:
    """The leaderboard as a table, best first: objective, other validation metrics, test
    metrics (reported, never used to select), parameters, steps, outcome."""
    ranked = status.leaderboard()
    endings = outcomes(status)
    params = [p.name for p in _space(status.spec)]
    others = _metric_names(ranked, "validation", status.objective_metric)
    tests = _metric_names(ranked, "test", None)
    header = (
        ["#", "trial", f"{status.objective_metric} ({status.mode})"]
        + others
        + [f"test {name}" for name in tests]
        + params
        + ["steps", "resumed from step", "accelerator seconds", "outcome"]
    )
    body = [
        _leaderboard_row(rank, t, status, endings[t.trial_id], params, others, tests)
        for rank, t in enumerate(ranked, 1)
    ]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    return (
        f'<div class="table-wrap"><table class="leaderboard"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _leaderboard_row(
    rank: int,
    trial: TrialResult,
    status: SweepStatus,
    ending: Outcome,
    params: list[str],
    others: list[str],
    tests: list[str],
) -> str:
    validation, test, train = trial.validation or {}, trial.test or {}, trial.train
    cells = [
        _cell(str(rank) if trial.objective is not None else "-", numeric=True),
        _cell(trial.trial_id),
        _cell(_fmt(trial.objective) if trial.objective is not None else "-", numeric=True, strong=True),
        *[_cell(_fmt(validation[n]) if n in validation else "-", numeric=True) for n in others],
        *[_cell(_fmt(test[n]) if n in test else "-", numeric=True) for n in tests],
        *[_cell(_fmt(trial.params[n]) if n in trial.params else "-", numeric=True) for n in params],
        _cell(str(train.step) if train else "-", numeric=True),
        _cell(str(train.resumed_from_step) if train and train.resumed_from_step else "-", numeric=True),
        _cell(_seconds_cell(trial), numeric=True),
    ]
    title = f' title="{html.escape(trial.error)}"' if trial.error else ""
    pill = f'<span class="pill" style="background:{ending.colour}"{title}>{html.escape(ending.label)}</span>'
    cells.append(f"<td>{pill}</td>")
    best = ' class="best"' if trial.trial_id == status.best_trial_id else ""
    return f"<tr{best}>{''.join(cells)}</tr>"


def _seconds_cell(trial: TrialResult) -> str:
    """The trial's accelerator-seconds over all its segments (`train` holds the last one's)."""
    seconds = sum(s.train_seconds for s in trial.segments) or (
        trial.train.train_seconds if trial.train else None
    )
    if seconds is None:
        return "-"
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def _cell(text: str, *, numeric: bool = False, strong: bool = False) -> str:
    content = f"<strong>{html.escape(text)}</strong>" if strong else html.escape(text)
    return f'<td class="num">{content}</td>' if numeric else f"<td>{content}</td>"


# --------------------------------------------------------------------------- captions


def _best_phrase(status: SweepStatus) -> str:
    best = status.best
    if best is None or best.objective is None:
        return "no trial scored yet"
    return f"best {best.trial_id} ({status.objective_metric} {_fmt(best.objective)})"


def summary_line(status: SweepStatus) -> str:
    """One line for the whole sweep, e.g. "9 trials, 3 promoted to rung 1, best t0004 (accuracy 0.85)"."""
    parts = [_plural(len(status.trials), "trial")]
    top = top_rung(status)
    for rung in range(1, top + 1):
        reached = sum(1 for t in status.trials if t.rung >= rung)
        if reached:
            parts.append(f"{reached} promoted to rung {rung}" if rung == 1 else f"{reached} to rung {rung}")
    failed = sum(1 for t in status.trials if t.status == "failed")
    if failed:
        parts.append(f"{failed} failed")
    running = sum(1 for t in status.trials if t.status == "running")
    if running:
        parts.append(f"{running} running")
    return ", ".join([*parts, _best_phrase(status)])


def _outcome_counts(status: SweepStatus) -> str:
    counts: dict[Outcome, int] = {}
    for ending in outcomes(status).values():
        counts[ending] = counts.get(ending, 0) + 1
    return ", ".join(f"{n} {o.label}" for o, n in sorted(counts.items(), key=lambda item: item[0].rank))


def _curves_caption(status: SweepStatus, curves: Mapping[str, CurveRows]) -> str:
    drawn = sum(1 for t in status.trials if curves.get(t.trial_id))
    metrics = curve_metrics(curves)
    shown = f"{metrics[0]} (pick another metric above the plot)" if len(metrics) > 1 else metrics[0]
    return f"{shown} over training steps for {_plural(drawn, 'trial')}: {_outcome_counts(status)}."


def _ladder_caption(status: SweepStatus, bars: list[_Bar]) -> str:
    promotions = sum(max(len(t.segments) - 1, 0) for t in status.trials)
    stops = sum(1 for t in status.trials if t.status == "stopped")
    span = max(b.end for b in bars) - min(b.start for b in bars)
    unit, name = _time_unit(span)
    return (
        f"{_plural(len(bars), 'segment')} on {_plural(top_rung(status) + 1, 'rung')} over "
        f"{span / unit:.1f} {name}: {_plural(promotions, 'promotion')} (▲), "
        f"{_plural(stops, 'early stop')} (✕); bars side by side on a rung ran at the same time."
    )


def _parallel_caption(status: SweepStatus) -> str:
    params = _space(status.spec)
    scored = sum(1 for t in status.trials if t.objective is not None)
    logs = [p.name for p in params if _is_log(p)]
    text = (
        f"{_plural(scored, 'scored trial')} across {_plural(len(params), 'parameter')}; colour is validation "
        f"{status.objective_metric}, brighter is better ({status.mode})"
    )
    if logs:
        text += f"; log-scaled: {', '.join(logs)}"
    if top_rung(status) > 0:
        text += "; compare objectives within one rung (drag on an axis to filter)"
    return text + "."


def _importance_caption(result: Importance, status: SweepStatus) -> str:
    ranked = sorted(result.values.items(), key=lambda item: -item[1])
    (leader, share), runner_up = ranked[0], ranked[1][1] if len(ranked) > 1 else 0.0
    if share - runner_up < 0.05:
        finding = f"no single parameter stands out ({leader} {share:.0%}, {ranked[1][0]} {runner_up:.0%})"
    else:
        finding = f"{leader} did most to set the best {status.objective_metric} apart ({share:.0%})"
    rough = " With this few trials, a rough guide." if result.trials < 20 else ""
    return (
        f"PED-ANOVA over {_plural(result.trials, 'trial')} scored at rung {result.rung} (same budget): "
        f"{finding}.{rough}"
    )


def _cost_caption(status: SweepStatus, points: list[CostPoint]) -> str:
    total = points[-1].hours if points else 0.0
    spent = f"{total:.3g} accelerator-hours ({human_seconds(total * 3600)})"
    final = next((p.best for p in reversed(points) if p.best is not None), None)
    reached = next((p for p in points if p.best == final), None)
    if final is None or reached is None:
        return f"{spent} spent, no result yet."
    share = reached.hours / total if total else 1.0
    when = "with the last segment" if share > 0.995 else f"after {share:.0%} of it"
    return (
        f"{spent} over {_plural(len(points), 'segment')}, failed ones included; the best "
        f"{status.objective_metric} ({_fmt(final)}, {reached.trial_id}) came {when}."
    )


def _leaderboard_caption(status: SweepStatus) -> str:
    order = "higher rung first, then " if top_rung(status) > 0 else ""
    return (
        f"{_plural(len(status.trials), 'trial')} ranked best first "
        f"({order}{status.objective_metric}, {status.mode}); {_best_phrase(status)}."
    )


# --------------------------------------------------------------------------- the page


@dataclass
class Section:
    id: str
    title: str
    caption: str
    figure: go.Figure | None = None
    note: str | None = None
    body: str = ""


def build_sections(status: SweepStatus, curves: Mapping[str, CurveRows]) -> list[Section]:
    """The report's sections in page order; one with no data says why instead of a figure."""
    sections = []
    curves_fig = learning_curves_figure(status, curves)
    sections.append(
        Section(
            "learning-curves",
            "Learning curves",
            _curves_caption(status, curves) if curves_fig else "No learning curve was reported.",
            curves_fig,
            None if curves_fig else "The training reported no metric with trial.report().",
        )
    )
    bars = _bars(status)
    ladder_fig = ladder_figure(status)
    sections.append(
        Section(
            "ladder",
            "The ladder over time",
            _ladder_caption(status, bars) if bars else "No segment has started yet.",
            ladder_fig,
        )
    )
    parallel_fig = parallel_figure(status)
    sections.append(
        Section(
            "parallel-coordinates",
            "Parameters against the objective",
            _parallel_caption(status) if parallel_fig else "No trial has been scored yet.",
            parallel_fig,
        )
    )
    result = importance(status)
    importance_fig = importance_figure(result)
    sections.append(
        Section(
            "importance",
            "Parameter importance",
            _importance_caption(result, status)
            if importance_fig
            else "Which parameters set the best trials apart.",
            importance_fig,
            result.note,
        )
    )
    points = cost_points(status)
    cost_fig = cost_figure(status, points)
    sections.append(
        Section("cost", "Best result against money spent", _cost_caption(status, points), cost_fig)
    )
    sections.append(
        Section("leaderboard", "Leaderboard", _leaderboard_caption(status), body=leaderboard_html(status))
    )
    return sections


CSS = """
:root { --ink:#1f2430; --muted:#5f6675; --line:#e3e6eb; --bg:#f5f6f8; --card:#fff; --accent:#4575b4; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 15px/1.5 Inter, system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header { background: linear-gradient(120deg, #1b1e5a, #4575b4); color:#fff; padding:28px 0 22px; }
.wrap { max-width: 1200px; margin: 0 auto; padding: 0 24px; }
header h1 { margin:0 0 4px; font-size: 26px; font-weight: 650; letter-spacing: -0.01em; }
header .meta { opacity: .85; font-size: 14px; }
header .headline { margin-top: 10px; font-size: 17px; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap:12px;
  margin: 18px 0 0; }
.card { background: rgba(255,255,255,.12); border-radius: 10px; padding: 10px 14px; }
.card .k { font-size: 12px; text-transform: uppercase; letter-spacing: .06em; opacity: .8; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
nav { position: sticky; top: 0; z-index: 10; background: rgba(245,246,248,.95);
  border-bottom: 1px solid var(--line); }
nav a { display:inline-block; padding: 10px 12px 10px 0; margin-right: 10px; color: var(--accent);
  text-decoration: none; font-size: 14px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 12px; margin: 20px 0;
  padding: 18px 20px 12px; box-shadow: 0 1px 2px rgba(0,0,0,.03); }
section h2 { margin: 0; font-size: 19px; font-weight: 650; }
p.caption { margin: 4px 0 10px; color: var(--muted); }
p.note { background: #fff8e6; border-left: 4px solid #f2b01e; padding: 10px 14px; border-radius: 6px; }
.table-wrap { overflow-x: auto; }
table.leaderboard { border-collapse: collapse; width: 100%; font-size: 13px;
  font-variant-numeric: tabular-nums; }
table.leaderboard th { text-align: right; font-weight: 600; color: var(--muted);
  border-bottom: 2px solid var(--line); padding: 6px 7px; vertical-align: bottom; }
table.leaderboard th:nth-child(2), table.leaderboard th:last-child { text-align: left; }
table.leaderboard td { padding: 5px 7px; border-bottom: 1px solid var(--line); white-space: nowrap; }
table.leaderboard td.num { text-align: right; }
table.leaderboard tr.best td { background: #eef7ee; }
.pill { color: #fff; border-radius: 999px; padding: 2px 10px; font-size: 12px; font-weight: 600; }
footer { color: var(--muted); font-size: 12px; padding: 8px 0 30px; }
"""


def _cards(status: SweepStatus) -> str:
    best = status.best
    seconds = sum(s.train_seconds for t in status.trials for s in t.segments) or status.train_seconds
    cards = [
        ("trials", str(len(status.trials))),
        (
            f"best {status.objective_metric}",
            _fmt(best.objective) if best and best.objective is not None else "-",
        ),
        ("best trial", best.trial_id if best else "-"),
        ("accelerator time", human_seconds(seconds)),
        ("stopped early", str(sum(1 for t in status.trials if t.status == "stopped"))),
        ("failed", str(sum(1 for t in status.trials if t.status == "failed"))),
    ]
    return "".join(
        f'<div class="card"><div class="k">{html.escape(k)}</div><div class="v">{html.escape(v)}</div></div>'
        for k, v in cards
    )


def _section_html(section: Section) -> str:
    parts = [
        f'<section id="{section.id}">',
        f"<h2>{html.escape(section.title)}</h2>",
        f'<p class="caption">{html.escape(section.caption)}</p>',
    ]
    if section.note:
        parts.append(f'<p class="note">{html.escape(section.note)}</p>')
    if section.figure is not None:
        parts.append(
            section.figure.to_html(
                full_html=False,
                include_plotlyjs=False,
                div_id=f"fig-{section.id}",
                config={"displaylogo": False, "responsive": True},
            )
        )
    parts.append(section.body)
    parts.append("</section>")
    return "\n".join(parts)


def render_html(status: SweepStatus, sections: list[Section], generated_at: datetime | None = None) -> str:
    """The whole page; plotly.js is inlined once in the head, before any figure needs it."""
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    spec = status.spec
    objective = f"validation {status.objective_metric} ({status.mode})"
    meta = f"{spec.name} · {spec.algorithm.name} · {status.state} · objective: {objective}"
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hpo report · {html.escape(status.sweep_id)}</title>
<style>{CSS}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<header id="summary"><div class="wrap">
<h1>Sweep {html.escape(status.sweep_id)}</h1>
<div class="meta">{html.escape(meta)}</div>
<div class="headline">{html.escape(summary_line(status))}</div>
<div class="cards">{_cards(status)}</div>
</div></header>
<nav><div class="wrap">{nav}</div></nav>
<main class="wrap">
{"".join(_section_html(s) for s in sections)}
</main>
<footer class="wrap">Generated by hpo report on {when}.</footer>
</body>
</html>
"""


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    images: list[Path]


def find_browser() -> str:
    """The Chrome/Chromium kaleido will drive: BROWSER_PATH (kaleido's own override), else
    what choreographer finds (its `kaleido_get_chrome` download, PATH, the usual paths)."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise ImageExportUnavailable(f"BROWSER_PATH={explicit} is not an executable file; {BROWSER_HINT}")
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    if found is None:
        raise ImageExportUnavailable(
            "PNG export needs Chrome or Chromium (plotly's kaleido drives it) and none was found; "
            + BROWSER_HINT
        )
    return found


def _png_figure(section: Section) -> go.Figure:
    """The page's figure for a file of its own: titled, without the page-only metric menu."""
    fig = go.Figure(section.figure)
    fig.layout.updatemenus = ()
    fig.layout.annotations = [a for a in fig.layout.annotations if a.text != "metric"]
    # Parallel coordinates put their axis labels above the plot, where a title would sit.
    room = 130 if any(isinstance(trace, go.Parcoords) for trace in fig.data) else 80
    fig.update_layout(
        title={"text": section.title, "x": 0.01, "y": 0.98, "yanchor": "top", "font": {"size": 18}},
        margin={"t": room},
    )
    return fig


def _png_spec(section: Section, path: Path) -> dict[str, Any]:
    fig = _png_figure(section)
    height = max(PNG_HEIGHT, int(fig.layout.height or PNG_HEIGHT) + 40)  # + the title's room
    opts = {"format": "png", "width": PNG_WIDTH, "height": height, "scale": PNG_SCALE}
    return {"fig": fig.to_dict(), "path": path, "opts": opts}


def write_images(sections: list[Section], out_dir: Path) -> list[Path]:
    """One PNG per figure, rendered in one browser session (a browser start costs seconds).
    A figure a section no longer has loses its old PNG, so the directory never mixes reports."""
    import kaleido

    for section in sections:
        if section.figure is None:
            (out_dir / f"{section.id}.png").unlink(missing_ok=True)
    figures = [s for s in sections if s.figure is not None]
    if not figures:
        return []
    browser = find_browser()
    paths = [out_dir / f"{s.id}.png" for s in figures]
    specs = [_png_spec(s, path) for s, path in zip(figures, paths, strict=True)]
    try:
        # mathjax=False: kaleido would otherwise load MathJax from a CDN, which an offline
        # machine waits for; no figure here uses LaTeX.
        kaleido.write_fig_from_object_sync(
            specs, kopts={"path": browser, "mathjax": False}, cancel_on_error=True
        )
    except Exception as error:  # kaleido's errors have no common base; all mean the same here
        raise ImageExportUnavailable(
            f"{browser} could not render the figures ({type(error).__name__}: {error}); {BROWSER_HINT}"
        ) from error
    return paths


def write_report(
    status: SweepStatus,
    curves: Mapping[str, CurveRows],
    out_dir: Path,
    *,
    images: bool = True,
    generated_at: datetime | None = None,
) -> ReportFiles:
    """Write `report.html` (always first, so a missing browser costs only the PNGs) and one
    PNG per figure into `out_dir`."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = build_sections(status, curves)
    page = out_dir / "report.html"
    page.write_text(render_html(status, sections, generated_at), encoding="utf-8")
    written = write_images(sections, out_dir) if images else []
    return ReportFiles(html=page, images=written)
