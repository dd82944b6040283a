"""The Projection interface: a read model kept up to date from the events it declares."""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from acci.errors import ConfigurationError
from acci.events import RecordedEvent

Connection = psycopg.AsyncConnection[TupleRow]

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

    @classmethod
    def table_name(cls) -> str:
        name = cls.table or cls.name
        for kind, value in (("projection name", cls.name), ("table", name), ("schema", cls.schema)):
            if not _SQL_NAME.match(value):
                raise ConfigurationError(
                    f"{kind} {value!r} of {cls.__qualname__} is not a valid SQL name: use lower-case "
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

    @abstractmethod
    async def apply(self, conn: Connection, table: sql.Identifier, event: RecordedEvent) -> None:
        """Change the read model in `table` for one event."""

    async def apply_batch(
        self, conn: Connection, table: sql.Identifier, events: Sequence[RecordedEvent]
    ) -> None:
        """Apply events in order. Runs in pipeline mode when the runner batches, so `apply` should
        execute statements without reading their results where it can."""
        for event in events:
            await self.apply(conn, table, event)
