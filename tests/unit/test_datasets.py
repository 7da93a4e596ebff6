"""Dataset parsing, balanced selection and splitting are deterministic and validated."""

from __future__ import annotations

import json

import pytest

from hpo.tasks.datasets import DatasetError, Example, parse_examples, select_examples, split_examples


def test_csv_and_jsonl_parse_the_same_rows():
    csv_bytes = b"text,label\nhello,pos\nbye,neg\n"
    jsonl_bytes = "\n".join(
        json.dumps(r) for r in [{"text": "hello", "label": "pos"}, {"text": "bye", "label": "neg"}]
    )
    expected = [Example("hello", "pos"), Example("bye", "neg")]
    assert parse_examples(csv_bytes, "csv", "text", "label", "x.csv") == expected
    assert parse_examples(jsonl_bytes.encode(), "jsonl", "text", "label", "x.jsonl") == expected


def test_missing_column_names_the_field():
    with pytest.raises(DatasetError, match=r"no column 'sentiment' \(dataset.label_field\)"):
        parse_examples(b"text,label\nhello,pos\n", "csv", "text", "sentiment", "x.csv")


def test_balanced_selection_and_split_are_seeded():
    examples = [Example(f"t{i}", "a" if i % 4 else "b") for i in range(400)]
    chosen = select_examples(examples, ["a", "b"], 100, seed=3)
    assert len(chosen) == 100
    assert sum(1 for e in chosen if e.label == "b") == 50
    assert chosen == select_examples(examples, ["a", "b"], 100, seed=3)
    assert chosen != select_examples(examples, ["a", "b"], 100, seed=4)
    splits = split_examples(chosen, (0.8, 0.1, 0.1), seed=0)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [80, 10, 10]
    assert not set(splits["train"]) & set(splits["test"])
