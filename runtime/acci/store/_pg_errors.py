"""The one place where psycopg's errors become ACCI errors, by SQLSTATE."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
import psycopg_pool
from psycopg.conninfo import conninfo_to_dict

from acci.errors import (
    AcciError,
    CommandIdReused,
    ConcurrencyError,
    DatabaseError,
    DuplicateCommandError,
    DuplicateEventError,
    TenantMoved,
    TransientDatabaseError,
)
from acci.streams import CommandRecord, StreamId, StreamRange

#: Raised by acci.append_events when the expected version does not match (DETAIL: actual version).
CONCURRENCY_CONFLICT = "AC001"
#: Raised by acci.append_events when the same command was recorded before (DETAIL: its record).
DUPLICATE_COMMAND = "AC002"
#: Raised by acci.append_events when the command id was recorded for another command.
COMMAND_ID_REUSED = "AC003"
#: Raised by a database's events trigger when a tenant has moved away from it (DETAIL: the tenant).
TENANT_MOVED = "AC010"
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
    record = command_record(stream.tenant_id, command_id, json.loads(detail or "{}"))
    if status == 2:
        return DuplicateCommandError(stream.tenant_id, command_id, record)
    return CommandIdReused(command_id, record, command_type, stream)


def command_record(tenant_id: str, command_id: UUID, first: dict[str, Any]) -> CommandRecord:
    """A CommandRecord from acci.command_detail's JSON (or a row's columns by the same names)."""
    return CommandRecord(
        command_id,
        first.get("command_type") or "",
        StreamId(tenant_id, first.get("aggregate_type") or "", first.get("aggregate_id") or ""),
        first.get("first_version") or 0,
        first.get("last_version") or 0,
        first.get("command_hash"),
        other_streams(tenant_id, first.get("other_streams")),
    )


def other_streams(tenant_id: str, ranges: list[dict[str, Any]] | None) -> tuple[StreamRange, ...]:
    """The further streams of a command (acci.commands.other_streams) as StreamRanges."""
    return tuple(
        StreamRange(
            StreamId(tenant_id, r["aggregate_type"], r["aggregate_id"]), r["first_version"], r["last_version"]
        )
        for r in ranges or ()
    )


#: The unique key on acci.events (id): an event id stored twice.
_EVENT_ID_KEY = "events_id_key"
# The key's value in the DETAIL of a unique violation (the text around it may be translated).
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Failures that may pass when the same work is tried again.
_TRANSIENT_CLASSES = ("08", "57P", "53")  # connection exceptions, shutdown, insufficient resources
_TRANSIENT_CODES = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


# How libpq and psycopg say that a connection attempt failed (no SQLSTATE is available then).
_AT_SERVER = re.compile(
    r'connection to server (?:at "(?P<host>[^"]*)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]*)") failed: (?P<reason>[^\n]*)'
)
_UNRESOLVED = re.compile(r"failed to resolve host '(?P<host>[^']*)'")
_CONNECT_FAILED = ("connection failed:", "connection is bad:")
# Refusals by a running server that say it cannot take the connection now, not that it never will
# (their SQLSTATEs: 53300 too many connections, 57P03 cannot connect now).
_BUSY_SERVER = re.compile(
    r"too many clients|connection slots are reserved|starting up|shutting down|recovery mode|"
    r"not yet accepting connections|not accepting connections"
)


def connection_failure(error: psycopg.OperationalError, conninfo: str = "") -> DatabaseError | None:
    """The error for a failed connection attempt, or None if `error` is not one.

    "cannot connect to HOST:PORT: REASON", with what to do. A server that cannot be reached or
    is busy may come back (TransientDatabaseError); a database or role that does not exist, or a
    refused login, will not (DatabaseError). libpq reports no SQLSTATE for these, so the reason is
    read from its message (the server's part of it is in the server's language).
    """
    text = str(error)
    host, port = _default_address(conninfo)
    if isinstance(error, psycopg.errors.ConnectionTimeout):
        reason = "timed out"
    elif found := _AT_SERVER.search(text):
        host, port = found["socket"] or found["host"], found["port"] or port
        reason = found["reason"].strip().removeprefix("FATAL:").strip()
    elif found := _UNRESOLVED.match(text):
        host, reason = found["host"], f"the host name does not resolve ({text[found.end() :].lstrip(': ')})"
    elif text.startswith(_CONNECT_FAILED):
        reason = text.split(":", 1)[1].strip().splitlines()[0]
    else:
        return None
    reason = reason[:1].lower() + reason[1:]
    where = f"cannot connect to {host}{':' + port if port else ''}: {reason}"
    server_refused = "FATAL:" in text
    if not server_refused or _BUSY_SERVER.search(reason):
        advice = (
            "The server is not taking connections now; try again, or check its max_connections."
            if server_refused
            else "Check the host and port of the database URL (--url or ACCI_DATABASE_URL) and that "
            "the server is running."
        )
        return TransientDatabaseError(f"{where}. {advice}", sqlstate="57P03" if server_refused else "08001")
    if "database" in reason and "does not exist" in reason:
        return DatabaseError(
            f"{where}. Create the database, or fix the database name in the URL.", sqlstate="3D000"
        )
    return DatabaseError(
        f"{where}. Check the user and password of the database URL (or PGPASSWORD, ~/.pgpass) "
        "and the server's pg_hba.conf.",
        sqlstate="28P01" if "password" in reason else "28000",
    )


def _default_address(conninfo: str) -> tuple[str, str]:
    """Host and port as libpq would default them, for messages."""
    try:
        params = conninfo_to_dict(conninfo) if conninfo else {}
    except psycopg.ProgrammingError:
        params = {}
    host = str(params.get("host") or os.environ.get("PGHOST") or "localhost")
    return host, str(params.get("port") or os.environ.get("PGPORT") or "5432")


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
    if sqlstate == TENANT_MOVED:
        return TenantMoved(error.diag.message_detail or (stream.tenant_id if stream else ""))
    if sqlstate == "23505" and stream is not None:
        if error.diag.constraint_name == _EVENT_ID_KEY:
            found = _UUID.search(error.diag.message_detail or "")
            return DuplicateEventError(stream, UUID(found[0]) if found else None)
        # A unique violation on the events' (stream, version) key: someone wrote to the stream
        # without the append function. Still a conflict, and nothing was written.
        return ConcurrencyError(stream, expected, -1)
    # The first line: libpq adds hints on more lines ("This probably means the server...").
    reason = (error.diag.message_primary or str(error)).strip().split("\n", 1)[0]
    where = f" on {stream}" if stream is not None else ""
    if isinstance(error, psycopg_pool.PoolTimeout):
        # The store's pool tells a server it cannot reach from a pool that is used up (see
        # acci.store._connect); this is the second.
        return TransientDatabaseError(
            f"{doing}{where} failed: {reason}. Raise the pool's max_size, or look for connections "
            "held too long.",
            sqlstate=None,
        )
    if isinstance(error, psycopg.OperationalError) and (failed := connection_failure(error)) is not None:
        return failed
    if is_transient(error):
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


def is_transient(error: BaseException) -> bool:
    """Whether the same work may succeed when tried again (without building a message)."""
    if isinstance(error, TransientDatabaseError):
        return True
    if not isinstance(error, psycopg.Error):
        return False
    sqlstate = error.sqlstate
    if sqlstate is None:
        # No SQLSTATE: the connection failed or was lost, or the pool had none to give; except
        # when a server refused the login for good (see connection_failure).
        if not isinstance(error, psycopg.OperationalError):
            return False
        text = str(error)
        return "FATAL:" not in text or _BUSY_SERVER.search(text) is not None
    return sqlstate in _TRANSIENT_CODES or sqlstate.startswith(_TRANSIENT_CLASSES)


@contextmanager
def database_errors(doing: str, *, stream: StreamId | None = None) -> Iterator[None]:
    """Translate psycopg errors raised inside the block."""
    try:
        yield
    except psycopg.Error as error:
        raise translate(error, doing, stream=stream) from error
