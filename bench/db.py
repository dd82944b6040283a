"""The server: its versions and settings, and a fresh database per workload with the three sides'
tables in it (ACCI's `acci` schema, the raw `bench_raw` schema, and eventsourcing's tables)."""

from __future__ import annotations

import asyncio
import os
import platform
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg
from acci.database import with_database
from acci.migrations import migrate
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

# The raw side's tables: the same columns, defaults, constraints and indexes as ACCI's.
_RAW_SCHEMA = """
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.events (LIKE acci.events INCLUDING ALL);
CREATE TABLE bench_raw.snapshots (LIKE acci.snapshots INCLUDING ALL);
"""

_SETTINGS = ("fsync", "synchronous_commit", "shared_buffers", "wal_sync_method", "max_connections")


@dataclass(frozen=True)
class ServerInfo:
    versions: dict[str, str]
    settings: dict[str, str]


def server_info(url: str) -> ServerInfo:
    with psycopg.connect(url) as conn:
        settings = {name: _setting(conn, name) for name in _SETTINGS}
        server = _setting(conn, "server_version")
    versions = {
        "Python": platform.python_version(),
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "eventsourcing": version("eventsourcing"),
        "pydantic": version("pydantic"),
        "PostgreSQL": server,
        "CPUs": str(os.cpu_count()),
        "ACCI runtime": _runtime_commit(),
    }
    return ServerInfo(versions, settings)


def _runtime_commit() -> str:
    """The commit the runtime was measured at, marked when runtime/ has uncommitted changes. Read-only:
    --no-optional-locks keeps git from touching the index that others may be writing."""
    repo = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "--no-optional-locks", *args],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    return f"{commit} (runtime/ modified)" if git("status", "--porcelain", "--", "runtime") else commit


def _setting(conn: psycopg.Connection[tuple[object, ...]], name: str) -> str:
    row = conn.execute("SELECT current_setting(%s)", [name]).fetchone()
    return str(row[0]) if row else "?"


@contextmanager
def fresh_database(server_url: str, name: str) -> Iterator[str]:
    """Create database `name` with ACCI migrated and the raw tables in it; yield its URL; drop it."""
    ident = sql.Identifier(name)
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(ident))
    url = with_database(server_url, name)
    try:
        asyncio.run(migrate(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(_RAW_SCHEMA)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))


def vacuum(url: str) -> None:
    """VACUUM ANALYZE the whole database: hint bits set, visibility map and statistics up to date."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def es_env(url: str, pool_size: int) -> dict[str, str]:
    """The environment that points an eventsourcing Application at the database of `url`."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname", "")),
        "POSTGRES_HOST": str(params.get("host", "127.0.0.1")),
        "POSTGRES_PORT": str(params.get("port", "5432")),
        "POSTGRES_USER": str(params.get("user", "postgres")),
        "POSTGRES_PASSWORD": str(params.get("password", "")),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        "CREATE_TABLE": "y",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }
