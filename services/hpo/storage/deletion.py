"""Which objects `hpo sweep delete` removes, and in what order.

A sweep owns its record (`records/SWEEP/`) and its checkpoints and curves (`trials/SWEEP/`).
Its code archive and dataset snapshot are content-addressed, so a sweep that packed the same
code or prepared the same data shares the very same objects: those are freed only when no
other sweep's record (`records/OTHER/SCOPE/sweep.json`) still names them. The plan is pure
(a listing and the records' references in, keys out) so the sharing rule is unit-tested;
`gather` and `execute` are the S3 edges.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hpo.storage.s3 import ObjectStore

RECORDS = "records/"
RECORD_FILE = "sweep.json"
MANIFEST = "manifest.json"
_RECORD_ROOT = re.compile(r"^records/([^/]+)/([^/]+)/sweep\.json$")
# Only keys of the shapes hpo writes (code_archives.archive_key, snapshots.snapshot_key) are ever
# freed: a record naming anything else ("", "trials", another bucket's path) must not widen a
# delete beyond one archive or one snapshot.
_CODE_KEY = re.compile(r"^code/[0-9a-f]{64}\.tar\.gz$")
_SNAPSHOT_KEY = re.compile(r"^snapshots/[0-9a-f]{64}$")

RECORD, CHECKPOINTS, CODE, SNAPSHOT = "record", "checkpoints and curves", "code archive", "snapshot"


@dataclass(frozen=True)
class References:
    """The shared objects one sweep's record names: code archive keys, snapshot prefixes."""

    code: frozenset[str] = frozenset()
    snapshots: frozenset[str] = frozenset()

    def __or__(self, other: References) -> References:
        return References(self.code | other.code, self.snapshots | other.snapshots)

    @property
    def keys(self) -> frozenset[str]:
        return self.code | self.snapshots


def references(document: Any) -> References:
    """What a record's sweep.json names; ValueError when it is not a record hpo could have written.
    Keys of shapes hpo never writes are left out: they are never freed."""
    if not isinstance(document, dict) or not isinstance(document.get("request"), dict):
        raise ValueError("not a sweep record (no request)")
    code = document["request"].get("code")
    snapshot = document.get("snapshot")
    code_key = code.get("key") if isinstance(code, dict) else None
    snapshot_key = snapshot.get("key") if isinstance(snapshot, dict) else None
    return References(
        code=frozenset([code_key] if isinstance(code_key, str) and _CODE_KEY.fullmatch(code_key) else []),
        snapshots=frozenset(
            [snapshot_key] if isinstance(snapshot_key, str) and _SNAPSHOT_KEY.fullmatch(snapshot_key) else []
        ),
    )


def record_roots(keys: Any) -> dict[str, list[str]]:
    """Sweep id -> the keys of its records' sweep.json (one per scope), from a listing of records/."""
    roots: dict[str, list[str]] = {}
    for key in sorted(keys):
        match = _RECORD_ROOT.fullmatch(key)
        if match:
            roots.setdefault(match.group(1), []).append(key)
    return roots


@dataclass(frozen=True)
class Kept:
    """A shared object this sweep used that stays, and why."""

    key: str
    reason: str


@dataclass
class DeletionPlan:
    sweep_id: str
    parts: dict[str, dict[str, int]] = field(default_factory=dict)  # label -> {key: bytes}
    kept: list[Kept] = field(default_factory=list)
    recorded: bool = False
    # Its own sweep.json files that are not readable records: what they name is not known.
    unreadable: list[str] = field(default_factory=list)

    @property
    def objects(self) -> int:
        return sum(len(objects) for objects in self.parts.values())

    @property
    def bytes(self) -> int:
        return sum(sum(objects.values()) for objects in self.parts.values())

    def ordered_keys(self) -> list[str]:
        """Manifests first, then data, the record after them and its sweep.json files last:
        a checkpoint or snapshot whose manifest is gone is incomplete to every reader (a
        snapshot is then rebuilt, never half-read), and an interrupted delete leaves the
        record's root, so running it again still knows the code archive and snapshot to free."""
        shared = [key for label in (CHECKPOINTS, CODE, SNAPSHOT) for key in self.parts.get(label, {})]
        record = sorted(self.parts.get(RECORD, {}))
        return (
            sorted(key for key in shared if key.endswith("/" + MANIFEST))
            + sorted(key for key in shared if not key.endswith("/" + MANIFEST))
            + [key for key in record if not _RECORD_ROOT.fullmatch(key)]
            + [key for key in record if _RECORD_ROOT.fullmatch(key)]
        )

    def summary(self) -> str:
        """`12 objects, 3.4 MB (record, checkpoints and curves, code archive)`."""
        labels = [label for label in (RECORD, CHECKPOINTS, CODE, SNAPSHOT) if self.parts.get(label)]
        what = f" ({', '.join(labels)})" if labels else ""
        return f"{self.objects} object{'s' if self.objects != 1 else ''}, {megabytes(self.bytes)}{what}"


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 50_000 or size == 0 else f"{size / 1e3:.1f} kB"


