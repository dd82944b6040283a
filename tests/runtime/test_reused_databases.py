"""Test databases are emptied for the next test instead of dropped (acci._testdb): a reused one
is indistinguishable from a new copy of the template, and one whose schema, migration record or
open sessions say otherwise is not reused."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence

import psycopg
import pytest
from acci._testdb import CleanState, clean_state, reset
from acci.database import with_database
from acci.migrations import Migration
from psycopg import sql


@pytest.fixture
def template(acci_server_url: str, acci_template_database: str) -> Iterator[tuple[str, CleanState]]:
    """A copy of the session's migrated template, plus a sequence and a filled table of its own,
    to serve as a template here."""
    name = f"acci_reuse_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(acci_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(acci_template_database)
            )
        )
    url = with_database(acci_server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE public.numbers")
        conn.execute("CREATE TABLE public.kept (n int)")
        conn.execute("INSERT INTO public.kept VALUES (1)")
        conn.execute("CREATE TABLE public.scratch (id serial PRIMARY KEY, n int)")
    try:
        yield name, clean_state(url)
    finally:
        with psycopg.connect(acci_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def copy(acci_server_url: str, template: tuple[str, CleanState]) -> Iterator[str]:
    name = f"acci_reuse_copy_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(acci_server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(name), sql.Identifier(template[0])
            )
        )
    try:
        yield with_database(acci_server_url, name)
    finally:
        with psycopg.connect(acci_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _scalar(url: str, query: sql.SQL) -> object:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def test_rows_sequences_and_sessions_go_and_the_migration_record_stays(
    copy: str, template: tuple[str, CleanState]
) -> None:
    _, state = template
    migrations = _scalar(copy, sql.SQL("SELECT count(*) FROM acci.schema_migrations"))
    with psycopg.connect(copy, autocommit=True) as conn:
        conn.execute("SELECT nextval('public.numbers'), nextval('public.numbers')")
        conn.execute("INSERT INTO public.scratch (n) SELECT generate_series(1, 3)")
        left_open = psycopg.connect(copy, autocommit=True)  # a session the test forgot
        try:
            assert reset(copy, state)
            assert left_open.closed or left_open.broken or _gone(left_open)
        finally:
            left_open.close()
    assert _scalar(copy, sql.SQL("SELECT count(*) FROM public.scratch")) == 0
    assert _scalar(copy, sql.SQL("INSERT INTO public.scratch (n) VALUES (9) RETURNING id")) == 1
    assert _scalar(copy, sql.SQL("SELECT nextval('public.numbers')")) == 1
    assert _scalar(copy, sql.SQL("SELECT count(*) FROM public.kept")) == 1
    assert _scalar(copy, sql.SQL("SELECT count(*) FROM acci.schema_migrations")) == migrations


def _gone(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    try:
        conn.execute("SELECT 1")
    except psycopg.OperationalError:
        return True
    return False


@pytest.mark.slow  # two databases created per case
@pytest.mark.parametrize(
    "change",
    [
        "CREATE TABLE public.extra (n int)",
        "ALTER TABLE public.kept ADD COLUMN m int",
        "CREATE INDEX ON public.kept (n)",
        "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE TYPE public.colour AS ENUM ('red')",
        "CREATE SCHEMA other",
        "UPDATE public.kept SET n = 2",
        "DELETE FROM acci.schema_migrations",
        "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET work_mem = ''8MB''', current_database()); END $$",
    ],
)
def test_a_database_changed_beyond_its_rows_is_not_reused(
    copy: str, template: tuple[str, CleanState], change: str
) -> None:
    with psycopg.connect(copy, autocommit=True) as conn:
        conn.execute(change)
    assert not reset(copy, template[1])


#: A read model of a test's own: acci_database_with puts it into a template of its own.
EXTRA = Migration("reuse_extra", 1, "extra", "CREATE TABLE public.extra (n int)", __file__)


def test_a_database_with_more_migrations_has_them_and_each_call_a_database_of_its_own(
    acci_database_with: Callable[[Sequence[Migration]], str], acci_database_url: str
) -> None:
    url = acci_database_with([EXTRA])
    table = sql.SQL("SELECT to_regclass('public.extra')::text")
    assert _scalar(url, table) == "extra"
    assert (
        _scalar(url, sql.SQL("SELECT count(*) FROM acci.schema_migrations WHERE component = 'reuse_extra'"))
        == 1
    )
    assert _scalar(acci_database_url, table) is None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.extra VALUES (1)")
    again = acci_database_with([EXTRA])
    assert again != url
    assert _scalar(again, sql.SQL("SELECT count(*) FROM public.extra")) == 0
