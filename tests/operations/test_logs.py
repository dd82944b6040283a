"""Structured logs: the command's and the projection batch's context on every line inside them, as
JSON or as console text, from real commands and a real projection runner."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator

import pytest
from acci import Command, CommandMetadata, PostgresEventStore
from acci.logs import configure_logging, log_context
from acci.projections import ProjectionRunner
from identity.commands import CreateUser
from identity.handlers import handle
from identity.projections import PROJECTIONS

METADATA = CommandMetadata(user_id="admin", tenant_id="logs")


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    handler = configure_logging("DEBUG", "json")
    try:
        yield capsys
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)


def _lines(err: str) -> list[dict[str, str]]:
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


async def test_command_and_projection_lines_carry_their_context(
    postgres_store: PostgresEventStore, json_logs: pytest.CaptureFixture[str]
) -> None:
    user_id = uuid.uuid4()
    command = Command(CreateUser(user_id=user_id, email="ada@example.com", name="Ada"), METADATA)
    await handle(postgres_store, command)
    [handled] = [line for line in _lines(json_logs.readouterr().err) if line["logger"] == "acci.commands"]
    assert handled["message"] == "CreateUser handled"
    assert handled["level"] == "DEBUG"
    assert handled["command_id"] == str(command.id)
    assert handled["correlation_id"] == METADATA.correlation_id
    assert handled["stream"] == f"User '{user_id}' (tenant 'logs')"

    [projection] = PROJECTIONS
    await ProjectionRunner(postgres_store, projection).catch_up()
    batches = [line for line in _lines(json_logs.readouterr().err) if line.get("projection") == "user_view"]
    assert batches and batches[0]["message"] == "user_view: applying 1 event(s)"
    assert re.fullmatch(r"\d+/\d+", batches[0]["position"]) and "command_id" not in batches[0]


async def test_a_failed_command_is_logged_with_its_context(
    postgres_store: PostgresEventStore, json_logs: pytest.CaptureFixture[str]
) -> None:
    user_id = uuid.uuid4()
    await handle(
        postgres_store, Command(CreateUser(user_id=user_id, email="a@example.com", name="A"), METADATA)
    )
    again = Command(CreateUser(user_id=user_id, email="b@example.com", name="B"), METADATA)
    with pytest.raises(Exception, match="already exists"):
        await handle(postgres_store, again)
    failed = [line for line in _lines(json_logs.readouterr().err) if "failed" in line["message"]]
    assert len(failed) == 1 and failed[0]["command_id"] == str(again.id)


def test_console_lines_show_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    handler = configure_logging("INFO", "console")
    try:
        with log_context(projection="user_view", position="(5, 17)"):
            logging.getLogger("acci.test").warning("parked an event")
        logging.getLogger("acci.test").info("no context here")
    finally:
        logging.getLogger().removeHandler(handler)
    first, second = capsys.readouterr().err.splitlines()[-2:]
    assert first.endswith("WARNING acci.test: parked an event [projection=user_view position=(5, 17)]")
    assert second.endswith("INFO    acci.test: no context here")


def test_configuring_again_replaces_only_its_own_handler() -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    first = configure_logging()
    second = configure_logging("WARNING", "json")
    try:
        assert first not in root.handlers and second in root.handlers
        assert [h for h in root.handlers if h is not second] == before
    finally:
        root.removeHandler(second)
        root.setLevel(logging.WARNING)
