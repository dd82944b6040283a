"""Coalesced loads: concurrent aggregate loads share one statement, and each caller gets exactly
what it would have read alone (its events, its usable snapshot, its command record, its bounds)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

import pytest
from acci import NO_STREAM, DatabaseError, NewEvent, PostgresEventStore, StreamId, metrics
from acci.store import _pg_load
from acci.store.base import Snapshot, StreamLoad

HASH = "h1"


def _count(histogram: object) -> tuple[float, float]:
    """(observations, sum) of a histogram of acci.metrics."""
    samples = {s.name: s.value for s in next(iter(histogram.collect())).samples}  # type: ignore[attr-defined]
    name = histogram._name  # type: ignore[attr-defined]
    return samples[f"{name}_count"], samples[f"{name}_sum"]


async def _write(store: PostgresEventStore) -> tuple[list[StreamId], uuid.UUID, datetime]:
    """Streams of 0 to 4 events (one with a snapshot at version 2), one command; the time between
    the first and second events of every stream."""
    streams = [StreamId("t", "Thing", f"s{i}") for i in range(12)]
    command = uuid.uuid4()
    for i, stream in enumerate(streams[1:], start=1):
        await store.append(
            stream,
            [NewEvent({"n": 0}, event_type="Made")],
            NO_STREAM,
            command_id=command if i == 3 else None,
            command_type="Make",
        )
    async with store.pool.connection() as conn:
        cur = await conn.execute("SELECT clock_timestamp()")
        row = await cur.fetchone()
        assert row is not None
        middle: datetime = row[0]
    for i, stream in enumerate(streams[1:], start=1):
        for version in range(1, 1 + i % 4):
            await store.append(stream, [NewEvent({"n": version}, event_type="Changed")], version)
    snapshot_stream = streams[6]
    recorded = await store.read_stream(snapshot_stream)
    await store.save_snapshot(Snapshot(snapshot_stream, 2, '{"n": 2}', HASH, recorded[1].timestamp))
    return streams, command, middle


def _same(load: StreamLoad) -> tuple[object, ...]:
    return (
        None if load.snapshot is None else (load.snapshot.version, load.snapshot.state_json),
        [(e.id, e.version, e.event_type) for e in load.events],
        load.command,
    )


async def test_concurrent_loads_read_together_what_each_reads_alone(acci_database_url: str) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=False) as alone:
        streams, command, middle = await _write(alone)

    def asks(store: PostgresEventStore) -> list[Coroutine[Any, Any, StreamLoad]]:
        """Every stream (every other with a snapshot hash, every third asking for the command),
        then bounds: a version, a time, a version below the snapshot's."""
        return [
            *(
                store.load_stream(
                    stream,
                    schema_hash=HASH if i % 2 == 0 else None,
                    command=("t", command) if i % 3 == 0 else None,
                )
                for i, stream in enumerate(streams)
            ),
            store.load_stream(streams[7], to_version=1),
            store.load_stream(streams[7], as_of=middle),
            store.load_stream(streams[6], schema_hash=HASH, to_version=1),
        ]

    async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=False) as alone:
        expected = [await load for load in asks(alone)]
    async with await PostgresEventStore.open(acci_database_url, max_size=4) as together:
        flushes, loads = _count(metrics.LOAD_BATCH_SIZE)
        got = await asyncio.gather(*asks(together))
        after_flushes, after_loads = _count(metrics.LOAD_BATCH_SIZE)

    assert [_same(g) for g in got] == [_same(e) for e in expected]
    assert after_loads - loads == len(got)
    assert after_flushes - flushes < len(got)  # some went together
    assert got[3].command is not None and got[3].command.command_id == command
    assert got[6].snapshot is not None and [e.version for e in got[6].events] == [3]


async def test_load_streams_reads_several_streams_in_one_statement(acci_database_url: str) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=2) as store:
        streams, command, _ = await _write(store)
        picked = [streams[3], streams[6], streams[0]]
        loads = await store.load_streams([(s, HASH) for s in picked], command=("t", command))
        alone = [await store.load_stream(s, schema_hash=HASH) for s in picked]
    assert [(_same(x)[:2]) for x in loads] == [(_same(x)[:2]) for x in alone]
    assert loads[0].command is not None  # asked with the first stream only
    assert loads[1].command is None and loads[2].events == [] and loads[2].snapshot is None


async def test_every_caller_of_a_failed_batch_hears_of_it(acci_database_url: str) -> None:
    store = await PostgresEventStore.open(acci_database_url, max_size=2, pool_timeout=1.0)
    await store.pool.close()
    results = await asyncio.gather(
        *(store.load_stream(StreamId("t", "Thing", f"x{i}")) for i in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, DatabaseError) for r in results), results
    with pytest.raises(DatabaseError):
        await store.load_streams([(StreamId("t", "Thing", "x"), None)])


@pytest.mark.parametrize("statement", ["LOAD_STREAM", "LOAD_STREAMS"])
async def test_the_cached_plan_looks_records_up_by_key_however_small_the_tables_were(
    acci_database_url: str, statement: str
) -> None:
    """A prepared statement keeps the generic plan it made when the tables were empty. A plan that
    hash-joins the requests with a scan of acci.commands (it did once) reads every command record
    on every coalesced load: 18 ms per load at 100,000 records, growing without end. Each record
    and snapshot must be found through its key, whatever the planner believed about the tables."""
    request = _pg_load.LoadRequest(StreamId("t", "Thing", "s1"), HASH, None, None, ("t", uuid.uuid4()))
    params = request.params() if statement == "LOAD_STREAM" else _pg_load.load_params([request] * 16)
    async with (
        await PostgresEventStore.open(acci_database_url, max_size=1) as store,
        store.pool.connection() as conn,
    ):
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        cur = await conn.execute(f"EXPLAIN {getattr(_pg_load, statement)}", params)
        plan = "\n".join(row[0] for row in await cur.fetchall())
        await conn.execute("RESET plan_cache_mode")
    for table in ("commands", "snapshots", "events"):
        assert f"Seq Scan on {table}" not in plan, plan
        assert f" on {table} " in plan, plan  # read through an index