def plan_deletion(
    sweep_id: str,
    listing: Mapping[str, int],
    own: References,
    others: Mapping[str, References | None],
) -> DeletionPlan:
    """What deleting `sweep_id` removes. `listing`: every object under records/SWEEP/,
    trials/SWEEP/, and each of the sweep's own code archive keys and snapshot prefixes, with
    sizes. `own`: what the sweep's records name. `others`: every other sweep's references, None
    for a record that could not be read: it may name anything, so nothing shared is freed."""
    roots = record_roots(listing).get(sweep_id, [])
    plan = DeletionPlan(sweep_id=sweep_id, recorded=bool(roots))
    used_by: dict[str, list[str]] = {key: [] for key in own.keys}
    unreadable = sorted(other for other, refs in others.items() if refs is None and other != sweep_id)
    for other, refs in sorted(others.items()):
        if other != sweep_id and refs is not None:
            for key in refs.keys & own.keys:
                used_by[key].append(other)
    freed: set[str] = set()
    for key in sorted(own.keys):
        if used_by[key]:
            plan.kept.append(Kept(key, f"also used by sweep {', '.join(used_by[key])}"))
        elif unreadable:
            plan.kept.append(Kept(key, f"the record of sweep {', '.join(unreadable)} could not be read"))
        else:
            freed.add(key)
    for key, size in listing.items():
        label = _label(sweep_id, key, own, freed)
        if label is not None:
            plan.parts.setdefault(label, {})[key] = size
    return plan


def _label(sweep_id: str, key: str, own: References, freed: set[str]) -> str | None:
    if key.startswith(f"{RECORDS}{sweep_id}/"):
        return RECORD
    if key.startswith(f"trials/{sweep_id}/"):
        return CHECKPOINTS
    if key in own.code and key in freed:
        return CODE
    snapshot = next((prefix for prefix in own.snapshots if key.startswith(prefix + "/")), None)
    if snapshot is not None and snapshot in freed:
        return SNAPSHOT
    return None  # shared and kept, or not this sweep's at all


class StorageError(RuntimeError):
    """S3 answered a listing, read or delete with an error; the message says which."""


def gather(store: ObjectStore, sweep_id: str) -> DeletionPlan:
    """Read the bucket and plan the deletion of `sweep_id` (nothing is deleted here)."""
    try:
        # One listing of records/ holds both this sweep's record and every record's root.
        record_listing = store.list_sizes(RECORDS)
        roots = record_roots(record_listing)
        own, unreadable = References(), []
        for key in roots.get(sweep_id, []):
            try:
                own = own | references(store.get_json(key))
            except ValueError:  # json.JSONDecodeError is one: the record itself still goes
                unreadable.append(key)
        others = {other: _read_references(store, keys) for other, keys in roots.items() if other != sweep_id}
        listing = {k: v for k, v in record_listing.items() if k.startswith(f"{RECORDS}{sweep_id}/")}
        listing.update(store.list_sizes(f"trials/{sweep_id}/"))
        for key in own.code:
            listing.update({k: v for k, v in store.list_sizes(key).items() if k == key})
        for prefix in own.snapshots:
            listing.update(store.list_sizes(prefix + "/"))
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"could not read s3://{store.bucket} at {store.endpoint}: {error}") from None
    plan = plan_deletion(sweep_id, listing, own, others)
    plan.unreadable = unreadable
    return plan


def unreferenced(objects: Mapping[str, int], referenced: References) -> dict[str, tuple[int, int]]:
    """The code archives and snapshots in `objects` (a listing of code/ and snapshots/) that
    `referenced` does not name: archive key or snapshot prefix -> (objects, bytes). Keys of
    shapes hpo does not write are not its to judge and are left out."""
    found: dict[str, tuple[int, int]] = {}
    for key, size in sorted(objects.items()):
        head = "/".join(key.split("/")[:2])
        unit = key if _CODE_KEY.fullmatch(key) else head if _SNAPSHOT_KEY.fullmatch(head) else None
        if unit is not None and unit not in referenced.keys:
            count, total = found.get(unit, (0, 0))
            found[unit] = (count + 1, total + size)
    return found


def gather_unreferenced(store: ObjectStore) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """What `unreferenced` finds in the bucket, and the sweeps whose records could not be read
    (what they name may be in the list)."""
    try:
        roots = record_roots(store.list_keys(RECORDS))
        referenced, unreadable = References(), []
        for sweep_id, keys in sorted(roots.items()):
            refs = _read_references(store, keys)
            if refs is None:
                unreadable.append(sweep_id)
            else:
                referenced = referenced | refs
        objects = {**store.list_sizes("code/"), **store.list_sizes("snapshots/")}
    except (ClientError, BotoCoreError) as error:
        raise StorageError(f"could not read s3://{store.bucket} at {store.endpoint}: {error}") from None
    return unreferenced(objects, referenced), unreadable


def _read_references(store: ObjectStore, keys: list[str]) -> References | None:
    refs = References()
    for key in keys:
        try:
            refs = refs | references(store.get_json(key))
        except (ValueError, ClientError):  # json.JSONDecodeError is a ValueError
            return None
    return refs


def execute(store: ObjectStore, plan: DeletionPlan) -> list[str]:
    """Delete the plan's objects in its order; returns the keys still there afterwards (S3's
    DeleteObjects reports refusals per key, and a quiet delete does not raise for them)."""
    keys = plan.ordered_keys()
    try:
        store.delete_keys(keys)
        remaining = set(store.list_sizes(f"{RECORDS}{plan.sweep_id}/"))
        remaining |= set(store.list_sizes(f"trials/{plan.sweep_id}/"))
        remaining |= {
            key for key in keys if not key.startswith(("records/", "trials/")) and store.exists(key)
        }
    except (ClientError, BotoCoreError) as error:
        raise StorageError(
            f"could not delete from s3://{store.bucket} at {store.endpoint}: {error}"
        ) from None
    return sorted(remaining & set(keys))
