"""A domain's read-model files for one run: projections.py, queries.py, service.py, the read-model
tests, the committed schema snapshot, and the numbered migrations (written once, never again)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acci_gen.emit.python.readmodel_files import render_custom_projections, render_readmodel
from acci_gen.emit.sql.migrations import (
    SNAPSHOT,
    existing_migrations,
    load_snapshot,
    schema_diff,
    snapshot_text,
)
from acci_gen.emit.sql.tables import tables
from acci_gen.errors import Diagnostic
from acci_gen.model import Domain


@dataclass
class ReadModelFiles:
    generated: dict[str, str] = field(default_factory=dict)
    #: Migrations: the existing ones as they are on disk, and a new one when the YAML changed.
    migrations: dict[str, str] = field(default_factory=dict)
    #: User-owned stubs of hand-written projection handlers.
    stubs: dict[str, str] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)
    #: The file name of the migration this run adds, if any.
    new_migration: str | None = None


def readmodel_files(
    domain: Domain, source: str, header: str, out: Path, environment: Any, *, allow_destructive: bool = False
) -> ReadModelFiles:
    result = ReadModelFiles()
    pkg = domain.name
    result.generated.update(render_readmodel(domain, header, environment))
    result.stubs.update(render_custom_projections(domain, environment))
    folder = out / pkg / "migrations"
    for name in existing_migrations(folder):
        result.migrations[f"{pkg}/migrations/{name}"] = (folder / name).read_text(encoding="utf-8")
    wanted = tables(domain)
    if not wanted and not result.migrations:
        return result
    migration = schema_diff(pkg, load_snapshot(folder), wanted)
    if migration.destructive and not allow_destructive:
        for change in migration.destructive:
            result.problems.append(
                Diagnostic(
                    source,
                    1,
                    1,
                    "projections",
                    f"the read models changed destructively: {change.summary}. A migration that "
                    "loses or rewrites read-model data is not written without --allow-destructive.",
                    "prefer a projection rebuild: give the projection a new table name (the old table "
                    "stays until you drop it), regenerate, then run `acci projections rebuild`; or "
                    "pass --allow-destructive if the data may go.",
                )
            )
        return result
    if migration.changes:
        number = len(result.migrations) + 1
        name = f"{number:04d}_{migration.name()}.sql"
        result.new_migration = name
        note = (
            f"{header.removeprefix('# ')}\n"
            f"-- Migration {number} of the {pkg} read models. acci-gen writes it once and never "
            "rewrites it:\n-- change the YAML and regenerate to get the next one."
        )
        result.migrations[f"{pkg}/migrations/{name}"] = migration.sql(note)
    result.generated[f"{pkg}/migrations/{SNAPSHOT}"] = snapshot_text(pkg, wanted)
    return result
