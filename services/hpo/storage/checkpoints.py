"""Training checkpoints in S3: data files first, manifest last, verified on load.

A checkpoint is complete exactly when its manifest exists; the manifest carries each
file's sha256 so a truncated or corrupted object is detected instead of loaded.

Layout: `trials/{sweep_id}/{scope}/{trial_id}/ckpt/step-{step:09d}/` (and `.../curve/`),
scope being the first run id of the sweep's workflow: one run of one sweep owns its objects,
and a sweep id reused once Temporal forgot the earlier run starts in an empty prefix. Sweeps
from before scopes use `trials/{sweep_id}/{trial_id}/`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from hpo.storage.s3 import ObjectStore

MANIFEST = "manifest.json"
_STEP_DIR = re.compile(r"/ckpt/step-(\d{9})/manifest\.json$")


class CorruptCheckpoint(RuntimeError):
    """A checkpoint's files do not match its manifest."""


class UnsafeKey(ValueError):
    """An id that cannot be one segment of a storage key; no retry can fix it."""


# Every segment of a storage key is checked before the key is built: an id with a "/" or a
# ".." would land in, or overwrite, another sweep's or another trial's objects. Sweep ids are
# held to a safe key segment, wider than the rule new ids follow (hpo.contracts.spec.SWEEP_ID), so the
# objects of sweeps started before that rule stay readable.
_SWEEP_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TRIAL_ID = re.compile(r"^t\d{4,}$")
# A scope is the first run id of one run of a sweep (a UUID): a sweep id reused after its
# workflow is gone gets another scope, so it never reads or deletes the earlier run's objects.
_SCOPE = re.compile(r"^[0-9a-f-]{8,64}$")


def trial_prefix(sweep_id: str, trial_id: str, scope: str | None = None) -> str:
    """`trials/{sweep_id}/{scope}/{trial_id}`: where one trial of one run of a sweep keeps its
    checkpoints and curves; without a scope the layout of sweeps from before scopes."""
    check_key_parts(sweep_id, trial_id, scope)
    return f"trials/{sweep_id}/{trial_id}" if scope is None else f"trials/{sweep_id}/{scope}/{trial_id}"


def check_key_parts(sweep_id: str, trial_id: str | None = None, scope: str | None = None) -> None:
    """Raise UnsafeKey (a ValueError) unless each given id is safe as one segment of a storage key."""
    if not isinstance(sweep_id, str) or not _SWEEP_SEGMENT.fullmatch(sweep_id) or ".." in sweep_id:
        raise UnsafeKey(f"sweep id {sweep_id!r} cannot name storage: use letters, digits and dashes")
    if trial_id is not None and (not isinstance(trial_id, str) or not _TRIAL_ID.fullmatch(trial_id)):
        raise UnsafeKey(f"trial id {trial_id!r} cannot name storage: trial ids look like t0000")
    if scope is not None and (not isinstance(scope, str) or not _SCOPE.fullmatch(scope)):
        raise UnsafeKey(f"sweep scope {scope!r} cannot name storage: scopes are workflow run ids")


def foreign_checkpoint(
    manifest_key: str,
    meta: dict[str, Any],
    *,
    sweep_id: str,
    trial_id: str,
    params: dict[str, Any],
    scope: str | None = None,
) -> str | None:
    """Why a checkpoint, by the meta its manifest records, belongs to another trial or another
    run of the sweep (a message naming both sides), or None when it is this trial's own.

    Params are compared canonically: JSON may have turned 1.0 into 1 on the way. A meta
    without a scope (written before scopes) is not held against a scoped trial: its key
    already placed it under this run's prefix."""
    recorded = {
        "sweep_id": meta.get("sweep_id"),
        "trial_id": meta.get("trial_id"),
        "params": meta.get("params"),
    }
    if recorded["sweep_id"] != sweep_id or recorded["trial_id"] != trial_id:
        return (
            f"checkpoint {manifest_key} was saved by sweep {recorded['sweep_id']} trial "
            f"{recorded['trial_id']}, not by sweep {sweep_id} trial {trial_id}: not resuming from it"
        )
    if _canonical(recorded["params"]) != _canonical(params):
        return (
            f"checkpoint {manifest_key} was saved by trial {recorded['trial_id']} with params "
            f"{recorded['params']}, not this trial's {params}: not resuming from it"
        )
    if "scope" in meta and meta["scope"] != scope:
        return (
            f"checkpoint {manifest_key} was saved by run {meta['scope']} of sweep {sweep_id}, "
            f"not this run ({scope}): not resuming from it"
        )
    return None


