"""Issue 9 hardening of datasets: local files are checked after symlinks and never quoted in
errors, s3:// datasets come only from allowed buckets, and JSONL labels have one type."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest

from hpo.contracts.settings import Settings, dataset_bucket_allowed
from hpo.tasks.datasets import DatasetError, Example, checked_local_file, parse_examples, read_source_bytes
from hpo.tasks.image_data import open_source, read_cifar_files

SECRET_LINE = "AWS_SECRET_ACCESS_KEY=not-for-the-user-1234,more"


@pytest.fixture()
def secret_file(tmp_path: Path) -> Path:
    """A file outside the dataset's directory whose first line must never reach a message."""
    path = tmp_path / "elsewhere" / "credentials"
    path.parent.mkdir()
    path.write_text(f"{SECRET_LINE}\nsecond line\n")
    return path


# ------------------------------------------------------------------ local files after symlinks


def test_a_symlink_out_of_the_dataset_directory_is_refused_unread(tmp_path, secret_file):
    data = tmp_path / "data"
    data.mkdir()
    (data / "x.csv").symlink_to(secret_file)
    with pytest.raises(DatasetError) as raised:
        read_source_bytes(str(data / "x.csv"), store=None)
    message = str(raised.value)
    assert f"is a symbolic link to {secret_file}, outside {data}" in message
    assert "not-for-the-user" not in message and "AWS_SECRET" not in message


def test_a_symlink_inside_the_dataset_directory_is_read(tmp_path):
    data = tmp_path / "data"
    (data / "v2").mkdir(parents=True)
    (data / "v2" / "real.csv").write_text("text,label\nhi,a\n")
    (data / "current.csv").symlink_to(data / "v2" / "real.csv")
    assert read_source_bytes(str(data / "current.csv"), store=None) == b"text,label\nhi,a\n"


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_system_pseudo_files_are_refused_even_when_named_directly(tmp_path):
    for path in ("/proc/self/environ", "/etc/hostname"):
        with pytest.raises(DatasetError, match="under the system directory"):
            read_source_bytes(path, store=None)
    link = tmp_path / "env.csv"
    link.symlink_to("/proc/self/environ")
    with pytest.raises(DatasetError, match="outside"):
        read_source_bytes(str(link), store=None)


def test_not_a_regular_file_and_missing_files_are_named(tmp_path):
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(DatasetError, match="dir.csv is not a regular file"):
        checked_local_file(tmp_path / "dir.csv", str(tmp_path / "dir.csv"))
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(DatasetError, match="pipe.csv is not a regular file"):
        read_source_bytes(str(fifo), store=None)  # refused before open(): a FIFO would block
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "gone.csv")
    with pytest.raises(DatasetError, match="dangling.csv does not exist on this worker"):
        read_source_bytes(str(tmp_path / "dangling.csv"), store=None)


def test_a_cifar_batch_linked_out_of_its_directory_is_refused(tmp_path, secret_file):
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    (cifar / "data_batch_1").write_bytes(pickle.dumps({b"data": [], b"labels": []}, protocol=2))
    (cifar / "batches.meta").symlink_to(secret_file)
    with pytest.raises(DatasetError, match=r"batches.meta is a symbolic link .* outside") as raised:
        read_cifar_files(cifar)
    assert "not-for-the-user" not in str(raised.value)
    with pytest.raises(DatasetError, match="under the system directory"):
        open_source("/etc", store=None)


# ------------------------------------------------------------------ no file content in errors


def test_a_wrong_column_error_shows_only_a_few_shortened_header_names():
    long_header = ",".join(f"column_{i}_" + "x" * 60 for i in range(30)) + "\n1,2\n"
    with pytest.raises(DatasetError) as raised:
        parse_examples(long_header.encode(), "csv", "text", "label", "wide.csv")
    message = str(raised.value)
    assert "'column_0_" in message and "...'" in message and "and 10 more" in message
    assert "x" * 41 not in message and "column_20_" not in message


def test_json_errors_name_the_line_not_its_content():
    data = b'{"text": "a", "label": "x"}\n\nSECRET-TOKEN-abc\n'
    with pytest.raises(DatasetError, match=r"^d\.jsonl is not JSON Lines \(line 3: Expecting value\)$"):
        parse_examples(data, "jsonl", "text", "label", "d.jsonl")
    with pytest.raises(DatasetError, match=r"line 2 is a JSON string") as raised:
        parse_examples(
            b'{"text": "a", "label": "x"}\n"SECRET-TOKEN-abc"\n', "jsonl", "text", "label", "d.jsonl"
        )
    assert "SECRET" not in str(raised.value)


