"""A consumer reacting to two versions of one public event type, as during its publisher's
migration from v1 to v2 (acci-gen: a list of reactions under `consumes.<publisher>.on.<Type>`):
the orders domain publishes OrderPlaced v1, is redeployed publishing v2 (the relay's checkpoint
carries over), and billing turns each message into its command through the reaction of the
message's version. Real NATS and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

import pytest
from acci import PostgresEventStore
from acci.integration import (
    Consumes,
    Envelope,
    IntegrationConsumer,
    IntegrationEvent,
    IntegrationRelay,
    IntegrationSettings,
    Publication,
    Publisher,
    Reaction,
)
from acci.integration.jetstream import NatsTransport

from tests.runtime.integration.domains import (
    OpenAccount,
    OpenAccountHandler,
    OrderPlaced,
    OrderPlacedV1,
    open_account,
    order_placed_v1,
    order_registry,
)
from tests.runtime.integration.helpers import billing_effects, bounded, place_order, stream_messages

pytestmark = [pytest.mark.nats, pytest.mark.slow]  # about a second: two relays and a consumer


class OrderPlacedV2(IntegrationEvent):
    """v2 renamed `amount` to `total` and added the currency: a breaking change, a new version."""

    event_type: ClassVar[str] = "OrderPlaced"
    schema_version: ClassVar[int] = 2
    order_id: str
    total: Decimal
    currency: str


def order_placed_v2(event: OrderPlaced) -> OrderPlacedV2:
    return OrderPlacedV2(order_id=event.order_id, total=event.amount, currency="EUR")


def open_account_v2(event: OrderPlacedV2, envelope: Envelope) -> OpenAccount:
    # Marks the version in the amount, so that the test sees which reaction made the command.
    return OpenAccount(order_id=event.order_id, amount=event.total + Decimal("0.002"))


async def test_each_version_of_a_consumed_type_becomes_its_command(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    def relay(version: Publication[OrderPlaced, IntegrationEvent]) -> IntegrationRelay:
        return IntegrationRelay(
            postgres_store, transport, Publisher(domain, [version]), order_registry, settings
        )

    await place_order(postgres_store, "acme", "before", "3.00")
    await bounded(relay(Publication(OrderPlaced, OrderPlacedV1, order_placed_v1)).catch_up())
    # The publisher's next release publishes v2 from where v1 stopped.
    await place_order(postgres_store, "acme", "after", "4.00")
    assert await bounded(relay(Publication(OrderPlaced, OrderPlacedV2, order_placed_v2)).catch_up()) == 1
    messages = await stream_messages(transport, domain)
    assert [(m.headers["Acci-Aggregate-Id"], m.headers["Acci-Schema-Version"]) for m in messages] == [
        ("before", "1"),
        ("after", "2"),
    ]

    consumes = Consumes(
        domain,
        [
            Reaction(OrderPlacedV1, open_account, OpenAccountHandler),
            Reaction(OrderPlacedV2, open_account_v2, OpenAccountHandler),
        ],
    )
    consumer = IntegrationConsumer(billing_store, transport, consumes, settings, name=f"billing_{domain}")
    assert await bounded(consumer.catch_up()) == 2
    assert await billing_effects(billing_store) == {
        ("acme", "before"): ["AccountOpened"],
        ("acme", "after"): ["AccountOpened"],
    }
    amounts = {e.aggregate_id: e.data_json for e in await billing_store.read_all(limit=10)}
    assert '"amount":"3.00"' in amounts["before"].replace(" ", "")  # v1's reaction
    assert '"amount":"4.002"' in amounts["after"].replace(" ", "")  # v2's reaction
