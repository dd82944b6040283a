"""Tenants across databases: three real databases, tenants spread over them by routes and by the
directory; commands, queries and runners routed by tenant; a move under writes loses nothing."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest
import pytest_asyncio
from acci import (
    ANY,
    Command,
    CommandMetadata,
    ConcurrencyError,
    ConfigurationError,
    NewEvent,
    PostgresEventStore,
    RecordedEvent,
    StreamId,
    TenantMoved,
)
from acci.cli import main
from acci.database import with_database
from acci.examples import users
from acci.examples.users import CreateUser, CreateUserHandler, UserProjection
from acci.migrations import migrate, runtime_migrations
from acci.projections import ProjectionRunner
from acci.run import run_service
from acci.settings import Settings, load_settings
from acci.streams import Position
from acci.tenants import DEFAULT, TenantRouter
from acci.tenants.moves import move_tenant, purge_tenant
from psycopg import sql

from tests.runtime.append_writer import ROUTED_STREAMS, ROUTES
from tests.runtime.replication import BINDIR, private_server
from tests.runtime.test_writer_kill import run_and_kill, until_the_killed_sessions_end

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL server binaries to start a server with"),
]

_names = itertools.count()
NAMES = (DEFAULT, "b", "c")


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, str]]:
    """A server of the module's own (the horizon of the shared one waits on every other user's
    transactions), and a template database migrated on it: (server URL, template name)."""
    with private_server() as url:
        template = "acci_tenants_template"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(template)))
        asyncio.run(migrate(with_database(url, template), runtime_migrations() + users.migrations()))
        yield url, template


@pytest.fixture
def urls(server: tuple[str, str]) -> Iterator[dict[str, str]]:
    """Three fresh migrated databases, by name: `default` (with the directory), `b` and `c`."""
    url, template = server
    created = {name: f"acci_tenants_{next(_names)}_{name}" for name in NAMES}
    with psycopg.connect(url, autocommit=True) as conn:
        for database in created.values():
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(database), sql.Identifier(template)
                )
            )
    try:
        yield {name: with_database(url, database) for name, database in created.items()}
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            for database in created.values():
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
                )


def settings_for(urls: dict[str, str], routes: dict[str, str]) -> Settings:
    others = {name: url for name, url in urls.items() if name != DEFAULT}
    return load_settings(tenants={"databases": others, "routes": routes, "move_wait": 20})


@pytest_asyncio.fixture
async def router(urls: dict[str, str]) -> AsyncIterator[TenantRouter]:
    routes = {"t-b": "b", "t-c": "c"}
    async with await TenantRouter.open(settings_for(urls, routes), urls[DEFAULT]) as opened:
        yield opened


async def tenants_in(store: PostgresEventStore) -> set[str]:
    async with store.pool.connection() as conn:
        rows = await (await conn.execute("SELECT DISTINCT tenant_id FROM acci.events")).fetchall()
    return {tenant for (tenant,) in rows}


def create(tenant: str, user: str) -> Command[CreateUser]:
    data = CreateUser(user_id=user, email=f"{user}@example.com", name=user)
    return Command(data, CommandMetadata(user_id="admin", tenant_id=tenant))


async def test_settings_name_only_known_databases() -> None:
    with pytest.raises(ConfigurationError, match=r"ACCI_TENANTS: .*routes name databases .*: nowhere"):
        load_settings(tenants={"routes": {"t": "nowhere"}})
    with pytest.raises(ConfigurationError, match="`default` is the service's own database"):
        load_settings(tenants={"databases": {"default": "postgresql://x/y"}})


async def test_commands_queries_and_runners_route_by_tenant(router: TenantRouter) -> None:
    handler = CreateUserHandler(router.event_store)
    for tenant in ("t-a", "t-b", "t-c"):
        result = await handler.handle(create(tenant, "u1"))
        assert result.events[0].tenant_id == tenant
    assert await tenants_in(router.store(DEFAULT)) == {"t-a"}
    assert await tenants_in(router.store("b")) == {"t-b"}
    assert await tenants_in(router.store("c")) == {"t-c"}
    # Reads and the idempotency record go to the tenant's database too.
    assert len(await router.event_store.read_stream(StreamId("t-b", "User", "u1"))) == 1
    assert len(await router.event_store.read_all(tenant_id="t-c")) == 1
    with pytest.raises(ConfigurationError, match="per database"):
        await router.event_store.read_all()
    # Runners run per database; each read model holds its own tenants.
    for name in NAMES:
        await ProjectionRunner(router.store(name), UserProjection()).catch_up()
    for tenant, name in (("t-a", DEFAULT), ("t-b", "b"), ("t-c", "c")):
        store = await router.store_for(tenant)
        assert store is router.store(name)
        async with store.read_pool.connection() as conn:
            rows = await (await conn.execute("SELECT tenant_id FROM examples.user_view")).fetchall()
        assert rows == [(tenant,)]


async def test_random_operations_never_cross_tenants_or_databases(router: TenantRouter) -> None:
    """Random appends of random tenants (some routed by settings, some by directory entries),
    with expected versions: each tenant's streams hold exactly its own confirmed events, in the
    database it is routed to, and nowhere else."""
    rng = random.Random(17)
    tenants = [f"r{n}" for n in range(9)]
    async with router.control.pool.connection() as conn:
        for tenant in tenants[:5]:
            await conn.execute(
                "INSERT INTO acci.tenant_directory (tenant_id, database) VALUES (%s, %s)",
                [tenant, rng.choice(NAMES)],
            )
    router.routes.update({tenant: rng.choice(NAMES) for tenant in tenants[5:]})
    expected: dict[StreamId, list[int]] = {}

    async def writer(seed: int) -> None:
        local = random.Random(seed)
        for n in range(40):
            stream = StreamId(local.choice(tenants), "Thing", local.choice(["x", "y", "same"]))
            version = ANY if local.random() < 0.5 else len(expected.get(stream, []))
            try:
                await router.event_store.append(
                    stream, [NewEvent({"n": seed * 1000 + n}, event_type="Happened")], version
                )
            except ConcurrencyError:
                continue
            expected.setdefault(stream, []).append(seed * 1000 + n)

    await asyncio.gather(*(writer(seed) for seed in range(4)))
    homes = {tenant: await router.database_of(tenant) for tenant in tenants}
    for name in NAMES:
        assert await tenants_in(router.store(name)) == {t for t, home in homes.items() if home == name} & {
            s.tenant_id for s in expected
        }
    for stream, values in expected.items():
        stored = await router.store(homes[stream.tenant_id]).read_stream(stream)
        assert sorted(e.data["n"] for e in stored) == sorted(values)
        assert [e.version for e in stored] == list(range(1, len(values) + 1))
        assert all(e.tenant_id == stream.tenant_id for e in stored)


async def test_a_late_commit_is_never_skipped_with_routing_on(
    router: TenantRouter, urls: dict[str, str]
) -> None:
    """The gap test on a routed tenant's database: a transaction that took its position first
    and commits last is still read, once, by a reader paging through that tenant's events."""
    late = await psycopg.AsyncConnection.connect(urls["b"])
    try:
        await late.execute(
            "SELECT * FROM acci.append_events('t-b', 'S', 'late', NULL, ARRAY[%s]::uuid[], ARRAY['Late'], "
            "ARRAY[1], ARRAY['{\"n\": 0}'], NULL, 'c', NULL, NULL, NULL, NULL, false)",
            [uuid.uuid4()],
        )
        for n in range(1, 4):
            await router.event_store.append(
                StreamId("t-b", "S", f"early-{n}"), [NewEvent({"n": n}, event_type="Happened")]
            )
        assert await router.event_store.read_all(tenant_id="t-b") == []
        await late.commit()
    finally:
        await late.close()
    seen: list[int] = []
    position = Position(0, 0)
    while page := await router.event_store.read_all(position, limit=2, tenant_id="t-b"):
        seen += [e.data["n"] for e in page]
        position = page[-1].position
    assert seen == [0, 1, 2, 3]


