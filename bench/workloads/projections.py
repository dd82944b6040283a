"""Projection catch-up: 50,000 UserCreated events (one new user each, five tenants) into the identity
domain's user_view read model, each page of 500 events and the checkpoint in one transaction.

ACCI runs the generated UserViewProjection with its ProjectionRunner on the table that the domain's
migrations create (with its trigram indexes). Raw psycopg reads the same events from acci.events by
(transaction_id, global_position), pages of 500, and inserts the same rows into an identical table
(`LIKE public.user_view INCLUDING ALL`) with executemany, the page and its checkpoint row in one
transaction. Before each sample the read model is emptied and the checkpoint reset (not timed).
Two diagnostics run ACCI's runner with an `apply_batch` that does the generated projection's INSERT
differently: on one cursor for the page, composed once and prepared (still one statement per
event), and with one executemany for the page; they show what the generated per-event `apply`
(`conn.execute(_SQL.format(table), ...)`: a new cursor and a new composition per event) costs.

eventsourcing's ProjectionRunner (one transaction per event: its projection gets one event at a
time) projects the same users from its own Application's table into its own copy of the table, but
only the first ES_PROJECTION_EVENTS of them: at its anchor rate (2,397 events/s) 50,000 would take
about 20 s, longer than the rest of the short mode. Its rate is per event, like the others'; its
timing includes starting the runner (its threads and connection pool).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from acci import NO_STREAM, NewEvent, RecordedEvent, StreamId
from acci.migrations import migrate
from acci.projections import Projection, ProjectionRunner, RunnerSettings
from acci.projections.base import Connection
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event as es_event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection as EsProjection
from eventsourcing.projection import ProjectionRunner as ProjectionRunner_
from eventsourcing.utils import get_topic
from identity.events import UserCreated  # type: ignore[import-not-found, unused-ignore]
from identity.projections import UserViewProjection  # type: ignore[import-not-found, unused-ignore]
from identity.registry import REGISTRY as IDENTITY  # type: ignore[import-not-found, unused-ignore]
from identity.service import migrations  # type: ignore[import-not-found, unused-ignore]
from psycopg import sql

from bench.context import Context, EsApp
from bench.db import es_env
from bench.people import Person, people
from bench.runner import Run, Sample, Target, Timer, Variant, Workload
from bench.settings import PAGE_SIZE, PROJECTION_EVENTS
from bench.workloads.common import chunks

#: Events eventsourcing's runner projects (it is slow: about 2,400 events/s, one transaction each).
ES_PROJECTION_EVENTS = 5_000
#: Concurrent appends while writing the events (setup only).
_SETUP_WRITERS = 8

_RAW_SCHEMA = """
CREATE TABLE bench_raw.user_view (LIKE public.user_view INCLUDING ALL);
CREATE TABLE bench_raw.checkpoints (LIKE acci.checkpoints INCLUDING ALL);
CREATE TABLE bench_raw.es_user_view (LIKE public.user_view INCLUDING ALL);
"""
_RAW_PAGE = """
SELECT tenant_id, data, "timestamp", transaction_id, global_position FROM acci.events
 WHERE (transaction_id, global_position) > (%s::text::xid8, %s) AND event_type = ANY(%s)
 ORDER BY transaction_id, global_position LIMIT %s
"""
_RAW_INSERT = (
    "INSERT INTO bench_raw.user_view (tenant_id, id, email, name, status, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)
_RAW_CHECKPOINT = """
UPDATE bench_raw.checkpoints SET transaction_id = %s::text::xid8, global_position = %s,
       updated_at = clock_timestamp()
 WHERE name = %s
