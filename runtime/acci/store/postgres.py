"""The PostgreSQL event store (psycopg 3, async, with a connection pool)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Self
from uuid import UUID

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from acci import metrics
from acci._gcpause import gc_paused
from acci.errors import AcciError, ConcurrencyError
from acci.events import EventMetadata, NewEvent, RecordedEvent
from acci.store._connect import CONNECT_TIMEOUT, ConnectionPool, connect
from acci.store._pg_errors import database_errors, translate
from acci.store._prepare import append_params, metadata_for
from acci.store.base import CommandRecord, EventStore, InlineProjection, Snapshot, StreamLoad, Waiter
from acci.streams import ANY, START, ExpectedVersion, Position, StreamId

# The columns every read returns, in the order _to_event expects them.
_EVENT_COLUMNS = """
    id, tenant_id, aggregate_type, aggregate_id, event_type, version, schema_version, data::text,
    user_id, correlation_id, causation_id, metadata::text, "timestamp",
    transaction_id::text::bigint, global_position
"""

# The arrays go in binary (%b): psycopg's text array dumper quotes every element in Python, which
# halved the speed of a 10,000-event append.
_APPEND = """
SELECT out_version, out_transaction_id::text::bigint, out_global_position, out_timestamp
  FROM acci.append_events(%s, %s, %s, %s::bigint, %b::uuid[], %b::text[], %b::int[], %b::text[],
                          %s, %s, %s, %s, %s::uuid, %s, %s)
"""

_READ_STREAM = f"""
SELECT {_EVENT_COLUMNS} FROM acci.events
 WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s
   AND version > %s AND version <= %s AND "timestamp" <= %s
 ORDER BY version
"""  # noqa: S608 - a constant column list, no input

# The horizon: only rows of transactions older than the oldest one still running are read, so
# a transaction that took its positions early and commits late is never passed over.
_HORIZON = "   AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())\n"


@functools.cache
def _read_all_query(*, types: int, tenant: bool, below_horizon: bool) -> str:
    """One statement per combination of filters, rather than `(%s IS NULL OR ...)`, so that each
    prepared plan can use the index that fits it. ORDER BY names the table's columns: the select
    list has casts of the same names, and sorting by those would bypass the index."""
    return (
        f"SELECT {_EVENT_COLUMNS} FROM acci.events\n"  # noqa: S608 - constant text, no input
        " WHERE (transaction_id, global_position) > (%(xid)s::text::xid8, %(position)s)\n"
        + (_HORIZON if below_horizon else "")
        # One type: an equality, which the (event_type, transaction_id, global_position) index
        # answers in order; several: ANY, filtered along the global order.
        + ("   AND event_type = (%(types)s::text[])[1]\n" if types == 1 else "")
        + ("   AND event_type = ANY(%(types)s::text[])\n" if types > 1 else "")
        + ("   AND tenant_id = %(tenant)s\n" if tenant else "")
        + " ORDER BY events.transaction_id, events.global_position\n"
        " LIMIT %(limit)s"
    )


# Everything an aggregate load needs, in one statement (one round trip, one snapshot of the
# data): the command record, the newest usable snapshot (its state on the first row only), and
# the events after it. A row with no event columns means there were no events.
_LOAD_STREAM = """
SELECT c.command_type, c.aggregate_type, c.aggregate_id, c.first_version, c.last_version,
       s.version, CASE WHEN coalesce(e.n, 1) = 1 THEN s.state END, s.schema_hash, s.event_timestamp,
       s.taken_at,
       e.id, e.tenant_id, e.aggregate_type, e.aggregate_id, e.event_type, e.version, e.schema_version,
       e.data, e.user_id, e.correlation_id, e.causation_id, e.metadata, e."timestamp", e.xid,
       e.global_position
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (
        SELECT command_type, aggregate_type, aggregate_id, first_version, last_version
          FROM acci.commands WHERE tenant_id = %(tenant)s AND command_id = %(command)s) AS c ON true
  LEFT JOIN LATERAL (
        SELECT version, state::text AS state, schema_hash, event_timestamp, "timestamp" AS taken_at
          FROM acci.snapshots
         WHERE tenant_id = %(tenant)s AND aggregate_type = %(type)s AND aggregate_id = %(id)s
           AND schema_hash = %(hash)s AND version <= %(to)s AND event_timestamp <= %(as_of)s) AS s ON true
  LEFT JOIN LATERAL (
        SELECT row_number() OVER (ORDER BY version) AS n, id, tenant_id, aggregate_type, aggregate_id,
               event_type, version, schema_version, data::text AS data, user_id, correlation_id,
               causation_id, metadata::text AS metadata, "timestamp",
               transaction_id::text::bigint AS xid, global_position
          FROM acci.events
         WHERE tenant_id = %(tenant)s AND aggregate_type = %(type)s AND aggregate_id = %(id)s
           AND version > coalesce(s.version, 0) AND version <= %(to)s AND "timestamp" <= %(as_of)s
       ) AS e ON true
 ORDER BY e.version
