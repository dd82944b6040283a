"""Projections on PostgreSQL: the guide's integration test, batches, poison events, two runners,
rebuilds under load, consistency checks, inline projections."""

from __future__ import annotations

import asyncio
import random
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import pytest_asyncio
from acci import Command, CommandMetadata, NewEvent, PostgresEventStore, StreamId
from acci.errors import ProjectionFailed, ProjectionHalted
from acci.examples.users import CreateUser, CreateUserHandler, UpdateUser, UpdateUserHandler, UserProjection
from acci.projections import (
    ProjectionRunner,
    RunnerSettings,
    check_consistency,
    list_dead_letters,
    projection_status,
    rebuild,
    replay_dead_letters,
)

from tests.runtime.projection_fixtures import (
    APPLIED_TABLE,
    CountingProjection,
    FlakyUserProjection,
    InlineUserProjection,
    rows,
    until,
)

ROOT = Path(__file__).resolve().parents[2]
ADMIN = CommandMetadata(user_id="admin", tenant_id="tenant1")


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=6) as pg:
        async with pg.pool.connection() as conn:
            await conn.execute(APPLIED_TABLE)
        yield pg


async def create_user(store: PostgresEventStore, user_id: str, name: str = "Test User") -> None:
    command = Command(CreateUser(user_id=user_id, email=f"{user_id}@example.com", name=name), ADMIN)
    await CreateUserHandler(store).handle(command)


async def count_events(store: PostgresEventStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n, 50):
        batch = [NewEvent({"n": k}, event_type="Counted") for k in range(i, min(i + 50, start + n))]
        await store.append(StreamId("t", "Counter", f"c{i % 7}"), batch)


async def test_user_created_makes_a_user_view_row(store: PostgresEventStore) -> None:
    """The guide's integration test."""
    await create_user(store, "user123")
    handled = await ProjectionRunner(store, UserProjection()).catch_up()
    assert handled == 1
    assert await rows(store, "SELECT id, email, name, status FROM examples.user_view") == [
        ("user123", "user123@example.com", "Test User", "active")
    ]


async def test_batches_take_effect_once_with_their_checkpoint(store: PostgresEventStore) -> None:
    await count_events(store, 1234)
    runner = ProjectionRunner(store, CountingProjection(), RunnerSettings(batch_size=100))
    seen: list[int] = []
    assert await runner.catch_up(progress=seen.append) == 1234
    assert seen[0] == 100 and seen[-1] == 1234
    assert await rows(store, "SELECT count(*), min(times), max(times) FROM applied") == [(1234, 1, 1)]
    assert await runner.catch_up() == 0
    status = await projection_status(store, CountingProjection())
    assert (status.lag_events, status.dead_letters, status.status) == (0, 0, "running")


async def test_only_the_projections_event_types_are_read(store: PostgresEventStore) -> None:
    await count_events(store, 10)
    await create_user(store, "u1")
    assert await ProjectionRunner(store, UserProjection()).catch_up() == 1


async def test_a_poison_event_is_parked_and_the_events_after_it_take_effect(
    store: PostgresEventStore,
) -> None:
    FlakyUserProjection.fixed = False
    FlakyUserProjection.calls = 0
    await create_user(store, "a")
    await create_user(store, "bad", name="POISON")
    await create_user(store, "c")
    runner = ProjectionRunner(store, FlakyUserProjection(), RunnerSettings(max_attempts=3, retry_delay=0.01))
    await runner.catch_up()
    assert FlakyUserProjection.calls >= 3  # the fast path tries the batch too
    assert await rows(store, "SELECT id FROM examples.user_view ORDER BY id") == [("a",), ("c",)]
    (letter,) = await list_dead_letters(store, "user_view")
    assert (letter.attempts, letter.event_type) == (3, "UserCreated")
    assert "cannot project a poisoned user" in letter.error
    assert (await projection_status(store, UserProjection())).dead_letters == 1

    FlakyUserProjection.fixed = True
    result = await replay_dead_letters(store, FlakyUserProjection())
    assert (result.replayed, result.failed) == (1, [])
    assert await rows(store, "SELECT id FROM examples.user_view ORDER BY id") == [("a",), ("bad",), ("c",)]
    assert await list_dead_letters(store, "user_view") == []


