"""pytest fixtures that give each test a fresh, migrated PostgreSQL database.

Enable with `pytest_plugins = ["acci.testing"]` in a conftest.py (or `-p acci.testing`).
The server is ACCI_DATABASE_URL when set; otherwise an embedded PostgreSQL started once per
test session. Tests never skip for lack of a server.

A service whose tests need its own migrations (generated read models) overrides the
`acci_migrations` fixture in its conftest.py.

The second half runs acci-gen's generated tests, which are data: scenarios (given events, a
command, then events or an error), sample events that must survive a round trip, stored payloads
of older event versions and what they read as, projection and query cases. Each `*_test` function
returns one parametrized pytest test over its table (ids: the names in the table).

A project that registers a `slow` marker gets, at the end of each run, the tests without it that
took more than a second (acci._slowtests; the ini option `acci_slow_seconds` moves the limit).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import KW_ONLY, dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from psycopg.rows import dict_row
from pydantic import TypeAdapter, ValidationError

from acci._testdb import CleanState, clean_state, reset, reuse_enabled
from acci.commands import (
    Command,
    CommandData,
    CommandHandler,
    CommandHandlerBase,
    CommandMetadata,
    CommandResult,
    Handlers,
)
from acci.database import check_server, database_url, with_database
from acci.errors import (
    AcciError,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandRejected,
    ProjectionFailed,
)
from acci.events import DomainEvent, NewEvent, RecordedEvent
from acci.migrations import Migration, migrate, runtime_migrations
from acci.multi import MultiCommandHandler
from acci.policies import DeadlineRunner, ManualClock, Observer, Policy, Sent, list_deadlines, policy_runner
from acci.projections import DeadLetter, Projection, ProjectionRunner, RunnerSettings, list_dead_letters
from acci.projections.consistency import has_passed
from acci.queries import QueryHandler
from acci.registry import EventRegistry
from acci.store.base import EventStore
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore
from acci.streams import NO_STREAM, Position, StreamId

#: With a `slow` marker registered, the end of a run lists the tests that are slow without it.
pytest_plugins = ["acci._slowtests"]

_counter = itertools.count()

#: The embedded server of a test session is thrown away afterwards: it need not survive a crash,
#: so its commits do not wait for the disk. (A server named by ACCI_DATABASE_URL is left as it is.)
EMBEDDED_TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def acci_server_url() -> Iterator[str]:
    """The URL of the PostgreSQL server the tests use (its maintenance database)."""
    with database_url(settings=EMBEDDED_TEST_SETTINGS) as url:
        check_server(url)
        yield url


@pytest.fixture(scope="session")
def acci_migrations() -> list[Migration]:
    """The migrations every test database gets. Override to add a service's own."""
    return runtime_migrations()


