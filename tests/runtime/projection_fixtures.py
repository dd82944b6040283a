"""Projections the projection tests use; importable by the subprocesses of the kill test."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import ClassVar

from acci import PostgresEventStore, RecordedEvent
from acci.examples.users import UserProjection
from acci.projections import Projection, ProjectionRunner, RunnerSettings
from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow

APPLIED_TABLE = """
CREATE TABLE IF NOT EXISTS public.applied (
    event_id uuid PRIMARY KEY,
    times    integer NOT NULL,
    n        integer NOT NULL
)
"""


async def rows(store: PostgresEventStore, query: str) -> list[tuple[object, ...]]:
    async with store.pool.connection() as conn:
        return await (await conn.execute(query)).fetchall()


async def until(store: PostgresEventStore, query: str, expected: object, seconds: float = 20) -> None:
    """Wait until the first column of the query's first row is `expected` (at most `seconds`)."""
    for _ in range(int(seconds / 0.05)):
        if (await rows(store, query))[0][0] == expected:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{query} never gave {expected!r}: {await rows(store, query)}")


class CountingProjection(Projection):
    """Counts how often each event was applied: exactly-once means every count is 1."""

    name: ClassVar[str] = "applied"
    event_types: ClassVar[Sequence[str]] = ("Counted",)

    async def apply(
        self, conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} AS a (event_id, times, n) VALUES (%s, 1, %s) "
                "ON CONFLICT (event_id) DO UPDATE SET times = a.times + 1"
            ).format(table),
            [event.id, event.data["n"]],
        )


HISTORY_TABLE = """
CREATE TABLE IF NOT EXISTS public.history (
    stream text PRIMARY KEY,
    last   integer NOT NULL,
    seen   text    NOT NULL
)
"""


class HistoryProjection(Projection):
    """An update-style read model: per stream, the last `n` and every `n` in the order applied.
    The handler fails on the numbers in `poisoned`."""

    name: ClassVar[str] = "history"
    event_types: ClassVar[Sequence[str]] = ("Counted",)
    poisoned: ClassVar[set[int]] = set()

    async def apply(
        self, conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        n = event.data["n"]
        if n in self.poisoned:
            raise ValueError(f"cannot project {n}")
        await conn.execute(
            sql.SQL(
                "INSERT INTO {} AS h (stream, last, seen) VALUES (%s, %s, %s::text) ON CONFLICT (stream) "
                "DO UPDATE SET last = EXCLUDED.last, seen = h.seen || ',' || EXCLUDED.seen"
            ).format(table),
            [event.aggregate_id, n, n],
        )


class PoisonedCounting(CountingProjection):
    """CountingProjection, failing on the numbers in `poisoned`."""

    poisoned: ClassVar[set[int]] = set()

    async def apply(
        self, conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        if event.data["n"] in self.poisoned:
            raise ValueError(f"cannot count {event.data['n']}")
        await super().apply(conn, table, event)


class FlakyUserProjection(UserProjection):
    """user_view, with a handler that fails on users named POISON until `fixed` is set."""

    fixed: ClassVar[bool] = False
    calls: ClassVar[int] = 0

    async def apply(
        self, conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        if event.data.get("name") == "POISON" and not type(self).fixed:
            type(self).calls += 1
            raise ValueError("cannot project a poisoned user")
        await super().apply(conn, table, event)


class InlineUserProjection(UserProjection):
    inline: ClassVar[bool] = True


class SegmentedCounting(CountingProjection):
    """CountingProjection split into 4 segments."""

    segments: ClassVar[int] = 4


class SegmentedHistory(HistoryProjection):
    """HistoryProjection split into 2 segments (the re-split test splits it further)."""

    segments: ClassVar[int] = 2


async def _run_forever(url: str, segmented: bool) -> None:
    async with await PostgresEventStore.open(url) as store:
        if segmented:
            # At most 2 of the 4 segments each: 3 processes share them and one stands by.
            settings = RunnerSettings(
                batch_size=37, poll_interval=0.01, takeover_interval=0.2, max_segments=2
            )
            runner = ProjectionRunner(store, SegmentedCounting(), settings)
        else:
            runner = ProjectionRunner(
                store, CountingProjection(), RunnerSettings(batch_size=37, poll_interval=0.01)
            )
        await runner.run()


if __name__ == "__main__":
    # The kill tests' runner process: run until killed.
    asyncio.run(_run_forever(sys.argv[1], segmented=sys.argv[2:] == ["segmented"]))
