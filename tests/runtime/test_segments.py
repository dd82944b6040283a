"""Projections split into segments: each event applied once and each stream in order, processes
sharing the segments and taking over a dead one's, status per segment, rebuilds and consistency
checks of a segmented projection, re-splits under load, and the SIGKILL test on 4 segments spread
over 3 processes."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import pytest
import pytest_asyncio
from acci import NewEvent, PostgresEventStore, StreamId
from acci.database import with_database
from acci.migrations import migrate, runtime_migrations
from acci.projections import (
    ProjectionRunner,
    RunnerSettings,
    check_consistency,
    has_passed,
    list_dead_letters,
    projection_status,
    rebuild,
    replay_dead_letters,
    resplit,
)
from acci.streams import Position
from acci.testing import _create_database, _drop_database

from tests.runtime.projection_fixtures import (
    APPLIED_TABLE,
    HISTORY_TABLE,
    SegmentedCounting,
    SegmentedHistory,
    rows,
    until,
)

ROOT = Path(__file__).resolve().parents[2]
STREAMS = 40
#: How many numbers the history read model holds.
APPLIED_NUMBERS = "SELECT coalesce(sum(array_length(string_to_array(seen, ','), 1)), 0) FROM history"
FAST = RunnerSettings(batch_size=50, poll_interval=0.02, takeover_interval=0.1)


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=10) as pg:
        async with pg.pool.connection() as conn:
            await conn.execute(APPLIED_TABLE)
            await conn.execute(HISTORY_TABLE)
        yield pg


async def write(store: PostgresEventStore, n: int, start: int = 0, pause: float = 0.0) -> Position:
    """Events n = start..start+n-1, stream s(n % 40), each stream's numbers increasing."""
    last: Position | None = None
    for k in range(start, start + n, 5):
        events = [NewEvent({"n": i}, event_type="Counted") for i in range(k, min(k + 5, start + n))]
        # Five consecutive numbers to one stream, then the next stream.
        recorded = await store.append(StreamId("t", "Counter", f"s{(k // 5) % STREAMS}"), events)
        last = recorded[-1].position
        if pause:
            await asyncio.sleep(pause)
    assert last is not None
    await below_horizon(store, last)
    return last


async def below_horizon(store: PostgresEventStore, position: Position) -> None:
    """Wait until a runner can see `position`: the server is shared, and a transaction open
    elsewhere holds back the horizon that runners read up to."""
    await until(
        store,
        f"SELECT pg_snapshot_xmin(pg_current_snapshot()) > '{position.transaction_id}'::xid8",
        True,
        seconds=60,
    )


async def history_in_order(store: PostgresEventStore, total: int) -> None:
    """Every number applied once, each stream's in increasing order."""
    seen: list[int] = []
    for (text,) in await rows(store, "SELECT seen FROM history"):
        numbers = [int(x) for x in str(text).split(",")]
        assert numbers == sorted(numbers), numbers
        seen.extend(numbers)
    assert sorted(seen) == list(range(total))


@pytest.mark.slow  # 1,000 events through four segments
async def test_four_segments_apply_each_event_once_and_each_stream_in_order(
    store: PostgresEventStore,
) -> None:
    last = await write(store, 1000)
    runner = ProjectionRunner(store, SegmentedCounting(), FAST)
    assert [s.index for s in await runner.segments()] == [0, 1, 2, 3]
    assert await runner.catch_up() == 1000
    assert await rows(store, "SELECT count(*), min(times), max(times) FROM applied") == [(1000, 1, 1)]
    per_segment = await rows(
        store,
        "SELECT segment, segments, global_position > 0 FROM acci.checkpoints "
        "WHERE name = 'applied' ORDER BY 1",
    )
    assert per_segment == [(i, 4, True) for i in range(4)]
    async with store.pool.connection() as conn:
        assert await has_passed(conn, SegmentedCounting(), last)
    status = await projection_status(store, SegmentedCounting())
    assert [(s.segment, s.segments, s.lag_events) for s in status.segments] == [(i, 4, 0) for i in range(4)]
    await write(store, 100, start=1000)
    status = await projection_status(store, SegmentedCounting())
    assert status.lag_events == 100
    assert sum(s.lag_events for s in status.segments) == 100
    assert sum(1 for s in status.segments if s.lag_events) >= 2  # the streams are spread

    history = ProjectionRunner(store, SegmentedHistory(), FAST)
    await history.catch_up()
    await history_in_order(store, 1100)


