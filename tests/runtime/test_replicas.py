"""Queries on a streaming replica, with read-your-writes: a real primary and a real standby
(tests/runtime/replication.py). Commands, runners and checkpoints use the primary; queries the
replica; a query given a command's position waits until the replica has replayed the checkpoint
that covers it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio
from acci import Command, CommandMetadata, ConsistencyTimeout, PostgresEventStore, open_store
from acci.examples import users
from acci.examples.users import CreateUser, CreateUserHandler, UpdateUser, UpdateUserHandler, UserProjection
from acci.migrations import migrate, runtime_migrations
from acci.projections import ProjectionRunner, RunnerSettings
from acci.queries import Query, QueryHandler
from acci.settings import load_settings
from psycopg import sql
from pydantic import BaseModel, ConfigDict

from tests.runtime.replication import BINDIR, Replicated, replicated_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL server binaries to start a replica with"),
]

ADMIN = CommandMetadata(user_id="admin", tenant_id="tenant-1")
_names = itertools.count()


class _ById(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str


class UserRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str


class UserQueries(QueryHandler):
    """What a generated handler looks like: the query names the projection it reads."""

    _GET = Query(
        "get_user",
        _ById,
        UserRow,
        "SELECT id, name FROM examples.user_view",
        where=["tenant_id = %(tenant_id)s", "id = %(id)s"],
        reads=[UserProjection()],
    )

    async def get_user(self, tenant_id: str, *, id: str) -> UserRow | None:
        return await self.fetch_one(self._GET, tenant_id, {"id": id})


@pytest.fixture(scope="module")
def replicated() -> Iterator[Replicated]:
    with replicated_server() as servers:
        yield servers


@pytest.fixture
def urls(replicated: Replicated) -> Iterator[tuple[str, str]]:
    """A fresh migrated database on the primary, replayed on the replica: (primary, replica)."""
    name = f"acci_replica_{next(_names)}"
    with psycopg.connect(replicated.primary_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    primary, replica = replicated.database(name)
    asyncio.run(migrate(primary, runtime_migrations() + users.migrations()))
    replicated.wait_for_replay()
    try:
        yield primary, replica
    finally:
        with psycopg.connect(replicated.primary_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest_asyncio.fixture
async def store(urls: tuple[str, str]) -> AsyncIterator[PostgresEventStore]:
    """The store a service opens from its settings with ACCI_DATABASE__READ_URL set."""
    primary, replica = urls
    settings = load_settings(database={"read_url": replica, "read_your_writes_timeout": 10})
    async with await open_store(settings, primary, projections=[]) as opened:
        yield opened


async def _in_recovery(store: PostgresEventStore, *, read: bool) -> bool:
    async with (store.read_pool if read else store.pool).connection() as conn:
        ((recovery,),) = await (await conn.execute("SELECT pg_is_in_recovery()")).fetchall()
    return bool(recovery)


async def _set_replay(replica_url: str, *, paused: bool) -> None:
    async with await psycopg.AsyncConnection.connect(replica_url, autocommit=True) as conn:
        await conn.execute("SELECT pg_wal_replay_pause()" if paused else "SELECT pg_wal_replay_resume()")


async def test_queries_read_the_replica_and_everything_else_the_primary(store: PostgresEventStore) -> None:
    assert await _in_recovery(store, read=True)
    assert not await _in_recovery(store, read=False)
    assert UserQueries.of(store).pool is store.read_pool
    assert UserQueries.of(store).within == 10


async def test_a_query_with_the_commands_position_sees_its_effect_every_time(
    store: PostgresEventStore,
) -> None:
    stop = asyncio.Event()
    # A runner polling often, on the primary: the replica replays its checkpoints after it.
    runner = asyncio.create_task(
        ProjectionRunner(store, UserProjection(), RunnerSettings(poll_interval=0.01)).run(stop)
    )
    try:
        for n in range(60):
            user = f"u{n}"
            data = CreateUser(user_id=user, email=f"{user}@example.com", name=f"name {n}")
            created = await CreateUserHandler(store).handle(Command(data, ADMIN))
            row = await UserQueries.of(store, position=created.position).get_user("tenant-1", id=user)
            assert row == UserRow(id=user, name=f"name {n}"), n
            renamed = await UpdateUserHandler(store).handle(
                Command(UpdateUser(user_id=user, name=f"renamed {n}"), ADMIN)
            )
            row = await UserQueries.of(store, position=renamed.position).get_user("tenant-1", id=user)
            assert row == UserRow(id=user, name=f"renamed {n}"), n
    finally:
        stop.set()
        await runner


async def test_paused_replay_makes_the_wait_time_out_with_a_clear_error(
    store: PostgresEventStore, urls: tuple[str, str]
) -> None:
    _, replica = urls
    await _set_replay(replica, paused=True)
    try:
        created = await CreateUserHandler(store).handle(
            Command(CreateUser(user_id="u1", email="u1@example.com", name="Ada"), ADMIN)
        )
        await ProjectionRunner(store, UserProjection()).catch_up()
        with pytest.raises(ConsistencyTimeout) as caught:
            await UserQueries.of(store, position=created.position, within=0.5).get_user("tenant-1", id="u1")
        error = caught.value
        assert error.projections == ["user_view"] and error.position == str(created.position)
        assert "replica has not replayed the commit" in error.why and "replay is paused" in error.why
        assert "replay is paused" in str(error)
        # Without a position the query reads what the replica has: not the user yet.
        assert await UserQueries.of(store).get_user("tenant-1", id="u1") is None
    finally:
        await _set_replay(replica, paused=False)
    row = await UserQueries.of(store, position=created.position).get_user("tenant-1", id="u1")
    assert row == UserRow(id="u1", name="Ada")


async def test_a_stopped_runner_times_out_naming_its_checkpoint_on_the_replica(
    store: PostgresEventStore,
) -> None:
    created = await CreateUserHandler(store).handle(
        Command(CreateUser(user_id="u1", email="u1@example.com", name="Ada"), ADMIN)
    )
    with pytest.raises(ConsistencyTimeout) as caught:
        await UserQueries.of(store, position=created.position, within=0.3).get_user("tenant-1", id="u1")
    assert "user_view's checkpoint on the replica" in caught.value.why


async def test_inline_projections_wait_for_the_replica_to_hold_the_commit(urls: tuple[str, str]) -> None:
    primary, replica = urls

    class InlineUsers(UserProjection):
        inline = True

    class InlineQueries(UserQueries):
        _GET = Query(
            "get_user",
            _ById,
            UserRow,
            "SELECT id, name FROM examples.user_view",
            where=["tenant_id = %(tenant_id)s", "id = %(id)s"],
            reads=[InlineUsers()],
        )

    settings = load_settings(database={"read_url": replica})
    async with await open_store(settings, primary, projections=[InlineUsers()]) as store:
        for n in range(20):
            user = f"u{n}"
            data = CreateUser(user_id=user, email=f"{user}@example.com", name="Ada")
            created = await CreateUserHandler(store).handle(Command(data, ADMIN))
            row = await InlineQueries.of(store, position=created.position).get_user("tenant-1", id=user)
            assert row == UserRow(id=user, name="Ada")
        await _set_replay(replica, paused=True)
        try:
            data = CreateUser(user_id="late", email="late@example.com", name="Ada")
            created = await CreateUserHandler(store).handle(Command(data, ADMIN))
            with pytest.raises(ConsistencyTimeout) as caught:
                await InlineQueries.of(store, position=created.position, within=0.3).get_user(
                    "tenant-1", id="late"
                )
            assert "has not replayed" in caught.value.why
        finally:
            await _set_replay(replica, paused=False)
