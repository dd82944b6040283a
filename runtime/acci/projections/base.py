"""The Projection interface: a read model kept up to date from the events it declares."""

from __future__ import annotations

import hashlib
import re
from abc import ABC
from collections.abc import Sequence
from typing import Any, ClassVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from acci.errors import ConfigurationError, shown
from acci.events import RecordedEvent

Connection = psycopg.AsyncConnection[TupleRow]
#: A statement of a declarative projection: the query (built by Projection.query) and its values.
Statement = tuple[sql.Composed, Sequence[Any]]

_SQL_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,47}$")


def projection_lock_key(name: str) -> int:
    """A stable 64-bit advisory lock key for a projection (the same in every process)."""
    digest = hashlib.sha256(f"acci.projection:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Projection(ABC):
    """A read model: a table in `schema`, changed by the events of `event_types`.

    `apply` gets the target table as an argument: the live table, or a scratch copy during a
    rebuild or a consistency check (created with `CREATE TABLE ... (LIKE live INCLUDING ALL)`).
    It must derive everything from the event (use the event's timestamp, never now()), so that a
    replay builds the same rows. It runs inside the batch's transaction; it must not commit.
    """

    #: The projection's name: its checkpoint and lock key. Also the default table name.
    name: ClassVar[str]
    #: The event types it reads; no other events are fetched for it.
    event_types: ClassVar[Sequence[str]]
    schema: ClassVar[str] = "public"
    table: ClassVar[str] = ""
    #: Inline projections are updated in the append's own transaction (read-your-writes) by a
    #: PostgresEventStore opened with them; the others by a ProjectionRunner.
    inline: ClassVar[bool] = False
    #: Segments a runner splits the projection into the first time it runs (see
    #: `acci.projections.resplit`): each owns a part of the streams, with its own checkpoint and
    #: lock, so that several processes apply it side by side. None: the runner's setting
    #: (`ACCI_PROJECTIONS__SEGMENTS`, by default 1: one runner applies everything).
    segments: ClassVar[int | None] = None

    @classmethod
    def table_name(cls) -> str:
        name = cls.table or cls.name
        for kind, value in (("projection name", cls.name), ("table", name), ("schema", cls.schema)):
            if not _SQL_NAME.match(value):
                raise ConfigurationError(
                    f"{kind} {shown(value)} of {cls.__qualname__} is not a valid SQL name: use lower-case "
                    "letters, digits and '_', starting with a letter, at most 48 characters."
                )
        return name

    @classmethod
    def table_identifier(cls, suffix: str = "") -> sql.Identifier:
        """The live table, or with `suffix` one of its scratch copies."""
        return sql.Identifier(cls.schema, cls.table_name() + suffix)

    @classmethod
    def lock_key(cls) -> int:
        return projection_lock_key(cls.name)

    def statement(self, table: sql.Identifier, event: RecordedEvent) -> Statement | None:
        """The SQL that applies `event` to `table`, with its parameters, or None.

        Declarative projections (acci-gen's) answer here instead of executing, so that
        `apply_batch` can send runs of the same statement as one executemany. Hand-written
        projections override `apply` instead.
        """
        return None

    async def apply(self, conn: Connection, table: sql.Identifier, event: RecordedEvent) -> None:
        """Change the read model in `table` for one event."""
        found = self.statement(table, event)
        if found is not None:
            await conn.execute(found[0], found[1])

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        """Apply events in order. Consecutive events with the same statement go out as one
        executemany; the others through `apply`."""
        query: sql.Composed | None = None
        rows: list[Sequence[Any]] = []
        async with conn.cursor() as cursor:
            for event in events:
                found = self.statement(table, event)
                if found is not None and found[0] is query:
                    rows.append(found[1])
                    continue
                if query is not None:
                    await cursor.executemany(query, rows)
                    query, rows = None, []
                if found is None:
                    await self.apply(conn, table, event)
                else:
                    query, rows = found[0], [found[1]]
            if query is not None:
                await cursor.executemany(query, rows)

    async def apply_inline(self, conn: Connection, events: Sequence[RecordedEvent]) -> None:
        """Apply appended events to the live table inside the append's transaction (for a
        PostgresEventStore opened with this projection, when `inline` is set)."""
        await self.apply_batch(conn, self.table_identifier(), events)

    def query(self, template: sql.SQL, table: sql.Identifier) -> sql.Composed:
        """`template` with the table filled in, built once per table (the same object each time,
        which is how apply_batch recognises runs of one statement)."""
        key = (id(template), repr(table))  # Identifier is not hashable; its repr names it
        cached = self._built_queries.get(key)
        if cached is None:
            cached = self._built_queries[key] = template.format(table)
        return cached

    @property
    def _built_queries(self) -> dict[tuple[int, str], sql.Composed]:
        cache: dict[tuple[int, str], sql.Composed] | None = self.__dict__.get("_query_cache")
        if cache is None:
            cache = self.__dict__["_query_cache"] = {}
        return cache
