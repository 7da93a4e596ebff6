"""What `hpo sweep delete` removes: the sweep's own objects, and shared ones only when no
other record names them; in an order an interruption cannot turn into a half-read snapshot
or a forgotten code archive."""

from __future__ import annotations

import pytest

from hpo.storage.deletion import (
    CHECKPOINTS,
    CODE,
    RECORD,
    SNAPSHOT,
    References,
    plan_deletion,
    record_roots,
    references,
    unreferenced,
)

CODE_A = "code/" + "a" * 64 + ".tar.gz"
CODE_B = "code/" + "b" * 64 + ".tar.gz"
SNAP_A = "snapshots/" + "1" * 64
SNAP_B = "snapshots/" + "2" * 64
SCOPE = "0f1e2d3c-0000-4000-8000-000000000001"


def record(code: str | None = None, snapshot: str | None = None) -> dict:
    return {
        "version": 1,
        "sweep_id": "x",
        "scope": SCOPE,
        "request": {"sweep_id": "x", "code": {"key": code, "sha256": "s", "bytes": 1} if code else None},
        "snapshot": {"key": snapshot, "counts": {}} if snapshot else None,
        "started_at": 1.0,
    }


def listing() -> dict[str, int]:
    return {
        f"records/mine/{SCOPE}/sweep.json": 100,
        f"records/mine/{SCOPE}/trials/t0000.json": 50,
        f"trials/mine/{SCOPE}/t0000/ckpt/step-000000010/manifest.json": 10,
        f"trials/mine/{SCOPE}/t0000/ckpt/step-000000010/weights.bin": 1_000_000,
        f"trials/mine/{SCOPE}/t0000/curve/r0-000000000.jsonl": 20,
        "trials/mine/t0001/ckpt/step-000000005/manifest.json": 10,  # a sweep from before scopes
        CODE_A: 3000,
        f"{SNAP_A}/manifest.json": 30,
        f"{SNAP_A}/train.safetensors": 500_000,
    }


def test_a_sweep_alone_loses_everything_it_used():
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    plan = plan_deletion("mine", listing(), own, {"other": References()})
    assert set(plan.parts) == {RECORD, CHECKPOINTS, CODE, SNAPSHOT}
    assert set(plan.ordered_keys()) == set(listing())
    assert plan.objects == len(listing()) and plan.bytes == sum(listing().values())
    assert plan.kept == [] and plan.recorded
    assert plan.summary() == "9 objects, 1.5 MB (record, checkpoints and curves, code archive, snapshot)"


def test_what_another_record_names_is_kept_and_said_why():
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    others = {"theirs": References(frozenset([CODE_A]), frozenset([SNAP_B])), "third": References()}
    plan = plan_deletion("mine", listing(), own, others)
    assert CODE not in plan.parts and CODE_A not in plan.ordered_keys()
    assert set(plan.parts[SNAPSHOT]) == {f"{SNAP_A}/manifest.json", f"{SNAP_A}/train.safetensors"}
    assert [(k.key, k.reason) for k in plan.kept] == [(CODE_A, "also used by sweep theirs")]


def test_a_shared_snapshot_is_kept_whole():
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    plan = plan_deletion("mine", listing(), own, {"b": References(snapshots=frozenset([SNAP_A]))})
    assert not [key for key in plan.ordered_keys() if key.startswith(SNAP_A)]
    assert CODE_A in plan.ordered_keys()


def test_an_unreadable_other_record_keeps_every_shared_object():
    # It might name our archive or snapshot: freeing them could break that sweep's predict.
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    plan = plan_deletion("mine", listing(), own, {"broken": None, "fine": References()})
    assert CODE not in plan.parts and SNAPSHOT not in plan.parts
    assert {k.key for k in plan.kept} == {CODE_A, SNAP_A}
    assert all("broken" in k.reason for k in plan.kept)
    assert set(plan.parts) == {RECORD, CHECKPOINTS}  # its own objects still go


def test_objects_of_other_sweeps_are_never_in_the_plan():
    objects = {
        **listing(),
        "trials/mine-too/t0000/ckpt/step-000000001/manifest.json": 1,  # a prefix of the id, not it
        "records/mine-too/s/sweep.json": 1,
        CODE_B: 1,
        f"{SNAP_A}-other/x": 1,
    }
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    keys = plan_deletion("mine", objects, own, {}).ordered_keys()
    assert set(keys) == set(listing())


def test_manifests_go_first_and_the_records_root_last():
    own = References(frozenset([CODE_A]), frozenset([SNAP_A]))
    keys = plan_deletion("mine", listing(), own, {}).ordered_keys()
    manifests = [i for i, key in enumerate(keys) if key.endswith("/manifest.json")]
    assert manifests == list(range(len(manifests)))  # checkpoints' and snapshot's, before any data
    assert keys[-1] == f"records/mine/{SCOPE}/sweep.json"
    assert keys[-2] == f"records/mine/{SCOPE}/trials/t0000.json"


def test_a_sweep_with_no_record_loses_its_checkpoints_only():
    objects = {k: v for k, v in listing().items() if k.startswith("trials/")}
    plan = plan_deletion("mine", objects, References(), {"b": References(frozenset([CODE_A]))})
    assert set(plan.parts) == {CHECKPOINTS} and not plan.recorded


def test_references_reads_the_record_and_ignores_keys_hpo_never_writes():
    assert references(record(CODE_A, SNAP_A)) == References(frozenset([CODE_A]), frozenset([SNAP_A]))
    assert references(record()) == References()
    # A record naming "" or "trials" must never widen a delete to a whole prefix.
    for bad in ("", "trials", "snapshots", "code/", "trials/other", "snapshots/../trials", SNAP_A + "/"):
        assert references(record(bad, bad)) == References()
    for not_a_record in ([], {"request": None}, "text", {"snapshot": {"key": SNAP_A}}):
        with pytest.raises(ValueError):
            references(not_a_record)


def test_record_roots_are_the_sweep_json_of_each_scope():
    keys = [
        f"records/a/{SCOPE}/sweep.json",
        "records/a/second-scope/sweep.json",
        f"records/a/{SCOPE}/trials/t0000.json",
        "records/b/sweep.json",  # not under a scope
        f"records/c/{SCOPE}/nested/sweep.json",
    ]
    assert record_roots(keys) == {"a": [f"records/a/{SCOPE}/sweep.json", "records/a/second-scope/sweep.json"]}


def test_unreferenced_groups_snapshots_and_skips_what_a_record_names():
    objects = {
        CODE_A: 10,
        CODE_B: 20,
        f"{SNAP_A}/manifest.json": 1,
        f"{SNAP_A}/train.safetensors": 100,
        f"{SNAP_B}/manifest.json": 2,
        "code/notes.txt": 5,  # not a shape hpo writes: not its to judge
        "snapshots/scratch/x": 5,
    }
    referenced = References(frozenset([CODE_B]), frozenset([SNAP_B]))
    assert unreferenced(objects, referenced) == {CODE_A: (1, 10), SNAP_A: (2, 101)}
    assert unreferenced(objects, References(frozenset([CODE_A, CODE_B]), frozenset([SNAP_A, SNAP_B]))) == {}
