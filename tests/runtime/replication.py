"""PostgreSQL servers of a test's own, and a real streaming replica: a primary of our own
(initdb, wal_level=replica, replication trusted from localhost) and a standby made by
pg_basebackup, each on its own free port and in its own temporary directory, stopped and
removed afterwards.

The shared test server cannot be used as the primary: its pg_hba.conf admits no replication
connections. The binaries are the system's PostgreSQL (`pg_config --bindir`, else the newest
/usr/lib/postgresql/*/bin). PostgreSQL refuses to run as root: as root the servers run as the
`postgres` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg


def _bindir() -> Path | None:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
        path = Path(found.stdout.strip())
        if (path / "pg_basebackup").is_file() and (path / "initdb").is_file():
            return path
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    for path in reversed(candidates):
        if (path / "pg_basebackup").is_file() and (path / "initdb").is_file():
            return path
    return None


BINDIR = _bindir()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Replicated:
    """A primary and its streaming replica (the `postgres` database on each)."""

    primary_url: str
    replica_url: str
    primary_port: int
    replica_port: int

    def database(self, name: str) -> tuple[str, str]:
        """The URLs of database `name` on the primary and on the replica."""
        return (
            f"postgresql://postgres@127.0.0.1:{self.primary_port}/{name}",
            f"postgresql://postgres@127.0.0.1:{self.replica_port}/{name}",
        )

    def wait_for_replay(self, within: float = 30.0) -> None:
        """Return once the replica has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_url, autocommit=True) as primary:
            ((lsn,),) = primary.execute("SELECT pg_current_wal_lsn()::text").fetchall()
        deadline = time.monotonic() + within
        with psycopg.connect(self.replica_url, autocommit=True) as replica:
            while True:
                ((done,),) = replica.execute(
                    "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [lsn]
                ).fetchall()
                if done:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replica did not replay {lsn} within {within} s")
                time.sleep(0.02)


class _Cluster:
    def __init__(self, bindir: Path, root: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.root = root
        self.durable = durable
        self.as_postgres = os.geteuid() == 0
        self.started: list[Path] = []

    def run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr or done.stdout}")

    def configure(self, data: Path, port: int) -> None:
        settings = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "wal_level": "replica",
            "max_wal_senders": "5",
            "hot_standby": "on",
            "max_connections": "100",
        }
        if not self.durable:
            # Test servers: durability is not what is tested, speed on a shared machine is.
            settings.update({"fsync": "off", "full_page_writes": "off", "shared_buffers": "32MB"})
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"{name} = {value}\n" for name, value in settings.items()))

    def start(self, data: Path) -> None:
        self.run("pg_ctl", "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60", "start")
        self.started.append(data)

    def stop_all(self) -> None:
        for data in reversed(self.started):
            with contextlib.suppress(RuntimeError):
                self.run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")


@contextlib.contextmanager
def private_server() -> Iterator[str]:
    """Start a PostgreSQL server of our own; yield the URL of its `postgres` database; remove it.

    For tests that read the global order and must not wait on the shared server's other users:
    the horizon is the oldest transaction open anywhere on the server."""
    if BINDIR is None:
        raise RuntimeError("no PostgreSQL server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    root = Path(tempfile.mkdtemp(prefix="acci-server-"))
    cluster = _Cluster(BINDIR, root)
    try:
        if cluster.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        port = _free_port()
        cluster.run("initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8")
        cluster.configure(root / "data", port)
        cluster.start(root / "data")
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def replicated_server(*, durable: bool = False) -> Iterator[Replicated]:
    """Start a primary and a streaming replica of it; yield their URLs; stop and remove both.
    `durable`: PostgreSQL's default fsync, full-page writes and shared buffers (benchmarks);
    else the faster settings of a throwaway test server."""
    if BINDIR is None:
        raise RuntimeError("no PostgreSQL server binaries (pg_config --bindir, /usr/lib/postgresql/*/bin)")
    root = Path(tempfile.mkdtemp(prefix="acci-replica-"))
    cluster = _Cluster(BINDIR, root, durable=durable)
    try:
        if cluster.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(root, user.pw_uid, user.pw_gid)
        primary, replica = root / "primary", root / "replica"
        primary_port, replica_port = _free_port(), _free_port()
        # initdb's pg_hba.conf trusts local and 127.0.0.1 connections, replication ones included.
        cluster.run("initdb", "-D", str(primary), "-U", "postgres", "--auth=trust", "-N", "-E", "UTF8")
        cluster.configure(primary, primary_port)
        cluster.start(primary)
        cluster.run(
            "pg_basebackup",
            "-h", "127.0.0.1", "-p", str(primary_port), "-U", "postgres",
            "-D", str(replica), "-R", "-X", "stream", "-c", "fast",
        )  # fmt: skip
        # -R wrote standby.signal and primary_conninfo; the copied configuration names the
        # primary's port, the last line wins.
        with (replica / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {replica_port}\n")
        cluster.start(replica)
        yield Replicated(
            f"postgresql://postgres@127.0.0.1:{primary_port}/postgres",
            f"postgresql://postgres@127.0.0.1:{replica_port}/postgres",
            primary_port,
            replica_port,
        )
    finally:
        cluster.stop_all()
        shutil.rmtree(root, ignore_errors=True)
