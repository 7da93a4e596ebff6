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

from .checks import shown

Scalar = str | int | float | bool | None

_NUMERIC_FIELDS = {"type", "low", "high", "log", "step"}
_CATEGORICAL_FIELDS = {"type", "choices"}

# Bounds that keep every searcher's arithmetic finite and cheap (documented in the README's
# spec reference): squares of float spans stay finite, ints stay exact as floats (the internal
# real line) and in JSON everywhere, and a TPE proposal's cost (params x choices) stays small.
MAX_PARAMS = 100
MAX_CHOICES = 10_000
MAX_CHOICE_LENGTH = 1_000
MAX_FLOAT_MAGNITUDE = 1e100
MAX_INT_MAGNITUDE = 10**15
# A numeric range narrower than this (relative to its magnitude) has no room for kernels.
_MIN_RELATIVE_SPAN = 1e-12
_MIN_ABSOLUTE_SPAN = 1e-250
MAX_NAME_LENGTH = 100


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
    if len(spec) > MAX_PARAMS:
        raise ValueError(f"space has {len(spec)} parameters, at most {MAX_PARAMS} are allowed")
    params: list[Param] = []
    for name, definition in spec.items():
        if not _sane_name(name):
            raise ValueError(
                f"space: parameter name {shown(name)} must start with a letter or _ and use only letters, "
                "digits, _ . - (at most 100 characters)"
            )
        params.append(_parse_param(name, definition))
    return Space(tuple(params))


def _sane_name(name: Any) -> bool:
    """A name that reads the same in YAML, JSON, an environment variable's JSON and a report."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_LENGTH
        and name.isascii()
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c in "_.-" for c in name)
    )


def _parse_param(name: str, definition: Any) -> Param:
    where = f"space.{name}"
    if not isinstance(definition, Mapping):
        raise ValueError(f"{where}: must be a mapping with a type (float, int or categorical)")
    kind = definition.get("type")
    if kind is None:
        raise ValueError(f"{where}: type is required (float, int or categorical)")
    if kind not in ("float", "int", "categorical"):
        raise ValueError(f"{where}: type is {shown(kind)}, must be one of float, int, categorical")
    allowed = _CATEGORICAL_FIELDS if kind == "categorical" else _NUMERIC_FIELDS
    for key in definition:
        if key not in allowed:
            raise ValueError(
                f"{where}: unknown field {shown(key)} for type {kind} (allowed: {', '.join(sorted(allowed))})"
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
    if len(choices) > MAX_CHOICES:
        raise ValueError(f"{where}: {len(choices)} choices, at most {MAX_CHOICES} are allowed")
    seen: set[tuple[type, Scalar]] = set()
    for choice in choices:
        _check_choice(where, choice)
        # Keyed by type: 1 == True == 1.0 in Python, but they are different choices here.
        key = (type(choice), choice)
        if key in seen:
            raise ValueError(f"{where}: choices must be unique, {choice!r} appears twice")
        seen.add(key)
    return CategoricalParam(name, tuple(choices))


def _check_choice(where: str, choice: Any) -> None:
    """Only JSON scalars that come back equal from a workflow history (and from JSON in any language)."""
    if choice is not None and not isinstance(choice, (str, int, float, bool)):
        raise ValueError(f"{where}: choices must be strings, numbers, booleans or null, got {shown(choice)}")
    if isinstance(choice, float) and not math.isfinite(choice):
        raise ValueError(f"{where}: choices must be finite, got {choice!r}")
    if isinstance(choice, int) and not isinstance(choice, bool) and abs(choice) > MAX_INT_MAGNITUDE:
        raise ValueError(f"{where}: integer choices must be within ±{MAX_INT_MAGNITUDE:.0e}")
    if isinstance(choice, float) and abs(choice) > MAX_FLOAT_MAGNITUDE:
        raise ValueError(f"{where}: choices must be within ±{MAX_FLOAT_MAGNITUDE:g}, got {choice!r}")
    if isinstance(choice, str):
        if len(choice) > MAX_CHOICE_LENGTH:
            raise ValueError(f"{where}: a choice is {len(choice)} characters, at most {MAX_CHOICE_LENGTH}")
        if not choice.isprintable() or not _utf8(choice):
            raise ValueError(f"{where}: choice {shown(choice)} holds control or unencodable characters")


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _number(where: str, field: str, value: Any, integer: bool) -> Any:
    if value is None:
        raise ValueError(f"{where}: {field} is required")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{where}: {field} must be {'an integer' if integer else 'a number'}, got {shown(value)}"
        )
    if integer:
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError(f"{where}: {field} must be an integer, got {value!r}")
            value = int(value)
        if abs(value) > MAX_INT_MAGNITUDE:
            raise ValueError(f"{where}: {field} is {shown(value)}, must be within ±{MAX_INT_MAGNITUDE:.0e}")
        return value
    if not math.isfinite(value):
        raise ValueError(f"{where}: {field} must be finite, got {value!r}")
    if abs(value) > MAX_FLOAT_MAGNITUDE:
        raise ValueError(f"{where}: {field} is {value!r}, must be within ±{MAX_FLOAT_MAGNITUDE:g}")
    return float(value)


def _parse_numeric(name: str, kind: str, definition: Mapping[str, Any]) -> NumericParam:
    where = f"space.{name}"
    integer = kind == "int"
    low = _number(where, "low", definition.get("low"), integer)
    high = _number(where, "high", definition.get("high"), integer)
    log = definition.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{where}: log must be true or false, got {shown(log)}")
    if low >= high:
        raise ValueError(f"{where}: low ({low}) must be < high ({high})")
    if log and low <= 0:
        raise ValueError(f"{where}: low must be > 0 on a log scale")
    step_value = definition.get("step")
    if not integer:
        if step_value is not None:
            raise ValueError(f"{where}: step is only supported for type int")
        param = FloatParam(name, low, high, log)
        lo, hi = param.bounds
        if hi - lo < max(_MIN_ABSOLUTE_SPAN, _MIN_RELATIVE_SPAN * max(abs(lo), abs(hi))):
            raise ValueError(f"{where}: low ({low!r}) and high ({high!r}) are too close to search between")
        return param
    step = 1 if step_value is None else _number(where, "step", step_value, True)
    if step < 1:
        raise ValueError(f"{where}: step is {step}, must be >= 1")
    if log and step != 1:
        raise ValueError(f"{where}: step cannot be combined with log")
    if (high - low) % step:
        raise ValueError(f"{where}: high - low ({high - low}) must be a multiple of step ({step})")
    return IntParam(name, low, high, step, log)
