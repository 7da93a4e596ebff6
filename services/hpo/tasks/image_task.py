"""The built-in image-classification task: a small ResNet in plain PyTorch, on the trial API.

prepare: read the images once per sweep (built-in, .npz, CIFAR-10 batches), select and split
         them, store each split as safetensors under a content-addressed key.
train:   train from the newest checkpoint to the segment's target step, checkpointing every
         `training.checkpoint_every` steps, then score validation (the objective) and test.
         Everything random is a function of (trial seed, step) or is in the checkpoint, so a
         resumed run reproduces the uninterrupted one exactly (on the CPU: the same losses).
predict: labels and probabilities for images, from a checkpoint that describes its own model.

torchvision does not run here, so the network and the augmentation are written out in torch.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors
from torch import nn

from hpo.contracts.messages import SnapshotRef
from hpo.rng import capture_rng, restore_rng
from hpo.storage.snapshots import SPLITS, manifest_key, split_key
from hpo.tasks.datasets import DatasetError
from hpo.tasks.image_data import open_source, select_images, split_images
from hpo.tasks.registry import TaskContext, TaskImplementation
from hpo.tasks.text_classification import Diverged, InvalidTrialConfig
from hpo.trial import Checkpoint, Result, Trial

# Bump when what prepare stores changes: old snapshots are then neither reused nor misread.
IMAGE_SNAPSHOT_FORMAT = 1
OPTIMIZERS = ("sgd", "adam", "adamw")
DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3}
PAD = 4  # random-crop padding, in pixels
STATS_CHUNK = 4096  # images per chunk when computing normalisation statistics


# -- data ----------------------------------------------------------------------------------


def image_snapshot_key(
    *,
    source: dict[str, Any],
    labels: list[str] | None,
    max_examples: int | None,
    split_ratios: tuple[float, float, float],
    split_seed: int,
) -> str:
    """Hash of everything that shapes the stored tensors: any trial of any sweep asking for the
    same images, classes, subsample and split reuses the same objects."""
    identity = {
        "task": "image-classification",
        "format": IMAGE_SNAPSHOT_FORMAT,
        "source": source,
        "labels": labels,
        "max_examples": max_examples,
        "split": [round(ratio, 9) for ratio in split_ratios],
        "split_seed": split_seed,
    }
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    return f"snapshots/{digest}"


def prepare(context: TaskContext) -> SnapshotRef:
    dataset = context.spec.dataset
    assert dataset is not None  # the spec fills in the task's default dataset
    source = open_source(dataset.source, context.store, dataset.max_examples)
    ratios = (dataset.split.train, dataset.split.validation, dataset.split.test)
    key = image_snapshot_key(
        source=source.identity,
        labels=dataset.labels,
        max_examples=dataset.max_examples,
        split_ratios=ratios,
        split_seed=dataset.split.seed,
    )
    store = context.store
    if store.exists(manifest_key(key)):
        manifest = store.get_json(manifest_key(key))
        return SnapshotRef(key=key, counts=manifest["counts"], label_names=manifest["labels"], reused=True)

    loaded = source.load()  # its errors name the source already
    try:
        selected = select_images(loaded, dataset.labels, dataset.max_examples, dataset.split.seed)
        splits = split_images(selected, ratios, dataset.split.seed)
    except DatasetError as error:
        raise DatasetError(f"dataset {dataset.source}: {error}") from None
    counts = {}
    # Data first, manifest last: a snapshot exists exactly when its manifest does.
    for split in SPLITS:
        part = splits[split]
        tensors = {
            "images": torch.from_numpy(np.ascontiguousarray(part.images.transpose(0, 3, 1, 2))),
            "labels": torch.from_numpy(part.labels.astype(np.int64)),
        }
        store.put_bytes(split_key(key, split), save_tensors(tensors))
        counts[split] = len(part)
        context.heartbeat({"split": split, "stored": counts[split]})
    manifest = {
        "counts": counts,
        "labels": selected.label_names,
        "source": dataset.source,
        "image_shape": list(selected.images.shape[1:]),
    }
    store.put_json(manifest_key(key), manifest)
    return SnapshotRef(key=key, counts=counts, label_names=selected.label_names, reused=False)


def _split(context: TaskContext, split: str) -> dict[str, torch.Tensor]:
    assert context.snapshot is not None
    return load_tensors(context.store.get_bytes(split_key(context.snapshot.key, split)))


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std (of x/255) of uint8 N×C×H×W images, for normalisation; in chunks,
    so 50,000 CIFAR images never become one float64 copy."""
    total = torch.zeros(images.shape[1], dtype=torch.float64)
    squares = torch.zeros_like(total)
    for start in range(0, images.shape[0], STATS_CHUNK):
        chunk = images[start : start + STATS_CHUNK].to(torch.float64).div_(255.0)
        total += chunk.sum(dim=(0, 2, 3))
        squares += chunk.square().sum(dim=(0, 2, 3))
    count = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt().clamp_min(1e-3)
    return mean.tolist(), std.tolist()


