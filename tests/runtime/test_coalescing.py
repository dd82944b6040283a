"""Coalesced appends: concurrent appends share one statement and one commit, and each caller keeps
exactly the outcome it would have alone."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import psycopg
import pytest
from acci import (
    ANY,
    NO_STREAM,
    AcciError,
    CoalesceSettings,
    CommandIdReused,
    ConcurrencyError,
    ConfigurationError,
    DuplicateCommandError,
    EventMetadata,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    StreamId,
    metrics,
)
from acci.examples.users import UserCreated, UserProjection
from acci.store._coalesce import Coalescer
from psycopg import sql
from psycopg.rows import TupleRow

BLOCKER = StreamId("t", "Blocker", "b")
ONE_AT_A_TIME = CoalesceSettings(max_in_flight=1)


def event(n: int, event_type: str = "Thing") -> NewEvent:
    return NewEvent({"n": n}, event_type=event_type)


@asynccontextmanager
async def held_flush(store: PostgresEventStore, url: str) -> AsyncIterator[None]:
    """While the block runs, a flush is in flight and stuck on a row lock held here: appends made
    in the block queue up, and go in one batch when the block ends."""
    await store.append(BLOCKER, [event(0)], NO_STREAM)
    async with await psycopg.AsyncConnection.connect(url) as holder:
        await holder.execute(
            "SELECT 1 FROM acci.streams WHERE tenant_id = 't' AND aggregate_type = 'Blocker' FOR UPDATE"
        )
        stuck = asyncio.create_task(store.append(BLOCKER, [event(1)], 1))
        await _until_waiting_on_a_lock(url)
        try:
            yield
            await asyncio.sleep(0.05)  # let the appends of the block queue up
        finally:
            await holder.rollback()
            await asyncio.wait_for(stuck, 10)


async def _until_waiting_on_a_lock(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        for _ in range(500):
            cur = await watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'"
            )
            row = await cur.fetchone()
            if row and row[0]:
                return
            await asyncio.sleep(0.01)
    raise AssertionError("the first flush never waited on the held lock")


async def in_one_batch(
    store: PostgresEventStore, url: str, appends: Sequence[Callable[[], Awaitable[Any]]]
) -> list[Any]:
    """Run `appends` so that they are queued together behind a held flush; their outcomes."""
    async with held_flush(store, url):
        tasks = [asyncio.create_task(_outcome(make())) for make in appends]
    return list(await asyncio.wait_for(asyncio.gather(*tasks), 10))


async def _outcome(append: Awaitable[Any]) -> Any:
    try:
        return await append
    except AcciError as error:
        return error


def _observed_batches() -> float:
    [histogram] = metrics.APPEND_BATCH_SIZE.collect()
    return float(next(s.value for s in histogram.samples if s.name.endswith("_count")))


async def test_a_batch_keeps_each_callers_outcome(acci_database_url: str) -> None:
    a, b, c, d, e = (StreamId("t", "S", name) for name in "abcde")
    command, nothing = uuid.uuid4(), uuid.uuid4()
    mine = EventMetadata(correlation_id="mine", user_id="u1", extra={"ip": "::1"})
    async with await PostgresEventStore.open(acci_database_url, coalesce=ONE_AT_A_TIME) as store:
        await store.append(a, [event(1), event(2)], NO_STREAM)
        batches_before = _observed_batches()
        outcomes = await in_one_batch(
            store,
            acci_database_url,
            [
                lambda: store.append(a, [event(3)], 2),
                lambda: store.append(a, [event(3)], 2),  # the first moved it on: a conflict
                lambda: store.append(a, [event(4)], 3),  # follows the first in the same batch
                lambda: store.append(b, [event(1)], NO_STREAM, metadata=mine),
                lambda: store.append(b, [event(1)], NO_STREAM),
                lambda: store.append(
                    c, [event(1), event(2), event(3)], ANY, command_id=command, command_type="Do"
                ),
                lambda: store.append(d, [event(1)], ANY, command_id=command, command_type="Do"),
                lambda: store.append(c, [event(4)], ANY, command_id=command, command_type="Do"),
                lambda: store.append(e, [], ANY, command_id=nothing, command_type="Noop"),
            ],
        )
        assert _observed_batches() - batches_before == 3  # the blocker alone, held, then the batch
        a3, a_conflict, a4, b1, b_conflict, c123, d_reused, c_repeat, e_none = outcomes
        assert [r.version for r in a3] == [3] and [r.version for r in a4] == [4]
        assert isinstance(a_conflict, ConcurrencyError) and (a_conflict.expected, a_conflict.actual) == (2, 3)
        assert b1[0].metadata == EventMetadata("mine", "u1", None, "t", {"ip": "::1"})
        assert isinstance(b_conflict, ConcurrencyError) and (b_conflict.expected, b_conflict.actual) == (0, 1)
        assert [r.version for r in c123] == [1, 2, 3]
        assert isinstance(d_reused, CommandIdReused) and d_reused.first.stream == c
        assert isinstance(c_repeat, DuplicateCommandError)
        assert c_repeat.record is not None and (
            c_repeat.record.first_version,
            c_repeat.record.last_version,
        ) == (1, 3)
        assert e_none == []
        written = [*a3, *a4, *b1, *c123]
        assert len({r.position.transaction_id for r in written}) == 1  # one statement, one commit
        for stream in (a, b, c):
            stored = await store.read_stream(stream)
            assert [r.version for r in stored] == list(range(1, len(stored) + 1))
        assert await store.read_stream(b) == b1
        assert await store.read_stream(c) == c123
        assert await store.read_stream(d) == []
        record = await store.find_command("t", nothing)
        assert record is not None and (record.first_version, record.last_version) == (1, 0)


class FailingUserView(UserProjection):
    """user_view, inline, failing for a user named "boom"."""

    inline: ClassVar[bool] = True

    async def apply(
        self, conn: psycopg.AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        if event.data.get("name") == "boom":
            raise ValueError("no booms in user_view")
        await super().apply(conn, table, event)


async def test_an_inline_projection_failing_fails_only_its_append(acci_database_url: str) -> None:
    fallbacks = metrics.APPEND_BATCH_FALLBACKS._value.get()
    async with await PostgresEventStore.open(
        acci_database_url, coalesce=ONE_AT_A_TIME, projections=[FailingUserView()]
    ) as store:

        def create(name: str) -> Callable[[], Coroutine[Any, Any, list[RecordedEvent]]]:
            created = UserCreated(user_id=name, email=f"{name}@example.com", name=name)
            return lambda: store.append(StreamId("t", "User", name), [NewEvent.of(created)], NO_STREAM)

        async with held_flush(store, acci_database_url):
            tasks = [asyncio.create_task(create(name)()) for name in ("ada", "boom", "bob")]
        ada, boom, bob = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
        assert isinstance(boom, ValueError) and "no booms" in str(boom)
        assert isinstance(ada, list) and isinstance(bob, list)
        assert metrics.APPEND_BATCH_FALLBACKS._value.get() == fallbacks + 1
        assert await store.read_stream(StreamId("t", "User", "boom")) == []
        async with store.pool.connection() as conn:
            rows = await (await conn.execute("SELECT name FROM examples.user_view ORDER BY name")).fetchall()
        assert rows == [("ada",), ("bob",)]  # read-your-writes for the others


async def test_a_duplicate_event_id_in_a_batch_fails_only_its_append(acci_database_url: str) -> None:
    taken = event(0)
    streams = [StreamId("t", "S", f"s{i}") for i in range(4)]
    async with await PostgresEventStore.open(acci_database_url, coalesce=ONE_AT_A_TIME) as store:
        await store.append(streams[0], [taken], NO_STREAM)
        first, again, last = await in_one_batch(
            store,
            acci_database_url,
            [
                lambda: store.append(streams[1], [event(1)], NO_STREAM),
                lambda: store.append(streams[2], [event(2), taken], NO_STREAM),
                lambda: store.append(streams[3], [event(3)], NO_STREAM),
            ],
        )
        assert isinstance(first, list) and isinstance(last, list)
        assert isinstance(again, AcciError)
        assert await store.read_stream(streams[2]) == []
        assert await store.stream_version(streams[2]) == 0


_BATCH = """
SELECT out_part, out_status, out_version FROM acci.append_batch(
    %s::int[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::int[], NULL, %s::text[], NULL, NULL,
    %s::uuid[], %s::text[], NULL, %s::int[], %s::uuid[], %s::text[], %s::int[], %s::text[], false)
 WHERE out_part IS NOT NULL ORDER BY out_part
"""


async def test_an_entry_of_several_streams_is_all_or_nothing(acci_database_url: str) -> None:
    """The batch statement takes entries of several parts (an atomic append to several streams):
    when one part fails, the parts before it are undone, and the other entries commit."""
    command = uuid.uuid4()
    async with await psycopg.AsyncConnection.connect(acci_database_url, autocommit=True) as conn:
        await conn.execute(
            "INSERT INTO acci.streams (tenant_id, aggregate_type, aggregate_id, version) "
            "VALUES ('t', 'S', 'moved', 5), ('t', 'S', 'existing', 2)"
        )
        rows = await (
            await conn.execute(
                _BATCH,
                [
                    [1, 1, 1, 2],
                    ["t"] * 4,
                    ["S"] * 4,
                    ["new", "existing", "moved", "other"],
                    [0, 2, 4, 0],
                    [1, 1, 1, 1],
                    ["c"] * 4,
                    [command, None, None, None],
                    ["Many", None, None, None],
                    [1, 2, 3, 4],
                    [uuid.uuid4() for _ in range(4)],
                    ["E"] * 4,
                    [1] * 4,
                    ['{"n": 1}'] * 4,
                ],
            )
        ).fetchall()
        assert rows == [(3, 1, 5), (4, 0, 0)]  # entry 1 failed on its third part; entry 2 appended
        versions = await (
            await conn.execute("SELECT aggregate_id, version FROM acci.streams ORDER BY aggregate_id")
        ).fetchall()
        assert versions == [("existing", 2), ("moved", 5), ("other", 1)]
        cur = await conn.execute("SELECT count(*) FROM acci.commands WHERE command_id = %s", [command])
        assert await cur.fetchone() == (0,)
        cur = await conn.execute("SELECT aggregate_id FROM acci.events")
        assert await cur.fetchall() == [("other",)]


async def test_concurrent_appends_share_commits_only_when_coalescing(acci_database_url: str) -> None:
    for coalesce, shared in ((True, True), (False, False)):
        async with await PostgresEventStore.open(acci_database_url, max_size=4, coalesce=coalesce) as store:
            results = await asyncio.gather(
                *(
                    store.append(StreamId("t", f"C{int(coalesce)}", f"s{i}"), [event(i)], NO_STREAM)
                    for i in range(20)
                )
            )
        transactions = {recorded.position.transaction_id for (recorded,) in results}
        assert (len(transactions) < 20) == shared


# -- the coalescer itself ------------------------------------------------------------------------


class Flushes:
    """A flush function that records its batches; it can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def __call__(self, requests: list[int]) -> list[int | BaseException]:
        self.batches.append(list(requests))
        await self.release.wait()
        return [ValueError(f"odd {r}") if r % 2 else r * 10 for r in requests]


async def _queued(coalescer: Coalescer[int, int], values: Sequence[int]) -> list[asyncio.Task[int]]:
    tasks = [asyncio.create_task(coalescer.submit(v)) for v in values]
    await asyncio.sleep(0)
    return tasks


async def test_a_lone_request_is_flushed_at_once_and_outcomes_go_to_their_callers() -> None:
    flushes = Flushes()
    coalescer = Coalescer[int, int](flushes, CoalesceSettings(), lambda r: 1)
    assert await coalescer.submit(2) == 20
    with pytest.raises(ValueError, match="odd 3"):
        await coalescer.submit(3)
    assert flushes.batches == [[2], [3]]


async def test_the_bounds_of_a_batch() -> None:
    flushes = Flushes()
    settings = CoalesceSettings(max_batch=3, max_events=5, max_in_flight=1)
    coalescer = Coalescer[int, int](flushes, settings, lambda r: 4 if r == 6 else 1)
    flushes.release.clear()
    tasks = await _queued(coalescer, [0, 2, 4, 6, 8, 10, 12, 14])
    flushes.release.set()
    assert await asyncio.wait_for(asyncio.gather(*tasks), 5) == [0, 20, 40, 60, 80, 100, 120, 140]
    # The first alone (nothing was in flight); then at most 3 appends and 5 events per flush.
    assert flushes.batches == [[0], [2, 4], [6, 8], [10, 12, 14]]


async def test_a_stuck_flush_lets_another_start_after_max_wait() -> None:
    flushes = Flushes()
    coalescer = Coalescer[int, int](flushes, CoalesceSettings(max_in_flight=2, max_wait=0.01), lambda r: 1)
    flushes.release.clear()
    first = await _queued(coalescer, [0])
    queued = await _queued(coalescer, [2, 4])
    for _ in range(500):  # a second flush starts while the first is stuck
        if len(flushes.batches) == 2:
            break
        await asyncio.sleep(0.01)
    assert flushes.batches == [[0], [2, 4]]
    flushes.release.set()
    assert await asyncio.wait_for(asyncio.gather(*first, *queued), 5) == [0, 20, 40]


async def test_a_cancelled_caller_leaves_the_queue_and_close_drains_it() -> None:
    flushes = Flushes()
    coalescer = Coalescer[int, int](flushes, CoalesceSettings(max_in_flight=1), lambda r: 1)
    flushes.release.clear()
    tasks = await _queued(coalescer, [0, 2, 4])
    tasks[1].cancel()
    await asyncio.sleep(0)
    drained = asyncio.create_task(coalescer.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    flushes.release.set()
    await asyncio.wait_for(drained, 5)
    assert tasks[0].result() == 0 and tasks[2].result() == 40
    assert flushes.batches == [[0], [4]]


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="max_batch"):
        CoalesceSettings(max_batch=0)