async def test_a_halting_projection_stops_at_the_poison_until_replayed(store: PostgresEventStore) -> None:
    FlakyUserProjection.fixed = False
    await create_user(store, "a")
    await create_user(store, "bad", name="POISON")
    await create_user(store, "c")
    settings = RunnerSettings(max_attempts=1, on_poison="halt")
    with pytest.raises(ProjectionHalted, match=r"user_view.*halted"):
        await ProjectionRunner(store, FlakyUserProjection(), settings).catch_up()
    assert await rows(store, "SELECT id FROM examples.user_view") == [("a",)]
    with pytest.raises(ProjectionHalted):
        await ProjectionRunner(store, FlakyUserProjection(), settings).catch_up()
    FlakyUserProjection.fixed = True
    await replay_dead_letters(store, FlakyUserProjection())
    await ProjectionRunner(store, FlakyUserProjection(), settings).catch_up()
    assert await rows(store, "SELECT id FROM examples.user_view ORDER BY id") == [("a",), ("bad",), ("c",)]


@pytest.mark.slow  # two runners race over many events
async def test_two_runners_at_once_have_no_double_effects(store: PostgresEventStore) -> None:
    writing = asyncio.create_task(count_events(store, 2000))
    runners = [ProjectionRunner(store, CountingProjection(), RunnerSettings(batch_size=50)) for _ in range(3)]

    async def keep_running(runner: ProjectionRunner) -> None:
        while not writing.done():
            await runner.catch_up()
            await asyncio.sleep(0)
        await runner.catch_up()

    await asyncio.gather(*(keep_running(r) for r in runners))
    await writing
    await runners[0].catch_up()
    assert await rows(store, "SELECT count(*), min(times), max(times) FROM applied") == [(2000, 1, 1)]


async def test_run_follows_live_and_a_standby_takes_over(store: PostgresEventStore) -> None:
    settings = RunnerSettings(poll_interval=0.05, takeover_interval=0.05)
    first_stop, second_stop = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(ProjectionRunner(store, CountingProjection(), settings).run(first_stop))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(ProjectionRunner(store, CountingProjection(), settings).run(second_stop))
    await count_events(store, 100)
    await until(store, "SELECT count(*) FROM applied", 100)
    first_stop.set()  # the active one leaves; the standby takes over
    await first
    await count_events(store, 100, start=100)
    await until(store, "SELECT count(*) FROM applied", 200)
    second_stop.set()
    await second
    assert await rows(store, "SELECT count(*), max(times) FROM applied") == [(200, 1)]


@pytest.mark.slow  # about 5 s: writers and readers run through a whole rebuild
async def test_a_rebuild_under_load_equals_a_full_replay_and_readers_never_see_an_empty_table(
    store: PostgresEventStore, acci_database_url: str
) -> None:
    for i in range(300):
        await create_user(store, f"u{i:03d}")
    projection = UserProjection()
    await ProjectionRunner(store, projection).catch_up()
    async with store.pool.connection() as conn:  # a read model gone wrong
        await conn.execute("UPDATE examples.user_view SET name = 'corrupt'")

    stop = asyncio.Event()
    smallest: list[int] = []

    async def read() -> None:
        async with await psycopg.AsyncConnection.connect(acci_database_url, autocommit=True) as conn:
            while not stop.is_set():
                row = await (await conn.execute("SELECT count(*) FROM examples.user_view")).fetchone()
                smallest.append(int(row[0]) if row else 0)
                await asyncio.sleep(0.001)

    async def write() -> None:
        for i in range(100):
            await UpdateUserHandler(store).handle(
                Command(UpdateUser(user_id=f"u{i:03d}", name=f"new {i}"), ADMIN)
            )
            await create_user(store, f"late{i:03d}")

    live = asyncio.create_task(
        ProjectionRunner(store, projection, RunnerSettings(poll_interval=0.01)).run(stop)
    )
    reader = asyncio.create_task(read())
    writer = asyncio.create_task(write())
    progress: list[str] = []
    await rebuild(store, projection, progress=lambda phase, n: progress.append(phase))
    await writer
    stop.set()
    await asyncio.gather(live, reader)
    # Only now: an open batch of the live runner would hold the horizon below the last events.
    await ProjectionRunner(store, projection).catch_up()

    assert min(smallest) >= 300
    assert progress[-1] == "swapped"
    report = await check_consistency(store, projection)
    assert report.consistent, (report.only_live[:3], report.only_replayed[:3])
    assert await rows(store, "SELECT count(*) FROM examples.user_view WHERE name = 'corrupt'") == [(0,)]
    assert await rows(store, "SELECT count(*) FROM examples.user_view") == [(400,)]


