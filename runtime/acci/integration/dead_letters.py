"""The consumers' dead letters (acci.integration_dead_letters): messages whose command kept
failing, kept with their subject, headers and payload so that a replay needs no broker."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from acci.integration.transport import IncomingMessage
from acci.projections.base import Connection

_COLUMNS = """id, consumer, message_id, subject, sequence, origin, event_type, schema_version,
              headers::text, data, error, attempts, first_failed_at, last_failed_at, resolved_at"""


@dataclass(frozen=True, slots=True)
class IntegrationDeadLetter:
    id: int
    consumer: str
    message_id: str
    subject: str
    sequence: int
    origin: str
    event_type: str
    schema_version: int
    headers: dict[str, str]
    data: bytes
    error: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime
    resolved_at: datetime | None


async def park(
    conn: Connection,
    consumer: str,
    message: IncomingMessage,
    *,
    origin: str,
    event_type: str,
    schema_version: int,
    error: str,
    attempts: int,
) -> None:
    """Keep the message as a dead letter (once: a redelivered message keeps its first letter)."""
    await conn.execute(
        """
        INSERT INTO acci.integration_dead_letters (consumer, message_id, subject, sequence, origin,
                                                   event_type, schema_version, headers, data, error,
                                                   attempts)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (consumer, message_id) DO NOTHING
        """,
        [
            consumer,
            message.message_id,
            message.subject,
            message.sequence,
            origin,
            event_type,
            schema_version,
            Jsonb(dict(message.headers)),
            message.data,
            error,
            attempts,
        ],
    )


async def blocked_origins(conn: Connection, consumer: str) -> set[str]:
    """The streams of origin with an unresolved letter: their later messages are parked too."""
    cur = await conn.execute(
        """
        SELECT DISTINCT origin FROM acci.integration_dead_letters
         WHERE consumer = %s AND resolved_at IS NULL
        """,
        [consumer],
    )
    return {row[0] for row in await cur.fetchall()}


async def fetch_dead_letters(
    conn: Connection, consumer: str | None = None, *, include_resolved: bool = False
) -> list[IntegrationDeadLetter]:
    cur = await conn.execute(
        f"""
        SELECT {_COLUMNS} FROM acci.integration_dead_letters
         WHERE (%s::text IS NULL OR consumer = %s::text) AND (%s OR resolved_at IS NULL)
         ORDER BY consumer, id
        """,  # noqa: S608 - a constant column list, no input
        [consumer, consumer, include_resolved],
    )
    return [_letter(row) for row in await cur.fetchall()]


def _letter(row: tuple[Any, ...]) -> IntegrationDeadLetter:
    values = list(row)
    values[8] = json.loads(values[8])
    values[9] = bytes(values[9])
    return IntegrationDeadLetter(*values)


async def resolve_dead_letter(conn: Connection, letter_id: int) -> None:
    await conn.execute(
        "UPDATE acci.integration_dead_letters SET resolved_at = clock_timestamp() WHERE id = %s", [letter_id]
    )


async def fail_dead_letter(conn: Connection, letter_id: int, error: str) -> None:
    await conn.execute(
        """
        UPDATE acci.integration_dead_letters
           SET error = %s, attempts = attempts + 1, last_failed_at = clock_timestamp()
         WHERE id = %s
        """,
        [error, letter_id],
    )


async def count_unresolved(conn: Connection, consumer: str) -> int:
    cur = await conn.execute(
        "SELECT count(*) FROM acci.integration_dead_letters WHERE consumer = %s AND resolved_at IS NULL",
        [consumer],
    )
    row = await cur.fetchone()
    return int(row[0]) if row else 0


class StoredMessage(IncomingMessage):
    """A dead letter as a message, for a replay: acknowledging it does nothing."""

    def __init__(self, letter: IntegrationDeadLetter) -> None:
        self.subject = letter.subject
        self.data = letter.data
        self.headers = letter.headers
        self.message_id = letter.message_id
        self.sequence = letter.sequence
        self.deliveries = letter.attempts

    async def ack(self) -> None:
        return None

    async def in_progress(self) -> None:
        return None
