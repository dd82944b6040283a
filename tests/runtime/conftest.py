from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from acci import EventStore, InMemoryEventStore, PostgresEventStore
from acci.examples import users
from acci.migrations import Migration, runtime_migrations
from acci.store._pg_append import Outcome
from acci.store._prepare import PreparedAppend

from tests.runtime.projection_fixtures import APPLIED_TABLE, HISTORY_TABLE


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """The runtime's, the User example's, and the tables of the projections in projection_fixtures:
    in the template already, the tests' CREATE TABLE IF NOT EXISTS leaves a database as its
    template made it, and it is emptied for the next test instead of dropped and copied anew."""
    tables = Migration("test_projections", 1, "tables", APPLIED_TABLE + ";\n" + HISTORY_TABLE, __file__)
    return [*runtime_migrations(), *users.migrations(), tables]


class BatchedEventStore(PostgresEventStore):
    """Every append through acci.append_batch, even one alone (the store writes a lone append
    with acci.append_event): the contract then covers the batch statement too."""

    async def _flush(self, batch: list[PreparedAppend]) -> list[Outcome]:
        return await self._flush_batch(batch)


#: The PostgreSQL stores every contract test runs against: coalescing on (the default), off, and
#: every append through the batch statement.
POSTGRES_STORES = ["postgres", "postgres-alone", "postgres-batched"]


async def open_store(kind: str, url: str, *, max_size: int = 10) -> PostgresEventStore:
    if kind == "postgres-alone":
        return await PostgresEventStore.open(url, max_size=max_size, coalesce=False)
    if kind == "postgres-batched":
        return await BatchedEventStore.open(url, max_size=max_size)
    return await PostgresEventStore.open(url, max_size=max_size)


@pytest_asyncio.fixture(params=["memory", *POSTGRES_STORES])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    """Every contract test runs against the in-memory store and each PostgreSQL store."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("acci_database_url")
    async with await open_store(request.param, url) as pg:
        yield pg


@pytest.fixture(params=["coalesced", "alone"])
def coalesce(request: pytest.FixtureRequest) -> bool:
    """The PostgreSQL concurrency tests run with coalescing on and off."""
    return bool(request.param == "coalesced")
