"""The PostgreSQL event store (psycopg 3, async, with a connection pool)."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Self
from uuid import UUID

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from acci import metrics
from acci._gcpause import gc_paused
from acci.errors import AcciError, ConcurrencyError, DuplicateEventError
from acci.events import EventMetadata, NewEvent, RecordedEvent
from acci.store._coalesce import Coalescer, CoalesceSettings
from acci.store._connect import CONNECT_TIMEOUT, ConnectionPool, connect
from acci.store._pg_append import (
    APPEND,
    APPEND_BATCH,
    APPEND_ONE,
    COPY_FROM,
    BatchRefused,
    Outcome,
    batch_outcomes,
    batch_params,
    copy_events,
    lock_order,
    recorded_events,
    rolled_back,
    single_params,
)
from acci.store._pg_errors import database_errors, other_streams, translate
from acci.store._pg_load import (
    FAR_FUTURE,
    LOAD_STREAM,
    LOAD_STREAMS,
    MAX_VERSION,
    LoadRequest,
    load_params,
    split_rows,
)
from acci.store._prepare import PreparedAppend, prepare_append, prepare_many
from acci.store.base import EventStore, InlineProjection, Snapshot, StreamAppend, StreamLoad, Waiter
from acci.streams import ANY, START, CommandRecord, ExpectedVersion, Position, StreamId

# The columns every read returns, in the order _to_event expects them.
_EVENT_COLUMNS = """
    id, tenant_id, aggregate_type, aggregate_id, event_type, version, schema_version, data::text,
    user_id, correlation_id, causation_id, metadata::text, "timestamp",
    transaction_id::text::bigint, global_position
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
def _read_all_query(*, types: int, tenant: bool, below_horizon: bool, segmented: bool = False) -> str:
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
        # A projection's segment: the streams whose hash falls into it (migrations 0009, 0010:
        # a function the planner does not see through, so that it walks the index).
        + (
            "   AND acci.in_segment(tenant_id, aggregate_type, aggregate_id, %(segments)s::integer,"
            " %(segment)s::integer)\n"
            if segmented
            else ""
        )
        + " ORDER BY events.transaction_id, events.global_position\n"
        " LIMIT %(limit)s"
    )


_NOTIFY_CHANNEL = "acci_events"
# The SQLSTATE of a deadlock the server broke by failing this transaction.
_DEADLOCK = "40P01"

log = logging.getLogger("acci.store")


async def _open_pool(
    conninfo: str, connect_timeout: float, doing: str, *, min_size: int, max_size: int, pool_timeout: float
) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
    # One attempt of our own first: the pool would retry for its whole timeout, logging a
    # warning per try, and then only say that it timed out.
    probe = await connect(conninfo, seconds=connect_timeout)
    await probe.close()
    pool = ConnectionPool(conninfo, min_size=min_size, max_size=max_size, timeout=pool_timeout)
    with database_errors(doing):
        try:
            await pool.open(wait=True, timeout=connect_timeout)
        except BaseException:
            await pool.close()
            raise
    return pool


