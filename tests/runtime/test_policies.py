"""Policies (acci.policies) on PostgreSQL: an event sends its command once however often it is
delivered, a rejection sends the compensation or parks the event, dead letters replay in stream
order, a standby takes over, and a policy is never rebuilt."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from acci import Command, CommandData, CommandMetadata, PostgresEventStore, StreamId
from acci.errors import PolicyCommandRejected, ProjectionFailed
from acci.health import check_health
from acci.policies import (
    Sent,
    command_id,
    compensation_id,
    policy_projection,
    policy_runner,
    replay_policy_dead_letters,
)
from acci.projections import RunnerSettings, list_dead_letters, projection_status, rebuild
from acci.projections._checkpoints import set_checkpoint
from acci.streams import START

from tests.runtime.shop import (
    HANDLERS,
    AddStock,
    CancelOrder,
    Fulfilment,
    OpenWarehouse,
    PlaceOrder,
    ReserveStock,
    ShipOrder,
    StrictFulfilment,
)

TENANT = "tenant-1"
META = CommandMetadata(user_id="clerk", tenant_id=TENANT, correlation_id="order-flow")
FAST = RunnerSettings(retry_delay=0.01, max_attempts=2, poll_interval=0.05, takeover_interval=0.05)


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=6) as pg:
        yield pg


async def send(store: PostgresEventStore, data: CommandData) -> None:
    await HANDLERS[type(data)](store).handle(Command(data, META))


async def warehouse(store: PostgresEventStore, name: str = "north", tea: int = 10) -> None:
    await send(store, OpenWarehouse(warehouse_id=name))
    if tea:
        await send(store, AddStock(warehouse_id=name, sku="TEA", quantity=tea))


async def place(store: PostgresEventStore, order: str, quantity: int = 3) -> None:
    await send(store, PlaceOrder(order_id=order, warehouse_id="north", sku="TEA", quantity=quantity))


async def event_types(store: PostgresEventStore, aggregate_type: str, aggregate_id: str) -> list[str]:
    return [e.event_type for e in await store.read_stream(StreamId(TENANT, aggregate_type, aggregate_id))]


async def test_an_event_sends_its_command_once_however_often_it_is_delivered(
    store: PostgresEventStore,
) -> None:
    await warehouse(store)
    await place(store, "o1")
    sent: list[Sent] = []
    runner = policy_runner(store, Fulfilment(), observer=sent.append)
    assert await runner.catch_up() == 1
    assert await event_types(store, "Warehouse", "north") == [
        "WarehouseOpened",
        "StockAdded",
        "StockReserved",
    ]
    [reserve] = sent
    placed = (await store.read_stream(StreamId(TENANT, "Order", "o1")))[0]
    assert reserve.command.id == command_id("fulfilment", placed.id, 0)
    assert reserve.command.data == ReserveStock(warehouse_id="north", order_id="o1", sku="TEA", quantity=3)
    assert reserve.outcome == "ok"
    reserved = reserve.result.events[0] if reserve.result else None
    assert reserved is not None and reserved.metadata.correlation_id == "order-flow"
    assert reserved.metadata.user_id == "policy:fulfilment"
    assert reserved.metadata.causation_id == str(reserve.command.id)
    # Delivered again (a runner killed before its checkpoint committed): the command log answers.
    async with store.pool.connection() as conn:
        await set_checkpoint(conn, "fulfilment", START)
    assert await runner.catch_up() == 1
    assert [s.outcome for s in sent] == ["ok", "replayed"]
    assert await event_types(store, "Warehouse", "north") == [
        "WarehouseOpened",
        "StockAdded",
        "StockReserved",
    ]


async def test_an_event_whose_condition_does_not_hold_sends_nothing(store: PostgresEventStore) -> None:
    await warehouse(store)
    await place(store, "o1", quantity=0)
    sent: list[Sent] = []
    assert await policy_runner(store, Fulfilment(), observer=sent.append).catch_up() == 1
    assert sent == []


async def test_a_rejected_command_sends_its_compensation(store: PostgresEventStore) -> None:
    await warehouse(store, tea=2)
    await place(store, "o1", quantity=5)
    sent: list[Sent] = []
    await policy_runner(store, Fulfilment(), observer=sent.append).catch_up()
    assert [(s.command.data.command_type, s.outcome) for s in sent] == [
        ("ReserveStock", "rejected"),
        ("CancelOrder", "ok"),
    ]
    assert sent[1].command.data == CancelOrder(order_id="o1", reason="out of stock")
    assert sent[1].command.id == compensation_id(sent[0].command.id)
    assert await event_types(store, "Order", "o1") == ["OrderPlaced", "OrderCancelled"]
    assert await list_dead_letters(store, "fulfilment") == []


async def test_a_rejected_command_parks_its_event_and_a_replay_sends_it_in_stream_order(
    store: PostgresEventStore,
) -> None:
    await warehouse(store, tea=2)
    await place(store, "o1", quantity=5)  # too much
    await send(store, ShipOrder(order_id="o1"))  # same stream: held back behind it
    await place(store, "o2", quantity=1)  # another stream: goes on
    policy = StrictFulfilment()
    assert await policy_runner(store, policy, FAST).catch_up() == 3
    letters = await list_dead_letters(store, "strict_fulfilment")
    assert [(x.event_type, x.attempts) for x in letters] == [("OrderPlaced", 2), ("OrderShipped", 0)]
    assert letters[1].behind == letters[0].event_id
    assert "PolicyCommandRejected" in letters[0].error and "not enough TEA in north" in letters[0].error
    assert await event_types(store, "Warehouse", "north") == [
        "WarehouseOpened",
        "StockAdded",
        "StockReserved",  # o2's
    ]
    # Replaying before the cause is fixed fails again and keeps the stream behind it.
    result = await replay_policy_dead_letters(store, policy)
    assert (result.replayed, len(result.failed), len(result.held_back)) == (0, 1, 1)
    await send(store, AddStock(warehouse_id="north", sku="TEA", quantity=10))
    sent: list[Sent] = []
    result = await replay_policy_dead_letters(store, policy, observer=sent.append)
    assert (result.replayed, result.failed, result.held_back) == (2, [], [])
    assert [s.command.data.command_type for s in sent] == ["ReserveStock"]
    assert (await event_types(store, "Warehouse", "north"))[-1] == "StockReserved"
    assert await list_dead_letters(store, "strict_fulfilment") == []


async def test_a_standby_takes_over_and_each_command_is_sent_once(store: PostgresEventStore) -> None:
    await warehouse(store, tea=100)
    sent: list[Sent] = []
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(
        policy_runner(store, Fulfilment(), FAST, observer=sent.append).run(first_stop)
    )
    await asyncio.sleep(0.2)
    second = asyncio.create_task(
        policy_runner(store, Fulfilment(), FAST, observer=sent.append).run(second_stop)
    )
    for k in range(5):
        await place(store, f"a{k}", quantity=1)
    await _until_reserved(store, 5)
    first_stop.set()  # the active one leaves; the standby takes over
    await first
    for k in range(5):
        await place(store, f"b{k}", quantity=1)
    await _until_reserved(store, 10)
    second_stop.set()
    await second
    assert len(sent) == 10 and {s.outcome for s in sent} == {"ok"}
    assert len({s.command.id for s in sent}) == 10


async def _until_reserved(store: PostgresEventStore, count: int) -> None:
    for _ in range(400):
        if (await event_types(store, "Warehouse", "north")).count("StockReserved") == count:
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"{count} reservations were not made in time")


async def test_a_policy_shows_its_lag_and_dead_letters_like_a_projection(store: PostgresEventStore) -> None:
    await warehouse(store, tea=1)
    for order in ("o1", "o2", "o3"):
        await place(store, order, quantity=1)
    projection = policy_projection(StrictFulfilment(), store)
    status = await projection_status(store, projection)
    assert (status.name, status.lag_events, status.dead_letters) == ("strict_fulfilment", 3, 0)
    await policy_runner(store, StrictFulfilment(), FAST).catch_up()
    status = await projection_status(store, projection)
    assert (status.lag_events, status.dead_letters) == (0, 2)  # one had stock, two did not
    report = await check_health(store, [projection], max_event_age=None)
    failing = [check.name for check in report.checks if not check.ok]
    assert failing == ["projection:strict_fulfilment:dead_letters"]


async def test_a_policy_is_never_rebuilt(store: PostgresEventStore) -> None:
    await warehouse(store)
    await place(store, "o1")
    with pytest.raises(ProjectionFailed, match="cannot be rebuilt or checked by a replay"):
        await rebuild(store, policy_projection(Fulfilment(), store))
    assert await event_types(store, "Warehouse", "north") == ["WarehouseOpened", "StockAdded"]


def test_a_rejection_to_dead_letter_names_the_policy_the_command_and_the_reason() -> None:
    error = PolicyCommandRejected(
        "fulfilment", "ReserveStock", uuid.UUID(int=7), "OrderPlaced e1", "no stock"
    )
    assert str(error) == (
        "policy 'fulfilment' sent ReserveStock (command 00000000-0000-0000-0000-000000000007) for "
        "OrderPlaced e1, and it was rejected: no stock. The policy dead-letters it: fix the cause, then "
        "replay the policy's dead letters (`acci dead-letters replay`) or retry its failed deadlines."
    )
