"""Issue 9 hardening of names and paths: checkpoint file names (on save and on load), storage
keys, code archive keys, s3:// URIs, the stack's state directory and the S3 secret."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber
from pydantic import SecretStr

from hpo.api.runner import _child_env
from hpo.contracts.s3_uri import split_s3_uri
from hpo.contracts.settings import Settings
from hpo.storage import code_archives
from hpo.storage.checkpoints import (
    CheckpointStore,
    CorruptCheckpoint,
    UnsafeCheckpointName,
    UnsafeKey,
    check_file_name,
    check_trial_key,
    checkpoint_prefix,
    trial_prefix,
)
from hpo.storage.s3 import ObjectStore, create_bucket_options
from hpo.workers.stack import make_private_directory

TRIAL = trial_prefix("sweep-1", "t0000")


class DictStore:
    """The ObjectStore calls CheckpointStore and code_archives make, over a dict (S3 itself is
    the integration tests' business); records every key written."""

    bucket = "dict"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put_bytes(self, key: str, body: bytes) -> None:
        self.objects[key] = body

    def get_bytes(self, key: str) -> bytes:
        return self.objects[key]

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.objects[key])

    def upload_file(self, path: Path, key: str) -> None:
        self.put_bytes(key, path.read_bytes())

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.objects[key])

    def exists(self, key: str) -> bool:
        return key in self.objects

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(key for key in self.objects if key.startswith(prefix))

    def list_sizes(self, prefix: str) -> dict[str, int]:
        return {key: len(self.objects[key]) for key in self.list_keys(prefix)}

    def delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)


# ------------------------------------------------------------------ checkpoint file names


@pytest.mark.parametrize(
    "name", ["state.pt", "model.safetensors", "tokenizer/vocab.txt", "a b/ü.bin", "x" * 255]
)
def test_checkpoint_file_names_the_format_defines_are_accepted(name):
    assert check_file_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("/etc/cron.d/x", "absolute"),
        ("../../escape", r"'\.\.' part"),
        ("a/../../b", r"'\.\.' part"),
        ("a//b", "empty"),
        ("./a", r"'\.'"),
        ("a/", "empty"),
        ("a\\..\\b", "backslash"),
        ("a\x00b", "NUL"),
        ("a\nb", "control character"),
        ("a\ud800", "surrogate"),
        ("x" * 256, "longer than 255 bytes"),
        ("a/" * 300, "longer than 512"),
        ("manifest.json", "own manifest"),
        (7, "not a string"),
    ],
)
def test_checkpoint_file_names_outside_the_format_are_refused(name, why):
    with pytest.raises(UnsafeCheckpointName, match=why):
        check_file_name(name)


def test_saving_a_bad_name_uploads_nothing(tmp_path):
    store = DictStore()
    good, bad = tmp_path / "good.pt", tmp_path / "bad.pt"
    good.write_bytes(b"1")
    bad.write_bytes(b"2")
    with pytest.raises(UnsafeCheckpointName, match=r"'\.\./bad\.pt'.*relative paths of plain parts"):
        CheckpointStore(store).save(TRIAL, 10, {"good.pt": good, "../bad.pt": bad}, {})  # type: ignore[arg-type]
    assert store.objects == {}


def _forge(store: DictStore, name: str, body: bytes = b"evil") -> str:
    """A manifest naming `name`, with a data object whose sha256 matches: only the name is wrong."""
    import hashlib

    directory = f"{checkpoint_prefix(TRIAL, 20)}/"
    store.put_bytes(directory + name, body)
    key = directory + "manifest.json"
    store.put_json(
        key, {"step": 20, "files": {name: {"sha256": hashlib.sha256(body).hexdigest()}}, "meta": {}}
    )
    return key


@pytest.mark.parametrize("name", ["../../escape", "/tmp/escape-abs", "a/../../../escape", "a\\..\\escape"])
def test_a_forged_manifest_name_is_a_corrupt_checkpoint_and_writes_nothing(tmp_path, name):
    store = DictStore()
    key = _forge(store, name)
    into = tmp_path / "scratch" / "restored-20"
    with pytest.raises(CorruptCheckpoint, match=r"manifest .*step-000000020/manifest\.json is corrupt"):
        CheckpointStore(store).load(key, into)  # type: ignore[arg-type]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written == []
    assert not Path("/tmp/escape-abs").exists()


