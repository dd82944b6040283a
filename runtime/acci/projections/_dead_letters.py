"""The dead-letter table: events a projection handler kept failing on, kept for a replay."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from acci.events import RecordedEvent
from acci.projections.base import Connection
from acci.streams import Position


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    projection: str
    event_id: UUID
    position: Position
    event_type: str
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None


async def record_dead_letter(
    conn: Connection, projection: str, event: RecordedEvent, error: BaseException, attempts: int
) -> None:
    text = f"{type(error).__name__}: {error}"
    await conn.execute(
        """
        INSERT INTO acci.dead_letters AS d (projection, event_id, transaction_id, global_position,
                                            event_type, error, attempts)
        VALUES (%s, %s, %s::text::xid8, %s, %s, %s, %s)
        ON CONFLICT (projection, event_id) DO UPDATE
           SET error = EXCLUDED.error, attempts = d.attempts + EXCLUDED.attempts,
               last_failed_at = clock_timestamp(), resolved_at = NULL
        """,
        [
            projection,
            event.id,
            event.position.transaction_id,
            event.position.global_position,
            event.event_type,
            text,
            attempts,
        ],
    )


async def fetch_dead_letters(
    conn: Connection, projection: str | None = None, *, include_resolved: bool = False
) -> list[DeadLetter]:
    cur = await conn.execute(
        """
        SELECT id, projection, event_id, transaction_id::text::bigint, global_position, event_type, error,
               attempts, first_failed_at, last_failed_at, resolved_at
          FROM acci.dead_letters
         WHERE (%s::text IS NULL OR projection = %s::text) AND (%s OR resolved_at IS NULL)
         ORDER BY projection, transaction_id, global_position
        """,
        [projection, projection, include_resolved],
    )
    return [
        DeadLetter(row[0], row[1], row[2], Position(row[3], row[4]), *row[5:]) for row in await cur.fetchall()
    ]


async def resolve_dead_letter(conn: Connection, dead_letter_id: int) -> None:
    await conn.execute(
        "UPDATE acci.dead_letters SET resolved_at = clock_timestamp() WHERE id = %s", [dead_letter_id]
    )


async def fail_dead_letter(conn: Connection, dead_letter_id: int, error: BaseException) -> None:
    await conn.execute(
        """
        UPDATE acci.dead_letters
           SET error = %s, attempts = attempts + 1, last_failed_at = clock_timestamp()
         WHERE id = %s
        """,
        [f"{type(error).__name__}: {error}", dead_letter_id],
    )
