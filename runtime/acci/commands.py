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
)
from acci.events import DomainEvent, EventMetadata, RecordedEvent
from acci.repository import Repository
from acci.store.base import EventStore
from acci.streams import CommandRecord, Position, StreamId


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
    return checked, hashlib.sha256(checked.model_dump_json().encode()).hexdigest()


class CommandHandler(ABC, Generic[C, A]):
    """Handles one command type for one aggregate type.

    Subclasses set `aggregate_class` (and `precondition`, `retries_on_conflict` if wanted) and
    implement `aggregate_id` and `decide`. `handle` does the rest: it validates the command's
    data, returns the first result for a command id it has seen, loads the aggregate, checks the
    precondition, decides, and appends with the loaded version, so that a concurrent change raises
    ConcurrencyError (or, with retries allowed, reloads and decides again). Events carry the
    command's correlation id and the command id as their causation id.

    Idempotency: the command id is the key of one command (its type, aggregate and data). Sent
    again, or by many senders at once, it is handled once and every sender gets the first result
    (`replayed=True`); sent with another command, it raises CommandIdReused.
    """

    aggregate_class: ClassVar[type[Aggregate[Any]]]
    precondition: ClassVar[Precondition] = Precondition.NONE
    #: How often to reload and decide again after a ConcurrencyError. Only for commands whose
    #: decision is safe to repeat against newer state.
    retries_on_conflict: ClassVar[int] = 0

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.repository: Repository[A] = Repository(store, cast(type[A], self.aggregate_class))

    @abstractmethod
    def aggregate_id(self, command: Command[C]) -> str:
        """The id of the aggregate the command is for."""

    def validate(self, command: Command[C]) -> None:
        """Check the command before anything is loaded; raise CommandValidationError."""

    @abstractmethod
    def decide(self, aggregate: A, command: Command[C]) -> Sequence[DomainEvent]:
        """The events the command produces, or CommandRejected. Pure, like `Aggregate.evolve`."""

    async def handle(self, command: Command[C]) -> CommandResult:
        """Handle the command; see the class docstring. Timed, by outcome, in acci.metrics."""
        started = time.perf_counter()
        outcome = "error"
        try:
            result = await self._handle(command)
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

    async def _handle(self, command: Command[C]) -> CommandResult:
        data, command_hash = validated(command.data)
        if data is not command.data:
            command = dataclasses.replace(command, data=data)
        self.validate(command)
        command_type = type(data).command_type
        tenant_id, aggregate_id = command.metadata.tenant_id, self.aggregate_id(command)
        stream = StreamId(tenant_id, self.aggregate_class.aggregate_type, aggregate_id)
        meta = command.metadata
        with tracing.command(command_type, command.id, meta.correlation_id, stream):
            return await self._load_decide_append(command, aggregate_id, command_type, command_hash)

    async def _load_decide_append(
        self, command: Command[C], aggregate_id: str, command_type: str, command_hash: str
    ) -> CommandResult:
        tenant_id = command.metadata.tenant_id
        metadata = EventMetadata(
            correlation_id=command.metadata.correlation_id,
            user_id=command.metadata.user_id,
            causation_id=str(command.id),
            tenant_id=tenant_id,
            # The command's trace context: a projection's span links back to it (acci.tracing).
            extra=tracing.trace_metadata(),
        )
        attempt = 0
        while True:
            # Every load also asks whether this command id was handled before (same round trip):
            # after a conflict, the writer that won may have been this very command.
            with tracing.step("load"):
                aggregate, first = await self.repository.load_with_command(
                    tenant_id, aggregate_id, command_id=command.id
                )
            if first is not None:
                return await self._replay(first, command_type, aggregate.stream, command_hash)
            with tracing.step("decide"):
                self.check_precondition(aggregate)
                events = self.decide(aggregate, command)
            try:
                with tracing.step("append"):
                    recorded = await self.repository.save(
                        aggregate,
                        events,
                        metadata=metadata,
                        command_id=command.id,
                        command_type=command_type,
                        command_hash=command_hash,
                    )
            except DuplicateCommandError as duplicate:
                # The same command won a race with us (the store checks the id first, and again
                # after a conflict): answer with its result.
                record = duplicate.record or await self.store.find_command(tenant_id, command.id)
                if record is None:  # pragma: no cover - the row was committed before the error
                    raise
                return await self._replay(record, command_type, aggregate.stream, command_hash)
            except ConcurrencyError:
                if attempt >= self.retries_on_conflict:
                    raise
                attempt += 1
                continue
            return CommandResult(recorded, aggregate.version)

    def check_precondition(self, aggregate: A) -> None:
        if self.precondition is Precondition.MUST_NOT_EXIST and aggregate.exists:
            raise AggregateAlreadyExists(aggregate.stream, aggregate.version)
        if self.precondition is Precondition.MUST_EXIST and not aggregate.exists:
            raise AggregateNotFound(aggregate.stream)

    async def _replay(
        self, record: CommandRecord, command_type: str, stream: StreamId, command_hash: str
    ) -> CommandResult:
        if not record.same_command(command_type, stream, command_hash):
            raise CommandIdReused(record.command_id, record, command_type, stream)
        events = await self.store.command_events(record)
        return CommandResult(events, record.last_version, replayed=True)


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


def dispatcher(
    domain: str, handlers: Mapping[type[CommandData], type[CommandHandler[Any, Any]]]
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
