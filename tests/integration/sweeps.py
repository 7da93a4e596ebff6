"""Helpers for integration tests: tiny specs and running sweeps against the real stack."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from hpo.cli.commands import ship_code
from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepRequest, SweepStatus
from hpo.contracts.spec import SweepSpec, load_spec, parse_spec
from hpo.workers.sweep import WORKFLOWS, workflow_runner


def tiny_spec(model: Path, data: Path, **overrides: Any) -> SweepSpec:
    spec: dict[str, Any] = {
        "name": "tiny",
        "model": {"source": str(model)},
        "dataset": {"source": str(data), "label_field": "label"},
        "space": {
            "lr": {"type": "float", "low": 1.0e-3, "high": 5.0e-3, "log": True},
            "batch_size": {"type": "categorical", "choices": [8, 16]},
        },
        "algorithm": "random",
        "trials": 3,
        "max_concurrent": 2,
        "seed": 0,
        "training": {"max_steps": 40, "max_length": 32, "checkpoint_every": 10, "heartbeat_timeout_s": 10},
    }
    return parse_spec(_merged(spec, overrides))


def _merged(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`spec` with `overrides`; a mapping given for a mapping section updates it field by field."""
    merged = dict(spec)
    for key, value in overrides.items():
        both_mappings = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = {**merged[key], **value} if both_mappings else value
    return merged


BYO = Path(__file__).resolve().parents[2] / "examples" / "byo"


def byo_spec(kind: str = "function", **overrides: Any) -> SweepSpec:
    """The bring-your-own example (examples/byo), as a user would run it, resized for a test."""
    spec = load_spec(BYO / ("sweep.yaml" if kind == "function" else "sweep-command.yaml"))
    return parse_spec(_merged(spec.model_dump(mode="json", exclude_none=True), overrides))


def new_sweep_id(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def run_sweep(stack: Any, spec: SweepSpec, sweep_id: str | None = None) -> SweepStatus:
    sweep_id = sweep_id or new_sweep_id()
    client = await connect(stack.settings)
    # As `hpo sweep run` does: the task's code directory travels as an archive in S3.
    code = ship_code(stack.settings, spec)
    return await client.execute_workflow(
        "SweepWorkflow",
        SweepRequest(sweep_id=sweep_id, spec=spec, code=code),
        id=sweep_id,
        task_queue=stack.settings.sweep_queue,
        result_type=SweepStatus,
    )


async def sweep_scope(stack: Any, sweep_id: str, timeout: float = 60) -> str:
    """The storage scope of a running sweep (its first run's id), once the sweep exists."""
    import asyncio

    client = await connect(stack.settings)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            described = await client.get_workflow_handle(sweep_id).describe()
            return described.raw_description.workflow_execution_info.first_run_id or described.run_id
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


async def replay_and_record(stack: Any, sweep_id: str, fixture: str) -> None:
    """Replay the sweep's own history against the current code; with HPO_RECORD_HISTORIES=DIR
    also store it as DIR/<fixture>.json, the fixtures the unit tests replay."""
    client = await connect(stack.settings)
    history = await client.get_workflow_handle(sweep_id).fetch_history()
    replayer = Replayer(
        workflows=WORKFLOWS, workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(history)
    if os.environ.get("HPO_RECORD_HISTORIES"):
        Path(os.environ["HPO_RECORD_HISTORIES"], f"{fixture}.json").write_text(history.to_json())