def _canonical(value: Any) -> str:
    def numbers_as_floats(item: Any) -> Any:
        if isinstance(item, bool) or item is None or isinstance(item, str):
            return item
        if isinstance(item, (int, float)):
            return float(item)
        if isinstance(item, dict):
            return {str(k): numbers_as_floats(v) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [numbers_as_floats(v) for v in item]
        return repr(item)

    return json.dumps(numbers_as_floats(value), sort_keys=True)


def check_trial_key(trial: str) -> str:
    """`trial` when it is a prefix trial_prefix builds (every part checked); UnsafeKey otherwise.
    Checkpoint keys are built from it, and pruning deletes under it."""
    parts = trial.split("/") if isinstance(trial, str) else []
    if parts[:1] != ["trials"] or len(parts) not in (3, 4):
        raise UnsafeKey(f"{trial!r} is not a trial's storage prefix (trials/SWEEP[/SCOPE]/TRIAL)")
    check_key_parts(parts[1], parts[-1], parts[2] if len(parts) == 4 else None)
    return trial


def checkpoint_prefix(trial: str, step: int) -> str:
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise UnsafeKey(f"checkpoint step {step!r} cannot name storage: steps are integers >= 0")
    return f"{check_trial_key(trial)}/ckpt/step-{step:09d}"


def _directory_of(manifest_key: str) -> str:
    """The checkpoint's directory (ending in "/"): its data files and its manifest."""
    return manifest_key.rsplit("/", 1)[0] + "/"


def step_of(manifest_key: str) -> int:
    match = _STEP_DIR.search(manifest_key)
    if not match:
        raise ValueError(f"{manifest_key!r} is not a checkpoint manifest key")
    return int(match.group(1))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class UnsafeCheckpointName(ValueError):
    """A file name the checkpoint format cannot hold (see check_file_name)."""


# What the checkpoint format defines as a file name: a relative POSIX path of plain parts.
# A name becomes both an S3 key under the checkpoint's prefix and a path under a local
# directory, so anything that could step out of either (absolute, `..`, backslashes that
# another OS would read as separators, control characters, NUL) is refused, and the
# manifest's own name is reserved: a data file called that would be overwritten by it.
MAX_NAME_CHARS = 512
MAX_PART_BYTES = 255  # the longest file name Linux and macOS file systems take


def check_file_name(name: object) -> str:
    """`name` when the checkpoint format can hold it; UnsafeCheckpointName saying why otherwise."""
    why = name_problem(name)
    if why is not None:
        return _unsafe(name, why)
    assert isinstance(name, str)  # name_problem refuses anything else
    if name == MANIFEST:
        return _unsafe(name, f"{MANIFEST} is the checkpoint's own manifest")
    return name


def name_problem(name: object) -> str | None:
    """Why `name` is not a relative POSIX path of plain parts, or None when it is (shared by
    checkpoint files and the members of a code archive)."""
    if not isinstance(name, str) or not name:
        return "it is empty or not a string"
    if len(name) > MAX_NAME_CHARS:
        return f"it is longer than {MAX_NAME_CHARS} characters"
    if name.startswith("/"):
        return "it is absolute; names are relative to the checkpoint directory"
    if "\\" in name:
        return "it holds a backslash; separate directories with /"
    if any(ord(char) < 0x20 or ord(char) == 0x7F or 0xD800 <= ord(char) <= 0xDFFF for char in name):
        return "it holds a control character, NUL or an unpaired surrogate"
    for part in name.split("/"):
        if part in ("", ".", ".."):
            return "it has an empty, '.' or '..' part"
        if len(part.encode()) > MAX_PART_BYTES:
            return f"a part is longer than {MAX_PART_BYTES} bytes"
    return None


def _unsafe(name: object, why: str) -> str:
    shown = repr(name)[:80]
    raise UnsafeCheckpointName(
        f"checkpoint file name {shown} is not allowed: {why}. A checkpoint holds files under its "
        "directory, named by relative paths of plain parts (e.g. model.safetensors, tokenizer/vocab.txt)"
    )


def _inside(directory: Path, name: str, manifest_key: str) -> Path:
    """A manifest's file name as a path under `directory`. A name the format does not allow, or
    one that resolves outside `directory` (through a symlink already there), marks a forged or
    broken manifest: CorruptCheckpoint, never a file written."""
    try:
        check_file_name(name)
    except UnsafeCheckpointName as error:
        raise CorruptCheckpoint(
            f"checkpoint manifest {manifest_key} is corrupt: {error}; not loading it"
        ) from None
    path = directory.joinpath(*name.split("/"))
    root = directory.resolve()
    if not path.resolve().is_relative_to(root):
        raise CorruptCheckpoint(
            f"checkpoint manifest {manifest_key} is corrupt: file {name!r} resolves outside {root}; not loading it"
        )
    return path


class MissingCheckpoint(RuntimeError):
    """A checkpoint named by a heartbeat or a user no longer exists (pruned or deleted)."""


class CheckpointStore:
    def __init__(self, store: ObjectStore, keep_last: int = 2) -> None:
        self.store = store
        self.keep_last = keep_last

    def save(self, trial: str, step: int, files: dict[str, Path], meta: dict[str, Any]) -> str:
        """Upload `files`, then the manifest; prune older checkpoints. Returns the manifest key."""
        prefix = checkpoint_prefix(trial, step)
        # Every name is checked before anything is uploaded: a refused name leaves no half checkpoint.
        for name in files:
            check_file_name(name)
        entries = {}
        for name, path in files.items():
            self.store.upload_file(path, f"{prefix}/{name}")
            entries[name] = {"sha256": _sha256_file(path), "bytes": path.stat().st_size}
        key = f"{prefix}/{MANIFEST}"
        self.store.put_json(key, {"step": step, "files": entries, "meta": meta})
        self._prune(trial, step)
        return key

    def manifests(self, trial: str) -> list[str]:
        """Complete checkpoints of a trial, oldest first."""
        keys = [
            key for key in self.store.list_keys(f"{check_trial_key(trial)}/ckpt/") if _STEP_DIR.search(key)
        ]
        return sorted(keys, key=step_of)

    def latest(self, trial: str, at_most_step: int | None = None) -> str | None:
        candidates = [k for k in self.manifests(trial) if at_most_step is None or step_of(k) <= at_most_step]
        return candidates[-1] if candidates else None

    def load(self, manifest_key: str, into: Path) -> tuple[dict[str, Path], dict[str, Any]]:
        """Download and verify a checkpoint; returns local file paths and the manifest's meta."""
        if not self.store.exists(manifest_key):
            raise MissingCheckpoint(f"checkpoint s3://{self.store.bucket}/{manifest_key} does not exist")
        step_of(manifest_key)  # a manifest key, nothing else: its directory names the data files
        manifest = self.store.get_json(manifest_key)
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(
            isinstance(entry, dict) and isinstance(entry.get("sha256"), str) for entry in files.values()
        ):
            raise CorruptCheckpoint(
                f"checkpoint manifest {manifest_key} is corrupt: it lists no files with their sha256; not loading it"
            )
        directory = _directory_of(manifest_key)
        # Every name is checked before anything is downloaded: a forged name writes nothing.
        targets = {name: _inside(into, name, manifest_key) for name in files}
        paths = {}
        for name, entry in files.items():
            path = targets[name]
            self.store.download_file(f"{directory}{name}", path)
            if _sha256_file(path) != entry["sha256"]:
                raise CorruptCheckpoint(
                    f"checkpoint file s3://{self.store.bucket}/{directory}{name} does not match its manifest "
                    "(corrupt or overwritten); delete that checkpoint's manifest to fall back to an older one"
                )
            paths[name] = path
        return paths, manifest.get("meta", {})

    def _prune(self, trial: str, written: int) -> None:
        # Keep the newest few complete checkpoints: enough to survive one corrupt upload,
        # few enough that a 270 MB MiniLM checkpoint per interval does not fill the disk.
        # Only older ones than the checkpoint just written: a stale attempt still running
        # beside its retry must never delete the retry's newer checkpoints.
        older = [key for key in self.manifests(trial) if step_of(key) <= written]
        for old in older[: -self.keep_last]:
            self._delete_manifest_first(self.store.list_keys(_directory_of(old)))

    def release(self, trial: str, keep: str) -> int:
        """A finished trial keeps one checkpoint, `keep` (the one its result was scored on):
        delete the others and the data of uploads that never got a manifest. Returns the
        bytes released; releases nothing if `keep` is not a complete checkpoint of `trial`."""
        objects = self.store.list_sizes(f"{check_trial_key(trial)}/ckpt/")
        if keep not in objects or not _STEP_DIR.search(keep):
            return 0
        doomed = [key for key in objects if not key.startswith(_directory_of(keep))]
        self._delete_manifest_first(doomed)
        return sum(objects[key] for key in doomed)

    def _delete_manifest_first(self, keys: list[str]) -> None:
        # Manifests first: a reader never sees a manifest whose files are gone.
        self.store.delete_keys([key for key in keys if key.endswith(MANIFEST)])
        self.store.delete_keys([key for key in keys if not key.endswith(MANIFEST)])
