"""Fixtures of the integration-event tests: the shared NATS server (a stream per test, named after
a domain of its own), the publishing domain's database (postgres_store) and the consuming domain's
own database."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from acci import PostgresEventStore
from acci.database import with_database
from acci.integration import (
    ConsumerSettings,
    IntegrationSettings,
    NatsSettings,
    RelaySettings,
    StreamSettings,
)
from acci.integration.jetstream import NatsTransport
from acci.integration.naming import stream_name_for
from acci.testing import _create_database, _drop_database, _Templates

_counter = itertools.count()


@pytest.fixture
def domain() -> str:
    """A publishing domain of this test's own: its stream and subjects collide with no other."""
    return f"orders_{uuid.uuid4().hex[:12]}"


def fast_settings(url: str | None = None, **stream: object) -> IntegrationSettings:
    """Short retry delays and polls, so that the tests spend their time on work."""
    nats = NatsSettings(
        reconnect_wait=0.1,
        publish_timeout=2.0,
        stream=StreamSettings.model_validate({"duplicate_window": 300.0, **stream}),
    )
    return IntegrationSettings(
        nats=nats.model_copy(update={"url": url}) if url else nats,
        relay=RelaySettings(retry_delay=0.02, max_retry_delay=0.5, poll_interval=0.1, takeover_interval=0.1),
        consumer=ConsumerSettings(
            retry_delay=0.01, max_retry_delay=0.2, poll_interval=0.2, takeover_interval=0.1, ack_wait=5.0
        ),
    )


def with_consumer(settings: IntegrationSettings, **changes: object) -> IntegrationSettings:
    """`settings` with some of the consumer's settings changed."""
    return settings.model_copy(update={"consumer": settings.consumer.model_copy(update=changes)})


@pytest.fixture
def settings() -> IntegrationSettings:
    return fast_settings()


@pytest_asyncio.fixture
async def transport(settings: IntegrationSettings, domain: str) -> AsyncIterator[NatsTransport]:
    """A connection to the shared NATS server; the test's stream is deleted afterwards."""
    connected = await NatsTransport.connect(settings.nats)
    try:
        yield connected
    finally:
        with contextlib.suppress(Exception):  # the test may not have created it
            await connected.js.delete_stream(stream_name_for(domain))
        await connected.close()


@pytest.fixture
def billing_database_url(
    acci_server_url: str, acci_templates: _Templates, acci_template_database: str
) -> Iterator[str]:
    """The consuming domain's own database (migrated like the test's)."""
    name = f"acci_billing_{os.getpid()}_{next(_counter)}"
    _create_database(acci_server_url, name, template=acci_template_database)
    try:
        yield with_database(acci_server_url, name)
    finally:
        _drop_database(acci_server_url, name)


@pytest_asyncio.fixture
async def billing_store(billing_database_url: str) -> AsyncIterator[PostgresEventStore]:
    store = await PostgresEventStore.open(billing_database_url)
    try:
        yield store
    finally:
        await store.close()
