"""The guide's User example, written by hand against the runtime: events, state, aggregate,
commands, handlers and the user_view projection. acci-gen generates the same shape from
domains/identity.yaml."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import ClassVar

from psycopg import AsyncConnection, sql
from psycopg.rows import TupleRow
from pydantic import BaseModel, ConfigDict

from acci import (
    Aggregate,
    Command,
    CommandData,
    CommandHandler,
    CommandRejected,
    DomainEvent,
    EventRegistry,
    Precondition,
    RecordedEvent,
)
from acci.migrations import Migration, load_migrations
from acci.projections import Projection
from acci.service import Service

TYPE = "User"


class UserCreated(DomainEvent):
    event_type: ClassVar[str] = "UserCreated"
    schema_version: ClassVar[int] = 1

    user_id: str
    email: str
    name: str


class UserUpdated(DomainEvent):
    event_type: ClassVar[str] = "UserUpdated"
    schema_version: ClassVar[int] = 1

    user_id: str
    email: str | None = None
    name: str | None = None


registry = EventRegistry([UserCreated, UserUpdated])


class UserState(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    email: str
    name: str
    status: str = "active"


class User(Aggregate[UserState]):
    aggregate_type: ClassVar[str] = TYPE
    state_class: ClassVar[type[BaseModel]] = UserState
    registry: ClassVar[EventRegistry] = registry
    snapshot_every: ClassVar[int | None] = 100

    def evolve(self, state: UserState | None, event: DomainEvent) -> UserState:
        match event:
            case UserCreated(user_id=user_id, email=email, name=name):
                return UserState(user_id=user_id, email=email, name=name)
            case UserUpdated() if state is not None:
                changes = event.model_dump(exclude_none=True, exclude={"user_id"})
                return state.model_copy(update=changes)
        raise ValueError(
            f"{type(event).__name__} cannot be applied to {self.stream} at version {self.version}"
        )


class CreateUser(CommandData):
    command_type: ClassVar[str] = "CreateUser"

    user_id: str
    email: str
    name: str


class UpdateUser(CommandData):
    command_type: ClassVar[str] = "UpdateUser"

    user_id: str
    email: str | None = None
    name: str | None = None


class CreateUserHandler(CommandHandler[CreateUser, User]):
    aggregate_class = User
    precondition = Precondition.MUST_NOT_EXIST

    def aggregate_id(self, command: Command[CreateUser]) -> str:
        return command.data.user_id

    def decide(self, aggregate: User, command: Command[CreateUser]) -> Sequence[DomainEvent]:
        data = command.data
        if "@" not in data.email:
            raise CommandRejected(f"{data.email!r} is not an email address", code="invalid_email")
        return [UserCreated(user_id=data.user_id, email=data.email, name=data.name)]


class UpdateUserHandler(CommandHandler[UpdateUser, User]):
    aggregate_class = User
    precondition = Precondition.MUST_EXIST
    retries_on_conflict = 3

    def aggregate_id(self, command: Command[UpdateUser]) -> str:
        return command.data.user_id

    def decide(self, aggregate: User, command: Command[UpdateUser]) -> Sequence[DomainEvent]:
        data = command.data
        if data.email is None and data.name is None:
            raise CommandRejected("an update must change the email or the name", code="empty_update")
        return [UserUpdated(user_id=data.user_id, email=data.email, name=data.name)]


class UserProjection(Projection):
    """The guide's UserProjection: user_view, one row per user."""

    name: ClassVar[str] = "user_view"
    schema: ClassVar[str] = "examples"
    event_types: ClassVar[Sequence[str]] = ("UserCreated", "UserUpdated")

    async def apply(
        self, conn: AsyncConnection[TupleRow], table: sql.Identifier, event: RecordedEvent
    ) -> None:
        payload = registry.decode(event)
        match payload:
            case UserCreated():
                await conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (tenant_id, id, email, name, status, created_at, updated_at) "
                        "VALUES (%s, %s, %s, %s, 'active', %s, %s) ON CONFLICT (tenant_id, id) DO NOTHING"
                    ).format(table),
                    [
                        event.tenant_id,
                        payload.user_id,
                        payload.email,
                        payload.name,
                        event.timestamp,
                        event.timestamp,
                    ],
                )
            case UserUpdated():
                await conn.execute(
                    sql.SQL(
                        "UPDATE {} SET email = coalesce(%s, email), name = coalesce(%s, name), "
                        "updated_at = %s WHERE tenant_id = %s AND id = %s"
                    ).format(table),
                    [payload.email, payload.name, event.timestamp, event.tenant_id, payload.user_id],
                )


def migrations() -> list[Migration]:
    """The example's read-model migrations (component "examples")."""
    return load_migrations("examples", resources.files("acci.examples") / "migrations")


#: The example as a service, for the operator's command line: `acci --app acci.examples.users:service`.
service = Service("users", projections=[UserProjection()], migrations=migrations(), registry=registry)
