"""The operator's command line, run in-process against a fresh database."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from acci import NewEvent, PostgresEventStore, StreamId
from acci.cli import main
from acci.examples.users import UserCreated

APP = "acci.examples.users:service"


def seed(url: str, users: int) -> None:
    async def write() -> None:
        async with await PostgresEventStore.open(url) as store:
            for i in range(users):
                event = UserCreated(user_id=f"u{i}", email=f"u{i}@example.com", name=f"User {i}")
                await store.append(StreamId("t", "User", f"u{i}"), [NewEvent.of(event)])

    asyncio.run(write())


def test_migrate_status_rebuild_check(acci_database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--url", acci_database_url, "--app", APP]
    assert main([*args, "migrate"]) == 0
    assert "0 migration(s) applied" in capsys.readouterr().out
    seed(acci_database_url, 20)

    assert main([*args, "projections", "status"]) == 0
    status = capsys.readouterr().out
    assert "user_view" in status and " 20 " in status

    assert main([*args, "projections", "rebuild", "--all"]) == 0
    assert "20/20 events replayed, then swapped in" in capsys.readouterr().err
    assert main([*args, "projections", "check", "user_view"]) == 0
    assert "consistent" in capsys.readouterr().out

    with psycopg.connect(acci_database_url, autocommit=True) as conn:
        conn.execute("UPDATE examples.user_view SET name = 'tampered' WHERE id = 'u3'")
    assert main([*args, "projections", "check", "user_view"]) == 1
    out = capsys.readouterr().out
    assert (
        "only in the read model" in out and "tampered" in out and "acci projections rebuild user_view" in out
    )

    assert main([*args, "dead-letters", "list"]) == 0
    assert "no unresolved dead letters" in capsys.readouterr().out
    assert main([*args, "migrations"]) == 0
    assert "examples" in capsys.readouterr().out


def test_resplit_and_the_status_of_each_segment(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--url", acci_database_url, "--app", APP]
    seed(acci_database_url, 30)
    assert main([*args, "projections", "resplit", "user_view", "3"]) == 0
    assert "user_view: 3 segment(s)" in capsys.readouterr().out
    assert main([*args, "projections", "status"]) == 0
    status = capsys.readouterr().out
    assert "0 of 3 segments run" in status
    lines = [line for line in status.splitlines() if line.strip().startswith("segment ")]
    assert [line.split()[1] for line in lines] == ["0/3", "1/3", "2/3"]
    assert sum(int(line.split()[4]) for line in lines) == 30  # the lag, spread over the segments
    assert main([*args, "projections", "resplit", "user_view", "0"]) == 2
    assert "1 to 1024" in capsys.readouterr().err
    assert main([*args, "projections", "rebuild", "user_view"]) == 0
    capsys.readouterr()
    assert main([*args, "projections", "check", "user_view"]) == 0


def test_usage_errors_are_one_line_and_exit_2(
    acci_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", acci_database_url, "projections", "status"]) == 2
    assert "needs the service: pass --app" in capsys.readouterr().err
    assert main(["--url", acci_database_url, "--app", "no.such.module:service", "migrate"]) == 2
    assert "cannot import 'no.such.module'" in capsys.readouterr().err
    assert main(["--url", acci_database_url, "--app", APP, "projections", "check", "nope"]) == 2
    assert "has no projection 'nope'; it has: user_view" in capsys.readouterr().err


def test_bad_usage_exits_2() -> None:
    with pytest.raises(SystemExit) as caught:
        main(["projections"])
    assert caught.value.code == 2


def test_a_database_url_that_is_not_one_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Neither a URL nor a conninfo string: a setting to fix (exit 2), said as such, not a
    # "[no SQLSTATE]" database failure (exit 1). No server is needed to tell.
    assert main(["--url", "garbage", "migrations"]) == 2
    err = capsys.readouterr().err
    assert "the database URL (--url) is not a PostgreSQL URL" in err and "postgresql://" in err
    monkeypatch.setenv("ACCI_DATABASE_URL", "postgresql://svc:s3cret@db:5432/orders?nosuch=1")
    assert main(["migrations"]) == 2
    err = capsys.readouterr().err
    assert "the database URL (ACCI_DATABASE_URL) is not a PostgreSQL URL" in err and "s3cret" not in err
    # libpq quotes what it cannot read, here the password itself: it is masked.
    assert main(["--url", "postgresql://svc:s3cret word@db/orders", "migrations"]) == 2
    err = capsys.readouterr().err
    assert "not a PostgreSQL URL" in err and "s3cret" not in err, err