class PostgresEventStore(EventStore):
    """The event store on PostgreSQL, in the `acci` schema that acci.migrations creates.

    Use `await PostgresEventStore.open(url)` (and `close()`), or `async with`.
    `notify=False` turns off the NOTIFY on append; subscribers then rely on polling alone.
    Inline projections among `projections` are updated in each append's transaction.
    `coalesce` (on by default) lets concurrent appends share one statement and one commit; see
    CoalesceSettings for its bounds, and `coalesce=False` to commit every append alone.
    """

    def __init__(
        self,
        pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]],
        *,
        notify: bool = True,
        projections: Sequence[InlineProjection] = (),
        coalesce: CoalesceSettings | bool = True,
        read_pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]] | None = None,
        read_your_writes_timeout: float = 5.0,
    ):
        self.pool = pool
        #: The pool query handlers read from, and only they: a streaming replica's when the
        #: service has a read URL, else the primary's own. Appends, runners and checkpoints
        #: always use `pool` (the primary).
        self.read_pool = pool if read_pool is None else read_pool
        #: Seconds a query given a position waits for its read models (acci.queries).
        self.read_your_writes_timeout = read_your_writes_timeout
        self.notify = notify
        #: Projections updated in the append's own transaction (read-your-writes); the others
        #: in `projections` are run by a ProjectionRunner.
        self.inline_projections = [p for p in projections if p.inline]
        self.conninfo = pool.conninfo if isinstance(pool.conninfo, str) else ""
        self.coalescing = (
            coalesce if isinstance(coalesce, CoalesceSettings) else CoalesceSettings(enabled=coalesce)
        )
        self._coalescer: Coalescer[PreparedAppend, list[RecordedEvent]] | None = None
        self._loads: Coalescer[LoadRequest, StreamLoad] | None = None
        if self.coalescing.enabled:
            self._coalescer = Coalescer(self._flush, self.coalescing, lambda p: p.size)
            self._loads = Coalescer(self._flush_loads, self.coalescing, lambda _: 1, kind="load")

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
        coalesce: CoalesceSettings | bool = True,
        read_conninfo: str | None = None,
        read_your_writes_timeout: float = 5.0,
    ) -> Self:
        """Connect a pool of `min_size` to `max_size` connections; with `read_conninfo` (a
        streaming replica), a second pool of the same size that queries read from.

        A server that cannot be reached, or a database or role that does not exist, fails at once
        ("cannot connect to HOST:PORT: REASON"; an unanswered attempt after `connect_timeout`
        seconds). Later, a caller waits at most `pool_timeout` seconds for a free connection.
        """

        async def pool_on(target: str, doing: str) -> AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]]:
            return await _open_pool(
                target,
                connect_timeout,
                doing,
                min_size=min_size,
                max_size=max_size,
                pool_timeout=pool_timeout,
            )

        pool = await pool_on(conninfo, "connecting to the event store")
        read_pool = None
        if read_conninfo is not None:
            try:
                read_pool = await pool_on(read_conninfo, "connecting to the read replica")
            except BaseException:
                await pool.close()
                raise
        return cls(
            pool,
            notify=notify,
            projections=projections,
            coalesce=coalesce,
            read_pool=read_pool,
            read_your_writes_timeout=read_your_writes_timeout,
        )

    async def close(self) -> None:
        if self._coalescer is not None:
            await self._coalescer.drain()
        if self._loads is not None:
            await self._loads.drain()
        await self.pool.close()
        if self.read_pool is not self.pool:
            await self.read_pool.close()

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
        command_hash: str | None = None,
    ) -> list[RecordedEvent]:
        prepared = prepare_append(
            stream, events, expected_version, metadata, command_id, command_type, command_hash
        )
        if self._coalescer is None or len(prepared.types) >= self.coalescing.max_events:
            return await self._append_alone(prepared)
        return await self._coalescer.submit(prepared)

    async def append_many(
        self,
        appends: Sequence[StreamAppend],
        *,
        metadata: EventMetadata | None = None,
        command_id: UUID | None = None,
        command_type: str = "",
        command_hash: str | None = None,
    ) -> list[list[RecordedEvent]]:
        prepared = prepare_many(appends, metadata, command_id, command_type, command_hash)
        if self._coalescer is None or prepared.size >= self.coalescing.max_events:
            recorded = await self._append_alone(prepared)
        else:
            recorded = await self._coalescer.submit(prepared)
        return split_by_stream(recorded, appends)

    async def _flush(self, batch: list[PreparedAppend]) -> list[Outcome]:
        """The coalescer's flush: one append alone (acci.append_event costs less than a batch of
        one), or many in one acci.append_batch statement."""
        if len(batch) == 1:
            return [await self._outcome_alone(batch[0])]
        return await self._flush_batch(batch)

    async def _flush_batch(self, batch: list[PreparedAppend]) -> list[Outcome]:
        order = lock_order(batch)
        try:
            ordered = await self._append_batch([batch[i] for i in order])
        except BatchRefused:
            # Nothing of the batch was written: write each append alone, in arrival order, so
            # that only the one at fault fails (an inline projection's error, a duplicate event
            # id, a deadlock with another process). Rare, so this costs nothing when all is well.
            metrics.APPEND_BATCH_FALLBACKS.inc()
            return [await self._outcome_alone(prepared) for prepared in batch]
        except psycopg.Error as error:  # the connection failed: the outcome is unknown to all
            return [self._append_error(error, prepared) for prepared in batch]
        outcomes: list[Outcome] = [[] for _ in batch]
        for position, index in enumerate(order):
            outcomes[index] = ordered[position]
        return outcomes

    async def _append_batch(self, entries: list[PreparedAppend]) -> list[Outcome]:
        """Write `entries` in one statement (and, with inline projections, one transaction);
        raise BatchRefused when the server refused the batch as a whole (so nothing is written)."""
        params = batch_params(entries, self.notify)
        inline = self._inline_for(t[0] for entry in entries for part in entry.parts for t in part.types)
        try:
            async with self.pool.connection() as conn:
                if not inline:
                    rows = await (await conn.execute(APPEND_BATCH, params)).fetchall()
                    return self._counted(entries, batch_outcomes(entries, rows))
                try:
                    async with conn.transaction():
                        rows = await self._lock_and_write(conn, inline, APPEND_BATCH, params)
                        outcomes = batch_outcomes(entries, rows)
                        written = [e for o in outcomes if isinstance(o, list) for e in o]
                        written.sort(key=lambda e: e.position)
                        await self._apply_inline(conn, inline, written)
                except psycopg.Error:
                    raise
                except Exception as error:  # a projection's own error: the transaction rolled back
                    raise BatchRefused from error
                return self._counted(entries, outcomes)
        except psycopg.Error as error:
            if rolled_back(error):
                raise BatchRefused from error
            raise

    async def _outcome_alone(self, prepared: PreparedAppend) -> Outcome:
        try:
            return await self._append_alone(prepared)
        except Exception as error:  # this caller's own failure, handed to it alone
            return error

    async def _append_alone(self, prepared: PreparedAppend) -> list[RecordedEvent]:
        """One append in its own statement: acci.append_event(s), or COPY for a large one; an
        append to several streams by acci.append_batch."""
        if prepared.more:
            return await self._append_parts_alone(prepared)
        count = len(prepared.types)
        params = single_params(prepared, self.notify)
        inline = self._inline_for(t[0] for t in prepared.types)
        try:
            async with self.pool.connection() as conn:
                if not inline and count < COPY_FROM:
                    query = APPEND_ONE if count == 1 else APPEND
                    rows = await (await conn.execute(query, params)).fetchall()
                    recorded = recorded_events(prepared, rows)
                    metrics.record_appended(recorded)
                    return recorded
                async with conn.transaction():
                    if count >= COPY_FROM:
                        await self._lock_and_write(conn, inline, None, params)
                        rows = await copy_events(conn, prepared, self.notify)
                    else:
                        query = APPEND_ONE if count == 1 else APPEND
                        rows = await self._lock_and_write(conn, inline, query, params)
                    recorded = recorded_events(prepared, rows)
                    await self._apply_inline(conn, inline, recorded)
                metrics.record_appended(recorded)
                return recorded
        except psycopg.Error as error:
            raise self._append_error(error, prepared) from error

    async def _append_parts_alone(self, prepared: PreparedAppend) -> list[RecordedEvent]:
        """An append to several streams, alone: one entry of acci.append_batch. Its streams are
        locked in order, so it never deadlocks with another such append; a coalesced batch can
        still lock in another order, and when the server breaks such a deadlock by failing this
        append (nothing of it was written), it is sent again, up to three times."""
        for attempt in itertools.count(1):
            try:
                (outcome,) = await self._append_batch([prepared])
            except BatchRefused as refused:
                cause = refused.__cause__
                if not isinstance(cause, psycopg.Error):
                    raise cause or refused from None  # an inline projection's own error
                if cause.sqlstate == _DEADLOCK and attempt < 3:
                    continue
                error = self._append_error(cause, prepared)
                if isinstance(error, DuplicateEventError):  # name the stream the event was for
                    part = next(p for p in prepared.parts if error.event_id in {e.event_id for e in p.events})
                    error = DuplicateEventError(part.stream, error.event_id)
                raise error from cause
            except psycopg.Error as error:
                raise self._append_error(error, prepared) from error
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        raise AssertionError("unreachable")  # pragma: no cover

    async def apply_inline(
        self, conn: psycopg.AsyncConnection[TupleRow], events: list[RecordedEvent]
    ) -> None:
        """Apply the store's inline projections to `events` that were written by other means (a
        tenant move copies them), in `conn`'s transaction, under their locks as an append does."""
        inline = self._inline_for(e.event_type for e in events)
        await self._lock_and_write(conn, inline, None, [])
        await self._apply_inline(conn, inline, events)

    def _inline_for(self, event_types: Iterable[str]) -> list[InlineProjection]:
        if not self.inline_projections:
            return []
        types = set(event_types)
        return [p for p in self.inline_projections if not types.isdisjoint(p.event_types)]

    @staticmethod
    async def _lock_and_write(
        conn: psycopg.AsyncConnection[TupleRow],
        inline: list[InlineProjection],
        query: str | None,
        params: list[Any],
    ) -> list[TupleRow]:
        # Shared: appends run side by side; a rebuild's swap takes the lock exclusively.
        for projection in inline:
            await conn.execute("SELECT pg_advisory_xact_lock_shared(%s)", [projection.lock_key()])
        if query is None:
            return []
        return await (await conn.execute(query, params)).fetchall()

    @staticmethod
    async def _apply_inline(
        conn: psycopg.AsyncConnection[TupleRow], inline: list[InlineProjection], recorded: list[RecordedEvent]
    ) -> None:
        for projection in inline:
            mine = [e for e in recorded if e.event_type in projection.event_types]
            if mine:
                await projection.apply_inline(conn, mine)

    @staticmethod
    def _counted(entries: list[PreparedAppend], outcomes: list[Outcome]) -> list[Outcome]:
        """The outcomes, counted in the metrics."""
        for outcome in outcomes:
            if isinstance(outcome, list):
                metrics.record_appended(outcome)
            elif isinstance(outcome, ConcurrencyError):
                metrics.CONCURRENCY_CONFLICTS.labels(outcome.stream.aggregate_type).inc()
        return outcomes

    @staticmethod
    def _append_error(error: psycopg.Error, prepared: PreparedAppend) -> AcciError:
        translated = translate(
            error,
            "appending events",
            stream=prepared.stream,
            expected=prepared.expected_version,
            command_id=prepared.command_id,
            command_type=prepared.command_type,
        )
        if isinstance(translated, ConcurrencyError):
            metrics.CONCURRENCY_CONFLICTS.labels(prepared.stream.aggregate_type).inc()
        return translated

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
            MAX_VERSION if to_version is None else to_version,
            FAR_FUTURE if as_of is None else as_of,
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
        """One statement (see acci.store._pg_load): a consistent read in one round trip, shared
        with the loads of other tasks made meanwhile (coalesced, like appends)."""
        request = LoadRequest(stream, schema_hash, to_version, as_of, command)
        if self._loads is None:
            return await self._load_alone(request)
        return await self._loads.submit(request)

    async def load_streams(
        self,
        streams: Sequence[tuple[StreamId, str | None]],
        *,
        command: tuple[str, UUID] | None = None,
    ) -> list[StreamLoad]:
        """`load_stream` of each, in one statement (one snapshot for all of them); the command's
        record is read with the first stream."""
        requests = [
            LoadRequest(stream, schema_hash, None, None, command if index == 0 else None)
            for index, (stream, schema_hash) in enumerate(streams)
        ]
        with database_errors("loading aggregates", stream=streams[0][0] if streams else None):
            return await self._load_together(requests)

    async def _load_alone(self, request: LoadRequest) -> StreamLoad:
        with database_errors("loading an aggregate", stream=request.stream):
            async with self.pool.connection() as conn:
                rows = await (await conn.execute(LOAD_STREAM, request.params(), prepare=True)).fetchall()
        return _stream_load(request.stream, request.command, rows)

    async def _load_together(self, requests: list[LoadRequest]) -> list[StreamLoad]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(LOAD_STREAMS, load_params(requests), prepare=True)
            answers = split_rows(await cur.fetchall(), len(requests))
        return [_stream_load(r.stream, r.command, rows) for r, rows in zip(requests, answers, strict=True)]

    async def _flush_loads(self, requests: list[LoadRequest]) -> list[StreamLoad | BaseException]:
        """The load coalescer's flush: one load alone, or many in one statement."""
        if len(requests) == 1:
            try:
                return [await self._load_alone(requests[0])]
            except AcciError as error:
                return [error]
        try:
            return list(await self._load_together(requests))
        except psycopg.Error as error:  # each caller hears of it, for its own stream
            return [translate(error, "loading an aggregate", stream=r.stream) for r in requests]

    async def find_command(self, tenant_id: str, command_id: UUID) -> CommandRecord | None:
        with database_errors("looking up a command"):
            async with self.pool.connection() as conn:
                cur = await conn.execute(
                    """
                    SELECT command_type, aggregate_type, aggregate_id, first_version, last_version,
                           command_hash, other_streams::text
                      FROM acci.commands WHERE tenant_id = %s AND command_id = %s
                    """,
                    [tenant_id, command_id],
                )
                row = await cur.fetchone()
        return _command_record(tenant_id, command_id, row) if row is not None else None

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


