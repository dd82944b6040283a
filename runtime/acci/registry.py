"""The EventRegistry: which class decodes which stored event type, and how older schema versions
are upcast to the current one on every read."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from acci._gcpause import gc_paused
from acci.errors import ConfigurationError, EventDecodeError, UnknownEventType
from acci.events import DomainEvent, RecordedEvent
from acci.streams import check_type_name

#: Turns the data of one schema version into the data of the next.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventRegistry:
    """Maps event types to their current DomainEvent class, with upcasters for older versions.

    Stored events are never rewritten: an event stored at version 1 is upcast step by step
    (1 -> 2 -> 3) each time it is read, then validated as the current class.
    """

    def __init__(self, classes: Iterable[type[DomainEvent]] = ()) -> None:
        self._classes: dict[str, type[DomainEvent]] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}
        #: The composed chain from each (event type, stored version) seen, built on first use.
        self._chains: dict[tuple[str, int], Upcaster] = {}
        for cls in classes:
            self.register(cls)

    def register(self, cls: type[DomainEvent]) -> type[DomainEvent]:
        """Register `cls` as the current class of its event type. Usable as a class decorator."""
        event_type = getattr(cls, "event_type", None)
        if not isinstance(event_type, str):
            raise ConfigurationError(f"{cls.__qualname__} needs a ClassVar event_type: str to be registered.")
        check_type_name("event type", event_type)
        known = self._classes.get(event_type)
        if known is not None and known is not cls:
            raise ConfigurationError(
                f"event type {event_type!r} is registered twice ({known.__qualname__} and "
                f"{cls.__qualname__}); give one of them another event_type."
            )
        self._classes[event_type] = cls
        self._chains.clear()
        return cls

    def register_upcaster(self, event_type: str, from_version: int, upcaster: Upcaster) -> None:
        """Register the step that turns `event_type` data at `from_version` into `from_version + 1`."""
        key = (event_type, from_version)
        if key in self._upcasters:
            raise ConfigurationError(f"an upcaster for {event_type} v{from_version} is already registered.")
        self._upcasters[key] = upcaster
        self._chains.clear()

    def merge(self, other: EventRegistry) -> None:
        """Add every class and upcaster of `other` (for services with several domains)."""
        for cls in other._classes.values():
            self.register(cls)
        for (event_type, version), upcaster in other._upcasters.items():
            self.register_upcaster(event_type, version, upcaster)

    @property
    def event_types(self) -> list[str]:
        return sorted(self._classes)

    def class_for(self, event_type: str) -> type[DomainEvent]:
        try:
            return self._classes[event_type]
        except KeyError:
            raise UnknownEventType(event_type, 0, list(self._classes)) from None

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._classes

    def upcast(self, event_type: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
        """Bring `data` written at `schema_version` up to the current version of `event_type`."""
        chain = self._chains.get((event_type, schema_version))
        if chain is None:
            chain = self._chain(event_type, schema_version)
        return chain(data)

    def _chain(self, event_type: str, schema_version: int) -> Upcaster:
        """The upcasters from `schema_version` to the current version, composed into one function
        once per (event type, stored version) rather than looked up step by step for each event."""
        current = self.class_for(event_type).schema_version
        steps: list[Upcaster] = []
        for version in range(schema_version, current):
            step = self._upcasters.get((event_type, version))
            if step is None:
                raise ConfigurationError(
                    f"{event_type} v{schema_version} cannot be read as v{current}: no upcaster is "
                    f"registered from v{version} to v{version + 1}. Register one with register_upcaster()."
                )
            steps.append(step)
        chain = _compose(tuple(steps))
        self._chains[(event_type, schema_version)] = chain
        return chain

    def current_version(self, event_type: str) -> int:
        return self.class_for(event_type).schema_version

    def upcast_recorded(self, event: RecordedEvent) -> RecordedEvent:
        """The stored event with its data brought up to the current schema version (unvalidated).

        For consumers of raw events (projections reading `data`); typed readers use `decode`.
        Events of unregistered types are returned as they are.
        """
        cls = self._classes.get(event.event_type)
        if cls is None or event.schema_version >= cls.schema_version:
            return event
        data = self.upcast(event.event_type, event.schema_version, from_json(event.data_json))
        return RecordedEvent(
            id=event.id,
            aggregate_type=event.aggregate_type,
            aggregate_id=event.aggregate_id,
            event_type=event.event_type,
            version=event.version,
            schema_version=cls.schema_version,
            data_json=json.dumps(data, separators=(",", ":")),
            metadata=event.metadata,
            timestamp=event.timestamp,
            position=event.position,
        )

    def decode_all(self, events: Iterable[RecordedEvent]) -> list[DomainEvent]:
        """`decode` for many events at once (a stream, a page), without the garbage collector's
        repeated walks over the new objects."""
        events = list(events)
        with gc_paused(len(events)):
            return [self.decode(event) for event in events]

    def decode(self, event: RecordedEvent) -> DomainEvent:
        """The typed payload of a stored event, upcast to the current schema version."""
        cls = self._classes.get(event.event_type)
        if cls is None:
            raise UnknownEventType(event.event_type, event.schema_version, list(self._classes))
        try:
            if event.schema_version == cls.schema_version:
                # The common case: validate straight from the stored JSON text.
                # The validator itself: model_validate_json's argument handling costs more than
                # the validation of a small event.
                return cls.__pydantic_validator__.validate_json(event.data_json)  # type: ignore[no-any-return]
            if event.schema_version > cls.schema_version:
                raise UnknownEventType(event.event_type, event.schema_version, list(self._classes))
            try:
                data = self.upcast(event.event_type, event.schema_version, from_json(event.data_json))
            except (ConfigurationError, UnknownEventType):
                raise
            except Exception as error:  # an upcaster that does not fit this row
                raise EventDecodeError(
                    event.event_type,
                    event.schema_version,
                    f"{event.stream} version {event.version}",
                    f"upcasting failed with {type(error).__name__}: {error}",
                ) from error
            return cls.__pydantic_validator__.validate_python(data)  # type: ignore[no-any-return]
        except ValidationError as error:
            problem = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in error.errors()
            )
            raise EventDecodeError(
                event.event_type, event.schema_version, f"{event.stream} version {event.version}", problem
            ) from error


def _compose(steps: tuple[Upcaster, ...]) -> Upcaster:
    if len(steps) == 1:
        return steps[0]
    if len(steps) == 2:
        first, second = steps
        return lambda data: second(first(data))

    def chain(data: dict[str, Any]) -> dict[str, Any]:
        for step in steps:
            data = step(data)
        return data

    return chain
