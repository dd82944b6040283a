"""Read-your-writes for read models kept by a runner: has a projection applied everything up to a
position of the global order?

A command's result carries the position its events reached (`CommandResult.position`). A query
that is given it waits, with a timeout, until every projection it reads has passed it. "Passed"
means: the projection's checkpoint is at or after the position, or no event of its types lies
between its checkpoint and the position (a runner only checkpoints the events it reads, so an
idle projection never moves past events it does not care about). The check reads the checkpoint
and the events in one statement, on whatever database the query reads: on a streaming replica it
sees the checkpoints as far as the replica has replayed them, which is exactly what a query there
can see.

On a replica one more thing must hold first: the replica has replayed the command's own commit
(the event at the position is there). Without it, the replica could show an old checkpoint with
"no event of its types in between" only because those events have not arrived yet. Inline
projections are updated in the append's own transaction: on the primary they never wait, on a
replica they wait for that commit alone. Replication replays commits in the primary's commit
order, so once the command's commit is there, so is everything committed before it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from acci.errors import ConsistencyTimeout
from acci.store._pg_errors import database_errors
from acci.streams import Position


class ReadModel(Protocol):
    """What the check needs of a projection (acci.projections.Projection has it)."""

    @property
    def name(self) -> str: ...

    @property
    def event_types(self) -> Sequence[str]: ...

    @property
    def inline(self) -> bool: ...


# Per checkpoint row: a segment of a split projection (migration 0009) waits only for the events
# of its own streams; a projection without a row yet is at the start of the log.
_PASSED = """
SELECT bool_and(
       (c.transaction_id, c.global_position) >= (%(xid)s::text::xid8, %(position)s)
       OR NOT EXISTS (
           SELECT FROM acci.events AS e
            WHERE e.event_type = ANY(%(types)s::text[])
              AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
              AND (e.transaction_id, e.global_position) <= (%(xid)s::text::xid8, %(position)s)
              AND (c.segments = 1 OR c.segment
                   = acci.stream_segment(e.tenant_id, e.aggregate_type, e.aggregate_id, c.segments))))
  FROM (SELECT transaction_id, global_position, segment, segments FROM acci.checkpoints WHERE name = %(name)s
        UNION ALL
        SELECT '0'::xid8, 0, 0, 1 WHERE NOT EXISTS (SELECT FROM acci.checkpoints WHERE name = %(name)s)) AS c
"""


async def has_passed(
    conn: psycopg.AsyncConnection[TupleRow],
    projection: ReadModel,
    position: Position,
    *,
    checkpoint: str = "",
) -> bool:
    """Whether the projection (its checkpoint `checkpoint`, by default its name) has passed `position`."""
    if projection.inline:
        return True
    params = {
        "xid": position.transaction_id,
        "position": position.global_position,
        "types": list(projection.event_types),
        "name": checkpoint or projection.name,
    }
    ((passed,),) = await (await conn.execute(_PASSED, params, prepare=True)).fetchall()
    return bool(passed)


# True on a primary (the command committed before its result was returned) and, on a streaming
# replica, once it has replayed that commit.
_HOLDS = """
SELECT NOT pg_is_in_recovery() OR EXISTS (
       SELECT FROM acci.events
        WHERE transaction_id = %(xid)s::text::xid8 AND global_position = %(position)s)
"""

# What a timeout reports about the database it waited on.
_STATE = """
SELECT pg_is_in_recovery(),
       CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END,
       extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8
"""

_CHECKPOINT = "SELECT transaction_id::text::bigint, global_position FROM acci.checkpoints WHERE name = %s"


async def holds_position(conn: psycopg.AsyncConnection[TupleRow], position: Position) -> bool:
    """Whether this database holds the commit of the event at `position`: always on a primary; on
    a streaming replica, once it has replayed it."""
    params = {"xid": position.transaction_id, "position": position.global_position}
    ((holds,),) = await (await conn.execute(_HOLDS, params, prepare=True)).fetchall()
    return bool(holds)


async def wait_until_passed(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]],
    projections: Sequence[ReadModel],
    position: Position | None,
    *,
    within: float = 5.0,
    poll_interval: float = 0.02,
) -> None:
    """Return once the database of `pool` holds `position` and every projection has passed it there
    (None: nothing to wait for); raise ConsistencyTimeout, saying what held them back, after
    `within` seconds. Polls, starting at `poll_interval` and backing off to
    ten times that."""
    if position is None:
        return
    pending = list(projections)
    deadline = time.monotonic() + within
    delay = poll_interval
    holds = False
    while True:
        with database_errors("checking a read model's position"):
            async with pool.connection() as conn:
                holds = holds or await holds_position(conn, position)
                if holds:
                    pending = [p for p in pending if not await has_passed(conn, p, position)]
                if holds and not pending:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    why = await _why(conn, pending, position, holds=holds)
                    raise ConsistencyTimeout([p.name for p in pending], str(position), within, why)
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, poll_interval * 10)


async def _why(
    conn: psycopg.AsyncConnection[TupleRow], pending: Sequence[ReadModel], position: Position, *, holds: bool
) -> str:
    """What held the read models back, in words: the replica's replay, or their checkpoints."""
    ((replica, paused, replayed_ago),) = await (await conn.execute(_STATE)).fetchall()
    where = "the replica" if replica else "the primary"
    parts: list[str] = []
    if not holds:
        lag = "replay is paused" if paused else "replay is running"
        if replayed_ago is not None:
            lag += f", it last replayed a transaction {replayed_ago:.1f} s ago"
        parts.append(f"{where} has not replayed the commit at {position} yet ({lag})")
    else:
        for projection in pending:
            rows = await (await conn.execute(_CHECKPOINT, [projection.name])).fetchall()
            at = str(Position(*rows[0])) if rows else "the start (no checkpoint yet)"
            parts.append(f"{projection.name}'s checkpoint on {where} is at {at}")
        if replica:
            parts.append("the replica's replay is paused" if paused else "a runner or the replica is behind")
    return "; ".join(parts)
