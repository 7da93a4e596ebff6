"""An Optuna objective as a durable hpo trial, unchanged but for one line.

    import hpo.integrations.optuna as hpo_optuna

    def objective(trial: optuna.Trial) -> float:          # as it was
        x = trial.suggest_float("x", -10, 10)
        ...
        for step in range(epochs):
            trial.report(score, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return score

    train = hpo_optuna.trainable(objective)              # the spec's entrypoint: module:train

The spec's space must name every parameter the objective suggests, with the same range
(`space_of(objective)` derives it where the objective allows, see there); a suggestion that
disagrees with the space fails the trial with a message naming both. The objective's return
value is the metric `value` (the spec's `objective: {metric: value, ...}`), or another name
given to `trainable(objective, metric=...)`; a tuple is refused (one objective per sweep).

`trial.report(value, step)` goes to the learning curve; `trial.should_prune()` is True once hpo
asks the trial to stop (a stop, a budget, its worker shutting down) and the objective's
`TrialPruned` then ends the segment as stopped. An objective that checkpoints nothing starts
again after a crash; use `trial.hpo` (the `hpo.Trial`) for `save` / `restore`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from hpo.search.space import CategoricalParam, FloatParam, IntParam, Param, parse_space
from hpo.trial import Trial, TrialError

Objective = Callable[[Any], Any]


class OptunaTrial:
    """What an Optuna objective asks of its `optuna.Trial`, answered from an hpo trial."""

    def __init__(self, trial: Trial) -> None:
        self.hpo = trial
        self._space = {p.name: p for p in parse_space(trial.space).params} if trial.space else {}
        self.params: dict[str, Any] = {}
        self.user_attrs: dict[str, Any] = {}
        self.last_value: float | None = None

    @property
    def number(self) -> int:
        digits = "".join(ch for ch in self.hpo.trial_id if ch.isdigit())
        return int(digits) if digits else 0

    # -- suggestions: the spec's space drew them; the objective's call must agree with it ------
    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        param = self._param(name, FloatParam, "suggest_float")
        if step is not None:
            raise self._disagree(name, f"suggest_float(step={step!r})", "hpo's float parameters have no step")
        if not (_close(param.low, low) and _close(param.high, high) and param.log == bool(log)):
            raise self._disagree(name, f"suggest_float({low!r}, {high!r}, log={log})", _shown(param))
        return self._taken(name, float(self.hpo.params[name]))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        param = self._param(name, IntParam, "suggest_int")
        if (param.low, param.high, param.step, param.log) != (int(low), int(high), int(step), bool(log)):
            raise self._disagree(
                name, f"suggest_int({low!r}, {high!r}, step={step}, log={log})", _shown(param)
            )
        return self._taken(name, int(self.hpo.params[name]))

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        param = self._param(name, CategoricalParam, "suggest_categorical")
        if len(choices) != len(param.choices) or any(
            type(a) is not type(b) or a != b for a, b in zip(choices, param.choices, strict=False)
        ):
            raise self._disagree(name, f"suggest_categorical({list(choices)!r})", _shown(param))
        return self._taken(name, self.hpo.params[name])

    # -- progress --------------------------------------------------------------------------------
    def report(self, value: float, step: int) -> None:
        self.last_value = float(value)
        self.hpo.report(int(step), value=float(value))

    def should_prune(self) -> bool:
        return self.hpo.should_prune()

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value
        self.hpo.describe(**{key: value})  # kept with later checkpoints

    # -- helpers ---------------------------------------------------------------------------------
    def _param(self, name: str, kind: type, call: str) -> Any:
        param = self._space.get(name)
        if param is None:
            known = ", ".join(sorted(self._space)) or "none"
            raise TrialError(
                f"trial {self.hpo.trial_id}: the objective calls {call}({name!r}, ...) but the spec's "
                f"space has no parameter {name!r} (it has: {known}); add it to the spec's space"
            )
        if not isinstance(param, kind):
            raise self._disagree(name, f"{call}(...)", _shown(param))
        return param

    def _disagree(self, name: str, called: str, spec: str) -> TrialError:
        return TrialError(
            f"trial {self.hpo.trial_id}: the objective's {called} for {name!r} disagrees with the "
            f"spec's space ({spec}); make them the same"
        )

    def _taken(self, name: str, value: Any) -> Any:
        self.params[name] = value
        return value


def trainable(objective: Objective, metric: str = "value") -> Callable[[Trial], dict[str, float]]:
    """An hpo training function that runs `objective` with an OptunaTrial."""
    import optuna

    def train(trial: Trial) -> dict[str, float]:
        adapter = OptunaTrial(trial)
        try:
            value = objective(adapter)
        except optuna.TrialPruned:
            # Pruned because hpo asked it to stop: the segment ends as stopped, with what it reported.
            if adapter.last_value is None:
                raise TrialError(
                    f"trial {trial.trial_id}: the objective was pruned before it reported"
                ) from None
            return {metric: adapter.last_value}
        if isinstance(value, tuple | list):
            raise TrialError(
                f"trial {trial.trial_id}: the objective returned {len(value)} values; an hpo sweep has "
                "one objective: return one number"
            )
        return {metric: float(value)}

    train.__name__ = getattr(objective, "__name__", "train")
    return train


class _Recorded(Exception):
    """The objective reached its first report: the suggestions before it are the space."""


class _Recorder:
    def __init__(self) -> None:
        self.space: dict[str, dict[str, Any]] = {}

    def suggest_float(
        self, name: str, low: float, high: float, *, step: float | None = None, log: bool = False
    ) -> float:
        if step is not None:
            raise ValueError(f"{name}: suggest_float(step=...) has no hpo equivalent; use a categorical")
        self.space[name] = {"type": "float", "low": low, "high": high, **({"log": True} if log else {})}
        return float(low)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1, log: bool = False) -> int:
        entry: dict[str, Any] = {"type": "int", "low": low, "high": high}
        if step != 1:
            entry["step"] = step
        if log:
            entry["log"] = True
        self.space[name] = entry
        return int(low)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        self.space[name] = {"type": "categorical", "choices": list(choices)}
        return choices[0]

    def report(self, value: float, step: int) -> None:
        raise _Recorded

    def should_prune(self) -> bool:
        raise _Recorded

    def set_user_attr(self, key: str, value: Any) -> None:
        pass


def space_of(objective: Objective) -> dict[str, dict[str, Any]]:
    """The spec's `space` for a define-by-run objective, read from the suggestions it makes
    before its first `report` (it is called once, with the lowest value of each range and the
    first choice of each categorical; it must not train further than that report).

    Safe only for objectives whose suggestions do not depend on earlier ones (no branch like
    `if optimizer == "sgd": trial.suggest_float("momentum", ...)`): one path through the
    objective is all a call can see. Check the result; write the space by hand otherwise."""
    recorder = _Recorder()
    try:
        objective(recorder)
    except _Recorded:
        pass
    if not recorder.space:
        raise ValueError(
            "the objective suggested no parameter before its first report: write the space by hand"
        )
    parse_space(recorder.space)  # the same checks a spec gets
    return recorder.space


def _close(a: float, b: float) -> bool:
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)


def _shown(param: Param) -> str:
    if isinstance(param, CategoricalParam):
        return f"categorical {list(param.choices)!r}"
    if isinstance(param, IntParam):
        return f"int {param.low}..{param.high}, step {param.step}, log {param.log}"
    return f"float {param.low!r}..{param.high!r}, log {param.log}"
