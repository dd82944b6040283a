"""A policy runner process killed (SIGKILL) at random points while orders are placed: every order's
command takes effect exactly once (its stock reserved once, or its order cancelled once), and its
deadline is scheduled once."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from acci import Command, CommandMetadata, PostgresEventStore, StreamId
from acci.policies import command_id, compensation_id, list_deadlines, policy_runner

from tests.runtime.shop import (
    AddStock,
    AddStockHandler,
    Fulfilment,
    OpenWarehouse,
    OpenWarehouseHandler,
    PlaceOrder,
    PlaceOrderHandler,
)
from tests.runtime.test_writer_kill import until_the_killed_sessions_end

ROOT = Path(__file__).resolve().parents[2]
META = CommandMetadata(user_id="clerk", tenant_id="t", correlation_id="kill")
ORDERS = 160
STOCK = 150  # less than the orders want: some are cancelled by the compensation


async def _place_orders(store: PostgresEventStore, rng: random.Random, done: asyncio.Event) -> dict[str, int]:
    wanted = {}
    for k in range(ORDERS):
        order, quantity = f"o{k:03d}", rng.randint(1, 2)
        data = PlaceOrder(order_id=order, warehouse_id="north", sku="TEA", quantity=quantity)
        await PlaceOrderHandler(store).handle(Command(data, META))
        wanted[order] = quantity
        await asyncio.sleep(rng.uniform(0, 0.03))
    done.set()
    return wanted


async def _run_and_kill(url: str, seconds: float) -> None:
    """Start the policy process, let it run for `seconds` once it is up, SIGKILL it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.runtime.policy_process", url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"running\n"
        await asyncio.sleep(seconds)
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()


@pytest.mark.slow
@pytest.mark.e2e
async def test_a_policy_runner_killed_at_random_points_sends_each_command_once(
    acci_database_url: str,
) -> None:
    rng = random.Random(14)
    async with await PostgresEventStore.open(acci_database_url, max_size=4) as store:
        await OpenWarehouseHandler(store).handle(Command(OpenWarehouse(warehouse_id="north"), META))
        await AddStockHandler(store).handle(
            Command(AddStock(warehouse_id="north", sku="TEA", quantity=STOCK), META)
        )
        done = asyncio.Event()
        writing = asyncio.create_task(_place_orders(store, rng, done))
        kills = 0
        while kills < 6 or not done.is_set():
            await _run_and_kill(acci_database_url, rng.uniform(0.1, 0.8))
            kills += 1
        wanted = await writing
        await until_the_killed_sessions_end(store)
        # Until the policy is quiet: the events its last batch's commands appended come after it.
        while await policy_runner(store, Fulfilment()).catch_up():
            pass

        warehouse = await store.read_stream(StreamId("t", "Warehouse", "north"))
        reserved = Counter(e.data["order_id"] for e in warehouse if e.event_type == "StockReserved")
        cancelled: Counter[str] = Counter()
        for order in wanted:
            events = await store.read_stream(StreamId("t", "Order", order))
            cancelled[order] = sum(e.event_type == "OrderCancelled" for e in events)
        assert kills >= 6
        assert max(reserved.values()) == 1, "a reservation was made twice"
        assert max(cancelled.values()) == 1, "an order was cancelled twice"
        assert all(reserved[o] + cancelled[o] == 1 for o in wanted), "an order has no outcome, or two"
        assert sum(wanted[o] for o in reserved) <= STOCK
        assert cancelled.total() > 0, "no reservation was rejected: the compensation was not exercised"
        # Each command once in the command log, under the id derived from the policy and the event.
        async with store.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT command_id FROM acci.commands WHERE command_type IN ('ReserveStock', 'CancelOrder')"
            )
            logged = {row[0] for row in await cur.fetchall()}
        expected = set()
        for order in wanted:
            placed = (await store.read_stream(StreamId("t", "Order", order)))[0]
            reserve = command_id("fulfilment", placed.id, 0)
            expected.add(compensation_id(reserve) if cancelled[order] else reserve)
        assert logged == expected
        deadlines = await list_deadlines(store, "fulfilment")
        assert sorted(d.key for d in deadlines) == sorted(wanted)  # one each
        assert {d.key for d in deadlines if d.state == "cancelled"} == {o for o in wanted if cancelled[o]}
