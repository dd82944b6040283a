"""Event stores: the interface, PostgreSQL, and in memory."""

from acci.store.base import CommandRecord, EventStore, InlineProjection, Snapshot, Waiter
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore
from acci.store.subscription import Subscription

__all__ = [
    "CommandRecord",
    "EventStore",
    "InMemoryEventStore",
    "InlineProjection",
    "PostgresEventStore",
    "Snapshot",
    "Subscription",
    "Waiter",
]
