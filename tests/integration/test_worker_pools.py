"""Two pools of training workers at two prices (say A100s and L4s): a sweep's `pool:` sends its
trials to that pool's workers, and the ledger prices each segment at the pool that trained it.
A pool the deployment does not have is refused before anything is shipped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from test_steering import steady_spec

from hpo.cli import commands
from hpo.cli.ui import UserError
from hpo.contracts.pools import pool_queue
from hpo.results.sweep_view import with_record

pytestmark = pytest.mark.integration

PRICES = {"a100": 3.6, "l4": 0.72}  # per accelerator-hour: 1 and 0.2 cents per accelerator-second


@pytest.fixture
def two_pools(stack: Any):
    """The stack's settings as a client of a deployment with pools a100 (the default) and l4,
    each with one training worker priced its own way, on queues no other test uses."""
    settings = stack.settings.model_copy(
        update={"training_queue": f"pools-{uuid.uuid4().hex[:8]}", "pools": "a100,l4"}
    )
    workers = [
        stack.start_worker(
            "training",
            name=f"training-worker-{pool}",
            env={"HPO_TRAINING_QUEUE": pool_queue(settings, pool), "HPO_PRICE_PER_HOUR": str(price)},
        )
        for pool, price in PRICES.items()
    ]
    yield settings
    for worker in workers:
        stack.processes.pop(worker.name).stop()


async def test_each_pool_trains_its_sweeps_at_its_price(stack, two_pools):
    spent: dict[str, Any] = {}
    for pool in PRICES:
        spec = steady_spec(trials=2, pool=None if pool == "a100" else pool)
        status = await commands.run_and_follow(two_pools, spec, f"pool-{pool}-{uuid.uuid4().hex[:6]}")
        assert status is not None and status.state == "completed", status and status.stop_reason
        money = with_record(two_pools, status).money
        assert money is not None and money.currency == "USD"
        spent[pool] = money
        print(pool, money.price_per_hour, money.accelerator_hours, money.spent)
    for pool, price in PRICES.items():
        money = spent[pool]
        assert money.price_per_hour == pytest.approx(price)
        assert money.accelerator_hours > 0
        assert money.spent == pytest.approx(money.accelerator_hours * price, rel=1e-6)


async def test_a_pool_the_deployment_lacks_is_refused_before_anything_starts(stack, two_pools):
    spec = steady_spec(trials=1, pool="h100")
    with pytest.raises(UserError) as refused:
        await commands.run_and_follow(two_pools, spec, f"pool-none-{uuid.uuid4().hex[:6]}")
    message = str(refused.value)
    assert "'h100'" in message and "a100, l4" in message and "HPO_POOLS" in message
