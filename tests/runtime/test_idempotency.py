"""Idempotency is exact: a command id names one command. Sent again, or by many senders at once, it
is handled once and every sender gets the first result; sent with another command, it is refused.
And a handler validates the data it is given. On every store (tests/runtime/conftest.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar

import pytest
from acci import (
    ANY,
    AcciError,
    Aggregate,
    Command,
    CommandData,
    CommandHandler,
    CommandIdReused,
    CommandMetadata,
    CommandValidationError,
    DomainEvent,
    DuplicateCommandError,
    EventRegistry,
    EventStore,
    NewEvent,
    StreamId,
)
from acci.commands import CommandHandlerBase
from acci.examples.users import CreateUser, CreateUserHandler, UpdateUser, UpdateUserHandler, User
from pydantic import BaseModel, Field

META = CommandMetadata(user_id="admin", tenant_id="tenant1")
SENDERS = 40


def create(user_id: str = "user1", command_id: uuid.UUID | None = None) -> Command[CreateUser]:
    data = CreateUser(user_id=user_id, email=f"{user_id}@example.com", name="Ada")
    return Command(data, META, command_id or uuid.uuid4())


async def test_the_same_create_command_sent_at_once_is_handled_once(store: EventStore) -> None:
    """Before: most concurrent senders got ConcurrencyError ("expected no stream, found version 1")."""
    command = create()
    results = await asyncio.gather(*(CreateUserHandler(store).handle(command) for _ in range(SENDERS)))
    assert sum(not r.replayed for r in results) == 1
    assert {tuple(e.id for e in r.events) for r in results} == {tuple(e.id for e in results[0].events)}
    assert {r.version for r in results} == {1}
    assert len(await store.read_stream(User("tenant1", "user1").stream)) == 1


class RetryingCreateUserHandler(CreateUserHandler):
    retries_on_conflict = 3


async def test_the_same_create_sent_at_once_with_retries_is_handled_once(store: EventStore) -> None:
    """Before: with retries_on_conflict, the losers reloaded without looking at the command id
    again and failed the precondition: AggregateAlreadyExists."""
    command = create()
    results = await asyncio.gather(
        *(RetryingCreateUserHandler(store).handle(command) for _ in range(SENDERS))
    )
    assert sum(not r.replayed for r in results) == 1
    assert {r.events[0].id for r in results} == {results[0].events[0].id}
    assert await store.stream_version(User("tenant1", "user1").stream) == 1


async def test_the_same_update_sent_at_once_with_retries_is_handled_once(store: EventStore) -> None:
    await CreateUserHandler(store).handle(create())
    command = Command(UpdateUser(user_id="user1", name="Bea"), META)
    results = await asyncio.gather(*(UpdateUserHandler(store).handle(command) for _ in range(SENDERS)))
    assert sum(not r.replayed for r in results) == 1
    assert {r.events[0].id for r in results} == {results[0].events[0].id}
    assert await store.stream_version(User("tenant1", "user1").stream) == 2


async def test_a_command_id_reused_for_another_command_is_refused(store: EventStore) -> None:
    """Before: the first command's result came back and the second command was silently dropped."""
    first = create("user1")
    await CreateUserHandler(store).handle(first)
    another_aggregate = create("user2", first.id)
    another_type = Command(UpdateUser(user_id="user1", name="Bea"), META, first.id)
    other_data = Command(CreateUser(user_id="user1", email="x@example.com", name="Ada"), META, first.id)
    cases: list[tuple[Command[Any], CommandHandlerBase[Any, Any, Any], str]] = [
        (another_aggregate, CreateUserHandler(store), "for CreateUser on User 'user1'"),
        (another_type, UpdateUserHandler(store), "for CreateUser on the same stream"),
        (other_data, CreateUserHandler(store), "for the same command type and stream with other data"),
    ]
    for command, handler, what in cases:
        with pytest.raises(CommandIdReused, match=what) as caught:
            await handler.handle(command)
        assert "nothing was written" in str(caught.value) and "new id" in str(caught.value)
        assert caught.value.first.command_type == "CreateUser"
    assert await store.read_stream(User("tenant1", "user2").stream) == []
    assert await store.stream_version(User("tenant1", "user1").stream) == 1
    again = await CreateUserHandler(store).handle(create("user1", first.id))
    assert again.replayed


