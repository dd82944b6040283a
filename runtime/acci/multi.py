"""Commands on several aggregates at once: a transfer takes from one account and gives to another.

A MultiCommandHandler names its aggregates by role (`source: Account(from_account_id)`,
`target: Account(to_account_id)`), loads them all in one round trip, checks each role's
precondition, lets `decide` see every state and emit events per role, and appends them in one
transaction (`EventStore.append_many`), each stream expecting the version it was loaded at: a
change to any of them by someone else meanwhile appends nothing and raises ConcurrencyError, or,
with `retries_on_conflict`, reloads and decides again. Validation, idempotency, tracing and
metrics are those of every handler (acci.commands.CommandHandlerBase).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from acci.aggregate import Aggregate
from acci.commands import (
    C,
    Command,
    CommandHandlerBase,
    CommandResult,
    Precondition,
    Recording,
    check_precondition,
)
from acci.errors import CommandRejected, ConfigurationError
from acci.events import DomainEvent, RecordedEvent
from acci.repository import load_aggregates, save_aggregates
from acci.streams import CommandRecord, StreamId

A = TypeVar("A", bound=Aggregate[Any])

#: The events a multi-aggregate decision emits, by role (roles that emit nothing may be left out).
Emitted = Mapping[str, Sequence[DomainEvent]]


@dataclass(frozen=True, slots=True)
class Role:
    """An aggregate a command names: its role in the command, its class, and what must be true of
    it before the command is decided."""

    name: str
    aggregate_class: type[Aggregate[Any]]
    precondition: Precondition = Precondition.NONE


class Aggregates(Mapping[str, Aggregate[Any]]):
    """The aggregates a command was decided on, by role, in the handler's role order."""

    def __init__(self, by_role: dict[str, Aggregate[Any]]) -> None:
        self._by_role = by_role

    def __getitem__(self, role: str) -> Aggregate[Any]:
        return self._by_role[role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_role)

    def __len__(self) -> int:
        return len(self._by_role)

    def role(self, name: str, aggregate_class: type[A]) -> A:
        """The aggregate of role `name`, typed as `aggregate_class` (which it must be)."""
        aggregate = self._by_role[name]
        if not isinstance(aggregate, aggregate_class):
            raise TypeError(
                f"role {name!r} holds a {type(aggregate).__name__}, not a {aggregate_class.__name__}"
            )
        return aggregate


class MultiCommandHandler(CommandHandlerBase[C, Aggregates, Emitted]):
    """Handles one command type that names several aggregates by role.

    Subclasses set `roles` (in the order decisions and results list them) and implement
    `aggregate_ids` (each role's aggregate id, from the command) and `decide` (each role's events).

    Two roles that name the same stream (a transfer to the same account) are refused with
    CommandRejected (code `same_aggregate`) before anything is loaded, unless `same_aggregate` is
    "share": then the stream is loaded once, both roles see the same aggregate, and the events of
    both go to that stream in role order.
    """

    roles: ClassVar[Sequence[Role]]
    same_aggregate: ClassVar[Literal["reject", "share"]] = "reject"

    @abstractmethod
    def aggregate_ids(self, command: Command[C]) -> Mapping[str, str]:
        """The id of each role's aggregate."""

    @abstractmethod
    def decide(self, aggregates: Aggregates, command: Command[C]) -> Emitted:
        """The events of each role, or CommandRejected. Pure, like `Aggregate.evolve`."""

    def streams(self, command: Command[C]) -> list[StreamId]:
        """Each role's stream, in role order; two roles on one stream are refused unless shared."""
        ids = self.aggregate_ids(command)
        names = [role.name for role in self.roles]
        if set(ids) != set(names):
            raise ConfigurationError(
                f"{type(self).__name__}.aggregate_ids returned the roles {sorted(ids)}, but its roles are "
                f"{names}; return one id for each role."
            )
        tenant_id = command.metadata.tenant_id
        streams = [
            StreamId(tenant_id, role.aggregate_class.aggregate_type, ids[role.name]) for role in self.roles
        ]
        if self.same_aggregate == "reject":
            for index, stream in enumerate(streams):
                if stream in streams[:index]:
                    first = names[streams.index(stream)]
                    raise CommandRejected(
                        f"{type(command.data).command_type} names {stream} as both {first} and "
                        f"{names[index]}; name a different {stream.aggregate_type} for each.",
                        code="same_aggregate",
                        details={"roles": [first, names[index]], "aggregate_id": stream.aggregate_id},
                    )
        return streams

    async def _load(self, command: Command[C]) -> tuple[Aggregates, CommandRecord | None]:
        streams = self.streams(command)
        distinct = list(dict.fromkeys(streams))
        classes = {stream: role.aggregate_class for stream, role in zip(streams, self.roles, strict=True)}
        loaded, record = await load_aggregates(
            self.store,
            command.metadata.tenant_id,
            [(classes[stream], stream.aggregate_id) for stream in distinct],
            command_id=command.id,
        )
        by_stream = dict(zip(distinct, loaded, strict=True))
        roles = {role.name: by_stream[stream] for role, stream in zip(self.roles, streams, strict=True)}
        return Aggregates(roles), record

    def _decide(self, loaded: Aggregates, command: Command[C]) -> Emitted:
        for role in self.roles:
            check_precondition(role.precondition, loaded[role.name])
        emitted = self.decide(loaded, command)
        unknown = set(emitted) - set(loaded)
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.decide emitted events for {sorted(unknown)}, which are not roles of "
                f"{type(command.data).command_type}; its roles are {list(loaded)}."
            )
        return emitted

    async def _append(
        self, loaded: Aggregates, decided: Emitted, command: Command[C], record: Recording
    ) -> CommandResult:
        # One part per stream (a shared one gets the events of each of its roles, in role order),
        # every stream expecting the version it was loaded at, also those without events.
        changes: dict[int, tuple[Aggregate[Any], list[DomainEvent]]] = {}
        for name, aggregate in loaded.items():
            changes.setdefault(id(aggregate), (aggregate, []))[1].extend(decided.get(name, ()))
        recorded = await save_aggregates(
            self.store,
            list(changes.values()),
            metadata=record.metadata,
            command_id=command.id,
            command_type=record.command_type,
            command_hash=record.command_hash,
        )
        first = self.roles[0].name
        return CommandResult([e for events in recorded for e in events], loaded[first].version)

    def _replayed(
        self, record: CommandRecord, events: list[RecordedEvent], command: Command[C]
    ) -> CommandResult:
        # The record lists its streams in lock order; the result lists them in role order.
        streams = list(dict.fromkeys(self.streams(command)))
        events = sorted(
            events, key=lambda e: streams.index(e.stream) if e.stream in streams else len(streams)
        )
        first = next((r for r in record.ranges if r.stream == streams[0]), record.ranges[0])
        return CommandResult(events, first.last_version, replayed=True)
