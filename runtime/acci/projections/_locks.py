"""The advisory locks of a projection: a transaction lock per batch (one writer of the read model
and its checkpoint at a time), and a session lock held by the one active live runner.

The connection that holds a live runner's session lock is named after the process that runs it
(`acci:<host>:<pid>`), so that an operator sees which service process on which machine owns the
projection: the PostgreSQL backend's pid says nothing about that.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass

from acci.projections.base import Connection, projection_lock_key

_OWNER = re.compile(r"acci:(?P<host>[^:]+):(?P<pid>[0-9]+)")
# PostgreSQL keeps the first 63 bytes of an application_name (NAMEDATALEN - 1).
_NAME_BYTES = 63


def active_lock_key(name: str) -> int:
    """The session lock of the active live runner (`ProjectionRunner.run`)."""
    return projection_lock_key(name + "#active")


def owner_application_name() -> str:
    """The application_name of a connection holding a runner's session lock: this process, as
    `acci:<host>:<pid>`. A long host name is cut so that the pid always fits."""
    pid = str(os.getpid())
    # The server shows non-ASCII characters as '?': do that here, so the cut counts bytes right.
    host = socket.gethostname().encode("ascii", "replace").decode("ascii").replace(":", "_") or "?"
    room = _NAME_BYTES - len("acci::") - len(pid)
    return f"acci:{host[:room]}:{pid}"


async def try_batch_lock(conn: Connection, key: int, *, shared: bool = False) -> bool:
    """Take the batch lock for the current transaction, unless another session holds it (or,
    `shared`, holds it exclusively)."""
    query = (
        "SELECT pg_try_advisory_xact_lock_shared(%s)" if shared else "SELECT pg_try_advisory_xact_lock(%s)"
    )
    cur = await conn.execute(query, [key], prepare=True)
    row = await cur.fetchone()
    return bool(row and row[0])


async def try_session_lock(conn: Connection, key: int) -> bool:
    """Take a lock for the life of the connection: the server releases it when the connection or
    its process dies."""
    cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", [key])
    row = await cur.fetchone()
    return bool(row and row[0])


@dataclass(frozen=True, slots=True)
class LockHolder:
    """The session holding an advisory lock, as pg_stat_activity shows it."""

    backend_pid: int
    application_name: str
    client: str | None

    def owner(self) -> tuple[str, int] | None:
        """(host, pid) of the ACCI process holding the lock, when its connection was named so."""
        found = _OWNER.fullmatch(self.application_name)
        return (found["host"], int(found["pid"])) if found else None

    def __str__(self) -> str:
        owner = self.owner()
        if owner is not None:
            return f"pid {owner[1]} on {owner[0]}"
        return (
            f"PostgreSQL backend {self.backend_pid}, {self.application_name or 'no application name'}, "
            f"from {self.client or 'a local socket'}"
        )


async def lock_holder(conn: Connection, key: int) -> LockHolder | None:
    """Who holds the advisory lock `key` in this database (None when nobody does)."""
    # pg_locks shows a bigint key as its high half in classid and its low half in objid.
    cur = await conn.execute(
        """
        SELECT a.pid, a.application_name, host(a.client_addr)
          FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """,
        [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
    )
    row = await cur.fetchone()
    return LockHolder(row[0], row[1] or "", row[2]) if row else None
