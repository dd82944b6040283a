"""The event envelope: what is appended (NewEvent), what is read back (RecordedEvent), and the base
class of typed event payloads (DomainEvent)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from pydantic_core import from_json

from acci.streams import Position, StreamId


class DomainEvent(BaseModel):
    """Base of typed event payloads: a fact, in the past tense, that cannot change.

    Subclasses name their `event_type` and `schema_version`; the EventRegistry uses both to decode
    stored rows and to upcast rows written at older versions.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


@dataclass(frozen=True, slots=True)
class EventMetadata:
    """The guide's EventMetadata: who caused an event, in which flow, for which tenant.

    `tenant_id` may be left empty when appending: the stream's tenant is used. `extra` holds any
    further metadata a service wants to keep (trace ids, client version...), as JSON.
    """

    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    user_id: str | None = None
    causation_id: str | None = None
    tenant_id: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append. `data` is a DomainEvent, or a JSON-able mapping with an explicit type."""

    data: DomainEvent | Mapping[str, Any]
    event_type: str = ""
    schema_version: int = 0
    event_id: uuid.UUID = field(default_factory=uuid.uuid4)

    @classmethod
    def of(cls, payload: DomainEvent, *, event_id: uuid.UUID | None = None) -> NewEvent:
        """Wrap a typed payload; its class gives the type and the schema version."""
        return cls(
            data=payload,
            event_type=type(payload).event_type,
            schema_version=type(payload).schema_version,
            event_id=event_id or uuid.uuid4(),
        )

    def resolved_type(self) -> tuple[str, int]:
        """The event type and schema version to store, taken from the payload class when unset."""
        if isinstance(self.data, DomainEvent):
            cls = type(self.data)
            return (self.event_type or cls.event_type, self.schema_version or cls.schema_version)
        return (self.event_type, self.schema_version or 1)

    def data_json(self) -> str:
        """The payload as JSON text, as it will be stored."""
        if isinstance(self.data, BaseModel):
            # The serializer itself: model_dump_json's argument handling cost more than the
            # serialization of a small event.
            return self.data.__pydantic_serializer__.to_json(self.data).decode()
        return json.dumps(self.data, separators=(",", ":"), default=str)


class RecordedEvent:
    """An event as stored: the guide's Event fields plus schema_version and its global position.

    The payload is kept as the JSON text PostgreSQL returned, and parsed on first use of `data`,
    so that typed reads can validate straight from the text without an intermediate dict.
    """

    __slots__ = (
        "_data",
        "aggregate_id",
        "aggregate_type",
        "data_json",
        "event_type",
        "id",
        "metadata",
        "position",
        "schema_version",
        "timestamp",
        "version",
    )

    def __init__(
        self,
        *,
        id: uuid.UUID,
        aggregate_type: str,
        aggregate_id: str,
        event_type: str,
        version: int,
        schema_version: int,
        data_json: str,
        metadata: EventMetadata,
        timestamp: datetime,
        position: Position,
    ) -> None:
        self.id = id
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.event_type = event_type
        self.version = version
        self.schema_version = schema_version
        self.data_json = data_json
        self.metadata = metadata
        self.timestamp = timestamp
        self.position = position
        self._data: dict[str, Any] | None = None

    @property
    def data(self) -> dict[str, Any]:
        """The payload as a dict (parsed once)."""
        if self._data is None:
            self._data = from_json(self.data_json)
        return self._data

    @property
    def tenant_id(self) -> str:
        return self.metadata.tenant_id

    @property
    def stream(self) -> StreamId:
        return StreamId(self.metadata.tenant_id, self.aggregate_type, self.aggregate_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RecordedEvent):
            return NotImplemented
        return (
            self.id == other.id
            and self.stream == other.stream
            and self.event_type == other.event_type
            and self.version == other.version
            and self.schema_version == other.schema_version
            and self.data == other.data
            and self.metadata == other.metadata
            and self.timestamp == other.timestamp
            and self.position == other.position
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"RecordedEvent({self.event_type} v{self.schema_version}, {self.stream}, "
            f"version={self.version}, position={self.position})"
        )
