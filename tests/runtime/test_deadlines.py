"""Deadlines (acci.policies): scheduled by a policy once, cancelled by a later event, sent when due by
a controllable clock, exactly once in effect, and only after their policy caught up with them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import ClassVar

import pytest
import pytest_asyncio
from acci import (
    Command,
    CommandData,
    CommandMetadata,
    DomainEvent,
    EventRegistry,
    PostgresEventStore,
    RecordedEvent,
    StreamId,
)
from acci.policies import (
    DeadlineRunner,
    Effect,
    ManualClock,
    Policy,
    Schedule,
    Sent,
    deadline_command_id,
    deadline_id,
    deadline_status,
    list_deadlines,
    policy_runner,
    retry_deadlines,
)
from acci.policies.deadlines import Deadline
from acci.projections import RunnerSettings

from tests.runtime.shop import (
    HANDLERS,
    REGISTRY,
    RESERVATION_TIME,
    AddStock,
    CancelOrder,
    Fulfilment,
    OpenWarehouse,
    OrderPlaced,
    PlaceOrder,
    ReleaseReservation,
    ReserveStock,
    ShipOrder,
)

TENANT = "tenant-1"
META = CommandMetadata(user_id="clerk", tenant_id=TENANT, correlation_id="order-flow")


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=6) as pg:
        await send(pg, OpenWarehouse(warehouse_id="north"))
        await send(pg, AddStock(warehouse_id="north", sku="TEA", quantity=10))
        yield pg


async def send(store: PostgresEventStore, data: CommandData) -> None:
    await HANDLERS[type(data)](store).handle(Command(data, META))


async def placed(store: PostgresEventStore, order: str) -> datetime:
    """Place an order and let the policy reserve its stock; the order's timestamp."""
    await send(store, PlaceOrder(order_id=order, warehouse_id="north", sku="TEA", quantity=2))
    await policy_runner(store, Fulfilment()).catch_up()
    [event] = await store.read_stream(StreamId(TENANT, "Order", order))
    return event.timestamp


async def north(store: PostgresEventStore) -> list[str]:
    return [e.event_type for e in await store.read_stream(StreamId(TENANT, "Warehouse", "north"))]


async def test_a_deadline_is_sent_when_due_and_only_once(store: PostgresEventStore) -> None:
    at = await placed(store, "o1")
    [deadline] = await list_deadlines(store, "fulfilment")
    order = (await store.read_stream(StreamId(TENANT, "Order", "o1")))[0]
    assert deadline.id == deadline_id("fulfilment", order.id, 1)
    assert (deadline.name, deadline.key, deadline.state) == ("release", "o1", "pending")
    assert deadline.due_at == at + RESERVATION_TIME
    clock = ManualClock(at)
    sent: list[Sent] = []
    runner = DeadlineRunner(store, [Fulfilment()], clock=clock, observer=sent.append)
    clock.advance(RESERVATION_TIME - timedelta(seconds=1))
    assert await runner.fire_due() == 0
    clock.advance(timedelta(seconds=1))
    assert await runner.fire_due() == 1
    assert await runner.fire_due() == 0
    assert (await north(store))[-2:] == ["StockReserved", "ReservationReleased"]
    [release] = sent
    assert release.command.data == ReleaseReservation(warehouse_id="north", order_id="o1")
    assert release.command.id == deadline_command_id(deadline.id)
    assert release.command.metadata.correlation_id == "order-flow"
    [fired] = await list_deadlines(store, "fulfilment")
    assert (fired.state, fired.outcome, fired.attempts) == ("fired", "ok", 1)


async def test_a_later_event_cancels_a_deadline(store: PostgresEventStore) -> None:
    at = await placed(store, "o1")
    await placed(store, "o2")
    await send(store, ShipOrder(order_id="o1"))
    await policy_runner(store, Fulfilment()).catch_up()
    shipped = (await store.read_stream(StreamId(TENANT, "Order", "o1")))[-1]
    deadlines = {d.key: d for d in await list_deadlines(store, "fulfilment")}
    assert deadlines["o1"].state == "cancelled" and deadlines["o1"].cancelled_by == shipped.id
    assert deadlines["o2"].state == "pending"
    clock = ManualClock(at + timedelta(hours=1))
    sent: list[Sent] = []
    assert await DeadlineRunner(store, [Fulfilment()], clock=clock, observer=sent.append).fire_due() == 1
    assert [s.command.data for s in sent] == [ReleaseReservation(warehouse_id="north", order_id="o2")]


async def test_a_deadline_waits_until_its_policy_has_seen_what_was_written_before_it_was_due(
    store: PostgresEventStore,
) -> None:
    """The cancelling event is written in time, but the policy's runner has not handled it yet
    (it lags, or is down): the deadline waits rather than overtake it."""
    at = await placed(store, "o1")
    await send(store, CancelOrder(order_id="o1", reason="changed my mind"))  # not handled yet
    runner = DeadlineRunner(store, [Fulfilment()], clock=ManualClock(at + timedelta(hours=1)))
    assert await runner.fire_due() == 0
    [deadline] = await list_deadlines(store, "fulfilment")
    assert deadline.state == "pending"
    assert (await deadline_status(store, [Fulfilment()], at + timedelta(hours=1)))["fulfilment"] == {
        "pending": 1,
        "overdue": 1,
        "failed": 0,
    }
    await policy_runner(store, Fulfilment()).catch_up()
    assert await runner.fire_due() == 0
    [deadline] = await list_deadlines(store, "fulfilment")
    assert deadline.state == "cancelled"
    assert (await north(store))[-1] == "StockReserved"


