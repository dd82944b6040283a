"""psycopg errors become ACCI errors at one boundary, by SQLSTATE, with messages that help."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from acci import DatabaseError, NewEvent, PostgresEventStore, StreamId, TransientDatabaseError
from acci.database import with_database
from acci.store._pg_errors import translate
from acci.testing import _create_database, _drop_database


@pytest.fixture
def unmigrated_database(acci_server_url: str) -> Iterator[str]:
    _create_database(acci_server_url, "acci_unmigrated")
    try:
        yield with_database(acci_server_url, "acci_unmigrated")
    finally:
        _drop_database(acci_server_url, "acci_unmigrated")


async def test_an_unmigrated_database_says_to_migrate(unmigrated_database: str) -> None:
    async with await PostgresEventStore.open(unmigrated_database) as store:
        with pytest.raises(DatabaseError, match=r"appending events on User 'u' .*acci migrate") as caught:
            await store.append(StreamId("t", "User", "u"), [NewEvent({}, event_type="X")])
    assert caught.value.sqlstate == "3F000"
    assert isinstance(caught.value.__cause__, psycopg.Error)


def test_serialization_failures_are_transient(acci_database_url: str) -> None:
    with psycopg.connect(acci_database_url) as conn:
        try:
            conn.execute("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$")
        except psycopg.Error as error:
            translated = translate(error, "doing work")
    assert isinstance(translated, TransientDatabaseError)
    assert translated.sqlstate == "40001"
    assert "Try again" in str(translated)


async def test_an_unreachable_server_is_transient() -> None:
    with pytest.raises(TransientDatabaseError, match="connecting to the event store"):
        await PostgresEventStore.open("postgresql://nobody@127.0.0.1:1/none", max_size=1, connect_timeout=1)
