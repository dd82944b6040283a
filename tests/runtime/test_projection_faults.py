"""Projections under poison events and an unkind network: dead letters never break a stream's order
or apply an event twice; lost connections and a pool with no free connection are survived; a
runner says when another one holds the lock, and refuses to run without its table."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

import psycopg
import pytest
import pytest_asyncio
from acci import (
    ConfigurationError,
    NewEvent,
    PostgresEventStore,
    ProjectionBusy,
    ProjectionHalted,
    StreamId,
    TransientDatabaseError,
)
from acci.logs import configure_logging
from acci.migrations import Migration
from acci.projections import ProjectionRunner, RunnerSettings, list_dead_letters, replay_dead_letters
from acci.projections.base import projection_lock_key

from tests.runtime.projection_fixtures import (
    APPLIED_TABLE,
    HISTORY_TABLE,
    CountingProjection,
    HistoryProjection,
    PoisonedCounting,
    rows,
    until,
)

ONCE = RunnerSettings(max_attempts=1, retry_delay=0.01)


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=4) as pg:
        async with pg.pool.connection() as conn:
            await conn.execute(APPLIED_TABLE)
            await conn.execute(HISTORY_TABLE)
        yield pg


@pytest.fixture(autouse=True)
def no_poison() -> None:
    HistoryProjection.poisoned = set()
    PoisonedCounting.poisoned = set()


async def count(store: PostgresEventStore, stream: str, *numbers: int) -> None:
    """One append per number, to `stream`."""
    for n in numbers:
        await store.append(StreamId("t", "Counter", stream), [NewEvent({"n": n}, event_type="Counted")])


# -- dead letters: order and exactly once ------------------------------------------------------


async def test_halt_fix_replay_catch_up_applies_the_poison_once(store: PostgresEventStore) -> None:
    await count(store, "a", 1, 2, 3)
    PoisonedCounting.poisoned = {2}
    halting = RunnerSettings(max_attempts=1, on_poison="halt")
    with pytest.raises(ProjectionHalted, match=r"applied.*halted"):
        await ProjectionRunner(store, PoisonedCounting(), halting).catch_up()
    PoisonedCounting.poisoned = set()
    result = await replay_dead_letters(store, PoisonedCounting())
    assert (result.replayed, result.failed) == (1, [])
    await ProjectionRunner(store, PoisonedCounting(), halting).catch_up()
    assert await rows(store, "SELECT n, times FROM applied ORDER BY n") == [(1, 1), (2, 1), (3, 1)]


async def test_a_parked_event_holds_back_its_stream_and_a_replay_keeps_the_order(
    store: PostgresEventStore,
) -> None:
    await count(store, "a", 1)
    await count(store, "b", 10)
    await count(store, "a", 2, 3)
    await count(store, "b", 11)
    HistoryProjection.poisoned = {1}
    runner = ProjectionRunner(store, HistoryProjection(), ONCE)
    assert await runner.catch_up() == 5  # applied or parked
    assert await rows(store, "SELECT stream, last, seen FROM history ORDER BY stream") == [("b", 11, "10,11")]
    letters = await list_dead_letters(store, "history")
    assert [(x.stream.aggregate_id, x.attempts) for x in letters] == [("a", 1), ("a", 0), ("a", 0)]
    assert letters[1].behind == letters[2].behind == letters[0].event_id
    assert "held back behind event" in letters[1].error

    # A replay that fails again leaves the stream as it was: the later events are not tried.
    result = await replay_dead_letters(store, HistoryProjection())
    assert ([x.id for x in result.failed], [x.id for x in result.held_back]) == (
        [letters[0].id],
        [letters[1].id, letters[2].id],
    )
    assert await rows(store, "SELECT count(*) FROM history WHERE stream = 'a'") == [(0,)]
    await count(store, "a", 4)  # still held back while its stream has a dead letter
    await runner.catch_up()
    assert len(await list_dead_letters(store, "history")) == 4

    HistoryProjection.poisoned = set()
    result = await replay_dead_letters(store, HistoryProjection())
    assert (result.replayed, result.failed, result.held_back) == (4, [], [])
    await count(store, "a", 5)
    assert await runner.catch_up() == 1
    assert await rows(store, "SELECT last, seen FROM history WHERE stream = 'a'") == [(5, "1,2,3,4,5")]
    assert await list_dead_letters(store, "history") == []


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    handler = configure_logging("INFO", "json")
    try:
        yield capsys
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


def _json_lines(err: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def test_retries_dead_letters_and_halts_are_logged_with_projection_position_and_stream(
    store: PostgresEventStore, json_logs: pytest.CaptureFixture[str]
) -> None:
    await count(store, "a", 1, 2, 3)
    PoisonedCounting.poisoned = {2}
    positions = {e.data["n"]: str(e.position) for e in await store.read_stream(StreamId("t", "Counter", "a"))}
    stream = str(StreamId("t", "Counter", "a"))
    settings = RunnerSettings(max_attempts=2, retry_delay=0.01, on_poison="halt")
    with pytest.raises(ProjectionHalted):
        await ProjectionRunner(store, PoisonedCounting(), settings).catch_up()
    lines = [line for line in _json_lines(json_logs.readouterr().err) if line["logger"] == "acci.projections"]
    failing = [line for line in lines if line["level"] in ("WARNING", "ERROR")]
    messages = [line["message"] for line in failing]
    assert any("failed on Counted" in m and "(try 1)" in m for m in messages), messages
    assert any("parked Counted" in m and "after 2 tries" in m for m in messages), messages
    assert any("halted at Counted" in m for m in messages), messages
    for line in failing:
        assert (line.get("projection"), line.get("position"), line.get("stream")) == (
            "applied",
            positions[2],
            stream,
        ), line


# -- the network ----------------------------------------------------------------------------


async def terminate_others(store: PostgresEventStore, query_like: str = "%") -> list[int]:
    """pg_terminate_backend every other session of the test database (whose query is like
    `query_like`), from a connection of its own; return their pids once they are gone."""
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as admin:
        cur = await admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE %s",
            [query_like],
        )
        pids = [pid for (pid,) in await cur.fetchall()]
        await admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", [pids])
        for _ in range(200):
            cur = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
            if (await cur.fetchone()) == (0,):
                return pids
            await asyncio.sleep(0.05)
    raise AssertionError(f"sessions {pids} did not end")


async def test_a_runner_survives_its_listen_connection_being_terminated(store: PostgresEventStore) -> None:
    # Polling slower than the test: events after the termination arrive only if it listens again.
    settings = RunnerSettings(poll_interval=60, takeover_interval=0.05)
    stop = asyncio.Event()
    running = asyncio.create_task(ProjectionRunner(store, CountingProjection(), settings).run(stop))
    await count(store, "a", 1)
    await until(store, "SELECT count(*) FROM applied", 1)
    await terminate_others(store, "LISTEN%")  # returns once it is gone: a LISTEN now is a new one
    await until(store, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'", 1)
    await count(store, "a", 2)
    await until(store, "SELECT count(*) FROM applied", 2)
    assert not running.done()
    stop.set()
    await running


async def test_a_runner_survives_a_storm_of_terminated_connections(store: PostgresEventStore) -> None:
    settings = RunnerSettings(poll_interval=0.05, takeover_interval=0.05, retry_delay=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(ProjectionRunner(store, CountingProjection(), settings).run(stop))
    for round_ in range(3):
        await count(store, f"s{round_}", *range(round_ * 10, round_ * 10 + 10))
        await terminate_others(store)  # the lock holder, the listener and every pooled connection
    await until(store, "SELECT count(*) FROM applied", 30)
    assert not running.done()
    stop.set()
    await running
    assert await rows(store, "SELECT count(*), max(times) FROM applied") == [(30, 1)]


async def test_the_pool_hands_out_no_connection_the_server_has_ended(store: PostgresEventStore) -> None:
    async def busy() -> None:
        async with store.pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(0.05)")

    await asyncio.gather(*(busy() for _ in range(4)))  # all four pooled connections exist
    await terminate_others(store)
    for n in range(20):  # each append on a dead connection would fail
        await count(store, "after", n)
    assert await rows(store, "SELECT count(*) FROM acci.events") == [(20,)]


@pytest.mark.slow  # waits out a pool timeout
async def test_step_and_catch_up_wait_out_a_pool_with_no_free_connection(acci_database_url: str) -> None:
    async with await PostgresEventStore.open(acci_database_url, max_size=1, pool_timeout=0.2) as small:
        async with small.pool.connection() as conn:
            await conn.execute(APPLIED_TABLE)
        await count(small, "a", 1, 2)
        runner = ProjectionRunner(small, CountingProjection(), RunnerSettings(retry_delay=0.05))
        release = asyncio.Event()

        async def hold() -> None:
            async with small.pool.connection():
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.sleep(0.05)
        with pytest.raises(TransientDatabaseError, match=r"free within 0\.2 s \(all 1 in use\)\. Raise"):
            await runner.step()
        catching_up = asyncio.create_task(runner.catch_up())
        await asyncio.sleep(0.5)
        release.set()
        await holder
        assert await asyncio.wait_for(catching_up, 20) == 2


# -- another runner, a missing table ---------------------------------------------------------


async def test_catch_up_says_that_another_runner_holds_the_lock(store: PostgresEventStore) -> None:
    await count(store, "a", 1)
    runner = ProjectionRunner(store, CountingProjection(), RunnerSettings(busy_timeout=0.3))
    async with await psycopg.AsyncConnection.connect(store.conninfo, autocommit=True) as other:
        await other.execute("SET application_name = 'the other runner'")
        await other.execute("SELECT pg_advisory_lock(%s)", [projection_lock_key("applied")])
        with pytest.raises(
            ProjectionBusy, match=r"'applied' is being run by another runner \(Post"
        ) as caught:
            await runner.catch_up()
        assert "the other runner" in caught.value.holder
    assert await runner.catch_up() == 1


class MissingTableProjection(CountingProjection):
    name: ClassVar[str] = "missing_view"


async def test_a_runner_without_its_table_refuses_to_start_and_names_the_migration(
    store: PostgresEventStore,
) -> None:
    await count(store, "a", 1, 2)
    creates = Migration("shop", 3, "read_models", "CREATE TABLE public.missing_view (n int);", "m/0003.sql")
    other = Migration("shop", 2, "other", "CREATE TABLE public.something_else (n int);", "m/0002.sql")
    runner = ProjectionRunner(store, MissingTableProjection(), ONCE, migrations=[other, creates])
    message = r"public\.missing_view does not exist .*migration shop 0003_read_models \(m/0003\.sql\)"
    with pytest.raises(ConfigurationError, match=message):
        await runner.catch_up()
    with pytest.raises(ConfigurationError, match=message):
        await runner.run()
    assert await list_dead_letters(store) == []
    assert await rows(store, "SELECT count(*) FROM acci.checkpoints WHERE transaction_id <> '0'") == [(0,)]
