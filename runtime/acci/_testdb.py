"""Test databases cleaned for the next test instead of dropped (acci.testing).

Creating a database from a migrated template costs a copy of every catalog (0.1 to 0.5 s, most
of a short test's time); emptying the tables of one that a test is done with costs a TRUNCATE.
A database is reused only when it is back in the template's state as far as a test could tell:
no session left on it, the same schema objects as the template (a fingerprint of the catalogs:
schemas, relations and their columns, constraints, indexes, views, functions, triggers, types,
sequences, extensions, policies, rules, the database's settings), and the template's rows in the
tables that had rows (the migrations' bookkeeping). Anything else (a test that migrated further,
created a table, changed a row it found, left a prepared transaction) gets it dropped, as before.

ACCI_TEST_FRESH_DATABASES=1 turns reuse off: every test then gets a database created afresh.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

Connection = psycopg.Connection[TupleRow]

#: Set to 1 for a database created afresh for every test (none cleaned and reused).
FRESH_ENV = "ACCI_TEST_FRESH_DATABASES"

# Objects of the user's schemas: not pg_catalog, pg_toast, pg_temp_N..., information_schema.
_FINGERPRINT = """
SELECT md5(coalesce(string_agg(part, E'\\n' ORDER BY part), '')) FROM (
  SELECT 'schema ' || nspname || ' ' || nspowner::regrole::text || coalesce(nspacl::text, '') AS part
    FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'relation ' || c.oid::regclass::text || ' ' || c.relkind::text || c.relpersistence::text
         || c.relrowsecurity::text || ' ' || c.relowner::regrole::text || coalesce(c.relacl::text, '')
         || coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                        || ' ' || a.attnotnull::text
                                        || coalesce(pg_get_expr(d.adbin, d.adrelid), ''),
                                        ', ' ORDER BY a.attnum)
                        FROM pg_attribute a
                        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                       WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '')
         || CASE WHEN c.relkind = 'i' THEN pg_get_indexdef(c.oid) ELSE '' END
         || CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) ELSE '' END
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(c.oid)
    FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(coalesce(p.prosrc, ''))
         || coalesce(p.proconfig::text, '')
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
  UNION ALL
  SELECT 'type ' || format_type(t.oid, NULL) || ' ' || t.typtype::text
         || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                        FROM pg_enum e WHERE e.enumtypid = t.oid), '')
    FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'extension ' || extname || ' ' || extversion FROM pg_extension
  UNION ALL
  SELECT 'policy ' || schemaname || '.' || tablename || ' ' || policyname || coalesce(qual, '')
         || coalesce(with_check, '') FROM pg_policies
  UNION ALL
  SELECT 'rule ' || schemaname || '.' || tablename || ' ' || rulename || ' ' || definition
    FROM pg_rules WHERE schemaname NOT LIKE 'pg\\_%'
  UNION ALL
  SELECT 'settings ' || coalesce(setrole::regrole::text, '') || ' ' || setconfig::text
    FROM pg_db_role_setting
   WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
  UNION ALL
  SELECT 'large objects ' || count(*)::text FROM pg_largeobject_metadata
  UNION ALL
  SELECT 'event trigger ' || evtname FROM pg_event_trigger
  UNION ALL
  SELECT 'publication ' || pubname FROM pg_publication
) AS parts
"""

_TABLES = """
SELECT nspname, relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1, 2
"""

_SEQUENCES = """
SELECT schemaname, sequencename, last_value FROM pg_sequences
 WHERE schemaname NOT LIKE 'pg\\_%' ORDER BY 1, 2
"""

#: (schema, name)
Name = tuple[str, str]


@dataclass(frozen=True, slots=True)
class CleanState:
    """What a test database looks like before a test: its template's."""

    fingerprint: str
    #: Tables without rows in the template: a reused database gets them emptied.
    empty_tables: tuple[Name, ...]
    #: Tables with rows in the template (the migrations' record), with a digest of their rows.
    filled_tables: dict[Name, str]
    #: Each sequence's last value in the template (None: never used).
    sequences: dict[Name, int | None]


def reuse_enabled() -> bool:
    return os.environ.get(FRESH_ENV, "").strip() != "1"


def clean_state(url: str) -> CleanState:
    """The state of the (template) database at `url`."""
    with psycopg.connect(url, autocommit=True) as conn:
        fingerprint = _fingerprint(conn)
        empty: list[Name] = []
        filled: dict[Name, str] = {}
        for schema, name in conn.execute(_TABLES).fetchall():
            if _has_rows(conn, (schema, name)):
                filled[(schema, name)] = _digest(conn, (schema, name))
            else:
                empty.append((schema, name))
        sequences = {(schema, name): last for schema, name, last in conn.execute(_SEQUENCES).fetchall()}
    return CleanState(fingerprint, tuple(empty), filled, sequences)


def reset(url: str, state: CleanState, *, wait: float = 5.0) -> bool:
    """Bring the database at `url` back to `state`; False when it cannot be (drop it instead)."""
    with psycopg.connect(url, autocommit=True) as conn:
        # Sessions the test left open would see, or write into, the next test's data.
        deadline = time.monotonic() + wait
        while _others(conn):
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        prepared = conn.execute(
            "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
        ).fetchone()
        slots = conn.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"
        ).fetchone()
        if (prepared and prepared[0]) or (slots and slots[0]):
            return False
        if _fingerprint(conn) != state.fingerprint:
            return False
        if any(_digest(conn, table) != digest for table, digest in state.filled_tables.items()):
            return False
        # TRUNCATE costs new files per table: only the tables the test wrote to. (A table that
        # references one of them and is empty makes it fail: then all of them at once.)
        written = _written(conn, state.empty_tables)
        if written:
            try:
                with conn.transaction():
                    _truncate(conn, written)
            except psycopg.errors.FeatureNotSupported:
                with conn.transaction():
                    _truncate(conn, state.empty_tables)
        # setval, not ALTER SEQUENCE RESTART: it changes the sequence in place.
        for schema, name, last, start in conn.execute(
            "SELECT schemaname, sequencename, last_value, start_value FROM pg_sequences"
            " WHERE schemaname NOT LIKE 'pg\\_%'"
        ).fetchall():
            wanted = state.sequences.get((schema, name), last)
            if last != wanted:
                conn.execute(
                    "SELECT setval(%s::regclass, %s, %s)",
                    [
                        sql.Identifier(schema, name).as_string(conn),
                        start if wanted is None else wanted,
                        wanted is not None,
                    ],
                )
    return True


def _written(conn: Connection, tables: tuple[Name, ...]) -> list[Name]:
    """Those of `tables` that have rows, in one round trip."""
    if not tables:
        return []
    probes = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT {}, {} WHERE EXISTS (SELECT FROM {})").format(
            sql.Literal(schema), sql.Literal(name), sql.Identifier(schema, name)
        )
        for schema, name in tables
    )
    return [(schema, name) for schema, name in conn.execute(probes).fetchall()]


def _truncate(conn: Connection, tables: Sequence[Name]) -> None:
    conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(*t) for t in tables)))


def _fingerprint(conn: Connection) -> str:
    row = conn.execute(_FINGERPRINT).fetchone()
    return str(row[0]) if row else ""


def _has_rows(conn: Connection, table: Name) -> bool:
    row = conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(*table))).fetchone()
    return bool(row and row[0])


def _digest(conn: Connection, table: Name) -> str:
    query = sql.SQL("SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t")
    row = conn.execute(query.format(sql.Identifier(*table))).fetchone()
    return str(row[0]) if row else ""


def _others(conn: Connection) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    ).fetchone()
    return int(str(row[0])) if row else 0
