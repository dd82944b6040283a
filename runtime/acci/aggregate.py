"""Aggregates: state rebuilt by applying events in order.

The domain model knows nothing of storage: a snapshot is the state as JSON plus the schema hash,
and acci.repository is what stores and loads it."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from datetime import datetime
from typing import ClassVar, Generic, TypeVar, cast

from pydantic import BaseModel

from acci.events import DomainEvent, RecordedEvent
from acci.registry import EventRegistry
from acci.streams import StreamId

StateT = TypeVar("StateT", bound=BaseModel)


class Aggregate(ABC, Generic[StateT]):
    """A consistency boundary whose state is a fold over its stream's events.

    Subclasses set `aggregate_type`, `state_class` (a pydantic model, so that snapshots can be
    stored and validated), `registry` (the classes of its events) and optionally
    `snapshot_every`, and implement `evolve`. `state` is None until the first event.
    """

    aggregate_type: ClassVar[str]
    state_class: ClassVar[type[BaseModel]]
    registry: ClassVar[EventRegistry]
    #: Save a snapshot each time the version passes a multiple of this; None: never.
    snapshot_every: ClassVar[int | None] = None

    _schema_hash: ClassVar[str | None] = None

    def __init__(self, tenant_id: str, aggregate_id: str) -> None:
        self.stream = StreamId(tenant_id, self.aggregate_type, aggregate_id)
        self.version = 0
        self.state: StateT | None = None
        self.last_event_at: datetime | None = None

    @property
    def id(self) -> str:
        return self.stream.aggregate_id

    @property
    def exists(self) -> bool:
        return self.version > 0

    @abstractmethod
    def evolve(self, state: StateT | None, event: DomainEvent) -> StateT:
        """The state after `event`. Pure: no I/O, no clock, no randomness, so replays agree."""

    def cannot_apply(self, event: DomainEvent, state: StateT | None) -> Exception:
        """The error for an event `evolve` has no case for: one that needs an existing aggregate
        arriving first, or an event of another aggregate."""
        name = type(event).__name__
        if state is None:
            return ValueError(
                f"{self.aggregate_type} cannot start with {name}: its stream must begin with an event "
                "that creates it."
            )
        return TypeError(f"{self.aggregate_type} cannot apply {name}: it is not one of its events.")

    def apply(self, recorded: RecordedEvent) -> None:
        """Apply a stored event (decoded and upcast through the registry)."""
        self.apply_payload(self.registry.decode(recorded), recorded.version, recorded.timestamp)

    def apply_payload(self, payload: DomainEvent, version: int, timestamp: datetime | None) -> None:
        self.state = self.evolve(self.state, payload)
        self.version = version
        self.last_event_at = timestamp

    # -- snapshots -------------------------------------------------------------------------

    @classmethod
    def schema_hash(cls) -> str:
        """A hash of the state's JSON Schema: a snapshot written under another hash is ignored."""
        if cls.__dict__.get("_schema_hash") is None:
            schema = json.dumps(cls.state_class.model_json_schema(), sort_keys=True, separators=(",", ":"))
            cls._schema_hash = hashlib.sha256(f"{cls.aggregate_type}:{schema}".encode()).hexdigest()[:32]
        return cast(str, cls.__dict__["_schema_hash"])

    def restore(self, version: int, state_json: str, last_event_at: datetime) -> None:
        """Take the state from a snapshot (the caller has checked its schema hash)."""
        self.state = cast(StateT, self.state_class.model_validate_json(state_json))
        self.version = version
        self.last_event_at = last_event_at
