"""The relay and the consumer end to end, on the shared NATS server and real PostgreSQL: the
orders domain's commands become messages in JetStream, in order and with their envelope, and
billing's consumer turns them into its own commands, once in effect."""

from __future__ import annotations

import asyncio
import json
import logging
from decimal import Decimal

import pytest
from acci import Command, CommandMetadata, ConfigurationError, PostgresEventStore
from acci.integration import (
    Ack,
    IntegrationSettings,
    OutgoingMessage,
    TransportError,
    command_id_for,
    fetch_dead_letters,
    relay_status,
)
from acci.integration.jetstream import NatsTransport
from acci.integration.naming import stream_name_for

from tests.runtime.integration.conftest import fast_settings
from tests.runtime.integration.domains import (
    OpenAccount,
    OpenAccountHandler,
)
from tests.runtime.integration.helpers import (
    billing_effects,
    bounded,
    confirm_order,
    eventually,
    make_consumer,
    make_relay,
    place_order,
    stream_messages,
    write_orders,
)

pytestmark = pytest.mark.nats


async def test_relay_publishes_the_log_in_order_with_the_envelope(
    postgres_store: PostgresEventStore, transport: NatsTransport, domain: str, settings: IntegrationSettings
) -> None:
    await write_orders(postgres_store, "o", 3)
    await place_order(postgres_store, "acme", "free", "0")  # mapped to None: not published
    relay = make_relay(postgres_store, transport, domain, settings)
    await relay.start()
    assert await bounded(relay.catch_up()) == 7

    messages = await stream_messages(transport, domain)
    events = [e for e in await postgres_store.read_all(limit=100) if e.aggregate_id != "free"]
    assert [m.headers["Nats-Msg-Id"] for m in messages] == [str(e.id) for e in events]
    first = messages[0]
    assert first.subject == f"{domain}.acme.OrderPlaced"
    assert messages[3].subject == f"{domain}.globex%2Eeu.OrderConfirmed"  # the tenant's "." escaped
    assert json.loads(first.data) == {"order_id": "o-0", "amount": "1.50"}  # no internal field
    event = events[0]
    assert first.headers == {
        "Nats-Msg-Id": str(event.id),
        "Nats-Expected-Stream": stream_name_for(domain),
        "Acci-Event-Id": str(event.id),
        "Acci-Event-Type": "OrderPlaced",
        "Acci-Schema-Version": "1",
        "Acci-Tenant-Id": "acme",
        "Acci-Domain": domain,
        "Acci-Aggregate-Type": "Order",
        "Acci-Aggregate-Id": "o-0",
        "Acci-Aggregate-Version": "1",
        "Acci-Occurred-At": event.timestamp.isoformat(),
        "Acci-Correlation-Id": event.metadata.correlation_id,
        "Acci-Causation-Id": event.metadata.causation_id,
        "Acci-User-Id": "clerk",
        "Content-Type": "application/json",
    }
    status = await relay_status(postgres_store, relay)
    assert (status.lag_events, status.position) == (
        0,
        (await postgres_store.read_all(limit=100))[-1].position,
    )


async def test_a_relay_that_publishes_again_adds_no_duplicate_to_the_stream(
    postgres_store: PostgresEventStore, transport: NatsTransport, domain: str, settings: IntegrationSettings
) -> None:
    await write_orders(postgres_store, "o", 4)
    relay = make_relay(postgres_store, transport, domain, settings)
    await relay.start()
    await bounded(relay.catch_up())
    # As if it had died before its checkpoint: back to the start, everything is published again.
    async with postgres_store.pool.connection() as conn:
        await conn.execute("DELETE FROM acci.checkpoints WHERE name = %s", [relay.name])
    assert await bounded(relay.catch_up()) == 8
    assert len(await stream_messages(transport, domain)) == 8


async def test_a_stream_with_other_settings_is_refused_with_each_difference(
    postgres_store: PostgresEventStore, transport: NatsTransport, domain: str
) -> None:
    await make_relay(postgres_store, transport, domain, fast_settings()).start()
    other = fast_settings(max_age=3600.0)
    with pytest.raises(ConfigurationError) as refused:
        await make_relay(postgres_store, transport, domain, other).start()
    message = str(refused.value)
    assert stream_name_for(domain) in message
    assert "max_age is 0.0, the settings say 3600.0" in message
    assert "duplicate_window" not in message


