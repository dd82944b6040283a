"""Event stores: the interface, PostgreSQL, and in memory."""

from acci.store.base import CommandRecord, EventStore, Snapshot, Waiter
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore
from acci.store.subscription import Subscription

__all__ = [
    "CommandRecord",
    "EventStore",
    "InMemoryEventStore",
    "PostgresEventStore",
    "Snapshot",
    "Subscription",
    "Waiter",
]
