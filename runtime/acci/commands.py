"""Commands and command handlers: validate, load, decide, append with the loaded version."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import PydanticSerializationError

from acci import metrics, tracing
from acci.aggregate import Aggregate
from acci.errors import (
    AcciError,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandIdReused,
    CommandRejected,
    CommandValidationError,
    ConcurrencyError,
    ConfigurationError,
    DuplicateCommandError,
    VersionMismatch,
)
from acci.events import DomainEvent, EventMetadata, RecordedEvent
from acci.repository import Repository
from acci.store.base import EventStore
from acci.streams import CommandRecord, Position, StreamId, stream_order


class CommandData(BaseModel):
    """Base of typed command payloads: an intention, named in the imperative."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command_type: ClassVar[str]


@dataclass(frozen=True, slots=True)
class CommandMetadata:
    """The guide's CommandMetadata: who sends the command, in which flow, for which tenant."""

    user_id: str
    tenant_id: str
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))


C = TypeVar("C", bound=CommandData)
A = TypeVar("A", bound=Aggregate[Any])
#: What a handler loads for its decision (one aggregate, or several by role).
L = TypeVar("L")
#: What a handler's decision returns (the events, or the events of each role).
D = TypeVar("D")


@dataclass(frozen=True, slots=True)
class Command(Generic[C]):
    """The guide's Command: an id (the idempotency key), the data and the metadata."""

    data: C
    metadata: CommandMetadata
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """What a handled command produced. `replayed` is True when the command id had been handled
    before: nothing was appended and `events` are those of the first time."""

    events: list[RecordedEvent]
    version: int
    replayed: bool = False

    @property
    def position(self) -> Position | None:
        """Where the command's events are in the global order (the last one's position), for
        read-your-writes: a query given it waits until its read models have passed it
        (acci.projections.consistency). None when the command produced no events."""
        return self.events[-1].position if self.events else None


class Precondition(enum.Enum):
    """What must be true of the aggregate before the command is decided."""

    NONE = "none"
    MUST_NOT_EXIST = "must_not_exist"
    MUST_EXIST = "must_exist"


#: The range of the language's `int`: PostgreSQL's bigint, where read models keep them.
INT_RANGE = (-(2**63), 2**63 - 1)


def value_problems(value: Any, where: str = "") -> list[str]:
    """A problem ("<path>: ...") for each value in `value` (a model's JSON dump) that PostgreSQL
    cannot hold: text with a NUL character (text and JSON refuse it) and whole numbers outside
    bigint. Such a value is invalid data, not a database error."""
    if isinstance(value, str):
        return (
            [f"{where or '(root)'}: text cannot contain NUL (\\u0000) characters"] if "\x00" in value else []
        )
    if isinstance(value, int) and not isinstance(value, bool):
        low, high = INT_RANGE
        return (
            []
            if low <= value <= high
            else [f"{where or '(root)'}: a whole number must be within {low}..{high}"]
        )
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in value_problems(item, f"{where}.{key}".lstrip("."))]
    if isinstance(value, list | tuple):
        return [
            p
            for index, item in enumerate(value)
            for p in value_problems(item, f"{where}.{index}".lstrip("."))
        ]
    return []


def validated(data: C) -> tuple[C, str]:
    """The command's data validated by its class, and the hash of it that tells this command from
    another sent under the same id. Data built without validation (`model_construct`, or changed
    after the fact) is validated here: invalid data raises CommandValidationError."""
    cls = type(data)
    try:
        # A JSON round trip validates nested models too, as the data would be validated on arrival.
        checked = cls.model_validate_json(data.model_dump_json(warnings=False))
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()]
        raise CommandValidationError(cls.command_type, problems) from None
    except PydanticSerializationError as error:  # a value of a type the model cannot hold
        raise CommandValidationError(cls.command_type, [f"(root): {error}"]) from None
    problems = value_problems(checked.model_dump(mode="json"))
    if problems:
        raise CommandValidationError(cls.command_type, problems)
    return checked, hashlib.sha256(checked.model_dump_json().encode()).hexdigest()


