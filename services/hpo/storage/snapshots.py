"""Content-addressed dataset snapshots: tokenized train/validation/test splits.

The key is a hash over everything that changes the tensors, so any trial that needs
the same data, fields, split, tokenizer and max_length reuses the same objects.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

SNAPSHOT_FORMAT = 1
SPLITS = ("train", "validation", "test")


def snapshot_key(
    *,
    data_sha256: str,
    text_field: str,
    label_field: str,
    labels: list[str] | None,
    max_examples: int | None,
    split_ratios: tuple[float, float, float],
    split_seed: int,
    tokenizer_sha256: str,
    max_length: int,
) -> str:
    identity: dict[str, Any] = {
        "format": SNAPSHOT_FORMAT,
        "data": data_sha256,
        "text_field": text_field,
        "label_field": label_field,
        "labels": labels,
        "max_examples": max_examples,
        "split": [round(ratio, 9) for ratio in split_ratios],
        "split_seed": split_seed,
        "tokenizer": tokenizer_sha256,
        "max_length": max_length,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"snapshots/{digest}"


def manifest_key(prefix: str) -> str:
    return f"{prefix}/manifest.json"


def split_key(prefix: str, split: str) -> str:
    return f"{prefix}/{split}.safetensors"
