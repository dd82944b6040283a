"""The relay with tenants across databases: a relay per database, each with its own checkpoint in
its own global order, publishes every tenant's events to the one stream, each tenant's in order."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pytest
from acci import Command, CommandMetadata, PostgresEventStore
from acci.database import with_database
from acci.integration import IntegrationConsumer, IntegrationSettings
from acci.integration.jetstream import NatsTransport
from acci.settings import load_settings
from acci.tenants import DEFAULT, TenantRouter
from acci.tenants.moves import move_tenant
from acci.testing import _create_database, _drop_database, _Templates

from tests.runtime.integration.domains import PlaceOrder, PlaceOrderHandler, billing_consumes
from tests.runtime.integration.helpers import (
    TENANTS,
    billing_effects,
    bounded,
    make_relay,
    stream_messages,
    write_orders,
)

pytestmark = pytest.mark.nats


async def test_a_relay_per_tenant_database_publishes_every_tenants_events(
    acci_database_url: str,
    billing_database_url: str,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    acme, globex = TENANTS
    routed = load_settings(tenants={"databases": {"b": billing_database_url}, "routes": {globex: "b"}})
    async with await TenantRouter.open(routed, acci_database_url) as router:
        for n in range(3):
            for tenant in TENANTS:
                data = PlaceOrder(order_id=f"o{n}", amount=Decimal("1.00"))
                await PlaceOrderHandler(router.event_store).handle(
                    Command(data, CommandMetadata("clerk", tenant))
                )
        relays = [make_relay(store, transport, domain, settings) for store in router.stores.values()]
        for relay in relays:
            await relay.start()
        published, deadline = 0, time.monotonic() + 30
        while published < 6:  # the horizon of a shared server may hold a page back for a moment
            assert time.monotonic() < deadline, f"published {published} of 6"
            published += sum([await bounded(relay.catch_up()) for relay in relays])
            await asyncio.sleep(0.05)
        expected = {
            tenant: [str(e.id) for e in await router.store(name).read_all(tenant_id=tenant)]
            for tenant, name in ((acme, DEFAULT), (globex, "b"))
        }
        messages = await stream_messages(transport, domain)
        for tenant, ids in expected.items():
            assert len(ids) == 3
            mine = [m.headers["Nats-Msg-Id"] for m in messages if m.headers["Acci-Tenant-Id"] == tenant]
            assert mine == ids  # every event once, in its database's order
        # A moved tenant's events are new to the target's relay: it publishes them again, with
        # their ids, and the stream's duplicate window drops them.
        await move_tenant(router, globex, DEFAULT)
        republished, deadline = 0, time.monotonic() + 30
        while republished < 3:
            assert time.monotonic() < deadline, f"published again {republished} of 3"
            republished += await bounded(relays[0].catch_up())
            await asyncio.sleep(0.05)
    assert len(await stream_messages(transport, domain)) == 6


@pytest.fixture
def other_billing_database_url(
    acci_server_url: str, acci_templates: _Templates, acci_template_database: str
) -> Iterator[str]:
    """A second database of the consuming side, for the tenants routed away from its own."""
    name = f"acci_billing_other_{uuid.uuid4().hex[:12]}"
    _create_database(acci_server_url, name, template=acci_template_database)
    try:
        yield with_database(acci_server_url, name)
    finally:
        _drop_database(acci_server_url, name)


@pytest.mark.slow  # creates two more databases
async def test_a_consumer_sends_each_command_to_its_tenants_database(
    postgres_store: PostgresEventStore,
    billing_database_url: str,
    other_billing_database_url: str,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    acme, globex = TENANTS
    orders = await write_orders(postgres_store, "t", 4)  # alternating acme and globex.eu
    await bounded(make_relay(postgres_store, transport, domain, settings).catch_up())
    routed = load_settings(tenants={"databases": {"b": other_billing_database_url}, "routes": {globex: "b"}})
    async with await TenantRouter.open(routed, billing_database_url) as router:
        consumer = IntegrationConsumer(
            router.stores[DEFAULT],
            transport,
            billing_consumes(domain),
            settings,
            name=f"billing_{domain}",
            commands=router.event_store,
        )
        assert await bounded(consumer.catch_up()) == 8
        effects = {name: await billing_effects(router.store(name)) for name in (DEFAULT, "b")}
    expected = {(tenant, order): ["AccountOpened", "AccountConfirmed"] for tenant, order in orders}
    assert effects[DEFAULT] == {key: value for key, value in expected.items() if key[0] == acme}
    assert effects["b"] == {key: value for key, value in expected.items() if key[0] == globex}
