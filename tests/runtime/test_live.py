"""NOTIFY wakes subscribers well before their poll interval; the embedded server starts alone."""

from __future__ import annotations

import asyncio
import time

import pytest
from acci import NewEvent, PostgresEventStore, StreamId
from acci.database import DATABASE_URL_ENV, check_server, database_url


async def test_notify_wakes_a_subscription_before_it_polls(acci_database_url: str) -> None:
    async with await PostgresEventStore.open(acci_database_url) as store:
        subscription = store.subscribe(poll_interval=30)
        batches = subscription.batches()
        waiting = asyncio.ensure_future(anext(batches))
        await asyncio.sleep(0.3)  # the subscription has read nothing and is waiting
        started = time.monotonic()
        await store.append(StreamId("t", "S", "s"), [NewEvent({"n": 1}, event_type="E")])
        batch = await asyncio.wait_for(waiting, 10)
        assert time.monotonic() - started < 5
        assert [e.data for e in batch] == [{"n": 1}]
        await batches.aclose()


@pytest.mark.slow
def test_without_a_url_an_embedded_server_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with database_url() as url:
        assert check_server(url) >= 130000
