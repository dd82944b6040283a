"""One active instance per relay or consumer among all processes: a session advisory lock on a
connection of its own. The server releases it when the process or its connection dies, and a
standby that keeps trying takes over."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
from psycopg.rows import TupleRow

from acci.projections.base import projection_lock_key


class Leadership:
    def __init__(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        self._conn = conn

    async def still_active(self) -> bool:
        """False when the lock's connection is gone (then another instance may have taken over)."""
        try:
            await self._conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True


@contextlib.asynccontextmanager
async def active_instance(
    conninfo: str, name: str, stop: asyncio.Event, retry_every: float
) -> AsyncIterator[Leadership | None]:
    """Wait until this process holds `name`'s lock (None when `stop` was set first)."""
    conn = await psycopg.AsyncConnection.connect(conninfo, autocommit=True)
    try:
        key = projection_lock_key(f"{name}#active")
        while not stop.is_set():
            row = await (await conn.execute("SELECT pg_try_advisory_lock(%s)", [key])).fetchone()
            if row and row[0]:
                yield Leadership(conn)
                return
            await sleep_or_stop(stop, retry_every)
        yield None
    finally:
        await conn.close()


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
