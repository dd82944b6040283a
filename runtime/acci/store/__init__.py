"""Event stores: the interface, PostgreSQL, and in memory."""

from acci.store._coalesce import CoalesceSettings
from acci.store.base import EventStore, InlineProjection, Snapshot, StreamAppend, Waiter
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore
from acci.store.subscription import Subscription
from acci.streams import CommandRecord, StreamRange

__all__ = [
    "CoalesceSettings",
    "CommandRecord",
    "EventStore",
    "InMemoryEventStore",
    "InlineProjection",
    "PostgresEventStore",
    "Snapshot",
    "StreamAppend",
    "StreamRange",
    "Subscription",
    "Waiter",
]
