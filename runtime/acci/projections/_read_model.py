"""A runner refuses to start when its read model's table does not exist (it would park every event
as a dead letter), and names the migration that creates it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from acci.errors import ConfigurationError, shown
from acci.migrations import Migration
from acci.projections.base import Connection


async def table_exists(conn: Connection, schema: str, table: str) -> bool:
    cur = await conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", [schema, table]
    )
    row = await cur.fetchone()
    return bool(row and row[0])


def creating_migration(migrations: Sequence[Migration], schema: str, table: str) -> Migration | None:
    """The first of `migrations` whose SQL creates `schema.table` (or `table`, unqualified)."""
    name = rf'(?:"?{re.escape(schema)}"?\s*\.\s*)?"?{re.escape(table)}"?'
    creates = re.compile(rf"\bCREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{name}\s*\(", re.IGNORECASE)
    return next((m for m in migrations if creates.search(m.sql)), None)


def missing_table(
    projection: str, schema: str, table: str, migrations: Sequence[Migration]
) -> ConfigurationError:
    migration = creating_migration(migrations, schema, table)
    if migration is not None:
        todo = f"Run `acci migrate`: migration {migration} ({migration.source}) creates it."
    else:
        todo = "Apply the migration that creates it (`acci migrate` applies a service's migrations)."
    return ConfigurationError(
        f"projection {shown(projection)} cannot run: its read model table {schema}.{table} does not "
        f"exist (nothing was applied, no event was parked). {todo}"
    )
