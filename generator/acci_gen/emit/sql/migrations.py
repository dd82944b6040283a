"""Incremental read-model migrations: compare the tables the YAML asks for with the committed
snapshot of the last migration, and write the SQL that gets from one to the other.

Additive changes (a new table, a new nullable column, a new or dropped index) are written
freely. Destructive ones (dropping a table or column, changing a type, making a column NOT NULL,
changing a key) are refused unless allowed, because a projection rebuild is almost always the
better answer: the read model is derived data.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from acci_gen.emit.sql.tables import Column, Index, Table
from acci_gen.emit.text import sql_comment

SNAPSHOT = "schema.json"
_NUMBERED = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Change:
    sql: str
    summary: str
    destructive: bool = False


@dataclass
class SchemaDiff:
    """The migration that brings the database from `before` to `after`."""

    domain: str
    before: dict[str, Table]
    after: dict[str, Table]
    changes: list[Change] = field(default_factory=list)

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.destructive]

    def sql(self, *header: str) -> str:
        """The migration's text: the header lines and each change's summary as comments."""
        head = "\n".join(sql_comment(line) for line in header)
        body = "\n\n".join(f"{sql_comment(c.summary)}\n{c.sql}" for c in self.changes)
        return f"{head}\n\n{body}\n"

    def name(self) -> str:
        """A file name stem that says what the migration does."""
        created = [c for c in self.changes if c.summary.startswith("create table")]
        if created and len(created) == len([c for c in self.changes if "table" in c.summary]):
            return "create_" + "_".join(c.summary.split()[2] for c in created)[:48]
        return "update_read_models"


def load_snapshot(directory: Path) -> dict[str, Table]:
    path = directory / SNAPSHOT
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: Table.from_json(name, body) for name, body in sorted(data["tables"].items())}


def snapshot_text(domain: str, tables: dict[str, Table]) -> str:
    body = {"domain": domain, "tables": {name: tables[name].as_json() for name in sorted(tables)}}
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def existing_migrations(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(p.name for p in directory.iterdir() if _NUMBERED.match(p.name))


def schema_diff(domain: str, before: dict[str, Table], after: dict[str, Table]) -> SchemaDiff:
    result = SchemaDiff(domain, before, after)
    changes = result.changes
    for name in sorted(after):
        new = after[name]
        old = before.get(name)
        if old is None:
            changes.append(Change(_create_table(new), f"create table {name}"))
            changes += [Change(_create_index(new.name, i), f"index {i.name}") for i in new.indexes]
            continue
        changes += _alter(old, new)
    if any(c.sql.startswith("CREATE INDEX") and "gin_trgm_ops" in c.sql for c in changes):
        extensions = "CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE EXTENSION IF NOT EXISTS btree_gin;"
        changes.insert(0, Change(extensions, "trigram indexes need pg_trgm, and btree_gin to hold tenant_id"))
    for name in sorted(set(before) - set(after)):
        changes.append(
            Change(
                f"DROP TABLE public.{name};",
                f"drop table {name} (its projection was removed)",
                destructive=True,
            )
        )
    return result


def _alter(old: Table, new: Table) -> list[Change]:
    changes: list[Change] = []
    table = new.name
    if old.primary_key != new.primary_key:
        changes.append(
            Change(
                f"ALTER TABLE public.{table} DROP CONSTRAINT {table}_pkey, "
                f"ADD PRIMARY KEY ({', '.join(new.primary_key)});",
                f"change the key of {table} from {old.primary_key[-1]} to {new.primary_key[-1]}",
                destructive=True,
            )
        )
    for column in new.columns:
        before = old.column(column.name)
        if before is None:
            if column.nullable:
                changes.append(
                    Change(
                        f"ALTER TABLE public.{table} ADD COLUMN {_column(column)};",
                        f"add column {table}.{column.name}",
                    )
                )
            else:
                changes.append(
                    Change(
                        f"ALTER TABLE public.{table} ADD COLUMN {_column(column)};",
                        f"add required column {table}.{column.name} (existing rows have no value for it)",
                        destructive=True,
                    )
                )
        elif before.sql_type != column.sql_type:
            changes.append(
                Change(
                    f"ALTER TABLE public.{table} ALTER COLUMN {column.name} TYPE {column.sql_type} "
                    f"USING {column.name}::{column.sql_type};",
                    f"retype {table}.{column.name} from {before.sql_type} to {column.sql_type}",
                    destructive=True,
                )
            )
        elif before.nullable != column.nullable:
            verb = "DROP NOT NULL" if column.nullable else "SET NOT NULL"
            changes.append(
                Change(
                    f"ALTER TABLE public.{table} ALTER COLUMN {column.name} {verb};",
                    f"{'allow' if column.nullable else 'forbid'} null in {table}.{column.name}",
                    destructive=not column.nullable,
                )
            )
    for column in old.columns:
        if new.column(column.name) is None:
            changes.append(
                Change(
                    f"ALTER TABLE public.{table} DROP COLUMN {column.name};",
                    f"drop column {table}.{column.name}",
                    destructive=True,
                )
            )
    old_indexes = {i.name: i for i in old.indexes}
    new_indexes = {i.name: i for i in new.indexes}
    for name in sorted(set(old_indexes) - set(new_indexes)):
        changes.append(Change(f"DROP INDEX public.{name};", f"drop index {name}"))
    for name in sorted(new_indexes):
        if name not in old_indexes:
            changes.append(Change(_create_index(table, new_indexes[name]), f"index {name}"))
        elif old_indexes[name] != new_indexes[name]:
            changes.append(Change(f"DROP INDEX public.{name};", f"drop index {name} (it changed)"))
            changes.append(Change(_create_index(table, new_indexes[name]), f"index {name}"))
    return changes


def _column(column: Column) -> str:
    return f"{column.name} {column.sql_type}{'' if column.nullable else ' NOT NULL'}"


def _create_table(table: Table) -> str:
    lines = [f"    {_column(c)}," for c in table.columns]
    lines.append(f"    PRIMARY KEY ({', '.join(table.primary_key)})")
    return f"CREATE TABLE public.{table.name} (\n" + "\n".join(lines) + "\n);"


def _create_index(table: str, index: Index) -> str:
    unique = "UNIQUE " if index.unique else ""
    if index.method == "trigram":
        # tenant_id through btree_gin's operator class, the searched text through pg_trgm's.
        columns = ", ".join(c if c == "tenant_id" else f"{c} gin_trgm_ops" for c in index.columns)
        return f"CREATE {unique}INDEX {index.name} ON public.{table} USING gin ({columns});"
    return f"CREATE {unique}INDEX {index.name} ON public.{table} ({', '.join(index.columns)});"
