"""The domain every side stores: a user profile event of about 314 bytes of JSON, ACCI's event classes,
aggregate and command handler, and the same aggregate for the eventsourcing library."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

from acci import (
    Aggregate,
    Command,
    CommandData,
    CommandHandler,
    DomainEvent,
    EventRegistry,
    Precondition,
)
from eventsourcing.domain import Aggregate as EsAggregate
from eventsourcing.domain import event
from pydantic import BaseModel, ConfigDict

TENANT = "bench"
AGGREGATE_TYPE = "User"


def payload(i: int) -> dict[str, Any]:
    """The payload of event number `i`: about 314 bytes as compact JSON, like the anchor figures'."""
    return {
        "user_id": f"{i:08d}-7c1e-4a5b-9d3f-2b8e6f0a1c4d",
        "email": f"user{i:08d}@example.com",
        "name": f"Firstname{i % 1000:03d} Lastname",
        "address": {
            "street": "Friedrichstrasse 123",
            "city": "Berlin",
            "postal_code": "10117",
            "country": "DE",
        },
        "roles": ["member", "editor"],
        "locale": "de-DE",
        "newsletter": i % 2 == 0,
        "note": "Migrated from the old CRM.",
    }


def payload_json(i: int) -> str:
    return json.dumps(payload(i), separators=(",", ":"))


# -- ACCI ------------------------------------------------------------------------------------------


class Address(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    street: str
    city: str
    postal_code: str
    country: str


class _Profile(DomainEvent):
    user_id: str
    email: str
    name: str
    address: Address
    roles: list[str]
    locale: str
    newsletter: bool
    note: str


class UserRegistered(_Profile):
    event_type: ClassVar[str] = "UserRegistered"


class ProfileUpdated(_Profile):
    event_type: ClassVar[str] = "ProfileUpdated"


REGISTRY = EventRegistry([UserRegistered, ProfileUpdated])


def acci_event(i: int) -> _Profile:
    """Event number `i` of a stream: the first registers the user, the others update the profile."""
    cls = UserRegistered if i == 0 else ProfileUpdated
    return cls.model_validate(payload(i))


class UserState(BaseModel):
    email: str
    name: str
    updates: int


class UserAggregate(Aggregate[UserState]):
    aggregate_type: ClassVar[str] = AGGREGATE_TYPE
    state_class: ClassVar[type[BaseModel]] = UserState
    registry: ClassVar[EventRegistry] = REGISTRY

    def evolve(self, state: UserState | None, event: DomainEvent) -> UserState:
        if not isinstance(event, _Profile):
            raise TypeError(f"unexpected event {event!r}")
        updates = 0 if state is None else state.updates + 1
        return UserState(email=event.email, name=event.name, updates=updates)


class UpdateProfile(CommandData):
    command_type: ClassVar[str] = "UpdateProfile"

    user_id: str
    name: str


class UpdateProfileHandler(CommandHandler[UpdateProfile, UserAggregate]):
    aggregate_class = UserAggregate
    precondition = Precondition.MUST_EXIST

    def aggregate_id(self, command: Command[UpdateProfile]) -> str:
        return command.data.user_id

    def decide(self, aggregate: UserAggregate, command: Command[UpdateProfile]) -> Sequence[DomainEvent]:
        updates = aggregate.state.updates if aggregate.state else 0
        return [ProfileUpdated.model_validate({**payload(updates + 1), "name": command.data.name})]


# -- raw ---------------------------------------------------------------------------------------------


def fold_rows(rows: Sequence[dict[str, Any]], state: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The raw side's aggregate: the same fold as UserAggregate.evolve, over dict rows."""
    for row in rows:
        data = row["data"]
        updates = 0 if state is None else state["updates"] + 1
        state = {"email": data["email"], "name": data["name"], "updates": updates}
    return state


# -- eventsourcing ---------------------------------------------------------------------------------


class EsUser(EsAggregate):
    """The same aggregate in the eventsourcing library's style."""

    @event("Registered")
    def __init__(
        self,
        user_id: str,
        email: str,
        name: str,
        address: dict[str, str],
        roles: list[str],
        locale: str,
        newsletter: bool,
        note: str,
    ) -> None:
        self.email = email
        self.name = name
        self.updates = 0

    @event("ProfileUpdated")
    def update(
        self,
        user_id: str,
        email: str,
        name: str,
        address: dict[str, str],
        roles: list[str],
        locale: str,
        newsletter: bool,
        note: str,
    ) -> None:
        self.email = email
        self.name = name
        self.updates += 1


def es_user(events: int, first: int = 0) -> EsUser:
    """A new EsUser with `events` pending events (not saved yet)."""
    user = EsUser(**payload(first))
    for i in range(first + 1, first + events):
        user.update(**payload(i))
    return user
