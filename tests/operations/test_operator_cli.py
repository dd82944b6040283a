"""The operator's command line on what the issue found: an unmigrated database is said to be one,
a projection no runner holds is "idle" with no owner (and "running" with its owner while one
runs), and bad usage exits 2."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from acci import PostgresEventStore
from acci.cli import main
from acci.database import with_database
from acci.projections import ProjectionRunner
from acci.projections._locks import LockHolder, owner_application_name
from identity.projections import PROJECTIONS
from psycopg import sql

APP = ["--app", "identity.service:service"]


@pytest.fixture
def empty_database(acci_server_url: str) -> Iterator[str]:
    """A database of its own with nothing in it (the fixture's is migrated); dropped after."""
    name = f"acci_unmigrated_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(acci_server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield with_database(acci_server_url, name)
    finally:
        with psycopg.connect(acci_server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_migrations_on_an_unmigrated_database(
    empty_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = empty_database
    assert main(["--url", empty, *APP, "migrations"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("the database is not migrated: no migration has been applied to it yet.\n")
    assert "acci                 0001_" in out and "(pending)" in out and "pending: run `migrate`" in out
    assert main(["--url", empty, *APP, "migrate"]) == 0
    capsys.readouterr()
    assert main(["--url", empty, *APP, "migrations"]) == 0
    out = capsys.readouterr().out
    assert "not migrated" not in out and "(pending)" not in out and "identity" in out


def test_status_shows_idle_without_a_runner_and_the_owner_with_one(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", acci_database_url, *APP, "projections", "status"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("user_view"))
    assert line.split()[1] == "idle" and line.endswith("  -")

    stop_flag = threading.Event()

    def runner() -> None:
        async def live() -> None:
            conninfo = psycopg.conninfo.make_conninfo(acci_database_url, application_name="orders@node-7")
            async with await PostgresEventStore.open(conninfo) as store:
                stop = asyncio.Event()
                task = asyncio.create_task(ProjectionRunner(store, PROJECTIONS[0]).run(stop))
                await asyncio.to_thread(stop_flag.wait, 60)
                stop.set()
                await task

        asyncio.run(live())

    thread = threading.Thread(target=runner)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while True:
            assert main(["--url", acci_database_url, *APP, "projections", "status"]) == 0
            out = capsys.readouterr().out.splitlines()
            line = next(row for row in out if row.startswith("user_view"))
            if line.split()[1] == "running" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert line.split()[1] == "running"
        # The service process and its host, not the PostgreSQL backend serving it.
        assert line.endswith(f"  pid {os.getpid()} on {socket.gethostname()}"), line
    finally:
        stop_flag.set()
        thread.join(30)


def test_the_owner_name_keeps_the_pid_within_63_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "n\u00f6de:" + "x" * 80)
    name = owner_application_name()
    assert len(name.encode()) == 63 and name.startswith("acci:n?de_xxx") and name.endswith(f":{os.getpid()}")
    assert LockHolder(17, name, None).owner() == (name[5 : name.rindex(":")], os.getpid())
    assert str(LockHolder(17, "psql", "10.0.0.9")) == "PostgreSQL backend 17, psql, from 10.0.0.9"


def test_usage_errors_exit_2(acci_database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (
        ["projections"],
        ["no-such-command"],
        ["--url", acci_database_url, *APP, "migrate", "extra"],
    ):
        with pytest.raises(SystemExit) as caught:
            main(argv)
        assert caught.value.code == 2
    capsys.readouterr()
    assert main(["--url", acci_database_url, *APP, "projections", "rebuild"]) == 2
    assert capsys.readouterr().err == "acci: error: name the projections to rebuild, or pass --all.\n"
