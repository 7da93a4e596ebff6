"""Parameter importance: PED-ANOVA (Optuna's) over the results at the rung with the most of them."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import plotly.graph_objects as go

from hpo.contracts.messages import SweepStatus
from hpo.results.report.common import MIN_IMPORTANCE_TRIALS, base_layout, plural
from hpo.results.report.parallel import space_params
from hpo.search.space import parse_space


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
    params = space_params(status.spec)
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
                f"Too few trials for parameter importance: {plural(len(results), 'trial')} scored at "
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
    base_layout(fig, 160 + 40 * len(ordered))
    fig.update_layout(
        xaxis={"title": "share of importance (PED-ANOVA)", "tickformat": ".0%", "range": [0, 1.1]},
        yaxis={"automargin": True},
    )
    return fig