def _command_record(tenant_id: str, command_id: UUID, columns: Sequence[Any]) -> CommandRecord:
    """A CommandRecord from acci.commands' columns: command type, aggregate type and id, first and
    last version, command hash, other streams (JSON text)."""
    command_type, aggregate_type, aggregate_id, first, last, command_hash, others = columns
    return CommandRecord(
        command_id,
        command_type,
        StreamId(tenant_id, aggregate_type, aggregate_id),
        first,
        last,
        command_hash,
        other_streams(tenant_id, json.loads(others) if others is not None else None),
    )


def _stream_load(stream: StreamId, command: tuple[str, UUID] | None, rows: list[TupleRow]) -> StreamLoad:
    """A StreamLoad from the rows of LOAD_STREAM (or one request's of LOAD_STREAMS)."""
    first = rows[0]
    record = None
    if command is not None and first[0] is not None:
        record = _command_record(command[0], command[1], first[:7])
    snapshot = None
    if first[7] is not None:
        version, state_json, hash_, event_timestamp, taken_at = first[7:12]
        snapshot = Snapshot(stream, version, state_json, hash_, event_timestamp, taken_at)
    events = _to_events([row[12:] for row in rows]) if first[12] is not None else []
    return StreamLoad(snapshot, events, record)


def split_by_stream(
    recorded: list[RecordedEvent], appends: Sequence[StreamAppend]
) -> list[list[RecordedEvent]]:
    """The events of an atomic append to several streams, one list per StreamAppend, in its order."""
    by_stream: dict[tuple[str, str], list[RecordedEvent]] = {
        (a.stream.aggregate_type, a.stream.aggregate_id): [] for a in appends
    }
    for event in recorded:
        by_stream[(event.aggregate_type, event.aggregate_id)].append(event)
    return [by_stream[(a.stream.aggregate_type, a.stream.aggregate_id)] for a in appends]


