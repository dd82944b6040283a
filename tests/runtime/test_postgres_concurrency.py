"""Real concurrency against PostgreSQL: racing writers, and a transaction that commits late."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from acci import NO_STREAM, ConcurrencyError, NewEvent, PostgresEventStore, StreamId


async def test_racing_writers_exactly_one_wins(acci_database_url: str, coalesce: bool) -> None:
    """Many rounds of writers appending to one stream with the same expected version."""
    writers, rounds = 4, 25
    async with await PostgresEventStore.open(
        acci_database_url, min_size=writers, max_size=writers, coalesce=coalesce
    ) as store:
        stream = StreamId("t", "Account", "acc-1")
        await store.append(stream, [NewEvent({"round": 0}, event_type="Opened")], NO_STREAM)
        for round_ in range(1, rounds + 1):
            expected = round_
            results = await asyncio.gather(
                *(
                    store.append(
                        stream, [NewEvent({"round": round_, "w": w}, event_type="Deposited")], expected
                    )
                    for w in range(writers)
                ),
                return_exceptions=True,
            )
            wins = [r for r in results if isinstance(r, list)]
            losses = [r for r in results if isinstance(r, ConcurrencyError)]
            assert len(wins) == 1, results
            assert len(losses) == writers - 1
            assert all((e.expected, e.actual) == (expected, expected + 1) for e in losses)
        events = await store.read_stream(stream)
        assert [e.version for e in events] == list(range(1, rounds + 2))

        # The losers burned no global position: positions are 1..n without gaps.
        async with store.pool.connection() as conn:
            row = await (
                await conn.execute("SELECT count(*), max(global_position) FROM acci.events")
            ).fetchone()
        assert row == (rounds + 1, rounds + 1)


async def test_racing_creators_exactly_one_creates(acci_database_url: str, coalesce: bool) -> None:
    async with await PostgresEventStore.open(
        acci_database_url, min_size=4, max_size=4, coalesce=coalesce
    ) as store:
        for i in range(20):
            stream = StreamId("t", "User", f"u{i}")
            results = await asyncio.gather(
                *(
                    store.append(stream, [NewEvent({"w": w}, event_type="Created")], NO_STREAM)
                    for w in range(4)
                ),
                return_exceptions=True,
            )
            assert sum(isinstance(r, list) for r in results) == 1
            assert sum(isinstance(r, ConcurrencyError) for r in results) == 3


_APPEND_RAW = """
SELECT * FROM acci.append_events(%s, %s, %s, NULL, %s::uuid[], %s::text[], %s::int[], %s::text[],
                                 NULL, 'c', NULL, NULL, NULL, NULL, false)
"""


async def test_late_commit_is_never_skipped(acci_database_url: str, coalesce: bool) -> None:
    """A transaction takes its position first but commits last; a reader that checkpoints by
    position must still see every event exactly once."""
    async with await PostgresEventStore.open(acci_database_url, coalesce=coalesce) as store:
        late = await psycopg.AsyncConnection.connect(acci_database_url)
        try:
            # The late writer appends (taking the lowest position) and keeps its transaction open.
            await late.execute(_APPEND_RAW, ["t", "S", "late", [uuid.uuid4()], ["Late"], [1], ['{"n": 0}']])
            # Others append and commit after it.
            for i in range(1, 4):
                await store.append(StreamId("t", "S", f"early-{i}"), [NewEvent({"n": i}, event_type="Early")])

            seen: list[int] = []
            checkpoint = await store.read_all()  # nothing is readable past the open transaction
            assert checkpoint == []

            subscription = store.subscribe(poll_interval=0.05)

            async def follow() -> None:
                async for recorded in subscription.events():
                    seen.append(recorded.data["n"])
                    if len(seen) == 4:
                        subscription.stop()

            follower = asyncio.create_task(follow())
            await asyncio.sleep(0.2)
            assert seen == []  # still blocked behind the late transaction
            await late.commit()
            await asyncio.wait_for(follower, 5)
        finally:
            await late.close()
        # Every event once; the late one first, because its transaction began first.
        assert seen == [0, 1, 2, 3]
        assert len(await store.read_all()) == 4


async def test_concurrent_writers_and_a_checkpointing_reader_agree(acci_database_url: str) -> None:
    """Writers with random delays and rollbacks; a reader paging by checkpoint sees exactly the
    committed set, each event once."""
    import random

    rng = random.Random(7)
    committed: set[str] = set()
    async with await PostgresEventStore.open(acci_database_url, min_size=2, max_size=6) as store:

        async def writer(w: int) -> None:
            async with await psycopg.AsyncConnection.connect(acci_database_url) as conn:
                for i in range(15):
                    event_id = uuid.uuid4()
                    await conn.execute(
                        _APPEND_RAW, ["t", "W", f"w{w}", [event_id], ["E"], [1], [f'{{"w": {w}, "i": {i}}}']]
                    )
                    await asyncio.sleep(rng.random() * 0.01)
                    if rng.random() < 0.2:
                        await conn.rollback()
                    else:
                        await conn.commit()
                        committed.add(str(event_id))

        seen: list[str] = []
        done = False

        async def reader() -> None:
            position = None
            while True:
                finished = done
                page = await store.read_all(position) if position else await store.read_all()
                seen.extend(str(e.id) for e in page)
                if page:
                    position = page[-1].position
                elif finished:
                    return
                await asyncio.sleep(0.003)

        reading = asyncio.create_task(reader())
        await asyncio.gather(*(writer(w) for w in range(4)))
        done = True
        await asyncio.wait_for(reading, 10)
    assert len(seen) == len(set(seen))
    assert set(seen) == committed
