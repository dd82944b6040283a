"""Versioned SQL migrations: the runtime's own, and any a service adds (generated read models).

Migrations are numbered files `NNNN_name.sql` in a directory, grouped by a component name (the
runtime is `acci`, a domain uses its own name), so that each component numbers its own files.
`migrate()` applies the pending ones in order, each in its own transaction together with its
record in `acci.schema_migrations`, under an advisory lock so that processes starting at once
apply each migration exactly once. An applied migration whose file changed stops everything.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

import psycopg

from acci.errors import MigrationError, shown
from acci.store._connect import connect
from acci.store._pg_errors import database_errors

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_COMPONENT = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
# pg_advisory_lock key: "ACCI" in ASCII, so it is unlikely to meet a service's own locks.
_LOCK_KEY = 0x41434349


@dataclass(frozen=True, slots=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str = field(repr=False)
    source: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def __str__(self) -> str:
        return f"{self.component} {self.version:04d}_{self.name}"


def load_migrations(component: str, directory: Path | Traversable) -> list[Migration]:
    """Read `NNNN_name.sql` files from `directory`; numbers must run 1, 2, 3... without gaps."""
    if not _COMPONENT.match(component):
        raise MigrationError(f"migration component {shown(component)} must be a lower-case SQL identifier.")
    found: list[Migration] = []
    for entry in directory.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(
                f"{entry}: migration file names look like 0001_create_tables.sql (four digits, "
                "an underscore, lower-case words)."
            )
        found.append(
            Migration(component, int(match[1]), match[2], entry.read_text(encoding="utf-8"), str(entry))
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{migration.source}: expected migration number {expected:04d} here; numbers must "
                "start at 0001 and have no gaps or duplicates."
            )
    return found


def runtime_migrations() -> list[Migration]:
    """The event store's own migrations, shipped inside the acci package."""
    return load_migrations("acci", resources.files("acci.migrations") / "sql")


_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS acci;
CREATE TABLE IF NOT EXISTS acci.schema_migrations (
    component  text        NOT NULL,
    version    integer     NOT NULL,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (component, version)
);
"""


async def migrate(
    conninfo: str,
    migrations: Iterable[Migration] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[Migration]:
    """Apply pending migrations (the runtime's, when none are given); return those applied."""
    wanted = list(runtime_migrations() if migrations is None else migrations)
    applied_now: list[Migration] = []
    with database_errors("applying migrations"):
        async with await connect(conninfo) as conn:
            await conn.execute("SELECT pg_advisory_lock(%s)", [_LOCK_KEY])
            try:
                await conn.execute(_BOOTSTRAP)
                recorded = await _recorded_checksums(conn)
                _refuse_changed(wanted, recorded)
                for migration in wanted:
                    if (migration.component, migration.version) in recorded:
                        continue
                    if progress:
                        progress(f"applying {migration}")
                    await _apply(conn, migration)
                    applied_now.append(migration)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_KEY])
    return applied_now


async def applied_migrations(conninfo: str) -> list[tuple[str, int, str]]:
    """(component, version, name) of every applied migration, in order."""
    with database_errors("reading applied migrations"):
        async with await connect(conninfo) as conn:
            exists = await (await conn.execute("SELECT to_regclass('acci.schema_migrations')")).fetchone()
            if exists is None or exists[0] is None:
                return []
            cur = await conn.execute(
                "SELECT component, version, name FROM acci.schema_migrations ORDER BY component, version"
            )
            return [(str(c), int(v), str(n)) for c, v, n in await cur.fetchall()]


async def _recorded_checksums(
    conn: psycopg.AsyncConnection[tuple[object, ...]],
) -> dict[tuple[str, int], str]:
    cur = await conn.execute("SELECT component, version, checksum FROM acci.schema_migrations")
    return {(str(c), int(str(v))): str(s) for c, v, s in await cur.fetchall()}


def _refuse_changed(wanted: Sequence[Migration], recorded: dict[tuple[str, int], str]) -> None:
    changed = [m for m in wanted if recorded.get((m.component, m.version), m.checksum) != m.checksum]
    if changed:
        names = ", ".join(f"{m} ({m.source})" for m in changed)
        raise MigrationError(
            f"applied migrations changed on disk since they ran: {names}. Nothing was applied. "
            "Never edit an applied migration: restore the file and add a new numbered one."
        )


async def _apply(conn: psycopg.AsyncConnection[tuple[object, ...]], migration: Migration) -> None:
    try:
        async with conn.transaction():
            await conn.execute(migration.sql.encode())
            await conn.execute(
                "INSERT INTO acci.schema_migrations (component, version, name, checksum) "
                "VALUES (%s, %s, %s, %s)",
                [migration.component, migration.version, migration.name, migration.checksum],
            )
    except psycopg.Error as error:
        raise MigrationError(
            f"migration {migration} ({migration.source}) failed and was rolled back: "
            f"{error.diag.message_primary or error}. Fix the SQL and run the migrations again."
        ) from error