"""

# One event, the most common append: scalars, no arrays to adapt (acci.append_event).
_APPEND_ONE = """
SELECT out_version, out_transaction_id::text::bigint, out_global_position, out_timestamp
  FROM acci.append_event(%s, %s, %s, %s::bigint, %s::uuid, %s, %s::int, %s,
                         %s, %s, %s, %s, %s::uuid, %s, %s)
"""

# Appends of this many events or more go in by COPY, which is about twice as fast as one
# INSERT of an unnested array for large batches; below it, the round trips COPY needs cost more.
_COPY_FROM = 1000

_COPY_EVENTS = """
COPY acci.events (id, tenant_id, aggregate_type, aggregate_id, version, event_type, schema_version,
                  data, user_id, correlation_id, causation_id, metadata) FROM STDIN
"""

_COPIED = """
SELECT version, transaction_id::text::bigint, global_position, "timestamp" FROM acci.events
 WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s AND version > %s
 ORDER BY version
"""

_FAR_FUTURE = datetime(9999, 12, 31, tzinfo=UTC)
_MAX_VERSION = 2**62

_NOTIFY_CHANNEL = "acci_events"

log = logging.getLogger("acci.store")


class PostgresEventStore(EventStore):
    """The event store on PostgreSQL, in the `acci` schema that acci.migrations creates.

    Use `await PostgresEventStore.open(url)` (and `close()`), or `async with`.
    `notify=False` turns off the NOTIFY on append; subscribers then rely on polling alone.
    Inline projections among `projections` are updated in each append's transaction.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]],
        *,
        notify: bool = True,
        projections: Sequence[InlineProjection] = (),
    ):
        self.pool = pool
        self.notify = notify
        #: Projections updated in the append's own transaction (read-your-writes); the others
        #: in `projections` are run by a ProjectionRunner.
        self.inline_projections = [p for p in projections if p.inline]
        self.conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""

    @classmethod
    async def open(
        cls,
        conninfo: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        notify: bool = True,
        projections: Sequence[InlineProjection] = (),
        connect_timeout: float = CONNECT_TIMEOUT,
        pool_timeout: float = 30.0,
    ) -> Self:
        """Connect a pool of `min_size` to `max_size` connections.

        A server that cannot be reached, or a database or role that does not exist, fails at once
        ("cannot connect to HOST:PORT: REASON"; an unanswered attempt after `connect_timeout`
        seconds). Later, a caller waits at most `pool_timeout` seconds for a free connection.
        """
        # One attempt of our own first: the pool would retry for its whole timeout, logging a
        # warning per try, and then only say that it timed out.
        probe = await connect(conninfo, seconds=connect_timeout)
        await probe.close()
        pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, timeout=pool_timeout)
        with database_errors("connecting to the event store"):
            try:
                await pool.open(wait=True, timeout=connect_timeout)
            except BaseException:
                await pool.close()
                raise
        return cls(pool, notify=notify, projections=projections)

    async def close(self) -> None:
        await self.pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- writing ---------------------------------------------------------------------------

    async def append(
        self,
        stream: StreamId,
        events: Sequence[NewEvent],
        expected_version: ExpectedVersion = ANY,
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
    ) -> list[RecordedEvent]:
        meta = metadata_for(stream, metadata)
        params, types = append_params(stream, events, expected_version, meta, command_id, command_type)
        params.append(self.notify)
        query = _APPEND
        if len(events) == 1:
            query = _APPEND_ONE
            params[4:8] = [values[0] for values in params[4:8]]
        inline = [p for p in self.inline_projections if any(t[0] in p.event_types for t in types)]
        try:
            async with self.pool.connection() as conn:
                if not inline and len(events) < _COPY_FROM:
                    rows = await (await conn.execute(query, params)).fetchall()
                    recorded = _recorded(stream, meta, events, types, rows)
                    metrics.record_appended(recorded)
                    return recorded
                async with conn.transaction():
                    # Shared: appends run side by side; a rebuild's swap takes the lock exclusively.
                    for projection in inline:
                        await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [projection.lock_key()])
                    if len(events) >= _COPY_FROM:
                        rows = await _copy_events(conn, params, events, types)
                    else:
                        rows = await (await conn.execute(query, params)).fetchall()
                    recorded = _recorded(stream, meta, events, types, rows)
                    for projection in inline:
                        mine = [e for e in recorded if e.event_type in projection.event_types]
                        await projection.apply_inline(conn, mine)
                metrics.record_appended(recorded)
                return recorded
        except psycopg.Error as error:
            translated = translate(
                error,
                "appending events",
                stream=stream,
                expected=expected_version,
                tenant_id=stream.tenant_id,
                command_id=command_id,
            )
            if isinstance(translated, ConcurrencyError):
                metrics.CONCURRENCY_CONFLICTS.labels(stream.aggregate_type).inc()
            raise translated from error

    async def save_snapshot(self, snapshot: Snapshot) -> None:
        s = snapshot.stream
        with database_errors("saving a snapshot", stream=s):
            async with self.pool.connection() as conn:
                # Never replace a newer snapshot of the same schema with an older one.
                await conn.execute(
                    """
                    INSERT INTO acci.snapshots AS cur (tenant_id, aggregate_type, aggregate_id, version,
                                                       state, schema_hash, event_timestamp)
                    VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s)
                    ON CONFLICT (tenant_id, aggregate_type, aggregate_id) DO UPDATE
                       SET version = EXCLUDED.version, state = EXCLUDED.state,
                           schema_hash = EXCLUDED.schema_hash, event_timestamp = EXCLUDED.event_timestamp,
                           "timestamp" = clock_timestamp()
                     WHERE cur.version < EXCLUDED.version OR cur.schema_hash <> EXCLUDED.schema_hash
                    """,
                    [
                        s.tenant_id,
                        s.aggregate_type,
                        s.aggregate_id,
                        snapshot.version,
                        snapshot.state_json,
                        snapshot.schema_hash,
                        snapshot.event_timestamp,
                    ],
                )

    # -- reading ---------------------------------------------------------------------------

    async def read_stream(
        self,
        stream: StreamId,
        *,
        from_version: int = 0,
        to_version: int | None = None,
        as_of: datetime | None = None,
    ) -> list[RecordedEvent]:
        params = [
            stream.tenant_id,
            stream.aggregate_type,
            stream.aggregate_id,
            from_version,
            _MAX_VERSION if to_version is None else to_version,
            _FAR_FUTURE if as_of is None else as_of,
        ]
        with database_errors("reading a stream", stream=stream):
            async with self.pool.connection() as conn:
                rows = await (await conn.execute(_READ_STREAM, params, prepare=True)).fetchall()
        return _to_events(rows)

    async def stream_version(self, stream: StreamId) -> int:
        with database_errors("reading a stream's version", stream=stream):
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT version FROM acci.streams "
                    "WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s",
                    [stream.tenant_id, stream.aggregate_type, stream.aggregate_id],
                )
                row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def read_all(
        self,
        after: Position = START,
        *,
        limit: int = 500,
        event_types: Sequence[str] | None = None,
        tenant_id: str | None = None,
    ) -> list[RecordedEvent]:
        with database_errors("reading the global order"):
            async with self.pool.connection() as conn:
                return await read_all_on(
                    conn, after, limit=limit, event_types=event_types, tenant_id=tenant_id
                )

    async def load_snapshot(self, stream: StreamId) -> Snapshot | None:
        with database_errors("loading a snapshot", stream=stream):
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    """
                    SELECT version, state::text, schema_hash, event_timestamp, "timestamp"
                      FROM acci.snapshots
                     WHERE tenant_id = %s AND aggregate_type = %s AND aggregate_id = %s
                    """,
                    [stream.tenant_id, stream.aggregate_type, stream.aggregate_id],
                )
                row = await cur.fetchone()
        if row is None:
            return None
        version, state_json, schema_hash, event_timestamp, timestamp = row
        return Snapshot(stream, version, state_json, schema_hash, event_timestamp, timestamp)

    async def load_stream(
        self,
        stream: StreamId,
        *,
        schema_hash: str | None = None,
        to_version: int | None = None,
        as_of: datetime | None = None,
        command: tuple[str, UUID] | None = None,
    ) -> StreamLoad:
        """One statement (see _LOAD_STREAM): a consistent read in one round trip."""
        params = {
            "tenant": stream.tenant_id,
            "type": stream.aggregate_type,
            "id": stream.aggregate_id,
            "command": command[1] if command is not None else None,
            "hash": schema_hash,  # None: no snapshot matches
            "to": _MAX_VERSION if to_version is None else to_version,
            "as_of": _FAR_FUTURE if as_of is None else as_of,
        }
        with database_errors("loading an aggregate", stream=stream):
            async with self.pool.connection() as conn:
                rows = await (await conn.execute(_LOAD_STREAM, params, prepare=True)).fetchall()
        first = rows[0]
        record = None
        if command is not None and first[0] is not None:
            command_type, aggregate_type, aggregate_id, first_version, last_version = first[:5]
            owner = StreamId(command[0], aggregate_type, aggregate_id)
            record = CommandRecord(command[1], command_type, owner, first_version, last_version)
        snapshot = None
        if first[5] is not None:
            version, state_json, hash_, event_timestamp, taken_at = first[5:10]
            snapshot = Snapshot(stream, version, state_json, hash_, event_timestamp, taken_at)
        events = _to_events([row[10:] for row in rows]) if first[10] is not None else []
        return StreamLoad(snapshot, events, record)

    async def find_command(self, tenant_id: str, command_id: UUID) -> CommandRecord | None:
        with database_errors("looking up a command"):
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    """
                    SELECT command_type, aggregate_type, aggregate_id, first_version, last_version
                      FROM acci.commands WHERE tenant_id = %s AND command_id = %s
                    """,
                    [tenant_id, command_id],
                )
                row = await cur.fetchone()
        if row is None:
            return None
        command_type, aggregate_type, aggregate_id, first, last = row
        return CommandRecord(
            command_id, command_type, StreamId(tenant_id, aggregate_type, aggregate_id), first, last
        )

    async def waiter(self) -> Waiter:
        waiter = _NotifyWaiter(self.conninfo)
        await waiter.listen()
        return waiter


