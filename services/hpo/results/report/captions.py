"""The sentences under each figure and the page's headline."""

from __future__ import annotations

from collections.abc import Mapping

from hpo.contracts.messages import SweepStatus
from hpo.results.report.common import CurveRows, curve_metrics, fmt, human_seconds, plural
from hpo.results.report.cost import CostPoint
from hpo.results.report.importance import Importance
from hpo.results.report.ladder import Bar, time_unit
from hpo.results.report.outcomes import Outcome, outcomes, top_rung
from hpo.results.report.parallel import is_log, space_params


def _best_phrase(status: SweepStatus) -> str:
    best = status.best
    if best is None or best.objective is None:
        return "no trial scored yet"
    return f"best {best.trial_id} ({status.objective_metric} {fmt(best.objective)})"


def summary_line(status: SweepStatus) -> str:
    """One line for the whole sweep, e.g. "9 trials, 3 promoted to rung 1, best t0004 (accuracy 0.85)"."""
    parts = [plural(len(status.trials), "trial")]
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


def curves_caption(status: SweepStatus, curves: Mapping[str, CurveRows]) -> str:
    drawn = sum(1 for t in status.trials if curves.get(t.trial_id))
    metrics = curve_metrics(curves)
    shown = f"{metrics[0]} (pick another metric above the plot)" if len(metrics) > 1 else metrics[0]
    return f"{shown} over training steps for {plural(drawn, 'trial')}: {_outcome_counts(status)}."


def ladder_caption(status: SweepStatus, bars: list[Bar]) -> str:
    promotions = sum(max(len(t.segments) - 1, 0) for t in status.trials)
    stops = sum(1 for t in status.trials if t.status == "stopped")
    span = max(b.end for b in bars) - min(b.start for b in bars)
    unit, name = time_unit(span)
    return (
        f"{plural(len(bars), 'segment')} on {plural(top_rung(status) + 1, 'rung')} over "
        f"{span / unit:.1f} {name}: {plural(promotions, 'promotion')} (▲), "
        f"{plural(stops, 'early stop')} (✕); bars side by side on a rung ran at the same time."
    )


def parallel_caption(status: SweepStatus) -> str:
    params = space_params(status.spec)
    scored = sum(1 for t in status.trials if t.objective is not None)
    logs = [p.name for p in params if is_log(p)]
    text = (
        f"{plural(scored, 'scored trial')} across {plural(len(params), 'parameter')}; colour is validation "
        f"{status.objective_metric}, brighter is better ({status.mode})"
    )
    if logs:
        text += f"; log-scaled: {', '.join(logs)}"
    if top_rung(status) > 0:
        text += "; compare objectives within one rung (drag on an axis to filter)"
    return text + "."


def importance_caption(result: Importance, status: SweepStatus) -> str:
    ranked = sorted(result.values.items(), key=lambda item: -item[1])
    (leader, share), runner_up = ranked[0], ranked[1][1] if len(ranked) > 1 else 0.0
    if share - runner_up < 0.05:
        finding = f"no single parameter stands out ({leader} {share:.0%}, {ranked[1][0]} {runner_up:.0%})"
    else:
        finding = f"{leader} did most to set the best {status.objective_metric} apart ({share:.0%})"
    rough = " With this few trials, a rough guide." if result.trials < 20 else ""
    return (
        f"PED-ANOVA over {plural(result.trials, 'trial')} scored at rung {result.rung} (same budget): "
        f"{finding}.{rough}"
    )


def cost_caption(status: SweepStatus, points: list[CostPoint]) -> str:
    total = points[-1].hours if points else 0.0
    spent = f"{total:.3g} accelerator-hours ({human_seconds(total * 3600)})"
    final = next((p.best for p in reversed(points) if p.best is not None), None)
    reached = next((p for p in points if p.best == final), None)
    if final is None or reached is None:
        return f"{spent} spent, no result yet."
    share = reached.hours / total if total else 1.0
    when = "with the last segment" if share > 0.995 else f"after {share:.0%} of it"
    return (
        f"{spent} over {plural(len(points), 'segment')}, failed ones included; the best "
        f"{status.objective_metric} ({fmt(final)}, {reached.trial_id}) came {when}."
    )


def leaderboard_caption(status: SweepStatus) -> str:
    order = "higher rung first, then " if top_rung(status) > 0 else ""
    return (
        f"{plural(len(status.trials), 'trial')} ranked best first "
        f"({order}{status.objective_metric}, {status.mode}); {_best_phrase(status)}."
    )
