"""The parts of integration events that need no server: subjects, the envelope, the windows of
concurrent publishes, configuration errors, command ids."""

from __future__ import annotations

import uuid

import pytest
from acci import ConfigurationError
from acci.integration import (
    Consumes,
    IntegrationError,
    Publication,
    Publisher,
    command_id_for,
    parse_envelope,
)
from acci.integration.consumer import COMMAND_ID_NAMESPACE, _CommandIds
from acci.integration.envelope import envelope_headers
from acci.integration.naming import subject_for, tenant_token
from acci.integration.relay import _windows
from acci.integration.transport import OutgoingMessage

from tests.runtime.integration.domains import (
    OrderPlaced,
    OrderPlacedV1,
    billing_consumes,
    order_placed_v1,
)
from tests.runtime.integration.helpers import recorded_order_placed


def test_tenants_become_one_subject_token_each() -> None:
    assert tenant_token("acme-1_x") == "acme-1_x"
    assert tenant_token("globex.eu") == "globex%2Eeu"
    assert tenant_token("a b*>é%") == "a%20b%2A%3E%C3%A9%25"
    assert subject_for("ordering", "a.b", "OrderPlaced") == "ordering.a%2Eb.OrderPlaced"
    # Distinct tenants stay distinct.
    assert tenant_token("a%2Eb") != tenant_token("a.b")


def test_the_envelope_survives_its_headers() -> None:
    event = recorded_order_placed()
    envelope = parse_envelope(envelope_headers("ordering", event, "OrderPlaced", 2))
    assert (envelope.event_id, envelope.schema_version, envelope.origin) == (event.id, 2, "acme/Order/o-1")
    assert (envelope.aggregate_version, envelope.correlation_id, envelope.causation_id) == (
        3,
        "corr",
        "cause",
    )
    assert envelope.user_id is None
    assert envelope.occurred_at == event.timestamp


def test_a_message_without_the_envelope_is_named_for_what_it_lacks() -> None:
    with pytest.raises(IntegrationError, match="Acci-Event-Id, Acci-Event-Type"):
        parse_envelope({"Acci-Tenant-Id": "acme"})


def test_a_window_never_holds_two_events_of_one_stream_of_origin() -> None:
    def message(n: int) -> OutgoingMessage:
        return OutgoingMessage(f"s.{n}", b"", {}, str(n))

    batch = [(message(n), origin) for n, origin in enumerate(["a", "b", "a", "c", "d", "e", "f"])]
    windows = _windows(batch, 3)
    assert [[m.message_id for m in w] for w in windows] == [["0", "1"], ["2", "3", "4"], ["5", "6"]]


def test_configuration_mistakes_are_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="lower-case letters"):
        Publisher("Ordering", [])
    with pytest.raises(ConfigurationError, match="publishes its event OrderPlaced twice"):
        Publisher("ordering", [Publication(OrderPlaced, OrderPlacedV1, order_placed_v1)] * 2)
    with pytest.raises(ConfigurationError, match=r"name OrderConfirmed v1, OrderPlaced v1 more than once"):
        Consumes("ordering", list(billing_consumes("ordering").reactions) * 2)


def test_command_ids_are_the_same_for_every_delivery_and_differ_by_consumer() -> None:
    assert command_id_for("billing", "m-1") == command_id_for("billing", "m-1")
    assert command_id_for("billing", "m-1") != command_id_for("shipping", "m-1")
    assert command_id_for("billing", "m-1").version == 5
    # Stable across releases: the id a message got before is the id it gets now.
    assert command_id_for("billing", "m-1") == uuid.UUID("62e5e5d8-5ed8-5f7b-8747-5b104c7f313e")


@pytest.mark.parametrize("message_id", ["m-1", "", "ORDERS:17", "8c0f…ü", str(uuid.uuid4())])
def test_a_consumer_derives_the_command_ids_uuid5_gives(message_id: str) -> None:
    expected = uuid.uuid5(COMMAND_ID_NAMESPACE, f"billing/{message_id}")
    assert _CommandIds("billing")(message_id) == command_id_for("billing", message_id) == expected
