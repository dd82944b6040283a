"""The migration runner: pending migrations once, concurrently safe, refusing edited ones."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from acci.database import with_database
from acci.errors import MigrationError
from acci.migrations import applied_migrations, load_migrations, migrate, runtime_migrations
from acci.testing import _create_database, _drop_database


@pytest.fixture
def empty_database(acci_server_url: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"acci_mig_{abs(hash(request.node.name)) % 10**8}"
    _create_database(acci_server_url, name)
    try:
        yield with_database(acci_server_url, name)
    finally:
        _drop_database(acci_server_url, name)


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


async def test_runtime_migrations_apply_once(empty_database: str) -> None:
    applied = await migrate(empty_database)
    assert [str(m) for m in applied] == [
        "acci 0001_event_store",
        "acci 0002_event_rewrites",
        "acci 0003_append_batches",
    ]
    assert await migrate(empty_database) == []
    assert await applied_migrations(empty_database) == [
        ("acci", 1, "event_store"),
        ("acci", 2, "event_rewrites"),
        ("acci", 3, "append_batches"),
    ]


async def test_processes_starting_at_once_apply_each_migration_once(empty_database: str) -> None:
    results = await asyncio.gather(*(migrate(empty_database) for _ in range(4)))
    assert sorted(len(r) for r in results) == [0, 0, 0, len(runtime_migrations())]


async def test_a_changed_applied_migration_is_refused(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first (id int);")
    await migrate(empty_database, load_migrations("shop", tmp_path))
    write(tmp_path, "0001_first.sql", "CREATE TABLE public.first (id bigint);")
    write(tmp_path, "0002_second.sql", "CREATE TABLE public.second (id int);")
    with pytest.raises(MigrationError, match=r"changed on disk .*shop 0001_first .*Nothing was applied"):
        await migrate(empty_database, load_migrations("shop", tmp_path))
    async with await psycopg.AsyncConnection.connect(empty_database) as conn:
        row = await (await conn.execute("SELECT to_regclass('public.second')")).fetchone()
    assert row == (None,)


async def test_a_failing_migration_rolls_back_and_names_its_file(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE public.ok (id int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE public.half (id int); SELEC 1;")
    with pytest.raises(MigrationError, match=r"shop 0002_broken .*0002_broken.sql.* rolled back"):
        await migrate(empty_database, load_migrations("shop", tmp_path))
    assert await applied_migrations(empty_database) == [("shop", 1, "ok")]
    async with await psycopg.AsyncConnection.connect(empty_database) as conn:
        row = await (await conn.execute("SELECT to_regclass('public.half')")).fetchone()
    assert row == (None,)


def test_migration_files_are_numbered_without_gaps(tmp_path: Path) -> None:
    write(tmp_path, "0001_a.sql", "SELECT 1;")
    write(tmp_path, "0003_c.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="expected migration number 0002"):
        load_migrations("shop", tmp_path)


def test_migration_file_names_are_checked(tmp_path: Path) -> None:
    write(tmp_path, "1_Create.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"look like 0001_create_tables\.sql"):
        load_migrations("shop", tmp_path)


def test_the_runtime_ships_its_migrations() -> None:
    migrations = runtime_migrations()
    assert migrations[0].version == 1
    assert "acci.append_events" in migrations[0].sql
