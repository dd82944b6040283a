"""Read-your-writes for read models kept by a runner: has a projection applied everything up to a
position of the global order?

A command's result carries the position its events reached (`CommandResult.position`). A query
that is given it waits, with a timeout, until every projection it reads has passed it. "Passed"
means: the projection's checkpoint is at or after the position, or no event of its types lies
between its checkpoint and the position (a runner only checkpoints the events it reads, so an
idle projection never moves past events it does not care about). The check reads the checkpoint
and the events in one statement, on whatever database the query reads: on a streaming replica it
sees the checkpoints as far as the replica has replayed them, which is exactly what a query there
can see. Inline projections are updated in the append's own transaction and never wait.
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


async def wait_until_passed(
    pool: AsyncConnectionPool[psycopg.AsyncConnection[TupleRow]],
    projections: Sequence[ReadModel],
    position: Position | None,
    *,
    within: float = 5.0,
    poll_interval: float = 0.02,
) -> None:
    """Return once every projection has passed `position` (None: nothing to wait for); raise
    ConsistencyTimeout after `within` seconds. Polls, starting at `poll_interval` and backing off to
    ten times that."""
    if position is None:
        return
    pending = [p for p in projections if not p.inline]
    deadline = time.monotonic() + within
    delay = poll_interval
    while pending:
        with database_errors("checking a read model's position"):
            async with pool.connection() as conn:
                pending = [p for p in pending if not await has_passed(conn, p, position)]
        if not pending:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise ConsistencyTimeout([p.name for p in pending], str(position), within)
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, poll_interval * 10)
