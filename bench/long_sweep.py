"""A long sweep of trivial function trials on the embedded stack (real Temporal, real S3).

Measures what a sweep of any length costs the orchestration itself: wall time, the longest
history of any run of the sweep workflow (it continues-as-new with compact state), and the
sweep worker's peak memory (VmHWM). The trials are the steady test trainer at one step, so
almost all the time is hpo's and Temporal's.

    .venv/bin/python bench/long_sweep.py --trials 10000 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from hpo.messages import SweepRequest, SweepStatus
from hpo.settings import Settings
from hpo.spec import parse_spec
from hpo.stack import EmbeddedStack
from hpo.workers.connect import connect

STEADY = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "steady"


def peak_memory_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def measure(stack: EmbeddedStack, trials: int, concurrency: int, algorithm: str) -> None:
    from hpo.commands import ship_code

    spec = parse_spec(
        {
            "name": "long",
            "task": {"entrypoint": "trainer:train", "code": str(STEADY)},
            "space": {
                "x": {"type": "float", "low": 0, "high": 1},
                "y": {"type": "float", "low": -1, "high": 1},
            },
            "algorithm": algorithm,
            "trials": trials,
            "max_concurrent": concurrency,
            "objective": {"metric": "loss", "mode": "min"},
            "training": {"max_steps": 1, "checkpoint_every": 1000, "heartbeat_timeout_s": 30},
        }
    )
    client = await connect(stack.settings)
    sweep_id = f"long-{int(time.time())}"
    started = time.monotonic()
    handle = await client.start_workflow(
        "SweepWorkflow",
        SweepRequest(sweep_id=sweep_id, spec=spec, code=ship_code(stack.settings, spec)),
        id=sweep_id,
        task_queue=stack.settings.sweep_queue,
        result_type=SweepStatus,
    )
    status = await handle.result()
    wall = time.monotonic() - started
    lengths = []
    async for run in client.list_workflows(f'WorkflowId = "{sweep_id}"'):
        described = await client.get_workflow_handle(sweep_id, run_id=run.run_id).describe()
        lengths.append(described.raw_description.workflow_execution_info.history_length)
    sweep_worker = stack.processes["sweep-worker"].process.pid
    print(f"{status.trials_total} trials ({status.counts}) of {trials}, {algorithm}, {concurrency} at once")
    print(f"wall time {wall:.0f} s ({status.trials_total / wall:.1f} trials/s)")
    print(
        f"runs of the sweep workflow {status.runs} (listed {len(lengths)}); longest history {max(lengths)} events"
    )
    print(f"sweep worker peak memory {peak_memory_mb(sweep_worker):.0f} MB")
    print(f"best {status.best_trial_id} loss {status.best.objective if status.best else None}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--algorithm", default="random")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hpo-long-") as home:
        stack = EmbeddedStack.for_home(Path(home), Settings(), ephemeral_ports=True)
        stack.training_concurrency = args.concurrency
        with stack:
            asyncio.run(measure(stack, args.trials, args.concurrency, args.algorithm))


if __name__ == "__main__":
    main()
