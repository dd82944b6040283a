"""The runtime helpers generated handlers and aggregates call instead of repeating them per domain."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from acci import (
    AggregateNotFound,
    Command,
    CommandMetadata,
    ConfigurationError,
    DomainEvent,
    InMemoryEventStore,
)
from acci.commands import Handlers, dispatcher, existing_state, run_decision
from acci.examples.users import (
    CreateUser,
    CreateUserHandler,
    UpdateUser,
    User,
    UserCreated,
    UserState,
    UserUpdated,
)

ADMIN = CommandMetadata(user_id="admin", tenant_id="t1")
HANDLERS: Handlers = {CreateUser: CreateUserHandler}


async def test_dispatch_runs_a_command_through_its_handler() -> None:
    store = InMemoryEventStore()
    handle = dispatcher("users", HANDLERS)
    result = await handle(store, Command(CreateUser(user_id="u1", email="a@b.c", name="A"), ADMIN))
    assert [e.event_type for e in result.events] == ["UserCreated"]
    with pytest.raises(
        ConfigurationError,
        match=r"UpdateUser is not a command of the users domain; its commands are: CreateUser\.",
    ):
        await handle(store, Command(UpdateUser(user_id="u1", name="B"), ADMIN))


def test_existing_state_narrows_or_refuses() -> None:
    user = User("t1", "u1")
    with pytest.raises(AggregateNotFound):
        existing_state(user)
    user.apply_payload(UserCreated(user_id="u1", email="a@b.c", name="A"), 1, None)
    state: UserState = existing_state(user)
    assert state.name == "A"


def decide_rename(state: UserState, command: Command[UpdateUser]) -> Sequence[DomainEvent]:
    return [UserCreated(user_id=state.user_id, email=state.email, name=command.data.name or "")]


def test_a_hand_written_decision_may_emit_only_the_declared_events() -> None:
    state = UserState(user_id="u1", email="a@b.c", name="A")
    command = Command(UpdateUser(user_id="u1", name="B"), ADMIN)
    assert len(run_decision(decide_rename, state, command, UserCreated, UserUpdated)) == 1
    with pytest.raises(
        TypeError, match=r"decide_rename returned UserCreated, which UpdateUser does not emit; list it"
    ):
        run_decision(decide_rename, state, command, UserUpdated)


def test_cannot_apply_says_whether_the_aggregate_is_missing_or_the_event_foreign() -> None:
    user = User("t1", "u1")
    updated = UserUpdated(user_id="u1", name="B")
    missing = user.cannot_apply(updated, None)
    assert isinstance(missing, ValueError)
    assert (
        str(missing)
        == "User cannot start with UserUpdated: its stream must begin with an event that creates it."
    )
    foreign = user.cannot_apply(updated, UserState(user_id="u1", email="a@b.c", name="A"))
    assert isinstance(foreign, TypeError)
    assert str(foreign) == "User cannot apply UserUpdated: it is not one of its events."
