"""The sweep's record in S3: the system of record for a sweep's results, layout version 1.

Temporal runs a sweep; this record remembers it after Temporal's retention has dropped the
history. Append-only pieces plus a manifest, under one prefix per run of a sweep id:

    records/{sweep_id}/current.json                      {"version": 1, "scope": S}: the newest run
    records/{sweep_id}/{S}/sweep.json                    SweepStart: request (spec, code), snapshot
    records/{sweep_id}/{S}/events/{seq:09d}.json         RecordBatch: trial events, in order, and
                                                         the sweep's status where it changed
    records/{sweep_id}/{S}/events/orphan-{trial}-r{rung}.json
                                                         a segment that ended after its sweep did
    records/{sweep_id}/{S}/manifest.json                 {"version": 1, "pieces": N}: written last

Writes are idempotent: a piece's key is its sequence number (or, for an orphan, its trial and
rung) and a retried write puts the same bytes there. Every piece is one PUT, so a reader sees
a piece whole or not at all; it reads every numbered piece there is, in order, then orphans.
The trial table is the fold of the events (hpo.engine.trial_table), the same fold a live sweep
uses, so the record alone reads back exactly what the live sweep showed.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from hpo.contracts.messages import RecordBatch, RecordWritten, SweepStart, SweepStatus, TrialEvent
from hpo.storage.checkpoints import check_key_parts
from hpo.storage.s3 import ObjectStore

LAYOUT_VERSION = 1
ROOT = "records"
# Pieces are small JSON documents: read many at once, a window at a time, so a reader that
# streams them (hpo.activities.retention) holds a window, not the whole record.
READ_THREADS = 16
READ_WINDOW = 4 * READ_THREADS


class RecordError(RuntimeError):
    """A record that cannot be read as layout version 1 (the message names the key)."""


def sweep_prefix(sweep_id: str) -> str:
    check_key_parts(sweep_id)
    return f"{ROOT}/{sweep_id}/"


def run_prefix(sweep_id: str, scope: str) -> str:
    check_key_parts(sweep_id, scope=scope)
    return f"{ROOT}/{sweep_id}/{scope}/"


def piece_key(sweep_id: str, scope: str, seq: int) -> str:
    return f"{run_prefix(sweep_id, scope)}events/{seq:09d}.json"


def orphan_key(sweep_id: str, scope: str, trial_id: str, rung: int) -> str:
    check_key_parts(sweep_id, trial_id, scope)
    return f"{run_prefix(sweep_id, scope)}events/orphan-{trial_id}-r{rung}.json"


@dataclass
class Record:
    """One run of a sweep as its record holds it."""

    start: SweepStart
    batches: list[RecordBatch] = field(default_factory=list)  # numbered pieces, in order
    orphans: list[RecordBatch] = field(default_factory=list)

    def events(self, before: int | None = None) -> list[TrialEvent]:
        """Every trial event, in order; `before`: only from pieces numbered below it."""
        pieces = [b for b in self.batches if before is None or b.seq < before]
        return [event for batch in [*pieces, *self.orphans] for event in batch.events]

    @property
    def status(self) -> SweepStatus | None:
        """The sweep's status as it last recorded it (no trials: those are the events)."""
        return next((b.status for b in reversed(self.batches) if b.status is not None), None)

    @property
    def carried(self) -> str | None:
        """The engine's compact state the sweep recorded when it ended (`hpo sweep extend`)."""
        return next((b.carried for b in reversed(self.batches) if b.carried is not None), None)


