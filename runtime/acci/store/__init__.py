"""Event stores: the interface, PostgreSQL, and in memory."""

from acci.store._coalesce import CoalesceSettings
from acci.store.base import CommandRecord, EventStore, Snapshot, Waiter
from acci.store.memory import InMemoryEventStore
from acci.store.postgres import PostgresEventStore

__all__ = [
    "CoalesceSettings",
    "CommandRecord",
    "EventStore",
    "InMemoryEventStore",
    "PostgresEventStore",
    "Snapshot",
    "Waiter",
]