class _NotifyWaiter(Waiter):
    """Waits on a LISTEN connection of its own (a pooled one would lose notifications).

    A lost connection (a server restart, `pg_terminate_backend`, a network cut) is not an error:
    notifications are only hints, so the waiter sleeps out the wait instead (the subscriber polls)
    and listens again on a new connection at the next wait.
    """

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._conn: psycopg.AsyncConnection[TupleRow] | None = None

    async def listen(self) -> psycopg.AsyncConnection[TupleRow]:
        """Connect and LISTEN; a failure to connect is the caller's (translated) error."""
        conn = await connect(self._conninfo)
        try:
            with database_errors("listening for new events"):
                await conn.execute(f"LISTEN {_NOTIFY_CHANNEL}")
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def wait(self, max_seconds: float) -> None:
        conn = self._conn
        if conn is None:
            try:
                conn = await self.listen()
            except AcciError as error:
                log.warning("cannot listen for new events (%s); polling every %.2f s", error, max_seconds)
                await asyncio.sleep(max_seconds)
                return
        try:
            async for _ in conn.notifies(timeout=max_seconds, stop_after=1):
                pass
        except psycopg.OperationalError as error:
            log.warning("lost the connection that listens for new events (%s); listening again", error)
            await self.close()

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


async def _copy_events(
    conn: psycopg.AsyncConnection[TupleRow],
    params: list[Any],
    events: Sequence[NewEvent],
    types: list[tuple[str, int, str]],
) -> list[TupleRow]:
    """A large append, inside the caller's transaction: claim the versions (the same check as
    acci.append_events), COPY the rows in, then read their positions back."""
    tenant, aggregate_type, aggregate_id, expected = params[0:4]
    user_id, correlation_id, causation_id, extra, command_id, command_type, notify = params[8:15]
    cur = await conn.execute(
        "SELECT acci.claim_versions(%s, %s, %s, %s::bigint, %s, %s::uuid, %s)",
        [tenant, aggregate_type, aggregate_id, expected, len(events), command_id, command_type],
    )
    ((base,),) = await cur.fetchall()  # a function call returns one row
    async with conn.cursor() as cursor:
        async with cursor.copy(_COPY_EVENTS) as copy:
            for offset, (event, (event_type, schema_version, data_json)) in enumerate(
                zip(events, types, strict=True), start=1
            ):
                await copy.write_row(
                    (
                        event.event_id,
                        tenant,
                        aggregate_type,
                        aggregate_id,
                        base + offset,
                        event_type,
                        schema_version,
                        data_json,
                        user_id,
                        correlation_id,
                        causation_id,
                        extra or "{}",
                    )
                )
        await cursor.execute(_COPIED, [tenant, aggregate_type, aggregate_id, base])
        rows = await cursor.fetchall()
    if notify:
        await conn.execute("SELECT acci.notify_appended(%s)", [tenant])
    return rows