# -- hyperparameters -----------------------------------------------------------------------


@dataclass(frozen=True)
class ImageHyperparameters:
    """Every hyperparameter the task understands, validated; `lr` defaults per optimizer."""

    lr: float
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    width: int = 16
    depth: int = 2
    label_smoothing: float = 0.0
    optimizer: str = "sgd"
    warmup_ratio: float = 0.0
    augment: bool = False

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ImageHyperparameters:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InvalidTrialConfig(
                f"unknown hyperparameter {unknown[0]!r}; image-classification understands {', '.join(sorted(known))}"
            )
        optimizer = str(params.get("optimizer", "sgd")).lower()
        if optimizer not in OPTIMIZERS:
            raise InvalidTrialConfig(
                f"optimizer is {params['optimizer']!r}, must be one of {', '.join(OPTIMIZERS)}"
            )
        values: dict[str, Any] = {"optimizer": optimizer, "lr": DEFAULT_LR[optimizer]}
        for name in ("lr", "momentum", "weight_decay", "label_smoothing", "warmup_ratio"):
            if name in params:
                values[name] = _real(name, params[name])
        for name in ("batch_size", "width", "depth"):
            if name in params:
                values[name] = _integer(name, params[name])
        if "augment" in params:
            values["augment"] = _flag("augment", params["augment"])
        return cls(**values)._checked()

    def _checked(self) -> ImageHyperparameters:
        checks = (
            ("lr", self.lr > 0, "a positive number"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("weight_decay", self.weight_decay >= 0, ">= 0"),
            ("batch_size", self.batch_size >= 1, ">= 1"),
            ("width", 1 <= self.width <= 512, "in 1..512 (channels of the first stage)"),
            ("depth", 1 <= self.depth <= 5, "in 1..5 (residual stages; each after the first halves 32×32)"),
            ("label_smoothing", 0 <= self.label_smoothing < 1, "in [0, 1)"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "in [0, 1)"),
        )
        for name, ok, rule in checks:
            if not ok:
                raise InvalidTrialConfig(f"{name} is {getattr(self, name)!r}, must be {rule}")
        return self


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise InvalidTrialConfig(f"{name} is {value!r}, must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidTrialConfig(f"{name} is {value!r}, must be a number") from None
    if not math.isfinite(number):
        raise InvalidTrialConfig(f"{name} is {value!r}, must be a finite number")
    return number


def _integer(name: str, value: Any) -> int:
    number = _real(name, value)
    if number != int(number):
        raise InvalidTrialConfig(f"{name} is {value!r}, must be an integer")
    return int(number)


def _flag(name: str, value: Any) -> bool:
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise InvalidTrialConfig(f"{name} is {value!r}, must be true or false")


# -- the network ---------------------------------------------------------------------------


class ResidualBlock(nn.Module):
    """Two 3×3 conv + BatchNorm layers and a shortcut (1×1 conv where the shape changes)."""

    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or inputs != outputs:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, outputs, 1, stride=stride, bias=False), nn.BatchNorm2d(outputs)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """Stem conv, then `depth` stages of one residual block each (channels width·2^i, every stage
    after the first at half the resolution), global average pool, linear head."""

    def __init__(self, num_classes: int, width: int = 16, depth: int = 2, channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()
        )
        stages, inputs = [], width
        for stage in range(depth):
            outputs = width * 2**stage
            stages.append(ResidualBlock(inputs, outputs, stride=1 if stage == 0 else 2))
            inputs = outputs
        self.stages = nn.Sequential(*stages)
        self.head = nn.Linear(inputs, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x))
        return self.head(features.mean(dim=(2, 3)))


# -- training ------------------------------------------------------------------------------


