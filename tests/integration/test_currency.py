"""hpo converts no currencies: a training worker priced in another currency than the sweep's
trains nothing for it, and the sweep stops saying so, with no money mixed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
from test_steering import steady_spec

from hpo.cli.commands import ship_code
from hpo.connections.temporal import connect
from hpo.contracts.messages import Queues, SweepRequest, SweepStatus
from hpo.results.sweep_view import with_record

pytestmark = pytest.mark.integration


@pytest.fixture
def dollar_worker(stack: Any):
    """A training worker whose pool is priced in USD, on a queue of its own."""
    queue = f"usd-{uuid.uuid4().hex[:8]}"
    env = {**stack.env, "HPO_PRICE_PER_HOUR": "2.5", "HPO_CURRENCY": "USD", "HPO_TRAINING_QUEUE": queue}
    log = (stack.home / "logs" / f"{queue}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "hpo.cli", "worker", "training", "--concurrency", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield queue
    process.terminate()
    process.wait(timeout=60)
    log.close()


async def test_a_worker_price_in_another_currency_is_refused(stack, dollar_worker):
    spec = steady_spec(trials=3, price={"per_accelerator_hour": 2.0, "currency": "EUR"})
    sweep_id = f"eur-{uuid.uuid4().hex[:8]}"
    client = await connect(stack.settings)
    status = await client.execute_workflow(
        "SweepWorkflow",
        SweepRequest(
            sweep_id=sweep_id,
            spec=spec,
            code=ship_code(stack.settings, spec),
            queues=Queues(training=dollar_worker, sweep=stack.settings.sweep_queue),
        ),
        id=sweep_id,
        task_queue=stack.settings.sweep_queue,
        result_type=SweepStatus,
    )
    status = with_record(stack.settings, status)
    print(status.stop_reason)
    assert status.state == "stopped"
    reason = status.stop_reason or ""
    assert "USD" in reason and "EUR" in reason and "converts no currencies" in reason
    assert "HPO_CURRENCY" in reason, "it says what to change"
    (trial,) = status.trials  # the first refusal stops the sweep: nothing else started
    assert trial.status == "failed" and (trial.error or "").startswith("CurrencyMismatch: ")
    assert status.money is not None and status.money.spent == 0.0
