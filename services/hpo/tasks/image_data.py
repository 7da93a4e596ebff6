"""Labelled images for the image-classification task: built-in sets, .npz files, CIFAR-10 batches.

Every source becomes the same thing, an `ImageData` (uint8 N×H×W×C images, int64 labels that
index `label_names`), and then goes through the same pure steps: keep the wanted classes,
take a class-balanced subsample, split train/validation/test with the spec's seed. Reading
and decoding are separate (`open_source` reads bytes and says what identifies them; its
`load` decodes), so the snapshot key hashes exactly what was read, and every step here is
unit-testable without S3 or torch.

Built-in sources, named honestly:
- "digits": scikit-learn's 8×8 handwritten digits (1,797 images), upsampled to 32×32×3.
- "synthetic-cifar": CIFAR-shaped (32×32×3, 10 classes) images generated in code from a fixed
  seed: coloured shapes and textures on noisy backgrounds. Synthetic, not CIFAR.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import io
import pickle
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo.tasks.datasets import (
    DatasetError,
    checked_local_directory,
    checked_local_file,
    content_sha256,
    read_source_bytes,
    split_order,
)

SYNTHETIC_SEED = 0
SYNTHETIC_COUNT = 2000
# Bump when the generator changes: a new version is new data, hence a new snapshot key.
SYNTHETIC_VERSION = 1
SYNTHETIC_CLASSES = (
    "disc",
    "ring",
    "square",
    "frame",
    "plus",
    "cross",
    "h-stripes",
    "v-stripes",
    "checker",
    "triangle",
)
CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
CIFAR_META = "batches.meta"
IMAGE_KEYS, LABEL_KEYS, NAME_KEYS = ("x", "images"), ("y", "labels"), ("label_names", "classes")


@dataclass(frozen=True)
class ImageData:
    """Images (uint8 N×H×W×C), their labels (int64, indexes into `label_names`) and class names."""

    images: np.ndarray
    labels: np.ndarray
    label_names: list[str]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def take(self, indexes: np.ndarray) -> ImageData:
        return ImageData(self.images[indexes], self.labels[indexes], list(self.label_names))


@dataclass(frozen=True)
class ImageSource:
    """A dataset read once: what identifies its content (for the snapshot key) and how to decode it."""

    identity: dict[str, Any]
    load: Callable[[], ImageData]


# -- reading -------------------------------------------------------------------------------


def open_source(source: str, store: Any, max_examples: int | None = None) -> ImageSource:
    """The dataset named by `source`: "digits", "synthetic-cifar", a .npz path or s3:// URI, or a
    local directory of CIFAR-10 python batches (`store`: an ObjectStore, for s3:// only)."""
    if source == "digits":
        return ImageSource({"builtin": "digits", "upsample": 4}, load_digits)
    if source == "synthetic-cifar":
        count = max_examples or SYNTHETIC_COUNT
        identity = {"builtin": source, "version": SYNTHETIC_VERSION, "seed": SYNTHETIC_SEED, "count": count}
        return ImageSource(identity, lambda: synthetic_cifar(count, SYNTHETIC_SEED))
    if not source.startswith("s3://") and Path(source).is_dir():
        files = read_cifar_files(Path(source))
        digest = hashlib.sha256()
        for name in sorted(files):
            digest.update(name.encode() + b"\0" + content_sha256(files[name]).encode())
        return ImageSource({"sha256": digest.hexdigest()}, lambda: parse_cifar_batches(files, source))
    raw = read_source_bytes(source, store)
    return ImageSource({"sha256": content_sha256(raw)}, lambda: parse_npz(raw, source))


# -- built-in data -------------------------------------------------------------------------


def load_digits() -> ImageData:
    """scikit-learn's 8×8 handwritten digits, upsampled: ×4 nearest-neighbour to 32×32, gray to
    three channels, 0..16 to 0..255. Only scikit-learn ships them, so it must be installed."""
    if importlib.util.find_spec("sklearn") is None:
        raise DatasetError(
            'dataset "digits" (scikit-learn\'s 8×8 handwritten digits, upsampled) needs scikit-learn: '
            "pip install scikit-learn, or use dataset.source: synthetic-cifar"
        )
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    gray = np.clip(np.rint(np.asarray(digits.images, dtype=np.float64) * (255.0 / 16.0)), 0, 255)
    big = gray.astype(np.uint8).repeat(4, axis=1).repeat(4, axis=2)
    images = np.repeat(big[..., None], 3, axis=3)
    labels = np.asarray(digits.target, dtype=np.int64)
    return ImageData(np.ascontiguousarray(images), labels, [str(d) for d in range(10)])


def synthetic_cifar(count: int = SYNTHETIC_COUNT, seed: int = SYNTHETIC_SEED) -> ImageData:
    """CIFAR-shaped synthetic images, a pure function of (count, seed): NOT CIFAR.

    Ten balanced classes, each a shape or texture (see SYNTHETIC_CLASSES) at a random place and
    size, drawn in its class colour 60% of the time (else a random one, so colour alone is only
    a hint), on a random gradient background with Gaussian noise: a small CNN learns it well
    above chance in ~100 steps without reaching 100% at once.
    """
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(SYNTHETIC_CLASSES)).astype(np.int64)
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for index, label in enumerate(labels):
        images[index] = _synthetic_image(int(label), rng)
    return ImageData(images, labels, list(SYNTHETIC_CLASSES))


