"""The advisory locks of a projection: a transaction lock per batch (one writer of the read model
and its checkpoint at a time), and a session lock held by the one active live runner."""

from __future__ import annotations

from acci.projections.base import Connection, projection_lock_key


def active_lock_key(name: str) -> int:
    """The session lock of the active live runner (`ProjectionRunner.run`)."""
    return projection_lock_key(name + "#active")


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


async def lock_holder(conn: Connection, key: int) -> str:
    """Who holds the advisory lock `key`, in words ("" when nobody does any more)."""
    # pg_locks shows a bigint key as its high half in classid and its low half in objid.
    cur = await conn.execute(
        """
        SELECT a.pid, a.application_name, host(a.client_addr)
          FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.classid = %s::bigint::oid AND l.objid = %s::bigint::oid
        """,
        [(key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
    )
    row = await cur.fetchone()
    if row is None:
        return ""
    pid, application, client = row
    return (
        f"PostgreSQL backend {pid}, {application or 'no application name'}, from {client or 'a local socket'}"
    )
