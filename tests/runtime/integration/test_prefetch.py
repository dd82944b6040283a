"""Fetching ahead, on the shared NATS server and real PostgreSQL: the consumer fetches its next
batch while it handles the current one; a batch fetched ahead when it stops is neither lost nor
acknowledged: the next instance gets it at once, not after ack_wait."""

from __future__ import annotations

import pytest
from acci import PostgresEventStore
from acci.integration.jetstream import NatsTransport

from tests.runtime.integration.conftest import fast_settings, with_consumer
from tests.runtime.integration.helpers import (
    billing_effects,
    bounded,
    make_consumer,
    make_relay,
    write_orders,
)

pytestmark = [pytest.mark.nats, pytest.mark.slow]  # about a second: fetches that wait out their poll


async def test_a_batch_fetched_ahead_comes_again_at_once_after_a_stop(
    postgres_store: PostgresEventStore,
    billing_store: PostgresEventStore,
    transport: NatsTransport,
    domain: str,
) -> None:
    # ack_wait far beyond the test's bound: a message left unacknowledged would not come back in time.
    settings = with_consumer(fast_settings(), batch_size=4, ack_wait=120.0)
    await write_orders(postgres_store, "p", 5)  # 10 events: placed and confirmed
    await bounded(make_relay(postgres_store, transport, domain, settings).catch_up())

    first = make_consumer(billing_store, transport, domain, settings)
    source = await first._open()
    assert await bounded(first.step(source)) == 4  # the next 4 are fetched meanwhile
    await bounded(source.close())  # ... and dropped here

    second = make_consumer(billing_store, transport, domain, settings)
    # At least the 6 not handled come again (the batch fetched ahead among them: not acknowledged);
    # one of the first 4 may come too when its acknowledgement, sent without waiting, had not
    # reached the server yet: a replay of its command, without effect.
    assert await bounded(second.catch_up(), 20) >= 6
    effects = await billing_effects(billing_store)
    assert sum(len(e) for e in effects.values()) == 10, effects  # each once, long before ack_wait
