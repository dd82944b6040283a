"""Public enums and objects end to end, through the generated code of two golden cases (acci-gen
`public_types:`): shipping (tests/generator/cases/integration) stores ShipmentPrepared with an
internal enum and objects; its relay publishes ParcelPrepared v2 with the public Service enum and
ParcelSize objects to JetStream; packing (cases/consume_versions) consumes it from its vendored
contract and its command carries its own Mode enum and Box objects. Real NATS and PostgreSQL,
each domain its own database."""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from acci import Command, CommandMetadata, PostgresEventStore
from acci.integration import (
    Consumes,
    IntegrationConsumer,
    IntegrationRelay,
    IntegrationSettings,
    Publisher,
)
from acci.integration.jetstream import NatsTransport

from tests.runtime.integration.helpers import bounded, stream_messages

pytestmark = pytest.mark.nats

CASES = Path(__file__).resolve().parents[2] / "generator" / "cases"


@pytest.fixture
def golden(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    """The generated modules of both cases (on the path for this test only)."""
    monkeypatch.syspath_prepend(str(CASES / "integration" / "expected"))
    monkeypatch.syspath_prepend(str(CASES / "consume_versions" / "expected"))
    names = ["shipping.commands", "shipping.events", "shipping.handlers", "shipping.integration"]
    names += ["shipping.registry", "packing.events", "packing.integration"]
    yield {name: importlib.import_module(name) for name in names}
    for name in [m for m in sys.modules if m.split(".")[0] in ("packing", "shipping")]:
        del sys.modules[name]


async def test_a_public_enum_and_objects_travel_from_publisher_to_consumer(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
    golden: dict[str, ModuleType],
) -> None:
    commands, events = golden["shipping.commands"], golden["shipping.events"]
    shipping, packing = golden["shipping.integration"], golden["packing.integration"]
    shipment_id = uuid.uuid4()
    size = events.Dimensions(weight_grams=1200, length_cm=30, note="fragile, internal")
    prepare = commands.PrepareShipment(
        shipment_id=shipment_id,
        order_id=uuid.uuid4(),
        carrier=events.Carrier.courier,
        source="depot",
        correlation="c-1",
        size=size,
        sizes=[size],
    )
    await (
        golden["shipping.handlers"]
        .PrepareShipmentHandler(postgres_store)
        .handle(Command(prepare, CommandMetadata("clerk", "acme")))
    )
    assert shipping.PUBLISHER is not None
    # The generated publications and reactions, under this test's own domain (its own stream).
    publisher = Publisher(domain, shipping.PUBLISHER.publications)
    relay = IntegrationRelay(
        postgres_store, transport, publisher, golden["shipping.registry"].REGISTRY, settings
    )
    assert await bounded(relay.catch_up()) == 1
    [message] = await stream_messages(transport, domain)
    payload = json.loads(message.data)
    assert message.headers["Acci-Schema-Version"] == "2"
    assert payload["service"] == "courier"
    assert payload["size"] == {"weight_grams": "1200", "length_cm": 30}  # no internal note

    consumes = Consumes(domain, packing.CONSUMERS["packing_from_shipping"].reactions)
    consumer = IntegrationConsumer(billing_store, transport, consumes, settings, name=f"packing_{domain}")
    assert await bounded(consumer.catch_up()) == 1
    [opened] = await billing_store.read_all(limit=10)
    assert opened.event_type == "SlipOpened"
    data = json.loads(opened.data_json)
    assert data["slip_id"] == str(shipment_id)
    assert (data["mode"], data["source_version"]) == ("courier", 2)  # shipping's Service -> packing's Mode
    assert data["box"] == {"weight_grams": "1200", "length_cm": 30}
    assert data["boxes"] == [data["box"]]
    assert Decimal(data["box"]["weight_grams"]) == Decimal(1200)