class DyingDeadlineRunner(DeadlineRunner):
    """Dies after sending a deadline's command, before settling it (as a killed process would)."""

    async def _settle(
        self, deadline: Deadline, state: str, *, outcome: str | None = None, error: str = ""
    ) -> None:
        raise asyncio.CancelledError


async def test_a_runner_that_dies_after_sending_is_followed_by_a_replay(store: PostgresEventStore) -> None:
    at = await placed(store, "o1")
    clock = ManualClock(at + RESERVATION_TIME)
    sent: list[Sent] = []
    with pytest.raises(asyncio.CancelledError):
        await DyingDeadlineRunner(store, [Fulfilment()], clock=clock, observer=sent.append).fire_due()
    [deadline] = await list_deadlines(store, "fulfilment")
    assert deadline.state == "firing"  # sent, not settled
    # A cancel now comes too late: the deadline is being sent.
    await send(store, ShipOrder(order_id="o1"))
    await policy_runner(store, Fulfilment()).catch_up()
    assert await DeadlineRunner(store, [Fulfilment()], clock=clock, observer=sent.append).fire_due() == 1
    assert [s.outcome for s in sent] == ["ok", "replayed"]
    assert (await north(store)).count("ReservationReleased") == 1
    [deadline] = await list_deadlines(store, "fulfilment")
    assert (deadline.state, deadline.outcome, deadline.attempts) == ("fired", "replayed", 2)


class ReleaseLater(Policy):
    """Schedules only the release, and dead-letters it when rejected."""

    name: ClassVar[str] = "release_later"
    event_types: ClassVar[Sequence[str]] = ("OrderPlaced",)
    registry: ClassVar[EventRegistry] = REGISTRY
    handlers = HANDLERS

    def react(self, event: DomainEvent, envelope: RecordedEvent) -> Sequence[Effect]:
        if not isinstance(event, OrderPlaced):
            return []
        release = ReleaseReservation(warehouse_id=event.warehouse_id, order_id=event.order_id)
        return [
            Schedule(
                "release", release, key=event.order_id, after=RESERVATION_TIME, on_rejected="dead_letter"
            )
        ]


async def test_a_rejected_deadline_is_ignored_or_fails_until_retried(store: PostgresEventStore) -> None:
    at = await placed(store, "o1")
    await send(store, ReleaseReservation(warehouse_id="north", order_id="o1"))  # released by hand
    clock = ManualClock(at + RESERVATION_TIME)
    assert await DeadlineRunner(store, [Fulfilment()], clock=clock).fire_due() == 1
    [deadline] = await list_deadlines(store, "fulfilment")
    assert (deadline.state, deadline.outcome) == ("fired", "ignored")  # its Schedule said "ignore"

    policy = ReleaseLater()
    await policy_runner(store, policy).catch_up()
    runner = DeadlineRunner(store, [policy], clock=clock)
    assert await runner.fire_due() == 1
    [failed] = await list_deadlines(store, "release_later")
    assert failed.state == "failed" and "no reservation for order o1" in (failed.error or "")
    assert (await deadline_status(store, [policy], clock.now()))["release_later"]["failed"] == 1
    assert await runner.fire_due() == 0  # a failed deadline waits for an operator
    await send(store, ReserveStock(warehouse_id="north", order_id="o1", sku="TEA", quantity=1))
    assert await retry_deadlines(store, "release_later") == 1
    assert await runner.fire_due() == 1
    [fired] = await list_deadlines(store, "release_later")
    assert (fired.state, fired.outcome, fired.attempts) == ("fired", "ok", 2)
    assert (await north(store))[-1] == "ReservationReleased"


def test_a_manual_clock_only_moves_forward() -> None:
    clock = ManualClock(datetime(2024, 1, 1))
    assert clock.now().tzinfo is not None
    assert clock.advance(timedelta(minutes=15)).minute == 15
    with pytest.raises(ValueError, match="forward only"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="forward only"):
        clock.set(datetime(2023, 1, 1))


async def test_run_sends_due_deadlines_as_the_one_active_runner(store: PostgresEventStore) -> None:
    at = await placed(store, "o1")
    clock = ManualClock(at + RESERVATION_TIME)
    settings = RunnerSettings(poll_interval=0.02, takeover_interval=0.02)
    sent: list[Sent] = []
    stops = [asyncio.Event(), asyncio.Event()]
    runners = [
        asyncio.create_task(
            DeadlineRunner(store, [Fulfilment()], clock=clock, settings=settings, observer=sent.append).run(
                stop
            )
        )
        for stop in stops
    ]
    for _ in range(200):
        if sent:
            break
        await asyncio.sleep(0.02)
    await placed(store, "o2")
    clock.advance(RESERVATION_TIME)
    for _ in range(200):
        if len(sent) == 2:
            break
        await asyncio.sleep(0.02)
    for stop in stops:
        stop.set()
    await asyncio.gather(*runners)
    assert [s.command.data.order_id for s in sent] == ["o1", "o2"]
