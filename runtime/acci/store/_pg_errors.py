"""The one place where psycopg's errors become ACCI errors, by SQLSTATE."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import psycopg
import psycopg_pool

from acci.errors import (
    AcciError,
    ConcurrencyError,
    DatabaseError,
    DuplicateCommandError,
    TransientDatabaseError,
)
from acci.streams import StreamId

#: Raised by acci.append_events when the expected version does not match (DETAIL: actual version).
CONCURRENCY_CONFLICT = "AC001"
#: Raised by acci.append_events when the command id was recorded before.
DUPLICATE_COMMAND = "AC002"

# Failures that may pass when the same work is tried again.
_TRANSIENT_CLASSES = ("08", "57P", "53")  # connection exceptions, shutdown, insufficient resources
_TRANSIENT_CODES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def translate(
    error: psycopg.Error,
    doing: str,
    *,
    stream: StreamId | None = None,
    expected: int | None = None,
    tenant_id: str | None = None,
    command_id: UUID | None = None,
) -> AcciError:
    """The ACCI error for a psycopg error raised while `doing` something (for the message)."""
    sqlstate = error.sqlstate
    if sqlstate == CONCURRENCY_CONFLICT and stream is not None:
        actual = int(error.diag.message_detail or 0)
        return ConcurrencyError(stream, expected, actual)
    if sqlstate == DUPLICATE_COMMAND and tenant_id is not None and command_id is not None:
        return DuplicateCommandError(tenant_id, command_id)
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