_TENANT_EVENTS = f"""
SELECT {_EVENT_COLUMNS} FROM acci.events WHERE tenant_id = %s
 ORDER BY events.transaction_id, events.global_position
"""  # noqa: S608 - a constant column list, no input


async def tenant_events(conn: psycopg.AsyncConnection[TupleRow], tenant_id: str) -> list[RecordedEvent]:
    """Every event of the tenant in the global order, read in `conn`'s transaction and without
    the horizon: for a tenant that nobody can write to (a move blocks it first)."""
    return _to_events(await (await conn.execute(_TENANT_EVENTS, [tenant_id])).fetchall())


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
    segment: tuple[int, int] = (0, 1),
) -> list[RecordedEvent]:
    """`EventStore.read_all` on a given connection, inside the caller's transaction if any; with
    `segment` (index, count), only the events of the streams in that segment of a projection."""
    if event_types is not None and not event_types:
        return []
    query = _read_all_query(
        types=min(len(event_types), 2) if event_types is not None else 0,
        tenant=tenant_id is not None,
        below_horizon=below_horizon,
        segmented=segment[1] > 1,
    )
    params = {
        "xid": after.transaction_id,
        "position": after.global_position,
        "types": list(event_types) if event_types is not None else None,
        "tenant": tenant_id,
        "limit": limit,
        "segment": segment[0],
        "segments": segment[1],
    }
    rows = await (await conn.execute(query, params, prepare=True)).fetchall()
    return _to_events(rows)


async def read_event_on(conn: psycopg.AsyncConnection[TupleRow], event_id: UUID) -> RecordedEvent | None:
    """One event by its id."""
    cur = await conn.execute(f"SELECT {_EVENT_COLUMNS} FROM acci.events WHERE id = %s", [event_id])  # noqa: S608
    row = await cur.fetchone()
    return _to_event(row) if row is not None else None