async def test_processes_share_the_segments_and_take_over_a_stopped_ones(store: PostgresEventStore) -> None:
    await write(store, 400)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = asyncio.create_task(
        ProjectionRunner(store, SegmentedCounting(), replace(FAST, max_segments=2)).run(stop_a)
    )
    await until(
        store, "SELECT count(*) FROM acci.checkpoints WHERE name = 'applied' AND owner IS NOT NULL", 2
    )
    b = asyncio.create_task(ProjectionRunner(store, SegmentedCounting(), FAST).run(stop_b))
    await until(store, "SELECT count(*) FROM applied", 400)
    status = await projection_status(store, SegmentedCounting())
    assert all(s.owner for s in status.segments), status.segments  # all four are run
    stop_a.set()
    await a
    await write(store, 200, start=400)
    await until(store, "SELECT count(*) FROM applied", 600)  # b took over a's two segments
    status = await projection_status(store, SegmentedCounting())
    assert all(s.owner for s in status.segments)
    stop_b.set()
    await b
    status = await projection_status(store, SegmentedCounting())
    assert [s.owner for s in status.segments] == [None] * 4
    assert await rows(store, "SELECT count(*), max(times) FROM applied") == [(600, 1)]


async def test_a_segmented_projection_is_rebuilt_and_checked(store: PostgresEventStore) -> None:
    await write(store, 500)
    projection = SegmentedHistory()
    runner = ProjectionRunner(store, projection, FAST)
    await runner.catch_up()
    # Segments at different positions: one is behind.
    await write(store, 100, start=500)
    segment = (await runner.segments())[0]
    await ProjectionRunner(store, projection, FAST, segment=segment).catch_up()
    report = await check_consistency(store, projection)
    assert report.consistent, (report.only_live[:3], report.only_replayed[:3])
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE history SET seen = 'corrupt'")
    assert not (await check_consistency(store, projection)).consistent
    await rebuild(store, projection)
    await runner.catch_up()
    await history_in_order(store, 600)
    assert await rows(
        store, "SELECT count(DISTINCT global_position), count(*) FROM acci.checkpoints WHERE name = 'history'"
    ) == [(1, 2)]


@pytest.mark.slow  # writers and a rebuild under load
async def test_a_segmented_projection_is_rebuilt_while_its_segments_run_and_events_arrive(
    store: PostgresEventStore,
) -> None:
    projection = SegmentedHistory()
    await write(store, 600)
    stop = asyncio.Event()
    live = [asyncio.create_task(ProjectionRunner(store, projection, FAST).run(stop)) for _ in range(2)]
    await until(store, APPLIED_NUMBERS, 600)
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE history SET seen = seen || ',999999'")  # corrupt every row
    writer = asyncio.create_task(write(store, 600, start=600, pause=0.002))
    await rebuild(store, projection)
    await writer
    await until(store, APPLIED_NUMBERS, 1200)
    stop.set()
    await asyncio.gather(*live)
    await history_in_order(store, 1200)
    report = await check_consistency(store, projection)
    assert report.consistent, (report.only_live[:3], report.only_replayed[:3])


@pytest.mark.slow  # about 4 s of resplits under load
async def test_a_resplit_from_2_to_4_and_to_3_under_load_loses_and_doubles_nothing(
    store: PostgresEventStore,
) -> None:
    projection = SegmentedHistory()
    stop = asyncio.Event()
    live = [asyncio.create_task(ProjectionRunner(store, projection, FAST).run(stop)) for _ in range(2)]
    writer = asyncio.create_task(write(store, 3000, pause=0.002))
    await until(
        store, "SELECT sum(length(seen) - length(replace(seen, ',', '')) + 1) > 300 FROM history", True
    )
    await resplit(store, projection, 4)
    assert not writer.done()  # under load
    assert await rows(store, "SELECT segments FROM acci.projection_splits WHERE name = 'history'") == [(4,)]
    await asyncio.sleep(0.5)
    await resplit(store, projection, 3)  # not a multiple: each new segment takes streams of several
    await writer
    await until(store, APPLIED_NUMBERS, 3000)
    stop.set()
    await asyncio.gather(*live)
    await history_in_order(store, 3000)
    assert await rows(
        store, "SELECT count(*), max(segments) FROM acci.checkpoints WHERE name = 'history'"
    ) == [(3, 3)]
    report = await check_consistency(store, projection)
    assert report.consistent, (report.only_live[:3], report.only_replayed[:3])


class PoisonedHistory(SegmentedHistory):
    """SegmentedHistory, failing on the numbers in `poisoned`."""

    poisoned: ClassVar[set[int]] = set()


async def test_a_parked_event_holds_back_its_stream_in_its_segment_also_after_a_resplit(
    store: PostgresEventStore,
) -> None:
    PoisonedHistory.poisoned = {7}  # stream s1 (numbers 5..9, 205..209, ...)
    settings = RunnerSettings(batch_size=50, max_attempts=1, retry_delay=0.01)
    await write(store, 400)
    await ProjectionRunner(store, PoisonedHistory(), settings).catch_up()
    letters = await list_dead_letters(store, "history")
    assert [letter.stream.aggregate_id for letter in letters] == ["s1"] * 8  # 7, 8, 9, 205, ...
    assert (letters[0].attempts, letters[1].behind) == (1, letters[0].event_id)
    assert await rows(store, "SELECT seen FROM history WHERE stream = 's1'") == [("5,6",)]
    assert await rows(store, "SELECT count(*) FROM history") == [(STREAMS,)]  # every other stream went on

    await resplit(store, PoisonedHistory(), 4, settings=settings)
    await write(store, 400, start=400)
    await ProjectionRunner(store, PoisonedHistory(), settings).catch_up()
    assert len(await list_dead_letters(store, "history")) == 8 + 10  # s1 is still held back
    PoisonedHistory.poisoned = set()
    result = await replay_dead_letters(store, PoisonedHistory())
    assert (result.replayed, result.failed) == (18, [])
    await history_in_order(store, 800)


