"""What the integration-event tests (and their subprocesses) share: writing orders, reading the
effects in billing's database and the messages in the stream, a recorded event to publish."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

from acci import Command, CommandMetadata, EventMetadata, Position, PostgresEventStore, RecordedEvent
from acci.integration import IntegrationConsumer, IntegrationRelay, IntegrationSettings
from acci.integration.jetstream import NatsTransport
from acci.integration.naming import domain_subjects, stream_name_for
from nats.js import api

from tests.runtime.integration.domains import (
    ConfirmOrder,
    ConfirmOrderHandler,
    PlaceOrder,
    PlaceOrderHandler,
    billing_consumes,
    order_registry,
    orders_publisher,
)

TENANTS = ("acme", "globex.eu")


def recorded_order_placed(aggregate_id: str = "o-1", user_id: str | None = None) -> RecordedEvent:
    """An OrderPlaced as the relay reads it from the log: version 3 of its order, tenant acme."""
    return RecordedEvent(
        id=uuid.uuid4(),
        aggregate_type="Order",
        aggregate_id=aggregate_id,
        event_type="OrderPlaced",
        version=3,
        schema_version=1,
        data_json="{}",
        metadata=EventMetadata(
            correlation_id="corr", causation_id="cause", tenant_id="acme", user_id=user_id
        ),
        timestamp=datetime(2026, 1, 2, tzinfo=UTC),
        position=Position(7, 9),
    )


async def place_order(store: PostgresEventStore, tenant: str, order_id: str, amount: str = "10.00") -> None:
    await PlaceOrderHandler(store).handle(
        Command(PlaceOrder(order_id=order_id, amount=Decimal(amount)), CommandMetadata("clerk", tenant))
    )


async def confirm_order(store: PostgresEventStore, tenant: str, order_id: str) -> None:
    await ConfirmOrderHandler(store).handle(
        Command(ConfirmOrder(order_id=order_id), CommandMetadata("clerk", tenant))
    )


async def write_orders(store: PostgresEventStore, prefix: str, count: int) -> list[tuple[str, str]]:
    """`count` orders, each placed then confirmed, alternating tenants; their (tenant, id)."""
    written = []
    for n in range(count):
        tenant, order_id = TENANTS[n % len(TENANTS)], f"{prefix}-{n}"
        await place_order(store, tenant, order_id, f"{n + 1}.50")
        await confirm_order(store, tenant, order_id)
        written.append((tenant, order_id))
    return written


async def billing_effects(store: PostgresEventStore) -> dict[tuple[str, str], list[str]]:
    """Billing's events per (tenant, account), in version order."""
    async with store.pool.connection() as conn:
        cur = await conn.execute(
            """
            SELECT tenant_id, aggregate_id, event_type FROM acci.events
             ORDER BY tenant_id, aggregate_id, version
            """
        )
        effects: dict[tuple[str, str], list[str]] = {}
        for tenant, aggregate_id, event_type in await cur.fetchall():
            effects.setdefault((tenant, aggregate_id), []).append(event_type)
    return effects


async def stream_messages(transport: NatsTransport, domain: str) -> list[Any]:
    """Every message in the domain's stream, in stream order (an ephemeral consumer)."""
    stream = stream_name_for(domain)
    info = await transport.js.stream_info(stream)
    total = info.state.messages
    subscription = await transport.js.pull_subscribe(
        domain_subjects(domain),
        stream=stream,
        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE, inactive_threshold=30.0),
    )
    messages: list[Any] = []
    try:
        while len(messages) < total:
            messages.extend(await subscription.fetch(min(500, total - len(messages)), timeout=5))
    finally:
        await subscription.unsubscribe()
    return messages


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float, what: str) -> None:
    """Wait until `check()` is true; fail after `seconds` (a bound, not a timing assertion)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds}s")
        await asyncio.sleep(0.05)


T = TypeVar("T")


async def bounded(work: Awaitable[T], seconds: float = 30.0) -> T:
    """`work`, failing the test instead of hanging it when it does not finish in `seconds`."""
    return await asyncio.wait_for(work, seconds)


def make_relay(
    store: PostgresEventStore, transport: NatsTransport, domain: str, settings: IntegrationSettings
) -> IntegrationRelay:
    return IntegrationRelay(store, transport, orders_publisher(domain), order_registry, settings)


def make_consumer(
    store: PostgresEventStore, transport: NatsTransport, domain: str, settings: IntegrationSettings
) -> IntegrationConsumer:
    return IntegrationConsumer(store, transport, billing_consumes(domain), settings, name=f"billing_{domain}")
