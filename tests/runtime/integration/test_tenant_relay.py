"""The relay with tenants across databases: a relay per database, each with its own checkpoint in
its own global order, publishes every tenant's events to the one stream, each tenant's in order."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest
from acci import Command, CommandMetadata
from acci.integration import IntegrationSettings
from acci.integration.jetstream import NatsTransport
from acci.settings import load_settings
from acci.tenants import DEFAULT, TenantRouter

from tests.runtime.integration.domains import PlaceOrder, PlaceOrderHandler
from tests.runtime.integration.helpers import TENANTS, bounded, make_relay, stream_messages

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
