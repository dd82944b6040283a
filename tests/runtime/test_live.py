"""NOTIFY wakes subscribers well before their poll interval; the embedded server starts alone."""

from __future__ import annotations

import asyncio
import time

import psycopg
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


@pytest.mark.slow
def test_an_embedded_server_over_tcp_takes_a_pipelined_message_of_megabytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `./dev bench` needs: over the embedded server's Unix socket, libpq in pipeline mode
    hangs on one message larger than the socket's buffer (the eventsourcing library's batch
    insert); over TCP it does not. Its settings (here: no fsync) are applied too."""
    monkeypatch.delenv(DATABASE_URL_ENV, raising=False)
    with database_url(tcp=True, settings={"fsync": "off"}) as url:
        assert url.startswith("postgresql://postgres@127.0.0.1:")
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
            big = ["x" * 300] * 10_000  # about 3 MB in one Bind message
            with conn.pipeline() as pipeline, conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT cardinality(%s::text[])", [big])
                pipeline.sync()
                assert cur.fetchone() == (10_000,)
