"""pytest fixtures that give each test a fresh, migrated PostgreSQL database.

Enable with `pytest_plugins = ["acci.testing"]` in a conftest.py (or `-p acci.testing`).
The server is ACCI_DATABASE_URL when set; otherwise an embedded PostgreSQL started once per
test session. Tests never skip for lack of a server.

A service whose tests need its own migrations (generated read models) overrides the
`acci_migrations` fixture in its conftest.py.

`Scenarios` holds what acci-gen's generated scenario tests share: given events, a command handled,
the events it produced, the stream read back.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from psycopg.rows import dict_row

from acci.commands import Command, CommandHandler, CommandMetadata
from acci.database import check_server, database_url, with_database
from acci.events import DomainEvent, NewEvent
from acci.migrations import Migration, migrate, runtime_migrations
from acci.registry import EventRegistry
from acci.store.base import EventStore
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore
from acci.streams import NO_STREAM, StreamId

_counter = itertools.count()


@pytest.fixture(scope="session")
def acci_server_url() -> Iterator[str]:
    """The URL of the PostgreSQL server the tests use (its maintenance database)."""
    with database_url() as url:
        check_server(url)
        yield url


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """The migrations every test database gets. Override to add a service's own."""
    return runtime_migrations()


class _Templates:
    """Migrated template databases, one per distinct set of migrations (conftest files in
    different directories may override `acci_migrations`), created on first use."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.names: dict[tuple[tuple[str, int, str], ...], str] = {}

    def get(self, migrations: list[Migration]) -> str:
        key = tuple((m.component, m.version, m.checksum) for m in migrations)
        name = self.names.get(key)
        if name is None:
            name = f"acci_template_{os.getpid()}_{len(self.names)}"
            _create_database(self.server_url, name)
            # In a thread of its own: fixtures may be set up from inside a running event loop.
            url = with_database(self.server_url, name)
            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(asyncio.run, migrate(url, migrations)).result()
            self.names[key] = name
        return name

    def drop_all(self) -> None:
        for name in self.names.values():
            _drop_database(self.server_url, name)


@pytest.fixture(scope="session")
def acci_templates(acci_server_url: str) -> Iterator[_Templates]:
    templates = _Templates(acci_server_url)
    try:
        yield templates
    finally:
        templates.drop_all()


@pytest.fixture
def acci_template_database(acci_templates: _Templates, acci_migrations: list[Migration]) -> str:
    """The name of a database migrated with `acci_migrations`, to copy for each test."""
    return acci_templates.get(acci_migrations)


@pytest.fixture
def acci_database_url(acci_server_url: str, acci_template_database: str) -> Iterator[str]:
    """A fresh, migrated database of its own for one test; dropped afterwards."""
    name = f"acci_test_{os.getpid()}_{next(_counter)}"
    _create_database(acci_server_url, name, template=acci_template_database)
    try:
        yield with_database(acci_server_url, name)
    finally:
        _drop_database(acci_server_url, name)


@pytest_asyncio.fixture
async def postgres_store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    """A PostgresEventStore on a fresh database."""
    store = await PostgresEventStore.open(acci_database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def memory_store() -> InMemoryEventStore:
    return InMemoryEventStore()


def _create_database(server_url: str, name: str, *, template: str | None = None) -> None:
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(query)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def append_to(
    store: EventStore, tenant_id: str, aggregate_type: str, aggregate_id: str, *events: DomainEvent
) -> None:
    """Append typed events to a stream, whatever its version (test setup)."""
    await store.append(StreamId(tenant_id, aggregate_type, aggregate_id), [NewEvent.of(e) for e in events])


async def table_rows(store: PostgresEventStore, table: str, tenant_id: str) -> list[dict[str, Any]]:
    """Every row of a read-model table (in `public`) that belongs to the tenant, as dicts."""
    async with store.pool.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        query = sql.SQL("SELECT * FROM {} WHERE tenant_id = %s").format(sql.Identifier(table))
        await cursor.execute(query, [tenant_id])
        return await cursor.fetchall()


class Scenarios:
    """Given events, when a command, then events: the steps of acci-gen's generated scenario tests
    for one domain (its event registry and a tenant)."""

    def __init__(self, registry: EventRegistry, tenant_id: str = "tenant-1") -> None:
        self.registry = registry
        self.tenant_id = tenant_id

    def metadata(
        self,
        *,
        user_id: str = "scenario-user",
        tenant_id: str | None = None,
        correlation_id: str = "scenario",
        timestamp: str = "2024-01-01T00:00:00+00:00",
    ) -> CommandMetadata:
        """The command metadata of a scenario: fixed values, so that expected events can name them."""
        return CommandMetadata(
            user_id=user_id,
            tenant_id=tenant_id or self.tenant_id,
            correlation_id=correlation_id,
            timestamp=datetime.fromisoformat(timestamp),
        )

    async def given(
        self,
        store: EventStore,
        handler: CommandHandler[Any, Any],
        command: Command[Any],
        events: Sequence[DomainEvent],
    ) -> StreamId:
        """Append the given events to the stream the command is for; return that stream."""
        stream = StreamId(
            command.metadata.tenant_id, handler.aggregate_class.aggregate_type, handler.aggregate_id(command)
        )
        if events:
            await store.append(stream, [NewEvent.of(event) for event in events], NO_STREAM)
        return stream

    async def handle(self, handler: CommandHandler[Any, Any], command: Command[Any]) -> list[DomainEvent]:
        """Handle the command and decode its events. An unwritten hand-written decision (a stub that
        raises NotImplementedError) fails the test with the stub's message."""
        try:
            result = await handler.handle(command)
        except NotImplementedError as error:
            pytest.fail(str(error))
        return [self.registry.decode(event) for event in result.events]

    async def stored(self, store: EventStore, stream: StreamId) -> list[DomainEvent]:
        """The stream's events as stored, decoded (and upcast) through the registry."""
        return [self.registry.decode(event) for event in await store.read_stream(stream)]
