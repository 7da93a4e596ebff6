"""The search space, in the same dict form as the sweep spec's ``space:`` section.

``parse_space`` is the single validator: the sweep spec calls it too, so a user sees the
same exact message ("space.lr: low must be > 0 on a log scale") whichever door they used.
Every problem is a ``ValueError``, even a wrong type, because
pydantic turns only ValueError/AssertionError raised in a validator into a validation error.

Numeric parameters also live on an *internal* real line (log-transformed for ``log: true``,
widened by half a step for integers) so that TPE and the grid can treat float, log-float and
int alike and round back only at the edge.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Scalar = str | int | float | bool | None

_NUMERIC_FIELDS = {"type", "low", "high", "log", "step"}
_CATEGORICAL_FIELDS = {"type", "choices"}


@dataclass(frozen=True)
class FloatParam:
    name: str
    low: float
    high: float
    log: bool = False

    @property
    def bounds(self) -> tuple[float, float]:
        """Internal interval: where uniform sampling and kernel densities live."""
        if self.log:
            return math.log(self.low), math.log(self.high)
        return self.low, self.high

    def to_internal(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def from_internal(self, x: float) -> float:
        value = math.exp(x) if self.log else x
        # exp/log round trips can land a hair outside the bounds.
        return min(max(value, self.low), self.high)

    def sample(self, rng: random.Random) -> float:
        lo, hi = self.bounds
        return self.from_internal(rng.uniform(lo, hi))

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, (int, float)) and not isinstance(value, bool) and self.low <= value <= self.high
        )

    def grid(self, points: int) -> list[float]:
        lo, hi = self.bounds
        if points == 1:
            return [_tidy(self.from_internal((lo + hi) / 2))]
        # 12 significant digits: 1e-4 rather than 9.999999999999991e-05 in a user's leaderboard.
        return [
            min(max(_tidy(self.from_internal(lo + (hi - lo) * i / (points - 1))), self.low), self.high)
            for i in range(points)
        ]


@dataclass(frozen=True)
class IntParam:
    name: str
    low: int
    high: int
    step: int = 1
    log: bool = False

    @property
    def bounds(self) -> tuple[float, float]:
        # Half a step beyond each end gives every integer the same mass after rounding.
        if self.log:
            return math.log(self.low - 0.5), math.log(self.high + 0.5)
        return self.low - self.step / 2, self.high + self.step / 2

    @property
    def size(self) -> int:
        return (self.high - self.low) // self.step + 1

    def to_internal(self, value: Any) -> float:
        return math.log(value) if self.log else float(value)

    def from_internal(self, x: float) -> int:
        raw = math.exp(x) if self.log else x
        k = round((raw - self.low) / self.step)
        return self.low + min(max(k, 0), self.size - 1) * self.step

    def sample(self, rng: random.Random) -> int:
        if self.log:
            lo, hi = self.bounds
            return self.from_internal(rng.uniform(lo, hi))
        return self.low + rng.randrange(self.size) * self.step

    def contains(self, value: Any) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
            and (value - self.low) % self.step == 0
        )

    def grid(self, points: int) -> list[int]:
        if self.size <= points:
            return [self.low + k * self.step for k in range(self.size)]
        lo, hi = self.to_internal(self.low), self.to_internal(self.high)
        values = [self.from_internal(lo + (hi - lo) * i / max(points - 1, 1)) for i in range(points)]
        return sorted(set(values))


@dataclass(frozen=True)
class CategoricalParam:
    name: str
    choices: tuple[Scalar, ...]

    def index(self, value: Any) -> int:
        for i, choice in enumerate(self.choices):
            # type() check: 1 == True == 1.0 in Python, but they are different choices here.
            if type(choice) is type(value) and choice == value:
                return i
        raise ValueError(f"{value!r} is not a choice of {self.name}")

    def sample(self, rng: random.Random) -> Scalar:
        return self.choices[rng.randrange(len(self.choices))]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except ValueError:
            return False
        return True

    def grid(self, points: int) -> list[Scalar]:
        return list(self.choices)


def _tidy(value: float) -> float:
    return float(f"{value:.12g}")


NumericParam = FloatParam | IntParam
Param = FloatParam | IntParam | CategoricalParam


@dataclass(frozen=True)
class Space:
    params: tuple[Param, ...]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    def sample(self, rng: random.Random) -> dict[str, Any]:
        return {p.name: p.sample(rng) for p in self.params}

    def contains(self, params: Mapping[str, Any]) -> bool:
        return set(params) == set(self.names) and all(p.contains(params[p.name]) for p in self.params)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """The spec form back, so a space can be fingerprinted and shown."""
        out: dict[str, dict[str, Any]] = {}
        for p in self.params:
            if isinstance(p, CategoricalParam):
                out[p.name] = {"type": "categorical", "choices": list(p.choices)}
            elif isinstance(p, IntParam):
                out[p.name] = {"type": "int", "low": p.low, "high": p.high, "step": p.step, "log": p.log}
            else:
                out[p.name] = {"type": "float", "low": p.low, "high": p.high, "log": p.log}
        return out


def parse_space(spec: Mapping[str, Any] | Space) -> Space:
    """Validate the ``space:`` section eagerly; every error names the parameter and the field."""
    if isinstance(spec, Space):
        return spec
    if not isinstance(spec, Mapping):
        raise ValueError("space must be a mapping of parameter name to definition")
    if not spec:
        raise ValueError("space must define at least one parameter")
    params: list[Param] = []
    for name, definition in spec.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"space: parameter names must be non-empty strings, got {name!r}")
        params.append(_parse_param(name, definition))
    return Space(tuple(params))


def _parse_param(name: str, definition: Any) -> Param:
    where = f"space.{name}"
    if not isinstance(definition, Mapping):
        raise ValueError(f"{where}: must be a mapping with a type (float, int or categorical)")
    kind = definition.get("type")
    if kind is None:
        raise ValueError(f"{where}: type is required (float, int or categorical)")
    if kind not in ("float", "int", "categorical"):
        raise ValueError(f"{where}: type is {kind!r}, must be one of float, int, categorical")
    allowed = _CATEGORICAL_FIELDS if kind == "categorical" else _NUMERIC_FIELDS
    for key in definition:
        if key not in allowed:
            raise ValueError(
                f"{where}: unknown field {key!r} for type {kind} (allowed: {', '.join(sorted(allowed))})"
            )
    if kind == "categorical":
        return _parse_categorical(name, definition)
    return _parse_numeric(name, kind, definition)


def _parse_categorical(name: str, definition: Mapping[str, Any]) -> CategoricalParam:
    where = f"space.{name}"
    choices = definition.get("choices")
    if choices is None:
        raise ValueError(f"{where}: choices is required")
    if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence):
        raise ValueError(f"{where}: choices must be a list")
    if len(choices) == 0:
        raise ValueError(f"{where}: choices must not be empty")
    seen: list[Scalar] = []
    for choice in choices:
        # Only JSON scalars: choices travel through workflow histories and must come back equal.
        if choice is not None and not isinstance(choice, (str, int, float, bool)):
            raise ValueError(f"{where}: choices must be strings, numbers, booleans or null, got {choice!r}")
        if isinstance(choice, float) and not math.isfinite(choice):
            raise ValueError(f"{where}: choices must be finite, got {choice!r}")
        if any(type(c) is type(choice) and c == choice for c in seen):
            raise ValueError(f"{where}: choices must be unique, {choice!r} appears twice")
        seen.append(choice)
    return CategoricalParam(name, tuple(seen))


def _number(where: str, field: str, value: Any, integer: bool) -> Any:
    if value is None:
        raise ValueError(f"{where}: {field} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {field} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{where}: {field} must be an integer, got {value!r}")
            value = int(value)
        return value
    if not math.isfinite(value):
        raise ValueError(f"{where}: {field} must be finite, got {value!r}")
    return float(value)


def _parse_numeric(name: str, kind: str, definition: Mapping[str, Any]) -> NumericParam:
    where = f"space.{name}"
    integer = kind == "int"
    low = _number(where, "low", definition.get("low"), integer)
    high = _number(where, "high", definition.get("high"), integer)
    log = definition.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{where}: log must be true or false, got {log!r}")
    if low >= high:
        raise ValueError(f"{where}: low ({low}) must be < high ({high})")
    if log and low <= 0:
        raise ValueError(f"{where}: low must be > 0 on a log scale")
    step_value = definition.get("step")
    if not integer:
        if step_value is not None:
            raise ValueError(f"{where}: step is only supported for type int")
        return FloatParam(name, low, high, log)
    step = 1 if step_value is None else _number(where, "step", step_value, True)
    if step < 1:
        raise ValueError(f"{where}: step is {step}, must be >= 1")
    if log and step != 1:
        raise ValueError(f"{where}: step cannot be combined with log")
    if (high - low) % step:
        raise ValueError(f"{where}: high - low ({high - low}) must be a multiple of step ({step})")
    return IntParam(name, low, high, step, log)
