"""One run of one sweep owns its checkpoints: storage keys are built only from safe ids, a
scope (the run's first run id) separates runs under a reused sweep id, and a checkpoint whose
manifest names another trial, other params or another run is never resumed from."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from hpo.activities.segment import TrainingActivities
from hpo.contracts.messages import SegmentRequest
from hpo.contracts.settings import Settings
from hpo.contracts.spec import SpecError, load_spec
from hpo.storage.checkpoints import CheckpointStore, UnsafeKey, foreign_checkpoint, trial_prefix
from hpo.storage.curves import curve_key, read_curve

BYO = Path(__file__).resolve().parents[2] / "examples" / "byo" / "sweep.yaml"
SCOPE = "0f8e5d3a-6b1c-4a7e-9d2f-3c4b5a697887"


class FolderStore:
    """The ObjectStore calls CheckpointStore makes, over a local folder (S3 itself is the
    integration tests' business): enough to write real manifests and read them back."""

    bucket = "folder"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        assert ".." not in key.split("/"), key
        return self.root / key

    def put_bytes(self, key: str, body: bytes) -> None:
        self._path(key).parent.mkdir(parents=True, exist_ok=True)
        self._path(key).write_bytes(body)

    def get_bytes(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def put_json(self, key: str, value: Any) -> None:
        self.put_bytes(key, json.dumps(value, sort_keys=True).encode())

    def get_json(self, key: str) -> Any:
        return json.loads(self.get_bytes(key))

    def upload_file(self, path: Path, key: str) -> None:
        self.put_bytes(key, path.read_bytes())

    def download_file(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._path(key), path)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_sizes(self, prefix: str) -> dict[str, int]:
        files = (p for p in self.root.rglob("*") if p.is_file())
        sizes = {p.relative_to(self.root).as_posix(): p.stat().st_size for p in files}
        return {key: size for key, size in sizes.items() if key.startswith(prefix)}

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(self.list_sizes(prefix))

    def delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            self._path(key).unlink(missing_ok=True)


# ----------------------------------------------------------------------------- prefixes


def test_prefix_without_a_scope_is_the_layout_from_before_scopes():
    assert trial_prefix("ladder-2026-11-23", "t0003") == "trials/ladder-2026-11-23/t0003"


def test_prefix_with_a_scope_puts_the_run_between_sweep_and_trial():
    assert trial_prefix("ladder", "t0003", SCOPE) == f"trials/ladder/{SCOPE}/t0003"
    assert curve_key(trial_prefix("ladder", "t0003", SCOPE), 1, 30) == (
        f"trials/ladder/{SCOPE}/t0003/curve/r1-000000030.jsonl"
    )


def test_a_reused_sweep_id_with_another_scope_gets_a_disjoint_prefix():
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    a = trial_prefix("ladder", "t0000", first) + "/"
    b = trial_prefix("ladder", "t0000", second) + "/"
    legacy = trial_prefix("ladder", "t0000") + "/"
    for one, other in [(a, b), (a, legacy), (b, legacy)]:
        assert not one.startswith(other) and not other.startswith(one)


def test_legacy_ids_from_recorded_sweeps_still_name_storage():
    for sweep_id in ["byo-3065ddb5", "e2e-2e6044c7", "tiny-20250101-120000-ab12", "Old_Sweep.v2"]:
        assert trial_prefix(sweep_id, "t0000") == f"trials/{sweep_id}/t0000"
    assert trial_prefix("s", "t12345") == "trials/s/t12345"


@pytest.mark.parametrize(
    "sweep_id",
    ["x/", "../x", "a/b", "", "X/", "/x", "..", "a..b", ".hidden", "-x", "x y", "x\n", "x" * 129, None, 7],
)
def test_an_unsafe_sweep_id_is_refused_before_any_key_is_built(sweep_id):
    with pytest.raises(UnsafeKey, match="sweep id"):
        trial_prefix(sweep_id, "t0000")
    with pytest.raises(UnsafeKey):
        trial_prefix(sweep_id, "t0000", SCOPE)


def test_the_reported_collision_is_refused():
    # 'x/' + 't0000' used to land in sweep 'x' trial... the same prefix as another sweep's.
    with pytest.raises(ValueError):
        trial_prefix("x/", "t0000")


@pytest.mark.parametrize("trial_id", ["", "t1", "t000", "T0000", "t0000/", "../t0000", "t0000\n", "x0000"])
def test_an_odd_trial_id_is_refused(trial_id):
    with pytest.raises(UnsafeKey, match="trial id"):
        trial_prefix("ladder", trial_id)


@pytest.mark.parametrize("scope", ["", "abc", "../" + SCOPE, SCOPE + "/", SCOPE.upper(), "t0000", "f" * 65])
def test_an_odd_scope_is_refused(scope):
    with pytest.raises(UnsafeKey, match="scope"):
        trial_prefix("ladder", "t0000", scope)


def test_reading_a_curve_refuses_an_unsafe_id_and_reads_only_its_runs_curve(tmp_path):
    store = FolderStore(tmp_path)
    store.put_bytes(curve_key(trial_prefix("s", "t0000", SCOPE), 0, 0), b'{"step": 1, "loss": 2.0}\n')
    store.put_bytes(curve_key(trial_prefix("s", "t0000"), 0, 0), b'{"step": 1, "loss": 9.0}\n')
    assert read_curve(store, "s", "t0000", SCOPE) == [{"step": 1, "loss": 2.0}]  # type: ignore[arg-type]
    assert read_curve(store, "s", "t0000") == [{"step": 1, "loss": 9.0}]  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        read_curve(store, "s/..", "t0000")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- release


def _save(checkpoints: CheckpointStore, trial: str, step: int, tmp: Path, meta: dict[str, Any]) -> str:
    data = tmp / f"state-{step}.bin"
    data.write_bytes(f"{trial}@{step}".encode())
    return checkpoints.save(trial, step, {"state.bin": data}, meta)


def test_release_under_a_scope_leaves_an_earlier_run_of_the_same_id_alone(tmp_path):
    store = FolderStore(tmp_path / "s3")
    checkpoints = CheckpointStore(store, keep_last=5)  # type: ignore[arg-type]
    earlier, later = str(uuid.uuid4()), str(uuid.uuid4())
    old_trial, new_trial = trial_prefix("ladder", "t0000", earlier), trial_prefix("ladder", "t0000", later)
    old_kept = _save(checkpoints, old_trial, 10, tmp_path, {})
    _save(checkpoints, new_trial, 10, tmp_path, {})
    new_kept = _save(checkpoints, new_trial, 20, tmp_path, {})

    # Keeping the other run's key under this run's prefix releases nothing.
    assert checkpoints.release(new_trial, old_kept) == 0
    assert checkpoints.release(new_trial, new_kept) > 0
    assert checkpoints.manifests(new_trial) == [new_kept]
    assert checkpoints.manifests(old_trial) == [old_kept] and store.exists(old_kept)


# ----------------------------------------------------------------------------- params check


PARAMS = {"lr": 0.01, "hidden": 64, "optimizer": "adam", "dropout": 0.0}


def _meta(**overrides: Any) -> dict[str, Any]:
    return {"sweep_id": "ladder", "trial_id": "t0003", "params": PARAMS, "scope": SCOPE, **overrides}


def _foreign(meta: dict[str, Any], params: dict[str, Any] = PARAMS, scope: str | None = SCOPE) -> str | None:
    return foreign_checkpoint("K", meta, sweep_id="ladder", trial_id="t0003", params=params, scope=scope)


def test_a_checkpoint_of_this_trial_is_its_own_whatever_json_did_to_its_numbers():
    assert _foreign(_meta()) is None
    # JSON round-trips: 0.0 may come back as 0, 64 as 64.0; key order does not matter.
    assert _foreign(_meta(params={"dropout": 0, "optimizer": "adam", "hidden": 64.0, "lr": 0.01})) is None
    # Written before scopes: its key already placed it under this run's prefix.
    assert _foreign({k: v for k, v in _meta().items() if k != "scope"}) is None
    assert _foreign(_meta(scope=None), scope=None) is None


def test_another_trials_params_are_refused_naming_both():
    other = {**PARAMS, "lr": 0.2}
    message = _foreign(_meta(params=other))
    assert message is not None
    assert "K was saved by trial t0003 with params" in message and "0.2" in message
    assert "not this trial's" in message and "0.01" in message and "not resuming from it" in message
    assert _foreign(_meta(params={**PARAMS, "extra": 1})) is not None
    assert _foreign(_meta(params=None)) is not None
    assert _foreign(_meta(params={**PARAMS, "optimizer": "sgd"})) is not None
    assert _foreign(_meta(params={**PARAMS, "hidden": True}), params={**PARAMS, "hidden": 1}) is not None


def test_another_trial_sweep_or_run_is_refused():
    assert "trial t0004" in (_foreign(_meta(trial_id="t0004")) or "")
    assert "sweep other" in (_foreign(_meta(sweep_id="other")) or "")
    assert "run" in (_foreign(_meta(scope=str(uuid.uuid4()))) or "")
    assert _foreign(_meta(), scope=None) is not None


def _request(params: dict[str, Any], scope: str | None = None) -> SegmentRequest:
    return SegmentRequest(
        sweep_id="ladder",
        trial_id="t0003",
        spec=load_spec(BYO),
        params=params,
        seed=3,
        target_step=100,
        scope=scope,
    )


def _activities(tmp_path: Path, store: FolderStore) -> TrainingActivities:
    activities = TrainingActivities(Settings(cache_dir=tmp_path / "cache"))
    activities._store = store  # type: ignore[assignment]
    return activities


def test_restore_skips_a_checkpoint_saved_with_another_trials_params(tmp_path, caplog):
    # The layout before scopes, an id reused: the earlier run's t0003 had other params.
    store = FolderStore(tmp_path / "s3")
    checkpoints = CheckpointStore(store, keep_last=5)  # type: ignore[arg-type]
    trial = trial_prefix("ladder", "t0003")
    earlier = {"sweep_id": "ladder", "trial_id": "t0003", "params": {**PARAMS, "lr": 0.3}}
    mine = {"sweep_id": "ladder", "trial_id": "t0003", "params": PARAMS}
    own = _save(checkpoints, trial, 20, tmp_path, mine)
    _save(checkpoints, trial, 40, tmp_path, earlier)
    activities = _activities(tmp_path, store)
    scratch = tmp_path / "scratch"

    with caplog.at_level(logging.WARNING):
        key, directory, _ = activities._restore(trial, _request(PARAMS), scratch, None)
    assert key == own and directory is not None and (directory / "state.bin").is_file()
    assert "with params" in caplog.text and "'lr': 0.3" in caplog.text and "'lr': 0.01" in caplog.text
    assert not (scratch / "restored-40").exists()  # the foreign download is not left behind

    key, directory, _ = activities._restore(trial, _request({**PARAMS, "lr": 0.5}), tmp_path / "s2", None)
    assert (key, directory) == (None, None)


def test_restore_ignores_a_heartbeat_naming_a_checkpoint_outside_this_trial(tmp_path):
    store = FolderStore(tmp_path / "s3")
    checkpoints = CheckpointStore(store)  # type: ignore[arg-type]
    other = trial_prefix("ladder", "t0003", str(uuid.uuid4()))
    elsewhere = _save(
        checkpoints, other, 20, tmp_path, {"sweep_id": "ladder", "trial_id": "t0003", "params": PARAMS}
    )
    mine = trial_prefix("ladder", "t0003", SCOPE)
    key, _, _ = _activities(tmp_path, store)._restore(
        mine, _request(PARAMS, SCOPE), tmp_path / "scratch", elsewhere
    )
    assert key is None


# ----------------------------------------------------------------------------- Python API


@pytest.mark.parametrize("sweep_id", ["x/", "../x", "Upper", "", "a" * 82])
def test_hpo_run_refuses_a_bad_sweep_id_before_anything_starts(sweep_id, monkeypatch):
    import hpo
    from hpo.api import runner as api

    def never(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a stack was reached for an invalid sweep id")

    monkeypatch.setattr(api, "_reachable", never)
    monkeypatch.setattr(api, "_run_in_child", never)
    with pytest.raises(SpecError, match="sweep_id"):
        hpo.run(
            "train:train",
            code=BYO.parent,
            space={"lr": {"type": "float", "low": 1e-4, "high": 1e-1}},
            trials=1,
            sweep_id=sweep_id,
        )


def test_a_checkpoint_keeps_the_metrics_reported_before_it(tmp_path):
    # Resumed from its final checkpoint, a segment trains no step and reports nothing: its
    # result's metrics come from the manifest (older manifests have none: no metrics).
    from hpo.activities.segment import _checkpoint_metrics

    store = FolderStore(tmp_path / "s3")
    checkpoints = CheckpointStore(store, keep_last=5)  # type: ignore[arg-type]
    trial = trial_prefix("ladder", "t0003")
    meta = {"sweep_id": "ladder", "trial_id": "t0003", "params": PARAMS, "metrics": {"loss": 0.25, "acc": 1}}
    _save(checkpoints, trial, 100, tmp_path, meta)
    key, directory, restored_meta = _activities(tmp_path, store)._restore(
        trial, _request(PARAMS), tmp_path / "scratch", None
    )
    assert key is not None and _checkpoint_metrics(restored_meta) == {"loss": 0.25, "acc": 1.0}
    assert _checkpoint_metrics({"metrics": {"loss": "x", "ok": True, "n": 2}}) == {"n": 2.0}
    assert _checkpoint_metrics({}) == {}