class _Templates:
    """Migrated template databases, one per distinct set of migrations (conftest files in
    different directories may override `acci_migrations`), created on first use; and the test
    databases copied from them, each cleaned for the next test when it can be (acci._testdb)."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url
        self.names: dict[tuple[tuple[str, int, str], ...], str] = {}
        self._clean: dict[str, CleanState] = {}
        self._spare: dict[str, list[str]] = {}

    def get(self, migrations: list[Migration]) -> str:
        key = tuple((m.component, m.version, m.checksum) for m in migrations)
        name = self.names.get(key)
        if name is None:
            # Imported here: pytest loads acci._slowtests as a plugin (pytest_plugins above) and
            # rewrites its asserts only if nothing imported it before.
            from acci._slowtests import shared

            name = f"acci_template_{os.getpid()}_{len(self.names)}"
            with shared(f"template database {name} ({len(migrations)} migrations)"):
                _create_database(self.server_url, name)
                # In a thread of its own: fixtures may be set up from inside a running event loop.
                url = with_database(self.server_url, name)
                with ThreadPoolExecutor(max_workers=1) as pool:
                    pool.submit(asyncio.run, migrate(url, migrations)).result()
                self._clean[name] = clean_state(url)
            self.names[key] = name
        return name

    def take(self, template: str) -> str:
        """A database in the state of `template`: a cleaned one, or a new copy."""
        spare = self._spare.setdefault(template, [])
        if spare:
            return spare.pop()
        name = f"acci_test_{os.getpid()}_{next(_counter)}"
        _create_database(self.server_url, name, template=template)
        return name

    def give_back(self, template: str, name: str) -> None:
        """Clean `name` for the next test, or drop it when it cannot be."""
        if reuse_enabled():
            try:
                if reset(with_database(self.server_url, name), self._clean[template]):
                    self._spare.setdefault(template, []).append(name)
                    return
            except psycopg.Error:
                pass  # whatever the test left, a new copy is certain
        _drop_database(self.server_url, name)

    def drop_all(self) -> None:
        for names in self._spare.values():
            for name in names:
                _drop_database(self.server_url, name)
        for name in self.names.values():
            _drop_database(self.server_url, name)


@pytest.fixture(scope="session")
def acci_templates(acci_server_url: str) -> Iterator[_Templates]:
    templates = _Templates(acci_server_url)
    try:
        yield templates
    finally:
        templates.drop_all()


@pytest.fixture
def acci_template_database(acci_templates: _Templates, acci_migrations: list[Migration]) -> str:
    """The name of a database migrated with `acci_migrations`, to copy for each test."""
    return acci_templates.get(acci_migrations)


@pytest.fixture
def acci_database_url(
    acci_server_url: str, acci_templates: _Templates, acci_template_database: str
) -> Iterator[str]:
    """A migrated database of its own for one test, as fresh as a new copy of the template:
    afterwards it is emptied for a later test, or dropped when the test changed more than rows
    (ACCI_TEST_FRESH_DATABASES=1: always dropped)."""
    name = acci_templates.take(acci_template_database)
    try:
        yield with_database(acci_server_url, name)
    finally:
        acci_templates.give_back(acci_template_database, name)


@pytest.fixture
def acci_database_with(
    acci_server_url: str, acci_templates: _Templates, acci_migrations: list[Migration]
) -> Iterator[Callable[[Sequence[Migration]], str]]:
    """`acci_database_with(more)`: the URL of a database of its own for one test, migrated with
    `acci_migrations` and then `more` (a domain's read models). It is a copy of a template with
    those migrations, emptied afterwards for a later test like `acci_database_url`'s: a test that
    migrated its `acci_database_url` further would get it dropped and a new copy migrated anew."""
    taken: list[tuple[str, str]] = []
    have = {(m.component, m.version) for m in acci_migrations}

    def database(more: Sequence[Migration]) -> str:
        wanted = [*acci_migrations, *(m for m in more if (m.component, m.version) not in have)]
        template = acci_templates.get(wanted)
        name = acci_templates.take(template)
        taken.append((template, name))
        return with_database(acci_server_url, name)

    try:
        yield database
    finally:
        for template, name in reversed(taken):
            acci_templates.give_back(template, name)


@pytest_asyncio.fixture
async def postgres_store(acci_database_url: str) -> AsyncIterator[PostgresEventStore]:
    """A PostgresEventStore on a fresh database."""
    store = await PostgresEventStore.open(acci_database_url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def memory_store() -> InMemoryEventStore:
    return InMemoryEventStore()


def _create_database(server_url: str, name: str, *, template: str | None = None) -> None:
    query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(query)


def _drop_database(server_url: str, name: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def append_to(
    store: EventStore, tenant_id: str, aggregate_type: str, aggregate_id: str, *events: DomainEvent
) -> None:
    """Append typed events to a stream, whatever its version (test setup)."""
    await store.append(StreamId(tenant_id, aggregate_type, aggregate_id), [NewEvent.of(e) for e in events])


async def table_rows(store: PostgresEventStore, table: str, tenant_id: str) -> list[dict[str, Any]]:
    """Every row of a read-model table (in `public`) that belongs to the tenant, as dicts."""
    async with store.pool.connection() as conn:
        cursor = conn.cursor(row_factory=dict_row)
        query = sql.SQL("SELECT * FROM {} WHERE tenant_id = %s").format(sql.Identifier(table))
        await cursor.execute(query, [tenant_id])
        return await cursor.fetchall()


# -- acci-gen's generated tests: data, run here ----------------------------------------------------

#: An event or a command the way a domain file writes it: {type name: data}.
Named = Mapping[str, Mapping[str, Any]]
#: A test function pytest collects (the `*_test` functions return one, parametrized over a table).
TestFunction = Callable[..., Awaitable[None]]

TENANT = "tenant-1"
OTHER_TENANT = "tenant-2"
#: The errors a scenario can name besides `invalid` and the codes of its domain's rules.
_ERRORS: dict[str, type[AcciError]] = {
    "not_found": AggregateNotFound,
    "already_exists": AggregateAlreadyExists,
}


def _one(named: Named) -> tuple[str, Mapping[str, Any]]:
    [(name, data)] = named.items()
    return name, data


def _event(registry: EventRegistry, named: Named) -> DomainEvent:
    name, data = _one(named)
    return registry.class_for(name).model_validate(data)


@dataclass(frozen=True)
class Scenario:
    """A scenario of a domain file: given events (in the command's stream), when a command (sent
    with `metadata`), then the events it appends, or the error it fails with: `invalid` (the
    command data does not validate), `not_found`, `already_exists`, or a rule's code."""

    name: str
    _: KW_ONLY
    given: Sequence[Named] = ()
    when: Named
    then: Sequence[Named] = ()
    error: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


def scenario_metadata(
    *,
    user_id: str = "scenario-user",
    tenant_id: str = TENANT,
    correlation_id: str = "scenario",
    timestamp: str = "2024-01-01T00:00:00+00:00",
) -> CommandMetadata:
    """The command metadata of a scenario: fixed values, so that expected events can name them."""
    return CommandMetadata(
        user_id=user_id,
        tenant_id=tenant_id,
        correlation_id=correlation_id,
        timestamp=datetime.fromisoformat(timestamp),
    )


async def _handled(handler: CommandHandlerBase[Any, Any, Any], command: Command[Any]) -> CommandResult:
    """Handle the command. An unwritten hand-written decision (a stub that raises
    NotImplementedError) fails the test with the stub's message."""
    try:
        return await handler.handle(command)
    except NotImplementedError as error:
        pytest.fail(str(error))


async def run_scenario(
    store: EventStore,
    registry: EventRegistry,
    handlers: Handlers,
    scenario: Scenario | MultiScenario,
) -> None:
    """Given, when, then: the stream holds the given events and, unless the command failed as
    expected, the events it produced (for a MultiScenario: each role's stream)."""
    commands = {command_class.command_type: command_class for command_class in handlers}
    name, data = _one(scenario.when)
    command_class = commands[name]
    if scenario.error == "invalid":
        with pytest.raises(ValidationError):
            command_class.model_validate(data)
        return
    command = Command(command_class.model_validate(data), scenario_metadata(**scenario.metadata))
    handler = handlers[command_class](store)
    if isinstance(scenario, MultiScenario) or isinstance(handler, MultiCommandHandler):
        if not isinstance(scenario, MultiScenario) or not isinstance(handler, MultiCommandHandler):
            pytest.fail(
                f"scenario {scenario.name!r}: {name} is handled by {type(handler).__name__}; a command on "
                "several aggregates takes a MultiScenario (given and then by role), any other a Scenario."
            )
        await _run_multi_scenario(store, registry, handler, command, scenario)
        return
    if not isinstance(handler, CommandHandler):
        pytest.fail(f"scenario {scenario.name!r}: {type(handler).__name__} is not a CommandHandler.")
    stream = StreamId(
        command.metadata.tenant_id, handler.aggregate_class.aggregate_type, handler.aggregate_id(command)
    )
    given = [_event(registry, event) for event in scenario.given]
    if given:
        await store.append(stream, [NewEvent.of(event) for event in given], NO_STREAM)
    if scenario.error is None:
        expected = [_event(registry, event) for event in scenario.then]
        result = await _handled(handler, command)
        assert [registry.decode(event) for event in result.events] == expected
        assert [registry.decode(event) for event in await store.read_stream(stream)] == [*given, *expected]
        return
    with pytest.raises(_ERRORS.get(scenario.error, CommandRejected)) as raised:
        await _handled(handler, command)
    if isinstance(raised.value, CommandRejected):
        assert raised.value.code == scenario.error
    assert [registry.decode(event) for event in await store.read_stream(stream)] == given


def scenario_test(
    registry: EventRegistry,
    handlers: Handlers,
    scenarios: Sequence[Scenario | MultiScenario],
) -> TestFunction:
    """One test per scenario, through the real command handler on PostgreSQL."""

    @pytest.mark.parametrize("scenario", scenarios, ids=[s.name for s in scenarios])
    async def test_scenario(postgres_store: PostgresEventStore, scenario: Scenario | MultiScenario) -> None:
        await run_scenario(postgres_store, registry, handlers, scenario)

    return test_scenario


@dataclass(frozen=True)
class MultiScenario:
    """A scenario of a command on several aggregates: given events on each role's stream, when a
    command, then the events it appends to each role's stream (roles it appends nothing to may be
    left out), or the error it fails with (as in Scenario; two roles on one stream:
    `same_aggregate`). Roles that share a stream share its events, in role order."""

    name: str
    _: KW_ONLY
    given: Mapping[str, Sequence[Named]] = field(default_factory=dict)
    when: Named
    then: Mapping[str, Sequence[Named]] = field(default_factory=dict)
    error: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


async def given_on_streams(
    store: EventStore,
    registry: EventRegistry,
    handler: MultiCommandHandler[Any],
    command: Command[Any],
    scenario: MultiScenario,
) -> dict[StreamId, list[str]]:
    """Append a multi-aggregate scenario's given events to each role's stream; return the streams
    the command touches, each with its roles in role order."""
    ids = handler.aggregate_ids(command)
    tenant = command.metadata.tenant_id
    streams: dict[StreamId, list[str]] = {}
    for role in handler.roles:
        streams.setdefault(StreamId(tenant, role.aggregate_class.aggregate_type, ids[role.name]), []).append(
            role.name
        )
    for stream in streams:
        if given := role_events(registry, streams, scenario.given, stream):
            await store.append(stream, [NewEvent.of(event) for event in given], NO_STREAM)
    return streams


def role_events(
    registry: EventRegistry,
    streams: Mapping[StreamId, Sequence[str]],
    table: Mapping[str, Sequence[Named]],
    stream: StreamId,
) -> list[DomainEvent]:
    """The events a scenario's table (given or then, by role) names for one stream."""
    return [_event(registry, event) for role in streams[stream] for event in table.get(role, ())]


async def _run_multi_scenario(
    store: EventStore,
    registry: EventRegistry,
    handler: MultiCommandHandler[Any],
    command: Command[Any],
    scenario: MultiScenario,
) -> None:
    roles = [role.name for role in handler.roles]
    unknown = sorted((set(scenario.given) | set(scenario.then)) - set(roles))
    if unknown:
        pytest.fail(f"scenario {scenario.name!r} names {unknown}, which are not roles of it: {roles}.")
    streams = await given_on_streams(store, registry, handler, command, scenario)

    def events_of(table: Mapping[str, Sequence[Named]], stream: StreamId) -> list[DomainEvent]:
        return role_events(registry, streams, table, stream)

    if scenario.error is None:
        result = await _handled(handler, command)
        for stream in streams:
            expected = events_of(scenario.then, stream)
            assert [registry.decode(e) for e in result.events if e.stream == stream] == expected, stream
            stored = [registry.decode(event) for event in await store.read_stream(stream)]
            assert stored == [*events_of(scenario.given, stream), *expected], stream
        return
    with pytest.raises(_ERRORS.get(scenario.error, CommandRejected)) as raised:
        await _handled(handler, command)
    if isinstance(raised.value, CommandRejected):
        assert raised.value.code == scenario.error
    for stream in streams:
        stored = [registry.decode(event) for event in await store.read_stream(stream)]
        assert stored == events_of(scenario.given, stream), stream


def round_trip_test(registry: EventRegistry, events: Sequence[Named]) -> TestFunction:
    """One test per sample event: it survives JSON and a trip through the event store unchanged."""

    @pytest.mark.parametrize("event", events, ids=[_one(event)[0] for event in events])
    async def test_event_round_trip(postgres_store: PostgresEventStore, event: Named) -> None:
        payload = _event(registry, event)
        cls = type(payload)
        assert cls.model_validate_json(payload.model_dump_json()) == payload
        stream = StreamId(TENANT, "RoundTrip", cls.event_type)
        await postgres_store.append(stream, [NewEvent.of(payload)], NO_STREAM)
        [stored] = await postgres_store.read_stream(stream)
        assert (stored.event_type, stored.schema_version) == (cls.event_type, cls.schema_version)
        assert registry.decode(stored) == payload

    return test_event_round_trip


@dataclass(frozen=True)
class Upcast:
    """A payload stored at an older version of an event, and what it reads as today (None: a
    hand-written upcaster decides, and the test checks that every read path agrees)."""

    event_type: str
    version: int
    stored: Mapping[str, Any]
    expected: Mapping[str, Any] | None = None


def upcast_test(registry: EventRegistry, cases: Sequence[Upcast]) -> TestFunction:
    """One test per older event version: stored as it was, read back through the upcasters."""

    @pytest.mark.parametrize("case", cases, ids=[f"{c.event_type}_v{c.version}" for c in cases])
    async def test_upcast(postgres_store: PostgresEventStore, case: Upcast) -> None:
        stream = StreamId(TENANT, "Evolution", f"{case.event_type}-{case.version}")
        stored = NewEvent(dict(case.stored), event_type=case.event_type, schema_version=case.version)
        await postgres_store.append(stream, [stored])
        [recorded] = await postgres_store.read_stream(stream)
        assert recorded.schema_version == case.version  # stored as it was, never rewritten
        decoded = registry.decode(recorded)
        # The global order shows it once it is below the horizon (see catch_up_past).
        deadline = time.monotonic() + 30.0
        while not (found := await postgres_store.read_all(event_types=[case.event_type])):
            assert time.monotonic() < deadline, "a transaction left open on the server holds the horizon"
            await asyncio.sleep(0.02)
        [from_global] = found
        assert registry.decode(from_global) == decoded
        if case.expected is not None:
            assert decoded == registry.class_for(case.event_type).model_validate(case.expected)

    return test_upcast


# -- read models --------------------------------------------------------------------------------------

#: For each event type: the aggregate type of its streams and the field that holds their id.
Streams = Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class ProjectionCase:
    """Events (each in its aggregate's stream) applied to a projection, and the rows of the tenant
    afterwards: each with the columns named (values as JSON, compared as the column's type).
    `rows=None`: the last event has a hand-written handler, which must change the rows. `inline`:
    the events are appended by a store that updates the projection itself, with no runner."""

    name: str
    projection: Projection
    given: Sequence[Named]
    rows: Sequence[Mapping[str, Any]] | None = None
    inline: bool = False


@dataclass(frozen=True)
class QueryCase:
    """A query asked with sample parameters after the given events were projected: in the tenant
    of the events it finds what it finds (a row, if `finds_row`), in another tenant nothing."""

    query: str
    projection: Projection
    given: Sequence[Named]
    parameters: Mapping[str, Any]
    finds_row: bool = False


def _same(actual: Any, expected: Any) -> bool:
    """A JSON value from a test table against a column's value, read as the column's type."""
    if actual is None or expected is None:
        return actual is expected
    return bool(TypeAdapter(type(actual)).validate_python(expected) == actual)


def _assert_rows(rows: list[dict[str, Any]], expected: Sequence[Mapping[str, Any]]) -> None:
    """The rows are the expected ones, in any order (a table has none)."""
    assert len(rows) == len(expected), f"{len(rows)} rows, expected {len(expected)}: {rows}"
    if len(rows) == 1:
        (row,), (wanted,) = rows, expected
        wrong = {column: row[column] for column, value in wanted.items() if not _same(row[column], value)}
        assert not wrong, f"columns {wrong} of {row} differ from {dict(wanted)}"
        return
    remaining = list(rows)
    for wanted in expected:
        found = next(
            (r for r in remaining if all(_same(r[column], value) for column, value in wanted.items())), None
        )
        assert found is not None, f"no row has {dict(wanted)}; the rows left are {remaining}"
        remaining.remove(found)


async def _append_named(
    store: PostgresEventStore, registry: EventRegistry, streams: Streams, events: Sequence[Named]
) -> list[RecordedEvent]:
    """Append each event to its aggregate's stream (by `streams`) in the test tenant."""
    appended = []
    for named in events:
        name, data = _one(named)
        aggregate_type, identity = streams[name]
        stream = StreamId(TENANT, aggregate_type, str(data.get(identity, "sample")))
        appended.extend(await store.append(stream, [NewEvent.of(_event(registry, named))]))
    return appended


async def _project(
    store: PostgresEventStore,
    registry: EventRegistry,
    streams: Streams,
    projection: Projection,
    events: Sequence[Named],
    *,
    inline: bool,
) -> list[dict[str, Any]]:
    """Append the events and (unless the store is inline) catch the projection up; its rows."""
    appended = await _append_named(store, registry, streams, events)
    if not inline:
        try:
            await catch_up_past(store, projection, appended[-1].position if appended else None)
        except ProjectionFailed as error:
            if isinstance(error.__cause__, NotImplementedError):  # an unwritten hand-written handler
                pytest.fail(str(error.__cause__))
            raise
    return await table_rows(store, projection.table_name(), TENANT)


async def catch_up_past(
    store: PostgresEventStore, projection: Projection, position: Position | None, *, within: float = 30.0
) -> None:
    """Catch the projection up (failing fast) until it has passed `position`, for `within` seconds.

    One catch-up reads only below the horizon, which a transaction open anywhere on the server
    (another test's, on a shared server) holds back for a moment: a test that appended events
    and wants them applied catches up again until they are. A projection generated inline is run
    here all the same."""
    deadline = time.monotonic() + within
    kept = _RunnerKept(projection.name, tuple(projection.event_types))
    while True:
        await ProjectionRunner(store, projection, RunnerSettings(fail_fast=True)).catch_up()
        if position is None:
            return
        async with store.pool.connection() as conn:
            if await has_passed(conn, kept, position):
                return
        if time.monotonic() > deadline:
            pytest.fail(
                f"{projection.name} did not pass {position} within {within:g} s: a transaction left "
                "open on the server holds back the horizon (pg_stat_activity)"
            )
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class _RunnerKept:
    """A projection as a runner keeps it, for `has_passed`: by its checkpoint, never inline."""

    name: str
    event_types: tuple[str, ...]
    inline: bool = False


def projection_test(
    registry: EventRegistry,
    migrations: Sequence[Migration],
    streams: Streams,
    cases: Sequence[ProjectionCase],
) -> TestFunction:
    """One test per projection case, on a database migrated with the domain's read models."""

    @pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])
    async def test_projection(
        acci_database_with: Callable[[Sequence[Migration]], str], case: ProjectionCase
    ) -> None:
        url = acci_database_with(migrations)
        inline = [case.projection] if case.inline else []
        async with await PostgresEventStore.open(url, projections=inline) as store:
            *earlier, last = case.given
            before = await _project(store, registry, streams, case.projection, earlier, inline=case.inline)
            after = await _project(store, registry, streams, case.projection, [last], inline=case.inline)
        if case.rows is not None:
            _assert_rows(after, case.rows)
        else:
            assert after != before, f"{_one(last)[0]} changed no row of {case.projection.name}: {after}"

    return test_projection