# ------------------------------------------------------------------ JSONL label types


def _jsonl(*labels: object) -> bytes:
    return "\n".join(json.dumps({"text": f"t{i}", "label": label}) for i, label in enumerate(labels)).encode()


def test_labels_of_one_type_parse_and_unquoted_integers_work():
    assert [e.label for e in parse_examples(_jsonl(0, 1, 1), "jsonl", "text", "label", "d.jsonl")] == [
        "0",
        "1",
        "1",
    ]
    assert parse_examples(_jsonl("pos", "neg"), "jsonl", "text", "label", "d.jsonl")[1] == Example(
        "t1", "neg"
    )


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (("a", 1), r"line 2 has an integer in 'label' \(dataset.label_field\) but line 1 has a string"),
        ((1, 2, "3"), r"line 3 has a string .* but line 1 has an integer; use one type"),
        ((True, False), r"line 1 has a boolean in 'label'"),
        (("a", None), r"line 2 has a null in 'label'"),
        ((1, 2.5), r"line 2 has a float in 'label'"),
        ((1.0,), r"line 1 has a float"),
        (("a", [1]), r"line 2 has a list in 'label'"),
        (("a", {"k": 1}), r"line 2 has an object in 'label'"),
    ],
)
def test_mixed_or_odd_label_types_are_refused_naming_the_line_and_type(labels, message):
    with pytest.raises(DatasetError, match=message) as raised:
        parse_examples(_jsonl(*labels), "jsonl", "text", "label", "d.jsonl")
    assert "strings or integers" in str(raised.value) or "one type" in str(raised.value)


def test_a_short_csv_row_is_named_instead_of_labelled_none():
    with pytest.raises(DatasetError, match="line 3 has fewer fields than the header"):
        parse_examples(b"text,label\nhi,a\nlonely\n", "csv", "text", "label", "d.csv")


# ------------------------------------------------------------------ s3:// dataset buckets


def test_the_dataset_bucket_allow_list():
    settings = Settings(s3_bucket="hpo", dataset_buckets="corpora, shared.data")
    assert dataset_bucket_allowed(settings, "hpo")
    assert dataset_bucket_allowed(settings, "corpora") and dataset_bucket_allowed(settings, "shared.data")
    assert not dataset_bucket_allowed(settings, "payroll")
    assert not dataset_bucket_allowed(Settings(s3_bucket="hpo"), "corpora")
    assert dataset_bucket_allowed(Settings(dataset_buckets="*"), "anything")


def test_the_worker_refuses_a_dataset_bucket_not_allowed_before_any_request():
    # A store with settings only: a request to S3 would fail with AttributeError, not this.
    store = SimpleNamespace(settings=Settings(s3_bucket="hpo", dataset_buckets="corpora"))
    with pytest.raises(DatasetError) as raised:
        read_source_bytes("s3://payroll/salaries.csv", store)
    message = str(raised.value)
    assert "dataset.source: s3://payroll/salaries.csv is in bucket 'payroll'" in message
    assert "'hpo' (HPO_S3_BUCKET) and corpora (HPO_DATASET_BUCKETS)" in message
    assert "refused by the worker" in message
    with pytest.raises(DatasetError, match="dataset.source: 's3://payroll' names no object"):
        read_source_bytes("s3://payroll", store)


def test_a_relative_dataset_link_in_a_spec_keeps_its_name_for_the_worker_check(tmp_path, secret_file):
    # The spec's relative path is made absolute without following the link, so the worker
    # still sees the link and where it leads (resolving it on the client would hide that).
    from hpo.contracts.spec import load_spec

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").symlink_to(secret_file)
    spec_file = tmp_path / "sweep.yaml"
    spec_file.write_text(
        "name: linked\ntask: text-classification\ndataset: {source: data/x.csv}\ntrials: 1\n"
        "space: {lr: {type: float, low: 0.0001, high: 0.1}}\ntraining: {max_steps: 10}\n"
    )
    source = load_spec(spec_file).dataset.source
    assert source == str(tmp_path / "data" / "x.csv")
    with pytest.raises(DatasetError, match="outside"):
        read_source_bytes(source, store=None)
