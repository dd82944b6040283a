"""The dead-letter table: events a projection handler kept failing on, kept for a replay, and the
later events of their streams, held back behind them so that each stream stays in order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from acci.events import RecordedEvent
from acci.projections.base import Connection
from acci.streams import Position, StreamId

#: (tenant_id, aggregate_type, aggregate_id)
StreamKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    projection: str
    event_id: UUID
    position: Position
    event_type: str
    error: str
    #: Tries of the handler; 0 for an event held back behind `behind` without being tried.
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None
    stream: StreamId
    #: The earlier parked event of the same stream this one waits behind, if it was held back.
    behind: UUID | None = None


async def record_dead_letter(
    conn: Connection,
    projection: str,
    event: RecordedEvent,
    error: BaseException | str,
    attempts: int,
    *,
    behind: UUID | None = None,
) -> None:
    """Park `event`: after `attempts` failed tries with `error`, or (attempts 0) behind `behind`."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    stream = event.stream
    await conn.execute(
        """
        INSERT INTO acci.dead_letters AS d (projection, event_id, transaction_id, global_position,
                                            event_type, error, attempts, tenant_id, aggregate_type,
                                            aggregate_id, behind_event_id)
        VALUES (%s, %s, %s::text::xid8, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (projection, event_id) DO UPDATE
           SET error = EXCLUDED.error, attempts = d.attempts + EXCLUDED.attempts,
               behind_event_id = EXCLUDED.behind_event_id, last_failed_at = clock_timestamp(),
               resolved_at = NULL
        """,
        [
            projection,
            event.id,
            event.position.transaction_id,
            event.position.global_position,
            event.event_type,
            text,
            attempts,
            stream.tenant_id,
            stream.aggregate_type,
            stream.aggregate_id,
            behind,
        ],
    )


async def held_streams(
    conn: Connection, projection: str, segment: tuple[int, int] = (0, 1)
) -> dict[StreamKey, UUID]:
    """The streams with an unresolved dead letter (of the streams in `segment`), each with its
    first parked event's id: their later events wait behind it. Normally none (an empty partial
    index); dead letters are exceptions an operator is alerted to, so there are never many."""
    cur = await conn.execute(
        """
        SELECT DISTINCT ON (tenant_id, aggregate_type, aggregate_id)
               tenant_id, aggregate_type, aggregate_id, event_id
          FROM acci.dead_letters
         WHERE projection = %s AND resolved_at IS NULL
           AND (%s::integer = 1
                OR acci.stream_segment(tenant_id, aggregate_type, aggregate_id, %s::integer) = %s::integer)
         ORDER BY tenant_id, aggregate_type, aggregate_id, transaction_id, global_position
        """,
        [projection, segment[1], segment[1], segment[0]],
        prepare=True,
    )
    return {(t, a, i): event_id for t, a, i, event_id in await cur.fetchall()}


def stream_key(event: RecordedEvent) -> StreamKey:
    """The event's stream as a plain tuple (cheaper than a validated StreamId, per event)."""
    return (event.metadata.tenant_id, event.aggregate_type, event.aggregate_id)


async def fetch_dead_letters(
    conn: Connection, projection: str | None = None, *, include_resolved: bool = False
) -> list[DeadLetter]:
    """Dead letters in log order (the order a replay applies them in)."""
    cur = await conn.execute(
        """
        SELECT id, projection, event_id, transaction_id::text::bigint, global_position, event_type, error,
               attempts, first_failed_at, last_failed_at, resolved_at, tenant_id, aggregate_type,
               aggregate_id, behind_event_id
          FROM acci.dead_letters
         WHERE (%s::text IS NULL OR projection = %s::text) AND (%s OR resolved_at IS NULL)
         ORDER BY projection, transaction_id, global_position
        """,
        [projection, projection, include_resolved],
    )
    return [
        DeadLetter(
            id=row[0],
            projection=row[1],
            event_id=row[2],
            position=Position(row[3], row[4]),
            event_type=row[5],
            error=row[6],
            attempts=row[7],
            first_failed_at=row[8],
            last_failed_at=row[9],
            resolved_at=row[10],
            stream=StreamId(row[11], row[12], row[13]),
            behind=row[14],
        )
        for row in await cur.fetchall()
    ]


async def is_unresolved(conn: Connection, dead_letter_id: int) -> bool:
    cur = await conn.execute(
        "SELECT resolved_at IS NULL FROM acci.dead_letters WHERE id = %s", [dead_letter_id]
    )
    row = await cur.fetchone()
    return bool(row and row[0])


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