async def test_a_move_under_writes_loses_nothing(router: TenantRouter, urls: dict[str, str]) -> None:
    streams = [StreamId("t-b", "Thing", f"s{n}") for n in range(4)]
    confirmed: dict[StreamId, list[int]] = {s: [] for s in streams}
    stop = asyncio.Event()
    moved_errors = 0

    async def writer(stream: StreamId) -> None:
        nonlocal moved_errors
        n = 0
        while not stop.is_set():
            # An expected version: the move must keep every stream's version as it was.
            try:
                await router.event_store.append(
                    stream, [NewEvent({"n": n}, event_type="Happened")], len(confirmed[stream])
                )
            except TenantMoved:  # pragma: no cover - the router retries for move_wait seconds
                moved_errors += 1
                continue
            confirmed[stream].append(n)
            n += 1

    first = create("t-b", "u1")
    await CreateUserHandler(router.event_store).handle(first)
    await ProjectionRunner(router.store("b"), UserProjection()).catch_up()
    writers = [asyncio.create_task(writer(s)) for s in streams]
    await asyncio.sleep(0.3)
    result = await move_tenant(router, "t-b", "c")
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.gather(*writers)
    assert moved_errors == 0
    assert (result.source, result.target) == ("b", "c")
    assert await router.database_of("t-b") == "c"
    target = router.store("c")
    for stream in streams:
        stored = await target.read_stream(stream)
        assert [e.data["n"] for e in stored] == confirmed[stream]
        assert [e.version for e in stored] == list(range(1, len(stored) + 1))
    # The copies keep the source's global order: per stream, and across streams.
    source_order = [e.id for e in await _all_events(urls["b"], "t-b")]
    target_events = await _all_events(urls["c"], "t-b")
    assert [e.id for e in target_events][: len(source_order)] == source_order
    # Writes went on before and after the switch.
    assert 0 < len(source_order) < len(target_events)
    # The user created before the move: its command record came along (a repeat is recognised).
    again = await CreateUserHandler(router.event_store).handle(first)
    assert again.replayed and again.events[0].tenant_id == "t-b"
    # The source refuses a writer that still routes the tenant there.
    with pytest.raises(TenantMoved, match="has moved"):
        await router.store("b").append(
            StreamId("t-b", "Thing", "late"), [NewEvent({"n": 1}, event_type="Happened")]
        )
    # The target's runner builds the read model from the copied events.
    await ProjectionRunner(target, UserProjection()).catch_up()
    async with target.pool.connection() as conn:
        rows = await (await conn.execute("SELECT tenant_id, id FROM examples.user_view")).fetchall()
    assert rows == [("t-b", "u1")]
    # Purge: the tenant's rows leave the source, the move's marker stays.
    with pytest.raises(ConfigurationError, match="lives in database 'c'"):
        await purge_tenant(router, "t-b", "c")
    deleted = await purge_tenant(router, "t-b", "b", [UserProjection()])
    assert deleted["acci.events"] == len(source_order) and deleted["examples.user_view"] == 1
    assert await tenants_in(router.store("b")) == set()
    # Another tenant in the source writes on, the trigger notwithstanding.
    await router.store("b").append(
        StreamId("t-other", "Thing", "x"), [NewEvent({"n": 1}, event_type="Happened")]
    )