async def test_the_store_tells_a_repeat_from_a_reuse(store: EventStore) -> None:
    stream, other = StreamId("t", "S", "a"), StreamId("t", "S", "b")
    command = uuid.uuid4()
    thing = NewEvent({"n": 1}, event_type="Thing")
    await store.append(stream, [thing], ANY, command_id=command, command_type="Do", command_hash="h1")
    for target, command_type, command_hash in (
        (other, "Do", "h1"),
        (stream, "Undo", "h1"),
        (stream, "Do", "h2"),
    ):
        with pytest.raises(CommandIdReused):
            await store.append(
                target,
                [NewEvent({"n": 2}, event_type="Thing")],
                ANY,
                command_id=command,
                command_type=command_type,
                command_hash=command_hash,
            )
    # The same command again, even though the stream has moved on: a repeat, with its record.
    await store.append(stream, [NewEvent({"n": 3}, event_type="Thing")], 1)
    with pytest.raises(DuplicateCommandError) as caught:
        await store.append(
            stream,
            [NewEvent({"n": 1}, event_type="Thing")],
            1,
            command_id=command,
            command_type="Do",
            command_hash="h1",
        )
    record = caught.value.record
    assert record is not None and (record.stream, record.first_version, record.last_version) == (stream, 1, 1)
    assert await store.stream_version(stream) == 2
    assert await store.stream_version(other) == 0


# -- a handler validates the data it is given ----------------------------------------------------


class Deposited(DomainEvent):
    event_type: ClassVar[str] = "Deposited"
    amount: int


class Balance(BaseModel):
    amount: int


class Account(Aggregate[Balance]):
    aggregate_type: ClassVar[str] = "Account"
    state_class: ClassVar[type[BaseModel]] = Balance
    registry: ClassVar[EventRegistry] = EventRegistry([Deposited])

    def evolve(self, state: Balance | None, event: DomainEvent) -> Balance:
        assert isinstance(event, Deposited)
        return Balance(amount=(state.amount if state else 0) + event.amount)


class Deposit(CommandData):
    command_type: ClassVar[str] = "Deposit"
    account: str
    amount: Annotated[int, Field(gt=0)]


class DepositHandler(CommandHandler[Deposit, Account]):
    aggregate_class = Account

    def aggregate_id(self, command: Command[Deposit]) -> str:
        return command.data.account

    def decide(self, aggregate: Account, command: Command[Deposit]) -> Sequence[DomainEvent]:
        return [Deposited.model_construct(amount=command.data.amount)]


async def test_data_built_without_validation_is_validated(store: EventStore) -> None:
    """Before: `model_construct` bypassed pydantic and a Deposit of -5 was appended."""
    unchecked = Deposit.model_construct(account="acc-1", amount=-5)
    with pytest.raises(
        CommandValidationError, match="command Deposit is invalid: amount: Input should be greater than 0"
    ):
        await DepositHandler(store).handle(Command(unchecked, META))
    wrong_type = Deposit.model_construct(account="acc-1", amount="lots")
    with pytest.raises(AcciError, match="amount: Input should be a valid integer"):
        await DepositHandler(store).handle(Command(wrong_type, META))
    missing = Deposit.model_construct(amount=5)
    with pytest.raises(CommandValidationError, match="account: Field required"):
        await DepositHandler(store).handle(Command(missing, META))
    alien = Deposit.model_construct(account="acc-1", amount=object())
    with pytest.raises(CommandValidationError, match="Unable to serialize unknown type"):
        await DepositHandler(store).handle(Command(alien, META))
    assert await store.read_all() == []
    result = await DepositHandler(store).handle(Command(Deposit(account="acc-1", amount=5), META))
    assert result.events[0].data == {"amount": 5}