def query_test(
    handler_class: type[QueryHandler],
    registry: EventRegistry,
    migrations: Sequence[Migration],
    streams: Streams,
    cases: Sequence[QueryCase],
) -> TestFunction:
    """One test per query: it answers from the rows its projection wrote, within the tenant only."""

    @pytest.mark.parametrize("case", cases, ids=[c.query for c in cases])
    async def test_query(acci_database_with: Callable[[Sequence[Migration]], str], case: QueryCase) -> None:
        async with await PostgresEventStore.open(acci_database_with(migrations)) as store:
            await _project(store, registry, streams, case.projection, case.given, inline=False)
            method = getattr(handler_class.of(store), case.query)
            mine = await method(TENANT, **case.parameters)
            theirs = await method(OTHER_TENANT, **case.parameters)
        assert theirs in (None, [])
        assert mine is not None or not case.finds_row

    return test_query


# -- policies and deadlines ---------------------------------------------------------------------------

#: A policy's runner in a test: one try per event, so that a rejection to dead-letter parks it at once.
_POLICY_SETTINGS = RunnerSettings(max_attempts=1)


@dataclass(frozen=True)
class PolicyCase:
    """A policy's reaction: after the `given` events (each in its aggregate's stream; the policy
    handles them first), `when` is appended, and the policy sends `then` for it: the commands in
    order, {type: data}, rejected ones and their compensations included (none: it sends nothing).
    `parked`: the policy dead-letters the event (a rejection it does not compensate)."""

    name: str
    policy: Policy
    _: KW_ONLY
    given: Sequence[Named] = ()
    when: Named
    then: Sequence[Named] = ()
    parked: bool = False


