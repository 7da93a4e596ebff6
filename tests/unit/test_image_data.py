"""Image datasets: every source becomes the same uint8 N×H×W×3 array, selection and split are seeded."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from hpo.tasks import image_data
from hpo.tasks.datasets import DatasetError
from hpo.tasks.image_data import (
    ImageData,
    open_source,
    parse_cifar_batches,
    parse_npz,
    read_cifar_files,
    select_images,
    split_images,
    synthetic_cifar,
)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def toy(n: int = 100, classes: int = 4) -> ImageData:
    labels = np.arange(n, dtype=np.int64) % classes
    images = np.broadcast_to(labels[:, None, None, None].astype(np.uint8), (n, 32, 32, 3)).copy()
    return ImageData(images, labels, [f"c{i}" for i in range(classes)])


def test_synthetic_cifar_is_deterministic_and_cifar_shaped():
    data = synthetic_cifar(200, seed=0)
    assert data.images.shape == (200, 32, 32, 3) and data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64 and np.bincount(data.labels).tolist() == [20] * 10
    assert data.label_names == list(image_data.SYNTHETIC_CLASSES)
    again = synthetic_cifar(200, seed=0)
    assert np.array_equal(data.images, again.images) and np.array_equal(data.labels, again.labels)
    assert not np.array_equal(data.images, synthetic_cifar(200, seed=1).images)
    assert 40 < data.images.mean() < 215 and data.images.std() > 30  # neither blank nor saturated


def test_builtin_sources_are_identified_by_name_seed_and_count():
    source = open_source("synthetic-cifar", store=None, max_examples=50)
    assert source.identity == {"builtin": "synthetic-cifar", "version": 1, "seed": 0, "count": 50}
    assert len(source.load()) == 50
    assert open_source("synthetic-cifar", None).identity["count"] == image_data.SYNTHETIC_COUNT


def test_digits_are_upsampled_or_need_scikit_learn(monkeypatch):
    if image_data.importlib.util.find_spec("sklearn") is not None:
        digits = image_data.load_digits()
        assert digits.images.shape == (1797, 32, 32, 3) and digits.images.max() == 255
        assert np.array_equal(digits.images[:, ::4, ::4, 0], digits.images[:, 3::4, 3::4, 2])
        assert digits.label_names == [str(d) for d in range(10)]
    monkeypatch.setattr(image_data.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetError, match="pip install scikit-learn.*synthetic-cifar"):
        image_data.load_digits()


def test_npz_round_trip_nhwc_and_nchw(tmp_path):
    data = synthetic_cifar(30)
    names = np.array(data.label_names)
    nhwc = parse_npz(npz_bytes(x=data.images, y=data.labels, label_names=names), "a.npz")
    assert np.array_equal(nhwc.images, data.images) and np.array_equal(nhwc.labels, data.labels)
    assert nhwc.label_names == data.label_names
    nchw = parse_npz(npz_bytes(images=data.images.transpose(0, 3, 1, 2), labels=data.labels), "b.npz")
    assert np.array_equal(nchw.images, data.images)
    assert nchw.label_names == [str(i) for i in range(10)]
    path = tmp_path / "c.npz"
    path.write_bytes(npz_bytes(x=data.images, y=np.array(data.label_names)[data.labels]))
    source = open_source(str(path), store=None)
    assert len(source.identity["sha256"]) == 64
    by_name = source.load()
    assert by_name.label_names == sorted(data.label_names)
    assert [by_name.label_names[i] for i in by_name.labels] == [data.label_names[i] for i in data.labels]


@pytest.mark.parametrize(
    "arrays,message",
    [
        (
            {"pixels": np.zeros((2, 32, 32, 3), np.uint8), "y": np.zeros(2, int)},
            r"no array 'x' or 'images'.*holds: pixels, y",
        ),
        ({"x": np.zeros((2, 32, 32, 3), np.uint8)}, r"no array 'y' or 'labels'.*holds: x"),
        (
            {"x": np.zeros((2, 32, 32, 3), np.float32), "y": np.zeros(2, int)},
            r"images are float32, must be uint8",
        ),
        ({"x": np.zeros((2, 32, 32, 5), np.uint8), "y": np.zeros(2, int)}, r"shape \(2, 32, 32, 5\)"),
        (
            {"x": np.zeros((3, 32, 32, 3), np.uint8), "y": np.zeros(2, int)},
            r"3 images but labels have shape \(2,\)",
        ),
        (
            {"x": np.zeros((2, 32, 32, 3), np.uint8), "y": np.array([0, 5]), "classes": np.array(["a", "b"])},
            r"labels run from 0 to 5 but 'classes' names 2",
        ),
    ],
)
def test_bad_npz_is_named(arrays, message):
    with pytest.raises(DatasetError, match=rf"^bad\.npz.*{message}"):
        parse_npz(npz_bytes(**arrays), "bad.npz")


def test_not_an_npz_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"junk\.npz is not a NumPy \.npz archive"):
        parse_npz(b"not a zip", "junk.npz")
    with pytest.raises(DatasetError, match="does not exist"):
        open_source(str(tmp_path / "missing.npz"), store=None)


def write_cifar_dir(directory: Path, per_batch: int = 6) -> np.ndarray:
    """CIFAR-10 python batches as the dataset ships them (pickled dicts with bytes keys)."""
    directory.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for index, name in enumerate(("data_batch_1", "data_batch_2", "test_batch")):
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [(index + i) % 3 for i in range(per_batch)]
        with open(directory / name, "wb") as f:
            # Protocol 2 as in the published files (written by Python 2).
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data}, f, protocol=2)
        rows.append(data)
    with open(directory / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"airplane", b"automobile", b"bird"], b"num_vis": 3072}, f)
    return np.concatenate(rows)


def test_cifar_python_batches_directory(tmp_path):
    rows = write_cifar_dir(tmp_path / "cifar-10-batches-py")
    source = open_source(str(tmp_path / "cifar-10-batches-py"), store=None)
    data = source.load()
    assert data.images.shape == (18, 32, 32, 3) and data.label_names == ["airplane", "automobile", "bird"]
    # Channels-first rows of 3072 (R plane, G plane, B plane) become H×W×C.
    assert data.images[0, 0, 1, 2] == rows[0, 2 * 1024 + 1] and data.images[5, 2, 0, 0] == rows[5, 64]
    assert data.labels[:7].tolist() == [0, 1, 2, 0, 1, 2, 1]
    assert open_source(str(tmp_path / "cifar-10-batches-py"), None).identity == source.identity


def test_cifar_directory_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(DatasetError, match=r"no CIFAR-10 python batches.*holds: readme.txt"):
        read_cifar_files(tmp_path / "empty")
    evil = pickle.dumps({b"data": print}, protocol=2)
    with pytest.raises(DatasetError, match=r"not a CIFAR-10 python batch .*refusing to load \w+\.print"):
        parse_cifar_batches({"data_batch_1": evil}, "cifar")


def test_labels_filter_and_balanced_max_examples():
    data = toy(100, classes=4)
    kept = select_images(data, ["c3", "c1"], None, seed=0)
    assert kept.label_names == ["c1", "c3"] and len(kept) == 50
    assert [kept.label_names[i] for i in kept.labels] == [f"c{v}" for v in kept.images[:, 0, 0, 0]]
    small = select_images(data, None, 40, seed=7)
    assert np.bincount(small.labels).tolist() == [10] * 4
    assert np.array_equal(small.images, select_images(data, None, 40, seed=7).images)
    assert not np.array_equal(small.images, select_images(data, None, 40, seed=8).images)
    with pytest.raises(DatasetError, match="'c9', not a class.*c0, c1, c2, c3"):
        select_images(data, ["c9"], None, seed=0)
    with pytest.raises(DatasetError, match="1 class"):
        select_images(data, ["c2"], None, seed=0)


def test_split_sizes_are_seeded_and_disjoint():
    ids = np.arange(100)
    data = ImageData(ids[:, None, None, None].astype(np.uint8), ids % 4, ["a", "b", "c", "d"])
    parts = split_images(data, (0.8, 0.1, 0.1), seed=3)
    assert {name: len(part) for name, part in parts.items()} == {"train": 80, "validation": 10, "test": 10}
    seen = np.concatenate([part.images[:, 0, 0, 0] for part in parts.values()])
    assert sorted(seen.tolist()) == list(range(100))
    assert np.array_equal(parts["test"].images, split_images(data, (0.8, 0.1, 0.1), seed=3)["test"].images)
    assert not np.array_equal(
        parts["test"].images, split_images(data, (0.8, 0.1, 0.1), seed=4)["test"].images
    )
    with pytest.raises(DatasetError, match="the validation split is empty"):
        split_images(toy(4), (0.9, 0.05, 0.05), 0)
