"""ACCI: schema-driven Event Sourcing and CQRS on PostgreSQL. This is the runtime that generated
code and services import."""

from acci.aggregate import Aggregate
from acci.commands import (
    Command,
    CommandData,
    CommandHandler,
    CommandMetadata,
    CommandResult,
    Precondition,
)
from acci.errors import (
    AcciError,
    AggregateAlreadyExists,
    AggregateNotFound,
    CommandIdReused,
    CommandRejected,
    CommandValidationError,
    ConcurrencyError,
    ConfigurationError,
    DatabaseError,
    DuplicateCommandError,
    EventDecodeError,
    InvalidQuery,
    MigrationError,
    TransientDatabaseError,
    UnknownEventType,
)
from acci.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from acci.registry import EventRegistry, Upcaster
from acci.repository import Repository
from acci.store import (
    CoalesceSettings,
    CommandRecord,
    EventStore,
    InMemoryEventStore,
    PostgresEventStore,
    Snapshot,
)
from acci.streams import ANY, NO_STREAM, START, ExpectedVersion, Position, StreamId
from acci.subscriptions import Subscription

__version__ = "0.1.0"

# Listed for the docs and for mypy's no_implicit_reexport.
__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "AcciError",
    "Aggregate",
    "AggregateAlreadyExists",
    "AggregateNotFound",
    "CoalesceSettings",
    "Command",
    "CommandData",
    "CommandHandler",
    "CommandIdReused",
    "CommandMetadata",
    "CommandRecord",
    "CommandRejected",
    "CommandResult",
    "CommandValidationError",
    "ConcurrencyError",
    "ConfigurationError",
    "DatabaseError",
    "DomainEvent",
    "DuplicateCommandError",
    "EventDecodeError",
    "EventMetadata",
    "EventRegistry",
    "EventStore",
    "ExpectedVersion",
    "InMemoryEventStore",
    "InvalidQuery",
    "MigrationError",
    "NewEvent",
    "Position",
    "PostgresEventStore",
    "Precondition",
    "RecordedEvent",
    "Repository",
    "Snapshot",
    "StreamId",
    "Subscription",
    "TransientDatabaseError",
    "UnknownEventType",
    "Upcaster",
    "__version__",
]
