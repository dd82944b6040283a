"""A rebuild swaps the rebuilt table in by renaming: readers never see an empty or partial table,
grants, owner, comment and index names are kept, and a table that something depends on (a view)
is swapped by copying instead, so the view keeps working."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import psycopg
import pytest
import pytest_asyncio
from acci import Command, CommandMetadata, PostgresEventStore
from acci.examples.users import CreateUser, CreateUserHandler, UpdateUser, UpdateUserHandler, UserProjection
from acci.projections import ProjectionRunner, RunnerSettings, check_consistency, rebuild
from psycopg import sql

from tests.runtime.projection_fixtures import InlineUserProjection, rows, until

ADMIN = CommandMetadata(user_id="admin", tenant_id="tenant1")


@pytest_asyncio.fixture
async def store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    async with await PostgresEventStore.open(acci_database_url, max_size=6) as pg:
        yield pg


@pytest_asyncio.fixture
async def reader_role(acci_database_url: str) -> AsyncIterator[str]:
    """A role of the server (roles are cluster-wide: a unique name, dropped afterwards)."""
    role = f"acci_reader_{uuid.uuid4().hex[:12]}"
    async with await psycopg.AsyncConnection.connect(acci_database_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
        try:
            yield role
        finally:
            await conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            await conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


async def create_users(store: PostgresEventStore, prefix: str, n: int) -> None:
    for i in range(n):
        command = Command(
            CreateUser(user_id=f"{prefix}{i:04d}", email=f"{prefix}{i}@example.com", name="x"), ADMIN
        )
        await CreateUserHandler(store).handle(command)


async def settled(store: PostgresEventStore) -> None:
    """Wait until a runner can see every event: the server is shared, and a transaction open
    elsewhere holds back the horizon that runners read up to."""
    query = "SELECT pg_snapshot_xmin(pg_current_snapshot()) > max(transaction_id) FROM acci.events"
    await until(store, query, True, seconds=60)


async def table_oid(store: PostgresEventStore) -> int:
    ((oid,),) = await rows(store, "SELECT 'examples.user_view'::regclass::oid")
    return int(str(oid))


@pytest.mark.slow  # readers race a rebuild
async def test_readers_never_see_an_empty_or_partial_table_and_grants_are_kept(
    store: PostgresEventStore, acci_database_url: str, reader_role: str
) -> None:
    await create_users(store, "u", 400)
    await settled(store)
    projection = UserProjection()
    await ProjectionRunner(store, projection).catch_up()
    async with store.pool.connection() as conn:
        role = sql.Identifier(reader_role)
        await conn.execute(sql.SQL("GRANT SELECT ON examples.user_view TO {}").format(role))
        await conn.execute(sql.SQL("GRANT UPDATE (name) ON examples.user_view TO {}").format(role))
        await conn.execute("COMMENT ON TABLE examples.user_view IS 'one row per user'")
        await conn.execute("UPDATE examples.user_view SET name = 'corrupt'")
    indexes_before = await rows(
        store, "SELECT indexname FROM pg_indexes WHERE tablename = 'user_view' ORDER BY 1"
    )
    oid_before = await table_oid(store)

    stop = asyncio.Event()
    seen: list[int] = []

    async def read() -> None:
        async with await psycopg.AsyncConnection.connect(acci_database_url, autocommit=True) as conn:
            while not stop.is_set():
                cur = await conn.execute("SELECT count(*) FROM examples.user_view")
                row = await cur.fetchone()
                seen.append(int(row[0]) if row else 0)

    async def write() -> None:
        for i in range(60):
            await UpdateUserHandler(store).handle(
                Command(UpdateUser(user_id=f"u{i:04d}", name=f"n{i}"), ADMIN)
            )
            await create_users(store, f"late{i}-", 1)

    live = asyncio.create_task(
        ProjectionRunner(store, projection, RunnerSettings(poll_interval=0.01)).run(stop)
    )
    reader = asyncio.create_task(read())
    writer = asyncio.create_task(write())
    await rebuild(store, projection)
    await writer
    stop.set()
    await asyncio.gather(live, reader)
    await settled(store)
    await ProjectionRunner(store, projection).catch_up()

    assert len(seen) > 10
    assert min(seen) >= 400  # never empty, never a part of the rows
    assert await table_oid(store) != oid_before  # swapped by renaming, not copied
    assert await rows(store, "SELECT count(*) FROM examples.user_view") == [(460,)]
    assert await rows(store, "SELECT count(*) FROM examples.user_view WHERE name = 'corrupt'") == [(0,)]
    assert (await check_consistency(store, projection)).consistent
    assert await rows(
        store,
        f"SELECT has_table_privilege('{reader_role}', 'examples.user_view', 'SELECT'), "
        f"has_column_privilege('{reader_role}', 'examples.user_view', 'name', 'UPDATE'), "
        f"has_table_privilege('{reader_role}', 'examples.user_view', 'UPDATE')",
    ) == [(True, True, False)]
    assert await rows(store, "SELECT obj_description('examples.user_view'::regclass, 'pg_class')") == [
        ("one row per user",)
    ]
    assert (
        await rows(store, "SELECT indexname FROM pg_indexes WHERE tablename = 'user_view' ORDER BY 1")
        == indexes_before
    )
    assert await rows(
        store, "SELECT to_regclass('examples.user_view__old'), to_regclass('examples.user_view__rebuild')"
    ) == [(None, None)]
    # Again: the names the first swap gave back are free for the next.
    await rebuild(store, projection)
    assert (
        await rows(store, "SELECT indexname FROM pg_indexes WHERE tablename = 'user_view' ORDER BY 1")
        == indexes_before
    )
    assert (await check_consistency(store, projection)).consistent


async def test_a_table_a_view_reads_is_swapped_by_copying(store: PostgresEventStore) -> None:
    await create_users(store, "v", 20)
    await settled(store)
    projection = UserProjection()
    await ProjectionRunner(store, projection).catch_up()
    async with store.pool.connection() as conn:
        await conn.execute("CREATE VIEW examples.user_names AS SELECT id, name FROM examples.user_view")
        await conn.execute("UPDATE examples.user_view SET name = 'corrupt'")
    oid_before = await table_oid(store)
    await rebuild(store, projection)
    assert await table_oid(store) == oid_before
    assert await rows(
        store, "SELECT count(*), count(*) FILTER (WHERE name = 'x') FROM examples.user_names"
    ) == [(20, 20)]
    assert await rows(store, "SELECT to_regclass('examples.user_view__rebuild')") == [(None,)]


@pytest.mark.slow  # writers race a rebuild
async def test_an_inline_projection_is_rebuilt_by_renaming_while_commands_write(
    acci_database_url: str,
) -> None:
    projection = InlineUserProjection()
    async with await PostgresEventStore.open(acci_database_url, projections=[projection]) as store:
        await create_users(store, "i", 200)
        oid_before = await table_oid(store)
        writer = asyncio.create_task(create_users(store, "during", 100))
        await rebuild(store, projection)
        await writer
        assert await table_oid(store) != oid_before
        assert await rows(store, "SELECT count(*) FROM examples.user_view") == [(300,)]
        assert (await check_consistency(store, projection)).consistent