async def test_the_consumer_turns_messages_into_commands_once_in_effect(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    orders = await write_orders(postgres_store, "o", 5)
    # Not started: the relay creates the stream when its first publish finds none.
    await bounded(make_relay(postgres_store, transport, domain, settings).catch_up())
    consumer = make_consumer(billing_store, transport, domain, settings)
    assert await bounded(consumer.catch_up()) == 10

    expected = {order: ["AccountOpened", "AccountConfirmed"] for order in orders}
    assert await billing_effects(billing_store) == expected
    # By account: the lanes handle different streams of origin in any order.
    opened = {
        e.aggregate_id: e for e in await billing_store.read_all(limit=100) if e.event_type == "AccountOpened"
    }
    placed = [e for e in await postgres_store.read_all(limit=100) if e.event_type == "OrderPlaced"]
    # The publisher's correlation id flows on; the command's id comes from the message id.
    for order_placed in placed:
        account = opened[order_placed.aggregate_id]
        assert account.metadata.correlation_id == order_placed.metadata.correlation_id
        assert account.metadata.causation_id == str(command_id_for(consumer.name, str(order_placed.id)))
        assert account.metadata.user_id == f"integration:{domain}"

    # Every message delivered again (the durable consumer deleted): no second effect.
    await transport.js.delete_consumer(stream_name_for(domain), consumer.name)
    assert await bounded(consumer.catch_up()) == 10
    assert await billing_effects(billing_store) == expected


async def test_failing_messages_are_parked_in_order_and_replayed(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    await place_order(postgres_store, "acme", "free", "0")  # not published: billing has no account
    await confirm_order(postgres_store, "acme", "free")  # ConfirmAccount fails (no account)...
    await confirm_order(postgres_store, "acme", "free")  # ...and this one waits behind it
    await place_order(postgres_store, "acme", "refund", "-5")  # OpenAccount is rejected
    await write_orders(postgres_store, "ok", 1)  # unaffected
    relay = make_relay(postgres_store, transport, domain, settings)
    await relay.start()
    await bounded(relay.catch_up())
    consumer = make_consumer(billing_store, transport, domain, settings)
    assert await bounded(consumer.catch_up()) == 5

    async with billing_store.pool.connection() as conn:
        parked = await fetch_dead_letters(conn, consumer.name)
    # Parked in order within each stream of origin; the lanes may park different streams of
    # origin in any order (sorted is stable: the order within one stays).
    letters = sorted(parked, key=lambda letter: letter.origin)
    assert [(d.origin, d.event_type, d.attempts) for d in letters] == [
        ("acme/Order/free", "OrderConfirmed", 3),
        ("acme/Order/free", "OrderConfirmed", 0),
        ("acme/Order/refund", "OrderPlaced", 1),
    ]
    assert "AggregateNotFound" in letters[0].error
    assert "waits behind an unresolved dead letter of acme/Order/free" in letters[1].error
    assert "CommandRejected: an account cannot open with a negative amount" in letters[2].error
    assert await billing_effects(billing_store) == {("acme", "ok-0"): ["AccountOpened", "AccountConfirmed"]}

    # The operator opens the missing account; the replay confirms it twice, in order.
    await OpenAccountHandler(billing_store).handle(
        Command(OpenAccount(order_id="free", amount=Decimal(0)), CommandMetadata("operator", "acme"))
    )
    result = await bounded(consumer.replay_dead_letters())
    assert result.replayed == 2
    assert [letter.origin for letter in result.failed] == ["acme/Order/refund"]
    effects = await billing_effects(billing_store)
    assert effects[("acme", "free")] == ["AccountOpened", "AccountConfirmed", "AccountConfirmed"]
    assert ("acme", "refund") not in effects
    # A replayed letter is resolved: replaying again changes nothing.
    assert (await bounded(consumer.replay_dead_letters())).replayed == 0
    assert (await billing_effects(billing_store))[("acme", "free")] == effects[("acme", "free")]


async def test_live_relay_and_consumer_with_a_standby_relay(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
    settings: IntegrationSettings,
) -> None:
    stop_first, stop_rest = asyncio.Event(), asyncio.Event()
    first = make_relay(postgres_store, transport, domain, settings)
    standby = make_relay(postgres_store, transport, domain, settings)
    consumer = make_consumer(billing_store, transport, domain, settings)
    tasks = [
        asyncio.create_task(first.run(stop_first)),
        asyncio.create_task(standby.run(stop_rest)),
        asyncio.create_task(consumer.run(stop_rest)),
    ]
    try:
        orders = await write_orders(postgres_store, "a", 3)
        stop_first.set()  # the active relay stops; the standby takes over
        orders += await write_orders(postgres_store, "b", 3)
        expected = {order: ["AccountOpened", "AccountConfirmed"] for order in orders}

        async def all_arrived() -> bool:
            return await billing_effects(billing_store) == expected

        await eventually(all_arrived, 20, "billing's effects of every order")
    finally:
        stop_first.set()
        stop_rest.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert len(await stream_messages(transport, domain)) == 12


async def test_closing_the_transport_is_not_reported_as_a_lost_connection(
    settings: IntegrationSettings, caplog: pytest.LogCaptureFixture
) -> None:
    transport = await NatsTransport.connect(settings.nats)
    with caplog.at_level(logging.INFO, logger="acci.integration"):
        await transport.close()
    assert "disconnected" not in caplog.text


async def test_each_publish_hears_its_own_acknowledgement_or_error(
    transport: NatsTransport, domain: str
) -> None:
    stream = stream_name_for(domain)
    await transport.js.add_stream(name=stream, subjects=[f"{domain}.>"])
    other = f"{stream}_OTHER"
    await transport.js.add_stream(name=other, subjects=[f"{domain}_other.>"])
    try:
        message = OutgoingMessage(f"{domain}.acme.Thing", b"{}", {"Acci-Event-Type": "Thing"}, "m-1")
        stored, again = await transport.publish(stream, [message, message], 5.0)
        assert isinstance(stored, Ack) and isinstance(again, Ack)
        assert (stored.duplicate, again.duplicate, again.sequence) == (False, True, stored.sequence)
        nowhere = OutgoingMessage(f"{domain}_nowhere.acme.Thing", b"{}", {}, "m-2")
        elsewhere = OutgoingMessage(f"{domain}_other.acme.Thing", b"{}", {}, "m-3")
        after = OutgoingMessage(f"{domain}.acme.Thing", b"{}", {}, "m-4")
        refused, wrong_stream, fine = await transport.publish(stream, [nowhere, elsewhere, after], 5.0)
        assert isinstance(refused, TransportError) and "no JetStream stream takes" in str(refused)
        assert isinstance(wrong_stream, TransportError) and "JetStream refused" in str(wrong_stream)
        assert isinstance(fine, Ack) and fine.sequence == stored.sequence + 1
        assert transport._awaited == {}  # nothing left behind
    finally:
        await transport.js.delete_stream(other)
