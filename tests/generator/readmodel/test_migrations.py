"""Read-model migration diffs as golden cases, and every generated migration applied to a real
database: on a fresh one, and on top of the previous one, with the same resulting schema."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from acci.database import with_database
from acci.migrations import Migration, migrate
from acci.testing import _create_database, _drop_database
from acci_gen.app import load_domains
from acci_gen.emit.sql.migrations import schema_diff
from acci_gen.emit.sql.tables import Table, tables

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())
HEADER = "golden"


def read_tables(path: Path) -> dict[str, Table]:
    if not path.exists():
        return {}
    [(domain, _)] = load_domains([path], path.parent / "generated")
    return tables(domain)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_migration_diff(case: Path, update_golden: bool) -> None:
    before, after = read_tables(case / "before.yaml"), read_tables(case / "after.yaml")
    result = schema_diff("shop", before, after)
    if result.destructive:
        actual, expected_file = "\n".join(c.summary for c in result.destructive) + "\n", case / "refused.txt"
    else:
        actual, expected_file = (result.sql(HEADER) if result.changes else ""), case / "expected.sql"
    if update_golden:
        expected_file.write_text(actual)
    assert expected_file.exists(), f"{expected_file.name} is missing; run with --update-golden and review it"
    assert actual == expected_file.read_text()


@pytest.fixture
def databases(acci_server_url: str) -> Iterator[tuple[str, str]]:
    names = ("acci_rm_stepwise", "acci_rm_fresh")
    for name in names:
        _create_database(acci_server_url, name)
    try:
        yield with_database(acci_server_url, names[0]), with_database(acci_server_url, names[1])
    finally:
        for name in names:
            _drop_database(acci_server_url, name)


@pytest.mark.parametrize("case", [c for c in CASES if (c / "expected.sql").exists()], ids=lambda c: c.name)
def test_migrations_apply_stepwise_and_fresh_alike(case: Path, databases: tuple[str, str]) -> None:
    stepwise, fresh = databases
    before, after = read_tables(case / "before.yaml"), read_tables(case / "after.yaml")
    steps = [schema_diff("shop", {}, before), schema_diff("shop", before, after)]
    migrations = [
        Migration("shop", n, "step", p.sql(HEADER), str(case))
        for n, p in enumerate(steps, start=1)
        if p.changes
    ]
    migrations = [Migration("shop", n, m.name, m.sql, m.source) for n, m in enumerate(migrations, start=1)]
    asyncio.run(migrate(stepwise, migrations))
    asyncio.run(
        migrate(fresh, [Migration("shop", 1, "fresh", schema_diff("shop", {}, after).sql(HEADER), str(case))])
    )
    assert schema_of(stepwise) == schema_of(fresh)


def schema_of(url: str) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """
            SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
             WHERE table_schema = 'public' ORDER BY table_name, ordinal_position
            """
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname"
        ).fetchall()
    return columns, indexes