async def test_a_rebuild_fails_fast_and_keeps_the_live_table(store: PostgresEventStore) -> None:
    FlakyUserProjection.fixed = True
    await create_user(store, "a")
    await ProjectionRunner(store, FlakyUserProjection()).catch_up()
    await create_user(store, "bad", name="POISON")
    FlakyUserProjection.fixed = False
    with pytest.raises(ProjectionFailed, match=r"user_view.*UserCreated"):
        await rebuild(store, FlakyUserProjection())
    assert await rows(store, "SELECT id FROM examples.user_view") == [("a",)]
    assert await rows(store, "SELECT to_regclass('examples.user_view__rebuild')") == [(None,)]


async def test_the_consistency_check_reports_differing_rows(store: PostgresEventStore) -> None:
    for user in ("a", "b", "c"):
        await create_user(store, user)
    await ProjectionRunner(store, UserProjection()).catch_up()
    assert (await check_consistency(store, UserProjection())).consistent
    async with store.pool.connection() as conn:
        await conn.execute("UPDATE examples.user_view SET email = 'wrong@example.com' WHERE id = 'b'")
        await conn.execute("DELETE FROM examples.user_view WHERE id = 'c'")
    report = await check_consistency(store, UserProjection())
    assert not report.consistent
    assert [r["email"] for r in report.only_live] == ["wrong@example.com"]
    assert sorted(r["id"] for r in report.only_replayed) == ["b", "c"]


async def test_inline_projections_are_read_your_writes(acci_database_url: str) -> None:
    projection = InlineUserProjection()
    async with await PostgresEventStore.open(acci_database_url, projections=[projection]) as store:
        await create_user(store, "u1")
        assert await rows(store, "SELECT id, name FROM examples.user_view") == [("u1", "Test User")]
        await UpdateUserHandler(store).handle(Command(UpdateUser(user_id="u1", name="Renamed"), ADMIN))
        assert await rows(store, "SELECT name FROM examples.user_view") == [("Renamed",)]
        await rebuild(store, projection)
        assert (await check_consistency(store, projection)).consistent
        assert (await projection_status(store, projection)).lag_events == 0


async def test_status_shows_lag_in_events_and_seconds(store: PostgresEventStore) -> None:
    await count_events(store, 120)
    await asyncio.sleep(0.05)
    status = await projection_status(store, CountingProjection())
    assert status.lag_events == 120
    assert status.lag_seconds > 0.04


@pytest.mark.slow
async def test_a_runner_killed_at_random_points_applies_every_event_once(
    store: PostgresEventStore, acci_database_url: str
) -> None:
    """SIGKILL the runner process again and again while events are written: afterwards every
    event has been applied exactly once."""
    rng = random.Random(42)
    total = 3000
    writer = asyncio.create_task(count_events(store, total))
    kills = 0
    while not writer.done() or kills < 6:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.runtime.projection_fixtures", acci_database_url, cwd=ROOT
        )
        await asyncio.sleep(0.4 + rng.random() * 0.6)
        process.send_signal(signal.SIGKILL)
        await process.wait()
        kills += 1
    await writer
    await ProjectionRunner(store, CountingProjection()).catch_up()
    assert kills >= 6
    assert await rows(store, "SELECT count(*), min(times), max(times) FROM applied") == [(total, 1, 1)]


async def test_transient_errors_are_retried_not_parked(store: PostgresEventStore) -> None:
    """A lost connection or a serialization failure is retried with backoff; it never becomes a
    dead letter, however often it happens."""
    failures = {"left": 4}

    class Flaky(CountingProjection):
        async def apply(self, conn: psycopg.AsyncConnection[Any], table: Any, event: Any) -> None:
            if failures["left"]:
                failures["left"] -= 1
                await conn.execute("SELECT 1/0 FROM pg_sleep(0) WHERE false")  # a real round trip
                raise psycopg.errors.SerializationFailure("could not serialize access")
            await super().apply(conn, table, event)

    await count_events(store, 10)
    handled = await ProjectionRunner(
        store, Flaky(), RunnerSettings(retry_delay=0.01, max_attempts=2)
    ).catch_up()
    assert handled == 10
    assert failures["left"] == 0
    assert await list_dead_letters(store) == []
    assert await rows(store, "SELECT count(*), max(times) FROM applied") == [(10, 1)]
