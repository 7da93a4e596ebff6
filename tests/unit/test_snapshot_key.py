"""Snapshot keys: stable for the same inputs, different when anything that shapes the tensors changes."""

from __future__ import annotations

import pytest

from hpo.storage.snapshots import snapshot_key

BASE = dict(
    data_sha256="a" * 64,
    text_field="text",
    label_field="label",
    labels=["negative", "positive"],
    max_examples=2000,
    split_ratios=(0.8, 0.1, 0.1),
    split_seed=0,
    tokenizer_sha256="b" * 64,
    max_length=64,
)


def test_same_inputs_same_key():
    assert snapshot_key(**BASE) == snapshot_key(**dict(BASE))
    # Pinned: the key must not drift between releases, or every stored snapshot is orphaned.
    assert (
        snapshot_key(**BASE) == "snapshots/32d6b9fa7217577a42eaa4eb718629f7bc7931263d57f6e79089527d852b645e"
    )


@pytest.mark.parametrize(
    "field,value",
    [
        ("data_sha256", "c" * 64),
        ("text_field", "body"),
        ("label_field", "sentiment"),
        ("labels", ["positive", "negative", "neutral"]),
        ("max_examples", 1000),
        ("split_ratios", (0.7, 0.2, 0.1)),
        ("split_seed", 1),
        ("tokenizer_sha256", "d" * 64),
        ("max_length", 128),
    ],
)
def test_key_changes_with_every_input(field, value):
    assert snapshot_key(**{**BASE, field: value}) != snapshot_key(**BASE)
