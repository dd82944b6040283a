"""The EventRegistry decodes stored events, upcasting older schema versions on read."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import ClassVar

import pytest
from acci import (
    ConfigurationError,
    DomainEvent,
    EventDecodeError,
    EventMetadata,
    EventRegistry,
    Position,
    RecordedEvent,
    UnknownEventType,
)


class Renamed(DomainEvent):
    event_type: ClassVar[str] = "Renamed"
    schema_version: ClassVar[int] = 3

    full_name: str
    reason: str


def stored(data: str, version: int, event_type: str = "Renamed") -> RecordedEvent:
    return RecordedEvent(
        id=uuid.uuid4(),
        aggregate_type="User",
        aggregate_id="u",
        event_type=event_type,
        version=1,
        schema_version=version,
        data_json=data,
        metadata=EventMetadata(tenant_id="t"),
        timestamp=datetime.now(UTC),
        position=Position(1, 1),
    )


def registry() -> EventRegistry:
    reg = EventRegistry([Renamed])
    reg.register_upcaster("Renamed", 1, lambda d: {"full_name": d["name"]})
    reg.register_upcaster("Renamed", 2, lambda d: {**d, "reason": "unknown"})
    return reg


def test_current_and_old_versions_decode_to_the_current_class() -> None:
    reg = registry()
    assert reg.decode(stored('{"full_name": "A", "reason": "r"}', 3)) == Renamed(full_name="A", reason="r")
    assert reg.decode(stored('{"name": "B"}', 1)) == Renamed(full_name="B", reason="unknown")


def test_a_missing_upcaster_is_named() -> None:
    reg = EventRegistry([Renamed])
    with pytest.raises(ConfigurationError, match=r"no upcaster is registered from v1 to v2"):
        reg.decode(stored('{"name": "B"}', 1))


def test_unknown_types_and_future_versions_are_refused() -> None:
    with pytest.raises(UnknownEventType, match=r"'Other' at schema version 1.*Known types: Renamed"):
        registry().decode(stored("{}", 1, "Other"))
    with pytest.raises(UnknownEventType, match=r"schema version 4"):
        registry().decode(stored("{}", 4))


def test_data_that_does_not_fit_names_the_field() -> None:
    with pytest.raises(EventDecodeError, match=r"Renamed v3 at User 'u' .*reason: Field required"):
        registry().decode(stored('{"full_name": "A"}', 3))


def test_one_type_cannot_have_two_classes() -> None:
    class Other(DomainEvent):
        event_type: ClassVar[str] = "Renamed"

    with pytest.raises(ConfigurationError, match="registered twice"):
        EventRegistry([Renamed, Other])


def test_upcast_chains_follow_upcasters_registered_later() -> None:
    """Chains are composed once per (event type, stored version) and kept: a step registered
    afterwards (or a new current class) is taken into account all the same."""
    reg = EventRegistry([Renamed])
    reg.register_upcaster("Renamed", 2, lambda d: {**d, "reason": "unknown"})
    assert reg.decode(stored('{"full_name": "A"}', 2)) == Renamed(full_name="A", reason="unknown")
    with pytest.raises(ConfigurationError, match=r"no upcaster is registered from v1 to v2"):
        reg.decode(stored('{"name": "B"}', 1))
    reg.register_upcaster("Renamed", 1, lambda d: {"full_name": d["name"]})
    assert [reg.decode(stored('{"name": "B"}', 1)) for _ in range(3)] == [
        Renamed(full_name="B", reason="unknown")
    ] * 3
