"""Connections to PostgreSQL: single ones and the store's pool, whose failures are said plainly.

A connection attempt that fails becomes "cannot connect to HOST:PORT: REASON" at once (see
`_pg_errors.connection_failure`), instead of the pool retrying for its whole timeout and logging
a warning per try. The pool checks a connection before handing it out, so that connections the
server has ended (a restart, `pg_terminate_backend`) are replaced rather than given to callers.
"""

from __future__ import annotations

import select

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from acci.store._pg_errors import connection_failure

Connection = psycopg.AsyncConnection[TupleRow]

#: How long a single connection attempt may take, in seconds (libpq's connect_timeout: at least 2).
CONNECT_TIMEOUT = 10.0


async def connect(
    conninfo: str,
    *,
    seconds: float = CONNECT_TIMEOUT,
    autocommit: bool = True,
    application_name: str | None = None,
) -> Connection:
    """One connection of its own (LISTEN, session locks, migrations), or the ACCI error saying why not.
    `application_name`, when given, replaces the one in `conninfo`."""
    if application_name is not None:
        conninfo = make_conninfo(conninfo, application_name=application_name)
    try:
        return await psycopg.AsyncConnection.connect(
            conninfo, autocommit=autocommit, connect_timeout=max(2, round(seconds))
        )
    except psycopg.OperationalError as error:
        failed = connection_failure(error, conninfo)
        if failed is None:
            raise
        raise failed from error


class ConnectionPool(AsyncConnectionPool[Connection]):
    """psycopg's pool, with a cheap check of each connection it hands out, and a PoolTimeout that
    says whether the server cannot be reached or the pool is used up."""

    def __init__(self, conninfo: str, *, min_size: int, max_size: int, timeout: float) -> None:
        super().__init__(
            conninfo,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            kwargs={"autocommit": True},
            check=self._check,
            open=False,
        )

    async def getconn(self, timeout: float | None = None) -> Connection:  # noqa: ASYNC109 - psycopg's
        try:
            return await super().getconn(timeout)
        except PoolTimeout as error:
            # Either the server is gone (the pool cannot replace its connections) or every
            # connection is in use: one direct attempt tells which, and the message says so.
            probe = await connect(self.conninfo_text(), seconds=2)
            await probe.close()
            waited = self.timeout if timeout is None else timeout
            raise PoolTimeout(
                f"no connection of the pool became free within {waited:g} s (all {self.max_size} in use)"
            ) from error

    def conninfo_text(self) -> str:
        return self.conninfo if isinstance(self.conninfo, str) else ""

    async def _check(self, conn: Connection) -> None:
        """Before a connection is handed out: a round trip only if its socket has something to say.

        An idle connection's socket turns readable only when the server sent something unasked,
        which in practice is the notice that it ended the session, followed by EOF. Checking that
        costs about 2 µs; psycopg's check_connection (an empty query) costs a round trip on every
        checkout, a sixth of a one-event append.
        """
        if conn.broken or conn.closed:
            raise psycopg.OperationalError("the connection is closed")
        if not _readable(conn.pgconn.socket):
            return
        try:
            await AsyncConnectionPool.check_connection(conn)
        except psycopg.Error:
            # After a server restart or a termination storm the other idle connections are dead
            # as well; replace them all now. The pool would otherwise find them one checkout at a
            # time, waiting 1, 2, 4... s between tries of one request.
            await self.check()
            raise


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    ready, _, _ = select.select([fd], [], [], 0)  # Windows: no poll(), and no descriptor above 1024
    return bool(ready)