def _generator(seed: int, stream: str, index: int) -> torch.Generator:
    """A CPU generator that is a pure function of (seed, stream, index): no state to save."""
    digest = hashlib.sha256(f"{seed}:{stream}:{index}".encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def batch_indexes(step: int, batch_size: int, n: int, seed: int) -> torch.Tensor:
    """Examples of optimizer step `step` (0-based): a fresh seeded permutation per epoch, so a
    resumed run sees exactly the batches the uninterrupted run would have seen."""
    steps_per_epoch = max(1, n // batch_size)
    epoch, within = divmod(step, steps_per_epoch)
    order = torch.randperm(n, generator=_generator(seed, "epoch", epoch))
    return order[within * batch_size : (within + 1) * batch_size]


def augment(x: torch.Tensor, seed: int, step: int) -> torch.Tensor:
    """Random crop with PAD-pixel zero padding and a random horizontal flip, per image; the draws
    come from a generator seeded by (seed, step), so a resumed step augments identically."""
    generator = _generator(seed, "augment", step)
    n, _, height, width = x.shape
    offsets = torch.randint(0, 2 * PAD + 1, (2, n), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = F.pad(x, (PAD, PAD, PAD, PAD))
    rows = (offsets[0, :, None] + torch.arange(height, device=x.device))[:, None, :, None]
    rows = rows.expand(n, x.shape[1], height, padded.shape[3])
    cropped = padded.gather(2, rows)
    cols = (offsets[1, :, None] + torch.arange(width, device=x.device))[:, None, None, :]
    cropped = cropped.gather(3, cols.expand(n, x.shape[1], height, width))
    return torch.where(flips[:, None, None, None], cropped.flip(3), cropped)


def normalise(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """uint8 N×C×H×W to float (x/255 - mean)/std, per channel."""
    shape = (1, len(mean), 1, 1)
    m = torch.tensor(mean, dtype=torch.float32, device=images.device).view(shape)
    s = torch.tensor(std, dtype=torch.float32, device=images.device).view(shape)
    return (images.to(torch.float32) / 255.0 - m) / s


def total_steps(trial: Trial, batch_size: int, train_examples: int) -> int:
    """Full-fidelity length in optimizer steps, from max_steps or epochs."""
    if trial.max_steps is not None:
        return trial.max_steps
    assert trial.epochs is not None  # the spec sets exactly one budget
    return max(1, math.ceil(trial.epochs * max(1, train_examples // batch_size)))


def make_optimizer(model: nn.Module, hp: ImageHyperparameters) -> torch.optim.Optimizer:
    """SGD with momentum; for Adam/AdamW, `momentum` is beta1 (the same knob: gradient averaging)."""
    if hp.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=hp.lr, momentum=hp.momentum, weight_decay=hp.weight_decay
        )
    kind = torch.optim.Adam if hp.optimizer == "adam" else torch.optim.AdamW
    return kind(model.parameters(), lr=hp.lr, betas=(hp.momentum, 0.999), weight_decay=hp.weight_decay)


def make_scheduler(
    optimizer: torch.optim.Optimizer, warmup_ratio: float, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over warmup_ratio·total steps, then cosine decay to 0 at `total`."""
    warmup = int(warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _to_cpu(value: Any) -> Any:
    """A state with every tensor on the CPU: a checkpoint resumes on any device."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(item) for item in value)
    return value


@dataclass
class Run:
    """One trial's model, optimizer and schedule, at `step` of `total`."""

    model: SmallResNet
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    hp: ImageHyperparameters
    step: int = 0

    def state(self) -> dict[str, Any]:
        return {
            "model": _to_cpu(self.model.state_dict()),
            "optimizer": _to_cpu(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "step": self.step,
            "rng": capture_rng(),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng(state["rng"])
        self.step = int(state["step"])


def build_run(hp: ImageHyperparameters, num_classes: int, seed: int, total: int, device: str) -> Run:
    torch.manual_seed(seed)  # the initial weights are the trial's, the same on every attempt
    model = SmallResNet(num_classes, hp.width, hp.depth).to(device)
    optimizer = make_optimizer(model, hp)
    return Run(model, optimizer, make_scheduler(optimizer, hp.warmup_ratio, total), hp)


def train_step(
    run: Run, images: torch.Tensor, labels: torch.Tensor, stats: tuple[list[float], list[float]], seed: int
) -> float:
    """One optimizer step on batch `run.step`; returns its loss."""
    hp = run.hp
    indexes = batch_indexes(run.step, hp.batch_size, int(labels.shape[0]), seed).to(images.device)
    x = normalise(images[indexes], *stats)
    if hp.augment:
        x = augment(x, seed, run.step)
    run.model.train()
    loss = F.cross_entropy(run.model(x), labels[indexes], label_smoothing=hp.label_smoothing)
    if not torch.isfinite(loss):
        raise Diverged(f"training loss is {loss.item()} at step {run.step + 1}; lower lr ({hp.lr:g})")
    loss.backward()
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.step += 1
    return float(loss.item())


@torch.no_grad()
def evaluate(
    model: nn.Module, data: dict[str, torch.Tensor], stats: tuple[list[float], list[float]], batch_size: int
) -> dict[str, float]:
    model.eval()
    device = next(model.parameters()).device
    n = int(data["labels"].shape[0])
    correct, total_loss = 0, 0.0
    for start in range(0, n, batch_size):
        x = normalise(data["images"][start : start + batch_size].to(device), *stats)
        y = data["labels"][start : start + batch_size].to(device)
        logits = model(x)
        total_loss += float(F.cross_entropy(logits, y, reduction="sum").item())
        correct += int((logits.argmax(dim=1) == y).sum().item())
    return {"accuracy": correct / n, "loss": total_loss / n}


def train(trial: Trial) -> Result:
    context: TaskContext = trial.context
    assert context.snapshot is not None
    labels = list(context.snapshot.label_names)
    hp = ImageHyperparameters.from_params(trial.params)
    data = _split(context, "train")
    n_train = int(data["labels"].shape[0])
    if hp.batch_size > n_train:
        raise InvalidTrialConfig(f"batch_size {hp.batch_size} exceeds the {n_train} training images")
    total = total_steps(trial, hp.batch_size, n_train)
    target = min(trial.target_step or total, total)
    device = trial.device
    stats = channel_stats(data["images"])
    run = build_run(hp, len(labels), trial.seed, total, device)
    state = trial.restore()
    if state is not None:
        run.load(state)
    image_shape = list(data["images"].shape[1:])
    trial.describe(
        labels=labels, width=hp.width, depth=hp.depth, mean=stats[0], std=stats[1], image_shape=image_shape
    )
    images, targets = data["images"].to(device), data["labels"].to(device)
    every = trial.checkpoint_every or total
    while run.step < target:
        loss = train_step(run, images, targets, stats, trial.seed)
        trial.report(run.step, loss=loss)
        if run.step % every == 0 or run.step == target:
            trial.save(run.state(), step=run.step)
        if trial.should_stop():
            # Keep the work done so far: another worker resumes from this very step.
            if trial.saved_step != run.step:
                trial.save(run.state(), step=run.step)
            return Result(validation={})
    if run.step > 0 and trial.saved_step != run.step:
        trial.save(run.state(), step=run.step)
    batch = context.spec.training.eval_batch_size
    scores = {
        split: evaluate(run.model, _split(context, split), stats, batch) for split in ("validation", "test")
    }
    return Result(validation=scores["validation"], test=scores["test"])


# -- predict -------------------------------------------------------------------------------


def _input_images(inputs: list[Any], image_shape: list[int]) -> torch.Tensor:
    """Nested lists (H×W×3, or H×W gray) of 0..255 values as a uint8 N×3×H×W tensor."""
    channels, height, width = image_shape
    batch = []
    for number, item in enumerate(inputs):
        try:
            array = np.asarray(item, dtype=np.float64)
        except (TypeError, ValueError):
            raise DatasetError(f"input {number} is not an array of pixel values") from None
        if array.ndim == 2:
            array = np.repeat(array[..., None], channels, axis=2)
        if array.shape != (height, width, channels):
            raise DatasetError(
                f"input {number} has shape {array.shape}; this model takes {height}×{width}×{channels} images"
            )
        if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 255:
            raise DatasetError(f"input {number} has pixel values outside 0..255")
        batch.append(np.rint(array).astype(np.uint8).transpose(2, 0, 1))
    return torch.from_numpy(np.stack(batch)) if batch else torch.empty(0, channels, height, width)


def predict(checkpoint: Checkpoint, inputs: list[Any]) -> list[dict[str, Any]]:
    info = checkpoint.info
    labels: list[str] = list(info["labels"])
    model = SmallResNet(len(labels), int(info["width"]), int(info["depth"]))
    model.load_state_dict(checkpoint.state()["model"])
    model.eval()
    images = _input_images(inputs, list(info["image_shape"]))
    if len(images) == 0:
        return []
    with torch.no_grad():
        probabilities = torch.softmax(model(normalise(images, info["mean"], info["std"])), dim=1).tolist()
    return [
        {
            "label": labels[max(range(len(row)), key=row.__getitem__)],
            "probabilities": dict(zip(labels, row, strict=True)),
        }
        for row in probabilities
    ]


TASK = TaskImplementation(train=train, prepare=prepare, predict=predict)
