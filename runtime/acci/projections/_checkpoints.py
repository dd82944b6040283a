"""Projection checkpoints: where a projection is in the global order, written in the same
transaction as its read-model changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from acci.projections.base import Connection
from acci.streams import Position

RUNNING = "running"
HALTED = "halted"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    name: str
    position: Position
    status: str
    updated_at: datetime
    #: The segment (of `segments`) this row is for; 0 of 1 for an unsegmented projection.
    segment: int = 0
    segments: int = 1
    #: The process that last claimed the segment (host and pid), if one did.
    owner: str | None = None


async def read_checkpoint(conn: Connection, name: str, segment: int = 0, segments: int = 1) -> Checkpoint:
    """The checkpoint row of a segment (an unsegmented projection has segment 0 of 1), created at
    the start of the log if there is none: one statement (the inserted row, or else the existing
    one), saving a round trip per batch."""
    params = {"name": name, "segment": segment, "segments": segments}
    rows = await (await conn.execute(_READ_OR_CREATE, params, prepare=True)).fetchall()
    if not rows:
        # Another session created the row after this statement's snapshot was taken (the insert
        # waited for it, then did nothing): a new statement sees it.
        rows = await (await conn.execute(_READ, params, prepare=True)).fetchall()
    ((xid, position, status, updated_at, count, owner),) = rows
    return Checkpoint(name, Position(xid, position), status, updated_at, segment, count, owner)


async def read_checkpoints(conn: Connection, name: str) -> list[Checkpoint]:
    """Every segment's checkpoint row of `name`, by segment (none before a runner started)."""
    cur = await conn.execute(
        """
        SELECT transaction_id::text::bigint, global_position, status, updated_at, segment, segments, owner
          FROM acci.checkpoints WHERE name = %s ORDER BY segment
        """,
        [name],
    )
    return [
        Checkpoint(name, Position(xid, pos), status, updated, segment, count, owner)
        for xid, pos, status, updated, segment, count, owner in await cur.fetchall()
    ]


_COLUMNS = "transaction_id::text::bigint, global_position, status, updated_at, segments, owner"

_READ = f"""
SELECT {_COLUMNS} FROM acci.checkpoints WHERE name = %(name)s AND segment = %(segment)s
"""  # noqa: S608 - constant text

_READ_OR_CREATE = f"""
WITH created AS (
    INSERT INTO acci.checkpoints (name, segment, segments) VALUES (%(name)s, %(segment)s, %(segments)s)
    ON CONFLICT (name, segment) DO NOTHING
    RETURNING transaction_id, global_position, status, updated_at, segments, owner)
SELECT {_COLUMNS} FROM created
UNION ALL
SELECT {_COLUMNS} FROM acci.checkpoints
 WHERE name = %(name)s AND segment = %(segment)s AND NOT EXISTS (SELECT FROM created)
"""  # noqa: S608 - constant text


async def advance_checkpoint(
    conn: Connection, name: str, expected: Position, new: Position, segment: int = 0
) -> bool:
    """Move the checkpoint from `expected` to `new`; False if it had moved (another runner won)."""
    cur = await conn.execute(
        """
        UPDATE acci.checkpoints
           SET transaction_id = %s::text::xid8, global_position = %s, updated_at = clock_timestamp()
         WHERE name = %s AND segment = %s AND transaction_id = %s::text::xid8 AND global_position = %s
        """,
        [
            new.transaction_id,
            new.global_position,
            name,
            segment,
            expected.transaction_id,
            expected.global_position,
        ],
        prepare=True,
    )
    return cur.rowcount == 1


async def set_checkpoint(conn: Connection, name: str, position: Position, status: str = RUNNING) -> None:
    """Put every segment of `name` at `position` (one row, segment 0 of 1, when there is none)."""
    cur = await conn.execute(
        """
        UPDATE acci.checkpoints
           SET transaction_id = %s::text::xid8, global_position = %s, status = %s,
               updated_at = clock_timestamp()
         WHERE name = %s
        """,
        [position.transaction_id, position.global_position, status, name],
    )
    if cur.rowcount:
        return
    await conn.execute(
        """
        INSERT INTO acci.checkpoints (name, transaction_id, global_position, status)
        VALUES (%s, %s::text::xid8, %s, %s)
        ON CONFLICT (name, segment) DO UPDATE
           SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position,
               status = EXCLUDED.status, updated_at = clock_timestamp()
        """,
        [name, position.transaction_id, position.global_position, status],
    )


async def set_owner(conn: Connection, name: str, segment: int, owner: str) -> None:
    """Record which process runs the segment now (shown by `acci projections status`)."""
    await conn.execute(
        "UPDATE acci.checkpoints SET owner = %s, heartbeat_at = clock_timestamp() "
        "WHERE name = %s AND segment = %s",
        [owner, name, segment],
    )


async def set_status(conn: Connection, name: str, status: str) -> None:
    await conn.execute(
        "UPDATE acci.checkpoints SET status = %s, updated_at = clock_timestamp() WHERE name = %s",
        [status, name],
    )


async def delete_checkpoint(conn: Connection, name: str) -> None:
    await conn.execute("DELETE FROM acci.checkpoints WHERE name = %s", [name])