def _recorded(
    stream: StreamId,
    meta: EventMetadata,
    events: Sequence[NewEvent],
    types: list[tuple[str, int, str]],
    rows: list[TupleRow],
) -> list[RecordedEvent]:
    with gc_paused(len(events)):
        return [
            RecordedEvent(
                id=event.event_id,
                aggregate_type=stream.aggregate_type,
                aggregate_id=stream.aggregate_id,
                event_type=event_type,
                version=version,
                schema_version=schema_version,
                data_json=data_json,
                metadata=meta,
                timestamp=timestamp,
                position=Position(xid, position),
            )
            for event, (event_type, schema_version, data_json), (version, xid, position, timestamp) in zip(
                events, types, rows, strict=True
            )
        ]


def _to_events(rows: list[TupleRow]) -> list[RecordedEvent]:
    with gc_paused(len(rows)):
        return [_to_event(row) for row in rows]


def _to_event(row: TupleRow) -> RecordedEvent:
    (
        event_id,
        tenant_id,
        aggregate_type,
        aggregate_id,
        event_type,
        version,
        schema_version,
        data_json,
        user_id,
        correlation_id,
        causation_id,
        metadata_json,
        timestamp,
        transaction_id,
        global_position,
    ) = row
    return RecordedEvent(
        id=event_id,
        aggregate_type=aggregate_type,
        aggregate_id=aggregate_id,
        event_type=event_type,
        version=version,
        schema_version=schema_version,
        data_json=data_json,
        metadata=EventMetadata(
            correlation_id=correlation_id,
            user_id=user_id,
            causation_id=causation_id,
            tenant_id=tenant_id,
            extra=json.loads(metadata_json) if metadata_json != "{}" else {},
        ),
        timestamp=timestamp,
        position=Position(transaction_id, global_position),
    )


async def read_all_on(
    conn: psycopg.AsyncConnection[TupleRow],
    after: Position = START,
    *,
    limit: int = 500,
    event_types: Sequence[str] | None = None,
    tenant_id: str | None = None,
    below_horizon: bool = True,
) -> list[RecordedEvent]:
    """`EventStore.read_all` on a given connection, inside the caller's transaction if any."""
    if event_types is not None and not event_types:
        return []
    query = _read_all_query(
        types=min(len(event_types), 2) if event_types is not None else 0,
        tenant=tenant_id is not None,
        below_horizon=below_horizon,
    )
    params = {
        "xid": after.transaction_id,
        "position": after.global_position,
        "types": list(event_types) if event_types is not None else None,
        "tenant": tenant_id,
        "limit": limit,
    }
    rows = await (await conn.execute(query, params, prepare=True)).fetchall()
    return _to_events(rows)


async def read_event_on(conn: psycopg.AsyncConnection[TupleRow], event_id: UUID) -> RecordedEvent | None:
    """One event by its id."""
    cur = await conn.execute(f"SELECT {_EVENT_COLUMNS} FROM acci.events WHERE id = %s", [event_id])  # noqa: S608
    row = await cur.fetchone()
    return _to_event(row) if row is not None else None