"""
_RAW_RESET = """
TRUNCATE bench_raw.user_view;
DELETE FROM bench_raw.checkpoints;
INSERT INTO bench_raw.checkpoints (name) VALUES ('user_view');
"""
_ACCI_RESET = "TRUNCATE public.user_view; DELETE FROM acci.checkpoints WHERE name = 'user_view'"
_EVENT_TYPES = ["UserCreated"]


def _new_event(p: Person) -> NewEvent:
    created = UserCreated(user_id=p.user_id, email=p.email, name=p.name, created_by=p.created_by)
    return NewEvent.of(created)


def setup(ctx: Context) -> None:
    async def write() -> None:
        await migrate(ctx.url, migrations())
        store = await ctx.store(_SETUP_WRITERS)
        users = people(PROJECTION_EVENTS)

        async def writer(mine: Sequence[Person]) -> None:
            for p in mine:
                await store.append(StreamId(p.tenant_id, "User", str(p.user_id)), [_new_event(p)], NO_STREAM)

        share = -(-len(users) // _SETUP_WRITERS)
        await asyncio.gather(*(writer(part) for part in chunks(users, share)))

    ctx.runner.run(write())
    conn = ctx.raw()
    conn.execute(_RAW_SCHEMA)
    es_setup(ctx)
    _wait_for_horizon(ctx)


def _wait_for_horizon(ctx: Context, timeout: float = 60.0) -> None:
    """Wait until every event is below the horizon that ACCI's runner reads up to: a transaction left
    open elsewhere on the server (the machine is shared) would otherwise hide the newest events."""
    query = "SELECT pg_snapshot_xmin(pg_current_snapshot()) > max(transaction_id) AS below FROM acci.events"
    deadline = time.monotonic() + timeout
    while True:
        row = ctx.raw().execute(query).fetchone()
        if row is not None and row["below"]:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                "projection-catchup: a transaction open elsewhere on the server holds back the horizon; "
                "ACCI's runner would not see every event. End it (pg_stat_activity) and run again."
            )
        time.sleep(0.5)


def _check(handled: int, expected: int, what: str) -> None:
    if handled != expected:
        raise RuntimeError(f"projection-catchup: {what} handled {handled:,} events, expected {expected:,}")


# -- ACCI ----------------------------------------------------------------------------------------------


_INSERT = sql.SQL(
    "INSERT INTO {} (tenant_id, id, email, name, status, created_at) VALUES (%s, %s, %s, %s, %s, %s)"
)


def _user_row(event: RecordedEvent) -> tuple[Any, ...]:
    """What the generated projection inserts for a UserCreated event."""
    payload = IDENTITY.decode(event)
    if not isinstance(payload, UserCreated):
        raise TypeError(f"only UserCreated in this workload, got {event!r}")
    return (event.tenant_id, payload.user_id, payload.email, payload.name, "active", event.timestamp)


class _BatchedUserView(UserViewProjection):  # type: ignore[misc, unused-ignore]
    """A diagnostic: the generated projection's INSERT for a whole page at once (executemany), what
    a generated apply_batch could do for the insert-only events of a page."""

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        rows = [_user_row(event) for event in events]
        async with conn.cursor() as cur:
            await cur.executemany(_INSERT.format(table), rows)


class _OneCursorUserView(UserViewProjection):  # type: ignore[misc, unused-ignore]
    """A diagnostic: still one statement per event, but on one cursor for the page, with the query
    composed once per table and prepared, instead of `conn.execute(_SQL.format(table), ...)` for
    each event (a new cursor and a new composition every time) as the generated apply does."""

    def __init__(self) -> None:
        self._queries: dict[str, bytes] = {}

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        query = self._queries.get(repr(table))
        if query is None:
            query = self._queries[repr(table)] = _INSERT.format(table).as_bytes(conn)
        cur = conn.cursor()
        for event in events:
            await cur.execute(query, _user_row(event), prepare=True)


def _acci(projection: type[Projection], what: str) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        ctx.raw().execute(_ACCI_RESET)
        store = await ctx.store()
        runner = ProjectionRunner(store, projection(), RunnerSettings(batch_size=PAGE_SIZE))
        timer = Timer()
        handled = await runner.catch_up()
        sample = timer.stop(handled)
        _check(handled, PROJECTION_EVENTS, what)
        return sample

    return measure


# -- raw -----------------------------------------------------------------------------------------------


def _row(event: dict[str, Any]) -> tuple[Any, ...]:
    data = event["data"]
    return (event["tenant_id"], data["user_id"], data["email"], data["name"], "active", event["timestamp"])


def raw_catch_up(ctx: Context, run: int) -> Sample:
    conn = ctx.raw()
    conn.execute(_RAW_RESET)
    handled, xid, position = 0, "0", 0
    timer = Timer()
    while True:
        with conn.transaction():
            page = conn.execute(_RAW_PAGE, (xid, position, _EVENT_TYPES, PAGE_SIZE), prepare=True).fetchall()
            if not page:
                break
            with conn.cursor() as cur:
                cur.executemany(_RAW_INSERT, [_row(e) for e in page])
            xid, position = str(page[-1]["transaction_id"]), page[-1]["global_position"]
            conn.execute(_RAW_CHECKPOINT, (xid, position, "user_view"), prepare=True)
        handled += len(page)
    sample = timer.stop(handled)
    _check(handled, PROJECTION_EVENTS, "raw")
    return sample


# -- eventsourcing -------------------------------------------------------------------------------------


class EsAccount(EsAggregate):
    """A user as an eventsourcing aggregate: created once, with the tenant as an attribute."""

    class Created(EsAggregate.Created):
        tenant_id: str
        email: str
        name: str
        created_by: str | None

    @es_event(Created)
    def __init__(self, tenant_id: str, email: str, name: str, created_by: str | None) -> None:
        self.tenant_id = tenant_id
        self.email = email
        self.name = name
        self.created_by = created_by


_ES_APP = "EsApp"
_ES_INSERT = (
    "INSERT INTO bench_raw.es_user_view (tenant_id, id, email, name, status, created_at)"
    " VALUES (%s, %s, %s, %s, %s, %s)"
)


class EsUserView(PostgresTrackingRecorder):
    """The materialised view: the row and the tracking record in one transaction, as eventsourcing's
    documentation writes its views."""

    def insert_user(self, row: tuple[Any, ...], tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(_ES_INSERT, row, prepare=True)
            self._insert_tracking(curs, tracking)


class EsUserViewProjection(EsProjection[EsUserView]):
    name = "esuserview"
    topics = (get_topic(EsAccount.Created),)

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if not isinstance(domain_event, EsAccount.Created):
            raise TypeError(f"unexpected event {domain_event!r}")
        row = (
            domain_event.tenant_id,
            domain_event.originator_id,
            domain_event.email,
            domain_event.name,
            "active",
            domain_event.timestamp,
        )
        self.view.insert_user(row, tracking)


def es_setup(ctx: Context) -> None:
    app = ctx.es_app()
    accounts = [EsAccount(p.tenant_id, p.email, p.name, p.created_by) for p in people(ES_PROJECTION_EVENTS)]
    app.save(*accounts)
    ctx.state["es_last"] = app.recorder.max_notification_id()


def es_catch_up(ctx: Context, run: int) -> Sample:
    conn = ctx.raw()
    conn.execute("TRUNCATE bench_raw.es_user_view")
    tracking = conn.execute("SELECT to_regclass('esuserview_tracking') IS NOT NULL AS made").fetchone()
    if tracking and tracking["made"]:  # by the runner's first sample
        conn.execute("DELETE FROM esuserview_tracking WHERE application_name = %s", [_ES_APP])
    # Its subscription holds one connection for LISTEN and pulls on another.
    env = es_env(ctx.url, 3)
    timer = Timer()
    with ProjectionRunner_(
        application_class=EsApp, projection_class=EsUserViewProjection, view_class=EsUserView, env=env
    ) as runner:
        runner.wait(ctx.state["es_last"], timeout=60)
    sample = timer.stop(ES_PROJECTION_EVENTS)
    row = conn.execute("SELECT count(*) AS n FROM bench_raw.es_user_view").fetchone()
    _check(row["n"] if row else 0, ES_PROJECTION_EVENTS, "eventsourcing")
    return sample


WORKLOADS = [
    Workload(
        name="projection-catchup",
        title="projection catch-up, 50,000 UserCreated into user_view",
        setup=setup,
        variants=[
            Variant(
                "acci",
                "ACCI ProjectionRunner.catch_up, generated UserViewProjection",
                _acci(UserViewProjection, "ACCI"),
            ),
            Variant(
                "acci",
                "ACCI runner, apply_batch: one cursor, query composed once, prepared (diagnostic)",
                _acci(_OneCursorUserView, "ACCI (one cursor)"),
            ),
            Variant(
                "acci",
                "ACCI runner, apply_batch: executemany of the page (diagnostic)",
                _acci(_BatchedUserView, "ACCI (executemany)"),
            ),
            Variant(
                "raw", "raw pages of 500, executemany + checkpoint, 1 transaction per page", raw_catch_up
            ),
            Variant(
                "es",
                f"es ProjectionRunner, 1 transaction per event (first {ES_PROJECTION_EVENTS:,} users)",
                es_catch_up,
            ),
        ],
        targets=(Target("raw", 0.7),),
    )
]