_YY, _XX = np.mgrid[0:32, 0:32].astype(np.float64)
_CLASS_COLOURS = np.array(
    [
        [230, 60, 50],
        [240, 150, 40],
        [230, 220, 60],
        [80, 200, 70],
        [60, 200, 200],
        [60, 110, 230],
        [150, 70, 220],
        [230, 90, 180],
        [240, 240, 240],
        [140, 100, 60],
    ],
    dtype=np.float64,
)


def _shape_mask(label: int, dy: np.ndarray, dx: np.ndarray, r: float) -> np.ndarray:
    """Where class `label`'s shape covers the 32×32 grid (offsets dy/dx from its centre, radius r)."""
    ady, adx = np.abs(dy), np.abs(dx)
    box = np.maximum(ady, adx) <= r
    dist = np.hypot(dy, dx)
    thick = max(1.5, r / 3.5)
    masks = (
        lambda: dist <= r,
        lambda: (dist <= r) & (dist >= r - thick),
        lambda: box,
        lambda: box & (np.maximum(ady, adx) >= r - thick),
        lambda: box & ((ady <= thick / 1.5) | (adx <= thick / 1.5)),
        lambda: box & (np.abs(ady - adx) <= thick / 1.5),
        lambda: box & (np.floor((dy + r) / 2.5) % 2 == 0),
        lambda: box & (np.floor((dx + r) / 2.5) % 2 == 0),
        lambda: box & ((np.floor((dy + r) / 3) + np.floor((dx + r) / 3)) % 2 == 0),
        lambda: (dy >= -r) & (dy <= r) & (adx <= (dy + r) / 2),
    )
    return masks[label]()


def _synthetic_image(label: int, rng: np.random.Generator) -> np.ndarray:
    r = rng.uniform(6.0, 12.0)
    cy, cx = rng.uniform(r, 32 - r, size=2)
    mask = _shape_mask(label, _YY - cy, _XX - cx, r)[..., None]
    if rng.random() < 0.6:
        fg = np.clip(_CLASS_COLOURS[label] + rng.normal(0, 20, 3), 0, 255)
    else:
        fg = rng.uniform(0, 255, 3)
    bg = rng.uniform(0, 255, 3)
    if np.linalg.norm(fg - bg) < 120:
        bg = 255 - fg  # keep the shape visible
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((_YY * np.sin(angle) + _XX * np.cos(angle)) / 32.0 - 0.5)[..., None] * rng.uniform(0, 80)
    image = np.where(mask, fg, bg + ramp) + rng.normal(0, 24, (32, 32, 3))
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


# -- .npz files ----------------------------------------------------------------------------


def parse_npz(raw: bytes, source: str) -> ImageData:
    """Images and labels from an .npz: `x`/`images` (uint8 N×H×W×C or N×C×H×W) and `y`/`labels`
    (integers or strings), optional `label_names`/`classes` (strings, one per integer label)."""
    try:
        archive = np.load(io.BytesIO(raw), allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile) as error:
        raise DatasetError(f"{source} is not a NumPy .npz archive ({error})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{source} holds a single array, not an .npz archive with images and labels")
    with archive:
        found = sorted(archive.files)
        arrays = {name: _npz_array(archive, name, source) for name in found}
    images = _pick(arrays, IMAGE_KEYS, source, found, "the images (uint8 N×32×32×3)")
    labels = _pick(arrays, LABEL_KEYS, source, found, "the labels (one per image)")
    names_key = next((key for key in NAME_KEYS if key in arrays), None)
    names = arrays[names_key] if names_key else None
    return ImageData(
        _as_nhwc(images, source), *_as_label_indexes(labels, names, len(images), source, names_key)
    )