class SweepRecord:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # ---- writing (activities) --------------------------------------------------------------
    def write(self, batch: RecordBatch) -> RecordWritten:
        body = batch.model_dump_json().encode()
        if batch.orphan is not None:
            key = f"{run_prefix(batch.sweep_id, batch.scope)}events/{batch.orphan}.json"
            self.store.put_bytes(key, body)
            return RecordWritten(key=key, bytes=len(body))
        prefix = run_prefix(batch.sweep_id, batch.scope)
        if batch.start is not None:
            self.store.put_bytes(f"{prefix}sweep.json", batch.start.model_dump_json().encode())
            self.store.put_json(
                f"{sweep_prefix(batch.sweep_id)}current.json",
                {"version": LAYOUT_VERSION, "scope": batch.scope},
            )
        key = piece_key(batch.sweep_id, batch.scope, batch.seq)
        self.store.put_bytes(key, body)
        self.store.put_json(
            f"{prefix}manifest.json",
            {
                "version": LAYOUT_VERSION,
                "sweep_id": batch.sweep_id,
                "scope": batch.scope,
                "pieces": batch.seq + 1,
            },
        )
        return RecordWritten(key=key, bytes=len(body))

    # ---- reading ------------------------------------------------------------------------------
    def scope_of(self, sweep_id: str) -> str | None:
        """The newest run of `sweep_id` that has a record, None when it has none."""
        key = f"{sweep_prefix(sweep_id)}current.json"
        if not self.store.exists(key):
            return None
        pointer = self.store.get_json(key)
        _check_version(pointer, key)
        return str(pointer["scope"])

    def read(self, sweep_id: str, scope: str | None = None) -> Record | None:
        """The record of one run of `sweep_id` (the newest when no scope is given); None if none."""
        scope = scope or self.scope_of(sweep_id)
        if scope is None:
            return None
        prefix = run_prefix(sweep_id, scope)
        if not self.store.exists(f"{prefix}sweep.json"):
            return None
        start = SweepStart.model_validate_json(self.store.get_bytes(f"{prefix}sweep.json"))
        batches = list(self.batches(sweep_id, scope))
        numbered = [b for b in batches if b.orphan is None]
        orphans = [b for b in batches if b.orphan is not None]
        return Record(start=start, batches=numbered, orphans=orphans)

    def batches(self, sweep_id: str, scope: str) -> Iterator[RecordBatch]:
        """One run's pieces as a stream, in the order of Record.events: numbered pieces by
        sequence number, then orphans by name (digits sort before "orphan-")."""
        keys = iter(sorted(self.store.list_keys(f"{run_prefix(sweep_id, scope)}events/")))
        with ThreadPoolExecutor(READ_THREADS) as pool:
            while window := list(islice(keys, READ_WINDOW)):
                yield from pool.map(self._piece, window)

    def events(self, sweep_id: str, scope: str) -> Iterator[TrialEvent]:
        """One run's trial events as a stream (Record.events without holding the record)."""
        for batch in self.batches(sweep_id, scope):
            yield from batch.events

    def _piece(self, key: str) -> RecordBatch:
        try:
            return RecordBatch.model_validate_json(self.store.get_bytes(key))
        except ValueError as error:
            raise RecordError(
                f"the sweep record's piece s3://{self.store.bucket}/{key} is damaged: {error}"
            ) from None

    def sweep_ids(self) -> list[str]:
        """Every sweep id with a record."""
        ids = [prefix[len(ROOT) + 1 :].rstrip("/") for prefix in self.store.list_prefixes(f"{ROOT}/")]
        return [sweep_id for sweep_id in ids if self.store.exists(f"{ROOT}/{sweep_id}/current.json")]

    def starts(self) -> list[SweepStart]:
        """The start of every run with a record (what other sweeps' code and snapshots are)."""
        keys = [key for key in self.store.list_keys(f"{ROOT}/") if key.endswith("/sweep.json")]
        with ThreadPoolExecutor(READ_THREADS) as pool:
            return list(pool.map(lambda key: SweepStart.model_validate_json(self.store.get_bytes(key)), keys))


def _check_version(document: Any, key: str) -> None:
    if not isinstance(document, dict) or document.get("version") != LAYOUT_VERSION:
        version = document.get("version") if isinstance(document, dict) else None
        raise RecordError(
            f"s3 key {key} is a sweep record of layout version {version!r}; this hpo reads version "
            f"{LAYOUT_VERSION}: read it with the hpo that wrote it"
        )
