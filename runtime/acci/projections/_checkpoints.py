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


async def read_checkpoint(conn: Connection, name: str) -> Checkpoint:
    """The checkpoint row, created at the start of the log if there is none: one statement (the
    inserted row, or else the existing one), saving a round trip per batch."""
    rows = await (await conn.execute(_READ_OR_CREATE, {"name": name}, prepare=True)).fetchall()
    if not rows:
        # Another session created the row after this statement's snapshot was taken (the insert
        # waited for it, then did nothing): a new statement sees it.
        rows = await (await conn.execute(_READ, {"name": name}, prepare=True)).fetchall()
    ((xid, position, status, updated_at),) = rows
    return Checkpoint(name, Position(xid, position), status, updated_at)


_READ = """
SELECT transaction_id::text::bigint, global_position, status, updated_at
  FROM acci.checkpoints WHERE name = %(name)s
"""

_READ_OR_CREATE = """
WITH created AS (
    INSERT INTO acci.checkpoints (name) VALUES (%(name)s) ON CONFLICT (name) DO NOTHING
    RETURNING transaction_id, global_position, status, updated_at)
SELECT transaction_id::text::bigint, global_position, status, updated_at FROM created
UNION ALL
SELECT transaction_id::text::bigint, global_position, status, updated_at
  FROM acci.checkpoints WHERE name = %(name)s AND NOT EXISTS (SELECT FROM created)
"""


async def advance_checkpoint(conn: Connection, name: str, expected: Position, new: Position) -> bool:
    """Move the checkpoint from `expected` to `new`; False if it had moved (another runner won)."""
    cur = await conn.execute(
        """
        UPDATE acci.checkpoints
           SET transaction_id = %s::text::xid8, global_position = %s, updated_at = clock_timestamp()
         WHERE name = %s AND transaction_id = %s::text::xid8 AND global_position = %s
        """,
        [new.transaction_id, new.global_position, name, expected.transaction_id, expected.global_position],
        prepare=True,
    )
    return cur.rowcount == 1


async def set_checkpoint(conn: Connection, name: str, position: Position, status: str = RUNNING) -> None:
    await conn.execute(
        """
        INSERT INTO acci.checkpoints (name, transaction_id, global_position, status)
        VALUES (%s, %s::text::xid8, %s, %s)
        ON CONFLICT (name) DO UPDATE
           SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position,
               status = EXCLUDED.status, updated_at = clock_timestamp()
        """,
        [name, position.transaction_id, position.global_position, status],
    )


async def set_status(conn: Connection, name: str, status: str) -> None:
    await conn.execute(
        "UPDATE acci.checkpoints SET status = %s, updated_at = clock_timestamp() WHERE name = %s",
        [status, name],
    )


async def delete_checkpoint(conn: Connection, name: str) -> None:
    await conn.execute("DELETE FROM acci.checkpoints WHERE name = %s", [name])
