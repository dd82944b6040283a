"""psycopg errors become ACCI errors at one boundary, by SQLSTATE, with messages that help; failed
connections say where and why at once; errors survive pickling; identifiers in messages are capped."""

from __future__ import annotations

import inspect
import logging
import pickle
import socket
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from acci import (
    AcciError,
    AggregateNotFound,
    ConcurrencyError,
    DatabaseError,
    InMemoryEventStore,
    NewEvent,
    PostgresEventStore,
    StreamId,
    TransientDatabaseError,
    errors,
)
from acci.cli import main
from acci.database import with_database
from acci.store._pg_errors import translate
from acci.streams import CommandRecord
from acci.testing import _create_database, _drop_database

APP = "acci.examples.users:service"


@pytest.fixture
def unmigrated_database(acci_server_url: str) -> Iterator[str]:
    _create_database(acci_server_url, "acci_unmigrated")
    try:
        yield with_database(acci_server_url, "acci_unmigrated")
    finally:
        _drop_database(acci_server_url, "acci_unmigrated")


@pytest.fixture
def refused_url() -> str:
    """A URL whose port nothing listens on (bound and released, so no server can be there)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/acci"


async def test_an_unmigrated_database_says_to_migrate(unmigrated_database: str) -> None:
    async with await PostgresEventStore.open(unmigrated_database) as store:
        with pytest.raises(DatabaseError, match=r"appending events on User 'u' .*acci migrate") as caught:
            await store.append(StreamId("t", "User", "u"), [NewEvent({}, event_type="X")])
    assert caught.value.sqlstate == "3F000"
    assert isinstance(caught.value.__cause__, psycopg.Error)


def test_serialization_failures_are_transient(acci_database_url: str) -> None:
    with psycopg.connect(acci_database_url) as conn, pytest.raises(psycopg.Error) as caught:
        conn.execute("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001'; END $$")
    translated = translate(caught.value, "doing work")
    assert isinstance(translated, TransientDatabaseError)
    assert translated.sqlstate == "40001"
    assert "Try again" in str(translated)


async def test_a_refused_port_fails_at_once_saying_where_and_why(
    refused_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = refused_url.split(":")[-1].split("/")[0]
    with caplog.at_level(logging.WARNING), pytest.raises(TransientDatabaseError) as caught:
        await PostgresEventStore.open(refused_url)
    assert str(caught.value).startswith(f"cannot connect to 127.0.0.1:{port}: connection refused. Check")
    assert "max_size" not in str(caught.value)
    assert caught.value.sqlstate == "08001"
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


@pytest.mark.parametrize(
    ("part", "value", "says"),
    [
        ("dbname", "acci_no_such_database", 'database "acci_no_such_database" does not exist. Create'),
        ("user", "acci_no_such_role", 'role "acci_no_such_role" does not exist. Check the user and'),
    ],
)
async def test_a_missing_database_or_role_is_permanent(
    acci_server_url: str, part: str, value: str, says: str
) -> None:
    url = psycopg.conninfo.make_conninfo(acci_server_url, **{part: value})
    with pytest.raises(DatabaseError) as caught:
        await PostgresEventStore.open(url)
    assert not isinstance(caught.value, TransientDatabaseError)
    assert str(caught.value).startswith("cannot connect to ") and says in str(caught.value)
    assert "Try again" not in str(caught.value)


@pytest.mark.parametrize("command", [["migrate"], ["projections", "status"], ["dead-letters", "list"]])
def test_the_cli_says_a_connection_failure_in_one_line_and_exits_1(
    refused_url: str, command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--url", refused_url, "--app", APP, *command]) == 1
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("acci: error: cannot connect to 127.0.0.1:")
    assert "connection refused" in err and "Traceback" not in out + err


def test_the_cli_says_a_missing_database_in_one_line(
    acci_server_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_database(acci_server_url, "acci_no_such_database")
    assert main(["--url", url, "--app", APP, "migrate"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'database "acci_no_such_database" does not exist' in err


STREAM = StreamId("tenant-1", "User", "user-1")

# One instance of every error class, as the runtime makes them.
SAMPLES: list[AcciError] = [
    errors.AcciError("something failed"),
    errors.ConfigurationError("a bad setting"),
    errors.DatabaseError("it broke", sqlstate="XX000"),
    errors.TransientDatabaseError("it blinked", sqlstate="08006"),
    errors.MigrationError("a migration failed"),
    errors.ConcurrencyError(STREAM, 1, 2),
    errors.VersionMismatch(STREAM, 1, 2),
    errors.DuplicateCommandError("tenant-1", uuid.uuid4()),
    errors.CommandIdReused(
        uuid.UUID(int=7), CommandRecord(uuid.UUID(int=7), "Deposit", STREAM, 1, 1, "h"), "Withdraw", STREAM
    ),
    errors.DuplicateEventError(STREAM, uuid.uuid4()),
    errors.AggregateNotFound(STREAM),
    errors.AggregateAlreadyExists(STREAM, 3),
    errors.CommandRejected("no", code="rule", details={"limit": 5}),
    errors.CommandValidationError("Deposit", ["amount: must be positive"]),
    errors.UnknownEventType("Gone", 2, ["Here"]),
    errors.EventDecodeError("Thing", 1, "User 'u' version 3", "n: missing"),
    errors.ProjectionHalted("user_view", "stopped at X"),
    errors.ProjectionBusy("user_view", 5.0, "PostgreSQL backend 42"),
    errors.ProjectionFailed("user_view", "UserCreated", "boom"),
    errors.ConsistencyTimeout(["user_view"], "(10, 20)", 5.0),
    errors.InvalidQuery("search", ["limit: too large"]),
    errors.TenantMoved("tenant-1", True),
    errors.PolicyCommandRejected(
        "fulfilment", "ReserveStock", uuid.UUID(int=3), "OrderPlaced e1", "no stock"
    ),
]


def test_every_error_class_has_a_sample() -> None:
    classes = {cls for _, cls in inspect.getmembers(errors, inspect.isclass) if issubclass(cls, AcciError)}
    assert classes == {type(sample) for sample in SAMPLES}


@pytest.mark.parametrize("error", SAMPLES, ids=lambda e: type(e).__name__)
def test_errors_survive_pickling(error: AcciError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error) and copy.args == error.args
    assert vars(copy) == vars(error)


async def test_a_huge_identifier_is_cut_in_messages() -> None:
    huge = "x" * 1_000_000
    stream = StreamId("tenant-1", "User", huge)
    for message in (
        str(AggregateNotFound(stream)),
        str(StreamId(huge, "User", "u")),
        str(errors.DuplicateCommandError(huge, uuid.uuid4())),
    ):
        assert len(message) < 400, message[:500]
        assert "(1,000,000 characters)" in message
    store = InMemoryEventStore()
    await store.append(stream, [NewEvent({}, event_type="X")])
    with pytest.raises(ConcurrencyError) as caught:
        await store.append(stream, [NewEvent({}, event_type="X")], 0)
    assert len(str(caught.value)) < 400
    assert caught.value.stream.aggregate_id == huge  # the error keeps the whole id