async def test_read_your_writes_waits_for_the_segment_of_the_event(store: PostgresEventStore) -> None:
    projection = SegmentedHistory()
    runner = ProjectionRunner(store, projection, FAST)
    await runner.catch_up()  # records the split: two segments at the start
    last = await write(store, 5)  # stream s0 only: one segment has an event to apply
    (event,) = [e for e in await store.read_all(limit=10) if e.position == last]
    segments = await runner.segments()
    owning = [s for s in segments if await _owns(store, s.index, s.count, event.aggregate_id)]
    (mine,) = owning
    (other,) = [s for s in segments if s.index != mine.index]
    async with store.pool.connection() as conn:
        assert not await has_passed(conn, projection, last)
        await ProjectionRunner(store, projection, FAST, segment=other).catch_up()
        assert not await has_passed(conn, projection, last)  # the other segment has nothing of it
        await ProjectionRunner(store, projection, FAST, segment=mine).catch_up()
        assert await has_passed(conn, projection, last)


async def _owns(store: PostgresEventStore, index: int, count: int, aggregate_id: str) -> bool:
    query = f"SELECT acci.stream_segment('t', 'Counter', '{aggregate_id}', {count}) = {index}"
    return bool((await rows(store, query))[0][0])


async def test_checkpoints_written_before_segments_existed_stay_valid(acci_server_url: str) -> None:
    """Migration 0009 on a database with checkpoints and dead letters: each becomes segment 0 of
    1, and the runner goes on from where it was."""
    name = f"acci_seg_upgrade_{os.getpid()}"
    _create_database(acci_server_url, name)
    url = with_database(acci_server_url, name)
    try:
        before = [m for m in runtime_migrations() if m.version < 9]
        await migrate(url, before)
        async with await PostgresEventStore.open(url) as store:
            async with store.pool.connection() as conn:
                await conn.execute(APPLIED_TABLE)
            first = await write(store, 50)
            async with store.pool.connection() as conn:
                await conn.execute(
                    "INSERT INTO acci.checkpoints (name, transaction_id, global_position) "
                    "VALUES ('applied', %s::text::xid8, %s)",
                    [first.transaction_id, first.global_position],
                )
        await migrate(url)
        async with await PostgresEventStore.open(url) as store:
            assert await rows(
                store,
                "SELECT segment, segments, global_position FROM acci.checkpoints WHERE name = 'applied'",
            ) == [(0, 1, first.global_position)]
            await write(store, 20, start=50)
            assert await ProjectionRunner(store, SegmentedCounting(), FAST).catch_up() == 20
            assert await rows(store, "SELECT count(*), min(n) FROM applied") == [(20, 50)]
            assert await rows(store, "SELECT count(*) FROM acci.checkpoints WHERE name = 'applied'") == [(4,)]
    finally:
        _drop_database(acci_server_url, name)


@pytest.mark.slow
@pytest.mark.e2e
async def test_four_segments_over_three_processes_killed_at_random_apply_every_event_once(
    store: PostgresEventStore, acci_database_url: str
) -> None:
    """SIGKILL one of 3 runner processes (each runs at most 2 of the 4 segments) again and again
    while events are written; each killed one is replaced. Afterwards every event has been applied
    exactly once, and the read model equals a replay."""
    rng = random.Random(17)
    total = 4000

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.runtime.projection_fixtures",
            acci_database_url,
            "segmented",
            cwd=ROOT,
        )

    processes = [await start() for _ in range(3)]
    writer = asyncio.create_task(write(store, total, pause=0.003))
    for _ in range(200):  # spread: all four run, by at least two processes
        owners = [s.owner for s in (await projection_status(store, SegmentedCounting())).segments]
        if all(owners) and len(set(owners)) >= 2:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the segments were not spread over the processes: {owners}")
    kills = 0
    try:
        while not writer.done() or kills < 8:
            await asyncio.sleep(0.3 + rng.random() * 0.5)
            victim = rng.randrange(3)
            processes[victim].send_signal(signal.SIGKILL)
            await processes[victim].wait()
            kills += 1
            processes[victim] = await start()
        await writer
        await until(store, "SELECT count(*) FROM applied", total, seconds=60)
    finally:
        for process in processes:
            process.send_signal(signal.SIGKILL)
            await process.wait()
    assert kills >= 8
    assert await rows(store, "SELECT count(*), min(times), max(times) FROM applied") == [(total, 1, 1)]
    report = await check_consistency(store, SegmentedCounting())
    assert report.consistent, (report.only_live[:3], report.only_replayed[:3])
