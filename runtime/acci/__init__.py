"""ACCI: schema-driven Event Sourcing and CQRS on PostgreSQL. This is the runtime that generated
code and services import."""

import importlib.metadata as _metadata

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
    ConsistencyTimeout,
    DatabaseError,
    DuplicateCommandError,
    DuplicateEventError,
    EventDecodeError,
    InvalidQuery,
    MigrationError,
    PolicyCommandRejected,
    ProjectionBusy,
    ProjectionFailed,
    ProjectionHalted,
    TenantMoved,
    TransientDatabaseError,
    UnknownEventType,
    VersionMismatch,
)
from acci.events import DomainEvent, EventMetadata, NewEvent, RecordedEvent
from acci.multi import Aggregates, MultiCommandHandler, Role
from acci.policies import Cancel, Policy, Schedule, Send
from acci.registry import EventRegistry, Upcaster
from acci.repository import Repository
from acci.store import (
    CoalesceSettings,
    CommandRecord,
    EventStore,
    InMemoryEventStore,
    PostgresEventStore,
    Snapshot,
    StreamAppend,
    Subscription,
)
from acci.stores import open_store
from acci.streams import ANY, NO_STREAM, START, ExpectedVersion, Position, StreamId, StreamRange

# The one place the version is written is pyproject.toml; the installed metadata carries it.
try:
    __version__ = _metadata.version("acci")
except _metadata.PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

# Listed for the docs and for mypy's no_implicit_reexport.
__all__ = [
    "ANY",
    "NO_STREAM",
    "START",
    "AcciError",
    "Aggregate",
    "AggregateAlreadyExists",
    "AggregateNotFound",
    "Aggregates",
    "Cancel",
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
    "ConsistencyTimeout",
    "DatabaseError",
    "DomainEvent",
    "DuplicateCommandError",
    "DuplicateEventError",
    "EventDecodeError",
    "EventMetadata",
    "EventRegistry",
    "EventStore",
    "ExpectedVersion",
    "InMemoryEventStore",
    "InvalidQuery",
    "MigrationError",
    "MultiCommandHandler",
    "NewEvent",
    "Policy",
    "PolicyCommandRejected",
    "Position",
    "PostgresEventStore",
    "Precondition",
    "ProjectionBusy",
    "ProjectionFailed",
    "ProjectionHalted",
    "RecordedEvent",
    "Repository",
    "Role",
    "Schedule",
    "Send",
    "Snapshot",
    "StreamAppend",
    "StreamId",
    "StreamRange",
    "Subscription",
    "TenantMoved",
    "TransientDatabaseError",
    "UnknownEventType",
    "Upcaster",
    "VersionMismatch",
    "__version__",
    "open_store",
]
