"""32 concurrent writers with an inline projection: each append creates a user and, in the same
transaction, its row in the identity domain's user_view (read-your-writes).

ACCI coalesces the appends: a batch and its user_view rows go in one transaction, and if the
projection fails for one append the batch is written again one append per transaction (rare, so it
costs nothing here). The diagnostic "a savepoint per append" is the alternative the issue asked to
measure: each append of a batch and its rows under a savepoint of the batch's transaction, so that a
failing projection undoes only its own append, at the price of a statement per append.

Raw psycopg: threads, each transaction an INSERT into the events table and one into a copy of
user_view. eventsourcing has no inline projections (its process applications are a separate
system), so it has no column here.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import ClassVar

import psycopg
from acci import NO_STREAM, NewEvent, PostgresEventStore, StreamId
from acci.migrations import migrate
from acci.store._pg_append import APPEND_ONE, Outcome, recorded_events, single_params
from acci.store._prepare import PreparedAppend
from identity.events import UserCreated  # type: ignore[import-not-found, unused-ignore]
from identity.projections import UserViewProjection  # type: ignore[import-not-found, unused-ignore]
from identity.service import migrations  # type: ignore[import-not-found, unused-ignore]
from psycopg.types.json import Jsonb

from bench.context import Context
from bench.runner import Run, Sample, Timer, Variant, Workload
from bench.workloads.common import in_threads

WRITERS = 32
_TENANT = "bench"

_RAW_SCHEMA = "CREATE TABLE bench_raw.user_view (LIKE public.user_view INCLUDING ALL)"
_RAW_EVENT = """
INSERT INTO bench_raw.events (id, tenant_id, aggregate_type, aggregate_id, version, event_type,
                              schema_version, data, correlation_id)
VALUES (%s, %s, 'User', %s, 1, 'UserCreated', 1, %s, %s)
"""
_RAW_ROW = (
    "INSERT INTO bench_raw.user_view (tenant_id, id, email, name, status, created_at)"
    " VALUES (%s, %s, %s, %s, 'active', clock_timestamp())"
)


class InlineUserView(UserViewProjection):  # type: ignore[misc, unused-ignore]
    inline: ClassVar[bool] = True


class SavepointStore(PostgresEventStore):
    """The measured alternative: each append of a batch under a savepoint, with its projection."""

    async def _flush_batch(self, batch: list[PreparedAppend]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        inline = self._inline_for(t[0] for p in batch for t in p.types)
        async with self.pool.connection() as conn, conn.transaction():
            await self._lock_and_write(conn, inline, None, [])
            for prepared in batch:
                try:
                    async with conn.transaction():  # a savepoint
                        rows = await (
                            await conn.execute(APPEND_ONE, single_params(prepared, False))
                        ).fetchall()
                        recorded = recorded_events(prepared, rows)
                        await self._apply_inline(conn, inline, recorded)
                    outcomes.append(recorded)
                except psycopg.Error as error:
                    outcomes.append(self._append_error(error, prepared))
        return outcomes


def setup(ctx: Context) -> None:
    ctx.runner.run(migrate(ctx.url, migrations()))
    ctx.raw().execute(_RAW_SCHEMA)


def _created(k: int, i: int, run: int) -> UserCreated:
    user_id = uuid.uuid4()
    return UserCreated(
        user_id=user_id, email=f"u{run}.{k}.{i}@example.com", name=f"User {k} {i}", created_by=None
    )


def _acci(store_class: type[PostgresEventStore], *, coalesce: bool = True) -> Run:
    async def measure(ctx: Context, run: int) -> Sample:
        n = ctx.mode.per_writer[WRITERS]
        created = [[_created(k, i, run) for i in range(n)] for k in range(WRITERS)]
        latencies: list[float] = []
        store = await store_class.open(
            ctx.url, min_size=8, max_size=8, projections=[InlineUserView()], coalesce=coalesce
        )
        try:

            async def writer(k: int) -> None:
                for event in created[k]:
                    started = time.perf_counter()
                    await store.append(
                        StreamId(_TENANT, "User", str(event.user_id)), [NewEvent.of(event)], NO_STREAM
                    )
                    latencies.append(time.perf_counter() - started)

            timer = Timer()
            await asyncio.gather(*(writer(k) for k in range(WRITERS)))
            return timer.stop(n * WRITERS, latencies)
        finally:
            await store.close()

    return measure


def _raw(ctx: Context, run: int) -> Sample:
    n = ctx.mode.per_writer[WRITERS]
    created = [[_created(k, i, run) for i in range(n)] for k in range(WRITERS)]
    conns = [ctx.raw_connect() for _ in range(WRITERS)]
    latencies: list[float] = []

    def writer(k: int) -> None:
        conn = conns[k]
        for event in created[k]:
            started = time.perf_counter()
            with conn.transaction():
                data = Jsonb(event.model_dump(mode="json"))
                conn.execute(_RAW_EVENT, (uuid.uuid4(), _TENANT, str(event.user_id), data, str(uuid.uuid4())))
                conn.execute(_RAW_ROW, (_TENANT, event.user_id, event.email, event.name))
            latencies.append(time.perf_counter() - started)

    timer = Timer()
    in_threads(WRITERS, writer)
    sample = timer.stop(n * WRITERS, latencies)
    for conn in conns:
        conn.close()
    return sample


WORKLOADS = [
    Workload(
        name="inline-projection-32",
        title=f"{WRITERS} concurrent writers, inline projection",
        setup=setup,
        variants=[
            Variant(
                "acci",
                "ACCI append, coalesced, user_view in the batch's transaction",
                _acci(PostgresEventStore),
            ),
            Variant(
                "acci",
                "ACCI append, coalesced, a savepoint per append (the alternative, diagnostic)",
                _acci(SavepointStore),
            ),
            Variant(
                "acci", "ACCI append, coalesce=False (diagnostic)", _acci(PostgresEventStore, coalesce=False)
            ),
            Variant("raw", f"raw INSERT event + row, one transaction each, {WRITERS} threads", _raw),
        ],
    )
]