def test_a_symlink_in_the_target_directory_cannot_carry_a_file_out(tmp_path):
    store = DictStore()
    key = _forge(store, "sub/state.pt")
    into = tmp_path / "into"
    into.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (into / "sub").symlink_to(outside)
    with pytest.raises(CorruptCheckpoint, match="resolves outside"):
        CheckpointStore(store).load(key, into)  # type: ignore[arg-type]
    assert list(outside.iterdir()) == []


def test_a_manifest_without_a_file_list_is_corrupt(tmp_path):
    store = DictStore()
    key = f"{checkpoint_prefix(TRIAL, 30)}/manifest.json"
    store.put_json(key, {"step": 30, "files": ["state.pt"]})
    with pytest.raises(CorruptCheckpoint, match="lists no files with their sha256"):
        CheckpointStore(store).load(key, tmp_path / "into")  # type: ignore[arg-type]


def test_good_names_round_trip_through_save_and_load(tmp_path):
    store = DictStore()
    source = tmp_path / "src"
    (source / "tokenizer").mkdir(parents=True)
    (source / "state.pt").write_bytes(b"weights")
    (source / "tokenizer" / "vocab.txt").write_bytes(b"[CLS]")
    files = {p.relative_to(source).as_posix(): p for p in source.rglob("*") if p.is_file()}
    key = CheckpointStore(store).save(TRIAL, 10, files, {"k": 1})  # type: ignore[arg-type]
    paths, meta = CheckpointStore(store).load(key, tmp_path / "into")  # type: ignore[arg-type]
    assert meta == {"k": 1}
    assert paths["tokenizer/vocab.txt"].read_bytes() == b"[CLS]"
    assert paths["state.pt"].parent == tmp_path / "into"


# ------------------------------------------------------------------ storage keys


@pytest.mark.parametrize(
    "trial",
    [
        "t0000",
        "trials/x",
        "trials/../t0000",
        "trials/s/../t0000",
        "trials/s/t0000/",
        "other/s/t0000",
        "trials/s/x/t0000",
    ],
)
def test_a_trial_prefix_not_built_by_trial_prefix_is_refused(trial):
    with pytest.raises(UnsafeKey):
        check_trial_key(trial)
    with pytest.raises(UnsafeKey):
        checkpoint_prefix(trial, 10)


def test_checkpoint_keys_come_only_from_checked_parts():
    assert checkpoint_prefix(TRIAL, 10) == "trials/sweep-1/t0000/ckpt/step-000000010"
    for step in (-1, 1.5, True, "10"):
        with pytest.raises(UnsafeKey, match="step"):
            checkpoint_prefix(TRIAL, step)  # type: ignore[arg-type]
    with pytest.raises(UnsafeKey):
        CheckpointStore(DictStore()).manifests("trials/../../t0000")  # type: ignore[arg-type]


def test_a_code_archive_sha256_that_is_not_a_digest_names_no_directory(tmp_path):
    store = DictStore()
    with pytest.raises(code_archives.CodeArchiveError, match="64 lowercase hex"):
        code_archives.fetch(store, "code/x.tar.gz", "../../outside", tmp_path / "cache")  # type: ignore[arg-type]
    digest = "a" * 64
    with pytest.raises(code_archives.CodeArchiveError, match="not the key of sha256"):
        code_archives.fetch(store, "datasets/secret.tar.gz", digest, tmp_path / "cache")  # type: ignore[arg-type]
    assert not (tmp_path / "cache").exists()


