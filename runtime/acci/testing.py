"""pytest fixtures that give each test a fresh, migrated PostgreSQL database.

Enable with `pytest_plugins = ["acci.testing"]` in a conftest.py (or `-p acci.testing`).
The server is ACCI_DATABASE_URL when set; otherwise an embedded PostgreSQL started once per
test session. Tests never skip for lack of a server.

A service whose tests need its own migrations (generated read models) overrides the
`acci_migrations` fixture in its conftest.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql

from acci.database import check_server, database_url, with_database
from acci.migrations import Migration, migrate, runtime_migrations
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore

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