async def test_a_move_into_a_database_that_holds_the_tenant_is_refused_and_undone(
    router: TenantRouter,
) -> None:
    await router.store("c").append(
        StreamId("t-b", "Thing", "stray"), [NewEvent({"n": 1}, event_type="Happened")]
    )
    await router.event_store.append(
        StreamId("t-b", "Thing", "x"), [NewEvent({"n": 1}, event_type="Happened")]
    )
    with pytest.raises(ConfigurationError, match="already holds 1 stream"):
        await move_tenant(router, "t-b", "c")
    assert await router.entry("t-b") == ("b", "active")
    await router.event_store.append(
        StreamId("t-b", "Thing", "x"), [NewEvent({"n": 2}, event_type="Happened")], 1
    )


async def _all_events(url: str, tenant: str) -> list[RecordedEvent]:
    async with await PostgresEventStore.open(url) as store:
        return list(await store.read_all(tenant_id=tenant, limit=100_000))


def test_the_command_line_lists_moves_and_purges_tenants(
    urls: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    others = {name: url for name, url in urls.items() if name != DEFAULT}
    monkeypatch.setenv("ACCI_TENANTS__DATABASES", json.dumps(others))
    monkeypatch.setenv("ACCI_TENANTS__ROUTES", json.dumps({"t-b": "b"}))
    args = ["--app", "acci.examples.users:service", "--url", urls[DEFAULT]]

    async def seed() -> None:
        async with await TenantRouter.open(load_settings(), urls[DEFAULT]) as router:
            await CreateUserHandler(router.event_store).handle(create("t-b", "u1"))

    asyncio.run(seed())
    assert main([*args, "migrate"]) == 0
    assert "the database (c) is up to date" in capsys.readouterr().out
    assert main([*args, "tenants", "move", "t-b", "c"]) == 0
    assert "1 event(s) of 1 stream(s) copied from b to c" in capsys.readouterr().out
    assert main([*args, "tenants", "list"]) == 0
    listed = capsys.readouterr().out
    assert "t-b" in listed and "active" in listed
    assert main([*args, "tenants", "purge", "t-b", "b"]) == 0
    assert "acci.events" in capsys.readouterr().out
    # Runners' commands work per database.
    assert main([*args, "--database", "c", "projections", "status"]) == 0
    assert "user_view" in capsys.readouterr().out
    assert main([*args, "--database", "nowhere", "projections", "status"]) == 2
    assert "no such tenant database" in capsys.readouterr().err
    assert main([*args, "--database", "b", "run"]) == 2
    assert "serves every tenant database" in capsys.readouterr().err
    assert main([*args, "tenants", "move", "t-b", "c"]) == 2
    assert "is in database 'c' already" in capsys.readouterr().err


async def test_a_routed_writer_killed_mid_flush_keeps_exactly_what_it_confirmed(urls: dict[str, str]) -> None:
    """The kill test with routing on: one writer process over three databases, SIGKILLed twice."""
    others = json.dumps({name: url for name, url in urls.items() if name != DEFAULT})
    ok: set[uuid.UUID] = set()
    failed: set[uuid.UUID] = set()
    for outcomes in (300, 500):
        more_ok, more_failed = await run_and_kill(urls[DEFAULT], outcomes, others)
        ok |= more_ok
        failed |= more_failed
    assert failed, "no conflicts: the writers did not race"
    ids: set[uuid.UUID] = set()
    for name, url in urls.items():
        async with await PostgresEventStore.open(url) as store:
            await until_the_killed_sessions_end(store)
            assert await tenants_in(store) == {t for t, home in ROUTES.items() if home == name}
            for stream in ROUTED_STREAMS:
                if ROUTES[stream.tenant_id] != name:
                    continue
                events = await store.read_stream(stream)
                assert [e.version for e in events] == list(range(1, len(events) + 1))
                ids |= {e.id for e in events}
    assert ok <= ids, "an append that returned success is missing"
    assert not failed & ids, "an append that raised was stored"


async def test_run_keeps_the_read_models_of_every_tenant_database(urls: dict[str, str]) -> None:
    routes = {"t-b": "b", "t-c": "c"}
    settings = settings_for(urls, routes).model_copy(
        update={
            "monitoring": load_settings(monitoring={"enabled": False}).monitoring,
            "projections": load_settings(projections={"poll_interval": 0.05}).projections,
        }
    )
    service = asyncio.create_task(run_service(users.service, settings, urls[DEFAULT]))
    async with await TenantRouter.open(settings, urls[DEFAULT]) as router:
        for tenant in ("t-a", "t-b", "t-c"):
            await CreateUserHandler(router.event_store).handle(create(tenant, "u1"))
        for tenant, name in (("t-a", DEFAULT), ("t-b", "b"), ("t-c", "c")):
            for _ in range(400):
                async with router.store(name).pool.connection() as conn:
                    cur = await conn.execute("SELECT tenant_id FROM examples.user_view")
                    if await cur.fetchall() == [(tenant,)]:
                        break
                await asyncio.sleep(0.025)
            else:
                raise AssertionError(f"no runner kept the read model of database {name}")
    os.kill(os.getpid(), signal.SIGTERM)  # run_service stops on it, gracefully
    assert await asyncio.wait_for(service, 30) == 0