class CommandHandlerBase(ABC, Generic[C, L, D]):
    """What every command handler shares, whatever it loads: it validates the command's data,
    returns the first result for a command id it has seen, loads (`L`: one aggregate, or several by
    role), decides (`D`: the events), and appends with the loaded versions, so that a concurrent
    change raises ConcurrencyError (or, with retries allowed, reloads and decides again). Events
    carry the command's correlation id and the command id as their causation id. Timed, by
    outcome, in acci.metrics; traced in acci.tracing.

    Idempotency: the command id is the key of one command (its type, streams and data). Sent
    again, or by many senders at once, it is handled once and every sender gets the first result
    (`replayed=True`); sent with another command, it raises CommandIdReused.

    Subclass CommandHandler (one aggregate) or acci.multi.MultiCommandHandler (several).
    """

    #: How often to reload and decide again after a ConcurrencyError. Only for commands whose
    #: decision is safe to repeat against newer state.
    retries_on_conflict: ClassVar[int] = 0

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def validate(self, command: Command[C]) -> None:
        """Check the command before anything is loaded; raise CommandValidationError."""

    @abstractmethod
    def streams(self, command: Command[C]) -> list[StreamId]:
        """The streams the command is for, the first one first (its traces and logs name it)."""

    @abstractmethod
    async def _load(self, command: Command[C]) -> tuple[L, CommandRecord | None]:
        """What the decision needs, and the record of the command's id if it was handled before
        (read together: after a conflict, the writer that won may have been this very command)."""

    @abstractmethod
    def _decide(self, loaded: L, command: Command[C]) -> D:
        """Check the preconditions and decide: the events, or CommandRejected."""

    @abstractmethod
    async def _append(self, loaded: L, decided: D, command: Command[C], record: Recording) -> CommandResult:
        """Append the decided events with the loaded versions, recording the command."""

    @abstractmethod
    def _replayed(
        self, record: CommandRecord, events: list[RecordedEvent], command: Command[C]
    ) -> CommandResult:
        """The first result of a command handled before, from its record and events."""

    def _check_version(self, loaded: L, expected_version: int) -> None:
        """Raise VersionMismatch unless what was loaded is at `expected_version`; handlers that load
        several aggregates have no one version to compare."""
        raise ConfigurationError(
            f"{type(self).__name__} loads several aggregates: it takes no expected version."
        )

    async def handle(self, command: Command[C], *, expected_version: int | None = None) -> CommandResult:
        """Handle the command; see the class docstring. `expected_version` (HTTP's If-Match): the
        version the sender saw; when the aggregate is at another, VersionMismatch (a
        ConcurrencyError) and nothing is appended. A repeat of a command already handled returns
        its first result whatever the version is now (the first time moved it)."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self._handle(command, expected_version)
            outcome = "replayed" if result.replayed else "ok"
            return result
        except AcciError as error:
            for kind, name in _OUTCOMES.items():
                if isinstance(error, kind):
                    outcome = name
                    break
            raise
        finally:
            metrics.COMMAND_DURATION.labels(type(command.data).command_type, outcome).observe(
                time.perf_counter() - started
            )

    async def _handle(self, command: Command[C], expected_version: int | None = None) -> CommandResult:
        data, command_hash = validated(command.data)
        if data is not command.data:
            command = dataclasses.replace(command, data=data)
        self.validate(command)
        command_type = type(data).command_type
        streams = self.streams(command)
        with tracing.command(command_type, command.id, command.metadata.correlation_id, streams[0]):
            # The stream a repeat of this command is recorded on: its first in lock order. The
            # events' metadata carries the command span's trace context (taken here, in it).
            first = min(streams, key=stream_order)
            recording = Recording(command_type, command_hash, first, event_metadata(command))
            return await self._load_decide_append(command, recording, expected_version)

    async def _load_decide_append(
        self, command: Command[C], recording: Recording, expected_version: int | None = None
    ) -> CommandResult:
        attempt = 0
        while True:
            with tracing.step("load"):
                loaded, first = await self._load(command)
            if first is not None:
                return await self._replay(first, command, recording)
            if expected_version is not None:
                self._check_version(loaded, expected_version)
            with tracing.step("decide"):
                decided = self._decide(loaded, command)
            try:
                with tracing.step("append"):
                    return await self._append(loaded, decided, command, recording)
            except DuplicateCommandError as duplicate:
                # The same command won a race with us (the store checks the id first, and again
                # after a conflict): answer with its result.
                tenant_id = command.metadata.tenant_id
                record = duplicate.record or await self.store.find_command(tenant_id, command.id)
                if record is None:  # pragma: no cover - the row was committed before the error
                    raise
                return await self._replay(record, command, recording)
            except ConcurrencyError:
                if attempt >= self.retries_on_conflict:
                    raise
                attempt += 1

    async def _replay(
        self, record: CommandRecord, command: Command[C], recording: Recording
    ) -> CommandResult:
        if not record.same_command(recording.command_type, recording.stream, recording.command_hash):
            raise CommandIdReused(record.command_id, record, recording.command_type, recording.stream)
        return self._replayed(record, await self.store.command_events(record), command)


@dataclass(frozen=True, slots=True)
class Recording:
    """How a command is recorded with its events: its type, its data's hash, the stream its record
    names (for a command of several streams, the first of them in lock order), and the events'
    metadata."""

    command_type: str
    command_hash: str
    stream: StreamId
    metadata: EventMetadata


def event_metadata(command: Command[Any]) -> EventMetadata:
    """The metadata of a command's events: its correlation id, its sender, the command id as the
    causation id, and the command's trace context (a projection's span links back to it)."""
    meta = command.metadata
    return EventMetadata(
        correlation_id=meta.correlation_id,
        user_id=meta.user_id,
        causation_id=str(command.id),
        tenant_id=meta.tenant_id,
        extra=tracing.trace_metadata(),
    )


class CommandHandler(CommandHandlerBase[C, A, Sequence[DomainEvent]]):
    """Handles one command type for one aggregate type.

    Subclasses set `aggregate_class` (and `precondition`, `retries_on_conflict` if wanted) and
    implement `aggregate_id` and `decide`. `handle` does the rest (see CommandHandlerBase): it
    loads the aggregate, checks the precondition, decides, and appends with the loaded version.
    """

    aggregate_class: ClassVar[type[Aggregate[Any]]]
    precondition: ClassVar[Precondition] = Precondition.NONE

    def __init__(self, store: EventStore) -> None:
        super().__init__(store)
        self.repository: Repository[A] = Repository(store, cast(type[A], self.aggregate_class))

    @abstractmethod
    def aggregate_id(self, command: Command[C]) -> str:
        """The id of the aggregate the command is for."""

    @abstractmethod
    def decide(self, aggregate: A, command: Command[C]) -> Sequence[DomainEvent]:
        """The events the command produces, or CommandRejected. Pure, like `Aggregate.evolve`."""

    def streams(self, command: Command[C]) -> list[StreamId]:
        aggregate_type = self.aggregate_class.aggregate_type
        return [StreamId(command.metadata.tenant_id, aggregate_type, self.aggregate_id(command))]

    def check_precondition(self, aggregate: A) -> None:
        check_precondition(self.precondition, aggregate)

    def _check_version(self, loaded: A, expected_version: int) -> None:
        if loaded.version != expected_version:
            raise VersionMismatch(loaded.stream, expected_version, loaded.version)

    async def _load(self, command: Command[C]) -> tuple[A, CommandRecord | None]:
        return await self.repository.load_with_command(
            command.metadata.tenant_id, self.aggregate_id(command), command_id=command.id
        )

    def _decide(self, loaded: A, command: Command[C]) -> Sequence[DomainEvent]:
        self.check_precondition(loaded)
        return self.decide(loaded, command)

    async def _append(
        self, loaded: A, decided: Sequence[DomainEvent], command: Command[C], record: Recording
    ) -> CommandResult:
        recorded = await self.repository.save(
            loaded,
            decided,
            metadata=record.metadata,
            command_id=command.id,
            command_type=record.command_type,
            command_hash=record.command_hash,
        )
        return CommandResult(recorded, loaded.version)

    def _replayed(
        self, record: CommandRecord, events: list[RecordedEvent], command: Command[C]
    ) -> CommandResult:
        return CommandResult(events, record.last_version, replayed=True)


def check_precondition(precondition: Precondition, aggregate: Aggregate[Any]) -> None:
    """AggregateAlreadyExists or AggregateNotFound when the aggregate breaks the precondition."""
    if precondition is Precondition.MUST_NOT_EXIST and aggregate.exists:
        raise AggregateAlreadyExists(aggregate.stream, aggregate.version)
    if precondition is Precondition.MUST_EXIST and not aggregate.exists:
        raise AggregateNotFound(aggregate.stream)


# The metrics label of each way a command can fail.
_OUTCOMES: dict[type[AcciError], str] = {
    CommandRejected: "rejected",
    ConcurrencyError: "conflict",
    AggregateNotFound: "not_found",
    AggregateAlreadyExists: "already_exists",
    CommandIdReused: "id_reused",
}


# -- what generated handlers share --------------------------------------------------------------

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T")
E = TypeVar("E", bound=DomainEvent)


def existing_state(aggregate: Aggregate[S]) -> S:
    """The aggregate's state, which a command with `precondition: must_exist` may rely on (the
    handler checked it before `decide`); AggregateNotFound if there is none."""
    if aggregate.state is None:
        raise AggregateNotFound(aggregate.stream)
    return aggregate.state


def run_decision(
    decision: Callable[[T, Command[C]], Sequence[E]], state: T, command: Command[C], *emits: type[DomainEvent]
) -> Sequence[E]:
    """The events of a hand-written decision, after checking that the command may emit each
    (the domain file's `emits:` lists what its events can be)."""
    events = decision(state, command)
    for event in events:
        if not isinstance(event, emits):
            raise TypeError(
                f"{decision.__name__} returned {type(event).__name__}, which "
                f"{type(command.data).command_type} does not emit; list it under the command's "
                "'emits:' in the domain file."
            )
    return events


#: The handler class of each command class of a domain (generated code's HANDLERS).
Handlers = Mapping[type[CommandData], type[CommandHandlerBase[Any, Any, Any]]]


def dispatcher(
    domain: str, handlers: Handlers
) -> Callable[[EventStore, Command[Any]], Awaitable[CommandResult]]:
    """`handle(store, command)` for a domain: runs a command through the handler of its data's
    class; ConfigurationError (naming the domain's commands) for a command of another domain."""

    async def handle(store: EventStore, command: Command[Any]) -> CommandResult:
        handler_class = handlers.get(type(command.data))
        if handler_class is None:
            raise ConfigurationError(
                f"{type(command.data).__name__} is not a command of the {domain} domain; "
                f"its commands are: {', '.join(sorted(c.__name__ for c in handlers))}."
            )
        return await handler_class(store).handle(command)

    return handle
