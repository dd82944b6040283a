"""The one place where psycopg's errors become ACCI errors, by SQLSTATE."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg
import psycopg_pool

from acci.errors import (
    AcciError,
    CommandIdReused,
    ConcurrencyError,
    DatabaseError,
    DuplicateCommandError,
    TransientDatabaseError,
)
from acci.store.base import CommandRecord
from acci.streams import StreamId

#: Raised by acci.append_events when the expected version does not match (DETAIL: actual version).
CONCURRENCY_CONFLICT = "AC001"
#: Raised by acci.append_events when the same command was recorded before (DETAIL: its record).
DUPLICATE_COMMAND = "AC002"
#: Raised by acci.append_events when the command id was recorded for another command.
COMMAND_ID_REUSED = "AC003"
#: The same outcomes as the statuses of acci.claim_append (and the rows of acci.append_batch).
_CLAIM_STATUS = {CONCURRENCY_CONFLICT: 1, DUPLICATE_COMMAND: 2, COMMAND_ID_REUSED: 3}


def claim_error(
    status: int,
    version: int | None,
    detail: str | None,
    *,
    stream: StreamId,
    expected: int | None,
    command_id: UUID | None,
    command_type: str,
) -> AcciError:
    """The error for a failed claim of acci.claim_append: status 1 a version conflict (`version`
    is the actual one), 2 a repeated command, 3 a command id reused (`detail`: the first command)."""
    if status == 1 or command_id is None:
        return ConcurrencyError(stream, expected, version or 0)
    first = json.loads(detail or "{}")
    record = CommandRecord(
        command_id,
        first.get("command_type", ""),
        StreamId(stream.tenant_id, first.get("aggregate_type", ""), first.get("aggregate_id", "")),
        first.get("first_version", 0),
        first.get("last_version", 0),
    )
    if status == 2:
        return DuplicateCommandError(stream.tenant_id, command_id, record)
    return CommandIdReused(command_id, record, command_type, stream)


# Failures that may pass when the same work is tried again.
_TRANSIENT_CLASSES = ("08", "57P", "53")  # connection exceptions, shutdown, insufficient resources
_TRANSIENT_CODES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def translate(
    error: psycopg.Error,
    doing: str,
    *,
    stream: StreamId | None = None,
    expected: int | None = None,
    command_id: UUID | None = None,
    command_type: str = "",
) -> AcciError:
    """The ACCI error for a psycopg error raised while `doing` something (for the message)."""
    sqlstate = error.sqlstate
    if sqlstate in _CLAIM_STATUS and stream is not None:
        detail = error.diag.message_detail
        status = _CLAIM_STATUS[sqlstate]
        version = int(detail or 0) if status == 1 else None
        return claim_error(
            status,
            version,
            detail,
            stream=stream,
            expected=expected,
            command_id=command_id,
            command_type=command_type,
        )
    if sqlstate == "23505" and stream is not None:
        # A unique violation on the events' (stream, version) key: someone wrote to the stream
        # without the append function. Still a conflict, and nothing was written.
        return ConcurrencyError(stream, expected, -1)
    reason = (error.diag.message_primary or str(error)).strip()
    where = f" on {stream}" if stream is not None else ""
    if isinstance(error, psycopg_pool.PoolTimeout):
        return TransientDatabaseError(
            f"{doing}{where} failed: no database connection became free in time ({reason}). "
            "Raise the pool's max_size, or look for connections held too long.",
            sqlstate=None,
        )
    if (sqlstate is None and isinstance(error, psycopg.OperationalError)) or (
        sqlstate is not None and (sqlstate in _TRANSIENT_CODES or sqlstate.startswith(_TRANSIENT_CLASSES))
    ):
        return TransientDatabaseError(
            f"{doing}{where} failed with a transient database error [{sqlstate or 'no SQLSTATE'}]: "
            f"{reason}. Try again; if it persists, check the database server.",
            sqlstate=sqlstate,
        )
    if sqlstate is not None and (sqlstate.startswith("42") or sqlstate == "3F000"):
        return DatabaseError(
            f"{doing}{where} failed [{sqlstate}]: {reason}. Is the database migrated? "
            "Run `acci migrate` (or acci.migrations.migrate) first.",
            sqlstate=sqlstate,
        )
    return DatabaseError(f"{doing}{where} failed [{sqlstate or 'no SQLSTATE'}]: {reason}.", sqlstate=sqlstate)


@contextmanager
def database_errors(doing: str, *, stream: StreamId | None = None) -> Iterator[None]:
    """Translate psycopg errors raised inside the block."""
    try:
        yield
    except psycopg.Error as error:
        raise translate(error, doing, stream=stream) from error
