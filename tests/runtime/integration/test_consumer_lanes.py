"""The consumer's lanes, on the shared NATS server and real PostgreSQL: messages of different
streams of origin are handled at once, and each stream of origin still takes effect in its order."""

from __future__ import annotations

import asyncio

import pytest
from acci import PostgresEventStore
from acci.integration import (
    IntegrationConsumer,
    command_id_for,
    fetch_dead_letters,
)
from acci.integration.consumer import Outcome
from acci.integration.jetstream import NatsTransport
from acci.integration.transport import IncomingMessage

from tests.runtime.integration.conftest import fast_settings, with_consumer
from tests.runtime.integration.domains import billing_consumes
from tests.runtime.integration.helpers import bounded, confirm_order, make_relay, write_orders

pytestmark = [pytest.mark.nats, pytest.mark.slow]


class CountingConsumer(IntegrationConsumer):
    """Counts how many messages are being handled at once (the highest count seen)."""

    busy = 0
    most = 0

    async def consume(
        self, message: IncomingMessage, blocked: set[str], stop: asyncio.Event | None = None
    ) -> Outcome:
        self.busy += 1
        self.most = max(self.most, self.busy)
        try:
            return await super().consume(message, blocked, stop)
        finally:
            self.busy -= 1


async def test_lanes_run_at_once_and_keep_the_order_of_each_stream_of_origin(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
) -> None:
    # One try only: a confirmation that overtook its account's opening would be parked at once,
    # not rescued by a retry.
    settings = with_consumer(fast_settings(), lanes=8, max_attempts=1, batch_size=60)
    # 30 orders of two tenants, each placed and confirmed right after (adjacent in the stream),
    # then all confirmed again in reverse: every batch interleaves many streams of origin.
    orders = await write_orders(postgres_store, "o", 30)
    for tenant, order_id in reversed(orders):
        await confirm_order(postgres_store, tenant, order_id)
    await bounded(make_relay(postgres_store, transport, domain, settings).catch_up())

    consumer = CountingConsumer(
        billing_store, transport, billing_consumes(domain), settings, name=f"billing_{domain}"
    )
    assert await bounded(consumer.catch_up(), 60) == 90
    assert consumer.most > 1  # the lanes did run at once

    async with billing_store.pool.connection() as conn:
        assert await fetch_dead_letters(conn, consumer.name) == []
    # Each account took its effects in the order of its order's events: the causation id of each
    # effect is the command id derived from the message (= event id) that caused it.
    published: dict[tuple[str, str], list[str]] = {}
    for event in await postgres_store.read_all(limit=1000):
        published.setdefault((event.tenant_id, event.aggregate_id), []).append(
            str(command_id_for(consumer.name, str(event.id)))
        )
    effected: dict[tuple[str, str], list[str]] = {}
    async with billing_store.pool.connection() as conn:
        cur = await conn.execute(
            "SELECT tenant_id, aggregate_id, causation_id FROM acci.events"
            " ORDER BY tenant_id, aggregate_id, version"
        )
        for tenant, aggregate_id, causation in await cur.fetchall():
            effected.setdefault((tenant, aggregate_id), []).append(causation)
    assert effected == published
    assert all(len(causes) == 3 for causes in effected.values())