# ------------------------------------------------------------------ s3:// URIs


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("s3://hpo/data/x.csv", ("hpo", "data/x.csv")),
        ("s3://my.data-bucket-01/a?b#c.jsonl", ("my.data-bucket-01", "a?b#c.jsonl")),
        ("s3://abc/k", ("abc", "k")),
    ],
)
def test_valid_s3_uris_split(uri, expected):
    assert split_s3_uri(uri) == expected


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        ("s3://bucket", "names no object"),
        ("s3://bucket/", "names no object"),
        ("s3://bucket//x", "names no object"),
        ("s3:///x.csv", "not a valid S3 bucket name"),
        ("s3://ab/x", "3-63 characters"),
        ("s3://" + "b" * 64 + "/x", "3-63 characters"),
        ("s3://Upper/x", "lowercase"),
        ("s3://under_score/x", "lowercase"),
        ("s3://-dash/x", "beginning and ending"),
        ("s3://dash-/x", "beginning and ending"),
        ("s3://a..b/x", "adjacent dots"),
        ("s3://192.168.1.10/x", "not IP addresses"),
        ("s3://hpo/x\ny", "control character"),
        ("s3://hpo/x\x00", "control character"),
        ("s3://hpo/\udcff", "surrogate"),
        ("S3://hpo/x", "not an s3:// URI"),
        ("https://hpo/x", "not an s3:// URI"),
        ("s3://hpo/" + "k" * 1025, "longer than S3's 1024 bytes"),
    ],
)
def test_invalid_s3_uris_are_refused_with_the_reason(uri, why):
    with pytest.raises(ValueError, match=why):
        split_s3_uri(uri)


# ------------------------------------------------------------------ bucket creation


def test_create_bucket_sends_a_location_constraint_outside_us_east_1():
    assert create_bucket_options("us-east-1") == {}
    assert create_bucket_options("") == {}
    assert create_bucket_options("eu-west-1") == {
        "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}
    }
    # The request ObjectStore.ensure_bucket really sends (botocore validates it against the S3 model).
    store = ObjectStore(Settings(s3_region="eu-west-1", s3_endpoint="http://127.0.0.1:9"), bucket="fresh")
    with Stubber(store._client) as stub:
        stub.add_client_error("head_bucket", "404", expected_params={"Bucket": "fresh"})
        stub.add_response(
            "create_bucket",
            {},
            expected_params={
                "Bucket": "fresh",
                "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"},
            },
        )
        assert store.ensure_bucket() is True
        stub.assert_no_pending_responses()


def test_the_chart_creates_its_bucket_with_the_python_path():
    chart = (
        Path(__file__).resolve().parents[2] / "charts" / "hpo" / "templates" / "deployment-sweep-worker.yaml"
    )
    text = chart.read_text()
    assert '"python", "-m", "hpo.storage.ensure_bucket"' in text
    assert "boto3" not in text and "create_bucket" not in text  # no second copy of the logic


def test_ensure_bucket_module_reports_an_unreachable_endpoint(monkeypatch, capsys):
    from hpo.storage import ensure_bucket

    monkeypatch.setenv("HPO_S3_ENDPOINT", "http://127.0.0.1:9")
    assert ensure_bucket.main(["--wait-seconds", "0"]) == 1
    assert "http://127.0.0.1:9 is unreachable" in capsys.readouterr().err


# ------------------------------------------------------------------ state directory


def test_the_stack_home_is_created_private(tmp_path, capsys):
    home = tmp_path / "a" / "home"
    make_private_directory(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert capsys.readouterr().err == ""


def test_a_loose_stack_home_is_tightened_and_said_so(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o755)
    make_private_directory(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{home} (the stack's state) was readable by others (0755)" in err


# ------------------------------------------------------------------ the S3 secret


def test_the_s3_secret_never_prints(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-1234")
    settings = Settings()
    assert isinstance(settings.s3_secret_key, SecretStr)
    for text in (repr(settings), str(settings), settings.model_dump_json(), str(settings.model_dump())):
        assert "s3cr3t-value-1234" not in text
    assert settings.s3_secret_key.get_secret_value() == "s3cr3t-value-1234"


def test_a_child_process_gets_the_secret_itself(monkeypatch):
    monkeypatch.delenv("HPO_S3_SECRET_KEY", raising=False)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "child-secret-5678")
    env = _child_env(Settings())
    assert env["AWS_SECRET_ACCESS_KEY"] == "child-secret-5678"
    assert "HPO_S3_SECRET_KEY" not in env  # not "**********" under the other name
    # ... and the child reads it back as the same secret.
    monkeypatch.setattr("os.environ", env)
    assert Settings().s3_secret_key.get_secret_value() == "child-secret-5678"