@dataclass(frozen=True)
class DeadlineCase:
    """A policy's deadlines: after the `given` events (each in its aggregate's stream, handled by
    the policy: they schedule and cancel deadlines), the clock moves `elapse` past the last of
    them, and the deadlines then due send `then`: the commands in order, {type: data} (none:
    cancelled, or not due yet)."""

    name: str
    policy: Policy
    _: KW_ONLY
    given: Sequence[Named]
    elapse: timedelta
    then: Sequence[Named] = ()


def _commands(policy: Policy, named: Sequence[Named]) -> list[CommandData]:
    classes = policy.command_classes()
    return [classes[name].model_validate(data) for name, data in map(_one, named)]


def _distinct(sent: Sequence[Sent]) -> list[CommandData]:
    """The commands sent, each once (a runner that tries an event again sends them again, under
    the same ids), in the order first sent."""
    first: dict[UUID, CommandData] = {}
    for one in sent:
        first.setdefault(one.command.id, one.command.data)
    return list(first.values())


async def _policy_handles(
    store: PostgresEventStore, policy: Policy, observer: Observer | None = None
) -> list[DeadLetter]:
    """Catch the policy up; the events it parked (an unwritten hand-written decision in a command
    it sends says so in the dead letter's error)."""
    await policy_runner(store, policy, _POLICY_SETTINGS, observer=observer).catch_up()
    return await list_dead_letters(store, policy.name)