def _npz_array(archive: Any, name: str, source: str) -> np.ndarray:
    try:
        return np.asarray(archive[name])
    except ValueError:
        raise DatasetError(
            f"{source}: array {name!r} holds Python objects, which are not loaded (no pickles); "
            "save strings as a str array, e.g. np.array(names, dtype=str)"
        ) from None


def _pick(
    arrays: dict[str, np.ndarray], keys: Sequence[str], source: str, found: list[str], what: str
) -> Any:
    for key in keys:
        if key in arrays:
            return arrays[key]
    raise DatasetError(
        f"{source} has no array {' or '.join(repr(k) for k in keys)} for {what}; "
        f"it holds: {', '.join(found) or 'nothing'}"
    )


def _as_nhwc(images: np.ndarray, source: str) -> np.ndarray:
    """uint8 N×H×W×3: NCHW is transposed, gray (N×H×W or one channel) becomes three channels."""
    if images.dtype != np.uint8:
        raise DatasetError(
            f"{source}: images are {images.dtype}, must be uint8 (0..255); "
            "convert with (x * 255).round().astype(np.uint8) for floats in [0, 1]"
        )
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[0] == 0:
        raise DatasetError(
            f"{source}: images have shape {images.shape}, must be N×H×W×C (e.g. N×32×32×3) or N×C×H×W"
        )
    if images.shape[3] not in (1, 3) and images.shape[1] in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    if images.shape[3] not in (1, 3):
        raise DatasetError(
            f"{source}: images have shape {images.shape}; need 1 or 3 channels, first or last (N×32×32×3)"
        )
    if images.shape[3] == 1:
        images = np.repeat(images, 3, axis=3)
    return np.ascontiguousarray(images)


def _as_label_indexes(
    labels: np.ndarray, names: np.ndarray | None, count: int, source: str, names_key: str | None
) -> tuple[np.ndarray, list[str]]:
    """Labels as indexes into class names: integer labels index `names` (or are named by
    their values), string labels are named by themselves in sorted order."""
    labels = labels.reshape(-1) if labels.ndim == 2 and 1 in labels.shape else labels
    if labels.ndim != 1 or len(labels) != count:
        raise DatasetError(
            f"{source}: {count} images but labels have shape {labels.shape}; need one label per image"
        )
    if labels.dtype.kind in "US":
        text = labels.astype(str)
        label_names = sorted(set(text.tolist()))
        return np.searchsorted(np.array(label_names), text).astype(np.int64), label_names
    if labels.dtype.kind not in "iu":
        raise DatasetError(
            f"{source}: labels are {labels.dtype}, must be integers (class indexes) or strings"
        )
    values = labels.astype(np.int64)
    if names is None:
        present = sorted(set(values.tolist()))
        return np.searchsorted(np.array(present), values).astype(np.int64), [str(v) for v in present]
    label_names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(names).reshape(-1).tolist()
    ]
    if values.min() < 0 or values.max() >= len(label_names):
        raise DatasetError(
            f"{source}: labels run from {values.min()} to {values.max()} but {names_key!r} names "
            f"{len(label_names)} classes; integer labels must be 0..{len(label_names) - 1}"
        )
    return values, label_names


# -- CIFAR-10 python batches ---------------------------------------------------------------


def read_cifar_files(directory: Path) -> dict[str, bytes]:
    """The bytes of the CIFAR-10 python batches (and batches.meta) present in `directory`, each
    checked after symlinks like any local dataset file (inside `directory`, a regular file)."""
    source = str(directory)
    directory = checked_local_directory(directory, source)
    files = {
        name: checked_local_file(directory / name, f"{source}/{name}", within=directory).read_bytes()
        for name in (*CIFAR_BATCHES, CIFAR_META)
        if (directory / name).exists() or (directory / name).is_symlink()
    }
    if not any(name in files for name in CIFAR_BATCHES):
        present = ", ".join(sorted(path.name for path in directory.iterdir())[:10]) or "nothing"
        raise DatasetError(
            f"directory {directory} holds no CIFAR-10 python batches ({', '.join(CIFAR_BATCHES)}); "
            f"it holds: {present}. Use the extracted cifar-10-python.tar.gz (cifar-10-batches-py) or an .npz"
        )
    return files


