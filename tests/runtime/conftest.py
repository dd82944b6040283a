from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from acci import EventStore, InMemoryEventStore, PostgresEventStore


@pytest_asyncio.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[EventStore]:
    """Every contract test runs against both stores."""
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    url = request.getfixturevalue("acci_database_url")
    async with await PostgresEventStore.open(url) as pg:
        yield pg