def policy_test(registry: EventRegistry, streams: Streams, cases: Sequence[PolicyCase]) -> TestFunction:
    """One test per policy case: the policy's real runner and the real command handlers, on
    PostgreSQL; the commands it sends because of the `when` event are compared with `then`."""

    @pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])
    async def test_policy(postgres_store: PostgresEventStore, case: PolicyCase) -> None:
        await _append_named(postgres_store, registry, streams, case.given)
        if earlier := await _policy_handles(postgres_store, case.policy):
            pytest.fail(f"the policy parked a given event: {earlier[0].error}")
        sent: list[Sent] = []
        await _append_named(postgres_store, registry, streams, [case.when])
        parked = await _policy_handles(postgres_store, case.policy, sent.append)
        if parked and not case.parked:
            pytest.fail(f"the policy parked {_one(case.when)[0]}: {parked[0].error}")
        assert bool(parked) == case.parked, "the event was not parked"
        assert _distinct(sent) == _commands(case.policy, case.then)

    return test_policy


def deadline_test(registry: EventRegistry, streams: Streams, cases: Sequence[DeadlineCase]) -> TestFunction:
    """One test per deadline case: the policy's runner schedules and cancels, a DeadlineRunner on a
    ManualClock sends what is due once the clock has moved; compared with `then`."""

    @pytest.mark.parametrize("case", cases, ids=[c.name for c in cases])
    async def test_deadline(postgres_store: PostgresEventStore, case: DeadlineCase) -> None:
        appended = await _append_named(postgres_store, registry, streams, case.given)
        if parked := await _policy_handles(postgres_store, case.policy):
            pytest.fail(f"the policy parked a given event: {parked[0].error}")
        clock = ManualClock(max((e.timestamp for e in appended), default=None))
        clock.advance(case.elapse)
        sent: list[Sent] = []
        runner = DeadlineRunner(postgres_store, [case.policy], clock=clock, observer=sent.append)
        await runner.fire_due()
        failed = [d for d in await list_deadlines(postgres_store, case.policy.name) if d.state == "failed"]
        if failed:
            pytest.fail(f"deadline {failed[0].name!r} ({failed[0].key}) failed: {failed[0].error}")
        assert _distinct(sent) == _commands(case.policy, case.then)

    return test_deadline