# The pickled batches hold only dicts, lists, bytes and NumPy arrays; nothing else is let in.
_SAFE_GLOBALS = {
    ("_codecs", "encode"): ("codecs", "encode"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numpy._core.numeric", "_frombuffer"),
}


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR's python batches are pickles, the format the dataset is published in. They are the
    user's own files (dataset.source), and still only the globals a pickled NumPy array needs are
    resolved: a pickle that names anything else is refused instead of run."""

    def find_class(self, module: str, name: str) -> Any:
        target = _SAFE_GLOBALS.get((module, name))
        if target is None:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return getattr(importlib.import_module(target[0]), target[1])


def _unpickle(data: bytes, what: str) -> Any:
    try:
        return _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:
        raise DatasetError(f"{what} is not a CIFAR-10 python batch ({error})") from None


def parse_cifar_batches(files: dict[str, bytes], source: str) -> ImageData:
    """All batches present (train and test together; hpo makes its own split), as N×32×32×3."""
    images, labels = [], []
    for name in CIFAR_BATCHES:
        if name not in files:
            continue
        batch = _unpickle(files[name], f"{source}/{name}")
        if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
            keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise DatasetError(f"{source}/{name} lacks b'data' or b'labels' (found {keys})")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072 or data.shape[0] != len(batch[b"labels"]):
            raise DatasetError(
                f"{source}/{name}: data has shape {data.shape} for {len(batch[b'labels'])} labels; "
                "need N×3072 uint8 (32×32, channels first) and one label per row"
            )
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
    label_array = np.concatenate(labels)
    names = [str(v) for v in range(int(label_array.max()) + 1)]
    if CIFAR_META in files:
        meta = _unpickle(files[CIFAR_META], f"{source}/{CIFAR_META}")
        raw_names = meta.get(b"label_names") if isinstance(meta, dict) else None
        if raw_names:
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw_names]
    if label_array.min() < 0 or label_array.max() >= len(names):
        raise DatasetError(f"{source}: labels outside 0..{len(names) - 1} ({CIFAR_META} names {len(names)})")
    return ImageData(np.ascontiguousarray(np.concatenate(images)), label_array, names)


# -- selection and split -------------------------------------------------------------------


def select_images(
    data: ImageData, labels: list[str] | None, max_examples: int | None, seed: int
) -> ImageData:
    """Keep the classes named in `labels` (in the data's own order), then, if asked, a
    class-balanced subsample of `max_examples` chosen with `seed`; labels are renumbered to
    index the classes kept, and a class with no image left is dropped."""
    if labels is not None:
        unknown = [name for name in labels if name not in data.label_names]
        if unknown:
            raise DatasetError(
                f"dataset.labels names {', '.join(map(repr, unknown))}, not a class of this dataset; "
                f"its classes are {', '.join(data.label_names)}"
            )
        wanted = [data.label_names.index(name) for name in labels]
        data = data.take(np.flatnonzero(np.isin(data.labels, wanted)))
    if max_examples is not None and max_examples < len(data):
        data = data.take(_balanced_indexes(data.labels, max_examples, seed))
    present = sorted(set(data.labels.tolist()))
    if len(present) < 2:
        raise DatasetError(
            f"{len(present)} class(es) left to classify; need at least 2 (check dataset.labels / max_examples)"
        )
    remap = np.full(len(data.label_names), -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    return ImageData(data.images, remap[data.labels], [data.label_names[i] for i in present])


def _balanced_indexes(labels: np.ndarray, max_examples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    classes = sorted(set(labels.tolist()))
    per_class = max_examples // len(classes)
    chosen = []
    for label in classes:
        pool = np.flatnonzero(labels == label)
        chosen.append(rng.choice(pool, size=min(per_class, len(pool)), replace=False))
    return rng.permutation(np.concatenate(chosen))


def split_images(data: ImageData, ratios: tuple[float, float, float], seed: int) -> dict[str, ImageData]:
    """A deterministic shuffled train/validation/test split (the same rounding as the text task)."""
    order = np.random.default_rng(seed).permutation(len(data))
    parts = split_order(order, ratios, f"{len(data)} images")
    return {name: data.take(np.asarray(indexes)) for name, indexes in parts.items()}
